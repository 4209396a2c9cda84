//! What the controller tests share: a site repository served by `git daemon`, the controller
//! run in-process for one namespace, and helpers to find and finish build pods.

pub mod faulty_git;
pub mod hooks;
pub mod process;

use crate::support::kube::TestNamespace;
use crate::support::kubelet::{MANUAL, MANUAL_LABEL};
use crate::support::manifests::{Flavour, Installed, install};
use crate::support::site::Site;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use zentoo::api::{GentooImage, GentooSite, labels};
use zentoo::controller::context::Settings;

/// `git daemon` serving one directory on a free loopback port, in a process group of its
/// own; the whole group (the daemon and the upload-pack children it forks per connection)
/// is stopped on drop.
pub struct GitDaemon {
    child: Child,
    /// `git://127.0.0.1:<port>/<name>`.
    pub url: String,
}

impl GitDaemon {
    /// Serves the repository at `site` (its parent is the base path).
    pub fn serve(site: &Site) -> GitDaemon {
        let path = site.path().to_path_buf();
        let base = path.parent().expect("site dir has a parent").to_path_buf();
        let name = path
            .file_name()
            .expect("site dir has a name")
            .to_string_lossy()
            .to_string();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // `git daemon` execs git-daemon as its child, which forks one child per connection:
        // start git-daemon directly as the leader of a new process group, so that drop can
        // stop all of them by the group id (= its pid), and no other process.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git --exec-path");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout)
            .trim()
            .to_string();
        let child = Command::new(PathBuf::from(exec_path).join("git-daemon"))
            .arg("--export-all")
            .arg("--reuseaddr")
            .arg(format!("--base-path={}", base.display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("start git daemon (Debian git-daemon-sysvinit)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "git daemon did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GitDaemon {
            child,
            url: format!("git://127.0.0.1:{port}/{name}"),
        }
    }
}

impl GitDaemon {
    /// The pid of the daemon, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        // The negative pid names the group: the daemon and every child it forked.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The controller running in a task of the test's runtime, for one namespace; aborted on drop.
pub struct Controller {
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The identity it runs as.
    pub installed: Option<std::sync::Arc<Installed>>,
}

/// The settings every test controller starts from: what the chart passes (the build pods'
/// ServiceAccount), build pods left to the test's kubelet player.
fn test_settings(cache: &TempDir) -> Settings {
    Settings {
        cache_dir: cache.path().to_path_buf(),
        zentoo_image: "localhost/zentoo:test".into(),
        build_service_account: Some("zentoo-build".into()),
        build_pod_labels: [(MANUAL_LABEL.to_string(), MANUAL.to_string())].into(),
        instance: "zentoo-test".into(),
        ..Settings::default()
    }
}

impl Controller {
    /// Starts the controller for `ns` as installed: with the rights of
    /// `manifests/zentoo-namespaced.yaml` and its ServiceAccount's token, its git cache in
    /// `cache`, build pods left to the test's kubelet player.
    pub async fn start(ns: &TestNamespace, cache: &TempDir) -> Controller {
        Controller::start_configured(ns, cache, |_| {}).await
    }

    /// Like `start`, serving `/metrics`, `/healthz` and `/readyz` on `metrics` (loopback).
    pub async fn start_with_metrics(
        ns: &TestNamespace,
        cache: &TempDir,
        metrics: Option<std::net::SocketAddr>,
    ) -> Controller {
        Controller::start_configured(ns, cache, |s| s.metrics_addr = metrics).await
    }

    /// Like `start`, with the test's settings changed by `configure` (e.g. the zentoo image).
    pub async fn start_configured(
        ns: &TestNamespace,
        cache: &TempDir,
        configure: impl FnOnce(&mut Settings),
    ) -> Controller {
        let installed = std::sync::Arc::new(install(ns, Flavour::Namespaced).await);
        let mut controller =
            Controller::start_with_settings(installed.client.clone(), ns, cache, configure);
        controller.installed = Some(installed);
        controller
    }

    /// Like [`Controller::start`], with `client` (its rights are the test's business) and the
    /// test settings changed by `tweak`.
    pub fn start_with_settings(
        client: kube::Client,
        ns: &TestNamespace,
        cache: &TempDir,
        tweak: impl FnOnce(&mut Settings),
    ) -> Controller {
        crate::support::logs::init();
        let mut settings = test_settings(cache);
        tweak(&mut settings);
        let handle = tokio::spawn(zentoo::controller::run(
            client,
            settings,
            Some(ns.name.clone()),
        ));
        Controller {
            handle,
            installed: None,
        }
    }

    /// Stops the controller as a crash would (the task is dropped mid-work).
    pub async fn kill(self) {
        self.handle.abort();
        let _ = (&mut { self }.handle).await;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Installs zentoo's CRDs (server-side apply, idempotent) and waits until they are served.
pub async fn install_crds(ns: &TestNamespace) {
    crate::support::kube::install_crds(&ns.client).await;
}

/// A GentooSite for `url`, polled every `interval`.
pub fn site_object(name: &str, url: &str, interval: &str) -> GentooSite {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooSite",
        "metadata": {"name": name},
        "spec": {
            "source": {"url": url, "interval": interval},
            "imageDefaults": {"registry": "127.0.0.1:5000/zentoo"},
        },
    }))
    .expect("site object")
}

/// Creates `site` in `ns`.
pub async fn create_site(ns: &TestNamespace, site: &GentooSite) -> GentooSite {
    ns.api::<GentooSite>()
        .create(&PostParams::default(), site)
        .await
        .expect("create GentooSite")
}

/// Polls `probe` every 100 ms until it returns `Some`, at most `timeout`; panics naming `what`
/// and the namespace's state otherwise.
pub async fn eventually<T, F, Fut>(ns: &TestNamespace, timeout: Duration, what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}\n{}",
                ns.dump().await,
                images_summary(ns).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Status of every GentooImage and GentooSite, for failure messages.
pub async fn images_summary(ns: &TestNamespace) -> String {
    let mut out = String::new();
    for s in ns
        .api::<GentooSite>()
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        out += &format!(
            "site {}: {}\n",
            s.name_any(),
            serde_json::to_string(&s.status).unwrap_or_default()
        );
    }
    for i in ns
        .api::<GentooImage>()
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        out += &format!(
            "image {}: {}\n",
            i.name_any(),
            serde_json::to_string(&i.status).unwrap_or_default()
        );
    }
    out
}

/// The site's GentooImages by name.
pub async fn images(ns: &TestNamespace, site: &str) -> Vec<GentooImage> {
    let lp = ListParams::default().labels(&format!("{}={site}", labels::SITE));
    let mut items = ns
        .api::<GentooImage>()
        .list(&lp)
        .await
        .expect("list images")
        .items;
    items.sort_by_key(|i| i.name_any());
    items
}

/// The build Jobs of `image`, oldest first.
pub async fn jobs(ns: &TestNamespace, image: &str) -> Vec<Job> {
    let lp = ListParams::default().labels(&format!(
        "{}={image},{}=build",
        labels::IMAGE,
        labels::COMPONENT
    ));
    let mut items = ns.api::<Job>().list(&lp).await.expect("list jobs").items;
    items.sort_by_key(|j| j.metadata.creation_timestamp.clone().map(|t| t.0));
    items
}

/// Waits for the pod of Job `job`.
pub async fn build_pod(ns: &TestNamespace, job: &str) -> Pod {
    let lp = ListParams::default().labels(&format!(
        "{}={job},{}=build",
        labels::BUILD,
        labels::COMPONENT
    ));
    let pods = ns.api::<Pod>();
    eventually(
        ns,
        Duration::from_secs(30),
        &format!("a pod of Job {job}"),
        || {
            let (pods, lp) = (pods.clone(), lp.clone());
            async move { pods.list(&lp).await.ok()?.items.into_iter().next() }
        },
    )
    .await
}

/// A publish result as the publish step reports it.
pub fn publish_json(image: &str, digest: &str) -> String {
    serde_json::json!({
        "image": image,
        "imageDigest": digest,
        "tarball": format!("oci://127.0.0.1:5000/stages/{image}"),
        "tarballDigest": "sha256:7a7ba11",
        "compiled": 3,
        "binpkgHits": 1,
    })
    .to_string()
}

/// Plays kubelet for Job `job`'s pod: every step succeeds, publish reports `digest`.
pub async fn finish_build(ns: &TestNamespace, job: &str, digest: &str) -> Pod {
    let pod = build_pod(ns, job).await;
    let kubelet = ns.kubelet();
    let name = pod.name_any();
    kubelet.run(&name).await;
    kubelet
        .set_pod_terminated(&name, "publish", 0, &publish_json("r/x:latest", digest))
        .await
}

/// Plays kubelet for Job `job`'s pod: init container `step` fails with `log` as its message.
pub async fn fail_build(ns: &TestNamespace, job: &str, step: &str, log: &str) -> Pod {
    use crate::support::kubelet::State;
    let pod = build_pod(ns, job).await;
    let kubelet = ns.kubelet();
    let name = pod.name_any();
    let inits: Vec<String> = pod
        .spec
        .and_then(|s| s.init_containers)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut updates = Vec::new();
    for c in inits {
        if c == step {
            updates.push((
                c,
                true,
                State::Terminated {
                    exit_code: 2,
                    message: log.into(),
                },
            ));
            break;
        }
        updates.push((
            c,
            true,
            State::Terminated {
                exit_code: 0,
                message: String::new(),
            },
        ));
    }
    kubelet.set_states(&name, &updates).await
}

/// The condition `type_` of `image`, as (status, reason, message).
pub fn condition(image: &GentooImage, type_: &str) -> Option<(String, String, String)> {
    image
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Merge-patches `patch` into the object `name`.
pub async fn merge<K>(api: &Api<K>, name: &str, patch: serde_json::Value)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patch {name}: {e}"));
}

/// Everything one controller test runs against; dropped in reverse order of need.
pub struct Env {
    pub controller: Option<Controller>,
    pub git: GitDaemon,
    pub repo: Site,
    pub cache: TempDir,
    pub ns: TestNamespace,
}

/// A namespace with the CRDs, a standard site repository with `tuples` served by git daemon,
/// the controller running, and GentooSite `demo` polling it every `interval`.
pub async fn setup(kube: &crate::support::Kube, prefix: &str, tuples: &str, interval: &str) -> Env {
    let ns = kube.namespace(prefix).await;
    install_crds(&ns).await;
    let repo = Site::standard(tuples);
    let git = GitDaemon::serve(&repo);
    let cache = TempDir::new().expect("cache dir");
    let controller = Some(Controller::start(&ns, &cache).await);
    create_site(&ns, &site_object("demo", &git.url, interval)).await;
    Env {
        controller,
        git,
        repo,
        cache,
        ns,
    }
}

/// Waits until image `image` has `n` build Jobs and returns them, oldest first.
pub async fn wait_jobs(ns: &TestNamespace, image: &str, n: usize) -> Vec<Job> {
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("{n} Job(s) of {image}"),
        || async {
            let found = jobs(ns, image).await;
            (found.len() == n).then_some(found)
        },
    )
    .await
}

/// Waits until the image's Ready condition has `status` (and `reason`, when given).
pub async fn wait_ready(
    ns: &TestNamespace,
    image: &str,
    status: &str,
    reason: Option<&str>,
) -> GentooImage {
    let api = ns.api::<GentooImage>();
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("{image} Ready={status} {reason:?}"),
        || async {
            let img = api.get(image).await.ok()?;
            let (s, r, _) = condition(&img, "Ready")?;
            (s == status && reason.is_none_or(|want| want == r)).then_some(img)
        },
    )
    .await
}

/// Waits until site `demo` reports `revision`.
pub async fn wait_revision(ns: &TestNamespace, revision: &str) -> GentooSite {
    let api = ns.api::<GentooSite>();
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("site at {revision}"),
        || async {
            let site = api.get("demo").await.ok()?;
            (site.status.as_ref()?.revision.as_deref() == Some(revision)).then_some(site)
        },
    )
    .await
}

/// `GET path` on `addr` over plain HTTP/1.1: (status code, body), or `None` when nothing
/// answers.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    http_get_with(addr, path, &[]).await
}

/// `GET path` with extra `headers` (`Name: value`), as [`http_get`].
pub async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[&str],
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// The value of the sample `series` (name with labels, exactly as exported), 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .filter_map(|v| v.split(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0.0)
}

/// A free port on the loopback interface.
pub fn free_loopback_addr() -> std::net::SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
}

/// Watches the build Jobs and Pods of a namespace (through the API's watch, so every change
/// is seen in order) and keeps, per image, the most builds ever active at once: Jobs not
/// finished (also while being deleted: their pod may still run) and Pods not terminated.
pub struct BuildMonitor {
    state: std::sync::Arc<std::sync::Mutex<MonitorState>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a [`BuildMonitor`] saw.
#[derive(Clone, Debug, Default)]
pub struct MonitorState {
    /// Job name → (image, inputs digest, finished).
    pub jobs: std::collections::BTreeMap<String, (String, String, bool)>,
    /// Pod name → (image, alive).
    pub pods: std::collections::BTreeMap<String, (String, bool)>,
    /// Most active Jobs per image at any time.
    pub max_jobs: std::collections::BTreeMap<String, usize>,
    /// Most live Pods per image at any time.
    pub max_pods: std::collections::BTreeMap<String, usize>,
    /// Every Job ever seen, in the order they appeared: (name, image, digest).
    pub created: Vec<(String, String, String)>,
}

impl MonitorState {
    fn count(&mut self) {
        let mut jobs: std::collections::BTreeMap<String, usize> = Default::default();
        for (image, _, finished) in self.jobs.values() {
            if !finished {
                *jobs.entry(image.clone()).or_default() += 1;
            }
        }
        for (image, n) in jobs {
            let max = self.max_jobs.entry(image).or_default();
            *max = (*max).max(n);
        }
        let mut pods: std::collections::BTreeMap<String, usize> = Default::default();
        for (image, alive) in self.pods.values() {
            if *alive {
                *pods.entry(image.clone()).or_default() += 1;
            }
        }
        for (image, n) in pods {
            let max = self.max_pods.entry(image).or_default();
            *max = (*max).max(n);
        }
    }
}

impl BuildMonitor {
    /// Starts watching the build Jobs and Pods of `ns`; returns once both watches listed.
    pub async fn start(ns: &TestNamespace) -> BuildMonitor {
        use futures::StreamExt;
        use kube::runtime::watcher::{self, Event};
        let state = std::sync::Arc::new(std::sync::Mutex::new(MonitorState::default()));
        let config = watcher::Config::default().labels(&format!("{}=build", labels::COMPONENT));
        let (jobs_ready, jobs_listed) = tokio::sync::oneshot::channel::<()>();
        let (pods_ready, pods_listed) = tokio::sync::oneshot::channel::<()>();
        let jobs_task = {
            let (state, config) = (state.clone(), config.clone());
            let mut stream = watcher::watcher(ns.api::<Job>(), config).boxed();
            let mut ready = Some(jobs_ready);
            tokio::spawn(async move {
                while let Some(event) = stream.next().await {
                    let Ok(event) = event else { continue };
                    let mut s = state.lock().expect("monitor state");
                    match event {
                        Event::Apply(job) | Event::InitApply(job) => {
                            let name = job.name_any();
                            let image =
                                job.labels().get(labels::IMAGE).cloned().unwrap_or_default();
                            let digest = job
                                .annotations()
                                .get(zentoo::api::annotations::INPUTS_DIGEST)
                                .cloned()
                                .unwrap_or_default();
                            let finished = zentoo::controller::outcome::job_state(
                                job.status.clone().map(Into::into).as_ref(),
                            ) != zentoo::controller::outcome::JobState::Running;
                            if !s.jobs.contains_key(&name) {
                                s.created
                                    .push((name.clone(), image.clone(), digest.clone()));
                            }
                            s.jobs.insert(name, (image, digest, finished));
                        }
                        Event::Delete(job) => {
                            s.jobs.remove(&job.name_any());
                        }
                        Event::InitDone => {
                            if let Some(ready) = ready.take() {
                                let _ = ready.send(());
                            }
                        }
                        Event::Init => {}
                    }
                    s.count();
                }
            })
        };
        let pods_task = {
            let state = state.clone();
            let mut stream = watcher::watcher(ns.api::<Pod>(), config).boxed();
            let mut ready = Some(pods_ready);
            tokio::spawn(async move {
                while let Some(event) = stream.next().await {
                    let Ok(event) = event else { continue };
                    let mut s = state.lock().expect("monitor state");
                    match event {
                        Event::Apply(pod) | Event::InitApply(pod) => {
                            let image =
                                pod.labels().get(labels::IMAGE).cloned().unwrap_or_default();
                            let phase = pod
                                .status
                                .as_ref()
                                .and_then(|s| s.phase.clone())
                                .unwrap_or_default();
                            let alive = phase != "Succeeded" && phase != "Failed";
                            s.pods.insert(pod.name_any(), (image, alive));
                        }
                        Event::Delete(pod) => {
                            s.pods.remove(&pod.name_any());
                        }
                        Event::InitDone => {
                            if let Some(ready) = ready.take() {
                                let _ = ready.send(());
                            }
                        }
                        Event::Init => {}
                    }
                    s.count();
                }
            })
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), jobs_listed).await;
        let _ = tokio::time::timeout(Duration::from_secs(30), pods_listed).await;
        BuildMonitor {
            state,
            tasks: vec![jobs_task, pods_task],
        }
    }

    /// What was seen so far.
    pub fn seen(&self) -> MonitorState {
        self.state.lock().expect("monitor state").clone()
    }
}

impl Drop for BuildMonitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
