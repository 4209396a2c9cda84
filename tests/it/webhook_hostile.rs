//! The webhook receiver under hostile traffic, as installed: the controller as its own process
//! with the chart's ServiceAccount token, a real site with a webhook Secret, and clients that
//! trickle headers (slowloris), trickle bodies, flood the site with forged deliveries and replay
//! genuine ones. A genuine signed push must still be acted on, the process must stay under the
//! chart's memory limit, and every attack stops by itself.

use crate::support;

use crate::support::controller::hooks::{
    SECRET, create_webhook_secret, github, post, push_body, wait_listening,
};
use crate::support::controller::process::{ControllerProcess, binary};
use crate::support::controller::*;
use crate::support::site::Site;
use kube::ResourceExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::kube::TestNamespace;
use support::kubelet::{MANUAL, MANUAL_LABEL};
use support::manifests::{Flavour, Installed, install};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zentoo::render::names::image_name;

/// The controller's memory limit in the chart (`resources.limits.memory`, 512Mi).
const CHART_LIMIT_KIB: u64 = 512 * 1024;

/// A site `demo` (one tuple, polled hourly, webhook Secret) and the controller serving its
/// webhook receiver on a loopback port, as its own process.
struct Hooked {
    ns: TestNamespace,
    repo: Site,
    _git: GitDaemon,
    _cache: tempfile::TempDir,
    _installed: Installed,
    controller: ControllerProcess,
    addr: SocketAddr,
}

async fn hooked(kube: &support::Kube, prefix: &str) -> Hooked {
    let ns = kube.namespace(prefix).await;
    install_crds(&ns).await;
    let installed = install(&ns, Flavour::Namespaced).await;
    create_webhook_secret(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache");
    let addr = free_loopback_addr();
    let label = format!("{MANUAL_LABEL}={MANUAL}");
    let controller = ControllerProcess::start(
        &binary(),
        &installed.kubeconfig,
        &ns.name,
        cache.path(),
        &[
            "--build-pod-label",
            &label,
            "--webhook-addr",
            &addr.to_string(),
            "--debounce",
            "0s",
        ],
    );
    let mut site = site_object("demo", &git.url, "1h");
    site.spec.source.webhook_secret_ref =
        serde_json::from_value(serde_json::json!({"name": "demo-webhook"})).expect("ref");
    create_site(&ns, &site).await;
    wait_listening(addr).await;
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(&ns, &image, 1).await.remove(0);
    finish_build(&ns, &job.name_any(), "sha256:aa").await;
    wait_ready(&ns, &image, "True", None).await;
    Hooked {
        ns,
        repo,
        _git: git,
        _cache: cache,
        _installed: installed,
        controller,
        addr,
    }
}

/// Sends `head` (a request line and headers, unfinished or finished) then `trickle` one byte
/// a second until the server closes the connection or `until`; returns whether the server
/// closed it (it must not wait forever for a slow client).
async fn slow_client(addr: SocketAddr, head: String, trickle: u8, until: Instant) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return true;
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return true;
    }
    let mut buf = [0u8; 512];
    while Instant::now() < until {
        if stream.write_all(&[trickle]).await.is_err() {
            return true;
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => return true, // answered (408, 503): done with us
            Err(_) => {}
        }
    }
    false
}

/// Just the head of a request with a declared body that never comes: the status of the answer.
async fn head_only(addr: SocketAddr, path: &str, length: usize) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_gets_through_a_flood_of_forged_and_slow_requests() {
    let _measuring = support::load::measuring().await;
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let h = hooked(&kube, "hook-flood").await;
    let (addr, ns) = (h.addr, &h.ns);
    let hook = format!("/hooks/{}/demo", ns.name);
    let image = image_name("demo", "desktop-none-kde");
    let (_, idle_peak) = h.controller.memory();

    // An unknown site is answered before any body is read.
    assert_eq!(
        head_only(addr, &format!("/hooks/{}/nosuchsite", ns.name), 1 << 19).await,
        404
    );

    // The attack: 15 s, then every client stops.
    let attack = Duration::from_secs(15);
    let until = Instant::now() + attack;
    let stop = Arc::new(AtomicBool::new(false));
    let forged = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // 120 slowloris clients (headers one byte a second) and 60 slow bodies (a forged
    // signature, a declared 1 MiB, one byte a second), reconnecting when cut off.
    for i in 0..180 {
        let hook = hook.clone();
        tasks.push(tokio::spawn(async move {
            let mut cut = 0u32;
            while Instant::now() < until {
                let head = if i < 120 {
                    format!("POST {hook} HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                } else {
                    format!(
                        "POST {hook} HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n\
                         X-Hub-Signature-256: sha256=00\r\nContent-Length: 1048576\r\n\r\n"
                    )
                };
                if slow_client(addr, head, b'a', until).await {
                    cut += 1;
                }
            }
            cut
        }));
    }
    // 6 clients posting forged 256 KiB deliveries as fast as they are answered.
    let flood_body = {
        let mut b = push_body("refs/heads/portage/desktop");
        b.resize(256 << 10, b' ');
        b
    };
    for i in 0..6 {
        let (hook, body, stop, forged) = (
            hook.clone(),
            flood_body.clone(),
            stop.clone(),
            forged.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                let headers = github("push", &format!("forged-{i}-{n}"), "not-the-secret", &body);
                if post(addr, &hook, &headers, body.clone()).await == 401 {
                    forged.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            0
        }));
    }

    // 6 s into it (the slow clients' first rounds are cut off at 5 and 10 s), a commit and its
    // genuine signed push.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = jobs(ns, &image).await.len();
    h.repo
        .write("portage/desktop", "make.conf", "USE=\"X under-attack\"\n");
    let body = push_body("refs/heads/portage/desktop");
    let pushed = Instant::now();
    let status = post(
        addr,
        &hook,
        &github("push", "genuine-1", SECRET, &body),
        body,
    )
    .await;
    let answered = pushed.elapsed();
    assert_eq!(status, 202, "the genuine push during the attack");
    eventually(ns, Duration::from_secs(60), "the pushed build", || async {
        let found = jobs(ns, &image).await;
        (found.len() > before).then_some(())
    })
    .await;
    let acted = pushed.elapsed();
    let (_, attacked_peak) = h.controller.memory();
    stop.store(true, Ordering::Relaxed);
    let mut cut_off = 0;
    for t in tasks {
        cut_off += t.await.unwrap_or(0);
    }
    let (rss, peak) = h.controller.memory();
    let metrics = h.controller.scrape().await;
    let count = |result: &str| {
        metrics
            .get(&format!(
                "zentoo_webhook_requests_total{{result=\"{result}\"}}"
            ))
            .copied()
            .unwrap_or(0.0)
    };
    eprintln!(
        "MEASURED: webhook under attack ({attack:?}: 120 slowloris, 60 slow bodies, 6 forged \
         floods): genuine push answered in {answered:?}, its Job after {acted:?}; forged \
         deliveries refused {}; slow clients cut off {cut_off}; controller RSS peak idle \
         {idle_peak} KiB, under attack {attacked_peak} KiB, after {peak} KiB (now {rss} KiB); \
         metrics: Unauthorized {}, Timeout {}, Busy {}, Accepted {}",
        forged.load(Ordering::Relaxed),
        count("Unauthorized"),
        count("Timeout"),
        count("Busy"),
        count("Accepted"),
    );
    assert!(
        peak < CHART_LIMIT_KIB,
        "the controller peaked at {peak} KiB, over the chart's limit"
    );
    assert!(
        forged.load(Ordering::Relaxed) > 0 && count("Unauthorized") > 0.0,
        "the flood never reached the receiver"
    );
    assert!(
        cut_off > 0,
        "no slow client was ever cut off: the receiver waits for them"
    );
    assert_eq!(count("Accepted"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_refused_with_and_without_delivery_ids() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let h = hooked(&kube, "hook-replay").await;
    let (addr, ns) = (h.addr, &h.ns);
    let hook = format!("/hooks/{}/demo", ns.name);
    let image = image_name("demo", "desktop-none-kde");

    h.repo
        .write("portage/desktop", "make.conf", "USE=\"X r1\"\n");
    let body = push_body("refs/heads/portage/desktop");
    let signed = github("push", "delivery-1", SECRET, &body);
    assert_eq!(post(addr, &hook, &signed, body.clone()).await, 202);
    // The same delivery again, and the same body under a new delivery id.
    assert_eq!(post(addr, &hook, &signed, body.clone()).await, 409);
    let renamed = github("push", "delivery-2", SECRET, &body);
    assert_eq!(post(addr, &hook, &renamed, body.clone()).await, 409);
    // Without a delivery id: known by the body.
    let other = {
        let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        v["after"] = "2222222222222222222222222222222222222222".into();
        serde_json::to_vec(&v).expect("json")
    };
    let no_id: Vec<(&str, String)> = github("push", "", SECRET, &other)
        .into_iter()
        .filter(|(k, _)| *k != "X-GitHub-Delivery")
        .collect();
    assert_eq!(post(addr, &hook, &no_id, other.clone()).await, 202);
    assert_eq!(post(addr, &hook, &no_id, other.clone()).await, 409);
    // Forged replays of a genuine body are refused by their signature, not remembered.
    let forged = github("push", "delivery-3", "not-the-secret", &body);
    assert_eq!(post(addr, &hook, &forged, body.clone()).await, 401);

    // The accepted pushes built once (the replays started nothing more).
    eventually(ns, Duration::from_secs(60), "the pushed build", || async {
        (jobs(ns, &image).await.len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(jobs(ns, &image).await.len(), 2, "a replay started a build");
}
