//! What an image's reconcile says: its standing (for the conditions), its phase, events for
//! what happened, and when to look again.

use super::{Outcome, POD_GRACE};
use crate::error::{Class, Error, Result};
use crate::outcome::short_digest;
use crate::status::Notice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;
use zentoo_api::annotations;
use zentoo_api::conditions::{self, Note, Standing, reasons, types};
use zentoo_api::image::{BuildRecord, Ending, GentooImageStatus, Phase};

/// Where the image stands after `outcome`; `status` is the status the sub-steps left.
pub(super) fn standing(outcome: &Outcome, status: &GentooImageStatus) -> Standing {
    let inputs = status
        .inputs_digest
        .as_deref()
        .map(short_digest)
        .unwrap_or_default();
    match outcome {
        Outcome::Building { job, .. } => {
            let current = status.current_build.as_deref();
            let step = current
                .and_then(|b| b.step)
                .map_or("pending", |s| s.as_str());
            let why = current
                .and_then(|b| b.cause.as_ref())
                .map(|c| format!(": {}: {}", c.reason, c.message))
                .unwrap_or_default();
            Standing::Progressing(Note::new(
                reasons::BUILDING,
                format!("building inputs {inputs} in Job {job} (step {step}){why}"),
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
        Ok(Outcome::Building { new: true, job, .. }) => {
            Some(Notice::normal(note.reason, note.message.clone()).about_job(job))
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
    let notice = match h.result {
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
    };
    notice.about_job(&h.name)
}

/// Sets the `Vulnerable` condition from the GLSA audit of the last successful build; a Warning
/// when GLSAs newly affect it (or other ones than before).
pub(super) fn vulnerability(
    status: &mut GentooImageStatus,
    generation: Option<i64>,
    now: &Time,
) -> Option<Notice> {
    let audited = status.last_successful_build.as_ref().and_then(|b| {
        Some((
            b.image_digest.as_deref().unwrap_or("the image"),
            b.glsa.as_ref()?,
        ))
    });
    let Some((digest, glsa)) = audited else {
        conditions::remove(&mut status.conditions, types::VULNERABLE);
        return None;
    };
    let before = conditions::get(&status.conditions, types::VULNERABLE).cloned();
    let affected = !glsa.affected.is_empty();
    let (reason, message) = if affected {
        (
            reasons::GLSA_AFFECTED,
            format!(
                "{digest} is affected by {}: rebuild it on a repo snapshot that fixes them",
                glsa.summary()
            ),
        )
    } else {
        (
            reasons::NOT_AFFECTED,
            format!(
                "none of the {} GLSAs of its repo snapshot affects {digest}",
                glsa.advisories
            ),
        )
    };
    let condition = conditions::condition(
        types::VULNERABLE,
        affected,
        reason,
        message.clone(),
        generation,
        now,
    );
    conditions::set(&mut status.conditions, condition);
    let news = before.is_none_or(|c| c.status != "True" || c.message != message);
    (affected && news).then(|| Notice::warning(reasons::GLSA_AFFECTED, message))
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

/// While a build runs, a new leader first fetches the site into its empty cache: the image
/// keeps saying `Building` (the build goes on) rather than flipping to `SiteNotReady`.
pub(super) fn still_building(error: &Error, before: &GentooImageStatus) -> Option<Standing> {
    let build = before.current_build.as_ref()?;
    matches!(error, Error::SiteNotReady(_)).then(|| {
        let step = build.step.map_or("pending", |s| s.as_str());
        Standing::Progressing(Note::new(
            reasons::BUILDING,
            format!(
                "Job {} runs (step {step}); {error}: its inputs are read again then",
                build.name
            ),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use zentoo_api::conditions::types;
    use zentoo_core::plan::build::StepName;

    #[test]
    fn the_building_condition_says_why_the_build_started() {
        let status = GentooImageStatus {
            inputs_digest: Some("sha256:0123456789abcdef".into()),
            current_build: Some(Box::new(zentoo_api::image::CurrentBuild {
                name: "web-1".into(),
                step: Some(StepName::Assemble),
                cause: Some(zentoo_api::image::BuildCause {
                    reason: reasons::INPUTS_CHANGED.into(),
                    message: "portage/desktop tree changed".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let building = Outcome::Building {
            job: "web-1".into(),
            new: true,
            pod_due: None,
        };
        let Standing::Progressing(note) = standing(&building, &status) else {
            panic!("a build progresses");
        };
        assert_eq!(
            note.message,
            "building inputs sha256:0123456789ab in Job web-1 (step assemble): \
             InputsChanged: portage/desktop tree changed"
        );
    }

    #[test]
    fn a_running_build_stays_building_while_a_new_leader_fetches_the_site() {
        let waiting = Error::SiteNotReady("GentooSite demo is being fetched".into());
        let mut before = GentooImageStatus::default();
        assert_eq!(
            still_building(&waiting, &before),
            None,
            "no build: SiteNotReady"
        );
        before.current_build = Some(Box::new(zentoo_api::image::CurrentBuild {
            name: "web-1".into(),
            step: Some(StepName::Build),
            ..Default::default()
        }));
        let Some(Standing::Progressing(note)) = still_building(&waiting, &before) else {
            panic!("a running build keeps progressing");
        };
        assert_eq!(note.reason, reasons::BUILDING);
        assert!(
            note.message.starts_with("Job web-1 runs (step build); "),
            "{}",
            note.message
        );
        let other = Error::InputsInvalid("no set".into());
        assert_eq!(still_building(&other, &before), None, "other errors stand");
    }

    #[test]
    fn a_failed_build_stalls_with_its_step_message_and_advice() {
        let failed = Outcome::Failed {
            step: StepName::Build,
            message: "exit code 2:\n!!! build failed".into(),
        };
        let mut status = GentooImageStatus::default();
        let now = Time(Timestamp::now());
        standing(&failed, &status).write(&mut status.conditions, Some(3), &now);
        let ready = conditions_of(&status, types::READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reasons::BUILD_FAILED)
        );
        assert_eq!(
            ready.message,
            "step build failed: exit code 2:\n!!! build failed"
        );
        let stalled = conditions_of(&status, types::STALLED);
        assert!(stalled.message.starts_with(&ready.message));
        assert!(
            stalled.message.ends_with("annotation to retry"),
            "{}",
            stalled.message
        );
        assert_eq!(phase(&failed), Phase::Failed);
        assert_eq!(requeue(&failed), Duration::from_secs(600));
    }

    #[test]
    fn each_newly_finished_build_is_one_event() {
        let record = |name: &str, result| BuildRecord {
            name: name.into(),
            result,
            ..BuildRecord::default()
        };
        let before = GentooImageStatus {
            history: vec![record("a", Ending::Succeeded)],
            ..GentooImageStatus::default()
        };
        let mut status = before.clone();
        status.history.insert(0, record("b", Ending::Deleted));
        status.history.insert(0, record("c", Ending::Superseded));
        let notices = finished_builds(&before, &status);
        let got: Vec<&str> = notices.iter().map(|n| n.note.reason).collect();
        assert_eq!(got, [reasons::SUPERSEDED, reasons::BUILD_DELETED]);
    }

    #[test]
    fn vulnerable_says_which_glsas_affect_the_last_build_and_warns_once() {
        use zentoo_api::image::SuccessfulBuild;
        use zentoo_core::plan::result::{GlsaHit, GlsaResult};
        let now = Time(Timestamp::UNIX_EPOCH);
        let mut status = GentooImageStatus::default();
        assert_eq!(vulnerability(&mut status, Some(1), &now), None);
        assert!(conditions::get(&status.conditions, types::VULNERABLE).is_none());
        let audited = |affected: Vec<GlsaHit>| {
            Some(Box::new(SuccessfulBuild {
                image_digest: Some("sha256:ab".into()),
                glsa: Some(GlsaResult {
                    advisories: 4,
                    affected,
                    omitted: 0,
                }),
                ..SuccessfulBuild::default()
            }))
        };
        status.last_successful_build = audited(Vec::new());
        assert_eq!(vulnerability(&mut status, Some(1), &now), None);
        let c = conditions_of(&status, types::VULNERABLE);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NotAffected")
        );
        assert_eq!(
            c.message,
            "none of the 4 GLSAs of its repo snapshot affects sha256:ab"
        );
        let hello = GlsaHit {
            id: "202610-01".into(),
            severity: "high".into(),
            package: "app-misc/hello-2.10".into(),
        };
        status.last_successful_build = audited(vec![hello.clone()]);
        let warning = vulnerability(&mut status, Some(2), &now).expect("a warning");
        assert_eq!(warning.note.reason, "GLSAAffected");
        let c = conditions_of(&status, types::VULNERABLE);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "GLSAAffected")
        );
        assert_eq!(
            c.message,
            "sha256:ab is affected by 202610-01 (high: app-misc/hello-2.10): \
             rebuild it on a repo snapshot that fixes them"
        );
        assert_eq!(c.observed_generation, Some(2));
        // The same finding again is no news; a build without an audit drops the condition.
        assert_eq!(vulnerability(&mut status, Some(2), &now), None);
        status.last_successful_build = Some(Box::default());
        assert_eq!(vulnerability(&mut status, Some(3), &now), None);
        assert!(conditions::get(&status.conditions, types::VULNERABLE).is_none());
    }

    fn conditions_of<'a>(
        status: &'a GentooImageStatus,
        type_: &str,
    ) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        zentoo_api::conditions::get(&status.conditions, type_).expect(type_)
    }
}
