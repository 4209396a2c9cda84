//! The image reconciler: keep one image built at its current inputs digest.
//!
//! Steps, each returning early: site → inputs digest → the image's Jobs (fold finished ones
//! into status, supersede outdated ones) → decide (up to date, failed, suspended, or build) →
//! prune history → status, always written at the end.

use super::build::{cleanup_workers, create_build, plan};
use super::context::{Caches, Context};
use super::error::{Error, Result};
use super::outcome::{JobState, build_result, current_step, failed_step, job_state};
use super::site::{interval, publish};
use crate::api::build_options::KernelArtifact;
use crate::api::conditions::{self, reasons, types};
use crate::api::image::{BuildRecord, CurrentBuild, GentooImageStatus, Phase, SuccessfulBuild};
use crate::api::{FIELD_MANAGER, GentooImage, GentooSite, annotations, labels};
use crate::site::error::tidy;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// What the reconcile decided, for conditions and events.
enum Outcome {
    Building {
        job: String,
        new: bool,
        /// Its pod is not there yet: look again after this long.
        pod_due: Option<Duration>,
    },
    /// The build Job cannot create its pod (the Job controller's `FailedCreate` event).
    PodsRejected {
        job: String,
        message: String,
    },
    /// Builds of outdated inputs are stopping; the new one waits for them.
    Superseding {
        stopping: Vec<String>,
    },
    UpToDate,
    Failed {
        step: String,
        message: String,
    },
    Suspended,
}

/// Reconciles one GentooImage.
#[instrument(skip(image, ctx), fields(image = %image.name_any(), namespace = image.namespace().unwrap_or_default()))]
pub async fn reconcile(image: Arc<GentooImage>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = image
        .namespace()
        .ok_or_else(|| Error::InvalidSpec("a GentooImage must be namespaced".into()))?;
    let name = image.name_any();
    let api: Api<GentooImage> = Api::namespaced(ctx.client.clone(), &namespace);
    let before = image.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let generation = image.metadata.generation;
    let now = Time(Timestamp::now());
    let key = format!("image/{namespace}/{name}");

    let result = sync(&image, &ctx, &namespace, &mut status, &now).await;
    let mut event: Option<(EventType, &str, String)> = None;
    let cond = |s: &mut GentooImageStatus, type_: &str, ok: bool, reason: &str, message: String| {
        conditions::set(
            &mut s.conditions,
            conditions::condition(type_, ok, reason, message, generation, &now),
        );
    };
    let digest_short = |s: &GentooImageStatus| {
        s.inputs_digest
            .as_deref()
            .map(short_digest)
            .unwrap_or_default()
    };
    match &result {
        Ok(Outcome::Building { job, new, .. }) => {
            let step = status
                .current_build
                .as_ref()
                .and_then(|b| b.step.clone())
                .unwrap_or_else(|| "pending".into());
            let message = format!(
                "building inputs {} in Job {job} (step {step})",
                digest_short(&status)
            );
            cond(
                &mut status,
                types::READY,
                false,
                reasons::BUILDING,
                message.clone(),
            );
            cond(
                &mut status,
                types::RECONCILING,
                true,
                reasons::BUILDING,
                message.clone(),
            );
            conditions::remove(&mut status.conditions, types::STALLED);
            status.phase = Phase::Building;
            if *new {
                event = Some((EventType::Normal, reasons::BUILDING, message));
            }
        }
        Ok(Outcome::PodsRejected { job, message }) => {
            let message = format!("Job {job} cannot create its pod: {message}");
            cond(
                &mut status,
                types::READY,
                false,
                reasons::PODS_REJECTED,
                message.clone(),
            );
            cond(
                &mut status,
                types::STALLED,
                true,
                reasons::PODS_REJECTED,
                message.clone(),
            );
            conditions::remove(&mut status.conditions, types::RECONCILING);
            status.phase = Phase::Building;
            if before
                .conditions
                .iter()
                .all(|c| c.reason != reasons::PODS_REJECTED)
            {
                event = Some((EventType::Warning, reasons::PODS_REJECTED, message));
            }
        }
        Ok(Outcome::Superseding { stopping }) => {
            let message = format!(
                "waiting for superseded Job {} to stop before building inputs {}",
                stopping.join(", "),
                digest_short(&status)
            );
            cond(
                &mut status,
                types::READY,
                false,
                reasons::SUPERSEDING,
                message.clone(),
            );
            cond(
                &mut status,
                types::RECONCILING,
                true,
                reasons::SUPERSEDING,
                message,
            );
            conditions::remove(&mut status.conditions, types::STALLED);
            status.phase = Phase::Building;
        }
        Ok(Outcome::UpToDate) => {
            let last = status.last_successful_build.clone().unwrap_or_default();
            let message = format!(
                "built inputs {}: {}@{}",
                short_digest(&last.inputs_digest),
                last.image.as_deref().unwrap_or("(not pushed)"),
                last.image_digest.as_deref().unwrap_or("-")
            );
            cond(
                &mut status,
                types::READY,
                true,
                reasons::BUILD_SUCCEEDED,
                message,
            );
            conditions::remove(&mut status.conditions, types::RECONCILING);
            conditions::remove(&mut status.conditions, types::STALLED);
            status.phase = Phase::Succeeded;
        }
        Ok(Outcome::Failed { step, message }) => {
            let message = format!("step {step} failed: {message}");
            cond(
                &mut status,
                types::READY,
                false,
                reasons::BUILD_FAILED,
                message.clone(),
            );
            cond(
                &mut status,
                types::STALLED,
                true,
                reasons::BUILD_FAILED,
                format!(
                    "{message}\nfix the inputs, or set the {} annotation to retry",
                    annotations::REBUILD_REQUESTED_AT
                ),
            );
            conditions::remove(&mut status.conditions, types::RECONCILING);
            status.phase = Phase::Failed;
        }
        Ok(Outcome::Suspended) => {
            cond(
                &mut status,
                types::READY,
                false,
                reasons::SUSPENDED,
                "spec.suspend is true: no new builds".into(),
            );
            conditions::remove(&mut status.conditions, types::RECONCILING);
            conditions::remove(&mut status.conditions, types::STALLED);
            status.phase = Phase::Suspended;
        }
        Err(e) => {
            cond(&mut status, types::READY, false, e.reason(), e.to_string());
            match e.class() {
                super::error::Class::Stalled => {
                    cond(&mut status, types::STALLED, true, e.reason(), e.to_string())
                }
                _ => cond(
                    &mut status,
                    types::RECONCILING,
                    true,
                    e.reason(),
                    e.to_string(),
                ),
            }
            // Waiting (e.g. for the site's first fetch) is expected, not worth a Warning.
            if !matches!(e, Error::Kube(_))
                && !matches!(e.class(), super::error::Class::Waiting(_))
                && before.conditions.iter().all(|c| c.reason != e.reason())
            {
                event = Some((EventType::Warning, e.reason(), e.to_string()));
            }
        }
    }
    // Events for builds that finished since the last look.
    let finished: Vec<&BuildRecord> = status
        .history
        .iter()
        .filter(|h| before.history.iter().all(|b| b.name != h.name))
        .collect();
    let finished_events: Vec<(EventType, &str, String)> = finished
        .iter()
        .map(|h| match h.result.as_str() {
            "Succeeded" => (
                EventType::Normal,
                reasons::BUILD_SUCCEEDED,
                format!(
                    "Job {} built inputs {}",
                    h.name,
                    short_digest(&h.inputs_digest)
                ),
            ),
            "Superseded" => (
                EventType::Normal,
                reasons::SUPERSEDED,
                format!("Job {} was superseded by newer inputs", h.name),
            ),
            "Deleted" => (
                EventType::Warning,
                "BuildDeleted",
                format!("Job {} was deleted before it finished", h.name),
            ),
            _ => (
                EventType::Warning,
                reasons::BUILD_FAILED,
                format!(
                    "Job {} failed at step {}",
                    h.name,
                    h.step.as_deref().unwrap_or("?")
                ),
            ),
        })
        .collect();
    status.short_digest = status
        .last_successful_build
        .as_ref()
        .and_then(|b| b.image_digest.as_deref())
        .map(short_digest);
    status.observed_generation = generation;
    if let Some(token) = image.annotations().get(annotations::RECONCILE_REQUESTED_AT) {
        status.last_handled_reconcile_at = Some(token.clone());
    }
    if status != before {
        patch_status(&api, &name, &status).await?;
    }
    for (type_, reason, note) in finished_events.into_iter().chain(event) {
        publish(&ctx, image.as_ref(), type_, reason, note).await;
    }
    match result {
        Ok(Outcome::Building { pod_due, .. }) => {
            ctx.succeeded(&key);
            // Its Job and pod wake it as the build moves; this is only a safety net. A Job
            // whose pod does not come is looked at again after the grace.
            let safety = Duration::from_secs(300);
            Ok(Action::requeue(pod_due.map_or(safety, |d| d.min(safety))))
        }
        Ok(Outcome::PodsRejected { .. }) => {
            // The Job controller retries; a pod that comes at last wakes the image too.
            ctx.succeeded(&key);
            Ok(Action::requeue(POD_GRACE * 3))
        }
        Ok(Outcome::Superseding { .. }) => {
            // The Job's deletion wakes this image (it owns the Job); this is a fallback.
            ctx.succeeded(&key);
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        Ok(_) => {
            ctx.succeeded(&key);
            Ok(Action::requeue(Duration::from_secs(600)))
        }
        Err(e) => Err(e),
    }
}

/// Requeue after a failed reconcile.
pub fn error_policy(image: Arc<GentooImage>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "image/{}/{}",
        image.namespace().unwrap_or_default(),
        image.name_any()
    );
    warn!(image = %image.name_any(), reason = error.reason(), "reconcile failed: {error}");
    ctx.failed(&key, error)
}

/// A Job of this image, as far as the decision needs it.
struct BuildJob {
    job: Job,
    name: String,
    digest: String,
    state: JobState,
}

impl BuildJob {
    /// Not finished, and not being deleted: its pod builds.
    fn active(&self) -> bool {
        self.state == JobState::Running && !self.stopping()
    }

    /// Not finished, but deleted: its pod is being stopped.
    fn stopping(&self) -> bool {
        self.state == JobState::Running && self.job.metadata.deletion_timestamp.is_some()
    }
}

/// The history record of a build whose Job was deleted before it finished.
fn deleted(
    name: &str,
    inputs_digest: &str,
    step: Option<String>,
    started_at: &Option<Time>,
    now: &Time,
) -> BuildRecord {
    BuildRecord {
        name: name.to_string(),
        inputs_digest: inputs_digest.to_string(),
        result: "Deleted".into(),
        step,
        started_at: started_at.clone(),
        finished_at: Some(now.clone()),
    }
}

/// Counts a deleted build and puts its record first in the history.
fn record_deleted(ctx: &Context, status: &mut GentooImageStatus, record: BuildRecord) {
    ctx.metrics.build_finished(&record.result, None, None);
    status.history.insert(0, record);
}

async fn sync(
    image: &GentooImage,
    ctx: &Arc<Context>,
    namespace: &str,
    status: &mut GentooImageStatus,
    now: &Time,
) -> Result<Outcome> {
    let name = image.name_any();
    super::validate::image(image).map_err(Error::InvalidSpec)?;
    let policy = &ctx.settings.policy;
    policy.image(&image.spec).map_err(Error::PolicyDenied)?;
    let caches = ctx.caches()?;
    if !caches.ready(Duration::from_secs(30)).await {
        return Err(Error::SiteNotReady(
            "waiting for the controller's caches to fill".into(),
        ));
    }
    let site_name = &image.spec.site_ref.name;
    let site = caches
        .sites
        .get(&ObjectRef::<GentooSite>::new(site_name).within(namespace))
        .ok_or_else(|| Error::SiteNotReady(format!("GentooSite {site_name} does not exist")))?;
    // The build mounts the site's Secrets and claims.
    policy
        .site(&site.spec)
        .map_err(|why| Error::PolicyDenied(format!("GentooSite {site_name}: {why}")))?;
    let revision = site
        .status
        .as_ref()
        .and_then(|s| s.revision.clone())
        .ok_or_else(|| {
            Error::SiteNotReady(format!("GentooSite {site_name} has not been fetched yet"))
        })?;
    let cache = ctx.site_cache(namespace, site_name);
    if !cache.exists() {
        return Err(Error::SiteNotReady(format!(
            "GentooSite {site_name} is being fetched"
        )));
    }

    let (planned, epoch) = plan(image, &site, ctx.clone(), cache, revision.clone()).await?;
    let planned = match planned {
        Ok(p) => p,
        Err(errors) => {
            status.inputs_digest = None;
            let shown: Vec<String> = errors.iter().take(5).map(ToString::to_string).collect();
            return Err(Error::InputsInvalid(shown.join("; ")));
        }
    };
    let desired = planned.inputs_digest.clone();
    status.inputs_digest = Some(desired.clone());
    // The stage3 the build runs privileged, wherever it came from.
    policy
        .stage3(
            &stage3_field(image, &site, &planned.arch),
            &planned.inputs.spec.stage3,
        )
        .map_err(Error::PolicyDenied)?;

    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let key = format!("image/{namespace}/{name}");
    let mut jobs: Vec<BuildJob> = caches
        .jobs_of(namespace, &name)
        .into_iter()
        .filter(|job| job.labels().get(labels::COMPONENT).map(String::as_str) == Some("build"))
        .map(|job| BuildJob {
            name: job.name_any(),
            digest: job
                .annotations()
                .get(annotations::INPUTS_DIGEST)
                .cloned()
                .unwrap_or_default(),
            state: job_state(&job),
            job: job.as_ref().clone(),
        })
        .collect();
    // A Job this process created moments ago that the cache does not show yet still runs.
    let cached: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let expected = ctx.expected_job(&key, &cached);
    // A running build's Job being deleted that this controller did not supersede (deleted by
    // hand): say so in the history once, as soon as it is seen.
    for j in jobs.iter().filter(|j| j.stopping()) {
        if status.history.iter().all(|h| h.name != j.name) {
            warn!(job = %j.name, "a running build's Job is being deleted");
            let step = status
                .current_build
                .as_ref()
                .filter(|c| c.name == j.name)
                .and_then(|c| c.step.clone());
            let record = deleted(
                &j.name,
                &j.digest,
                step,
                &j.job.metadata.creation_timestamp,
                now,
            );
            record_deleted(ctx, status, record);
        }
    }
    // The build status names is gone (deleted without a trace, e.g. with background
    // propagation between two reconciles): say so in the history; the decision below starts
    // another if the inputs still need one.
    if let Some(current) = status.current_build.clone()
        && !cached.contains(&current.name.as_str())
        && expected.as_ref().is_none_or(|e| e.job != current.name)
        && status.history.iter().all(|h| h.name != current.name)
    {
        warn!(job = %current.name, "the running build's Job was deleted");
        let record = deleted(
            &current.name,
            &current.inputs_digest,
            current.step.clone(),
            &current.started_at,
            now,
        );
        record_deleted(ctx, status, record);
        status.current_build = None;
    }
    jobs.sort_by_key(|j| j.job.metadata.creation_timestamp.clone().map(|t| t.0));

    // Fold finished builds into status, once each.
    for j in jobs.iter().filter(|j| j.state != JobState::Running) {
        if status.history.iter().any(|h| h.name == j.name) {
            continue;
        }
        let pod = build_pod(caches, namespace, &j.name);
        let record = finished_record(j, pod.as_ref(), now, status, &revision_of(&j.job));
        let counts = status
            .last_successful_build
            .as_ref()
            .filter(|b| b.name == j.name && record.result == "Succeeded");
        ctx.metrics.build_finished(
            &record.result,
            counts.and_then(|b| b.binpkg_hits),
            counts.and_then(|b| b.compiled),
        );
        status.history.insert(0, record);
        cleanup_workers(ctx, namespace, &j.name).await?;
    }

    // Supersede running builds of outdated inputs. Foreground deletion keeps the Job until
    // its pod is gone, and no new build starts while one is stopping: never two builds of
    // one image at a time.
    let mut stopping: Vec<String> = jobs
        .iter()
        .filter(|j| j.stopping())
        .map(|j| j.name.clone())
        .collect();
    for j in jobs.iter().filter(|j| j.active() && j.digest != desired) {
        info!(job = %j.name, "superseding build of outdated inputs");
        jobs_api
            .delete(&j.name, &DeleteParams::foreground())
            .await?;
        stopping.push(j.name.clone());
        cleanup_workers(ctx, namespace, &j.name).await?;
        ctx.metrics.build_finished("Superseded", None, None);
        status.history.insert(
            0,
            BuildRecord {
                name: j.name.clone(),
                inputs_digest: j.digest.clone(),
                result: "Superseded".into(),
                step: None,
                started_at: j.job.metadata.creation_timestamp.clone(),
                finished_at: Some(now.clone()),
            },
        );
    }

    let token = image
        .annotations()
        .get(annotations::REBUILD_REQUESTED_AT)
        .cloned();
    let rebuild = token.is_some() && token != status.last_handled_rebuild;
    let outcome = if let Some(j) = jobs.iter().find(|j| j.active() && j.digest == desired) {
        let pod = build_pod(caches, namespace, &j.name);
        // No pod after the grace: the Job controller may be refused one (Pod Security
        // admission, a quota); it says so only in events.
        let pod_due = match (&pod, &j.job.metadata.creation_timestamp) {
            (None, Some(created)) => {
                let age = now.0.duration_since(created.0);
                Some(POD_GRACE.saturating_sub(Duration::try_from(age).unwrap_or_default()))
            }
            _ => None,
        };
        let rejected = match pod_due {
            Some(left) if left.is_zero() => pods_rejected(ctx, namespace, &j.name).await,
            _ => None,
        };
        status.current_build = Some(CurrentBuild {
            name: j.name.clone(),
            inputs_digest: j.digest.clone(),
            phase: pod
                .as_ref()
                .and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
            step: pod.as_ref().and_then(current_step),
            started_at: j.job.metadata.creation_timestamp.clone(),
        });
        match rejected {
            Some(message) => Outcome::PodsRejected {
                job: j.name.clone(),
                message,
            },
            None => Outcome::Building {
                job: j.name.clone(),
                new: false,
                pod_due: pod_due.map(|left| left.max(Duration::from_secs(1))),
            },
        }
    } else if let Some(e) = expected.filter(|e| e.digest == desired) {
        status.current_build = Some(CurrentBuild {
            name: e.job.clone(),
            inputs_digest: e.digest.clone(),
            phase: "Pending".into(),
            step: None,
            started_at: status
                .current_build
                .as_ref()
                .filter(|b| b.name == e.job)
                .and_then(|b| b.started_at.clone()),
        });
        Outcome::Building {
            job: e.job,
            new: false,
            pod_due: Some(POD_GRACE),
        }
    } else {
        status.current_build = None;
        let last_for_desired = status
            .history
            .iter()
            .find(|h| h.inputs_digest == desired && h.result != "Superseded");
        let built = status
            .last_successful_build
            .as_ref()
            .is_some_and(|b| b.inputs_digest == desired);
        if image.spec.suspend {
            Outcome::Suspended
        } else if !stopping.is_empty() {
            Outcome::Superseding { stopping }
        } else if built && !rebuild {
            Outcome::UpToDate
        } else if let (Some(failed), false) =
            (last_for_desired.filter(|h| h.result == "Failed"), rebuild)
        {
            let message = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::READY && c.reason == reasons::BUILD_FAILED)
                .map(|c| c.message.clone())
                .unwrap_or_else(|| format!("Job {} failed", failed.name));
            Outcome::Failed {
                step: failed.step.clone().unwrap_or_else(|| "build".into()),
                message: message.trim_start_matches("step ").to_string(),
            }
        } else {
            let job =
                create_build(image, &site, ctx, namespace, &planned, &revision, epoch).await?;
            ctx.expect_job(&key, &job, &desired);
            ctx.metrics.build_started();
            status.last_handled_rebuild = token;
            status.current_build = Some(CurrentBuild {
                name: job.clone(),
                inputs_digest: desired.clone(),
                phase: "Pending".into(),
                step: None,
                started_at: Some(now.clone()),
            });
            Outcome::Building {
                job,
                new: true,
                pod_due: Some(POD_GRACE),
            }
        }
    };

    // History: newest first, bounded; Jobs beyond it are deleted.
    let limit = image.spec.history_limit.clamp(1, 50) as usize;
    status.history.truncate(limit);
    let finished: Vec<&BuildJob> = jobs
        .iter()
        .filter(|j| j.state != JobState::Running)
        .collect();
    for j in finished.iter().rev().skip(limit) {
        jobs_api
            .delete(&j.name, &DeleteParams::background())
            .await?;
    }
    let _ = interval;
    Ok(outcome)
}

/// How long a build Job may be without a pod before its events are read.
pub const POD_GRACE: Duration = Duration::from_secs(10);

/// The field that chose the stage3 of `image` (of `arch`), for a policy message.
fn stage3_field(image: &GentooImage, site: &GentooSite, arch: &str) -> String {
    if image.spec.stage3.is_some() {
        "spec.stage3".into()
    } else if site.spec.image_defaults.stage3.contains_key(arch) {
        format!(
            "spec.stage3 (unset: GentooSite {}'s spec.imageDefaults.stage3.{arch})",
            site.name_any()
        )
    } else {
        format!("spec.stage3 (unset: the default for {arch})")
    }
}

/// Why the Job controller cannot create Job `job`'s pod: the message of its newest
/// `FailedCreate` event, with a hint when Pod Security admission refused it; `None` when
/// there is none (or the events cannot be read: the build is then only reported as pending).
async fn pods_rejected(ctx: &Context, namespace: &str, job: &str) -> Option<String> {
    let api: Api<KubeEvent> = Api::namespaced(ctx.client.clone(), namespace);
    let lp = ListParams::default().fields(&format!(
        "regarding.kind=Job,regarding.name={job},reason=FailedCreate"
    ));
    let events = match api.list(&lp).await {
        Ok(list) => list.items,
        Err(e) => {
            warn!(job, "reading the build Job's events: {e}");
            return None;
        }
    };
    let newest = events.into_iter().max_by_key(|e| {
        e.deprecated_last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    })?;
    let note = tidy(newest.note.as_deref().unwrap_or("FailedCreate"), 600);
    Some(if note.contains("PodSecurity") {
        format!(
            "{note}; build pods are privileged: label namespace {namespace} \
             pod-security.kubernetes.io/enforce=privileged"
        )
    } else {
        note
    })
}

fn revision_of(job: &Job) -> String {
    job.annotations()
        .get(annotations::REVISION)
        .cloned()
        .unwrap_or_default()
}

/// The history record of a finished build; a success also becomes the last successful build.
fn finished_record(
    j: &BuildJob,
    pod: Option<&Pod>,
    now: &Time,
    status: &mut GentooImageStatus,
    revision: &str,
) -> BuildRecord {
    let finished_at = j
        .job
        .status
        .as_ref()
        .and_then(|s| s.completion_time.clone())
        .or_else(|| Some(now.clone()));
    let mut record = BuildRecord {
        name: j.name.clone(),
        inputs_digest: j.digest.clone(),
        result: "Succeeded".into(),
        step: None,
        started_at: j.job.metadata.creation_timestamp.clone(),
        finished_at: finished_at.clone(),
    };
    match &j.state {
        JobState::Succeeded => match pod.and_then(build_result) {
            Some(Ok(result)) => {
                status.last_successful_build = Some(SuccessfulBuild {
                    name: j.name.clone(),
                    inputs_digest: j.digest.clone(),
                    revision: revision.to_string(),
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
                    finished_at,
                });
            }
            Some(Err(why)) => {
                record.result = "Failed".into();
                record.step = Some("publish".into());
                set_failure(status, "publish", &why.to_string());
            }
            None => {
                record.result = "Failed".into();
                record.step = Some("publish".into());
                set_failure(status, "publish", "the publish step left no result");
            }
        },
        JobState::Failed(why) => {
            record.result = "Failed".into();
            let (step, message) = pod
                .and_then(failed_step)
                .unwrap_or_else(|| ("build".into(), why.clone()));
            record.step = Some(step.clone());
            set_failure(status, &step, &message);
        }
        JobState::Running => {}
    }
    record
}

/// Keeps the failure's message in the Ready condition, where the decision reads it back.
fn set_failure(status: &mut GentooImageStatus, step: &str, message: &str) {
    let text = format!("step {step} failed: {message}");
    let now = Time(Timestamp::now());
    conditions::set(
        &mut status.conditions,
        conditions::condition(types::READY, false, reasons::BUILD_FAILED, text, None, &now),
    );
}

/// The newest pod of Job `job`, from the pod cache.
fn build_pod(caches: &Caches, namespace: &str, job: &str) -> Option<Pod> {
    caches
        .pods_of(namespace, job)
        .into_iter()
        .filter(|p| p.labels().get(labels::COMPONENT).map(String::as_str) == Some("build"))
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        .map(|p| p.as_ref().clone())
}

async fn patch_status(
    api: &Api<GentooImage>,
    name: &str,
    status: &GentooImageStatus,
) -> Result<()> {
    let body = serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// `sha256:0123456789ab`: a digest shortened for people.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}
