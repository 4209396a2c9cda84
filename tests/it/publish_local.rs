//! Publishing without servers: OCI layouts and stage tarballs are reproducible and faithful
//! (read back by umoci and GNU tar, compared file by file). Runs as root (devices, chown,
//! `security.capability`).

use crate::support::publish::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use zentoo::publish::{
    Compression, ImageOptions, Layout, StageOptions, build_image, oci, write_stage,
};

fn options(compression: Compression) -> ImageOptions {
    let mut opts = ImageOptions::new("amd64", EPOCH);
    opts.compression = compression;
    opts.ref_name = Some("latest".into());
    opts.annotations
        .insert(oci::TUPLE.into(), "amd64-test-none-base".into());
    opts.annotations
        .insert(oci::INPUTS_DIGEST.into(), "sha256:00".into());
    opts.cmd = Some(vec!["/bin/sh".into()]);
    opts
}

#[test]
fn the_same_root_gives_the_same_image_and_tarball() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_root(&a, false);
    make_root(&b, true);
    // Different on-disk times, all after the build time: clamped away.
    touch_all(&a, EPOCH + 10);
    touch_all(&b, EPOCH + 99_999);
    for compression in [Compression::Zstd, Compression::Gzip] {
        let la = Layout::create(&tmp.path().join(format!("la-{compression:?}"))).unwrap();
        let lb = Layout::create(&tmp.path().join(format!("lb-{compression:?}"))).unwrap();
        let ia = build_image(&a, &la, &options(compression)).unwrap();
        let ib = build_image(&b, &lb, &options(compression)).unwrap();
        assert_eq!(ia.layers, ib.layers, "{compression:?} layers");
        assert_eq!(ia.config.digest, ib.config.digest);
        assert_eq!(ia.manifest.digest, ib.manifest.digest);
        assert_eq!(
            fs::read(la.dir().join("index.json")).unwrap(),
            fs::read(lb.dir().join("index.json")).unwrap()
        );
    }
    for compression in [Compression::Xz, Compression::Zstd] {
        let mut opts = StageOptions::new("amd64-test", EPOCH);
        opts.compression = compression;
        let sa = write_stage(&a, &tmp.path().join("sa"), &opts).unwrap();
        let sb = write_stage(&b, &tmp.path().join("sb"), &opts).unwrap();
        assert_eq!(sa.sha256, sb.sha256, "{compression:?} tarball");
        assert_eq!(
            fs::read(&sa.digests).unwrap(),
            fs::read(&sb.digests).unwrap()
        );
        assert_eq!(
            fs::read(&sa.contents).unwrap(),
            fs::read(&sb.contents).unwrap()
        );
    }
}

#[test]
fn umoci_unpacks_the_image_to_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, false);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let dir = tmp.path().join(format!("layout-{compression:?}"));
        let layout = Layout::create(&dir).unwrap();
        let image = build_image(&root, &layout, &options(compression)).unwrap();
        assert!(image.stats.entries > 20);
        let bundle = tmp.path().join(format!("bundle-{compression:?}"));
        let rootfs = bundle.join("rootfs");
        if compression == Compression::Gzip {
            run(Command::new("umoci")
                .args(["unpack", "--image"])
                .arg(format!("{}:latest", dir.display()))
                .arg(&bundle));
        } else {
            // umoci 0.4.7 reads no zstd layers: unpack this one with zstd and GNU tar.
            fs::create_dir_all(&rootfs).unwrap();
            let blob = layout
                .blob_path(&image.layers[0].descriptor.digest)
                .unwrap();
            run(Command::new("sh").arg("-c").arg(format!(
                "zstd -dc '{}' | tar --xattrs --xattrs-include='*' --numeric-owner -xpf - -C '{}'",
                blob.display(),
                rootfs.display()
            )));
        }
        assert_same_tree(&root, &rootfs);
        let sh = fs::metadata(rootfs.join("bin/sh")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&sh),
            3,
            "hard links kept"
        );
    }
}

#[test]
fn the_layout_has_the_annotations_platform_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    let layout = Layout::create(&tmp.path().join("layout")).unwrap();
    let mut opts = options(Compression::Zstd);
    opts.architecture = "arm64".into();
    opts.variant = Some("v8".into());
    opts.env = vec!["PATH=/bin".into(), "LANG=C.UTF-8".into()];
    opts.entrypoint = Some(vec!["/bin/busybox".into()]);
    opts.labels.insert("a".into(), "b".into());
    opts.annotations
        .insert(oci::SOURCE.into(), "https://git.example/site".into());
    build_image(&root, &layout, &opts).unwrap();
    let (_, manifest, config) = oci::read_image(&layout, Some("latest")).unwrap();
    let ann = manifest.annotations.unwrap();
    assert_eq!(ann[oci::CREATED], "2023-11-14T22:13:20Z");
    assert_eq!(ann[oci::TUPLE], "amd64-test-none-base");
    assert_eq!(ann[oci::SOURCE], "https://git.example/site");
    assert_eq!(config.architecture, "arm64");
    assert_eq!(config.variant.as_deref(), Some("v8"));
    assert_eq!(config.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(config.config.env, ["PATH=/bin", "LANG=C.UTF-8"]);
    assert_eq!(config.config.labels["a"], "b");
    assert_eq!(
        manifest.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let index = layout.index().unwrap();
    let platform = index.manifests[0].platform.clone().unwrap();
    assert_eq!(
        (platform.architecture.as_str(), platform.variant.as_deref()),
        ("arm64", Some("v8"))
    );
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", layout.dir().display())));
    assert!(inspect.contains("\"Architecture\": \"arm64\""), "{inspect}");
}

#[test]
fn the_stage_tarball_extracts_to_the_same_tree_and_lists_like_gnu_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, false);
    touch_all(&root, EPOCH - 3600);
    let opts = StageOptions::new("amd64-test", EPOCH);
    let stage = write_stage(&root, &tmp.path().join("out"), &opts).unwrap();
    let name = "stage3-amd64-test-20231114T221320Z.tar.xz";
    assert_eq!(stage.tarball.file_name().unwrap(), name);

    let listed = run(Command::new("tar")
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .args(["--xattrs", "-tvf"])
        .arg(&stage.tarball));
    let mut ours = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(&stage.contents).unwrap()),
        &mut ours,
    )
    .unwrap();
    assert_eq!(ours, listed, "CONTENTS differs from `tar -tv`");
    assert!(ours.starts_with("drwxr-xr-x  0/0"), "{ours}");
    assert!(ours.contains("-rwsr-xr-x* 0/0"), "{ours}");
    assert!(ours.contains(" ./bin/sh link to ./bin/busybox\n"), "{ours}");
    assert!(ours.contains(" ./bin/cat -> busybox\n"), "{ours}");

    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(&stage.tarball)
        .arg("-C")
        .arg(&out));
    assert_same_tree(&root, &out);
    let mtime = fs::metadata(out.join("etc/hostname")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&mtime), EPOCH - 3600);

    let digests = fs::read_to_string(&stage.digests).unwrap();
    let lines: Vec<&str> = digests.lines().collect();
    assert_eq!(lines.len(), 8, "{digests}");
    assert_eq!(lines[0], "# BLAKE2B HASH");
    assert_eq!(lines[2], "# SHA512 HASH");
    let sha512 = run(Command::new("sha512sum").arg(&stage.tarball));
    let hex = sha512.split_whitespace().next().unwrap();
    assert_eq!(lines[3], format!("{hex}  {name}"));
    let b2 = run(Command::new("b2sum").arg(&stage.contents));
    let hex = b2.split_whitespace().next().unwrap();
    assert_eq!(lines[5], format!("{hex}  {name}.CONTENTS.gz"));
    let sha256 = run(Command::new("sha256sum").arg(&stage.tarball));
    assert_eq!(
        stage.sha256,
        format!("sha256:{}", sha256.split_whitespace().next().unwrap())
    );
}

#[test]
fn bad_roots_are_clear_errors_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let layout = Layout::create(&tmp.path().join("layout")).unwrap();
    let err = build_image(&file, &layout, &options(Compression::Zstd)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: not a directory", file.display())
    );
    let err = build_image(
        &tmp.path().join("nope"),
        &layout,
        &options(Compression::Zstd),
    )
    .unwrap_err();
    assert!(err.to_string().ends_with("nope: not a directory"), "{err}");

    // An unreadable file: root reads anything, so pack as `nobody`.
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("d/f"), "x").unwrap();
    let unreadable = root.join("d/secret");
    fs::write(&unreadable, "x").unwrap();
    fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let as_nobody = publish_as_nobody(&root, tmp.path());
    if let Some(message) = as_nobody {
        assert!(message.contains("secret: cannot read file"), "{message}");
    }
    let blobs: Vec<_> = fs::read_dir(layout.dir().join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "no blob from a failed build");
    assert!(Path::new(&layout.dir().join("index.json")).exists());
}

/// Runs `zentoo publish` as `nobody` on `root` so that a 0000 file is unreadable; returns its
/// stderr (None when `setpriv` is missing).
fn publish_as_nobody(root: &Path, tmp: &Path) -> Option<String> {
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        return None;
    }
    let out = tmp.join("nobody-layout");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
    for p in [tmp, root, &root.join("d")] {
        fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let o = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_zentoo"))
        .args(["publish", "--rootfs"])
        .arg(root)
        .arg("--oci-layout")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    Some(String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_cli_prints_json_and_writes_the_termination_log() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=gentoo\n").unwrap();
    let log = tmp.path().join("termination-log");
    let out = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["publish", "--rootfs"])
        .arg(&root)
        .arg("--oci-layout")
        .arg(tmp.path().join("layout"))
        .arg("--tarball")
        .arg(tmp.path().join("out"))
        .args([
            "--tuple",
            "amd64-test",
            "--arch",
            "amd64",
            "--output",
            "json",
        ])
        .args(["--annotation", "dev.zentoo.inputs-digest=sha256:00"])
        .arg("--termination-log")
        .arg(&log));
    let result: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        result["imageDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        result["tarballDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        result["tarball"]
            .as_str()
            .unwrap()
            .ends_with("/stage3-amd64-test-20231114T221320Z.tar.xz")
    );
    let message = fs::read_to_string(&log).unwrap();
    assert!(message.len() <= 4096);
    assert_eq!(message, out.trim());
    let layout = Layout::open(&tmp.path().join("layout")).unwrap();
    let (_, manifest, _) = oci::read_image(&layout, Some("latest")).unwrap();
    assert_eq!(manifest.annotations.unwrap()[oci::TUPLE], "amd64-test");
}

/// Portage's records for most of [`make_root`]'s files, dated as they are on disk (one file
/// found through the `usr/lib64` symlink, as merged-usr roots record `/bin`).
fn record_packages(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let mtime = |rel: &str| fs::symlink_metadata(root.join(rel)).unwrap().mtime();
    let long = format!("{}/{}/{}", "d".repeat(120), "e".repeat(90), "f".repeat(150));
    let packages = [
        (
            "sys-apps/busybox-1.36.1-r3",
            vec![
                format!("dir /bin"),
                format!("obj /bin/busybox 0 {}", mtime("bin/busybox")),
                format!("obj /bin/sh 0 {}", mtime("bin/sh")),
                format!("obj /bin/ls 0 {}", mtime("bin/ls")),
                format!("sym /bin/cat -> busybox {}", mtime("bin/cat")),
                format!("obj /bin/ping 0 {}", mtime("bin/ping")),
            ],
        ),
        (
            "sys-apps/baselayout-2.17",
            vec![
                "dev /dev/null".into(),
                "dev /dev/loop0".into(),
                "fif /dev/initctl".into(),
            ],
        ),
        (
            "app-misc/big-1",
            vec![format!("obj /usr/share/big 0 {}", mtime("usr/share/big"))],
        ),
        (
            "app-misc/long-1",
            vec![format!(
                "obj /usr/lib64/{long} 0 {}",
                mtime(&format!("usr/share/{long}"))
            )],
        ),
    ];
    for (cpf, contents) in packages {
        record_package(root, cpf, EPOCH - 500, &contents);
    }
}

fn layer_digests(image: &zentoo::publish::BuiltImage) -> Vec<(String, String)> {
    let layers = image.layers.iter();
    layers
        .map(|l| (l.name.clone(), l.descriptor.digest.clone()))
        .collect()
}

#[test]
fn a_layered_image_unpacks_to_the_same_tree_and_keeps_unchanged_package_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_root(&root, false);
    record_packages(&root);
    let build = |name: &str| {
        let dir = tmp.path().join(name);
        let layout = Layout::create(&dir).unwrap();
        (
            dir,
            build_image(&root, &layout, &options(Compression::Gzip)).unwrap(),
        )
    };
    let (dir, image) = build("layered");
    let names: Vec<&str> = image.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "app-misc/big-1",
            "app-misc/long-1",
            "sys-apps/baselayout-2.17",
            "sys-apps/busybox-1.36.1-r3",
            "top"
        ]
    );
    let (_, manifest, config) = oci::read_image(&Layout::open(&dir).unwrap(), None).unwrap();
    assert_eq!(config.rootfs.diff_ids.len(), 5);
    assert_eq!(config.history.len(), 5);
    let annotated = manifest.layers[3].annotations.clone().unwrap_or_default();
    assert_eq!(annotated[oci::LAYER], "sys-apps/busybox-1.36.1-r3");
    // umoci applies the layers in order: the same tree as the root (and as one layer).
    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", dir.display()))
        .arg(&bundle));
    assert_same_tree(&root, &bundle.join("rootfs"));
    let sh = fs::metadata(bundle.join("rootfs/bin/sh")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::nlink(&sh), 3);

    // Same inputs, same bytes: every layer, the config and the manifest.
    let (_, again) = build("again");
    assert_eq!(layer_digests(&again), layer_digests(&image));
    assert_eq!(again.manifest.digest, image.manifest.digest);

    // A new unowned file and one package rebuilt: only that package's layer and the top change.
    fs::write(root.join("etc/motd"), "hello\n").unwrap();
    fs::write(root.join("usr/share/big"), vec![8u8; 3 << 20]).unwrap();
    record_packages(&root);
    let (_, changed) = build("changed");
    let (before, after) = (layer_digests(&image), layer_digests(&changed));
    let differs: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, _)| b.0.as_str())
        .collect();
    assert_eq!(differs, ["app-misc/big-1", "top"]);

    // One layer on request: the same tree again.
    let mut single = options(Compression::Gzip);
    single.layers = oci::LayerMode::Single;
    let layout = Layout::create(&tmp.path().join("single")).unwrap();
    let one = build_image(&root, &layout, &single).unwrap();
    assert_eq!(one.layers.len(), 1);
}
