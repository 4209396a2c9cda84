//! Secrets never leave the Secret: a reconcile against the real control plane with known
//! credential values (git token and ssh key, registry password, webhook token), a git server
//! that asks for the credentials and refuses them, a build run to the end and webhook deliveries
//! good and bad; then everything zentoo wrote — its logs at the most verbose level, Events,
//! site and image status, the Jobs and Pods it rendered — is searched for those values.

mod ctlsupport;
mod fixture;
mod support;

use ctlsupport::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Event, Pod, Secret};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use std::io::Write;
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
/// Stands for an armored private key (its content never matters to the controller).
const SIGNING_KEY: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nzt-signing-key-material-31c4\n-----END PGP PRIVATE KEY BLOCK-----\n";

/// Everything the controller logs, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

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

/// An HTTP git server that wants basic auth and refuses whatever it is given; returns its URL
/// and the Authorization headers it received.
async fn refusing_git_server() -> (String, Arc<Mutex<Vec<String>>>) {
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
                let text = String::from_utf8_lossy(&head).into_owned();
                for line in text.lines() {
                    if line.to_ascii_lowercase().starts_with("authorization:")
                        && let Ok(mut seen) = log.lock()
                    {
                        seen.push(line.to_string());
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"zt\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (format!("http://{addr}/site.git"), seen)
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
    // Installed before the controller's own (which then stays out): everything at trace
    // level for zentoo, debug for the libraries, into a buffer.
    let captured = Captured::default();
    let writer = captured.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,zentoo=trace"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init();

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

    let repo = fixture::Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let (refusing_url, authorizations) = refusing_git_server().await;
    let cache = tempfile::TempDir::new().expect("cache dir");
    let addr = free_loopback_addr();
    let controller =
        Controller::start_configured(&ns, &cache, |s| s.webhook_addr = Some(addr)).await;
    let with_secrets = |name: &str, url: &str| -> GentooSite {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooSite",
            "metadata": {"name": name},
            "spec": {
                "source": {
                    "url": url, "interval": "1h",
                    "secretRef": {"name": "git-creds"},
                    "webhookSecretRef": {"name": "webhook"},
                },
                "storage": {"binpkgSigning": {"secretRef": {"name": "binpkg-signing"}}},
                "imageDefaults": {
                    "registry": "127.0.0.1:5000/zentoo",
                    "registrySecretRef": {"name": "registry-creds"},
                },
            },
        }))
        .expect("site object")
    };
    create_site(&ns, &with_secrets("demo", &git.url)).await;
    create_site(&ns, &with_secrets("refused", &refusing_url)).await;

    // The refused site: the server asked, got the credentials, refused them.
    let sites = ns.api::<GentooSite>();
    let refused = eventually(
        &ns,
        Duration::from_secs(60),
        "the refused site's failure",
        || async {
            let site = sites.get("refused").await.ok()?;
            let (status, reason, message) = site
                .status
                .as_ref()?
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))?;
            (status == "False" && reason == "FetchFailed").then_some(message)
        },
    )
    .await;
    assert!(refused.contains(&refusing_url), "{refused}");
    let sent = authorizations.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(
        sent.iter()
            .any(|h| h.contains(&b64(&format!("{GIT_USER}:{GIT_TOKEN}")))),
        "the git server never received the credentials, so this test proves nothing: {sent:?}"
    );

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
    ctlsupport::hooks::wait_listening(addr).await;
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
    drop(controller);

    // Now search everything.
    let logs = captured.text();
    assert!(
        logs.contains("build created") && logs.contains("refused"),
        "the log capture missed the controller's lines:\n{logs}"
    );
    assert_clean("the controller's logs", &logs);
    let lp = ListParams::default();
    let events = ns.api::<Event>().list(&lp).await.expect("events").items;
    assert!(!events.is_empty(), "no events to check");
    assert_clean("Events", &json(&events));
    for site in sites.list(&lp).await.expect("sites").items {
        assert_clean(&format!("GentooSite {}", site.name_any()), &json(&site));
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
