//! `zentoo diff FROM TO`: the packages two builds differ in — added, removed, upgraded,
//! downgraded, USE changed — as `gbp diff` shows them, from each build's SBOM (a file, or the
//! SBOM attached to an image in a registry).

use super::publish::RegistryArgs;
use crate::publish::audit::packages_in_sbom;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use std::path::Path;
use std::process::ExitCode;
use zentoo_core::diff::{Package, diff};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier build: an SBOM file (SPDX or CycloneDX JSON as zentoo writes them) or an
    /// image reference whose attached SBOM is read.
    #[arg(value_name = "FROM")]
    from: String,
    /// The later build, as FROM.
    #[arg(value_name = "TO")]
    to: String,
    /// For an image index, which architecture's image (OCI name: amd64, arm64).
    #[arg(long, value_name = "ARCH", default_value = "amd64")]
    arch: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// One line per change: `+` added, `-` removed, `U` upgraded, `D` downgraded, `*` USE.
    Table,
    /// The changes as JSON (`added`, `removed`, `upgraded`, `downgraded`, `use`).
    Json,
}

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let old = packages(&args, &args.from)?;
    let new = packages(&args, &args.to)?;
    let changes = diff(&old, &new);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&changes)?),
        Output::Table if changes.is_empty() => {
            println!("no package changed ({} packages)", new.len())
        }
        Output::Table => {
            for line in changes.lines() {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The packages of the build `what` names: an SBOM file when one is there, else an image.
fn packages(args: &DiffArgs, what: &str) -> anyhow::Result<Vec<Package>> {
    let path = Path::new(what);
    if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {what}"))?;
        return packages_in_sbom(&bytes)
            .map_err(anyhow::Error::msg)
            .with_context(|| what.to_string());
    }
    let (digest, document) = super::audit::attached_sbom(&args.registry, what, &args.arch)
        .with_context(|| format!("{what} is no SBOM file; reading it as an image"))?;
    eprintln!("{what}: the SBOM of {digest}");
    packages_in_sbom(&document)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the SBOM of {what}"))
}
