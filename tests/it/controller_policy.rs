//! The admin's policy and Pod Security admission against the real control plane, the
//! controller running as the chart's ServiceAccount: a spec outside the policy is
//! `Stalled/PolicyDenied` and builds nothing; a build whose pods the namespace refuses says so.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use std::time::Duration;
use support::kube::TestNamespace;
use zentoo::api::{GentooImage, GentooSite};
use zentoo::controller::policy::{Glob, Policy};
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

/// Waits until `get` shows condition `type_` True with reason `PolicyDenied`; its message.
async fn denied<F, Fut>(ns: &TestNamespace, what: &str, get: F) -> String
where
    F: Fn() -> Fut,
    Fut: std::future::Future<
            Output = Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
        >,
{
    eventually(ns, T, &format!("{what} Stalled/PolicyDenied"), || async {
        let conditions = get().await?;
        let stalled = conditions.iter().find(|c| c.type_ == "Stalled")?;
        (stalled.status == "True" && stalled.reason == "PolicyDenied")
            .then(|| stalled.message.clone())
    })
    .await
}

/// A GentooImage made by hand for site `demo`, with `spec` merged into its spec.
fn hand_made(name: &str, spec: serde_json::Value) -> GentooImage {
    let mut body = serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "metadata": {"name": name},
        "spec": {"siteRef": {"name": "demo"}, "portage": "desktop", "set": "kde"},
    });
    if let (Some(to), Some(from)) = (body["spec"].as_object_mut(), spec.as_object()) {
        to.extend(from.clone());
    }
    serde_json::from_value(body).expect("image")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_outside_the_policy_are_denied_before_any_job() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-policy").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start_configured(&ns, &cache, |s| {
        s.policy = Policy {
            stage3_prefixes: vec!["localhost/stage3:".into()],
            secrets: vec![Glob::parse("demo-*").expect("glob")],
            ..Policy::default()
        };
    })
    .await;

    // Within the policy: builds.
    let mut site = site_object("demo", &git.url, "1h");
    site.spec
        .image_defaults
        .stage3
        .insert("amd64".into(), "localhost/stage3:amd64".into());
    create_site(&ns, &site).await;
    let built = image_name("demo", "desktop-none-kde");
    wait_jobs(&ns, &built, 1).await;

    // A stage3 of its own, a toleration of control-plane nodes, the default stage3.
    let image_api = ns.api::<GentooImage>();
    let cases = [
        (
            "rogue-stage3",
            serde_json::json!({"stage3": "docker.io/evil/stage3:latest"}),
            &[
                "spec.stage3: stage3 `docker.io/evil/stage3:latest` is outside",
                "`localhost/stage3:`",
                "--allowed-stage3-prefix",
            ][..],
        ),
        (
            "rogue-node",
            serde_json::json!({"tolerations": [{
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists", "effect": "NoSchedule",
            }]}),
            &[
                "spec.tolerations[0]: `node-role.kubernetes.io/control-plane:NoSchedule (Exists)`",
                "tolerates control-plane nodes",
                "--allow-control-plane",
            ][..],
        ),
        (
            "rogue-default",
            serde_json::json!({"cpu": "a72"}),
            &["spec.stage3 (unset: the default for arm64): stage3 \
                 `docker.io/gentoo/stage3:arm64-openrc` is outside"][..],
        ),
    ];
    for (name, spec, _) in &cases {
        image_api
            .create(&PostParams::default(), &hand_made(name, spec.clone()))
            .await
            .expect("create image");
    }
    // A site naming a Secret outside the policy makes nothing.
    let mut other = site_object("other", &git.url, "1h");
    other.spec.source.secret_ref =
        serde_json::from_value(serde_json::json!({"name": "team-b-git"})).expect("ref");
    create_site(&ns, &other).await;

    for (name, _, expected) in &cases {
        let message = denied(&ns, name, || async {
            Some(image_api.get(name).await.ok()?.status?.conditions)
        })
        .await;
        for part in *expected {
            assert!(message.contains(part), "{name}: {message:?} lacks {part:?}");
        }
        let (ready, reason, _) =
            condition(&image_api.get(name).await.expect("image"), "Ready").expect("Ready");
        assert_eq!((ready.as_str(), reason.as_str()), ("False", "PolicyDenied"));
    }
    let sites = ns.api::<GentooSite>();
    let message = denied(&ns, "site other", || async {
        Some(sites.get("other").await.ok()?.status?.conditions)
    })
    .await;
    assert_eq!(
        message,
        "spec.source.secretRef.name: Secret `team-b-git` is outside the controller's policy \
         (allowed: `demo-*`); --allowed-secret allows more"
    );

    // Nothing was created for them; the allowed image still has its one build.
    for (name, _, _) in &cases {
        assert!(jobs(&ns, name).await.is_empty(), "{name} has a Job");
    }
    assert!(
        images(&ns, "other").await.is_empty(),
        "site other made images"
    );
    assert_eq!(jobs(&ns, &built).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_whose_pods_pod_security_refuses_is_reported() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-psa").await;
    // Build pods are privileged: the baseline level refuses them (the API server enforces
    // Pod Security admission by default).
    let namespaces: Api<Namespace> = Api::all(ns.client.clone());
    merge(
        &namespaces,
        &ns.name,
        serde_json::json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "baseline",
        }}}),
    )
    .await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start(&ns, &cache).await;
    create_site(&ns, &site_object("demo", &git.url, "1h")).await;

    let image = image_name("demo", "desktop-none-kde");
    let job = kube::ResourceExt::name_any(&wait_jobs(&ns, &image, 1).await[0]);
    let rejected = wait_ready(&ns, &image, "False", Some("PodsRejected")).await;
    let (_, _, message) = condition(&rejected, "Ready").expect("Ready");
    for part in [
        format!("Job {job} cannot create its pod: "),
        "violates PodSecurity \"baseline:latest\"".into(),
        "privileged".into(),
        format!(
            "label namespace {} pod-security.kubernetes.io/enforce=privileged",
            ns.name
        ),
    ] {
        assert!(message.contains(&part), "{message:?} lacks {part:?}");
    }
    let (stalled, reason, _) = condition(&rejected, "Stalled").expect("Stalled");
    assert_eq!(
        (stalled.as_str(), reason.as_str()),
        ("True", "PodsRejected")
    );
}
