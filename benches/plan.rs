//! Full plan of a generated site: 500 tuples, 200 branches, 10,000 commits by default.
//! Target: < 200 ms for open + read + plan, also at 5,000 tuples over 1,000 branches:
//! `cargo bench --bench plan -- --tuples 5000 --branches 1000 [--commits N] [criterion args]`
//! (or `ZENTOO_BENCH_TUPLES`, `ZENTOO_BENCH_BRANCHES`, `ZENTOO_BENCH_COMMITS`). A quarter of
//! the branches are buildhooks, the rest portage configs.
//! And one big set shared by 1,000 tuples (111,111 atoms, ~1 MiB): planning costs about one
//! copy of the set, not one per image (peak memory: `scripts/bench-bigset.sh`).

use criterion::{Criterion, criterion_group};
use git2::Repository;
use std::hint::black_box;
use std::time::Instant;
use zentoo::plan::{Limits, PlanOptions, plan_site};
use zentoo::site::write::{Change, commit};
use zentoo::site::{ReadOptions, SiteRepo};

const TUPLES: usize = 500;
const BRANCHES: usize = 200;
const COMMITS: usize = 10_000;
const SETS: usize = 40;

/// The generated site's sizes.
#[derive(Clone, Copy)]
struct Sizes {
    tuples: usize,
    portage: usize,
    buildhooks: usize,
    commits: usize,
}

impl Sizes {
    /// From `ZENTOO_BENCH_{TUPLES,BRANCHES,COMMITS}`, the defaults for the unset ones.
    fn from_env() -> Sizes {
        let var = |name: &str, default: usize| match std::env::var(name) {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
            Err(_) => default,
        };
        let branches = var("ZENTOO_BENCH_BRANCHES", BRANCHES).max(2);
        let buildhooks = (branches / 4).max(1);
        Sizes {
            tuples: var("ZENTOO_BENCH_TUPLES", TUPLES).max(1),
            portage: branches - buildhooks,
            buildhooks,
            commits: var("ZENTOO_BENCH_COMMITS", COMMITS),
        }
    }

    fn branches(&self) -> usize {
        self.portage + self.buildhooks
    }
}

/// `--tuples N`, `--branches N`, `--commits N` become the environment of the same bench run
/// again with the other arguments (criterion's own parser refuses arguments it does not know).
fn sizes_from_args() {
    let args: Vec<String> = std::env::args().collect();
    let mut rest = Vec::new();
    let mut env = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let (flag, value) = match args[i].split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        let var = match flag.as_str() {
            "--tuples" => "ZENTOO_BENCH_TUPLES",
            "--branches" => "ZENTOO_BENCH_BRANCHES",
            "--commits" => "ZENTOO_BENCH_COMMITS",
            _ => {
                rest.push(args[i].clone());
                i += 1;
                continue;
            }
        };
        let value = match value {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .unwrap_or_else(|| panic!("{flag} needs a number"))
            }
        };
        env.push((var, value));
        i += 1;
    }
    if env.is_empty() {
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let status = std::process::Command::new(exe)
        .args(rest)
        .envs(env)
        .status()
        .expect("run the bench again");
    std::process::exit(status.code().unwrap_or(1));
}

/// The tuples file: tuple `i` is `c<i%10>-p<i%portage>-<hooks>-s<i%SETS>`, the set moved on
/// while the tuple would repeat an earlier one (only past 600 tuples with the default
/// branches).
fn tuples_text(sizes: &Sizes) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut text = String::new();
    for i in 0..sizes.tuples {
        let hooks = if i % 3 == 0 {
            "none".to_string()
        } else {
            format!("h{}", i % sizes.buildhooks)
        };
        let mut tuple = String::new();
        for bump in 0..=SETS {
            tuple = format!(
                "c{}-p{}-{hooks}-s{}",
                i % 10,
                i % sizes.portage,
                (i + bump) % SETS
            );
            if seen.insert(tuple.clone()) {
                break;
            }
            assert!(bump < SETS, "cannot make {} distinct tuples", sizes.tuples);
        }
        text.push_str(&tuple);
        text.push('\n');
    }
    text
}

fn generate(dir: &std::path::Path, sizes: &Sizes) -> Repository {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main").bare(true);
    let repo = Repository::init_opts(dir, &opts).expect("init");
    let mut commits = 0;
    for i in 0..sizes.portage {
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
    for i in 0..sizes.buildhooks {
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
    files.push(("tuples".into(), tuples_text(sizes)));
    let changes: Vec<Change<'_>> = files.iter().map(|(p, t)| Change::file(p, t)).collect();
    commit(&repo, "main", &changes, "site").expect("commit");
    commits += 1;
    while commits < sizes.commits {
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
    let sizes = Sizes::from_env();
    let (tuples, branches, commits) = (sizes.tuples, sizes.branches(), sizes.commits);
    let dir = tempfile::TempDir::new().expect("tempdir");
    let started = Instant::now();
    generate(dir.path(), &sizes);
    let generated = started.elapsed();
    let started = Instant::now();
    assert_eq!(full_plan(dir.path()), tuples);
    eprintln!(
        "generated {commits} commits, {branches} branches, {tuples} tuples in {generated:?}; \
         first plan (open+read+plan) {:?}",
        started.elapsed()
    );

    c.bench_function(
        &format!("plan {tuples} tuples, {branches} branches, {commits} commits (open+read+plan)"),
        |b| b.iter(|| black_box(full_plan(dir.path()))),
    );
    let repo = SiteRepo::open(dir.path()).expect("open");
    c.bench_function(
        &format!("plan {tuples} tuples, {branches} branches (open+read only)"),
        |b| b.iter(|| black_box(repo.snapshot(&ReadOptions::default()).expect("snapshot"))),
    );
    let snapshot = repo.snapshot(&ReadOptions::default()).expect("snapshot");
    c.bench_function(&format!("plan {tuples} tuples (pure plan only)"), |b| {
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

fn main() {
    sizes_from_args();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
