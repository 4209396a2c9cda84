//! Secrets never leave the Secret: a reconcile against the real control plane with known
//! credential values (git token and ssh key, registry password, webhook token, and credentials
//! written into source URLs), a git server that would ask for them, a build run to the end and
//! webhook deliveries good and bad; then everything zentoo wrote — its logs at the most verbose
//! level, Events, site and image status, the Jobs and Pods it rendered, the image annotations —
//! is searched for those values.
//!
//! Sites that would send credentials where they do not belong are refused before anything is
//! sent: a `secretRef` with an `http://` URL, user info in a URL (`user:password@`, a bare
//! `token@`). A site moved to such a URL after it built builds nothing more.

use crate::support;
use crate::support::controller;
use crate::support::site;

use crate::support::controller::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Event, Pod, Secret};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zentoo::api::{GentooImage, GentooSite};
use zentoo::controller::webhook::verify::sign;
use zentoo::render::names::image_name;

const GIT_USER: &str = "zt-user-3b1f";
const GIT_TOKEN: &str = "zt-git-token-9f8e7d6c5b4a";
const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nzt-ssh-key-material-77aa\n-----END OPENSSH PRIVATE KEY-----\n";
const REGISTRY_PASSWORD: &str = "zt-registry-password-1c2d3e";
const WEBHOOK_TOKEN: &str = "zt-webhook-token-5e6f7a";
/// User info written into source URLs (never to be shown: the whole user info is masked).
const URL_USER: &str = "zt-url-user-2a3b";
const URL_PASSWORD: &str = "zt-url-password-4d5e6f";
const URL_TOKEN: &str = "zt-url-token-8a9b0c";
/// Stands for an armored private key (its content never matters to the controller).
const SIGNING_KEY: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nzt-signing-key-material-31c4\n-----END PGP PRIVATE KEY BLOCK-----\n";

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The secret values and the forms they could leak in (base64 in a Secret-shaped object,
/// `user:password` in a basic-auth header).
fn needles() -> Vec<(String, &'static str)> {
    let registry_auth = format!("zentoo:{REGISTRY_PASSWORD}");
    vec![
        (GIT_TOKEN.into(), "git token"),
        (b64(GIT_TOKEN), "git token (base64)"),
        (b64(&format!("{GIT_USER}:{GIT_TOKEN}")), "git basic auth"),
        ("zt-ssh-key-material-77aa".into(), "ssh key"),
        (b64(SSH_KEY), "ssh key (base64)"),
        (REGISTRY_PASSWORD.into(), "registry password"),
        (b64(&registry_auth), "registry auth"),
        (WEBHOOK_TOKEN.into(), "webhook token"),
        (b64(WEBHOOK_TOKEN), "webhook token (base64)"),
        ("zt-signing-key-material-31c4".into(), "signing key"),
        (b64(SIGNING_KEY), "signing key (base64)"),
        (URL_USER.into(), "user in a URL"),
        (URL_PASSWORD.into(), "password in a URL"),
        (b64(&format!("{URL_USER}:{URL_PASSWORD}")), "URL basic auth"),
        (URL_TOKEN.into(), "token in a URL"),
        (b64(&format!("{URL_TOKEN}:")), "URL token auth"),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for (needle, name) in needles() {
        assert!(
            !text.contains(&needle),
            "{name} leaked into {what}:\n{}",
            text.lines()
                .filter(|l| l.contains(&needle))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

async fn create_secret(ns: &support::TestNamespace, body: serde_json::Value) {
    let secret: Secret = serde_json::from_value(body).expect("secret object");
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
}

/// An HTTP git server that wants basic auth and refuses whatever it is given; returns its
/// address and the heads of the requests it received.
async fn refusing_git_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if let Ok(mut seen) = log.lock() {
                    seen.push(String::from_utf8_lossy(&head).into_owned());
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"zt\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

/// Waits until site `name` is Ready=False and Stalled with `reason`; returns the message.
async fn stalled(ns: &support::TestNamespace, name: &str, reason: &str) -> String {
    let sites = ns.api::<GentooSite>();
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("{name} {reason}"),
        || async {
            let site = sites.get(name).await.ok()?;
            let conditions = &site.status.as_ref()?.conditions;
            let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
            let stalled = conditions.iter().find(|c| c.type_ == "Stalled")?;
            (ready.status == "False" && ready.reason == reason && stalled.status == "True")
                .then(|| ready.message.clone())
        },
    )
    .await
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn mounts(c: &Container) -> Vec<String> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| m.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_logs_events_status_or_rendered_objects() {
    // Everything at trace level for zentoo, debug for the libraries.
    let captured = support::logs::capture().await;

    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("secrets").await;
    install_crds(&ns).await;
    create_secret(
        &ns,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "git-creds"},
            "stringData": {"username": GIT_USER, "token": GIT_TOKEN, "identity": SSH_KEY},
        }),
    )
    .await;
    let docker_config = serde_json::json!({
        "auths": {"127.0.0.1:5000": {"auth": b64(&format!("zentoo:{REGISTRY_PASSWORD}"))}}
    });
    create_secret(
        &ns,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "registry-creds"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": docker_config.to_string()},
        }),
    )
    .await;
    create_secret(
        &ns,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "webhook"},
            "stringData": {"token": WEBHOOK_TOKEN},
        }),
    )
    .await;
    create_secret(
        &ns,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "binpkg-signing"},
            "stringData": {"key": SIGNING_KEY},
        }),
    )
    .await;

    let repo = site::Site::standard("desktop-none-kde\n");
    let (server, requests) = refusing_git_server().await;
    let cache = tempfile::TempDir::new().expect("cache dir");
    let addr = free_loopback_addr();
    // Local sources allowed: the harness has no https or ssh git server, and a Secret goes
    // only with those (or a local source, which uses none of it).
    let controller = Controller::start_configured(&ns, &cache, |s| {
        s.webhook_addr = Some(addr);
        s.allow_local_sources = true;
    })
    .await;
    let site = |name: &str, url: &str, secret: bool| -> GentooSite {
        let mut source = serde_json::json!({
            "url": url, "interval": "1h",
            "webhookSecretRef": {"name": "webhook"},
        });
        if secret {
            source["secretRef"] = serde_json::json!({"name": "git-creds"});
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooSite",
            "metadata": {"name": name},
            "spec": {
                "source": source,
                "storage": {"binpkgSigning": {"secretRef": {"name": "binpkg-signing"}}},
                "imageDefaults": {
                    "registry": "127.0.0.1:5000/zentoo",
                    "registrySecretRef": {"name": "registry-creds"},
                },
            },
        }))
        .expect("site object")
    };
    let local = format!("file://{}", repo.path().display());
    let plain = format!("http://{server}/site.git");
    let with_password = format!("http://{URL_USER}:{URL_PASSWORD}@{server}/site.git");
    let with_token = format!("https://{URL_TOKEN}@{server}/site.git");
    let ssh = "ssh://git@127.0.0.1:1/site.git";
    create_site(&ns, &site("demo", &local, true)).await;
    create_site(&ns, &site("plain", &plain, true)).await;
    create_site(&ns, &site("password", &with_password, false)).await;
    create_site(&ns, &site("token", &with_token, false)).await;
    create_site(&ns, &site("ssh", ssh, true)).await;

    // A Secret over http:// is refused, naming the Secret and what to use instead.
    let message = stalled(&ns, "plain", "SpecInvalid").await;
    assert!(
        message.starts_with("spec.source.secretRef: `git-creds`")
            && message.contains(&plain)
            && message.contains("unencrypted")
            && message.contains("https://"),
        "{message}"
    );
    // Credentials in a URL are refused, the URL shown without them.
    for (name, shown) in [
        ("password", format!("http://***@{server}/site.git")),
        ("token", format!("https://***@{server}/site.git")),
    ] {
        let message = stalled(&ns, name, "SpecInvalid").await;
        assert!(
            message.contains(&shown) && message.contains("spec.source.secretRef"),
            "{name}: {message}"
        );
    }
    // A login name is no credential: an ssh URL with `git@` is accepted and shown as it is.
    let sites = ns.api::<GentooSite>();
    let fetching = eventually(
        &ns,
        Duration::from_secs(60),
        "the ssh site's fetch",
        || async {
            let site = sites.get("ssh").await.ok()?;
            let ready = site
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.status == "False" && ready.reason == "FetchFailed").then_some(ready.message)
        },
    )
    .await;
    assert!(fetching.contains(ssh), "{fetching}");

    // The good site builds; its Job names the Secrets and holds none of their values.
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(&ns, &image, 1).await.remove(0);
    let pod = build_pod(&ns, &job.name_any()).await;
    let spec = pod.spec.clone().expect("pod spec");
    assert_eq!(spec.automount_service_account_token, Some(false));
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let m = mounts(c);
        assert_eq!(
            m.contains(&"git-credentials".to_string()),
            c.name == "materialize",
            "{}: {m:?}",
            c.name
        );
        assert_eq!(
            m.contains(&"registry-credentials".to_string()),
            c.name == "publish",
            "{}: {m:?}",
            c.name
        );
        // The signing key: the sign step alone; the build step runs the site's hooks.
        assert_eq!(
            m.contains(&"binpkg-signing".to_string()),
            c.name == "sign",
            "{}: {m:?}",
            c.name
        );
        for e in c.env.iter().flatten() {
            assert!(
                e.value_from
                    .as_ref()
                    .is_none_or(|v| v.secret_key_ref.is_some()),
                "{}: {e:?}",
                c.name
            );
        }
    }

    // Webhook deliveries, one forged and one signed.
    controller::hooks::wait_listening(addr).await;
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "after": "1111111111111111111111111111111111111111",
        "repository": {"full_name": "zentoo/site", "default_branch": "main"},
    })
    .to_string()
    .into_bytes();
    let path = format!("/hooks/{}/demo", ns.name);
    let header = |secret: &str, id: &str| {
        vec![
            ("X-GitHub-Event", "push".to_string()),
            ("X-GitHub-Delivery", id.to_string()),
            (
                "X-Hub-Signature-256",
                format!("sha256={}", sign(secret.as_bytes(), &body)),
            ),
        ]
    };
    assert_eq!(post(addr, &path, &header("wrong", "d-1"), &body).await, 401);
    assert_eq!(
        post(addr, &path, &header(WEBHOOK_TOKEN, "d-2"), &body).await,
        202
    );

    finish_build(&ns, &job.name_any(), "sha256:5ec7e75").await;
    wait_ready(&ns, &image, "True", None).await;

    // The built site moves to a URL with credentials in it: refused; its image, asked to
    // rebuild, starts no Job (which would carry the URL) and says why.
    let moved = format!("https://{URL_USER}:{URL_PASSWORD}@{server}/site.git");
    let merge = |value: serde_json::Value| Patch::Merge(value);
    sites
        .patch(
            "demo",
            &PatchParams::default(),
            &merge(serde_json::json!({"spec": {"source": {"url": moved}}})),
        )
        .await
        .expect("move the site");
    let message = stalled(&ns, "demo", "SpecInvalid").await;
    assert!(message.contains("holds credentials"), "{message}");
    ns.api::<GentooImage>()
        .patch(
            &image,
            &PatchParams::default(),
            &merge(serde_json::json!({"metadata": {"annotations": {
                zentoo::api::annotations::REBUILD_REQUESTED_AT: "moved",
            }}})),
        )
        .await
        .expect("request a rebuild");
    let waiting = wait_ready(&ns, &image, "False", Some("SiteNotReady")).await;
    let (_, _, message) = condition(&waiting, "Ready").expect("Ready");
    assert!(
        message.starts_with("GentooSite demo: spec.source.url: `https://***@"),
        "{message}"
    );
    assert_eq!(jobs(&ns, &image).await.len(), 1, "a build was started");
    drop(controller);
    let sent = requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert!(
        sent.is_empty(),
        "the refused sites reached the git server: {sent:?}"
    );

    // Now search everything.
    let logs = captured.text();
    assert!(
        logs.contains("build created") && logs.contains("holds credentials"),
        "the log capture missed the controller's lines:\n{logs}"
    );
    assert_clean("the controller's logs", &logs);
    let lp = ListParams::default();
    let events = ns.api::<Event>().list(&lp).await.expect("events").items;
    assert!(!events.is_empty(), "no events to check");
    assert_clean("Events", &json(&events));
    // A site's spec is what its author wrote (URLs with credentials included): what zentoo
    // wrote is its status.
    for site in sites.list(&lp).await.expect("sites").items {
        assert_clean(
            &format!("GentooSite {} status", site.name_any()),
            &json(&site.status),
        );
    }
    for image in ns
        .api::<GentooImage>()
        .list(&lp)
        .await
        .expect("images")
        .items
    {
        assert_clean(&format!("GentooImage {}", image.name_any()), &json(&image));
    }
    for job in ns.api::<Job>().list(&lp).await.expect("jobs").items {
        assert_clean(&format!("Job {}", job.name_any()), &json(&job));
    }
    for pod in ns.api::<Pod>().list(&lp).await.expect("pods").items {
        assert_clean(&format!("Pod {}", pod.name_any()), &json(&pod));
    }
}
