//! Cluster mode: the log replicated on a NATS JetStream stream, so that an
//! acknowledged change survives the loss of a machine.
//!
//! - `stream`: the stream itself: connecting, its configuration (three
//!   replicas, file storage), where it ends, and the fenced append (a
//!   message lands only at the stream sequence the writer expects);
//! - `messages`: how records travel: whole frames, as on disk, cut into
//!   messages under the servers' payload limit, with headers naming the
//!   records they carry;
//! - `shipper`: the engine's [`Replication`](guichet_engine::wal::Replication):
//!   the log writer hands synced batches over a bounded channel to a task
//!   that appends them one message at a time and answers each batch;
//! - `seed`: at start, the records on this node's disk the stream lacks
//!   (synced, never acknowledged) are appended before anything else;
//! - `lease`: who is the primary (a key-value entry that expires unless
//!   renewed); `keys`: the signing keys every node shares;
//!   `personal_keys`: the buyers' personal-data keys, in the cluster too;
//! - `copy`: a standby's copy of the stream in its own log, which its
//!   engine follows (hot);
//! - `snapshots`: the primary's snapshots in an object store, the stream
//!   trimmed behind them, and a node joining from the newest;
//!   `standby_http`: what a standby answers (503 `not_primary`);
//! - `meters`: what a primary counts about its replication;
//! - `node`: a node's life: standby until it holds the lease, then primary.
//!
//! The stream is the record of what was acknowledged: a 2xx needs both the
//! local sync and the stream's acknowledgement, and a node whose append is
//! refused (another node appended) stops acknowledging for good.

mod copy;
mod keys;
mod lease;
mod messages;
mod meters;
mod node;
mod personal_keys;
mod seed;
mod shipper;
mod snapshots;
mod standby_http;
mod stream;

pub use copy::EngineSetup;
pub use messages::{records_in, MessageRecords, RECORDS_HEADER};
pub use meters::ClusterMeters;
pub use node::{take_over, Primary};
pub use seed::seed_from_disk;
pub use shipper::{ship, ChannelReplication, MAX_BATCHES_WAITING};
pub use stream::{AppendError, ClusterError, LogStream, StreamEnd, STREAM_NAME, STREAM_SUBJECT};

use std::time::Duration;

/// How this node reaches its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// NATS server URLs (`nats://127.0.0.1:4222`), any of the cluster's.
    pub servers: Vec<String>,
    /// This node's name, unique in the cluster (in every message it appends).
    pub node_id: String,
    /// How many servers keep the stream (3: one may be lost).
    pub replicas: usize,
    /// How long one append may wait for the stream's answer before it is
    /// sent again (the change waits; nothing is acknowledged meanwhile).
    pub append_timeout: Duration,
    /// How long the primary's lease lasts unless renewed (renewed four
    /// times as often): a standby takes over this long after the primary
    /// stops.
    pub lease_ttl: Duration,
}

/// The exit status of a node that stopped being the primary (its lease
/// lost, or its append refused because another node appended): its
/// supervisor starts it again, and it comes back as a standby.
pub const DEPOSED_EXIT_STATUS: i32 = 75;

/// The shortest lease: renewed every quarter of it, over the network.
const MIN_LEASE: Duration = Duration::from_millis(500);
/// The longest lease: a failover waits this long.
const MAX_LEASE: Duration = Duration::from_secs(60);

/// The longest a node id may be: it goes into every message's headers.
pub const MAX_NODE_ID_BYTES: usize = 64;

impl ClusterSettings {
    /// Checks the settings together; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("cluster: give at least one NATS server URL".into());
        }
        if let Some(bad) = self.servers.iter().find(|s| !s.starts_with("nats://")) {
            return Err(format!("cluster: {bad:?} is not a nats:// URL"));
        }
        let id = &self.node_id;
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if id.is_empty() || id.len() > MAX_NODE_ID_BYTES || !id.chars().all(valid) {
            return Err(format!(
                "node_id: {id:?} must be 1 to {MAX_NODE_ID_BYTES} letters, digits, '-' or '_' (it is needed with --cluster)"
            ));
        }
        if !(MIN_LEASE..=MAX_LEASE).contains(&self.lease_ttl) {
            return Err(format!(
                "cluster_lease_ms: {:?} is not between {MIN_LEASE:?} and {MAX_LEASE:?}",
                self.lease_ttl
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(format!("cluster_replicas: {} is not between 1 and 5", self.replicas));
        }
        Ok(())
    }
}

/// A mark for this process's life, random.
pub(crate) fn incarnation() -> String {
    let mut bytes = [0u8; 8];
    guichet_engine::entropy::Entropy::fill(&guichet_engine::entropy::OsEntropy, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
