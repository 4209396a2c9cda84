//! The controller as the ServiceAccount of the rendered chart (manifests/zentoo-namespaced.yaml),
//! against the real control plane: its rights are enough for a whole build, distcc workers
//! included, build pods run as the ServiceAccount without rights, and `kubectl auth can-i`
//! agrees it can do no more.

mod ctlsupport;
mod fixture;
mod support;

use ctlsupport::*;
use fixture::Site;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::time::Duration;
use support::kube::TestNamespace;
use zentoo::api::GentooSite;
use zentoo::render::names::image_name;

/// Applies the RBAC of `manifests/zentoo-namespaced.yaml` (rendered from the chart) with `ns`
/// as both the install and the watched namespace: ServiceAccounts `zentoo` and `zentoo-build`,
/// the controller's Role and the leader-election Role, and their bindings.
async fn install_rbac(ns: &TestNamespace) {
    let docs = support::manifests::namespaced_rbac(&ns.name, &ns.name);
    let kinds: Vec<&str> = docs.iter().map(support::manifests::kind).collect();
    assert!(
        kinds.contains(&"Role")
            && kinds.contains(&"RoleBinding")
            && kinds.contains(&"ServiceAccount"),
        "manifests/zentoo-namespaced.yaml lacks RBAC documents: {kinds:?}"
    );
    for doc in &docs {
        support::manifests::apply(&ns.client, doc, false).await;
    }
}

/// `kubectl auth can-i VERB RESOURCE -n NAMESPACE --as=USER`: whether the answer is yes.
fn can_i(user: &str, verb: &str, resource: &str, namespace: &str) -> bool {
    let kubectl = std::env::var("ZENTOO_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = std::process::Command::new(&kubectl)
        .args(["auth", "can-i", verb, resource, "-n", namespace])
        .arg(format!("--as={user}"))
        .output()
        .unwrap_or_else(|e| panic!("run {kubectl}: {e}"));
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl auth can-i {verb} {resource}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
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

    // What it may do, as `kubectl auth can-i --as=` sees it.
    let other = kube.namespace("ctl-rbac-other").await;
    let controller = format!("system:serviceaccount:{}:zentoo", ns.name);
    let build = format!("system:serviceaccount:{}:zentoo-build", ns.name);
    let checks: &[(&str, &str, &str, &str, bool)] = &[
        (&controller, "create", "jobs.batch", &ns.name, true),
        (
            &controller,
            "patch",
            "gentooimages.zentoo.dev/status",
            &ns.name,
            true,
        ),
        (&controller, "get", "secrets", &ns.name, true),
        (
            &controller,
            "update",
            "leases.coordination.k8s.io",
            &ns.name,
            true,
        ),
        (&controller, "list", "secrets", &ns.name, false),
        (&controller, "create", "pods", &ns.name, false),
        (&controller, "get", "secrets", &other.name, false),
        (&controller, "create", "jobs.batch", &other.name, false),
        (
            &controller,
            "list",
            "gentoosites.zentoo.dev",
            &other.name,
            false,
        ),
        (&build, "get", "pods", &ns.name, false),
        (&build, "get", "secrets", &ns.name, false),
        (&build, "get", "gentooimages.zentoo.dev", &ns.name, false),
        (&build, "get", "leases.coordination.k8s.io", &ns.name, false),
    ];
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(user, verb, resource, namespace, want)| {
            can_i(user, verb, resource, namespace) != *want
        })
        .map(|(user, verb, resource, namespace, want)| {
            format!("{user} {verb} {resource} -n {namespace}: expected {want}")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "RBAC is not as intended:\n{}",
        wrong.join("\n")
    );
}
