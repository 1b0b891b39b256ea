//! A standby's copy of the replicated log: the stream's records written, in
//! order and with their sequences, into this node's own log, so that taking
//! over opens the engine from its disk. A local log that is not a prefix of
//! the stream (records a deposed primary synced but never got acknowledged)
//! is moved aside first, never mixed in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use guichet_engine::store::recovery::SIGNING_KEY_FILES;
use guichet_engine::wal::storage::DiskStorage;
use guichet_engine::wal::{DiskRecords, Wal, WalOptions};

use super::messages::records_in;
use super::stream::{ClusterError, LogStream};

/// This node's log, appended to from the stream.
pub struct LogCopy {
    wal: Wal,
    /// The stream message to read next.
    next_message: u64,
    /// The local last record, kept beside an empty stream: checked against
    /// the stream's once it has one.
    unchecked: Option<(u64, Vec<u8>)>,
}

impl LogCopy {
    /// Opens the data directory's log as a copy of the stream's; a log the
    /// stream does not continue is moved aside into `discarded-<ms>/`. A
    /// log beside an empty stream is kept: the first primary appends it.
    pub async fn open(stream: &LogStream, data_dir: &Path) -> Result<LogCopy, ClusterError> {
        let local = local_end(data_dir).await?;
        let stream_end = stream.end().await?;
        let continues = match &local {
            None => true,
            Some(_) if stream_end.message_sequence == 0 => true,
            Some((sequence, payload)) => stream_holds(stream, stream_end.message_sequence, *sequence, payload).await?,
        };
        let unchecked = if stream_end.message_sequence == 0 { local } else { None };
        if !continues {
            let aside = move_log_aside(data_dir)?;
            tracing::warn!(
                "cluster: this node's log is not a prefix of the stream (changes it synced were never acknowledged): \
                 moved to {}; copying the stream from the start",
                aside.display()
            );
        }
        let dir = data_dir.to_path_buf();
        let wal = tokio::task::spawn_blocking(move || -> Result<Wal, ClusterError> {
            let storage = DiskStorage::open(&dir).map_err(|e| ClusterError::DataDir(e.to_string()))?;
            Wal::resume(Arc::new(storage), WalOptions::default()).map_err(|e| ClusterError::DataDir(e.to_string()))
        })
        .await
        .map_err(|e| ClusterError::DataDir(e.to_string()))??;
        let next_message = match wal.last_assigned_sequence() {
            0 => 1,
            last => message_holding(stream, stream_end.message_sequence, last + 1).await?,
        };
        Ok(LogCopy { wal, next_message, unchecked })
    }

    /// The last record copied.
    pub fn last_record(&self) -> u64 {
        self.wal.last_assigned_sequence()
    }

    /// Copies what the stream holds past this copy, durably; answers how
    /// many records.
    pub async fn catch_up(&mut self, stream: &LogStream) -> Result<u64, ClusterError> {
        let end = stream.end().await?;
        let mut copied = 0;
        let mut last_receipt = None;
        while self.next_message <= end.message_sequence {
            let (named, frames) = stream.message(self.next_message).await?;
            for (sequence, payload) in records_in(named, &frames).map_err(ClusterError::Stream)? {
                if sequence <= self.last_record() {
                    self.check_kept(sequence, payload)?;
                    continue;
                }
                if sequence != self.last_record() + 1 {
                    return Err(ClusterError::Diverged(format!(
                        "stream message {} starts at record {sequence}, after record {}",
                        self.next_message,
                        self.last_record()
                    )));
                }
                let receipt = self.wal.submit(payload.to_vec()).map_err(|e| ClusterError::DataDir(e.to_string()))?;
                debug_assert_eq!(receipt.0, sequence);
                last_receipt = Some(receipt);
                copied += 1;
            }
            self.next_message += 1;
        }
        if let Some(receipt) = last_receipt {
            self.wal.durable(receipt).await.map_err(|e| ClusterError::DataDir(e.to_string()))?;
        }
        Ok(copied)
    }

    /// A record this copy had before the stream had any must be the stream's.
    fn check_kept(&mut self, sequence: u64, payload: &[u8]) -> Result<(), ClusterError> {
        match &self.unchecked {
            Some((kept, kept_payload)) if *kept == sequence => {
                if kept_payload != payload {
                    return Err(ClusterError::Diverged(format!("record {sequence} differs from the stream's")));
                }
                self.unchecked = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Stops the copy's writer (everything copied is synced).
    pub async fn close(self) {
        let wal = self.wal;
        let _ = tokio::task::spawn_blocking(move || wal.close()).await;
    }
}

/// The local log's last record and its payload (`None`: empty).
async fn local_end(data_dir: &Path) -> Result<Option<(u64, Vec<u8>)>, ClusterError> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let storage = DiskStorage::open(&dir).map_err(|e| ClusterError::DataDir(e.to_string()))?;
        let mut last = None;
        DiskRecords::new(&storage)
            .read_kept(&mut |sequence, payload| {
                last = Some((sequence, payload.to_vec()));
                Ok(())
            })
            .map_err(|e| ClusterError::DataDir(e.to_string()))?;
        Ok(last)
    })
    .await
    .map_err(|e| ClusterError::DataDir(e.to_string()))?
}

/// Whether the stream holds record `sequence` with this very payload.
async fn stream_holds(
    stream: &LogStream,
    last_message: u64,
    sequence: u64,
    payload: &[u8],
) -> Result<bool, ClusterError> {
    let end = stream.end().await?;
    if end.last_record < sequence {
        return Ok(false);
    }
    let message = message_holding(stream, last_message, sequence).await?;
    let (named, frames) = stream.message(message).await?;
    let records = records_in(named, &frames).map_err(ClusterError::Stream)?;
    Ok(records.iter().any(|(s, p)| *s == sequence && *p == payload))
}

/// The stream message holding record `sequence` (or the one after the
/// last, if no message holds it yet): a binary search on the messages'
/// record ranges, which grow with the message sequence.
async fn message_holding(stream: &LogStream, last_message: u64, sequence: u64) -> Result<u64, ClusterError> {
    let (mut low, mut high) = (1, last_message + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        let (named, _) = stream.message(middle).await?;
        if named.last < sequence {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// Moves every file of the log and its snapshots (not the signing keys, not
/// the personal-data key table) into a new `discarded-<ms>/` directory.
fn move_log_aside(data_dir: &Path) -> Result<PathBuf, ClusterError> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let aside = data_dir.join(format!("discarded-{stamp}"));
    let failed = |e: std::io::Error| ClusterError::DataDir(format!("moving the log aside to {}: {e}", aside.display()));
    std::fs::create_dir_all(&aside).map_err(failed)?;
    for entry in std::fs::read_dir(data_dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_log = name.ends_with(".wal") || name.ends_with(".snapshot") || name.ends_with(".tmp");
        if entry.path().is_file() && is_log && !SIGNING_KEY_FILES.contains(&name.as_str()) {
            std::fs::rename(entry.path(), aside.join(&name)).map_err(failed)?;
        }
    }
    Ok(aside)
}
