//! Drift and the knobs of builds, against the real control plane: a commit rebuilds exactly
//! the images that consume what it changed; suspend, the rebuild annotation, failed steps.

use crate::support;

use crate::support::controller::*;
use kube::ResourceExt;
use std::time::{Duration, Instant};
use zentoo::api::GentooImage;
use zentoo::render::names::image_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_rebuilds_exactly_the_images_that_consume_it() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let tuples = "desktop-none-kde\nserver-nodocs-web\nserver-none-kde\n";
    let env = setup(&kube, "ctl-drift", tuples, "1s").await;
    let ns = &env.ns;
    let names: Vec<String> = ["desktop-none-kde", "server-nodocs-web", "server-none-kde"]
        .iter()
        .map(|t| image_name("demo", t))
        .collect();
    for (i, image) in names.iter().enumerate() {
        let job = wait_jobs(ns, image, 1).await.remove(0);
        finish_build(ns, &job.name_any(), &format!("sha256:{i:064}")).await;
    }
    for image in &names {
        wait_ready(ns, image, "True", None).await;
    }

    // Only desktop-none-kde consumes portage/desktop.
    let pushed = Instant::now();
    env.repo
        .write("portage/desktop", "make.conf", "USE=\"X wayland\"\n");
    let new = wait_jobs(ns, &names[0], 2).await;
    eprintln!(
        "MEASURED: commit -> new Job in {:?} (poll interval 1s)",
        pushed.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(jobs(ns, &names[0]).await.len(), 2);
    assert_eq!(
        jobs(ns, &names[1]).await.len(),
        1,
        "server-nodocs-web rebuilt"
    );
    assert_eq!(
        jobs(ns, &names[2]).await.len(),
        1,
        "server-none-kde rebuilt"
    );
    finish_build(ns, &new[1].name_any(), "sha256:feed").await;
    wait_ready(ns, &names[0], "True", None).await;

    // A commit that no image consumes: a README and a portage branch no tuple names.
    env.repo.write("portage/unused", "make.conf", "USE=\"\"\n");
    env.repo.write("main", "README", "hello\n");
    let head = env.repo.write("main", "NOTES", "nothing\n");
    // The site's revision is its tracked branch's commit.
    wait_revision(ns, &head.to_string()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (image, n) in names.iter().zip([2, 1, 1]) {
        assert_eq!(
            jobs(ns, image).await.len(),
            n,
            "{image} rebuilt for nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_holds_builds_and_the_rebuild_annotation_makes_one() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-suspend", "desktop-none-kde\n", "1s").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let api = ns.api::<GentooImage>();
    let first = wait_jobs(ns, &image, 1).await.remove(0);
    finish_build(ns, &first.name_any(), "sha256:01").await;
    let built = wait_ready(ns, &image, "True", None).await;
    let old_digest = built.status.and_then(|s| s.inputs_digest);

    merge(&api, &image, serde_json::json!({"spec": {"suspend": true}})).await;
    wait_ready(ns, &image, "False", Some("Suspended")).await;
    env.repo
        .write("portage/desktop", "make.conf", "USE=\"X -gnome\"\n");
    eventually(
        ns,
        Duration::from_secs(60),
        "the new inputs digest in status",
        || async {
            let img = api.get(&image).await.ok()?;
            let digest = img.status?.inputs_digest;
            (digest.is_some() && digest != old_digest).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(jobs(ns, &image).await.len(), 1, "a suspended image built");

    merge(
        &api,
        &image,
        serde_json::json!({"spec": {"suspend": false}}),
    )
    .await;
    let second = wait_jobs(ns, &image, 2).await.remove(1);
    finish_build(ns, &second.name_any(), "sha256:02").await;
    wait_ready(ns, &image, "True", None).await;

    let annotation = zentoo::api::annotations::REBUILD_REQUESTED_AT;
    merge(
        &api,
        &image,
        serde_json::json!({"metadata": {"annotations": {annotation: "2026-11-24T15:00:00Z"}}}),
    )
    .await;
    let third = wait_jobs(ns, &image, 3).await.remove(2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(jobs(ns, &image).await.len(), 3, "one rebuild per request");
    finish_build(ns, &third.name_any(), "sha256:03").await;
    let done = wait_ready(ns, &image, "True", None).await;
    let status = done.status.expect("status");
    assert_eq!(
        status.last_handled_rebuild.as_deref(),
        Some("2026-11-24T15:00:00Z")
    );
    assert_eq!(
        status
            .last_successful_build
            .and_then(|b| b.image_digest)
            .as_deref(),
        Some("sha256:03")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        jobs(ns, &image).await.len(),
        3,
        "the handled request built again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_named_in_ready_with_its_last_lines() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-fail", "desktop-none-kde\n", "1m").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(ns, &image, 1).await.remove(0);
    // As a terminal got it: colours, a title, a progress line redrawn with CR, CRLF ends.
    let log = "\x1b]0;emerge\x07\x1b[1;31m!!!\x1b[0m no ebuilds to satisfy \"kde-plasma/plasma-meta\"\r\n\
               fetching  10%\rfetching 100%\x1b[K\n!!! build failed\x07\r\n";
    fail_build(ns, &job.name_any(), "build", log).await;
    let failed = wait_ready(ns, &image, "False", Some("BuildFailed")).await;
    let (_, _, message) = condition(&failed, "Ready").expect("Ready");
    assert!(message.starts_with("step build failed"), "{message}");
    assert!(
        message.ends_with(
            "exit code 2:\n!!! no ebuilds to satisfy \"kde-plasma/plasma-meta\"\n\
             fetching 100%\n!!! build failed"
        ),
        "{message:?}"
    );
    let stalled = condition(&failed, "Stalled").expect("Stalled");
    assert_eq!(stalled.1, "BuildFailed");
    assert!(
        !stalled.2.chars().any(|c| c.is_control() && c != '\n'),
        "{:?}",
        stalled.2
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        jobs(ns, &image).await.len(),
        1,
        "a failed build is not retried by itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_inputs_supersede_a_running_build() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-supersede", "desktop-none-kde\n", "1s").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let old = wait_jobs(ns, &image, 1).await.remove(0);
    let pod = build_pod(ns, &old.name_any()).await;
    ns.kubelet().run(&pod.name_any()).await;

    env.repo
        .write("portage/desktop", "make.conf", "USE=\"X -kde\"\n");
    let jobs_api = ns.api::<k8s_openapi::api::batch::v1::Job>();
    support::kube::wait_deleted(&jobs_api, &old.name_any(), Duration::from_secs(60)).await;
    let new = wait_jobs(ns, &image, 1).await.remove(0);
    assert_ne!(new.name_any(), old.name_any());
    let api = ns.api::<GentooImage>();
    let record = eventually(
        ns,
        Duration::from_secs(30),
        "the superseded build in history",
        || async {
            let status = api.get(&image).await.ok()?.status?;
            status
                .history
                .into_iter()
                .find(|h| h.name == old.name_any())
        },
    )
    .await;
    assert_eq!(record.result, zentoo::api::image::Ending::Superseded);
    finish_build(ns, &new.name_any(), "sha256:05").await;
    wait_ready(ns, &image, "True", None).await;
    assert_eq!(jobs(ns, &image).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_and_finished_jobs_are_bounded_by_history_limit() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-history", "desktop-none-kde\n", "1m").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let api = ns.api::<GentooImage>();
    wait_jobs(ns, &image, 1).await;
    merge(
        &api,
        &image,
        serde_json::json!({"spec": {"historyLimit": 2}}),
    )
    .await;
    let annotation = zentoo::api::annotations::REBUILD_REQUESTED_AT;

    let mut built = Vec::new();
    for round in 1..=3usize {
        if round > 1 {
            let at = format!("2026-11-24T16:0{round}:00Z");
            merge(
                &api,
                &image,
                serde_json::json!({"metadata": {"annotations": {annotation: at}}}),
            )
            .await;
        }
        // Finished Jobs beyond the limit go only once a newer build finished: while the
        // third runs, both earlier ones are still there.
        let job = wait_jobs(ns, &image, round).await.remove(round - 1);
        finish_build(ns, &job.name_any(), &format!("sha256:{round:064}")).await;
        built.push(job.name_any());
        eventually(
            ns,
            Duration::from_secs(60),
            "the build in history",
            || async {
                let status = api.get(&image).await.ok()?.status?;
                status
                    .history
                    .iter()
                    .any(|h| h.name == job.name_any())
                    .then_some(())
            },
        )
        .await;
    }

    let jobs_api = ns.api::<k8s_openapi::api::batch::v1::Job>();
    support::kube::wait_deleted(&jobs_api, &built[0], Duration::from_secs(60)).await;
    let left: Vec<String> = jobs(ns, &image)
        .await
        .iter()
        .map(|j| j.name_any())
        .collect();
    assert_eq!(
        left,
        built[1..].to_vec(),
        "the oldest finished Job is pruned"
    );
    let status = api
        .get(&image)
        .await
        .expect("image")
        .status
        .expect("status");
    let history: Vec<&str> = status.history.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        history,
        vec![built[2].as_str(), built[1].as_str()],
        "newest first, two kept"
    );
    assert_eq!(
        status.last_successful_build.map(|b| b.name),
        Some(built[2].clone())
    );
}
