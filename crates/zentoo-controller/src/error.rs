//! The controller's errors, each with a condition reason and a class that decides the requeue.

use std::time::Duration;
use zentoo_api::conditions::{Note, Standing, reasons};

/// How an error is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Needs a person: no retry until the object (or what it refers to) changes.
    Stalled,
    /// Waiting for something that will come: retry after this long.
    Waiting(Duration),
    /// Anything else: retry with per-object exponential backoff, at most this long apart.
    Transient(Duration),
}

/// Longest wait between retries of an object whose reconcile met an API server error.
///
/// An API server outage fails every reconcile that runs during it (connection refused, then
/// `403` while a restarted server's RBAC cache fills), and the failures add up: with the
/// five-minute cap of other errors, an object could wait minutes after the server came back
/// (a CI run saw a site miss its next poll for over three). Nothing but the API server is
/// asked again, so retrying every 30 s is cheap.
pub const API_RETRY_MAX: Duration = Duration::from_secs(30);

/// Longest wait between retries of other transient errors (a git server down).
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// Why a reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The site repository could not be fetched.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// The repository URL.
        url: String,
        /// What git said.
        message: String,
    },
    /// The site repository could not be opened or read at the fetched revision.
    #[error("reading the site repository: {0}")]
    Read(#[from] zentoo_core::site::repo::ReadError),
    /// A git read of the site repository failed.
    #[error("reading the site repository: {what}: {}", .source.message())]
    Git {
        /// What was read.
        what: String,
        /// What git said.
        #[source]
        source: git2::Error,
    },
    /// The site's branch prefixes are unusable.
    #[error(transparent)]
    Branches(#[from] super::spec::BranchesError),
    /// The spec is invalid in a way only a person can fix.
    #[error("{0}")]
    InvalidSpec(String),
    /// The image's inputs (branches, sets, cpu) cannot be resolved at the site's revision.
    #[error("{0}")]
    InputsInvalid(String),
    /// The image's site is missing or not fetched yet.
    #[error("{0}")]
    SiteNotReady(String),
    /// The spec asks for what the controller's policy refuses (a stage3, a node, a Secret).
    #[error("{0}")]
    PolicyDenied(String),
    /// A Secret the spec names is missing or lacks a key.
    #[error("{0}")]
    Secret(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal: a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// An object the controller built does not convert to what the API takes.
    #[error("internal: {what}: {source}")]
    Object {
        /// Which object.
        what: &'static str,
        /// Why it does not convert.
        #[source]
        source: serde_json::Error,
    },
    /// Something the controller relies on is not so (an object without uid, caches not set
    /// up); the message says what.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The condition reason (and metric label) of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(e) if rejected(e) => reasons::API_REJECTED,
            Error::Kube(_) => reasons::KUBERNETES_ERROR,
            Error::Fetch { .. } => reasons::FETCH_FAILED,
            Error::Read(_) | Error::Git { .. } => reasons::READ_FAILED,
            Error::InvalidSpec(_) | Error::Branches(_) => reasons::SPEC_INVALID,
            Error::PolicyDenied(_) => reasons::POLICY_DENIED,
            Error::InputsInvalid(_) => reasons::INPUTS_INVALID,
            Error::SiteNotReady(_) => reasons::SITE_NOT_READY,
            Error::Secret(_) => reasons::SECRET_INVALID,
            Error::Task(_) | Error::Object { .. } | Error::Internal(_) => reasons::INTERNAL_ERROR,
        }
    }

    /// Where an object stands after this error: stalled, or progressing (being retried).
    pub fn standing(&self) -> Standing {
        let note = Note::new(self.reason(), self.to_string());
        match self.class() {
            Class::Stalled => Standing::Stalled { note, advice: None },
            Class::Waiting(_) | Class::Transient(_) => Standing::Progressing(note),
        }
    }

    /// How this error is retried.
    pub fn class(&self) -> Class {
        match self {
            Error::InvalidSpec(_)
            | Error::Branches(_)
            | Error::InputsInvalid(_)
            | Error::PolicyDenied(_) => Class::Stalled,
            Error::Kube(e) if rejected(e) => Class::Stalled,
            Error::SiteNotReady(_) => Class::Waiting(Duration::from_secs(15)),
            Error::Secret(_) => Class::Waiting(Duration::from_secs(60)),
            Error::Kube(_) => Class::Transient(API_RETRY_MAX),
            _ => Class::Transient(RETRY_MAX),
        }
    }
}

/// True when the API server refused an object as invalid (400, 422): retrying the same
/// object cannot help; a change of the spec that made it can.
fn rejected(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 400 || s.code == 422)
}

/// Result of the controller's fallible steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The delay before retry number `attempt` (1-based) of a transient error: 5 s doubling,
/// at most 5 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(6));
    Duration::from_secs(secs).min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    fn api_error(code: u16) -> Error {
        Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        })))
    }

    #[test]
    fn api_server_errors_are_retried_at_least_every_thirty_seconds() {
        // Refused while a restarted API server's RBAC cache fills, unavailable, throttled.
        for code in [403, 429, 500, 503] {
            assert_eq!(
                api_error(code).class(),
                Class::Transient(API_RETRY_MAX),
                "{code}"
            );
        }
        // An object the API server rejects waits for a change instead.
        assert_eq!(api_error(422).class(), Class::Stalled);
        assert!(backoff(9) > API_RETRY_MAX, "other errors back off further");
    }

    #[test]
    fn classes_decide_requeue() {
        assert_eq!(Error::InvalidSpec("x".into()).class(), Class::Stalled);
        let inputs = Error::InputsInvalid("x".into());
        assert_eq!(
            (inputs.class(), inputs.reason()),
            (Class::Stalled, "InputsInvalid")
        );
        assert!(matches!(
            Error::SiteNotReady("x".into()).class(),
            Class::Waiting(_)
        ));
        let git = Error::Git {
            what: "revision x".into(),
            source: git2::Error::from_str("not found"),
        };
        assert_eq!(git.class(), Class::Transient(RETRY_MAX));
        assert_eq!(
            git.to_string(),
            "reading the site repository: revision x: not found"
        );
        assert!(
            std::error::Error::source(&git).is_some(),
            "the cause is kept"
        );
        assert_eq!(
            Error::Fetch {
                url: "u".into(),
                message: "m".into()
            }
            .reason(),
            "FetchFailed"
        );
    }
}
