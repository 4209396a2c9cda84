//! Registry and storage faults. A registry that fails mid-push, through `zentoo publish` as
//! the build's publish step runs it, against the harness's real registry behind a
//! fault-injecting TCP proxy: the publish fails naming the registry and what failed (in its
//! termination message, as the controller reads it into BuildFailed), the tag never appears,
//! and a retry publishes the same digest. A full volume (a Podman tmpfs volume of a few
//! pages) under a local build's binary packages or a publish's tarball: the step fails naming
//! ENOSPC, and nothing is pushed. Skipped (with a SKIPPED line) when the harness is not up;
//! under `CI=true` it must be.

use crate::support;
use crate::support::local_site;

use crate::support::publish::*;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodStatus,
};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zentoo::controller::outcome::failed_step;

/// A TCP proxy in front of a registry that cuts a connection once the client has sent
/// `after` bytes past `needle` (a piece of an HTTP request line) on it, for the next `left`
/// requests that match; other traffic is forwarded untouched.
struct FaultProxy {
    addr: String,
    left: Arc<AtomicU64>,
    cuts: Arc<AtomicU64>,
}

impl FaultProxy {
    async fn start(upstream: String, needle: &str, after: u64, left: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let left = Arc::new(AtomicU64::new(left));
        let cuts = Arc::new(AtomicU64::new(0));
        let needle = needle.as_bytes().to_vec();
        let (l, c) = (left.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, needle, left, cuts) =
                    (upstream.clone(), needle.clone(), l.clone(), c.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        relay(client, server, &needle, after, &left, &cuts).await;
                    }
                });
            }
        });
        FaultProxy { addr, left, cuts }
    }

    /// No more faults: everything is forwarded.
    fn heal(&self) {
        self.left.store(0, Ordering::SeqCst);
    }

    fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Forwards one connection both ways; returning drops both sockets (a reset mid-request).
async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    needle: &[u8],
    after: u64,
    left: &AtomicU64,
    cuts: &AtomicU64,
) {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = async {
        let mut sent = 0u64; // bytes forwarded upstream on this connection
        let mut tail: Vec<u8> = Vec::new(); // the last bytes forwarded, to match across reads
        let mut armed: Option<u64> = None; // where the matching request starts
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = cr.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let chunk = &buf[..n];
            if armed.is_none() && left.load(Ordering::SeqCst) > 0 {
                let window = [tail.as_slice(), chunk].concat();
                if let Some(at) = window.windows(needle.len()).position(|w| w == needle) {
                    armed = Some(sent - tail.len() as u64 + at as u64);
                }
            }
            if let Some(start) = armed {
                let limit = start + after;
                if sent + n as u64 > limit {
                    if left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                        .is_ok()
                    {
                        let keep = limit.saturating_sub(sent) as usize;
                        let _ = sw.write_all(&chunk[..keep]).await;
                        cuts.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    armed = None; // healed, or the faults were spent on other connections
                }
            }
            if sw.write_all(chunk).await.is_err() {
                return;
            }
            sent += n as u64;
            tail = [tail.as_slice(), chunk].concat();
            let drop = tail.len().saturating_sub(needle.len());
            tail.drain(..drop);
        }
    };
    let down = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}

/// A busybox root with a kernel, packed by `zentoo publish` as the build Job's `pack` step
/// does; returns the image digest.
fn pack(root: &Path, layout: &Path) -> String {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    fs::write(root.join("etc/motd"), "hello from zentoo\n").unwrap();
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("boot/vmlinuz-6.6.58-gentoo-dist"), "kernel\n").unwrap();
    fs::create_dir_all(root.join("lib/modules/6.6.58-gentoo-dist/kernel")).unwrap();
    let packed = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["publish", "--rootfs"])
        .arg(root)
        .args(["--arch", "amd64", "--oci-layout"])
        .arg(layout)
        .args(["--kernel", "--output", "json"]));
    let packed: serde_json::Value = serde_json::from_str(packed.trim()).unwrap();
    packed["imageDigest"].as_str().unwrap().to_string()
}

/// `zentoo publish --oci-layout L --push` as the build Job's `publish` step runs it.
fn push(layout: &Path, reference: &str, registry: &str, log: &Path) -> Output {
    fs::write(log, "").unwrap();
    Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["publish", "--oci-layout"])
        .arg(layout)
        .args(["--output", "json", "--image", reference, "--push"])
        .args(["--insecure-registry", registry])
        .arg("--termination-log")
        .arg(log)
        .output()
        .unwrap()
}

/// The pod status the kubelet reports for a publish step that ended with `out`, its
/// termination message the file it wrote (as `FallbackToLogsOnError` does when non-empty).
fn finished_pod(out: &Output, log: &Path) -> Pod {
    let terminated = |name: &str, code: i32, message: Option<String>| ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                message,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Pod {
        status: Some(PodStatus {
            init_container_statuses: Some(vec![terminated("pack", 0, None)]),
            container_statuses: Some(vec![terminated(
                "publish",
                out.status.code().unwrap_or(-1),
                Some(fs::read_to_string(log).unwrap()),
            )]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The failure the controller records for a failed publish: its step and message.
fn assert_failed(out: &Output, log: &Path, expect: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the publish must fail:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (step, message) =
        failed_step(finished_pod(out, log).status.map(Into::into).as_ref()).expect("a failed step");
    assert_eq!(step, zentoo::plan::build::StepName::Publish);
    for text in expect {
        assert!(message.contains(text), "{text:?} not in {message:?}");
    }
    message
}

fn tag_exists(registry: &str, repo: &str, tag: &str) -> bool {
    let inspect = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{registry}/{repo}:{tag}"))
        .output()
        .unwrap();
    let tags = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{registry}/{repo}"))
        .output()
        .unwrap();
    let listed = tags.status.success() && {
        let list: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
        list["Tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == tag))
    };
    assert_eq!(
        inspect.status.success(),
        listed,
        "skopeo inspect and the tags list disagree about {repo}:{tag}"
    );
    listed
}

fn blob_exists(registry: &str, repo: &str, digest: &str) -> bool {
    let code = run(Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-I"])
        .arg(format!("http://{registry}/v2/{repo}/blobs/{digest}")));
    code == "200"
}

fn layer_digest(layout: &Path, manifest: &str) -> String {
    let hex = manifest.trim_start_matches("sha256:");
    let raw = fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_registry_failing_mid_push_fails_the_publish_with_its_reason_and_no_tag() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("oci");
    let digest = pack(&tmp.path().join("root"), &layout);
    let layer = layer_digest(&layout, &digest);
    let log = tmp.path().join("termination-log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // 1. Every upload of a blob is cut after 64 KiB: the small kernel artifact gets through,
    // the image layer never does; the publish gives up naming the registry and the blob.
    let repo = support::unique("zentoo-test/cut-blob");
    let proxy = rt.block_on(FaultProxy::start(
        h.plain.clone(),
        "/blobs/uploads/",
        64 * 1024,
        u64::MAX,
    ));
    let reference = format!("{}/{repo}:latest", proxy.addr);
    let started = Instant::now();
    let out = push(&layout, &reference, &proxy.addr, &log);
    eprintln!(
        "MEASURE blob cut on every attempt: failed after {:?} ({} cuts)",
        started.elapsed(),
        proxy.cuts()
    );
    let message = assert_failed(
        &out,
        &log,
        &[
            &format!("{}/{repo}", proxy.addr),
            &format!("push blob {layer}"),
            "after 5 attempts",
        ],
    );
    eprintln!("failure message: {message}");
    assert_eq!(proxy.cuts(), 5, "first try and 4 retries, each cut");
    assert!(!tag_exists(&h.plain, &repo, "latest"), "no image tag");

    // 2. Every blob gets in, the manifest `PUT` is cut: still no tag, the reason is the
    // manifest, and the blobs wait in the registry for the retry.
    let repo = support::unique("zentoo-test/cut-manifest");
    let proxy = rt.block_on(FaultProxy::start(
        h.plain.clone(),
        "/manifests/latest HTTP/1.1",
        0,
        u64::MAX,
    ));
    let reference = format!("{}/{repo}:latest", proxy.addr);
    let out = push(&layout, &reference, &proxy.addr, &log);
    assert_failed(
        &out,
        &log,
        &[
            &format!("{}/{repo}", proxy.addr),
            "push manifest",
            "after 5 attempts",
        ],
    );
    assert_eq!(proxy.cuts(), 5);
    assert!(blob_exists(&h.plain, &repo, &layer), "the layer was pushed");
    assert!(!tag_exists(&h.plain, &repo, "latest"), "no image tag");

    // 3. The registry recovers: the retry (the same command, the same proxy) publishes, and
    // the tag holds the packed digest.
    proxy.heal();
    let started = Instant::now();
    let out = push(&layout, &reference, &proxy.addr, &log);
    eprintln!("MEASURE retry after the fault: {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["imageDigest"], digest.as_str());
    let termination: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(termination["imageDigest"], digest.as_str());
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{}/{repo}:latest", h.plain)));
    assert_eq!(inspect.trim(), digest);
    assert!(tag_exists(&h.plain, &repo, "latest-kernel"));

    // 4. One cut of one upload: the publish retries it and succeeds, nothing reported.
    let repo = support::unique("zentoo-test/cut-once");
    let proxy = rt.block_on(FaultProxy::start(
        h.plain.clone(),
        "/blobs/uploads/",
        64 * 1024,
        1,
    ));
    let reference = format!("{}/{repo}:latest", proxy.addr);
    let started = Instant::now();
    let out = push(&layout, &reference, &proxy.addr, &log);
    eprintln!(
        "MEASURE one cut, retried: published in {:?}",
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.cuts(), 1);
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{}/{repo}:latest", h.plain)));
    assert_eq!(inspect.trim(), digest);
}

/// The image tag is the last thing a publish writes: when the image's manifest cannot be
/// pushed, the kernel artifact beside it may be there, the image tag is not; before the
/// reorder the image tag moved first and a failed kernel push left it published.
#[test]
fn the_image_tag_is_pushed_after_the_kernel_artifact() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("oci");
    pack(&tmp.path().join("root"), &layout);
    let log = tmp.path().join("termination-log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let repo = support::unique("zentoo-test/kernel-first");
    let proxy = rt.block_on(FaultProxy::start(
        h.plain.clone(),
        "/manifests/latest-kernel HTTP/1.1",
        0,
        u64::MAX,
    ));
    let reference = format!("{}/{repo}:latest", proxy.addr);
    let out = push(&layout, &reference, &proxy.addr, &log);
    assert_failed(
        &out,
        &log,
        &[&format!("{}/{repo}", proxy.addr), "push manifest"],
    );
    assert!(!tag_exists(&h.plain, &repo, "latest-kernel"));
    assert!(
        !tag_exists(&h.plain, &repo, "latest"),
        "the image tag moved although its kernel failed"
    );
}

/// A Podman volume on a tmpfs of `pages` 4 KiB pages: a full disk after a few writes.
/// (`o=size=` is taken by Podman for a quota the host lacks; `nr_blocks` is tmpfs's own.)
fn tiny_volume(name: &str, pages: u32) {
    let _ = Command::new("podman")
        .args(["volume", "rm", "-f", name])
        .output();
    run(Command::new("podman").args([
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        &format!("o=nr_blocks={pages}"),
        name,
    ]));
}

/// A full binary package volume under a local build: the build step fails naming ENOSPC, from
/// the lease it writes first (1 page) or from emerge writing a package (2 pages: the lease
/// fits, the package does not), and nothing is pushed.
#[test]
fn a_full_binpkgs_volume_fails_the_build_step_with_enospc_and_pushes_nothing() {
    let _heavy = support::load::heavy();
    let Some(stage3) = local_site::stage3("a_full_binpkgs_volume") else {
        return;
    };
    let Some(h) = support::registry_env() else {
        return;
    };
    for (pages, what) in [(1, "cannot write the lease"), (2, "emerge failed")] {
        let site = local_site::Site::new(stage3);
        tiny_volume(&site.volume(zentoo::plan::build::Volume::Binpkgs), pages);
        let repo = support::unique("zentoo-test/full-binpkgs");
        let prefix = format!("{}/{repo}", h.plain);
        let started = Instant::now();
        let (code, tuples) = site.build(&[
            "base-none-base",
            "--push",
            &prefix,
            "--insecure-registry",
            &h.plain,
        ]);
        eprintln!(
            "MEASURE full binpkgs volume ({pages} pages): build failed after {:?}",
            started.elapsed()
        );
        assert_eq!(code, 1, "{tuples:?}");
        let t = &tuples["base-none-base"];
        assert_eq!(t["result"], "failed", "{t}");
        let error = t["error"].as_str().unwrap_or_default();
        for text in ["step build failed", what, "No space left on device"] {
            assert!(error.contains(text), "{text:?} not in {error}");
        }
        assert!(
            !tag_exists(&h.plain, &format!("{repo}/base-none-base"), "latest"),
            "nothing pushed"
        );
    }
}

/// A full tarball volume under `zentoo publish --rootfs R --tarball DIR --push` (the local
/// build's one-container publish), run in a container of the test stage3 with the volume at
/// DIR: the tarball fails with ENOSPC before anything is pushed, so the tag never appears.
#[test]
fn a_full_tarball_volume_fails_the_publish_before_anything_is_pushed() {
    let _heavy = support::load::heavy();
    let Some(stage3) = local_site::stage3("a_full_tarball_volume") else {
        return;
    };
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    pack(&root, &tmp.path().join("unused"));
    let volume = support::unique("zentoo-regfault");
    tiny_volume(&volume, 4);
    let repo = support::unique("zentoo-test/full-tarball");
    let reference = format!("{}/{repo}:latest", h.plain);
    let out = in_stage3(stage3, &root, Some(&volume))
        .args(["--tarball", "/out", "--kernel"])
        .args([
            "--image",
            &reference,
            "--push",
            "--insecure-registry",
            &h.plain,
        ])
        .args(["--termination-log", "/dev/stderr"])
        .output()
        .unwrap();
    let _ = Command::new("podman")
        .args(["volume", "rm", "-f", &volume])
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("publish said:\n{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("/out/"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("pushed "), "{stderr}");
    assert!(!tag_exists(&h.plain, &repo, "latest"), "nothing pushed");
    assert!(
        !tag_exists(&h.plain, &repo, "latest-kernel"),
        "nothing pushed"
    );
}

/// `zentoo publish --rootfs /target --arch amd64` in a container of the test stage3 (a Debian root
/// without CA certificates) with this build's binary and its libraries, `root` at /target and
/// `volume` at /out.
fn in_stage3(stage3: &str, root: &Path, volume: Option<&str>) -> Command {
    let binary = env!("CARGO_BIN_EXE_zentoo");
    let mut cmd = Command::new("podman");
    cmd.args(["run", "--rm", "--network", "host"])
        .args(["-v", &format!("{binary}:/zentoo:ro")])
        .args(["-v", "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro"])
        .args(["-v", "/lib64:/lib64:ro"])
        .args(["-v", &format!("{}:/target:ro", root.display())]);
    if let Some(volume) = volume {
        cmd.args(["-v", &format!("{volume}:/out")]);
    }
    cmd.args(["-e", &format!("SOURCE_DATE_EPOCH={EPOCH}")])
        .args([stage3, "/zentoo", "publish", "--rootfs", "/target"])
        .args(["--arch", "amd64"]);
    cmd
}

/// Without system CA certificates the HTTP client cannot be built: oci-client's
/// `Client::new` then fell back to a default client whose construction panicked. Now the
/// publish fails with a clear error and pushes nothing.
#[test]
fn a_publish_without_ca_certificates_is_a_clear_error_not_a_panic() {
    let Some(stage3) = local_site::stage3("a_publish_without_ca_certificates") else {
        return;
    };
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    pack(&root, &tmp.path().join("unused"));
    let repo = support::unique("zentoo-test/no-ca");
    let out = in_stage3(stage3, &root, None)
        .args(["--image", &format!("{}/{repo}:latest", h.plain), "--push"])
        .args(["--insecure-registry", &h.plain])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("registry client: cannot set up"),
        "{stderr}"
    );
    assert!(stderr.contains("CA certificates"), "{stderr}");
    assert!(!tag_exists(&h.plain, &repo, "latest"), "nothing pushed");
}
