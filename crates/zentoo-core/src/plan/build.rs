//! One build of one image as pure data: its steps in order, each with its container image,
//! command, environment and mounts. The local runner and the cluster renderer both translate
//! this, so the two paths run the very same steps.

use super::ImagePlan;
use crate::site::cpus::arch;
use crate::site::url::redact_url;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the materialized portage tree, hooks, sets and step scripts are mounted.
pub const WORK_DIR: &str = "/zentoo";
/// Where the assembled target root is mounted.
pub const TARGET_DIR: &str = "/target";
/// Where the shared binary package volume is mounted (`PKGDIR`s live below it).
pub const BINPKGS_DIR: &str = "/var/cache/binpkgs";
/// Where builds keep their logs, relative to the binary package volume:
/// `<LOGS_DIR>/<image>/<build>/` holds `<step>.log` of the steps that run Portage and
/// `packages/`, Portage's per-package logs (`<category>:<pf>:<time>.log`). The binhost serves
/// it read-only under `/logs/` (`crates/zentoo-core/src/steps/README.md`, `ZENTOO_LOG_DIR`).
pub const LOGS_DIR: &str = ".zentoo/logs";
/// Where a step whose binary package volume is read-only (assemble) mounts its build's log
/// directory, read-write (a `subPath` of the volume).
pub const STEP_LOG_MOUNT: &str = "/var/log/zentoo";

/// The log directory of build `build` of image (record name) `image`, relative to the binary
/// package volume.
pub fn build_log_dir(image: &str, build: &str) -> String {
    format!("{LOGS_DIR}/{image}/{build}")
}

/// Where the shared distfiles volume is mounted (`DISTDIR`).
pub const DISTFILES_DIR: &str = "/var/cache/distfiles";
/// Where Portage's own default puts the ebuild repository (`gentoo`); zentoo points
/// `repos.conf` at a snapshot below [`REPOS_DIR`] instead.
pub const REPO_DIR: &str = "/var/db/repos/gentoo";
/// Where the shared ebuild repository volume is mounted: one directory per snapshot
/// (`latest`, `20261101`, a commit id), each synced once and then shared.
pub const REPOS_DIR: &str = "/var/db/zentoo/repos";
/// The publish step's environment variable holding the provenance predicate (JSON) of the
/// build ([`super::provenance::predicate`]).
pub const PROVENANCE_ENV: &str = "ZENTOO_PROVENANCE";
/// Where the memory-backed `PORTAGE_TMPDIR` is mounted when the build asks for one.
pub const PORTAGE_TMPFS_DIR: &str = "/var/tmp/portage-tmpfs";

/// A volume a step mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Volume {
    /// Shared by every build of the site: binary packages.
    Binpkgs,
    /// Shared by every build of the site: source archives.
    Distfiles,
    /// Shared by every build of the site: the ebuild repository.
    Repo,
    /// This build's own: the materialized inputs and step scripts.
    Work,
    /// This build's own: the assembled target root.
    Target,
    /// This build's own, memory-backed: `PORTAGE_TMPDIR` of the build and assemble steps.
    PortageTmp,
}

impl Volume {
    /// True for the site's shared volumes (PVCs in a cluster, named volumes locally).
    pub fn is_shared(self) -> bool {
        matches!(self, Volume::Binpkgs | Volume::Distfiles | Volume::Repo)
    }

    /// Its name in the plan and in rendered objects.
    pub fn as_str(self) -> &'static str {
        match self {
            Volume::Binpkgs => "binpkgs",
            Volume::Distfiles => "distfiles",
            Volume::Repo => "repo",
            Volume::Work => "work",
            Volume::Target => "target",
            Volume::PortageTmp => "portage-tmp",
        }
    }
}

/// The site's shared volumes (PVCs in a cluster, named volumes locally).
pub const SHARED_VOLUMES: [Volume; 3] = [Volume::Binpkgs, Volume::Distfiles, Volume::Repo];

/// A volume mounted into a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Which volume.
    pub volume: Volume,
    /// Where, inside the container.
    pub path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Which image a step runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepImage {
    /// The image's stage3.
    Stage3,
    /// The zentoo image.
    Zentoo,
}

/// The steps of a build, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    /// Writes the portage tree, hooks, sets and step scripts from git objects.
    Materialize,
    /// Emerges the set with `--usepkg --buildpkg` on the shared volumes.
    Build,
    /// Installs the set into an empty target root from binary packages only.
    Assemble,
    /// Packs the target root into an OCI image and a stage tarball and publishes them.
    Publish,
}

impl StepName {
    /// The step's name as users see it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Materialize => "materialize",
            StepName::Build => "build",
            StepName::Assemble => "assemble",
            StepName::Publish => "publish",
        }
    }
}

/// One step: a container run to completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Which step.
    pub name: StepName,
    /// The image it runs in.
    pub image: StepImage,
    /// Command and arguments.
    pub command: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Volumes.
    pub mounts: Vec<Mount>,
    /// Needs a privileged container (emerge's sandboxes).
    pub privileged: bool,
}

/// The git objects the materialize step writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterializeSpec {
    /// Site revision the objects were planned at.
    pub revision: String,
    /// Tree of the portage branch, written to `<work>/portage`.
    pub portage_tree: String,
    /// Tree of the buildhooks branch, written to `<work>/hooks`.
    pub buildhooks_tree: Option<String>,
    /// Blobs of the sets, by name, written to `<work>/sets/<name>`.
    pub sets: BTreeMap<String, String>,
}

impl MaterializeSpec {
    /// The materialize step: `zentoo materialize` writing these objects of the site at
    /// `source` (redacted: no credential reaches the arguments) into [`WORK_DIR`].
    pub fn command(&self, source: &str) -> Vec<String> {
        let mut cmd = vec![
            "zentoo".to_string(),
            "materialize".into(),
            "--repo".into(),
            redact_url(source),
            "--out".into(),
            WORK_DIR.into(),
            "--revision".into(),
            self.revision.clone(),
            "--portage-tree".into(),
            self.portage_tree.clone(),
        ];
        if let Some(tree) = &self.buildhooks_tree {
            cmd.extend(["--buildhooks-tree".into(), tree.clone()]);
        }
        for (name, blob) in &self.sets {
            cmd.extend(["--set".into(), format!("{name}={blob}")]);
        }
        cmd
    }
}

/// Settings of a build that do not come from the site repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSettings {
    /// Where the site repository is (URL or path), for the materialize step and annotations;
    /// both get it redacted ([`redact_url`]: no credential in the URL ever reaches them).
    pub source: String,
    /// The zentoo image for the materialize and publish steps.
    pub zentoo_image: String,
    /// emerge `--jobs` and make's `-j`.
    pub jobs: u32,
    /// emerge `--load-average`.
    pub load_average: u32,
    /// `host/N` entries for distcc, space-separated; `None`: no distcc.
    pub distcc_hosts: Option<String>,
    /// Where the image goes; `None`: only into the layout and tarball.
    pub image: Option<ImageTarget>,
    /// Directory the stage tarball goes to (inside the publish step); `None`: no tarball.
    pub tarball_dir: Option<String>,
    /// Commit time of the revision (seconds since the epoch): the reproducible build time.
    pub source_date_epoch: i64,
    /// Size (a Kubernetes quantity like `8Gi`) of a memory-backed `PORTAGE_TMPDIR`; `None`:
    /// the stage3's disk.
    pub tmpfs: Option<String>,
    /// Registries (`host[:port]`) reached over plain HTTP: a push to one of them is made
    /// without TLS (an operator's setting, never a tenant's).
    pub insecure_registries: Vec<String>,
    /// Who builds, as the provenance names it ([`super::provenance::LOCAL_BUILDER`] or
    /// [`super::provenance::CONTROLLER_BUILDER`]).
    pub builder: String,
}

impl BuildSettings {
    /// The settings every build starts from: the site at `source`, its revision committed at
    /// `source_date_epoch`; `jobs` emerge jobs (and load average), no distcc, no tmpfs, the
    /// image published nowhere. Callers set what they have beyond that.
    pub fn new(source: &str, source_date_epoch: i64, jobs: u32) -> BuildSettings {
        BuildSettings {
            source: redact_url(source),
            zentoo_image: String::new(),
            jobs,
            load_average: jobs,
            distcc_hosts: None,
            image: None,
            tarball_dir: None,
            source_date_epoch,
            tmpfs: None,
            insecure_registries: Vec::new(),
            builder: super::provenance::LOCAL_BUILDER.to_string(),
        }
    }
}

/// `<prefix>/<image>:latest`: where a build of `image` is pushed under a registry prefix.
pub fn push_reference(prefix: &str, image: &str) -> String {
    format!("{}/{image}:latest", prefix.trim_end_matches('/'))
}

/// The registry part (`host[:port]`) of image reference `reference`, as Docker reads it: the
/// first path component when it names a host (holds a `.` or `:`, or is `localhost`), else
/// `docker.io`.
pub fn registry_host(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Where the publish step sends the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageTarget {
    /// Pushed to this reference.
    Push(String),
    /// Loaded into the engine under this reference (local builds).
    Load(String),
}

impl ImageTarget {
    /// The image reference.
    pub fn reference(&self) -> &str {
        match self {
            ImageTarget::Push(r) | ImageTarget::Load(r) => r,
        }
    }

    /// True when the image is pushed to a registry.
    pub fn is_push(&self) -> bool {
        matches!(self, ImageTarget::Push(_))
    }
}

/// Where a build publishes, and the annotations it records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishPlan {
    /// OCI platform architecture.
    pub oci_arch: String,
    /// OCI platform variant.
    pub oci_variant: Option<String>,
    /// Where the image goes, if anywhere but the layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageTarget>,
    /// Directory the stage tarball is written to, if any.
    pub tarball_dir: Option<String>,
    /// OCI annotations of the image manifest.
    pub annotations: BTreeMap<String, String>,
    /// The target root holds a kernel: `/boot` and `/lib/modules` are published as
    /// `kernel-<tuple>-<version>.tar.xz` too.
    #[serde(default)]
    pub kernel: bool,
    /// Every library the root's ELF files need must resolve inside it.
    #[serde(default)]
    pub check_libraries: bool,
    /// The build time (`SOURCE_DATE_EPOCH`): commit time of the revision.
    #[serde(default)]
    pub source_date_epoch: i64,
    /// The registry (`host[:port]`) the image is pushed to over plain HTTP, when the
    /// operator named it insecure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_registry: Option<String>,
    /// The build's provenance predicate (JSON, [`super::provenance::predicate`]); the step
    /// gets it as [`PROVENANCE_ENV`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// The pinned repo snapshot's GLSA directory (below [`REPOS_DIR`], mounted read-only into
    /// the publish step): the image is audited against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glsa_dir: Option<String>,
}

impl PublishPlan {
    /// The publish step: `zentoo publish` packing the target root and sending the image.
    pub fn command(&self) -> Vec<String> {
        let mut cmd = self.pack_args(None);
        if let Some(target) = &self.image {
            let how = if target.is_push() { "--push" } else { "--load" };
            cmd.extend(["--image".into(), target.reference().to_string(), how.into()]);
            if target.is_push() {
                cmd.extend(self.insecure_args());
            }
        }
        cmd.extend(self.glsa_args());
        cmd
    }

    /// `--glsa-dir <dir>` when the image is audited.
    fn glsa_args(&self) -> Vec<String> {
        self.glsa_dir
            .iter()
            .flat_map(|dir| ["--glsa-dir".to_string(), dir.clone()])
            .collect()
    }

    /// `--insecure-registry <host>` when the image is pushed to a plain-HTTP registry.
    fn insecure_args(&self) -> Vec<String> {
        self.insecure_registry
            .iter()
            .flat_map(|host| ["--insecure-registry".to_string(), host.clone()])
            .collect()
    }

    /// The publish step as two commands, for a cluster where packing and pushing need
    /// different rights: the first reads every file of the target root (so it runs as root,
    /// without credentials or network needs) and writes the image into the OCI layout
    /// `layout` (and the stage tarball); the second runs as an unprivileged user with the
    /// registry credentials, sends that layout and reports the result.
    pub fn split_command(&self, layout: &str) -> (Vec<String>, Vec<String>) {
        let pack = self.pack_args(Some(layout));
        let mut push = vec![
            "zentoo".to_string(),
            "publish".into(),
            "--oci-layout".into(),
            layout.into(),
            "--output".into(),
            "json".into(),
        ];
        if let Some(ImageTarget::Push(reference)) = &self.image {
            push.extend(["--image".into(), reference.clone(), "--push".into()]);
            push.extend(self.insecure_args());
        }
        push.extend(self.glsa_args());
        (pack, push)
    }

    /// `zentoo publish` packing the target root, into `layout` when given.
    fn pack_args(&self, layout: Option<&str>) -> Vec<String> {
        let mut cmd = vec![
            "zentoo".to_string(),
            "publish".into(),
            "--rootfs".into(),
            TARGET_DIR.into(),
            "--arch".into(),
            self.oci_arch.clone(),
        ];
        if let Some(layout) = layout {
            cmd.extend(["--oci-layout".into(), layout.into()]);
        }
        cmd.extend([
            "--output".into(),
            "json".into(),
            "--source-date-epoch".into(),
            self.source_date_epoch.to_string(),
        ]);
        if let Some(variant) = &self.oci_variant {
            cmd.extend(["--variant".into(), variant.clone()]);
        }
        if let Some(dir) = &self.tarball_dir {
            cmd.extend(["--tarball".into(), dir.clone()]);
        }
        if self.kernel {
            cmd.push("--kernel".into());
        }
        if self.check_libraries {
            cmd.push("--check-libraries".into());
        }
        for (key, value) in &self.annotations {
            cmd.extend(["--annotation".into(), format!("{key}={value}")]);
        }
        cmd
    }
}

/// One build of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildPlan {
    /// The image (tuple) name.
    pub image: String,
    /// The inputs digest this build realizes.
    pub inputs_digest: String,
    /// The stage3 image of the build and assemble steps.
    pub stage3: String,
    /// The zentoo image of the materialize and publish steps.
    pub zentoo_image: String,
    /// The git objects to materialize.
    pub materialize: MaterializeSpec,
    /// Where and how to publish.
    pub publish: PublishPlan,
    /// Size of the memory-backed [`Volume::PortageTmp`], when the steps mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The registry of the pushed image when `settings` names it insecure (host names compare
/// without regard to case).
fn insecure_registry(settings: &BuildSettings) -> Option<String> {
    let Some(ImageTarget::Push(reference)) = &settings.image else {
        return None;
    };
    let host = registry_host(reference);
    settings
        .insecure_registries
        .iter()
        .any(|r| r.eq_ignore_ascii_case(host))
        .then(|| host.to_string())
}

/// Plans the build of `image` at `revision`. Pure.
pub fn build_plan(image: &ImagePlan, revision: &str, settings: &BuildSettings) -> BuildPlan {
    let inputs = &image.inputs;
    let profile = &inputs.cpu.profile;
    let spec = &inputs.spec;
    let variant = spec.variant;
    let materialize = MaterializeSpec {
        revision: revision.to_string(),
        portage_tree: inputs.portage.tree.clone(),
        buildhooks_tree: inputs.buildhooks.as_ref().map(|b| b.tree.clone()),
        sets: inputs.sets.clone(),
    };

    let mut env = BTreeMap::from([
        ("ZENTOO_DIR".to_string(), WORK_DIR.to_string()),
        ("ZENTOO_SET".into(), image.set.clone()),
        ("ZENTOO_IMAGE".into(), image.name.clone()),
        ("ZENTOO_CHOST".into(), profile.chost.clone()),
        ("ZENTOO_CFLAGS".into(), variant.flags(&profile.cflags)),
        ("ZENTOO_CXXFLAGS".into(), variant.flags(&profile.cxxflags)),
        ("ZENTOO_PROFILE".into(), spec.profile.clone()),
        ("ZENTOO_REPOS".into(), REPOS_DIR.to_string()),
        ("ZENTOO_REPO_SNAPSHOT".into(), spec.repo_snapshot.clone()),
        ("ZENTOO_JOBS".into(), settings.jobs.max(1).to_string()),
        (
            "ZENTOO_LOAD".into(),
            settings.load_average.max(1).to_string(),
        ),
        ("ZENTOO_BINPKGS".into(), BINPKGS_DIR.to_string()),
        ("ZENTOO_DISTFILES".into(), DISTFILES_DIR.to_string()),
    ]);
    for (key, flags) in &profile.cpu_flags {
        env.insert(format!("ZENTOO_CPU_FLAGS_{key}"), flags.clone());
    }
    if !variant.features().is_empty() {
        env.insert("ZENTOO_FEATURES".into(), variant.features().to_string());
    }
    if let Some(kernel) = &spec.kernel {
        env.insert("ZENTOO_KERNEL".into(), kernel.package.clone());
        if let Some(config) = &kernel.config {
            env.insert("ZENTOO_KERNEL_CONFIG".into(), config.clone());
        }
    }
    if settings.tmpfs.is_some() {
        env.insert(
            "ZENTOO_PORTAGE_TMPDIR".into(),
            PORTAGE_TMPFS_DIR.to_string(),
        );
    }
    let mut build_env = env.clone();
    if let Some(hosts) = &settings.distcc_hosts {
        build_env.insert("ZENTOO_DISTCC_HOSTS".into(), hosts.clone());
    }
    if spec.repairs.preserved_rebuild {
        build_env.insert("ZENTOO_PRESERVED_REBUILD".into(), "1".into());
    }
    let mut assemble_env = env;
    assemble_env.insert("ZENTOO_TARGET".into(), TARGET_DIR.to_string());
    if spec.repairs.depclean {
        assemble_env.insert("ZENTOO_DEPCLEAN".into(), "1".into());
    }

    let mount = |volume, path: &str, read_only| Mount {
        volume,
        path: path.to_string(),
        read_only,
    };
    let shared = |read_only| {
        let mut mounts = vec![
            mount(Volume::Work, WORK_DIR, true),
            mount(Volume::Binpkgs, BINPKGS_DIR, read_only),
            mount(Volume::Distfiles, DISTFILES_DIR, read_only),
            mount(Volume::Repo, REPOS_DIR, read_only),
        ];
        if settings.tmpfs.is_some() {
            mounts.push(mount(Volume::PortageTmp, PORTAGE_TMPFS_DIR, false));
        }
        mounts
    };
    let mut assemble_mounts = shared(true);
    assemble_mounts.push(mount(Volume::Target, TARGET_DIR, false));

    let materialize_cmd = materialize.command(&settings.source);

    let arch = arch(&profile.arch);
    let publish = PublishPlan {
        oci_arch: arch.map_or_else(|| profile.arch.clone(), |a| a.oci.to_string()),
        oci_variant: arch.and_then(|a| a.variant).map(str::to_string),
        image: settings.image.clone(),
        tarball_dir: settings.tarball_dir.clone(),
        annotations: BTreeMap::from([
            (
                "org.opencontainers.image.source".to_string(),
                redact_url(&settings.source),
            ),
            (
                "org.opencontainers.image.revision".into(),
                revision.to_string(),
            ),
            ("org.opencontainers.image.title".into(), image.name.clone()),
            (
                "dev.zentoo.inputs-digest".into(),
                image.inputs_digest.clone(),
            ),
            ("dev.zentoo.tuple".into(), image.name.clone()),
        ]),
        kernel: spec.kernel.is_some(),
        check_libraries: spec.repairs.check_libraries,
        source_date_epoch: settings.source_date_epoch,
        insecure_registry: insecure_registry(settings),
        provenance: Some(super::provenance::predicate(image, revision, settings).to_string()),
        glsa_dir: (!spec.repo_snapshot.is_empty())
            .then(|| format!("{REPOS_DIR}/{}/metadata/glsa", spec.repo_snapshot)),
    };
    let publish_cmd = publish.command();
    let publish_env = BTreeMap::from([
        (
            "SOURCE_DATE_EPOCH".to_string(),
            settings.source_date_epoch.to_string(),
        ),
        (
            PROVENANCE_ENV.to_string(),
            publish.provenance.clone().unwrap_or_default(),
        ),
    ]);

    let script = |name: &str| vec!["/bin/sh".to_string(), format!("{WORK_DIR}/steps/{name}.sh")];
    let steps = vec![
        Step {
            name: StepName::Materialize,
            image: StepImage::Zentoo,
            command: materialize_cmd,
            env: BTreeMap::new(),
            mounts: vec![mount(Volume::Work, WORK_DIR, false)],
            privileged: false,
        },
        Step {
            name: StepName::Build,
            image: StepImage::Stage3,
            command: script("build"),
            env: build_env,
            mounts: shared(false),
            privileged: true,
        },
        Step {
            name: StepName::Assemble,
            image: StepImage::Stage3,
            command: script("assemble"),
            env: assemble_env,
            mounts: assemble_mounts,
            privileged: false,
        },
        Step {
            name: StepName::Publish,
            image: StepImage::Zentoo,
            command: publish_cmd,
            env: publish_env,
            mounts: if publish.glsa_dir.is_some() {
                vec![
                    mount(Volume::Target, TARGET_DIR, true),
                    mount(Volume::Repo, REPOS_DIR, true),
                ]
            } else {
                vec![mount(Volume::Target, TARGET_DIR, true)]
            },
            privileged: false,
        },
    ];
    BuildPlan {
        image: image.name.clone(),
        inputs_digest: image.inputs_digest.clone(),
        stage3: inputs.spec.stage3.clone(),
        zentoo_image: settings.zentoo_image.clone(),
        materialize,
        publish,
        tmpfs: settings.tmpfs.clone(),
        steps,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::testing::image_plan as image;
    use crate::plan::testing::image_plan;
    use crate::plan::testing::settings;

    #[test]
    fn settings_start_from_one_place_and_name_where_the_image_goes() {
        let s = BuildSettings::new("https://u:p@git.example/site.git", 7, 3);
        assert_eq!(s.source, "https://***@git.example/site.git");
        assert_eq!((s.jobs, s.load_average, s.source_date_epoch), (3, 3, 7));
        assert_eq!((s.image.as_ref(), s.tarball_dir.as_ref()), (None, None));
        assert_eq!(
            push_reference("r.example/p/", "web"),
            "r.example/p/web:latest"
        );
        let plan = |image| {
            let s = BuildSettings {
                image,
                ..settings()
            };
            build_plan(&image_plan("zen-server-nodocs-web\n"), "c0ffee", &s)
        };
        let load = plan(Some(ImageTarget::Load(
            "localhost/zentoo/web:latest".into(),
        )));
        let cmd = load.steps[3].command.join(" ");
        assert!(
            cmd.ends_with(
                "--image localhost/zentoo/web:latest --load \
                 --glsa-dir /var/db/zentoo/repos/latest/metadata/glsa"
            ),
            "{cmd}"
        );
        assert!(cmd.contains("--source-date-epoch 1700000000"), "{cmd}");
        let nowhere = plan(None).steps[3].command.join(" ");
        assert!(!nowhere.contains("--image"), "{nowhere}");
        // The cluster never loads: a plan that loads pushes nothing from its push container.
        let (_, push) = load.publish.split_command("/oci");
        assert!(!push.contains(&"--push".to_string()), "{push:?}");
    }

    #[test]
    fn steps_run_in_order_and_only_build_is_privileged() {
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &settings());
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["materialize", "build", "assemble", "publish"]);
        let privileged: Vec<bool> = plan.steps.iter().map(|s| s.privileged).collect();
        assert_eq!(privileged, [false, true, false, false]);
        assert_eq!(plan.stage3, "docker.io/gentoo/stage3:amd64-openrc");
    }

    #[test]
    fn a_credential_in_the_source_url_reaches_neither_arguments_nor_annotations() {
        let settings = BuildSettings {
            source: "https://zt-user:zt-pass@git.example/site.git".into(),
            ..settings()
        };
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &settings);
        let shown = format!("{:?}", plan);
        assert!(
            !shown.contains("zt-pass") && !shown.contains("zt-user"),
            "{shown}"
        );
        assert_eq!(
            plan.publish.annotations["org.opencontainers.image.source"],
            "https://***@git.example/site.git"
        );
        let args = &plan.steps[0].command;
        assert!(
            args.contains(&"https://***@git.example/site.git".to_string()),
            "{args:?}"
        );
        let ssh = BuildSettings {
            source: "ssh://git@git.example/site.git".into(),
            ..settings
        };
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &ssh);
        assert_eq!(
            plan.publish.annotations["org.opencontainers.image.source"],
            "ssh://git@git.example/site.git",
            "a login name is no credential"
        );
    }

    #[test]
    fn binpkgs_are_writable_only_in_the_build_step() {
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &settings());
        for step in &plan.steps {
            for m in &step.mounts {
                let writable = !m.read_only;
                let expect = match (step.name, m.volume) {
                    (StepName::Materialize, Volume::Work) => true,
                    (StepName::Build, v) => v != Volume::Work,
                    (StepName::Assemble, Volume::Target) => true,
                    _ => false,
                };
                assert_eq!(writable, expect, "{:?} {:?}", step.name, m.volume);
            }
        }
    }

    #[test]
    fn the_cpu_profile_reaches_the_step_environment() {
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &settings());
        let env = &plan.steps[1].env;
        assert_eq!(env["ZENTOO_CFLAGS"], "-O2 -march=znver3");
        assert_eq!(env["ZENTOO_CPU_FLAGS_X86"], "aes avx");
        assert_eq!(env["ZENTOO_SET"], "web");
        assert_eq!(env["ZENTOO_PROFILE"], "default/linux/amd64/23.0");
        assert!(!env.contains_key("ZENTOO_DISTCC_HOSTS"));
        assert_eq!(plan.steps[2].env["ZENTOO_TARGET"], TARGET_DIR);
        assert_eq!(plan.steps[3].env["SOURCE_DATE_EPOCH"], "1700000000");
    }

    #[test]
    fn dbg_kernel_and_repairs_reach_the_steps() {
        use crate::site::options::{KernelSpec, Repairs, Variant};
        let mut image = image("zen-server-nodocs-web\n");
        image.inputs.spec.variant = Variant::Dbg;
        image.inputs.spec.kernel = Some(KernelSpec {
            package: "sys-kernel/gentoo-kernel".into(),
            config: Some("kernel/config".into()),
        });
        image.inputs.spec.repairs = Repairs {
            preserved_rebuild: true,
            depclean: true,
            check_libraries: true,
        };
        image.inputs.spec.repo_snapshot = "20261101".into();
        let plan = build_plan(&image, "c0ffee", &settings());
        let (build, assemble) = (&plan.steps[1].env, &plan.steps[2].env);
        for env in [build, assemble] {
            assert_eq!(env["ZENTOO_CFLAGS"], "-march=znver3 -Og -g");
            assert_eq!(env["ZENTOO_FEATURES"], "splitdebug");
            assert_eq!(env["ZENTOO_KERNEL"], "sys-kernel/gentoo-kernel");
            assert_eq!(env["ZENTOO_KERNEL_CONFIG"], "kernel/config");
            assert_eq!(env["ZENTOO_REPO_SNAPSHOT"], "20261101");
            assert_eq!(env["ZENTOO_REPOS"], REPOS_DIR);
        }
        assert_eq!(build["ZENTOO_PRESERVED_REBUILD"], "1");
        assert!(!assemble.contains_key("ZENTOO_PRESERVED_REBUILD"));
        assert_eq!(assemble["ZENTOO_DEPCLEAN"], "1");
        assert!(!build.contains_key("ZENTOO_DEPCLEAN"));
        let publish = plan.steps[3].command.join(" ");
        assert!(publish.contains(" --kernel"), "{publish}");
        assert!(publish.contains(" --check-libraries"), "{publish}");
        let mut unpinned = crate::plan::testing::image_plan("zen-server-nodocs-web\n");
        unpinned.inputs.spec.repo_snapshot = String::new();
        let plain = build_plan(&unpinned, "c0ffee", &settings());
        assert!(!plain.steps[1].env.contains_key("ZENTOO_FEATURES"));
        assert!(!plain.steps[3].command.contains(&"--kernel".to_string()));
        // A pinned snapshot's GLSAs audit the image: its repo is read-only in publish.
        assert!(
            publish.contains(" --glsa-dir /var/db/zentoo/repos/20261101/metadata/glsa"),
            "{publish}"
        );
        let repo = plan.steps[3]
            .mounts
            .iter()
            .find(|m| m.volume == Volume::Repo);
        assert!(repo.is_some_and(|m| m.read_only && m.path == REPOS_DIR));
        let (_, push) = plan.publish.split_command("/oci");
        assert!(push.contains(&"--glsa-dir".to_string()), "{push:?}");
        assert!(!plain.steps[3].command.contains(&"--glsa-dir".to_string()));
        assert!(
            !plain.steps[3]
                .mounts
                .iter()
                .any(|m| m.volume == Volume::Repo)
        );
    }

    #[test]
    fn tmpfs_mounts_portage_tmpdir_in_memory_for_build_and_assemble() {
        let mut s = settings();
        s.tmpfs = Some("4Gi".into());
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &s);
        assert_eq!(plan.tmpfs.as_deref(), Some("4Gi"));
        for step in &plan.steps {
            let tmp = step.mounts.iter().any(|m| m.volume == Volume::PortageTmp);
            let stage3 = step.image == StepImage::Stage3;
            assert_eq!(tmp, stage3, "{:?}", step.name);
            assert_eq!(
                step.env.get("ZENTOO_PORTAGE_TMPDIR").map(String::as_str),
                stage3.then_some(PORTAGE_TMPFS_DIR),
                "{:?}",
                step.name
            );
        }
    }

    #[test]
    fn materialize_names_exactly_the_planned_objects() {
        let plan = build_plan(&image("zen-server-nodocs-web\n"), "c0ffee", &settings());
        assert_eq!(plan.materialize.portage_tree, "tree-server");
        assert_eq!(
            plan.materialize.buildhooks_tree.as_deref(),
            Some("tree-hooks")
        );
        let cmd = plan.steps[0].command.join(" ");
        assert!(
            cmd.ends_with(
                "--portage-tree tree-server --buildhooks-tree tree-hooks --set web=b-web"
            ),
            "{cmd}"
        );
        let none = build_plan(&image("zen-server-none-web\n"), "c0ffee", &settings());
        assert!(
            !none.steps[0]
                .command
                .contains(&"--buildhooks-tree".to_string())
        );
    }

    #[test]
    fn split_publish_packs_without_pushing_and_pushes_without_the_root() {
        let plan = build_plan(&image("rpi-server-none-web\n"), "c0ffee", &settings());
        let (pack, push) = plan.publish.split_command("/scratch/oci");
        let pack = pack.join(" ");
        let push = push.join(" ");
        assert!(pack.contains("--rootfs /target --arch arm64 --oci-layout /scratch/oci"));
        assert!(pack.contains("--variant v8"), "{pack}");
        assert!(pack.contains("--annotation org.opencontainers.image.revision=c0ffee"));
        assert!(
            !pack.contains("--push") && !pack.contains("--image"),
            "{pack}"
        );
        assert_eq!(
            push,
            "zentoo publish --oci-layout /scratch/oci --output json \
             --image registry.example/zentoo/web:latest --push \
             --glsa-dir /var/db/zentoo/repos/latest/metadata/glsa"
        );
    }

    #[test]
    fn registry_hosts_are_read_as_docker_reads_them() {
        for (reference, host) in [
            ("localhost:5000/zentoo/web:latest", "localhost:5000"),
            ("localhost/zentoo/web", "localhost"),
            ("registry.example/zentoo/web:v1", "registry.example"),
            ("127.0.0.1:5000/web@sha256:00", "127.0.0.1:5000"),
            ("gentoo/stage3:latest", "docker.io"),
            ("web", "docker.io"),
        ] {
            assert_eq!(registry_host(reference), host, "{reference}");
        }
    }

    #[test]
    fn only_a_push_to_a_named_insecure_registry_goes_over_plain_http() {
        let plan = |image: &str, insecure: &[&str]| {
            let s = BuildSettings {
                image: Some(ImageTarget::Push(image.into())),
                insecure_registries: insecure.iter().map(|r| r.to_string()).collect(),
                ..settings()
            };
            build_plan(&image_plan("zen-server-nodocs-web\n"), "c0ffee", &s)
        };
        let flagged = |plan: &BuildPlan| {
            let (_, push) = plan.publish.split_command("/oci");
            let local = &plan.steps[3].command;
            [push, local.clone()].map(|cmd| {
                cmd.windows(2)
                    .find(|w| w[0] == "--insecure-registry")
                    .map(|w| w[1].clone())
            })
        };
        let insecure = plan(
            "Reg.Local:5000/zentoo/web:latest",
            &["other:5000", "reg.local:5000"],
        );
        assert_eq!(
            insecure.publish.insecure_registry.as_deref(),
            Some("Reg.Local:5000")
        );
        assert_eq!(
            flagged(&insecure),
            [
                Some("Reg.Local:5000".to_string()),
                Some("Reg.Local:5000".to_string())
            ]
        );
        // Another port is another registry; a path below the host is no registry.
        for (image, names) in [
            ("reg.local:5001/zentoo/web:latest", &["reg.local:5000"][..]),
            ("reg.local/zentoo/web:latest", &["reg.local:5000"][..]),
            ("zentoo/web:latest", &["zentoo"][..]),
            ("reg.local:5000/zentoo/web:latest", &[][..]),
        ] {
            let secure = plan(image, names);
            assert_eq!(secure.publish.insecure_registry, None, "{image}");
            assert_eq!(flagged(&secure), [None, None], "{image}");
        }
        // Loaded, not pushed: no registry is reached.
        let load = build_plan(
            &image_plan("zen-server-nodocs-web\n"),
            "c0ffee",
            &BuildSettings {
                image: Some(ImageTarget::Load("localhost/zentoo/web:latest".into())),
                insecure_registries: vec!["localhost".into()],
                ..settings()
            },
        );
        assert_eq!(load.publish.insecure_registry, None);
    }

    #[test]
    fn distcc_arch_and_publish_follow_the_settings() {
        let mut s = settings();
        s.distcc_hosts = Some("w0/4 w1/4".into());
        s.image = None;
        let plan = build_plan(&image("rpi-server-none-web\n"), "c0ffee", &s);
        assert_eq!(plan.steps[1].env["ZENTOO_DISTCC_HOSTS"], "w0/4 w1/4");
        assert!(!plan.steps[2].env.contains_key("ZENTOO_DISTCC_HOSTS"));
        assert_eq!(
            (
                plan.publish.oci_arch.as_str(),
                plan.publish.oci_variant.as_deref()
            ),
            ("arm64", Some("v8"))
        );
        assert!(!plan.steps[3].command.contains(&"--push".to_string()));
        assert_eq!(
            plan.publish.annotations["org.opencontainers.image.revision"],
            "c0ffee"
        );
    }
}
