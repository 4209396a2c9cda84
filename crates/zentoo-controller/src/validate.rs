//! Checks of GentooSite and GentooImage specs that the CRD schema cannot express, each naming
//! the field: what would otherwise fail later and less clearly (a Job the API server refuses,
//! a poll loop, a label too long) is reported at once. Pure.

use crate::render::names::MAX_LABEL;
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::ResourceExt;
use std::collections::BTreeMap;
use zentoo_api::site::GitSource;
use zentoo_api::{GentooImage, GentooSite};
use zentoo_core::site::error::tidy;
use zentoo_core::site::url::redact_url;

pub use zentoo_api::site::{MAX_INTERVAL, MIN_INTERVAL};
/// Most distcc workers per arch of one build.
pub const MAX_DISTCC_WORKERS: u32 = 64;

/// A spec problem: `field: what is wrong`.
pub type Problem = String;

fn quote(text: &str) -> String {
    tidy(&format!("`{text}`"), 200)
}

/// Longest repository name (with its registry) of an image reference.
const MAX_REFERENCE_NAME: usize = 255;

/// Checks `text` against the image reference grammar of the OCI distribution spec
/// (`distribution/reference`, ASCII classes as in its Go regexp): `[registry[:port]/]path
/// [:tag][@algorithm:hex]`, the name at most 255 characters.
///
/// The publisher parses references with oci-client, whose grammar compiles with Unicode
/// classes into ~15 MiB of automata: too much for a controller that only checks them. What
/// this accepts, that parser accepts too (a unit test holds them together).
pub fn image_reference(text: &str) -> Result<(), String> {
    use regex::{Regex, RegexBuilder};
    use std::sync::LazyLock;
    const DOMAIN: &str = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    const PATH: &str = r"[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*";
    static GRAMMAR: LazyLock<Option<Regex>> = LazyLock::new(|| {
        let pattern = format!(
            r"^((?:{DOMAIN}(?:\.{DOMAIN})*(?::[0-9]+)?/)?{PATH}(?:/{PATH})*)(?::(\w[\w.-]{{0,127}}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}}))?$"
        );
        RegexBuilder::new(&pattern).unicode(false).build().ok()
    });
    let grammar = GRAMMAR
        .as_ref()
        .ok_or("the image reference grammar does not compile")?;
    let captures = grammar.captures(text).ok_or_else(|| {
        "expected [registry[:port]/]repository[:tag][@digest], the repository in lower case"
            .to_string()
    })?;
    let name = captures.get(1).map_or(0, |m| m.len());
    if name > MAX_REFERENCE_NAME {
        return Err(format!(
            "its name is {name} characters, at most {MAX_REFERENCE_NAME} are allowed"
        ));
    }
    Ok(())
}

/// The first problem of a site's spec, if any. `allow_local`: whether paths and `file://`
/// URLs (on the controller's own disk) are allowed as sources.
pub fn site(site: &GentooSite, allow_local: bool) -> Result<(), Problem> {
    name(&site.name_any(), "its images and Jobs")?;
    let source = &site.spec.source;
    self::source(source, allow_local)?;
    source.interval().map_err(|e| e.to_string())?;
    super::spec::prefixes(site).map_err(|e| e.to_string())?;
    let defaults = &site.spec.image_defaults;
    if let Some(registry) = &defaults.registry {
        image_reference(&format!("{}/x:latest", registry.trim_end_matches('/'))).map_err(|_| {
            format!(
                "spec.imageDefaults.registry: {} is not a registry prefix like \
                 registry.example.com/zentoo",
                quote(registry)
            )
        })?;
    }
    if let Some(distcc) = &defaults.distcc {
        workers(
            distcc.workers_per_arch,
            "spec.imageDefaults.distcc.workersPerArch",
        )?;
        resources(
            distcc.resources.as_ref(),
            "spec.imageDefaults.distcc.resources",
        )?;
    }
    if let Some(follow) = site
        .spec
        .security
        .as_ref()
        .and_then(|s| s.follow_snapshot.as_deref())
        && let Some(why) = zentoo_core::plan::follow::follow_problem(follow)
    {
        return Err(format!("spec.security.followSnapshot: {why}"));
    }
    let storage = &site.spec.storage;
    for (kind, volume) in [
        ("binpkgs", &storage.binpkgs),
        ("distfiles", &storage.distfiles),
        ("repo", &storage.repo),
    ] {
        let field = format!("spec.storage.{kind}");
        if let Some(size) = &volume.size
            && quantity(&size.0).is_none()
        {
            return Err(format!(
                "{field}.size: {} is not a quantity like 50Gi",
                quote(&size.0)
            ));
        }
        if let Some(class) = &volume.storage_class_name
            && !is_subdomain(class)
        {
            return Err(format!(
                "{field}.storageClassName: {} is not a StorageClass name",
                quote(class)
            ));
        }
        if let Some(mode) = &volume.access_mode
            && ![
                "ReadWriteOnce",
                "ReadOnlyMany",
                "ReadWriteMany",
                "ReadWriteOncePod",
            ]
            .contains(&mode.as_str())
        {
            return Err(format!(
                "{field}.accessMode: {} is not one of ReadWriteOnce, ReadOnlyMany, \
                 ReadWriteMany, ReadWriteOncePod",
                quote(mode)
            ));
        }
        if let Some(claim) = &volume.existing_claim
            && !is_subdomain(claim)
        {
            return Err(format!(
                "{field}.existingClaim: {} is not a claim name",
                quote(claim)
            ));
        }
    }
    Ok(())
}

/// The first problem of an image's spec (beyond what planning checks), if any.
pub fn image(image: &GentooImage) -> Result<(), Problem> {
    name(&image.name_any(), "its Jobs and pods")?;
    let spec = &image.spec;
    if let Some(reference) = &spec.publish.image {
        image_reference(reference).map_err(|e| {
            format!(
                "spec.publish.image: {} is not an image reference: {e}",
                quote(reference)
            )
        })?;
    }
    if let Some(distcc) = &spec.distcc {
        workers(distcc.workers_per_arch, "spec.distcc.workersPerArch")?;
        resources(distcc.resources.as_ref(), "spec.distcc.resources")?;
    }
    resources(spec.resources.as_ref(), "spec.resources")?;
    for (key, value) in &spec.node_selector {
        if !is_label_key(key) {
            return Err(format!(
                "spec.nodeSelector: {} is not a label key",
                quote(key)
            ));
        }
        if !is_label_value(value) {
            return Err(format!(
                "spec.nodeSelector.{key}: {} is not a label value",
                quote(value)
            ));
        }
    }
    for (i, t) in spec.tolerations.iter().enumerate() {
        toleration(t).map_err(|why| format!("spec.tolerations[{i}]: {why}"))?;
    }
    Ok(())
}

fn name(name: &str, labels: &str) -> Result<(), Problem> {
    if name.len() > MAX_LABEL {
        return Err(format!(
            "metadata.name: {} is {} characters; at most {MAX_LABEL}, as it labels {labels}",
            quote(name),
            name.len()
        ));
    }
    Ok(())
}

/// Checks a site's source: its URL ([`url`]), and that its `secretRef` credentials would
/// travel encrypted: never with `http://` (sent in the clear) or `git://` (a transport without
/// authentication or encryption, where a private repository does not belong).
pub fn source(source: &GitSource, allow_local: bool) -> Result<(), Problem> {
    url(&source.url, allow_local)?;
    let scheme = zentoo_core::site::url::scheme(&source.url);
    if let (Some(secret), Some(scheme @ ("http" | "git"))) = (&source.secret_ref, scheme.as_deref())
    {
        return Err(format!(
            "spec.source.secretRef: {} would be sent to {}, a `{scheme}://` URL, unencrypted; \
             use an https:// or ssh:// URL",
            quote(&secret.name),
            quote(&redact_url(source.url.trim()))
        ));
    }
    Ok(())
}

/// Checks a source URL: a remote transport git can reach (https, http, ssh, git, or
/// `user@host:path`), or a local one only when allowed; and no credentials in it (see
/// [`zentoo_core::site::url`]: a login name alone is allowed for ssh).
pub fn url(url: &str, allow_local: bool) -> Result<(), Problem> {
    let url = url.trim();
    if url.is_empty() {
        return Err("spec.source.url is empty".into());
    }
    if zentoo_core::site::url::credential(url).is_some() {
        let instead = if zentoo_core::site::url::is_ssh(url) {
            "identity and known_hosts"
        } else {
            "username and token"
        };
        return Err(format!(
            "spec.source.url: {} holds credentials; remove them from the URL and name a Secret \
             with {instead} in spec.source.secretRef",
            quote(&redact_url(url))
        ));
    }
    if let Some((transport, _)) = url.split_once("::")
        && !transport.contains('/')
    {
        return Err(format!(
            "spec.source.url: {} names a `{transport}::` transport; use https://, ssh://, \
             git:// or user@host:path",
            quote(url)
        ));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let scp_like = scheme.is_none()
        && url
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'));
    let local = match scheme.as_deref() {
        Some("https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git") => false,
        Some("file") => true,
        Some(other) => {
            return Err(format!(
                "spec.source.url: {} uses `{other}://`; use https://, ssh://, git:// or \
                 user@host:path",
                quote(url)
            ));
        }
        None => !scp_like,
    };
    if local && !allow_local {
        return Err(format!(
            "spec.source.url: {} is a path on the controller's disk; sites must name a remote \
             repository (the controller allows local ones only with --allow-local-sources)",
            quote(url)
        ));
    }
    Ok(())
}

fn workers(n: u32, field: &str) -> Result<(), Problem> {
    if n > MAX_DISTCC_WORKERS {
        return Err(format!(
            "{field}: {n} workers per build; at most {MAX_DISTCC_WORKERS}"
        ));
    }
    Ok(())
}

fn resources(r: Option<&ResourceRequirements>, field: &str) -> Result<(), Problem> {
    let Some(r) = r else { return Ok(()) };
    let parsed = |map: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
                  what: &str|
     -> Result<BTreeMap<String, f64>, Problem> {
        let mut out = BTreeMap::new();
        for (k, v) in map.iter().flatten() {
            let n = quantity(&v.0)
                .ok_or_else(|| format!("{field}.{what}.{k}: {} is not a quantity", quote(&v.0)))?;
            out.insert(k.clone(), n);
        }
        Ok(out)
    };
    let requests = parsed(&r.requests, "requests")?;
    let limits = parsed(&r.limits, "limits")?;
    for (k, request) in &requests {
        if let Some(limit) = limits.get(k)
            && request > limit
        {
            return Err(format!(
                "{field}: requests.{k} is more than limits.{k}; the API server refuses such a pod"
            ));
        }
    }
    Ok(())
}

fn toleration(t: &Toleration) -> Result<(), String> {
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if !["Equal", "Exists"].contains(&operator) {
        return Err(format!(
            "operator {} is not Equal or Exists",
            quote(operator)
        ));
    }
    if let Some(effect) = t.effect.as_deref()
        && !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
    {
        return Err(format!(
            "effect {} is not NoSchedule, PreferNoSchedule or NoExecute",
            quote(effect)
        ));
    }
    if let Some(key) = t.key.as_deref()
        && !key.is_empty()
        && !is_label_key(key)
    {
        return Err(format!("key {} is not a label key", quote(key)));
    }
    if operator == "Exists" && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
        return Err("operator Exists takes no value".into());
    }
    if let Some(value) = t.value.as_deref()
        && !is_label_value(value)
    {
        return Err(format!("value {} is not a label value", quote(value)));
    }
    Ok(())
}

/// The value of a Kubernetes quantity (`1.5Gi`, `500m`, `2e3`), or `None` when it is not one.
pub fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty()
        || digits == "."
        || digits.matches('.').count() > 1
        || digits.contains(['+', '-'])
        || number.len() - digits.len() > 1
    {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().ok()?;
            if !(-30..=30).contains(&e) {
                return None;
            }
            10f64.powi(e)
        }
        _ => return None,
    };
    Some(value * factor)
}

/// A DNS subdomain (RFC 1123): what most object names must be.
fn is_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(is_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A label value: at most 63 characters, alphanumerics with `-`, `_`, `.` inside.
fn is_label_value(value: &str) -> bool {
    value.len() <= MAX_LABEL
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_none_or(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID_REFERENCES: &[&str] = &[
        "busybox",
        "library/busybox:1.36",
        "registry.example.com/zentoo/desktop-kde:latest",
        "127.0.0.1:5000/zentoo/x:latest",
        "localhost/zentoo:test",
        "ghcr.io/zentoo/zentoo:0.1.0",
        "a/b_c/d__e/f-g/h---i:T.a-g_1",
        "Registry.Example.COM:443/x/y",
        "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "x:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ];

    const INVALID_REFERENCES: &[&str] = &[
        "",
        "not a registry!!",
        "upper/Case",
        "x:",
        "x:-tag",
        "x:tägä",
        "x:ta\u{0661}g",
        "-x/y",
        "x//y",
        "x/y/",
        "x_/y",
        "host:port/x",
        "x@sha256:short",
        "x@:0123456789abcdef0123456789abcdef",
        "x:tag:tag",
    ];

    #[test]
    fn image_references_follow_the_distribution_grammar() {
        for r in VALID_REFERENCES {
            assert_eq!(image_reference(r), Ok(()), "{r}");
        }
        for r in INVALID_REFERENCES {
            assert!(image_reference(r).is_err(), "{r} accepted");
        }
        let long = format!("{}/x:latest", "a".repeat(254));
        let err = image_reference(&long).expect_err("a 256-character name");
        assert!(err.contains("256 characters"), "{err}");
        let tag = format!("x:{}", "t".repeat(129));
        assert!(image_reference(&tag).is_err(), "a 129-character tag");
        assert_eq!(image_reference(&format!("x:{}", "t".repeat(128))), Ok(()));
    }

    #[test]
    fn what_the_controller_accepts_the_publisher_parses() {
        use zentoo_publish::registry::parse_ref;
        let long = format!("{}/x:latest", "a".repeat(250));
        let more = [long.as_str(), "a.b.c:1/d", "x:1.2.3-r1_p2", "0/1:2"];
        for r in VALID_REFERENCES
            .iter()
            .chain(INVALID_REFERENCES)
            .chain(&more)
        {
            if image_reference(r).is_ok() {
                assert!(
                    parse_ref(r).is_ok(),
                    "{r}: accepted here, refused by publish"
                );
            }
        }
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(quantity("50Gi"), Some(50.0 * 1024f64.powi(3)));
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2e3"), Some(2000.0));
        assert_eq!(quantity("1.5"), Some(1.5));
        for bad in ["lots", "", "Gi", "1..5", "--1", "1Gb", "1e99999", "."] {
            assert_eq!(quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_must_be_remote_unless_allowed() {
        for good in [
            "https://git.example/site.git",
            "git://127.0.0.1:9418/site",
            "ssh://git@host/site",
            "git@github.com:org/site.git",
        ] {
            assert!(url(good, false).is_ok(), "{good}");
        }
        for local in ["/var/cache/zentoo", "file:///tmp", "./site", "site"] {
            let e = url(local, false).unwrap_err();
            assert!(e.starts_with("spec.source.url: "), "{e}");
            assert!(url(local, true).is_ok(), "{local}");
        }
        assert!(url("ext::sh -c touch% /tmp/x", true).is_err());
        assert!(url("  ", true).unwrap_err().contains("empty"));
    }

    #[test]
    fn credentials_in_urls_are_refused_and_never_shown() {
        for (bad, instead) in [
            (
                "https://zt-user:zt-pass@git.example/site.git",
                "username and token",
            ),
            (
                "https://zt-token@git.example/site.git",
                "username and token",
            ),
            (
                "http://zt-user:zt-pass@git.example/site.git",
                "username and token",
            ),
            (
                "ssh://git:zt-pass@git.example/site.git",
                "identity and known_hosts",
            ),
            (
                "git:zt-pass@git.example:org/site.git",
                "identity and known_hosts",
            ),
        ] {
            let e = url(bad, false).unwrap_err();
            assert!(e.starts_with("spec.source.url: "), "{e}");
            assert!(e.contains("***@git.example"), "{e}");
            assert!(e.contains(instead) && e.contains("secretRef"), "{e}");
            assert!(!e.contains("zt-pass") && !e.contains("zt-token"), "{e}");
        }
    }

    #[test]
    fn a_secret_goes_only_over_encrypted_transports() {
        let with_secret = |url: &str| GitSource {
            url: url.into(),
            secret_ref: Some(zentoo_api::site::SecretRef {
                name: "git-creds".into(),
            }),
            ..GitSource::default()
        };
        for plain in ["http://git.example/site.git", "GIT://git.example/site"] {
            let e = source(&with_secret(plain), false).unwrap_err();
            assert!(e.starts_with("spec.source.secretRef: `git-creds`"), "{e}");
            assert!(e.contains("unencrypted") && e.contains("https://"), "{e}");
            let without = GitSource {
                secret_ref: None,
                ..with_secret(plain)
            };
            assert_eq!(source(&without, false), Ok(()), "{plain}");
        }
        for encrypted in [
            "https://git.example/site.git",
            "ssh://git@git.example/site.git",
            "git@git.example:org/site.git",
        ] {
            assert_eq!(
                source(&with_secret(encrypted), false),
                Ok(()),
                "{encrypted}"
            );
        }
    }

    #[test]
    fn labels_and_tolerations_follow_the_api_rules() {
        assert!(is_label_key("kubernetes.io/arch"));
        assert!(!is_label_key("not a label key"));
        assert!(!is_label_key("UPPER.example/x"));
        assert!(is_label_value("") && is_label_value("a.b_c-d"));
        assert!(!is_label_value("-a") && !is_label_value(&"a".repeat(64)));
        let t = |op: &str| Toleration {
            key: Some("x".into()),
            operator: Some(op.into()),
            ..Toleration::default()
        };
        assert!(toleration(&t("Exists")).is_ok());
        assert!(toleration(&t("Bogus")).unwrap_err().contains("Bogus"));
    }
}
