//! The plain-install manifests in `manifests/` (rendered from charts/zentoo): their documents,
//! with the install and watched namespaces renamed, and server-side apply of any of them.

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::pinned_kind;

/// Namespace the manifests install the controller into.
pub const SYSTEM_NAMESPACE: &str = "zentoo-system";
/// Namespace `manifests/zentoo-namespaced.yaml` watches.
pub const BUILDS_NAMESPACE: &str = "zentoo-builds";

/// The documents of `manifests/<name>`, the namespace names of `renames` replaced.
pub fn documents(name: &str, renames: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("manifests")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in renames {
        text = text.replace(from, to);
    }
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The documents `helm template` renders from charts/zentoo with the values `sets`
/// (`KEY=VALUE`, as `--set` takes them), installed into `zentoo-system`.
pub fn helm_template(helm: &std::path::Path, sets: &[&str]) -> Vec<serde_json::Value> {
    let mut cmd = std::process::Command::new(helm);
    cmd.args(["template", "zentoo"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/zentoo"))
        .args(["--namespace", SYSTEM_NAMESPACE]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().expect("helm template");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("yaml");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The RBAC of the namespaced install (ServiceAccounts, Roles, RoleBindings), installed into
/// `system` and watching `builds`: exactly what `kubectl apply -f manifests/zentoo-namespaced.yaml`
/// grants.
pub fn namespaced_rbac(system: &str, builds: &str) -> Vec<serde_json::Value> {
    documents(
        "zentoo-namespaced.yaml",
        &[(SYSTEM_NAMESPACE, system), (BUILDS_NAMESPACE, builds)],
    )
    .into_iter()
    .filter(|d| matches!(kind(d), "ServiceAccount" | "Role" | "RoleBinding"))
    .collect()
}

/// The `kind` of a document.
pub fn kind(doc: &serde_json::Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

/// Server-side applies `doc` as `manager` (a dry run when asked).
pub async fn apply(client: &kube::Client, doc: &serde_json::Value, dry_run: bool) {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind(doc));
    let (resource, caps) = pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discover {gvk:?}: {e}"));
    let name = doc["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    };
    let mut params = PatchParams::apply("zentoo-test-install").force();
    params.dry_run = dry_run;
    api.patch(name, &params, &Patch::Apply(doc))
        .await
        .unwrap_or_else(|e| panic!("apply {} {name} (dry run {dry_run}): {e}", kind(doc)));
}

/// Which install of `manifests/` the controller runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// `manifests/zentoo-namespaced.yaml`: a Role in the watched namespace.
    Namespaced,
    /// `manifests/zentoo.yaml`: a ClusterRole for every namespace.
    ClusterWide,
}

/// The controller's identity as installed: its ServiceAccount's token, as a kubeconfig file
/// and a client.
pub struct Installed {
    /// `system:serviceaccount:<namespace>:zentoo`.
    pub user: String,
    /// A kubeconfig with the ServiceAccount's token (for the controller as its own process).
    pub kubeconfig: std::path::PathBuf,
    /// A client with that token.
    pub client: kube::Client,
    _dir: tempfile::TempDir,
}

/// Installs the RBAC of the `flavour` manifests with `ns` as both the install and the watched
/// namespace (ServiceAccounts `zentoo` and `zentoo-build`, the controller's rules, leader
/// election), then returns the identity of ServiceAccount `zentoo`: a token the API server
/// issued for it, never the admin's credentials. Cluster-scoped objects are renamed after the
/// namespace and owned by it, so they go when it does.
pub async fn install(ns: &super::kube::TestNamespace, flavour: Flavour) -> Installed {
    use k8s_openapi::api::core::v1::Namespace;
    let docs = match flavour {
        Flavour::Namespaced => namespaced_rbac(&ns.name, &ns.name),
        Flavour::ClusterWide => {
            let owner: Namespace = Api::all(ns.client.clone())
                .get(&ns.name)
                .await
                .expect("the test namespace");
            documents("zentoo.yaml", &[(SYSTEM_NAMESPACE, &ns.name)])
                .into_iter()
                .filter(|d| {
                    matches!(
                        kind(d),
                        "ServiceAccount"
                            | "Role"
                            | "RoleBinding"
                            | "ClusterRole"
                            | "ClusterRoleBinding"
                    )
                })
                .map(|mut d| {
                    let unique = |name: &serde_json::Value| {
                        format!("{}-{}", name.as_str().unwrap_or_default(), ns.name)
                    };
                    if kind(&d) == "ClusterRoleBinding" {
                        d["roleRef"]["name"] = unique(&d["roleRef"]["name"]).into();
                    }
                    if matches!(kind(&d), "ClusterRole" | "ClusterRoleBinding") {
                        d["metadata"]["name"] = unique(&d["metadata"]["name"]).into();
                        d["metadata"]["ownerReferences"] = serde_json::json!([{
                            "apiVersion": "v1", "kind": "Namespace",
                            "name": ns.name, "uid": owner.metadata.uid,
                        }]);
                    }
                    d
                })
                .collect::<Vec<_>>()
        }
    };
    assert!(
        docs.iter().any(|d| kind(d) == "ServiceAccount"),
        "the {flavour:?} manifests create no ServiceAccount"
    );
    for doc in &docs {
        apply(&ns.client, doc, false).await;
    }
    let dir = tempfile::TempDir::new().expect("kubeconfig dir");
    let path = dir.path().join("kubeconfig");
    let client = service_account(ns, "zentoo", &path).await;
    let user = format!("system:serviceaccount:{}:zentoo", ns.name);
    // RBAC is read from a watch cache: wait until the binding shows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let sites: Api<zentoo::api::GentooSite> = Api::namespaced(client.clone(), &ns.name);
    while sites.list(&Default::default()).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{user} cannot list GentooSites 20 s after the {flavour:?} RBAC was applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Installed {
        user,
        kubeconfig: path,
        client,
        _dir: dir,
    }
}

/// A client of ServiceAccount `name` of `ns`, with a token the API server issued for it (an
/// hour long), also written as a kubeconfig to `kubeconfig`.
pub async fn service_account(
    ns: &super::kube::TestNamespace,
    name: &str,
    kubeconfig: &std::path::Path,
) -> kube::Client {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(ns.client.clone(), &ns.name)
        .create_token_request(name, &Default::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for ServiceAccount {name}: {e}"))
        .status
        .and_then(|s| s.token)
        .expect("the token in the request's status");
    let mut config =
        kube::config::Kubeconfig::read_from(&ns.kubeconfig).expect("the harness kubeconfig");
    for named in &mut config.auth_infos {
        named.auth_info = Some(kube::config::AuthInfo {
            token: Some(token.clone().into()),
            ..Default::default()
        });
    }
    std::fs::write(
        kubeconfig,
        serde_json::to_vec(&config).expect("kubeconfig json"),
    )
    .expect("write kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .expect("the ServiceAccount's kubeconfig");
    kube::Client::try_from(config).expect("a client for the ServiceAccount")
}
