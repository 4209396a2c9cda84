//! The publish step of a local build: the assembled target root packed into an OCI image
//! (loaded into the engine, or pushed) and a stage tarball.

use super::engine::Engine;
use crate::plan::build::BuildPlan;
use std::path::Path;

/// What to publish.
#[allow(dead_code)] // read once the publisher lands
pub struct PublishRequest<'a> {
    /// The build's plan (publish targets, annotations, arch).
    pub plan: &'a BuildPlan,
    /// The assembled target root.
    pub target_dir: &'a Path,
    /// Push to the plan's reference instead of loading into the engine.
    pub push: bool,
}

/// What was published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Image reference.
    pub image: Option<String>,
    /// Manifest digest.
    pub image_digest: Option<String>,
    /// Stage tarball path.
    pub tarball: Option<String>,
    /// Stage tarball digest.
    pub tarball_digest: Option<String>,
}

/// Publishes the target root of `request`.
pub async fn publish_target(
    _engine: &Engine,
    _request: &PublishRequest<'_>,
) -> anyhow::Result<Published> {
    Ok(Published::default())
}
