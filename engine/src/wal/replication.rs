//! Replication: where the log's batches go after the local sync and before
//! they count as durable.
//!
//! With a [`Replication`] in place the writer no longer completes a batch
//! itself: it hands the synced batch over, and the batch (and every one
//! before it) becomes durable only when the replication confirms that the
//! replicas hold it. A refusal (another node appended: this one is fenced)
//! fails the log for good, like a failed sync. The log knows nothing of the
//! engine behind the trait (a NATS JetStream stream in the gateway; a
//! list in memory in tests).

use std::sync::Arc;

/// What an answer completes: the log's durability (the writer's side).
pub(super) trait Completion: Send + Sync {
    /// Every record up to `sequence` is durable.
    fn durable_up_to(&self, sequence: u64);
    /// Nothing more is acknowledged, for good.
    fn fail(&self, why: String);
}

/// Records the writer has synced locally, as framed on disk (each frame
/// with its header and CRC-32C), in sequence order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedBatch {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub frames: Vec<u8>,
}

/// What the log needs of a replicated store.
pub trait Replication: Send + Sync {
    /// Takes a batch the writer has synced, in sequence order, each record
    /// exactly once. Runs on the writer thread: it may block to push back
    /// (the log's queue then fills and `submit` answers "full"), but must
    /// not wait for the replicas' answer, which comes through `answer`.
    fn ship(&self, batch: SyncedBatch, answer: ReplicaAnswer);
}

/// The one way back from a shipped batch to the log's waiters.
#[must_use = "a batch neither confirmed nor refused is never acknowledged"]
pub struct ReplicaAnswer {
    pub(super) completion: Arc<dyn Completion>,
    pub(super) last_sequence: u64,
}

impl ReplicaAnswer {
    /// The batch's last record (what confirming it makes durable).
    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// The replicas hold the batch (and, replicas keeping order, every one
    /// before it): its records are durable.
    pub fn confirm(self) {
        self.completion.durable_up_to(self.last_sequence);
    }

    /// The batch will never be replicated (this node was fenced off, or the
    /// replicated log refused it for good): nothing more is acknowledged.
    pub fn refuse(self, why: String) {
        tracing::error!("the replicated log refused records up to {}: {why}", self.last_sequence);
        self.completion.fail(format!("replication refused records up to {}: {why}", self.last_sequence));
    }
}

impl std::fmt::Debug for ReplicaAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaAnswer").field("last_sequence", &self.last_sequence).finish()
    }
}
