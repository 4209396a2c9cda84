//! `zentoo materialize`: the first step of a build — the planned portage tree, buildhooks
//! tree and set blobs written from git objects into the work directory, with the step scripts.

use crate::controller::fetch::{GitCredentials, fetch};
use crate::plan::build::MaterializeSpec;
use crate::site::materialize::Limits;
use anyhow::Context;
use clap::Args;
use git2::Repository;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct MaterializeArgs {
    /// The site repository: a path, or a URL fetched into a temporary repository.
    #[arg(long)]
    repo: String,
    /// The work directory to write (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// The site revision the ids were planned at (recorded; fetched when the repo is a URL).
    #[arg(long)]
    revision: Option<String>,
    /// Tree id of the portage branch.
    #[arg(long)]
    portage_tree: String,
    /// Tree id of the buildhooks branch.
    #[arg(long)]
    buildhooks_tree: Option<String>,
    /// A set file: NAME=BLOB_ID (repeatable).
    #[arg(long = "set", value_name = "NAME=BLOB")]
    sets: Vec<String>,
    /// Directory of git credentials (files `username`, `token`, `identity`, `known_hosts`).
    #[arg(long, env = "ZENTOO_GIT_CREDENTIALS")]
    git_credentials: Option<PathBuf>,
}

/// The objects `args` name (the inverse of [`MaterializeSpec::command`]).
fn spec(args: &MaterializeArgs) -> anyhow::Result<MaterializeSpec> {
    let mut sets = BTreeMap::new();
    for entry in &args.sets {
        let (name, blob) = entry
            .split_once('=')
            .with_context(|| format!("--set {entry}: expected NAME=BLOB_ID"))?;
        sets.insert(name.to_string(), blob.to_string());
    }
    Ok(MaterializeSpec {
        revision: args.revision.clone().unwrap_or_default(),
        portage_tree: args.portage_tree.clone(),
        buildhooks_tree: args.buildhooks_tree.clone(),
        sets,
    })
}

pub fn run(args: MaterializeArgs) -> anyhow::Result<ExitCode> {
    let spec = spec(&args)?;
    let _fetched_into;
    let repo = if Path::new(&args.repo).exists() {
        Repository::open(&args.repo).with_context(|| format!("opening {}", args.repo))?
    } else {
        let creds = match &args.git_credentials {
            Some(dir) => read_credentials(dir)?,
            None => GitCredentials::default(),
        };
        let dir = tempfile::Builder::new().prefix("zentoo-site-").tempdir()?;
        let cache = dir.path().join("site.git");
        fetch(&cache, &args.repo, None, &creds).map_err(anyhow::Error::msg)?;
        _fetched_into = dir;
        Repository::open_bare(&cache)?
    };
    let done = crate::steps::write_work_dir(&repo, &spec, &args.out, &Limits::default())?;
    eprintln!(
        "zentoo[materialize]: wrote {} entries, {} bytes into {}",
        done.entries,
        done.bytes,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads the credential files in `dir` that exist. Their contents are never printed.
fn read_credentials(dir: &Path) -> anyhow::Result<GitCredentials> {
    let read = |name: &str| -> anyhow::Result<Option<String>> {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text.trim_end_matches('\n').to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", dir.join(name).display())),
        }
    };
    Ok(GitCredentials {
        username: read("username")?,
        token: read("token")?,
        identity: read("identity")?,
        known_hosts: read("known_hosts")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build::{StepName, build_plan};
    use crate::plan::testing::settings;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MaterializeArgs,
    }

    #[test]
    fn the_plans_materialize_command_names_exactly_its_spec() {
        let image = crate::plan::testing::image_plan("zen-server-nodocs-web\n");
        let plan = build_plan(&image, "c0ffee", &settings());
        let step = plan
            .steps
            .iter()
            .find(|s| s.name == StepName::Materialize)
            .expect("a materialize step");
        let cli = Cli::try_parse_from(step.command.iter().skip(1)).expect("parses");
        assert_eq!(spec(&cli.args).expect("spec"), plan.materialize);
        assert_eq!(cli.args.out, Path::new(crate::plan::build::WORK_DIR));
    }
}
