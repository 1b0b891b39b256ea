//! The write-ahead log: every change, in order, on disk before it is
//! acknowledged.
//!
//! - `frame`: one record's bytes on disk (header, CRC-32C, payload);
//! - `storage`: the disk as a trait (a directory, or memory with faults);
//! - `writer`: group commit on one thread, fail-stop on any I/O error;
//! - `segment`: segment files, their names, and where appending resumes;
//! - `reader`: recovery's scan, torn-tail cutting, corruption detection, and
//!   `RecordSource`, what replay reads records through (the disk, or a stream);
//! - `snapshot`: whole-state snapshot files, written atomically;
//! - `resume`: an existing log opened to append records made elsewhere (a
//!   standby's copy of the replicated log);
//! - `replication`: the hand-over of synced batches to a replicated log,
//!   whose answer makes them durable.
//!
//! Segment files are named by the sequence of their first record
//! (`00000000000000000001.wal`), preallocated, and hold whole batches only.
//!
//! What the log assumes of the disk:
//! - a crash may tear the last write: any prefix of the last batch may have
//!   reached the disk, so only the last batch of the last segment can be
//!   damaged by a crash (each batch is synced before the next is written);
//! - preallocated space reads back as zeros until written;
//! - after `fdatasync` returns, what it covered survives a crash;
//! - a failed `fdatasync` may have lost data silently, so it is never retried:
//!   the log stops acknowledging for good (fail-stop);
//! - a rename of a synced file, followed by a sync of the directory, is atomic
//!   (snapshots and key files rely on it);
//! - bits can rot: every frame carries a CRC-32C, and damage followed by valid
//!   records of a later batch refuses recovery rather than guessing.

pub mod frame;
pub mod reader;
pub mod replication;
mod resume;
mod segment;
pub mod snapshot;
pub mod storage;
mod writer;

pub use reader::{DiskRecords, RecordSource, RecordVisitor};
pub use replication::{ReplicaAnswer, Replication, SyncedBatch};
pub(crate) use resume::cut_torn_tail;
pub use resume::ResumeError;
pub use segment::segment_name;
pub use writer::{Durable, Wal, WalStats};

/// How hard the log works to keep what it acknowledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync after every batch: an acknowledged change survives a crash
    /// of the process or the machine.
    Fsync,
    /// UNSAFE: no sync; acknowledged changes can be lost if the machine
    /// crashes. For benchmarks only.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    pub durability: Durability,
    /// Size of a preallocated segment file.
    pub segment_bytes: u64,
    /// Records queued for the writer before `submit` answers "full".
    pub max_pending_records: usize,
    /// The writer stops adding records to a batch past this size.
    pub max_batch_bytes: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            segment_bytes: 64 * 1024 * 1024,
            max_pending_records: 65_536,
            max_batch_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    #[error("the write-ahead log failed and accepts nothing more: {0}")]
    Poisoned(String),
    #[error("write-ahead log I/O: {0}")]
    Io(String),
}

impl WalError {
    /// The API's code: a change waiting on a failed log may be lost.
    pub fn code(&self) -> &'static str {
        match self {
            WalError::Poisoned(_) | WalError::Io(_) => "log_failed",
        }
    }
}

impl From<std::io::Error> for WalError {
    fn from(error: std::io::Error) -> Self {
        WalError::Io(error.to_string())
    }
}
