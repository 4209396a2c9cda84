//! The gc decision (pure) on a large synthetic binpkgs volume: 2,000 images with 5 build
//! records each (150 binpkgs named per record), 10 PKGDIRs holding 60,000 binpkg files, 20
//! running builds. Target: well under a second (gc runs once a day).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use zentoo::gc::decide::{FileInfo, Listing, PkgdirListing, Policy, plan_gc};
use zentoo::gc::records::{BinpkgRef, BuildStatus, Lease, UsageRecord};

const IMAGES: usize = 2_000;
const RECORDS: usize = 5;
const PER_RECORD: usize = 150;
const PKGDIRS: usize = 10;
const FILES: usize = 60_000;
const NOW: i64 = 10_000_000;

fn path(i: usize) -> String {
    format!("cat{}/pkg{i}/pkg{i}-1.0-{}.gpkg.tar", i % 150, i % 7 + 1)
}

fn reference(i: usize) -> BinpkgRef {
    BinpkgRef {
        cpv: format!("cat{}/pkg{i}-1.0", i % 150),
        build_id: Some((i % 7 + 1) as u64),
        path: path(i),
        role: "used".into(),
    }
}

/// Build records and leases by path, and the listing of the volume.
type Input = (Vec<(String, UsageRecord)>, Vec<(String, Lease)>, Listing);

fn input() -> Input {
    let per_dir = FILES / PKGDIRS;
    let mut records = Vec::new();
    for image in 0..IMAGES {
        let dir = image % PKGDIRS;
        for r in 0..RECORDS {
            let binpkgs = (0..PER_RECORD)
                .map(|k| reference((image * 7 + r * 131 + k * 17) % per_dir))
                .collect();
            records.push((
                format!("builds/img{image}/b{r}.json"),
                UsageRecord {
                    version: 1,
                    image: format!("img{image}"),
                    build: format!("b{r}"),
                    status: BuildStatus::Built,
                    pkgdir: format!("chost/dir{dir}"),
                    started: NOW - 100_000 + r as i64 * 1000,
                    finished: NOW - 99_000 + r as i64 * 1000,
                    binpkgs,
                    distfiles: vec![format!("dist{}.tar.gz", image % 500)],
                },
            ));
        }
    }
    let leases = (0..20)
        .map(|l| {
            (
                format!("leases/img{l}@run.json"),
                Lease {
                    version: 1,
                    image: format!("img{l}"),
                    build: "run".into(),
                    pkgdir: format!("chost/dir{}", l % PKGDIRS),
                    started: NOW - 600,
                    binpkgs: (0..PER_RECORD).map(|k| reference(k * 3 + l)).collect(),
                },
            )
        })
        .collect();
    let pkgdirs = (0..PKGDIRS)
        .map(|d| PkgdirListing {
            rel: format!("chost/dir{d}"),
            files: (0..per_dir)
                .map(|i| FileInfo {
                    path: path(i),
                    size: 1 << 20,
                    mtime: NOW - 200_000,
                })
                .collect(),
            indexed: (0..per_dir).map(path).collect(),
        })
        .collect();
    let distfiles = (0..2_000)
        .map(|i| FileInfo {
            path: format!("dist{i}.tar.gz"),
            size: 1 << 22,
            mtime: NOW - 200_000,
        })
        .collect();
    (
        records,
        leases,
        Listing {
            pkgdirs,
            distfiles: Some(distfiles),
            log_images: Vec::new(),
        },
    )
}

fn bench(c: &mut Criterion) {
    let (records, leases, listing) = input();
    let policy = Policy {
        keep: 3,
        now: NOW,
        lease_ttl: 48 * 3600,
        grace: 3600,
        clock_skew: 300,
        images: None,
    };
    let plan = plan_gc(&records, &leases, &listing, &policy);
    eprintln!(
        "plan: {} binpkgs to remove of {FILES}, {} records dropped of {}",
        plan.binpkgs.len(),
        plan.records.len(),
        records.len()
    );
    let mut group = c.benchmark_group("gc");
    group.sample_size(10);
    group.bench_function("plan_gc 10k records, 60k files, 20 running builds", |b| {
        b.iter(|| {
            plan_gc(
                black_box(&records),
                black_box(&leases),
                black_box(&listing),
                &policy,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
