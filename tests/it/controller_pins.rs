//! Pins against the real control plane: a repo snapshot moved in the site's image defaults
//! rebuilds exactly the images on that default, one moved in an image's spec only that image;
//! the kernel a build publishes lands in the image's status.

use crate::support;

use crate::support::controller::*;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::PostParams;
use std::time::Duration;
use zentoo::api::{GentooImage, GentooSite};
use zentoo::render::names::image_name;

/// The value of `name` in the environment of Job `job`'s init container `step`.
fn step_env(job: &Job, step: &str, name: &str) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    let c = pod
        .init_containers
        .as_ref()?
        .iter()
        .find(|c| c.name == step)?;
    c.env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

/// The command of the pack step (the init container packing the target root) of Job `job`.
fn pack_command(job: &Job) -> Vec<String> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.init_containers.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.name == zentoo::render::job::PACK_CONTAINER)
        })
        .and_then(|c| c.command.clone())
        .unwrap_or_default()
}

/// Plays kubelet for `job`: every step succeeds; publish reports an image and a kernel.
async fn finish_with_kernel(ns: &support::kube::TestNamespace, job: &str, version: &str) {
    let pod = build_pod(ns, job).await;
    let kubelet = ns.kubelet();
    kubelet.run(&pod.name_any()).await;
    let result = serde_json::json!({
        "image": "127.0.0.1:5000/zentoo/pinned:latest",
        "imageDigest": "sha256:0123",
        "kernel": {
            "artifact": "127.0.0.1:5000/zentoo/pinned:latest-kernel@sha256:4567",
            "version": version,
            "digest": "sha256:89ab",
        },
        "compiled": 5,
        "binpkgHits": 0,
    });
    kubelet
        .set_pod_terminated(&pod.name_any(), "publish", 0, &result.to_string())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_pin_rebuilds_exactly_the_images_on_it_and_the_kernel_is_in_status() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(
        &kube,
        "ctl-pins",
        "desktop-none-kde\nserver-none-kde\n",
        "1s",
    )
    .await;
    let ns = &env.ns;
    let site_images: Vec<String> = ["desktop-none-kde", "server-none-kde"]
        .iter()
        .map(|t| image_name("demo", t))
        .collect();
    // An image of its own, pinned to another snapshot, with a kernel.
    let pinned: GentooImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "metadata": {"name": "pinned"},
        "spec": {
            "siteRef": {"name": "demo"},
            "portage": "desktop",
            "set": "kde",
            "repoSnapshot": "20261201",
            "kernel": {"package": "sys-kernel/gentoo-kernel", "config": "kernel/config"},
            "variant": "dbg",
            "tmpfs": {"size": "2Gi"},
        },
    }))
    .expect("image object");
    ns.api::<GentooImage>()
        .create(&PostParams::default(), &pinned)
        .await
        .expect("create pinned image");

    for image in &site_images {
        let job = wait_jobs(ns, image, 1).await.remove(0);
        assert_eq!(
            step_env(&job, "build", "ZENTOO_REPO_SNAPSHOT").as_deref(),
            Some("latest")
        );
        assert!(!pack_command(&job).contains(&"--kernel".to_string()));
        finish_build(ns, &job.name_any(), "sha256:01").await;
    }
    let job = wait_jobs(ns, "pinned", 1).await.remove(0);
    assert_eq!(
        step_env(&job, "build", "ZENTOO_REPO_SNAPSHOT").as_deref(),
        Some("20261201")
    );
    assert_eq!(
        step_env(&job, "build", "ZENTOO_KERNEL").as_deref(),
        Some("sys-kernel/gentoo-kernel")
    );
    assert_eq!(
        step_env(&job, "assemble", "ZENTOO_KERNEL_CONFIG").as_deref(),
        Some("kernel/config")
    );
    assert_eq!(
        step_env(&job, "build", "ZENTOO_FEATURES").as_deref(),
        Some("splitdebug")
    );
    assert!(
        step_env(&job, "build", "ZENTOO_CFLAGS").is_some_and(|f| f.ends_with("-Og -g")),
        "dbg flags"
    );
    assert!(pack_command(&job).contains(&"--kernel".to_string()));
    let pod = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod spec");
    let tmp = pod
        .volumes
        .iter()
        .flatten()
        .find_map(|v| {
            v.empty_dir
                .as_ref()
                .filter(|e| e.medium.as_deref() == Some("Memory"))
        })
        .expect("a memory-backed emptyDir");
    assert_eq!(tmp.size_limit.as_ref().map(|q| q.0.as_str()), Some("2Gi"));
    finish_with_kernel(ns, &job.name_any(), "6.6.62-gentoo-dist").await;
    let done = wait_ready(ns, "pinned", "True", None).await;
    let kernel = done
        .status
        .and_then(|s| s.last_successful_build)
        .and_then(|b| b.kernel)
        .expect("kernel in status");
    assert_eq!(kernel.version, "6.6.62-gentoo-dist");
    assert_eq!(kernel.digest, "sha256:89ab");
    assert_eq!(
        kernel.artifact.as_deref(),
        Some("127.0.0.1:5000/zentoo/pinned:latest-kernel@sha256:4567")
    );
    for image in &site_images {
        wait_ready(ns, image, "True", None).await;
    }

    // The site's default snapshot moves: its two images rebuild, the pinned one does not.
    merge(
        &ns.api::<GentooSite>(),
        "demo",
        serde_json::json!({"spec": {"imageDefaults": {"repoSnapshot": "20261101"}}}),
    )
    .await;
    for image in &site_images {
        let job = wait_jobs(ns, image, 2).await.remove(1);
        assert_eq!(
            step_env(&job, "build", "ZENTOO_REPO_SNAPSHOT").as_deref(),
            Some("20261101")
        );
        finish_build(ns, &job.name_any(), "sha256:02").await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        jobs(ns, "pinned").await.len(),
        1,
        "the pinned image rebuilt"
    );

    // The pin of the image moves: only it rebuilds.
    merge(
        &ns.api::<GentooImage>(),
        "pinned",
        serde_json::json!({"spec": {"repoSnapshot": "20261215"}}),
    )
    .await;
    let job = wait_jobs(ns, "pinned", 2).await.remove(1);
    assert_eq!(
        step_env(&job, "build", "ZENTOO_REPO_SNAPSHOT").as_deref(),
        Some("20261215")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    for image in &site_images {
        assert_eq!(
            jobs(ns, image).await.len(),
            2,
            "{image} rebuilt for another pin"
        );
    }

    // A pin that is no snapshot stops only that image, naming the field.
    merge(
        &ns.api::<GentooImage>(),
        "pinned",
        serde_json::json!({"spec": {"repoSnapshot": "2026-12-15"}}),
    )
    .await;
    let stalled = eventually(
        ns,
        Duration::from_secs(60),
        "the bad pin in Ready",
        || async {
            let img = ns.api::<GentooImage>().get("pinned").await.ok()?;
            let (status, _, message) = condition(&img, "Ready")?;
            (status == "False" && message.contains("repoSnapshot")).then_some(message)
        },
    )
    .await;
    assert!(stalled.contains("YYYYMMDD"), "{stalled}");
}
