//! The periodic gc task against the real control plane: each site gets a `zentoo gc` Job on
//! its binpkgs and distfiles claims, never two at once; the Job's command, run as it is
//! rendered (its mount paths mapped to local directories), removes what no kept build used.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::ListParams;
use std::process::Command;
use std::time::Duration;
use zentoo::api::labels;
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

async fn gc_jobs(ns: &support::TestNamespace) -> Vec<Job> {
    let selector = format!("{}=demo,{}=gc", labels::SITE, labels::COMPONENT);
    let mut jobs = ns
        .api::<Job>()
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("list gc jobs")
        .items;
    jobs.sort_by_key(|j| j.creation_timestamp().map(|t| t.0));
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_site_gets_one_gc_job_at_a_time_that_cleans_its_volumes() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-gc").await;
    install_crds(&ns).await;
    let repo = Site::standard("desktop-none-kde\nserver-nodocs-web\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start_configured(&ns, &cache, |s| {
        s.gc_interval = Some(Duration::from_secs(1));
        s.gc_keep = 2;
    })
    .await;
    create_site(&ns, &site_object("demo", &git.url, "1m")).await;
    for tuple in ["desktop-none-kde", "server-nodocs-web"] {
        let image = image_name("demo", tuple);
        eventually(&ns, T, &format!("image {image}"), || async {
            images(&ns, "demo")
                .await
                .into_iter()
                .find(|i| i.name_any() == image)
        })
        .await;
    }

    let job = eventually(&ns, T, "a gc Job for site demo", || async {
        gc_jobs(&ns).await.into_iter().next()
    })
    .await;
    let pod_spec = job
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let command = pod_spec.containers[0].command.clone().expect("command");
    assert_eq!(
        command.join(" "),
        "zentoo gc --binpkgs /var/cache/binpkgs --distfiles /var/cache/distfiles --keep 2 \
         --image desktop-none-kde --image server-nodocs-web"
    );
    let claims: Vec<String> = pod_spec
        .volumes
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect();
    assert_eq!(claims, ["demo-binpkgs", "demo-distfiles"]);
    assert_eq!(job.owner_references()[0].kind, "GentooSite");

    // While it runs (its pod is left to us), no second one starts.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(gc_jobs(&ns).await.len(), 1, "one gc Job at a time");
    let pod = eventually(&ns, T, "the gc pod", || async {
        ns.api::<k8s_openapi::api::core::v1::Pod>()
            .list(&ListParams::default().labels(&format!("job-name={}", job.name_any())))
            .await
            .ok()
            .and_then(|l| l.items.into_iter().next())
    })
    .await;
    let kubelet = ns.kubelet();
    kubelet.run(&pod.name_any()).await;
    kubelet
        .set_pod_terminated(&pod.name_any(), "gc", 0, "")
        .await;
    let jobs = eventually(
        &ns,
        T,
        "the next gc Job after the first finished",
        || async {
            let jobs = gc_jobs(&ns).await;
            (jobs.len() == 2).then_some(jobs)
        },
    )
    .await;
    assert_ne!(jobs[0].name_any(), jobs[1].name_any());

    // The rendered command, run with its mounts mapped to directories, does the cleanup.
    let dir = tempfile::TempDir::new().expect("tmp");
    let (binpkgs, distfiles) = (dir.path().join("binpkgs"), dir.path().join("distfiles"));
    let pkgdir = binpkgs.join("chost/id");
    for d in [pkgdir.join("a/x"), pkgdir.join("a/y"), distfiles.clone()] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(
        pkgdir.join("Packages"),
        "CHOST: chost\nPACKAGES: 2\nTIMESTAMP: 1\nVERSION: 0\n\nCPV: a/x-1\nBUILD_ID: 1\nPATH: a/x/x-1-1.gpkg.tar\n\nCPV: a/y-1\nBUILD_ID: 1\nPATH: a/y/y-1-1.gpkg.tar\n\n",
    )
    .expect("index");
    std::fs::write(pkgdir.join("a/x/x-1-1.gpkg.tar"), "x").expect("x");
    std::fs::write(pkgdir.join("a/y/y-1-1.gpkg.tar"), "y").expect("y");
    let record = |image: &str, path: &str| {
        let d = binpkgs.join(".zentoo/builds").join(image);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(
            d.join("b1.json"),
            format!(r#"{{"version":1,"image":"{image}","build":"b1","status":"built","pkgdir":"chost/id","started":1,"finished":2,"binpkgs":[{{"cpv":"a/x-1","buildId":1,"path":"{path}","role":"used"}}],"distfiles":[]}}"#),
        )
        .expect("record");
    };
    // Made two hours ago (gc never removes what is younger than its grace period).
    let touched = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(pkgdir.join("a/x/x-1-1.gpkg.tar"))
        .arg(pkgdir.join("a/y/y-1-1.gpkg.tar"))
        .status()
        .expect("touch");
    assert!(touched.success());
    record("server-nodocs-web", "a/y/y-1-1.gpkg.tar");
    record("removed-tuple", "a/x/x-1-1.gpkg.tar");
    let args: Vec<String> = command[1..]
        .iter()
        .map(|a| {
            a.replace("/var/cache/binpkgs", &binpkgs.display().to_string())
                .replace("/var/cache/distfiles", &distfiles.display().to_string())
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(&args)
        .output()
        .expect("run zentoo gc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pkgdir.join("a/x/x-1-1.gpkg.tar").exists(), "{stdout}");
    assert!(pkgdir.join("a/y/y-1-1.gpkg.tar").exists(), "{stdout}");
    assert!(stdout.contains("removed 1 binary packages"), "{stdout}");
    assert!(
        !binpkgs
            .join(".zentoo/builds/removed-tuple/b1.json")
            .exists()
    );
}
