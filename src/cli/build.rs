//! `zentoo build`: build tuples of a site on the local Podman or Docker engine.

use crate::plan::build::StepName;
use crate::runner::Reporter;
use crate::runner::progress::Emerging;
use crate::runner::session::{self, BuildOptions, Report, TupleResult};
use crate::runner::{Engine, Running};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    site: super::SiteArgs,
    /// Tuples to build (names as in `zentoo plan`).
    tuples: Vec<String>,
    /// Build every tuple of the site.
    #[arg(long, conflicts_with = "tuples")]
    all: bool,
    /// Engine API address (default: $DOCKER_HOST, then the usual Podman and Docker sockets).
    #[arg(long)]
    engine: Option<String>,
    /// Where logs, stage tarballs and the build state go.
    #[arg(long, default_value = "zentoo-out")]
    out: PathBuf,
    /// Push images under this registry prefix (e.g. `127.0.0.1:5000/zentoo`) instead of
    /// loading them into the engine.
    #[arg(long, value_name = "PREFIX")]
    push: Option<String>,
    /// Tuples built at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Rebuild tuples that are up to date.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    spec: super::spec_args::SpecArgs,
    /// Follow this newer repo snapshot (a date, e.g. a daily sync's, or a commit) for security
    /// fixes: a tuple whose last build one of its GLSAs affects is rebuilt at it and stays on
    /// it while --repo-snapshot does not change; every other tuple keeps --repo-snapshot.
    #[arg(long, env = "ZENTOO_FOLLOW_SNAPSHOT", value_name = "SNAPSHOT")]
    follow_snapshot: Option<String>,
    /// emerge jobs inside each build (default: the number of cpus).
    #[arg(long)]
    emerge_jobs: Option<u32>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    registry: super::publish::PushArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let options = BuildOptions {
        read: args.site.read_options()?,
        site: args.site.site,
        tuples: args.tuples,
        all: args.all,
        engine: args.engine,
        out: args.out,
        push: args.push,
        jobs: args.jobs,
        force: args.force,
        spec: args.spec.overrides(),
        tmpfs: args.spec.tmpfs.clone(),
        emerge_jobs: args.emerge_jobs.unwrap_or(cpus),
        registry: args.registry.config()?,
        follow_snapshot: args.follow_snapshot,
    };
    let (repo, images, report) = session::select(&options)?;
    for error in &report.errors {
        eprintln!("{error}");
    }
    let running = Running::default();
    let ui = Ui::new(args.output == Output::Table);
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        tokio::select! {
            report = session::run(&options, &repo, images, report, &running, &ui) => report,
            _ = tokio::signal::ctrl_c() => {
                ui.clear();
                eprintln!("zentoo: interrupted: removing containers");
                if let Ok(engine) = Engine::connect(options.engine.as_deref()).await {
                    for name in running.names() {
                        engine.remove(&name).await;
                    }
                }
                std::process::exit(130);
            }
        }
    })?;
    ui.clear();
    match args.output {
        Output::Table => print!("{}", summary(&report)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&json(&report))?),
    }
    Ok(if report.all_good() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Progress: a spinner per tuple on a terminal, plain lines otherwise.
struct Ui {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Ui {
    fn new(wanted: bool) -> Self {
        let multi = (wanted && std::io::stderr().is_terminal()).then(MultiProgress::new);
        Ui {
            multi,
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn bar(&self, tuple: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        let bar = bars.entry(tuple.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(tuple.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Some(bar.clone())
    }

    fn clear(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Reporter for Ui {
    fn step(&self, tuple: &str, step: StepName) {
        match self.bar(tuple) {
            Some(bar) => bar.set_message(step.as_str().to_string()),
            None => eprintln!("{tuple}: {}", step.as_str()),
        }
    }

    fn emerging(&self, tuple: &str, step: StepName, e: &Emerging) {
        let how = if e.binary { "binary " } else { "" };
        let text = format!(
            "{}: ({} of {}) {how}{}",
            step.as_str(),
            e.index,
            e.total,
            e.package
        );
        match self.bar(tuple) {
            Some(bar) => bar.set_message(text),
            None => eprintln!("{tuple}: {text}"),
        }
    }
}

fn summary(report: &Report) -> String {
    let short = &report.revision[..report.revision.len().min(12)];
    let mut rows = vec![[
        "TUPLE".to_string(),
        "RESULT".into(),
        "COMPILED".into(),
        "BINPKGS".into(),
        "IMAGE".into(),
        "TARBALL".into(),
        "KERNEL".into(),
    ]];
    let mut failures = String::new();
    let mut kernels = String::new();
    for (name, result) in &report.results {
        let (what, record) = match result {
            TupleResult::UpToDate(r) => ("up to date", Some(&r.result)),
            TupleResult::Built(r) => ("built", Some(&r.result)),
            TupleResult::Failed(why) => {
                failures.push_str(&format!("\n{name}: {why}\n"));
                ("FAILED", None)
            }
        };
        let image = record
            .and_then(|r| {
                let digest = r.image_digest.as_deref().map(|d| &d[..d.len().min(19)]);
                r.image.as_ref().map(|i| match digest {
                    Some(d) => format!("{i}@{d}"),
                    None => i.clone(),
                })
            })
            .unwrap_or_else(|| "-".into());
        rows.push([
            name.clone(),
            what.into(),
            record.map_or("-".into(), |r| {
                r.compiled.map_or_else(|| "-".into(), |n| n.to_string())
            }),
            record.map_or("-".into(), |r| {
                r.binpkg_hits.map_or_else(|| "-".into(), |n| n.to_string())
            }),
            image,
            record
                .and_then(|r| r.tarball.clone())
                .unwrap_or_else(|| "-".into()),
            record
                .and_then(|r| r.kernel.as_ref())
                .map_or_else(|| "-".into(), |k| k.version.clone()),
        ]);
        if let Some(k) = record.and_then(|r| r.kernel.as_ref()) {
            let at = k.artifact.as_deref().unwrap_or("-");
            kernels.push_str(&format!(
                "{name}: kernel {} {at} ({})\n",
                k.version, k.digest
            ));
        }
        if let Some(g) = record.and_then(|r| r.glsa.as_ref())
            && !g.affected.is_empty()
        {
            kernels.push_str(&format!("{name}: GLSA {}\n", g.summary()));
        }
        if let TupleResult::UpToDate(r) | TupleResult::Built(r) = result
            && let Some(update) = &r.security
        {
            kernels.push_str(&format!("{name}: {}\n", update.summary()));
        }
    }
    let mut out = format!("site {short}\n");
    out.push_str(&super::columns(&rows));
    out.push_str(&kernels);
    out.push_str(&failures);
    for error in &report.errors {
        out.push_str(&format!("\n{error}"));
    }
    if !report.errors.is_empty() {
        out.push('\n');
    }
    out
}

fn json(report: &Report) -> serde_json::Value {
    let tuples: Vec<serde_json::Value> = report
        .results
        .iter()
        .map(|(name, result)| match result {
            TupleResult::UpToDate(r) | TupleResult::Built(r) => serde_json::json!({
                "name": name,
                "result": if matches!(result, TupleResult::Built(_)) { "built" } else { "upToDate" },
                "build": r,
            }),
            TupleResult::Failed(why) => serde_json::json!({
                "name": name, "result": "failed", "error": why,
            }),
        })
        .collect();
    serde_json::json!({
        "revision": report.revision,
        "tuples": tuples,
        "errors": report.errors,
    })
}
