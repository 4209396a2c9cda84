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
