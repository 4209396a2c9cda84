//! The publish step of a local build: the plan's publish step run in-process through the one
//! publish pipeline ([`zentoo_publish::pipeline`], the code `zentoo publish` runs), with the
//! engine of the build to load into.

use super::engine::Engine;
use std::path::Path;
use std::sync::Arc;
use zentoo_core::plan::build::BuildPlan;
use zentoo_core::plan::result::BuildResult;
use zentoo_publish::pipeline::{self, PublishError, PublishRequest};
use zentoo_publish::registry::RegistryConfig;

/// The reference a locally loaded image of `tuple` gets.
pub fn local_reference(tuple: &str) -> String {
    format!("localhost/zentoo/{}:latest", tuple.to_ascii_lowercase())
}

/// Runs the publish step of `plan` on the target root `target_dir` with the registry settings
/// `registry`; `engine` is where a loaded image goes.
pub async fn publish_target(
    engine: &Engine,
    plan: &BuildPlan,
    target_dir: &Path,
    registry: &RegistryConfig,
) -> Result<BuildResult, PublishError> {
    let mut request = PublishRequest::from_plan(&plan.publish, &plan.image, target_dir);
    // The runner's registry settings, and the plan's plain-HTTP registry besides.
    let from_plan = std::mem::replace(&mut request.registry, registry.clone());
    request.registry.insecure.extend(from_plan.insecure);
    request.engine = Some(engine.docker().clone());
    pipeline::publish(&request, Arc::new(|_| {})).await
}
