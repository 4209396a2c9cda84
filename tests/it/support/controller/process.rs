//! The controller as its own process (the built binary), to be killed as a crash would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `zentoo` binary of this build, or `ZENTOO_SCALE_BIN`.
pub fn binary() -> PathBuf {
    std::env::var_os("ZENTOO_SCALE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zentoo")))
}

/// The controller as its own process.
pub struct ControllerProcess {
    child: Child,
    metrics: String,
}

impl ControllerProcess {
    /// Starts `bin controller` for namespace `ns` with `kubeconfig`, its git cache in
    /// `cache`, serving metrics on a free loopback port; `extra` are more arguments.
    pub fn start(bin: &Path, kubeconfig: &Path, ns: &str, cache: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(bin, kubeconfig, ns, cache, extra, &[])
    }

    /// Like [`ControllerProcess::start`], with `env` added to its environment (e.g.
    /// `ZENTOO_GIT_TIMEOUT`).
    pub fn start_with_env(
        bin: &Path,
        kubeconfig: &Path,
        ns: &str,
        cache: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let metrics = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .args(["controller", "--namespace", ns, "--metrics-addr", &metrics])
            .arg("--cache-dir")
            .arg(cache)
            .args(["--zentoo-image", "localhost/zentoo:test"])
            // As the chart runs it: build pods as the ServiceAccount without rights.
            .args(["--build-service-account", "zentoo-build"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("ZENTOO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        ControllerProcess { child, metrics }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs (it has not exited or crashed).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process's `VmRSS` and `VmHWM` (peak) in KiB.
    pub fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Its metrics: `name{labels}` to value.
    pub async fn scrape(&self) -> BTreeMap<String, f64> {
        let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&self.metrics),
        )
        .await
        else {
            return BTreeMap::new();
        };
        let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).await.is_err() {
            return BTreeMap::new();
        }
        let mut body = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut body)).await;
        body.lines()
            .filter(|l| l.starts_with("zentoo_"))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    /// Kills it as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
