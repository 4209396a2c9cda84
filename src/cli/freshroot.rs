//! `zentoo freshroot`: a shell (or a command) in a fresh stage3 with a tuple's config applied.

use crate::plan::build::{BuildSettings, SHARED_VOLUMES, build_plan};
use crate::runner::freshroot::{freshroot_spec, run_interactive};
use crate::runner::session::{self, BuildOptions};
use crate::runner::{Engine, engine_volume};
use crate::site::materialize::Limits;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct FreshrootArgs {
    #[command(flatten)]
    site: super::SiteArgs,
    /// The tuple whose /etc/portage, cpu profile and set to apply.
    tuple: String,
    /// The command to run (default: an interactive login shell).
    #[arg(last = true)]
    command: Vec<String>,
    /// Engine API address (default: $DOCKER_HOST, then the usual Podman and Docker sockets).
    #[arg(long)]
    engine: Option<String>,
    #[command(flatten)]
    spec: super::spec_args::SpecArgs,
}

pub fn run(args: FreshrootArgs) -> anyhow::Result<ExitCode> {
    let interactive = args.command.is_empty();
    if interactive && !std::io::stdin().is_terminal() {
        anyhow::bail!("no command given and stdin is not a terminal: pass `-- COMMAND...`");
    }
    let options = BuildOptions {
        read: args.site.read_options()?,
        site: args.site.site.clone(),
        tuples: vec![args.tuple.clone()],
        all: false,
        engine: args.engine.clone(),
        out: PathBuf::new(),
        push: None,
        jobs: 1,
        force: true,
        spec: args.spec.overrides(),
        tmpfs: args.spec.tmpfs.clone(),
        emerge_jobs: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        registry: Default::default(),
        follow_snapshot: None,
    };
    let (repo, images, report) = session::select(&options)?;
    let Some(image) = images.into_iter().next() else {
        let problems: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "tuple {} cannot be used:\n{}",
            args.tuple,
            problems.join("\n")
        );
    };
    let settings = BuildSettings {
        tmpfs: args.spec.tmpfs.clone(),
        ..BuildSettings::new(
            &args.site.site.display().to_string(),
            0,
            options.emerge_jobs,
        )
    };
    let plan = build_plan(&image, &report.revision, &settings);
    let work = tempfile::Builder::new()
        .prefix("zentoo-freshroot-")
        .tempdir()?;
    let work_dir = work.path().join("zentoo");
    crate::steps::write_work_dir(repo.git(), &plan.materialize, &work_dir, &Limits::default())?;
    let spec = freshroot_spec(&plan, &args.site.site, &work_dir, &args.command);

    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(async {
        let engine = Engine::connect(args.engine.as_deref()).await?;
        engine.ensure_image(&plan.stage3).await?;
        let labels = [(crate::runner::LABEL.to_string(), "zentoo".to_string())];
        for volume in SHARED_VOLUMES {
            engine
                .ensure_volume(&engine_volume(&args.site.site, volume), &labels)
                .await?;
        }
        let result = tokio::select! {
            r = async {
                if interactive {
                    run_interactive(&engine, &spec).await
                } else {
                    engine.run(&spec, |line| println!("{line}")).await
                }
            } => r,
            _ = tokio::signal::ctrl_c() => Ok(130),
        };
        engine.remove(&spec.name).await;
        anyhow::Ok(result?)
    });
    // The stdin reader is a blocking thread stuck in read(2): do not wait for it.
    runtime.shutdown_background();
    let code = code?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
