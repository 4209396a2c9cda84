//! Scale: sites with 2,000 tuples in all (by default; `ZENTOO_SCALE_TUPLES`, spread over
//! `ZENTOO_SCALE_SITES` sites, by default one per 2,500 tuples) become as many GentooImages and
//! their build Jobs on a real control plane, the controller running as its own process (the built binary). Measures
//! the controller's peak RSS, the time of a full resync after a restart, the time from a push
//! touching one branch to its Jobs, and the API requests per reconcile.
//!
//! Minutes long, so not part of `cargo test`: run `scripts/scale.sh` (figures into
//! docs/benchmarks.md). It runs on a private etcd + kube-apiserver + kube-controller-manager
//! (tests/it/support/private.rs): 2,000 Jobs on the shared control plane would hold up every other
//! test's Jobs and pods, and a private apiserver counts only this run's requests.

use crate::support;
use crate::support::controller;

use crate::support::controller::process::ControllerProcess;

use crate::support::site::Site;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zentoo::api::{GentooImage, GentooSite, annotations, labels};
use zentoo::site::write::Change;

const PORTAGE: usize = 20;
const HOOKS: usize = 4;
const SETS: usize = 4;
const CPUS: [&str; 5] = ["amd64", "arm64", "zen2", "zen3", "a76"];
/// Tuples per portage branch: 5 cpus x 5 hooks x 4 sets.
const PER_PORTAGE: usize = 100;
/// Default tuples per site when `ZENTOO_SCALE_SITES` is not set.
const TUPLES_PER_SITE: usize = 2500;

/// A site with `n` distinct tuples: 100 per portage branch, at least 20 branches.
fn site(n: usize) -> (Site, Vec<String>) {
    let site = Site::new();
    let portage = PORTAGE.max(n.div_ceil(PER_PORTAGE));
    for p in 0..portage {
        site.commit(
            &format!("portage/p{p}"),
            &[Change::file("make.conf", &format!("USE=\"p{p}\"\n"))],
        );
    }
    for h in 0..HOOKS {
        site.commit(
            &format!("buildhooks/h{h}"),
            &[Change::exec("pre-build", &format!("#!/bin/sh\n# h{h}\n"))],
        );
    }
    let mut tuples = Vec::new();
    'all: for cpu in CPUS {
        for p in 0..portage {
            for h in 0..=HOOKS {
                for s in 0..SETS {
                    if tuples.len() == n {
                        break 'all;
                    }
                    let hooks = if h == HOOKS {
                        "none".to_string()
                    } else {
                        format!("h{h}")
                    };
                    tuples.push(format!("{cpu}-p{p}-{hooks}-s{s}"));
                }
            }
        }
    }
    assert_eq!(tuples.len(), n);
    let text = tuples.join("\n") + "\n";
    let sets: Vec<(String, String)> = (0..SETS)
        .map(|s| {
            (
                format!("sets/s{s}"),
                format!("app-misc/hello\napp-misc/s{s}\n"),
            )
        })
        .collect();
    let mut changes = vec![
        Change::file("tuples", &text),
        Change::file(
            "cpus.yaml",
            "zen2: {arch: amd64, cflags: -O2 -march=znver2}\n\
             zen3: {arch: amd64, cflags: -O2 -march=znver3}\n\
             a76: {arch: arm64, cflags: -O2 -mcpu=cortex-a76}\n",
        ),
    ];
    changes.extend(sets.iter().map(|(p, c)| Change::file(p, c)));
    site.commit("main", &changes);
    (site, tuples)
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

/// API requests by verb/resource between two scrapes.
fn requests(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter(|(k, _)| k.starts_with("zentoo_api_requests_total"))
        .map(|(k, v)| {
            let label = k
                .trim_start_matches("zentoo_api_requests_total{")
                .trim_end_matches('}')
                .replace("resource=", "")
                .replace("verb=", "")
                .replace('"', "");
            (label, v - before.get(k).copied().unwrap_or(0.0))
        })
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// List requests between two scrapes (a list storm shows here).
fn lists(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> f64 {
    requests(before, after)
        .iter()
        .filter(|(label, _)| label.starts_with("list,"))
        // Not `sum()`: an empty f64 sum is -0.0, printed "-0".
        .fold(0.0, |total, (_, v)| total + v)
}

fn image_reconciles(m: &BTreeMap<String, f64>) -> f64 {
    sum(m, "zentoo_reconciles_total{kind=\"GentooImage\"")
}

/// Peak RSS seen by sampling (KiB), updated in the background.
fn sample_rss(pid: u32, peak: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok());
            match rss {
                Some(kib) => {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                None => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// How many objects `api` lists (metadata only).
async fn count<K>(api: &Api<K>) -> usize
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list_metadata(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or(0)
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, probe: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !probe().await {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run scripts/scale.sh"]
async fn two_thousand_images_on_one_site() {
    let _measuring = support::load::measuring().await;
    let n: usize = std::env::var("ZENTOO_SCALE_TUPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let site_count: usize = std::env::var("ZENTOO_SCALE_SITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| n.div_ceil(TUPLES_PER_SITE))
        .clamp(1, n.max(1));
    let bin = controller::process::binary();
    let Some(cluster) = support::private::PrivateCluster::start(true).await else {
        return;
    };
    let client = cluster.client().await;
    let ns_name = "zentoo-scale";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(ns_name.into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .expect("namespace");
    let test_ns = support::kube::TestNamespace {
        client: client.clone(),
        kubeconfig: cluster.kubeconfig.clone(),
        name: ns_name.into(),
    };
    controller::install_crds(&test_ns).await;
    // As installed: the chart's rights and its ServiceAccount's token.
    let installed =
        support::manifests::install(&test_ns, support::manifests::Flavour::Namespaced).await;
    // Site `scale` (the one pushed to), then `scale-1`, ...: each its own repository and
    // `git daemon`, the tuples shared out evenly.
    let mut repos = Vec::new();
    for i in 0..site_count {
        let share = n / site_count + usize::from(i < n % site_count);
        let name = if i == 0 {
            "scale".to_string()
        } else {
            format!("scale-{i}")
        };
        let (repo, tuples) = site(share);
        let git = controller::GitDaemon::serve(&repo);
        repos.push((name, repo, tuples, git));
    }
    let (repo, tuples) = (&repos[0].1, &repos[0].2);
    let cache = tempfile::tempdir().expect("cache");
    let cache_dir = cache.path().to_path_buf();
    let mut figures: Vec<(String, String)> = Vec::new();
    let mut note = |k: &str, v: String| {
        eprintln!("MEASURED: {k}: {v}");
        figures.push((k.to_string(), v));
    };
    note("binary", bin.display().to_string());
    note("tuples", n.to_string());
    note("sites", site_count.to_string());

    // 1. The site appears: N images, N Jobs.
    let controller =
        ControllerProcess::start(&bin, &installed.kubeconfig, ns_name, &cache_dir, &[]);
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = sample_rss(controller.pid(), peak.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = controller.memory();
    note("RSS idle (no objects)", format!("{} KiB", idle.0));
    let sites: Api<GentooSite> = Api::namespaced(client.clone(), ns_name);
    let images: Api<GentooImage> = Api::namespaced(client.clone(), ns_name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns_name);
    let before = controller.scrape().await;
    for (name, _, _, git) in &repos {
        sites
            .create(
                &PostParams::default(),
                &controller::site_object(name, &git.url, "1h"),
            )
            .await
            .expect("create site");
    }
    let t = wait_until(
        "N images",
        Duration::from_secs(600.max(n as u64 / 10)),
        || {
            let images = images.clone();
            async move { count(&images).await >= n }
        },
    )
    .await;
    note("sites created -> N GentooImages", format!("{t:.1?}"));
    // Job creation ran at about 8 a second on the 2 cores while each image without a pod
    // listed events (10,000 took over 20 minutes); now about 85 a second.
    let jobs_timeout = Duration::from_secs(1200.max(n as u64 / 4));
    let t = wait_until("N Jobs", jobs_timeout, || {
        let jobs = jobs.clone();
        async move { count(&jobs).await >= n }
    })
    .await;
    note("sites created -> N build Jobs", format!("{t:.1?}"));
    let created = controller.scrape().await;
    let reqs = requests(&before, &created);
    note("API requests to create them", format!("{reqs:?}"));
    note(
        "image reconciles to create them",
        format!("{}", image_reconciles(&created) - image_reconciles(&before)),
    );

    // 2. Steady state: a minute without changes.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let quiet_start = controller.scrape().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let quiet_end = controller.scrape().await;
    note(
        "steady state, 60 s: image reconciles",
        format!(
            "{}",
            image_reconciles(&quiet_end) - image_reconciles(&quiet_start)
        ),
    );
    note(
        "steady state, 60 s: API requests",
        format!("{:?}", requests(&quiet_start, &quiet_end)),
    );
    let (rss, hwm) = controller.memory();
    note(
        "RSS with N images and Jobs",
        format!(
            "{} KiB (VmHWM {} KiB, sampled peak {} KiB)",
            rss,
            hwm,
            peak.load(Ordering::Relaxed)
        ),
    );

    // 3. Full resync: a restart (SIGKILL) reconciles every image again from its caches.
    controller.kill();
    sampler.abort();
    let restarted = Instant::now();
    let controller =
        ControllerProcess::start(&bin, &installed.kubeconfig, ns_name, &cache_dir, &[]);
    let peak2 = Arc::new(AtomicU64::new(0));
    let sampler = sample_rss(controller.pid(), peak2.clone());
    let resync = wait_until("a full resync", Duration::from_secs(600), || {
        let c = &controller;
        async move { image_reconciles(&c.scrape().await) >= n as f64 }
    })
    .await;
    let after_resync = controller.scrape().await;
    note(
        "full resync after restart (N image reconciles)",
        format!("{resync:.2?}"),
    );
    let total: f64 = requests(&BTreeMap::new(), &after_resync).values().sum();
    note(
        "API requests of the resync",
        format!(
            "{total} ({:.2} per image reconcile): {:?}",
            total / image_reconciles(&after_resync).max(1.0),
            requests(&BTreeMap::new(), &after_resync)
        ),
    );
    let (rss, hwm) = controller.memory();
    note(
        "RSS after the resync",
        format!(
            "{rss} KiB (VmHWM {hwm} KiB: the relist and resync's peak, sampled peak {} KiB)",
            peak2.load(Ordering::Relaxed)
        ),
    );
    let jobs_now = count(&jobs).await;
    assert_eq!(jobs_now, n, "the restart duplicated or lost builds");
    let _ = restarted;

    // 4. A push touching one portage branch: its images get new Jobs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let affected: HashSet<String> = tuples
        .iter()
        .filter(|t| t.split('-').nth(1) == Some("p0"))
        .map(|t| zentoo::render::names::image_name("scale", t))
        .collect();
    let existing: HashSet<String> = jobs
        .list_metadata(&ListParams::default())
        .await
        .expect("jobs")
        .items
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect();
    // When each new Job was seen (ms since the watch started), to tell the controller's part
    // from the wait for superseded builds to stop.
    let seen_at: Arc<std::sync::Mutex<Vec<u128>>> = Arc::default();
    let watch_started = Instant::now();
    let watch = {
        let (jobs, existing, seen_at) = (jobs.clone(), existing.clone(), seen_at.clone());
        let affected = affected.clone();
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let meta: Api<kube::api::PartialObjectMeta<Job>> =
                Api::namespaced(jobs.into_client(), "zentoo-scale");
            let mut stream = watcher::watcher(meta, watcher::Config::default()).boxed();
            while let Some(Ok(event)) = stream.next().await {
                if let watcher::Event::Apply(job) | watcher::Event::InitApply(job) = event {
                    let name = job.metadata.name.clone().unwrap_or_default();
                    let image = job
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::IMAGE).cloned())
                        .unwrap_or_default();
                    if !existing.contains(&name)
                        && affected.contains(&image)
                        && seen.insert(name)
                        && let Ok(mut at) = seen_at.lock()
                    {
                        at.push(watch_started.elapsed().as_millis());
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_push = controller.scrape().await;
    repo.write("portage/p0", "make.conf", "USE=\"p0 changed\"\n");
    let pushed = Instant::now();
    sites
        .patch(
            "scale",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                annotations::FETCH_REQUESTED_AT: format!("{:?}", std::time::SystemTime::now()),
            }}})),
        )
        .await
        .expect("request a fetch");
    // Each new Job waits until the Job it supersedes is gone, which is kube-controller-manager's
    // garbage collector's pace: with 10,000 Jobs it took over 10 minutes for 100. The wait is
    // bounded; how many came is the figure.
    let window = Duration::from_secs(600);
    let seen = || seen_at.lock().map_or(0, |at| at.len());
    while seen() < affected.len() && pushed.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = pushed.elapsed();
    assert!(seen() > 0, "no new Job within {window:?} of the push");
    note(
        &format!("push to one branch -> its {} Jobs created", affected.len()),
        if seen() == affected.len() {
            format!("{t:.2?}")
        } else {
            format!(
                "{} of them after {t:.0?} (the rest wait for the garbage collector)",
                seen()
            )
        },
    );
    let offset = pushed.duration_since(watch_started).as_millis();
    let at: Vec<u128> = seen_at
        .lock()
        .map(|a| a.iter().map(|t| t.saturating_sub(offset)).collect())
        .unwrap_or_default();
    if let (Some(first), Some(tenth), Some(half)) = (at.first(), at.get(9), at.get(at.len() / 2)) {
        note(
            "push -> first / 10th / median new Job",
            format!("{first} ms / {tenth} ms / {half} ms"),
        );
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_push = controller.scrape().await;
    note(
        "API requests of the push",
        format!("{:?}", requests(&before_push, &after_push)),
    );
    watch.abort();
    let (rss, hwm) = controller.memory();
    note(
        "RSS after the push",
        format!(
            "{} KiB (VmHWM {} KiB since restart, sampled peak {} KiB)",
            rss,
            hwm,
            peak2.load(Ordering::Relaxed)
        ),
    );
    note(
        "peak RSS over the restart and the push",
        format!(
            "{:.1} MiB",
            hwm.max(peak2.load(Ordering::Relaxed)) as f64 / 1024.0
        ),
    );
    note(
        "list requests: creating / steady 60 s / restart and resync / push",
        format!(
            "{} / {} / {} / {}",
            lists(&before, &created),
            lists(&quiet_start, &quiet_end),
            lists(&BTreeMap::new(), &after_resync),
            lists(&before_push, &after_push)
        ),
    );
    sampler.abort();
    controller.kill();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale-figures.txt");
    let text: String = figures.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let _ = std::fs::write(&out, text);
    eprintln!("figures written to {}", out.display());
    drop(test_ns);
}
