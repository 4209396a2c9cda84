//! Build logs, served read-only under `/logs/`: what the build steps keep on the volume in
//! `.zentoo/logs/<image>/<build>/` (`zentoo_core::plan::build::LOGS_DIR`), for `zentoo logs`.
//!
//! - `GET /logs/<image>/` — the image's builds that kept logs, newest first ([`Builds`], JSON);
//! - `GET /logs/<image>/<build>/` — the build's log files ([`Listing`], JSON);
//! - `GET /logs/<image>/<build>/<file>` — one file (`build.log`, `packages/<cat>:<pf>:<time>.log`),
//!   `text/plain`, with byte ranges.
//!
//! Every component must be a plain name (no hidden ones, no `..`), and what it resolves to must
//! stay inside the logs directory (a symbolic link a build hook left pointing out is refused).

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The URL prefix of the logs.
pub const PREFIX: &str = "/logs";

/// `GET /logs/<image>/`: the builds of an image that kept logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builds {
    /// Newest first (by the time their directory last changed).
    pub builds: Vec<BuildLogs>,
}

/// One build's log directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLogs {
    /// The build (the Job's name).
    pub name: String,
    /// When its directory last changed, seconds since the epoch.
    pub modified: i64,
}

/// `GET /logs/<image>/<build>/`: a build's log files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Paths relative to the build's directory, sorted.
    pub files: Vec<LogFile>,
}

/// One log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    /// Relative to the build's directory: `build.log`, `packages/app-misc:hello-2.12.1:…log`.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Last written, seconds since the epoch.
    pub modified: i64,
}

/// The logs directory below the served root (`<root>/.zentoo/logs`).
pub fn logs_root(root: &Path) -> PathBuf {
    root.join(zentoo_core::plan::build::LOGS_DIR)
}

/// True when `part` may be one component of a log path.
fn plain(part: &str) -> bool {
    !part.is_empty() && !part.starts_with('.') && !part.contains(['/', '\\', '\0'])
}

/// Answers `GET /logs/<rest>` from the logs under `root` (the canonical served directory).
pub async fn serve(
    State(root): State<Arc<PathBuf>>,
    UrlPath(rest): UrlPath<String>,
    request: Request,
) -> Response {
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.len() > 4 || !parts.iter().all(|p| plain(p)) {
        return not_found();
    }
    let base = logs_root(&root);
    let Ok(base) = base.canonicalize() else {
        return not_found();
    };
    let Ok(path) = parts
        .iter()
        .fold(base.clone(), |p, part| p.join(part))
        .canonicalize()
    else {
        return not_found();
    };
    if !path.starts_with(&base) {
        return not_found();
    }
    let directory = rest.ends_with('/');
    let response = match (parts.len(), directory, path.is_dir()) {
        (1, true, true) => json(&builds(&path)),
        (2, true, true) => json(&listing(&path)),
        (3 | 4, false, false) if path.is_file() => {
            match ServeFile::new(&path).oneshot(request).await {
                Ok(mut response) => {
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    response.map(Body::new)
                }
                Err(e) => match e {},
            }
        }
        _ => not_found(),
    };
    nosniff(response)
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn not_found() -> Response {
    nosniff((StatusCode::NOT_FOUND, "not found\n").into_response())
}

fn seconds(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The build directories of an image's directory, newest first.
pub fn builds(dir: &Path) -> Builds {
    let mut builds: Vec<BuildLogs> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let meta = entry.metadata().ok()?;
            (plain(&name) && meta.is_dir()).then(|| BuildLogs {
                name,
                modified: seconds(&meta),
            })
        })
        .collect();
    builds.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
    Builds { builds }
}

/// The regular files of a build's directory and of its subdirectories (one level: `packages/`),
/// sorted by path.
pub fn listing(dir: &Path) -> Listing {
    let mut files = Vec::new();
    collect(dir, "", 1, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Listing { files }
}

fn collect(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<LogFile>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // Not followed: a symbolic link is listed by neither kind.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !plain(&name) {
            continue;
        }
        let path = format!("{prefix}{name}");
        if kind.is_dir() && depth > 0 {
            collect(&entry.path(), &format!("{path}/"), depth - 1, out);
        } else if kind.is_file()
            && let Ok(meta) = entry.metadata()
        {
            out.push(LogFile {
                path,
                size: meta.len(),
                modified: seconds(&meta),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_holds_plain_files_one_level_down_and_no_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = dir.path();
        std::fs::create_dir_all(build.join("packages/elog")).expect("mkdir");
        std::fs::write(build.join("build.log"), "abc").expect("write");
        std::fs::write(
            build.join("packages/app-misc:hello-1:20261206-070909.log"),
            "x",
        )
        .expect("write");
        std::fs::write(build.join("packages/elog/summary.log"), "deeper").expect("write");
        std::fs::write(build.join(".hidden"), "").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", build.join("passwd.log")).expect("symlink");
        let paths: Vec<(String, u64)> = listing(build)
            .files
            .into_iter()
            .map(|f| (f.path, f.size))
            .collect();
        assert_eq!(
            paths,
            [
                ("build.log".to_string(), 3),
                (
                    "packages/app-misc:hello-1:20261206-070909.log".to_string(),
                    1
                ),
            ]
        );
    }

    #[test]
    fn plain_names_only() {
        assert!(plain("web"));
        assert!(plain("app-misc:hello-2.12.1:20261206-070909.log"));
        for bad in ["", ".", "..", ".zentoo", "a/b", "a\\b", "a\0"] {
            assert!(!plain(bad), "{bad:?}");
        }
    }
}
