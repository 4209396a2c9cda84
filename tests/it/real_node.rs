//! The cluster path with nothing simulated, on the harness's real node `real-1` (a kubelet with
//! containerd): the zentoo image and the test stage3 in the registry, the chart installed with
//! `helm install`, the controller running there as two pods (a leader and a standby) under the
//! chart's ServiceAccount, a GentooImage applied with `kubectl`, and its build Job's pod
//! (materialize, Gentoo's real `emerge` in the test stage3, assemble, publish) run by the kubelet
//! on real PVCs into the registry. Then what happens to running builds: a step's log read, the
//! leader's pod deleted, a push that stops a build, a build out of memory, a package that fails;
//! the chart's binhost serving the binary packages to a real `emerge --getbinpkg`, and the build
//! logs read with `zentoo logs` once the Jobs and their pods are deleted.

use crate::support;
use crate::support::controller::*;
use crate::support::real_node::{RealNode, Release, api_port, push_images, real_node_env};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::ListParams;
use std::process::Command;
use std::time::Duration;
use support::engine::{run, run_ok};
use zentoo::api::GentooImage;

/// A cold build on fresh volumes compiles the `web` set: a few minutes on a small machine.
const BUILD_LIMIT: Duration = Duration::from_secs(1200);

/// The chart's values for a release whose controller runs on the real node, two replicas (one
/// leads), in the pod network like its builds: they reach the API server and the plain-HTTP
/// registry at the node's host address (tests/cluster/README.md, "The real node").
fn values(node: &RealNode, ns: &str, zentoo: &str, api_port: u16) -> serde_json::Value {
    let (repository, tag) = zentoo.rsplit_once(':').expect("a tag");
    let placement = node.placement();
    serde_json::json!({
        "image": {"repository": repository, "tag": tag},
        "watchNamespace": ns,
        "logFormat": "text",
        "replicaCount": 2,
        "nodeSelector": placement["nodeSelector"],
        "tolerations": placement["tolerations"],
        "controller": {
            "buildJobs": 2,
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": node.host},
                {"name": "KUBERNETES_SERVICE_PORT", "value": api_port.to_string()},
            ],
        },
        "builds": {"insecureRegistries": [node.registry]},
    })
}

/// The controller's pods of `release`.
async fn controller_pods(ns: &support::TestNamespace, release: &str) -> Vec<Pod> {
    let lp = ListParams::default().labels(&format!(
        "app.kubernetes.io/instance={release},app.kubernetes.io/component=controller"
    ));
    ns.api::<Pod>()
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

fn ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// One release of the chart on the real node, watching a namespace of its own, with site `demo`
/// (the standard repository, no tuples: images are applied) served by a git daemon.
struct OnNode {
    // Dropped first: the release, then the repository, then the namespace.
    release: Release,
    _git: GitDaemon,
    repo: support::site::Site,
    ns: support::TestNamespace,
    node: RealNode,
    /// Where the site's images are pushed: `REGISTRY/TAG`.
    registry: String,
    /// The test stage3 in the registry.
    stage3: String,
}

impl OnNode {
    async fn install(prefix: &str) -> Option<OnNode> {
        let kube = support::kube_env().await?;
        let node = real_node_env()?;
        let helm = support::helm()?;
        support::engine_env().await?;
        let tag = support::unique(prefix);
        let (zentoo, stage3) = push_images(&node.registry, &tag).await;
        let ns = kube.namespace(prefix).await;
        install_crds(&ns).await;
        let repo = support::site::Site::standard("");
        let git = GitDaemon::serve(&repo);
        let values = values(&node, &ns.name, &zentoo, api_port(&ns.kubeconfig));
        let release = Release::install(&helm, &ns, &tag, &values);
        let registry = format!("{}/{tag}", node.registry);
        let url = git.url.replace("127.0.0.1", &node.host);
        let mut site = site_object("demo", &url, "1m");
        site.spec.image_defaults.registry = Some(registry.clone());
        site.spec.image_defaults.stage3 = [("amd64".to_string(), stage3.clone())].into();
        create_site(&ns, &site).await;
        Some(OnNode {
            release,
            _git: git,
            repo,
            ns,
            node,
            registry,
            stage3,
        })
    }

    /// `kubectl apply` of GentooImage `name` (portage `server`, buildhooks `nodocs`, set
    /// `set`) placed on the real node, with `extra` merged into its spec.
    fn apply_image(&self, name: &str, set: &str, extra: serde_json::Value) {
        let placement = self.node.placement();
        let mut image = serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1",
            "kind": "GentooImage",
            "metadata": {"name": name, "namespace": self.ns.name},
            "spec": {
                "siteRef": {"name": "demo"}, "portage": "server", "buildhooks": "nodocs",
                "set": set,
                "nodeSelector": placement["nodeSelector"], "tolerations": placement["tolerations"],
            },
        });
        if let (Some(spec), Some(extra)) = (image["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        self.node.apply(&self.ns, &image);
    }

    /// The holder of the release's leader Lease, if any.
    async fn holder(&self) -> Option<String> {
        use k8s_openapi::api::coordination::v1::Lease;
        let leases = self
            .ns
            .api::<Lease>()
            .list(&ListParams::default())
            .await
            .ok()?;
        leases
            .items
            .into_iter()
            .find(|l| l.name_any().starts_with(&self.release.name))?
            .spec?
            .holder_identity
    }

    /// Waits until a controller pod leads (holds the Lease and is Ready); its name.
    async fn leader(&self) -> String {
        eventually(
            &self.ns,
            Duration::from_secs(300),
            "a leader Ready",
            || async {
                let holder = self.holder().await?;
                let pods = controller_pods(&self.ns, &self.release.name).await;
                pods.iter()
                    .any(|p| p.name_any() == holder && ready(p))
                    .then_some(holder)
            },
        )
        .await
    }

    /// Asks the controller to fetch the site now, as `kubectl annotate` does.
    fn fetch_now(&self) {
        let at = format!(
            "{}={}",
            zentoo::api::annotations::FETCH_REQUESTED_AT,
            support::unique_suffix()
        );
        self.node.kubectl(
            &self.ns,
            &["annotate", "gentoosite", "demo", &at, "--overwrite"],
        );
    }

    /// Waits until the pod of Job `job` has finished step (init container) `step` with
    /// success; returns the pod.
    async fn past_step(&self, job: &str, step: &str) -> Pod {
        eventually(
            &self.ns,
            BUILD_LIMIT,
            &format!("{job} past {step}"),
            || async {
                let pod = build_pod(&self.ns, job).await;
                let done = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.init_container_statuses.as_ref())
                    .and_then(|s| s.iter().find(|c| c.name == step))
                    .and_then(|c| c.state.as_ref()?.terminated.as_ref())
                    .is_some_and(|t| t.exit_code == 0);
                done.then_some(pod)
            },
        )
        .await
    }

    /// Waits until image `name` is Ready=True; fails as soon as its Ready condition says
    /// anything but that it is on its way.
    async fn built(&self, name: &str) -> GentooImage {
        eventually(
            &self.ns,
            BUILD_LIMIT,
            &format!("{name} Ready=True"),
            || async {
                let img = self.ns.api::<GentooImage>().get(name).await.ok()?;
                let (status, reason, message) = condition(&img, "Ready")?;
                assert!(
                    status != "False" || ON_ITS_WAY.contains(&reason.as_str()),
                    "{name} failed: {reason}: {message}"
                );
                (status == "True").then_some(img)
            },
        )
        .await
    }
}

/// Ready=False reasons of an image whose build is still coming (`SiteNotReady`: a new leader
/// fetches the site into its empty cache before it reads the image's inputs again).
const ON_ITS_WAY: [&str; 5] = [
    "Building",
    "Pending",
    "Superseding",
    "Superseded",
    "SiteNotReady",
];

/// Everything in one namespace and one release, one scenario after the other: the first build
/// is the only cold one (the later ones take its binary packages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_path_runs_for_real_on_a_real_node() {
    let _heavy = support::load::heavy_async().await;
    let started = std::time::Instant::now();
    let Some(on) = OnNode::install("real").await else {
        return;
    };
    eprintln!(
        "real node: images pushed, chart installed: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let Some(helm) = support::helm() else {
        return;
    };
    let monitor = BuildMonitor::start(&on.ns).await;
    // Each scenario's wall time, for docs/benchmarks.md.
    let mut clock = std::time::Instant::now();
    let mut lap = |what: &str| {
        eprintln!("real node: {what}: {:.1} s", clock.elapsed().as_secs_f64());
        clock = std::time::Instant::now();
    };
    first_build(&on).await;
    lap("first build (cold), leader handover");
    security_rebuild(&on).await;
    lap("security rebuild: an old image audited and rebuilt, web audited and left");
    // Too little memory for emerge: the kernel kills the build step.
    on.apply_image(
        "tiny",
        "base",
        serde_json::json!({"resources": {"limits": {"memory": "40Mi"}, "requests": {"memory": "40Mi"}}}),
    );
    a_push_stops_a_running_build(&on, &monitor).await;
    lap("a push stops a running build, the next one");
    out_of_memory(&on).await;
    let broken = a_package_that_fails(&on).await;
    lap("a package that fails to compile");
    let log = on.emerge_from_the_binhost(&helm).await;
    lap("binhost: helm upgrade, emerge --getbinpkg");
    logs_outlive_the_pods(&on, &broken).await;
    lap("zentoo logs after the Jobs are deleted");
    let (compiled, binary) = support::emerged(&log);
    assert!(
        compiled == 0 && binary > 0 && log.contains("nginx 1.24.0 (zentoo test build;"),
        "nginx and what it needs, from the binhost ({binary} binary, {compiled} compiled):\n{log}"
    );
}

/// `kubectl apply` of image `web`: its build runs on the node (a step's log read through the
/// API server from the kubelet); the leading controller's pod deleted mid-build, another
/// replica leads and adopts the running Job; the image is pushed, reported with its digest and counts,
/// and runs.
async fn first_build(on: &OnNode) {
    let (ns, node) = (&on.ns, &on.node);
    let leader = on.leader().await;
    let controllers = controller_pods(ns, &on.release.name).await;
    assert_eq!(controllers.len(), 2, "two controller pods");
    for pod in &controllers {
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some(node.name.as_str()),
            "the controller runs on the real node"
        );
    }
    assert_eq!(
        controllers.iter().filter(|p| ready(p)).count(),
        1,
        "the leader is ready, the standby is not"
    );
    on.apply_image("web", "web", serde_json::json!({}));
    let job = wait_jobs(ns, "web", 1).await.remove(0);
    let pod = on.past_step(&job.name_any(), "materialize").await;
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(node.name.as_str())
    );
    let log = node.kubectl(ns, &["logs", &pod.name_any(), "-c", "materialize"]);
    assert!(
        !log.trim().is_empty(),
        "kubectl logs of the materialize step"
    );

    // The leader's pod deleted mid-build: another replica takes the Lease and adopts the
    // running Job (no second build), and the Deployment starts a new pod.
    node.kubectl(ns, &["delete", "pod", &leader, "--wait=false"]);
    let next = eventually(ns, Duration::from_secs(120), "a new leader", || async {
        let holder = on.holder().await?;
        (holder != leader).then_some(holder)
    })
    .await;
    // The standby, or the replica the Deployment started, whichever asked first once the
    // leader let go of the Lease.
    let pods = controller_pods(ns, &on.release.name).await;
    assert!(
        pods.iter().any(|p| p.name_any() == next),
        "the new leader {next} is one of the controller's pods: {:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    eventually(
        ns,
        Duration::from_secs(180),
        "two controller pods again",
        || async {
            let pods = controller_pods(ns, &on.release.name).await;
            let live = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && p.name_any() != leader)
                .count();
            (live == 2).then_some(())
        },
    )
    .await;

    let built = on.built("web").await;
    assert_eq!(
        jobs(ns, "web").await.len(),
        1,
        "the running Job was adopted"
    );
    let status = built.status.expect("status");
    let last = status.last_successful_build.expect("a successful build");
    let reference = format!("{}/web:latest", on.registry);
    assert_eq!(last.image.as_deref(), Some(reference.as_str()));
    let inspected = run_ok(
        Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{reference}"),
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(last.image_digest.as_deref(), Some(inspected.trim()));
    // Audited against the snapshot's four GLSAs (the repo volume, read-only in the push
    // container): none affects the versions the newest snapshot installs.
    let glsa = last.glsa.as_ref().expect("the build was audited");
    assert_eq!((glsa.advisories, glsa.affected.len()), (4, 0), "{glsa:?}");
    let vulnerable = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Vulnerable")
        .expect("a Vulnerable condition");
    assert_eq!(
        (vulnerable.status.as_str(), vulnerable.reason.as_str()),
        ("False", "NotAffected")
    );
    assert!(
        last.compiled.unwrap_or_default() > 0,
        "fresh volumes: the build compiled ({:?} compiled, {:?} from binpkgs)",
        last.compiled,
        last.binpkg_hits
    );
    let ran = run(
        Command::new("podman").args([
            "run",
            "--rm",
            "--tls-verify=false",
            &reference,
            "/usr/sbin/nginx",
        ]),
        Duration::from_secs(300),
    );
    let out = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success() && out.contains("nginx 1.24.0 (zentoo test build;"),
        "the published image runs: {out} {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let _ = Command::new("podman")
        .args(["rmi", "-f", &reference])
        .output();
}

/// The site follows a newer snapshot: real audit Jobs (the snapshot synced by the stage3 into
/// the repo PVC, the pushed image's SBOM read from the registry) find GLSA 202610-01 in image
/// `old`, pinned to the older snapshot (hello 2.10), which is rebuilt at the newer one and says
/// why; `web` (hello 2.12.1) is audited and left as it is.
async fn security_rebuild(on: &OnNode) {
    let ns = &on.ns;
    on.apply_image(
        "old",
        "base",
        serde_json::json!({"repoSnapshot": "20261001"}),
    );
    let old = on.built("old").await;
    let first = old
        .status
        .and_then(|s| s.last_successful_build)
        .expect("old built");
    let web_builds = jobs(ns, "web").await.len();
    let sites = ns.api::<zentoo::api::GentooSite>();
    merge(
        &sites,
        "demo",
        serde_json::json!({"spec": {"security": {"followSnapshot": "20261101"}}}),
    )
    .await;
    let images = ns.api::<GentooImage>();
    let rebuilt = eventually(
        ns,
        BUILD_LIMIT,
        "old rebuilt for GLSA 202610-01",
        || async {
            let status = images.get("old").await.ok()?.status?;
            let last = status.last_successful_build?;
            let record = status.history.first()?.clone();
            (last.name != first.name && record.name == last.name).then_some((
                status.security_update,
                record,
                last,
            ))
        },
    )
    .await;
    let (update, record, last) = rebuilt;
    let update = update.expect("securityUpdate");
    assert_eq!(
        (update.pinned.as_str(), update.snapshot.as_str()),
        ("20261001", "20261101")
    );
    assert_eq!(
        update
            .fixes
            .affected
            .iter()
            .map(|h| h.package.as_str())
            .collect::<Vec<_>>(),
        ["app-misc/hello-2.10"],
        "{update:?}"
    );
    assert_eq!(
        record.cause.map(|c| c.reason).as_deref(),
        Some("SecurityUpdate")
    );
    // Rebuilt on the newer snapshot: audited clean against its advisories.
    let glsa = last.glsa.expect("audited");
    assert_eq!((glsa.advisories, glsa.affected.len()), (4, 0), "{glsa:?}");
    // web was audited too (its own audit Job, real) and left as it is.
    let checked = eventually(ns, BUILD_LIMIT, "web audited", || async {
        images.get("web").await.ok()?.status?.security_checked
    })
    .await;
    assert!(checked.starts_with("20261101@"), "{checked}");
    let web = images
        .get("web")
        .await
        .expect("web")
        .status
        .expect("status");
    assert!(web.security_update.is_none(), "{:?}", web.security_update);
    assert_eq!(jobs(ns, "web").await.len(), web_builds, "web rebuilt");
    // The scenarios after this one build without following.
    merge(
        &sites,
        "demo",
        serde_json::json!({"spec": {"security": null}}),
    )
    .await;
    on.node
        .kubectl(ns, &["delete", "gentooimage", "old", "--wait=false"]);
}

/// A push while a build's step runs: that build is stopped (its pod deleted: the kubelet stops
/// its containers with SIGTERM, then the grace period), and the build of the newer revision
/// starts only once that pod is gone.
async fn a_push_stops_a_running_build(on: &OnNode, monitor: &BuildMonitor) {
    let ns = &on.ns;
    on.repo
        .write("main", "sets/web", "@base\nwww-servers/nginx\n# v2\n");
    on.fetch_now();
    let second = wait_jobs(ns, "web", 2).await.remove(1);
    let pod = on.past_step(&second.name_any(), "materialize").await;
    let revision = on
        .repo
        .write("main", "sets/web", "@base\nwww-servers/nginx\n# v3\n")
        .to_string();
    on.fetch_now();
    let built = eventually(ns, BUILD_LIMIT, "web built at the last push", || async {
        let img = on.built("web").await;
        let last = img.status.as_ref()?.last_successful_build.as_ref()?;
        (last.revision == revision).then_some(img)
    })
    .await;
    let status = built.status.expect("status");
    assert!(
        status
            .history
            .iter()
            .any(|r| r.name == second.name_any()
                && r.result == zentoo::api::image::Ending::Superseded),
        "the stopped build is recorded as superseded: {:?}",
        status.history
    );
    let seen = monitor.seen();
    assert_eq!(
        seen.max_pods.get("web"),
        Some(&1),
        "never two build pods of one image at a time: {seen:?}"
    );
    let reasons = pod_event_reasons(ns, &pod.name_any()).await;
    assert!(
        reasons.iter().any(|r| r == "Killing"),
        "the kubelet stopped the superseded build's containers: {reasons:?}"
    );
}

/// The build out of memory: a clear condition, one Job, no retry.
async fn out_of_memory(on: &OnNode) {
    let ns = &on.ns;
    let failed = eventually(ns, BUILD_LIMIT, "tiny Ready=False", || async {
        let img = ns.api::<GentooImage>().get("tiny").await.ok()?;
        let (status, reason, message) = condition(&img, "Ready")?;
        (status == "False" && !ON_ITS_WAY.contains(&reason.as_str())).then_some((reason, message))
    })
    .await;
    assert_eq!(failed.0, "BuildFailed");
    assert!(
        failed
            .1
            .starts_with("step build failed: out of memory (OOMKilled"),
        "{}",
        failed.1
    );
    assert_eq!(jobs(ns, "tiny").await.len(), 1, "no retry");
}

/// Image `bad` (set `bad`: `app-misc/broken`, whose compile phase dies): a failed build whose
/// step log, read from its pod with `zentoo logs`, names the package and the phase. Returns the
/// build's name.
async fn a_package_that_fails(on: &OnNode) -> String {
    let ns = &on.ns;
    on.repo.write("main", "sets/bad", "app-misc/broken\n");
    on.fetch_now();
    on.apply_image("bad", "bad", serde_json::json!({}));
    // `zentoo logs -f` from while the build runs: it follows the steps to the build's end.
    eventually(ns, BUILD_LIMIT, "bad building", || async {
        let img = ns.api::<GentooImage>().get("bad").await.ok()?;
        img.status?.current_build.map(|_| ())
    })
    .await;
    let follow = {
        let (ns_name, kubeconfig) = (ns.name.clone(), ns.kubeconfig.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_zentoo"))
                .args(["logs", "bad", "-f", "-n", &ns_name])
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .expect("run zentoo logs -f")
        })
    };
    let failed = eventually(ns, BUILD_LIMIT, "bad Ready=False", || async {
        let img = ns.api::<GentooImage>().get("bad").await.ok()?;
        let (status, reason, message) = condition(&img, "Ready")?;
        let settled = status == "False" && !ON_ITS_WAY.contains(&reason.as_str());
        settled.then_some((reason, message))
    })
    .await;
    assert_eq!(failed.0, "BuildFailed", "{failed:?}");
    let followed = tokio::time::timeout(Duration::from_secs(120), follow)
        .await
        .expect("zentoo logs -f ends with the build")
        .expect("join");
    let (out, err) = (
        String::from_utf8_lossy(&followed.stdout),
        String::from_utf8_lossy(&followed.stderr),
    );
    assert!(followed.status.success(), "{err}");
    assert!(out.contains(BROKEN_ERROR), "{out}{err}");
    let job = jobs(ns, "bad").await.remove(0).name_any();
    assert!(
        err.contains(&format!("==> {job}: step materialize <=="))
            && err.contains(&format!("==> {job}: step build <=="))
            && !err.contains("step assemble"),
        "followed step after step, to the failed one: {err}"
    );
    // While the pod exists, its step log comes from the kubelet.
    let (ok, out, err) = zentoo_logs(ns, &["bad", "--step", "build"]);
    assert!(ok, "{err}");
    assert!(out.contains(BROKEN_ERROR), "{out}{err}");
    job
}

/// The failed emerge of `app-misc/broken`, as the build step's last lines name it.
const BROKEN_ERROR: &str = "zentoo[build]: error: emerge failed (exit 1): \
    app-misc/broken-1::gentoo failed (compile phase): broken-1 fails on purpose";

/// `zentoo logs ARGS -n NS`: (success, stdout, stderr).
fn zentoo_logs(ns: &support::TestNamespace, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .arg("logs")
        .args(args)
        .args(["-n", &ns.name])
        .env("KUBECONFIG", &ns.kubeconfig)
        .output()
        .expect("run zentoo logs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first build of `web` and the failed build of `bad`: their Jobs deleted (and with them
/// their pods), their logs are still read with `zentoo logs`, from the binary package volume
/// through the chart's binhost: the steps that ran Portage, and each package's own log.
async fn logs_outlive_the_pods(on: &OnNode, broken: &str) {
    let ns = &on.ns;
    let web = ns
        .api::<GentooImage>()
        .get("web")
        .await
        .expect("web")
        .status
        .expect("status");
    let first = web.history.last().expect("web's first build").name.clone();
    for job in [first.as_str(), broken] {
        on.node.kubectl(
            ns,
            &["delete", "job", job, "--cascade=foreground", "--wait=true"],
        );
    }
    eventually(
        ns,
        Duration::from_secs(120),
        "the build pods gone",
        || async {
            let mut left = 0;
            for job in [first.as_str(), broken] {
                left += build_pods(ns, job).await;
            }
            (left == 0).then_some(())
        },
    )
    .await;

    // The first (cold) build compiled nginx: Portage's log of it, phase by phase.
    let (ok, nginx, err) = zentoo_logs(
        ns,
        &["web", "--build", &first, "--package", "www-servers/nginx"],
    );
    assert!(ok, "{err}");
    for line in [
        ">>> Compiling source in /var/tmp/portage/www-servers/nginx-1.24.0/",
        ">>> Source compiled.",
        ">>> Completed installing www-servers/nginx-1.24.0 into",
    ] {
        assert!(nginx.contains(line), "{line}\n{nginx}");
    }
    // Its steps: the build step's log, then assemble's.
    let (ok, steps, err) = zentoo_logs(ns, &["web", "--build", &first]);
    assert!(ok, "{err}");
    let build = steps.find("zentoo[build]: done: ").expect(&steps);
    let assemble = steps.find("zentoo[assemble]: done: ").expect(&steps);
    assert!(build < assemble, "{steps}");
    assert!(
        err.contains(&format!("==> {first}: build.log <==")),
        "{err}"
    );
    // A step whose log lived only in the pod: a clear error.
    let (ok, _, err) = zentoo_logs(ns, &["web", "--build", &first, "--step", "publish"]);
    assert!(
        !ok && err.contains("step publish's log lives only as long as the build's pod"),
        "{err}"
    );

    // `zentoo diff IMAGE`: web's last two published builds, their SBOMs read from the registry
    // (the pushes after the first changed a comment in the set: no package changed).
    let diff = run_ok(
        Command::new(env!("CARGO_BIN_EXE_zentoo"))
            .args([
                "diff",
                "web",
                "-n",
                &ns.name,
                "--insecure-registry",
                &on.node.registry,
            ])
            .env("KUBECONFIG", &ns.kubeconfig),
        Duration::from_secs(120),
    );
    assert!(diff.starts_with("no package changed ("), "{diff}");

    // The failed build: the step's log ends with the package and phase, and the package's own
    // log has what its compile phase printed.
    let (ok, out, err) = zentoo_logs(ns, &["bad"]);
    assert!(ok, "{err}");
    assert!(out.contains(BROKEN_ERROR), "{out}");
    let (ok, out, err) = zentoo_logs(ns, &["bad", "--package", "app-misc/broken"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("broken-1: this line is in the build log")
            && out.contains(" * ERROR: app-misc/broken-1::gentoo failed (compile phase):"),
        "{out}"
    );
}

/// How many pods of build (Job) `job` exist.
async fn build_pods(ns: &support::TestNamespace, job: &str) -> usize {
    let lp = ListParams::default().labels(&format!("{}={job}", zentoo::api::labels::BUILD));
    ns.api::<Pod>()
        .list(&lp)
        .await
        .map(|l| l.items.len())
        .unwrap_or(usize::MAX)
}

/// The kubelet's events about pod `pod`: their reasons.
async fn pod_event_reasons(ns: &support::TestNamespace, pod: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Event;
    let lp = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    ns.api::<Event>()
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("kubelet"))
        .filter_map(|e| e.reason)
        .collect()
}

impl OnNode {
    /// The chart's binhost turned on (`helm upgrade`) for the site's binpkgs claim, and a pod
    /// of the test stage3 on the node, configured like image `web` (its portage branch, the
    /// binrepos.conf `zentoo binhost config --dir` writes for the claim's directory), that
    /// installs `www-servers/nginx` with `emerge --getbinpkg` from it over the pod network.
    /// Returns the emerge pod's log.
    async fn emerge_from_the_binhost(&self, helm: &std::path::Path) -> String {
        let ns = &self.ns;
        self.release.upgrade(
            helm,
            &["binhost.enabled=true", "binhost.claimName=demo-binpkgs"],
        );
        let binhost = eventually(
            ns,
            Duration::from_secs(180),
            "the binhost Ready",
            || async {
                let lp = ListParams::default().labels(&format!(
                    "app.kubernetes.io/instance={},app.kubernetes.io/component=binhost",
                    self.release.name
                ));
                let pods = ns.api::<Pod>().list(&lp).await.ok()?.items;
                pods.into_iter().find(ready)
            },
        )
        .await;
        let ip = binhost
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .expect("the binhost's pod IP");

        // The claim's volume is a directory of this machine (the node).
        let claim = self.node.kubectl(
            ns,
            &[
                "get",
                "pvc",
                "demo-binpkgs",
                "-o",
                "jsonpath={.spec.volumeName}",
            ],
        );
        let dir = self.node.kubectl(
            ns,
            &[
                "get",
                "pv",
                claim.trim(),
                "-o",
                "jsonpath={.spec.hostPath.path}",
            ],
        );
        let config = run_ok(
            Command::new(env!("CARGO_BIN_EXE_zentoo")).args([
                "binhost",
                "config",
                "--dir",
                dir.trim(),
                "--url",
                &format!("http://{ip}:8080"),
            ]),
            Duration::from_secs(60),
        );
        let client = tempfile::TempDir::new().expect("client dir");
        std::fs::write(client.path().join("binrepos.conf"), &config).expect("binrepos.conf");
        let portage = client.path().join("portage");
        std::fs::create_dir(&portage).expect("mkdir");
        let archive = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "git -C {} archive portage/server | tar -x -C {}",
                self.repo.path().display(),
                portage.display()
            ))
            .status()
            .expect("git archive");
        assert!(archive.success(), "git archive portage/server");
        // The comment names the flags the packages were built with: the client's must match.
        let cflags = config
            .split("CFLAGS=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no CFLAGS in the binhost config:\n{config}"))
            .to_string();
        let placement = self.node.placement();
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "emerge", "namespace": ns.name},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": placement["nodeSelector"], "tolerations": placement["tolerations"],
                "containers": [{
                    "name": "emerge", "image": self.stage3,
                    "command": ["sh", "-c", format!(
                        "cp -R /client/portage/. /etc/portage/ && cp /client/binrepos.conf /etc/portage/ \
                         && echo 'CFLAGS=\"{cflags}\"' >> /etc/portage/make.conf \
                         && emerge --getbinpkg --usepkgonly www-servers/nginx && /usr/sbin/nginx"
                    )],
                    "volumeMounts": [{"name": "client", "mountPath": "/client", "readOnly": true}],
                }],
                "volumes": [{"name": "client", "hostPath": {"path": client.path(), "type": "Directory"}}],
            },
        });
        self.node.apply(ns, &pod);
        let phase = eventually(
            ns,
            Duration::from_secs(600),
            "the emerge pod finished",
            || async {
                let pod = ns.api::<Pod>().get("emerge").await.ok()?;
                let phase = pod.status?.phase?;
                matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
            },
        )
        .await;
        let log = self.node.kubectl(ns, &["logs", "emerge"]);
        assert_eq!(phase, "Succeeded", "emerge from the binhost:\n{log}");
        log
    }
}
