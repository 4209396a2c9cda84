//! The publish step of a local build: the plan's publish step run in-process through the one
//! publish pipeline ([`zentoo_publish::pipeline`], the code `zentoo publish` runs), with the
//! engine of the build to load into.

use super::engine::Engine;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zentoo_core::plan::build::{BuildPlan, REPOS_DIR, Volume};
use zentoo_core::plan::result::BuildResult;
use zentoo_publish::pipeline::{self, PublishError, PublishRequest};
use zentoo_publish::registry::RegistryConfig;

/// The reference a locally loaded image of `tuple` gets.
pub fn local_reference(tuple: &str) -> String {
    format!("localhost/zentoo/{}:latest", tuple.to_ascii_lowercase())
}

/// Runs the publish step of `plan` on the target root `target_dir` with the registry settings
/// `registry`; `engine` is where a loaded image goes, `volumes` the named volumes standing in
/// for the shared ones (the repo volume holds the snapshot's GLSAs).
pub async fn publish_target(
    engine: &Engine,
    plan: &BuildPlan,
    target_dir: &Path,
    registry: &RegistryConfig,
    volumes: &BTreeMap<Volume, String>,
) -> Result<BuildResult, PublishError> {
    let mut request = PublishRequest::from_plan(&plan.publish, &plan.image, target_dir);
    // The step runs here, not in a container: the plan's path in the repo volume is read
    // where the engine keeps that volume.
    request.glsa_dir = match &plan.publish.glsa_dir {
        Some(dir) => on_host(engine, volumes.get(&Volume::Repo), dir).await,
        None => None,
    };
    // The runner's registry settings, and the plan's plain-HTTP registry besides.
    let from_plan = std::mem::replace(&mut request.registry, registry.clone());
    request.registry.insecure.extend(from_plan.insecure);
    request.engine = Some(engine.docker().clone());
    pipeline::publish(&request, Arc::new(|_| {})).await
}

/// Where `dir`, a path below [`REPOS_DIR`] in the plan, is on this host: below the mountpoint
/// of the named `repo_volume`. `None` (no audit, said in the log) when the engine keeps its
/// volumes out of reach, as a remote engine does.
async fn on_host(engine: &Engine, repo_volume: Option<&String>, dir: &str) -> Option<PathBuf> {
    let below = Path::new(dir).strip_prefix(REPOS_DIR).ok()?;
    let mountpoint = match repo_volume {
        Some(name) => engine.volume_mountpoint(name).await.ok().flatten(),
        None => None,
    };
    match mountpoint.filter(|m| m.is_dir()) {
        Some(m) => Some(m.join(below)),
        None => {
            tracing::warn!(
                "the repo volume is not on this host: the image is not audited against {dir}"
            );
            None
        }
    }
}
