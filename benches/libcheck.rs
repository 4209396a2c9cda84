//! The library check on a real root: this machine's `/usr/bin`, `/usr/sbin`, `/usr/lib{,64}` and
//! `/etc/ld.so.conf*` hard-linked into a temporary root (a Debian system: every library
//! resolves). Prints the ELF files checked; the figure goes into docs/benchmarks.md.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::process::Command;
use zentoo::publish::libcheck::check_libraries;

fn host_root(dir: &Path) {
    for sub in ["usr", "etc"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    for (from, to) in [
        ("/usr/bin", "usr/"),
        ("/usr/sbin", "usr/"),
        ("/usr/lib", "usr/"),
        ("/usr/lib64", "usr/"),
        ("/etc/ld.so.conf", "etc/"),
        ("/etc/ld.so.conf.d", "etc/"),
    ] {
        // Hard links: the same files, no copy; fall back to a copy across filesystems.
        let ok = Command::new("cp")
            .args(["-al", from])
            .arg(dir.join(to))
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("cp")
                .args(["-a", from])
                .arg(dir.join(to))
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok, "copy {from}");
    }
    for (link, target) in [
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("bin", "usr/bin"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dir.join(link));
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    host_root(dir.path());
    let report = check_libraries(dir.path()).expect("check");
    eprintln!(
        "libcheck: {} dynamic ELF files checked, {} with something missing",
        report.checked,
        report.missing.len()
    );
    let mut group = c.benchmark_group("libcheck");
    group.sample_size(10);
    group.bench_function("host /usr", |b| {
        b.iter(|| check_libraries(dir.path()).expect("check"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
