//! The cluster side: reconcilers for GentooSite and GentooImage, run by `zentoo controller`.

#![forbid(unsafe_code)]

pub mod api_metrics;
pub mod build;
pub mod context;
pub mod dashboard;
pub mod error;
pub mod fetch;
pub mod gc;
pub mod image;
pub mod index;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod outcome;
pub mod owner;
pub mod policy;
pub mod poll;
pub mod pushes;
pub mod rejections;
pub mod render;
pub mod secrets;
pub mod site;
pub mod slim;
pub mod source;
pub mod spec;
pub mod status;
pub mod validate;
pub mod watch_backoff;
pub mod webhook;

use context::{Caches, Context, Settings};
use futures::{Stream, StreamExt, TryStreamExt};
use index::LabelIndex;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Config};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates};
use kube::{Api, Client, Resource, ResourceExt};
use slim::{CachedJob, CachedPod, Slim};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, error, info, warn};
use watch_backoff::WatchBackoff;
use zentoo_api::{GentooImage, GentooSite, annotations, labels};

/// How many objects of one kind are reconciled at once.
pub const CONCURRENCY: u16 = 8;

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What the image reconciler reads of a site: its spec, its revision and the digest of the
/// branches it uses (a portage or buildhooks branch may move while the tracked branch does
/// not); a change of anything else (check times, conditions) does not wake its images.
fn site_inputs(site: &GentooSite) -> Option<u64> {
    let status = site.status.as_ref();
    Some(hash_of((
        predicates::generation(site),
        status.and_then(|s| s.revision.as_deref()),
        status.and_then(|s| s.refs_digest.as_deref()),
    )))
}

/// What should wake an image's reconcile: its spec and its annotations (the rebuild token),
/// not its own status writes.
fn image_inputs(image: &GentooImage) -> Option<u64> {
    let meta = &image.metadata;
    Some(hash_of((
        meta.generation,
        &meta.annotations,
        meta.deletion_timestamp.is_some(),
    )))
}

/// What wakes the site reconciler from a site's own changes: its spec (generation) and the
/// request annotations (a webhook's or `zentoo reconcile`'s); not its status, which it
/// writes itself.
fn site_trigger(site: &GentooSite) -> Option<u64> {
    let annotations = site.annotations();
    Some(hash_of((
        predicates::generation(site),
        annotations.get(annotations::FETCH_REQUESTED_AT),
        annotations.get(annotations::RECONCILE_REQUESTED_AT),
    )))
}

/// A stream filter passing an object only when `hash` of it differs from the last one seen
/// of the same object (by namespace, name and uid): e.g. a site's own status writes do not
/// wake it.
fn changed<K: kube::Resource>(
    hash: fn(&K) -> Option<u64>,
) -> impl FnMut(&Arc<K>) -> std::future::Ready<bool> {
    type Key = (Option<String>, Option<String>, Option<String>);
    let mut seen: std::collections::HashMap<Key, u64> = std::collections::HashMap::new();
    move |obj| {
        let meta = obj.meta();
        let key = (meta.namespace.clone(), meta.name.clone(), meta.uid.clone());
        let h = hash(obj).unwrap_or(0);
        std::future::ready(seen.insert(key, h) != Some(h))
    }
}

/// Runs both reconcilers until SIGTERM/SIGINT, watching `namespace` or every namespace.
///
/// One watch per kind feeds a cache (reflector) that reconciles read instead of the API
/// server: GentooSites, GentooImages, build Jobs (without their pod template) and build pods
/// (without their spec). Predicates keep status-only changes from waking reconciles; a
/// metadata-only watch of images tells sites about image spec changes.
pub async fn run(
    client: Client,
    settings: Settings,
    namespace: Option<String>,
) -> anyhow::Result<()> {
    let ctx = Arc::new(Context::new(client, settings));
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    // Every watch decodes slim: no managed fields, Jobs without their pod template, pods
    // without their spec (see `slim`).
    let sites: Api<Slim<GentooSite>> = api(&client, ns);
    let images: Api<Slim<GentooImage>> = api(&client, ns);
    let image_meta: Api<Slim<PartialObjectMeta<GentooImage>>> = api(&client, ns);
    let jobs: Api<Slim<CachedJob>> = api(&client, ns);
    let pods: Api<Slim<CachedPod>> = api(&client, ns);
    let events: Api<KubeEvent> = api(&client, ns);
    let config = ControllerConfig::default().concurrency(CONCURRENCY);
    let managed = Config::default().labels(&format!("{}=zentoo", labels::MANAGED_BY));
    // Build pods, and the pods of audits (`image::security`) whose results are read the same way.
    let build_pods = Config::default().labels(&format!(
        "{} in (build,{})",
        labels::COMPONENT,
        render::audit::AUDIT_COMPONENT
    ));

    // Aborted when `run` ends or is dropped (a test aborting the controller's task).
    let _server = ctx
        .settings
        .metrics_addr
        .map(|addr| {
            let metrics = ctx.metrics.clone();
            tokio::spawn(async move {
                if let Err(e) = metrics::serve(addr, metrics).await {
                    error!("metrics server on {addr}: {e}");
                }
            })
        })
        .map(AbortOnDrop);

    // Sites: one watch, shared by both controllers, so that an image woken by a new site
    // revision reads that revision from the cache.
    let (site_store, site_writer) = reflector::store_shared(256);
    let (Some(site_events), Some(image_site_events)) =
        (site_writer.subscribe(), site_writer.subscribe())
    else {
        anyhow::bail!("a shared store without subscribers");
    };
    let (image_store, image_writer) = reflector::store();
    let (job_store, job_writer) = reflector::store();
    let (pod_store, pod_writer) = reflector::store();
    let caches = Caches::new(
        site_store.clone(),
        image_store.clone(),
        job_store.clone(),
        pod_store.clone(),
    );
    let (job_index, pod_index) = (caches.jobs_by_image.clone(), caches.pods_by_build.clone());
    if ctx.caches.set(caches.clone()).is_err() {
        anyhow::bail!("the controller's caches were set up twice");
    }
    let predicates = PredicateConfig::default();

    // The dashboard reads the caches only.
    let _dashboard = match ctx.settings.dashboard_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("dashboard on {addr}: {e}"))?;
            let (caches, token) = (caches.clone(), ctx.settings.dashboard_token.clone());
            Some(AbortOnDrop(tokio::spawn(async move {
                if let Err(e) = dashboard::serve(listener, caches, token).await {
                    error!("dashboard on {addr}: {e}");
                }
            })))
        }
        None => None,
    };

    // The webhook receiver reads sites from the cache and wakes them in memory.
    let _webhook = match ctx.settings.webhook_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("webhook receiver on {addr}: {e}"))?;
            let receiver = Arc::new(webhook::Receiver::new(
                client.clone(),
                namespace.clone(),
                site_store.clone(),
                ctx.pushes.clone(),
                ctx.metrics.clone(),
                ctx.settings.webhook.clone(),
            ));
            Some(AbortOnDrop(tokio::spawn(async move {
                if let Err(e) = webhook::serve(listener, receiver).await {
                    error!("webhook receiver on {addr}: {e}");
                }
            })))
        }
        None => None,
    };

    let site_watch = slim::watcher(sites, Config::default())
        .backoff(WatchBackoff::new())
        .reflect_shared(site_writer)
        .for_each(|event| async move {
            if let Err(e) = event {
                warn!("GentooSite watch: {e}");
            }
        });
    let site_stream = site_events.filter(changed(site_trigger));
    // Images tell their site about spec edits and deletions (not their status writes).
    let owned_images = spec_changes_and_deletions(slim::watcher(image_meta, managed.clone()));
    // A signed webhook delivery, or a local site's repository changed.
    let pushed_sites = {
        let (store, ctx) = (site_store.clone(), ctx.clone());
        let triggers = ctx.pushes.triggers();
        futures::stream::iter(triggers)
            .flatten()
            .filter(move |site: &ObjectRef<GentooSite>| {
                // A site deleted since: stop watching its repository.
                let known = store.get(site).is_some();
                if !known {
                    ctx.local
                        .forget(site.namespace.as_deref().unwrap_or_default(), &site.name);
                }
                futures::future::ready(known)
            })
    };
    let site_loop = Controller::for_shared_stream(site_stream, site_store.clone())
        .with_config(config.clone())
        .trigger_backoff(WatchBackoff::new())
        .owns_stream(owned_images)
        .reconcile_on(pushed_sites)
        .shutdown_on_signal()
        .run(
            |site, ctx| timed(metrics::SITE, ctx.clone(), site::reconcile(site, ctx)),
            site::error_policy,
            ctx.clone(),
        )
        .for_each(logged);

    let image_stream = slim::watcher(images, Config::default())
        .backoff(WatchBackoff::new())
        .reflect(image_writer)
        .applied_objects()
        .predicate_filter(image_inputs, predicates.clone());
    let job_stream = indexed(
        slim::watcher(jobs, managed).backoff(WatchBackoff::new()),
        job_index,
        job_writer,
    )
    .touched_objects();
    let pod_stream = indexed(
        slim::watcher(pods, build_pods).backoff(WatchBackoff::new()),
        pod_index,
        pod_writer,
    )
    .touched_objects();
    // FailedCreate events of build Jobs: kept for the images whose pods do not come, and
    // each wakes the image of its Job.
    let rejections = ctx.rejections.clone();
    let rejection_stream = watcher::watcher(
        events,
        Config::default()
            .fields(rejections::SELECTOR)
            .page_size(slim::LIST_PAGE),
    )
    .backoff(WatchBackoff::new())
    .inspect_ok(move |event| {
        rejections.observe(event);
    })
    .applied_objects();
    let jobs_of_events = job_store.clone();
    let image_sites = image_site_events.filter(changed(site_inputs));
    let images_of_site = image_store.clone();
    let image_loop = Controller::for_stream(image_stream, image_store.clone())
        .with_config(config)
        .trigger_backoff(WatchBackoff::new())
        .owns_stream(job_stream)
        .watches_stream(pod_stream, |pod: CachedPod| {
            let namespace = pod.namespace();
            pod.labels().get(labels::IMAGE).map(|image| {
                let r = ObjectRef::<GentooImage>::new(image);
                match namespace {
                    Some(ns) => r.within(&ns),
                    None => r,
                }
            })
        })
        .watches_stream(rejection_stream, move |event: KubeEvent| {
            let regarding = event.regarding?;
            let job = ObjectRef::<CachedJob>::new(regarding.name.as_deref()?)
                .within(regarding.namespace.as_deref()?);
            let image = jobs_of_events
                .get(&job)?
                .labels()
                .get(labels::IMAGE)?
                .clone();
            Some(ObjectRef::<GentooImage>::new(&image).within(&job.namespace?))
        })
        .watches_shared_stream(image_sites, move |site: Arc<GentooSite>| {
            let namespace = site.namespace();
            let name = site.name_any();
            debug!(site = %name, "site inputs changed: waking its images");
            images_of_site
                .state()
                .into_iter()
                .filter(|i| i.spec.site_ref.name == name && i.namespace() == namespace)
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(
            |image, ctx| timed(metrics::IMAGE, ctx.clone(), image::reconcile(image, ctx)),
            image::error_policy,
            ctx.clone(),
        )
        .for_each(logged);

    // The periodic cleanup of the sites' volumes (off unless an interval is set).
    let _gc = ctx
        .settings
        .gc_interval
        .filter(|every| !every.is_zero())
        .map(|every| {
            let (ctx, sites, images) = (ctx.clone(), site_store.clone(), image_store.clone());
            let keep = ctx.settings.gc_keep;
            tokio::spawn(gc::run_periodic(ctx, sites, images, every, keep))
        })
        .map(AbortOnDrop);

    let readiness = {
        let metrics = ctx.metrics.clone();
        async move {
            if caches.synced().await {
                info!("caches synced: ready");
                metrics.set_ready(true);
            }
        }
    };

    info!(
        namespace = ns.unwrap_or("(all)"),
        "zentoo controller started"
    );
    // The reconcilers end on SIGTERM/SIGINT, once their running reconciles are done; the
    // site watch and the readiness wait never end by themselves.
    let background = async { tokio::join!(site_watch, readiness) };
    tokio::select! {
        _ = async { tokio::join!(site_loop, image_loop) } => {}
        _ = background => {}
    }
    ctx.metrics.set_ready(false);
    warn!("zentoo controller stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT (never, when they cannot be watched).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `events` applied to the store of `writer` and to `index` (see `index::LabelIndex`).
fn indexed<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    index: LabelIndex,
    writer: reflector::store::Writer<K>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let after = index.clone();
    events
        .inspect_ok(move |event| index.before(event))
        .reflect(writer)
        .inspect_ok(move |event| after.after(event))
}

/// Runs `reconcile`, counting it and its duration in the metrics under `kind`.
async fn timed(
    kind: &'static str,
    ctx: Arc<Context>,
    reconcile: impl Future<Output = error::Result<kube::runtime::controller::Action>>,
) -> error::Result<kube::runtime::controller::Action> {
    let started = Instant::now();
    let result = reconcile.await;
    ctx.metrics.reconciled(kind, &result, started.elapsed());
    result
}

/// Logs (at debug) what a controller loop reports of one reconcile.
async fn logged<K: Resource, E: std::fmt::Display, A>(result: Result<(ObjectRef<K>, A), E>) {
    match result {
        Ok((obj, _)) => debug!(kind = %K::kind(&obj.dyntype), name = %obj.name, "reconciled"),
        Err(e) => debug!("reconcile: {e}"),
    }
}

/// The objects of `events` whose generation changed (spec edits), and deleted ones; status
/// updates are dropped.
fn spec_changes_and_deletions<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Send + 'static,
{
    // By a hash of the uid: 10,000 images' uids as strings were a megabyte.
    let mut seen: HashMap<u64, Option<i64>> = HashMap::new();
    events
        .backoff(WatchBackoff::new())
        .filter_map(move |event| {
            let out = match event {
                Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                    let uid = hash_of(obj.meta().uid.as_deref());
                    let generation = obj.meta().generation;
                    (seen.insert(uid, generation) != Some(generation)).then_some(Ok(obj))
                }
                Ok(watcher::Event::Delete(obj)) => {
                    seen.remove(&hash_of(obj.meta().uid.as_deref()));
                    Some(Ok(obj))
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        })
}
