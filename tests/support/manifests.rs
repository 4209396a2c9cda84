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
