//! `zentoo publish`: a target root → OCI image (layout, engine, registry) and stage tarball;
//! `zentoo publish index`: one tag for several arches.

use super::progress::Progress;
use crate::plan::result::BuildResult;
use crate::publish::pipeline::{self, Event, PublishRequest};
use crate::publish::{self, Compression, ImageOptions, oci};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

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
    /// `auto`: a layer per package owning files (from the root's /var/db/pkg; small packages
    /// share layers past --max-layers) and a top layer for the rest, so a rebuild that changes
    /// one package pushes one layer; `single`: the whole root in one layer.
    #[arg(long, value_enum, default_value_t = Layers::Auto)]
    layers: Layers,
    /// Most layers of an `auto` image (at least 2).
    #[arg(long, value_name = "N", default_value_t = publish::layers::DEFAULT_MAX_LAYERS as u16,
          value_parser = clap::value_parser!(u16).range(2..))]
    max_layers: u16,
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
    registry: PushArgs,
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
    /// SBOM attached to the image (an OCI referrer, plus cosign's `sha256-<digest>.sbom`
    /// tag) and written beside the stage tarball, from the root's /var/db/pkg.
    #[arg(long, value_enum, default_value_t = SbomFormat::Spdx)]
    sbom: SbomFormat,
    /// The build's SLSA provenance predicate (JSON; the build plan passes it); without it,
    /// one made from the annotations. Attached like the SBOM, and written beside the tarball.
    #[arg(
        long,
        env = "ZENTOO_PROVENANCE",
        value_name = "JSON",
        hide_env_values = true
    )]
    provenance: Option<String>,
    /// Audit the image against the GLSAs in this directory (a repository's `metadata/glsa`)
    /// and report the affected packages in the result; from `--oci-layout` alone, the packed
    /// SBOM's packages.
    #[arg(long, value_name = "DIR")]
    glsa_dir: Option<PathBuf>,
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

/// Signing what is pushed.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Sign pushed images, their SBOM and provenance with this ECDSA P-256 key (PKCS#8 PEM:
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out zentoo.key`) as
    /// `cosign verify --key` and `cosign verify-attestation --key` check them (public key:
    /// `openssl pkey -in zentoo.key -pubout`).
    #[arg(long, env = "ZENTOO_SIGN_KEY", value_name = "PATH")]
    sign_key: Option<PathBuf>,
    /// Sign each stage (and kernel) tarball's `.DIGESTS` with this OpenPGP secret key
    /// (armored, no passphrase: `gpg --armor --export-secret-keys KEYID`), as
    /// `<tarball>.DIGESTS.asc`, which `gpg --verify` checks as it checks Gentoo's release media.
    #[arg(long, env = "ZENTOO_DIGESTS_KEY", value_name = "PATH")]
    digests_key: Option<PathBuf>,
}

/// How to reach registries and sign what is pushed there.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    sign: SignArgs,
}

impl PushArgs {
    /// The registry configuration, signing key included.
    pub(crate) fn config(&self) -> anyhow::Result<publish::registry::RegistryConfig> {
        let mut config = self.registry.config()?;
        config.sign_key = self.sign.sign_key.clone();
        config.digests_key = self.sign.digests_key.clone();
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct IndexArgs {
    /// The index reference to push.
    reference: String,
    /// An image reference to include (repeatable; platform from its config).
    #[arg(long = "from", value_name = "REF", required = true)]
    from: Vec<String>,
    #[command(flatten)]
    registry: PushArgs,
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
enum Layers {
    Auto,
    Single,
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
    let request = request(&args, rootfs)?;
    let result = runtime()?.block_on(pipeline::publish(&request, observer()))?;
    emit(&result, args.output, args.termination_log.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// The publish `args` ask for, of the root `rootfs`.
fn request(args: &ImageArgs, rootfs: PathBuf) -> anyhow::Result<PublishRequest> {
    let epoch = match args.source_date_epoch {
        Some(e) => e,
        None => {
            eprintln!("zentoo: SOURCE_DATE_EPOCH unset: using the current time (not reproducible)");
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        }
    };
    let arch = args.arch.clone().unwrap_or_else(host_arch);
    let annotations = pairs(&args.annotations, "--annotation")?;
    let tuple = args
        .tuple
        .clone()
        .or_else(|| annotations.get(oci::TUPLE).cloned())
        .unwrap_or_else(|| arch.clone());
    let mut image = ImageOptions::new(&arch, epoch);
    if args.variant.is_some() {
        image.variant = args.variant.clone();
    }
    image.compression = match args.compression {
        LayerCompression::Gzip => Compression::Gzip,
        LayerCompression::Zstd => Compression::Zstd,
    };
    image.layers = match args.layers {
        Layers::Auto => oci::LayerMode::Auto,
        Layers::Single => oci::LayerMode::Single,
    };
    image.max_layers = args.max_layers.into();
    image.annotations = annotations;
    image
        .annotations
        .entry(oci::TUPLE.into())
        .or_insert(tuple.clone());
    image.labels = pairs(&args.labels, "--label")?;
    image.env = args.env.clone();
    image.entrypoint = args.entrypoint.as_deref().map(command).transpose()?;
    image.cmd = args.cmd.as_deref().map(command).transpose()?;
    image.user = args.user.clone();
    image.ref_name = Some(
        args.image
            .as_deref()
            .map(pipeline::ref_name)
            .unwrap_or_else(|| "latest".into()),
    );
    Ok(PublishRequest {
        rootfs,
        tuple,
        image,
        oci_layout: args.oci_layout.clone(),
        tarball: args.tarball.clone(),
        tarball_compression: match args.tarball_compression {
            TarballCompression::Xz => Compression::Xz,
            TarballCompression::Zstd => Compression::Zstd,
        },
        kernel: args.kernel,
        check_libraries: args.check_libraries,
        reference: args.image.clone(),
        push: args.push,
        load: args.load,
        registry: args.registry.config()?,
        engine: None,
        sbom: args.sbom.format(),
        provenance: args
            .provenance
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .context("--provenance (ZENTOO_PROVENANCE) is not JSON")?,
        glsa_dir: args.glsa_dir.clone(),
    })
}

/// `--sbom`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SbomFormat {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
    /// No SBOM.
    None,
}

impl SbomFormat {
    fn format(self) -> Option<publish::sbom::Format> {
        match self {
            SbomFormat::Spdx => Some(publish::sbom::Format::Spdx),
            SbomFormat::Cyclonedx => Some(publish::sbom::Format::CycloneDx),
            SbomFormat::None => None,
        }
    }
}

/// Progress bars (or summary lines) for the pipeline's packing, its other news on stderr.
fn observer() -> pipeline::Observer {
    let current: Mutex<Option<(&'static str, Progress)>> = Mutex::new(None);
    Arc::new(move |event| {
        let Ok(mut current) = current.lock() else {
            return;
        };
        match event {
            Event::Entry(what, archived) => {
                if current.as_ref().is_none_or(|(w, _)| *w != what) {
                    *current = Some((what, Progress::new(what)));
                }
                if let Some((_, progress)) = current.as_ref() {
                    progress.entry(archived);
                }
            }
            Event::Done(what, line) => match current.take() {
                Some((w, progress)) if w == what => progress.done(&line),
                _ => eprintln!("{line}"),
            },
        }
    })
}

/// No `--rootfs`: publishes the image an earlier `zentoo publish --rootfs R --oci-layout DIR`
/// packed (the cluster packs as root and pushes as an unprivileged user).
fn run_layout(args: &ImageArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    if args.tarball.is_some() || args.load {
        bail!("--tarball and --load need --rootfs");
    }
    let registry = args.registry.config()?;
    let result = runtime()?.block_on(pipeline::publish_layout(
        dir,
        args.image.as_deref(),
        args.push,
        &registry,
        args.glsa_dir.as_deref(),
        observer(),
    ))?;
    emit(&result, args.output, args.termination_log.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

fn run_index(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let client = args.registry.registry.client()?;
    let rt = runtime()?;
    let key = args
        .registry
        .sign
        .sign_key
        .as_deref()
        .map(publish::sign::SigningKey::from_pem_file)
        .transpose()
        .context("reading the signing key")?;
    let digest = rt.block_on(client.push_index(&args.reference, &args.from))?;
    let mut result = BuildResult {
        image: Some(args.reference.clone()),
        image_digest: Some(digest.clone()),
        ..Default::default()
    };
    if let Some(key) = &key {
        let target = publish::registry::parse_ref(&args.reference)?;
        rt.block_on(client.sign_manifest(&target, &digest, key))?;
        result.signed_by = Some(key.key_id());
    }
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
    result: &BuildResult,
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
        publish::result::write_termination_log(result, path)?;
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build::{ImageTarget, StepName, build_plan};
    use crate::plan::testing::settings;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ImageArgs,
    }

    /// The request `zentoo publish` makes of the plan's publish command (`command` minus
    /// `zentoo`), against the one the runner makes of the plan.
    fn both(command: &[String], plan: &crate::plan::BuildPlan) -> (PublishRequest, PublishRequest) {
        let cli = Cli::try_parse_from(command.iter().skip(1)).expect("parses");
        let rootfs = cli.args.rootfs.clone().expect("--rootfs");
        let from_cli = request(&cli.args, rootfs.clone()).expect("request");
        let from_plan = PublishRequest::from_plan(&plan.publish, &plan.image, &rootfs);
        (from_cli, from_plan)
    }

    fn assert_same(a: &PublishRequest, b: &PublishRequest) {
        assert_eq!(a.rootfs, b.rootfs);
        assert_eq!(a.tuple, b.tuple);
        assert_eq!(a.image, b.image);
        assert_eq!(a.oci_layout, b.oci_layout);
        assert_eq!(a.tarball, b.tarball);
        assert_eq!(a.tarball_compression, b.tarball_compression);
        assert_eq!(
            (a.kernel, a.check_libraries, a.push, a.load),
            (b.kernel, b.check_libraries, b.push, b.load)
        );
        assert_eq!(a.reference, b.reference);
        assert_eq!(a.registry.insecure, b.registry.insecure);
    }

    #[test]
    fn the_plans_publish_command_is_the_request_the_runner_runs() {
        let image = crate::plan::testing::image_plan("rpi-server-none-web\n");
        let mut s = settings();
        s.insecure_registries = vec!["plain.example:5000".into()];
        for (target, insecure) in [
            (
                Some(ImageTarget::Push("registry.example/zentoo/web:v1".into())),
                None,
            ),
            (
                Some(ImageTarget::Push("plain.example:5000/zentoo/web:v1".into())),
                Some("plain.example:5000"),
            ),
            (
                Some(ImageTarget::Load("localhost/zentoo/web:latest".into())),
                None,
            ),
            (None, None),
        ] {
            s.image = target;
            let plan = build_plan(&image, "c0ffee", &s);
            let step = plan
                .steps
                .iter()
                .find(|s| s.name == StepName::Publish)
                .expect("a publish step");
            let (cli, runner) = both(&step.command, &plan);
            assert_same(&cli, &runner);
            let insecure: Vec<String> = insecure.iter().map(|h| h.to_string()).collect();
            assert_eq!(cli.registry.insecure, insecure);
            assert_eq!(cli.image.source_date_epoch, 1_700_000_000);
            assert_eq!(cli.image.variant.as_deref(), Some("v8"));
        }
    }

    #[test]
    fn the_clusters_pack_command_packs_what_the_plan_says() {
        let image = crate::plan::testing::image_plan("zen-server-nodocs-web\n");
        let plan = build_plan(&image, "c0ffee", &settings());
        let (pack, _) = plan.publish.split_command("/scratch/oci");
        let (cli, mut runner) = both(&pack, &plan);
        // Packing only: the layout kept for the push container, nothing sent.
        runner.oci_layout = Some("/scratch/oci".into());
        runner.reference = None;
        runner.push = false;
        runner.image.ref_name = Some("latest".into());
        assert_same(&cli, &runner);
    }

    #[test]
    fn commands_are_json_arrays_or_one_program() {
        assert_eq!(command(r#"["/bin/sh","-c"]"#).unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(command("/bin/bash").unwrap(), ["/bin/bash"]);
    }
}
