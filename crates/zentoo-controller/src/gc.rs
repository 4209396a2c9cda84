//! The periodic cleanup of each site's shared volumes: every `--gc-interval` (off unless set),
//! a Job running `zentoo gc` on the site's binpkgs and distfiles claims (see `crates/zentoo-binpkgs/src/gc`), unless
//! one is still running. The Job keeps the newest `--gc-keep` builds of each of the site's
//! images; builds running meanwhile are protected by their leases in the volume.

use super::build::base36;
use super::context::Context;
use crate::render::gc::{GC_COMPONENT, GcContext, render_gc_job};
use crate::render::names::dns_label;
use crate::render::storage::claim_name;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{ListParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};
use zentoo_api::{GentooImage, GentooSite, annotations, labels};

/// Seconds a gc Job may run.
pub const GC_DEADLINE_SECONDS: i64 = 3600;

/// Every `every`, makes sure each site has had a gc Job since (first after one interval).
pub async fn run_periodic(
    ctx: Arc<Context>,
    sites: Store<GentooSite>,
    images: Store<GentooImage>,
    every: Duration,
    keep: u32,
) {
    info!(every = ?every, keep, "periodic gc enabled");
    loop {
        tokio::time::sleep(every).await;
        // Only from synced caches: a partial list of images would drop the records of the
        // missing ones. (Not `Store::wait_until_ready`: kube-runtime wakes only the last of
        // several tasks waiting on it, and the readiness task waits already.)
        if !ctx.metrics.is_ready() {
            debug!("periodic gc: caches not synced yet");
            continue;
        }
        for site in sites.state() {
            if site.meta().deletion_timestamp.is_some() {
                continue;
            }
            if let Err(e) = start_gc(&ctx, &site, &images, keep).await {
                warn!(site = %site.name_any(), "gc: {e}");
            }
        }
    }
}

/// The names builds of `image` file their records under (the tuple, else the image's name).
pub fn record_name(image: &GentooImage) -> String {
    image
        .annotations()
        .get(annotations::TUPLE)
        .cloned()
        .unwrap_or_else(|| image.name_any())
}

/// Creates the gc Job of `site` unless one is running. Returns its name, if created.
pub async fn start_gc(
    ctx: &Context,
    site: &GentooSite,
    images: &Store<GentooImage>,
    keep: u32,
) -> anyhow::Result<Option<String>> {
    let namespace = site.namespace().unwrap_or_default();
    let name = site.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!(
        "{}={},{}={GC_COMPONENT}",
        labels::SITE,
        name,
        labels::COMPONENT
    );
    let running = jobs
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .any(|j| {
            j.status
                .as_ref()
                .is_none_or(|s| s.completion_time.is_none() && s.failed.unwrap_or(0) == 0)
        });
    if running {
        debug!(site = %name, "gc: the last gc Job is still running");
        return Ok(None);
    }
    let mut record_names: Vec<String> = images
        .state()
        .iter()
        .filter(|i| i.spec.site_ref.name == name && i.namespace() == site.namespace())
        .map(|i| record_name(i))
        .collect();
    record_names.sort();
    record_names.dedup();
    if record_names.is_empty() {
        // Never from an empty list: that would drop every record of the site.
        debug!(site = %name, "gc: the site has no images");
        return Ok(None);
    }
    let owner = site
        .controller_owner_ref(&())
        .ok_or_else(|| anyhow::anyhow!("site without uid"))?;
    let storage = &site.spec.storage;
    let stamp = base36(u64::try_from(Timestamp::now().as_second()).unwrap_or(0));
    let job_name = format!("{}-{stamp}", dns_label(&[&name, "gc"], 50));
    let job = render_gc_job(&GcContext {
        name: job_name.clone(),
        namespace: namespace.clone(),
        site: name.clone(),
        owner,
        binpkgs_claim: claim_name(&name, "binpkgs", &storage.binpkgs),
        distfiles_claim: claim_name(&name, "distfiles", &storage.distfiles),
        zentoo_image: ctx.settings.zentoo_image.clone(),
        image_pull_policy: ctx.settings.image_pull_policy.clone(),
        service_account: ctx.settings.build_service_account.clone(),
        keep,
        images: record_names,
        active_deadline_seconds: GC_DEADLINE_SECONDS,
    });
    let mut job = job;
    if let Some(meta) = job.spec.as_mut().and_then(|s| s.template.metadata.as_mut()) {
        let labels = meta.labels.get_or_insert_with(Default::default);
        for (k, v) in &ctx.settings.build_pod_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    info!(site = %name, job = %job_name, "gc started");
    Ok(Some(job_name))
}
