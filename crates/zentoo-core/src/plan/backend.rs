//! What runs a [`BuildPlan`]. The plan is the only thing a backend is given about a build: its
//! typed steps (materialize with its [`MaterializeSpec`], the container steps, publish with
//! its [`PublishPlan`]), each run the same way everywhere — the cluster renders each step
//! into a container running the step's command (`render::job`), the local runner runs the
//! container steps on an engine and materialize and publish in-process with the code those
//! commands run (`runner::local`). Each backend reads back the same records the steps write
//! ([`BuildResult`]).
//!
//! [`MaterializeSpec`]: super::build::MaterializeSpec
//! [`PublishPlan`]: super::build::PublishPlan

use super::build::BuildPlan;
use super::result::BuildResult;
use std::future::Future;

/// Runs every step of a build plan, in order, to its end.
pub trait Backend {
    /// Why a build failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs `plan` and returns what its steps wrote.
    fn run(
        &self,
        plan: &BuildPlan,
    ) -> impl Future<Output = Result<BuildResult, Self::Error>> + Send;
}
