//! The `zentoo` command.

// The library forbids unsafe code; this entry point has exactly one unsafe call, below.
#![deny(unsafe_code)]

/// Seconds a git server may stay silent (and take to accept a connection, at most 15)
/// before a fetch fails, unless `ZENTOO_GIT_TIMEOUT` says otherwise.
const GIT_TIMEOUT_SECONDS: u64 = 60;

fn main() -> std::process::ExitCode {
    git_timeouts();
    zentoo::cli::run()
}

/// libgit2 waits forever on a git server that accepts a connection and then says nothing:
/// a fetch (and the reconcile running it) would hang. Its connect and I/O timeouts are
/// process-wide C globals that must be set before any thread uses libgit2, so they are set
/// here, first thing, while the process has one thread.
#[allow(unsafe_code)]
fn git_timeouts() {
    let seconds = std::env::var("ZENTOO_GIT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().trim_end_matches('s').parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(GIT_TIMEOUT_SECONDS);
    let io = i32::try_from(seconds.saturating_mul(1000)).unwrap_or(i32::MAX);
    let connect = io.min(15_000);
    // SAFETY: git2 documents these as unsynchronized writes to libgit2 globals, sound before
    // any other thread exists; `main` calls this before anything else runs.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(connect);
        let _ = git2::opts::set_server_timeout_in_milliseconds(io);
    }
}
