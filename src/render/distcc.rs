//! distcc workers of a build: a StatefulSet of the build's arch behind a headless Service, so
//! each worker has a stable DNS name for `DISTCC_HOSTS`. Owned by the build's Job.

use super::job::{BuildContext, build_labels};
use crate::plan::BuildPlan;
use crate::plan::build::{BINPKGS_DIR, REPOS_DIR};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

/// distccd's port.
pub const DISTCC_PORT: i32 = 3632;
/// Jobs each worker takes (`host/N`).
pub const JOBS_PER_WORKER: u32 = 4;

/// Name of a build's worker StatefulSet and Service.
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

/// The headless Service and the StatefulSet of `workers` distcc workers for a build.
/// `job_owner` is an owner reference to the build's Job.
pub fn render_workers(
    plan: &BuildPlan,
    ctx: &BuildContext,
    job_owner: OwnerReference,
    workers: u32,
    resources: Option<ResourceRequirements>,
) -> (Service, StatefulSet) {
    let name = workers_name(&ctx.name);
    let labels = build_labels(ctx, plan, "distcc");
    let selector = std::collections::BTreeMap::from([
        (crate::api::labels::BUILD.to_string(), ctx.name.clone()),
        (
            crate::api::labels::COMPONENT.to_string(),
            "distcc".to_string(),
        ),
    ]);
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
    let script = format!(
        "set -eu\n\
         command -v distccd >/dev/null 2>&1 || emerge --oneshot --usepkg --buildpkg sys-devel/distcc\n\
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
        volume_mounts: Some(vec![
            VolumeMount {
                name: "binpkgs".into(),
                mount_path: BINPKGS_DIR.into(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "repo".into(),
                mount_path: REPOS_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        resources,
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let claim = |name: &str, claim: &str| Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: None,
        }),
        ..Volume::default()
    };
    let set = StatefulSet {
        metadata: meta,
        spec: StatefulSetSpec {
            service_name: Some(name),
            replicas: Some(i32::try_from(workers).unwrap_or(i32::MAX)),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector),
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
                    volumes: Some(vec![
                        claim("binpkgs", &ctx.claims.binpkgs),
                        claim("repo", &ctx.claims.repo),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        },
        status: None,
    };
    (service, set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build::{build_plan, tests::settings};
    use crate::plan::testing::image_plan;
    use crate::render::job::tests::context;

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
        let (svc, set) = render_workers(&plan, &ctx, owner, 2, None);
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
}
