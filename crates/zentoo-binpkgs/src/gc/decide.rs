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
//!   running build may have made it (it is named in the build's record only when it ends). Only PKGDIRs some record or lease names are managed;
//!   others are left alone. Every other file of a managed PKGDIR goes, and its `Packages` entry
//!   with it (as do entries whose file is missing), so the index stays true.
//! - With an image list, the build logs (`.zentoo/logs/<image>/`) of images not in it go, unless a
//!   build of the image is running; each image's build step keeps its own to `historyLimit`.
//! - A distfile is kept when a kept record names it or it is newer than the grace period. While
//!   any build runs, or before any build was recorded, no distfile is removed (a running build
//!   may need any of them).

use super::records::{BuildStatus, Lease, UsageRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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
    /// The images with a build log directory (`.zentoo/logs/<image>/`).
    pub log_images: Vec<String>,
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
    /// Seconds a lease's start may be off between a build's clock and gc's: files made up to
    /// this long before a running build started are kept too.
    pub clock_skew: i64,
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
    /// Images whose build logs go (they are gone).
    pub logs: Vec<String>,
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
    records: &[(String, UsageRecord)],
    leases: &[(String, Lease)],
    listing: &Listing,
    policy: &Policy,
) -> GcPlan {
    let mut plan = GcPlan::default();

    // Records: the newest `keep` per image, plus its newest successful one.
    let mut by_image: BTreeMap<&str, Vec<&(String, UsageRecord)>> = BTreeMap::new();
    for entry in records {
        by_image
            .entry(entry.1.image.as_str())
            .or_default()
            .push(entry);
    }
    let mut kept: Vec<&UsageRecord> = Vec::new();
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

    if let Some(images) = &policy.images {
        let running: BTreeSet<&str> = active.iter().map(|l| l.image.as_str()).collect();
        plan.logs = listing
            .log_images
            .iter()
            .filter(|i| !images.contains(*i) && !running.contains(i.as_str()))
            .cloned()
            .collect();
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
        cutoff = cutoff.min(oldest - policy.clock_skew);
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
#[path = "decide_tests.rs"]
mod tests;
