//! The webhook receiver against the real control plane: a signed push after a commit to one
//! portage branch rebuilds exactly the images that consume it; every bad request is refused
//! with its status and starts nothing.

use crate::support;

use crate::support::controller::hooks::*;
use crate::support::controller::*;
use kube::ResourceExt;
use std::time::{Duration, Instant};
use zentoo::api::GentooSite;
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

/// Asserts for `quiet` that the images keep exactly the given numbers of build Jobs.
async fn assert_jobs_stay(env: &Env, counts: &[(&str, usize)], quiet: Duration, after: &str) {
    let until = Instant::now() + quiet;
    while Instant::now() < until {
        for (image, n) in counts {
            let found = jobs(&env.ns, image).await.len();
            assert_eq!(found, *n, "{image} has {found} Jobs after {after}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_rebuilds_exactly_the_affected_images_and_bad_requests_start_nothing() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    // Polled hourly: only the webhook can make it fetch within the test.
    let (env, addr) = setup_hooked(
        &kube,
        "webhook",
        "desktop-none-kde\nserver-nodocs-web\n",
        "1h",
        |s| s.debounce = Duration::ZERO,
    )
    .await;
    let ns = &env.ns;
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    for image in [&desktop, &server] {
        let job = wait_jobs(ns, image, 1).await.remove(0);
        finish_build(ns, &job.name_any(), "sha256:aa").await;
        wait_ready(ns, image, "True", None).await;
    }
    let hook = format!("/hooks/{}/demo", ns.name);
    // Let the site settle past its fetch gap, then change what only desktop consumes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.repo
        .write("portage/desktop", "make.conf", "USE=\"X wayland\"\n");
    let body = push_body("refs/heads/portage/desktop");

    // Refused, each with its status.
    let bad = [
        (
            "wrong signature",
            post(
                addr,
                &hook,
                &github("push", "d-1", "not-the-secret", &body),
                body.clone(),
            )
            .await,
            401,
        ),
        (
            "missing signature header",
            post(
                addr,
                &hook,
                &[("X-GitHub-Delivery", "d-2".into())],
                body.clone(),
            )
            .await,
            401,
        ),
        (
            "no headers",
            post(addr, &hook, &[], body.clone()).await,
            401,
        ),
        (
            "unknown site",
            post(
                addr,
                &format!("/hooks/{}/nosuchsite", ns.name),
                &github("push", "d-3", SECRET, &body),
                body.clone(),
            )
            .await,
            404,
        ),
        (
            "another namespace",
            post(
                addr,
                "/hooks/default/demo",
                &github("push", "d-4", SECRET, &body),
                body.clone(),
            )
            .await,
            404,
        ),
    ];
    let big = vec![b' '; 2 << 20];
    let big_headers = github("push", "d-5", SECRET, &big);
    let truncated = body[..body.len() - 7].to_vec();
    let bad = bad.into_iter().chain([
        (
            "2 MiB body",
            post(addr, &hook, &big_headers, big.clone()).await,
            413,
        ),
        (
            "2 MiB chunked body",
            post_with(addr, &hook, &big_headers, big, true).await,
            413,
        ),
        (
            "truncated JSON",
            post(
                addr,
                &hook,
                &github("push", "d-6", SECRET, &truncated),
                truncated,
            )
            .await,
            400,
        ),
    ]);
    for (what, got, want) in bad {
        assert_eq!(got, want, "{what}");
    }
    // Accepted but starting nothing.
    let ping = br#"{"zen":"Design for failure.","hook_id":7}"#.to_vec();
    assert_eq!(
        post(addr, &hook, &github("ping", "d-7", SECRET, &ping), ping).await,
        200,
        "ping"
    );
    let other = push_body("refs/heads/feature/x");
    assert_eq!(
        post(addr, &hook, &github("push", "d-8", SECRET, &other), other).await,
        202,
        "push to an untracked branch"
    );
    assert_jobs_stay(
        &env,
        &[(&desktop, 1), (&server, 1)],
        Duration::from_secs(3),
        "refused requests",
    )
    .await;

    // The good push: desktop rebuilds, server does not.
    let sent = Instant::now();
    let good = github("push", "d-good", SECRET, &body);
    assert_eq!(
        post(addr, &hook, &good, body.clone()).await,
        202,
        "good push"
    );
    let rebuilt = wait_jobs(ns, &desktop, 2).await;
    eprintln!("MEASURED: webhook -> new build Job in {:?}", sent.elapsed());
    assert_ne!(rebuilt[0].name_any(), rebuilt[1].name_any());

    // The same delivery again is a replay.
    assert_eq!(post(addr, &hook, &good, body.clone()).await, 409, "replay");
    assert_jobs_stay(
        &env,
        &[(&desktop, 2), (&server, 1)],
        Duration::from_secs(3),
        "the push and its replay",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_pushes_in_ten_seconds_coalesce_and_never_run_two_builds_of_one_image() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let (env, addr) = setup_hooked(
        &kube,
        "webhook-storm",
        "desktop-none-kde\nserver-nodocs-web\n",
        "1h",
        |_| {},
    )
    .await;
    let ns = &env.ns;
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    for image in [&desktop, &server] {
        let job = wait_jobs(ns, image, 1).await.remove(0);
        finish_build(ns, &job.name_any(), "sha256:aa").await;
        wait_ready(ns, image, "True", None).await;
    }
    // The controller's window is 5 s; the site's 3 s wins.
    let window = Duration::from_secs(3);
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"source": {"debounce": "3s"}}}),
    )
    .await;
    let hook = format!("/hooks/{}/demo", ns.name);
    let monitor = BuildMonitor::start(ns).await;
    tokio::time::sleep(window).await;

    // 20 commits to portage/desktop, each followed by its signed push, over about 10 s.
    let started = Instant::now();
    for i in 0..20 {
        let commit = env
            .repo
            .write("portage/desktop", "make.conf", &format!("USE=\"X v{i}\"\n"));
        let body = push_of("refs/heads/portage/desktop", commit);
        let headers = github("push", &format!("storm-{i}"), SECRET, &body);
        assert_eq!(
            post(addr, &hook, &headers, body.clone()).await,
            202,
            "push {i}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let storm = started.elapsed();
    let last = expected_digest(&env, "desktop-none-kde").await;

    // The build of the last push's inputs starts (after the trailing fetch, and once the
    // superseded build's pod is gone: KWOK takes up to its 30 s grace period) and succeeds.
    let api = ns.api::<zentoo::api::GentooImage>();
    let job = eventually(
        ns,
        2 * T,
        "a running build of the last push's inputs",
        || async {
            let status = api.get(&desktop).await.ok()?.status?;
            let current = status.current_build?;
            (current.inputs_digest == last).then_some(current.name)
        },
    )
    .await;
    let job_object = wait_jobs(ns, &desktop, 2)
        .await
        .into_iter()
        .find(|j| j.name_any() == job)
        .expect("the last build's Job");
    assert_eq!(
        job_object
            .annotations()
            .get(zentoo::api::annotations::INPUTS_DIGEST),
        Some(&last)
    );
    finish_build(ns, &job, "sha256:bb").await;
    let done = wait_ready(ns, &desktop, "True", None).await;
    let built = done
        .status
        .and_then(|s| s.last_successful_build)
        .expect("a successful build");
    assert_eq!(
        built.inputs_digest, last,
        "the final image is not the last push's"
    );
    assert_eq!(built.image_digest.as_deref(), Some("sha256:bb"));

    let seen = monitor.seen();
    drop(monitor);
    assert_eq!(
        seen.max_jobs.get(desktop.as_str()).copied(),
        Some(1),
        "{desktop}: builds at once {seen:#?}"
    );
    for image in [&desktop, &server] {
        assert!(
            seen.max_jobs.get(image.as_str()).copied().unwrap_or(0) <= 1,
            "{image}: builds at once {seen:#?}"
        );
        assert!(
            seen.max_pods.get(image.as_str()).copied().unwrap_or(0) <= 1,
            "{image}: build pods at once {seen:#?}"
        );
    }
    let builds: Vec<&(String, String, String)> = seen
        .created
        .iter()
        .filter(|(_, image, _)| *image == desktop)
        .skip(1)
        .collect();
    let bound = (storm.as_secs_f64() / window.as_secs_f64()).floor() as usize + 2;
    eprintln!(
        "MEASURED: 20 pushes over {storm:?} -> {} desktop builds (at most {bound} with a {window:?} window)",
        builds.len()
    );
    assert!(
        !builds.is_empty() && builds.len() <= bound,
        "{} builds for 20 pushes over {storm:?}: {builds:#?}",
        builds.len()
    );
    assert_eq!(
        seen.created.iter().filter(|(_, i, _)| *i == server).count(),
        1,
        "server-nodocs-web consumes nothing that changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_prefixes_written_as_full_refs_are_followed_by_pushes() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let (env, addr) = setup_hooked(&kube, "webhook-refs", "desktop-none-kde\n", "1h", |s| {
        s.debounce = Duration::ZERO
    })
    .await;
    let ns = &env.ns;
    // The prefixes as full refs: planning has always read them as `portage/`, `buildhooks/`;
    // fetch decisions and the webhook must too.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"branches": {
            "portage": "refs/heads/portage/",
            "buildhooks": "refs/heads/buildhooks",
        }}}),
    )
    .await;
    let desktop = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(ns, &desktop, 1).await.remove(0);
    finish_build(ns, &job.name_any(), "sha256:aa").await;
    wait_ready(ns, &desktop, "True", None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let commit = env
        .repo
        .write("portage/desktop", "make.conf", "USE=\"X refs\"\n");
    let body = push_of("refs/heads/portage/desktop", commit);
    let hook = format!("/hooks/{}/demo", ns.name);
    assert_eq!(
        post(addr, &hook, &github("push", "refs-1", SECRET, &body), body).await,
        202
    );
    let expected = expected_digest(&env, "desktop-none-kde").await;
    let rebuilt = wait_jobs(ns, &desktop, 2).await;
    assert_eq!(
        rebuilt[1]
            .annotations()
            .get(zentoo::api::annotations::INPUTS_DIGEST),
        Some(&expected),
        "the push to portage/desktop was not fetched"
    );
}
