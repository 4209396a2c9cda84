//! Condition types and reasons (kstatus), and how zentoo sets them.
//!
//! - `Ready` — normal polarity: `True` when the object is what its spec asks for (an image
//!   built at its current inputs digest, a site fetched and planned).
//! - `Reconciling` — abnormal-true: `True` while zentoo is working towards the spec (fetching,
//!   building); absent or `False` otherwise.
//! - `Stalled` — abnormal-true: `True` when zentoo cannot progress without a person (bad
//!   input, a failed build at these inputs); the reason and message say what to do.
//! - `Vulnerable` (GentooImage) — abnormal-true: `True` when a GLSA of the image's repo snapshot
//!   affects a package of its last successful build (reason `GLSAAffected`, the message lists
//!   the advisories and packages), `False` (`NotAffected`) when none does; absent when the build
//!   was not audited (no repo snapshot in its plan).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod types {
    /// Normal polarity: the object is what its spec asks for.
    pub const READY: &str = "Ready";
    /// Abnormal-true: work towards the spec is under way.
    pub const RECONCILING: &str = "Reconciling";
    /// Abnormal-true: no progress without a person.
    pub const STALLED: &str = "Stalled";
    /// Abnormal-true: a GLSA affects the image's last successful build.
    pub const VULNERABLE: &str = "Vulnerable";
}

/// Condition reasons: CamelCase, each naming what happened in words a person can act on.
pub mod reasons {
    /// The image was built and published at its current inputs.
    pub const BUILD_SUCCEEDED: &str = "BuildSucceeded";
    /// A GLSA of the image's repo snapshot affects a package of its last successful build.
    pub const GLSA_AFFECTED: &str = "GLSAAffected";
    /// No GLSA of the image's repo snapshot affects its last successful build.
    pub const NOT_AFFECTED: &str = "NotAffected";
    /// A GLSA of the site's followed snapshot affects the image's last build: it is rebuilt
    /// at that snapshot (event).
    pub const SECURITY_UPDATE: &str = "SecurityUpdate";
    /// The audit against the site's followed snapshot failed (event); it runs again when the
    /// followed snapshot or the image's last build changes.
    pub const SECURITY_AUDIT_FAILED: &str = "SecurityAuditFailed";
    /// A build is running.
    pub const BUILDING: &str = "Building";
    /// Why a build started (its `cause`): the image had never been built.
    pub const CREATED: &str = "Created";
    /// Why a build started: inputs the image consumes changed since its last successful build
    /// (the message names them, as `zentoo plan --against` does).
    pub const INPUTS_CHANGED: &str = "InputsChanged";
    /// Why a build started: the `zentoo.dev/rebuild-requested-at` annotation was set.
    pub const REBUILD_REQUESTED: &str = "RebuildRequested";
    /// The build failed; the message names the step and shows the log's last lines.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// The image's inputs cannot be resolved (missing branch, set, cpu...).
    pub const INPUTS_INVALID: &str = "InputsInvalid";
    /// The image's site is missing or not fetched yet.
    pub const SITE_NOT_READY: &str = "SiteNotReady";
    /// `spec.suspend` is true.
    pub const SUSPENDED: &str = "Suspended";
    /// A build was replaced by one for newer inputs.
    pub const SUPERSEDED: &str = "Superseded";
    /// A build of outdated inputs is stopping; the build of the current inputs starts once
    /// its pod is gone (never two builds of one image at a time).
    pub const SUPERSEDING: &str = "Superseding";
    /// The site's repository could not be fetched.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// The site was fetched and every tuple planned.
    pub const PLANNED: &str = "Planned";
    /// The site was fetched; some tuples have errors (listed in status).
    pub const TUPLE_ERRORS: &str = "TupleErrors";
    /// The spec itself is invalid.
    pub const SPEC_INVALID: &str = "SpecInvalid";
    /// The spec asks for what the controller's policy refuses; the message names the field,
    /// the value and the controller flag that would allow it.
    pub const POLICY_DENIED: &str = "PolicyDenied";
    /// The build Job cannot create its pod (e.g. the namespace's Pod Security admission
    /// refuses privileged pods); the message is the Job controller's.
    pub const PODS_REJECTED: &str = "PodsRejected";
    /// Work is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// The API server refused an object the controller wrote as invalid (400, 422).
    pub const API_REJECTED: &str = "ApiRejected";
    /// The Kubernetes API failed otherwise.
    pub const KUBERNETES_ERROR: &str = "KubernetesError";
    /// The site repository could not be read at the fetched revision.
    pub const READ_FAILED: &str = "ReadFailed";
    /// A Secret the spec names is missing or lacks a key.
    pub const SECRET_INVALID: &str = "SecretInvalid";
    /// The controller failed in a way no spec change fixes.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// Event: a build's Job was deleted before it finished.
    pub const BUILD_DELETED: &str = "BuildDeleted";
    /// Event: the site's repository was fetched at a new revision.
    pub const FETCHED: &str = "Fetched";
    /// Event: images whose tuple left the tuples file were deleted.
    pub const PRUNED: &str = "Pruned";
}

/// A condition's reason (one of [`reasons`]) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// CamelCase reason.
    pub reason: &'static str,
    /// What a person reads.
    pub message: String,
}

impl Note {
    /// A note of `reason` saying `message`.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            reason,
            message: message.into(),
        }
    }
}

/// Where an object stands after a reconcile: the one value `Ready`, `Reconciling` and
/// `Stalled` are derived from, the same way for every kind ([`Standing::write`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// What the spec asks for: `Ready=True`; neither `Reconciling` nor `Stalled`.
    Ready(Note),
    /// Working towards the spec (or retrying): `Ready=False`, `Reconciling=True`.
    Progressing(Note),
    /// No progress without a person: `Ready=False`, `Stalled=True`; `advice` (what to do)
    /// follows the message in `Stalled` only.
    Stalled {
        /// Why.
        note: Note,
        /// What a person can do, when there is more to say than the message.
        advice: Option<String>,
    },
    /// Not ready and not working on it, by the spec's wish (e.g. suspended): `Ready=False`
    /// alone.
    Idle(Note),
}

impl Standing {
    /// The note `Ready` carries.
    pub fn note(&self) -> &Note {
        match self {
            Standing::Ready(note)
            | Standing::Progressing(note)
            | Standing::Stalled { note, .. }
            | Standing::Idle(note) => note,
        }
    }

    /// Sets `Ready`, `Reconciling` and `Stalled` in `conditions` to say this standing,
    /// observed at `generation`, now. Returns whether anything but timestamps changed.
    pub fn write(
        &self,
        conditions: &mut Vec<Condition>,
        generation: Option<i64>,
        now: &Time,
    ) -> bool {
        let note = self.note();
        let at = |type_: &str, status: bool, message: String| {
            condition(type_, status, note.reason, message, generation, now)
        };
        let mut changed = set(
            conditions,
            at(
                types::READY,
                matches!(self, Standing::Ready(_)),
                note.message.clone(),
            ),
        );
        match self {
            Standing::Progressing(_) => {
                changed |= set(
                    conditions,
                    at(types::RECONCILING, true, note.message.clone()),
                );
                changed |= remove(conditions, types::STALLED);
            }
            Standing::Stalled { advice, .. } => {
                let message = match advice {
                    Some(advice) => format!("{}\n{advice}", note.message),
                    None => note.message.clone(),
                };
                changed |= set(conditions, at(types::STALLED, true, message));
                changed |= remove(conditions, types::RECONCILING);
            }
            Standing::Ready(_) | Standing::Idle(_) => {
                changed |= remove(conditions, types::RECONCILING);
                changed |= remove(conditions, types::STALLED);
            }
        }
        changed
    }
}

/// A condition observed at `generation`, now.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Puts `new` into `conditions`, replacing the one of its type. The transition time is kept
/// when the status did not change. Returns whether anything but timestamps changed.
pub fn set(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            let changed = *old != new;
            *old = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Removes the condition of `type_`; returns whether there was one.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// The `Ready` condition's status (`Unknown` when there is none) and `Reason: message`, as
/// `zentoo get` and the dashboard show it.
pub fn ready_summary(conditions: &[Condition]) -> (String, String) {
    match get(conditions, types::READY) {
        Some(c) => (c.status.clone(), format!("{}: {}", c.reason, c.message)),
        None => ("Unknown".into(), String::new()),
    }
}

/// The condition of `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut list = Vec::new();
        assert!(set(
            &mut list,
            condition(
                types::READY,
                false,
                reasons::BUILDING,
                "b",
                Some(1),
                &at(10)
            )
        ));
        assert!(!set(
            &mut list,
            condition(
                types::READY,
                false,
                reasons::BUILDING,
                "b",
                Some(1),
                &at(20)
            )
        ));
        assert_eq!(
            list[0].last_transition_time,
            at(10),
            "same status keeps its time"
        );
        assert!(set(
            &mut list,
            condition(
                types::READY,
                false,
                reasons::BUILD_FAILED,
                "f",
                Some(1),
                &at(30)
            )
        ));
        assert_eq!(
            list[0].last_transition_time,
            at(10),
            "a new reason is not a transition"
        );
        assert!(set(
            &mut list,
            condition(
                types::READY,
                true,
                reasons::BUILD_SUCCEEDED,
                "ok",
                Some(2),
                &at(40)
            )
        ));
        assert_eq!(list[0].last_transition_time, at(40));
        assert_eq!(list.len(), 1);
        assert!(remove(&mut list, types::READY));
        assert!(get(&list, types::READY).is_none());
    }

    fn shown(list: &[Condition]) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = list
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.message.clone()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn one_standing_sets_all_three_conditions() {
        let mut list = Vec::new();
        let building = Standing::Progressing(Note::new(reasons::BUILDING, "b"));
        assert!(building.write(&mut list, Some(1), &at(10)));
        assert_eq!(
            shown(&list),
            [
                ("Ready".into(), "False".into(), "b".into()),
                ("Reconciling".into(), "True".into(), "b".into())
            ]
        );
        assert!(
            !building.write(&mut list, Some(1), &at(20)),
            "only time moved"
        );
        let failed = Standing::Stalled {
            note: Note::new(reasons::BUILD_FAILED, "f"),
            advice: Some("retry".into()),
        };
        assert!(failed.write(&mut list, Some(1), &at(30)));
        assert_eq!(
            shown(&list),
            [
                ("Ready".into(), "False".into(), "f".into()),
                ("Stalled".into(), "True".into(), "f\nretry".into())
            ]
        );
        let ready = Standing::Ready(Note::new(reasons::BUILD_SUCCEEDED, "ok"));
        assert!(ready.write(&mut list, Some(2), &at(40)));
        assert_eq!(shown(&list), [("Ready".into(), "True".into(), "ok".into())]);
        assert_eq!(list[0].reason, reasons::BUILD_SUCCEEDED);
    }
}
