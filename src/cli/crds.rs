//! `zentoo crds`: print or write the CustomResourceDefinitions.

use crate::api::crd::{crds, to_yaml};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per CRD into this directory instead of printing them.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the CRD reference (Markdown, from the types' doc comments) instead: what
    /// `docs/crd-reference.md` holds.
    #[arg(long, conflicts_with = "dir")]
    reference: bool,
}

pub fn run(args: CrdsArgs) -> anyhow::Result<ExitCode> {
    if args.reference {
        let crds: Vec<_> = crds().into_iter().map(|(_, crd)| crd).collect();
        print!("{}", crate::api::reference::markdown(&crds));
        return Ok(ExitCode::SUCCESS);
    }
    for (file, crd) in crds() {
        let yaml = to_yaml(&crd)?;
        match &args.dir {
            Some(dir) => {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
