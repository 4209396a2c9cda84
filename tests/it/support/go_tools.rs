//! Tools built from the Go module proxy into the harness cache by scripts/setup.sh
//! (`ensure_supply_chain_tools`): cosign and syft, the verifiers a user of zentoo's images runs,
//! and promtool, which checks and tests the chart's alerts.

use std::path::PathBuf;

/// cosign's version (scripts/setup.sh `ZENTOO_COSIGN_VERSION`).
pub const COSIGN_VERSION: &str = "v3.1.3";
/// syft's version (scripts/setup.sh `ZENTOO_SYFT_VERSION`).
pub const SYFT_VERSION: &str = "v1.57.2";
/// promtool's version: Prometheus's Go module (scripts/setup.sh `ZENTOO_PROMETHEUS_VERSION`).
pub const PROMETHEUS_VERSION: &str = "v0.316.0";

/// `$VAR`, else `<harness cache>/bin/<name>-<version>/<name>`, when it is a file; else `None`
/// after a SKIPPED line (on CI: a failure).
fn tool(var: &str, name: &str, version: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("ZENTOO_TEST_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/zentoo-test"))
            })?;
        Some(cache.join(format!("bin/{name}-{version}/{name}")))
    });
    match path {
        Some(path) if path.is_file() => Some(path),
        path => super::skip(&format!(
            "{name} not found at {} (build it: . scripts/setup.sh && ensure_supply_chain_tools)",
            path.map_or(format!("${var}"), |p| p.display().to_string())
        )),
    }
}

/// cosign.
pub fn cosign() -> Option<PathBuf> {
    tool("COSIGN", "cosign", COSIGN_VERSION)
}

/// syft.
pub fn syft() -> Option<PathBuf> {
    tool("SYFT", "syft", SYFT_VERSION)
}

/// promtool.
pub fn promtool() -> Option<PathBuf> {
    tool("PROMTOOL", "promtool", PROMETHEUS_VERSION)
}
