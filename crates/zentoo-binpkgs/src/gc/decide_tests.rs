//! Tests of `decide.rs`.

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

fn record(image: &str, build: &str, finished: i64, paths: &[&str]) -> (String, UsageRecord) {
    (
        format!("{image}/{build}.json"),
        UsageRecord {
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
        log_images: Vec::new(),
    }
}

fn policy(keep: usize) -> Policy {
    Policy {
        keep,
        now: NOW,
        lease_ttl: 48 * HOUR,
        grace: HOUR,
        clock_skew: 300,
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
fn build_logs_of_images_that_are_gone_go_unless_one_is_building() {
    let mut listing = listing(&[]);
    listing.log_images = vec!["web".into(), "old".into(), "new".into()];
    let mut p = policy(3);
    p.images = Some(BTreeSet::from(["web".to_string()]));
    let mut building = lease("n1", NOW - HOUR, &[]);
    building.1.image = "new".into();
    let leases = [building];
    let plan = plan_gc(&[], &leases, &listing, &p);
    assert_eq!(plan.logs, ["old"]);
    // Without an image list, no image counts as gone.
    let plan = plan_gc(&[], &[], &listing, &policy(3));
    assert!(plan.logs.is_empty(), "{plan:?}");
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
