//! Publishing against real servers: the harness's registries (plain, and TLS + basic auth)
//! and engine. Skipped (with a SKIPPED line) when the harness is not up; under `CI=true` it
//! must be. Read back with skopeo, umoci and podman.

use crate::support;

use crate::support::publish::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use support::engine::Registries;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zentoo::publish::registry::{Registry, RegistryConfig, UploadMode};
use zentoo::publish::{BuiltImage, Compression, ImageOptions, Layout, build_image, engine, oci};

fn image(root: &Path, dir: &Path, arch: &str, compression: Compression) -> (Layout, BuiltImage) {
    let layout = Layout::create(dir).unwrap();
    let mut opts = ImageOptions::new(arch, EPOCH);
    opts.compression = compression;
    opts.ref_name = Some("latest".into());
    opts.cmd = Some(vec!["/bin/sh".into(), "-c".into(), "cat /etc/motd".into()]);
    opts.annotations
        .insert(oci::TUPLE.into(), format!("{arch}-test"));
    let built = build_image(root, &layout, &opts).unwrap();
    (layout, built)
}

fn busybox_root(root: &Path) {
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/cat")).unwrap();
    fs::write(root.join("etc/motd"), "hello from zentoo\n").unwrap();
}

fn plain(h: &Registries) -> RegistryConfig {
    RegistryConfig {
        insecure: vec![h.plain.clone()],
        backoff: Duration::from_millis(50),
        ..RegistryConfig::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn skopeo(args: &[&str]) -> String {
    run(Command::new("skopeo").args(args))
}

#[test]
fn a_pushed_image_reads_back_with_skopeo_and_unpacks_to_the_same_tree() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, false);
    let (layout, built) = image(
        &root,
        &tmp.path().join("layout"),
        "amd64",
        Compression::Gzip,
    );
    for (mode, tag) in [
        (UploadMode::Monolithic, "mono"),
        (UploadMode::Chunked, "chunked"),
    ] {
        let reference = format!(
            "{}/{}:{tag}",
            h.plain,
            support::unique("zentoo-test/faithful")
        );
        let registry = Registry::new(RegistryConfig {
            upload: mode,
            ..plain(&h)
        })
        .unwrap();
        let digest = rt()
            .block_on(registry.push_layout(&layout, Some("latest"), &reference))
            .unwrap();
        assert_eq!(digest, built.manifest.digest);
        let inspect = skopeo(&[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]);
        assert!(inspect.contains(&digest), "{inspect}");
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]);
        assert!(raw.contains(r#""dev.zentoo.tuple":"amd64-test""#), "{raw}");
        let copy = tmp.path().join(format!("copy-{tag}"));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &format!("oci:{}:x", copy.display()),
        ]);
        let bundle = tmp.path().join(format!("bundle-{tag}"));
        run(Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:x", copy.display()))
            .arg(&bundle));
        assert_same_tree(&root, &bundle.join("rootfs"));
    }
}

#[test]
fn the_tls_registry_takes_the_authfile_or_creds_and_refuses_bad_ones() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let (auth, ca, user, password, authfile) = (
        h.auth.clone(),
        h.ca.clone(),
        h.user.clone(),
        h.password.clone(),
        h.authfile.clone(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    let (layout, built) = image(
        &root,
        &tmp.path().join("layout"),
        "amd64",
        Compression::Zstd,
    );
    let repo = support::unique("zentoo-test/auth");
    let via_file = Registry::new(RegistryConfig {
        authfile: Some(authfile),
        ca_file: Some(ca.clone()),
        ..RegistryConfig::default()
    })
    .unwrap();
    let reference = format!("{auth}/{repo}:file");
    let digest = rt()
        .block_on(via_file.push_layout(&layout, None, &reference))
        .unwrap();
    assert_eq!(digest, built.manifest.digest);
    let via_creds = Registry::new(RegistryConfig {
        creds: Some((user.clone(), password.clone())),
        ca_file: Some(ca.clone()),
        upload: UploadMode::Chunked,
        ..RegistryConfig::default()
    })
    .unwrap();
    let reference = format!("{auth}/{repo}:creds");
    rt().block_on(via_creds.push_layout(&layout, None, &reference))
        .unwrap();
    let certs = tmp.path().join("certs");
    fs::create_dir_all(&certs).unwrap();
    fs::copy(&ca, certs.join("ca.crt")).unwrap();
    let inspect = skopeo(&[
        "inspect",
        "--cert-dir",
        certs.to_str().unwrap(),
        "--creds",
        &format!("{user}:{password}"),
        &format!("docker://{reference}"),
    ]);
    assert!(inspect.contains(&digest), "{inspect}");

    let wrong = Registry::new(RegistryConfig {
        creds: Some((user, "wrong".into())),
        ca_file: Some(ca),
        ..RegistryConfig::default()
    })
    .unwrap();
    let err = rt()
        .block_on(wrong.push_layout(&layout, None, &format!("{auth}/{repo}:wrong")))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&auth), "{err}");
    let untrusted = Registry::new(RegistryConfig::default()).unwrap();
    let err = rt()
        .block_on(untrusted.push_layout(&layout, None, &format!("{auth}/{repo}:x")))
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn podman_pulls_and_runs_the_pushed_image_and_the_loaded_one() {
    let (Some(h), Some(url)) = (support::registry_env(), support::harness_var("DOCKER_HOST"))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    let (layout, built) = image(
        &root,
        &tmp.path().join("layout"),
        "amd64",
        Compression::Zstd,
    );
    let reference = format!("{}/{}:latest", h.plain, support::unique("zentoo-test/run"));
    let registry = Registry::new(plain(&h)).unwrap();
    rt().block_on(registry.push_layout(&layout, None, &reference))
        .unwrap();
    let podman = |args: &[&str]| run(Command::new("podman").arg("--url").arg(&url).args(args));
    podman(&["pull", "--tls-verify=false", &reference]);
    assert_eq!(podman(&["run", "--rm", &reference]), "hello from zentoo\n");
    podman(&["rmi", &reference]);

    let loaded = format!("localhost/{}:loaded", support::unique("zentoo-test/load"));
    rt().block_on(async {
        let docker = engine::connect_default().await?;
        engine::load(&docker, &layout, &built, &loaded).await
    })
    .unwrap();
    assert_eq!(podman(&["run", "--rm", &loaded]), "hello from zentoo\n");
    podman(&["rmi", &loaded]);
}

#[test]
fn one_index_tag_serves_both_arches() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    let repo = format!("{}/{}", h.plain, support::unique("zentoo-test/multi"));
    let other = format!(
        "{}/{}",
        h.plain,
        support::unique("zentoo-test/arm-elsewhere")
    );
    let registry = Registry::new(plain(&h)).unwrap();
    let (amd, amd_image) = image(&root, &tmp.path().join("amd"), "amd64", Compression::Zstd);
    let (arm, arm_image) = image(&root, &tmp.path().join("arm"), "arm64", Compression::Zstd);
    let rt = rt();
    rt.block_on(registry.push_layout(&amd, None, &format!("{repo}:amd64")))
        .unwrap();
    // The arm64 image lives in another repository: the index brings it in (mount or copy).
    rt.block_on(registry.push_layout(&arm, None, &format!("{other}:arm64")))
        .unwrap();
    let digest = rt
        .block_on(registry.push_index(
            &format!("{repo}:latest"),
            &[format!("{repo}:amd64"), format!("{other}:arm64")],
        ))
        .unwrap();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:latest"),
    ]);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["platform"]["architecture"], "amd64");
    assert_eq!(entries[0]["digest"], amd_image.manifest.digest.as_str());
    assert_eq!(entries[1]["platform"]["architecture"], "arm64");
    assert_eq!(entries[1]["platform"]["variant"], "v8");
    assert_eq!(entries[1]["digest"], arm_image.manifest.digest.as_str());
    assert_eq!(zentoo::publish::spec::sha256_digest(raw.as_bytes()), digest);
    for arch in ["amd64", "arm64"] {
        let inspect = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            arch,
            &format!("docker://{repo}:latest"),
        ]);
        assert!(
            inspect.contains(&format!(r#""Architecture": "{arch}""#)),
            "{arch}: {inspect}"
        );
    }
}

/// A TCP proxy to `upstream` that counts the bytes it sends back to clients (`down`) and cuts a
/// connection once the client has sent more than `budget` bytes on it (`cuts`); with `heal`,
/// only the first cut happens.
struct Proxy {
    addr: String,
    cuts: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

async fn proxy(upstream: String, budget: u64, heal: bool) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let cuts = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let healed = Arc::new(AtomicBool::new(false));
    let (cut_counter, down_counter) = (cuts.clone(), down.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let (cuts, down, healed) = (cut_counter.clone(), down_counter.clone(), healed.clone());
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut sent = 0u64;
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        sent += n as u64;
                        if sent > budget && !healed.load(Ordering::SeqCst) {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            if heal {
                                healed.store(true, Ordering::SeqCst);
                            }
                            return; // drop both halves: connection reset mid-request
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let back = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = sr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        down.fetch_add(n as u64, Ordering::SeqCst);
                    }
                };
                tokio::select! {
                    _ = up => {},
                    _ = back => {},
                }
            });
        }
    });
    Proxy { addr, cuts, down }
}

#[test]
fn a_dropped_upload_is_retried_and_a_dead_one_leaves_no_tag() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    let (layout, built) = image(
        &root,
        &tmp.path().join("layout"),
        "amd64",
        Compression::Zstd,
    );
    assert!(built.layers[0].descriptor.size > 256 * 1024);
    let rt = rt();
    let repo = support::unique("zentoo-test/drop");

    // Cut once mid-upload: the retry finishes the push.
    let Proxy {
        addr: proxy, cuts, ..
    } = rt.block_on(self::proxy(h.plain.clone(), 200 * 1024, true));
    let registry = Registry::new(RegistryConfig {
        insecure: vec![proxy.clone()],
        backoff: Duration::from_millis(50),
        ..RegistryConfig::default()
    })
    .unwrap();
    let digest = rt
        .block_on(registry.push_layout(&layout, None, &format!("{proxy}/{repo}:healed")))
        .unwrap();
    assert_eq!(digest, built.manifest.digest);
    assert_eq!(cuts.load(Ordering::SeqCst), 1, "the proxy cut once");

    // Every upload cut: the push fails naming the blob, and the tag never appears.
    let repo = support::unique("zentoo-test/dead");
    let Proxy {
        addr: proxy, cuts, ..
    } = rt.block_on(self::proxy(h.plain.clone(), 64 * 1024, false));
    let registry = Registry::new(RegistryConfig {
        insecure: vec![proxy.clone()],
        backoff: Duration::from_millis(20),
        retries: 2,
        ..RegistryConfig::default()
    })
    .unwrap();
    let err = rt
        .block_on(registry.push_layout(&layout, None, &format!("{proxy}/{repo}:dead")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("push blob {}", built.layers[0].descriptor.digest)),
        "{err}"
    );
    assert!(err.contains("after 3 attempts"), "{err}");
    assert_eq!(cuts.load(Ordering::SeqCst), 3);
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/{repo}:dead", h.plain))
        .output()
        .unwrap();
    assert!(!out.status.success(), "no tag after a failed push");
}

/// The cluster's publish, split in two as the build Job runs it: `pack` (root) reads a root
/// with a file only root may read and writes an OCI layout; `publish` (as `nobody`, the only
/// step with registry credentials) pushes that layout and reports what it pushed.
#[test]
fn packed_as_root_and_pushed_as_nobody_as_the_build_job_does() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let setpriv = Path::new("/usr/bin/setpriv");
    assert!(setpriv.exists(), "setpriv (util-linux) is needed");
    let tmp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    fs::write(root.join("etc/shadow"), "root:*:19000::::::\n").unwrap();
    fs::set_permissions(root.join("etc/shadow"), fs::Permissions::from_mode(0o600)).unwrap();
    let layout = tmp.path().join("oci");
    let packed = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["publish", "--rootfs"])
        .arg(&root)
        .args(["--arch", "amd64", "--oci-layout"])
        .arg(&layout)
        .args(["--output", "json"]));
    let packed: serde_json::Value = serde_json::from_str(packed.trim()).unwrap();
    let digest = packed["imageDigest"].as_str().unwrap().to_string();

    let log = tmp.path().join("termination-log");
    fs::write(&log, "").unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
    let reference = format!(
        "{}/{}:latest",
        h.plain,
        support::unique("zentoo-test/split")
    );
    let pushed = run(Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .env("HOME", tmp.path())
        .arg(env!("CARGO_BIN_EXE_zentoo"))
        .args(["publish", "--oci-layout"])
        .arg(&layout)
        .args(["--output", "json", "--image", &reference, "--push"])
        .args(["--insecure-registry", &h.plain])
        .arg("--termination-log")
        .arg(&log));
    let result: serde_json::Value = serde_json::from_str(pushed.trim()).unwrap();
    assert_eq!(result["imageDigest"], digest.as_str());
    assert_eq!(result["image"], reference.as_str());
    assert_eq!(fs::read_to_string(&log).unwrap(), pushed.trim());
    let inspect = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(inspect.contains(&digest), "{inspect}");
}

/// The kernel in the split publish: `pack --kernel` puts it into the OCI layout beside the
/// image, `publish --oci-layout --push` sends both and reports the kernel for the status.
#[test]
fn a_packed_kernel_is_pushed_beside_its_image_and_reported() {
    let Some(h) = support::registry_env() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    busybox_root(&root);
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("boot/vmlinuz-6.6.58-gentoo-dist"), "kernel\n").unwrap();
    fs::create_dir_all(root.join("lib/modules/6.6.58-gentoo-dist/kernel")).unwrap();
    fs::write(root.join("lib/modules/6.6.58-gentoo-dist/modules.dep"), "").unwrap();
    let layout = tmp.path().join("oci");
    let packed = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["publish", "--rootfs"])
        .arg(&root)
        .args(["--arch", "amd64", "--tuple", "amd64-k", "--oci-layout"])
        .arg(&layout)
        .args(["--kernel", "--check-libraries", "--output", "json"]));
    let packed: serde_json::Value = serde_json::from_str(packed.trim()).unwrap();
    assert_eq!(packed["kernel"]["version"], "6.6.58-gentoo-dist");
    let kernel_digest = packed["kernel"]["digest"].as_str().unwrap().to_string();

    let reference = format!(
        "{}/{}:latest",
        h.plain,
        support::unique("zentoo-test/kernel")
    );
    let pushed = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["publish", "--oci-layout"])
        .arg(&layout)
        .args(["--output", "json", "--image", &reference, "--push"])
        .args(["--insecure-registry", &h.plain]));
    let result: serde_json::Value = serde_json::from_str(pushed.trim()).unwrap();
    assert_eq!(result["imageDigest"], packed["imageDigest"]);
    assert_eq!(result["kernel"]["version"], "6.6.58-gentoo-dist");
    assert_eq!(result["kernel"]["digest"], kernel_digest.as_str());
    let artifact = result["kernel"]["artifact"].as_str().unwrap();
    assert!(
        artifact.starts_with(&format!("{reference}-kernel@sha256:")),
        "{artifact}"
    );
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}-kernel"),
    ]);
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(manifest["artifactType"], "application/vnd.zentoo.kernel.v1");
    assert_eq!(manifest["layers"][0]["digest"], kernel_digest.as_str());
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "kernel-amd64-k-6.6.58-gentoo-dist.tar.xz"
    );
    // The image tag is still the image.
    let image = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]);
    assert!(!image.contains("artifactType"), "{image}");
}

/// The busybox root with Portage's records: busybox itself, and a data package whose file
/// changes between the two builds.
fn layered_root(root: &Path, data: &[u8], built: i64) {
    use std::os::unix::fs::MetadataExt;
    if !root.join("bin").exists() {
        busybox_root(root);
    }
    fs::create_dir_all(root.join("usr/share/data")).unwrap();
    fs::write(root.join("usr/share/data/blob"), data).unwrap();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(built as u64);
    fs::File::options()
        .write(true)
        .open(root.join("usr/share/data/blob"))
        .and_then(|f| f.set_modified(at))
        .unwrap();
    let mtime = |rel: &str| fs::symlink_metadata(root.join(rel)).unwrap().mtime();
    record_package(
        root,
        "sys-apps/busybox-1.36.1",
        EPOCH - 100,
        &[
            format!("obj /bin/busybox 0 {}", mtime("bin/busybox")),
            format!("sym /bin/sh -> busybox {}", mtime("bin/sh")),
            format!("sym /bin/cat -> busybox {}", mtime("bin/cat")),
        ],
    );
    record_package(
        root,
        "app-misc/data-1",
        EPOCH - 100,
        &[format!(
            "obj /usr/share/data/blob 0 {}",
            mtime("usr/share/data/blob")
        )],
    );
}

#[test]
fn a_rebuilt_package_pushes_and_pulls_only_its_layer_and_the_top() {
    let (Some(h), Some(url)) = (support::registry_env(), support::harness_var("DOCKER_HOST"))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let random = |seed: u8| -> Vec<u8> {
        (0..512 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
            .collect()
    };
    layered_root(&root, &random(1), EPOCH - 200);
    let (v1, first) = image(&root, &tmp.path().join("v1"), "amd64", Compression::Zstd);
    layered_root(&root, &random(2), EPOCH - 150);
    let (v2, second) = image(&root, &tmp.path().join("v2"), "amd64", Compression::Zstd);
    let names: Vec<&str> = second.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["app-misc/data-1", "sys-apps/busybox-1.36.1", "top"]);
    assert_eq!(first.layers[1], second.layers[1], "busybox unchanged");

    let rt = rt();
    let Proxy {
        addr: proxy, down, ..
    } = rt.block_on(self::proxy(h.plain.clone(), u64::MAX, false));
    let repo = format!("{proxy}/{}", support::unique("zentoo-test/layered"));
    let registry = Registry::new(RegistryConfig {
        insecure: vec![proxy.clone()],
        ..plain(&h)
    })
    .unwrap();
    let (_, pushed) = rt
        .block_on(registry.push_layout_counted(&v1, None, &format!("{repo}:v1")))
        .unwrap();
    assert_eq!((pushed.layers, pushed.layers_uploaded), (3, 3));
    let (_, pushed) = rt
        .block_on(registry.push_layout_counted(&v2, None, &format!("{repo}:v2")))
        .unwrap();
    // The data layer, the top layer, the config and the manifest: nothing else.
    let changed = |i: usize| second.layers[i].descriptor.size;
    let expected = changed(0) + changed(2) + second.config.size + second.manifest.size;
    assert_eq!((pushed.layers, pushed.layers_uploaded), (3, 2));
    assert_eq!(pushed.bytes_uploaded, expected);

    // An engine that has v1 downloads only the changed layers of v2.
    let podman = |args: &[&str]| run(Command::new("podman").arg("--url").arg(&url).args(args));
    let pull = |tag: &str| {
        let before = down.load(Ordering::SeqCst);
        podman(&["pull", "--tls-verify=false", &format!("{repo}:{tag}")]);
        down.load(Ordering::SeqCst) - before
    };
    let all = pull("v1");
    let delta = pull("v2");
    assert_eq!(
        podman(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/cat",
            &format!("{repo}:v2"),
            "/etc/motd"
        ]),
        "hello from zentoo\n"
    );
    podman(&["rmi", &format!("{repo}:v1"), &format!("{repo}:v2")]);
    let busybox = first.layers[1].descriptor.size;
    eprintln!(
        "pushed v2: {expected} bytes; pulled v1: {all} bytes, v2 after v1: {delta} bytes (busybox layer {busybox})"
    );
    assert!(all > busybox + expected, "v1 pull: {all} bytes");
    assert!(delta >= changed(0), "v2 pull: {delta} bytes");
    assert!(
        delta < expected + busybox / 2,
        "v2 pull: {delta} bytes, expected about {expected} (busybox layer {busybox})"
    );
}
