//! `zentoo binhost`: serve the binary package volume to Portage hosts, and the `binrepos.conf`
//! that points them at it.

use crate::binhost::{self, BinRepo, discover};
use crate::plan::build::{BuildSettings, StepName, Volume, build_plan};
use crate::runner::session::{self, BuildOptions};
use crate::runner::{Engine, engine_volume};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum BinhostCommand {
    /// Print a binrepos.conf for hosts that `emerge --getbinpkg` from the binhost.
    Config(ConfigArgs),
    /// Serve the binary package volume over HTTP, read-only.
    Serve(ServeArgs),
}

/// Where the binary package volume is: a directory, or the local named volume of a site.
#[derive(Debug, Args)]
pub(crate) struct VolumeArgs {
    /// The binary package volume as a directory (e.g. a PVC mount); default: the named
    /// volume of `--site` on the local engine.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Engine API address, to find a site's named volume.
    #[arg(long)]
    pub engine: Option<String>,
}

impl VolumeArgs {
    /// The directory of `volume`: `--dir`, else the site's named volume on the local engine.
    pub async fn resolve(
        &self,
        explicit: Option<&Path>,
        site: &Path,
        volume: Volume,
    ) -> anyhow::Result<PathBuf> {
        if let Some(dir) = explicit {
            anyhow::ensure!(dir.is_dir(), "{}: not a directory", dir.display());
            return Ok(dir.to_path_buf());
        }
        let name = engine_volume(site, volume);
        let engine = Engine::connect(self.engine.as_deref()).await?;
        let Some(path) = engine.volume_mountpoint(&name).await? else {
            anyhow::bail!(
                "the site {} has no {} volume {name} yet (build something first, or pass --dir)",
                site.display(),
                volume.as_str()
            );
        };
        anyhow::ensure!(
            path.is_dir(),
            "volume {name} is at {} on the engine's host, which is not readable here: run this \
             where the engine runs (as its user), or pass --dir",
            path.display()
        );
        Ok(path)
    }
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    site: super::SiteArgs,
    /// Tuples to write sections for (default: every tuple of the site).
    tuples: Vec<String>,
    /// The binhost's URL as the Portage hosts reach it (e.g. http://binhost.example:8080).
    #[arg(long)]
    url: String,
    /// One section per PKGDIR found in this directory (the binary package volume) instead of
    /// per tuple of the site.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Prefix of the section names.
    #[arg(long, default_value = "zentoo")]
    name: String,
    /// `priority` of the sections.
    #[arg(long, default_value_t = 10)]
    priority: i32,
    /// Write `verify-signature = true` (when the binary packages are signed). With --dir it is
    /// on by itself when the volume holds the public key of the site's signing key.
    #[arg(long)]
    verify_signature: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the site repository is (its named binpkgs volume is served unless --dir).
    #[arg(long, default_value = ".")]
    site: PathBuf,
    #[command(flatten)]
    volume: VolumeArgs,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub fn run(cmd: BinhostCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BinhostCommand::Config(args) => config(args),
        BinhostCommand::Serve(args) => serve(args),
    }
}

fn config(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    url::Url::parse(&args.url).map_err(|e| anyhow::anyhow!("--url {}: {e}", args.url))?;
    let repos = match &args.dir {
        Some(dir) => sections_of_dir(&args, dir)?,
        None => sections_of_site(&args)?,
    };
    anyhow::ensure!(!repos.is_empty(), "no binary packages to point at");
    print!("{}", binhost::binrepos_conf(&repos));
    Ok(ExitCode::SUCCESS)
}

fn sections_of_dir(args: &ConfigArgs, dir: &Path) -> anyhow::Result<Vec<BinRepo>> {
    let found = discover::pkgdirs(dir)?;
    let signed = discover::signed(dir);
    anyhow::ensure!(
        !found.is_empty(),
        "{}: no PKGDIR (no Packages index) found",
        dir.display()
    );
    Ok(found
        .into_iter()
        .map(|p| BinRepo {
            name: binhost::section_name(&if p.rel.is_empty() {
                args.name.clone()
            } else {
                format!("{}-{}", args.name, p.rel.replace('/', "-"))
            }),
            priority: args.priority,
            sync_uri: binhost::sync_uri(&args.url, &p.rel),
            verify_signature: args.verify_signature || signed,
            comments: std::iter::once(format!(
                "{} packages built with CHOST={} CFLAGS=\"{}\": use on hosts with the same",
                p.packages,
                p.chost.as_deref().unwrap_or("?"),
                p.cflags.as_deref().unwrap_or("?"),
            ))
            .chain(signed.then(|| {
                format!(
                    "signed: trust the key {} in /etc/portage/gnupg (docs/binhost-and-gc.md)",
                    binhost::sync_uri(&args.url, discover::SIGNING_PUBKEY)
                )
            }))
            .collect(),
        })
        .collect())
}

fn sections_of_site(args: &ConfigArgs) -> anyhow::Result<Vec<BinRepo>> {
    let options = BuildOptions {
        read: args.site.read_options()?,
        site: args.site.site.clone(),
        tuples: args.tuples.clone(),
        all: args.tuples.is_empty(),
        engine: None,
        out: PathBuf::new(),
        push: None,
        jobs: 1,
        force: true,
        spec: Default::default(),
        tmpfs: None,
        emerge_jobs: 1,
        registry: Default::default(),
        follow_snapshot: None,
    };
    let (_repo, images, report) = session::select(&options)?;
    for error in &report.errors {
        eprintln!("{error}");
    }
    let settings = BuildSettings::new("", 0, 1);
    let mut out = Vec::new();
    for image in images {
        let plan = build_plan(&image, &report.revision, &settings);
        let Some(env) = plan
            .steps
            .iter()
            .find(|s| s.name == StepName::Build)
            .map(|s| &s.env)
        else {
            continue;
        };
        let Some(rel) = binhost::pkgdir_of_env(env) else {
            continue;
        };
        let get = |k: &str| env.get(k).map(String::as_str).unwrap_or_default();
        out.push(BinRepo {
            name: binhost::section_name(&format!("{}-{}", args.name, image.name)),
            priority: args.priority,
            sync_uri: binhost::sync_uri(&args.url, &rel),
            verify_signature: args.verify_signature,
            comments: vec![format!(
                "{}: CHOST={} CFLAGS=\"{}\" (PKGDIR {rel}): use on hosts with the same",
                image.name,
                get("ZENTOO_CHOST"),
                get("ZENTOO_CFLAGS"),
            )],
        });
    }
    Ok(out)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let dir = args
            .volume
            .resolve(args.volume.dir.as_deref(), &args.site, Volume::Binpkgs)
            .await?;
        let listener = binhost::serve::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        println!("zentoo: serving {} at http://{addr}/", dir.display());
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        binhost::serve::serve(&dir, listener, shutdown).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
