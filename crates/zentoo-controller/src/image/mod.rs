//! The image reconciler: keep one image built at its current inputs digest.
//!
//! Sub-steps, in order, each returning early on error: [`inputs`] (spec, policy, site, plan:
//! the inputs digest; [`security`] moves it to a security update's snapshot) → [`jobs`] (the
//! image's Jobs: note deleted ones, fold finished ones into status; the audit against the
//! site's followed snapshot; supersede outdated ones) → [`decide`] (building, up to date, failed, suspended, or
//! start a build, saying [`why`]) → prune the history. [`report`] turns the outcome into a standing, events
//! and a requeue; [`finish`] writes them, whatever happened.

mod decide;
mod inputs;
mod jobs;
mod report;
mod security;
mod why;

use super::context::Context;
use super::error::{Error, Result};
use super::status::{Finish, finish};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;
use std::time::Duration;
use tracing::{instrument, warn};
use zentoo_api::GentooImage;
use zentoo_api::image::GentooImageStatus;

/// When a build just created is looked at again (its Job in the cache, its pod started).
pub const POD_GRACE: Duration = Duration::from_secs(10);

/// What the reconcile decided, for conditions, events and the requeue.
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
        step: zentoo_core::plan::build::StepName,
        message: String,
    },
    Suspended,
}

/// One reconcile of one image: what every sub-step reads, and the status they write.
struct Run<'a> {
    image: &'a GentooImage,
    ctx: &'a Arc<Context>,
    namespace: String,
    name: String,
    /// The image's key in the context (`image/<namespace>/<name>`).
    key: String,
    now: Time,
    status: GentooImageStatus,
    /// Events the sub-steps want published.
    notices: Vec<super::status::Notice>,
    /// Why a build started now would be started, when a sub-step knows better than its
    /// inputs (a security update).
    cause: Option<zentoo_api::image::BuildCause>,
}

/// Reconciles one GentooImage.
#[instrument(skip(image, ctx), fields(image = %image.name_any(), namespace = image.namespace().unwrap_or_default()))]
pub async fn reconcile(image: Arc<GentooImage>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = image
        .namespace()
        .ok_or_else(|| Error::InvalidSpec("a GentooImage must be namespaced".into()))?;
    let name = image.name_any();
    let before = image.status.clone().unwrap_or_default();
    let mut run = Run {
        image: &image,
        ctx: &ctx,
        key: format!("image/{namespace}/{name}"),
        namespace,
        name,
        now: Time(Timestamp::now()),
        status: before.clone(),
        notices: Vec::new(),
        cause: None,
    };
    let result = sync(&mut run).await;
    let standing = match &result {
        Ok(outcome) => report::standing(outcome, &run.status),
        Err(e) => report::still_building(e, &before).unwrap_or_else(|| e.standing()),
    };
    let mut notices = report::finished_builds(&before, &run.status);
    notices.extend(report::notice(&result, &before, &standing));
    notices.append(&mut run.notices);
    let mut status = run.status;
    if let Ok(outcome) = &result {
        status.phase = report::phase(outcome);
    }
    let generation = image.metadata.generation;
    if let Some(warning) = report::vulnerability(&mut status, generation, &run.now) {
        ctx.metrics
            .glsa_affected(status.last_successful_build.as_deref());
        notices.push(warning);
    }
    status.short_digest = status
        .last_successful_build
        .as_ref()
        .and_then(|b| b.image_digest.as_deref())
        .map(super::outcome::short_digest);
    let end = Finish {
        obj: image.as_ref(),
        before: &before,
        status,
        standing: Some(standing),
        notices,
        next: result.map(|outcome| report::requeue(&outcome)),
    };
    finish(&ctx, &run.key, end).await
}

/// The sub-steps, in order.
async fn sync(run: &mut Run<'_>) -> Result<Outcome> {
    let mut inputs = inputs::resolve(run).await?;
    security::carry(run, &mut inputs);
    let jobs = jobs::observe(run)?;
    jobs::fold_finished(run, &jobs).await?;
    let mut notices = security::follow(run, &mut inputs).await?;
    run.notices.append(&mut notices);
    let stopping = jobs::supersede(run, &jobs, inputs.desired()).await?;
    let outcome = decide::decide(run, &inputs, &jobs, stopping).await?;
    jobs::prune(run, &jobs).await?;
    Ok(outcome)
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
