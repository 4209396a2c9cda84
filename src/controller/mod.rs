//! The cluster side: reconcilers for GentooSite and GentooImage, run by `zentoo controller`.

pub mod build;
pub mod context;
pub mod error;
pub mod fetch;
pub mod image;
pub mod leader;
pub mod metrics;
pub mod outcome;
pub mod secrets;
pub mod site;
pub mod validate;
pub mod webhook;

use crate::api::{GentooImage, GentooSite, labels};
use context::{Context, Settings};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Config;
use kube::{Api, Client, ResourceExt};
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

    let site_controller =
        Controller::new(sites.clone(), Config::default()).with_config(config.clone());
    let site_store = site_controller.store();
    let site_loop = site_controller
        .owns(images.clone(), managed.clone())
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
        .watches(sites, Config::default(), move |site: GentooSite| {
            let namespace = site.namespace();
            let name = site.name_any();
            store
                .state()
                .into_iter()
                .filter(|i| i.spec.site_ref.name == name && i.namespace() == namespace)
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        })
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
