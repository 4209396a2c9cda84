//! A build as one Job: init containers materialize → build → assemble, container publish.

use crate::api::{annotations, labels};
use crate::plan::build::{BuildPlan, Step, StepImage, StepName, Volume};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretVolumeSource, SecurityContext, Toleration, Volume as PodVolume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// Where the git credentials Secret is mounted in the materialize step.
pub const GIT_CREDENTIALS_DIR: &str = "/var/run/zentoo/git";
/// Where the registry credentials (`config.json`) are mounted in the publish step.
pub const REGISTRY_CONFIG_DIR: &str = "/var/run/zentoo/registry";
/// Pod annotation that makes `podman kube play` keep finished init containers.
pub const PODMAN_INIT_ANNOTATION: &str = "io.podman.annotations.init.container.type";
/// The user the materialize step runs as.
pub const NONROOT_UID: i64 = 65532;

/// PersistentVolumeClaims holding the site's shared volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedClaims {
    /// Binary packages.
    pub binpkgs: String,
    /// Distfiles.
    pub distfiles: String,
    /// Ebuild repository.
    pub repo: String,
}

/// Everything about a build's Job that does not come from its plan.
#[derive(Clone, Debug)]
pub struct BuildContext {
    /// The Job's name (a DNS label of at most 56 characters, so volume names fit).
    pub name: String,
    /// Namespace of the Job.
    pub namespace: String,
    /// The GentooSite.
    pub site: String,
    /// The GentooImage (the Job's owner).
    pub image: String,
    /// Owner reference to the GentooImage.
    pub owner: OwnerReference,
    /// The site's shared volumes.
    pub claims: SharedClaims,
    /// Node selector, `kubernetes.io/arch` included.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Resources of the build step; defaults when `None`.
    pub resources: Option<ResourceRequirements>,
    /// Seconds before the Job is stopped.
    pub active_deadline_seconds: i64,
    /// ServiceAccount of the build pod (one with no API rights).
    pub service_account: Option<String>,
    /// Secret with git credentials, mounted into the materialize step only.
    pub git_secret: Option<String>,
    /// Secret of type `kubernetes.io/dockerconfigjson`, mounted into the publish step only.
    pub registry_secret: Option<String>,
    /// Pull policy of every container.
    pub image_pull_policy: String,
    /// Where the publish step writes its JSON result (the termination message path).
    pub result_file: String,
}

/// Labels of everything a build creates.
pub fn build_labels(
    ctx: &BuildContext,
    plan: &BuildPlan,
    component: &str,
) -> BTreeMap<String, String> {
    let digest = plan.inputs_digest.trim_start_matches("sha256:");
    BTreeMap::from([
        (labels::SITE.to_string(), ctx.site.clone()),
        (labels::IMAGE.to_string(), ctx.image.clone()),
        (labels::BUILD.to_string(), ctx.name.clone()),
        (labels::COMPONENT.to_string(), component.to_string()),
        (
            labels::INPUTS.to_string(),
            digest[..digest.len().min(40)].to_string(),
        ),
        (labels::MANAGED_BY.to_string(), "zentoo".to_string()),
    ])
}

/// Renders the build Job of `plan`. Pure.
pub fn render_job(plan: &BuildPlan, ctx: &BuildContext) -> Job {
    let labels = build_labels(ctx, plan, "build");
    let annotations = BTreeMap::from([
        (
            annotations::INPUTS_DIGEST.to_string(),
            plan.inputs_digest.clone(),
        ),
        (
            annotations::REVISION.to_string(),
            plan.materialize.revision.clone(),
        ),
    ]);
    let mut containers: Vec<Container> =
        plan.steps.iter().map(|s| container(plan, ctx, s)).collect();
    let publish = containers.pop().into_iter().collect();
    let mut pod_annotations = annotations.clone();
    pod_annotations.insert(PODMAN_INIT_ANNOTATION.into(), "always".into());

    Job {
        metadata: ObjectMeta {
            name: Some(ctx.name.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![ctx.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(ctx.active_deadline_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    service_account_name: ctx.service_account.clone(),
                    node_selector: Some(ctx.node_selector.clone()),
                    tolerations: (!ctx.tolerations.is_empty()).then(|| ctx.tolerations.clone()),
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(NONROOT_UID),
                        ..PodSecurityContext::default()
                    }),
                    init_containers: Some(containers),
                    containers: publish,
                    volumes: Some(volumes(plan, ctx)),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// Where the publish step packs the image before pushing it (an emptyDir).
pub const SCRATCH_DIR: &str = "/var/tmp/zentoo";

/// The publish step's scratch emptyDir (unique per build, like the other emptyDirs).
fn scratch_volume(ctx: &BuildContext) -> String {
    format!("{}-scratch", ctx.name)
}

/// The pod volume name of `volume` in build `ctx`.
pub fn volume_name(ctx: &BuildContext, volume: Volume) -> String {
    if volume.is_shared() {
        volume.as_str().to_string()
    } else {
        // podman kube play names emptyDir volumes after this: unique per build.
        format!("{}-{}", ctx.name, volume.as_str())
    }
}

fn volumes(plan: &BuildPlan, ctx: &BuildContext) -> Vec<PodVolume> {
    let claim = |volume: Volume, claim: &str| PodVolume {
        name: volume_name(ctx, volume),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: None,
        }),
        ..PodVolume::default()
    };
    let empty = |volume: Volume| PodVolume {
        name: volume_name(ctx, volume),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..PodVolume::default()
    };
    let mut out = vec![
        claim(Volume::Binpkgs, &ctx.claims.binpkgs),
        claim(Volume::Distfiles, &ctx.claims.distfiles),
        claim(Volume::Repo, &ctx.claims.repo),
        empty(Volume::Work),
        empty(Volume::Target),
        PodVolume {
            name: scratch_volume(ctx),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..PodVolume::default()
        },
    ];
    if let Some(size) = &plan.tmpfs {
        out.push(PodVolume {
            name: volume_name(ctx, Volume::PortageTmp),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(quantity(size)),
                ..EmptyDirVolumeSource::default()
            }),
            ..PodVolume::default()
        });
    }
    if let Some(secret) = &ctx.git_secret {
        out.push(PodVolume {
            name: "git-credentials".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..PodVolume::default()
        });
    }
    if let Some(secret) = &ctx.registry_secret {
        out.push(PodVolume {
            name: "registry-credentials".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(vec![KeyToPath {
                    key: ".dockerconfigjson".into(),
                    path: "config.json".into(),
                    ..KeyToPath::default()
                }]),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..PodVolume::default()
        });
    }
    out
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn resources(requests: [(&str, &str); 2], memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(
            requests
                .iter()
                .map(|(k, v)| (k.to_string(), quantity(v)))
                .collect(),
        ),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            quantity(memory_limit),
        )])),
        ..ResourceRequirements::default()
    }
}

fn container(plan: &BuildPlan, ctx: &BuildContext, step: &Step) -> Container {
    let mut env: Vec<EnvVar> = step
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            value_from: None,
        })
        .collect();
    let mut mounts: Vec<VolumeMount> = step
        .mounts
        .iter()
        .map(|m| VolumeMount {
            name: volume_name(ctx, m.volume),
            mount_path: m.path.clone(),
            read_only: Some(m.read_only),
            ..VolumeMount::default()
        })
        .collect();
    let mut command = step.command.clone();
    let (image, security, resources) = match (step.name, step.image) {
        (StepName::Materialize, _) => {
            if ctx.git_secret.is_some() {
                mounts.push(secret_mount("git-credentials", GIT_CREDENTIALS_DIR));
                env.push(plain_env("ZENTOO_GIT_CREDENTIALS", GIT_CREDENTIALS_DIR));
            }
            (
                plan.zentoo_image.clone(),
                restricted(Some(NONROOT_UID), &[]),
                resources([("cpu", "50m"), ("memory", "64Mi")], "512Mi"),
            )
        }
        (StepName::Publish, _) => {
            if ctx.registry_secret.is_some() {
                mounts.push(secret_mount("registry-credentials", REGISTRY_CONFIG_DIR));
                env.push(plain_env("DOCKER_CONFIG", REGISTRY_CONFIG_DIR));
            }
            command.extend(["--termination-log".to_string(), ctx.result_file.clone()]);
            // The root filesystem is read-only: the image's OCI layout is written to scratch.
            mounts.push(VolumeMount {
                name: scratch_volume(ctx),
                mount_path: SCRATCH_DIR.into(),
                ..VolumeMount::default()
            });
            env.push(plain_env("TMPDIR", SCRATCH_DIR));
            // Root without privileges: it must read every file of the target root, whoever owns it.
            (
                plan.zentoo_image.clone(),
                restricted(Some(0), &["DAC_READ_SEARCH"]),
                resources([("cpu", "500m"), ("memory", "128Mi")], "1Gi"),
            )
        }
        (_, StepImage::Stage3) => {
            let security = SecurityContext {
                privileged: Some(step.privileged),
                ..SecurityContext::default()
            };
            let res = match step.name {
                StepName::Build => ctx
                    .resources
                    .clone()
                    .unwrap_or_else(|| resources([("cpu", "1"), ("memory", "2Gi")], "8Gi")),
                _ => resources([("cpu", "500m"), ("memory", "512Mi")], "4Gi"),
            };
            (plan.stage3.clone(), security, res)
        }
        (_, StepImage::Zentoo) => (
            plan.zentoo_image.clone(),
            restricted(Some(NONROOT_UID), &[]),
            resources([("cpu", "50m"), ("memory", "64Mi")], "512Mi"),
        ),
    };
    Container {
        name: step.name.as_str().to_string(),
        image: Some(image),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(command),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(security),
        resources: Some(resources),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn secret_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// No privilege escalation, no capabilities but `add`, a read-only root filesystem.
fn restricted(uid: Option<i64>, add: &[&str]) -> SecurityContext {
    SecurityContext {
        run_as_user: uid,
        run_as_non_root: uid.map(|u| u != 0),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: (!add.is_empty()).then(|| add.iter().map(|c| c.to_string()).collect()),
        }),
        ..SecurityContext::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::build::build_plan;
    use crate::plan::build::tests::settings;
    use crate::plan::testing::image_plan;

    pub(crate) fn context() -> BuildContext {
        BuildContext {
            name: "demo-zen-server-nodocs-web-1".into(),
            namespace: "ns".into(),
            site: "demo".into(),
            image: "demo-zen-server-nodocs-web".into(),
            owner: OwnerReference {
                api_version: "zentoo.dev/v1alpha1".into(),
                kind: "GentooImage".into(),
                name: "demo-zen-server-nodocs-web".into(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            claims: SharedClaims {
                binpkgs: "demo-binpkgs".into(),
                distfiles: "demo-distfiles".into(),
                repo: "demo-repo".into(),
            },
            node_selector: BTreeMap::from([("kubernetes.io/arch".into(), "amd64".into())]),
            tolerations: vec![],
            resources: None,
            active_deadline_seconds: 7200,
            service_account: Some("zentoo-build".into()),
            git_secret: Some("git-creds".into()),
            registry_secret: Some("registry-creds".into()),
            image_pull_policy: "IfNotPresent".into(),
            result_file: "/dev/termination-log".into(),
        }
    }

    fn job() -> Job {
        let plan = build_plan(
            &image_plan("zen-server-nodocs-web\n"),
            "c0ffee",
            &settings(),
        );
        render_job(&plan, &context())
    }

    fn pod(job: &Job) -> &PodSpec {
        job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    #[test]
    fn one_job_inits_then_publish_owned_by_the_image() {
        let job = job();
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(7200));
        assert_eq!(
            job.metadata.owner_references.as_ref().unwrap()[0].kind,
            "GentooImage"
        );
        let pod = pod(&job);
        let inits: Vec<&str> = pod
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(inits, ["materialize", "build", "assemble"]);
        assert_eq!(pod.containers[0].name, "publish");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(
            pod.node_selector.as_ref().unwrap()["kubernetes.io/arch"],
            "amd64"
        );
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["zentoo.dev/image"], "demo-zen-server-nodocs-web");
        assert!(labels.values().all(|v| v.len() <= 63));
    }

    #[test]
    fn only_the_build_step_is_privileged_and_secrets_reach_only_their_step() {
        let job = job();
        let pod = pod(&job);
        let all: Vec<&Container> = pod
            .init_containers
            .iter()
            .flatten()
            .chain(pod.containers.iter())
            .collect();
        for c in &all {
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(sc.privileged == Some(true), c.name == "build", "{}", c.name);
            let mounts: Vec<&str> = c
                .volume_mounts
                .iter()
                .flatten()
                .map(|m| m.name.as_str())
                .collect();
            assert_eq!(
                mounts.contains(&"git-credentials"),
                c.name == "materialize",
                "{}",
                c.name
            );
            assert_eq!(
                mounts.contains(&"registry-credentials"),
                c.name == "publish",
                "{}",
                c.name
            );
            assert!(
                c.resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .is_some(),
                "{} has limits",
                c.name
            );
        }
        let materialize = all[0].security_context.as_ref().unwrap();
        assert_eq!(materialize.run_as_non_root, Some(true));
        assert_eq!(materialize.read_only_root_filesystem, Some(true));
        let publish = all[3];
        assert!(
            publish
                .command
                .as_ref()
                .unwrap()
                .ends_with(&["--termination-log".into(), "/dev/termination-log".into()])
        );
        // Its root filesystem is read-only: TMPDIR is a writable emptyDir of this build.
        let tmpdir = publish
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "TMPDIR");
        assert_eq!(tmpdir.and_then(|e| e.value.as_deref()), Some(SCRATCH_DIR));
        let scratch = publish
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == SCRATCH_DIR)
            .expect("scratch mount");
        assert_ne!(scratch.read_only, Some(true));
        let volumes = job
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .volumes
            .as_ref()
            .unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v.name == scratch.name && v.empty_dir.is_some())
        );
    }

    #[test]
    fn tmpfs_is_a_memory_empty_dir_mounted_as_portage_tmpdir_in_build_and_assemble() {
        let mut s = settings();
        s.tmpfs = Some("6Gi".into());
        let plan = build_plan(&image_plan("zen-server-nodocs-web\n"), "c0ffee", &s);
        let job = render_job(&plan, &context());
        let pod = pod(&job);
        let tmp = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "demo-zen-server-nodocs-web-1-portage-tmp")
            .and_then(|v| v.empty_dir.clone())
            .expect("portage-tmp emptyDir");
        assert_eq!(tmp.medium.as_deref(), Some("Memory"));
        assert_eq!(tmp.size_limit, Some(Quantity("6Gi".into())));
        for c in pod.init_containers.iter().flatten() {
            let mounted = c
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name.ends_with("-portage-tmp"));
            assert_eq!(mounted, c.name != "materialize", "{}", c.name);
            let env = c
                .env
                .iter()
                .flatten()
                .find(|e| e.name == "ZENTOO_PORTAGE_TMPDIR");
            assert_eq!(env.is_some(), c.name != "materialize", "{}", c.name);
        }
        let without = render_job(
            &build_plan(
                &image_plan("zen-server-nodocs-web\n"),
                "c0ffee",
                &settings(),
            ),
            &context(),
        );
        assert!(
            !pod_volumes(&without)
                .iter()
                .any(|v| v.name.ends_with("-portage-tmp"))
        );
    }

    fn pod_volumes(job: &Job) -> Vec<PodVolume> {
        pod(job).volumes.clone().unwrap_or_default()
    }

    #[test]
    fn shared_volumes_are_the_site_claims_and_scratch_is_per_build() {
        let job = job();
        let volumes = pod(&job).volumes.as_ref().unwrap();
        let claim = |n: &str| {
            volumes
                .iter()
                .find(|v| v.name == n)
                .and_then(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.clone())
        };
        assert_eq!(claim("binpkgs").as_deref(), Some("demo-binpkgs"));
        assert_eq!(claim("repo").as_deref(), Some("demo-repo"));
        let work = volumes
            .iter()
            .find(|v| v.name == "demo-zen-server-nodocs-web-1-work")
            .unwrap();
        assert!(work.empty_dir.is_some());
        let assemble = &pod(&job).init_containers.as_ref().unwrap()[2];
        let binpkgs = assemble
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == "binpkgs")
            .unwrap();
        assert_eq!(binpkgs.read_only, Some(true));
    }
}
