//! `zentoo completions SHELL`: print the shell completion script.

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    // clap_complete panics when its writer fails: generate into memory, then write.
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "zentoo",
        &mut script,
    );
    std::io::stdout()
        .lock()
        .write_all(&script)
        .context("writing the completion script")?;
    Ok(ExitCode::SUCCESS)
}
