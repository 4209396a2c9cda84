//! distcc workers of a build: a StatefulSet of the build's arch behind a headless Service, so
//! each worker has a stable DNS name for `DISTCC_HOSTS`, and a NetworkPolicy that admits only
//! that build's pod to them. All three owned by the build's Job.
//!
//! Workers compile and make no packages: they mount no binpkgs (or distfiles) volume, only the
//! ebuild repository read-only, so nothing they do lands in the site's shared volumes.

use super::job::{BuildContext, build_labels};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use zentoo_api::labels;
use zentoo_core::plan::BuildPlan;
use zentoo_core::plan::build::REPOS_DIR;

/// distccd's port.
pub const DISTCC_PORT: i32 = 3632;
/// Jobs each worker takes (`host/N`).
pub const JOBS_PER_WORKER: u32 = 4;

/// Name of a build's worker StatefulSet, Service and NetworkPolicy.
pub fn workers_name(build: &str) -> String {
    format!("{build}-distcc")
}

/// `DISTCC_HOSTS` for `workers` workers of build `build` in `namespace`.
pub fn distcc_hosts(build: &str, namespace: &str, workers: u32) -> String {
    let name = workers_name(build);
    (0..workers)
        .map(|i| format!("{name}-{i}.{name}.{namespace}.svc/{JOBS_PER_WORKER}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The objects of a build's distcc workers.
#[derive(Clone, Debug)]
pub struct Workers {
    /// Headless: one DNS name per worker.
    pub service: Service,
    /// The workers.
    pub set: StatefulSet,
    /// Admits the build's pod, and nothing else, to the workers' distcc port.
    pub policy: NetworkPolicy,
}

/// The labels that select build `build`'s pods of `component` (`build`, `distcc`).
fn selecting(build: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::BUILD.to_string(), build.to_string()),
        (labels::COMPONENT.to_string(), component.to_string()),
    ])
}

/// The objects of `workers` distcc workers for a build. `job_owner` is an owner reference to
/// the build's Job.
pub fn render_workers(
    plan: &BuildPlan,
    ctx: &BuildContext,
    job_owner: OwnerReference,
    workers: u32,
    resources: Option<ResourceRequirements>,
) -> Workers {
    let name = workers_name(&ctx.name);
    let labels = build_labels(ctx, plan, "distcc");
    let selector = selecting(&ctx.name, "distcc");
    let meta = ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ctx.namespace.clone()),
        labels: Some(labels.clone()),
        owner_references: Some(vec![job_owner]),
        ..ObjectMeta::default()
    };
    let service = Service {
        metadata: meta.clone(),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("distcc".into()),
                port: DISTCC_PORT,
                ..ServicePort::default()
            }]),
            publish_not_ready_addresses: Some(true),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    let build_env = |key: &str| {
        plan.steps
            .get(1)
            .and_then(|s| s.env.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let chost = build_env("ZENTOO_CHOST");
    // The build step syncs the snapshot into the repo volume; workers read the same one.
    let repositories = format!(
        "[DEFAULT]\nmain-repo = gentoo\n\n[gentoo]\nlocation = {REPOS_DIR}/{}\n",
        build_env("ZENTOO_REPO_SNAPSHOT")
    );
    // A stage3 without distccd compiles it into the worker's own root (no binpkg is used or
    // made: the site's PKGDIR is not mounted). `--allow` admits every address: pod addresses
    // are not known in advance, and the NetworkPolicy is the fence (a cluster whose network
    // does not enforce NetworkPolicies has none; see docs/install.md).
    let script = format!(
        "set -eu\n\
         command -v distccd >/dev/null 2>&1 || FEATURES=\"-buildpkg\" emerge --oneshot sys-devel/distcc\n\
         exec distccd --daemon --no-detach --log-stderr --port {DISTCC_PORT} --allow 0.0.0.0/0 --jobs {JOBS_PER_WORKER}\n"
    );
    let container = Container {
        name: "distccd".into(),
        image: Some(plan.stage3.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        env: Some(vec![
            k8s_openapi::api::core::v1::EnvVar {
                name: "CHOST".into(),
                value: Some(chost),
                value_from: None,
            },
            k8s_openapi::api::core::v1::EnvVar {
                name: "PORTAGE_REPOSITORIES".into(),
                value: Some(repositories),
                value_from: None,
            },
        ]),
        ports: Some(vec![ContainerPort {
            container_port: DISTCC_PORT,
            name: Some("distcc".into()),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![VolumeMount {
            name: "repo".into(),
            mount_path: REPOS_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        resources,
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let set = StatefulSet {
        metadata: meta.clone(),
        spec: StatefulSetSpec {
            service_name: Some(name),
            replicas: Some(i32::try_from(workers).unwrap_or(i32::MAX)),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    service_account_name: ctx.service_account.clone(),
                    node_selector: Some(ctx.node_selector.clone()),
                    tolerations: (!ctx.tolerations.is_empty()).then(|| ctx.tolerations.clone()),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "repo".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: ctx.claims.repo.clone(),
                            read_only: Some(true),
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        },
        status: None,
    };
    // Ingress to the workers only from this build's pod (the Job's pod template carries the
    // build labels), only on distcc's port; in the build's namespace only (no namespace
    // selector). Egress stays open: a worker may fetch what it installs.
    let policy = NetworkPolicy {
        metadata: meta,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(selecting(&ctx.name, "build")),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some("TCP".into()),
                    port: Some(IntOrString::Int(DISTCC_PORT)),
                    end_port: None,
                }]),
            }]),
            egress: None,
        }),
    };
    Workers {
        service,
        set,
        policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::job::tests::context;
    use zentoo_core::plan::build::build_plan;
    use zentoo_core::plan::testing::image_plan;
    use zentoo_core::plan::testing::settings;

    #[test]
    fn workers_have_stable_names_the_build_arch_and_the_job_as_owner() {
        let plan = build_plan(&image_plan("rpi-server-none-web\n"), "c0ffee", &settings());
        let mut ctx = context();
        ctx.node_selector
            .insert("kubernetes.io/arch".into(), "arm64".into());
        let owner = OwnerReference {
            kind: "Job".into(),
            name: ctx.name.clone(),
            ..ctx.owner.clone()
        };
        let Workers {
            service: svc, set, ..
        } = render_workers(&plan, &ctx, owner, 2, None);
        assert_eq!(
            svc.spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some("None")
        );
        assert_eq!(set.spec.replicas, Some(2));
        assert_eq!(
            set.spec.service_name.as_deref(),
            svc.metadata.name.as_deref()
        );
        let pod = set.spec.template.spec.as_ref().unwrap();
        assert_eq!(
            pod.node_selector.as_ref().unwrap()["kubernetes.io/arch"],
            "arm64"
        );
        assert_eq!(
            set.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Job"
        );
        assert_eq!(
            distcc_hosts(&ctx.name, "ns", 2),
            "demo-zen-server-nodocs-web-1-distcc-0.demo-zen-server-nodocs-web-1-distcc.ns.svc/4 \
             demo-zen-server-nodocs-web-1-distcc-1.demo-zen-server-nodocs-web-1-distcc.ns.svc/4"
        );
    }

    fn workers() -> (Workers, k8s_openapi::api::batch::v1::Job) {
        let plan = build_plan(
            &image_plan("zen-server-nodocs-web\n"),
            "c0ffee",
            &settings(),
        );
        let ctx = context();
        let job = crate::render::render_job(&plan, &ctx);
        let owner = OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: ctx.name.clone(),
            ..ctx.owner.clone()
        };
        (render_workers(&plan, &ctx, owner, 2, None), job)
    }

    /// Whether `selector` (match labels only) selects `labels`.
    fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        assert!(selector.match_expressions.is_none());
        let wanted = selector.match_labels.as_ref().expect("match labels");
        !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    #[test]
    fn the_policy_admits_only_the_build_pod_to_the_distcc_port_of_its_workers() {
        let (w, job) = workers();
        let policy = w.policy.spec.as_ref().unwrap();
        assert_eq!(w.policy.metadata.name, w.set.metadata.name);
        assert_eq!(
            w.policy.metadata.owner_references, w.set.metadata.owner_references,
            "owned by the Job, like the workers"
        );
        assert_eq!(
            policy.policy_types.as_deref(),
            Some(&["Ingress".to_string()][..])
        );
        let worker_labels = w
            .set
            .spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert!(selects(
            policy.pod_selector.as_ref().unwrap(),
            worker_labels
        ));
        let build_pod = job
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap();
        let build_labels = build_pod.labels.as_ref().unwrap();
        let [rule] = &policy.ingress.as_ref().unwrap()[..] else {
            panic!("one ingress rule: {policy:?}");
        };
        let [peer] = &rule.from.as_ref().unwrap()[..] else {
            panic!("one peer: {rule:?}");
        };
        assert!(
            peer.namespace_selector.is_none() && peer.ip_block.is_none(),
            "{peer:?}"
        );
        let from = peer.pod_selector.as_ref().unwrap();
        assert!(selects(from, build_labels), "the build pod is admitted");
        assert!(
            !selects(from, worker_labels),
            "workers do not admit each other"
        );
        let mut other_build = build_labels.clone();
        other_build.insert(labels::BUILD.into(), "another-build".into());
        assert!(
            !selects(from, &other_build),
            "another build's pod is not admitted"
        );
        let ports = rule.ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, Some(IntOrString::Int(DISTCC_PORT)));
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    }

    #[test]
    fn workers_mount_no_shared_volume_they_could_write() {
        let (w, _) = workers();
        let pod = w.set.spec.template.spec.as_ref().unwrap();
        let volumes = pod.volumes.as_ref().unwrap();
        let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["repo"], "no binpkgs, no distfiles");
        let ctx = context();
        let claims: Vec<&str> = volumes
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.as_str())
            .collect();
        assert!(!claims.contains(&ctx.claims.binpkgs.as_str()), "{claims:?}");
        for v in volumes {
            let claim = v.persistent_volume_claim.as_ref().unwrap();
            assert_eq!(claim.read_only, Some(true), "{}", v.name);
        }
        for c in &pod.containers {
            for m in c.volume_mounts.iter().flatten() {
                assert_eq!(m.read_only, Some(true), "{}: {}", c.name, m.name);
            }
            let script = c.command.as_ref().unwrap().join(" ");
            assert!(
                !script.contains("--buildpkg") && !script.contains("--usepkg"),
                "{script}"
            );
            assert!(script.contains("FEATURES=\"-buildpkg\""), "{script}");
        }
    }
}
