//! The webhook receiver: `POST /hooks/<namespace>/<site>` from a git host makes the site fetch
//! at once. Checks, in order: a namespace we watch → the site's rate limit → the body cap →
//! the site and its webhook Secret → signature and payload ([`verify`]) → replay → event.
//! A push that concerns the site sets [`FETCH_REQUESTED_AT`] on it; the site reconciler
//! checks its repository when that annotation is newer than the one it last handled. Pushes
//! within the site's debounce window (`spec.source.debounce`, else the receiver's) coalesce
//! here into one request now and one at the window's end.
//!
//! Responses carry short generic bodies; secrets are never logged.

pub mod limits;
pub mod verify;

use crate::api::GentooSite;
use crate::api::annotations::FETCH_REQUESTED_AT;
use crate::controller::secrets::read_secret;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use limits::{Debounced, Debouncer, Deliveries, RateLimiter, read_capped};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};
use verify::{Kind, Reject, concerns, verify};

/// The Secret key holding a site's webhook secret.
pub const SECRET_KEY: &str = "token";

/// Settings of the webhook receiver.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Largest body accepted, in bytes (413 beyond).
    pub max_body: usize,
    /// Requests a second per site (429 beyond the burst).
    pub rate: f64,
    /// Burst of requests per site.
    pub burst: u32,
    /// Pushes to one site within this window coalesce into one fetch (zero: none).
    pub debounce: Duration,
    /// Delivery ids remembered for replay detection.
    pub deliveries: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_body: 1 << 20,
            rate: 10.0,
            burst: 20,
            debounce: Duration::from_secs(5),
            deliveries: 4096,
        }
    }
}

/// Shared state of the receiver.
pub struct Receiver {
    client: Client,
    namespace: Option<String>,
    settings: WebhookSettings,
    limiter: Mutex<RateLimiter>,
    deliveries: Mutex<Deliveries>,
    debouncer: Mutex<Debouncer>,
}

impl Receiver {
    /// A receiver for sites in `namespace` (all when `None`).
    pub fn new(client: Client, namespace: Option<String>, settings: WebhookSettings) -> Self {
        Receiver {
            client,
            namespace,
            limiter: Mutex::new(RateLimiter::new(settings.rate, settings.burst, 10_000)),
            deliveries: Mutex::new(Deliveries::new(settings.deliveries)),
            debouncer: Mutex::new(Debouncer::new(settings.debounce)),
            settings,
        }
    }
}

/// The receiver's routes.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/hooks/{namespace}/{site}", post(hook))
        .with_state(receiver)
}

/// Serves the receiver on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "webhook receiver listening");
    }
    axum::serve(listener, router(receiver)).await?;
    Ok(())
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    Path((namespace, site)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&receiver, &namespace, &site, &headers, body).await {
        Ok((status, text)) => (status, text).into_response(),
        Err(reject) => {
            info!(%namespace, %site, reason = reject.reason(), "webhook rejected");
            (reject.status(), reject.body()).into_response()
        }
    }
}

/// A Kubernetes object name: at most 253 of `[a-z0-9.-]`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

async fn handle(
    receiver: &Arc<Receiver>,
    namespace: &str,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StatusCode, &'static str), Reject> {
    if !valid_name(namespace) || !valid_name(name) {
        return Err(Reject::NotFound);
    }
    if receiver
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != namespace)
    {
        return Err(Reject::NotFound);
    }
    let key = format!("{namespace}/{name}");
    let allowed = receiver
        .limiter
        .lock()
        .map(|mut l| l.allow(&key, Instant::now()))
        .unwrap_or(false);
    if !allowed {
        return Err(Reject::RateLimited);
    }
    let max = receiver.settings.max_body;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Reject::TooLarge);
    }
    let body = read_capped(body.into_data_stream(), max).await?;

    let api: Api<GentooSite> = Api::namespaced(receiver.client.clone(), namespace);
    let site = match api.get_opt(name).await {
        Ok(Some(site)) => site,
        Ok(None) => return Err(Reject::NotFound),
        Err(e) => {
            warn!(%namespace, site = %name, "webhook: reading the site: {e}");
            return Err(Reject::Internal);
        }
    };
    let secret_ref = site
        .spec
        .source
        .webhook_secret_ref
        .as_ref()
        .ok_or(Reject::NotFound)?;
    let secret = match read_secret(&receiver.client, namespace, &secret_ref.name).await {
        Ok(data) => data.get(SECRET_KEY).cloned().ok_or_else(|| {
            warn!(%namespace, site = %name, "webhook: Secret {} has no key {SECRET_KEY}", secret_ref.name);
            Reject::NotFound
        })?,
        Err(e) => {
            warn!(%namespace, site = %name, "webhook: {e}");
            return Err(Reject::NotFound);
        }
    };
    let event = verify(headers, &body, secret.trim_end().as_bytes())?;
    if let Some(id) = &event.delivery
        && let Ok(mut seen) = receiver.deliveries.lock()
    {
        seen.record(&key, id)?;
    }
    let provider = event.provider.as_str();
    let (git_ref, default_branch) = match event.kind {
        Kind::Ping => {
            info!(%namespace, site = %name, provider, "webhook ping");
            return Ok((StatusCode::OK, "pong\n"));
        }
        Kind::Other => {
            debug!(%namespace, site = %name, provider, "webhook event ignored");
            return Ok((StatusCode::ACCEPTED, "ignored\n"));
        }
        Kind::Push {
            git_ref,
            default_branch,
        } => (git_ref, default_branch),
    };
    let branches = &site.spec.branches;
    if !concerns(
        &git_ref,
        site.spec.source.git_ref.as_deref(),
        default_branch.as_deref(),
        &branches.portage,
        &branches.buildhooks,
    ) {
        debug!(%namespace, site = %name, provider, %git_ref, "push to an untracked ref ignored");
        return Ok((StatusCode::ACCEPTED, "ignored\n"));
    }
    let window = site
        .spec
        .source
        .debounce
        .as_deref()
        .and_then(crate::controller::site::parse_duration)
        .unwrap_or(receiver.settings.debounce);
    let decision = receiver
        .debouncer
        .lock()
        .map(|mut d| d.push_within(&key, Instant::now(), window))
        .unwrap_or(Debounced::Now);
    match decision {
        Debounced::Now => {
            if let Err(e) = request_fetch(&api, name).await {
                warn!(%namespace, site = %name, "webhook: requesting a fetch: {e}");
                if let (Some(id), Ok(mut seen)) = (&event.delivery, receiver.deliveries.lock()) {
                    seen.forget(&key, id);
                }
                return Err(Reject::Internal);
            }
            info!(%namespace, site = %name, provider, %git_ref, "webhook push: fetch requested");
        }
        Debounced::After(delay) => {
            info!(%namespace, site = %name, provider, %git_ref, ?delay, "webhook push: fetch scheduled");
            let receiver = receiver.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut d) = receiver.debouncer.lock() {
                    d.fired(&key, Instant::now());
                }
                if let Err(e) = request_fetch(&api, &name).await {
                    warn!(site = %name, "webhook: requesting a fetch: {e}");
                }
            });
        }
        Debounced::Coalesced => {
            debug!(%namespace, site = %name, provider, %git_ref, "webhook push coalesced");
        }
    }
    Ok((StatusCode::ACCEPTED, "accepted\n"))
}

/// Sets the site's fetch-requested annotation to now, which wakes the site reconciler and
/// makes it check its repository at once.
pub async fn request_fetch(api: &Api<GentooSite>, name: &str) -> kube::Result<GentooSite> {
    let patch = serde_json::json!({
        "metadata": {"annotations": {FETCH_REQUESTED_AT: Timestamp::now().to_string()}},
    });
    let site = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    debug!(site = %site.name_any(), "reconcile requested");
    Ok(site)
}
