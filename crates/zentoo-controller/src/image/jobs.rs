//! The image's build Jobs: read from the cache, builds whose Job was deleted noted in the
//! history, finished builds folded into status once each, builds of outdated inputs
//! superseded, and finished Jobs beyond the history limit deleted.

use super::Run;
use crate::build::cleanup_workers;
use crate::context::{Caches, Expected};
use crate::error::Result;
use crate::outcome::{JobState, build_result, failed_step, job_state};
use crate::slim::{CachedJob, CachedPod};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use std::sync::Arc;
use tracing::{info, warn};
use zentoo_api::build_options::KernelArtifact;
use zentoo_api::image::{BuildCause, BuildRecord, Ending, SuccessfulBuild};
use zentoo_api::{annotations, labels};
use zentoo_core::plan::build::StepName;

/// A Job of this image, as far as the decision needs it.
pub(super) struct BuildJob {
    pub job: Arc<CachedJob>,
    pub name: String,
    /// The inputs digest it builds.
    pub digest: String,
    pub state: JobState,
    /// Why it was started ([`annotations::CAUSE`]).
    pub cause: Option<BuildCause>,
    /// The rebuild request it handled ([`annotations::REBUILD_REQUESTED_AT`]).
    pub rebuild: Option<String>,
}

impl BuildJob {
    /// Not finished, and not being deleted: its pod builds.
    pub fn active(&self) -> bool {
        self.state == JobState::Running && !self.stopping()
    }

    /// Not finished, but deleted: its pod is being stopped.
    pub fn stopping(&self) -> bool {
        self.state == JobState::Running && self.job.metadata.deletion_timestamp.is_some()
    }

    fn started_at(&self) -> Option<Time> {
        self.job.metadata.creation_timestamp.clone()
    }
}

/// The image's build Jobs, oldest first, and the one this process created that the cache
/// does not show yet.
pub(super) struct Jobs {
    pub list: Vec<BuildJob>,
    pub expected: Option<Expected>,
}

/// Reads the image's Jobs from the cache; a running build whose Job is gone or being deleted
/// (not by this controller) is said in the history once, as soon as it is seen.
pub(super) fn observe(run: &mut Run<'_>) -> Result<Jobs> {
    let ctx = run.ctx;
    let caches = ctx.caches()?;
    let mut list: Vec<BuildJob> = caches
        .jobs_of(&run.namespace, &run.name)
        .into_iter()
        .filter(|job| job.labels().get(labels::COMPONENT).map(String::as_str) == Some("build"))
        .map(|job| BuildJob {
            name: job.name_any(),
            digest: job
                .annotations()
                .get(annotations::INPUTS_DIGEST)
                .cloned()
                .unwrap_or_default(),
            state: job_state(job.status.as_ref()),
            cause: job
                .annotations()
                .get(annotations::CAUSE)
                .and_then(|c| serde_json::from_str(c).ok()),
            rebuild: job
                .annotations()
                .get(annotations::REBUILD_REQUESTED_AT)
                .cloned(),
            job,
        })
        .collect();
    let cached: Vec<&str> = list.iter().map(|j| j.name.as_str()).collect();
    let expected = run.ctx.expected_job(&run.key, &cached);
    for j in list.iter().filter(|j| j.stopping()) {
        if run.status.history.iter().all(|h| h.name != j.name) {
            warn!(job = %j.name, "a running build's Job is being deleted");
            let step = run
                .status
                .current_build
                .as_ref()
                .filter(|c| c.name == j.name)
                .and_then(|c| c.step);
            let record = ended(j, Ending::Deleted, &run.now);
            record_deleted(run, BuildRecord { step, ..record });
        }
    }
    // The build status names is gone (deleted without a trace, e.g. with background
    // propagation between two reconciles); the decision starts another if still needed.
    if let Some(current) = run.status.current_build.clone()
        && !cached.contains(&current.name.as_str())
        && expected.as_ref().is_none_or(|e| e.job != current.name)
        && run.status.history.iter().all(|h| h.name != current.name)
    {
        warn!(job = %current.name, "the running build's Job was deleted");
        record_deleted(
            run,
            BuildRecord {
                name: current.name.clone(),
                inputs_digest: current.inputs_digest.clone(),
                result: Ending::Deleted,
                step: current.step,
                started_at: current.started_at.clone(),
                finished_at: Some(run.now.clone()),
                cause: current.cause.clone(),
                ..BuildRecord::default()
            },
        );
        run.status.current_build = None;
    }
    list.sort_by_key(|j| j.job.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(Jobs { list, expected })
}

/// The history record of build `j` that ended with `ending` now.
fn ended(j: &BuildJob, ending: Ending, now: &Time) -> BuildRecord {
    BuildRecord {
        name: j.name.clone(),
        inputs_digest: j.digest.clone(),
        result: ending,
        step: None,
        message: None,
        started_at: j.started_at(),
        finished_at: Some(now.clone()),
        cause: j.cause.clone(),
        ..BuildRecord::default()
    }
}

/// Counts a deleted build and puts its record first in the history.
fn record_deleted(run: &mut Run<'_>, record: BuildRecord) {
    run.ctx.metrics.build_finished(record.result, None, None);
    run.status.history.insert(0, record);
}

/// Folds finished builds into status, once each, and removes their distcc workers.
pub(super) async fn fold_finished(run: &mut Run<'_>, jobs: &Jobs) -> Result<()> {
    let ctx = run.ctx;
    let caches = ctx.caches()?;
    for j in jobs.list.iter().filter(|j| j.state != JobState::Running) {
        if run.status.history.iter().any(|h| h.name == j.name) {
            continue;
        }
        let pod = build_pod(caches, &run.namespace, &j.name);
        let (record, success) = finished_record(j, pod.as_deref(), &run.now);
        let counts = success.as_ref().map(|b| (b.binpkg_hits, b.compiled));
        run.ctx.metrics.build_finished(
            record.result,
            counts.and_then(|c| c.0),
            counts.and_then(|c| c.1),
        );
        if let Some(mut success) = success {
            // What it consumed, recorded in status when it started.
            success.inputs = run
                .status
                .current_build
                .as_ref()
                .filter(|b| b.name == j.name)
                .and_then(|b| b.inputs.clone());
            run.status.last_successful_build = Some(Box::new(success));
        }
        run.status.history.insert(0, record);
        cleanup_workers(run.ctx, &run.namespace, &j.name).await?;
    }
    Ok(())
}

/// Stops running builds of outdated inputs; returns the builds stopping. Foreground deletion
/// keeps the Job until its pod is gone, and no new build starts while one is stopping: never
/// two builds of one image at a time.
pub(super) async fn supersede(
    run: &mut Run<'_>,
    jobs: &Jobs,
    desired: &str,
) -> Result<Vec<String>> {
    let api: Api<Job> = Api::namespaced(run.ctx.client.clone(), &run.namespace);
    let mut stopping: Vec<String> = jobs
        .list
        .iter()
        .filter(|j| j.stopping())
        .map(|j| j.name.clone())
        .collect();
    for j in jobs
        .list
        .iter()
        .filter(|j| j.active() && j.digest != desired)
    {
        info!(job = %j.name, "superseding build of outdated inputs");
        api.delete(&j.name, &DeleteParams::foreground()).await?;
        stopping.push(j.name.clone());
        cleanup_workers(run.ctx, &run.namespace, &j.name).await?;
        run.ctx
            .metrics
            .build_finished(Ending::Superseded, None, None);
        let record = ended(j, Ending::Superseded, &run.now);
        run.status.history.insert(0, record);
    }
    Ok(stopping)
}

/// Bounds the history (newest first) by the image's limit; deletes finished Jobs beyond it.
pub(super) async fn prune(run: &mut Run<'_>, jobs: &Jobs) -> Result<()> {
    let limit = run.image.spec.history_limit.clamp(1, 50) as usize;
    run.status.history.truncate(limit);
    let api: Api<Job> = Api::namespaced(run.ctx.client.clone(), &run.namespace);
    let finished: Vec<&BuildJob> = jobs
        .list
        .iter()
        .filter(|j| j.state != JobState::Running)
        .collect();
    for j in finished.iter().rev().skip(limit) {
        api.delete(&j.name, &DeleteParams::background()).await?;
    }
    Ok(())
}

/// The history record of a finished build, and what it published when it succeeded.
fn finished_record(
    j: &BuildJob,
    pod: Option<&CachedPod>,
    now: &Time,
) -> (BuildRecord, Option<SuccessfulBuild>) {
    let finished_at = j
        .job
        .status
        .as_ref()
        .and_then(|s| s.completion_time.clone())
        .or_else(|| Some(now.clone()));
    let record = BuildRecord {
        finished_at: finished_at.clone(),
        ..ended(j, Ending::Succeeded, now)
    };
    let failed = |step: StepName, message: String| BuildRecord {
        result: Ending::Failed,
        step: Some(step),
        message: Some(message),
        ..record.clone()
    };
    match &j.state {
        JobState::Succeeded => match pod.and_then(|p| build_result(p.status.as_ref())) {
            Some(Ok(result)) => {
                let success = SuccessfulBuild {
                    name: j.name.clone(),
                    inputs_digest: j.digest.clone(),
                    revision: revision_of(&j.job),
                    image: result.image,
                    image_digest: result.image_digest,
                    tarball: result.tarball,
                    tarball_digest: result.tarball_digest,
                    kernel: result.kernel.map(|k| KernelArtifact {
                        artifact: k.artifact,
                        version: k.version,
                        digest: k.digest,
                    }),
                    binpkg_hits: result.binpkg_hits,
                    compiled: result.compiled,
                    layers: result.layers,
                    layers_uploaded: result.layers_uploaded,
                    bytes_uploaded: result.bytes_uploaded,
                    sbom: result.sbom,
                    provenance: result.provenance,
                    signed_by: result.signed_by,
                    glsa: result.glsa,
                    inputs: None,
                    finished_at,
                };
                let record = BuildRecord {
                    image_digest: success.image_digest.clone(),
                    binpkg_hits: success.binpkg_hits,
                    compiled: success.compiled,
                    ..record
                };
                (record, Some(success))
            }
            Some(Err(why)) => (failed(StepName::Publish, why.to_string()), None),
            None => (
                failed(StepName::Publish, "the publish step left no result".into()),
                None,
            ),
        },
        JobState::Failed(why) => {
            let (step, message) = pod
                .and_then(|p| failed_step(p.status.as_ref()))
                .unwrap_or_else(|| (StepName::Build, why.clone()));
            (failed(step, message), None)
        }
        JobState::Running => (record, None),
    }
}

fn revision_of(job: &CachedJob) -> String {
    job.annotations()
        .get(annotations::REVISION)
        .cloned()
        .unwrap_or_default()
}

/// The newest pod of build Job `job`, from the pod cache.
pub(super) fn build_pod(caches: &Caches, namespace: &str, job: &str) -> Option<Arc<CachedPod>> {
    newest_pod(caches, namespace, job, "build")
}

/// The newest pod of Job `job` labelled as `component` (`build`, `audit`), from the pod cache.
pub(super) fn newest_pod(
    caches: &Caches,
    namespace: &str,
    job: &str,
    component: &str,
) -> Option<Arc<CachedPod>> {
    caches
        .pods_of(namespace, job)
        .into_iter()
        .filter(|p| p.labels().get(labels::COMPONENT).map(String::as_str) == Some(component))
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
}
