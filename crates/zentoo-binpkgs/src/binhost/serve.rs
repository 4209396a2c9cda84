//! A small read-only HTTP server for the binary package volume: what `emerge --getbinpkg`
//! fetches (`<PKGDIR>/Packages` and the gpkg files), nothing else.
//!
//! GET and HEAD only (405 otherwise), byte ranges and `If-Modified-Since` (tower-http's
//! `ServeDir`), no directory listings, nothing whose path has a hidden component (zentoo's
//! build records under `.zentoo/`, Portage's lock directories), and nothing that resolves
//! outside the served directory (`..`, symbolic links pointing out). `GET /healthz` answers
//! `ok` for probes. Build logs are served under `/logs/` ([`super::logs`]).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The binhost's routes, serving `root` (which must exist).
pub fn router(root: &Path) -> std::io::Result<Router> {
    let root = Arc::new(root.canonicalize()?);
    let files = ServeDir::new(root.as_ref()).append_index_html_on_directories(false);
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/logs/{*rest}", get(super::logs::serve))
        .with_state(root.clone())
        .fallback_service(files)
        .layer(middleware::from_fn_with_state(root, guard)))
}

/// Serves `root` on `listener` until `shutdown` completes.
pub async fn serve(
    root: &Path,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(root)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (errors name it).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

async fn guard(State(root): State<Arc<PathBuf>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = if method != Method::GET && method != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "read-only binhost\n").into_response()
    } else if path == "/healthz" || allowed(&root, &path) {
        next.run(request).await
    } else {
        not_found()
    };
    tracing::debug!(%method, path, status = response.status().as_u16(), "binhost");
    response
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Body::from("not found\n")).into_response()
}

/// True when the URL path names something inside `root` with no hidden component. A path that
/// does not exist is allowed here (the file service answers 404 itself).
fn allowed(root: &Path, url_path: &str) -> bool {
    let Ok(decoded) = percent_encoding::percent_decode_str(url_path).decode_utf8() else {
        return false;
    };
    let mut rel = PathBuf::new();
    for part in decoded.split('/') {
        if part.is_empty() {
            continue;
        }
        if part.starts_with('.') || part.contains('\\') || part.contains('\0') {
            return false;
        }
        rel.push(part);
    }
    match root.join(&rel).canonicalize() {
        Ok(real) => real.starts_with(root),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_escaping_paths_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("x86_64/abc")).expect("mkdir");
        std::fs::write(root.join("x86_64/abc/Packages"), "").expect("write");
        std::os::unix::fs::symlink("/etc", root.join("out")).expect("symlink");
        assert!(allowed(&root, "/x86_64/abc/Packages"));
        assert!(allowed(&root, "/x86_64/abc/missing.gpkg.tar"));
        assert!(!allowed(&root, "/.zentoo/builds/a/b.json"));
        assert!(!allowed(&root, "/x86_64/%2e%2e/%2e%2e/etc/passwd"));
        assert!(!allowed(&root, "/x86_64/abc/.Packages.portage_lockdir"));
        assert!(!allowed(&root, "/out/passwd"));
        assert!(!allowed(&root, "/%ff"));
    }
}
