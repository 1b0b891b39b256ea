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

use guichet_engine::store::{Engine, Follower};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::copy::{CopyPlace, EngineSetup, LogCopy};
use super::keys::SharedKeys;
use super::lease::{Held, Lease, RenewError};
use super::meters::ClusterMeters;
use super::personal_keys::SharedKeyTable;
use super::seed::seed_from_disk;
use super::shipper::{ship, ChannelReplication};
use super::snapshots::{share_snapshots, SharedSnapshots};
use super::standby_http::{answer_as_standby, StandbyStatus};
use super::stream::{ClusterError, LogStream, StreamEnd};
use super::ClusterSettings;

/// How long a start or a takeover waits out a cluster that does not answer.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(60);
/// How often a standby copies the stream and looks at the lease.
const STANDBY_POLL: Duration = Duration::from_millis(100);

/// A node that holds the lease, before and while its engine serves.
pub struct Primary {
    pub replication: Arc<ChannelReplication>,
    pub meters: ClusterMeters,
    settings: ClusterSettings,
    data_dir: PathBuf,
    /// The lease's revision when this node took it (in the term record).
    lease_revision: u64,
    keys: SharedKeys,
    /// The engine's key table must be [`Primary::personal_key_table`]'s.
    personal_keys: SharedKeyTable,
    /// When this node took the lease: what the takeover's rest took is logged.
    lease_taken_at: Instant,
    /// The standby's engine, hot, to promote (`None`: recover from the disk).
    follower: Option<Follower>,
    snapshots: SharedSnapshots,
    stream: LogStream,
    hand_over: LeaseHandOver,
}

/// What gives the lease up when the process stops cleanly.
pub struct LeaseHandOver(oneshot::Sender<oneshot::Sender<()>>);

/// The longest a clean stop waits for the lease to be given up.
const HAND_OVER_PATIENCE: Duration = Duration::from_secs(2);

impl LeaseHandOver {
    /// Once this node's log has stopped (it appends nothing more): gives
    /// the lease up, so a standby takes over now rather than a lease later.
    pub async fn release(self) {
        let (done, given_up) = oneshot::channel();
        if self.0.send(done).is_ok() {
            let _ = tokio::time::timeout(HAND_OVER_PATIENCE, given_up).await;
        }
    }
}

/// Waits as a standby until this node holds the lease (answering on
/// `listener` meanwhile); `None` if `shutdown` comes first. Then the log on
/// disk is the stream's, the keys the cluster's, and the replication ready.
pub async fn take_over(
    settings: &ClusterSettings,
    data_dir: &Path,
    engine: &EngineSetup,
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<Option<Primary>, ClusterError> {
    let status = Arc::new(StandbyStatus::default());
    // Answering 503 from the first moment, reaching the cluster included: a
    // node started again on its address (its machine rebooted, its process
    // restarted) must not leave the load balancer's requests unanswered in
    // its listen backlog while the NATS servers are slow to answer.
    let standby = async {
        let incarnation = super::incarnation();
        let stream = LogStream::open(settings, incarnation.clone()).await?;
        let holder = format!("{}/{incarnation}", settings.node_id);
        let lease = Lease::open(stream.jetstream(), settings.replicas, settings.lease_ttl, holder).await?;
        let keys = SharedKeys::open(stream.jetstream(), settings.replicas).await?;
        let personal_keys = SharedKeyTable::open(stream.jetstream(), settings.replicas).await?;
        let snapshots = SharedSnapshots::open(stream.jetstream(), settings.replicas).await?;
        let place = CopyPlace { data_dir, engine, snapshots: &snapshots };
        let (held, copy) = standby_until_lease(&stream, &lease, settings.lease_ttl, &place, &status).await?;
        Ok::<_, ClusterError>((stream, lease, keys, personal_keys, snapshots, held, copy))
    };
    let (stream, lease, keys, personal_keys, snapshots, held, mut copy) = tokio::select! {
        reached = standby => reached?,
        () = answer_as_standby(listener, settings.node_id.clone(), status.clone()) => unreachable!("answers until dropped"),
        () = shutdown => return Ok(None),
    };
    let lease_taken_at = Instant::now();
    tracing::warn!(
        node = settings.node_id,
        revision = held.revision,
        "cluster: this node holds the lease: taking over"
    );
    // Renewed from now on: catching up, recovering and the term record may
    // take longer than the lease, and another standby must not take it
    // meanwhile (both would then fail, in turn, forever).
    let (hand_over, handed_over) = oneshot::channel();
    tokio::spawn(keep_lease(lease, held, settings.lease_ttl, handed_over));
    let place = CopyPlace { data_dir, engine, snapshots: &snapshots };
    patiently("copying the stream's end", async || catch_up(&mut copy, &stream, &place).await).await?;
    let copied = copy.as_ref().map(LogCopy::last_record);
    let follower = match copy.take() {
        Some(copy) => copy.close().await,
        None => None,
    };
    patiently("taking the cluster's keys", async || keys.download(data_dir).await).await?;
    let table = patiently("taking the personal-data keys", async || personal_keys.download(data_dir).await).await?;
    tracing::info!(keys = table, "cluster: the personal-data key table is the cluster's");
    let end = patiently("checking this node's log", async || agreed_end(&stream, data_dir, copied).await).await?;
    let (replication, receiver) = ChannelReplication::new();
    let meters = ClusterMeters::new();
    tokio::spawn(ship(stream.clone(), receiver, end, meters.clone()));
    Ok(Some(Primary {
        replication,
        meters,
        settings: settings.clone(),
        data_dir: data_dir.to_path_buf(),
        lease_revision: held.revision,
        keys,
        personal_keys,
        lease_taken_at,
        follower,
        snapshots,
        stream,
        hand_over: LeaseHandOver(hand_over),
    }))
}

impl Primary {
    /// The standby's engine, hot, to promote rather than recover from the
    /// disk (`None` if it stopped following, or never could).
    pub fn take_follower(&mut self) -> Option<Follower> {
        self.follower.take()
    }

    /// For [`EngineOptions::personal_key_table`](guichet_engine::store::EngineOptions):
    /// every personal-data key in the cluster too.
    pub fn personal_key_table(&self) -> Arc<guichet_engine::store::PersonalKeyTable> {
        let table = self.personal_keys.clone();
        let runtime = tokio::runtime::Handle::current();
        Arc::new(move |local| table.mirror(local, runtime.clone()))
    }

    /// Once the engine is open: shares its keys if the cluster had none,
    /// logs the term record (durable only once the stream took it after
    /// everything before).
    pub async fn start_term(self, engine: &Engine) -> Result<LeaseHandOver, ClusterError> {
        self.keys.upload(&self.data_dir).await?;
        let refused = |why: String| ClusterError::Diverged(format!("the term record: {why}"));
        let receipt =
            engine.log_term(&self.settings.node_id, self.lease_revision).map_err(|e| refused(e.to_string()))?;
        engine.durable(receipt).await.map_err(|e| refused(e.to_string()))?;
        // Off the takeover's path: serving must not wait on unused keys.
        let personal_keys = self.personal_keys.clone();
        tokio::spawn(async move { personal_keys.delete_deferred().await });
        tokio::spawn(share_snapshots(self.snapshots, self.stream, self.data_dir.clone()));
        tracing::warn!(
            node = self.settings.node_id,
            since_lease_taken_ms = self.lease_taken_at.elapsed().as_millis() as u64,
            "cluster: this node is the primary (its engine open, its term record replicated)"
        );
        self.meters.primary.set(1);
        self.meters.term.set(self.lease_revision as i64);
        Ok(self.hand_over)
    }
}

/// Copies the stream and tries the lease until this node holds it; hands
/// the copy back open (the old primary may have appended since).
///
/// After the lease's bucket failed to answer (its NATS leader lost, a new
/// one being elected), a standby leaves the lease alone for two `lease_ttl`:
/// the primary could not renew it meanwhile and may be alive and well, so
/// it gets the first chance to take it again (its renewal may itself be
/// waiting out a request's timeout, as long as a lease by default).
/// Without that, the loss of one NATS server would often depose a healthy
/// primary.
async fn standby_until_lease(
    stream: &LogStream,
    lease: &Lease,
    lease_ttl: Duration,
    place: &CopyPlace<'_>,
    status: &StandbyStatus,
) -> Result<(Held, Option<LogCopy>), ClusterError> {
    let mut copy = None;
    let mut bucket_silent_at: Option<Instant> = None;
    loop {
        if let Err(error) = catch_up(&mut copy, stream, place).await {
            tracing::warn!("cluster: standby: {error}");
        }
        note_lag(stream, copy.as_ref(), status).await;
        let may_take = bucket_silent_at.is_none_or(|at| at.elapsed() >= 2 * lease_ttl);
        if may_take {
            match lease.try_acquire().await {
                Ok(Some(held)) => return Ok((held, copy)),
                Ok(None) => bucket_silent_at = None,
                Err(error) => {
                    tracing::warn!("cluster: standby: {error}");
                    bucket_silent_at = Some(Instant::now());
                }
            }
        }
        tokio::time::sleep(STANDBY_POLL).await;
    }
}

/// Where the stream ends once this node's log agrees with it. A copy just
/// caught up that ends where the stream does has nothing to add (each of
/// its records was checked as it was copied); otherwise the log on disk is
/// checked, and its records the stream lacks appended.
async fn agreed_end(stream: &LogStream, data_dir: &Path, copied: Option<u64>) -> Result<StreamEnd, ClusterError> {
    let end = stream.end().await?;
    if copied == Some(end.last_record) {
        return Ok(end);
    }
    seed_from_disk(stream, data_dir).await
}

/// What a standby says of its copy: how far, how many records and how
/// many milliseconds behind the stream (the age of the oldest message it
/// has not copied), and whether its engine follows.
async fn note_lag(stream: &LogStream, copy: Option<&LogCopy>, status: &StandbyStatus) {
    let copied = copy.map_or(0, LogCopy::last_record);
    status.copied_records.store(copied, Ordering::Relaxed);
    status.hot.store(copy.is_some_and(LogCopy::is_hot), Ordering::Relaxed);
    let Ok(end) = stream.end().await else { return };
    let lag_records = end.last_record.saturating_sub(copied);
    status.lag_records.store(lag_records, Ordering::Relaxed);
    let lag_ms = match copy {
        Some(copy) if lag_records > 0 => match stream.stored_at_ms(copy.next_message()).await {
            Ok(stored_at_ms) => unix_ms().saturating_sub(stored_at_ms),
            Err(_) => return,
        },
        _ => 0,
    };
    status.lag_ms.store(lag_ms, Ordering::Relaxed);
}

fn unix_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Copies the stream's records past the copy (opening it if it is not);
/// a copy that turns out to disagree with the stream is closed and opened
/// again, which moves its log aside.
async fn catch_up(copy: &mut Option<LogCopy>, stream: &LogStream, place: &CopyPlace<'_>) -> Result<(), ClusterError> {
    if copy.is_none() {
        *copy = Some(LogCopy::open(stream, place).await?);
    }
    let Some(current) = copy.as_mut() else { return Ok(()) };
    match current.catch_up(stream).await {
        Err(ClusterError::Diverged(why)) => {
            tracing::warn!("cluster: {why}; opening this node's copy again");
            if let Some(old) = copy.take() {
                old.close().await;
            }
            let mut fresh = LogCopy::open(stream, place).await?;
            let outcome = fresh.catch_up(stream).await.map(|_| ());
            *copy = Some(fresh);
            outcome
        }
        outcome => outcome.map(|_| ()),
    }
}

/// Runs `step` again while the cluster does not answer (a timeout, a leader
/// being elected), for up to [`CLUSTER_PATIENCE`]: a node does not give up
/// its start, or a takeover, for a moment's silence.
async fn patiently<T>(what: &str, mut step: impl AsyncFnMut() -> Result<T, ClusterError>) -> Result<T, ClusterError> {
    let started = Instant::now();
    loop {
        match step().await {
            Err(ClusterError::Stream(why)) if started.elapsed() < CLUSTER_PATIENCE => {
                tracing::warn!("cluster: {what}: {why}; trying again");
                tokio::time::sleep(STANDBY_POLL).await;
            }
            outcome => return outcome,
        }
    }
}

/// Renews the lease four times per time-to-live, until the process stops
/// cleanly and gives it up; exits the process when another node holds it.
async fn keep_lease(
    lease: Lease,
    mut held: Held,
    ttl: Duration,
    mut hand_over: oneshot::Receiver<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(ttl / 4) => {}
            asked = &mut hand_over => {
                match lease.release(held).await {
                    Ok(()) => tracing::warn!("cluster: this node stopped and gave the lease up: a standby takes over now"),
                    Err(error) => tracing::warn!("cluster: {error}; a standby takes over once it runs out"),
                }
                if let Ok(done) = asked {
                    let _ = done.send(());
                }
                return;
            }
        }
        match lease.renew(held).await {
            Ok(renewed) => held = renewed,
            Err(RenewError::Lost) => {
                tracing::error!(
                    "cluster: the lease ran out or another node took it: this node stops now, acknowledging nothing more"
                );
                std::process::exit(super::DEPOSED_EXIT_STATUS);
            }
            Err(RenewError::Unavailable(why)) => tracing::warn!("cluster: renewing the lease: {why}"),
        }
    }
}
