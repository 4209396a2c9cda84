//! `zentoo build` and `zentoo freshroot` end to end on the real Podman engine, with the test
//! stage3 (tests/stage3). Needs the engine socket in `DOCKER_HOST` (tests/cluster/up).

use crate::support;

use crate::support::local_site::{Site as Demo, counts, stage3};
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;
use zentoo::site::example::init_example;
use zentoo::site::write::Change;

/// Names of the containers zentoo made for `site` that still exist.
fn containers_of(site: &Path) -> String {
    let site = site.canonicalize().expect("site path");
    let out = Command::new("podman")
        .args(["ps", "-a", "--filter"])
        .arg(format!("label=dev.zentoo.site={}", site.display()))
        .args(["--format", "{{.Names}}"])
        .output()
        .expect("podman ps");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_example_site_builds_then_is_up_to_date_and_rebuilds_from_binpkgs() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("the_example_site_builds") else {
        return;
    };
    let demo = Demo::new(stage3);
    let (code, first) = demo.build(&["--all"]);
    assert_eq!(code, 0, "{first:?}");
    assert_eq!(first.len(), 3);
    assert!(first.values().all(|t| t["result"] == "built"), "{first:?}");
    // base compiles its set's 4 packages and @system's 2 (real Portage, real C).
    assert_eq!(counts(&first["base-none-base"]), (6, 0));
    // server shares base's CFLAGS: it takes base's four packages (and @system) as binpkgs.
    assert_eq!(counts(&first["server-nodocs-web"]), (3, 4));
    // znver3 has other CFLAGS: it never takes a binpkg built for amd64.
    assert_eq!(counts(&first["znver3-server-nodocs-web"]), (9, 0));

    let (code, second) = demo.build(&["--all"]);
    assert_eq!(code, 0);
    assert!(
        second.values().all(|t| t["result"] == "upToDate"),
        "{second:?}"
    );

    let (code, forced) = demo.build(&["--all", "--force"]);
    assert_eq!(code, 0);
    for (name, t) in &forced {
        assert_eq!(t["result"], "built", "{name}");
        assert_eq!(counts(t).0, 0, "{name} compiled nothing when forced");
        assert!(counts(t).1 > 0, "{name} took binpkgs");
        // Byte for byte: the same binpkgs give the same image and the same stage tarball.
        // ... and the same SBOM and provenance (their referrer manifests name their bytes).
        for key in ["imageDigest", "tarballDigest", "sbom", "provenance"] {
            assert!(
                t["build"][key]
                    .as_str()
                    .is_some_and(|d| d.starts_with("sha256:")),
                "{name}: {key} {}",
                t["build"]
            );
            assert_eq!(
                t["build"][key], first[name]["build"][key],
                "{name}: {key} of a forced rebuild"
            );
        }
    }
    // The image's compiled program runs with nothing lent to it: its own C library and libssl.
    let image = first["server-nodocs-web"]["build"]["image"]
        .as_str()
        .expect("image");
    let run = Command::new("podman")
        .args(["run", "--rm", image, "/usr/sbin/nginx"])
        .output()
        .expect("podman run");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(
            "nginx 1.24.0 (zentoo test build; CHOST=x86_64-pc-linux-gnu; CFLAGS=-O2 -pipe;"
        ) && stdout.contains("libssl from openssl 3.0.13"),
        "{stdout}"
    );
    // The stage tarball unpacks, with its DIGESTS beside it: @system, the set, no docs.
    let tarball = first["server-nodocs-web"]["build"]["tarball"]
        .as_str()
        .expect("tarball");
    for companion in ["DIGESTS", "spdx.json", "provenance.json"] {
        assert!(
            Path::new(&format!("{tarball}.{companion}")).exists(),
            "{companion}"
        );
    }
    let unpacked = demo.dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).expect("mkdir");
    let tar = Command::new("tar")
        .arg("-xJf")
        .arg(tarball)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar");
    assert!(tar.success());
    assert!(unpacked.join("usr/share/nginx/build-info").exists());
    assert!(unpacked.join("var/db/pkg/sys-libs/glibc-2.36").is_dir());
    assert!(
        !unpacked.join("usr/share/doc").exists(),
        "pre-pack removed the docs"
    );

    let log = std::fs::read_to_string(demo.dir.path().join("out/logs/base-none-base/build.log"))
        .expect("build log kept");
    assert!(log.contains(">>> Emerging binary"), "{log}");
    assert_eq!(containers_of(&demo.site()), "", "containers left");
}

#[test]
fn a_use_change_in_one_portage_branch_rebuilds_only_its_tuples_and_package() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_use_change_rebuilds_only_its_tuples") else {
        return;
    };
    let demo = Demo::new(stage3);
    // Pushed when the harness's registry is there: then the second push is measured too.
    let registry = std::env::var("ZENTOO_TEST_REGISTRY").ok();
    let prefix = registry
        .as_ref()
        .map(|r| format!("{r}/{}", support::unique("zentoo-use")));
    let mut args = vec!["--all"];
    if let (Some(registry), Some(prefix)) = (&registry, &prefix) {
        args.extend(["--push", prefix, "--insecure-registry", registry]);
    }
    let (code, before) = demo.build(&args);
    assert_eq!(code, 0, "{before:?}");
    // The first build's SBOM, kept aside: the next build writes its own in its place.
    let sbom_of = |built: &serde_json::Map<String, serde_json::Value>| {
        let tarball = built["server-nodocs-web"]["build"]["tarball"]
            .as_str()
            .expect("tarball")
            .to_string();
        std::path::PathBuf::from(format!("{tarball}.spdx.json"))
    };
    let earlier_sbom = demo.dir.path().join("earlier.spdx.json");
    std::fs::copy(sbom_of(&before), &earlier_sbom).expect("keep the first SBOM");
    demo.commit(
        "portage/server",
        &[Change::file(
            "package.use/nginx",
            "www-servers/nginx debug\n",
        )],
    );
    let (code, after) = demo.build(&args);
    assert_eq!(code, 0, "{after:?}");
    // `zentoo diff` of the two builds: exactly the USE change (the example's
    // package.use/nginx said `http2`, the commit replaced it with `debug`).
    let nginx = "* www-servers/nginx-1.24.0:mainline USE +debug -http2";
    let zentoo_diff = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zentoo"))
            .arg("diff")
            .args(args)
            .output()
            .expect("run zentoo diff")
    };
    let diff = zentoo_diff(&[
        earlier_sbom.to_str().expect("path"),
        sbom_of(&after).to_str().expect("path"),
    ]);
    let stdout = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.status.success(), "{:?}", diff);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), [nginx], "{stdout}");
    // `--tuple`: the tuple's last two SBOMs beside its stage tarballs. Both builds ran within a
    // second, at commits of the same second, so the second one's tarball took the first one's
    // name: the first SBOM goes back in under an older time.
    let stages = sbom_of(&after).parent().expect("stages").to_path_buf();
    std::fs::copy(
        &earlier_sbom,
        stages.join("stage3-server-nodocs-web-20000101T000000Z.tar.xz.spdx.json"),
    )
    .expect("the first SBOM back");
    let out = stages
        .parent()
        .expect("out")
        .to_str()
        .expect("path")
        .to_string();
    let diff = zentoo_diff(&["--tuple", "server-nodocs-web", "--out", &out]);
    let stdout = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.status.success(), "{:?}", diff);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), [nginx], "{stdout}");
    if let Some(registry) = &registry {
        // The same, from the SBOMs attached to the two pushed images.
        let pushed = |built: &serde_json::Map<String, serde_json::Value>| {
            let build = &built["server-nodocs-web"]["build"];
            let image = build["image"].as_str().expect("image");
            let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
            format!(
                "{repository}@{}",
                build["imageDigest"].as_str().expect("digest")
            )
        };
        let diff = zentoo_diff(&[
            &pushed(&before),
            &pushed(&after),
            "--insecure-registry",
            registry,
            "-o",
            "json",
        ]);
        assert!(diff.status.success(), "{:?}", diff);
        let changes: serde_json::Value =
            serde_json::from_slice(&diff.stdout).expect("JSON changes");
        assert_eq!(
            changes,
            serde_json::json!({"added": [], "removed": [], "upgraded": [], "downgraded": [],
                "use": [{"package": "www-servers/nginx:mainline", "version": "1.24.0",
                         "enabled": ["debug"], "disabled": ["http2"]}]})
        );
    }
    if registry.is_some() {
        for name in ["server-nodocs-web", "znver3-server-nodocs-web"] {
            let (first, second) = (&before[name]["build"], &after[name]["build"]);
            eprintln!("{name}: first push {first}, after the USE change {second}");
            let layers = second["layers"].as_u64().expect("layers");
            assert!(layers > 5, "{name}: a layer per package, {layers}");
            assert_eq!(first["layersUploaded"], layers, "{name}: all new at first");
            // nginx's layer and the top layer (its vdb record): nothing else.
            assert_eq!(second["layersUploaded"], 2, "{name}: {second}");
            assert!(
                second["bytesUploaded"].as_u64() < first["bytesUploaded"].as_u64(),
                "{name}"
            );
        }
    }
    assert_eq!(after["base-none-base"]["result"], "upToDate");
    for name in ["server-nodocs-web", "znver3-server-nodocs-web"] {
        assert_eq!(after[name]["result"], "built", "{name}");
        assert_eq!(counts(&after[name]).0, 1, "{name}: only nginx recompiles");
        let log =
            std::fs::read_to_string(demo.dir.path().join(format!("out/logs/{name}/build.log")))
                .expect("log");
        let compiled: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with(">>> Emerging ("))
            .collect();
        assert_eq!(compiled.len(), 1, "{compiled:?}");
        assert!(compiled[0].contains("www-servers/nginx"), "{compiled:?}");
    }
}

#[test]
fn a_failing_emerge_or_hook_names_the_step_shows_the_log_and_leaves_no_container() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_failing_emerge_or_hook") else {
        return;
    };
    let demo = Demo::new(stage3);
    demo.commit(
        "main",
        &[
            Change::file("sets/bad", "app-misc/broken\n"),
            Change::file(
                "tuples",
                "base-none-base\nbase-none-bad\nserver-failing-web\n",
            ),
        ],
    );
    demo.commit(
        "buildhooks/failing",
        &[Change::exec(
            "pre-build",
            "#!/bin/sh\necho hook says no\nexit 9\n",
        )],
    );
    let (code, result) = demo.build(&["--all"]);
    assert_eq!(code, 1);
    assert_eq!(
        result["base-none-base"]["result"], "built",
        "a bad tuple stops only itself"
    );
    let broken = result["base-none-bad"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(broken.contains("step build failed (exit 4)"), "{broken}");
    assert!(broken.contains("logs/base-none-bad/build.log"), "{broken}");
    // Portage's own error for the package (from its build log), without terminal colours.
    assert!(
        broken.contains(
            "emerge failed (exit 1): app-misc/broken-1::gentoo failed (compile phase): \
             broken-1 fails on purpose"
        ),
        "{broken}"
    );
    assert!(!broken.contains('\u{1b}'), "{broken}");
    // Portage's own log of the package is kept beside the step's (PORTAGE_LOGDIR).
    let packages = demo.out().join("logs/base-none-bad/packages");
    let logs: Vec<String> = std::fs::read_dir(&packages)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("app-misc:broken-1:") && n.ends_with(".log"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(logs.len(), 1, "{packages:?}: {logs:?}");
    let text = std::fs::read_to_string(packages.join(&logs[0])).unwrap_or_default();
    assert!(
        text.contains("broken-1: this line is in the build log")
            && text.contains("ERROR: app-misc/broken-1::gentoo failed (compile phase):"),
        "{text}"
    );
    let hook = result["server-failing-web"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(hook.contains("step build failed (exit 3)"), "{hook}");
    assert!(hook.contains("hook says no"), "{hook}");
    assert_eq!(containers_of(&demo.site()), "", "containers left");
}

#[test]
fn freshroot_runs_a_command_with_the_tuple_config_and_passes_its_exit_code() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("freshroot_runs_a_command") else {
        return;
    };
    let demo = Demo::new(stage3);
    let out = demo.zentoo(&[
        "freshroot",
        "znver3-server-nodocs-web",
        "--",
        "sh",
        "-c",
        "grep CFLAGS= /etc/portage/make.conf; cat /etc/portage/sets/web; exit 7",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{stdout}");
    assert!(stdout.contains("-march=znver3"), "{stdout}");
    assert!(stdout.contains("www-servers/nginx"), "{stdout}");
    let bad = demo.zentoo(&["freshroot", "no-such-tuple", "--", "true"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no tuple no-such-tuple"));
    assert_eq!(containers_of(&demo.site()), "", "containers left");
}

#[test]
fn freshroot_without_a_command_is_an_interactive_shell_on_a_tty() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("freshroot_interactive") else {
        return;
    };
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed for this test (apt-get install tmux)");
    }
    let demo = Demo::new(stage3);
    let session = support::unique("zentoo-test");
    let status = demo.dir.path().join("status");
    let script = format!(
        "DOCKER_HOST={} ZENTOO_STAGE3={} {} freshroot --site {} base-none-base; echo $? > {}",
        std::env::var("DOCKER_HOST").unwrap_or_default(),
        stage3,
        env!("CARGO_BIN_EXE_zentoo"),
        demo.site().display(),
        status.display()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux");
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "150",
        "-y",
        "40",
        &script,
    ]);
    let screen = |tmux: &dyn Fn(&[&str]) -> Output| {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).to_string()
    };
    let wait_for = |what: &str| {
        for _ in 0..100 {
            if screen(&tmux).contains(what) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    assert!(wait_for("ready:"), "no shell: {}", screen(&tmux));
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "echo answer-$((6*7)) && tty",
        "Enter",
    ]);
    assert!(wait_for("answer-42"), "{}", screen(&tmux));
    // `tty` prints after the echo: wait for it too, not just look once.
    assert!(wait_for("/dev/pts"), "a tty: {}", screen(&tmux));
    tmux(&["send-keys", "-t", &session, "exit 5", "Enter"]);
    let mut code = String::new();
    for _ in 0..100 {
        code = std::fs::read_to_string(&status).unwrap_or_default();
        if !code.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = tmux(&["kill-session", "-t", &session]);
    assert_eq!(code.trim(), "5");
    assert_eq!(containers_of(&demo.site()), "", "containers left");
}

#[test]
fn no_engine_is_a_clear_error() {
    let dir = TempDir::new().expect("temp dir");
    init_example(&dir.path().join("site")).expect("site");
    let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args([
            "build",
            "--all",
            "--engine",
            "unix:///nonexistent/engine.sock",
            "--site",
        ])
        .arg(dir.path().join("site"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no container engine answered"), "{stderr}");
    assert!(stderr.contains("/nonexistent/engine.sock"), "{stderr}");
}

#[test]
fn ctrl_c_stops_the_build_and_removes_its_containers() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("ctrl_c_stops_the_build") else {
        return;
    };
    let demo = Demo::new(stage3);
    let mut child = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["build", "--all", "--site"])
        .arg(demo.site())
        .arg("--out")
        .arg(demo.dir.path().join("out"))
        .env("ZENTOO_STAGE3", stage3)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn zentoo build");
    let mut seen = false;
    for _ in 0..300 {
        if !containers_of(&demo.site()).is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(seen, "a build container appeared");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        containers_of(&demo.site()),
        "",
        "containers left after Ctrl-C"
    );
}
