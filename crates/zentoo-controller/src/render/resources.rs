//! Resource requests and limits of build containers.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// A quantity from its text.
pub fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

/// Requests `requests` and a memory limit.
pub fn resources(requests: [(&str, &str); 2], memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(
            requests
                .iter()
                .map(|(k, v)| (k.to_string(), quantity(v)))
                .collect(),
        ),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            quantity(memory_limit),
        )])),
        ..ResourceRequirements::default()
    }
}

/// `given` with every request and limit it lacks taken from `defaults`: a build always has both.
pub fn with_defaults(
    given: Option<ResourceRequirements>,
    defaults: ResourceRequirements,
) -> ResourceRequirements {
    let Some(mut given) = given else {
        return defaults;
    };
    // A resource the user limits but does not request gets its limit as request (the
    // apiserver's rule): a default request could exceed that limit.
    let limited: Vec<String> = given
        .limits
        .as_ref()
        .map(|l| l.keys().cloned().collect())
        .unwrap_or_default();
    let requests = given.requests.get_or_insert_with(BTreeMap::new);
    for (k, v) in defaults.requests.unwrap_or_default() {
        if !limited.contains(&k) {
            requests.entry(k).or_insert(v);
        }
    }
    // Only memory is limited (cpu throttling only slows a build), never below its request: the
    // apiserver refuses a limit under the request.
    let requested = given
        .requests
        .as_ref()
        .and_then(|r| r.get("memory"))
        .cloned();
    let has_limit = given
        .limits
        .as_ref()
        .is_some_and(|l| l.contains_key("memory"));
    if !has_limit {
        let default = defaults.limits.and_then(|mut l| l.remove("memory"));
        let limit = match requested {
            Some(r) => larger(r, default),
            None => default,
        };
        if let Some(limit) = limit {
            given
                .limits
                .get_or_insert_with(BTreeMap::new)
                .insert("memory".into(), limit);
        }
    }
    given
}

/// The larger of two memory quantities (when both parse as bytes), else `a`.
fn larger(a: Quantity, b: Option<Quantity>) -> Option<Quantity> {
    let Some(b) = b else { return Some(a) };
    match (bytes(&a.0), bytes(&b.0)) {
        (Some(x), Some(y)) if y > x => Some(b),
        _ => Some(a),
    }
}

/// A memory quantity in bytes: plain, or with a binary (`Ki`..`Ti`) or decimal (`k`..`T`) suffix.
fn bytes(q: &str) -> Option<u128> {
    let units: [(&str, u128); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u128>().ok()?.checked_mul(factor);
        }
    }
    q.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(map: &Option<BTreeMap<String, Quantity>>, key: &str) -> Option<String> {
        map.as_ref()?.get(key).map(|q| q.0.clone())
    }

    #[test]
    fn missing_requests_and_limits_come_from_the_defaults() {
        let defaults = resources([("cpu", "1"), ("memory", "2Gi")], "8Gi");
        let none = with_defaults(None, defaults.clone());
        assert_eq!(none, defaults);
        let only_cpu = with_defaults(
            Some(ResourceRequirements {
                requests: Some(BTreeMap::from([("cpu".into(), quantity("8"))])),
                ..ResourceRequirements::default()
            }),
            defaults.clone(),
        );
        assert_eq!(q(&only_cpu.requests, "cpu").as_deref(), Some("8"));
        assert_eq!(q(&only_cpu.requests, "memory").as_deref(), Some("2Gi"));
        assert_eq!(q(&only_cpu.limits, "memory").as_deref(), Some("8Gi"));
    }

    #[test]
    fn a_default_limit_never_falls_below_the_request() {
        let defaults = resources([("cpu", "1"), ("memory", "2Gi")], "8Gi");
        let big = with_defaults(
            Some(ResourceRequirements {
                requests: Some(BTreeMap::from([("memory".into(), quantity("16Gi"))])),
                ..ResourceRequirements::default()
            }),
            defaults.clone(),
        );
        assert_eq!(q(&big.limits, "memory").as_deref(), Some("16Gi"));
        let own = with_defaults(
            Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("memory".into(), quantity("3Gi"))])),
                ..ResourceRequirements::default()
            }),
            defaults,
        );
        assert_eq!(q(&own.limits, "memory").as_deref(), Some("3Gi"));
        // Requested as much as it is limited to (by the apiserver), not the default 2Gi.
        assert_eq!(q(&own.requests, "memory"), None);
        assert_eq!(q(&own.requests, "cpu").as_deref(), Some("1"));
        assert_eq!(bytes("1500M"), Some(1_500_000_000));
        assert_eq!(bytes("x"), None);
    }
}
