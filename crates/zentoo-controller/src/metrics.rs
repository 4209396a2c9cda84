//! The controller's Prometheus metrics and its small HTTP server: `/metrics`, `/healthz`,
//! `/readyz`.
//!
//! Labels are only ever a kind, a result or a reason: never an object's name or namespace, so
//! the series count does not grow with the cluster.

use super::error::Error;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zentoo_api::image::Ending;

/// The `kind` label of GentooSite reconciles.
pub const SITE: &str = "GentooSite";
/// The `kind` label of GentooImage reconciles.
pub const IMAGE: &str = "GentooImage";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindReason {
    kind: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbResource {
    verb: &'static str,
    resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildResult {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckResult {
    result: &'static str,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~80 s
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric the controller exports, and whether it is ready.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindResult, Counter>,
    errors: Family<KindReason, Counter>,
    duration: Family<Kind, Histogram, fn() -> Histogram>,
    builds_started: Counter,
    builds: Family<BuildResult, Counter>,
    binpkg_hits: Counter,
    compiled: Counter,
    source_checks: Family<CheckResult, Counter>,
    api_requests: Family<VerbResource, Counter>,
    webhook_requests: Family<CheckResult, Counter>,
    glsa_affected: Family<Severity, Counter>,
    ready: AtomicBool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Severity {
    severity: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `zentoo` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zentoo");
        let reconciles = Family::<KindResult, Counter>::default();
        let errors = Family::<KindReason, Counter>::default();
        let duration =
            Family::<Kind, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        let builds_started = Counter::default();
        let builds = Family::<BuildResult, Counter>::default();
        let binpkg_hits = Counter::default();
        let compiled = Counter::default();
        let source_checks = Family::<CheckResult, Counter>::default();
        registry.register(
            "source_checks",
            "Checks of site repositories (ls-remote) by result: moved (a used ref moved, \
             objects fetched), unchanged (nothing fetched), error",
            source_checks.clone(),
        );
        let api_requests = Family::<VerbResource, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by kind and result (success, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by kind and reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles take, by kind",
            duration.clone(),
        );
        registry.register(
            "builds_started",
            "Build Jobs created",
            builds_started.clone(),
        );
        registry.register(
            "builds",
            "Finished builds by result (Succeeded, Failed, Superseded, Deleted)",
            builds.clone(),
        );
        registry.register(
            "binpkg_hits",
            "Packages successful builds took from binary packages",
            binpkg_hits.clone(),
        );
        registry.register(
            "packages_compiled",
            "Packages successful builds compiled",
            compiled.clone(),
        );
        registry.register(
            "api_requests",
            "Requests to the Kubernetes API by verb (get, list, watch, create, patch, ...) and \
             resource",
            api_requests.clone(),
        );
        let webhook_requests = Family::<CheckResult, Counter>::default();
        registry.register(
            "webhook_requests",
            "Webhook deliveries by result: Accepted, Ignored, Ping, or the rejection (NotFound, \
             Unauthorized, Malformed, TooLarge, RateLimited, Replayed, Timeout, Busy, Internal)",
            webhook_requests.clone(),
        );
        let glsa_affected = Family::<Severity, Counter>::default();
        registry.register(
            "images_glsa_affected",
            "Images whose new build GLSAs of its repo snapshot affect, by the worst severity \
             (high, normal, low, minimal, other)",
            glsa_affected.clone(),
        );
        Metrics {
            registry,
            glsa_affected,
            reconciles,
            errors,
            duration,
            builds_started,
            builds,
            binpkg_hits,
            compiled,
            source_checks,
            api_requests,
            webhook_requests,
            ready: AtomicBool::new(false),
        }
    }

    /// Records one reconcile of `kind` that took `elapsed`.
    pub fn reconciled<T>(&self, kind: &'static str, result: &Result<T, Error>, elapsed: Duration) {
        self.duration
            .get_or_create(&Kind { kind })
            .observe(elapsed.as_secs_f64());
        let result = match result {
            Ok(_) => "success",
            Err(e) => {
                self.errors
                    .get_or_create(&KindReason {
                        kind,
                        reason: e.reason(),
                    })
                    .inc();
                "error"
            }
        };
        self.reconciles
            .get_or_create(&KindResult { kind, result })
            .inc();
    }

    /// Records one request to the Kubernetes API.
    pub fn api_request(&self, verb: &'static str, resource: &'static str) {
        self.api_requests
            .get_or_create(&VerbResource { verb, resource })
            .inc();
    }

    /// Records one webhook request by its result (a bounded set of reasons).
    pub fn webhook_request(&self, result: &'static str) {
        self.webhook_requests
            .get_or_create(&CheckResult { result })
            .inc();
    }

    /// Records a build Job created.
    pub fn build_started(&self) {
        self.builds_started.inc();
    }

    /// Records a finished build by how it ended; a success adds its package counts.
    pub fn build_finished(&self, ending: Ending, binpkg_hits: Option<u32>, compiled: Option<u32>) {
        let result = ending.as_str();
        self.builds.get_or_create(&BuildResult { result }).inc();
        if let Some(n) = binpkg_hits {
            self.binpkg_hits.inc_by(u64::from(n));
        }
        if let Some(n) = compiled {
            self.compiled.inc_by(u64::from(n));
        }
    }

    /// Records an image newly found affected by GLSAs (its `Vulnerable` condition turned
    /// `True`), by the worst severity among them.
    pub fn glsa_affected(&self, build: Option<&zentoo_api::image::SuccessfulBuild>) {
        let hits = build.and_then(|b| b.glsa.as_ref()).map(|g| &g.affected);
        let worst = ["high", "normal", "low", "minimal"]
            .into_iter()
            .find(|s| hits.is_some_and(|h| h.iter().any(|hit| hit.severity == *s)))
            .unwrap_or("other");
        self.glsa_affected
            .get_or_create(&Severity { severity: worst })
            .inc();
    }

    /// Records a check of a site repository: `moved`, `unchanged` or `error`.
    pub fn source_checked(&self, result: &str) {
        let result = match result {
            "moved" => "moved",
            "unchanged" => "unchanged",
            _ => "error",
        };
        self.source_checks
            .get_or_create(&CheckResult { result })
            .inc();
    }

    /// Marks the controller ready (its caches are synced) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the controller is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The routes of the metrics and health server.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready_handler))
        .with_state(metrics)
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    match metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed").into_response(),
    }
}

async fn ready_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, router(metrics)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_kind_result_and_reason() {
        let m = Metrics::new();
        m.reconciled::<()>(SITE, &Ok(()), Duration::from_millis(20));
        m.reconciled::<()>(
            IMAGE,
            &Err(Error::SiteNotReady("x".into())),
            Duration::from_millis(3),
        );
        m.build_finished(Ending::Succeeded, Some(2), Some(3));
        m.build_finished(Ending::Failed, None, None);
        m.source_checked("unchanged");
        m.source_checked("unchanged");
        let hit = |severity: &str| zentoo_core::plan::result::GlsaHit {
            id: "202610-01".into(),
            severity: severity.into(),
            package: "app-misc/hello-2.10".into(),
        };
        let affected = zentoo_api::image::SuccessfulBuild {
            glsa: Some(zentoo_core::plan::result::GlsaResult {
                advisories: 2,
                affected: vec![hit("low"), hit("high")],
                omitted: 0,
            }),
            ..Default::default()
        };
        m.glsa_affected(Some(&affected));
        let text = m.encode().unwrap();
        for want in [
            r#"zentoo_reconciles_total{kind="GentooSite",result="success"} 1"#,
            r#"zentoo_reconciles_total{kind="GentooImage",result="error"} 1"#,
            r#"zentoo_reconcile_errors_total{kind="GentooImage",reason="SiteNotReady"} 1"#,
            r#"zentoo_reconcile_duration_seconds_count{kind="GentooSite"} 1"#,
            r#"zentoo_builds_total{result="Succeeded"} 1"#,
            r#"zentoo_builds_total{result="Failed"} 1"#,
            "zentoo_binpkg_hits_total 2",
            "zentoo_packages_compiled_total 3",
            r#"zentoo_source_checks_total{result="unchanged"} 2"#,
            r#"zentoo_images_glsa_affected_total{severity="high"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
    }

    /// The names of the series `encode` writes, every family given one observation first (a
    /// family without one writes no sample).
    fn exported_series() -> std::collections::BTreeSet<String> {
        let m = Metrics::new();
        m.reconciled::<()>(SITE, &Ok(()), Duration::from_millis(1));
        m.reconciled::<()>(
            SITE,
            &Err(Error::SiteNotReady("x".into())),
            Duration::from_millis(1),
        );
        m.api_request("list", "pods");
        m.webhook_request("Accepted");
        m.build_started();
        m.build_finished(Ending::Succeeded, Some(1), Some(1));
        m.glsa_affected(None);
        m.source_checked("moved");
        let text = m.encode().unwrap();
        let series: std::collections::BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect();
        for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let family = family.split(' ').next().unwrap_or_default();
            assert!(
                series.iter().any(|s| s.starts_with(family)),
                "no sample of {family}: record one above\n{text}"
            );
        }
        series
    }

    /// Every `zentoo_...` name in `text` (not part of a longer identifier).
    fn metric_names(text: &str) -> std::collections::BTreeSet<&str> {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices("zentoo_")
            .filter(|(i, _)| !text[..*i].ends_with(ident))
            .map(|(i, _)| {
                let rest = &text[i..];
                &rest[..rest.find(|c: char| !ident(c)).unwrap_or(rest.len())]
            })
            .collect()
    }

    #[test]
    fn the_charts_dashboard_and_alerts_use_only_exported_metrics() {
        let exported = exported_series();
        for (file, text) in [
            (
                "dashboard.json",
                include_str!("../../../charts/zentoo/files/dashboard.json"),
            ),
            (
                "alerts.yaml",
                include_str!("../../../charts/zentoo/files/alerts.yaml"),
            ),
        ] {
            let used = metric_names(text);
            assert!(used.len() >= 5, "{file} uses only {used:?}");
            let unknown: Vec<_> = used.iter().filter(|n| !exported.contains(**n)).collect();
            assert!(
                unknown.is_empty(),
                "charts/zentoo/files/{file} uses {unknown:?}, which the controller does not \
                 export; it exports {exported:?}"
            );
        }
    }

    #[test]
    fn metric_names_are_found_whole_and_only_at_a_word_start() {
        let names = metric_names(
            "rate(zentoo_builds_total[5m]) my_zentoo_x {zentoo_a_bucket} crates/zentoo-controller",
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["zentoo_a_bucket", "zentoo_builds_total"]
        );
    }
}
