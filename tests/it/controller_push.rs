//! git push → rebuild against the real control plane: polling lists refs first and fetches
//! only when a ref the site uses moved; a local repository is watched and rebuilt from
//! without waiting for the poll; `zentoo reconcile` asks, waits and reports; the test git
//! daemon leaves no process behind.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use kube::ResourceExt;
use std::process::Command;
use std::time::{Duration, Instant};
use zentoo::api::GentooSite;
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

/// The site's status fields the polling tests look at.
fn poll_state(site: &GentooSite) -> (Option<String>, Option<String>, Option<String>) {
    let s = site.status.clone().unwrap_or_default();
    (
        s.revision,
        s.last_checked.map(|t| t.0.to_string()),
        s.last_fetched.map(|t| t.0.to_string()),
    )
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    http_get(addr, "/metrics")
        .await
        .map(|(_, body)| body)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_fetches_only_when_a_ref_the_site_uses_moved() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("push-poll").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let addr = free_loopback_addr();
    let _controller =
        Controller::start_configured(&ns, &cache, |s| s.metrics_addr = Some(addr)).await;
    create_site(&ns, &site_object("demo", &git.url, "1s")).await;
    let image = image_name("demo", "desktop-none-kde");
    let first = wait_jobs(&ns, &image, 1).await.remove(0);
    finish_build(&ns, &first.name_any(), "sha256:01").await;
    wait_ready(&ns, &image, "True", None).await;
    let sites = ns.api::<GentooSite>();
    let (revision, _, fetched) = poll_state(&sites.get("demo").await.expect("site"));
    let moved_before = sample(
        &metrics(addr).await,
        r#"zentoo_source_checks_total{result="moved"}"#,
    );

    // A branch no tuple uses moves, and the tracked branch does not: checks go on, nothing
    // is fetched, nothing rebuilds.
    repo.write("feature/x", "notes", "not config\n");
    let pushed = Instant::now();
    let unchanged_at = sample(
        &metrics(addr).await,
        r#"zentoo_source_checks_total{result="unchanged"}"#,
    );
    eventually(&ns, T, "three more unchanged checks", || async {
        let n = sample(
            &metrics(addr).await,
            r#"zentoo_source_checks_total{result="unchanged"}"#,
        );
        (n >= unchanged_at + 3.0).then_some(())
    })
    .await;
    let site = sites.get("demo").await.expect("site");
    let (revision_now, checked_now, fetched_now) = poll_state(&site);
    assert_eq!(revision_now, revision, "the tracked branch did not move");
    assert_eq!(
        fetched_now, fetched,
        "lastFetched moved: a push to an unused branch was fetched"
    );
    assert_ne!(checked_now, None);
    assert_eq!(
        sample(
            &metrics(addr).await,
            r#"zentoo_source_checks_total{result="moved"}"#
        ),
        moved_before,
        "a check downloaded after a push to an unused branch"
    );
    assert_eq!(jobs(&ns, &image).await.len(), 1, "rebuilt for nothing");
    eprintln!(
        "MEASURED: 3 unchanged checks in {:?} at interval 1s",
        pushed.elapsed()
    );

    // A portage branch the image uses moves: fetched, rebuilt.
    let pushed = Instant::now();
    repo.write("portage/desktop", "make.conf", "USE=\"X polled\"\n");
    wait_jobs(&ns, &image, 2).await;
    eprintln!(
        "MEASURED: portage commit -> new Job in {:?} (poll interval 1s ±10%)",
        pushed.elapsed()
    );
    let site = sites.get("demo").await.expect("site");
    let (_, _, fetched_after) = poll_state(&site);
    assert_ne!(fetched_after, fetched, "lastFetched did not move");
    assert!(
        sample(
            &metrics(addr).await,
            r#"zentoo_source_checks_total{result="moved"}"#
        ) > moved_before
    );
    drop(git);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_to_a_local_repository_builds_without_waiting_for_the_poll() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("push-local").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\nserver-nodocs-web\n");
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start_configured(&ns, &cache, |s| {
        s.allow_local_sources = true;
    })
    .await;
    let mut site = site_object("demo", &format!("file://{}", repo.path().display()), "1h");
    site.spec.source.debounce = Some("1s".into());
    create_site(&ns, &site).await;
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    for image in [&desktop, &server] {
        let job = wait_jobs(&ns, image, 1).await.remove(0);
        finish_build(&ns, &job.name_any(), "sha256:01").await;
        wait_ready(&ns, image, "True", None).await;
    }
    // Past the debounce window of the first check: the next change acts at once.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Polled hourly: only the watch on the repository's refs can make it see this commit.
    let committed = Instant::now();
    let head = repo.write("portage/desktop", "make.conf", "USE=\"X local\"\n");
    let rebuilt = wait_jobs(&ns, &desktop, 2).await;
    eprintln!(
        "MEASURED: local commit -> new Job in {:?} (interval 1h)",
        committed.elapsed()
    );
    assert_ne!(rebuilt[0].name_any(), rebuilt[1].name_any());
    assert_eq!(jobs(&ns, &server).await.len(), 1, "server rebuilt");

    // The tracked branch too: the site's revision follows at once.
    let head_main = repo.write("main", "sets/web", "@base\nwww-servers/caddy\n");
    wait_revision(&ns, &head_main.to_string()).await;
    wait_jobs(&ns, &server, 2).await;
    assert_ne!(head, head_main);
}

/// Runs `zentoo ARGS` against the harness cluster: (exit code, stdout, stderr).
async fn zentoo(kube: &support::Kube, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(args)
        .env("KUBECONFIG", &kube.kubeconfig)
        .output()
        .await
        .expect("run zentoo");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zentoo_reconcile_asks_waits_and_reports() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    // Polled hourly: only `zentoo reconcile ... --with-source` makes it look within the test.
    let mut env = setup(&kube, "push-cli", "desktop-none-kde\n", "1h").await;
    let ns = env.ns.name.clone();
    let image = image_name("demo", "desktop-none-kde");
    let first = wait_jobs(&env.ns, &image, 1).await.remove(0);
    finish_build(&env.ns, &first.name_any(), "sha256:01").await;
    wait_ready(&env.ns, &image, "True", None).await;
    let sites = env.ns.api::<GentooSite>();
    let checked = |s: &GentooSite| s.status.as_ref().and_then(|s| s.last_checked.clone());
    let before = checked(&sites.get("demo").await.expect("site"));

    // Without the source: planned again from the cache, the repository is not asked.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (code, out, err) = zentoo(&kube, &["reconcile", "site", "demo", "-n", &ns]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("reconciled: revision"), "{out}");
    assert!(out.contains("1 images"), "{out}");
    assert!(err.contains("waiting for GentooSite"), "{err}");
    let site = sites.get("demo").await.expect("site");
    assert_eq!(checked(&site), before, "a reconcile without source checked");

    // With the source: the new commit is fetched and the image rebuilds.
    let head = env
        .repo
        .write("portage/desktop", "make.conf", "USE=\"X cli\"\n");
    let (code, out, err) = zentoo(
        &kube,
        &["reconcile", "site", "demo", "-n", &ns, "--with-source"],
    )
    .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let site = sites.get("demo").await.expect("site");
    assert_ne!(checked(&site), before, "--with-source did not check");
    let second = wait_jobs(&env.ns, &image, 2).await.remove(1);
    let _ = head;

    // The image: reconciled, reported as building its new inputs.
    let (code, out, err) = zentoo(
        &kube,
        &["reconcile", "image", &image, "-n", &ns, "--timeout", "60s"],
    )
    .await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("Building"), "{out}");
    assert!(out.contains(&second.name_any()), "{out}");

    // `zentoo get`: the image building, and why; the site, as JSON.
    let (code, out, err) = zentoo(&kube, &["get", "images", "-n", &ns]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].ends_with("WHY"),
        "{out}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{image} ")))
        .unwrap_or_else(|| panic!("no row for {image}: {out}"));
    assert!(row.contains(" Building "), "{row}");
    assert!(row.contains(" Succeeded "), "the last build: {row}");
    assert!(
        row.ends_with("InputsChanged: portage/desktop tree changed"),
        "{row}"
    );
    let (code, out, err) = zentoo(&kube, &["get", "sites", "-n", &ns, "-o", "json"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON rows");
    assert_eq!(rows[0]["name"], "demo", "{out}");
    assert_eq!(rows[0]["ready"], "True", "{out}");
    assert_eq!(rows[0]["tuples"], 1, "{out}");
    let (code, out, _) = zentoo(&kube, &["get", "sites", "-A"]).await;
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{ns} ")) && l.contains(" demo ")),
        "-A shows the namespace: {out}"
    );

    // What cannot be done says so.
    let (code, _, err) = zentoo(&kube, &["reconcile", "site", "nosuch", "-n", &ns]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("GentooSite") && err.contains("not found"),
        "{err}"
    );
    if let Some(controller) = env.controller.take() {
        controller.kill().await;
    }
    let started = Instant::now();
    let (code, _, err) = zentoo(
        &kube,
        &["reconcile", "site", "demo", "-n", &ns, "--timeout", "2s"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("timed out after 2s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the wait is bounded"
    );
}

/// Processes whose process group is `group` (from /proc/<pid>/stat).
fn group_members(group: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
                    let rest = stat.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                })
                == Some(group)
        })
        .collect()
}

#[test]
fn the_git_daemon_leaves_no_process_behind() {
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let group = git.pid();
    // An open connection that sends nothing keeps a forked child waiting for a request.
    let port: u16 = git
        .url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port in the url");
    let _conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    while group_members(group).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "git daemon forked no child for the connection: {:?}",
            group_members(group)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(git);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !group_members(group).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            group_members(group)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // `git ls-remote` still works against a new daemon (nothing was broken for others).
    let git = GitDaemon::serve(&repo);
    let out = Command::new("git")
        .args(["ls-remote", &git.url])
        .output()
        .expect("git ls-remote");
    assert!(out.status.success());
}
