//! Local execution of build plans on a Podman or Docker engine (the embedded default): the
//! same steps the cluster's build Job runs, with named volumes in place of the site's PVCs.
//!
//! materialize and publish run in-process (they are zentoo itself); build and assemble run in
//! stage3 containers. Each step's output goes to `<out>/logs/<tuple>/<step>.log`, Portage's per-package logs to `<out>/logs/<tuple>/packages/`.

#![forbid(unsafe_code)]

pub mod engine;
pub mod freshroot;
pub mod local;
pub mod progress;
pub mod publish_step;
pub mod security;
pub mod session;
pub mod state;
mod tuple;

pub use engine::{Engine, EngineError};
pub use local::{LocalBackend, LocalError};
pub use state::{LocalBuild, State};
pub use tuple::{BuildError, Reporter, TupleJob, build_tuple};

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use zentoo_core::plan::build::Volume;

/// Label on everything zentoo creates in the engine.
pub const LABEL: &str = "dev.zentoo.managed-by";

/// Labels of a container zentoo runs for `tuple`'s `step` of the site at `site`.
pub fn container_labels(site: &Path, tuple: &str, step: &str) -> Vec<(String, String)> {
    let site = site.canonicalize().unwrap_or_else(|_| site.to_path_buf());
    vec![
        (LABEL.into(), "zentoo".into()),
        ("dev.zentoo.site".into(), site.display().to_string()),
        ("dev.zentoo.tuple".into(), tuple.into()),
        ("dev.zentoo.step".into(), step.into()),
    ]
}

/// Containers running now, so Ctrl-C can remove them.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<BTreeSet<String>>>);

impl Running {
    /// Records container `name` as running.
    pub fn add(&self, name: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.insert(name.to_string());
        }
    }

    /// Forgets container `name`.
    pub fn remove(&self, name: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(name);
        }
    }

    /// The containers running now.
    pub fn names(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The named volumes of the site at `site` (its canonical path names it): one per shared
/// volume, e.g. `zentoo-demo-1a2b3c4d-binpkgs`.
pub fn engine_volume(site: &Path, volume: Volume) -> String {
    let canonical = site.canonicalize().unwrap_or_else(|_| site.to_path_buf());
    let hash = hex::encode(&Sha256::digest(canonical.as_os_str().as_encoded_bytes())[..4]);
    let file_name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let base: String = zentoo_core::site::names::label_chars(file_name.trim_end_matches(".git"))
        .chars()
        .take(24)
        .collect();
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "site" } else { base };
    format!("zentoo-{base}-{hash}-{}", volume.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_are_engine_safe_and_per_site() {
        let a = engine_volume(Path::new("/no/such/My Site.git"), Volume::Binpkgs);
        assert!(a.starts_with("zentoo-my-site-"), "{a}");
        assert!(a.ends_with("-binpkgs"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        let b = engine_volume(Path::new("/other/My Site.git"), Volume::Binpkgs);
        assert_ne!(a, b, "two sites never share volumes");
        assert_eq!(
            engine_volume(Path::new("/"), Volume::Repo).len(),
            "zentoo-site-12345678-repo".len()
        );
    }
}
