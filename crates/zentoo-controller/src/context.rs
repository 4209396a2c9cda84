//! What every reconcile shares: the client, settings, the git cache and retry state.

use super::error::{Class, Error, backoff};
use super::index::LabelIndex;
use super::local::LocalWatches;
use super::metrics::Metrics;
use super::policy::Policy;
use super::pushes::Pushes;
use super::rejections::Rejections;
use super::slim::{CachedJob, CachedPod};
use super::webhook::WebhookSettings;
use jiff::Timestamp;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zentoo_api::{GentooImage, GentooSite, labels};
use zentoo_core::site::{Prefixes, ReadOptions, SiteRepo, SiteSnapshot};

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
    /// Extra labels on build and gc pods (e.g. for a scheduler or a test kubelet).
    pub build_pod_labels: BTreeMap<String, String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (none: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// Pushes to a site within this window coalesce into one check (a site's
    /// `spec.source.debounce` wins).
    pub debounce: Duration,
    /// Allow sites whose source is a path or `file://` URL on the controller's own disk (where
    /// the caches of every other site are too): for single-user set-ups only.
    pub allow_local_sources: bool,
    /// What one site may make.
    pub limits: zentoo_core::plan::Limits,
    /// How often each site's volumes are cleaned by a `zentoo gc` Job (`None`: never).
    pub gc_interval: Option<Duration>,
    /// Builds the gc keeps per image.
    pub gc_keep: u32,
    /// Where the webhook receiver listens (none: no receiver).
    pub webhook_addr: Option<SocketAddr>,
    /// The webhook receiver's limits.
    pub webhook: WebhookSettings,
    /// What tenants' sites and images may ask for.
    pub policy: Policy,
    /// Build pods use the node's network (`hostNetwork`): for servers only the node's
    /// loopback reaches; the pods share the node's network namespace.
    pub build_host_network: bool,
    /// Registries (`host[:port]`) builds push to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Where the read-only dashboard is served (off when `None`).
    pub dashboard_addr: Option<SocketAddr>,
    /// The token every dashboard request must carry, when set.
    pub dashboard_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_dir: std::env::temp_dir().join("zentoo-cache"),
            zentoo_image: zentoo_core::DEFAULT_IMAGE.into(),
            build_service_account: None,
            build_deadline_seconds: 6 * 3600,
            image_pull_policy: "IfNotPresent".into(),
            build_jobs: 4,
            instance: "zentoo".into(),
            build_pod_labels: BTreeMap::new(),
            metrics_addr: None,
            debounce: Duration::from_secs(5),
            allow_local_sources: false,
            limits: zentoo_core::plan::Limits::default(),
            gc_interval: None,
            gc_keep: 3,
            webhook_addr: None,
            webhook: WebhookSettings::default(),
            policy: Policy::default(),
            build_host_network: false,
            insecure_registries: Vec::new(),
            dashboard_addr: None,
            dashboard_token: None,
        }
    }
}

/// The watch caches reconciles read instead of asking the API server: filled by the
/// controllers' watches (`super::run`), stripped of what no reconcile reads.
#[derive(Clone)]
pub struct Caches {
    /// GentooSites.
    pub sites: Store<GentooSite>,
    /// GentooImages.
    pub images: Store<GentooImage>,
    /// Build Jobs (labelled managed-by zentoo), without their pod template.
    pub jobs: Store<CachedJob>,
    /// Build pods, without their spec.
    pub pods: Store<CachedPod>,
    /// Names of the cached Jobs by their image label.
    pub jobs_by_image: LabelIndex,
    /// Names of the cached pods by their build (Job) label.
    pub pods_by_build: LabelIndex,
}

impl Caches {
    /// The caches over these stores, with empty label indexes (the watches of `super::run`
    /// fill both).
    pub fn new(
        sites: Store<GentooSite>,
        images: Store<GentooImage>,
        jobs: Store<CachedJob>,
        pods: Store<CachedPod>,
    ) -> Self {
        Caches {
            sites,
            images,
            jobs,
            pods,
            jobs_by_image: LabelIndex::new(labels::IMAGE),
            pods_by_build: LabelIndex::new(labels::BUILD),
        }
    }

    /// The cached Jobs of image `image` in `namespace` (any component).
    pub fn jobs_of(&self, namespace: &str, image: &str) -> Vec<Arc<CachedJob>> {
        self.jobs_by_image.objects(&self.jobs, namespace, image)
    }

    /// The cached pods of Job `job` in `namespace` (any component).
    pub fn pods_of(&self, namespace: &str, job: &str) -> Vec<Arc<CachedPod>> {
        self.pods_by_build.objects(&self.pods, namespace, job)
    }

    /// Waits (at most `timeout`) until every cache has its first full list; false when one
    /// has not (a reconcile must not decide on a half-filled cache: it could start a build
    /// that already runs).
    ///
    /// It looks every 50 ms rather than waiting on the stores' readiness futures: a reconcile
    /// started while the caches fill (every image at once, right after a restart) was seen
    /// to miss their wake-up and sit out the whole timeout.
    pub async fn ready(&self, timeout: Duration) -> bool {
        use futures::FutureExt;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(synced) = self.synced().now_or_never() {
                return synced;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every cache has its first full list; false when a cache's watch ended.
    pub async fn synced(&self) -> bool {
        self.sites.wait_until_ready().await.is_ok()
            && self.images.wait_until_ready().await.is_ok()
            && self.jobs.wait_until_ready().await.is_ok()
            && self.pods.wait_until_ready().await.is_ok()
    }
}

/// A Job this process created that its cache may not show yet.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The Job's name.
    pub job: String,
    /// The inputs digest it builds.
    pub digest: String,
    /// When it was created.
    pub at: Instant,
}

/// How long a created Job is expected before the cache must show it.
pub const EXPECTATION_TTL: Duration = Duration::from_secs(120);

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
    /// Why build Jobs have no pod, from their `FailedCreate` events.
    pub rejections: Arc<Rejections>,
    /// Sites pushed to (webhook deliveries, local repositories) and not yet checked.
    pub pushes: Arc<Pushes>,
    /// Watches of local sites' repositories.
    pub local: LocalWatches,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// When each site last began checking its repository (status may lag behind).
    checks: Mutex<HashMap<String, Timestamp>>,
    /// Watch caches (set once the controllers are built).
    pub caches: std::sync::OnceLock<Caches>,
    /// Jobs created per image key, until the Job cache shows them.
    expected: Mutex<HashMap<String, Expected>>,
    /// Site snapshots by (cache path, revision, prefixes), most recent last.
    snapshots: Mutex<Vec<(SnapshotKey, Arc<Snapshot>)>>,
    /// Held while a snapshot is read.
    snapshot_loading: Mutex<()>,
    /// Branch heads of each cache repository, as read since its last fetch.
    heads: Mutex<Heads>,
}

/// The branch heads digest of cache repositories, valid until the next fetch into one.
#[derive(Default)]
struct Heads {
    /// Bumped by every fetch: a digest read while one ran is not kept.
    generation: u64,
    digests: HashMap<PathBuf, String>,
    /// Revisions found in each cache repository since its last fetch.
    held: HashMap<PathBuf, HashSet<String>>,
    /// Cache repositories a fetch is writing: a commit there may be in before the branches
    /// that name it (git writes objects, then refs).
    fetching: HashSet<PathBuf>,
}

impl Heads {
    /// Whether `cache` holds `revision`, when that is known without looking on disk; else
    /// the generation to record a look's answer at ([`Heads::found`]).
    fn known(&self, cache: &Path, revision: &str) -> Result<bool, u64> {
        if self.held.get(cache).is_some_and(|h| h.contains(revision)) {
            Ok(true)
        } else if self.fetching.contains(cache) {
            Ok(false)
        } else {
            Err(self.generation)
        }
    }

    /// A look begun at `generation` found `revision` in `cache`: kept unless a fetch began
    /// or ended since.
    fn found(&mut self, cache: &Path, revision: &str, generation: u64) {
        if self.generation == generation {
            self.held
                .entry(cache.to_path_buf())
                .or_default()
                .insert(revision.to_string());
        }
    }
}

/// A site read at one revision, with that revision's commit time.
pub struct Snapshot {
    /// What plans read.
    pub site: SiteSnapshot,
    /// Commit time of the revision (seconds since the epoch): builds' SOURCE_DATE_EPOCH.
    pub epoch: i64,
}

/// What identifies a site snapshot.
type SnapshotKey = (PathBuf, String, Prefixes);

/// Snapshots kept (one per site and revision in use).
const SNAPSHOTS_KEPT: usize = 16;

impl Context {
    /// A context for `client` with `settings`; the client's API requests are counted in
    /// its metrics.
    pub fn new(client: Client, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: "zentoo".into(),
            instance: Some(settings.instance.clone()),
        };
        let metrics = Arc::new(Metrics::new());
        let client = super::api_metrics::counting(client, metrics.clone());
        let pushes = Arc::new(Pushes::default());
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            metrics,
            rejections: Arc::default(),
            client,
            settings,
            local: LocalWatches::new(pushes.clone()),
            pushes,
            failures: Mutex::new(HashMap::new()),
            checks: Mutex::new(HashMap::new()),
            caches: std::sync::OnceLock::new(),
            expected: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(Vec::new()),
            snapshot_loading: Mutex::new(()),
            heads: Mutex::new(Heads::default()),
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

    /// The watch caches.
    pub fn caches(&self) -> Result<&Caches, Error> {
        self.caches
            .get()
            .ok_or_else(|| Error::Internal("the watch caches are not set up".into()))
    }

    /// Records that a Job was created for image `key`.
    pub fn expect_job(&self, key: &str, job: &str, digest: &str) {
        if let Ok(mut expected) = self.expected.lock() {
            expected.insert(
                key.to_string(),
                Expected {
                    job: job.to_string(),
                    digest: digest.to_string(),
                    at: Instant::now(),
                },
            );
        }
    }

    /// The Job created for image `key` that the cache does not show yet, if any; forgets it
    /// once `cached` (the names the cache shows) holds it or it is too old.
    pub fn expected_job(&self, key: &str, cached: &[&str]) -> Option<Expected> {
        let mut expected = self.expected.lock().ok()?;
        let e = expected.get(key)?.clone();
        if cached.contains(&e.job.as_str()) || e.at.elapsed() > EXPECTATION_TTL {
            expected.remove(key);
            return None;
        }
        Some(e)
    }

    /// The snapshot of the site cached at `cache`, at `revision`, read with `prefixes`: read
    /// once per revision and shared by every image of the site.
    pub fn snapshot(
        &self,
        cache: &Path,
        revision: &str,
        prefixes: &Prefixes,
    ) -> Result<Arc<Snapshot>, Error> {
        // One load at a time: when a restart wakes every image at once, the first reads the
        // site and the others wait for it instead of each reading it too.
        let _loading = self
            .snapshot_loading
            .lock()
            .map_err(|_| Error::Internal("snapshot lock poisoned".into()))?;
        // Branches move without the tracked ref moving: the heads are part of the key. They
        // are read once per fetch (a cache hit then touches no file).
        let (generation, known) = match self.heads.lock() {
            Ok(heads) => (heads.generation, heads.digests.get(cache).cloned()),
            Err(_) => (0, None),
        };
        let open = || SiteRepo::open(cache).map_err(Error::Read);
        let (repo, heads) = match known {
            Some(heads) => (None, heads),
            None => {
                let repo = open()?;
                let heads =
                    super::fetch::heads_digest(repo.git()).map_err(|source| Error::Git {
                        what: "branch heads".into(),
                        source,
                    })?;
                if let Ok(mut known) = self.heads.lock()
                    && known.generation == generation
                {
                    known.digests.insert(cache.to_path_buf(), heads.clone());
                }
                (Some(repo), heads)
            }
        };
        let key: SnapshotKey = (
            cache.to_path_buf(),
            format!("{revision} {heads}"),
            prefixes.clone(),
        );
        if let Ok(snapshots) = self.snapshots.lock()
            && let Some((_, s)) = snapshots.iter().find(|(k, _)| *k == key)
        {
            return Ok(s.clone());
        }
        let repo = match repo {
            Some(repo) => repo,
            None => open()?,
        };
        let epoch = repo
            .git()
            .revparse_single(revision)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.time().seconds())
            .map_err(|source| Error::Git {
                what: format!("revision {revision}"),
                source,
            })?;
        let site = repo
            .snapshot(&ReadOptions {
                tracked_ref: Some(revision.to_string()),
                prefixes: prefixes.clone(),
            })
            .map_err(Error::Read)?;
        let snapshot = Arc::new(Snapshot { site, epoch });
        if let Ok(mut snapshots) = self.snapshots.lock() {
            snapshots.retain(|(k, _)| *k != key);
            snapshots.push((key, snapshot.clone()));
            let excess = snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
            snapshots.drain(..excess);
        }
        Ok(snapshot)
    }

    /// Whether cache repository `cache` has commit `revision`, as `look` finds on disk; once
    /// it has, remembered until the next fetch into it (every image of a site asked after a
    /// restart: 10,000 opens of a repository).
    /// A revision not held yet is not while a fetch writes into `cache` (its commit can be
    /// there before its branches are).
    pub fn holds(&self, cache: &Path, revision: &str, look: impl FnOnce() -> bool) -> bool {
        let generation = match self.heads.lock() {
            Ok(heads) => match heads.known(cache, revision) {
                Ok(known) => return known,
                Err(generation) => generation,
            },
            Err(_) => return look(),
        };
        let held = look();
        if held && let Ok(mut heads) = self.heads.lock() {
            heads.found(cache, revision, generation);
        }
        held
    }

    /// A fetch into the cache repository `cache` starts: revisions not held yet are not
    /// until it ends ([`Context::repository_changed`]).
    pub fn fetch_started(&self, cache: &Path) {
        if let Ok(mut heads) = self.heads.lock() {
            heads.generation = heads.generation.wrapping_add(1);
            heads.fetching.insert(cache.to_path_buf());
        }
    }

    /// A fetch into the cache repository `cache` ended (or failed part-way): its branch
    /// heads are read again by the next snapshot.
    pub fn repository_changed(&self, cache: &Path) {
        if let Ok(mut heads) = self.heads.lock() {
            heads.generation = heads.generation.wrapping_add(1);
            heads.digests.remove(cache);
            heads.held.remove(cache);
            heads.fetching.remove(cache);
        }
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
            Class::Transient(longest) => {
                let attempt = match self.failures.lock() {
                    Ok(mut failures) => {
                        let n = failures.entry(key.to_string()).or_insert(0);
                        *n = n.saturating_add(1);
                        *n
                    }
                    Err(_) => 1,
                };
                Action::requeue(backoff(attempt).min(longest))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Heads;
    use std::path::Path;

    #[test]
    fn a_revision_is_not_held_while_a_fetch_writes_it_and_is_remembered_after() {
        let cache = Path::new("/cache/site.git");
        let mut heads = Heads::default();
        let before = heads.known(cache, "r1").expect_err("unknown: look on disk");
        // A fetch starts while that look runs: its answer is not kept.
        heads.generation += 1;
        heads.fetching.insert(cache.to_path_buf());
        heads.found(cache, "r1", before);
        assert_eq!(heads.known(cache, "r1"), Ok(false), "being fetched");
        assert_eq!(heads.known(Path::new("/cache/other.git"), "r1"), Err(1));
        // The fetch ends: looked at again, then remembered.
        heads.generation += 1;
        heads.fetching.remove(cache);
        let after = heads.known(cache, "r1").expect_err("look again");
        heads.found(cache, "r1", after);
        assert_eq!(heads.known(cache, "r1"), Ok(true));
        // A revision already held stays held through the next fetch's start.
        heads.fetching.insert(cache.to_path_buf());
        assert_eq!(heads.known(cache, "r1"), Ok(true));
        assert_eq!(heads.known(cache, "r2"), Ok(false));
    }
}
