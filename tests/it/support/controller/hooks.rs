//! Webhook deliveries as git hosts send them: signed push payloads posted over plain
//! HTTP/1.1 to a receiver started for a test namespace.

use super::{Controller, Env, GitDaemon};
use crate::support::site::Site;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zentoo::api::GentooSite;
use zentoo::controller::context::Settings;
use zentoo::controller::webhook::verify::sign;

/// The webhook secret of site `demo` in these tests.
pub const SECRET: &str = "webhook-test-secret";

/// Posts `body` to `path` over a plain HTTP/1.1 connection and returns the status code.
/// Reads while writing, so a server that answers before the body is sent is heard.
pub async fn post(addr: SocketAddr, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    post_with(addr, path, headers, body, false).await
}

pub async fn post_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    chunked: bool,
) -> u16 {
    let stream = TcpStream::connect(addr).await.expect("connect to receiver");
    let (mut read, mut write) = stream.into_split();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
    );
    if chunked {
        head += "Transfer-Encoding: chunked\r\n";
    } else {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        if chunked {
            for part in body.chunks(64 * 1024) {
                write
                    .write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .await?;
                write.write_all(part).await?;
                write.write_all(b"\r\n").await?;
            }
            write.write_all(b"0\r\n\r\n").await?;
        } else {
            write.write_all(&body).await?;
        }
        write.flush().await?;
        // Keep the write side open: hyper closes a half-closed connection without answering.
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::io::Error>(write)
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                response.extend_from_slice(&buf[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"))
}

/// GitHub-style headers for `body`, signed with `secret`.
pub fn github(
    event: &str,
    delivery: &str,
    secret: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("X-GitHub-Event", event.to_string()),
        ("X-GitHub-Delivery", delivery.to_string()),
        (
            "X-Hub-Signature-256",
            format!("sha256={}", sign(secret.as_bytes(), body)),
        ),
    ]
}

/// A push payload of `git_ref` (always the same commit: see [`push_of`]).
pub fn push_body(git_ref: &str) -> Vec<u8> {
    push_of(git_ref, "1111111111111111111111111111111111111111")
}

/// The payload of a push of `after` to `git_ref`: like a git host's, different for every
/// commit (the receiver refuses a body it has seen as a replay).
pub fn push_of(git_ref: &str, after: impl std::fmt::Display) -> Vec<u8> {
    serde_json::json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000000",
        "after": after.to_string(),
        "repository": {"full_name": "zentoo/site", "default_branch": "main"},
    })
    .to_string()
    .into_bytes()
}

/// Creates Secret `demo-webhook` holding [`SECRET`] under the key the receiver reads.
pub async fn create_webhook_secret(ns: &crate::support::TestNamespace) {
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "demo-webhook"},
        "stringData": {"token": SECRET},
    }))
    .expect("secret object");
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
}

/// Like [`super::setup`], with the controller's webhook receiver on a free loopback port (its
/// settings changed by `configure`) and site `demo` verifying deliveries with [`SECRET`];
/// returns the receiver's address once it accepts connections.
pub async fn setup_hooked(
    kube: &crate::support::Kube,
    prefix: &str,
    tuples: &str,
    interval: &str,
    configure: impl FnOnce(&mut Settings),
) -> (Env, SocketAddr) {
    let ns = kube.namespace(prefix).await;
    super::install_crds(&ns).await;
    create_webhook_secret(&ns).await;
    let repo = Site::standard(tuples);
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let addr = super::free_loopback_addr();
    let controller = Controller::start_configured(&ns, &cache, |s| {
        s.webhook_addr = Some(addr);
        configure(s);
    })
    .await;
    let mut site = super::site_object("demo", &git.url, interval);
    site.spec.source.webhook_secret_ref =
        serde_json::from_value(serde_json::json!({"name": "demo-webhook"}))
            .expect("secret reference");
    super::create_site(&ns, &site).await;
    wait_listening(addr).await;
    (
        Env {
            controller: Some(controller),
            git,
            repo,
            cache,
            ns,
        },
        addr,
    )
}

/// Waits (at most 10 s) until something accepts connections on `addr`.
pub async fn wait_listening(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {addr} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The inputs digest the controller should arrive at for `tuple`: the site repository as it is
/// now, planned with the site's options (the controller's own functions).
pub async fn expected_digest(env: &Env, tuple: &str) -> String {
    use zentoo::site::{ReadOptions, SiteRepo};
    let site = env.ns.api::<GentooSite>().get("demo").await.expect("site");
    let options = zentoo::controller::spec::plan_options(&site, Default::default());
    let repo = SiteRepo::open(env.repo.path()).expect("open site");
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("read site");
    let plan = zentoo::plan::plan_site(&snapshot, &options);
    crate::support::site::digest(&plan, tuple)
}
