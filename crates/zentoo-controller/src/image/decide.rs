//! The decision: follow the build of the current inputs when one runs, else say the image is
//! up to date, failed at these inputs, suspended or waiting for superseded builds, else start
//! a build.

use super::inputs::Inputs;
use super::jobs::{BuildJob, Jobs, build_pod};
use super::{Outcome, POD_GRACE, Run};
use crate::build::create_build;
use crate::context::Context;
use crate::error::Result;
use crate::outcome::current_step;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use std::time::Duration;
use tracing::warn;
use zentoo_api::annotations;
use zentoo_api::image::{CurrentBuild, Ending, PodPhase};
use zentoo_core::plan::build::StepName;
use zentoo_core::site::error::tidy;

/// Decides what the image does now; records the running build in status.
pub(super) async fn decide(
    run: &mut Run<'_>,
    inputs: &Inputs,
    jobs: &Jobs,
    stopping: Vec<String>,
) -> Result<Outcome> {
    let desired = inputs.desired();
    if let Some(j) = jobs.list.iter().find(|j| j.active() && j.digest == desired) {
        return Ok(follow(run, j).await);
    }
    if let Some(e) = jobs.expected.as_ref().filter(|e| e.digest == desired) {
        // Created moments ago; the cache does not show it yet.
        let started_at = run
            .status
            .current_build
            .as_ref()
            .filter(|b| b.name == e.job)
            .and_then(|b| b.started_at.clone());
        run.status.current_build = Some(CurrentBuild {
            name: e.job.clone(),
            inputs_digest: e.digest.clone(),
            phase: PodPhase::Pending,
            step: None,
            started_at,
        });
        return Ok(Outcome::Building {
            job: e.job.clone(),
            new: false,
            pod_due: Some(POD_GRACE),
        });
    }
    run.status.current_build = None;
    let token = run
        .image
        .annotations()
        .get(annotations::REBUILD_REQUESTED_AT)
        .cloned();
    let rebuild = token.is_some() && token != run.status.last_handled_rebuild;
    let last_for_desired = run
        .status
        .history
        .iter()
        .find(|h| h.inputs_digest == desired && h.result != Ending::Superseded);
    let built = run
        .status
        .last_successful_build
        .as_ref()
        .is_some_and(|b| b.inputs_digest == desired);
    if run.image.spec.suspend {
        return Ok(Outcome::Suspended);
    }
    if !stopping.is_empty() {
        return Ok(Outcome::Superseding { stopping });
    }
    if built && !rebuild {
        return Ok(Outcome::UpToDate);
    }
    if let (Some(failed), false) = (
        last_for_desired.filter(|h| h.result == Ending::Failed),
        rebuild,
    ) {
        return Ok(Outcome::Failed {
            step: failed.step.unwrap_or(StepName::Build),
            message: failed
                .message
                .clone()
                .unwrap_or_else(|| format!("Job {} failed", failed.name)),
        });
    }
    start(run, inputs, token).await
}

/// The running build of the current inputs: its pod's phase and step; its pods rejected
/// when it has none after [`POD_GRACE`].
async fn follow(run: &mut Run<'_>, j: &BuildJob) -> Outcome {
    let ctx = run.ctx;
    let pod = ctx
        .caches()
        .ok()
        .and_then(|caches| build_pod(caches, &run.namespace, &j.name));
    // No pod after the grace: the Job controller may be refused one (Pod Security
    // admission, a quota); it says so only in events.
    let pod_due = match (&pod, &j.job.metadata.creation_timestamp) {
        (None, Some(created)) => {
            let age = run.now.0.duration_since(created.0);
            Some(POD_GRACE.saturating_sub(Duration::try_from(age).unwrap_or_default()))
        }
        _ => None,
    };
    // Past the grace, the events are read once per [`POD_GRACE`] x 3, not at every
    // reconcile: with the Job controller behind (thousands of Jobs at once) every image
    // waiting for its pod listed events each second, 11,000 lists for 2,000 new images.
    let (rejected, pod_due) = match pod_due {
        Some(left) if left.is_zero() => match pods_rejected(ctx, &run.namespace, &j.name).await {
            Some(message) => (Some(message), None),
            None => (None, Some(POD_GRACE * 3)),
        },
        other => (None, other),
    };
    run.status.current_build = Some(CurrentBuild {
        name: j.name.clone(),
        inputs_digest: j.digest.clone(),
        phase: pod
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .map_or(PodPhase::Pending, PodPhase::parse),
        step: pod.as_ref().and_then(|p| current_step(p.status.as_ref())),
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
}

/// Starts a build of the current inputs; `token` is the rebuild request it handles.
async fn start(run: &mut Run<'_>, inputs: &Inputs, token: Option<String>) -> Result<Outcome> {
    let ctx = run.ctx;
    let job = create_build(
        run.image,
        &inputs.site,
        ctx,
        &run.namespace,
        &inputs.planned,
        &inputs.revision,
        inputs.epoch,
    )
    .await?;
    ctx.expect_job(&run.key, &job, inputs.desired());
    ctx.metrics.build_started();
    run.status.last_handled_rebuild = token;
    run.status.current_build = Some(CurrentBuild {
        name: job.clone(),
        inputs_digest: inputs.desired().to_string(),
        phase: PodPhase::Pending,
        step: None,
        started_at: Some(run.now.clone()),
    });
    Ok(Outcome::Building {
        job,
        new: true,
        pod_due: Some(POD_GRACE),
    })
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
