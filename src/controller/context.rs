//! What every reconcile shares: the client, settings, the git cache and retry state.

use super::error::{Class, Error, backoff};
use super::local::LocalWatches;
use super::metrics::Metrics;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where site repositories are fetched to.
    pub cache_dir: PathBuf,
    /// The zentoo image for the materialize and publish steps.
    pub zentoo_image: String,
    /// ServiceAccount of build pods (one with no API rights).
    pub build_service_account: Option<String>,
    /// Seconds a build may take.
    pub build_deadline_seconds: i64,
    /// Pull policy of build containers.
    pub image_pull_policy: String,
    /// emerge jobs per build.
    pub build_jobs: u32,
    /// Identity in events.
    pub instance: String,
    /// Extra labels on build pods (e.g. for a scheduler or a test kubelet).
    pub build_pod_labels: BTreeMap<String, String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (none: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Pushes to a site within this window coalesce into one check (a site's
    /// `spec.source.debounce` wins).
    pub debounce: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_dir: std::env::temp_dir().join("zentoo-cache"),
            zentoo_image: crate::DEFAULT_IMAGE.into(),
            build_service_account: None,
            build_deadline_seconds: 6 * 3600,
            image_pull_policy: "IfNotPresent".into(),
            build_jobs: 4,
            instance: "zentoo".into(),
            build_pod_labels: BTreeMap::new(),
            metrics_addr: None,
            debounce: Duration::from_secs(5),
        }
    }
}

/// Shared by all reconciles.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Prometheus metrics and readiness.
    pub metrics: Arc<Metrics>,
    /// Watches of local sites' repositories.
    pub local: LocalWatches,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// When each site last began checking its repository (status may lag behind).
    checks: Mutex<HashMap<String, Timestamp>>,
}

impl Context {
    /// A context for `client` with `settings`.
    pub fn new(client: Client, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: "zentoo".into(),
            instance: Some(settings.instance.clone()),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            metrics: Arc::new(Metrics::new()),
            client,
            settings,
            local: LocalWatches::new(),
            failures: Mutex::new(HashMap::new()),
            checks: Mutex::new(HashMap::new()),
        }
    }

    /// Site `key` begins a check of its repository at `at`.
    pub fn checking(&self, key: &str, at: Timestamp) {
        if let Ok(mut checks) = self.checks.lock() {
            checks.insert(key.to_string(), at);
        }
    }

    /// When site `key` last began a check in this process.
    pub fn last_check(&self, key: &str) -> Option<Timestamp> {
        self.checks.lock().ok()?.get(key).copied()
    }

    /// The cache repository of site `name` in `namespace`.
    pub fn site_cache(&self, namespace: &str, name: &str) -> PathBuf {
        self.settings
            .cache_dir
            .join(namespace)
            .join(format!("{name}.git"))
    }

    /// Forgets the failures of `key` after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }

    /// The requeue after a failed reconcile of `key`, from the error's class.
    pub fn failed(&self, key: &str, error: &Error) -> Action {
        match error.class() {
            Class::Stalled => Action::await_change(),
            Class::Waiting(after) => Action::requeue(after),
            Class::Transient => {
                let attempt = match self.failures.lock() {
                    Ok(mut failures) => {
                        let n = failures.entry(key.to_string()).or_insert(0);
                        *n = n.saturating_add(1);
                        *n
                    }
                    Err(_) => 1,
                };
                Action::requeue(backoff(attempt))
            }
        }
    }
}
