//! Full plan of a generated site: 500 tuples, 200 branches, 10,000 commits.
//! Target: < 200 ms for open + read + plan.

use criterion::{Criterion, criterion_group, criterion_main};
use git2::Repository;
use std::hint::black_box;
use std::time::Instant;
use zentoo::plan::{PlanOptions, plan_site};
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
