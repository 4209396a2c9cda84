//! The test cluster of `tests/cluster/up` does what zentoo's tests rely on: a real apiserver
//! serving our CRDs, a scheduler honouring arch selectors and taints on KWOK nodes, a job
//! controller and garbage collector, a default storage class that binds claims, and pods whose
//! status a test sets like a kubelet. Skipped (or failing on CI) when the harness is not up.

use crate::support;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;
use std::time::Duration;
use support::kube::{wait_deleted, wait_for};
use support::kubelet::{MANUAL, MANUAL_LABEL};
use zentoo::api::GentooSite;

const ARM64_TAINT: &str = "kubernetes.io/arch";

/// A Job of one privileged pod; `arm64` adds the arch selector and the pool's toleration.
fn job(name: &str, arm64: bool, tolerate: bool, manual: bool) -> Job {
    let mut labels = json!({});
    if manual {
        labels[MANUAL_LABEL] = json!(MANUAL);
    }
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        // privileged, like zentoo's build step: the apiserver must admit it
        "containers": [{
            "name": "main", "image": "localhost/zt-none:1", "command": ["true"],
            "securityContext": {"privileged": true},
        }],
    });
    if arm64 {
        pod_spec["nodeSelector"] = json!({"kubernetes.io/arch": "arm64"});
    }
    if tolerate {
        pod_spec["tolerations"] = json!([{
            "key": ARM64_TAINT, "operator": "Equal", "value": "arm64", "effect": "NoSchedule"
        }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }))
    .expect("job JSON")
}

fn job_condition(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

async fn pod_of_job(pods: &Api<Pod>, job: &str) -> Pod {
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    for _ in 0..100 {
        let list = pods.list(&lp).await.expect("list pods of job");
        if let Some(p) = list.items.into_iter().next() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("job {job} made no pod within 20 s")
}

#[tokio::test]
async fn arm64_job_is_scheduled_on_the_tainted_arm64_pool_and_succeeds() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("arm64").await;
    let jobs: Api<Job> = ns.api();
    let pods: Api<Pod> = ns.api();

    jobs.create(&PostParams::default(), &job("build", true, true, false))
        .await
        .expect("create job");
    let done = wait_for(&jobs, "build", "complete", Duration::from_secs(60), |j| {
        job_condition(j, "Complete")
    })
    .await;
    assert_eq!(done.status.and_then(|s| s.succeeded), Some(1));

    let pod = pod_of_job(&pods, "build").await;
    let node_name = pod.spec.and_then(|s| s.node_name).expect("pod has a node");
    let node = Api::<Node>::all(kube.client.clone())
        .get(&node_name)
        .await
        .expect("get node");
    let labels = node.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/arch").map(String::as_str),
        Some("arm64")
    );
    assert_eq!(labels.get("type").map(String::as_str), Some("kwok"));
    assert_eq!(
        pod.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded")
    );
}

#[tokio::test]
async fn arm64_pod_without_the_toleration_stays_unschedulable() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("taint").await;
    let jobs: Api<Job> = ns.api();
    let pods: Api<Pod> = ns.api();

    jobs.create(
        &PostParams::default(),
        &job("untolerated", true, false, false),
    )
    .await
    .expect("create job");
    let pod = pod_of_job(&pods, "untolerated").await;
    let name = pod.metadata.name.expect("pod name");
    let pod = wait_for(
        &pods,
        &name,
        "be unschedulable",
        Duration::from_secs(30),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.type_ == "PodScheduled"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
        },
    )
    .await;
    assert_eq!(pod.spec.and_then(|s| s.node_name), None);
}

#[tokio::test]
async fn failed_pod_reports_exit_code_and_termination_message_and_fails_its_job() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("kubelet").await;
    let jobs: Api<Job> = ns.api();
    let pods: Api<Pod> = ns.api();

    jobs.create(&PostParams::default(), &job("publish", false, false, true))
        .await
        .expect("create job");
    let pod = pod_of_job(&pods, "publish").await;
    let name = pod.metadata.name.expect("pod name");
    wait_for(&pods, &name, "be scheduled", Duration::from_secs(30), |p| {
        p.spec.as_ref().is_some_and(|s| s.node_name.is_some())
    })
    .await;
    // KWOK leaves manual pods alone: well past its stage delays, nothing has started it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let untouched = pods.get(&name).await.expect("get pod");
    let status = untouched.status.unwrap_or_default();
    assert_eq!(
        status.phase.as_deref(),
        Some("Pending"),
        "KWOK must not run a manual pod"
    );
    assert!(
        status.container_statuses.is_none(),
        "KWOK must not set container states of a manual pod"
    );

    let kubelet = ns.kubelet();
    let running = kubelet.run(&name).await;
    assert_eq!(
        running.status.and_then(|s| s.phase).as_deref(),
        Some("Running")
    );
    let message = "publish: push to registry.invalid refused: 403";
    kubelet.set_pod_terminated(&name, "main", 7, message).await;

    let read = pods.get(&name).await.expect("get pod");
    let status = read.status.expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let term = status.container_statuses.expect("container statuses")[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("terminated state");
    assert_eq!(term.exit_code, 7);
    assert_eq!(term.message.as_deref(), Some(message));
    assert_eq!(term.reason.as_deref(), Some("Error"));

    wait_for(&jobs, "publish", "fail", Duration::from_secs(60), |j| {
        job_condition(j, "Failed")
    })
    .await;
}

#[tokio::test]
async fn zentoo_crds_are_served_with_list_watch_and_server_side_apply() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    kube.install_crds().await;
    let ssa = PatchParams::apply("zentoo-test").force();
    let ns = kube.namespace("crd").await;
    let sites: Api<GentooSite> = ns.api();
    let mut watch = sites
        .watch(&WatchParams::default().timeout(20), "0")
        .await
        .expect("watch GentooSites")
        .boxed();

    // Only the fields this manager owns; the rest comes from the CRD schema's defaults.
    let site = json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooSite",
        "metadata": {"name": "example"},
        "spec": {"source": {"url": "https://git.example.invalid/site.git"}},
    });
    let applied: GentooSite = sites
        .patch("example", &ssa, &Patch::Apply(&site))
        .await
        .expect("server-side apply a GentooSite");
    assert_eq!(
        applied.spec.source.url,
        "https://git.example.invalid/site.git"
    );
    assert_eq!(
        applied.spec.source.interval.as_str(),
        "5m",
        "defaulted by the CRD schema"
    );

    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(ev) = watch.next().await {
            if let Ok(WatchEvent::Added(s)) = ev {
                return s.metadata.name;
            }
        }
        None
    })
    .await;
    assert_eq!(
        seen.ok().flatten().as_deref(),
        Some("example"),
        "watch saw the new site"
    );

    let status = json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooSite",
        "status": {"tuples": 3, "errorCount": 0},
    });
    let with_status = sites
        .patch_status("example", &ssa, &Patch::Apply(&status))
        .await
        .expect("server-side apply of status");
    let list = sites
        .list(&ListParams::default())
        .await
        .expect("list sites");
    assert_eq!(list.items.len(), 1);
    let st = serde_json::to_value(&with_status.status).expect("status JSON");
    assert_eq!(
        st["tuples"], 3,
        "status subresource kept what was applied: {st}"
    );
}

#[tokio::test]
async fn owned_object_is_garbage_collected_when_its_owner_is_deleted() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("gc").await;
    let cms: Api<ConfigMap> = ns.api();
    let owner: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "owner"}})).expect("owner JSON");
    let owner = cms
        .create(&PostParams::default(), &owner)
        .await
        .expect("create owner");
    let mut child: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "child"}})).expect("child JSON");
    child.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "owner".into(),
        uid: owner.metadata.uid.clone().expect("owner uid"),
        ..Default::default()
    }]);
    cms.create(&PostParams::default(), &child)
        .await
        .expect("create child");

    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    wait_deleted(&cms, "child", Duration::from_secs(90)).await;
}

#[tokio::test]
async fn claim_without_a_class_binds_through_the_default_storage_class() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("pvc").await;
    let pvcs: Api<PersistentVolumeClaim> = ns.api();
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "binpkgs"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }))
    .expect("claim JSON");
    pvcs.create(&PostParams::default(), &claim)
        .await
        .expect("create claim");
    let bound = wait_for(&pvcs, "binpkgs", "be bound", Duration::from_secs(60), |c| {
        c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
    })
    .await;
    let spec = bound.spec.expect("claim spec");
    assert_eq!(spec.storage_class_name.as_deref(), Some("zentoo-test"));
    assert!(spec.volume_name.is_some(), "bound to a volume");
}

#[tokio::test]
async fn failed_init_container_fails_the_pod_like_a_failed_build_step() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("init").await;
    let pods: Api<Pod> = ns.api();
    let step =
        |name: &str| json!({"name": name, "image": "localhost/zt-none:1", "command": ["true"]});
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "build", "labels": {MANUAL_LABEL: MANUAL}},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [step("materialize"), step("build"), step("assemble")],
            "containers": [step("publish")],
        },
    }))
    .expect("pod JSON");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    wait_for(
        &pods,
        "build",
        "be scheduled",
        Duration::from_secs(30),
        |p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()),
    )
    .await;

    let kubelet = ns.kubelet();
    let after_first = kubelet
        .set_pod_terminated("build", "materialize", 0, "")
        .await;
    assert_eq!(
        after_first.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );
    let message = "emerge: dev-libs/foo-1.0 failed to compile";
    kubelet
        .set_pod_terminated("build", "build", 1, message)
        .await;

    let status = pods
        .get("build")
        .await
        .expect("get pod")
        .status
        .expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let inits = status
        .init_container_statuses
        .expect("init container statuses");
    let names: Vec<_> = inits.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["materialize", "build", "assemble"]);
    let term = inits[1]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("build terminated");
    assert_eq!(
        (term.exit_code, term.message.as_deref()),
        (1, Some(message))
    );
    assert!(
        inits[2].state.as_ref().is_some_and(|s| s.waiting.is_some()),
        "assemble never ran"
    );
    let initialized = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Initialized")
        .map(|c| c.status);
    assert_eq!(initialized.as_deref(), Some("False"));
}

#[tokio::test]
async fn pod_no_job_owns_becomes_ready_and_keeps_running_like_a_distcc_worker() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("worker").await;
    let pods: Api<Pod> = ns.api();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "distcc-0"},
        "spec": {
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "containers": [{"name": "distccd", "image": "localhost/zt-none:1"}],
        },
    }))
    .expect("pod JSON");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let ready = wait_for(
        &pods,
        "distcc-0",
        "be Ready",
        Duration::from_secs(30),
        |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        },
    )
    .await;
    let status = ready.status.expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(status.pod_ip.is_some(), "KWOK gives the pod an IP");
    // well past KWOK's stage delays it is still running: only Job pods complete
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = pods
        .get("distcc-0")
        .await
        .expect("get pod")
        .status
        .expect("pod status");
    assert_eq!(later.phase.as_deref(), Some("Running"));
}
