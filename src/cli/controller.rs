//! `zentoo controller`: run the reconcilers against the current cluster.

use crate::api::duration::parse as parse_duration;
use crate::controller::context::Settings;
use crate::controller::policy::{Glob, LabelPattern, Policy, TolerationPattern};
use crate::controller::webhook::WebhookSettings;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Watch only this namespace (default: all).
    #[arg(long, env = "ZENTOO_NAMESPACE")]
    namespace: Option<String>,
    /// Where site repositories are fetched to.
    #[arg(long, env = "ZENTOO_CACHE_DIR", default_value = "/var/cache/zentoo")]
    cache_dir: PathBuf,
    /// The zentoo image for the materialize and publish steps of builds.
    #[arg(long, env = "ZENTOO_IMAGE", default_value = crate::DEFAULT_IMAGE)]
    zentoo_image: String,
    /// ServiceAccount of build pods (give it no API rights).
    #[arg(long, env = "ZENTOO_BUILD_SERVICE_ACCOUNT")]
    build_service_account: Option<String>,
    /// Seconds a build may run before it is stopped.
    #[arg(long, default_value_t = 6 * 3600)]
    build_deadline: i64,
    /// emerge jobs per build.
    #[arg(long, default_value_t = 4)]
    build_jobs: u32,
    /// Label `KEY=VALUE` on build pods (repeatable), e.g. for a scheduler or a policy.
    #[arg(long = "build-pod-label", value_name = "KEY=VALUE", value_parser = parse_label)]
    build_pod_labels: Vec<(String, String)>,
    /// Pull policy of build containers.
    #[arg(long, default_value = "IfNotPresent")]
    image_pull_policy: String,
    /// Serve the git webhook receiver (`POST /hooks/<namespace>/<site>`) on this address.
    #[arg(long, env = "ZENTOO_WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// Largest webhook body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    webhook_max_body: usize,
    /// Verified webhook deliveries a second per site, with bursts of `--webhook-burst`.
    #[arg(long, default_value_t = 10.0)]
    webhook_rate: f64,
    /// Burst of verified webhook deliveries per site.
    #[arg(long, default_value_t = 20)]
    webhook_burst: u32,
    /// Open webhook connections at most (more are closed at once).
    #[arg(long, default_value_t = 1024)]
    webhook_max_connections: usize,
    /// Bytes all webhook bodies being read may buffer together.
    #[arg(long, default_value_t = 32 << 20)]
    webhook_body_budget: usize,
    /// Time a webhook client has to send its headers, and again its body.
    #[arg(long, default_value = "5s", value_parser = parse_window)]
    webhook_timeout: Duration,
    /// Pushes to one site (webhooks, fetch requests, changes of a local repository) within
    /// this window coalesce into one fetch and plan (`0s`: none); a site's
    /// `spec.source.debounce` wins.
    #[arg(long, default_value = "5s", value_parser = parse_window)]
    debounce: Duration,
    /// Clean each site's binpkgs and distfiles volumes this often with a `zentoo gc` Job
    /// (e.g. `24h`; off unless set).
    #[arg(long, env = "ZENTOO_GC_INTERVAL", value_parser = parse_window)]
    gc_interval: Option<Duration>,
    /// Builds the periodic gc keeps per image (the newest successful one always).
    #[arg(long, env = "ZENTOO_GC_KEEP", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    gc_keep: u32,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "ZENTOO_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Serve the read-only web dashboard here (e.g. `127.0.0.1:8081`; off unless set).
    #[arg(long, env = "ZENTOO_DASHBOARD_ADDR", value_name = "ADDR")]
    dashboard_addr: Option<std::net::SocketAddr>,
    /// Every dashboard request must carry the token in this file (a bearer token, or once
    /// `?token=`, then a cookie); without it, whoever reaches the address reads the dashboard.
    #[arg(
        long,
        env = "ZENTOO_DASHBOARD_TOKEN_FILE",
        value_name = "PATH",
        requires = "dashboard_addr"
    )]
    dashboard_token_file: Option<std::path::PathBuf>,
    /// Run the reconcilers only while holding a Lease (for more than one replica).
    #[arg(long)]
    leader_election: bool,
    /// Namespace of the leader Lease (default: the pod's).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "zentoo-controller")]
    lease_name: String,
    /// Allow GentooSites whose source is a path or file:// URL on this machine (every site's
    /// fetched cache is on this disk too: only where all site authors are trusted alike).
    #[arg(long)]
    allow_local_sources: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    limits: super::LimitArgs,
    /// Builds may use only stage3 images whose reference starts with PREFIX (repeatable;
    /// default: any). Build steps in the stage3 run privileged.
    #[arg(long = "allowed-stage3-prefix", value_name = "PREFIX")]
    allowed_stage3_prefixes: Vec<String>,
    /// Images may select only nodes matching KEY=VALUE (globs; KEY alone: any value;
    /// repeatable; default: any but control-plane nodes).
    #[arg(long = "allowed-node-selector", value_name = "KEY=VALUE", value_parser = LabelPattern::parse)]
    allowed_node_selectors: Vec<LabelPattern>,
    /// Images may tolerate only taints matching KEY[=VALUE][:EFFECT] (globs; repeatable;
    /// default: any but control-plane nodes' and the empty-key toleration of every taint).
    #[arg(long = "allowed-toleration", value_name = "KEY[=VALUE][:EFFECT]", value_parser = TolerationPattern::parse)]
    allowed_tolerations: Vec<TolerationPattern>,
    /// Images may select and tolerate control-plane nodes (and tolerate every taint).
    #[arg(long)]
    allow_control_plane: bool,
    /// Sites may reference only Secrets whose name matches GLOB (repeatable; default: any).
    #[arg(long = "allowed-secret", value_name = "GLOB", value_parser = Glob::parse)]
    allowed_secrets: Vec<Glob>,
    /// Sites may name only existing claims matching GLOB (repeatable; default: any).
    #[arg(long = "allowed-claim", value_name = "GLOB", value_parser = Glob::parse)]
    allowed_claims: Vec<Glob>,
    /// Build pods use the node's network (hostNetwork, DNS ClusterFirstWithHostNet): for a
    /// registry or git server only the node's loopback reaches. Builds then share the node's
    /// network namespace, and no NetworkPolicy applies to them (distcc workers stay on the
    /// pod network, and their policy may not admit such a build pod).
    #[arg(long)]
    build_host_network: bool,
    /// Builds push to registry HOST[:PORT] over plain HTTP, without TLS (repeatable; for an
    /// image whose reference names exactly this registry).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", value_parser = parse_registry)]
    insecure_registries: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub fn run(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let settings = Settings {
        cache_dir: args.cache_dir,
        zentoo_image: args.zentoo_image,
        build_service_account: args.build_service_account,
        build_deadline_seconds: args.build_deadline,
        image_pull_policy: args.image_pull_policy,
        build_jobs: args.build_jobs,
        instance: std::env::var("POD_NAME").unwrap_or_else(|_| "zentoo".into()),
        build_pod_labels: args.build_pod_labels.iter().cloned().collect(),
        metrics_addr: Some(args.metrics_addr),
        debounce: args.debounce,
        allow_local_sources: args.allow_local_sources,
        limits: args.limits.limits(),
        gc_interval: args.gc_interval,
        gc_keep: args.gc_keep,
        webhook_addr: args.webhook_addr,
        webhook: WebhookSettings {
            max_body: args.webhook_max_body,
            rate: args.webhook_rate,
            burst: args.webhook_burst,
            max_connections: args.webhook_max_connections,
            body_budget: args.webhook_body_budget,
            header_timeout: args.webhook_timeout,
            body_timeout: args.webhook_timeout * 2,
            ..WebhookSettings::default()
        },
        policy: Policy {
            stage3_prefixes: args.allowed_stage3_prefixes,
            node_selectors: args.allowed_node_selectors,
            tolerations: args.allowed_tolerations,
            control_plane: args.allow_control_plane,
            secrets: args.allowed_secrets,
            claims: args.allowed_claims,
        },
        build_host_network: args.build_host_network,
        insecure_registries: args.insecure_registries,
        dashboard_addr: args.dashboard_addr,
        dashboard_token: args
            .dashboard_token_file
            .as_deref()
            .map(read_token)
            .transpose()?,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await?;
        let namespace = args.namespace.clone();
        if args.leader_election {
            crate::controller::leader::run_elected(
                client.clone(),
                settings,
                namespace,
                &args.lease_namespace,
                &args.lease_name,
            )
            .await
        } else {
            crate::controller::run(client, settings, namespace).await
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE: {text}"))
}

/// A registry as image references name it: `host[:port]`, no scheme or path.
fn parse_registry(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "expected HOST[:PORT] as an image reference names its registry: {text}"
        ))
    }
}

fn parse_window(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("not a duration like 5s or 500ms: {text}"))
}

/// The dashboard token in `path`: its first line, which must not be empty. The error names
/// the file, never its content.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("dashboard token file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() || token.contains(';') || token.contains(' ') {
        anyhow::bail!(
            "dashboard token file {}: its first line must be a token (no spaces or `;`)",
            path.display()
        );
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_dashboard_token_is_a_first_line_and_never_shown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("token");
        std::fs::write(&good, "s3cret\n").expect("write");
        assert_eq!(read_token(&good).expect("a token"), "s3cret");
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "two words; here\n").expect("write");
        let why = read_token(&bad).expect_err("refused").to_string();
        assert!(
            why.contains("first line must be a token") && !why.contains("words"),
            "{why}"
        );
        let missing = read_token(&dir.path().join("nope")).expect_err("refused");
        assert!(
            missing.to_string().contains("dashboard token file"),
            "{missing}"
        );
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    #[test]
    fn build_network_options_are_off_unless_given() {
        let plain = Cli::try_parse_from(["zentoo"]).expect("parses");
        assert!(!plain.args.build_host_network);
        assert!(plain.args.insecure_registries.is_empty());
        let set = Cli::try_parse_from([
            "zentoo",
            "--build-host-network",
            "--insecure-registry",
            "localhost:5000",
            "--insecure-registry",
            "registry.zentoo.svc",
        ])
        .expect("parses");
        assert!(set.args.build_host_network);
        assert_eq!(
            set.args.insecure_registries,
            ["localhost:5000", "registry.zentoo.svc"]
        );
        for bad in ["http://localhost:5000", "localhost:5000/zentoo", ""] {
            assert!(
                Cli::try_parse_from(["zentoo", "--insecure-registry", bad]).is_err(),
                "{bad:?} is no registry"
            );
        }
    }
}
