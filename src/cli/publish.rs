//! `zentoo publish`: a target root → OCI image (layout, engine, registry) and stage tarball;
//! `zentoo publish index`: one tag for several arches.

use super::progress::Progress;
use crate::publish::{self, Compression, ImageOptions, Layout, PublishResult, StageOptions, oci};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PublishArgs {
    #[command(subcommand)]
    command: Option<PublishCommand>,
    #[command(flatten)]
    image: ImageArgs,
}

#[derive(Debug, Subcommand)]
enum PublishCommand {
    /// Push an OCI image index so one tag serves several arches.
    Index(IndexArgs),
}

#[derive(Debug, Args)]
struct ImageArgs {
    /// The target root directory to pack.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Image reference (`host[:port]/repo:tag`) to push (--push) or load (--load).
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// Write the image into this OCI layout directory (default: a temporary one).
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Write the stage tarball, its .CONTENTS.gz and .DIGESTS into this directory.
    #[arg(long, value_name = "DIR")]
    tarball: Option<PathBuf>,
    /// Tuple naming the tarball and the `dev.zentoo.tuple` annotation (default: --arch).
    #[arg(long, value_name = "NAME")]
    tuple: Option<String>,
    /// OCI architecture of the image (default: this machine's).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
    /// OCI architecture variant (default `v8` for arm64).
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = LayerCompression::Zstd)]
    compression: LayerCompression,
    /// Stage tarball compression.
    #[arg(long, value_enum, default_value_t = TarballCompression::Xz)]
    tarball_compression: TarballCompression,
    /// Push the image to --image.
    #[arg(long, requires = "image")]
    push: bool,
    /// Load the image into the engine at $DOCKER_HOST as --image.
    #[arg(long, requires = "image")]
    load: bool,
    /// Also publish the root's kernel (`/boot`, `/lib/modules`) as
    /// `kernel-<tuple>-<version>.tar.xz` (+ .DIGESTS): into --tarball, and with --push as an
    /// OCI artifact at `<image>-kernel`.
    #[arg(long)]
    kernel: bool,
    /// Fail when a shared library an ELF file of the root needs does not resolve inside it.
    #[arg(long)]
    check_libraries: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Manifest annotation `KEY=VALUE` (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Config label `KEY=VALUE` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Environment `NAME=value` of the image (repeatable; default a standard PATH).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Entrypoint: a JSON array, or one program path.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Default command: a JSON array, or one program path.
    #[arg(long)]
    cmd: Option<String>,
    /// User the image's processes run as (`UID[:GID]`; default root).
    #[arg(long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Build time (seconds since the epoch): clamps mtimes, names the tarball.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    source_date_epoch: Option<i64>,
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Also write the JSON result here (a Kubernetes termination message, at most 4 KiB).
    #[arg(long, env = "ZENTOO_TERMINATION_LOG", value_name = "PATH")]
    termination_log: Option<PathBuf>,
}

/// How to reach registries.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// Registry credentials `USER:PASSWORD` (else from --authfile).
    #[arg(long, value_name = "USER:PASSWORD")]
    creds: Option<String>,
    /// Docker `config.json` with registry credentials (default: $REGISTRY_AUTH_FILE,
    /// $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    #[arg(long, value_name = "PATH")]
    authfile: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for registries.
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Reach this registry over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure: Vec<String>,
}

#[derive(Debug, Args)]
struct IndexArgs {
    /// The index reference to push.
    reference: String,
    /// An image reference to include (repeatable; platform from its config).
    #[arg(long = "from", value_name = "REF", required = true)]
    from: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Output format of the result.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LayerCompression {
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TarballCompression {
    Xz,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(args: PublishArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(PublishCommand::Index(index)) => run_index(index),
        None => {
            let log = args.image.termination_log.clone();
            let outcome = run_image(args.image);
            if let (Err(e), Some(path)) = (&outcome, &log) {
                write_failure(path, e);
            }
            outcome
        }
    }
}

/// Writes why the publish failed to the termination log, so the build's failure names the
/// registry and what failed rather than the tail of the log (with its retry warnings).
fn write_failure(path: &Path, e: &anyhow::Error) {
    let mut text = format!("zentoo: {}", super::one_line(e));
    if text.len() > publish::result::TERMINATION_MESSAGE_MAX {
        let mut end = publish::result::TERMINATION_MESSAGE_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    if let Err(write) = std::fs::write(path, text) {
        eprintln!(
            "zentoo: {}: cannot write the termination log: {write}",
            path.display()
        );
    }
}

fn run_image(args: ImageArgs) -> anyhow::Result<ExitCode> {
    let Some(rootfs) = args.rootfs.clone() else {
        return match &args.oci_layout {
            Some(dir) => run_layout(&args, dir),
            None => bail!("--rootfs DIR is required (or --oci-layout DIR of a packed image)"),
        };
    };
    if args.oci_layout.is_none() && args.tarball.is_none() && !args.push && !args.load {
        bail!("nothing to do: give --oci-layout, --tarball, --push or --load");
    }
    let epoch = match args.source_date_epoch {
        Some(e) => e,
        None => {
            eprintln!("zentoo: SOURCE_DATE_EPOCH unset: using the current time (not reproducible)");
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        }
    };
    if args.kernel && args.tarball.is_none() && !args.push && args.oci_layout.is_none() {
        bail!(
            "--kernel needs somewhere to put the kernel: --tarball DIR, --oci-layout DIR or --push"
        );
    }
    if args.check_libraries {
        let report = publish::libcheck::check_libraries(&rootfs)
            .with_context(|| format!("checking the libraries of {}", rootfs.display()))?;
        if !report.missing.is_empty() {
            bail!(
                "{} of {} ELF files need libraries that are not in {}:\n{}",
                report.missing.len(),
                report.checked,
                rootfs.display(),
                report.summary(20)
            );
        }
        eprintln!("libraries: all resolve ({} ELF files)", report.checked);
    }
    let arch = args.arch.clone().unwrap_or_else(host_arch);
    let annotations = pairs(&args.annotations, "--annotation")?;
    let tuple = args
        .tuple
        .clone()
        .or_else(|| annotations.get(oci::TUPLE).cloned())
        .unwrap_or_else(|| arch.clone());
    let mut result = PublishResult::default();

    // Everything is written locally first (image layout, stage tarball, kernel): a full disk
    // fails the publish before anything is pushed. Then the kernel artifact is pushed, and the
    // image tag last, so a failure anywhere leaves the image tag where it was.
    let wants_image = args.oci_layout.is_some() || args.push || args.load;
    let mut _temp_layout = None;
    let mut packed = None;
    let mut pushed_kernel = None;
    if wants_image {
        let dir = match &args.oci_layout {
            Some(dir) => dir.clone(),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "zentoo-publish-{}-{}",
                    std::process::id(),
                    epoch
                ));
                _temp_layout = Some(TempDir(dir.clone()));
                dir
            }
        };
        let layout = Layout::create(&dir)?;
        let mut opts = ImageOptions::new(&arch, epoch);
        if args.variant.is_some() {
            opts.variant = args.variant.clone();
        }
        opts.compression = match args.compression {
            LayerCompression::Gzip => Compression::Gzip,
            LayerCompression::Zstd => Compression::Zstd,
        };
        opts.annotations = annotations;
        opts.annotations
            .entry(oci::TUPLE.into())
            .or_insert(tuple.clone());
        opts.labels = pairs(&args.labels, "--label")?;
        opts.env = args.env.clone();
        opts.entrypoint = args.entrypoint.as_deref().map(command).transpose()?;
        opts.cmd = args.cmd.as_deref().map(command).transpose()?;
        opts.user = args.user.clone();
        opts.ref_name = Some(
            args.image
                .as_deref()
                .map(ref_name)
                .unwrap_or_else(|| "latest".into()),
        );
        let progress = Progress::new("image");
        let image = publish::build_image_with(&rootfs, &layout, &opts, |a| progress.entry(a))
            .with_context(|| format!("packing {}", rootfs.display()))?;
        progress.done(&format!(
            "image {} ({} entries, layer {} bytes)",
            image.manifest.digest, image.stats.entries, image.layer.size
        ));
        result.image_digest = Some(image.manifest.digest.clone());
        result.image = args.image.clone();
        packed = Some((layout, image, opts.ref_name));
    }

    if let Some(dir) = &args.tarball {
        let mut opts = StageOptions::new(&tuple, epoch);
        opts.compression = match args.tarball_compression {
            TarballCompression::Xz => Compression::Xz,
            TarballCompression::Zstd => Compression::Zstd,
        };
        let progress = Progress::new("tarball");
        let stage = publish::write_stage_with(&rootfs, dir, &opts, |a| progress.entry(a))
            .with_context(|| format!("packing {}", rootfs.display()))?;
        progress.done(&format!(
            "tarball {} ({})",
            stage.tarball.display(),
            stage.sha256
        ));
        result.tarball = Some(stage.tarball.display().to_string());
        result.tarball_digest = Some(stage.sha256);
    }

    let kernel_temp = std::env::temp_dir().join(format!("zentoo-kernel-{}", std::process::id()));
    let _kernel_cleanup = TempDir(kernel_temp.clone());
    let kernel = if args.kernel {
        Some(pack_kernel(&args, &rootfs, &tuple, epoch, &kernel_temp)?)
    } else {
        None
    };

    if let (Some(reference), Some((layout, image, name))) = (&args.image, &packed) {
        let rt = runtime()?;
        if args.push {
            let client = args.registry.client()?;
            if let Some((_, Some(artifact))) = &kernel {
                let to = publish::kernel::kernel_reference(reference);
                let digest = rt.block_on(client.push_layout(
                    artifact,
                    Some(publish::kernel::KERNEL_REF),
                    &to,
                ))?;
                eprintln!("pushed {to}@{digest}");
                pushed_kernel = Some(format!("{to}@{digest}"));
            }
            let digest = rt.block_on(client.push_layout(layout, name.as_deref(), reference))?;
            eprintln!("pushed {reference}@{digest}");
        }
        if args.load {
            rt.block_on(async {
                let docker = publish::engine::connect_default().await?;
                publish::engine::load(&docker, layout, image, reference).await
            })?;
            eprintln!("loaded {reference}");
        }
    }
    if let Some((mut k, _)) = kernel {
        if let Some(artifact) = pushed_kernel {
            k.artifact.get_or_insert(artifact);
        }
        result.kernel = Some(k);
    }

    emit(&result, args.output, args.termination_log.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the kernel tarball (into --tarball, else under `temp`), beside the image in
/// --oci-layout, and with --push into an artifact layout under `temp`, returned for pushing.
fn pack_kernel(
    args: &ImageArgs,
    rootfs: &Path,
    tuple: &str,
    epoch: i64,
    temp: &Path,
) -> anyhow::Result<(publish::KernelResult, Option<Layout>)> {
    let dir = args.tarball.clone().unwrap_or_else(|| temp.join("out"));
    let kernel = publish::kernel::write_kernel(rootfs, &dir, tuple, epoch)
        .with_context(|| format!("packing the kernel of {}", rootfs.display()))?;
    eprintln!(
        "kernel {} {} ({})",
        kernel.version,
        kernel.tarball.tarball.display(),
        kernel.tarball.sha256
    );
    let artifact = args
        .tarball
        .is_some()
        .then(|| kernel.tarball.tarball.display().to_string());
    if let Some(dir) = &args.oci_layout {
        // Beside the image, for `zentoo publish --oci-layout DIR --push` to send both.
        publish::kernel::add_artifact(&Layout::open(dir)?, &kernel)?;
    }
    let layout = match (args.push, &args.image) {
        (true, Some(_)) => Some(publish::kernel::artifact_layout(
            &kernel,
            &temp.join("oci"),
        )?),
        _ => None,
    };
    let result = publish::KernelResult {
        artifact,
        version: kernel.version,
        digest: kernel.tarball.sha256,
    };
    Ok((result, layout))
}

/// No `--rootfs`: publishes the image an earlier `zentoo publish --rootfs R --oci-layout DIR`
/// packed (the cluster packs as root and pushes as an unprivileged user). The kernel artifact
/// goes first, the image tag last.
fn run_layout(args: &ImageArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    if args.tarball.is_some() || args.load {
        bail!("--tarball and --load need --rootfs");
    }
    let layout = Layout::open(dir)?;
    let name = publish::kernel::image_ref_name(&layout)
        .with_context(|| format!("the image packed into {}", dir.display()))?;
    let manifest = layout
        .resolve(name.as_deref())
        .with_context(|| format!("the image packed into {}", dir.display()))?;
    let mut result = PublishResult {
        image_digest: Some(manifest.digest.clone()),
        ..PublishResult::default()
    };
    let kernel = publish::kernel::packed_kernel(&layout)?;
    if let Some((version, digest)) = &kernel {
        result.kernel = Some(publish::KernelResult {
            artifact: None,
            version: version.clone(),
            digest: digest.clone(),
        });
    }
    if let Some(reference) = &args.image {
        result.image = Some(reference.clone());
        if args.push {
            let client = args.registry.client()?;
            let rt = runtime()?;
            if let Some(k) = result.kernel.as_mut() {
                let to = publish::kernel::kernel_reference(reference);
                let digest = rt.block_on(client.push_layout(
                    &layout,
                    Some(publish::kernel::KERNEL_REF),
                    &to,
                ))?;
                eprintln!("pushed {to}@{digest}");
                k.artifact = Some(format!("{to}@{digest}"));
            }
            let digest = rt.block_on(client.push_layout(&layout, name.as_deref(), reference))?;
            eprintln!("pushed {reference}@{digest}");
        }
    }
    emit(&result, args.output, args.termination_log.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

fn run_index(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let client = args.registry.client()?;
    let rt = runtime()?;
    let digest = rt.block_on(client.push_index(&args.reference, &args.from))?;
    let result = PublishResult {
        image: Some(args.reference.clone()),
        image_digest: Some(digest),
        ..Default::default()
    };
    emit(&result, args.output, None)?;
    Ok(ExitCode::SUCCESS)
}

impl RegistryArgs {
    fn client(&self) -> anyhow::Result<publish::registry::Registry> {
        Ok(publish::registry::Registry::new(self.config()?)?)
    }

    /// The registry configuration these flags describe.
    pub(crate) fn config(&self) -> anyhow::Result<publish::registry::RegistryConfig> {
        let mut config = publish::registry::RegistryConfig::default();
        if let Some(creds) = &self.creds {
            let (user, password) = creds
                .split_once(':')
                .context("--creds: expected USER:PASSWORD")?;
            config.creds = Some((user.into(), password.into()));
        }
        config.authfile = self.authfile.clone();
        config.ca_file = self.ca_file.clone();
        config.insecure = self.insecure.clone();
        Ok(config)
    }
}

fn emit(
    result: &PublishResult,
    output: Output,
    termination_log: Option<&Path>,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string(result)?),
        Output::Text => {
            for (k, v) in [
                ("image", &result.image),
                ("imageDigest", &result.image_digest),
                ("tarball", &result.tarball),
                ("tarballDigest", &result.tarball_digest),
            ] {
                if let Some(v) = v {
                    println!("{k}: {v}");
                }
            }
            if let Some(kernel) = &result.kernel {
                println!("kernel: {} {}", kernel.version, kernel.digest);
                if let Some(artifact) = &kernel.artifact {
                    println!("kernelArtifact: {artifact}");
                }
            }
        }
    }
    if let Some(path) = termination_log {
        result.write_termination_log(path)?;
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The tag (or `latest`) of a reference, as the name in the OCI layout.
fn ref_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let no_digest = last.split('@').next().unwrap_or(last);
    match no_digest.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.into(),
        _ => "latest".into(),
    }
}

fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        other => other,
    }
    .into()
}

fn pairs(items: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("{flag} {item}: expected KEY=VALUE"))
        })
        .collect()
}

fn command(value: &str) -> anyhow::Result<Vec<String>> {
    if value.trim_start().starts_with('[') {
        serde_json::from_str(value)
            .with_context(|| format!("`{value}`: not a JSON array of strings"))
    } else {
        Ok(vec![value.to_string()])
    }
}

/// A temporary layout directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_come_from_the_tag() {
        assert_eq!(ref_name("127.0.0.1:5000/a/b:v1"), "v1");
        assert_eq!(ref_name("127.0.0.1:5000/a/b"), "latest");
        assert_eq!(ref_name("r/b@sha256:ab"), "latest");
        assert_eq!(command(r#"["/bin/sh","-c"]"#).unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(command("/bin/bash").unwrap(), ["/bin/bash"]);
    }
}
