//! Security rebuilds of a local site (`zentoo build --follow-snapshot SNAPSHOT`).
//!
//! A site pins its tuples to a repo snapshot and follows a newer one (a daily sync's date, a
//! commit of the repository's git mirror). The followed snapshot is synced into the repo volume
//! and its GLSAs are matched against the SBOM of each tuple's last build: a tuple one of them
//! affects is rebuilt at the followed snapshot, and stays on it while its pin does not change
//! ([`SecurityUpdate`], kept in `state.json`); every other tuple keeps its pin and is left as it
//! is. A tuple built for the first time is built at its pin, then checked the same way.

use super::Running;
use super::engine::Engine;
use super::freshroot::freshroot_spec;
use super::state::LocalBuild;
use super::tuple::fresh_dir;
use anyhow::{Context as _, bail};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use zentoo_core::plan::ImagePlan;
use zentoo_core::plan::build::BuildPlan;
use zentoo_core::plan::follow;
pub use zentoo_core::plan::follow::is_newer;
pub use zentoo_core::plan::result::SecurityUpdate;
use zentoo_core::site::materialize::Limits;
use zentoo_publish::audit::{Packages, audit_image};
use zentoo_publish::sbom::Format;

/// Why `snapshot` cannot be followed with `--follow-snapshot`, if it cannot.
pub fn follow_problem(snapshot: &str) -> Option<String> {
    follow::follow_problem(snapshot).map(|why| format!("--follow-snapshot: {why}"))
}

/// The security update of `last` that still holds for an image pinned to `pin`.
pub fn carried<'a>(pin: &str, last: Option<&'a LocalBuild>) -> Option<&'a SecurityUpdate> {
    follow::holding(last?.security.as_ref(), pin)
}

/// The SBOM written beside `build`'s stage tarball, if there is one.
pub fn sbom_beside(build: &LocalBuild) -> Option<PathBuf> {
    let tarball = build.result.tarball.as_deref()?;
    [Format::Spdx, Format::CycloneDx]
        .into_iter()
        .map(|f| PathBuf::from(format!("{tarball}.{}", f.suffix())))
        .find(|p| p.is_file())
}

/// The followed snapshot of one `zentoo build`: synced into the repo volume the first time its
/// advisories are asked for.
pub struct Follow<'a> {
    /// The followed snapshot.
    pub snapshot: String,
    engine: &'a Engine,
    running: &'a Running,
    site: PathBuf,
    out: PathBuf,
    repo_volume: String,
    glsa_dir: Option<PathBuf>,
}

impl<'a> Follow<'a> {
    /// Follows `snapshot` (checked by [`follow_problem`]) with the repo volume `repo_volume`
    /// of `engine`; logs go to `<out>/logs`.
    pub fn new(
        snapshot: &str,
        engine: &'a Engine,
        running: &'a Running,
        site: &Path,
        out: &Path,
        repo_volume: &str,
    ) -> Self {
        Follow {
            snapshot: snapshot.to_string(),
            engine,
            running,
            site: site.to_path_buf(),
            out: out.to_path_buf(),
            repo_volume: repo_volume.to_string(),
            glsa_dir: None,
        }
    }

    /// The security update that moves `image` (pinned to `pinned`) to the followed snapshot,
    /// when an advisory of it affects `build` of the image (read from its SBOM); `Ok(None)` when
    /// none does. `sync_plan` gives the image's build plan at the followed snapshot: its stage3
    /// and settings sync the snapshot, only when the volume lacks it.
    pub async fn update(
        &mut self,
        image: &ImagePlan,
        pinned: &str,
        build: &LocalBuild,
        sync_plan: impl FnOnce() -> BuildPlan,
    ) -> anyhow::Result<Option<SecurityUpdate>> {
        let Some(sbom) = sbom_beside(build) else {
            bail!(
                "{}: its last build has no SBOM beside {} (built with --sbom none?), so the \
                 advisories of snapshot {} cannot be matched against it; rebuild it with an \
                 SBOM (--force)",
                image.name,
                build
                    .result
                    .tarball
                    .as_deref()
                    .unwrap_or("its stage tarball"),
                self.snapshot
            );
        };
        let document =
            std::fs::read(&sbom).with_context(|| format!("reading {}", sbom.display()))?;
        let glsa_dir = self.glsa_dir(sync_plan).await?;
        let oci_arch =
            zentoo_core::site::cpus::arch(&image.arch).map_or(image.arch.as_str(), |a| a.oci);
        let found = audit_image(&glsa_dir, oci_arch, Packages::Sbom(&document))
            .with_context(|| format!("{}: auditing {}", image.name, sbom.display()))?;
        Ok((!found.affected.is_empty()).then(|| SecurityUpdate {
            pinned: pinned.to_string(),
            snapshot: self.snapshot.clone(),
            fixes: found,
        }))
    }

    /// `metadata/glsa` of the followed snapshot in the repo volume, on this host.
    async fn glsa_dir(&mut self, plan: impl FnOnce() -> BuildPlan) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.glsa_dir {
            return Ok(dir.clone());
        }
        let mountpoint = self
            .engine
            .volume_mountpoint(&self.repo_volume)
            .await?
            .filter(|m| m.is_dir())
            .with_context(|| {
                format!(
                    "--follow-snapshot reads snapshot {}'s advisories in the repo volume {}, \
                     which is not on this host (a remote engine?)",
                    self.snapshot, self.repo_volume
                )
            })?;
        let repo = mountpoint.join(&self.snapshot);
        if !repo.join("profiles/repo_name").is_file() {
            self.sync(&plan()).await?;
        }
        let dir = repo.join("metadata/glsa");
        self.glsa_dir = Some(dir.clone());
        Ok(dir)
    }

    /// Syncs the followed snapshot into the repo volume as `plan`'s build step would: a fresh
    /// container of its stage3 with its settings, which syncs and exits.
    async fn sync(&self, plan: &BuildPlan) -> anyhow::Result<()> {
        let work = self
            .out
            .join("work")
            .join(format!(".sync-{}", self.snapshot));
        fresh_dir(&work).with_context(|| work.display().to_string())?;
        let work_dir = work.join("zentoo");
        let repo = git2::Repository::open(&self.site)?;
        zentoo_core::steps::write_work_dir(
            &repo,
            &plan.materialize,
            &work_dir,
            &Limits::default(),
        )?;
        let mut spec = freshroot_spec(plan, &self.site, &work_dir, &["true".to_string()]);
        spec.name = format!("{}-sync", spec.name);
        let logs = self.out.join("logs");
        std::fs::create_dir_all(&logs)?;
        let log_path = logs.join(format!("sync-{}.log", self.snapshot));
        let mut log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        self.engine.ensure_image(&plan.stage3).await?;
        self.running.add(&spec.name);
        let mut last = String::new();
        let code = self
            .engine
            .run(&spec, |line| {
                let _ = writeln!(log, "{line}");
                last = line.to_string();
            })
            .await;
        self.engine.remove(&spec.name).await;
        self.running.remove(&spec.name);
        let _ = std::fs::remove_dir_all(&work);
        match code? {
            0 => Ok(()),
            code => bail!(
                "syncing repo snapshot {} failed (exit {code}): {last} (log: {})",
                self.snapshot,
                log_path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_with(update: Option<SecurityUpdate>) -> LocalBuild {
        LocalBuild {
            security: update,
            ..LocalBuild::default()
        }
    }

    #[test]
    fn the_problem_names_the_option() {
        assert_eq!(follow_problem("20261101"), None);
        let latest = follow_problem("latest").expect("latest never moves");
        assert!(latest.starts_with("--follow-snapshot: "), "{latest}");
    }

    #[test]
    fn an_update_holds_while_its_pin_does() {
        let last = last_with(Some(SecurityUpdate {
            pinned: "20261001".into(),
            snapshot: "20261101".into(),
            ..SecurityUpdate::default()
        }));
        assert_eq!(
            carried("20261001", Some(&last)).map(|u| u.snapshot.as_str()),
            Some("20261101")
        );
        assert_eq!(carried("20261201", Some(&last)), None, "a new pin wins");
        assert_eq!(carried("20261001", Some(&last_with(None))), None);
        assert_eq!(carried("20261001", None), None);
    }

    #[test]
    fn the_sbom_is_found_beside_the_tarball_in_either_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tarball = dir.path().join("stage.tar.xz");
        let mut build = LocalBuild::default();
        assert_eq!(sbom_beside(&build), None, "no tarball");
        build.result.tarball = Some(tarball.display().to_string());
        assert_eq!(sbom_beside(&build), None, "no SBOM written");
        let cdx = dir.path().join("stage.tar.xz.cdx.json");
        std::fs::write(&cdx, "{}").expect("write");
        assert_eq!(sbom_beside(&build), Some(cdx));
    }
}
