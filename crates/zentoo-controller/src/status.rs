//! The end of every reconcile, for every kind: conditions from one [`Standing`], the status
//! patched only when it changed (server-side apply, one field manager), events published,
//! the requeue chosen.

use super::context::Context;
use super::error::{Error, Result};
use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;
use tracing::warn;
use zentoo_api::conditions::{Note, Standing};
use zentoo_api::{FIELD_MANAGER, GentooImageStatus, GentooSiteStatus, annotations};

/// The part of a kind's status every reconcile writes.
pub trait ObjectStatus: Serialize + PartialEq + Clone {
    /// Its kstatus conditions.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// Records the generation observed and the `reconcile-requested-at` token handled.
    fn observe(&mut self, generation: Option<i64>, reconcile_token: Option<String>);
}

impl ObjectStatus for GentooImageStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    fn observe(&mut self, generation: Option<i64>, reconcile_token: Option<String>) {
        self.observed_generation = generation;
        if reconcile_token.is_some() {
            self.last_handled_reconcile_at = reconcile_token;
        }
    }
}

impl ObjectStatus for GentooSiteStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    fn observe(&mut self, generation: Option<i64>, reconcile_token: Option<String>) {
        self.observed_generation = generation;
        if reconcile_token.is_some() {
            self.last_handled_reconcile_at = reconcile_token;
        }
    }
}

/// An event to publish about the reconciled object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Normal or Warning.
    pub type_: EventType,
    /// What happened, as a reason and a note.
    pub note: Note,
    /// The build Job it is about, if any: named as the event's related object, which also
    /// keeps the events of two builds apart (the event recorder folds events that differ
    /// only in their note into one series, which would show the first build's note).
    pub job: Option<String>,
}

impl Notice {
    /// A Normal event.
    pub fn normal(reason: &'static str, note: impl Into<String>) -> Self {
        Notice {
            type_: EventType::Normal,
            note: Note::new(reason, note),
            job: None,
        }
    }

    /// A Warning event.
    pub fn warning(reason: &'static str, note: impl Into<String>) -> Self {
        Notice {
            type_: EventType::Warning,
            note: Note::new(reason, note),
            job: None,
        }
    }

    /// The same, about build Job `job`.
    pub fn about_job(self, job: &str) -> Self {
        Notice {
            job: Some(job.to_string()),
            ..self
        }
    }
}

/// What one reconcile of `obj` ends with.
pub struct Finish<'a, K: Resource, S> {
    /// The object reconciled.
    pub obj: &'a K,
    /// Its status as read.
    pub before: &'a S,
    /// Its status as the sub-steps left it.
    pub status: S,
    /// Where it stands; `None` leaves the conditions alone.
    pub standing: Option<Standing>,
    /// Events to publish once the status is written.
    pub notices: Vec<Notice>,
    /// When to look again, or why the reconcile failed.
    pub next: Result<Duration>,
}

/// Writes the end of a reconcile: conditions from the standing, the observed generation and
/// reconcile token, the status (only when it changed), then the events; the requeue after
/// success, or the error for the controller's error policy. `key` names the object in `ctx`.
pub async fn finish<K, S>(ctx: &Context, key: &str, end: Finish<'_, K, S>) -> Result<Action>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: ObjectStatus,
{
    let Finish {
        obj,
        before,
        mut status,
        standing,
        notices,
        next,
    } = end;
    let generation = obj.meta().generation;
    if let Some(standing) = &standing {
        let now = Time(Timestamp::now());
        standing.write(status.conditions_mut(), generation, &now);
    }
    let token = obj
        .annotations()
        .get(annotations::RECONCILE_REQUESTED_AT)
        .cloned();
    status.observe(generation, token);
    if status != *before {
        patch_status(ctx, obj, &status).await?;
    }
    for notice in notices {
        publish(ctx, obj, notice).await;
    }
    let after = next?;
    ctx.succeeded(key);
    Ok(Action::requeue(after))
}

/// Writes `status` of `obj` by server-side apply.
async fn patch_status<K, S>(ctx: &Context, obj: &K, status: &S) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    S: Serialize,
{
    let namespace = obj
        .namespace()
        .ok_or_else(|| Error::InvalidSpec(format!("a {} must be namespaced", K::kind(&()))))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// Publishes an event about `obj`; failures are logged, never fatal.
pub async fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, notice: Notice) {
    let Notice { type_, note, job } = notice;
    let secondary = job.map(|name| ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: Some(name),
        namespace: obj.meta().namespace.clone(),
        ..ObjectReference::default()
    });
    let event = Event {
        type_,
        reason: note.reason.to_string(),
        note: Some(note.message),
        action: "Reconcile".into(),
        secondary,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        warn!("publishing event {}: {e}", note.reason);
    }
}
