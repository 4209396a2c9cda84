//! The controller against the real control plane (tests/cluster/up): a site served by
//! `git daemon` becomes GentooImages, Jobs, and — once the test plays kubelet — published
//! digests in status.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use std::time::{Duration, Instant};
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_becomes_images_jobs_and_published_digests() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-build").await;
    install_crds(&ns).await;
    let repo = Site::standard("# two systems\ndesktop-none-kde\nserver-nodocs-web\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start(&ns, &cache).await;

    let started = Instant::now();
    create_site(&ns, &site_object("demo", &git.url, "1m")).await;
    let names = [
        image_name("demo", "desktop-none-kde"),
        image_name("demo", "server-nodocs-web"),
    ];
    let mut job_names = Vec::new();
    for image in &names {
        let job = eventually(&ns, T, &format!("a Job for {image}"), || async {
            jobs(&ns, image).await.into_iter().next()
        })
        .await;
        job_names.push(kube::ResourceExt::name_any(&job));
    }
    eprintln!(
        "MEASURED: site apply -> {} Jobs created in {:?}",
        job_names.len(),
        started.elapsed()
    );
    let found: Vec<String> = images(&ns, "demo")
        .await
        .iter()
        .map(kube::ResourceExt::name_any)
        .collect();
    assert_eq!(found, names.to_vec(), "one GentooImage per tuple");

    for (i, job) in job_names.iter().enumerate() {
        finish_build(&ns, job, &format!("sha256:{i:064}")).await;
    }
    let finished = Instant::now();
    for (i, image) in names.iter().enumerate() {
        let api = ns.api::<zentoo::api::GentooImage>();
        let done = eventually(&ns, T, &format!("{image} Ready=True"), || async {
            let img = api.get(image).await.ok()?;
            let ready = condition(&img, "Ready")?;
            (ready.0 == "True").then_some(img)
        })
        .await;
        let status = done.status.expect("status");
        let last = status.last_successful_build.expect("lastSuccessfulBuild");
        assert_eq!(
            last.image_digest.as_deref(),
            Some(format!("sha256:{i:064}").as_str())
        );
        assert_eq!(last.name, job_names[i]);
        assert_eq!(Some(last.inputs_digest.clone()), status.inputs_digest);
        assert_eq!(last.compiled, Some(3));
        assert!(status.current_build.is_none());
        assert_eq!(jobs(&ns, image).await.len(), 1, "no second build");
    }
    eprintln!(
        "MEASURED: publish terminated -> both images Ready in {:?}",
        finished.elapsed()
    );
}
