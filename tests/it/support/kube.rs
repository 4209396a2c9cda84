//! The test cluster: a client, a fresh namespace per test, bounded waits that say what they
//! waited for, and a kubelet player for pods KWOK leaves alone.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::await_condition;
use kube::{Api, Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kubelet::Kubelet;

/// Label on every namespace a test creates, so leftovers can be found.
pub const TEST_NAMESPACE_LABEL: &str = "zentoo.dev/test";

/// The harness cluster.
#[derive(Clone)]
pub struct Kube {
    pub client: Client,
    pub kubeconfig: PathBuf,
}

/// A client for the harness cluster, or `None` (after a SKIPPED line; a panic on CI) when the
/// harness is not up. Panics when the env file names a cluster that does not answer.
pub async fn kube_env() -> Option<Kube> {
    let kubeconfig = PathBuf::from(super::harness_var("KUBECONFIG")?);
    let client = client_from(&kubeconfig).await;
    match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!(
            "the test cluster of {} does not answer: {e}; run tests/cluster/up again",
            kubeconfig.display()
        ),
        Err(_) => panic!(
            "the test cluster of {} did not answer within 10 s; run tests/cluster/up again",
            kubeconfig.display()
        ),
    }
    Some(Kube { client, kubeconfig })
}

async fn client_from(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("read kubeconfig {}: {e}", kubeconfig.display()));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()));
    Client::try_from(config).expect("kube client from the harness kubeconfig")
}

/// Applies zentoo's CRDs (server-side, so again and again is fine) and waits, at most 30 s
/// each, until they are established, then until the apiserver lists them.
pub async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    use kube::runtime::conditions::is_crd_established;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let ssa = PatchParams::apply("zentoo-test").force();
    for (_, crd) in zentoo::api::crd::crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        crds.patch(&name, &ssa, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
        let established = tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, is_crd_established()),
        )
        .await;
        assert!(
            matches!(established, Ok(Ok(_))),
            "CRD {name} not established within 30 s"
        );
    }
    // The apiserver may take a moment more to serve a new group's discovery.
    let sites: Api<zentoo::api::GentooSite> = Api::all(client.clone());
    for _ in 0..50 {
        if sites.list(&ListParams::default().limit(1)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Kube {
    /// Applies zentoo's CRDs and waits until they are served: [`install_crds`].
    pub async fn install_crds(&self) {
        install_crds(&self.client).await;
    }

    /// A new namespace `zt-<prefix>-<random>`, deleted when the guard drops (after dumping its
    /// pods, jobs, claims and events when the test is panicking).
    pub async fn namespace(&self, prefix: &str) -> TestNamespace {
        let name = format!("zt-{prefix}-{}", super::unique_suffix());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        TestNamespace {
            client: self.client.clone(),
            kubeconfig: self.kubeconfig.clone(),
            name,
        }
    }
}

/// A namespace that lives as long as one test. Set `ZENTOO_TEST_KEEP_NAMESPACES=1` to keep it.
pub struct TestNamespace {
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub name: String,
}

impl TestNamespace {
    /// An `Api` for namespaced objects of this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// A kubelet player for the pods of this namespace.
    pub fn kubelet(&self) -> Kubelet {
        Kubelet::new(self.api())
    }

    /// What is in the namespace, for failure messages.
    pub async fn dump(&self) -> String {
        dump_namespace(&self.client, &self.name).await
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let keep = std::env::var_os("ZENTOO_TEST_KEEP_NAMESPACES").is_some();
        let (kubeconfig, name) = (self.kubeconfig.clone(), self.name.clone());
        // Drop cannot await, and the test's runtime is busy running this drop: use a thread
        // with its own runtime and client (a client is bound to the runtime that made it).
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for namespace cleanup");
            rt.block_on(async move {
                let client = client_from(&kubeconfig).await;
                if panicking {
                    let dump = tokio::time::timeout(
                        Duration::from_secs(20),
                        dump_namespace(&client, &name),
                    )
                    .await
                    .unwrap_or_else(|_| "(dump timed out)".into());
                    eprintln!("--- namespace {name} at failure ---\n{dump}--- end of {name} ---");
                }
                if keep {
                    eprintln!("kept namespace {name} (ZENTOO_TEST_KEEP_NAMESPACES)");
                    return;
                }
                let deleted = tokio::time::timeout(
                    Duration::from_secs(10),
                    Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()),
                )
                .await;
                if !matches!(deleted, Ok(Ok(_))) {
                    eprintln!("warning: could not delete test namespace {name}");
                }
            })
        });
        if cleanup.join().is_err() && !panicking {
            panic!("cleanup of namespace {} panicked", self.name);
        }
    }
}

/// Pods (phase, node, container states), Jobs (status), claims and events of a namespace.
pub async fn dump_namespace(client: &Client, ns: &str) -> String {
    let mut out = String::new();
    let lp = ListParams::default();
    match Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await {
        Ok(pods) => {
            for p in pods {
                let status = p.status.unwrap_or_default();
                out += &format!(
                    "pod {}: phase {:?}, node {:?}, reason {:?}\n",
                    p.metadata.name.unwrap_or_default(),
                    status.phase,
                    p.spec.and_then(|s| s.node_name),
                    status.reason.or(status.message),
                );
                for c in status
                    .init_container_statuses
                    .unwrap_or_default()
                    .into_iter()
                    .chain(status.container_statuses.unwrap_or_default())
                {
                    out += &format!("  container {}: {}\n", c.name, one_line(&c.state));
                }
                for c in status.conditions.unwrap_or_default() {
                    if c.status != "True" {
                        out += &format!(
                            "  condition {}={} {:?} {:?}\n",
                            c.type_, c.status, c.reason, c.message
                        );
                    }
                }
            }
        }
        Err(e) => out += &format!("(pods: {e})\n"),
    }
    if let Ok(jobs) = Api::<Job>::namespaced(client.clone(), ns).list(&lp).await {
        for j in jobs {
            out += &format!(
                "job {}: {}\n",
                j.metadata.name.unwrap_or_default(),
                one_line(&j.status)
            );
        }
    }
    if let Ok(pvcs) = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
    {
        for c in pvcs {
            out += &format!(
                "pvc {}: {}\n",
                c.metadata.name.unwrap_or_default(),
                one_line(&c.status)
            );
        }
    }
    if let Ok(events) = Api::<Event>::namespaced(client.clone(), ns).list(&lp).await {
        for e in events {
            out += &format!(
                "event {} {}: {} {}\n",
                e.involved_object.kind.unwrap_or_default(),
                e.involved_object.name.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            );
        }
    }
    out
}

fn one_line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("(unprintable: {e})"))
}

/// Waits until `cond` holds for the object `name`, at most `timeout`. Panics with the object's
/// last state (or its absence) and `what` when time runs out.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&K) -> bool,
) -> K
where
    K: Clone + Debug + Send + DeserializeOwned + Serialize + Resource + 'static,
{
    let waited = tokio::time::timeout(
        timeout,
        await_condition(api.clone(), name, |o: Option<&K>| o.is_some_and(&cond)),
    )
    .await;
    match waited {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{name} vanished while waiting for it to {what}"),
        Ok(Err(e)) => panic!("watching {name} (waiting for it to {what}): {e}"),
        Err(_) => {
            let state = match api.get_opt(name).await {
                Ok(Some(mut obj)) => {
                    obj.meta_mut().managed_fields = None;
                    serde_json::to_string_pretty(&obj).unwrap_or_default()
                }
                Ok(None) => "(does not exist)".into(),
                Err(e) => format!("(could not read it: {e})"),
            };
            panic!("timed out after {timeout:?} waiting for {name} to {what}; it is now:\n{state}")
        }
    }
}

/// Waits until the object `name` is gone, at most `timeout`.
pub async fn wait_deleted<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: Clone + Debug + Send + DeserializeOwned + Serialize + Resource + 'static,
{
    let waited = tokio::time::timeout(
        timeout,
        await_condition(api.clone(), name, |o: Option<&K>| o.is_none()),
    )
    .await;
    match waited {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("watching {name} (waiting for its deletion): {e}"),
        Err(_) => {
            let state = match api.get_opt(name).await {
                Ok(Some(mut obj)) => {
                    obj.meta_mut().managed_fields = None;
                    serde_json::to_string_pretty(&obj).unwrap_or_default()
                }
                Ok(None) => "(gone just now)".into(),
                Err(e) => format!("(could not read it: {e})"),
            };
            panic!(
                "timed out after {timeout:?} waiting for {name} to be deleted; it is now:\n{state}"
            )
        }
    }
}
