//! The container engine (Podman's Docker-compatible API) and the two registries of the harness.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// Podman's Docker API socket.
pub struct Engine {
    pub docker: bollard::Docker,
}

/// The engine, or `None` (after a SKIPPED line; a panic on CI) when the harness is not up.
/// Panics when the env file names a socket that does not answer.
pub async fn engine_env() -> Option<Engine> {
    let docker_host = super::harness_var("DOCKER_HOST")?;
    let path = docker_host.strip_prefix("unix://").unwrap_or_else(|| {
        panic!("DOCKER_HOST={docker_host}: the harness serves a unix:// socket")
    });
    // Podman 4 answers Docker API 1.41; newer clients' default versions are refused.
    let docker = bollard::Docker::connect_with_unix(
        path,
        120,
        &bollard::ClientVersion {
            major_version: 1,
            minor_version: 41,
        },
    )
    .unwrap_or_else(|e| panic!("connect to {docker_host}: {e}"));
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            panic!("the engine at {docker_host} does not answer: {e}; run tests/cluster/up again")
        }
        Err(_) => panic!(
            "the engine at {docker_host} did not answer within 10 s; run tests/cluster/up again"
        ),
    }
    Some(Engine { docker })
}

/// Imports a rootfs tar through the engine API (`POST /images/create?fromSrc=-`) as
/// `REPO:latest` and returns that reference. Podman 4.3's compat import ignores the `tag`
/// parameter and always tags `latest`: make `repo` unique per test instead.
pub async fn import_rootfs_tar(docker: &bollard::Docker, tar: Vec<u8>, repo: &str) -> String {
    use futures::StreamExt;
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag("latest")
        .build();
    let mut progress = docker.create_image(Some(opts), Some(bollard::body_full(tar.into())), None);
    while let Some(item) = progress.next().await {
        item.unwrap_or_else(|e| panic!("import rootfs as {repo} through the engine API: {e}"));
    }
    let reference = format!("{repo}:latest");
    docker
        .inspect_image(&reference)
        .await
        .unwrap_or_else(|e| panic!("imported image {reference} not found: {e}"));
    reference
}

/// The two registries: plain HTTP, and TLS with basic auth.
pub struct Registries {
    /// `127.0.0.1:PORT`, plain HTTP, no auth.
    pub plain: String,
    /// `127.0.0.1:PORT`, HTTPS (certificate from [`Registries::ca`]) with basic auth.
    pub auth: String,
    pub user: String,
    pub password: String,
    /// PEM CA certificate of the auth registry.
    pub ca: PathBuf,
    /// A directory holding that CA as `ca.crt`, for `skopeo --cert-dir`.
    pub cert_dir: PathBuf,
    /// A docker `config.json`-style auth file with the auth registry's credentials.
    pub authfile: PathBuf,
}

/// The registries, or `None` (after a SKIPPED line; a panic on CI) when the harness is not up.
pub fn registry_env() -> Option<Registries> {
    Some(Registries {
        plain: super::harness_var("ZENTOO_TEST_REGISTRY")?,
        auth: super::harness_var("ZENTOO_TEST_REGISTRY_AUTH")?,
        user: super::harness_var("ZENTOO_TEST_REGISTRY_USER")?,
        password: super::harness_var("ZENTOO_TEST_REGISTRY_PASSWORD")?,
        ca: super::harness_var("ZENTOO_TEST_REGISTRY_CA")?.into(),
        cert_dir: super::harness_var("ZENTOO_TEST_REGISTRY_CERT_DIR")?.into(),
        authfile: super::harness_var("ZENTOO_TEST_REGISTRY_AUTHFILE")?.into(),
    })
}

impl Registries {
    /// `user:password` for `skopeo --creds`.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.user, self.password)
    }
}

/// Runs a command to the end (at most `timeout`) and returns its output; panics when it cannot
/// start or runs too long. Exit status is the caller's to judge.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => {
            // The child we started, by its pid.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{what} did not finish within {timeout:?}")
        }
    }
}

/// Like [`run`], and panics with its output unless it exits 0. Returns stdout.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd, timeout);
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
