//! The controller as the ServiceAccount of manifests/rbac.yaml, against the real control plane:
//! its rights are enough for a whole build, distcc workers included, and build pods run as
//! the ServiceAccount without rights.

mod ctlsupport;
mod fixture;
mod support;

use ctlsupport::*;
use fixture::Site;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, ResourceExt};
use std::time::Duration;
use support::kube::TestNamespace;
use zentoo::api::GentooSite;
use zentoo::render::names::image_name;

const MANAGER: &str = "zentoo-tests";

/// Applies manifests/rbac.yaml (ServiceAccounts into `ns`) and binds the role in `ns`.
async fn install_rbac(ns: &TestNamespace) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/rbac.yaml"))
        .expect("manifests/rbac.yaml");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("rbac yaml");
    let pp = PatchParams::apply(MANAGER).force();
    for doc in docs {
        let name = doc["metadata"]["name"].as_str().expect("name").to_string();
        match doc["kind"].as_str() {
            Some("ServiceAccount") => ns
                .api::<ServiceAccount>()
                .patch(&name, &pp, &Patch::Apply(&doc))
                .await
                .map(|_| ()),
            Some("ClusterRole") => Api::<ClusterRole>::all(ns.client.clone())
                .patch(&name, &pp, &Patch::Apply(&doc))
                .await
                .map(|_| ()),
            other => panic!("unexpected kind {other:?} in manifests/rbac.yaml"),
        }
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }
    let binding = serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "zentoo"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "zentoo-controller"},
        "subjects": [{"kind": "ServiceAccount", "name": "zentoo", "namespace": ns.name}],
    });
    ns.api::<RoleBinding>()
        .patch("zentoo", &pp, &Patch::Apply(&binding))
        .await
        .expect("apply RoleBinding");
}

/// A client that acts as ServiceAccount `sa` of `ns`.
async fn client_as(ns: &TestNamespace, sa: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(&ns.kubeconfig).expect("kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{}:{sa}", ns.name));
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_builds_with_only_the_rights_of_its_role() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-rbac").await;
    install_crds(&ns).await;
    install_rbac(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache");
    let client = client_as(&ns, "zentoo").await;
    let _controller = Controller::start_with(client, &ns, &cache, Some("zentoo-build"));
    let mut site = site_object("demo", &git.url, "1m");
    site.spec.image_defaults.distcc = Some(zentoo::api::site::DistccSpec {
        workers_per_arch: 2,
        resources: None,
    });
    ns.api::<GentooSite>()
        .create(&Default::default(), &site)
        .await
        .expect("create site");

    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(&ns, &image, 1).await.remove(0);
    let pod = build_pod(&ns, &job.name_any()).await;
    let spec = pod.spec.clone().expect("pod spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("zentoo-build"));
    assert_eq!(spec.automount_service_account_token, Some(false));

    // distcc workers: a headless Service and a StatefulSet, owned by the build Job.
    let selector = format!(
        "zentoo.dev/build={},zentoo.dev/component=distcc",
        job.name_any()
    );
    let lp = ListParams::default().labels(&selector);
    let services = ns.api::<Service>();
    let sets = ns.api::<StatefulSet>();
    let (svc, set) = eventually(
        &ns,
        Duration::from_secs(30),
        "distcc Service and StatefulSet",
        || async {
            let svc = services.list(&lp).await.ok()?.items.into_iter().next()?;
            let set = sets.list(&lp).await.ok()?.items.into_iter().next()?;
            Some((svc, set))
        },
    )
    .await;
    assert_eq!(
        svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()),
        Some("None")
    );
    for owners in [svc.owner_references(), set.owner_references()] {
        assert!(
            owners
                .iter()
                .any(|o| o.kind == "Job" && o.name == job.name_any()),
            "{owners:?}"
        );
    }
    assert_eq!(set.spec.replicas, Some(2));

    finish_build(&ns, &job.name_any(), "sha256:cc").await;
    let done = wait_ready(&ns, &image, "True", None).await;
    assert_eq!(
        done.status
            .and_then(|s| s.last_successful_build)
            .and_then(|b| b.image_digest)
            .as_deref(),
        Some("sha256:cc")
    );
    eventually(
        &ns,
        Duration::from_secs(30),
        "distcc workers removed after the build",
        || async {
            let left =
                services.list(&lp).await.ok()?.items.len() + sets.list(&lp).await.ok()?.items.len();
            (left == 0).then_some(())
        },
    )
    .await;
    let _ = ns.api::<Pod>();
}
