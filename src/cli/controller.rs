//! `zentoo controller`: run the reconcilers against the current cluster.

use crate::controller::context::Settings;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Watch only this namespace (default: all).
    #[arg(long, env = "ZENTOO_NAMESPACE")]
    namespace: Option<String>,
    /// Where site repositories are fetched to.
    #[arg(long, env = "ZENTOO_CACHE_DIR", default_value = "/var/cache/zentoo")]
    cache_dir: PathBuf,
    /// The zentoo image for the materialize and publish steps of builds.
    #[arg(
        long,
        env = "ZENTOO_IMAGE",
        default_value = "ghcr.io/zentoo/zentoo:latest"
    )]
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
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await?;
        if args.leader_election {
            crate::controller::leader::run_elected(
                client,
                settings,
                args.namespace,
                &args.lease_namespace,
                &args.lease_name,
            )
            .await
        } else {
            crate::controller::run(client, settings, args.namespace).await
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
