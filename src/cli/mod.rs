//! The `zentoo` command line.

mod audit;
mod binhost;
mod build;
mod completions;
mod controller;
mod crds;
mod diff;
mod freshroot;
mod gc;
mod get;
mod logs;
mod materialize;
mod plan;
mod progress;
mod publish;
mod reconcile;
mod sbom;
mod site;
mod spec_args;
mod tree;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Gentoo as immutable infrastructure: a git repository of portage configs becomes published
/// OCI images and stage tarballs.
#[derive(Debug, Parser)]
#[command(name = "zentoo", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the images a site defines, their inputs digests and what changed.
    Plan(plan::PlanArgs),
    /// Build tuples of a site on the local Podman or Docker engine.
    Build(build::BuildArgs),
    /// Open a shell (or run a command) in a fresh stage3 with a tuple's config applied.
    Freshroot(freshroot::FreshrootArgs),
    /// Write a build's work directory from git objects (the materialize step of a build).
    Materialize(materialize::MaterializeArgs),
    /// Run the Kubernetes controller (GentooSite and GentooImage reconcilers).
    Controller(controller::ControllerArgs),
    /// Ask the controller to reconcile a GentooSite or GentooImage now and wait for it.
    #[command(subcommand)]
    Reconcile(reconcile::ReconcileCommand),
    /// Show GentooSites or GentooImages: ready, revision or digest, last build, and why.
    #[command(subcommand)]
    Get(get::GetCommand),
    /// Show a GentooSite, the GentooImages it builds and their builds, as a tree.
    #[command(subcommand)]
    Tree(tree::TreeCommand),
    /// A cluster build's logs: its steps (followed with -f) and Portage's per-package logs,
    /// also after its pod is gone.
    Logs(Box<logs::LogsArgs>),
    /// Print the CustomResourceDefinitions (or write them with --dir).
    Crds(crds::CrdsArgs),
    /// Pack a target root into an OCI image and a stage tarball, and publish them.
    Publish(Box<publish::PublishArgs>),
    /// Work with site repositories.
    #[command(subcommand)]
    Site(site::SiteCommand),
    /// Remove binary packages and distfiles no recent build of any image used.
    Gc(gc::GcArgs),
    /// Serve the binary packages to Portage hosts (`emerge --getbinpkg`).
    #[command(subcommand)]
    Binhost(binhost::BinhostCommand),
    /// Write the SBOM (SPDX or CycloneDX) of a root from its Portage records.
    Sbom(sbom::SbomArgs),
    /// Which GLSAs affect an image (its root, its SBOM, or the SBOM attached to it).
    Audit(Box<audit::AuditArgs>),
    /// The packages two builds differ in (added, removed, up/downgraded, USE), from their SBOMs.
    Diff(Box<diff::DiffArgs>),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
}

/// Where the site repository is and how to read it: shared by every command that reads one.
#[derive(Debug, clap::Args)]
pub(crate) struct SiteArgs {
    /// The site repository (work tree or bare).
    #[arg(long, default_value = ".")]
    pub site: std::path::PathBuf,
    /// Branch holding `tuples`, `sets/` and `cpus.yaml` (default: the branch HEAD points to).
    #[arg(long = "ref")]
    pub tracked_ref: Option<String>,
    /// Prefix of portage config branches.
    #[arg(long, default_value = "portage/")]
    pub portage_prefix: String,
    /// Prefix of buildhooks branches.
    #[arg(long, default_value = "buildhooks/")]
    pub buildhooks_prefix: String,
}

impl SiteArgs {
    /// The read options these flags describe.
    pub fn read_options(&self) -> anyhow::Result<crate::site::ReadOptions> {
        Ok(crate::site::ReadOptions {
            tracked_ref: self.tracked_ref.clone(),
            prefixes: crate::site::Prefixes::new(&self.portage_prefix, &self.buildhooks_prefix)
                .map_err(anyhow::Error::msg)?,
        })
    }
}

/// What one site may make (`crates/zentoo-core/src/plan/limits.rs`): shared by `zentoo plan` and the controller.
#[derive(Clone, Copy, Debug, clap::Args)]
pub(crate) struct LimitArgs {
    /// Most tuples one site plans; later tuple lines are errors.
    #[arg(long, value_name = "N", default_value_t = crate::plan::limits::MAX_TUPLES)]
    pub max_tuples: usize,
    /// Most images (GentooImages) one site makes; images of later tuples are errors.
    #[arg(long, value_name = "N", default_value_t = crate::plan::limits::MAX_IMAGES)]
    pub max_images: usize,
    /// Most atoms in one set, its includes expanded.
    #[arg(long, value_name = "N", default_value_t = crate::plan::limits::MAX_SET_ATOMS)]
    pub max_set_atoms: usize,
    /// Most atoms of all of a site's images together (a set's counted once per image).
    #[arg(long, value_name = "N", default_value_t = crate::plan::limits::MAX_PLANNED_ATOMS)]
    pub max_planned_atoms: usize,
}

impl LimitArgs {
    /// The limits these flags describe.
    pub fn limits(&self) -> crate::plan::Limits {
        crate::plan::Limits {
            tuples: self.max_tuples,
            images: self.max_images,
            set_atoms: self.max_set_atoms,
            planned_atoms: self.max_planned_atoms,
        }
    }
}

/// Exit code for "the site could not be read at all" and other fatal errors.
pub const EXIT_FATAL: u8 = 2;

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Build(args) => build::run(args),
        Command::Freshroot(args) => freshroot::run(args),
        Command::Materialize(args) => materialize::run(args),
        Command::Site(cmd) => site::run(cmd),
        Command::Crds(args) => crds::run(args),
        Command::Controller(args) => controller::run(args),
        Command::Reconcile(cmd) => reconcile::run(cmd),
        Command::Get(cmd) => get::run(cmd),
        Command::Tree(cmd) => tree::run(cmd),
        Command::Logs(args) => logs::run(*args),
        Command::Publish(args) => publish::run(*args),
        Command::Binhost(cmd) => binhost::run(cmd),
        Command::Gc(args) => gc::run(args),
        Command::Sbom(args) => sbom::run(args),
        Command::Audit(args) => audit::run(*args),
        Command::Diff(args) => diff::run(*args),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zentoo: {}", one_line(&e));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// `rows` as left-aligned columns two spaces apart, one line each (trailing blanks trimmed).
fn columns<R: AsRef<[String]>>(rows: &[R]) -> String {
    let n = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
