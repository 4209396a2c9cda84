//! Registry credentials: `--creds user:pass`, or a docker `config.json` (`auths` entries with
//! `auth` = base64 `user:pass`, or `username`/`password`, or an `identitytoken`).

use super::error::{Error, Result};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Where a docker `config.json` is looked for when none is given: `$REGISTRY_AUTH_FILE`,
/// `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`.
pub fn default_authfile() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let candidates = [
        env("REGISTRY_AUTH_FILE").map(PathBuf::from),
        env("DOCKER_CONFIG").map(|d| PathBuf::from(d).join("config.json")),
        env("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// The credentials for `registry` (`host[:port]`) in the docker config at `path`.
pub fn from_authfile(path: &Path, registry: &str) -> Result<RegistryAuth> {
    let text = std::fs::read(path).map_err(|e| Error::read(path, "authfile", e))?;
    let config: DockerConfig = serde_json::from_slice(&text)
        .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| host_of(key) == registry);
    let Some((key, entry)) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let what = || format!("{}: auths.{key}", path.display());
    if let Some(token) = &entry.identitytoken {
        return Ok(RegistryAuth::Bearer(token.clone()));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(RegistryAuth::Basic(u.clone(), p.clone()));
    }
    let Some(auth) = &entry.auth else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| Error::invalid(what(), format!("auth is not base64: {e}")))?;
    let text =
        String::from_utf8(decoded).map_err(|_| Error::invalid(what(), "auth is not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| Error::invalid(what(), "auth is not base64 of user:password"))?;
    Ok(RegistryAuth::Basic(user.into(), password.into()))
}

/// `https://host:port/v1/` → `host:port`.
fn host_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_docker_config_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{
                "127.0.0.1:5000":{"auth":"dTpw"},
                "https://reg.example/v1/":{"username":"a","password":"b"},
                "tok.example":{"identitytoken":"t"},
                "bad.example":{"auth":"!!"}}}"#,
        )
        .unwrap();
        let basic = |u: &str, p: &str| RegistryAuth::Basic(u.into(), p.into());
        assert_eq!(
            from_authfile(&path, "127.0.0.1:5000").unwrap(),
            basic("u", "p")
        );
        assert_eq!(
            from_authfile(&path, "reg.example").unwrap(),
            basic("a", "b")
        );
        assert_eq!(
            from_authfile(&path, "tok.example").unwrap(),
            RegistryAuth::Bearer("t".into())
        );
        assert_eq!(
            from_authfile(&path, "other:1").unwrap(),
            RegistryAuth::Anonymous
        );
        let err = from_authfile(&path, "bad.example").unwrap_err().to_string();
        assert!(
            err.contains("auths.bad.example: auth is not base64"),
            "{err}"
        );
    }
}
