//! The harness's real node (`tests/cluster/node.sh`: a kubelet with containerd), and what runs
//! zentoo on it as a user installs it: the images in the harness's registry (containerd pulls
//! from there) and the chart installed with `helm install`.

use super::engine::run_ok;
use super::{TestNamespace, harness_var};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(3600);

/// The real node and what reaches it.
pub struct RealNode {
    /// Its Node name (`real-1`).
    pub name: String,
    /// The key of the NoSchedule taint only pods that ask for it tolerate.
    pub taint: String,
    /// This machine's loopback as pods on the node (and this machine) reach it: an address
    /// whose TCP connections the harness turns into 127.0.0.1 ones, port for port.
    pub host: String,
    /// The plain-HTTP registry, at `host` (`HOST:PORT`): pods push there, containerd pulls.
    pub registry: String,
    /// kubectl of the harness.
    pub kubectl: PathBuf,
}

/// The real node, or `None` after a SKIPPED line (on CI: a failure).
pub fn real_node_env() -> Option<RealNode> {
    let mut node = RealNode {
        name: harness_var("ZENTOO_TEST_REAL_NODE")?,
        taint: harness_var("ZENTOO_TEST_REAL_NODE_TAINT")?,
        host: harness_var("ZENTOO_TEST_REAL_NODE_HOST")?,
        registry: harness_var("ZENTOO_TEST_REGISTRY")?,
        kubectl: harness_var("ZENTOO_TEST_KUBECTL")?.into(),
    };
    node.registry = node.registry.replace("127.0.0.1", &node.host);
    Some(node)
}

impl RealNode {
    /// `kubectl ARGS` in `ns` as the harness's admin; panics unless it succeeds.
    pub fn kubectl(&self, ns: &TestNamespace, args: &[&str]) -> String {
        run_ok(
            Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&ns.kubeconfig)
                .args(["-n", &ns.name])
                .args(args),
            Duration::from_secs(300),
        )
    }

    /// `kubectl apply` of `manifest` (JSON) in `ns`, as a user applies a file.
    pub fn apply(&self, ns: &TestNamespace, manifest: &serde_json::Value) {
        let file = tempfile::NamedTempFile::new().expect("manifest file");
        std::fs::write(file.path(), manifest.to_string()).expect("write manifest");
        self.kubectl(ns, &["apply", "-f", &file.path().display().to_string()]);
    }

    /// The placement a pod needs to run here: a node selector and a toleration, as JSON.
    pub fn placement(&self) -> serde_json::Value {
        serde_json::json!({
            "nodeSelector": {"kubernetes.io/hostname": self.name},
            "tolerations": [{"key": self.taint, "operator": "Exists", "effect": "NoSchedule"}],
        })
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The zentoo image (`scripts/build-image.sh`, pushed by zentoo's publisher) and the test
/// stage3 (`support::local_site::stage3`, copied by skopeo from the engine's storage) in the
/// registry: their references there.
pub async fn push_images(registry: &str, tag: &str) -> (String, String) {
    let registry = registry.to_string();
    let zentoo = format!("{registry}/zentoo/zentoo:{tag}");
    let pushed = zentoo.clone();
    let test = super::test_name();
    let stage3 = tokio::task::spawn_blocking(move || {
        // A layout of its own: build-image.sh starts by removing its default one.
        let layout = tempfile::TempDir::new().expect("layout dir");
        let layout = layout.path().join("oci");
        run_ok(
            Command::new("bash")
                .arg(root().join("scripts/build-image.sh"))
                .args(["--push", &pushed, "--oci-layout"])
                .arg(&layout)
                .args(["--", "--insecure-registry", &registry]),
            LIMIT,
        );
        let local = super::local_site::stage3(&test).expect("the engine is up");
        let tag = local.rsplit(':').next().unwrap_or("latest");
        let remote = format!("{registry}/zentoo-test/stage3:{tag}");
        run_ok(
            Command::new("skopeo").args([
                "copy",
                "-q",
                "--dest-tls-verify=false",
                &format!("containers-storage:{local}"),
                &format!("docker://{remote}"),
            ]),
            LIMIT,
        );
        remote
    })
    .await
    .expect("push the images");
    (zentoo, stage3)
}

/// A Helm release of charts/zentoo in a test namespace, uninstalled on drop.
pub struct Release {
    helm: PathBuf,
    kubeconfig: PathBuf,
    namespace: String,
    /// The release's name, also the controller Deployment's and its Lease's.
    pub name: String,
}

impl Release {
    /// `helm install` of the chart into `ns` with `values` (JSON is YAML); it does not wait
    /// for the pods (a standby replica is never ready).
    pub fn install(
        helm: &Path,
        ns: &TestNamespace,
        name: &str,
        values: &serde_json::Value,
    ) -> Self {
        let file = tempfile::NamedTempFile::new().expect("values file");
        std::fs::write(file.path(), values.to_string()).expect("write values");
        let release = Release {
            helm: helm.to_path_buf(),
            kubeconfig: ns.kubeconfig.clone(),
            namespace: ns.name.clone(),
            name: name.to_string(),
        };
        run_ok(
            Command::new(helm)
                .arg("--kubeconfig")
                .arg(&ns.kubeconfig)
                .args(["install", name])
                .arg(root().join("charts/zentoo"))
                .args(["-n", &ns.name, "-f"])
                .arg(file.path()),
            Duration::from_secs(330),
        );
        release
    }
}

impl Release {
    /// `helm upgrade --reuse-values` with `sets` (`--set KEY=VALUE`); like `install`, it does not
    /// wait for the pods.
    pub fn upgrade(&self, helm: &Path, sets: &[&str]) {
        let mut cmd = Command::new(helm);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["upgrade", &self.name])
            .arg(root().join("charts/zentoo"))
            .args(["-n", &self.namespace, "--reuse-values"]);
        for set in sets {
            cmd.args(["--set", set]);
        }
        run_ok(&mut cmd, Duration::from_secs(330));
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = Command::new(&self.helm)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["uninstall", &self.name, "-n", &self.namespace, "--wait"])
            .output();
    }
}

/// The API server's port, from the kubeconfig tests use: the controller's pod reaches it on
/// the host's loopback.
pub fn api_port(kubeconfig: &Path) -> u16 {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let server = config
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .expect("a server in the kubeconfig");
    server
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {server}"))
}
