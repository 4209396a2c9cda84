//! The dashboard in a real browser: the controller (with the chart's namespaced rights)
//! serves it from its caches on loopback, with a token; headless Chromium (Debian's
//! `chromium-headless-shell`, installed by `scripts/test.sh`) loads it with the token, runs its
//! script, and the rendered DOM shows each image's standing, why it was built and its failed
//! build's step and message. A screenshot is kept in `target/test-artifacts/dashboard.png`.

use crate::support;
use crate::support::controller::*;
use kube::ResourceExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;
use zentoo::api::GentooImage;
use zentoo::render::names::image_name;

/// The browser `scripts/test.sh` installs (or `$CHROMIUM`).
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium-headless-shell".into())
}

/// Runs headless Chromium (as root: without its sandbox) with `args`; its stdout.
fn browse(args: &[&str]) -> String {
    let out = Command::new(chromium())
        .args(["--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test.sh installs chromium-headless-shell)",
                chromium()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rendered DOM of `url` once its scripts ran.
fn dom(url: &str) -> String {
    browse(&["--virtual-time-budget=3000", "--dump-dom", url])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_in_a_real_browser_with_why_and_failures() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("dash").await;
    install_crds(&ns).await;
    let repo = support::site::Site::standard("desktop-none-kde\nserver-none-web\n");
    let git = GitDaemon::serve(&repo);
    let cache = TempDir::new().expect("cache dir");
    let addr = free_loopback_addr();
    let token = support::unique("token");
    let token_ = token.clone();
    let _controller = Controller::start_configured(&ns, &cache, move |s| {
        s.dashboard_addr = Some(addr);
        s.dashboard_token = Some(token_);
    })
    .await;
    create_site(&ns, &site_object("demo", &git.url, "1s")).await;
    let [kde, web] = ["desktop-none-kde", "server-none-web"].map(|t| image_name("demo", t));
    let built = wait_jobs(&ns, &kde, 1).await.remove(0);
    finish_build(&ns, &built.name_any(), "sha256:01").await;
    let failed = wait_jobs(&ns, &web, 1).await.remove(0);
    fail_build(
        &ns,
        &failed.name_any(),
        "build",
        "emerging www-servers/nginx-1.24.0: compile phase failed",
    )
    .await;
    wait_ready(&ns, &kde, "True", None).await;
    wait_ready(&ns, &web, "False", Some("BuildFailed")).await;

    // Without the token: nothing.
    let (code, body) = http_get(addr, "/").await.expect("the dashboard answers");
    assert_eq!(code, 401, "{body}");

    // The overview, rendered by the browser: given the token once, it keeps it in a cookie
    // through the redirect; its script ran (allowed by the page's own CSP).
    let base = format!("http://{addr}");
    let page = dom(&format!("{base}/?token={token}"));
    assert!(
        page.contains(r#"data-live="polling""#),
        "the script ran: {page}"
    );
    assert!(page.contains("1 sites, 2 images, 1 ready"), "{page}");
    for name in [&kde, &web] {
        assert!(
            page.contains(&format!(r#"<a href="image/{}/{name}">{name}</a>"#, ns.name)),
            "{name}: {page}"
        );
    }
    assert!(page.contains("<td>Created</td>"), "why: {page}");
    assert!(page.contains("BuildFailed: step build failed"), "{page}");

    // The failed image's page: its history names the step and the log's end.
    let detail = dom(&format!("{base}/image/{}/{web}?token={token}", ns.name));
    assert!(detail.contains("<td>Failed (build)</td>"), "{detail}");
    assert!(
        detail.contains("emerging www-servers/nginx-1.24.0: compile phase failed"),
        "{detail}"
    );
    assert!(
        detail.contains("<strong>Created</strong>: the image's first build"),
        "{detail}"
    );
    assert!(detail.contains(r#"<svg id="chart""#), "{detail}");

    // A screenshot, kept for people to look at.
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    browse(&[
        "--window-size=1400,900",
        &format!("--screenshot={}", shot.display()),
        &format!("{base}/?token={token}"),
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    // Live: the version the pages poll moves when an image changes.
    let authorization = format!("Authorization: Bearer {token}");
    let version = || async {
        match http_get_with(addr, "/version", &[&authorization]).await {
            Some((200, body)) => body,
            other => panic!("/version: {other:?}"),
        }
    };
    let before = version().await;
    assert_eq!(before.len(), 64, "{before}");
    merge(
        &ns.api::<GentooImage>(),
        &web,
        serde_json::json!({"metadata": {"annotations": {"zentoo.dev/rebuild-requested-at": "1"}}}),
    )
    .await;
    eventually(&ns, Duration::from_secs(30), "a new version", || async {
        let now = version().await;
        (now.len() == 64 && now != before).then_some(())
    })
    .await;
}
