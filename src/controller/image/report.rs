//! What an image's reconcile says: its standing (for the conditions), its phase, events for
//! what happened, and when to look again.

use super::{Outcome, POD_GRACE};
use crate::api::annotations;
use crate::api::conditions::{Note, Standing, reasons};
use crate::api::image::{BuildRecord, Ending, GentooImageStatus, Phase};
use crate::controller::error::{Class, Error, Result};
use crate::controller::outcome::short_digest;
use crate::controller::status::Notice;
use std::time::Duration;

/// Where the image stands after `outcome`; `status` is the status the sub-steps left.
pub(super) fn standing(outcome: &Outcome, status: &GentooImageStatus) -> Standing {
    let inputs = status
        .inputs_digest
        .as_deref()
        .map(short_digest)
        .unwrap_or_default();
    match outcome {
        Outcome::Building { job, .. } => {
            let step = status
                .current_build
                .as_ref()
                .and_then(|b| b.step)
                .map_or("pending", |s| s.as_str());
            Standing::Progressing(Note::new(
                reasons::BUILDING,
                format!("building inputs {inputs} in Job {job} (step {step})"),
            ))
        }
        Outcome::PodsRejected { job, message } => Standing::Stalled {
            note: Note::new(
                reasons::PODS_REJECTED,
                format!("Job {job} cannot create its pod: {message}"),
            ),
            advice: None,
        },
        Outcome::Superseding { stopping } => Standing::Progressing(Note::new(
            reasons::SUPERSEDING,
            format!(
                "waiting for superseded Job {} to stop before building inputs {inputs}",
                stopping.join(", ")
            ),
        )),
        Outcome::UpToDate => {
            let last = status.last_successful_build.clone().unwrap_or_default();
            Standing::Ready(Note::new(
                reasons::BUILD_SUCCEEDED,
                format!(
                    "built inputs {}: {}@{}",
                    short_digest(&last.inputs_digest),
                    last.image.as_deref().unwrap_or("(not pushed)"),
                    last.image_digest.as_deref().unwrap_or("-")
                ),
            ))
        }
        Outcome::Failed { step, message } => Standing::Stalled {
            note: Note::new(
                reasons::BUILD_FAILED,
                format!("step {} failed: {message}", step.as_str()),
            ),
            advice: Some(format!(
                "fix the inputs, or set the {} annotation to retry",
                annotations::REBUILD_REQUESTED_AT
            )),
        },
        Outcome::Suspended => Standing::Idle(Note::new(
            reasons::SUSPENDED,
            "spec.suspend is true: no new builds",
        )),
    }
}

/// The image's phase after `outcome`.
pub(super) fn phase(outcome: &Outcome) -> Phase {
    match outcome {
        Outcome::Building { .. } | Outcome::PodsRejected { .. } | Outcome::Superseding { .. } => {
            Phase::Building
        }
        Outcome::UpToDate => Phase::Succeeded,
        Outcome::Failed { .. } => Phase::Failed,
        Outcome::Suspended => Phase::Suspended,
    }
}

/// The event of this reconcile's outcome, if it is news: a build started, pods newly
/// rejected, a new error (waiting is expected, and API errors are retried, so neither is).
pub(super) fn notice(
    result: &Result<Outcome>,
    before: &GentooImageStatus,
    standing: &Standing,
) -> Option<Notice> {
    let note = standing.note();
    let new_reason = before.conditions.iter().all(|c| c.reason != note.reason);
    match result {
        Ok(Outcome::Building { new: true, .. }) => {
            Some(Notice::normal(note.reason, note.message.clone()))
        }
        Ok(Outcome::PodsRejected { .. }) if new_reason => {
            Some(Notice::warning(note.reason, note.message.clone()))
        }
        Err(e)
            if !matches!(e, Error::Kube(_))
                && !matches!(e.class(), Class::Waiting(_))
                && new_reason =>
        {
            Some(Notice::warning(e.reason(), e.to_string()))
        }
        _ => None,
    }
}

/// Events for builds that finished since `before`.
pub(super) fn finished_builds(
    before: &GentooImageStatus,
    status: &GentooImageStatus,
) -> Vec<Notice> {
    status
        .history
        .iter()
        .filter(|h| before.history.iter().all(|b| b.name != h.name))
        .map(finished)
        .collect()
}

fn finished(h: &BuildRecord) -> Notice {
    match h.result {
        Ending::Succeeded => Notice::normal(
            reasons::BUILD_SUCCEEDED,
            format!(
                "Job {} built inputs {}",
                h.name,
                short_digest(&h.inputs_digest)
            ),
        ),
        Ending::Superseded => Notice::normal(
            reasons::SUPERSEDED,
            format!("Job {} was superseded by newer inputs", h.name),
        ),
        Ending::Deleted => Notice::warning(
            reasons::BUILD_DELETED,
            format!("Job {} was deleted before it finished", h.name),
        ),
        Ending::Failed => Notice::warning(
            reasons::BUILD_FAILED,
            format!(
                "Job {} failed at step {}",
                h.name,
                h.step.map_or("?", |s| s.as_str())
            ),
        ),
    }
}

/// When to look at the image again after `outcome`.
pub(super) fn requeue(outcome: &Outcome) -> Duration {
    match outcome {
        Outcome::Building { pod_due, .. } => {
            // Its Job and pod wake it as the build moves; this is only a safety net. A Job
            // whose pod does not come is looked at again after the grace.
            let safety = Duration::from_secs(300);
            pod_due.map_or(safety, |d| d.min(safety))
        }
        // The Job controller retries; a pod that comes at last wakes the image too.
        Outcome::PodsRejected { .. } => POD_GRACE * 3,
        // The Job's deletion wakes this image (it owns the Job); this is a fallback.
        Outcome::Superseding { .. } => Duration::from_secs(10),
        Outcome::UpToDate | Outcome::Failed { .. } | Outcome::Suspended => Duration::from_secs(600),
    }
}
