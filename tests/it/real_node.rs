//! The cluster path with nothing simulated, on the harness's real node `real-1` (a kubelet with
//! containerd): the zentoo image and the test stage3 in the registry, the chart installed with
//! `helm install`, the controller running there as a pod under the chart's ServiceAccount, a
//! GentooImage applied with `kubectl`, and its build Job's pod (materialize, Gentoo's real
//! `emerge` in the test stage3, assemble, publish) run by the kubelet on real PVCs into the
//! registry. Then what operators do to a running build: read a step's log, delete the
//! controller's pod.

use crate::support;
use crate::support::controller::*;
use crate::support::real_node::{RealNode, Release, api_port, push_images, real_node_env};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::ListParams;
use std::process::Command;
use std::time::Duration;
use support::engine::{run, run_ok};
use zentoo::api::GentooImage;

/// A cold build on fresh volumes compiles the `web` set: a few minutes on a small machine.
const BUILD_LIMIT: Duration = Duration::from_secs(1200);

/// The chart's values for a release whose controller runs on the real node: on the host's
/// network (the API server, the git daemon and the registry listen on its loopback), bound to
/// loopback, and so are its builds, which push to the plain-HTTP registry.
fn values(node: &RealNode, ns: &str, zentoo: &str, api_port: u16) -> serde_json::Value {
    let (repository, tag) = zentoo.rsplit_once(':').expect("a tag");
    let placement = node.placement();
    serde_json::json!({
        "image": {"repository": repository, "tag": tag},
        "watchNamespace": ns,
        "logFormat": "text",
        "metricsPort": free_loopback_addr().port(),
        "hostNetwork": true,
        "bindAddress": "127.0.0.1",
        "nodeSelector": placement["nodeSelector"],
        "tolerations": placement["tolerations"],
        "controller": {
            "buildJobs": 2,
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": api_port.to_string()},
            ],
        },
        "builds": {"hostNetwork": true, "insecureRegistries": [node.registry]},
    })
}

/// The controller's pods of `release`.
async fn controller_pods(ns: &support::TestNamespace, release: &str) -> Vec<Pod> {
    let lp = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={release},app.kubernetes.io/component=controller"
    ));
    ns.api::<Pod>()
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

fn ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gentoo_image_applied_with_kubectl_is_built_and_pushed_on_a_real_node() {
    let _heavy = support::load::heavy_async().await;
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let (Some(node), Some(helm), Some(_engine)) = (
        real_node_env(),
        support::helm(),
        support::engine_env().await,
    ) else {
        return;
    };
    let reg = node.registry.clone();
    let tag = support::unique("real");
    let (zentoo, stage3) = push_images(&reg, &tag).await;

    let ns = kube.namespace("real").await;
    install_crds(&ns).await;
    let repo = support::site::Site::standard("");
    let git = GitDaemon::serve(&repo);
    let release = Release::install(
        &helm,
        &ns,
        &tag,
        &values(&node, &ns.name, &zentoo, api_port(&ns.kubeconfig)),
    );
    let controller = controller_pods(&ns, &release.name).await;
    assert_eq!(controller.len(), 1, "one controller pod");
    assert_eq!(
        controller[0]
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref()),
        Some(node.name.as_str()),
        "the controller runs on the real node"
    );

    let mut site = site_object("demo", &git.url, "1m");
    site.spec.image_defaults.registry = Some(format!("{reg}/{tag}"));
    site.spec.image_defaults.stage3 = [("amd64".to_string(), stage3.clone())].into();
    create_site(&ns, &site).await;
    // What a user applies.
    let placement = node.placement();
    let image = serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "metadata": {"name": "web", "namespace": ns.name},
        "spec": {
            "siteRef": {"name": "demo"}, "portage": "server", "buildhooks": "nodocs", "set": "web",
            "nodeSelector": placement["nodeSelector"], "tolerations": placement["tolerations"],
        },
    });
    let file = tempfile::NamedTempFile::new().expect("manifest");
    std::fs::write(file.path(), image.to_string()).expect("write manifest");
    node.kubectl(&ns, &["apply", "-f", &file.path().display().to_string()]);

    // The build runs on the node: once its materialize step is done, its log is read through
    // the API server from the kubelet.
    let job = wait_jobs(&ns, "web", 1).await.remove(0);
    let pod = eventually(&ns, BUILD_LIMIT, "the build past materialize", || async {
        let pod = build_pod(&ns, &job.name_any()).await;
        let done = pod
            .status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .and_then(|s| s.iter().find(|c| c.name == "materialize"))
            .and_then(|c| c.state.as_ref()?.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0);
        done.then_some(pod)
    })
    .await;
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(node.name.as_str())
    );
    let log = node.kubectl(&ns, &["logs", &pod.name_any(), "-c", "materialize"]);
    assert!(
        !log.trim().is_empty(),
        "kubectl logs of the materialize step"
    );

    // The controller's pod deleted mid-build: the Deployment starts another, which adopts the
    // running Job instead of starting a second build.
    let old = controller[0].name_any();
    node.kubectl(&ns, &["delete", "pod", &old, "--wait=false"]);
    eventually(
        &ns,
        Duration::from_secs(180),
        "a new controller pod Ready",
        || async {
            let pods = controller_pods(&ns, &release.name).await;
            pods.iter()
                .any(|p| p.name_any() != old && ready(p))
                .then_some(())
        },
    )
    .await;

    let built = eventually(&ns, BUILD_LIMIT, "web Ready=True", || async {
        let img = ns.api::<GentooImage>().get("web").await.ok()?;
        let (status, reason, message) = condition(&img, "Ready")?;
        assert!(
            status != "False" || reason == "Building" || reason == "Pending",
            "web failed: {reason}: {message}"
        );
        (status == "True").then_some(img)
    })
    .await;
    assert_eq!(
        jobs(&ns, "web").await.len(),
        1,
        "the running Job was adopted"
    );
    let status = built.status.expect("status");
    let last = status.last_successful_build.expect("a successful build");
    let reference = format!("{reg}/{tag}/web:latest");
    assert_eq!(last.image.as_deref(), Some(reference.as_str()));
    let inspected = run_ok(
        Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{reference}"),
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(last.image_digest.as_deref(), Some(inspected.trim()));
    assert!(
        last.compiled.unwrap_or_default() > 0,
        "fresh volumes: the build compiled ({:?} compiled, {:?} from binpkgs)",
        last.compiled,
        last.binpkg_hits
    );

    // The published image runs its compiled program.
    let ran = run(
        Command::new("podman").args([
            "run",
            "--rm",
            "--tls-verify=false",
            &reference,
            "/usr/sbin/nginx",
        ]),
        Duration::from_secs(300),
    );
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && out.contains("nginx 1.24.0 (zentoo test build;"),
        "{out} {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let _ = Command::new("podman")
        .args(["rmi", "-f", &reference])
        .output();
    drop(release);
}
