//! The controller as installed: the ServiceAccount and rules of the rendered chart
//! (`manifests/zentoo-namespaced.yaml` and `manifests/zentoo.yaml`), its token issued by the
//! API server, against the real control plane. One scenario walks every path that talks to the
//! API (leader election, a site with distcc workers and a webhook, builds, a signed push that
//! supersedes a build and prunes an image, the periodic gc, a hand edit of an image undone by
//! its site, a build whose pod Pod Security admission refuses); every request the controller
//! sends is recorded, and the rights the API server reports for the account
//! (SelfSubjectRulesReview: what `kubectl auth can-i --list` prints) must be exactly the rights
//! those requests used.
//!
//! The cluster-wide flavour is installed with its ClusterRole but runs for the test's namespace
//! only: a controller watching every namespace would take the sites of the tests running
//! beside this one.
//!
//! The distcc workers' NetworkPolicy is checked as an object (it selects the workers, admits
//! only the build's pod, goes with the build): the test cluster's nodes (KWOK and a kubelet
//! without a policy-enforcing CNI) do not enforce NetworkPolicies, so no traffic is tried.

use crate::support;

use crate::support::controller::hooks::{
    SECRET, create_webhook_secret, github, post, push_body, push_of, wait_listening,
};
use crate::support::controller::*;
use crate::support::site::Site;
use http::{Method, Request};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::kube::TestNamespace;
use support::manifests::{Flavour, install};
use zentoo::api::{GentooImage, GentooSite};
use zentoo::controller::context::Settings;
use zentoo::render::names::image_name;

/// One right: API group, resource (with `/subresource`), verb.
type Right = (String, String, String);

/// The right a request needs, as RBAC names it (`None`: discovery, which every account has).
fn right_of(method: &Method, uri: &http::Uri) -> Option<Right> {
    let request = zentoo::controller::api_metrics::api_request(method, uri)?;
    if request.resource.is_empty() {
        return None; // a group's discovery document
    }
    let resource = match request.subresource {
        Some(sub) => format!("{}/{sub}", request.resource),
        None => request.resource.to_string(),
    };
    Some((
        request.group.to_string(),
        resource,
        request.verb.to_string(),
    ))
}

/// `client`, recording the right each of its requests needs into `used`.
fn recording(client: kube::Client, used: Arc<Mutex<BTreeSet<Right>>>) -> kube::Client {
    let namespace = client.default_namespace().to_string();
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let (client, used) = (client.clone(), used.clone());
        // A server-side apply creates what does not exist yet: it needs create too (not of
        // a subresource, which exists with its object).
        let applies = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/apply-patch"));
        if let Some(right) = right_of(request.method(), request.uri())
            && let Ok(mut used) = used.lock()
        {
            if applies && !right.1.contains('/') {
                used.insert((right.0.clone(), right.1.clone(), "create".to_string()));
            }
            used.insert(right);
        }
        async move { client.send(request).await }
    });
    kube::Client::new(service, namespace)
}

/// The rights `client`'s account has in `namespace`, as the API server reports them, without
/// the ones every authenticated account has (reviews of its own access).
async fn granted(client: &kube::Client, namespace: &str) -> BTreeSet<Right> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.into()),
        },
        ..Default::default()
    };
    let reviewed = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectRulesReview")
        .status
        .expect("review status");
    assert!(
        !reviewed.incomplete,
        "the rules review is incomplete: {:?}",
        reviewed.evaluation_error
    );
    let everyone = [
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "selfsubjectreviews",
    ];
    let mut out = BTreeSet::new();
    for rule in reviewed.resource_rules {
        let groups = rule.api_groups.unwrap_or_default();
        let resources = rule.resources.unwrap_or_default();
        for group in &groups {
            for resource in &resources {
                if everyone.contains(&resource.as_str()) {
                    continue;
                }
                assert!(
                    rule.resource_names.is_none(),
                    "{resource}: rules by name are not expected"
                );
                for verb in &rule.verbs {
                    assert_ne!(verb, "*", "{group}/{resource}: a wildcard verb");
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

fn show(rights: &BTreeSet<Right>) -> String {
    rights
        .iter()
        .map(|(g, r, v)| format!("  {v} {r}{}{g}", if g.is_empty() { "" } else { "." }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `selector` selects an object labelled `labels` (match labels and expressions).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let exprs = selector.match_expressions.iter().flatten();
    let matched = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && exprs.clone().all(|e| {
            let values = e.values.clone().unwrap_or_default();
            match e.operator.as_str() {
                "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(&e.key),
                "DoesNotExist" => !labels.contains_key(&e.key),
                other => panic!("operator {other}"),
            }
        });
    // An empty selector selects every pod: never what a fence wants.
    let empty = selector.match_labels.iter().flatten().next().is_none() && exprs.count() == 0;
    matched && !empty
}

/// Checks the NetworkPolicy of `job`'s distcc workers: owned by the Job, selecting the
/// workers, admitting the build's own pod on distcc's port and not `other_build`'s pod.
async fn check_fence(ns: &TestNamespace, job: &str, other_build: &str) {
    let name = zentoo::render::distcc::workers_name(job);
    let policy = ns
        .api::<NetworkPolicy>()
        .get(&name)
        .await
        .unwrap_or_else(|e| panic!("NetworkPolicy {name} of the distcc workers: {e}"));
    let owners = policy.metadata.owner_references.clone().unwrap_or_default();
    let job_uid = ns
        .api::<k8s_openapi::api::batch::v1::Job>()
        .get(job)
        .await
        .expect("the build Job")
        .uid();
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "Job" && o.name == job && Some(&o.uid) == job_uid.as_ref()),
        "{name} is not owned by Job {job}: {owners:?}"
    );
    let spec = policy.spec.clone().expect("policy spec");
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_string()]));
    let set = ns
        .api::<StatefulSet>()
        .get(&name)
        .await
        .expect("the workers");
    let workers = set
        .spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .expect("worker labels");
    assert!(
        selects(spec.pod_selector.as_ref().expect("pod selector"), &workers),
        "{name} does not select the workers: {spec:?}"
    );
    let own = build_pod(ns, job).await.labels().clone();
    let other = build_pod(ns, other_build).await.labels().clone();
    let rules = spec.ingress.clone().unwrap_or_default();
    assert_eq!(rules.len(), 1, "{rules:?}");
    let peers = rules[0].from.clone().unwrap_or_default();
    assert!(
        !peers.is_empty(),
        "a rule without peers admits everyone: {rules:?}"
    );
    for peer in &peers {
        assert!(
            peer.ip_block.is_none() && peer.namespace_selector.is_none(),
            "only pods of this namespace: {peer:?}"
        );
        let from = peer.pod_selector.as_ref().expect("a pod selector");
        assert!(
            selects(from, &own),
            "the build's pod is not admitted: {from:?}"
        );
        assert!(
            !selects(from, &other),
            "another build's pod is admitted: {from:?}"
        );
        assert!(!selects(from, &workers), "workers are admitted: {from:?}");
    }
    let ports = rules[0].ports.clone().unwrap_or_default();
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(
        ports[0].port,
        Some(
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                zentoo::render::distcc::DISTCC_PORT
            )
        )
    );
}

/// Waits until the Jobs of `image` that are not finished are exactly one, other than `not`;
/// returns its name.
async fn new_job(ns: &TestNamespace, image: &str, not: &[String]) -> String {
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("a new Job of {image}"),
        || async {
            jobs(ns, image)
                .await
                .into_iter()
                .map(|j| j.name_any())
                .find(|n| !not.contains(n))
        },
    )
    .await
}

async fn every_right_used_and_no_other(flavour: Flavour, prefix: &str) {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace(prefix).await;
    install_crds(&ns).await;
    let installed = install(&ns, flavour).await;
    let used = Arc::new(Mutex::new(BTreeSet::new()));
    let client = recording(installed.client.clone(), used.clone());

    create_webhook_secret(&ns).await;
    let repo = Site::standard("desktop-none-kde\nserver-nodocs-web\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache");
    let addr = free_loopback_addr();
    let settings = {
        let mut s = Settings {
            cache_dir: cache.path().to_path_buf(),
            zentoo_image: "localhost/zentoo:test".into(),
            build_service_account: Some("zentoo-build".into()),
            build_pod_labels: [(
                support::kubelet::MANUAL_LABEL.to_string(),
                support::kubelet::MANUAL.to_string(),
            )]
            .into(),
            instance: "zentoo-rbac".into(),
            webhook_addr: Some(addr),
            debounce: Duration::ZERO,
            gc_interval: Some(Duration::from_secs(3)),
            ..Settings::default()
        };
        s.webhook.secret_ttl = Duration::from_millis(100);
        s
    };
    let (namespace, lease_ns) = (ns.name.clone(), ns.name.clone());
    let controller = tokio::spawn(async move {
        zentoo::controller::leader::run_elected(
            client,
            settings,
            Some(namespace),
            &lease_ns,
            "zentoo",
        )
        .await
    });
    let mut site = site_object("demo", &git.url, "1h");
    site.spec.source.webhook_secret_ref =
        serde_json::from_value(serde_json::json!({"name": "demo-webhook"})).expect("ref");
    site.spec.image_defaults.distcc = Some(zentoo::api::site::DistccSpec {
        workers_per_arch: 1,
        resources: None,
    });
    create_site(&ns, &site).await;

    // Builds with distcc workers; one finishes.
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    let first_desktop = new_job(&ns, &desktop, &[]).await;
    let first_server = new_job(&ns, &server, &[]).await;
    let lp = ListParams::default().labels(&format!(
        "zentoo.dev/build={first_server},zentoo.dev/component=distcc"
    ));
    eventually(&ns, Duration::from_secs(30), "distcc workers", || async {
        let svc = ns.api::<Service>().list(&lp).await.ok()?.items;
        let sts = ns.api::<StatefulSet>().list(&lp).await.ok()?.items;
        (!svc.is_empty() && !sts.is_empty()).then_some(())
    })
    .await;
    check_fence(&ns, &first_server, &first_desktop).await;
    finish_build(&ns, &first_desktop, "sha256:d1").await;
    wait_ready(&ns, &desktop, "True", None).await;

    // A signed push changes server's inputs while it builds (superseded) and drops desktop's
    // tuple (its image is pruned).
    wait_listening(addr).await;
    repo.write("portage/server", "make.conf", "USE=\"-X ssl\"\n");
    repo.write("main", "tuples", "server-nodocs-web\n");
    let body = push_body("refs/heads/main");
    let hook = format!("/hooks/{}/demo", ns.name);
    assert_eq!(
        post(
            addr,
            &hook,
            &github("push", "rbac-1", SECRET, &body),
            body.clone()
        )
        .await,
        202
    );
    let second_server = new_job(&ns, &server, std::slice::from_ref(&first_server)).await;
    // The superseded build's fence goes with its workers.
    let fence = zentoo::render::distcc::workers_name(&first_server);
    eventually(
        &ns,
        Duration::from_secs(60),
        "the old fence removed",
        || async {
            ns.api::<NetworkPolicy>()
                .get_opt(&fence)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
    eventually(&ns, Duration::from_secs(60), "desktop pruned", || async {
        ns.api::<GentooImage>()
            .get_opt(&desktop)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    finish_build(&ns, &second_server, "sha256:s2").await;
    wait_ready(&ns, &server, "True", None).await;
    // A push that changes nothing an image consumes: the site's second `Fetched` event joins
    // the first one's series (the event recorder patches it).
    let head = repo.write("main", "README", "the rbac test's site\n");
    let body = push_of("refs/heads/main", head);
    assert_eq!(
        post(
            addr,
            &hook,
            &github("push", "rbac-2", SECRET, &body),
            body.clone()
        )
        .await,
        202
    );
    wait_revision(&ns, &head.to_string()).await;
    // The periodic gc runs (a Job per site) at least once.
    eventually(&ns, Duration::from_secs(60), "a gc Job", || async {
        let lp = ListParams::default().labels("zentoo.dev/component=gc");
        let found = ns
            .api::<k8s_openapi::api::batch::v1::Job>()
            .list(&lp)
            .await
            .ok()?;
        (!found.items.is_empty()).then_some(())
    })
    .await;
    // A hand edit of a field its site sets is undone: the site applies the image again.
    let image_api = ns.api::<GentooImage>();
    merge(
        &image_api,
        &server,
        serde_json::json!({"spec": {"set": "kde"}}),
    )
    .await;
    eventually(
        &ns,
        Duration::from_secs(60),
        "server's set restored",
        || async { (image_api.get(&server).await.ok()?.spec.set == "web").then_some(()) },
    )
    .await;
    wait_ready(&ns, &server, "True", None).await;
    // A rebuild whose privileged pod Pod Security admission refuses: the image reads the
    // Job's FailedCreate events.
    merge(
        &Api::<k8s_openapi::api::core::v1::Namespace>::all(ns.client.clone()),
        &ns.name,
        serde_json::json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "baseline",
        }}}),
    )
    .await;
    merge(
        &image_api,
        &server,
        serde_json::json!({"metadata": {"annotations": {
            zentoo::api::annotations::REBUILD_REQUESTED_AT: "rbac",
        }}}),
    )
    .await;
    wait_ready(&ns, &server, "False", Some("PodsRejected")).await;
    let sites = ns.api::<GentooSite>();
    assert!(sites.get("demo").await.is_ok());
    controller.abort();
    let _ = controller.await;

    // What every ServiceAccount may do without a binding (cluster defaults) is not the
    // chart's: a fresh account shows it. Build pods' account has nothing more.
    let dir = tempfile::TempDir::new().expect("dir");
    let baseline = {
        let nobody: k8s_openapi::api::core::v1::ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "nobody"}}))
                .expect("account");
        ns.api::<k8s_openapi::api::core::v1::ServiceAccount>()
            .create(&PostParams::default(), &nobody)
            .await
            .expect("create ServiceAccount nobody");
        let client =
            support::manifests::service_account(&ns, "nobody", &dir.path().join("nobody")).await;
        granted(&client, &ns.name).await
    };
    let build_client =
        support::manifests::service_account(&ns, "zentoo-build", &dir.path().join("build")).await;
    let build_extra: BTreeSet<Right> = granted(&build_client, &ns.name)
        .await
        .difference(&baseline)
        .cloned()
        .collect();
    assert!(
        build_extra.is_empty(),
        "build pods' ServiceAccount has rights:\n{}",
        show(&build_extra)
    );

    let used = used.lock().expect("used rights").clone();
    let have: BTreeSet<Right> = granted(&installed.client, &ns.name)
        .await
        .difference(&baseline)
        .cloned()
        .collect();
    let unused: BTreeSet<Right> = have.difference(&used).cloned().collect();
    let denied: BTreeSet<Right> = used.difference(&have).cloned().collect();
    eprintln!("{} ({flavour:?}) used:\n{}", installed.user, show(&used));
    assert!(
        unused.is_empty() && denied.is_empty(),
        "{} ({flavour:?}): the chart grants rights the controller did not use:\n{}\n\
         and the controller used rights the chart does not grant:\n{}",
        installed.user,
        show(&unused),
        show(&denied)
    );

    if flavour == Flavour::Namespaced {
        let elsewhere: BTreeSet<Right> = granted(&installed.client, "default")
            .await
            .difference(&baseline)
            .cloned()
            .collect();
        assert!(
            elsewhere.is_empty(),
            "{} has rights outside its namespace:\n{}",
            installed.user,
            show(&elsewhere)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_install_grants_exactly_the_rights_the_controller_uses() {
    every_right_used_and_no_other(Flavour::Namespaced, "rbac-ns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_wide_install_grants_exactly_the_rights_the_controller_uses() {
    every_right_used_and_no_other(Flavour::ClusterWide, "rbac-cw").await;
}
