//! Full plan of a generated site: 500 tuples, 200 branches, 10,000 commits.
//! Target: < 200 ms for open + read + plan.
//! And one big set shared by 1,000 tuples (111,111 atoms, ~1 MiB): planning costs about one
//! copy of the set, not one per image (peak memory: `scripts/bench-bigset.sh`).

use criterion::{Criterion, criterion_group, criterion_main};
use git2::Repository;
use std::hint::black_box;
use std::time::Instant;
use zentoo::plan::{Limits, PlanOptions, plan_site};
use zentoo::site::write::{Change, commit};
use zentoo::site::{ReadOptions, SiteRepo};

const PORTAGE: usize = 150;
const BUILDHOOKS: usize = 50;
const SETS: usize = 40;
const TUPLES: usize = 500;
const COMMITS: usize = 10_000;

fn generate(dir: &std::path::Path) -> Repository {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main").bare(true);
    let repo = Repository::init_opts(dir, &opts).expect("init");
    let mut commits = 0;
    for i in 0..PORTAGE {
        let conf = format!("USE=\"flag{i}\"\n");
        let pkg = format!("cat/pkg{i} flag\n");
        commit(
            &repo,
            &format!("portage/p{i}"),
            &[
                Change::file("make.conf", &conf),
                Change::file("package.use/x", &pkg),
            ],
            "p",
        )
        .expect("commit");
        commits += 1;
    }
    for i in 0..BUILDHOOKS {
        commit(
            &repo,
            &format!("buildhooks/h{i}"),
            &[Change::exec("pre-build", "#!/bin/sh\ntrue\n")],
            "h",
        )
        .expect("commit");
        commits += 1;
    }
    let mut files: Vec<(String, String)> = (0..SETS)
        .map(|i| {
            let mut text: String = (0..20).map(|a| format!("cat{i}/pkg{a}\n")).collect();
            if i > 0 {
                text.push_str(&format!("@s{}\n", i - 1));
            }
            (format!("sets/s{i}"), text)
        })
        .collect();
    let cpus: String = (0..10)
        .map(|i| {
            format!(
                "c{i}:\n  arch: amd64\n  cflags: -O2 -march=x86-64-v{}\n",
                i % 4 + 1
            )
        })
        .collect();
    files.push(("cpus.yaml".into(), cpus));
    let tuples: String = (0..TUPLES)
        .map(|i| {
            let hooks = if i % 3 == 0 {
                "none".to_string()
            } else {
                format!("h{}", i % BUILDHOOKS)
            };
            format!("c{}-p{}-{hooks}-s{}\n", i % 10, i % PORTAGE, i % SETS)
        })
        .collect();
    files.push(("tuples".into(), tuples));
    let changes: Vec<Change<'_>> = files.iter().map(|(p, t)| Change::file(p, t)).collect();
    commit(&repo, "main", &changes, "site").expect("commit");
    commits += 1;
    while commits < COMMITS {
        let text = format!("{commits}\n");
        commit(&repo, "main", &[Change::file("history", &text)], "history").expect("commit");
        commits += 1;
    }
    repo
}

fn full_plan(path: &std::path::Path) -> usize {
    let repo = SiteRepo::open(path).expect("open");
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("snapshot");
    let plan = plan_site(&snapshot, &PlanOptions::default());
    assert!(
        plan.errors.is_empty(),
        "{:?}",
        &plan.errors[..plan.errors.len().min(3)]
    );
    plan.images.len()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let started = Instant::now();
    generate(dir.path());
    eprintln!(
        "generated {COMMITS} commits, {} branches, {TUPLES} tuples in {:?}",
        PORTAGE + BUILDHOOKS,
        started.elapsed()
    );
    assert_eq!(full_plan(dir.path()), TUPLES);

    c.bench_function(
        "plan 500 tuples, 200 branches, 10k commits (open+read+plan)",
        |b| b.iter(|| black_box(full_plan(dir.path()))),
    );
    let repo = SiteRepo::open(dir.path()).expect("open");
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("snapshot");
    c.bench_function("plan 500 tuples (pure plan only)", |b| {
        b.iter(|| black_box(plan_site(&snapshot, &PlanOptions::default()).images.len()))
    });
}

const BIG_TUPLES: usize = 1_000;
const BIG_ATOMS: usize = 111_111;

/// A site whose 1,000 tuples (one portage branch each) all use one set of 111,111 atoms.
fn generate_big_set(dir: &std::path::Path) {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main").bare(true);
    let repo = Repository::init_opts(dir, &opts).expect("init");
    let portage = commit(
        &repo,
        "portage/p0",
        &[Change::file("make.conf", "USE=\"x\"\n")],
        "p",
    )
    .expect("commit");
    for i in 1..BIG_TUPLES {
        repo.reference(&format!("refs/heads/portage/p{i}"), portage, false, "p")
            .expect("branch");
    }
    let set: String = (0..BIG_ATOMS).map(|i| format!("a/b{i:05}\n")).collect();
    let tuples: String = (0..BIG_TUPLES)
        .map(|i| format!("p{i}-none-big\n"))
        .collect();
    commit(
        &repo,
        "main",
        &[
            Change::file("sets/big", &set),
            Change::file("tuples", &tuples),
        ],
        "site",
    )
    .expect("commit");
}

fn big_set(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    generate_big_set(dir.path());
    let repo = SiteRepo::open(dir.path()).expect("open");
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("snapshot");
    // Above the defaults, which refuse a set this big: what is measured is the sharing.
    let options = PlanOptions {
        limits: Limits {
            set_atoms: BIG_ATOMS,
            planned_atoms: BIG_ATOMS * BIG_TUPLES,
            ..Limits::default()
        },
        ..PlanOptions::default()
    };
    let plan = plan_site(&snapshot, &options);
    assert_eq!((plan.images.len(), plan.errors.len()), (BIG_TUPLES, 0));
    assert_eq!(plan.images[0].atoms.len(), BIG_ATOMS);
    c.bench_function(
        "plan 1,000 tuples sharing a 111,111-atom set (pure plan only)",
        |b| b.iter(|| black_box(plan_site(&snapshot, &options).images.len())),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench, big_set
}
criterion_main!(benches);
