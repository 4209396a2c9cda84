//! Benchmarks of git push → build, against the real control plane (ignored by `cargo test`;
//! `scripts/bench-push.sh` runs them and docs/benchmarks.md has the figures):
//!
//! - webhook received → build Job created, over `ZENTOO_BENCH_PUSHES` (100) pushes, each
//!   to an idle image (the previous build finished), so no supersede is measured;
//! - polling: commit → build Job created, for poll intervals of 2 s, 5 s and 10 s, commits at
//!   random moments (`ZENTOO_BENCH_POLLS` (8) per interval);
//! - a local site (`file://`, refs watched with inotify): commit → build Job created, over
//!   `ZENTOO_BENCH_LOCAL` (20) commits.
//!
//! Job creation is seen through a watch on Jobs, not by polling the API.

use crate::support;
use crate::support::site;

use crate::support::controller::hooks::*;
use crate::support::controller::*;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::watcher::{self, Event};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::TestNamespace;
use tokio::sync::mpsc;
use zentoo::api::GentooSite;
use zentoo::render::names::image_name;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Build Jobs of `image` as they are created: (name, when the watch saw it).
fn job_arrivals(ns: &TestNamespace, image: &str) -> mpsc::UnboundedReceiver<(String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = watcher::Config::default().labels(&format!("zentoo.dev/image={image}"));
    let mut stream = watcher::watcher(ns.api::<Job>(), config).boxed();
    tokio::spawn(async move {
        let mut seen = HashSet::new();
        while let Some(event) = stream.next().await {
            if let Ok(Event::Apply(job) | Event::InitApply(job)) = event
                && seen.insert(job.name_any())
                && tx.send((job.name_any(), Instant::now())).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// The next Job to arrive, at most 60 s from now.
async fn next_job(arrivals: &mut mpsc::UnboundedReceiver<(String, Instant)>) -> (String, Instant) {
    tokio::time::timeout(Duration::from_secs(60), arrivals.recv())
        .await
        .expect("a new Job within 60 s")
        .expect("the Job watch ended")
}

/// Waits until `job` is the image's last successful build (so the next push finds it idle).
async fn built(ns: &TestNamespace, image: &str, job: &str) {
    let api = ns.api::<zentoo::api::GentooImage>();
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("{job} built"),
        || async {
            let status = api.get(image).await.ok()?.status?;
            (status.last_successful_build?.name == job && status.current_build.is_none())
                .then_some(())
        },
    )
    .await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    let ms = |d: Duration| d.as_millis();
    format!(
        "n={} p50={} ms p95={} ms mean={} ms min={} ms max={} ms",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 95.0)),
        ms(mean),
        ms(samples.first().copied().unwrap_or_default()),
        ms(samples.last().copied().unwrap_or_default()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-push.sh"]
async fn bench_webhook_to_build_job() {
    let _measuring = support::load::measuring().await;
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let pushes = env_count("ZENTOO_BENCH_PUSHES", 100);
    let (env, addr) = setup_hooked(&kube, "bench-hook", "desktop-none-kde\n", "1h", |s| {
        s.debounce = Duration::ZERO;
        s.webhook.rate = 1000.0;
        s.webhook.burst = 1000;
    })
    .await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let mut arrivals = job_arrivals(&env.ns, &image);
    let (first, _) = next_job(&mut arrivals).await;
    finish_build(ns, &first, "sha256:00").await;
    built(&env.ns, &image, &first).await;
    // Every push is measured on its own: no debounce window, no rate limit in the way.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"source": {"debounce": "0s"}}}),
    )
    .await;
    let hook = format!("/hooks/{}/demo", ns.name);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut latencies = Vec::new();
    let run = Instant::now();
    for i in 0..pushes {
        let commit = env
            .repo
            .write("portage/desktop", "make.conf", &format!("USE=\"X b{i}\"\n"));
        let body = push_of("refs/heads/portage/desktop", commit);
        let headers = github("push", &format!("bench-{i}"), SECRET, &body);
        let sent = Instant::now();
        assert_eq!(post(addr, &hook, &headers, body.clone()).await, 202);
        let (job, seen) = next_job(&mut arrivals).await;
        latencies.push(seen - sent);
        finish_build(ns, &job, &format!("sha256:{i:02x}")).await;
        built(&env.ns, &image, &job).await;
    }
    println!(
        "BENCH webhook -> build Job ({pushes} pushes, idle image, {:.0?} in all): {}",
        run.elapsed(),
        summary(&mut latencies)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-push.sh"]
async fn bench_polling_detection_delay() {
    let _measuring = support::load::measuring().await;
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let polls = env_count("ZENTOO_BENCH_POLLS", 8);
    for interval in [2u64, 5, 10] {
        let env = setup(
            &kube,
            &format!("bench-poll-{interval}"),
            "desktop-none-kde\n",
            &format!("{interval}s"),
        )
        .await;
        let ns = &env.ns;
        let image = image_name("demo", "desktop-none-kde");
        let mut arrivals = job_arrivals(&env.ns, &image);
        let (first, _) = next_job(&mut arrivals).await;
        finish_build(ns, &first, "sha256:00").await;
        built(&env.ns, &image, &first).await;
        let period =
            zentoo::controller::poll::jittered(Duration::from_secs(interval), &ns.name, "demo");
        // Commits at pseudo-random moments of the poll cycle.
        let mut seed = u64::from(std::process::id()) ^ interval;
        let mut delays = Vec::new();
        for i in 0..polls {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let wait = period.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64);
            tokio::time::sleep(wait).await;
            let committed = Instant::now();
            env.repo
                .write("portage/desktop", "make.conf", &format!("USE=\"X p{i}\"\n"));
            let (job, seen) = next_job(&mut arrivals).await;
            delays.push(seen - committed);
            finish_build(ns, &job, &format!("sha256:{i:02x}")).await;
            built(&env.ns, &image, &job).await;
        }
        println!(
            "BENCH polling, interval {interval}s (this site's period {period:.2?}): commit -> build Job {}",
            summary(&mut delays)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/bench-push.sh"]
async fn bench_local_commit_to_build_job() {
    let _measuring = support::load::measuring().await;
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let commits = env_count("ZENTOO_BENCH_LOCAL", 20);
    let ns = kube.namespace("bench-local").await;
    install_crds(&ns).await;
    let repo = site::Site::standard("desktop-none-kde\n");
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start_configured(&ns, &cache, |s| {
        s.allow_local_sources = true;
    })
    .await;
    let mut site = site_object("demo", &format!("file://{}", repo.path().display()), "1h");
    site.spec.source.debounce = Some("0s".into());
    create_site(&ns, &site).await;
    let image = image_name("demo", "desktop-none-kde");
    let mut arrivals = job_arrivals(&ns, &image);
    let (first, _) = next_job(&mut arrivals).await;
    finish_build(&ns, &first, "sha256:00").await;
    built(&ns, &image, &first).await;
    let mut delays = Vec::new();
    for i in 0..commits {
        let committed = Instant::now();
        repo.write("portage/desktop", "make.conf", &format!("USE=\"X l{i}\"\n"));
        let (job, seen) = next_job(&mut arrivals).await;
        delays.push(seen - committed);
        finish_build(&ns, &job, &format!("sha256:{i:02x}")).await;
        built(&ns, &image, &job).await;
    }
    println!(
        "BENCH local site (inotify), interval 1h: commit -> build Job {}",
        summary(&mut delays)
    );
}
