//! Observability against the real control plane: `/readyz` turns ready once the caches are
//! synced, and `/metrics` counts reconciles and builds as a site is built.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_get(addr, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_a_site_is_reconciled_and_built() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-metrics").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port");
    let _controller = Controller::start_with_metrics(&ns, &cache, Some(addr)).await;

    let ready = eventually(&ns, T, "/readyz to answer 200", || async {
        get(addr, "/readyz").await.filter(|(code, _)| *code == 200)
    })
    .await;
    assert_eq!(ready.1, "ok");
    assert_eq!(get(addr, "/healthz").await.map(|r| r.0), Some(200));
    let (_, before) = get(addr, "/metrics").await.expect("/metrics answers");
    assert_eq!(
        sample(&before, "zentoo_builds_started_total"),
        0.0,
        "{before}"
    );

    create_site(&ns, &site_object("demo", &git.url, "1m")).await;
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(&ns, &image, 1).await.remove(0);
    finish_build(
        &ns,
        &kube::ResourceExt::name_any(&job),
        &format!("sha256:{:064}", 7),
    )
    .await;
    wait_ready(&ns, &image, "True", Some("BuildSucceeded")).await;

    let text = eventually(&ns, T, "the build counted in /metrics", || async {
        let (code, text) = get(addr, "/metrics").await?;
        (code == 200 && sample(&text, r#"zentoo_builds_total{result="Succeeded"}"#) >= 1.0)
            .then_some(text)
    })
    .await;
    for (series, at_least) in [
        (
            r#"zentoo_reconciles_total{kind="GentooSite",result="success"}"#,
            1.0,
        ),
        (
            r#"zentoo_reconciles_total{kind="GentooImage",result="success"}"#,
            1.0,
        ),
        (
            r#"zentoo_reconcile_duration_seconds_count{kind="GentooImage"}"#,
            1.0,
        ),
        ("zentoo_builds_started_total", 1.0),
        ("zentoo_binpkg_hits_total", 1.0),
        ("zentoo_packages_compiled_total", 3.0),
    ] {
        assert!(
            sample(&text, series) >= at_least,
            "{series} < {at_least} in\n{text}"
        );
    }
    assert_eq!(sample(&text, "zentoo_builds_started_total"), 1.0, "{text}");
    for name in [ns.name.as_str(), image.as_str(), "demo"] {
        assert!(
            !text.contains(name),
            "object name {name} in metrics:\n{text}"
        );
    }
}
