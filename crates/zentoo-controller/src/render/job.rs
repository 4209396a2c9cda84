//! A build as one Job: init containers materialize → build → assemble, container publish.

use super::names::{MAX_LABEL, dns_label};
use super::resources::{resources, with_defaults};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Toleration,
    Volume as PodVolume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use zentoo_api::{annotations, labels};
use zentoo_core::plan::build::{
    BINPKGS_DIR, BuildPlan, REPOS_DIR, STEP_LOG_MOUNT, Step, StepImage, StepName, Volume, WORK_DIR,
    build_log_dir,
};

/// Where the git credentials Secret is mounted in the materialize step.
pub const GIT_CREDENTIALS_DIR: &str = "/var/run/zentoo/git";
/// Where the registry credentials (`config.json`) are mounted in the publish step.
pub const REGISTRY_CONFIG_DIR: &str = "/var/run/zentoo/registry";
/// Where the binpkg signing key Secret is mounted in the build step (its key `key`).
pub const SIGNING_KEY_DIR: &str = "/var/run/zentoo/binpkg-signing";
/// The init container that signs the build's binpkgs (sites with `storage.binpkgSigning`).
pub const SIGN_CONTAINER: &str = "sign";
/// Where the sign step leaves the site's public key for the assemble step (the work volume).
pub const SIGNING_PUBKEY_FILE: &str = "/zentoo/binpkg-signing.asc";
/// Where the build step writes its counts (JSON): the container's termination message path, so
/// the kubelet reports them in the pod's status (`controller::outcome::build_counts`).
pub const BUILD_RESULT_FILE: &str = "/dev/termination-log";
/// Pod annotation that makes `podman kube play` keep finished init containers.
pub const PODMAN_INIT_ANNOTATION: &str = "io.podman.annotations.init.container.type";
/// DNS policy of a pod on the node's network that still resolves cluster names.
pub const HOST_NETWORK_DNS: &str = "ClusterFirstWithHostNet";
/// The user the materialize step runs as.
pub const NONROOT_UID: i64 = 65532;
/// Where the push container finds the image signing key.
pub const IMAGE_SIGNING_DIR: &str = "/var/run/zentoo/image-signing";

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
    /// The Job's name (a DNS label).
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
    /// Secret with the binpkg signing key (`key`), mounted into the build step only.
    pub signing_secret: Option<String>,
    /// Secret with the image signing key (`key`), mounted into the push container only.
    pub image_signing_secret: Option<String>,
    /// Pull policy of every container.
    pub image_pull_policy: String,
    /// Where the publish step writes its JSON result (the termination message path).
    pub result_file: String,
    /// The pod uses the node's network (`hostNetwork`, DNS still the cluster's).
    pub host_network: bool,
    /// Log directories kept per image on the binary package volume (the image's
    /// `historyLimit`): the build step removes older ones.
    pub log_keep: u32,
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
    let mut containers: Vec<Container> = Vec::new();
    let mut publish = Vec::new();
    for step in &plan.steps {
        if step.name == StepName::Publish {
            let (pack, push) = publish_containers(plan, ctx, step);
            containers.push(pack);
            publish.push(push);
        } else {
            containers.push(container(plan, ctx, step));
            if step.name == StepName::Build && ctx.signing_secret.is_some() {
                containers.push(sign_container(plan, ctx, step));
            }
        }
    }
    // The full digest and revision stay on the Job: `podman kube play` (4.3) refuses pod
    // annotation values over 63 characters.
    let pod_annotations = BTreeMap::from([(PODMAN_INIT_ANNOTATION.into(), "always".into())]);

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
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    init_containers: Some(containers),
                    containers: publish,
                    volumes: Some(volumes(plan, ctx)),
                    host_network: ctx.host_network.then_some(true),
                    dns_policy: ctx.host_network.then(|| HOST_NETWORK_DNS.into()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// Scratch space (an emptyDir, `TMPDIR`) of the steps whose root filesystem is read-only:
/// materialize fetches into it, pack writes the image's OCI layout into it for publish.
pub const SCRATCH_DIR: &str = "/var/tmp/zentoo";
/// Where the pack step writes the image for the publish step to push.
pub const LAYOUT_DIR: &str = "/var/tmp/zentoo/oci";
/// The init container that packs the target root (root, read-only, no credentials).
pub const PACK_CONTAINER: &str = "pack";

/// The scratch emptyDir of `pack` and `publish` (unique per build, like the other emptyDirs).
fn scratch_volume(ctx: &BuildContext) -> String {
    build_volume(ctx, "scratch")
}

/// The scratch emptyDir of `materialize`, its own: nothing it fetched reaches the publish
/// steps, and a volume first mounted by its non-root user does not become one that `pack`
/// (root without DAC_OVERRIDE) cannot write into (Podman hands an empty volume to the user
/// of the first container mounting it).
fn fetch_volume(ctx: &BuildContext) -> String {
    build_volume(ctx, "fetch")
}

/// The pod volume name of `volume` in build `ctx`.
pub fn pod_volume(ctx: &BuildContext, volume: Volume) -> String {
    if volume.is_shared() {
        volume.as_str().to_string()
    } else {
        build_volume(ctx, volume.as_str())
    }
}

/// `<job>-<what>`: podman kube play names emptyDir volumes after their volume name, so it is
/// unique per build; a volume name is a DNS label of at most 63 characters.
fn build_volume(ctx: &BuildContext, what: &str) -> String {
    dns_label(&[&ctx.name, what], MAX_LABEL)
}

fn volumes(plan: &BuildPlan, ctx: &BuildContext) -> Vec<PodVolume> {
    let claim = |volume: Volume, claim: &str| PodVolume {
        name: pod_volume(ctx, volume),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: None,
        }),
        ..PodVolume::default()
    };
    let empty = |volume: Volume| PodVolume {
        name: pod_volume(ctx, volume),
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
        PodVolume {
            name: fetch_volume(ctx),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..PodVolume::default()
        },
    ];
    if let Some(size) = &plan.tmpfs {
        out.push(PodVolume {
            name: pod_volume(ctx, Volume::PortageTmp),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(crate::render::resources::quantity(size)),
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
    for (name, secret) in [
        ("binpkg-signing", &ctx.signing_secret),
        ("image-signing", &ctx.image_signing_secret),
    ] {
        if let Some(secret) = secret {
            out.push(key_secret_volume(name, secret));
        }
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
    let mut mounts = step_mounts(ctx, step);
    let command = step.command.clone();
    let (image, security, resources) = match (step.name, step.image) {
        (StepName::Materialize, _) => {
            if ctx.git_secret.is_some() {
                mounts.push(secret_mount("git-credentials", GIT_CREDENTIALS_DIR));
                env.push(plain_env("ZENTOO_GIT_CREDENTIALS", GIT_CREDENTIALS_DIR));
            }
            // The root filesystem is read-only: a remote site is fetched into scratch.
            mounts.push(scratch_mount(fetch_volume(ctx)));
            env.push(plain_env("TMPDIR", SCRATCH_DIR));
            (
                plan.zentoo_image.clone(),
                restricted(Some(NONROOT_UID), &[]),
                resources([("cpu", "50m"), ("memory", "64Mi")], "512Mi"),
            )
        }
        (_, StepImage::Stage3) => {
            // The build step records what it used under this id (crates/zentoo-core/src/steps/records.sh).
            env.push(plain_env("ZENTOO_BUILD_ID", &ctx.name));
            if step.name == StepName::Build {
                env.push(plain_env("ZENTOO_RESULT_FILE", BUILD_RESULT_FILE));
            }
            keep_logs(ctx, step, &mut env, &mut mounts);
            // The assemble step verifies every binpkg against the key the sign step wrote into
            // the work volume, which the build step (site code) mounts read-only.
            if step.name == StepName::Assemble && ctx.signing_secret.is_some() {
                env.push(plain_env("ZENTOO_SIGNING_PUBKEY", SIGNING_PUBKEY_FILE));
            }
            let security = SecurityContext {
                privileged: Some(step.privileged),
                ..SecurityContext::default()
            };
            let res = match step.name {
                StepName::Build => with_defaults(
                    ctx.resources.clone(),
                    resources([("cpu", "1"), ("memory", "2Gi")], "8Gi"),
                ),
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

/// The sign step, for a site that signs its binpkgs: after the build step, in the stage3 image
/// with the build step's environment (its PKGDIR) but no site code (`crates/zentoo-core/src/steps/sign.sh`); the
/// only container that mounts the signing key. It writes the public key into the work volume
/// (read-write here only) for the assemble step.
fn sign_container(plan: &BuildPlan, ctx: &BuildContext, build: &Step) -> Container {
    // What names the build's PKGDIR and record, nothing else of the build step's settings.
    const SIGN_ENV: [&str; 8] = [
        "ZENTOO_DIR",
        "ZENTOO_BINPKGS",
        "ZENTOO_IMAGE",
        "ZENTOO_CHOST",
        "ZENTOO_CFLAGS",
        "ZENTOO_CXXFLAGS",
        "ZENTOO_LDFLAGS",
        "ZENTOO_PKGDIR",
    ];
    let mut env: Vec<EnvVar> = build
        .env
        .iter()
        .filter(|(name, _)| SIGN_ENV.contains(&name.as_str()))
        .map(|(name, value)| plain_env(name, value))
        .collect();
    env.push(plain_env("ZENTOO_BUILD_ID", &ctx.name));
    if let Some(dir) = log_dir(ctx, build) {
        env.push(plain_env("ZENTOO_LOG_DIR", &format!("{BINPKGS_DIR}/{dir}")));
    }
    env.push(plain_env(
        "ZENTOO_SIGNING_KEY",
        &format!("{SIGNING_KEY_DIR}/key"),
    ));
    env.push(plain_env("ZENTOO_SIGNING_PUBKEY", SIGNING_PUBKEY_FILE));
    let mounts = vec![
        volume_mount(ctx, Volume::Work, WORK_DIR, false),
        volume_mount(ctx, Volume::Binpkgs, BINPKGS_DIR, false),
        secret_mount("binpkg-signing", SIGNING_KEY_DIR),
    ];
    Container {
        name: SIGN_CONTAINER.into(),
        image: Some(plan.stage3.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(vec!["/bin/sh".into(), format!("{WORK_DIR}/steps/sign.sh")]),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            ..SecurityContext::default()
        }),
        resources: Some(resources([("cpu", "100m"), ("memory", "128Mi")], "1Gi")),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// The plan's publish step as two containers: `pack` (an init container: root with only
/// `DAC_READ_SEARCH`, to read every file of the target root whoever owns it; no credentials)
/// writes the image into scratch, `publish` (non-root, the only step with the registry
/// credentials) pushes it and writes the result as its termination message.
fn publish_containers(plan: &BuildPlan, ctx: &BuildContext, step: &Step) -> (Container, Container) {
    let (pack_cmd, mut push_cmd) = plan.publish.split_command(LAYOUT_DIR);
    push_cmd.extend(["--termination-log".to_string(), ctx.result_file.clone()]);
    let mut env: Vec<EnvVar> = step
        .env
        .iter()
        .map(|(name, value)| plain_env(name, value))
        .collect();
    env.push(plain_env("TMPDIR", SCRATCH_DIR));
    let mut mounts = step_mounts(ctx, step);
    mounts.push(scratch_mount(scratch_volume(ctx)));
    let pack = Container {
        name: PACK_CONTAINER.into(),
        image: Some(plan.zentoo_image.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(pack_cmd),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(restricted(Some(0), &["DAC_READ_SEARCH"])),
        resources: Some(resources([("cpu", "500m"), ("memory", "128Mi")], "1Gi")),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    let mut env = vec![plain_env("TMPDIR", SCRATCH_DIR)];
    let mut mounts = vec![scratch_mount(scratch_volume(ctx))];
    if plan.publish.glsa_dir.is_some() {
        // The GLSAs of the pinned snapshot, read-only: the image's SBOM is audited here.
        mounts.push(volume_mount(ctx, Volume::Repo, REPOS_DIR, true));
    }
    with_registry_credentials(ctx, &mut mounts, &mut env);
    if ctx.image_signing_secret.is_some() {
        mounts.push(secret_mount("image-signing", IMAGE_SIGNING_DIR));
        env.push(plain_env(
            "ZENTOO_SIGN_KEY",
            &format!("{IMAGE_SIGNING_DIR}/key"),
        ));
    }
    let push = Container {
        name: step.name.as_str().to_string(),
        image: Some(plan.zentoo_image.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(push_cmd),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(restricted(Some(NONROOT_UID), &[])),
        resources: Some(resources([("cpu", "100m"), ("memory", "64Mi")], "512Mi")),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    (pack, push)
}

/// The registry credentials Secret of `ctx`, if it has one, mounted as `DOCKER_CONFIG`: for
/// the containers that talk to the registry (publish, an audit) and no other.
pub(super) fn with_registry_credentials(
    ctx: &BuildContext,
    mounts: &mut Vec<VolumeMount>,
    env: &mut Vec<EnvVar>,
) {
    if ctx.registry_secret.is_some() {
        mounts.push(secret_mount("registry-credentials", REGISTRY_CONFIG_DIR));
        env.push(plain_env("DOCKER_CONFIG", REGISTRY_CONFIG_DIR));
    }
}

/// The volumes `step` mounts, under this build's volume names.
/// The build's log directory on the binary package volume (relative to it), named by the
/// image's record name (`ZENTOO_IMAGE`) and the Job.
fn log_dir(ctx: &BuildContext, step: &Step) -> Option<String> {
    let image = step.env.get("ZENTOO_IMAGE")?;
    Some(build_log_dir(image, &ctx.name))
}

/// Durable logs of a stage3 step: the build step writes its log directory through its
/// read-write binary package mount (and prunes older ones to `log_keep`); assemble, whose
/// binary packages are read-only, gets that directory alone mounted read-write.
fn keep_logs(
    ctx: &BuildContext,
    step: &Step,
    env: &mut Vec<EnvVar>,
    mounts: &mut Vec<VolumeMount>,
) {
    let Some(dir) = log_dir(ctx, step) else {
        return;
    };
    match step.name {
        StepName::Build => {
            env.push(plain_env("ZENTOO_LOG_DIR", &format!("{BINPKGS_DIR}/{dir}")));
            env.push(plain_env(
                "ZENTOO_LOG_KEEP",
                &ctx.log_keep.max(1).to_string(),
            ));
        }
        StepName::Assemble => {
            env.push(plain_env("ZENTOO_LOG_DIR", STEP_LOG_MOUNT));
            mounts.push(VolumeMount {
                sub_path: Some(dir),
                ..volume_mount(ctx, Volume::Binpkgs, STEP_LOG_MOUNT, false)
            });
        }
        _ => {}
    }
}

fn step_mounts(ctx: &BuildContext, step: &Step) -> Vec<VolumeMount> {
    step.mounts
        .iter()
        .map(|m| volume_mount(ctx, m.volume, &m.path, m.read_only))
        .collect()
}

/// `volume` of this build mounted at `path`.
pub(super) fn volume_mount(
    ctx: &BuildContext,
    volume: Volume,
    path: &str,
    read_only: bool,
) -> VolumeMount {
    VolumeMount {
        name: pod_volume(ctx, volume),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn scratch_mount(volume: String) -> VolumeMount {
    VolumeMount {
        name: volume,
        mount_path: SCRATCH_DIR.into(),
        ..VolumeMount::default()
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
pub(crate) fn restricted(uid: Option<i64>, add: &[&str]) -> SecurityContext {
    SecurityContext {
        run_as_user: uid,
        run_as_non_root: uid.map(|u| u != 0),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: (!add.is_empty()).then(|| add.iter().map(|c| c.to_string()).collect()),
        }),
        ..SecurityContext::default()
    }
}

/// Volume `name` holding only the `key` item of Secret `secret`, readable by its owner alone.
fn key_secret_volume(name: &str, secret: &str) -> PodVolume {
    PodVolume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            items: Some(vec![KeyToPath {
                key: "key".into(),
                path: "key".into(),
                ..KeyToPath::default()
            }]),
            default_mode: Some(0o400),
            ..SecretVolumeSource::default()
        }),
        ..PodVolume::default()
    }
}

#[cfg(test)]
#[path = "job_tests.rs"]
pub(crate) mod tests;
