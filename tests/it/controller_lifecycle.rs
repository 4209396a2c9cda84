//! Lifecycle against the real control plane: tuples that leave or break, a controller that
//! restarts mid-build, builds for a minority arch.

use crate::support;
use crate::support::site;

use crate::support::controller::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use std::time::{Duration, Instant};
use support::kube::wait_deleted;
use zentoo::api::{GentooImage, GentooSite};
use zentoo::render::names::image_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_tuple_takes_its_image_and_jobs_and_a_bad_one_is_reported() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(
        &kube,
        "ctl-prune",
        "desktop-none-kde\nserver-nodocs-web\n",
        "1s",
    )
    .await;
    let ns = &env.ns;
    let desktop = image_name("demo", "desktop-none-kde");
    let server = image_name("demo", "server-nodocs-web");
    let kept = wait_jobs(ns, &desktop, 1).await.remove(0);
    let gone = wait_jobs(ns, &server, 1).await.remove(0);
    let gone_pod = build_pod(ns, &gone.name_any()).await;

    // server-nodocs-web leaves; line 3 names a portage branch that does not exist.
    env.repo.write(
        "main",
        "tuples",
        "desktop-none-kde\n# gone: server-nodocs-web\nbogus-none-kde\n",
    );
    let removed = Instant::now();
    wait_deleted(&ns.api::<GentooImage>(), &server, Duration::from_secs(60)).await;
    let image_gone = removed.elapsed();
    wait_deleted(&ns.api::<Job>(), &gone.name_any(), Duration::from_secs(60)).await;
    wait_deleted(
        &ns.api::<Pod>(),
        &gone_pod.name_any(),
        Duration::from_secs(60),
    )
    .await;
    eprintln!(
        "MEASURED: tuple removed -> image gone in {image_gone:?}, Job and pod in {:?}",
        removed.elapsed()
    );

    let sites = ns.api::<GentooSite>();
    let site = eventually(
        ns,
        Duration::from_secs(30),
        "the bad tuple in site status",
        || async {
            let site = sites.get("demo").await.ok()?;
            (!site.status.as_ref()?.errors.is_empty()).then_some(site)
        },
    )
    .await;
    let status = site.status.expect("status");
    let error = &status.errors[0];
    assert_eq!(
        (error.file.as_str(), error.line),
        ("tuples", Some(3)),
        "{error:?}"
    );
    assert!(error.message.contains("bogus"), "{error:?}");
    assert_eq!(status.tuples, Some(1));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "TupleErrors")
    );
    assert!(ready.message.contains("tuples:3"), "{}", ready.message);

    // The good tuple is unaffected: same Job, and it still finishes.
    assert_eq!(jobs(ns, &desktop).await.len(), 1);
    finish_build(ns, &kept.name_any(), "sha256:aa").await;
    wait_ready(ns, &desktop, "True", None).await;
    let names: Vec<String> = images(ns, "demo")
        .await
        .iter()
        .map(|i| i.name_any())
        .collect();
    assert_eq!(names, vec![desktop]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_past_the_controllers_image_limit_makes_only_what_fits() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-limits").await;
    install_crds(&ns).await;
    let repo = site::Site::standard("desktop-none-kde\nserver-nodocs-web\ndesktop-nodocs-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start_configured(&ns, &cache, |s| s.limits.images = 2).await;
    create_site(&ns, &site_object("demo", &git.url, "1m")).await;
    let sites = ns.api::<GentooSite>();
    let status = eventually(&ns, Duration::from_secs(30), "the site planned", || async {
        let status = sites.get("demo").await.ok()?.status?;
        status.tuples.is_some().then_some(status)
    })
    .await;
    assert_eq!(status.tuples, Some(2));
    let errors: Vec<String> = status.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        ["tuples:3: tuple: the site makes 2 images already (the limit): this one is not made"]
    );
    let first_two = [
        image_name("demo", "desktop-none-kde"),
        image_name("demo", "server-nodocs-web"),
    ];
    for image in &first_two {
        wait_jobs(&ns, image, 1).await;
    }
    let mut names: Vec<String> = images(&ns, "demo")
        .await
        .iter()
        .map(|i| i.name_any())
        .collect();
    names.sort();
    let mut want = first_two.to_vec();
    want.sort();
    assert_eq!(names, want, "no image of the tuple past the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_adopts_the_running_build() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let mut env = setup(&kube, "ctl-restart", "desktop-none-kde\n", "1s").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    let job = wait_jobs(ns, &image, 1).await.remove(0);
    let pod = build_pod(ns, &job.name_any()).await;
    ns.kubelet().run(&pod.name_any()).await;

    // Killed mid-build, then started again with the same cache.
    env.controller.take().expect("controller").kill().await;
    let restarted = Instant::now();
    env.controller = Some(Controller::start(ns, &env.cache).await);
    let api = ns.api::<GentooImage>();
    eventually(
        ns,
        Duration::from_secs(30),
        "the restarted controller to see the build run",
        || async {
            let img = api.get(&image).await.ok()?;
            let current = img.status?.current_build?;
            (current.name == job.name_any()
                && current.phase == zentoo::api::image::PodPhase::Running)
                .then_some(())
        },
    )
    .await;
    eprintln!(
        "MEASURED: restart -> running build adopted in {:?}",
        restarted.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        jobs(ns, &image).await.len(),
        1,
        "the restart duplicated the build"
    );

    finish_build(ns, &job.name_any(), "sha256:bb").await;
    let done = wait_ready(ns, &image, "True", None).await;
    let last = done
        .status
        .and_then(|s| s.last_successful_build)
        .expect("last build");
    assert_eq!(last.name, job.name_any());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arm64_build_lands_only_on_arm64_nodes() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-arm64", "a72-server-none-web\n", "1m").await;
    let ns = &env.ns;
    let image = image_name("demo", "a72-server-none-web");
    let job = wait_jobs(ns, &image, 1).await.remove(0);
    let pods = ns.api::<Pod>();
    let pod = build_pod(ns, &job.name_any()).await;
    let scheduled = eventually(
        ns,
        Duration::from_secs(30),
        "the build pod scheduled",
        || async {
            let p = pods.get(&pod.name_any()).await.ok()?;
            p.spec.as_ref()?.node_name.clone()
        },
    )
    .await;
    assert!(
        scheduled.starts_with("zt-arm64-"),
        "scheduled to {scheduled}"
    );
    let spec = pods
        .get(&pod.name_any())
        .await
        .expect("pod")
        .spec
        .expect("spec");
    assert_eq!(
        spec.node_selector
            .unwrap_or_default()
            .get("kubernetes.io/arch")
            .map(String::as_str),
        Some("arm64")
    );
    assert!(spec.tolerations.unwrap_or_default().iter().any(|t| {
        t.key.as_deref() == Some("kubernetes.io/arch") && t.value.as_deref() == Some("arm64")
    }));
}
