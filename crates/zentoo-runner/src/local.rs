//! The local backend: a [`BuildPlan`] run on a Podman or Docker engine. materialize writes the
//! plan's [`MaterializeSpec`](zentoo_core::plan::build::MaterializeSpec) with the code `zentoo
//! materialize` runs; build and assemble run in stage3 containers ([`build_tuple`]); publish
//! runs the plan's [`PublishPlan`](zentoo_core::plan::build::PublishPlan) through the one publish
//! pipeline, as `zentoo publish` does.

use super::Running;
use super::engine::{Engine, EngineError};
use super::publish_step::publish_target;
use super::tuple::{BuildError, Reporter, TupleJob, build_tuple, fresh_dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zentoo_core::plan::backend::Backend;
use zentoo_core::plan::build::{BuildPlan, Volume};
use zentoo_core::plan::result::BuildResult;
use zentoo_core::site::materialize::{Limits, MaterializeError};
use zentoo_publish::pipeline::PublishError;
use zentoo_publish::registry::RegistryConfig;

/// Runs build plans on an engine; one per `zentoo build`.
pub struct LocalBackend<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// The site repository the plans' objects are read from (its path labels containers).
    pub site: PathBuf,
    /// Work dirs go to `<out>/work/<image>`, logs to `<out>/logs/<image>`.
    pub out: PathBuf,
    /// Named volumes standing in for the site's shared PVCs.
    pub volumes: BTreeMap<Volume, String>,
    /// How to reach the registry the plans push to.
    pub registry: RegistryConfig,
    /// Containers running now, for Ctrl-C.
    pub running: &'a Running,
    /// Progress display.
    pub reporter: &'a dyn Reporter,
    /// Suffix making container names unique to this run.
    pub run_id: String,
    /// Size of the `PORTAGE_TMPDIR` tmpfs, when the plans mount one.
    pub tmpfs_bytes: u64,
}

/// Why a local build failed, by step.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The work or target directory could not be made.
    #[error("{path}: {source}", path = path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The materialize step failed.
    #[error("step materialize failed: {0}")]
    Materialize(#[source] MaterializeError),
    /// The site repository could not be opened.
    #[error("step materialize failed: {0}")]
    Repo(#[source] git2::Error),
    /// The stage3 image is not there and cannot be pulled.
    #[error("{0}")]
    Stage3(#[source] EngineError),
    /// The build or assemble step failed.
    #[error("{0}")]
    Step(#[source] BuildError),
    /// The publish step failed.
    #[error("step publish failed: {0}")]
    Publish(#[source] PublishError),
}

impl LocalBackend<'_> {
    /// The directories and names of `plan`'s build.
    fn job(&self, plan: &BuildPlan) -> TupleJob {
        let work = self.out.join("work").join(&plan.image);
        TupleJob {
            work_dir: work.join("zentoo"),
            target_dir: work.join("target"),
            log_dir: log_dir(&self.out, &plan.image),
            site: self.site.clone(),
            volumes: self.volumes.clone(),
            run_id: self.run_id.clone(),
            build_id: format!("{}-{}", build_time(), self.run_id),
            tmpfs_bytes: self.tmpfs_bytes,
            plan: plan.clone(),
        }
    }
}

/// The materialize step: fresh work and target directories, the plan's objects written.
fn materialize(site: &Path, job: &TupleJob) -> Result<(), LocalError> {
    let dir = |path: &Path| {
        fresh_dir(path).map_err(|source| LocalError::Dir {
            path: path.to_path_buf(),
            source,
        })
    };
    if let Some(work) = job.work_dir.parent() {
        dir(work)?;
    }
    dir(&job.target_dir)?;
    let repo = git2::Repository::open(site).map_err(LocalError::Repo)?;
    zentoo_core::steps::write_work_dir(
        &repo,
        &job.plan.materialize,
        &job.work_dir,
        &Limits::default(),
    )
    .map_err(LocalError::Materialize)?;
    Ok(())
}

impl Backend for LocalBackend<'_> {
    type Error = LocalError;

    async fn run(&self, plan: &BuildPlan) -> Result<BuildResult, LocalError> {
        let job = self.job(plan);
        materialize(&self.site, &job)?;
        self.engine
            .ensure_image(&plan.stage3)
            .await
            .map_err(LocalError::Stage3)?;
        let counts = build_tuple(self.engine, &job, self.running, self.reporter)
            .await
            .map_err(LocalError::Step)?;
        self.reporter
            .step(&plan.image, zentoo_core::plan::build::StepName::Publish);
        let published = publish_target(
            self.engine,
            plan,
            &job.target_dir,
            &self.registry,
            &job.volumes,
        )
        .await
        .map_err(LocalError::Publish)?;
        // The target root is in the image and tarball now.
        let _ = std::fs::remove_dir_all(&job.target_dir);
        Ok(published.with_counts(counts))
    }
}

/// Now as `YYYYMMDDTHHMMSSZ` (sortable, a file name).
fn build_time() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The directory of `tuple`'s logs under `out`.
pub fn log_dir(out: &Path, tuple: &str) -> PathBuf {
    out.join("logs").join(tuple)
}
