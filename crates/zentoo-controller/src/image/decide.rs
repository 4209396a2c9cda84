//! The decision: follow the build of the current inputs when one runs, else say the image is
//! up to date, failed at these inputs, suspended or waiting for superseded builds, else start
//! a build.

use super::inputs::Inputs;
use super::jobs::{BuildJob, Jobs, build_pod};
use super::{Outcome, POD_GRACE, Run};
use crate::build::{Target, create_build};
use crate::error::Result;
use crate::outcome::current_step;
use kube::ResourceExt;
use zentoo_api::annotations;
use zentoo_api::image::{CurrentBuild, Ending, PodPhase};
use zentoo_core::plan::build::StepName;

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
        let recorded = run.status.current_build.take().filter(|b| b.name == e.job);
        run.status.current_build = Some(Box::new(CurrentBuild {
            name: e.job.clone(),
            inputs_digest: e.digest.clone(),
            phase: PodPhase::Pending,
            step: None,
            started_at: recorded.as_ref().and_then(|b| b.started_at.clone()),
            cause: recorded.and_then(|b| b.cause),
        }));
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
/// when it has none and the Job controller said why.
async fn follow(run: &mut Run<'_>, j: &BuildJob) -> Outcome {
    let ctx = run.ctx;
    let pod = ctx
        .caches()
        .ok()
        .and_then(|caches| build_pod(caches, &run.namespace, &j.name));
    // No pod: the Job controller may be refused one (Pod Security admission, a quota); it
    // says why only in events, which one watch keeps (`crate::rejections`) and whose arrival
    // wakes the image.
    let rejected = match &pod {
        None => ctx.rejections.reason(&run.namespace, &j.name),
        Some(_) => None,
    };
    run.status.current_build = Some(Box::new(CurrentBuild {
        name: j.name.clone(),
        inputs_digest: j.digest.clone(),
        phase: pod
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            .map_or(PodPhase::Pending, PodPhase::parse),
        step: pod.as_ref().and_then(|p| current_step(p.status.as_ref())),
        started_at: j.job.metadata.creation_timestamp.clone(),
        cause: j.cause.clone(),
    }));
    match rejected {
        Some(message) => Outcome::PodsRejected {
            job: j.name.clone(),
            message,
        },
        None => Outcome::Building {
            job: j.name.clone(),
            new: false,
            pod_due: None,
        },
    }
}

/// Starts a build of the current inputs; `token` is the rebuild request it handles.
async fn start(run: &mut Run<'_>, inputs: &Inputs, token: Option<String>) -> Result<Outcome> {
    let ctx = run.ctx;
    let cause = run.cause.take();
    let target = Target {
        image: run.image,
        site: &inputs.site,
        namespace: &run.namespace,
        planned: &inputs.planned,
        revision: &inputs.revision,
    };
    let job = create_build(&target, ctx, inputs.epoch, cause.as_ref()).await?;
    ctx.expect_job(&run.key, &job, inputs.desired());
    ctx.metrics.build_started();
    run.status.last_handled_rebuild = token;
    run.status.current_build = Some(Box::new(CurrentBuild {
        name: job.clone(),
        inputs_digest: inputs.desired().to_string(),
        phase: PodPhase::Pending,
        step: None,
        started_at: Some(run.now.clone()),
        cause,
    }));
    Ok(Outcome::Building {
        job,
        new: true,
        pod_due: Some(POD_GRACE),
    })
}
