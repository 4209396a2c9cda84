//! The `zentoo` command.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    zentoo::cli::run()
}
