//! The decision: follow the build of the current inputs when one runs, else say the image is
//! up to date, failed at these inputs, suspended or waiting for superseded builds, else start
//! a build, saying why.

use super::inputs::Inputs;
use super::jobs::{BuildJob, Jobs, build_pod};
use super::why::{self, Before};
use super::{Outcome, POD_GRACE, Run};
use crate::build::{Target, create_build};
use crate::error::Result;
use crate::outcome::current_step;
use kube::ResourceExt;
use zentoo_api::annotations;
use zentoo_api::image::{BuildCause, CurrentBuild, Ending, PodPhase};
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
            cause: recorded.as_ref().and_then(|b| b.cause.clone()),
            inputs: recorded.and_then(|b| b.inputs),
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
    // Handled when status says so, or when a build Job says it handled it: a reconcile may
    // read the image from a cache that does not show its own last status write yet.
    let handled = token == run.status.last_handled_rebuild
        || jobs
            .list
            .iter()
            .any(|j| j.rebuild.is_some() && j.rebuild == token);
    let rebuild = token.is_some() && !handled;
    if handled && token.is_some() {
        run.status.last_handled_rebuild.clone_from(&token);
    }
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
    let known = run.cause.take();
    let cause = known.unwrap_or_else(|| {
        let before = Before {
            last: run.status.last_successful_build.as_deref(),
            history: &run.status.history,
            rebuild,
        };
        why::cause(&inputs.planned.inputs, desired, &before)
    });
    start(run, inputs, token, cause).await
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
    // The inputs the build consumes were recorded when it started (by this or an earlier
    // reconcile): kept until it finishes.
    let recorded = run
        .status
        .current_build
        .take()
        .filter(|b| b.name == j.name)
        .and_then(|b| b.inputs);
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
        inputs: recorded,
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

/// Starts a build of the current inputs for `cause`; `token` is the rebuild request it
/// handles.
async fn start(
    run: &mut Run<'_>,
    inputs: &Inputs,
    token: Option<String>,
    cause: BuildCause,
) -> Result<Outcome> {
    let ctx = run.ctx;
    let target = Target {
        image: run.image,
        site: &inputs.site,
        namespace: &run.namespace,
        planned: &inputs.planned,
        revision: &inputs.revision,
    };
    let job = create_build(&target, ctx, inputs.epoch, &cause, token.as_deref()).await?;
    ctx.expect_job(&run.key, &job, inputs.desired());
    ctx.metrics.build_started();
    run.status.last_handled_rebuild = token;
    run.status.current_build = Some(Box::new(CurrentBuild {
        name: job.clone(),
        inputs_digest: inputs.desired().to_string(),
        phase: PodPhase::Pending,
        step: None,
        started_at: Some(run.now.clone()),
        cause: Some(cause),
        inputs: Some(inputs.planned.inputs.clone()),
    }));
    Ok(Outcome::Building {
        job,
        new: true,
        pod_due: Some(POD_GRACE),
    })
}
