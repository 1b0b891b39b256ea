//! A node's life in a cluster: a standby (copying the stream, answering
//! 503 `not_primary`) until it takes the lease, then the primary: its
//! engine opens from the copy, its first records (a term record among them)
//! fence the previous primary off, and it keeps renewing the lease. A
//! primary that loses its lease exits at once: it acknowledges nothing
//! more, and its supervisor starts it again as a standby.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_engine::store::Engine;
use tokio::net::TcpListener;

use super::copy::LogCopy;
use super::keys::SharedKeys;
use super::lease::{Held, Lease, RenewError};
use super::meters::ClusterMeters;
use super::seed::seed_from_disk;
use super::shipper::{ship, ChannelReplication};
use super::standby_http::{answer_as_standby, StandbyStatus};
use super::stream::{ClusterError, LogStream};
use super::ClusterSettings;

/// How often a standby copies the stream and looks at the lease.
const STANDBY_POLL: Duration = Duration::from_millis(100);
/// The exit status of a primary that lost its lease.
pub const LEASE_LOST_EXIT_STATUS: i32 = 75;

/// A node that holds the lease, before and while its engine serves.
pub struct Primary {
    pub replication: Arc<ChannelReplication>,
    pub meters: ClusterMeters,
    settings: ClusterSettings,
    data_dir: PathBuf,
    lease: Lease,
    held: Held,
    keys: SharedKeys,
    /// When this node took the lease: what the takeover's rest took is logged.
    lease_taken_at: Instant,
}

/// Waits as a standby until this node holds the lease (answering on
/// `listener` meanwhile); `None` if `shutdown` comes first. Then the log on
/// disk is the stream's, the keys the cluster's, and the replication ready.
pub async fn take_over(
    settings: &ClusterSettings,
    data_dir: &Path,
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Primary>, ClusterError> {
    let incarnation = super::incarnation();
    let stream = LogStream::open(settings, incarnation.clone()).await?;
    let holder = format!("{}/{incarnation}", settings.node_id);
    let lease = Lease::open(stream.jetstream(), settings.replicas, settings.lease_ttl, holder).await?;
    let keys = SharedKeys::open(stream.jetstream(), settings.replicas).await?;
    let status = Arc::new(StandbyStatus::default());
    let held = tokio::select! {
        held = standby_until_lease(&stream, &lease, data_dir, &status) => held?,
        () = answer_as_standby(listener, settings.node_id.clone(), status.clone()) => unreachable!("answers until dropped"),
        () = shutdown => return Ok(None),
    };
    let lease_taken_at = Instant::now();
    tracing::warn!(
        node = settings.node_id,
        revision = held.revision,
        "cluster: this node holds the lease: taking over"
    );
    keys.download(data_dir).await?;
    let end = seed_from_disk(&stream, data_dir).await?;
    let (replication, receiver) = ChannelReplication::new();
    let meters = ClusterMeters::new();
    tokio::spawn(ship(stream, receiver, end, meters.clone()));
    Ok(Some(Primary {
        replication,
        meters,
        settings: settings.clone(),
        data_dir: data_dir.to_path_buf(),
        lease,
        held,
        keys,
        lease_taken_at,
    }))
}

impl Primary {
    /// Once the engine is open: shares its keys if the cluster had none,
    /// logs the term record (durable only once the stream took it after
    /// everything before), and keeps the lease from then on.
    pub async fn start_term(self, engine: &Engine) -> Result<(), ClusterError> {
        self.keys.upload(&self.data_dir).await?;
        let refused = |why: String| ClusterError::Diverged(format!("the term record: {why}"));
        let receipt =
            engine.log_term(&self.settings.node_id, self.held.revision).map_err(|e| refused(e.to_string()))?;
        engine.durable(receipt).await.map_err(|e| refused(e.to_string()))?;
        tracing::warn!(
            node = self.settings.node_id,
            since_lease_taken_ms = self.lease_taken_at.elapsed().as_millis() as u64,
            "cluster: this node is the primary (recovered from its copy, term record replicated)"
        );
        self.meters.primary.set(1);
        tokio::spawn(keep_lease(self.lease, self.held, self.settings.lease_ttl));
        Ok(())
    }
}

/// Copies the stream and tries the lease until this node holds it.
async fn standby_until_lease(
    stream: &LogStream,
    lease: &Lease,
    data_dir: &Path,
    status: &StandbyStatus,
) -> Result<Held, ClusterError> {
    let mut copy = LogCopy::open(stream, data_dir).await?;
    loop {
        match copy.catch_up(stream).await {
            Ok(_) => {}
            Err(ClusterError::Diverged(why)) => {
                tracing::warn!("cluster: standby: {why}; opening the copy again");
                copy.close().await;
                copy = LogCopy::open(stream, data_dir).await?;
                continue;
            }
            Err(error) => tracing::warn!("cluster: standby: {error}"),
        }
        status.copied_records.store(copy.last_record(), Ordering::Relaxed);
        if let Ok(end) = stream.end().await {
            status.lag_records.store(end.last_record.saturating_sub(copy.last_record()), Ordering::Relaxed);
        }
        match lease.try_acquire().await {
            Ok(Some(held)) => {
                copy.catch_up(stream).await?;
                copy.close().await;
                return Ok(held);
            }
            Ok(None) => {}
            Err(error) => tracing::warn!("cluster: standby: {error}"),
        }
        tokio::time::sleep(STANDBY_POLL).await;
    }
}

/// Renews the lease four times per time-to-live; exits the process when
/// another node holds it.
async fn keep_lease(lease: Lease, mut held: Held, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 4).await;
        match lease.renew(held).await {
            Ok(renewed) => held = renewed,
            Err(RenewError::Lost) => {
                tracing::error!(
                    "cluster: the lease ran out or another node took it: this node stops now, acknowledging nothing more"
                );
                std::process::exit(LEASE_LOST_EXIT_STATUS);
            }
            Err(RenewError::Unavailable(why)) => tracing::warn!("cluster: renewing the lease: {why}"),
        }
    }
}
