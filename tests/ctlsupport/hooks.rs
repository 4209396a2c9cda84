//! Webhook deliveries as git hosts send them: signed push payloads posted over plain
//! HTTP/1.1 to a receiver started for a test namespace.

use super::Env;
use super::merge;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zentoo::api::GentooSite;
use zentoo::controller::webhook::verify::sign;
use zentoo::controller::webhook::{Receiver, WebhookSettings, serve};

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

pub fn push_body(git_ref: &str) -> Vec<u8> {
    serde_json::json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000000",
        "after": "1111111111111111111111111111111111111111",
        "repository": {"full_name": "zentoo/site", "default_branch": "main"},
    })
    .to_string()
    .into_bytes()
}

/// Creates the webhook Secret, points site `demo` at it and starts a receiver for the
/// namespace on a free loopback port.
pub async fn start_receiver(env: &Env, settings: WebhookSettings) -> SocketAddr {
    let ns = &env.ns;
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
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"source": {"webhookSecretRef": {"name": "demo-webhook"}}}}),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver address");
    let receiver = Arc::new(Receiver::new(
        ns.client.clone(),
        Some(ns.name.clone()),
        settings,
    ));
    tokio::spawn(serve(listener, receiver));
    addr
}

/// The inputs digest the controller should arrive at for `tuple`: the site repository as it is
/// now, planned with the site's options (the controller's own functions).
pub async fn expected_digest(env: &Env, tuple: &str) -> String {
    use zentoo::site::{ReadOptions, SiteRepo};
    let site = env.ns.api::<GentooSite>().get("demo").await.expect("site");
    let options = zentoo::controller::site::plan_options(&site);
    let repo = SiteRepo::open(env.repo.path()).expect("open site");
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("read site");
    let plan = zentoo::plan::plan_site(&snapshot, &options);
    crate::fixture::digest(&plan, tuple)
}
