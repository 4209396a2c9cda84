//! The one publish pipeline, run by `zentoo publish`, by the local runner's publish step and
//! (through `zentoo publish` in a container) by the cluster's: a target root checked, packed
//! into an OCI image, a stage tarball and a kernel tarball, then sent — the kernel artifact
//! pushed, the image pushed and/or loaded into an engine. Everything local is written before
//! anything is sent, and the image tag goes last: a full disk or a failing registry leaves
//! the image tag where it was.

use super::attach;
use super::audit;
use super::kernel::{self, KernelTarball};
use super::libcheck::check_libraries;
use super::openpgp::DigestsKey;
use super::registry::{PushStats, Registry, RegistryConfig};
use super::sbom::{self, Format};
use super::sign::SigningKey;
use super::tar::Archived;
use super::{Compression, Error, ImageOptions, Layout, StageOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zentoo_core::plan::build::PublishPlan;
use zentoo_core::plan::result::{BuildResult, GlsaResult, KernelResult};

/// One publish of a target root.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    /// The target root to pack.
    pub rootfs: PathBuf,
    /// Tuple naming the tarballs.
    pub tuple: String,
    /// How to make the image (its `ref_name` names it in the layout).
    pub image: ImageOptions,
    /// Keep the image in this OCI layout (made if needed); else in a temporary one.
    pub oci_layout: Option<PathBuf>,
    /// Write the stage tarball (and the kernel tarball) into this directory.
    pub tarball: Option<PathBuf>,
    /// Stage tarball compression.
    pub tarball_compression: Compression,
    /// Also publish the root's kernel.
    pub kernel: bool,
    /// Fail when a library an ELF file needs does not resolve inside the root.
    pub check_libraries: bool,
    /// The image reference to push to and/or load as.
    pub reference: Option<String>,
    /// Push the image (and the kernel artifact) to `reference`.
    pub push: bool,
    /// Load the image into `engine` (else the engine at `DOCKER_HOST`) as `reference`.
    pub load: bool,
    /// How to reach the registry.
    pub registry: RegistryConfig,
    /// The engine to load into.
    pub engine: Option<bollard::Docker>,
    /// Attach an SBOM in this format (and write it beside the stage tarball).
    pub sbom: Option<Format>,
    /// The provenance predicate of the build (from the plan); `None`: one made from the
    /// image annotations.
    pub provenance: Option<serde_json::Value>,
    /// Audit the root against the GLSAs in this directory.
    pub glsa_dir: Option<PathBuf>,
}

/// What the pipeline reports as it goes, for progress display.
pub enum Event<'a> {
    /// An entry of the root was packed into the image (`"image"`) or the tarball.
    Entry(&'static str, &'a Archived<'a>),
    /// A part is done: a line for a person.
    Done(&'static str, String),
}

/// Receives [`Event`]s (from a blocking thread).
pub type Observer = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The request cannot be done as given.
    #[error("{0}")]
    Usage(&'static str),
    /// ELF files of the root need libraries it does not have.
    #[error("{missing} of {checked} ELF files need libraries that are not in {root}:\n{summary}", root = root.display())]
    Libraries {
        /// The root.
        root: PathBuf,
        /// Files with a missing library.
        missing: usize,
        /// Files checked.
        checked: u64,
        /// The first of them.
        summary: String,
    },
    /// Packing or sending failed.
    #[error("{what}: {source}")]
    Step {
        /// What was being done (`packing /target into an image`, `pushing r/x:latest`).
        what: String,
        /// The cause.
        #[source]
        source: Error,
    },
    /// The packing thread did not finish.
    #[error("packing: {0}")]
    Join(#[source] tokio::task::JoinError),
}

fn step(what: impl Into<String>) -> impl FnOnce(Error) -> PublishError {
    let what = what.into();
    move |source| PublishError::Step { what, source }
}

impl PublishRequest {
    /// The publish step of a build plan, packing `rootfs`: the plan's targets, arch,
    /// annotations and plain-HTTP registry; the image loaded into `engine` unless the plan pushes it.
    pub fn from_plan(plan: &PublishPlan, tuple: &str, rootfs: &Path) -> PublishRequest {
        let mut image = ImageOptions::new(&plan.oci_arch, plan.source_date_epoch);
        image.variant = plan.oci_variant.clone();
        image.annotations = plan.annotations.clone();
        image.ref_name = Some(
            plan.image
                .as_ref()
                .map_or_else(|| "latest".into(), |t| ref_name(t.reference())),
        );
        PublishRequest {
            rootfs: rootfs.to_path_buf(),
            tuple: tuple.to_string(),
            image,
            oci_layout: None,
            tarball: plan.tarball_dir.as_ref().map(PathBuf::from),
            tarball_compression: Compression::Xz,
            kernel: plan.kernel,
            check_libraries: plan.check_libraries,
            reference: plan.image.as_ref().map(|t| t.reference().to_string()),
            push: plan.image.as_ref().is_some_and(|t| t.is_push()),
            load: plan.image.as_ref().is_some_and(|t| !t.is_push()),
            registry: RegistryConfig {
                insecure: plan.insecure_registry.iter().cloned().collect(),
                ..RegistryConfig::default()
            },
            engine: None,
            sbom: Some(Format::Spdx),
            provenance: plan
                .provenance
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            glsa_dir: plan.glsa_dir.as_ref().map(PathBuf::from),
        }
    }
}

/// The tag (or `latest`) of a reference, as the name in the OCI layout.
pub fn ref_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let no_digest = last.split('@').next().unwrap_or(last);
    match no_digest.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.into(),
        _ => "latest".into(),
    }
}

/// What [`pack`] wrote locally.
struct Packed {
    layout: Option<(Layout, super::BuiltImage)>,
    kernel: Option<(KernelResult, Option<Layout>)>,
    result: BuildResult,
}

/// Publishes `request`; what is not kept (a temporary layout, the kernel's) goes into a
/// temporary directory removed at the end.
pub async fn publish(
    request: &PublishRequest,
    observe: Observer,
) -> Result<BuildResult, PublishError> {
    let wants_image = request.oci_layout.is_some() || request.push || request.load;
    if !wants_image && request.tarball.is_none() {
        return Err(PublishError::Usage(
            "nothing to do: give --oci-layout, --tarball, --push or --load",
        ));
    }
    if request.kernel && request.tarball.is_none() && !request.push && request.oci_layout.is_none()
    {
        return Err(PublishError::Usage(
            "--kernel needs somewhere to put the kernel: --tarball DIR, --oci-layout DIR or --push",
        ));
    }
    if request.registry.digests_key.is_some() && request.tarball.is_none() {
        return Err(PublishError::Usage(
            "--digests-key signs tarballs' .DIGESTS: give --tarball DIR",
        ));
    }
    let temp = tempfile::Builder::new()
        .prefix("zentoo-publish-")
        .tempdir()
        .map_err(|e| PublishError::Step {
            what: "making a temporary directory".into(),
            source: Error::write(std::env::temp_dir(), e),
        })?;
    let packed = {
        let request = request.clone();
        let temp = temp.path().to_path_buf();
        let observe = observe.clone();
        tokio::task::spawn_blocking(move || pack(&request, &temp, &*observe))
            .await
            .map_err(PublishError::Join)??
    };
    send(request, packed, &*observe).await
}

/// Checks and packs the root: image layout, stage tarball, kernel. Blocking.
fn pack(
    request: &PublishRequest,
    temp: &Path,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<Packed, PublishError> {
    let root = &request.rootfs;
    if request.check_libraries {
        let report = check_libraries(root).map_err(step(format!(
            "checking the libraries of {}",
            root.display()
        )))?;
        if !report.missing.is_empty() {
            return Err(PublishError::Libraries {
                root: root.clone(),
                missing: report.missing.len(),
                checked: report.checked,
                summary: report.summary(20),
            });
        }
        observe(Event::Done(
            "libraries",
            format!("libraries: all resolve ({} ELF files)", report.checked),
        ));
    }
    // Read before packing: a bad key fails at once, not after the tarballs are written.
    let digests_key = request
        .registry
        .digests_key
        .as_deref()
        .map(DigestsKey::from_file)
        .transpose()
        .map_err(step("reading the OpenPGP key for .DIGESTS"))?;
    let epoch = request.image.source_date_epoch;
    let mut result = BuildResult::default();
    let wants_image = request.oci_layout.is_some() || request.push || request.load;
    let layout = if wants_image {
        let dir = request
            .oci_layout
            .clone()
            .unwrap_or_else(|| temp.join("oci"));
        let layout = Layout::create(&dir).map_err(step(format!("creating {}", dir.display())))?;
        let image = super::build_image_with(root, &layout, &request.image, |a| {
            observe(Event::Entry("image", a))
        })
        .map_err(step(format!("packing {} into an image", root.display())))?;
        observe(Event::Done(
            "image",
            format!(
                "image {} ({} entries, {} layers, {} bytes)",
                image.manifest.digest,
                image.stats.entries,
                image.layers.len(),
                image.layers.iter().map(|l| l.descriptor.size).sum::<u64>()
            ),
        ));
        result.image_digest = Some(image.manifest.digest.clone());
        result.image = request.reference.clone();
        Some((layout, image))
    } else {
        None
    };
    let mut stage_written = None;
    if let Some(dir) = &request.tarball {
        let mut opts = StageOptions::new(&request.tuple, epoch);
        opts.compression = request.tarball_compression;
        let stage =
            super::write_stage_with(root, dir, &opts, |a| observe(Event::Entry("tarball", a)))
                .map_err(step(format!(
                    "packing {} into a stage tarball",
                    root.display()
                )))?;
        observe(Event::Done(
            "tarball",
            format!("tarball {} ({})", stage.tarball.display(), stage.sha256),
        ));
        sign_digests(digests_key.as_ref(), &stage, observe)?;
        result.tarball = Some(stage.tarball.display().to_string());
        result.tarball_digest = Some(stage.sha256.clone());
        stage_written = Some(stage);
    }
    attach_records(
        request,
        layout.as_ref(),
        stage_written.as_ref(),
        &mut result,
        observe,
    )?;
    if let Some(dir) = &request.glsa_dir {
        let packages = audit::Packages::Root(root);
        result.glsa = Some(audit_glsa(
            dir,
            &request.image.architecture,
            packages,
            observe,
        )?);
    }
    let kernel = if request.kernel {
        Some(pack_kernel(
            request,
            layout.as_ref().map(|l| &l.0),
            digests_key.as_ref(),
            temp,
            observe,
        )?)
    } else {
        None
    };
    Ok(Packed {
        layout,
        kernel,
        result,
    })
}

/// Attaches the SBOM (when asked for) and the provenance to the image packed into `layout`,
/// and writes both beside the stage tarball: `<tarball>.spdx.json` (or `.cdx.json`) and
/// `<tarball>.provenance.json` (a statement about the tarball).
fn attach_records(
    request: &PublishRequest,
    layout: Option<&(Layout, super::BuiltImage)>,
    stage: Option<&super::StageTarball>,
    result: &mut BuildResult,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<(), PublishError> {
    if layout.is_none() && stage.is_none() {
        return Ok(());
    }
    let root = &request.rootfs;
    let epoch = request.image.source_date_epoch;
    let tuple = &request.tuple;
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|e| PublishError::Step {
            what: format!("writing {}", path.display()),
            source: Error::write(path.clone(), e),
        })
    };
    let beside = |stage: &super::StageTarball, suffix: &str| {
        let mut name = stage.tarball.clone().into_os_string();
        name.push(format!(".{suffix}"));
        PathBuf::from(name)
    };
    if let Some(format) = request.sbom {
        let started = std::time::Instant::now();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let records = sbom::read_records(root, threads).map_err(step(format!(
            "reading the package records of {}",
            root.display()
        )))?;
        let subject = sbom::Subject {
            name: tuple.clone(),
            created: epoch,
        };
        let document = sbom::render(format, &subject, &records);
        if let Some((layout, image)) = layout {
            let desc = attach::add_sbom(layout, &image.manifest, format, &document, tuple, epoch)
                .map_err(step("attaching the SBOM"))?;
            result.sbom = Some(desc.digest);
        }
        if let Some(stage) = stage {
            write(beside(stage, format.suffix()), &document)?;
        }
        observe(Event::Done(
            "sbom",
            format!(
                "sbom {} ({} packages, {} files, {} bytes, {} ms)",
                format.name(),
                records.len(),
                records.iter().map(|r| r.files.len()).sum::<usize>(),
                document.len(),
                started.elapsed().as_millis()
            ),
        ));
    }
    let predicate = request
        .provenance
        .clone()
        .unwrap_or_else(|| default_predicate(request));
    if let Some((layout, image)) = layout {
        let statement =
            attach::provenance_statement(tuple, &image.manifest, predicate.clone(), epoch);
        let desc = attach::add_provenance(layout, &image.manifest, &statement, tuple, epoch)
            .map_err(step("attaching the provenance"))?;
        result.provenance = Some(desc.digest);
    }
    if let Some(stage) = stage {
        let name = stage
            .tarball
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let subject =
            attach::descriptor("application/x-tar", stage.sha256.clone(), stage.size, None);
        let statement = attach::provenance_statement(&name, &subject, predicate, epoch);
        write(beside(stage, "provenance.json"), &statement)?;
    }
    Ok(())
}

/// The GLSA audit of the image, reported.
fn audit_glsa(
    dir: &Path,
    oci_arch: &str,
    packages: audit::Packages<'_>,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<GlsaResult, PublishError> {
    let glsa = audit::audit_image(dir, oci_arch, packages).map_err(step(format!(
        "auditing against the GLSAs in {}",
        dir.display()
    )))?;
    let found = if glsa.affected.is_empty() {
        "none affects it".to_string()
    } else {
        format!("affected by {}", glsa.summary())
    };
    observe(Event::Done(
        "glsa",
        format!("glsa: {} advisories, {found}", glsa.advisories),
    ));
    Ok(glsa)
}

/// The architecture in the config of the image `manifest` of `layout`.
fn layout_arch(layout: &Layout, manifest: &crate::spec::Descriptor) -> Result<String, Error> {
    let image: crate::spec::Manifest = serde_json::from_slice(&layout.read_blob(&manifest.digest)?)
        .map_err(|e| Error::invalid(&manifest.digest, e.to_string()))?;
    let config: crate::spec::ImageConfig =
        serde_json::from_slice(&layout.read_blob(&image.config.digest)?)
            .map_err(|e| Error::invalid(&image.config.digest, e.to_string()))?;
    Ok(config.architecture)
}

/// The provenance predicate of a publish that was given none: what its annotations say.
fn default_predicate(request: &PublishRequest) -> serde_json::Value {
    let note = |key: &str| request.image.annotations.get(key).cloned();
    serde_json::json!({
        "buildDefinition": {
            "buildType": zentoo_core::plan::provenance::BUILD_TYPE,
            "externalParameters": {
                "source": note("org.opencontainers.image.source"),
                "revision": note("org.opencontainers.image.revision"),
                "tuple": request.tuple,
            },
            "internalParameters": {"inputsDigest": note("dev.zentoo.inputs-digest")},
            "resolvedDependencies": [],
        },
        "runDetails": {
            "builder": {
                "id": zentoo_core::plan::provenance::LOCAL_BUILDER,
                "version": {"zentoo": env!("CARGO_PKG_VERSION")},
            },
            "metadata": {},
        },
    })
}

/// Writes the kernel tarball (into the tarball dir, else under `temp`), beside the image in a
/// kept layout, and when pushing into an artifact layout under `temp`, returned for pushing.
fn pack_kernel(
    request: &PublishRequest,
    layout: Option<&Layout>,
    digests_key: Option<&DigestsKey>,
    temp: &Path,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<(KernelResult, Option<Layout>), PublishError> {
    let root = &request.rootfs;
    let dir = request
        .tarball
        .clone()
        .unwrap_or_else(|| temp.join("kernel"));
    let what = format!("packing the kernel of {}", root.display());
    let kernel: KernelTarball =
        kernel::write_kernel(root, &dir, &request.tuple, request.image.source_date_epoch)
            .map_err(step(what.clone()))?;
    observe(Event::Done(
        "kernel",
        format!(
            "kernel {} {} ({})",
            kernel.version,
            kernel.tarball.tarball.display(),
            kernel.tarball.sha256
        ),
    ));
    if request.tarball.is_some() {
        sign_digests(digests_key, &kernel.tarball, observe)?;
    }
    if let (Some(layout), Some(_)) = (layout, &request.oci_layout) {
        // Beside the image, for `zentoo publish --oci-layout DIR --push` to send both.
        kernel::add_artifact(layout, &kernel).map_err(step(what.clone()))?;
    }
    let artifact_layout = match (request.push, &request.reference) {
        (true, Some(_)) => {
            Some(kernel::artifact_layout(&kernel, &temp.join("kernel-oci")).map_err(step(what))?)
        }
        _ => None,
    };
    let result = KernelResult {
        artifact: request
            .tarball
            .is_some()
            .then(|| kernel.tarball.tarball.display().to_string()),
        version: kernel.version,
        digest: kernel.tarball.sha256,
    };
    Ok((result, artifact_layout))
}

/// Sends what [`pack`] wrote: the kernel artifact, then the image tag; then loads.
async fn send(
    request: &PublishRequest,
    packed: Packed,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<BuildResult, PublishError> {
    let Packed {
        layout,
        kernel,
        mut result,
    } = packed;
    let mut kernel_result = kernel.as_ref().map(|(k, _)| k.clone());
    if let (Some(reference), Some((layout, image))) = (&request.reference, &layout) {
        if request.push {
            let registry = Registry::new(request.registry.clone())
                .map_err(step(format!("reaching the registry of {reference}")))?;
            if let (Some(k), Some((_, Some(artifact)))) = (kernel_result.as_mut(), &kernel) {
                let to = kernel::kernel_reference(reference);
                let digest = registry
                    .push_layout(artifact, Some(kernel::KERNEL_REF), &to)
                    .await
                    .map_err(step(format!("pushing the kernel to {to}")))?;
                observe(Event::Done("push", format!("pushed {to}@{digest}")));
                k.artifact.get_or_insert(format!("{to}@{digest}"));
            }
            let key = read_key(request.registry.sign_key.as_deref())?;
            send_attachments(
                &registry,
                layout,
                reference,
                &image.manifest.digest,
                key.as_ref(),
                &mut result,
                observe,
            )
            .await?;
            let (digest, pushed) = registry
                .push_layout_counted(layout, request.image.ref_name.as_deref(), reference)
                .await
                .map_err(step(format!("pushing {reference}")))?;
            observe(Event::Done(
                "push",
                pushed_message(reference, &digest, &pushed),
            ));
            record_push(&mut result, &pushed);
        }
        if request.load {
            let what = || format!("loading {reference} into the engine");
            let docker = match &request.engine {
                Some(docker) => docker.clone(),
                None => super::engine::connect_default()
                    .await
                    .map_err(step(what()))?,
            };
            super::engine::load(&docker, layout, image, reference)
                .await
                .map_err(step(what()))?;
            observe(Event::Done("load", format!("loaded {reference}")));
        }
    }
    result.kernel = kernel_result;
    Ok(result)
}

/// Signs the `.DIGESTS` of `tarball` with `key`, if any (`<tarball>.DIGESTS.asc`).
fn sign_digests(
    key: Option<&DigestsKey>,
    tarball: &super::StageTarball,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<(), PublishError> {
    let Some(key) = key else { return Ok(()) };
    let asc = key
        .sign_file(&tarball.digests)
        .map_err(step("signing the tarball's .DIGESTS"))?;
    observe(Event::Done(
        "tarball",
        format!(
            "signed {} (OpenPGP key {})",
            asc.display(),
            key.fingerprint()
        ),
    ));
    Ok(())
}

/// The signing key at `path`, if any; its content never reaches an error or a log.
fn read_key(path: Option<&Path>) -> Result<Option<SigningKey>, PublishError> {
    path.map(SigningKey::from_pem_file)
        .transpose()
        .map_err(step("reading the signing key"))
}

/// Pushes the SBOM and provenance packed beside the image and signs; records what went.
async fn send_attachments(
    registry: &Registry,
    layout: &Layout,
    reference: &str,
    image_digest: &str,
    key: Option<&SigningKey>,
    result: &mut BuildResult,
    observe: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<(), PublishError> {
    let sent = registry
        .push_attachments(layout, reference, image_digest, key)
        .await
        .map_err(step(format!("attaching to {reference}")))?;
    let repository = reference
        .rsplit_once('@')
        .map_or(reference, |(r, _)| r)
        .to_string();
    let repository = match repository.rfind(':') {
        Some(at) if !repository[at..].contains('/') => repository[..at].to_string(),
        _ => repository,
    };
    for (kind, slot) in [
        ("sbom", &mut result.sbom),
        ("provenance", &mut result.provenance),
    ] {
        if let Some(digest) = slot.as_mut() {
            observe(Event::Done(
                "push",
                format!("attached the {kind} {repository}@{digest}"),
            ));
            *digest = format!("{repository}@{digest}");
        }
    }
    if let (Some(key), Some(signature)) = (key, &sent.signature) {
        observe(Event::Done(
            "push",
            format!(
                "signed {repository}@{image_digest} with {} ({signature}{})",
                key.key_id(),
                sent.attestations
                    .as_ref()
                    .map(|a| format!(", attestations {a}"))
                    .unwrap_or_default()
            ),
        ));
        result.signed_by = Some(key.key_id());
    }
    Ok(())
}

fn pushed_message(reference: &str, digest: &str, pushed: &PushStats) -> String {
    format!(
        "pushed {reference}@{digest} ({} of {} layers uploaded, {} bytes)",
        pushed.layers_uploaded, pushed.layers, pushed.bytes_uploaded
    )
}

fn record_push(result: &mut BuildResult, pushed: &PushStats) {
    result.layers = Some(pushed.layers);
    result.layers_uploaded = Some(pushed.layers_uploaded);
    result.bytes_uploaded = Some(pushed.bytes_uploaded);
}

/// Publishes the image an earlier publish packed into the OCI layout `dir` (the cluster packs
/// as root and pushes as an unprivileged user): the kernel artifact first, the image tag last.
pub async fn publish_layout(
    dir: &Path,
    reference: Option<&str>,
    push: bool,
    registry: &RegistryConfig,
    glsa_dir: Option<&Path>,
    observe: Observer,
) -> Result<BuildResult, PublishError> {
    let what = || format!("the image packed into {}", dir.display());
    let layout = Layout::open(dir).map_err(step(what()))?;
    let name = attach::image_ref_name(&layout).map_err(step(what()))?;
    let manifest = layout.resolve(name.as_deref()).map_err(step(what()))?;
    let mut result = BuildResult {
        image_digest: Some(manifest.digest.clone()),
        ..BuildResult::default()
    };
    if let Some((version, digest)) = kernel::packed_kernel(&layout).map_err(step(what()))? {
        result.kernel = Some(KernelResult {
            artifact: None,
            version,
            digest,
        });
    }
    let attached = attach::attached(&layout).map_err(step(what()))?;
    for a in &attached {
        let slot = match a.ref_name {
            attach::SBOM_REF => &mut result.sbom,
            _ => &mut result.provenance,
        };
        *slot = Some(a.manifest.digest.clone());
    }
    if let Some(glsa_dir) = glsa_dir {
        // The packed image's SBOM says what is in it (the root is not here).
        let Some(sbom) = attached.iter().find(|a| a.ref_name == attach::SBOM_REF) else {
            return Err(PublishError::Usage(
                "--glsa-dir with --oci-layout needs the SBOM packed with the image (not --sbom none)",
            ));
        };
        let arch = layout_arch(&layout, &manifest).map_err(step(what()))?;
        let packages = audit::Packages::Sbom(&sbom.content);
        result.glsa = Some(audit_glsa(glsa_dir, &arch, packages, &*observe)?);
    }
    let Some(reference) = reference else {
        return Ok(result);
    };
    result.image = Some(reference.to_string());
    if push {
        let client = Registry::new(registry.clone())
            .map_err(step(format!("reaching the registry of {reference}")))?;
        if let Some(k) = result.kernel.as_mut() {
            let to = kernel::kernel_reference(reference);
            let digest = client
                .push_layout(&layout, Some(kernel::KERNEL_REF), &to)
                .await
                .map_err(step(format!("pushing the kernel to {to}")))?;
            observe(Event::Done("push", format!("pushed {to}@{digest}")));
            k.artifact = Some(format!("{to}@{digest}"));
        }
        let key = read_key(registry.sign_key.as_deref())?;
        send_attachments(
            &client,
            &layout,
            reference,
            &manifest.digest,
            key.as_ref(),
            &mut result,
            &*observe,
        )
        .await?;
        let (digest, pushed) = client
            .push_layout_counted(&layout, name.as_deref(), reference)
            .await
            .map_err(step(format!("pushing {reference}")))?;
        observe(Event::Done(
            "push",
            pushed_message(reference, &digest, &pushed),
        ));
        record_push(&mut result, &pushed);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_come_from_the_tag() {
        assert_eq!(ref_name("127.0.0.1:5000/a/b:v1"), "v1");
        assert_eq!(ref_name("127.0.0.1:5000/a/b"), "latest");
        assert_eq!(ref_name("r/b@sha256:ab"), "latest");
    }
}
