//! The webhook receiver: `POST /hooks/<namespace>/<site>` from a git host makes the site check
//! its repository at once. It runs inside the controller that holds the lease (a standby is
//! not ready, so its Service sends it nothing) and writes nothing to the API: a verified push
//! marks the site in [`Pushes`] and wakes its reconcile, which coalesces pushes within the
//! site's debounce window.
//!
//! What a request costs is bounded before anything is verified, cheapest checks first: a
//! namespace we watch, the site and its webhook Secret reference in the watch cache (unknown:
//! 404 without reading the body), a provider's signature header, the declared length; then the
//! body within `body_timeout`, each chunk taking its bytes from a budget all bodies share
//! (a client trickling its body holds only what it sent). Connections beyond
//! `max_connections` are closed at once; headers must arrive within `header_timeout`. Only
//! deliveries that verify count against their site's rate limit and delivery memory. Secrets
//! are read through a cache; a failed signature re-reads a cached Secret (it may have been
//! rotated) only within a small global budget, which also bounds the logging of rejections.
//!
//! Responses carry short generic bodies; secrets are never logged.

pub mod limits;
pub mod verify;

use crate::metrics::Metrics;
use crate::pushes::Pushes;
use crate::secrets::read_secret;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use limits::{Deliveries, RateLimiter, read_capped};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use verify::{Kind, Reject, concerns, verify};
use zentoo_api::GentooSite;
use zentoo_core::site::Prefixes;

/// The Secret key holding a site's webhook secret.
pub const SECRET_KEY: &str = "token";

/// Settings of the webhook receiver.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Largest body accepted, in bytes (413 beyond).
    pub max_body: usize,
    /// Verified deliveries a second per site (429 beyond the burst).
    pub rate: f64,
    /// Burst of verified deliveries per site.
    pub burst: u32,
    /// Deliveries remembered per site for replay detection.
    pub deliveries: usize,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Bytes all request bodies together may buffer (at least `max_body`); a body that finds
    /// no room waits, within `body_timeout`.
    pub body_budget: usize,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// Time a client has to send its body.
    pub body_timeout: Duration,
    /// How long a webhook Secret read is used before it is read again.
    pub secret_ttl: Duration,
    /// Failed deliveries a second, all sites together, that may re-read a Secret or be logged
    /// at info (more are counted in the metrics only).
    pub failure_rate: f64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_body: 1 << 20,
            rate: 10.0,
            burst: 20,
            deliveries: 256,
            max_connections: 1024,
            body_budget: 32 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            secret_ttl: Duration::from_secs(60),
            failure_rate: 2.0,
        }
    }
}

/// Sites remembered at most by the per-site tables (verified deliveries only reach them).
const MAX_SITES: usize = 10_000;
/// A missing Secret or key is asked for again after this long.
const MISSING_SECRET_TTL: Duration = Duration::from_secs(10);
/// A cached Secret younger than this is not re-read after a failed signature.
const REREAD_AFTER: Duration = Duration::from_secs(5);

/// Shared state of the receiver.
pub struct Receiver {
    client: Client,
    namespace: Option<String>,
    sites: Store<GentooSite>,
    pushes: Arc<Pushes>,
    metrics: Arc<Metrics>,
    settings: WebhookSettings,
    bodies: Semaphore,
    limiter: Mutex<RateLimiter>,
    failures: Mutex<RateLimiter>,
    deliveries: Mutex<Deliveries>,
    secrets: SecretCache,
}

impl Receiver {
    /// A receiver for the sites of `sites` (a watch cache) in `namespace` (all when `None`),
    /// reading webhook Secrets with `client` and reporting pushes to `pushes`.
    pub fn new(
        client: Client,
        namespace: Option<String>,
        sites: Store<GentooSite>,
        pushes: Arc<Pushes>,
        metrics: Arc<Metrics>,
        settings: WebhookSettings,
    ) -> Self {
        let failure_burst = (settings.failure_rate * 10.0).clamp(1.0, 1000.0) as u32;
        Receiver {
            client,
            namespace,
            sites,
            pushes,
            metrics,
            bodies: Semaphore::new(settings.body_budget.max(settings.max_body).div_ceil(1024)),
            limiter: Mutex::new(RateLimiter::new(settings.rate, settings.burst, MAX_SITES)),
            failures: Mutex::new(RateLimiter::new(settings.failure_rate, failure_burst, 1)),
            deliveries: Mutex::new(Deliveries::new(settings.deliveries, MAX_SITES)),
            secrets: SecretCache::new(settings.secret_ttl),
            settings,
        }
    }

    /// Takes one unit of the global failure budget.
    fn failure_budget(&self) -> bool {
        self.failures
            .lock()
            .map(|mut f| f.allow("", Instant::now()))
            .unwrap_or(false)
    }
}

/// The receiver's routes.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/hooks/{namespace}/{site}", post(hook))
        .with_state(receiver)
}

/// Serves the receiver on `listener` until the task is dropped: HTTP/1.1, one request a
/// connection, at most `max_connections` at once, headers within `header_timeout`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "webhook receiver listening");
    }
    let settings = receiver.settings.clone();
    let connections = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    // A connection lives at most this long, whatever its client does.
    let lifetime = settings.header_timeout + settings.body_timeout * 2 + Duration::from_secs(5);
    let service = TowerToHyperService::new(router(receiver.clone()));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("webhook receiver: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            receiver.metrics.webhook_request(Reject::Busy.reason());
            drop(stream);
            continue;
        };
        let service = service.clone();
        let header_timeout = settings.header_timeout;
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(lifetime, connection).await;
            drop(permit);
        });
    }
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    Path((namespace, site)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&receiver, &namespace, &site, &headers, body).await {
        Ok((status, result)) => {
            receiver.metrics.webhook_request(result);
            (status, format!("{}\n", result.to_ascii_lowercase())).into_response()
        }
        Err(reject) => {
            receiver.metrics.webhook_request(reject.reason());
            let quiet = matches!(reject, Reject::NotFound | Reject::Busy);
            if !quiet && receiver.failure_budget() {
                info!(%namespace, %site, reason = reject.reason(), "webhook rejected");
            } else {
                debug!(%namespace, %site, reason = reject.reason(), "webhook rejected");
            }
            (reject.status(), reject.body()).into_response()
        }
    }
}

/// Whether `store` has seen its first full list.
async fn synced(store: &Store<GentooSite>) -> bool {
    // A timeout polls its future once before it looks at the clock.
    tokio::time::timeout(Duration::ZERO, store.wait_until_ready())
        .await
        .is_ok_and(|r| r.is_ok())
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
    // Before the first list, an unknown site may just not be cached yet.
    let site = receiver
        .sites
        .get(&ObjectRef::new(name).within(namespace))
        .ok_or(if synced(&receiver.sites).await {
            Reject::NotFound
        } else {
            Reject::Busy
        })?;
    let secret_name = site
        .spec
        .source
        .webhook_secret_ref
        .as_ref()
        .map(|r| r.name.clone())
        .ok_or(Reject::NotFound)?;
    if verify::provider(headers).is_none() {
        return Err(Reject::Unauthorized);
    }
    let max = receiver.settings.max_body;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Reject::TooLarge);
    }
    // The body, within its time, holding its share of the byte budget until handled.
    let (body, _budget) = tokio::time::timeout(
        receiver.settings.body_timeout,
        read_capped(body.into_data_stream(), max, &receiver.bodies),
    )
    .await
    .map_err(|_| Reject::Timeout)??;

    let (secret, read_at) = receiver
        .secrets
        .get(&receiver.client, namespace, &secret_name, false)
        .await?;
    let event = match verify(headers, &body, &secret) {
        // The Secret may have been rotated since it was cached: read it again, within the
        // failure budget.
        Err(Reject::Unauthorized)
            if read_at.elapsed() > REREAD_AFTER && receiver.failure_budget() =>
        {
            let (secret, _) = receiver
                .secrets
                .get(&receiver.client, namespace, &secret_name, true)
                .await?;
            verify(headers, &body, &secret)?
        }
        other => other?,
    };

    let key = format!("{namespace}/{name}");
    // Replays are known by their delivery id and by their body (a signature covers the
    // body, not the id header).
    let digest = format!("body:{}", hex::encode(Sha256::digest(&body)));
    let ids: Vec<&str> = event
        .delivery
        .as_deref()
        .into_iter()
        .chain([digest.as_str()])
        .collect();
    receiver
        .deliveries
        .lock()
        .map_err(|_| Reject::Internal)?
        .record(&key, &ids)?;
    let allowed = receiver
        .limiter
        .lock()
        .map(|mut l| l.allow(&key, Instant::now()))
        .unwrap_or(false);
    if !allowed {
        // Not acted on: the sender may deliver it again later.
        if let Ok(mut seen) = receiver.deliveries.lock() {
            seen.forget(&key, &ids);
        }
        return Err(Reject::RateLimited);
    }

    let provider = event.provider.as_str();
    let (git_ref, default_branch) = match event.kind {
        Kind::Ping => {
            info!(%namespace, site = %name, provider, "webhook ping");
            return Ok((StatusCode::OK, "Pong"));
        }
        Kind::Other => {
            debug!(%namespace, site = %name, provider, "webhook event ignored");
            return Ok((StatusCode::ACCEPTED, "Ignored"));
        }
        Kind::Push {
            git_ref,
            default_branch,
        } => (git_ref, default_branch),
    };
    let branches = &site.spec.branches;
    // As planning reads them: `refs/heads/portage` is the prefix `portage/`.
    let prefixes = Prefixes::new(&branches.portage, &branches.buildhooks).unwrap_or_default();
    if !concerns(
        &git_ref,
        site.spec.source.git_ref.as_deref(),
        default_branch.as_deref(),
        &prefixes.portage,
        &prefixes.buildhooks,
    ) {
        debug!(%namespace, site = %name, provider, %git_ref, "push to an untracked ref ignored");
        return Ok((StatusCode::ACCEPTED, "Ignored"));
    }
    receiver.pushes.push(namespace, name);
    info!(%namespace, site = %name, provider, %git_ref, "webhook push: site woken");
    Ok((StatusCode::ACCEPTED, "Accepted"))
}

/// Webhook secrets by (namespace, Secret name), each used for a while before it is read again;
/// a missing Secret or key is remembered for a shorter while. Keys come only from sites in the
/// watch cache, so the table is as large as the sites with webhooks.
struct SecretCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), CachedSecret>>,
}

/// When a Secret was read, and its secret (none: the Secret or its key is missing).
type CachedSecret = (Instant, Option<Arc<[u8]>>);

impl SecretCache {
    fn new(ttl: Duration) -> Self {
        SecretCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The secret of Secret `namespace/name` and when it was read: from the cache unless it is
    /// stale or `reread`. A Secret that is missing or lacks the key is [`Reject::NotFound`].
    async fn get(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        reread: bool,
    ) -> Result<(Arc<[u8]>, Instant), Reject> {
        let key = (namespace.to_string(), name.to_string());
        let cached = self
            .entries
            .lock()
            .map_err(|_| Reject::Internal)?
            .get(&key)
            .cloned();
        if let Some((at, value)) = cached {
            let ttl = if value.is_some() {
                self.ttl
            } else {
                MISSING_SECRET_TTL
            };
            if !reread && at.elapsed() < ttl {
                return value.map(|v| (v, at)).ok_or(Reject::NotFound);
            }
        }
        let value = match read_secret(client, namespace, name).await {
            Ok(data) => match data.get(SECRET_KEY) {
                Some(token) => Some(Arc::from(token.trim_end().as_bytes())),
                None => {
                    warn!(%namespace, "webhook: Secret {name} has no key {SECRET_KEY}");
                    None
                }
            },
            Err(crate::error::Error::Secret(message)) => {
                warn!(%namespace, "webhook: {message}");
                None
            }
            Err(e) => {
                warn!(%namespace, "webhook: reading Secret {name}: {e}");
                return Err(Reject::Internal);
            }
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().map_err(|_| Reject::Internal)?;
        if entries.len() >= MAX_SITES {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(key, (now, value.clone()));
        value.map(|v| (v, now)).ok_or(Reject::NotFound)
    }
}
