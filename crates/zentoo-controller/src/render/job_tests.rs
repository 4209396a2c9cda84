//! Unit tests of the build Job rendering.

use super::*;
use zentoo_core::plan::build::build_plan;
use zentoo_core::plan::testing::image_plan;
use zentoo_core::plan::testing::settings;

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
        signing_secret: Some("signing-key".into()),
        image_signing_secret: Some("image-key".into()),
        image_pull_policy: "IfNotPresent".into(),
        result_file: "/dev/termination-log".into(),
        host_network: false,
        log_keep: 5,
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
    assert_eq!(inits, ["materialize", "build", "sign", "assemble", "pack"]);
    assert_eq!(pod.containers[0].name, "publish");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.enable_service_links, Some(false));
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(
        pod.node_selector.as_ref().unwrap()["kubernetes.io/arch"],
        "amd64"
    );
    let labels = job.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["zentoo.dev/image"], "demo-zen-server-nodocs-web");
    assert!(labels.values().all(|v| v.len() <= 63));
    let template = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap();
    let pod_annotations = template.annotations.as_ref().unwrap();
    assert_eq!(pod_annotations[PODMAN_INIT_ANNOTATION], "always");
    assert!(
        pod_annotations.values().all(|v| v.len() <= 63),
        "podman kube play"
    );
    assert!(job.metadata.annotations.as_ref().unwrap()["zentoo.dev/inputs-digest"].len() > 63);
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
        // The key is mounted into the sign step alone: no site code (hooks) runs there.
        assert_eq!(
            mounts.contains(&"binpkg-signing"),
            c.name == "sign",
            "{}",
            c.name
        );
        // The image signing key: the push container alone (not pack, which reads the root).
        assert_eq!(
            mounts.contains(&"image-signing"),
            c.name == "publish",
            "{}",
            c.name
        );
        let signs = c.env.iter().flatten().any(|e| e.name == "ZENTOO_SIGN_KEY");
        assert_eq!(signs, c.name == "publish", "{}", c.name);
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
    let by_name = |name: &str| *all.iter().find(|c| c.name == name).expect(name);
    let (pack, publish) = (by_name("pack"), by_name("publish"));
    assert!(
        publish
            .command
            .as_ref()
            .unwrap()
            .ends_with(&["--termination-log".into(), "/dev/termination-log".into()])
    );
    // Steps whose root filesystem is read-only write to a writable emptyDir of this build.
    for c in [all[0], pack, publish] {
        let tmpdir = c.env.iter().flatten().find(|e| e.name == "TMPDIR");
        assert_eq!(
            tmpdir.and_then(|e| e.value.as_deref()),
            Some(SCRATCH_DIR),
            "{}",
            c.name
        );
        let scratch = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == SCRATCH_DIR)
            .unwrap_or_else(|| panic!("{} mounts scratch", c.name));
        assert_ne!(scratch.read_only, Some(true));
        let volumes = pod.volumes.as_ref().unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v.name == scratch.name && v.empty_dir.is_some())
        );
    }
    // pack and publish share theirs; materialize has its own.
    let scratch_of = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == SCRATCH_DIR)
            .map(|m| m.name.clone())
    };
    assert_eq!(scratch_of(pack), scratch_of(publish));
    assert_ne!(scratch_of(all[0]), scratch_of(pack));
}

fn container<'a>(pod: &'a PodSpec, name: &str) -> &'a Container {
    pod.init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn materialize_and_publish_run_as_non_root_on_a_read_only_root() {
    let job = job();
    let pod = pod(&job);
    for name in ["materialize", "publish"] {
        let sc = container(pod, name).security_context.clone().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true), "{name}");
        assert_eq!(sc.run_as_user, Some(NONROOT_UID), "{name}");
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "{name}");
        assert_eq!(caps.add, None, "{name}");
    }
    // Packing reads every file of the target root: root, with only DAC_READ_SEARCH, and
    // nothing to leak: no credentials, no writable mount but scratch.
    let pack = container(pod, PACK_CONTAINER);
    let sc = pack.security_context.clone().unwrap();
    assert_eq!(sc.run_as_user, Some(0));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        sc.capabilities.unwrap().add,
        Some(vec!["DAC_READ_SEARCH".to_string()])
    );
    for m in pack.volume_mounts.iter().flatten() {
        assert!(
            m.read_only == Some(true) || m.mount_path == SCRATCH_DIR,
            "{m:?}"
        );
        assert!(!m.name.contains("credentials"), "{m:?}");
    }
    let pack_cmd = pack.command.as_ref().unwrap().join(" ");
    assert!(pack_cmd.contains("--rootfs /target"), "{pack_cmd}");
    assert!(
        pack_cmd.contains(&format!("--oci-layout {LAYOUT_DIR}")),
        "{pack_cmd}"
    );
    assert!(!pack_cmd.contains("--push"), "{pack_cmd}");
    // Publish pushes what pack wrote; it never sees the target root.
    let publish = container(pod, "publish");
    let cmd = publish.command.as_ref().unwrap().join(" ");
    assert!(
        cmd.starts_with(&format!("zentoo publish --oci-layout {LAYOUT_DIR} --output json --image registry.example/zentoo/web:latest --push")),
        "{cmd}"
    );
    assert!(!cmd.contains("--rootfs"), "{cmd}");
    assert!(
        publish
            .volume_mounts
            .iter()
            .flatten()
            .all(|m| m.mount_path != "/target")
    );
    // It audits the packed SBOM against the pinned snapshot's GLSAs, read-only.
    assert!(
        cmd.contains(" --glsa-dir /var/db/zentoo/repos/latest/metadata/glsa "),
        "{cmd}"
    );
    let repo = publish
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/var/db/zentoo/repos");
    assert_eq!(repo.and_then(|m| m.read_only), Some(true));
}

#[test]
fn the_pod_is_on_the_nodes_network_only_when_the_operator_says_so() {
    let plan = build_plan(
        &image_plan("zen-server-nodocs-web\n"),
        "c0ffee",
        &settings(),
    );
    let own = render_job(&plan, &context());
    assert_eq!(pod(&own).host_network, None);
    assert_eq!(pod(&own).dns_policy, None);
    let host = render_job(
        &plan,
        &BuildContext {
            host_network: true,
            ..context()
        },
    );
    assert_eq!(pod(&host).host_network, Some(true));
    assert_eq!(
        pod(&host).dns_policy.as_deref(),
        Some("ClusterFirstWithHostNet")
    );
}

#[test]
fn the_push_is_plain_http_only_to_a_registry_named_insecure() {
    let push_command = |image: &str, insecure: &[&str]| {
        let s = zentoo_core::plan::build::BuildSettings {
            image: Some(zentoo_core::plan::build::ImageTarget::Push(image.into())),
            insecure_registries: insecure.iter().map(|r| r.to_string()).collect(),
            ..settings()
        };
        let plan = build_plan(&image_plan("zen-server-nodocs-web\n"), "c0ffee", &s);
        let job = render_job(&plan, &context());
        let pod = pod(&job);
        let pack = container(pod, "pack").command.clone().unwrap_or_default();
        assert!(
            !pack.contains(&"--insecure-registry".to_string()),
            "pack reaches no registry: {pack:?}"
        );
        container(pod, "publish")
            .command
            .clone()
            .unwrap_or_default()
    };
    let insecure = push_command("localhost:5000/zentoo/web:latest", &["localhost:5000"]);
    let at = insecure
        .iter()
        .position(|a| a == "--insecure-registry")
        .unwrap_or_else(|| panic!("no --insecure-registry in {insecure:?}"));
    assert_eq!(insecure[at + 1], "localhost:5000");
    assert_eq!(
        insecure
            .iter()
            .filter(|a| *a == "--insecure-registry")
            .count(),
        1
    );
    for (image, names) in [
        (
            "registry.example/zentoo/web:latest",
            &["localhost:5000"][..],
        ),
        ("localhost:5000/zentoo/web:latest", &[][..]),
    ] {
        let secure = push_command(image, names);
        assert!(
            !secure.contains(&"--insecure-registry".to_string()),
            "{image}: {secure:?}"
        );
    }
}

#[test]
fn secrets_are_files_of_their_step_never_environment_values() {
    let job = job();
    let pod = pod(&job);
    for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
        for e in c.env.iter().flatten() {
            // Render never holds a secret value: only Secret names reach it. An env var may
            // point at a Secret (secretKeyRef), never carry one.
            assert!(
                e.value_from
                    .as_ref()
                    .is_none_or(|v| v.secret_key_ref.is_some()),
                "{}: {e:?}",
                c.name
            );
            for secret in ["git-creds", "registry-creds", "signing-key", "image-key"] {
                assert!(
                    !e.value.as_deref().unwrap_or_default().contains(secret),
                    "{}: {e:?}",
                    c.name
                );
            }
        }
    }
    let volumes = pod.volumes.as_ref().unwrap();
    let secret = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.secret.as_ref())
            .unwrap_or_else(|| panic!("secret volume {name}"))
    };
    assert_eq!(
        secret("git-credentials").secret_name.as_deref(),
        Some("git-creds")
    );
    let registry = secret("registry-credentials");
    assert_eq!(registry.secret_name.as_deref(), Some("registry-creds"));
    assert_eq!(registry.items.as_ref().unwrap()[0].path, "config.json");
    let docker_config = container(pod, "publish")
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "DOCKER_CONFIG")
        .and_then(|e| e.value.clone());
    assert_eq!(docker_config.as_deref(), Some(REGISTRY_CONFIG_DIR));
    // The signing key: only `key`, read-only, owner-only, mounted into the sign step alone (no
    // site code runs there), which comes right after the build step.
    let image_signing = secret("image-signing");
    assert_eq!(image_signing.secret_name.as_deref(), Some("image-key"));
    assert_eq!(image_signing.items.as_ref().unwrap()[0].key, "key");
    assert_eq!(image_signing.default_mode, Some(0o400));
    let signing = secret("binpkg-signing");
    assert_eq!(signing.secret_name.as_deref(), Some("signing-key"));
    assert_eq!(signing.items.as_ref().unwrap()[0].key, "key");
    assert_eq!(signing.default_mode, Some(0o400));
    let order: Vec<&str> = pod
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(order, ["materialize", "build", "sign", "assemble", "pack"]);
    let sign = container(pod, "sign");
    let mount = sign
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "binpkg-signing")
        .expect("sign mounts the signing key");
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        (SIGNING_KEY_DIR, Some(true))
    );
    assert_eq!(sign.command.as_ref().unwrap()[1], "/zentoo/steps/sign.sh");
    assert_eq!(
        sign.security_context.as_ref().unwrap().privileged,
        Some(false)
    );
    let env = |c: &Container, name: &str| {
        c.env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        env(sign, "ZENTOO_SIGNING_KEY"),
        Some(format!("{SIGNING_KEY_DIR}/key"))
    );
    for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
        let told = env(c, "ZENTOO_SIGNING_KEY").is_some();
        assert_eq!(told, c.name == "sign", "{}", c.name);
    }
    // The build step (hooks run there) mounts the work volume read-only: the public key the
    // sign step leaves there for the assemble step to verify with is out of its reach.
    let work_mount = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == "/zentoo")
            .and_then(|m| m.read_only)
    };
    assert_eq!(work_mount(container(pod, "build")), Some(true));
    assert_eq!(work_mount(sign), Some(false));
    assert_eq!(
        env(container(pod, "assemble"), "ZENTOO_SIGNING_PUBKEY").as_deref(),
        Some(SIGNING_PUBKEY_FILE)
    );
}

#[test]
fn every_container_has_requests_and_a_memory_limit() {
    let mut ctx = context();
    // A spec that asks only for cpu still gets a memory request and limit.
    ctx.resources = Some(ResourceRequirements {
        requests: Some(BTreeMap::from([(
            "cpu".into(),
            super::super::resources::quantity("6"),
        )])),
        ..ResourceRequirements::default()
    });
    let plan = build_plan(
        &image_plan("zen-server-nodocs-web\n"),
        "c0ffee",
        &settings(),
    );
    let job = render_job(&plan, &ctx);
    let pod = pod(&job);
    for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
        let r = c.resources.as_ref().unwrap();
        let requests = r.requests.as_ref().unwrap();
        assert!(
            requests.contains_key("cpu") && requests.contains_key("memory"),
            "{}",
            c.name
        );
        assert!(
            r.limits.as_ref().unwrap().contains_key("memory"),
            "{}",
            c.name
        );
    }
    let build = container(pod, "build").resources.as_ref().unwrap();
    assert_eq!(build.requests.as_ref().unwrap()["cpu"].0, "6");
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
    let assemble = container(pod(&job), "assemble");
    let binpkgs = assemble
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "binpkgs")
        .unwrap();
    assert_eq!(binpkgs.read_only, Some(true));
}

#[test]
fn volume_names_of_the_longest_job_name_are_labels() {
    let mut ctx = context();
    // The longest name the controller gives a Job: 40 + 1 + 8 + 1 + 6 characters.
    ctx.name = format!("{}-{}-{}", "a".repeat(40), "b".repeat(8), "c".repeat(6));
    let plan = build_plan(
        &image_plan("zen-server-nodocs-web\n"),
        "c0ffee",
        &settings(),
    );
    let job = render_job(&plan, &ctx);
    let pod = pod(&job);
    let names: Vec<&str> = pod
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    for name in &names {
        assert!(name.len() <= 63, "{name} is {} characters", name.len());
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
        for m in c.volume_mounts.iter().flatten() {
            assert!(names.contains(&m.name.as_str()), "{}: {}", c.name, m.name);
        }
    }
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
    assert_eq!(tmp.size_limit.map(|q| q.0).as_deref(), Some("6Gi"));
    for c in pod.init_containers.iter().flatten() {
        let mounted = c
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name.ends_with("-portage-tmp"));
        let stage3 = c.name == "build" || c.name == "assemble";
        assert_eq!(mounted, stage3, "{}", c.name);
        let env = c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "ZENTOO_PORTAGE_TMPDIR");
        assert_eq!(env.is_some(), stage3, "{}", c.name);
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
fn build_sign_and_assemble_keep_their_logs_in_the_builds_directory_of_the_binpkg_volume() {
    let job = job();
    let pod = pod(&job);
    let env = |c: &str, name: &str| {
        container(pod, c)
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    let dir = "/var/cache/binpkgs/.zentoo/logs/zen-server-nodocs-web/demo-zen-server-nodocs-web-1";
    assert_eq!(env("build", "ZENTOO_LOG_DIR").as_deref(), Some(dir));
    assert_eq!(env("build", "ZENTOO_LOG_KEEP").as_deref(), Some("5"));
    assert_eq!(env("sign", "ZENTOO_LOG_DIR").as_deref(), Some(dir));
    assert_eq!(
        env("sign", "ZENTOO_LOG_KEEP"),
        None,
        "only the build step prunes"
    );
    assert_eq!(
        env("assemble", "ZENTOO_LOG_DIR").as_deref(),
        Some("/var/log/zentoo")
    );
    // Assemble's binary packages stay read-only: only its log directory is writable.
    let mounts: Vec<_> = container(pod, "assemble")
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name == "binpkgs")
        .map(|m| (m.mount_path.as_str(), m.read_only, m.sub_path.as_deref()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/var/cache/binpkgs", Some(true), None),
            (
                "/var/log/zentoo",
                Some(false),
                Some(".zentoo/logs/zen-server-nodocs-web/demo-zen-server-nodocs-web-1")
            ),
        ]
    );
    for step in ["materialize", "pack", "publish"] {
        assert_eq!(env(step, "ZENTOO_LOG_DIR"), None, "{step}");
    }
}
