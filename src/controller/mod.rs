//! The cluster side: reconcilers for GentooSite and GentooImage, run by `zentoo controller`.

pub mod build;
pub mod context;
pub mod error;
pub mod fetch;
pub mod image;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod outcome;
pub mod poll;
pub mod secrets;
pub mod site;
pub mod webhook;

use crate::api::{GentooImage, GentooSite, annotations, labels};
use context::{Context, Settings};
use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Config};
use kube::runtime::{WatchStreamExt, predicates};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, error, info, warn};

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

/// Runs both reconcilers until SIGTERM/SIGINT, watching `namespace` or every namespace.
pub async fn run(
    client: Client,
    settings: Settings,
    namespace: Option<String>,
) -> anyhow::Result<()> {
    let ctx = Arc::new(Context::new(client.clone(), settings));
    let ns = namespace.as_deref();
    let sites: Api<GentooSite> = api(&client, ns);
    let images: Api<GentooImage> = api(&client, ns);
    let jobs: Api<Job> = api(&client, ns);
    let pods: Api<Pod> = api(&client, ns);
    let config = ControllerConfig::default().concurrency(CONCURRENCY);
    let managed = Config::default().labels(&format!("{}=zentoo", labels::MANAGED_BY));

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

    // Sites wake on their spec or a request annotation (not on their own status writes), on
    // their images' spec changes and deletions, on a local repository's ref changes, and at
    // their poll period (the requeue each reconcile returns).
    let (site_reader, site_writer) = reflector::store::<GentooSite>();
    let site_events = watcher::watcher(sites.clone(), Config::default())
        .default_backoff()
        .reflect(site_writer)
        .touched_objects()
        .predicate_filter(site_wakes, Default::default());
    let site_controller =
        Controller::for_stream(site_events, site_reader).with_config(config.clone());
    let site_store = site_controller.store();
    let local_triggers = {
        let (store, ctx) = (site_store.clone(), ctx.clone());
        let triggers = ctx.local.triggers();
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
    let site_loop = site_controller
        .owns_stream(spec_changes_and_deletions(watcher::watcher(
            images.clone(),
            managed.clone(),
        )))
        .reconcile_on(local_triggers)
        .shutdown_on_signal()
        .run(
            |site, ctx: Arc<Context>| async move {
                let started = Instant::now();
                let result = site::reconcile(site, ctx.clone()).await;
                ctx.metrics
                    .reconciled(metrics::SITE, &result, started.elapsed());
                result
            },
            site::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(site = %obj.name, "reconciled"),
                Err(e) => debug!("site reconcile: {e}"),
            }
        });

    let image_controller = Controller::new(images, Config::default()).with_config(config);
    let store = image_controller.store();
    let image_store = store.clone();
    let image_loop = image_controller
        .owns(jobs, managed)
        .watches(
            pods,
            Config::default().labels(&format!("{}=build", labels::COMPONENT)),
            |pod: Pod| {
                let namespace = pod.namespace();
                pod.labels().get(labels::IMAGE).map(|image| {
                    let r = ObjectRef::<GentooImage>::new(image);
                    match namespace {
                        Some(ns) => r.within(&ns),
                        None => r,
                    }
                })
            },
        )
        .watches_stream(
            watcher::watcher(sites, Config::default())
                .default_backoff()
                .touched_objects()
                .predicate_filter(site_inputs, Default::default()),
            move |site: GentooSite| {
                let namespace = site.namespace();
                let name = site.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|i| i.spec.site_ref.name == name && i.namespace() == namespace)
                    .map(|i| ObjectRef::from_obj(i.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(
            |image, ctx: Arc<Context>| async move {
                let started = Instant::now();
                let result = image::reconcile(image, ctx.clone()).await;
                ctx.metrics
                    .reconciled(metrics::IMAGE, &result, started.elapsed());
                result
            },
            image::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => debug!(image = %obj.name, "reconciled"),
                Err(e) => debug!("image reconcile: {e}"),
            }
        });

    let readiness = {
        let metrics = ctx.metrics.clone();
        async move {
            let synced = futures::future::try_join(
                site_store.wait_until_ready(),
                image_store.wait_until_ready(),
            )
            .await;
            if synced.is_ok() {
                info!("caches synced: ready");
                metrics.set_ready(true);
            }
        }
    };

    info!(
        namespace = ns.unwrap_or("(all)"),
        "zentoo controller started"
    );
    tokio::join!(site_loop, image_loop, readiness);
    ctx.metrics.set_ready(false);
    warn!("zentoo controller stopped");
    Ok(())
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What wakes the site reconciler from a site's own changes: its spec (generation) and the
/// request annotations; not its status, which it writes itself.
fn site_wakes(site: &GentooSite) -> Option<u64> {
    let annotations = site.annotations();
    Some(hash_of((
        predicates::generation(site),
        annotations.get(annotations::FETCH_REQUESTED_AT),
        annotations.get(annotations::RECONCILE_REQUESTED_AT),
    )))
}

/// What images read from their site: its spec, its revision, and when it last fetched (a
/// portage or buildhooks branch may move while the tracked branch does not).
fn site_inputs(site: &GentooSite) -> Option<u64> {
    let status = site.status.as_ref();
    Some(hash_of((
        predicates::generation(site),
        status.and_then(|s| s.revision.as_deref()),
        status
            .and_then(|s| s.last_fetched.as_ref())
            .map(|t| t.0.to_string()),
    )))
}

/// The objects of `events` whose generation changed (spec edits), and deleted ones; status
/// updates are dropped.
fn spec_changes_and_deletions<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Send + 'static,
{
    let mut seen: HashMap<String, Option<i64>> = HashMap::new();
    events.default_backoff().filter_map(move |event| {
        let out = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                let uid = obj.meta().uid.clone().unwrap_or_default();
                let generation = obj.meta().generation;
                (seen.insert(uid, generation) != Some(generation)).then_some(Ok(obj))
            }
            Ok(watcher::Event::Delete(obj)) => {
                seen.remove(obj.meta().uid.as_deref().unwrap_or_default());
                Some(Ok(obj))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(out)
    })
}
