//! `zentoo build` as a library: plan the site, skip what is up to date, materialize, run the
//! steps of each tuple on the engine (a few at a time), publish, and remember what was built.

use super::engine::Engine;
use super::local::LocalBackend;
use super::publish_step::local_reference;
use super::security::{self, Follow, SecurityUpdate};
use super::state::{LocalBuild, State};
use super::tuple::Reporter;
use super::{Running, engine_volume};
use anyhow::Context as _;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zentoo_core::plan::backend::Backend;
use zentoo_core::plan::build::{
    BuildPlan, BuildSettings, ImageTarget, SHARED_VOLUMES, Volume, build_plan, push_reference,
};
use zentoo_core::plan::{ImagePlan, PlanOptions, SpecDefaults, SpecOverrides, plan_site};
use zentoo_core::site::cpus::ARCHES;
use zentoo_core::site::{ReadOptions, SiteError, SiteRepo};
use zentoo_publish::registry::RegistryConfig;

/// What to build and how.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The site repository.
    pub site: PathBuf,
    /// Tracked ref and branch prefixes.
    pub read: ReadOptions,
    /// Tuples to build; empty with `all` means every good tuple.
    pub tuples: Vec<String>,
    /// Build every tuple.
    pub all: bool,
    /// Engine address (else `DOCKER_HOST`, else the usual sockets).
    pub engine: Option<String>,
    /// Logs, tarballs, work dirs and the state file.
    pub out: PathBuf,
    /// Registry prefix to push images under (`host/path`); else images are loaded.
    pub push: Option<String>,
    /// Tuples built at once.
    pub jobs: usize,
    /// Rebuild even when up to date.
    pub force: bool,
    /// Spec fields for every tuple (stage3 and profile for every arch, repo snapshot,
    /// variant, kernel, repairs): part of the inputs digest.
    pub spec: SpecOverrides,
    /// Size (`8Gi`) of a tmpfs for `PORTAGE_TMPDIR`; not part of the inputs digest.
    pub tmpfs: Option<String>,
    /// emerge jobs inside each build.
    pub emerge_jobs: u32,
    /// How to reach the registry images are pushed to.
    pub registry: RegistryConfig,
    /// A newer repo snapshot to follow for security fixes (see [`security`]).
    pub follow_snapshot: Option<String>,
}

/// How one tuple ended.
#[derive(Clone, Debug)]
pub enum TupleResult {
    /// Its inputs digest equals its last successful build's.
    UpToDate(LocalBuild),
    /// Built now.
    Built(LocalBuild),
    /// Its build failed.
    Failed(String),
}

/// The outcome of a `zentoo build`.
#[derive(Debug, Default)]
pub struct Report {
    /// The site revision built.
    pub revision: String,
    /// Per selected tuple, in plan order.
    pub results: Vec<(String, TupleResult)>,
    /// Problems of the site that stop tuples (they are not built).
    pub errors: Vec<SiteError>,
}

impl Report {
    /// True when every selected tuple is built or up to date and the site had no errors.
    pub fn all_good(&self) -> bool {
        self.errors.is_empty()
            && self
                .results
                .iter()
                .all(|(_, r)| !matches!(r, TupleResult::Failed(_)))
    }
}

/// Plans the site and picks the images to build. Errors here stop everything (no such site,
/// unknown tuple names); tuple problems are returned in the report instead.
pub fn select(options: &BuildOptions) -> anyhow::Result<(SiteRepo, Vec<ImagePlan>, Report)> {
    let repo = SiteRepo::open(&options.site)?;
    let snapshot = repo.snapshot(&options.read)?;
    let plan = plan_site(
        &snapshot,
        &PlanOptions {
            defaults: defaults(&options.spec),
            ..PlanOptions::default()
        },
    );
    let mut report = Report {
        revision: plan.revision.clone(),
        ..Report::default()
    };
    let images = if options.all {
        report.errors = plan.errors.clone();
        plan.images
    } else if options.tuples.is_empty() {
        anyhow::bail!("name the tuples to build, or pass --all");
    } else {
        let mut picked = Vec::new();
        for name in &options.tuples {
            if let Some(image) = plan.images.iter().find(|i| &i.name == name) {
                picked.push(image.clone());
            } else if let Some(errors) = Some(
                plan.errors
                    .iter()
                    .filter(|e| e.tuple.as_deref() == Some(name.as_str()))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .filter(|e| !e.is_empty())
            {
                report.errors.extend(errors);
            } else {
                let known: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
                anyhow::bail!(
                    "no tuple {name} in {} (tuples: {})",
                    options.site.display(),
                    known.join(", ")
                );
            }
        }
        picked
    };
    Ok((repo, images, report))
}

/// Holds `OUT/.lock` while a build runs: two builds into one output directory would share its
/// work directories, target roots and `state.json`. A second one stops at once, naming the
/// first's process id.
fn lock_out(out: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::Write;
    let path = out.join(".lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "{}: another zentoo build (pid {}) is using this output directory; wait for it \
                 or give another --out",
                out.display(),
                holder.trim()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// The defaults of every tuple: `spec`'s fields, stage3 and profile for every arch.
fn defaults(spec: &SpecOverrides) -> SpecDefaults {
    let every_arch = |value: &Option<String>| {
        value
            .iter()
            .flat_map(|v| ARCHES.iter().map(|a| (a.gentoo.to_string(), v.clone())))
            .collect()
    };
    let mut defaults = SpecDefaults {
        stage3: every_arch(&spec.stage3),
        profile: every_arch(&spec.profile),
        kernel: spec.kernel.clone(),
        ..SpecDefaults::default()
    };
    if let Some(snapshot) = &spec.repo_snapshot {
        defaults.repo_snapshot = snapshot.clone();
    }
    if let Some(variant) = spec.variant {
        defaults.variant = variant;
    }
    if let Some(repairs) = &spec.repairs {
        defaults.repairs = repairs.clone();
    }
    defaults
}

/// Builds `images` (from [`select`]); what is up to date is skipped unless `force`. With
/// `follow_snapshot`, a tuple the followed snapshot's advisories affect is built at it
/// ([`security`](super::security)).
pub async fn run(
    options: &BuildOptions,
    repo: &SiteRepo,
    images: Vec<ImagePlan>,
    mut report: Report,
    running: &Running,
    reporter: &dyn Reporter,
) -> anyhow::Result<Report> {
    if let Some(problem) = options
        .follow_snapshot
        .as_deref()
        .and_then(security::follow_problem)
    {
        anyhow::bail!(problem);
    }
    std::fs::create_dir_all(&options.out)?;
    let out = options.out.canonicalize()?;
    let _one_build = lock_out(&out)?;
    let mut state = State::load(&out)?;
    // Security updates made earlier hold while their pins do.
    let mut updates = BTreeMap::new();
    let images: Vec<(ImagePlan, String)> = images
        .into_iter()
        .map(|image| {
            let pin = image.inputs.spec.repo_snapshot.clone();
            match security::carried(&pin, state.tuples.get(&image.name)) {
                Some(update) => {
                    updates.insert(image.name.clone(), update.clone());
                    (image.at_snapshot(&update.snapshot), pin)
                }
                None => (image, pin),
            }
        })
        .collect();
    let follow = options.follow_snapshot.as_deref();
    let to_follow = |image: &ImagePlan| {
        follow.is_some_and(|f| security::is_newer(f, &image.inputs.spec.repo_snapshot))
    };
    // Nothing to build, nothing to audit: no engine needed.
    if images
        .iter()
        .all(|(image, _)| up_to_date(&state, image, options.force).is_some() && !to_follow(image))
    {
        for (image, _) in &images {
            if let Some(last) = up_to_date(&state, image, options.force) {
                report
                    .results
                    .push((image.name.clone(), TupleResult::UpToDate(last.clone())));
            }
        }
        return Ok(report);
    }

    let tmpfs_bytes = match &options.tmpfs {
        Some(size) => {
            zentoo_core::plan::quantity::bytes(size).map_err(|e| anyhow::anyhow!("--tmpfs: {e}"))?
        }
        None => 0,
    };
    let engine = Engine::connect(options.engine.as_deref()).await?;
    let source_date_epoch = commit_time(repo, &report.revision)?;
    let volumes: BTreeMap<Volume, String> = SHARED_VOLUMES
        .into_iter()
        .map(|v| (v, engine_volume(&options.site, v)))
        .collect();
    let labels = vec![(super::LABEL.to_string(), "zentoo".to_string())];
    for name in volumes.values() {
        engine.ensure_volume(name, &labels).await?;
    }
    let plan_of = |image: &ImagePlan| {
        let settings = local_settings(options, &out, &image.name, source_date_epoch);
        build_plan(image, &report.revision, &settings)
    };
    let mut follow = match (follow, volumes.get(&Volume::Repo)) {
        (Some(snapshot), Some(repo_volume)) => Some(Follow::new(
            snapshot,
            &engine,
            running,
            &options.site,
            &out,
            repo_volume,
        )),
        _ => None,
    };

    // A last build the followed snapshot's advisories affect moves to it.
    let mut todo: Vec<(ImagePlan, String)> = Vec::new();
    for (mut image, pin) in images {
        if let (Some(follow), Some(last)) = (&mut follow, state.tuples.get(&image.name))
            && to_follow(&image)
        {
            let moved = image.at_snapshot(&follow.snapshot);
            match follow.update(&image, &pin, last, || plan_of(&moved)).await {
                Ok(Some(update)) => {
                    updates.insert(image.name.clone(), update);
                    image = moved;
                }
                Ok(None) => {}
                Err(e) => {
                    report
                        .results
                        .push((image.name.clone(), TupleResult::Failed(format!("{e:#}"))));
                    continue;
                }
            }
        }
        match up_to_date(&state, &image, options.force) {
            Some(last) => report
                .results
                .push((image.name.clone(), TupleResult::UpToDate(last.clone()))),
            None => todo.push((image, pin)),
        }
    }

    let backend = LocalBackend {
        engine: &engine,
        site: options.site.clone(),
        out: out.clone(),
        volumes,
        registry: options.registry.clone(),
        running,
        reporter,
        run_id: format!("{}", std::process::id()),
        tmpfs_bytes,
    };
    let mut plans = Vec::new();
    for (image, _) in &todo {
        let oci_arch =
            zentoo_core::site::cpus::arch(&image.arch).map_or(image.arch.as_str(), |a| a.oci);
        if oci_arch != engine.arch {
            let why = format!(
                "{} is an {oci_arch} system and the engine at {} runs {}: build it on an {oci_arch} engine or in the cluster",
                image.name, engine.address, engine.arch
            );
            report
                .results
                .push((image.name.clone(), TupleResult::Failed(why)));
            continue;
        }
        plans.push(plan_of(image));
    }
    let mut results = build_all(&backend, plans, &mut state, &updates, &out, options.jobs).await;

    // A tuple built at its pin just now is checked against the followed snapshot too.
    if let Some(follow) = &mut follow {
        let mut again = Vec::new();
        for (name, result) in &mut results {
            let (TupleResult::Built(record), Some((image, pin))) =
                (&*result, todo.iter().find(|(i, _)| &i.name == name))
            else {
                continue;
            };
            if !to_follow(image) {
                continue;
            }
            let moved = image.at_snapshot(&follow.snapshot);
            match follow.update(image, pin, record, || plan_of(&moved)).await {
                Ok(Some(update)) => {
                    updates.insert(name.clone(), update);
                    again.push(plan_of(&moved));
                }
                Ok(None) => {}
                Err(e) => *result = TupleResult::Failed(format!("{e:#}")),
            }
        }
        let rebuilt = build_all(&backend, again, &mut state, &updates, &out, options.jobs).await;
        for (name, result) in rebuilt {
            if let Some(slot) = results.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = result;
            }
        }
    }
    report.results.extend(results);
    Ok(report)
}

/// Runs `plans` (`jobs` at once) and records each success in `state`, with its security
/// update from `updates`.
async fn build_all(
    backend: &LocalBackend<'_>,
    plans: Vec<BuildPlan>,
    state: &mut State,
    updates: &BTreeMap<String, SecurityUpdate>,
    out: &Path,
    jobs: usize,
) -> Vec<(String, TupleResult)> {
    let state_lock = Mutex::new(state);
    futures::stream::iter(plans)
        .map(|plan| {
            let state_lock = &state_lock;
            async move {
                let result = match backend.run(&plan).await {
                    Ok(result) => TupleResult::Built(LocalBuild {
                        inputs_digest: plan.inputs_digest.clone(),
                        revision: plan.materialize.revision.clone(),
                        result,
                        finished_at: jiff::Timestamp::now().to_string(),
                        security: updates.get(&plan.image).cloned(),
                    }),
                    Err(e) => TupleResult::Failed(e.to_string()),
                };
                if let TupleResult::Built(record) = &result
                    && let Ok(mut state) = state_lock.lock()
                {
                    state.tuples.insert(plan.image.clone(), record.clone());
                    if let Err(e) = state.save(out) {
                        tracing::warn!("{e}");
                    }
                }
                (plan.image, result)
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await
}

/// `image`'s last successful build when it realized the same inputs (and `force` is off).
fn up_to_date<'a>(state: &'a State, image: &ImagePlan, force: bool) -> Option<&'a LocalBuild> {
    state
        .tuples
        .get(&image.name)
        .filter(|last| !force && last.inputs_digest == image.inputs_digest)
}

/// The settings of a local build of `image`: loaded into the engine, or pushed under
/// `--push`; its stage tarball into `<out>/stages`.
fn local_settings(options: &BuildOptions, out: &Path, image: &str, epoch: i64) -> BuildSettings {
    let target = match &options.push {
        Some(prefix) => ImageTarget::Push(push_reference(prefix, image)),
        None => ImageTarget::Load(local_reference(image)),
    };
    BuildSettings {
        image: Some(target),
        tarball_dir: Some(out.join("stages").display().to_string()),
        tmpfs: options.tmpfs.clone(),
        ..BuildSettings::new(
            &options.site.display().to_string(),
            epoch,
            options.emerge_jobs,
        )
    }
}

/// Commit time of `revision`: the reproducible build time of everything built from it.
fn commit_time(repo: &SiteRepo, revision: &str) -> anyhow::Result<i64> {
    let oid = git2::Oid::from_str(revision)?;
    Ok(repo.git().find_commit(oid)?.time().seconds())
}

#[cfg(test)]
mod tests {
    use super::lock_out;

    #[test]
    fn a_second_build_into_one_output_directory_stops_naming_the_first() {
        let out = tempfile::tempdir().expect("out");
        let first = lock_out(out.path()).expect("the first build locks");
        let second = lock_out(out.path()).expect_err("the second is refused");
        let why = second.to_string();
        assert!(
            why.contains(&format!("pid {}", std::process::id())) && why.contains("--out"),
            "{why}"
        );
        drop(first);
        lock_out(out.path()).expect("free again once the first ends");
    }
}
