//! `zentoo site ...`

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create an example site repository (git) to start from.
    Init {
        /// Directory to create; must not exist or be empty.
        dir: PathBuf,
    },
}

pub fn run(cmd: SiteCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SiteCommand::Init { dir } => {
            crate::site::example::init_example(&dir)?;
            println!("Created example site in {}", dir.display());
            println!("  branches: main, portage/base, portage/server, buildhooks/nodocs");
            println!("  next:     zentoo plan --site {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
