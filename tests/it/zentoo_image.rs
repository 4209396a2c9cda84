//! The zentoo image as `scripts/build-image.sh` builds it — pushed to the local registry by
//! zentoo's own publisher, read back with skopeo, run with Podman — and one build plan run by
//! both backends: on the engine by the local runner, and as the build Pod the controller
//! rendered, under `podman kube play`. (The rendered Job run by a real kubelet, with the
//! controller installed by the chart: tests/it/real_node.rs.)

use crate::support;
use crate::support::site;

use crate::support::controller::*;
use kube::ResourceExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::engine::{run, run_ok};

/// A cold release build of the static binary is long on a small machine.
const BUILD_LIMIT: Duration = Duration::from_secs(3600);
const PODMAN_LIMIT: Duration = Duration::from_secs(300);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/build-image.sh ARGS`: the image digest it prints.
fn build_image(args: &[&str]) -> String {
    let out = run_ok(
        Command::new("bash")
            .arg(root().join("scripts/build-image.sh"))
            .args(args),
        BUILD_LIMIT,
    );
    let digest = out.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        digest.starts_with("sha256:"),
        "build-image.sh printed no digest: {out}"
    );
    digest
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The paths (without `./`) and `tar -tv` lines of the only layer of the image in OCI layout
/// `dir`, and the layer's compressed and uncompressed sizes.
fn layer_listing(dir: &Path) -> (Vec<String>, String, u64, u64) {
    let index = json(&std::fs::read_to_string(dir.join("index.json")).expect("index.json"));
    let blob = |digest: &serde_json::Value| {
        let hex = digest
            .as_str()
            .and_then(|d| d.strip_prefix("sha256:"))
            .expect("sha256 digest");
        dir.join("blobs/sha256").join(hex)
    };
    let manifest =
        json(&std::fs::read_to_string(blob(&index["manifests"][0]["digest"])).expect("manifest"));
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    let layer = blob(&layers[0]["digest"]);
    let verbose = run_ok(Command::new("tar").arg("-tvzf").arg(&layer), PODMAN_LIMIT);
    let paths = run_ok(Command::new("tar").arg("-tzf").arg(&layer), PODMAN_LIMIT)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let compressed = std::fs::metadata(&layer).expect("layer").len();
    let mut decoder = flate2::read::GzDecoder::new(std::fs::File::open(&layer).expect("layer"));
    let uncompressed = std::io::copy(&mut decoder, &mut std::io::sink()).expect("gunzip layer");
    (paths, verbose, compressed, uncompressed)
}

#[test]
fn the_zentoo_image_is_pushed_by_zentoo_has_no_shell_and_runs_as_65532() {
    let _heavy = support::load::heavy();
    let Some(registries) = support::registry_env() else {
        return;
    };
    let reg = registries.plain.clone();
    let reference = format!("{reg}/zentoo/zentoo:{}", support::unique("t"));
    let work = tempfile::TempDir::new().expect("temp dir");
    let layout = work.path().join("oci");
    let layout_arg = layout.display().to_string();
    let digest = build_image(&[
        "--push",
        &reference,
        "--oci-layout",
        &layout_arg,
        "--",
        "--insecure-registry",
        &reg,
    ]);

    // What the registry holds.
    let docker = format!("docker://{reference}");
    let inspect = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--tls-verify=false", &docker]),
        PODMAN_LIMIT,
    ));
    assert_eq!(inspect["Digest"], digest.as_str(), "{inspect}");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1));
    let config = json(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", "--tls-verify=false", &docker]),
        PODMAN_LIMIT,
    ));
    let run_config = &config["config"];
    assert_eq!(
        run_config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/zentoo"]),
        "{config}"
    );
    assert_eq!(run_config["User"], "65532:65532", "{config}");
    assert!(
        run_config["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|v| v == "PATH=/usr/local/bin:/usr/bin:/bin")),
        "{config}"
    );

    // Its one layer, as pushed: the binary, CA certificates, users, /tmp — and no shell.
    let pulled = work.path().join("pulled");
    run_ok(
        Command::new("skopeo").args([
            "copy",
            "--src-tls-verify=false",
            &docker,
            &format!("oci:{}:pulled", pulled.display()),
        ]),
        PODMAN_LIMIT,
    );
    let (paths, verbose, compressed, uncompressed) = layer_listing(&pulled);
    for want in [
        "usr/local/bin/zentoo",
        "etc/passwd",
        "etc/group",
        "etc/ssl/certs/ca-certificates.crt",
        "tmp/",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} missing:\n{verbose}"
        );
    }
    for p in &paths {
        let name = p
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        assert!(
            !matches!(name, "sh" | "bash" | "busybox" | "ash" | "dash"),
            "a shell in the zentoo image: {p}\n{verbose}"
        );
    }
    assert!(paths.len() <= 16, "more than the minimum:\n{verbose}");
    assert!(
        verbose
            .lines()
            .any(|l| l.starts_with("drwxrwxrwt") && l.trim_end().ends_with("tmp/")),
        "/tmp is not 1777:\n{verbose}"
    );

    // Podman runs it: a static binary alone in its image.
    run_ok(
        Command::new("podman").args(["pull", "-q", "--tls-verify=false", &reference]),
        PODMAN_LIMIT,
    );
    let version = run(
        Command::new("podman").args(["run", "--rm", "--network", "none", &reference, "--version"]),
        PODMAN_LIMIT,
    );
    let user = run(
        Command::new("podman").args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}}",
            &reference,
        ]),
        PODMAN_LIMIT,
    );
    let _ = run(
        Command::new("podman").args(["rmi", "-f", &reference]),
        PODMAN_LIMIT,
    );
    assert!(version.status.success(), "podman run: {version:?}");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("zentoo {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "65532:65532");

    // Reproducible: packed again, the same digest.
    let again = work.path().join("again").display().to_string();
    assert_eq!(build_image(&["--oci-layout", &again]), digest);
    eprintln!(
        "zentoo image {digest}: layer {compressed} bytes gzip, {uncompressed} bytes uncompressed, {} entries",
        paths.len()
    );
}

/// A Pod manifest for `podman kube play` from Job `job`'s pod template, changed only where
/// Podman is not a kubelet. The Job itself is rendered for this machine's servers (the git
/// daemon and the registry listen on its loopback; the registry speaks plain HTTP): on the
/// host's network, pushing to `registry` without TLS.
fn playable_pod(job: &k8s_openapi::api::batch::v1::Job, registry: &str) -> serde_json::Value {
    let template = &job.spec.as_ref().expect("job spec").template;
    let mut pod = serde_json::to_value(template).expect("pod template");
    pod["apiVersion"] = "v1".into();
    pod["kind"] = "Pod".into();
    pod["metadata"]["name"] = job.name_any().into();
    assert_eq!(
        pod["spec"]["hostNetwork"], true,
        "rendered on the host's network"
    );
    assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirstWithHostNet");
    let publish = container_mut(&mut pod, "containers", "publish");
    let command = publish["command"].as_array_mut().expect("publish command");
    let insecure = command
        .iter()
        .position(|a| a == "--insecure-registry")
        .expect("the push to the plain-HTTP registry is rendered as one");
    assert_eq!(command[insecure + 1], registry);
    // A kubelet bind-mounts a writable file at the termination message path; Podman does not
    // (and /dev is root's): the publish step writes it into a volume of its own instead (an
    // empty Podman volume becomes the user's of the first container mounting it).
    let log = command
        .iter()
        .position(|a| a == "--termination-log")
        .expect("publish writes a termination log");
    command[log + 1] = "/termination/log".into();
    let volume = format!("{}-termination", job.name_any());
    with_empty_dir(&mut pod, "containers", "publish", &volume, "/termination");
    // The build step's counts go to its termination message path too: into a volume here.
    let results = format!("{}-build-result", job.name_any());
    let build = container_mut(&mut pod, "initContainers", "build");
    let env = build["env"].as_array_mut().expect("build env");
    let file = env
        .iter_mut()
        .find(|e| e["name"] == "ZENTOO_RESULT_FILE")
        .expect("the build step is told where its counts go");
    file["value"] = "/build-result/counts".into();
    with_empty_dir(
        &mut pod,
        "initContainers",
        "build",
        &results,
        "/build-result",
    );
    // Podman (4.3) ignores `subPath` on a claim and would mount the whole binary package
    // volume read-write where the assemble step keeps its log: an emptyDir there instead.
    let assemble = container_mut(&mut pod, "initContainers", "assemble");
    let mounts = assemble["volumeMounts"].as_array_mut().expect("mounts");
    let before = mounts.len();
    mounts.retain(|m| m["subPath"].is_null());
    assert_eq!(
        before - mounts.len(),
        1,
        "assemble's log directory is a subPath"
    );
    let logs = format!("{}-assemble-log", job.name_any());
    with_empty_dir(
        &mut pod,
        "initContainers",
        "assemble",
        &logs,
        zentoo::plan::build::STEP_LOG_MOUNT,
    );
    pod
}

/// The container `name` of the pod's `list` (`containers` or `initContainers`).
fn container_mut<'a>(
    pod: &'a mut serde_json::Value,
    list: &str,
    name: &str,
) -> &'a mut serde_json::Value {
    pod["spec"][list]
        .as_array_mut()
        .expect("containers")
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// Mounts a new emptyDir `volume` at `path` in container `name` of the pod's `list`.
fn with_empty_dir(pod: &mut serde_json::Value, list: &str, name: &str, volume: &str, path: &str) {
    container_mut(pod, list, name)["volumeMounts"]
        .as_array_mut()
        .expect("mounts")
        .push(serde_json::json!({"name": volume, "mountPath": path}));
    pod["spec"]["volumes"]
        .as_array_mut()
        .expect("pod volumes")
        .push(serde_json::json!({"name": volume, "emptyDir": {}}));
}

/// What the build step of the played pod wrote as its termination message.
fn build_counts_written(pod_name: &str) -> String {
    let mountpoint = run_ok(
        Command::new("podman").args([
            "volume",
            "inspect",
            &format!("{pod_name}-build-result"),
            "--format",
            "{{.Mountpoint}}",
        ]),
        PODMAN_LIMIT,
    );
    std::fs::read_to_string(PathBuf::from(mountpoint.trim()).join("counts"))
        .expect("the build step wrote its counts")
}

/// The names of the volumes `podman kube play` makes for `pod`: claims and emptyDirs.
fn pod_volumes(pod: &serde_json::Value) -> Vec<String> {
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v["persistentVolumeClaim"]["claimName"]
                .as_str()
                .or_else(|| v.get("emptyDir").and(v["name"].as_str()))
                .map(str::to_string)
        })
        .collect()
}

/// `podman kube down` of the pod and removal of its volumes, when dropped.
struct Played {
    file: PathBuf,
    volumes: Vec<String>,
}

impl Drop for Played {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["kube", "down"])
            .arg(&self.file)
            .output();
        for v in &self.volumes {
            let _ = Command::new("podman")
                .args(["volume", "rm", "-f", v])
                .output();
        }
    }
}

/// Plays pod manifest `file` with `podman kube play` and waits for its publish container
/// (`POD-publish`) to exit; fails the test, with the containers' logs, unless it exited 0.
/// Returns those logs.
async fn play_until_published(file: &Path, pod_name: &str) -> String {
    let (file, pod_name) = (file.to_path_buf(), pod_name.to_string());
    let (play, publish_exit, logs) = tokio::task::spawn_blocking(move || {
        let play = run(
            Command::new("podman").args(["kube", "play"]).arg(&file),
            BUILD_LIMIT,
        );
        let wait = run(
            Command::new("podman").args(["wait", &format!("{pod_name}-publish")]),
            BUILD_LIMIT,
        );
        let exit = String::from_utf8_lossy(&wait.stdout).trim().to_string();
        (play, exit, container_logs(&pod_name))
    })
    .await
    .expect("podman kube play");
    assert!(
        play.status.success() && publish_exit == "0",
        "kube play: {}\n{}\npublish exit {publish_exit}\n{logs}",
        String::from_utf8_lossy(&play.stdout),
        String::from_utf8_lossy(&play.stderr)
    );
    logs
}

fn container_logs(pod: &str) -> String {
    ["materialize", "build", "assemble", "pack", "publish"]
        .iter()
        .map(|c| {
            let out = Command::new("podman")
                .args(["logs", &format!("{pod}-{c}")])
                .output();
            let text = out
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout).to_string()
                        + &String::from_utf8_lossy(&o.stderr)
                })
                .unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "--- {c} ---\n{}",
                lines[lines.len().saturating_sub(25)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The zentoo image loaded into the engine as `localhost/zentoo/zentoo:TAG`, and the test
/// stage3's reference: the two images a played build pod runs.
async fn images_to_play(tag: &str) -> (String, String) {
    let zentoo_ref = format!("localhost/zentoo/zentoo:{tag}");
    let loaded = zentoo_ref.clone();
    let test = support::test_name();
    let stage3 = tokio::task::spawn_blocking(move || {
        // A layout of its own: tests that build the image side by side must not share
        // build-image.sh's default one (it starts by removing it).
        let layout = tempfile::TempDir::new().expect("layout dir");
        let layout = layout.path().join("oci");
        let layout = layout.to_str().expect("UTF-8 temp path");
        build_image(&["--load", &loaded, "--oci-layout", layout]);
        support::local_site::stage3(&test)
            .expect("the engine is up")
            .to_string()
    })
    .await
    .expect("build the images");
    (zentoo_ref, stage3)
}

/// Shows no progress.
struct Quiet;

impl zentoo::runner::Reporter for Quiet {
    fn step(&self, _: &str, _: zentoo::plan::build::StepName) {}
    fn emerging(
        &self,
        _: &str,
        _: zentoo::plan::build::StepName,
        _: &zentoo::runner::progress::Emerging,
    ) {
    }
}

/// Which fields of a result are set.
fn shape(r: &zentoo::plan::BuildResult) -> [bool; 7] {
    [
        r.image.is_some(),
        r.image_digest.is_some(),
        r.tarball.is_some(),
        r.tarball_digest.is_some(),
        r.kernel.is_some(),
        r.compiled.is_some(),
        r.binpkg_hits.is_some(),
    ]
}

/// The file `name` of Podman volume `volume`.
fn volume_file(volume: &str, name: &str) -> String {
    let mountpoint = run_ok(
        Command::new("podman").args(["volume", "inspect", volume, "--format", "{{.Mountpoint}}"]),
        PODMAN_LIMIT,
    );
    std::fs::read_to_string(PathBuf::from(mountpoint.trim()).join(name))
        .unwrap_or_else(|e| panic!("{volume}/{name}: {e}"))
}

/// One `BuildPlan`, two backends: the local runner on the Podman engine, then the Job the
/// cluster renderer makes of the very same plan, played by `podman kube play` on the same
/// shared volumes. Both push the same image (same digest), and each reads back a
/// `BuildResult` of the same shape from the records the steps wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_build_plan_gives_the_same_image_on_the_engine_and_under_kube_play() {
    use zentoo::plan::backend::Backend;
    use zentoo::plan::build::{BuildSettings, ImageTarget, SHARED_VOLUMES, build_plan};
    use zentoo::plan::{BuildCounts, BuildResult, PlanOptions, SpecDefaults, plan_site};
    use zentoo::render::job::{BuildContext, SharedClaims, render_job};

    let _heavy = support::load::heavy_async().await;
    let Some(_engine) = support::engine_env().await else {
        return;
    };
    let Some(registries) = support::registry_env() else {
        return;
    };
    let reg = registries.plain.clone();
    let tag = support::unique("both");
    let (zentoo_ref, stage3) = images_to_play(&tag).await;

    // The plan, once: the site served over git (the pod's materialize fetches it).
    let site = site::Site::standard("server-nodocs-web\n");
    let git = GitDaemon::serve(&site);
    let snapshot = zentoo::site::SiteRepo::open(site.path())
        .expect("open site")
        .snapshot(&Default::default())
        .expect("read site");
    let options = PlanOptions {
        defaults: SpecDefaults {
            stage3: [("amd64".to_string(), stage3)].into(),
            ..SpecDefaults::default()
        },
        ..PlanOptions::default()
    };
    let site_plan = plan_site(&snapshot, &options);
    let image = site_plan
        .images
        .iter()
        .find(|i| i.name == "server-nodocs-web")
        .unwrap_or_else(|| panic!("no image: {:?}", site_plan.errors))
        .clone();
    let epoch = site
        .repo
        .find_commit(git2::Oid::from_str(&site_plan.revision).expect("oid"))
        .expect("commit")
        .time()
        .seconds();
    let pushed = format!("{reg}/zentoo-both/{tag}:latest");
    let settings = BuildSettings {
        zentoo_image: zentoo_ref.clone(),
        image: Some(ImageTarget::Push(pushed.clone())),
        insecure_registries: vec![reg.clone()],
        ..BuildSettings::new(&git.url, epoch, 2)
    };
    let plan = build_plan(&image, &site_plan.revision, &settings);

    // The shared volumes of both backends: the engine's named volumes are the pod's claims.
    let volumes: std::collections::BTreeMap<_, _> = SHARED_VOLUMES
        .into_iter()
        .map(|v| (v, format!("{tag}-{}", v.as_str())))
        .collect();
    let dir = tempfile::TempDir::new().expect("dir");
    let file = dir.path().join("pod.json");
    let mut played = Played {
        file: file.clone(),
        volumes: volumes.values().cloned().collect(),
    };

    // Backend 1: the local runner on the engine.
    let engine = zentoo::runner::Engine::connect(std::env::var("DOCKER_HOST").ok().as_deref())
        .await
        .expect("engine");
    for name in volumes.values() {
        engine.ensure_volume(name, &[]).await.expect("volume");
    }
    let registry = zentoo::publish::RegistryConfig {
        insecure: vec![reg.clone()],
        ..Default::default()
    };
    let running = zentoo::runner::Running::default();
    let local = zentoo::runner::LocalBackend {
        engine: &engine,
        site: site.path().to_path_buf(),
        out: dir.path().join("out"),
        volumes: volumes.clone(),
        registry,
        running: &running,
        reporter: &Quiet,
        run_id: tag.clone(),
        tmpfs_bytes: 0,
    }
    .run(&plan)
    .await
    .unwrap_or_else(|e| panic!("the local backend: {e}"));

    // Backend 2: the cluster renderer's Job of the same plan, its pod played by Podman.
    let context = BuildContext {
        name: tag.clone(),
        namespace: "default".into(),
        site: tag.clone(),
        image: image.name.clone(),
        owner: Default::default(),
        claims: SharedClaims {
            binpkgs: volumes[&zentoo::plan::build::Volume::Binpkgs].clone(),
            distfiles: volumes[&zentoo::plan::build::Volume::Distfiles].clone(),
            repo: volumes[&zentoo::plan::build::Volume::Repo].clone(),
        },
        node_selector: Default::default(),
        tolerations: Vec::new(),
        resources: None,
        active_deadline_seconds: 3600,
        service_account: None,
        git_secret: None,
        registry_secret: None,
        signing_secret: None,
        image_signing_secret: None,
        image_pull_policy: "IfNotPresent".into(),
        result_file: "/dev/termination-log".into(),
        host_network: true,
        log_keep: 5,
    };
    let job = render_job(&plan, &context);
    let manifest = playable_pod(&job, &reg);
    std::fs::write(&file, serde_json::to_vec_pretty(&manifest).expect("json")).expect("pod file");
    played.volumes.extend(pod_volumes(&manifest));
    let logs = play_until_published(&file, &tag).await;
    // What a kubelet reports as the two termination messages, read as the controller reads them.
    let published = volume_file(&format!("{tag}-termination"), "log");
    let counts = build_counts_written(&tag);
    let cluster = BuildResult::parse(&published)
        .expect("the publish step's result")
        .with_counts(BuildCounts::parse(&counts).expect("the build step's counts"));

    assert_eq!(shape(&local), shape(&cluster), "{local:?}\n{cluster:?}");
    assert_eq!(local.image.as_deref(), Some(pushed.as_str()));
    assert_eq!(cluster.image, local.image);
    assert!(local.image_digest.is_some(), "{local:?}");
    assert_eq!(
        cluster.image_digest, local.image_digest,
        "the same plan gives the same image on both backends\n{logs}"
    );
    // The local build compiled; the pod, on the same binpkgs, took them all.
    assert!(local.compiled.is_some_and(|n| n > 0), "{local:?}");
    assert_eq!(cluster.compiled, Some(0), "{cluster:?}");
    assert!(cluster.binpkg_hits.is_some_and(|n| n > 0), "{cluster:?}");
    // The build step kept its log on the binary package volume, where it outlives the pod.
    let stored = volume_file(
        &volumes[&zentoo::plan::build::Volume::Binpkgs],
        &format!(
            "{}/build.log",
            zentoo::plan::build::build_log_dir(&image.name, &tag)
        ),
    );
    assert!(
        stored
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("zentoo[build]: done: 0 compiled")),
        "{stored}"
    );
    let inspect = json(&run_ok(
        Command::new("skopeo").args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{pushed}"),
        ]),
        PODMAN_LIMIT,
    ));
    assert_eq!(
        inspect["Digest"].as_str(),
        local.image_digest.as_deref(),
        "{inspect}"
    );
    drop(played);
    let _ = Command::new("podman")
        .args(["rmi", "-f", &zentoo_ref])
        .output();
    eprintln!("both backends: {pushed}@{:?}", local.image_digest);
}
