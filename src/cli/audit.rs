//! `zentoo audit`: which GLSAs affect an image — its root, its SBOM file, the SBOM attached to
//! it in a registry, or the last local build of a tuple — decided as Portage's `glsa-check -t`
//! decides.

use super::publish::RegistryArgs;
use crate::publish::audit::{self, Report};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// An image reference whose attached SBOM is audited (see `zentoo publish --sbom`).
    #[arg(value_name = "IMAGE", conflicts_with_all = ["rootfs", "sbom", "tuple"])]
    image: Option<String>,
    /// Audit this root's /var/db/pkg.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["sbom", "tuple"])]
    rootfs: Option<PathBuf>,
    /// Audit the last successful `zentoo build` of this tuple recorded in `--out` (the SBOM
    /// beside its stage tarball), e.g. against today's advisories.
    #[arg(long, value_name = "TUPLE", conflicts_with = "sbom")]
    tuple: Option<String>,
    /// The output directory of `zentoo build` that `--tuple` reads.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "zentoo-out",
        requires = "tuple"
    )]
    out: PathBuf,
    /// Audit the packages of this SBOM (SPDX or CycloneDX JSON as zentoo writes them).
    #[arg(long, value_name = "FILE")]
    sbom: Option<PathBuf>,
    /// The ebuild repository (snapshot) whose `metadata/glsa` holds the advisories.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/db/repos/gentoo",
        conflicts_with = "glsa_dir"
    )]
    repo: PathBuf,
    /// The GLSA directory itself (instead of `--repo`).
    #[arg(long, value_name = "DIR")]
    glsa_dir: Option<PathBuf>,
    /// The Gentoo architecture keyword advisories are matched for (`arch="..."`); for an image
    /// index, also which image's SBOM is read.
    #[arg(long, value_name = "KEYWORD", default_value = "amd64")]
    arch: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Also write the result as a build reports it (`{"glsa": {advisories, affected}}`,
    /// under 4 KiB) to FILE, and exit 0 whether or not something is affected: the controller's
    /// audit Job reads it as the container's termination message.
    #[arg(long, value_name = "FILE")]
    termination_log: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// One line per affected package.
    Table,
    /// The report as JSON.
    Json,
}

/// Exit code when an advisory affects the image.
pub const EXIT_AFFECTED: u8 = 1;

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let sbom = match &args.tuple {
        Some(tuple) => Some(built_sbom(&args.out, tuple)?),
        None => args.sbom.clone(),
    };
    let glsa_dir = args
        .glsa_dir
        .clone()
        .unwrap_or_else(|| args.repo.join("metadata/glsa"));
    let (advisories, unreadable) = audit::read_advisories(&glsa_dir)?;
    let installed = match (&args.image, &args.rootfs, &sbom) {
        (_, Some(root), _) => audit::installed_in_root(root)?,
        (_, _, Some(file)) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            audit::installed_in_sbom(&bytes)
                .map_err(anyhow::Error::msg)
                .with_context(|| file.display().to_string())?
        }
        (Some(image), _, _) => {
            let oci_arch = match args.arch.as_str() {
                "x86" => "386",
                "riscv" => "riscv64",
                other => other,
            };
            let (digest, document) = attached_sbom(&args.registry, image, oci_arch)?;
            eprintln!("auditing {image}@{digest} from its SBOM");
            audit::installed_in_sbom(&document)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("the SBOM of {image}"))?
        }
        (None, None, None) => {
            bail!("what to audit: give an IMAGE, --rootfs DIR, --sbom FILE or --tuple TUPLE")
        }
    };
    let report = audit::audit(&advisories, unreadable, &args.arch, &installed);
    for problem in &report.unreadable {
        eprintln!("zentoo: skipped {problem}");
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => print!("{}", table(&report)),
    }
    if let Some(file) = &args.termination_log {
        let result = crate::plan::result::BuildResult {
            glsa: Some(report.result()),
            ..Default::default()
        };
        std::fs::write(file, result.termination_message())
            .with_context(|| format!("writing {}", file.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_AFFECTED)
    })
}

/// The SBOM attached to `image` (for an index, its `oci_arch` image): the image's digest and
/// the document.
pub(super) fn attached_sbom(
    registry: &RegistryArgs,
    image: &str,
    oci_arch: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let registry = crate::publish::registry::Registry::new(registry.config()?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(registry.attached_sbom(image, oci_arch))?)
}

/// The SBOM beside the stage tarball of the last successful build of `tuple` in `out`.
fn built_sbom(out: &Path, tuple: &str) -> anyhow::Result<PathBuf> {
    let state = crate::runner::State::load(out)?;
    let Some(build) = state.tuples.get(tuple) else {
        let known: Vec<&str> = state.tuples.keys().map(String::as_str).collect();
        bail!(
            "{}: no successful build of {tuple} (built: {})",
            out.join(crate::runner::state::STATE_FILE).display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let Some(tarball) = &build.result.tarball else {
        bail!("the last build of {tuple} wrote no stage tarball, so no SBOM beside it");
    };
    crate::runner::security::sbom_beside(build)
        .with_context(|| format!("no SBOM beside {tarball} (built with --sbom none?)"))
}

fn table(report: &Report) -> String {
    if report.findings.is_empty() {
        return format!(
            "no GLSA affects these {} packages ({} advisories, {})\n",
            report.packages, report.advisories, report.arch
        );
    }
    let mut rows = vec![[
        "GLSA".to_string(),
        "SEVERITY".into(),
        "PACKAGE".into(),
        "FIX".into(),
        "TITLE".into(),
    ]];
    for f in &report.findings {
        rows.push([
            f.glsa.clone(),
            f.severity.as_str().to_string(),
            f.package.clone(),
            f.fix(),
            f.title.clone(),
        ]);
    }
    super::columns(&rows)
}
