//! Tests of `store.rs`.

use super::*;
use crate::gc::decide::{Policy, plan_gc};

const RECORD: &str = r#"{"version":1,"image":"web","build":"b2","status":"built","pkgdir":"chost/id","started":1,"finished":2,"binpkgs":[{"cpv":"a/y-1","buildId":1,"path":"a/y/y-1-1.gpkg.tar","role":"used"}],"distfiles":["y-1.tar.gz"]}"#;
const INDEX: &str = "CHOST: chost\nPACKAGES: 2\nTIMESTAMP: 1\nVERSION: 0\n\nCPV: a/x-1\nBUILD_ID: 1\nPATH: a/x/x-1-1.gpkg.tar\n\nCPV: a/y-1\nBUILD_ID: 1\nPATH: a/y/y-1-1.gpkg.tar\n\n";

#[test]
fn gc_removes_the_unreferenced_binpkg_and_its_index_entry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("binpkgs");
    let dist = tmp.path().join("distfiles");
    let pkgdir = root.join("chost/id");
    for d in ["a/x", "a/y"] {
        fs::create_dir_all(pkgdir.join(d)).expect("mkdir");
    }
    fs::create_dir_all(&dist).expect("mkdir");
    fs::write(pkgdir.join("Packages"), INDEX).expect("index");
    fs::write(pkgdir.join("a/x/x-1-1.gpkg.tar"), "xx").expect("x");
    fs::write(pkgdir.join("a/y/y-1-1.gpkg.tar"), "yyy").expect("y");
    fs::write(dist.join("x-1.tar.gz"), "x").expect("dx");
    fs::write(dist.join("y-1.tar.gz"), "y").expect("dy");
    fs::create_dir_all(root.join(".zentoo/builds/web")).expect("mkdir");
    fs::write(root.join(".zentoo/builds/web/b2.json"), RECORD).expect("record");

    let records = read_records(&root).expect("records");
    assert_eq!(records[0].0, "builds/web/b2.json");
    let listing = list(&root, Some(&dist), &BTreeSet::new()).expect("list");
    assert_eq!(listing.pkgdirs[0].files.len(), 2);
    let now = epoch(SystemTime::now()) + 7200;
    let policy = Policy {
        keep: 1,
        now,
        lease_ttl: 3600,
        grace: 3600,
        clock_skew: 300,
        images: None,
    };
    let plan = plan_gc(&records, &[], &listing, &policy);
    let _lock = lock_gc(&root).expect("gc lock");
    let done = apply(&root, Some(&dist), &plan, now).expect("apply");
    assert_eq!(
        (done.binpkgs, done.distfiles, done.index_entries),
        (1, 1, 1)
    );
    assert_eq!(done.bytes, 3);
    assert!(!pkgdir.join("a/x").exists(), "empty package dir pruned");
    assert!(pkgdir.join("a/y/y-1-1.gpkg.tar").exists());
    assert!(!dist.join("x-1.tar.gz").exists() && dist.join("y-1.tar.gz").exists());
    let index = fs::read_to_string(pkgdir.join("Packages")).expect("index");
    assert!(
        index.contains("PACKAGES: 1\n") && !index.contains("x-1-1.gpkg.tar"),
        "{index}"
    );
    assert!(!pkgdir.join(PKGDIR_LOCK_DIR).exists() && !pkgdir.join(PORTAGE_LOCK_FILE).exists());
    // A second gc lock is refused while one is held (after its wait, so take a short one).
    let held = DirLock::take(
        &root.join(".zentoo/gc.lock"),
        Duration::from_millis(300),
        "x",
    );
    assert!(held.is_err());
}

#[test]
fn gc_waits_for_a_build_that_is_taking_its_lease() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let leases = tmp.path().join(".zentoo/leases");
    fs::create_dir_all(&leases).expect("mkdir");
    let pending = leases.join("web@b1.pending");
    fs::write(&pending, "1 host").expect("pending");
    let lease = leases.join("web@b1.json");
    let writer = {
        let (pending, lease) = (pending.clone(), lease.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            fs::write(&lease, "{}").expect("lease");
            fs::remove_file(&pending).expect("announcement gone");
        })
    };
    let _lock = lock_gc(tmp.path()).expect("gc lock");
    assert!(lease.exists(), "gc went on only once the lease was written");
    writer.join().expect("writer");
}

#[test]
fn a_broken_record_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(".zentoo/builds/web");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("b1.json"), "{").expect("write");
    let err = read_records(tmp.path()).expect_err("broken");
    assert!(err.to_string().contains("b1.json"), "{err}");
}

/// Runs `f` on a thread and returns its result, failing the test when it has not finished in
/// 20 s: what is tested is done at once, where the old locks waited for up to an hour.
fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("still waiting after 20 s: a dead holder's lock or announcement was not taken over")
}

/// Sets `path`'s mtime to `secs` seconds ago.
fn age(path: &Path, secs: u64) {
    fs::File::open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(secs)))
        .expect("set mtime");
}

/// A pid that was this host's and is gone.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

const OTHER_HOST: &str =
    "host build-7f9c pid 1 pidns pid:[4026532177] since 2026-01-01T00:00:00Z build web@b9";

#[test]
fn gc_removes_a_killed_builds_announcement_at_once_and_waits_for_a_live_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let leases = tmp.path().join(".zentoo/leases");
    fs::create_dir_all(&leases).expect("mkdir");
    // killed on another node two minutes ago: no heartbeat since
    let dead = leases.join("web@b9.pending");
    fs::write(&dead, format!("{OTHER_HOST}\n")).expect("pending");
    age(&dead, 120);
    // a live one, refreshed, that writes its lease in half a second
    let live = leases.join("web@b10.pending");
    fs::write(&live, format!("{}\n", owner_line("build web@b10"))).expect("pending");
    let lease = leases.join("web@b10.json");
    let writer = {
        let (live, lease) = (live.clone(), lease.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            fs::write(&lease, "{}").expect("lease");
            fs::remove_file(&live).expect("the live announcement was left to its build");
        })
    };
    let root = tmp.path().to_path_buf();
    let lock = within_20s(move || lock_gc(&root).map_err(|e| e.to_string()));
    assert!(lock.is_ok(), "{:?}", lock.err());
    assert!(!dead.exists(), "the killed build's announcement is removed");
    assert!(
        lease.exists(),
        "gc went on only once the live build wrote its lease"
    );
    writer.join().expect("writer");
}

#[test]
fn a_killed_gcs_lock_is_taken_over() {
    // by its lease: another node's gc, not refreshed for a minute
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock_dir = tmp.path().join(".zentoo").join(GC_LOCK);
    fs::create_dir_all(&lock_dir).expect("mkdir");
    fs::write(lock_dir.join("owner"), format!("{OTHER_HOST}\n")).expect("owner");
    age(&lock_dir, 60);
    let root = tmp.path().to_path_buf();
    let lock = within_20s(move || lock_gc(&root).map_err(|e| e.to_string())).expect("taken over");
    let owner = fs::read_to_string(lock_dir.join("owner")).expect("owner");
    assert!(
        owner.starts_with("host ") && owner.contains(&format!(" pid {} ", std::process::id())),
        "{owner}"
    );
    drop(lock);
    let left: Vec<_> = fs::read_dir(tmp.path().join(".zentoo"))
        .expect("meta")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        left.iter().all(|n| n == "leases"),
        "no lock, guard or renamed lock is left: {left:?}"
    );

    // by its pid: this host's gc, killed a moment ago (fresh mtime)
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock_dir = tmp.path().join(".zentoo").join(GC_LOCK);
    fs::create_dir_all(&lock_dir).expect("mkdir");
    let mine = owner_line("zentoo gc");
    let dead = mine.replacen(
        &format!(" pid {} ", std::process::id()),
        &format!(" pid {} ", dead_pid()),
        1,
    );
    fs::write(lock_dir.join("owner"), format!("{dead}\n")).expect("owner");
    let root = tmp.path().to_path_buf();
    let lock = within_20s(move || lock_gc(&root).map_err(|e| e.to_string()));
    assert!(lock.is_ok(), "{:?}", lock.err());
}

#[test]
fn a_live_gc_lock_is_refreshed_and_not_taken_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock = lock_gc(tmp.path()).expect("gc lock");
    let lock_dir = tmp.path().join(".zentoo").join(GC_LOCK);
    // as if its last refresh were long ago: the heartbeat refreshes it again
    age(&lock_dir, 600);
    let deadline = Instant::now() + HEARTBEAT * 4;
    let fresh = || {
        fs::metadata(&lock_dir)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|a| a < LOCK_STALE))
    };
    while !fresh() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(fresh(), "the heartbeat refreshed the gc lock");
    let other = DirLock::leased(&lock_dir, Duration::from_millis(300), "zentoo gc");
    assert!(other.is_err(), "a live gc's lock is not taken over");
    drop(lock);
    assert!(!lock_dir.exists(), "released");
}

#[test]
fn owner_lines_name_the_holder_and_a_dead_pid_on_this_host_is_seen() {
    let mine = owner_line("build web@b1");
    assert!(!holder_dead(&mine), "this process is alive: {mine}");
    let dead = mine.replacen(
        &format!(" pid {} ", std::process::id()),
        &format!(" pid {} ", dead_pid()),
        1,
    );
    assert!(holder_dead(&dead), "{dead}");
    assert!(
        !holder_dead(OTHER_HOST),
        "another host's holder is judged by its lease"
    );
    for garbage in [
        "",
        "1700000000 somehost",
        "host",
        "host x pid y pidns z",
        "host x pid 1 pidns ?",
    ] {
        assert!(!holder_dead(garbage), "{garbage:?}");
    }
}

/// The build steps judge locks by the same bound and refresh them as often.
#[test]
fn the_build_steps_use_the_same_heartbeat_and_bound() {
    let common = zentoo_core::steps::SCRIPTS
        .iter()
        .find(|(name, _)| *name == "common.sh")
        .map(|(_, text)| *text)
        .expect("common.sh");
    assert!(
        common.contains(&format!("\nLOCK_HEARTBEAT={}\n", HEARTBEAT.as_secs())),
        "LOCK_HEARTBEAT in common.sh differs from HEARTBEAT"
    );
    assert!(
        common.contains(&format!(
            "\nLOCK_STALE=${{ZENTOO_LOCK_STALE:-{}}}\n",
            LOCK_STALE.as_secs()
        )),
        "LOCK_STALE in common.sh differs from LOCK_STALE"
    );
}

#[test]
fn the_build_logs_of_an_image_that_is_gone_are_removed_and_the_others_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for dir in ["web/web-1/packages", "old/old-1"] {
        fs::create_dir_all(root.join(".zentoo/logs").join(dir)).expect("mkdir");
    }
    fs::write(root.join(".zentoo/logs/old/old-1/build.log"), "x").expect("log");
    let listing = list(root, None, &BTreeSet::new()).expect("list");
    let mut found = listing.log_images.clone();
    found.sort();
    assert_eq!(found, ["old", "web"]);
    let policy = Policy {
        keep: 1,
        now: epoch(SystemTime::now()),
        lease_ttl: 3600,
        grace: 3600,
        clock_skew: 300,
        images: Some(BTreeSet::from(["web".to_string()])),
    };
    let plan = plan_gc(&[], &[], &listing, &policy);
    let _lock = lock_gc(root).expect("gc lock");
    let done = apply(root, None, &plan, policy.now).expect("apply");
    assert_eq!(done.log_dirs, 1);
    assert!(!root.join(".zentoo/logs/old").exists());
    assert!(root.join(".zentoo/logs/web/web-1/packages").is_dir());
}
