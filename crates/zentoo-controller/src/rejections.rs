//! Why the Job controller could not create a build Job's pod (Pod Security admission, a
//! quota): it says so only in `FailedCreate` events. One watch of those events keeps the
//! newest per Job, so that an image whose pod does not come reads the reason from memory: it
//! listed the Job's events at every reconcile, thousands of lists when the Job controller
//! fell behind thousands of new Jobs.

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::runtime::watcher;
use std::collections::HashMap;
use std::sync::Mutex;
use zentoo_core::site::error::tidy;

/// The field selector of the events watched.
pub const SELECTOR: &str = "regarding.kind=Job,reason=FailedCreate";

/// Longest reason kept (bytes).
const MAX_NOTE: usize = 600;

/// The newest `FailedCreate` event of each Job, by (namespace, Job name).
#[derive(Default)]
pub struct Rejections {
    by_job: Mutex<HashMap<(String, String), Rejection>>,
}

struct Rejection {
    /// The event's name: its deletion (events expire) forgets the Job's entry.
    event: String,
    /// When it last happened.
    at: Option<Timestamp>,
    note: String,
}

impl Rejections {
    /// Applies a watch event; returns the (namespace, Job) whose reason it recorded.
    pub fn observe(&self, event: &watcher::Event<Event>) -> Option<(String, String)> {
        let Ok(mut by_job) = self.by_job.lock() else {
            return None;
        };
        match event {
            watcher::Event::Init => {
                by_job.clear();
                None
            }
            watcher::Event::InitDone => None,
            watcher::Event::Apply(e) | watcher::Event::InitApply(e) => {
                let (key, rejection) = entry(e)?;
                let newer = by_job.get(&key).is_none_or(|old| old.at <= rejection.at);
                if newer {
                    by_job.insert(key.clone(), rejection);
                }
                Some(key)
            }
            watcher::Event::Delete(e) => {
                let (key, rejection) = entry(e)?;
                if by_job
                    .get(&key)
                    .is_some_and(|old| old.event == rejection.event)
                {
                    by_job.remove(&key);
                }
                None
            }
        }
    }

    /// Why Job `job` in `namespace` has no pod, if its events say: the newest note, with a
    /// hint when Pod Security admission refused it.
    pub fn reason(&self, namespace: &str, job: &str) -> Option<String> {
        let by_job = self.by_job.lock().ok()?;
        let note = &by_job.get(&(namespace.to_string(), job.to_string()))?.note;
        Some(if note.contains("PodSecurity") {
            format!(
                "{note}; build pods are privileged: label namespace {namespace} \
                 pod-security.kubernetes.io/enforce=privileged"
            )
        } else {
            note.clone()
        })
    }

    /// Jobs with a recorded reason.
    pub fn len(&self) -> usize {
        self.by_job.lock().map_or(0, |m| m.len())
    }

    /// No Job has a recorded reason.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The (namespace, Job) an event is about and what it says.
fn entry(e: &Event) -> Option<((String, String), Rejection)> {
    let job = e.regarding.as_ref()?.name.clone()?;
    let namespace = e
        .regarding
        .as_ref()
        .and_then(|r| r.namespace.clone())
        .or_else(|| e.namespace())?;
    let at = e
        .deprecated_last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let note = tidy(e.note.as_deref().unwrap_or("FailedCreate"), MAX_NOTE);
    Some((
        (namespace, job),
        Rejection {
            event: e.name_any(),
            at,
            note,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    fn event(name: &str, job: &str, at: &str, note: &str) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            regarding: Some(ObjectReference {
                kind: Some("Job".into()),
                name: Some(job.into()),
                namespace: Some("ns".into()),
                ..ObjectReference::default()
            }),
            event_time: Some(MicroTime(at.parse().expect("a timestamp"))),
            note: Some(note.into()),
            ..Event::default()
        }
    }

    #[test]
    fn the_newest_reason_is_kept_per_job_until_its_event_expires() {
        let r = Rejections::default();
        let old = event("e1", "b-1", "2026-12-04T10:00:00Z", "quota exceeded");
        let new = event("e2", "b-1", "2026-12-04T10:05:00Z", "violates PodSecurity");
        assert_eq!(
            r.observe(&watcher::Event::Apply(new.clone())),
            Some(("ns".into(), "b-1".into()))
        );
        r.observe(&watcher::Event::Apply(old.clone()));
        let reason = r.reason("ns", "b-1").expect("a reason");
        assert!(reason.starts_with("violates PodSecurity; build pods are privileged"));
        assert_eq!(r.reason("ns", "b-2"), None);
        assert_eq!(r.reason("other", "b-1"), None);
        // The older event expiring keeps the newer reason; the newer one expiring drops it.
        r.observe(&watcher::Event::Delete(old));
        assert!(r.reason("ns", "b-1").is_some());
        r.observe(&watcher::Event::Delete(new));
        assert_eq!(r.reason("ns", "b-1"), None);
        assert!(r.is_empty());
    }

    #[test]
    fn a_relist_starts_afresh() {
        let r = Rejections::default();
        r.observe(&watcher::Event::Apply(event(
            "e1",
            "b-1",
            "2026-12-04T10:00:00Z",
            "x",
        )));
        r.observe(&watcher::Event::Init);
        r.observe(&watcher::Event::InitApply(event(
            "e3",
            "b-3",
            "2026-12-04T11:00:00Z",
            "quota",
        )));
        r.observe(&watcher::Event::InitDone);
        assert_eq!(r.reason("ns", "b-1"), None);
        assert_eq!(r.reason("ns", "b-3").as_deref(), Some("quota"));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn an_event_about_nothing_is_ignored() {
        let r = Rejections::default();
        let mut e = event("e1", "b-1", "2026-12-04T10:00:00Z", "x");
        e.regarding = None;
        assert_eq!(r.observe(&watcher::Event::Apply(e)), None);
        assert!(r.is_empty());
    }
}
