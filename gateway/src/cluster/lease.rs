//! Who is the primary: a lease in a JetStream key-value bucket whose
//! entries expire `lease_ttl` after their last write. The holder renews it
//! by compare-and-set on its revision; a standby that finds it gone creates
//! it (only one create can win). The lease decides who may try to write;
//! the stream's fenced appends, not the lease, make a second writer
//! harmless.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, Store};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use bytes::Bytes;

use super::stream::{key_value_bucket, ClusterError};

/// The bucket and its one key.
pub const LEASE_BUCKET: &str = "GUICHET_LEASE";
const LEASE_KEY: &str = "primary";

/// The lease as this node holds it: the revision its next renewal names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub revision: u64,
}

/// Why a renewal failed.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// Someone else wrote the lease: this node is no longer the primary.
    #[error("the lease was taken by another node")]
    Lost,
    /// No answer: try again (the lease may run out meanwhile).
    #[error("the lease could not be renewed: {0}")]
    Unavailable(String),
}

/// The cluster's lease bucket, seen by one node.
#[derive(Clone)]
pub struct Lease {
    store: Store,
    /// `node/incarnation`: a restarted node does not mistake its previous
    /// life's lease for its own, and waits for it to run out.
    holder: String,
}

impl Lease {
    pub async fn open(
        jetstream: &Context,
        replicas: usize,
        ttl: Duration,
        holder: String,
    ) -> Result<Lease, ClusterError> {
        let config = kv::Config {
            bucket: LEASE_BUCKET.into(),
            description: "who is Guichet's primary".into(),
            history: 1,
            max_age: ttl,
            storage: StorageType::File,
            num_replicas: replicas,
            ..kv::Config::default()
        };
        let store = key_value_bucket(jetstream, config).await?;
        Ok(Lease { store, holder })
    }

    /// Takes the lease if nobody holds it; `None` if someone does. A create
    /// that fails otherwise is judged by the entry it leaves: another
    /// standby's create that won the race (not a silent bucket), or this
    /// node's own whose answer was lost.
    pub async fn try_acquire(&self) -> Result<Option<Held>, ClusterError> {
        let failure = match self.store.create(LEASE_KEY, Bytes::from(self.holder.clone())).await {
            Ok(revision) => return Ok(Some(Held { revision })),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => return Ok(None),
            Err(error) => error,
        };
        match self.store.entry(LEASE_KEY).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => {
                Ok((entry.value == self.holder.as_bytes()).then_some(Held { revision: entry.revision }))
            }
            _ => Err(ClusterError::Stream(format!("taking the lease: {failure}"))),
        }
    }

    /// Gives the lease up (a clean stop): a standby takes it at its next
    /// look rather than a lease later. Only the revision this node holds is
    /// deleted: a lease already another node's is left alone.
    pub async fn release(&self, held: Held) -> Result<(), ClusterError> {
        let deleted = self.store.delete_expect_revision(LEASE_KEY, Some(held.revision)).await;
        deleted.map_err(|e| ClusterError::Stream(format!("giving the lease up: {e}")))
    }

    /// Writes the lease again before it runs out. When the write fails, the
    /// lease is read to know why: a write whose answer was lost but which
    /// landed leaves this node holding it (its revision taken from there);
    /// a lease that ran out while nobody could take it (no quorum for
    /// longer than its time to live) is taken again if still free (the
    /// stream's fencing, not the lease, keeps a second writer out);
    /// another node's is lost.
    pub async fn renew(&self, held: Held) -> Result<Held, RenewError> {
        let failure = match self.store.update(LEASE_KEY, Bytes::from(self.holder.clone()), held.revision).await {
            Ok(revision) => return Ok(Held { revision }),
            Err(error) => error.to_string(),
        };
        match self.store.entry(LEASE_KEY).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => {
                if entry.value == self.holder.as_bytes() {
                    Ok(Held { revision: entry.revision })
                } else {
                    Err(RenewError::Lost)
                }
            }
            Ok(_) => match self.try_acquire().await {
                Ok(Some(held)) => {
                    tracing::warn!("cluster: the lease ran out unrenewed and was still free: taken again");
                    Ok(held)
                }
                Ok(None) => Err(RenewError::Lost),
                Err(error) => Err(RenewError::Unavailable(error.to_string())),
            },
            Err(read) => Err(RenewError::Unavailable(format!("{failure}; reading the lease: {read}"))),
        }
    }
}
