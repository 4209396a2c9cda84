//! The gc decision, pure: build records, leases of running builds and a listing of the volumes
//! in; what to remove out. Nothing here touches a file.
//!
//! Rules:
//! - Per image, its newest `keep` records are kept, and its newest successful one in any case;
//!   with an image list (the site's current images), records of other images are dropped.
//!   Dropped records are deleted.
//! - A lease is active for `lease_ttl` after it was taken; stale leases are deleted.
//! - A binary package file is kept when a kept record or an active lease names it, or when it is
//!   newer than the grace period or than the oldest active lease (minus a clock-skew margin): a
//!   running build may have made it. Only PKGDIRs some record or lease names are managed;
//!   others are left alone. Every other file of a managed PKGDIR goes, and its `Packages` entry
//!   with it (as do entries whose file is missing), so the index stays true.
//! - A distfile is kept when a kept record names it or it is newer than the grace period. While
//!   any build runs, or before any build was recorded, no distfile is removed (a running build
//!   may need any of them).

use super::records::{BuildRecord, BuildStatus, Lease};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Seconds a lease's start may be off between the build's clock and gc's.
pub const CLOCK_SKEW: i64 = 300;

/// A file found in a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Path relative to its PKGDIR (binpkgs) or DISTDIR (distfiles).
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
}

/// One PKGDIR as found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PkgdirListing {
    /// Relative to the volume.
    pub rel: String,
    /// Binary package files (and partial downloads) under it.
    pub files: Vec<FileInfo>,
    /// The `PATH`s its `Packages` index lists.
    pub indexed: Vec<String>,
}

/// The volumes as found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every PKGDIR of the binary package volume.
    pub pkgdirs: Vec<PkgdirListing>,
    /// Files of the distfiles volume (`None`: not given, left alone).
    pub distfiles: Option<Vec<FileInfo>>,
}

/// What to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Records kept per image (newest first).
    pub keep: usize,
    /// Now (seconds since the epoch).
    pub now: i64,
    /// Seconds a lease protects a running build.
    pub lease_ttl: i64,
    /// Files younger than this many seconds are never removed.
    pub grace: i64,
    /// The images that exist (`None`: every image with a record).
    pub images: Option<BTreeSet<String>>,
}

/// Why a file is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// Indexed, but no kept build record or running build names it.
    Unreferenced,
    /// Not in its PKGDIR's `Packages` index (a crashed write or a removed entry).
    NotIndexed,
    /// A distfile no kept build record names.
    NotNeeded,
}

/// A file to remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// Its PKGDIR (binary packages), relative to the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkgdir: Option<String>,
    /// Relative to the PKGDIR or DISTDIR.
    pub path: String,
    /// Bytes it frees.
    pub size: u64,
    /// Why.
    pub reason: Reason,
}

/// What gc removes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcPlan {
    /// Binary package files.
    pub binpkgs: Vec<Removal>,
    /// Per PKGDIR, the `PATH`s whose `Packages` entries go (removed or missing files).
    pub index_drops: BTreeMap<String, BTreeSet<String>>,
    /// Distfiles.
    pub distfiles: Vec<Removal>,
    /// Build records dropped (their ids, as given).
    pub records: Vec<String>,
    /// Stale leases (their ids, as given).
    pub stale_leases: Vec<String>,
    /// Builds running (active leases).
    pub running: Vec<String>,
    /// Records kept.
    pub kept_records: usize,
    /// PKGDIRs no record names: left alone.
    pub unmanaged: Vec<String>,
    /// What was skipped, and why.
    pub notes: Vec<String>,
}

impl GcPlan {
    /// Bytes the removals free.
    pub fn bytes(&self) -> u64 {
        self.binpkgs
            .iter()
            .chain(&self.distfiles)
            .map(|r| r.size)
            .sum()
    }
}

/// Decides what gc removes. `records` and `leases` come with an id each (their file).
pub fn plan_gc(
    records: &[(String, BuildRecord)],
    leases: &[(String, Lease)],
    listing: &Listing,
    policy: &Policy,
) -> GcPlan {
    let mut plan = GcPlan::default();

    // Records: the newest `keep` per image, plus its newest successful one.
    let mut by_image: BTreeMap<&str, Vec<&(String, BuildRecord)>> = BTreeMap::new();
    for entry in records {
        by_image
            .entry(entry.1.image.as_str())
            .or_default()
            .push(entry);
    }
    let mut kept: Vec<&BuildRecord> = Vec::new();
    for (image, mut list) in by_image {
        list.sort_by(|a, b| {
            (b.1.finished, &b.1.build, &b.0).cmp(&(a.1.finished, &a.1.build, &a.0))
        });
        let current = policy.images.as_ref().is_none_or(|i| i.contains(image));
        if !current {
            plan.notes.push(format!(
                "image {image} is gone: its {} build records are dropped",
                list.len()
            ));
        }
        let newest_built = list.iter().position(|e| e.1.status == BuildStatus::Built);
        for (i, entry) in list.into_iter().enumerate() {
            if current && (i < policy.keep || Some(i) == newest_built) {
                kept.push(&entry.1);
            } else {
                plan.records.push(entry.0.clone());
            }
        }
    }
    plan.kept_records = kept.len();

    // Leases.
    let mut active: Vec<&Lease> = Vec::new();
    for (id, lease) in leases {
        if lease.started + policy.lease_ttl > policy.now {
            active.push(lease);
            plan.running
                .push(format!("{} ({})", lease.build, lease.image));
        } else {
            plan.stale_leases.push(id.clone());
        }
    }

    let usable = |pkgdir: &str| !pkgdir.is_empty() && !pkgdir.starts_with('/');
    let mut referenced: BTreeSet<(&str, &str)> = BTreeSet::new();
    for r in &kept {
        for b in &r.binpkgs {
            referenced.insert((r.pkgdir.as_str(), b.path.as_str()));
        }
    }
    for l in &active {
        for b in &l.binpkgs {
            referenced.insert((l.pkgdir.as_str(), b.path.as_str()));
        }
    }
    let managed: BTreeSet<&str> = records
        .iter()
        .map(|(_, r)| r.pkgdir.as_str())
        .chain(leases.iter().map(|(_, l)| l.pkgdir.as_str()))
        .filter(|p| usable(p))
        .collect();
    let mut cutoff = policy.now - policy.grace;
    if let Some(oldest) = active.iter().map(|l| l.started).min() {
        cutoff = cutoff.min(oldest - CLOCK_SKEW);
    }

    for dir in &listing.pkgdirs {
        if !managed.contains(dir.rel.as_str()) {
            plan.unmanaged.push(dir.rel.clone());
            continue;
        }
        let indexed: BTreeSet<&str> = dir.indexed.iter().map(String::as_str).collect();
        let on_disk: BTreeSet<&str> = dir.files.iter().map(|f| f.path.as_str()).collect();
        let mut drops: BTreeSet<String> = indexed
            .iter()
            .filter(|p| !on_disk.contains(**p))
            .map(|p| p.to_string())
            .collect();
        for file in &dir.files {
            if referenced.contains(&(dir.rel.as_str(), file.path.as_str())) || file.mtime >= cutoff
            {
                continue;
            }
            let reason = if indexed.contains(file.path.as_str()) {
                drops.insert(file.path.clone());
                Reason::Unreferenced
            } else {
                Reason::NotIndexed
            };
            plan.binpkgs.push(Removal {
                pkgdir: Some(dir.rel.clone()),
                path: file.path.clone(),
                size: file.size,
                reason,
            });
        }
        if !drops.is_empty() {
            plan.index_drops.insert(dir.rel.clone(), drops);
        }
    }

    if let Some(distfiles) = &listing.distfiles {
        if records.is_empty() {
            plan.notes
                .push("no build records yet: distfiles are left alone".into());
        } else if !active.is_empty() {
            plan.notes.push(format!(
                "{} builds running: distfiles are left alone (a running build may need any)",
                active.len()
            ));
        } else {
            let needed: BTreeSet<&str> = kept
                .iter()
                .flat_map(|r| r.distfiles.iter().map(String::as_str))
                .collect();
            for file in distfiles {
                if needed.contains(file.path.as_str()) || file.mtime >= policy.now - policy.grace {
                    continue;
                }
                plan.distfiles.push(Removal {
                    pkgdir: None,
                    path: file.path.clone(),
                    size: file.size,
                    reason: Reason::NotNeeded,
                });
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::records::BinpkgRef;

    const DIR: &str = "x86_64-pc-linux-gnu/aaaa";
    const NOW: i64 = 1_000_000;
    const HOUR: i64 = 3600;

    fn bp(path: &str) -> BinpkgRef {
        BinpkgRef {
            cpv: path.rsplit('/').next().unwrap_or(path).into(),
            build_id: Some(1),
            path: path.into(),
            role: "used".into(),
        }
    }

    fn record(image: &str, build: &str, finished: i64, paths: &[&str]) -> (String, BuildRecord) {
        (
            format!("{image}/{build}.json"),
            BuildRecord {
                version: 1,
                image: image.into(),
                build: build.into(),
                status: BuildStatus::Built,
                pkgdir: DIR.into(),
                started: finished - 60,
                finished,
                binpkgs: paths.iter().map(|p| bp(p)).collect(),
                distfiles: vec![],
            },
        )
    }

    fn lease(build: &str, started: i64, paths: &[&str]) -> (String, Lease) {
        (
            format!("{build}.json"),
            Lease {
                version: 1,
                image: "web".into(),
                build: build.into(),
                pkgdir: DIR.into(),
                started,
                binpkgs: paths.iter().map(|p| bp(p)).collect(),
            },
        )
    }

    fn file(path: &str, mtime: i64) -> FileInfo {
        FileInfo {
            path: path.into(),
            size: 100,
            mtime,
        }
    }

    /// A PKGDIR whose files are all indexed and a day old.
    fn listing(paths: &[&str]) -> Listing {
        Listing {
            pkgdirs: vec![PkgdirListing {
                rel: DIR.into(),
                files: paths.iter().map(|p| file(p, NOW - 24 * HOUR)).collect(),
                indexed: paths.iter().map(|p| p.to_string()).collect(),
            }],
            distfiles: None,
        }
    }

    fn policy(keep: usize) -> Policy {
        Policy {
            keep,
            now: NOW,
            lease_ttl: 48 * HOUR,
            grace: HOUR,
            images: None,
        }
    }

    fn removed(plan: &GcPlan) -> Vec<&str> {
        plan.binpkgs.iter().map(|r| r.path.as_str()).collect()
    }

    #[test]
    fn binpkgs_only_older_builds_used_are_removed_and_dropped_from_the_index() {
        let records = [
            record(
                "web",
                "b1",
                NOW - 20 * HOUR,
                &["a/x-1.gpkg.tar", "a/y-1.gpkg.tar"],
            ),
            record(
                "web",
                "b2",
                NOW - 10 * HOUR,
                &["a/x-2.gpkg.tar", "a/y-1.gpkg.tar"],
            ),
        ];
        let all = ["a/x-1.gpkg.tar", "a/x-2.gpkg.tar", "a/y-1.gpkg.tar"];
        let plan = plan_gc(&records, &[], &listing(&all), &policy(1));
        assert_eq!(removed(&plan), ["a/x-1.gpkg.tar"]);
        assert_eq!(plan.records, ["web/b1.json"]);
        assert_eq!(plan.kept_records, 1);
        assert_eq!(plan.bytes(), 100);
        assert_eq!(
            plan.index_drops[DIR],
            BTreeSet::from(["a/x-1.gpkg.tar".to_string()])
        );
        let plan = plan_gc(&records, &[], &listing(&all), &policy(2));
        assert!(plan.binpkgs.is_empty(), "both builds kept: {plan:?}");
    }

    #[test]
    fn a_binpkg_any_image_still_uses_is_kept() {
        let records = [
            record("web", "b1", NOW - 20 * HOUR, &["a/x-1.gpkg.tar"]),
            record("web", "b2", NOW - 10 * HOUR, &["a/x-2.gpkg.tar"]),
            record("base", "c1", NOW - 30 * HOUR, &["a/x-1.gpkg.tar"]),
        ];
        let plan = plan_gc(
            &records,
            &[],
            &listing(&["a/x-1.gpkg.tar", "a/x-2.gpkg.tar"]),
            &policy(1),
        );
        assert!(plan.binpkgs.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_running_build_keeps_what_it_resolved_and_anything_made_since_it_started() {
        let records = [
            record(
                "web",
                "b1",
                NOW - 20 * HOUR,
                &["a/x-1.gpkg.tar", "a/y-1.gpkg.tar"],
            ),
            record("web", "b2", NOW - 10 * HOUR, &["a/x-2.gpkg.tar"]),
        ];
        let started = NOW - 2 * HOUR;
        let leases = [lease("b3", started, &["a/y-1.gpkg.tar"])];
        let mut listing = listing(&["a/x-1.gpkg.tar", "a/x-2.gpkg.tar", "a/y-1.gpkg.tar"]);
        // made by some build after b3 started (older than the grace period)
        listing.pkgdirs[0]
            .files
            .push(file("a/z-1.gpkg.tar", started + 60));
        listing.pkgdirs[0].indexed.push("a/z-1.gpkg.tar".into());
        let plan = plan_gc(&records, &leases, &listing, &policy(1));
        assert_eq!(removed(&plan), ["a/x-1.gpkg.tar"]);
        assert_eq!(plan.running, ["b3 (web)"]);
        // A lease past its ttl protects nothing and goes.
        let mut p = policy(1);
        p.now = started + p.lease_ttl + 1;
        let plan = plan_gc(&records, &leases, &listing, &p);
        assert_eq!(plan.stale_leases, ["b3.json"]);
        assert!(removed(&plan).contains(&"a/y-1.gpkg.tar"), "{plan:?}");
    }

    #[test]
    fn young_files_unindexed_files_and_missing_files_are_handled() {
        let records = [record("web", "b1", NOW - 20 * HOUR, &["a/x-1.gpkg.tar"])];
        let mut listing = listing(&["a/x-1.gpkg.tar"]);
        let dir = &mut listing.pkgdirs[0];
        dir.files.push(file("a/new-1.gpkg.tar", NOW - 60));
        dir.files.push(file("a/.x-3.99.partial", NOW - 5 * HOUR));
        dir.indexed.push("a/gone-1.gpkg.tar".into());
        let plan = plan_gc(&records, &[], &listing, &policy(1));
        assert_eq!(removed(&plan), ["a/.x-3.99.partial"]);
        assert_eq!(plan.binpkgs[0].reason, Reason::NotIndexed);
        assert_eq!(
            plan.index_drops[DIR],
            BTreeSet::from(["a/gone-1.gpkg.tar".to_string()]),
            "an entry whose file is missing is dropped"
        );
    }

    #[test]
    fn a_pkgdir_no_build_recorded_is_left_alone() {
        let records = [record("web", "b1", NOW - 20 * HOUR, &[])];
        let mut listing = listing(&["a/x-1.gpkg.tar"]);
        listing.pkgdirs[0].rel = "other/bbbb".into();
        let plan = plan_gc(&records, &[], &listing, &policy(1));
        assert!(plan.binpkgs.is_empty());
        assert_eq!(plan.unmanaged, ["other/bbbb"]);
    }

    #[test]
    fn the_newest_successful_build_is_kept_even_behind_failed_ones() {
        let mut failed = record("web", "b3", NOW - 5 * HOUR, &["a/x-3.gpkg.tar"]);
        failed.1.status = BuildStatus::Failed;
        let records = [
            record("web", "b2", NOW - 10 * HOUR, &["a/x-2.gpkg.tar"]),
            failed,
        ];
        let plan = plan_gc(
            &records,
            &[],
            &listing(&["a/x-2.gpkg.tar", "a/x-3.gpkg.tar"]),
            &policy(1),
        );
        assert!(plan.binpkgs.is_empty(), "{plan:?}");
        assert_eq!(plan.kept_records, 2);
    }

    #[test]
    fn records_of_images_that_are_gone_are_dropped() {
        let records = [
            record("web", "b1", NOW - 10 * HOUR, &["a/x-1.gpkg.tar"]),
            record("old", "o1", NOW - 10 * HOUR, &["a/o-1.gpkg.tar"]),
        ];
        let mut p = policy(3);
        p.images = Some(BTreeSet::from(["web".to_string()]));
        let plan = plan_gc(
            &records,
            &[],
            &listing(&["a/x-1.gpkg.tar", "a/o-1.gpkg.tar"]),
            &p,
        );
        assert_eq!(removed(&plan), ["a/o-1.gpkg.tar"]);
        assert_eq!(plan.records, ["old/o1.json"]);
    }

    #[test]
    fn distfiles_go_when_no_kept_build_fetched_them_and_no_build_runs() {
        let mut r1 = record("web", "b1", NOW - 20 * HOUR, &[]);
        r1.1.distfiles = vec!["old.tar.gz".into()];
        let mut r2 = record("web", "b2", NOW - 10 * HOUR, &[]);
        r2.1.distfiles = vec!["new.tar.gz".into()];
        let records = [r1, r2];
        let mut listing = listing(&[]);
        listing.distfiles = Some(vec![
            file("old.tar.gz", NOW - 20 * HOUR),
            file("new.tar.gz", NOW - 10 * HOUR),
            file("fresh.tar.gz", NOW - 60),
        ]);
        let plan = plan_gc(&records, &[], &listing, &policy(1));
        let gone: Vec<&str> = plan.distfiles.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(gone, ["old.tar.gz"]);
        let running = [lease("b3", NOW - 60, &[])];
        let plan = plan_gc(&records, &running, &listing, &policy(1));
        assert!(plan.distfiles.is_empty());
        assert!(
            plan.notes[0].contains("distfiles are left alone"),
            "{plan:?}"
        );
        let plan = plan_gc(&[], &[], &listing, &policy(1));
        assert!(plan.distfiles.is_empty());
    }
}
