//! A local example site built with `zentoo build` on the real Podman engine and the test
//! stage3 (tests/stage3), for the binhost and gc tests. Needs `DOCKER_HOST` (tests/cluster/up).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use tempfile::TempDir;
use zentoo::plan::build::SHARED_VOLUMES;
use zentoo::runner::engine_volume;
use zentoo::site::example::init_example;
use zentoo::site::write::{Change, commit};

/// The test stage3 reference, built once; `None` (after saying so) when there is no engine.
pub fn stage3(test: &str) -> Option<&'static str> {
    if std::env::var_os("DOCKER_HOST").is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: DOCKER_HOST is unset in CI: the harness must be up (tests/cluster/up)"
        );
        eprintln!("SKIPPED: {test}: no engine (DOCKER_HOST unset; run tests/cluster/up)");
        return None;
    }
    static REF: OnceLock<String> = OnceLock::new();
    let image = REF.get_or_init(|| {
        // Cold (Debian root, Portage wheel): minutes, mostly downloads.
        let out = super::engine::run_ok(
            &mut Command::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/stage3/build-image"
            )),
            std::time::Duration::from_secs(3600),
        );
        out.lines().last().unwrap_or_default().to_string()
    });
    Some(image.as_str())
}

/// An example site (`zentoo site init`) and an output dir; its engine volumes go with it.
pub struct Site {
    pub dir: TempDir,
    pub stage3: &'static str,
}

impl Site {
    pub fn new(stage3: &'static str) -> Self {
        let dir = TempDir::new().expect("temp dir");
        init_example(&dir.path().join("site")).expect("example site");
        Site { dir, stage3 }
    }

    pub fn site(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// A `zentoo` command with `--site` (and `--out` for build) after the subcommand words.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zentoo"));
        cmd.env("ZENTOO_STAGE3", self.stage3);
        let words = if args.first() == Some(&"binhost") {
            2
        } else {
            1
        };
        let (head, rest) = args.split_at(words.min(args.len()));
        cmd.args(head).arg("--site").arg(self.site());
        if head.first() == Some(&"build") {
            cmd.arg("--out").arg(self.out());
        }
        cmd.args(rest);
        cmd
    }

    pub fn zentoo(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run zentoo")
    }

    /// `zentoo build ARGS --output json`: exit code and the tuples by name.
    pub fn build(&self, args: &[&str]) -> (i32, serde_json::Map<String, Value>) {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--output", "json"]);
        parse_build(&self.zentoo(&all))
    }

    pub fn commit(&self, branch: &str, changes: &[Change<'_>]) {
        let repo = git2::Repository::open(self.site()).expect("open site");
        commit(&repo, branch, changes, "test change").expect("commit");
    }

    /// The named volume standing in for `volume` of this site.
    pub fn volume(&self, volume: zentoo::plan::build::Volume) -> String {
        engine_volume(&self.site(), volume)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for volume in SHARED_VOLUMES {
            let _ = Command::new("podman")
                .args(["volume", "rm", "-f", &engine_volume(&self.site(), volume)])
                .output();
        }
    }
}

/// The exit code and tuples of a `zentoo build --output json`.
pub fn parse_build(out: &Output) -> (i32, serde_json::Map<String, Value>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {stdout}\nstderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let tuples = report["tuples"]
        .as_array()
        .expect("tuples")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t.clone(),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), tuples)
}

/// (compiled, from binpkgs) of a built tuple.
pub fn counts(t: &Value) -> (u64, u64) {
    let b = &t["build"];
    (
        b["compiled"].as_u64().unwrap_or(u64::MAX),
        b["binpkgHits"].as_u64().unwrap_or(u64::MAX),
    )
}

/// A child process killed (by its pid) when dropped, unless waited for.
pub struct Background(Option<Child>);

impl Background {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> Background {
        Background(Some(cmd.spawn().expect("spawn")))
    }

    /// Waits for it to end and returns its output.
    pub fn wait_with_output(mut self) -> Output {
        self.0
            .take()
            .expect("child")
            .wait_with_output()
            .expect("wait")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `cmd` with piped stdout and returns it with its first stdout line.
pub fn start_with_first_line(mut cmd: Command) -> (Background, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    (Background(Some(child)), line.trim().to_string())
}
