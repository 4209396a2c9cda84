//! Which tests share the machine. The integration tests are one process whose libtest threads
//! run tests of every module side by side. Most wait on servers; some load the machine for
//! minutes (real Portage builds on Podman, a release build); a few measure time or memory, with
//! bounds or as figures for docs/benchmarks.md (leader failover, the webhook under attack,
//! recovery from faults, the benchmarks). A measuring test holds [`measuring`] and runs without
//! heavy or other measuring tests beside it; a heavy test holds [`heavy`], shared with other
//! heavy tests. Tests holding neither (API calls, in-process controllers) run beside anything.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::const_new(());

/// For a test that measures: waits until no heavy or measuring test runs and keeps them out
/// while held.
pub async fn measuring() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// For a heavy synchronous test: waits while a measuring test runs (blocks the thread).
pub fn heavy() -> RwLockReadGuard<'static, ()> {
    MACHINE.blocking_read()
}

/// [`heavy`] for an async test.
pub async fn heavy_async() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}
