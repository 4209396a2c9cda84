//! The site reconciler: check the repository, plan, keep one GentooImage per good tuple,
//! report.
//!
//! Steps, each returning early: suspend → decide whether to check the repository now
//! ([`super::poll`]: first time, spec changed, a push within its debounce window, or the
//! jittered poll period passed) → credentials → check (`ls-remote`) and fetch only what
//! moved → read and plan (from the cache when not checking) → storage → images (apply
//! changed, prune those whose tuple left) → status, always written at the end.

use super::context::{Caches, Context};
use super::error::{Error, Result};
use super::owner::{self, Holder, Written};
use super::poll::{Decision, PollInput, decide, jittered};
use super::source::{Checked, Planned, plan_source};
use super::status::{Finish, Notice, finish};
use crate::render::names::image_name;
use crate::render::storage::render_claim;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, instrument, warn};
use zentoo_api::conditions::{Note, Standing, reasons, types};
use zentoo_api::site::VolumeSpec;
use zentoo_api::{GentooImage, GentooSite, GentooSiteStatus, annotations, labels};
use zentoo_core::plan::SitePlan;
use zentoo_core::site::SiteError;
use zentoo_core::site::repo::TUPLES_FILE;

/// Most errors kept in a site's status.
pub const MAX_STATUS_ERRORS: usize = 100;
/// When a site looks again after an image changed hands while it was written (the cache
/// shows the new holder by then).
const RACED_RETRY: Duration = Duration::from_secs(1);

/// What a successful sync found.
struct Synced {
    revision: String,
    plan: SitePlan,
    applied: usize,
    pruned: Vec<String>,
    /// An image changed hands while it was written: look again soon.
    raced: bool,
    /// What the check of the repository found, when it was checked.
    checked: Option<Checked>,
}

/// Reconciles one GentooSite.
#[instrument(skip(site, ctx), fields(site = %site.name_any(), namespace = site.namespace().unwrap_or_default()))]
pub async fn reconcile(site: Arc<GentooSite>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = site
        .namespace()
        .ok_or_else(|| Error::InvalidSpec("a GentooSite must be namespaced".into()))?;
    let name = site.name_any();
    let before = site.status.clone().unwrap_or_default();
    let now = Time(Timestamp::now());
    let key = format!("site/{namespace}/{name}");
    // Local repositories are watched only where they are allowed as sources at all.
    let watched = if ctx.settings.allow_local_sources {
        site.spec.source.url.as_str()
    } else {
        ""
    };
    if let Err(e) = ctx.local.sync(&namespace, &name, watched) {
        // The check below reports a missing repository; until then, polling still works.
        debug!("not watching the local repository: {e}");
    }
    let fetch_request = annotation(&site, annotations::FETCH_REQUESTED_AT)
        .filter(|v| Some(*v) != before.last_handled_fetch_at.as_deref());
    let period = jittered(interval(&site), &namespace, &name);
    let window = debounce(&site, &ctx);
    let decision = decide(&PollInput {
        period,
        debounce: window.as_ref().copied().unwrap_or(ctx.settings.debounce),
        last_checked: latest(
            before.last_checked.as_ref().map(|t| t.0),
            ctx.last_check(&key),
        ),
        stale: before.observed_generation != site.metadata.generation || failed(&before),
        pushed: fetch_request.is_some() || ctx.pushes.pushed(&namespace, &name),
        now: now.0,
    });
    debug!(?decision, "site woken");

    let outcome = if site.spec.suspend {
        Ok(None)
    } else if let Err(e) = window {
        Err(e)
    } else {
        let check = matches!(decision, Decision::Check(_));
        sync(&site, &ctx, &namespace, &key, check, &before)
            .await
            .map(Some)
    };
    let mut status = before.clone();
    let (standing, notices) = match &outcome {
        Ok(None) => (
            Standing::Idle(Note::new(
                reasons::SUSPENDED,
                "spec.suspend is true: not fetching",
            )),
            Vec::new(),
        ),
        Ok(Some(synced)) => report(synced, &mut status, &before, &now),
        Err(e) => (
            e.standing(),
            vec![Notice::warning(e.reason(), e.to_string())],
        ),
    };
    // A fetch request is handled by the check it caused, whether it succeeded or not (Ready
    // says); a debounced one waits for the end of the window.
    if let Some(request) = fetch_request.filter(|_| !matches!(decision, Decision::Debounced(_))) {
        status.last_handled_fetch_at = Some(request.to_string());
    }
    let end = Finish {
        obj: site.as_ref(),
        before: &before,
        status,
        standing: Some(standing),
        notices,
        next: outcome.map(|synced| next_look(decision, synced.as_ref(), period)),
    };
    finish(&ctx, &key, end).await
}

/// When a site looks again: soon after a race, a period after a check, else when the poll
/// decision said.
fn next_look(decision: Decision, synced: Option<&Synced>, period: Duration) -> Duration {
    let next = match decision {
        _ if synced.is_some_and(|s| s.raced) => RACED_RETRY,
        _ if synced.is_some_and(|s| s.checked.is_some()) => period,
        Decision::Debounced(left) | Decision::NotDue(left) => left,
        Decision::Check(_) => period,
    };
    next.max(Duration::from_millis(100))
}

/// Writes what a sync found into `status`; returns the site's standing and the events:
/// a new revision fetched, images pruned.
fn report(
    synced: &Synced,
    status: &mut GentooSiteStatus,
    before: &GentooSiteStatus,
    now: &Time,
) -> (Standing, Vec<Notice>) {
    let errors = &synced.plan.errors;
    let images = synced.plan.images.len();
    status.revision = Some(synced.revision.clone());
    status.short_revision = Some(synced.revision.chars().take(12).collect());
    if let Some(checked) = &synced.checked {
        status.last_checked = Some(now.clone());
        if checked.downloaded || status.last_fetched.is_none() {
            status.last_fetched = Some(now.clone());
        }
        status.refs_digest = Some(checked.refs_digest.clone());
    }
    status.tuples = Some(u32::try_from(images).unwrap_or(u32::MAX));
    status.error_count = Some(u32::try_from(errors.len()).unwrap_or(u32::MAX));
    status.errors = errors.iter().take(MAX_STATUS_ERRORS).cloned().collect();
    let standing = match errors.first() {
        None => Standing::Ready(Note::new(
            reasons::PLANNED,
            format!("{images} images planned at {}", short(&synced.revision)),
        )),
        Some(first) => Standing::Stalled {
            note: Note::new(
                reasons::TUPLE_ERRORS,
                format!(
                    "{} problem(s), e.g. {first}; {images} images planned",
                    errors.len()
                ),
            ),
            advice: None,
        },
    };
    // One event at most: a prune says more than a fetch.
    let notice = if !synced.pruned.is_empty() {
        Some(Notice::normal(
            reasons::PRUNED,
            format!(
                "removed images whose tuple left: {}",
                synced.pruned.join(", ")
            ),
        ))
    } else if before.revision.as_deref() != Some(synced.revision.as_str()) {
        Some(Notice::normal(
            reasons::FETCHED,
            format!(
                "revision {} ({images} images, {} applied)",
                short(&synced.revision),
                synced.applied
            ),
        ))
    } else {
        None
    };
    (standing, notice.into_iter().collect())
}

/// The later of two instants, either of which may be unknown.
fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the last reconcile failed (so the next one checks the repository again).
fn failed(status: &GentooSiteStatus) -> bool {
    status.conditions.iter().any(|c| {
        c.type_ == types::READY
            && c.status == "False"
            && ![reasons::TUPLE_ERRORS, reasons::SUSPENDED].contains(&c.reason.as_str())
    })
}

/// The value of annotation `key` on `site`, when set.
fn annotation<'a>(site: &'a GentooSite, key: &str) -> Option<&'a str> {
    site.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The site's debounce window: `spec.source.debounce`, else the controller's.
fn debounce(site: &GentooSite, ctx: &Context) -> Result<Duration> {
    let window = site
        .spec
        .source
        .debounce()
        .map_err(|e| Error::InvalidSpec(e.to_string()))?;
    Ok(window.unwrap_or(ctx.settings.debounce))
}

/// Requeue after a failed reconcile.
pub fn error_policy(site: Arc<GentooSite>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "site/{}/{}",
        site.namespace().unwrap_or_default(),
        site.name_any()
    );
    warn!(site = %site.name_any(), reason = error.reason(), "reconcile failed: {error}");
    ctx.failed(&key, error)
}

/// Checks the repository (when `check`, or when the cache cannot serve the last revision)
/// and plans, then keeps storage and images in step with the plan.
async fn sync(
    site: &GentooSite,
    ctx: &Context,
    namespace: &str,
    key: &str,
    check: bool,
    before: &GentooSiteStatus,
) -> Result<Synced> {
    ctx.settings
        .policy
        .site(&site.spec)
        .map_err(Error::PolicyDenied)?;
    let Planned {
        revision,
        mut plan,
        checked,
    } = plan_source(site, ctx, namespace, key, check, before).await?;
    ensure_storage(site, ctx, namespace).await?;
    let Applied {
        applied,
        pruned,
        raced,
    } = apply_images(site, ctx, namespace, &mut plan).await?;
    if applied > 0 || !pruned.is_empty() {
        info!(revision = %short(&revision), images = plan.images.len(), errors = plan.errors.len(), applied, pruned = pruned.len(), "site planned");
    } else {
        debug!(revision = %short(&revision), images = plan.images.len(), "site unchanged");
    }
    Ok(Synced {
        revision,
        plan,
        applied,
        pruned,
        raced,
        checked,
    })
}

/// Creates the site's PersistentVolumeClaims that do not exist yet.
async fn ensure_storage(site: &GentooSite, ctx: &Context, namespace: &str) -> Result<()> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let owner = site
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Internal("site without uid".into()))?;
    let storage = &site.spec.storage;
    let kinds: [(&str, &VolumeSpec); 3] = [
        ("binpkgs", &storage.binpkgs),
        ("distfiles", &storage.distfiles),
        ("repo", &storage.repo),
    ];
    for (kind, spec) in kinds {
        let Some(claim) = render_claim(&site.name_any(), namespace, kind, spec, owner.clone())
        else {
            continue;
        };
        let name = claim.metadata.name.clone().unwrap_or_default();
        if api.get_opt(&name).await?.is_none() {
            api.create(&PostParams::default(), &claim).await?;
        }
    }
    Ok(())
}

/// The spec fields a site sets on the image of one of its tuples; everything else is left to
/// users (e.g. `suspend`), who share the object under server-side apply.
fn desired_image(
    site: &GentooSite,
    image: &zentoo_core::plan::ImagePlan,
) -> Result<serde_json::Value> {
    let owner = site
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Internal("site without uid".into()))?;
    let tuple_cpu = image.name.split('-').count() == 4;
    let mut spec = serde_json::json!({
        "siteRef": {"name": site.name_any()},
        "portage": image.portage,
        "set": image.set,
    });
    if let Some(hooks) = &image.buildhooks {
        spec["buildhooks"] = hooks.clone().into();
    }
    if tuple_cpu {
        spec["cpu"] = image.cpu.clone().into();
    }
    Ok(serde_json::json!({
        "apiVersion": GentooImage::api_version(&()),
        "kind": GentooImage::kind(&()),
        "metadata": {
            "name": image_name(&site.name_any(), &image.name),
            "labels": {labels::SITE: site.name_any(), labels::MANAGED_BY: "zentoo"},
            "annotations": {annotations::TUPLE: image.name},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }))
}

/// What keeping the images in step did.
#[derive(Default)]
struct Applied {
    /// Images created or applied.
    applied: usize,
    /// Images deleted.
    pruned: Vec<String>,
    /// An image changed hands while it was written: look again soon.
    raced: bool,
}

/// Applies the images whose desired spec differs from what exists and prunes the site's images
/// whose tuple left the tuples file. Images of tuples that only have errors are kept. An image
/// of the name held by anyone else is not touched: its tuple moves into `plan.errors`.
async fn apply_images(
    site: &GentooSite,
    ctx: &Context,
    namespace: &str,
    plan: &mut SitePlan,
) -> Result<Applied> {
    let api: Api<GentooImage> = Api::namespaced(ctx.client.clone(), namespace);
    let caches = ctx.caches()?;
    if !caches.ready(Duration::from_secs(30)).await {
        return Err(Error::SiteNotReady(
            "waiting for the controller's caches to fill".into(),
        ));
    }
    let site_name = site.name_any();
    let uid = site.uid().unwrap_or_default();
    let mut done = Applied::default();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut held = Vec::new();
    for (i, image) in plan.images.iter().enumerate() {
        let name = image_name(&site_name, &image.name);
        let cached = caches
            .images
            .get(&ObjectRef::<GentooImage>::new(&name).within(namespace));
        let written = match owner::holder(cached.as_deref(), &uid) {
            Holder::Other(why) => {
                held.push((i, why));
                continue;
            }
            Holder::Free => {
                keep.insert(name);
                owner::create(&ctx.client, namespace, &desired_image(site, image)?).await?
            }
            Holder::This => {
                keep.insert(name);
                // Held by this site: the cache shows it.
                let Some(cached) = cached else { continue };
                let desired = desired_image(site, image)?;
                let current = serde_json::to_value(&cached.spec).unwrap_or_default();
                if spec_matches(&current, &desired["spec"]) {
                    continue;
                }
                owner::apply(&api, &cached.uid().unwrap_or_default(), &desired).await?
            }
        };
        match written {
            Written::Done => done.applied += 1,
            Written::Raced => done.raced = true,
        }
    }
    for (i, why) in held.into_iter().rev() {
        let image = plan.images.remove(i);
        plan.errors.push(
            SiteError::new(TUPLES_FILE, Some(image.line), "tuple", why).for_tuple(&image.name),
        );
    }
    plan.errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for tuple in plan.errors.iter().filter_map(|e| e.tuple.as_deref()) {
        keep.insert(image_name(&site_name, tuple));
    }
    done.pruned = prune_images(&api, caches, namespace, site, &keep).await?;
    Ok(done)
}

/// Deletes the images `site` controls that are not in `keep`; returns their names.
async fn prune_images(
    api: &Api<GentooImage>,
    caches: &Caches,
    namespace: &str,
    site: &GentooSite,
    keep: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let site_name = site.name_any();
    let uid = site.uid().unwrap_or_default();
    let existing: BTreeMap<String, Arc<GentooImage>> = caches
        .images
        .state()
        .into_iter()
        .filter(|i| {
            i.namespace().as_deref() == Some(namespace)
                && i.labels().get(labels::SITE) == Some(&site_name)
        })
        .map(|i| (i.name_any(), i))
        .collect();
    let mut pruned = Vec::new();
    for (name, image) in &existing {
        let owned = image
            .owner_references()
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true));
        if owned && !keep.contains(name) {
            api.delete(name, &DeleteParams::background()).await?;
            pruned.push(name.clone());
        }
    }
    Ok(pruned)
}

/// True when every field of `desired` has the same value in `current`.
fn spec_matches(current: &serde_json::Value, desired: &serde_json::Value) -> bool {
    match desired.as_object() {
        Some(fields) => fields.iter().all(|(k, v)| current.get(k) == Some(v)),
        None => false,
    }
}

/// The site's polling interval (5 minutes when it is not a valid one, which the site's
/// status reports).
pub fn interval(site: &GentooSite) -> Duration {
    site.spec
        .source
        .interval()
        .unwrap_or(Duration::from_secs(300))
}

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_matches_when_the_site_fields_agree() {
        let current =
            serde_json::json!({"portage": "a", "set": "b", "suspend": true, "historyLimit": 5});
        assert!(spec_matches(
            &current,
            &serde_json::json!({"portage": "a", "set": "b"})
        ));
        assert!(!spec_matches(
            &current,
            &serde_json::json!({"portage": "a", "set": "c"})
        ));
        assert!(!spec_matches(
            &current,
            &serde_json::json!({"portage": "a", "cpu": "z"})
        ));
    }
}
