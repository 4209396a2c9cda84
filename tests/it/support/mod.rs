//! Support for tests against the real servers that `tests/cluster/up` starts (a kube-apiserver
//! with controller-manager, scheduler and KWOK nodes; Podman's Docker API; two registries).
//! See `tests/cluster/README.md`.
//!
//! A test asks for the part it needs and returns early when the harness is not up:
//!
//! ```ignore
//! use crate::support;
//!
//! #[tokio::test]
//! async fn something_against_the_cluster() {
//!     let Some(kube) = support::kube_env().await else { return };
//!     let ns = kube.namespace("something").await; // deleted when `ns` drops, even on panic
//!     // ...
//! }
//! ```
//!
//! Without `ZENTOO_TEST_ENV` (the env file `up` writes was not sourced) the test prints
//! `SKIPPED: <name>: harness not up (run tests/cluster/up)` and passes; with `CI=true` it
//! panics instead, because CI must run these tests.

pub mod controller;
pub mod engine;
pub mod go_tools;
pub mod kube;
pub mod kubelet;
pub mod load;
pub mod local_site;
pub mod logs;
pub mod manifests;
pub mod private;
pub mod publish;
pub mod real_node;
pub mod site;

pub use self::engine::{engine_env, registry_env};
pub use self::kube::{Kube, TestNamespace, kube_env};

/// The name of the running test (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// True on CI, where a missing harness is a failure, not a skip.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports that the running test cannot run here: panics on CI, prints a SKIPPED line otherwise.
/// Returns `None` so callers can `return skip(...)`.
pub fn skip<T>(why: &str) -> Option<T> {
    let line = format!("SKIPPED: {}: {why}", test_name());
    if on_ci() {
        panic!("{line}; CI=true requires the test harness (tests/cluster/up)");
    }
    eprintln!("{line}");
    None
}

/// The value of a variable the env file sets, or `None` after reporting the skip.
pub fn harness_var(name: &str) -> Option<String> {
    if std::env::var_os("ZENTOO_TEST_ENV").is_none() {
        return skip("harness not up (run tests/cluster/up, then source the env file it prints)");
    }
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => skip(&format!(
            "harness is up without {name} (started with --only/--no-kube?): run tests/cluster/up"
        )),
    }
}

/// `name` and a random suffix: a name of its own for what a test creates where other tests (all
/// of them run in this one process) and other runs could see it: registry repositories, image
/// tags, volumes, tmux sessions.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", unique_suffix())
}

/// helm from the harness cache (scripts/setup.sh `ensure_helm`; `HELM` overrides it), or `None`
/// after a SKIPPED line; on CI a missing helm fails the test.
pub fn helm() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let helm = std::env::var_os("HELM").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("ZENTOO_TEST_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/zentoo-test"))
            })?;
        Some(cache.join("bin/helm-v3.22.0/helm"))
    });
    match helm {
        Some(helm) if helm.is_file() => Some(helm),
        helm => skip(&format!(
            "helm not found at {} (build it: . scripts/setup.sh && ensure_helm)",
            helm.map_or("$HELM or $ZENTOO_TEST_CACHE/bin".into(), |h| h
                .display()
                .to_string())
        )),
    }
}

/// The packages an `emerge` output shows merging: (compiled from source, installed from binary
/// packages), by Portage's `>>> Emerging (` and `>>> Emerging binary (` lines.
pub fn emerged(log: &str) -> (usize, usize) {
    let count = |prefix: &str| log.lines().filter(|l| l.starts_with(prefix)).count();
    (count(">>> Emerging ("), count(">>> Emerging binary ("))
}

/// A short random suffix for names of objects a test creates.
pub fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}
