//! Counting the controller's requests to the Kubernetes API by verb and resource
//! (`zentoo_api_requests_total`): the client is wrapped once, so every reconcile, watch and
//! event is counted. Watches and caches should keep these flat as the cluster grows.

use super::metrics::Metrics;
use http::{Method, Request};
use kube::Client;
use kube::client::Body;
use std::sync::Arc;

/// `client`, counting each request it sends into `metrics`.
pub fn counting(client: Client, metrics: Arc<Metrics>) -> Client {
    let namespace = client.default_namespace().to_string();
    let service = tower::service_fn(move |request: Request<Body>| {
        let (client, metrics) = (client.clone(), metrics.clone());
        async move {
            let (verb, resource) = classify(request.method(), request.uri());
            metrics.api_request(verb, resource);
            client.send(request).await
        }
    });
    Client::new(service, namespace)
}

/// What a request to the Kubernetes API asks for, as RBAC names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest<'a> {
    /// API group (`""` for the core group).
    pub group: &'a str,
    /// Resource, plural (`""` for a group's discovery document).
    pub resource: &'a str,
    /// Subresource (`status`, `log`, ...).
    pub subresource: Option<&'a str>,
    /// RBAC verb: get, list, watch, create, patch, update, delete, deletecollection.
    pub verb: &'static str,
}

/// The group, resource and verb of a request; `None` for paths outside `/api` and `/apis`
/// (`/version`, `/openapi/...`).
pub fn api_request<'a>(method: &Method, uri: &'a http::Uri) -> Option<ApiRequest<'a>> {
    let parts: Vec<&str> = uri.path().split('/').filter(|p| !p.is_empty()).collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let (group, rest) = match parts.first() {
        Some(&"api") => ("", parts.get(2..)?),
        Some(&"apis") => (*parts.get(1)?, parts.get(3..)?),
        _ => return None,
    };
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, named, subresource) = match rest {
        [] => ("", false, None),
        [r] => (*r, false, None),
        [r, _name] => (*r, true, None),
        [r, _name, sub, ..] => (*r, true, Some(*sub)),
    };
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PATCH => "patch",
        Method::PUT => "update",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    Some(ApiRequest {
        group,
        resource,
        subresource,
        verb,
    })
}

/// The verb and resource of a request, as bounded label values.
pub fn classify(method: &Method, uri: &http::Uri) -> (&'static str, &'static str) {
    let Some(request) = api_request(method, uri) else {
        return ("list", "discovery");
    };
    let resource = match (request.resource, request.subresource) {
        ("gentoosites", Some("status")) => "gentoosites/status",
        ("gentooimages", Some("status")) => "gentooimages/status",
        ("pods", Some("log")) => "pods/log",
        (_, Some(_)) => "other",
        ("gentoosites", None) => "gentoosites",
        ("gentooimages", None) => "gentooimages",
        ("jobs", None) => "jobs",
        ("pods", None) => "pods",
        ("persistentvolumeclaims", None) => "persistentvolumeclaims",
        ("services", None) => "services",
        ("statefulsets", None) => "statefulsets",
        ("networkpolicies", None) => "networkpolicies",
        ("events", None) => "events",
        ("secrets", None) => "secrets",
        ("leases", None) => "leases",
        ("namespaces", None) => "namespaces",
        ("", None) => "discovery",
        _ => "other",
    };
    (request.verb, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: Method, uri: &str) -> (&'static str, &'static str) {
        classify(&method, &uri.parse().unwrap())
    }

    #[test]
    fn requests_are_classified_by_verb_and_resource() {
        assert_eq!(
            c(
                Method::GET,
                "/apis/batch/v1/namespaces/ns/jobs?labelSelector=a%3Db"
            ),
            ("list", "jobs")
        );
        assert_eq!(
            c(
                Method::GET,
                "/apis/batch/v1/namespaces/ns/jobs?watch=true&resourceVersion=1"
            ),
            ("watch", "jobs")
        );
        assert_eq!(
            c(
                Method::GET,
                "/apis/zentoo.dev/v1alpha1/gentooimages?watch=true"
            ),
            ("watch", "gentooimages")
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/ns/secrets/s"),
            ("get", "secrets")
        );
        assert_eq!(
            c(
                Method::PATCH,
                "/apis/zentoo.dev/v1alpha1/namespaces/ns/gentooimages/x/status?fieldManager=z"
            ),
            ("patch", "gentooimages/status")
        );
        assert_eq!(
            c(Method::POST, "/apis/batch/v1/namespaces/ns/jobs"),
            ("create", "jobs")
        );
        assert_eq!(
            c(Method::DELETE, "/api/v1/namespaces/ns/pods/p"),
            ("delete", "pods")
        );
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces/ns"),
            ("get", "namespaces")
        );
        assert_eq!(c(Method::GET, "/version"), ("list", "discovery"));
    }
}
