//! The Helm chart and the manifests rendered from it: `manifests/` is not stale, the chart's
//! CRDs are `crds/`, the Deployment's flags exist, and — applied to the real control plane —
//! the RBAC gives the controller exactly what it needs and build pods nothing.

use crate::support;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use std::path::Path;
use std::process::Command;
use support::manifests::{BUILDS_NAMESPACE, SYSTEM_NAMESPACE, apply, documents, kind};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_chart_crds_are_the_generated_ones() {
    for name in [
        "gentoosites.zentoo.dev.yaml",
        "gentooimages.zentoo.dev.yaml",
    ] {
        let generated = std::fs::read_to_string(root().join("crds").join(name)).expect("crds/");
        let charted = std::fs::read_to_string(root().join("charts/zentoo/crds").join(name))
            .expect("charts/zentoo/crds/");
        assert!(
            generated == charted,
            "charts/zentoo/crds/{name} differs from crds/{name}: run scripts/render-manifests.sh"
        );
    }
}

#[test]
fn the_chart_lints_and_manifests_are_fresh() {
    let Some(helm) = support::helm() else {
        return;
    };
    let lint = Command::new(&helm)
        .arg("lint")
        .arg(root().join("charts/zentoo"))
        .output()
        .expect("run helm lint");
    assert!(
        lint.status.success(),
        "helm lint:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let out = tempfile::TempDir::new().expect("temp dir");
    let render = Command::new("bash")
        .arg(root().join("scripts/render-manifests.sh"))
        .arg(out.path())
        .env("HELM", &helm)
        .output()
        .expect("run scripts/render-manifests.sh");
    assert!(
        render.status.success(),
        "render-manifests.sh: {}",
        String::from_utf8_lossy(&render.stderr)
    );
    for name in ["zentoo.yaml", "zentoo-namespaced.yaml"] {
        let fresh = std::fs::read_to_string(out.path().join(name)).expect("rendered");
        let committed =
            std::fs::read_to_string(root().join("manifests").join(name)).unwrap_or_default();
        assert!(
            fresh == committed,
            "manifests/{name} is stale: run scripts/render-manifests.sh"
        );
    }
}

#[test]
fn the_deployment_passes_only_flags_the_controller_has() {
    let help = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["controller", "--help"])
        .output()
        .expect("run zentoo controller --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for manifest in ["zentoo.yaml", "zentoo-namespaced.yaml"] {
        let docs = documents(manifest, &[]);
        let deployment = docs
            .iter()
            .find(|d| kind(d) == "Deployment")
            .expect("a Deployment");
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args");
        assert_eq!(args[0], "controller");
        for arg in args.iter().skip(1).filter_map(|a| a.as_str()) {
            let flag = arg.split('=').next().unwrap_or(arg);
            assert!(
                help.contains(flag),
                "{manifest}: {flag} is not a flag:\n{help}"
            );
        }
    }
}

/// Whether `user` may `verb` `resource` (`group/resource[/subresource]`) in `namespace`.
async fn can(
    client: &kube::Client,
    user: &str,
    verb: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    let (group, rest) = resource.split_once('/').unwrap_or(("", resource));
    let (resource, subresource) = match rest.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (rest, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    api.create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_rbac_gives_the_controller_what_it_uses_and_builds_nothing() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    kube.install_crds().await;
    let system = kube.namespace("inst-sys").await;
    let builds = kube.namespace("inst-builds").await;
    let other = kube.namespace("inst-other").await;
    let client = &kube.client;

    // Every namespace: a dry run (its ClusterRole and -Binding would be shared by every run).
    for doc in documents("zentoo.yaml", &[(SYSTEM_NAMESPACE, &system.name)]) {
        if kind(&doc) != "CustomResourceDefinition" {
            apply(client, &doc, true).await;
        }
    }
    // One namespace: applied for real into the temp namespaces.
    for doc in documents(
        "zentoo-namespaced.yaml",
        &[
            (SYSTEM_NAMESPACE, &system.name),
            (BUILDS_NAMESPACE, &builds.name),
        ],
    ) {
        if kind(&doc) != "CustomResourceDefinition" {
            apply(client, &doc, false).await;
        }
    }

    let controller = format!("system:serviceaccount:{}:zentoo", system.name);
    let build = format!("system:serviceaccount:{}:zentoo-build", builds.name);
    let (b, o, s) = (
        builds.name.as_str(),
        other.name.as_str(),
        system.name.as_str(),
    );
    let expectations: &[(&str, &str, &str, &str, bool)] = &[
        (&controller, "list", "zentoo.dev/gentooimages", b, true),
        (&controller, "watch", "zentoo.dev/gentoosites", b, true),
        (
            &controller,
            "patch",
            "zentoo.dev/gentooimages/status",
            b,
            true,
        ),
        (&controller, "delete", "zentoo.dev/gentooimages", b, true),
        (&controller, "create", "batch/jobs", b, true),
        (&controller, "list", "/pods", b, true),
        (&controller, "create", "/persistentvolumeclaims", b, true),
        (&controller, "patch", "/services", b, true),
        (&controller, "create", "events.k8s.io/events", b, true),
        (&controller, "get", "/secrets", b, true),
        (&controller, "patch", "coordination.k8s.io/leases", s, true),
        (
            &controller,
            "update",
            "coordination.k8s.io/leases",
            s,
            false,
        ),
        (&controller, "patch", "zentoo.dev/gentoosites", b, false),
        // Nothing it does not use, nothing outside the watched namespace.
        (&controller, "list", "/secrets", b, false),
        (&controller, "get", "/secrets", o, false),
        (&controller, "list", "zentoo.dev/gentooimages", o, false),
        (&controller, "create", "batch/jobs", o, false),
        (&controller, "delete", "/pods", b, false),
        (&controller, "create", "/pods", b, false),
        (&controller, "update", "zentoo.dev/gentoosites", b, false),
        (&controller, "delete", "/persistentvolumeclaims", b, false),
    ];
    let mut wrong = Vec::new();
    for (user, verb, resource, ns, want) in expectations {
        if can(client, user, verb, resource, ns).await != *want {
            wrong.push(format!("{user} {verb} {resource} in {ns}: expected {want}"));
        }
    }
    for (verb, resource) in [
        ("get", "/pods"),
        ("list", "/secrets"),
        ("get", "/secrets"),
        ("create", "batch/jobs"),
        ("get", "zentoo.dev/gentooimages"),
        ("list", "zentoo.dev/gentoosites"),
        ("create", "events.k8s.io/events"),
        ("get", "coordination.k8s.io/leases"),
    ] {
        if can(client, &build, verb, resource, b).await {
            wrong.push(format!("{build} may {verb} {resource}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "RBAC is not as intended:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_chart_runs_the_zentoo_image_of_this_version_for_the_controller_and_builds() {
    let chart =
        std::fs::read_to_string(root().join("charts/zentoo/Chart.yaml")).expect("Chart.yaml");
    assert!(
        chart.contains(&format!("appVersion: \"{}\"", env!("CARGO_PKG_VERSION"))),
        "charts/zentoo/Chart.yaml appVersion is not the crate's version {}",
        env!("CARGO_PKG_VERSION")
    );
    for manifest in ["zentoo.yaml", "zentoo-namespaced.yaml"] {
        let docs = documents(manifest, &[]);
        let deployment = docs
            .iter()
            .find(|d| kind(d) == "Deployment")
            .expect("a Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], zentoo::DEFAULT_IMAGE, "{manifest}");
        let steps_image = format!("--zentoo-image={}", zentoo::DEFAULT_IMAGE);
        assert!(
            container["args"]
                .as_array()
                .expect("args")
                .iter()
                .any(|a| a.as_str() == Some(&steps_image)),
            "{manifest}: the build steps' image is not the controller's"
        );
    }
}
