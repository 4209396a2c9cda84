//! Leader election against the real control plane: of two controllers, only the Lease holder
//! runs the reconcilers; the standby is alive but not ready.

use crate::support;
use crate::support::site;

use crate::support::controller::*;
use k8s_openapi::api::coordination::v1::Lease;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zentoo::controller::context::Settings;

async fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split(' ').nth(1)?.parse().ok()
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_reconciles() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-leader").await;
    install_crds(&ns).await;
    let cache = tempfile::TempDir::new().expect("cache dir");
    // As installed: the chart's rights, leader election's Role included.
    let installed = support::manifests::install(&ns, support::manifests::Flavour::Namespaced).await;
    let start = |instance: &str, addr: SocketAddr| {
        let settings = Settings {
            cache_dir: cache.path().to_path_buf(),
            instance: instance.into(),
            metrics_addr: Some(addr),
            ..Settings::default()
        };
        let (client, name) = (installed.client.clone(), ns.name.clone());
        tokio::spawn(async move {
            zentoo::controller::leader::run_elected(
                client,
                settings,
                Some(name.clone()),
                &name,
                "zentoo-test",
            )
            .await
        })
    };
    let (a_addr, b_addr) = (free_port(), free_port());
    let a = start("replica-a", a_addr);
    let leases = ns.api::<Lease>();
    eventually(
        &ns,
        Duration::from_secs(30),
        "replica-a holds the Lease",
        || async {
            let lease = leases.get("zentoo-test").await.ok()?;
            let holder = lease.spec?.holder_identity?;
            (holder == "replica-a").then_some(())
        },
    )
    .await;
    eventually(&ns, Duration::from_secs(30), "replica-a ready", || async {
        (status(a_addr, "/readyz").await == Some(200)).then_some(())
    })
    .await;

    let b = start("replica-b", b_addr);
    eventually(&ns, Duration::from_secs(30), "replica-b alive", || async {
        (status(b_addr, "/healthz").await == Some(200)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        status(b_addr, "/readyz").await,
        Some(503),
        "a standby is not ready"
    );
    let holder = leases
        .get("zentoo-test")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("replica-a"));
    a.abort();
    b.abort();
}

/// One `zentoo controller --leader-election` process of the built binary; SIGKILLed on drop.
struct Replica {
    child: std::process::Child,
    name: String,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(ns: &str, name: &str, dir: &std::path::Path) -> Replica {
        let addr = free_port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("replica log");
        let err = out.try_clone().expect("replica log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_zentoo"))
            .args(["controller", "--leader-election", "--lease-name", LEASE])
            .args(["--namespace", ns, "--lease-namespace", ns])
            .arg(format!("--metrics-addr={addr}"))
            .arg(format!("--cache-dir={}", dir.join(name).display()))
            .args(["--zentoo-image", "localhost/zentoo:test"])
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,kube=warn")
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start zentoo controller");
        Replica {
            child,
            name: name.into(),
            addr,
            log,
        }
    }

    /// SIGKILL: the process stops at once, the Lease is not released.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then its exit status (`None`: still running after `within`).
    fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log (last 30 lines) ---\n{}",
            self.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        self.kill();
    }
}

const LEASE: &str = "zentoo-failover";

async fn holder(leases: &kube::Api<Lease>) -> Option<String> {
    leases.get(LEASE).await.ok()?.spec?.holder_identity
}

/// Replica a, once it holds the Lease and is ready, and replica b, once it is alive.
async fn leader_and_standby(
    ns: &support::TestNamespace,
    dir: &std::path::Path,
) -> (Replica, Replica) {
    let a = Replica::start(&ns.name, "replica-a", dir);
    let leases = ns.api::<Lease>();
    eventually(ns, Duration::from_secs(60), "replica-a leads", || async {
        (holder(&leases).await.as_deref() == Some("replica-a")
            && status(a.addr, "/readyz").await == Some(200))
        .then_some(())
    })
    .await;
    let b = Replica::start(&ns.name, "replica-b", dir);
    eventually(ns, Duration::from_secs(60), "replica-b alive", || async {
        (status(b.addr, "/healthz").await == Some(200)).then_some(())
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_lease_time_and_the_new_one_reconciles() {
    let _measuring = support::load::measuring().await;
    use kube::api::PostParams;
    use std::time::Instant;
    use zentoo::api::GentooImage;
    use zentoo::controller::leader::{GRACE_SECONDS, LEASE_SECONDS};
    use zentoo::render::names::image_name;

    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-failover").await;
    install_crds(&ns).await;
    let repo = site::Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let dir = tempfile::TempDir::new().expect("replica dir");
    let (mut a, b) = leader_and_standby(&ns, dir.path()).await;
    let leases = ns.api::<Lease>();
    assert_eq!(status(b.addr, "/readyz").await, Some(503), "b is a standby");

    // The leader reconciles: the site's image gets its build Job.
    create_site(&ns, &site_object("demo", &git.url, "1m")).await;
    wait_jobs(&ns, &image_name("demo", "desktop-none-kde"), 1).await;

    a.kill();
    let killed = Instant::now();
    // Lease time plus the margin the holder renews within: b must hold it by then.
    let bound = Duration::from_secs(LEASE_SECONDS + GRACE_SECONDS);
    eventually(&ns, bound, "replica-b takes the Lease", || async {
        (holder(&leases).await.as_deref() == Some("replica-b")).then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    eventually(&ns, Duration::from_secs(30), "replica-b ready", || async {
        (status(b.addr, "/readyz").await == Some(200)).then_some(())
    })
    .await;
    let ready = killed.elapsed();

    // The new leader reconciles: a new GentooImage gets its Job.
    let extra: GentooImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "metadata": {"name": "extra"},
        "spec": {"siteRef": {"name": "demo"}, "portage": "server", "set": "web"},
    }))
    .expect("image object");
    ns.api::<GentooImage>()
        .create(&PostParams::default(), &extra)
        .await
        .expect("create GentooImage extra");
    wait_jobs(&ns, "extra", 1).await;
    eprintln!(
        "failover: lease {LEASE_SECONDS}s (renewed {GRACE_SECONDS}s before expiry); \
         replica-b held the Lease {:.1}s after replica-a was SIGKILLed, was ready after \
         {:.1}s, and created the new image's Job after {:.1}s",
        takeover.as_secs_f64(),
        ready.as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_standby_and_a_leader_which_releases_the_lease() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-sigterm").await;
    install_crds(&ns).await;
    let repo = site::Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let dir = tempfile::TempDir::new().expect("replica dir");
    let (mut a, mut b) = leader_and_standby(&ns, dir.path()).await;
    let leases = ns.api::<Lease>();
    create_site(&ns, &site_object("demo", &git.url, "1m")).await;

    // A standby waiting for the Lease stops on SIGTERM (it would else wait for SIGKILL).
    let stopped = b.terminate(Duration::from_secs(30));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "the standby did not exit cleanly on SIGTERM: {stopped:?}\n{}",
        b.log_tail()
    );
    assert_eq!(holder(&leases).await.as_deref(), Some("replica-a"));

    // The leader finishes its reconciles, stops its watches and gives the Lease up.
    let stopped = a.terminate(Duration::from_secs(30));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "the leader did not exit cleanly on SIGTERM: {stopped:?}\n{}",
        a.log_tail()
    );
    let after = holder(&leases).await;
    assert_ne!(
        after.as_deref(),
        Some("replica-a"),
        "a stopped leader still holds the Lease"
    );
}
