//! Which tests share the machine. The integration tests are one process whose libtest threads
//! run tests of every module side by side. Most wait on servers; some load the machine for
//! minutes (real Portage builds on Podman, a release build); a few measure time or memory, with
//! bounds or as figures for docs/benchmarks.md (leader failover, the webhook under attack,
//! recovery from faults, the benchmarks). A measuring test holds [`measuring`] and runs without
//! heavy or other measuring tests beside it; a heavy test holds [`heavy`], with at most
//! [`HEAVY_AT_ONCE`] heavy tests at a time (scripts/test.sh runs more test threads than that, for
//! the many tests that mostly wait). Tests holding neither (API calls, in-process controllers)
//! run beside anything.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, Semaphore, SemaphorePermit};

static MACHINE: RwLock<()> = RwLock::const_new(());

/// Heavy tests that run at once: two real builds keep two cores busy.
pub const HEAVY_AT_ONCE: usize = 2;
static HEAVY: Semaphore = Semaphore::const_new(HEAVY_AT_ONCE);

/// Held by a heavy test: its slot among the heavy tests, and its share of the machine.
pub struct Heavy {
    _machine: RwLockReadGuard<'static, ()>,
    _slot: SemaphorePermit<'static>,
}

/// For a test that measures: waits until no heavy or measuring test runs and keeps them out
/// while held.
pub async fn measuring() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// For a heavy synchronous test: waits for a slot and while a measuring test runs (blocks the
/// thread).
pub fn heavy() -> Heavy {
    futures::executor::block_on(heavy_async())
}

/// [`heavy`] for an async test.
pub async fn heavy_async() -> Heavy {
    let slot = HEAVY
        .acquire()
        .await
        .expect("the heavy semaphore is never closed");
    Heavy {
        _machine: MACHINE.read().await,
        _slot: slot,
    }
}
