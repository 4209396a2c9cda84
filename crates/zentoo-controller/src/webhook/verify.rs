//! Pure webhook checks: which provider sent a request, whether its signature holds, what it
//! asks for. No I/O; the server in `super` feeds it headers, the capped body and the secret.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::StatusCode;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Who sent a webhook, from its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`, `X-GitHub-Event`, `X-GitHub-Delivery`.
    GitHub,
    /// GitLab: `X-Gitlab-Token: <secret>`, `X-Gitlab-Event`, `X-Gitlab-Event-UUID`.
    GitLab,
    /// Gitea and Forgejo: `X-Gitea-Signature: <hex>`, `X-Gitea-Event`, `X-Gitea-Delivery`.
    Gitea,
    /// Anything else: `X-Zentoo-Signature: sha256=<hex>`, optional `X-Zentoo-Delivery`.
    Generic,
}

impl Provider {
    /// A label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Gitea => "gitea",
            Provider::Generic => "generic",
        }
    }
}

/// What a verified request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A ping or test delivery: answered 200, nothing else.
    Ping,
    /// A push to `git_ref` (`refs/heads/<branch>`); `default_branch` when the payload names it.
    Push {
        git_ref: String,
        default_branch: Option<String>,
    },
    /// Any other event: acknowledged and ignored.
    Other,
}

/// A verified webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub provider: Provider,
    /// The provider's delivery id, when it sends one (for replay detection).
    pub delivery: Option<String>,
    pub kind: Kind,
}

/// Why a request was refused. The response body is deliberately generic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// No such site (or no webhook configured for it, or a namespace not watched).
    NotFound,
    /// Missing or wrong signature/token.
    Unauthorized,
    /// The body is not the JSON the event needs.
    Malformed,
    /// The body exceeds the cap.
    TooLarge,
    /// Too many requests for this site.
    RateLimited,
    /// A delivery id seen recently.
    Replayed,
    /// The body did not arrive in time.
    Timeout,
    /// Too many bodies are being read, or the caches are not synced yet: retry later.
    Busy,
    /// Something on our side failed (API server, Secret).
    Internal,
}

impl Reject {
    /// The HTTP status of the rejection.
    pub fn status(self) -> StatusCode {
        match self {
            Reject::NotFound => StatusCode::NOT_FOUND,
            Reject::Unauthorized => StatusCode::UNAUTHORIZED,
            Reject::Malformed => StatusCode::BAD_REQUEST,
            Reject::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reject::Replayed => StatusCode::CONFLICT,
            Reject::Timeout => StatusCode::REQUEST_TIMEOUT,
            Reject::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Reject::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short, generic response body.
    pub fn body(self) -> &'static str {
        match self {
            Reject::NotFound => "not found\n",
            Reject::Unauthorized => "unauthorized\n",
            Reject::Malformed => "bad request\n",
            Reject::TooLarge => "payload too large\n",
            Reject::RateLimited => "too many requests\n",
            Reject::Replayed => "duplicate delivery\n",
            Reject::Timeout => "request timeout\n",
            Reject::Busy => "busy, retry later\n",
            Reject::Internal => "internal error\n",
        }
    }

    /// A label for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Reject::NotFound => "NotFound",
            Reject::Unauthorized => "Unauthorized",
            Reject::Malformed => "Malformed",
            Reject::TooLarge => "TooLarge",
            Reject::RateLimited => "RateLimited",
            Reject::Replayed => "Replayed",
            Reject::Timeout => "Timeout",
            Reject::Busy => "Busy",
            Reject::Internal => "Internal",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The provider a request claims to come from; `None` when it carries no signature header of
/// any provider.
pub fn provider(headers: &HeaderMap) -> Option<Provider> {
    // Gitea and Forgejo also send GitHub-style headers: look at theirs first.
    if headers.contains_key("x-gitea-signature") || headers.contains_key("x-gitea-event") {
        Some(Provider::Gitea)
    } else if headers.contains_key("x-gitlab-token") || headers.contains_key("x-gitlab-event") {
        Some(Provider::GitLab)
    } else if headers.contains_key("x-hub-signature-256") || headers.contains_key("x-github-event")
    {
        Some(Provider::GitHub)
    } else if headers.contains_key("x-zentoo-signature") {
        Some(Provider::Generic)
    } else {
        None
    }
}

/// Checks `body` against `hex_mac`, the hex HMAC-SHA256 of it under `secret`, in constant time.
fn check_hmac(secret: &[u8], body: &[u8], hex_mac: Option<&str>) -> Result<(), Reject> {
    let given = hex_mac
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Reject::Unauthorized)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Reject::Internal)?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| Reject::Unauthorized)
}

/// The hex HMAC-SHA256 of `body` under `secret`, as senders compute it (used by tests and
/// the benchmark).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Authenticates a request of `provider` with the site's `secret`.
fn authenticate(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    secret: &[u8],
) -> Result<(), Reject> {
    if secret.is_empty() {
        // An empty secret would let anyone in.
        return Err(Reject::Unauthorized);
    }
    match provider {
        Provider::GitHub => check_hmac(
            secret,
            body,
            header(headers, "x-hub-signature-256").and_then(|s| s.strip_prefix("sha256=")),
        ),
        Provider::Generic => check_hmac(
            secret,
            body,
            header(headers, "x-zentoo-signature").and_then(|s| s.strip_prefix("sha256=")),
        ),
        Provider::Gitea => check_hmac(secret, body, header(headers, "x-gitea-signature")),
        Provider::GitLab => {
            let token = header(headers, "x-gitlab-token").ok_or(Reject::Unauthorized)?;
            // Compare fixed-length MACs so neither content nor length leaks through timing.
            let a = sign(secret, token.as_bytes());
            let b = sign(secret, secret);
            if bool::from(a.as_bytes().ct_eq(b.as_bytes())) {
                Ok(())
            } else {
                Err(Reject::Unauthorized)
            }
        }
    }
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    repository: Option<Repository>,
    project: Option<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    default_branch: Option<String>,
}

/// Verifies one request: the provider from the headers, its signature over `body` with
/// `secret`, then the payload. Rejections: no provider header or a wrong/missing signature →
/// [`Reject::Unauthorized`]; a body that is not the expected JSON → [`Reject::Malformed`].
/// The signature is checked before the body is parsed.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Event, Reject> {
    let provider = provider(headers).ok_or(Reject::Unauthorized)?;
    authenticate(provider, headers, body, secret)?;
    let (event, delivery) = match provider {
        Provider::GitHub => ("x-github-event", "x-github-delivery"),
        Provider::GitLab => ("x-gitlab-event", "x-gitlab-event-uuid"),
        Provider::Gitea => ("x-gitea-event", "x-gitea-delivery"),
        Provider::Generic => ("x-zentoo-event", "x-zentoo-delivery"),
    };
    let delivery = header(headers, delivery)
        .filter(|d| !d.is_empty())
        .map(|d| d.chars().take(128).collect());
    let event_name = header(headers, event).unwrap_or(match provider {
        Provider::Generic => "push",
        _ => "",
    });
    let event_name = event_name.to_ascii_lowercase();
    // Every delivery must be JSON, even the ones we ignore.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| Reject::Malformed)?;
    let kind = match event_name.as_str() {
        "ping" => Kind::Ping,
        "push" | "push hook" => {
            let payload: PushPayload =
                serde_json::from_value(value).map_err(|_| Reject::Malformed)?;
            let git_ref = payload.git_ref.ok_or(Reject::Malformed)?;
            let default_branch = payload
                .repository
                .or(payload.project)
                .and_then(|r| r.default_branch);
            Kind::Push {
                git_ref,
                default_branch,
            }
        }
        _ => Kind::Other,
    };
    Ok(Event {
        provider,
        delivery,
        kind,
    })
}

/// Whether a push to `git_ref` concerns a site tracking `tracked` (a branch name, or `None` for
/// the remote's default branch, which the payload may name) with branch prefixes
/// `portage` and `buildhooks`. Unknown default branch: counts (a needless fetch is cheap).
pub fn concerns(
    git_ref: &str,
    tracked: Option<&str>,
    default_branch: Option<&str>,
    portage: &str,
    buildhooks: &str,
) -> bool {
    let Some(branch) = git_ref.strip_prefix("refs/heads/") else {
        return false;
    };
    if branch.starts_with(portage) || branch.starts_with(buildhooks) {
        return true;
    }
    let tracked = tracked.map(|t| t.strip_prefix("refs/heads/").unwrap_or(t));
    match tracked.or(default_branch) {
        Some(t) => branch == t,
        None => true,
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
