//! Running the build and assemble steps of one tuple in the engine, then publishing.

use super::engine::{Engine, EngineError, RunSpec, Source};
use super::progress::{Emerging, emerging};
use super::{Running, container_labels};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use zentoo_core::plan::build::{BuildPlan, Step, StepImage, StepName, Volume};
use zentoo_core::plan::result::{BuildCounts, ResultError};

/// Lines of a failed step's log shown in its error.
pub const TAIL_LINES: usize = 15;

/// One tuple's build, ready to run: its plan and where things go.
#[derive(Clone, Debug)]
pub struct TupleJob {
    /// The plan (steps, publish targets).
    pub plan: BuildPlan,
    /// The site repository (its path labels the containers).
    pub site: PathBuf,
    /// The materialized work directory (mounted read-only at the plan's work dir).
    pub work_dir: PathBuf,
    /// The empty target root (mounted at the plan's target dir).
    pub target_dir: PathBuf,
    /// Where step logs go: `<dir>/<step>.log`.
    pub log_dir: PathBuf,
    /// Named volumes standing in for the site's shared PVCs.
    pub volumes: BTreeMap<Volume, String>,
    /// Suffix making container names unique to this run.
    pub run_id: String,
    /// The build's id in the records it writes (`<UTC time>-<run id>`).
    pub build_id: String,
    /// Size of the `PORTAGE_TMPDIR` tmpfs, when the plan mounts one.
    pub tmpfs_bytes: u64,
}

/// Where the build step writes its counts inside its container (`ZENTOO_RESULT_FILE`): a
/// host directory of the tuple's logs is mounted here.
pub const RESULT_DIR: &str = "/var/tmp/zentoo-result";
/// The directory of the tuple's logs holding Portage's per-package build logs
/// (`<category>:<package>-<version>:<time>.log`), mounted at [`PACKAGE_LOGS_DIR`].
pub const PACKAGE_LOGS: &str = "packages";
/// Where the build step's `PORTAGE_LOGDIR` is inside its container (`ZENTOO_PACKAGE_LOGS`).
const PACKAGE_LOGS_DIR: &str = "/var/log/zentoo/packages";
/// The file of [`RESULT_DIR`] the build step writes.
const RESULT_NAME: &str = "build.json";

/// Why a tuple's build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step's container exited non-zero.
    #[error("step {step} failed (exit {code}); log: {log}\n{tail}", step = step.as_str(), log = log.display(), tail = tail.join("\n"))]
    Step {
        /// The step.
        step: StepName,
        /// Its exit code.
        code: i64,
        /// Its log file.
        log: PathBuf,
        /// Its last lines, each prefixed with `  | `.
        tail: Vec<String>,
    },
    /// The engine failed.
    #[error("step {step}: {source}", step = step.as_str())]
    Engine {
        /// The step.
        step: StepName,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// The build step's counts are not what it writes.
    #[error("step build: {path}: {source}", path = path.display())]
    Result {
        /// The result file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: ResultError,
    },
    /// Writing the log failed.
    #[error("step {step}: log {path}: {source}", step = step.as_str(), path = path.display())]
    Log {
        /// The step.
        step: StepName,
        /// The log file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What a running build reports, for progress display.
pub trait Reporter: Send + Sync {
    /// A step started.
    fn step(&self, tuple: &str, step: StepName);
    /// emerge announced a package.
    fn emerging(&self, tuple: &str, step: StepName, emerging: &Emerging);
}

/// Runs the container steps (build, assemble) of `job` and returns the counts the build
/// step wrote. Containers are removed afterwards, whatever happened.
pub async fn build_tuple(
    engine: &Engine,
    job: &TupleJob,
    running: &Running,
    reporter: &dyn Reporter,
) -> Result<BuildCounts, BuildError> {
    let result_dir = job.log_dir.join("result");
    for dir in [&result_dir, &job.log_dir.join(PACKAGE_LOGS)] {
        fresh_dir(dir).map_err(|source| BuildError::Log {
            step: StepName::Build,
            path: dir.clone(),
            source,
        })?;
    }
    for step in &job.plan.steps {
        if step.image != StepImage::Stage3 {
            continue;
        }
        reporter.step(&job.plan.image, step.name);
        run_step(engine, job, step, running, reporter).await?;
    }
    let path = result_dir.join(RESULT_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => BuildCounts::parse(&text).map_err(|source| BuildError::Result { path, source }),
        // A stage3 script that writes no counts: the build still succeeded.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BuildCounts::default()),
        Err(source) => Err(BuildError::Log {
            step: StepName::Build,
            path,
            source,
        }),
    }
}

async fn run_step(
    engine: &Engine,
    job: &TupleJob,
    step: &Step,
    running: &Running,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let name = step.name;
    let spec = run_spec(job, step);
    let log_path = job.log_dir.join(format!("{}.log", name.as_str()));
    let log_err = |source| BuildError::Log {
        step: name,
        path: log_path.clone(),
        source,
    };
    std::fs::create_dir_all(&job.log_dir).map_err(log_err)?;
    let mut log = BufWriter::new(File::create(&log_path).map_err(log_err)?);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut write_error = None;

    running.add(&spec.name);
    let result = engine
        .run(&spec, |line| {
            if let Err(e) = writeln!(log, "{line}") {
                write_error.get_or_insert(e);
            }
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_string());
            if let Some(e) = emerging(line) {
                reporter.emerging(&job.plan.image, name, &e);
            }
        })
        .await;
    engine.remove(&spec.name).await;
    running.remove(&spec.name);
    log.flush().map_err(log_err)?;
    if let Some(e) = write_error {
        return Err(log_err(e));
    }
    let code = result.map_err(|source| BuildError::Engine { step: name, source })?;
    if code != 0 {
        return Err(BuildError::Step {
            step: name,
            code,
            log: log_path.clone(),
            tail: tail.into_iter().map(|l| format!("  | {l}")).collect(),
        });
    }
    Ok(())
}

/// The container of `step`: the plan's command, env and mounts, with the work and target
/// volumes as host directories and the shared ones as named volumes.
fn run_spec(job: &TupleJob, step: &Step) -> RunSpec {
    let mut mounts: Vec<_> = step
        .mounts
        .iter()
        .map(|m| {
            let source = match m.volume {
                Volume::Work => Source::Host(job.work_dir.clone()),
                Volume::Target => Source::Host(job.target_dir.clone()),
                Volume::PortageTmp => Source::Tmpfs(job.tmpfs_bytes),
                shared => Source::Volume(job.volumes.get(&shared).cloned().unwrap_or_default()),
            };
            (source, m.path.clone(), m.read_only)
        })
        .collect();
    let mut env: Vec<String> = step
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(std::iter::once(format!("ZENTOO_BUILD_ID={}", job.build_id)))
        .collect();
    if step.name == StepName::Build {
        mounts.push((
            Source::Host(job.log_dir.join("result")),
            RESULT_DIR.to_string(),
            false,
        ));
        env.push(format!("ZENTOO_RESULT_FILE={RESULT_DIR}/{RESULT_NAME}"));
        mounts.push((
            Source::Host(job.log_dir.join(PACKAGE_LOGS)),
            PACKAGE_LOGS_DIR.to_string(),
            false,
        ));
        env.push(format!("ZENTOO_PACKAGE_LOGS={PACKAGE_LOGS_DIR}"));
    }
    RunSpec {
        name: container_name(&job.plan.image, step.name, &job.run_id),
        image: job.plan.stage3.clone(),
        command: step.command.clone(),
        env,
        mounts,
        privileged: step.privileged,
        // emerge fetches sources in the build step; nothing else needs a network.
        network: if step.name == StepName::Build {
            "host"
        } else {
            "none"
        }
        .into(),
        labels: container_labels(&job.site, &job.plan.image, step.name.as_str()),
    }
}

/// `zentoo-<tuple>-<step>-<run>`, lower-case, engine-safe.
pub fn container_name(tuple: &str, step: StepName, run_id: &str) -> String {
    let tuple: String = tuple
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("zentoo-{tuple}-{}-{run_id}", step.as_str())
}

/// Empties `dir` (removing it and making it anew).
pub fn fresh_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_engine_safe() {
        assert_eq!(
            container_name("znver3-server-nodocs-web", StepName::Build, "1a2b"),
            "zentoo-znver3-server-nodocs-web-build-1a2b"
        );
        assert_eq!(
            container_name("a+b-x-y-z", StepName::Assemble, "9"),
            "zentoo-a_b-x-y-z-assemble-9"
        );
    }
}
