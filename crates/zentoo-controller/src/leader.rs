//! Leader election: only the holder of a Lease runs the reconcilers (kube-lease-manager).
//!
//! A standby replica serves `/healthz` (and a not-ready `/readyz`) while it waits; the leader
//! that loses its Lease exits, so its pod restarts as a standby.

use super::context::Settings;
use super::metrics::{self, Metrics};
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use std::sync::Arc;
use tracing::{info, warn};
use zentoo_api::FIELD_MANAGER;

/// Seconds a Lease is held without renewal.
pub const LEASE_SECONDS: u64 = 15;
/// Seconds before expiry the holder renews it.
pub const GRACE_SECONDS: u64 = 5;

/// Waits to hold Lease `lease` in `lease_namespace` as `settings.instance`, then runs the
/// controller until it stops or the Lease is lost (an error).
pub async fn run_elected(
    client: Client,
    settings: Settings,
    namespace: Option<String>,
    lease_namespace: &str,
    lease: &str,
) -> anyhow::Result<()> {
    let manager = LeaseManagerBuilder::new(client.clone(), lease)
        .with_namespace(lease_namespace)
        .with_identity(settings.instance.clone())
        .with_duration(LEASE_SECONDS)
        .with_grace(GRACE_SECONDS)
        .with_field_manager(FIELD_MANAGER)
        .build()
        .await?;
    let (mut leader, task) = manager.watch().await;

    // Probes of a standby: alive, not ready.
    let standby = settings.metrics_addr.map(|addr| {
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(addr, Arc::new(Metrics::new())).await {
                warn!("standby health server on {addr}: {e}");
            }
        })
    });
    info!(lease, identity = %settings.instance, "waiting for the leader Lease");
    let elected = async {
        while !*leader.borrow_and_update() {
            leader.changed().await?;
        }
        anyhow::Ok(())
    };
    let stopped = tokio::select! {
        r = elected => {
            r?;
            false
        }
        _ = super::shutdown_signal() => true,
    };
    if let Some(standby) = standby {
        standby.abort();
        let _ = standby.await;
    }
    if stopped {
        info!("stopped while waiting for the leader Lease");
        drop(leader);
        let _ = task.await;
        return Ok(());
    }
    info!(lease, identity = %settings.instance, "leader: starting the reconcilers");

    let result = tokio::select! {
        r = super::run(client, settings, namespace) => r,
        _ = lost(&mut leader) => Err(anyhow::anyhow!("lost the leader Lease {lease}")),
    };
    drop(leader);
    // Dropping the receiver makes the manager release the Lease and end.
    let _ = task.await;
    result
}

async fn lost(leader: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if leader.changed().await.is_err() || !*leader.borrow_and_update() {
            return;
        }
    }
}
