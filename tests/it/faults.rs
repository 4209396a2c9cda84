//! Faults against the real control plane: the controller killed (SIGKILL) at random points of
//! builds, Jobs and images deleted by hand mid-build, git servers that hang, reset connections
//! or rewrite history (force pushes, branches deleted and re-created), and (on a private
//! control plane) the kube-apiserver and etcd restarted under a running controller. Every
//! time: no duplicate build, nothing orphaned, status ends right, a clear condition while it
//! lasts. A registry failing mid-push and full volumes: tests/it/registry_faults.rs. Figures:
//! docs/benchmarks.md, "Faults".

use crate::support;

use support::manifests::{Flavour, install};

use crate::support::controller::faulty_git::{Fault, FaultyGit};
use crate::support::controller::process::{ControllerProcess, binary};
use crate::support::controller::*;
use crate::support::site::Site;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PartialObjectMeta};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::kube::wait_deleted;
use support::kubelet::{MANUAL, MANUAL_LABEL};
use zentoo::api::{GentooImage, GentooSite, annotations, labels};
use zentoo::render::names::image_name;

/// A small deterministic generator (xorshift), seeded from the clock and printed, so a failing
/// run can be repeated with `ZENTOO_FAULT_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("ZENTOO_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            .max(1);
        eprintln!("fault seed: ZENTOO_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every build Job ever created in `ns`, by inputs digest (a watch, from the start).
fn record_jobs(ns: &support::TestNamespace) -> Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::<String, BTreeSet<String>>::new()));
    let api: Api<PartialObjectMeta<Job>> = Api::namespaced(ns.client.clone(), &ns.name);
    let out = seen.clone();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = stream.next().await {
            if let Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) = event {
                let digest = job
                    .annotations()
                    .get(annotations::INPUTS_DIGEST)
                    .cloned()
                    .unwrap_or_default();
                if let Ok(mut seen) = out.lock() {
                    seen.entry(digest).or_default().insert(job.name_any());
                }
            }
        }
    });
    seen
}

fn manual_label() -> String {
    format!("{MANUAL_LABEL}={MANUAL}")
}

/// The Job of `image` building `digest`, once there is one.
async fn job_for(ns: &support::TestNamespace, image: &str, digest: &str) -> Job {
    eventually(
        ns,
        Duration::from_secs(90),
        &format!("a Job of {image} for {}", &digest[..digest.len().min(19)]),
        || async {
            jobs(ns, image).await.into_iter().find(|j| {
                j.annotations()
                    .get(annotations::INPUTS_DIGEST)
                    .map(String::as_str)
                    == Some(digest)
            })
        },
    )
    .await
}

/// The image's desired inputs digest once it differs from `old`.
async fn new_digest(ns: &support::TestNamespace, image: &str, old: Option<&str>) -> String {
    let api = ns.api::<GentooImage>();
    eventually(
        ns,
        Duration::from_secs(90),
        "new inputs in status",
        || async {
            let digest = api.get(image).await.ok()?.status?.inputs_digest?;
            (Some(digest.as_str()) != old).then_some(digest)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_at_random_points_never_duplicates_a_build() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("fault-kill").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let bin = binary();
    let label = manual_label();
    let installed = install(&ns, Flavour::Namespaced).await;
    let start = || {
        ControllerProcess::start(
            &bin,
            &installed.kubeconfig,
            &ns.name,
            cache.path(),
            &["--build-pod-label", &label],
        )
    };
    let created = record_jobs(&ns);
    let mut controller = start();
    create_site(&ns, &site_object("demo", &git.url, "1s")).await;
    let image = image_name("demo", "desktop-none-kde");
    let api = ns.api::<GentooImage>();
    let mut rng = Rng::new();
    let mut digest: Option<String> = None;
    let mut kills = 0;
    for round in 0..10u32 {
        if round > 0 {
            repo.write(
                "portage/desktop",
                "make.conf",
                &format!("USE=\"X round{round}\"\n"),
            );
        }
        // Where in this round's build the controller dies: 0 while it fetches and plans,
        // 1 once the Job exists, 2 while the pod runs, 3 as the pod finishes, 4 after Ready.
        let point = rng.below(5);
        let pause = Duration::from_millis(rng.below(1500));
        let mut kill = |controller: ControllerProcess, at: u64| -> ControllerProcess {
            if at == point {
                controller.kill();
                kills += 1;
                eprintln!("round {round}: SIGKILL at point {point} (+{pause:?})");
                start()
            } else {
                controller
            }
        };
        if point == 0 {
            tokio::time::sleep(pause).await;
        }
        controller = kill(controller, 0);
        let want = new_digest(&ns, &image, digest.as_deref()).await;
        let job = job_for(&ns, &image, &want).await;
        if point == 1 {
            tokio::time::sleep(pause).await;
        }
        controller = kill(controller, 1);
        let pod = build_pod(&ns, &job.name_any()).await;
        ns.kubelet().run(&pod.name_any()).await;
        if point == 2 {
            tokio::time::sleep(pause).await;
        }
        controller = kill(controller, 2);
        let published = format!("sha256:{round:064}");
        finish_build(&ns, &job.name_any(), &published).await;
        if point == 3 {
            tokio::time::sleep(pause / 10).await;
        }
        controller = kill(controller, 3);
        let done = eventually(
            &ns,
            Duration::from_secs(90),
            "Ready at the round's build",
            || async {
                let img = api.get(&image).await.ok()?;
                let status = img.status.clone()?;
                let last = status.last_successful_build.clone()?;
                (last.name == job.name_any()
                    && last.image_digest.as_deref() == Some(published.as_str())
                    && condition(&img, "Ready").is_some_and(|(s, _, _)| s == "True"))
                .then_some(img)
            },
        )
        .await;
        controller = kill(controller, 4);
        let status = done.status.expect("status");
        assert_eq!(status.inputs_digest.as_deref(), Some(want.as_str()));
        assert_eq!(status.current_build, None, "round {round}: still building");
        let names: Vec<&str> = status.history.iter().map(|h| h.name.as_str()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            names.len(),
            unique.len(),
            "round {round}: history repeats a build: {names:?}"
        );
        digest = Some(want);
    }
    // Every inputs digest was built by exactly one Job, whatever the kills.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let created = created.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(created.len(), 10, "one digest per round: {created:#?}");
    for (d, names) in &created {
        assert_eq!(names.len(), 1, "inputs {d} were built by {names:?}");
    }
    eprintln!("MEASURED: 10 rounds, {kills} SIGKILLs, 10 Jobs, no duplicates");
    controller.kill();
}

/// Nothing labelled for `image` is left: Jobs, pods, distcc StatefulSets and Services.
async fn assert_nothing_left(ns: &support::TestNamespace, image: &str) {
    let lp = ListParams::default().labels(&format!("{}={image}", labels::IMAGE));
    eventually(
        ns,
        Duration::from_secs(60),
        "nothing of the image left",
        || async {
            let jobs = ns.api::<Job>().list(&lp).await.ok()?.items.len();
            let pods = ns.api::<Pod>().list(&lp).await.ok()?.items.len();
            let sets = ns.api::<StatefulSet>().list(&lp).await.ok()?.items.len();
            let services = ns.api::<Service>().list(&lp).await.ok()?.items.len();
            (jobs + pods + sets + services == 0).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_deleted_by_hand_is_recorded_and_built_again() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "fault-jobdel", "desktop-none-kde\n", "1m").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let first = wait_jobs(ns, &image, 1).await.remove(0);
    let pod = build_pod(ns, &first.name_any()).await;
    ns.kubelet().run(&pod.name_any()).await;
    ns.api::<Job>()
        .delete(&first.name_any(), &DeleteParams::foreground())
        .await
        .expect("delete the Job");
    wait_deleted(&ns.api::<Job>(), &first.name_any(), Duration::from_secs(60)).await;
    // A new build of the same inputs; the deleted one is in the history, not current.
    let api = ns.api::<GentooImage>();
    let second = eventually(ns, Duration::from_secs(60), "a new Job", || async {
        jobs(ns, &image)
            .await
            .into_iter()
            .find(|j| j.name_any() != first.name_any())
    })
    .await;
    let img = eventually(
        ns,
        Duration::from_secs(60),
        "the deleted build in history",
        || async {
            let img = api.get(&image).await.ok()?;
            let status = img.status.clone()?;
            (status.history.iter().any(|h| {
                h.name == first.name_any() && h.result == zentoo::api::image::Ending::Deleted
            }) && status.current_build.as_ref()?.name == second.name_any())
            .then_some(img)
        },
    )
    .await;
    assert_eq!(jobs(ns, &image).await.len(), 1, "{:?}", img.status);
    finish_build(ns, &second.name_any(), "sha256:de1e7ed").await;
    wait_ready(ns, &image, "True", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_deleted_mid_build_leaves_nothing_behind() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "fault-imgdel", "desktop-none-kde\n", "1m").await;
    let ns = &env.ns;
    // With distcc workers, so there is more to clean up than the Job.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"imageDefaults": {"distcc": {"workersPerArch": 2}}}}),
    )
    .await;
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(ns, &image, 1).await.remove(0);
    let pod = build_pod(ns, &job.name_any()).await;
    ns.kubelet().run(&pod.name_any()).await;
    let workers = ListParams::default().labels(&format!("{}={}", labels::BUILD, job.name_any()));
    eventually(ns, Duration::from_secs(30), "distcc workers", || async {
        (!ns.api::<StatefulSet>()
            .list(&workers)
            .await
            .ok()?
            .items
            .is_empty())
        .then_some(())
    })
    .await;
    // The site is suspended so it does not make the image again at once.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"suspend": true}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ns.api::<GentooImage>()
        .delete(&image, &DeleteParams::background())
        .await
        .expect("delete the image");
    wait_deleted(&ns.api::<GentooImage>(), &image, Duration::from_secs(60)).await;
    assert_nothing_left(ns, &image).await;
    // The controller is still healthy: the site comes back and builds the image again.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"suspend": false}}),
    )
    .await;
    let again = wait_jobs(ns, &image, 1).await.remove(0);
    assert_ne!(again.name_any(), job.name_any());
    let owner = again.meta().owner_references.clone().unwrap_or_default();
    assert_eq!(owner.len(), 1);
}

/// Site `name`'s Ready condition as (status, reason, message).
async fn site_ready(ns: &support::TestNamespace, name: &str) -> Option<(String, String, String)> {
    let site = ns.api::<GentooSite>().get(name).await.ok()?;
    site.status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status, c.reason, c.message))
}

/// Waits until site `name` is at `revision` and Ready with `reason`.
async fn site_at(ns: &support::TestNamespace, name: &str, revision: &str, reason: &str) {
    let api = ns.api::<GentooSite>();
    eventually(
        ns,
        Duration::from_secs(90),
        &format!("site {name} at {revision}, Ready reason {reason}"),
        || async {
            let site = api.get(name).await.ok()?;
            let ready = site_ready(ns, name).await?;
            (site.status?.revision.as_deref() == Some(revision) && ready.1 == reason).then_some(())
        },
    )
    .await;
}

const FETCH_ERRORS: &str =
    r#"zentoo_reconcile_errors_total{kind="GentooSite",reason="FetchFailed"}"#;

/// A site whose git server fails with `fault` gets a clear condition and is retried with
/// backoff, while another site of the same controller keeps reconciling; pointed at a healthy
/// server, it converges.
async fn a_failing_git_server(prefix: &str, fault: Fault) {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace(prefix).await;
    install_crds(&ns).await;
    let good_repo = Site::standard("desktop-none-kde\n");
    let good_git = GitDaemon::serve(&good_repo);
    let bad = FaultyGit::start(fault).await;
    let cache = tempfile::TempDir::new().expect("cache dir");
    let label = manual_label();
    let installed = install(&ns, Flavour::Namespaced).await;
    // libgit2's timeouts are process-wide, set from ZENTOO_GIT_TIMEOUT as the process starts.
    let mut controller = ControllerProcess::start_with_env(
        &binary(),
        &installed.kubeconfig,
        &ns.name,
        cache.path(),
        &["--build-pod-label", &label],
        &[("ZENTOO_GIT_TIMEOUT", "3")],
    );
    create_site(&ns, &site_object("good", &good_git.url, "1s")).await;
    create_site(&ns, &site_object("bad", &bad.url, "1s")).await;

    // A clear condition: the reason for fetch failures, the URL and what went wrong.
    let started = std::time::Instant::now();
    let (status, reason, message) =
        eventually(&ns, Duration::from_secs(90), "bad site Ready=False", || {
            site_ready(&ns, "bad")
        })
        .await;
    let first_failure = started.elapsed();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "FetchFailed"),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("fetching {}: ", bad.url))
            && message.len() > bad.url.len() + 12,
        "the message names the URL and the failure: {message}"
    );
    eprintln!(
        "MEASURED: {fault:?}: first failure after {first_failure:.1?}: Ready=False {reason}: {message}"
    );
    let window = std::time::Instant::now();
    let errors0 = controller
        .scrape()
        .await
        .get(FETCH_ERRORS)
        .copied()
        .unwrap_or(0.0);
    let attempts0 = bad.accepted();

    // Meanwhile the other site moves on: a tuple added there becomes an image with a Job.
    let pushed = std::time::Instant::now();
    let moved = good_repo.write("main", "tuples", "desktop-none-kde\nserver-nodocs-web\n");
    site_at(&ns, "good", &moved.to_string(), "Planned").await;
    let added = image_name("good", "server-nodocs-web");
    wait_jobs(&ns, &added, 1).await;
    eprintln!(
        "MEASURED: {fault:?}: meanwhile the healthy site: push -> new image's Job in {:.1?}",
        pushed.elapsed()
    );
    assert!(controller.alive(), "the controller exited");

    // Retried: at least two more failed fetches, each a new connection to the server.
    eventually(
        &ns,
        Duration::from_secs(120),
        "two more failed fetches of the bad site",
        || async {
            let errors = controller.scrape().await.get(FETCH_ERRORS).copied()?;
            (errors >= errors0 + 2.0 && bad.accepted() >= attempts0 + 2).then_some(())
        },
    )
    .await;
    let rest = Duration::from_secs(30).saturating_sub(window.elapsed());
    tokio::time::sleep(rest).await;
    let elapsed = window.elapsed();
    let retries = controller
        .scrape()
        .await
        .get(FETCH_ERRORS)
        .copied()
        .unwrap_or(0.0)
        - errors0;
    let attempts = bad.accepted() - attempts0;
    eprintln!(
        "MEASURED: {fault:?}: {retries} failed fetches ({attempts} connections) in {elapsed:.1?} \
         after the first failure (ZENTOO_GIT_TIMEOUT=3)"
    );
    // With backoff, not a retry loop: fewer attempts than one per 2 s (an immediate retry
    // of a reset connection would make hundreds).
    assert!(
        (attempts as u64) <= elapsed.as_secs() / 2 + 1,
        "{attempts} connections in {elapsed:?}: no backoff"
    );
    assert!(controller.alive(), "the controller exited");
    let (status, reason, still) = site_ready(&ns, "bad").await.expect("bad site condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "FetchFailed"),
        "{still}"
    );

    // Pointed at a healthy server, it converges.
    let healed_repo = Site::standard("server-nodocs-web\n");
    let healed_git = GitDaemon::serve(&healed_repo);
    let head = healed_repo
        .repo
        .refname_to_id("refs/heads/main")
        .expect("main");
    let healing = std::time::Instant::now();
    merge(
        &ns.api::<GentooSite>(),
        "bad",
        serde_json::json!({"spec": {"source": {"url": healed_git.url}}}),
    )
    .await;
    site_at(&ns, "bad", &head.to_string(), "Planned").await;
    eprintln!(
        "MEASURED: {fault:?}: url pointed at a healthy server -> Ready in {:.1?}",
        healing.elapsed()
    );
    wait_jobs(&ns, &image_name("bad", "server-nodocs-web"), 1).await;
    assert!(controller.alive(), "the controller exited");
    controller.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_git_server_is_retried_and_blocks_no_other_site() {
    let _measuring = support::load::measuring().await;
    a_failing_git_server("fault-githang", Fault::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_server_resetting_connections_is_retried_with_backoff() {
    let _measuring = support::load::measuring().await;
    a_failing_git_server("fault-gitreset", Fault::Reset).await;
}

/// Points `branch` of `site` at a new root commit holding exactly `files`: history rewritten
/// (not a fast-forward), in one ref update, as `git push --force` of an orphan branch does.
fn force_push(site: &Site, branch: &str, files: &[(&str, &str)]) -> git2::Oid {
    let repo = &site.repo;
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .and_then(|id| repo.find_tree(id))
        .expect("empty tree");
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, content) in files {
        let blob = repo.blob(content.as_bytes()).expect("blob");
        update.upsert(*path, blob, git2::FileMode::Blob);
    }
    let tree = update
        .create_updated(repo, &empty)
        .and_then(|id| repo.find_tree(id))
        .expect("tree");
    let sig = git2::Signature::now("rewriter", "rewriter@localhost").expect("signature");
    let id = repo
        .commit(None, &sig, &sig, &format!("rewritten {branch}"), &tree, &[])
        .expect("root commit");
    repo.reference(&format!("refs/heads/{branch}"), id, true, "force push")
        .expect("force the branch");
    id
}

/// Deletes `branch` of `site`.
fn delete_branch(site: &Site, branch: &str) {
    site.repo
        .find_reference(&format!("refs/heads/{branch}"))
        .and_then(|mut r| r.delete())
        .unwrap_or_else(|e| panic!("delete {branch}: {e}"));
}

/// The image's inputs digest in status.
async fn digest_of(ns: &support::TestNamespace, image: &str) -> Option<String> {
    ns.api::<GentooImage>()
        .get(image)
        .await
        .ok()?
        .status?
        .inputs_digest
}

/// The files of the standard site's main branch with `tuples`.
fn main_files(tuples: &str) -> Vec<(&str, &str)> {
    vec![
        ("tuples", tuples),
        ("sets/base", "app-misc/hello\n@system\n"),
        ("sets/kde", "@base\nkde-plasma/plasma-meta\n"),
        ("sets/web", "@base\nwww-servers/nginx\n"),
        (
            "cpus.yaml",
            "znver3:\n  arch: amd64\n  cflags: -O2 -march=znver3\na72:\n  arch: arm64\n",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_pushed_deleted_and_recreated_branches_are_followed() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let tuples = "desktop-none-kde\nserver-nodocs-web\n";
    let env = setup(&kube, "fault-force", tuples, "1s").await;
    let (ns, repo) = (&env.ns, &env.repo);
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    for image in [&desktop, &server] {
        let job = wait_jobs(ns, image, 1).await.remove(0);
        finish_build(ns, &job.name_any(), "sha256:0001").await;
        wait_ready(ns, image, "True", None).await;
    }
    let desktop0 = digest_of(ns, &desktop).await.expect("desktop digest");
    let server0 = digest_of(ns, &server).await.expect("server digest");
    let main0 = repo.repo.refname_to_id("refs/heads/main").expect("main");

    // 1. Force-push: main and portage/desktop rewritten to unrelated root commits. main's
    // files are the same (no image input changes); desktop's make.conf is not.
    let main1 = force_push(repo, "main", &main_files(tuples));
    force_push(
        repo,
        "portage/desktop",
        &[("make.conf", "USE=\"X wayland\"\n")],
    );
    assert!(
        repo.repo.merge_base(main0, main1).is_err(),
        "not a rewrite: main's histories meet"
    );
    wait_revision(ns, &main1.to_string()).await;
    let desktop1 = new_digest(ns, &desktop, Some(&desktop0)).await;
    let job = job_for(ns, &desktop, &desktop1).await;
    finish_build(ns, &job.name_any(), "sha256:0002").await;
    let img = wait_ready(ns, &desktop, "True", None).await;
    let last = img
        .status
        .and_then(|s| s.last_successful_build)
        .expect("built");
    assert_eq!(
        (last.name, last.inputs_digest),
        (job.name_any(), desktop1.clone())
    );
    assert_eq!(
        last.revision,
        main1.to_string(),
        "the build names the rewritten revision"
    );
    // The server image's inputs did not change: same digest, no new build.
    let server_img = wait_ready(ns, &server, "True", None).await;
    assert_eq!(
        server_img.status.and_then(|s| s.inputs_digest).as_deref(),
        Some(server0.as_str())
    );
    assert_eq!(jobs(ns, &server).await.len(), 1, "server rebuilt");
    assert_eq!(jobs(ns, &desktop).await.len(), 2);

    // 2. A portage branch deleted: the site says which tuple it stops, keeps its image.
    delete_branch(repo, "portage/server");
    let api = ns.api::<GentooSite>();
    eventually(
        ns,
        Duration::from_secs(90),
        "the site reporting the missing branch",
        || async {
            let site = api.get("demo").await.ok()?;
            let status = site.status.as_ref()?;
            status
                .errors
                .iter()
                .any(|e| {
                    e.tuple.as_deref() == Some("server-nodocs-web")
                        && e.message.contains("portage/server")
                })
                .then_some(())
        },
    )
    .await;
    let (status, reason, message) = site_ready(ns, "demo").await.expect("condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TupleErrors"),
        "{message}"
    );
    eprintln!("MEASURED: portage/server deleted: Ready=False {reason}: {message}");
    assert!(
        ns.api::<GentooImage>()
            .get_opt(&server)
            .await
            .expect("get")
            .is_some(),
        "the image of a tuple with errors is kept"
    );
    // 3. ...and re-created (a new root commit, the same files): the image is back at its
    // built inputs, without a new build.
    force_push(repo, "portage/server", &[("make.conf", "USE=\"-X\"\n")]);
    eventually(
        ns,
        Duration::from_secs(90),
        "the site Ready again",
        || async {
            let (s, r, _) = site_ready(ns, "demo").await?;
            (s == "True" && r == "Planned").then_some(())
        },
    )
    .await;
    eventually(
        ns,
        Duration::from_secs(90),
        "server back at its built inputs",
        || async {
            let img = ns.api::<GentooImage>().get(&server).await.ok()?;
            let ready = condition(&img, "Ready")?;
            (img.status?.inputs_digest.as_deref() == Some(server0.as_str()) && ready.0 == "True")
                .then_some(())
        },
    )
    .await;

    // 4. The tracked branch deleted: a fetch failure naming the URL; re-created: followed.
    delete_branch(repo, "main");
    eventually(ns, Duration::from_secs(90), "the site failing", || async {
        let (s, r, m) = site_ready(ns, "demo").await?;
        (s == "False" && r == "FetchFailed" && m.contains(&env.git.url)).then_some(())
    })
    .await;
    let (_, _, message) = site_ready(ns, "demo").await.expect("condition");
    eprintln!("MEASURED: main deleted: Ready=False FetchFailed: {message}");
    let main2 = force_push(repo, "main", &main_files(tuples));
    wait_revision(ns, &main2.to_string()).await;
    // Nothing was rebuilt by the deletions: the same Jobs, both images Ready.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for image in [&desktop, &server] {
        wait_ready(ns, image, "True", None).await;
    }
    assert_eq!(jobs(ns, &server).await.len(), 1, "server rebuilt");
    assert_eq!(jobs(ns, &desktop).await.len(), 2, "desktop rebuilt");
    assert_eq!(digest_of(ns, &desktop).await, Some(desktop1));
}

/// Every build Job of `ns` by image: (image, inputs digest) → Job names.
async fn jobs_by_inputs(ns: &support::TestNamespace) -> BTreeMap<(String, String), Vec<String>> {
    let lp = ListParams::default().labels(&format!("{}=build", labels::COMPONENT));
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for job in ns.api::<Job>().list(&lp).await.expect("list Jobs").items {
        let image = job.labels().get(labels::IMAGE).cloned().unwrap_or_default();
        let digest = job
            .annotations()
            .get(annotations::INPUTS_DIGEST)
            .cloned()
            .unwrap_or_default();
        out.entry((image, digest)).or_default().push(job.name_any());
    }
    out
}

/// Waits (through outages) until `image` exists and has a build Job; returns how long it took.
async fn image_and_job(ns: &support::TestNamespace, image: &str) -> Duration {
    let started = std::time::Instant::now();
    eventually(
        ns,
        Duration::from_secs(180),
        &format!("GentooImage {image} and its Job"),
        || async {
            ns.api::<GentooImage>().get_opt(image).await.ok()??;
            let lp = ListParams::default().labels(&format!(
                "{}={image},{}=build",
                labels::IMAGE,
                labels::COMPONENT
            ));
            let jobs = ns.api::<Job>().list(&lp).await.ok()?.items;
            (!jobs.is_empty()).then_some(())
        },
    )
    .await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_reconnects_after_apiserver_and_etcd_restarts() {
    let _measuring = support::load::measuring().await;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::api::PostParams;
    // A private control plane: the shared one is never restarted.
    let Some(mut cluster) = support::private::PrivateCluster::start(true).await else {
        return;
    };
    let client = cluster.client().await;
    let name = "zentoo-faults";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .expect("namespace");
    let ns = support::kube::TestNamespace {
        client,
        kubeconfig: cluster.kubeconfig.clone(),
        name: name.into(),
    };
    install_crds(&ns).await;
    let mut tuples = String::from("desktop-none-kde\n");
    let repo = Site::standard(&tuples);
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let installed = install(&ns, Flavour::Namespaced).await;
    let mut controller =
        ControllerProcess::start(&binary(), &installed.kubeconfig, name, cache.path(), &[]);
    create_site(&ns, &site_object("demo", &git.url, "1s")).await;
    let first = image_name("demo", "desktop-none-kde");
    image_and_job(&ns, &first).await;
    eprintln!("private control plane: {:?}", cluster.pids());

    for (round, (server, tuple)) in [
        ("kube-apiserver", "server-nodocs-web"),
        ("etcd", "desktop-nodocs-web"),
    ]
    .into_iter()
    .enumerate()
    {
        let before = jobs_by_inputs(&ns).await;
        // Down long enough for every watch of the controller to fail and back off.
        if round == 0 {
            cluster.kill_apiserver();
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.start_apiserver().await;
        } else {
            cluster.kill_etcd();
            tokio::time::sleep(Duration::from_secs(5)).await;
            cluster.start_etcd();
            cluster.wait_ready(Duration::from_secs(90)).await;
        }
        assert!(
            controller.alive(),
            "the controller exited with {server} down"
        );
        // A tuple added after the restart: its image and Job come, through resumed watches.
        tuples += &format!("{tuple}\n");
        let revision = repo.write("main", "tuples", &tuples);
        let took = image_and_job(&ns, &image_name("demo", tuple)).await;
        site_at(&ns, "demo", &revision.to_string(), "Planned").await;
        eprintln!(
            "MEASURED: {server} restarted (5 s down): ready -> tuple added -> its image and Job in {took:.1?}"
        );
        // Settle, then: every (image, inputs) has exactly one Job; the old ones are the same.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = jobs_by_inputs(&ns).await;
        for (key, names) in &after {
            assert_eq!(
                names.len(),
                1,
                "after the {server} restart, {key:?} has {names:?}"
            );
        }
        for (key, names) in &before {
            assert_eq!(
                after.get(key),
                Some(names),
                "{key:?} changed after the {server} restart"
            );
        }
        assert_eq!(after.len(), before.len() + 1, "{after:#?}");
        assert!(
            controller.alive(),
            "the controller exited after the {server} restart"
        );
        let metrics = controller.scrape().await;
        let errors: f64 = metrics
            .iter()
            .filter(|(k, _)| k.starts_with("zentoo_reconcile_errors_total"))
            .map(|(_, v)| v)
            .sum();
        eprintln!("MEASURED: after the {server} restart: {errors} reconcile errors in all");
    }
    controller.kill();
}
