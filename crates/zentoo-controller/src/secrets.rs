//! Reading Secrets the specs name. Values are never logged or put in status.

use super::error::{Error, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use std::collections::BTreeMap;

/// The string values of Secret `name` in `namespace`.
pub async fn read_secret(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, String>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::Secret(format!("Secret {namespace}/{name} does not exist")))?;
    let mut out = BTreeMap::new();
    for (key, value) in secret.data.unwrap_or_default() {
        let text = String::from_utf8(value.0).map_err(|_| {
            Error::Secret(format!(
                "Secret {namespace}/{name}: key {key} is not UTF-8 text"
            ))
        })?;
        out.insert(key, text);
    }
    for (key, value) in secret.string_data.unwrap_or_default() {
        out.insert(key, value);
    }
    Ok(out)
}
