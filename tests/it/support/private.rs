//! A private control plane for tests that must not touch the shared one: their own etcd and
//! kube-apiserver (and, when asked, kube-controller-manager) on free loopback ports, from the
//! binaries `tests/cluster/up` built, with the harness's certificates (read only). Tests can
//! stop and restart each server; everything is stopped (by pid) and removed on drop.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// One server process and how to start it again.
struct Server {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// Kills the server (SIGKILL) and waits for it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A private etcd + kube-apiserver (+ kube-controller-manager).
pub struct PrivateCluster {
    etcd: Server,
    apiserver: Server,
    kcm: Option<Server>,
    /// Data and logs, removed on drop.
    _dir: TempDir,
    /// Its kubeconfig (admin).
    pub kubeconfig: PathBuf,
    /// The apiserver's port.
    pub api_port: u16,
    pki: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl PrivateCluster {
    /// Starts etcd and kube-apiserver (and kube-controller-manager when `kcm`), waiting until
    /// the apiserver is ready. `None` (after a SKIPPED line; a panic on CI) when the harness
    /// has not built the binaries.
    pub async fn start(kcm: bool) -> Option<PrivateCluster> {
        let cache = PathBuf::from(super::harness_var("ZENTOO_TEST_CACHE")?);
        let bin = cache.join("bin");
        let find = |prefix: &str, name: &str| -> Option<PathBuf> {
            std::fs::read_dir(&bin)
                .ok()?
                .flatten()
                .map(|e| e.path().join(name))
                .find(|p| {
                    p.exists()
                        && p.parent()
                            .and_then(Path::file_name)
                            .is_some_and(|d| d.to_string_lossy().starts_with(prefix))
                })
        };
        let (Some(etcd_bin), Some(api_bin), Some(kcm_bin)) = (
            find("etcd-", "etcd"),
            find("k8s-", "kube-apiserver"),
            find("k8s-", "kube-controller-manager"),
        ) else {
            return super::skip("the harness's etcd / kube-apiserver binaries are missing");
        };
        let pki = cache.join("run/pki");
        let dir = tempfile::Builder::new()
            .prefix("zentoo-private-")
            .tempdir()
            .expect("temp dir");
        let (etcd_port, peer_port, api_port, kcm_port) =
            (free_port(), free_port(), free_port(), free_port());
        let p = |f: &str| pki.join(f).display().to_string();
        let d = |f: &str| dir.path().join(f).display().to_string();
        let etcd = Server {
            name: "etcd",
            program: etcd_bin,
            args: vec![
                "--name=private".into(),
                format!("--data-dir={}", d("etcd")),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-cluster=private=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
            child: None,
            log: dir.path().join("etcd.log"),
        };
        let apiserver = Server {
            name: "kube-apiserver",
            program: api_bin,
            args: vec![
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={api_port}"),
                "--endpoint-reconciler-type=none".into(),
                format!("--tls-cert-file={}", p("apiserver.crt")),
                format!("--tls-private-key-file={}", p("apiserver.key")),
                format!("--client-ca-file={}", p("ca.crt")),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", p("sa.pub")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--authorization-mode=Node,RBAC".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
                format!("--cert-dir={}", d("apiserver")),
            ],
            child: None,
            log: dir.path().join("kube-apiserver.log"),
        };
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: private\n  cluster:\n    \
                 server: https://127.0.0.1:{api_port}\n    certificate-authority: {}\nusers:\n\
                 - name: admin\n  user:\n    client-certificate: {}\n    client-key: {}\n\
                 contexts:\n- name: private\n  context: {{cluster: private, user: admin}}\n\
                 current-context: private\n",
                p("ca.crt"),
                p("admin.crt"),
                p("admin.key")
            ),
        )
        .expect("write kubeconfig");
        let kcm = kcm.then(|| Server {
            name: "kube-controller-manager",
            program: kcm_bin,
            args: vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--authentication-kubeconfig={}", kubeconfig.display()),
                format!("--authorization-kubeconfig={}", kubeconfig.display()),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={kcm_port}"),
                format!("--cert-dir={}", d("kcm")),
                "--leader-elect=false".into(),
                "--use-service-account-credentials=true".into(),
                format!("--service-account-private-key-file={}", p("sa.key")),
                format!("--root-ca-file={}", p("ca.crt")),
                "--profiling=false".into(),
            ],
            child: None,
            log: dir.path().join("kube-controller-manager.log"),
        });
        let mut cluster = PrivateCluster {
            etcd,
            apiserver,
            kcm,
            _dir: dir,
            kubeconfig,
            api_port,
            pki,
        };
        cluster.etcd.start();
        cluster.apiserver.start();
        cluster.wait_ready(Duration::from_secs(90)).await;
        if let Some(kcm) = cluster.kcm.as_mut() {
            kcm.start();
        }
        Some(cluster)
    }

    /// A client for this cluster (new connections).
    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("private kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("private kubeconfig");
        Client::try_from(config).expect("private client")
    }

    /// Waits until the apiserver answers `/readyz` with ok, at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.get("/readyz").await.is_some_and(|b| b.trim() == "ok") {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.apiserver.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "the private kube-apiserver was not ready within {timeout:?}:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// GETs `path` from the apiserver as admin (curl, so no client state is shared).
    pub async fn get(&self, path: &str) -> Option<String> {
        let p = |f: &str| self.pki.join(f);
        let out = tokio::process::Command::new("curl")
            .arg("-fsS")
            .arg("--max-time")
            .arg("10")
            .arg("--cacert")
            .arg(p("ca.crt"))
            .arg("--cert")
            .arg(p("admin.crt"))
            .arg("--key")
            .arg(p("admin.key"))
            .arg(format!("https://127.0.0.1:{}{path}", self.api_port))
            .output()
            .await
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Kills the apiserver (SIGKILL).
    pub fn kill_apiserver(&mut self) {
        self.apiserver.kill();
    }

    /// Starts the apiserver again (same port, same etcd) and waits until it is ready.
    pub async fn start_apiserver(&mut self) {
        self.apiserver.start();
        self.wait_ready(Duration::from_secs(90)).await;
    }

    /// Kills etcd (SIGKILL).
    pub fn kill_etcd(&mut self) {
        self.etcd.kill();
    }

    /// Starts etcd again on its data dir.
    pub fn start_etcd(&mut self) {
        self.etcd.start();
    }

    /// Pids of the servers, for the log.
    pub fn pids(&self) -> Vec<(&'static str, Option<u32>)> {
        let mut out = vec![
            (self.etcd.name, self.etcd.pid()),
            (self.apiserver.name, self.apiserver.pid()),
        ];
        if let Some(k) = &self.kcm {
            out.push((k.name, k.pid()));
        }
        out
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if let Some(k) = self.kcm.as_mut() {
            k.kill();
        }
        self.apiserver.kill();
        self.etcd.kill();
    }
}
