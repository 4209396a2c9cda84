//! Leader election against the real control plane: of two controllers, only the Lease holder
//! runs the reconcilers; the standby is alive but not ready.

mod ctlsupport;
mod fixture;
mod support;

use ctlsupport::*;
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
    let start = |instance: &str, addr: SocketAddr| {
        let settings = Settings {
            cache_dir: cache.path().to_path_buf(),
            instance: instance.into(),
            metrics_addr: Some(addr),
            ..Settings::default()
        };
        let (client, name) = (ns.client.clone(), ns.name.clone());
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
