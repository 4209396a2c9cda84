//! `zentoo controller`: run the reconcilers against the current cluster.

use crate::controller::context::Settings;
use crate::controller::site::parse_duration;
use crate::controller::webhook::{Receiver, WebhookSettings, serve};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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
    /// Pull policy of build containers.
    #[arg(long, default_value = "IfNotPresent")]
    image_pull_policy: String,
    /// Serve the git webhook receiver (`POST /hooks/<namespace>/<site>`) on this address.
    #[arg(long, env = "ZENTOO_WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// Largest webhook body accepted, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    webhook_max_body: usize,
    /// Webhook requests a second per site, with bursts of `--webhook-burst`.
    #[arg(long, default_value_t = 10.0)]
    webhook_rate: f64,
    /// Burst of webhook requests per site.
    #[arg(long, default_value_t = 20)]
    webhook_burst: u32,
    /// Pushes to one site (webhooks, fetch requests, changes of a local repository) within
    /// this window coalesce into one fetch and plan (`0s`: none); a site's
    /// `spec.source.debounce` wins.
    #[arg(long, default_value = "5s", value_parser = parse_window)]
    debounce: Duration,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "ZENTOO_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Run the reconcilers only while holding a Lease (for more than one replica).
    #[arg(long)]
    leader_election: bool,
    /// Namespace of the leader Lease (default: the pod's).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "zentoo-controller")]
    lease_name: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
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
        build_pod_labels: Default::default(),
        metrics_addr: Some(args.metrics_addr),
        debounce: args.debounce,
    };
    let webhook = WebhookSettings {
        max_body: args.webhook_max_body,
        rate: args.webhook_rate,
        burst: args.webhook_burst,
        debounce: args.debounce,
        ..WebhookSettings::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await?;
        let namespace = args.namespace.clone();
        let controller = async {
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
                crate::controller::run(client.clone(), settings, namespace).await
            }
        };
        match args.webhook_addr {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let receiver = Arc::new(Receiver::new(client.clone(), args.namespace, webhook));
                tokio::select! {
                    r = controller => r,
                    r = serve(listener, receiver) => r,
                }
            }
            None => controller.await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn parse_window(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("not a duration like 5s or 500ms: {text}"))
}
