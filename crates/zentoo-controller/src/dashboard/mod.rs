//! A read-only web dashboard served from the controller's watch caches (no API request per
//! page): sites and images with their conditions, each image's builds with durations, causes
//! and binpkg hits, and the commands that show more. No write action exists: every route is a
//! GET. With a token (`--dashboard-token-file`) every request must carry it, as a bearer
//! token, a cookie the dashboard sets, or once as `?token=`; without one, whoever reaches the
//! address reads it (as `/metrics`). Pages reload themselves when the caches change.

pub mod chart;
pub mod page;

use crate::context::Caches;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use zentoo_api::{GentooImage, GentooSite};

/// The cookie holding the token once given.
const COOKIE: &str = "zentoo-dashboard";

/// What every response says to the browser: nothing but this origin's script, no framing,
/// no referrer, no caching.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Reloads the page when `/version` changes (polled every 2 s).
const LIVE_JS: &str = r#"// zentoo dashboard: reload when the controller's caches change.
(() => {
  const root = document.currentScript.src.replace(/live\.js$/, "");
  document.documentElement.dataset.live = "polling";
  let seen = null;
  const poll = async () => {
    try {
      const r = await fetch(root + "version", { cache: "no-store", credentials: "same-origin" });
      const v = await r.text();
      if (r.ok && seen !== null && v !== seen) { location.reload(); return; }
      if (r.ok) { seen = v; }
    } catch (e) {}
    setTimeout(poll, 2000);
  };
  poll();
})();
"#;

#[derive(Clone)]
struct Dashboard {
    caches: Caches,
    token: Option<Arc<str>>,
}

/// The dashboard's routes over `caches`; `token`, when given, is required.
pub fn router(caches: Caches, token: Option<String>) -> Router {
    let state = Dashboard {
        caches,
        token: token.map(Arc::from),
    };
    Router::new()
        .route("/", get(overview))
        .route("/image/{namespace}/{name}", get(image))
        .route("/version", get(version))
        .route("/live.js", get(live_js))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the dashboard on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    caches: Caches,
    token: Option<String>,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, token = token.is_some(), "serving the dashboard");
    axum::serve(listener, router(caches, token)).await
}

/// Checks the token (when one is set) and adds the security headers to every response.
async fn guard(State(state): State<Dashboard>, request: Request, next: Next) -> Response {
    let mut response = match &state.token {
        None => next.run(request).await,
        Some(token) => match presented(&request) {
            Presented::Query(given) if same(&given, token) => {
                // Keep it in a cookie, and drop it from the address bar.
                let mut r = Redirect::to(request.uri().path()).into_response();
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                )) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            }
            Presented::Carried(given) if same(&given, token) => next.run(request).await,
            _ => (
                StatusCode::UNAUTHORIZED,
                "the dashboard needs its token: open it once with ?token=TOKEN, or send \
                 Authorization: Bearer TOKEN\n",
            )
                .into_response(),
        },
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The token a request carries, and how.
enum Presented {
    None,
    /// A bearer token or the cookie.
    Carried(String),
    /// `?token=`: kept in a cookie.
    Query(String),
}

/// The token a request carries: `Authorization: Bearer`, the cookie, or `?token=`.
fn presented(request: &Request) -> Presented {
    let headers: &HeaderMap = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Presented::Carried(bearer.trim().to_string());
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string());
    if let Some(cookie) = cookie {
        return Presented::Carried(cookie);
    }
    request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "token")
        .map_or(Presented::None, |(_, v)| Presented::Query(v.into_owned()))
}

/// Compares in constant time (for equal lengths).
fn same(given: &str, token: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// Every cached site and image, by namespace and name.
fn objects(caches: &Caches) -> (Vec<Arc<GentooSite>>, Vec<Arc<GentooImage>>) {
    let mut sites = caches.sites.state();
    sites.sort_by_key(|s| (s.namespace(), s.name_any()));
    let mut images = caches.images.state();
    images.sort_by_key(|i| (i.namespace(), i.name_any()));
    (sites, images)
}

async fn overview(State(state): State<Dashboard>) -> Html<String> {
    let (sites, images) = objects(&state.caches);
    let sites: Vec<&GentooSite> = sites.iter().map(Arc::as_ref).collect();
    let images: Vec<&GentooImage> = images.iter().map(Arc::as_ref).collect();
    Html(page::overview(&sites, &images, Timestamp::now()))
}

async fn image(
    State(state): State<Dashboard>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let key = ObjectRef::<GentooImage>::new(&name).within(&namespace);
    match state.caches.images.get(&key) {
        Some(image) => Html(page::image(&image, Timestamp::now())).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no GentooImage {namespace}/{name}\n"),
        )
            .into_response(),
    }
}

/// A digest of every cached site's and image's identity and resource version: it changes
/// exactly when one of them does.
async fn version(State(state): State<Dashboard>) -> String {
    let (sites, images) = objects(&state.caches);
    let mut hasher = Sha256::new();
    let metas = sites
        .iter()
        .map(|s| s.meta())
        .chain(images.iter().map(|i| i.meta()));
    for meta in metas {
        for part in [&meta.uid, &meta.resource_version] {
            hasher.update(part.as_deref().unwrap_or_default());
            hasher.update([0]);
        }
    }
    hex::encode(hasher.finalize())
}

async fn live_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        LIVE_JS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use kube::runtime::reflector::store;
    use tower::ServiceExt;

    fn caches() -> Caches {
        let (sites, _) = store::<GentooSite>();
        let (images, _) = store::<GentooImage>();
        let (jobs, _) = store();
        let (pods, _) = store();
        Caches::new(sites, images, jobs, pods)
    }

    async fn get_with(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::builder().uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).expect("a request"))
            .await
            .expect("a response")
    }

    #[tokio::test]
    async fn a_token_is_required_once_set_and_then_kept_in_a_cookie() {
        let app = router(caches(), Some("s3cret".into()));
        assert_eq!(get_with(&app, "/", &[]).await.status(), 401);
        assert_eq!(get_with(&app, "/?token=wrong", &[]).await.status(), 401);
        let bearer = get_with(&app, "/", &[("authorization", "Bearer s3cret")]).await;
        assert_eq!(bearer.status(), 200);
        let given = get_with(&app, "/image/a/b?token=s3cret", &[]).await;
        assert_eq!(given.status(), 303);
        assert_eq!(given.headers()["location"], "/image/a/b");
        let cookie = given.headers()["set-cookie"].to_str().expect("a cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let kept = get_with(&app, "/", &[("cookie", "zentoo-dashboard=s3cret")]).await;
        assert_eq!(kept.status(), 200);
        assert!(
            kept.headers()["content-security-policy"]
                .to_str()
                .is_ok_and(|v| v.contains("default-src 'none'"))
        );
    }

    #[tokio::test]
    async fn nothing_can_be_written_and_unknown_images_are_not_found() {
        let app = router(caches(), None);
        let post = app
            .clone()
            .oneshot(
                Request::builder()
                    .method("POST")
                    .uri("/")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("a response");
        assert_eq!(post.status(), 405);
        assert_eq!(get_with(&app, "/image/ns/nope", &[]).await.status(), 404);
        assert_eq!(get_with(&app, "/version", &[]).await.status(), 200);
    }
}
