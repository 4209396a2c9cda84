//! Gentoo depth, end to end on the real Podman engine with the test stage3 (tests/stage3):
//! pinned repo snapshots, a kernel published as its own artifact, the `dbg` variant's split
//! debug info, repairs (the library check) and a tmpfs `PORTAGE_TMPDIR`.
//! Needs the engine socket in `DOCKER_HOST` (tests/cluster/up).

use crate::support;
use crate::support::local_site;

use crate::support::local_site::{parse_build, stage3};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use zentoo::site::write::Change;

/// The example site (`zentoo site init`) with more sets and tuples.
struct Site(local_site::Site);

impl Site {
    fn new(stage3: &'static str) -> Self {
        let site = local_site::Site::new(stage3);
        site.commit(
            "main",
            &[
                Change::file("sets/demo", "app-misc/democlient\n"),
                Change::file("sets/bug", "app-misc/linkbug\n"),
                Change::file(
                    "tuples",
                    "base-none-base\nbase-none-demo\nbase-none-bug\nserver-nodocs-web\n",
                ),
            ],
        );
        Site(site)
    }

    fn out(&self) -> PathBuf {
        self.0.out()
    }

    fn commit(&self, branch: &str, changes: &[Change<'_>]) {
        self.0.commit(branch, changes);
    }

    /// `zentoo build --site SITE --out OUT ARGS`.
    fn zentoo(&self, args: &[&str]) -> Output {
        self.0.zentoo(&[&["build"][..], args].concat())
    }

    /// `zentoo build ARGS --output json`: exit code and the one tuple's report.
    fn build(&self, args: &[&str]) -> (i32, Value) {
        let (code, tuples) = parse_build(&self.zentoo(&[args, &["--output", "json"]].concat()));
        let tuple = tuples.into_iter().next().map(|(_, t)| t);
        (code, tuple.unwrap_or(Value::Null))
    }
}

/// Entry names of an xz tarball.
fn tar_names(path: &Path) -> Vec<String> {
    let mut xz = Vec::new();
    liblzma::read::XzDecoder::new(std::fs::File::open(path).expect("open tarball"))
        .read_to_end(&mut xz)
        .expect("xz");
    tar::Archive::new(xz.as_slice())
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect()
}

/// One file's content from an xz tarball.
fn tar_file(path: &Path, name: &str) -> Option<String> {
    let mut xz = Vec::new();
    liblzma::read::XzDecoder::new(std::fs::File::open(path).ok()?)
        .read_to_end(&mut xz)
        .ok()?;
    let mut archive = tar::Archive::new(xz.as_slice());
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        if entry.path().ok()?.display().to_string() == name {
            let mut text = String::new();
            entry.read_to_string(&mut text).ok()?;
            return Some(text);
        }
    }
    None
}

fn sha512_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(std::fs::read(path).expect("read")))
}

#[test]
fn a_kernel_is_published_beside_the_stage_with_digests_and_a_snapshot_pin_moves_it() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_kernel_is_published") else {
        return;
    };
    let site = Site::new(stage3);
    // The site holds hello back at 2.10, which the newest snapshot's 202610-01 affects.
    site.commit(
        "portage/base",
        &[
            Change::file("kernel/config", "CONFIG_ZENTOO_SITE=y\nCONFIG_MODULES=y\n"),
            Change::file("package.mask/hello", ">=app-misc/hello-2.12\n"),
        ],
    );
    let kernel = [
        "base-none-base",
        "--kernel",
        "sys-kernel/gentoo-kernel",
        "--kernel-config",
        "kernel/config",
        "--tmpfs",
        "256Mi",
    ];
    let with = |snapshot: &'static str| {
        let mut args = kernel.to_vec();
        args.extend(["--repo-snapshot", snapshot]);
        args
    };
    let (code, first) = site.build(&with("20261101"));
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["result"], "built", "{first}");
    // The build audits the image against its snapshot's GLSAs.
    let glsa = &first["build"]["glsa"];
    assert_eq!(glsa["advisories"], 4, "{first}");
    assert_eq!(
        glsa["affected"],
        serde_json::json!([{"id": "202610-01", "severity": "high", "package": "app-misc/hello-2.10"}]),
        "{first}"
    );
    let k = &first["build"]["kernel"];
    assert_eq!(k["version"], "6.6.58-gentoo-dist", "{first}");
    let artifact = PathBuf::from(k["artifact"].as_str().expect("artifact path"));
    assert_eq!(
        artifact.file_name().and_then(|n| n.to_str()),
        Some("kernel-base-none-base-6.6.58-gentoo-dist.tar.xz")
    );
    assert_eq!(artifact.parent(), Some(site.out().join("stages").as_path()));
    // DIGESTS beside it, as Gentoo publishes them, and the digest reported is the file's.
    let digests =
        std::fs::read_to_string(format!("{}.DIGESTS", artifact.display())).expect("kernel DIGESTS");
    assert!(
        digests.contains(&format!(
            "{}  kernel-base-none-base-6.6.58-gentoo-dist.tar.xz",
            sha512_hex(&artifact)
        )),
        "{digests}"
    );
    {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(&artifact).unwrap()));
        assert_eq!(k["digest"], format!("sha256:{sha256}"));
    }
    // Only /boot and /lib/modules, built from the branch's config.
    let names = tar_names(&artifact);
    assert!(
        names.contains(&"./boot/vmlinuz-6.6.58-gentoo-dist".to_string()),
        "{names:?}"
    );
    // Merged /usr (the 23.0 profiles' baselayout): /lib is a link to usr/lib, so the modules
    // are in /usr/lib/modules, with the link beside them.
    assert!(
        names.contains(&"./usr/lib/modules/6.6.58-gentoo-dist/modules.dep".to_string())
            && names.contains(&"./lib".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("./etc")
            || (n.starts_with("./usr/")
                && !"./usr/lib/modules/".starts_with(n.as_str())
                && !n.starts_with("./usr/lib/modules/"))),
        "{names:?}"
    );
    assert_eq!(
        tar_file(&artifact, "./boot/config-6.6.58-gentoo-dist").as_deref(),
        Some("CONFIG_ZENTOO_SITE=y\nCONFIG_MODULES=y\n")
    );
    let build_log =
        std::fs::read_to_string(site.out().join("logs/base-none-base/build.log")).unwrap();
    assert!(
        build_log.contains("PORTAGE_TMPDIR: /var/tmp/portage-tmpfs (tmpfs, 256"),
        "{build_log}"
    );
    assert!(build_log.contains("syncing repo snapshot 20261101"));

    // The table lists it too.
    let table = site.zentoo(&with("20261101"));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("up to date"), "{text}");
    assert!(
        text.contains("base-none-base: GLSA 202610-01 (high: app-misc/hello-2.10)"),
        "{text}"
    );
    assert!(
        text.contains("base-none-base: kernel 6.6.58-gentoo-dist ")
            && text.contains("kernel-base-none-base-6.6.58-gentoo-dist.tar.xz (sha256:"),
        "{text}"
    );

    // Moving the pin rebuilds, on the other snapshot's kernel; the first one stays synced.
    let (code, moved) = site.build(&with("20261001"));
    assert_eq!(code, 0, "{moved}");
    assert_eq!(moved["result"], "built");
    assert_ne!(
        moved["build"]["inputsDigest"], first["build"]["inputsDigest"],
        "a new pin is a new inputs digest"
    );
    assert_eq!(moved["build"]["kernel"]["version"], "6.6.52-gentoo-dist");
    // The older snapshot has no GLSAs yet (they came later): nothing to audit against.
    assert_eq!(moved["build"]["glsa"]["advisories"], 0, "{moved}");
    glsa_audits_agree_with_glsa_check(stage3, &moved, &site.out());
    let (code, again) = site.build(&with("20261001"));
    assert_eq!((code, again["result"].as_str()), (0, Some("upToDate")));
    let (code, back) = site.build(&with("20261101"));
    assert_eq!(code, 0, "{back}");
    let log = std::fs::read_to_string(site.out().join("logs/base-none-base/build.log")).unwrap();
    assert!(
        !log.contains("syncing repo snapshot"),
        "20261101 is synced once per volume: {log}"
    );
    assert!(log.contains("repository: gentoo at /var/db/zentoo/repos/20261101"));
}

/// The older snapshot's stage is what the newest snapshot's GLSAs are about: `zentoo audit`
/// of its SBOM and of its `/var/db/pkg` name the advisories Portage's own `glsa-check -t all`
/// names for the unpacked stage, in the stage3 whose repository holds them; so does the audit
/// of the tuple's last build recorded in `out`.
fn glsa_audits_agree_with_glsa_check(stage3: &str, built: &Value, out: &Path) {
    let tarball = built["build"]["tarball"].as_str().expect("tarball");
    let check = Command::new("podman")
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{tarball}:/stage.tar.xz:ro"))
        .args([
            stage3,
            "sh",
            "-c",
            "mkdir /target && tar -xpf /stage.tar.xz -C /target && ROOT=/target glsa-check -t all",
        ])
        .output()
        .expect("podman run glsa-check");
    let mut portage: Vec<String> = String::from_utf8_lossy(&check.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    portage.sort();
    assert!(
        portage.contains(&"202610-01".to_string()),
        "hello-2.10 is affected: {portage:?} {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let root = tempfile::tempdir().expect("tempdir");
    let untar = Command::new("tar")
        .arg("-xJf")
        .arg(tarball)
        .arg("-C")
        .arg(root.path())
        .arg("./var/db/pkg")
        .status()
        .expect("tar");
    assert!(untar.success());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stage3/repo");
    let sbom = format!("{tarball}.spdx.json");
    let out = out.display().to_string();
    for what in [
        vec!["--sbom", sbom.as_str()],
        vec!["--rootfs", &root.path().display().to_string()],
        vec!["--tuple", "base-none-base", "--out", &out],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
            .args(["audit", "--output", "json", "--repo"])
            .arg(&repo)
            .args(&what)
            .output()
            .expect("zentoo audit");
        assert_eq!(out.status.code(), Some(1), "{what:?}: affected is exit 1");
        let report: Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
        let mut ids: Vec<String> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["glsa"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids, portage, "{what:?}: {report}");
    }
}

#[test]
fn variant_dbg_builds_with_debug_info_split_into_usr_lib_debug() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("variant_dbg") else {
        return;
    };
    let site = Site::new(stage3);
    let names = |t: &Value| tar_names(Path::new(t["build"]["tarball"].as_str().expect("tarball")));
    let (code, opt) = site.build(&["base-none-demo", "--repo-snapshot", "20261101"]);
    assert_eq!(code, 0, "{opt}");
    // (Checked now: both stage tarballs are named after the same commit time.)
    assert!(
        !names(&opt).iter().any(|n| n.starts_with("./usr/lib/debug")),
        "opt has no split debug info"
    );
    let (code, dbg) = site.build(&[
        "base-none-demo",
        "--repo-snapshot",
        "20261101",
        "--variant",
        "dbg",
    ]);
    assert_eq!(code, 0, "{dbg}");
    assert_eq!(
        dbg["result"], "built",
        "a new variant is a new inputs digest"
    );
    assert_eq!(
        dbg["build"]["compiled"], 4,
        "dbg has its own flags: its own binpkgs (democlient, libdemo and @system's 2)"
    );
    // Portage's estrip (FEATURES=splitdebug) keeps each ELF file's debug info beside its path
    // (and build-id links to them, left out here); glibc is RESTRICT=strip.
    let debug: Vec<String> = names(&dbg)
        .into_iter()
        .filter(|n| n.starts_with("./usr/lib/debug/usr/") && n.ends_with(".debug"))
        .collect();
    assert_eq!(
        debug,
        [
            "./usr/lib/debug/usr/bin/democlient.debug",
            "./usr/lib/debug/usr/lib64/libdemo.so.1.debug"
        ]
    );
    let log = std::fs::read_to_string(site.out().join("logs/base-none-demo/build.log")).unwrap();
    assert!(log.contains("CFLAGS=\"-pipe -Og -g\""), "{log}");
    assert!(log.contains("FEATURES+=\"buildpkg binpkg-multi-instance splitdebug\""));
}

#[test]
fn the_library_check_names_each_file_whose_library_is_missing() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("the_library_check") else {
        return;
    };
    let site = Site::new(stage3);
    let pin = ["--repo-snapshot", "20261101", "--check-libraries"];
    let (code, bug) = site.build(&[&["base-none-bug"][..], &pin].concat());
    assert_eq!(code, 1, "{bug}");
    assert_eq!(bug["result"], "failed");
    let error = bug["error"].as_str().expect("error");
    // (Of the image's ELF files — linkbug and @system's C library — one needs a library.)
    assert!(
        error.starts_with("step publish failed: 1 of ")
            && error.contains(" ELF files need libraries"),
        "{error}"
    );
    assert!(
        error.contains("/usr/bin/linkbug: libdemo.so.1 not found"),
        "{error}"
    );
    // The ebuild's missing RDEPEND, repaired in the set: the check passes.
    site.commit(
        "main",
        &[Change::file(
            "sets/bug",
            "app-misc/linkbug\ndev-libs/libdemo\n",
        )],
    );
    let (code, fixed) = site.build(&[&["base-none-bug"][..], &pin].concat());
    assert_eq!(code, 0, "{fixed}");
    assert_eq!(fixed["result"], "built");
    // Without the check, the broken set builds (what the check is for).
    site.commit("main", &[Change::file("sets/bug", "app-misc/linkbug\n")]);
    let (code, unchecked) = site.build(&["base-none-bug", "--repo-snapshot", "20261101"]);
    assert_eq!((code, unchecked["result"].as_str()), (0, Some("built")));
}

#[test]
fn a_pushed_image_gets_its_kernel_pushed_beside_it_as_an_oci_artifact() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_pushed_image_gets_its_kernel") else {
        return;
    };
    let Ok(registry) = std::env::var("ZENTOO_TEST_REGISTRY") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no registry in CI"
        );
        eprintln!("SKIPPED: a_pushed_image_gets_its_kernel: no ZENTOO_TEST_REGISTRY");
        return;
    };
    let site = Site::new(stage3);
    let prefix = format!("{registry}/{}", support::unique("zentoo-kernel"));
    let (code, built) = site.build(&[
        "base-none-base",
        "--kernel",
        "sys-kernel/gentoo-kernel",
        "--repo-snapshot",
        "20261101",
        "--push",
        &prefix,
        "--insecure-registry",
        &registry,
    ]);
    assert_eq!(code, 0, "{built}");
    let kernel = &built["build"]["kernel"];
    // Locally the tarball is the artifact; the registry has it too, under the image's tag.
    let reference = format!("{prefix}/base-none-base:latest-kernel");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo");
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let manifest: Value = serde_json::from_slice(&inspect.stdout).expect("manifest json");
    assert_eq!(manifest["artifactType"], "application/vnd.zentoo.kernel.v1");
    assert_eq!(
        manifest["annotations"]["dev.zentoo.kernel.version"],
        "6.6.58-gentoo-dist"
    );
    assert_eq!(manifest["layers"][0]["digest"], kernel["digest"]);
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "kernel-base-none-base-6.6.58-gentoo-dist.tar.xz"
    );
    assert_eq!(
        manifest["layers"][1]["annotations"]["org.opencontainers.image.title"],
        "kernel-base-none-base-6.6.58-gentoo-dist.tar.xz.DIGESTS"
    );
}

/// `zentoo build TUPLES ARGS --output json`: exit code and every tuple's report by name.
fn build_all(site: &Site, args: &[&str]) -> (i32, serde_json::Map<String, Value>) {
    parse_build(&site.zentoo(&[args, &["--output", "json"]].concat()))
}

#[test]
fn a_followed_snapshot_that_fixes_a_glsa_rebuilds_exactly_the_images_it_affects() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_followed_snapshot_that_fixes") else {
        return;
    };
    let site = Site::new(stage3);
    site.commit(
        "main",
        &[
            Change::file("sets/editor", "app-editors/nano\n"),
            Change::file(
                "tuples",
                "base-none-base\nbase-none-editor\nbase-none-demo\n",
            ),
        ],
    );
    let refused = site.zentoo(&["base-none-base", "--follow-snapshot", "latest"]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("`latest` is synced once per repo volume"),
        "{why}"
    );

    // Both pinned to the older snapshot, which has no advisories yet.
    let pinned = ["--repo-snapshot", "20261001"];
    let (code, first) = build_all(
        &site,
        &[&["base-none-base", "base-none-editor"], &pinned[..]].concat(),
    );
    assert_eq!(code, 0, "{first:?}");
    for name in ["base-none-base", "base-none-editor"] {
        assert_eq!(first[name]["result"], "built", "{first:?}");
        assert_eq!(first[name]["build"]["glsa"]["advisories"], 0, "{first:?}");
    }

    // The site follows the newer snapshot, whose GLSAs affect hello-2.10 (202610-01) and
    // libdemo-0.9 (202610-02), not nano. base moves to it; editor is left as it is; demo,
    // never built, is built at its pin, found affected, and rebuilt at the newer snapshot.
    let follow = [
        &["base-none-base", "base-none-editor", "base-none-demo"][..],
        &pinned[..],
        &["--follow-snapshot", "20261101"][..],
    ]
    .concat();
    let (code, second) = build_all(&site, &follow);
    assert_eq!(code, 0, "{second:?}");
    let base = &second["base-none-base"];
    assert_eq!(base["result"], "built", "{base}");
    assert_eq!(
        base["build"]["security"],
        serde_json::json!({
            "pinned": "20261001",
            "snapshot": "20261101",
            "fixes": {"advisories": 4, "affected": [
                {"id": "202610-01", "severity": "high", "package": "app-misc/hello-2.10"}
            ]},
        }),
        "{base}"
    );
    // Rebuilt on the newer snapshot: hello 2.12.1, audited clean against its advisories.
    assert_eq!(base["build"]["glsa"]["advisories"], 4, "{base}");
    assert_eq!(
        base["build"]["glsa"]["affected"],
        serde_json::json!([]),
        "{base}"
    );
    let log = std::fs::read_to_string(site.out().join("logs/base-none-base/build.log")).unwrap();
    assert!(
        log.contains("repository: gentoo at /var/db/zentoo/repos/20261101"),
        "{log}"
    );
    assert!(log.contains("app-misc/hello-2.12.1"), "{log}");
    let sync = std::fs::read_to_string(site.out().join("logs/sync-20261101.log")).unwrap();
    assert!(sync.contains("synced repo snapshot 20261101"), "{sync}");

    let editor = &second["base-none-editor"];
    assert_eq!(editor["result"], "upToDate", "{editor}");
    assert_eq!(
        editor["build"], first["base-none-editor"]["build"],
        "the unaffected image is untouched"
    );
    assert!(editor["build"].get("security").is_none(), "{editor}");

    let demo = &second["base-none-demo"];
    assert_eq!(demo["result"], "built", "{demo}");
    assert_eq!(demo["build"]["security"]["snapshot"], "20261101", "{demo}");
    assert_eq!(
        demo["build"]["security"]["fixes"]["affected"],
        serde_json::json!([
            {"id": "202610-02", "severity": "normal", "package": "dev-libs/libdemo-0.9"}
        ]),
        "{demo}"
    );
    assert_eq!(
        demo["build"]["glsa"]["affected"],
        serde_json::json!([]),
        "{demo}"
    );

    // The updates hold: nothing is built again, and the table says why they moved.
    let (code, third) = build_all(&site, &follow);
    assert_eq!(code, 0, "{third:?}");
    for (name, t) in &third {
        assert_eq!(t["result"], "upToDate", "{name}: {t}");
        assert_eq!(t["build"], second[name]["build"], "{name}");
    }
    let table = site.zentoo(&follow);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(
            "base-none-base: security update to snapshot 20261101 (pinned 20261001): GLSA \
             202610-01 (high: app-misc/hello-2.10)"
        ),
        "{text}"
    );
}
