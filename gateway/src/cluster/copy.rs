//! A standby's copy of the replicated log: the stream's records written, in
//! order and with their sequences, into this node's own log, and applied
//! as they come by the standby's engine (a [`Follower`]), so that taking
//! over promotes a hot engine rather than replaying the log. A local log is kept while it and
//! the stream tell one history, one a prefix of the other (records past the
//! stream's end are this node's: a single server's log joining a cluster,
//! or a crash between its sync and the stream's answer; as primary it
//! appends them, and each is checked against the stream's record if another
//! node's come first). A log that disagrees with the stream is moved aside,
//! never mixed in: nothing in it past the stream was acknowledged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use guichet_engine::clock::Clock;
use guichet_engine::store::recovery::SIGNING_KEY_FILES;
use guichet_engine::store::{Engine, EngineOptions, Follower};
use guichet_engine::wal::reader::before_first_record;
use guichet_engine::wal::storage::{DiskStorage, Storage};
use guichet_engine::wal::{DiskRecords, Wal, WalOptions};

use super::messages::records_in;
use super::snapshots::SharedSnapshots;
use super::stream::{ClusterError, LogStream};

/// This node's log, appended to from the stream.
pub struct LogCopy {
    wal: Wal,
    /// The standby's engine, applying every record copied; `None` once it
    /// refused one (a takeover then recovers from the log on disk, and
    /// says why).
    follower: Option<Follower>,
    /// The stream message to read next.
    next_message: u64,
    /// The CRC-32C of each local record past the stream's end when the copy
    /// opened, from `beyond_first` on: each is checked against the stream's
    /// record at its place when that arrives.
    beyond_first: u64,
    beyond: Vec<u32>,
}

/// Where a standby keeps its copy, and what it is made from.
pub struct CopyPlace<'a> {
    pub data_dir: &'a Path,
    pub engine: &'a EngineSetup,
    pub snapshots: &'a SharedSnapshots,
}

/// What this node's log holds, read before it is opened for appending.
#[derive(Default)]
struct LocalLog {
    /// The record the log starts after (its oldest segment's first, less one).
    log_start: u64,
    /// The last record and its payload.
    last: Option<(u64, Vec<u8>)>,
    /// The payload of record `at` (the stream's last), if the log has it.
    at: Option<Vec<u8>>,
    /// The CRC-32C of every record after `at`.
    beyond: Vec<u32>,
}

impl LogCopy {
    /// Opens the data directory's log as a copy of the stream's; a log that
    /// disagrees with the stream is moved aside into `discarded-<ms>/`, and
    /// one the stream no longer continues (trimmed behind a snapshot) too,
    /// the copy then starting from the cluster's newest snapshot.
    pub async fn open(stream: &LogStream, place: &CopyPlace<'_>) -> Result<LogCopy, ClusterError> {
        let data_dir = place.data_dir;
        let stream_end = stream.end().await?;
        let mut local = read_local(data_dir, stream_end.last_record).await?;
        let (_, first_record) = stream.start().await?;
        // The last record this node holds (or the one its log starts after).
        let position = local.last.as_ref().map_or(local.log_start, |(last, _)| *last);
        if first_record > 1 && position + 1 < first_record {
            join_from_snapshot(place, position, first_record).await?;
            local = LocalLog::default();
        }
        let agrees = match (&local.last, &local.at) {
            (None, _) => true,
            _ if stream_end.message_sequence == 0 => true,
            // The stream is a prefix of the local log: its last record is here.
            (Some((last, _)), Some(at)) if *last > stream_end.last_record => {
                stream_holds(stream, stream_end.last_record, at).await?
            }
            // The local log is a prefix of the stream (or the stream's last is not here).
            (Some((last, payload)), _) => {
                *last <= stream_end.last_record && stream_holds(stream, *last, payload).await?
            }
        };
        let beyond = if agrees { local.beyond } else { Vec::new() };
        if !agrees {
            let aside = move_log_aside(data_dir)?;
            tracing::warn!(
                "cluster: this node's log disagrees with the stream (changes it synced were never acknowledged): \
                 moved to {}; copying the stream from the start",
                aside.display()
            );
        }
        let (dir, setup) = (data_dir.to_path_buf(), place.engine.clone());
        let (wal, follower) = tokio::task::spawn_blocking(move || -> Result<_, ClusterError> {
            let storage: Arc<dyn Storage> =
                Arc::new(DiskStorage::open(&dir).map_err(|e| ClusterError::DataDir(e.to_string()))?);
            let wal = Wal::resume(storage.clone(), WalOptions::default())
                .map_err(|e| ClusterError::DataDir(e.to_string()))?;
            Ok((wal, setup.follow(storage)))
        })
        .await
        .map_err(|e| ClusterError::DataDir(e.to_string()))??;
        let next_message = stream.message_holding(wal.last_assigned_sequence().min(stream_end.last_record) + 1).await?;
        let beyond_first = wal.last_assigned_sequence() + 1 - beyond.len() as u64;
        Ok(LogCopy { wal, follower, next_message, beyond_first, beyond })
    }

    /// Whether the standby's engine follows the copy (its state is hot).
    pub fn is_hot(&self) -> bool {
        self.follower.is_some()
    }

    /// The stream message the copy reads next.
    pub fn next_message(&self) -> u64 {
        self.next_message
    }

    /// The last record copied.
    pub fn last_record(&self) -> u64 {
        self.wal.last_assigned_sequence()
    }

    /// Copies what the stream holds past this copy, durably; answers how
    /// many records.
    pub async fn catch_up(&mut self, stream: &LogStream) -> Result<u64, ClusterError> {
        let end = stream.end().await?;
        let (first_message, _) = stream.start().await?;
        if first_message > self.next_message {
            return Err(ClusterError::Diverged(format!(
                "the stream was trimmed past this copy (it needs message {}, the first kept is {first_message})",
                self.next_message
            )));
        }
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
                self.apply(sequence, payload);
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

    /// A record this copy had past the stream's end must be the stream's.
    fn check_kept(&self, sequence: u64, payload: &[u8]) -> Result<(), ClusterError> {
        let Some(index) = sequence.checked_sub(self.beyond_first) else { return Ok(()) };
        match self.beyond.get(index as usize) {
            Some(crc) if *crc != crc32c::crc32c(payload) => {
                Err(ClusterError::Diverged(format!("record {sequence} differs from the stream's")))
            }
            _ => Ok(()),
        }
    }

    /// The standby's engine applies a record copied; one it refuses ends
    /// its following.
    fn apply(&mut self, sequence: u64, payload: &[u8]) {
        let Some(follower) = self.follower.as_mut() else { return };
        if let Err(error) = follower.apply(sequence, payload) {
            tracing::error!("cluster: this standby's engine stops following the stream ({error}); a takeover will recover from the log on disk");
            self.follower = None;
        }
    }

    /// Stops the copy's writer (everything copied is synced); hands back
    /// the standby's engine, if it still follows.
    pub async fn close(self) -> Option<Follower> {
        let wal = self.wal;
        let _ = tokio::task::spawn_blocking(move || wal.close()).await;
        self.follower
    }
}

/// How a standby's engine is made: the options and clock it will serve with.
#[derive(Clone)]
pub struct EngineSetup {
    pub options: EngineOptions,
    pub clock: Arc<dyn Clock>,
}

impl EngineSetup {
    /// An engine following the log in `storage` from its newest snapshot,
    /// every record on disk applied; `None` (said in the log) if it cannot.
    fn follow(&self, storage: Arc<dyn Storage>) -> Option<Follower> {
        let followed = Engine::follow(storage, self.options.clone(), self.clock.clone()).and_then(|mut follower| {
            let records = follower.read_disk()?;
            tracing::info!(
                records,
                last = follower.last_applied(),
                "cluster: this standby's engine follows the stream"
            );
            Ok(follower)
        });
        followed
            .map_err(|error| {
                tracing::error!("cluster: this standby's engine cannot follow ({error}); a takeover will recover from the log on disk")
            })
            .ok()
    }
}

/// Reads this node's log: its last record, its record `at`, and a CRC-32C
/// of each record after `at`.
async fn read_local(data_dir: &Path, at: u64) -> Result<LocalLog, ClusterError> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let storage = DiskStorage::open(&dir).map_err(|e| ClusterError::DataDir(e.to_string()))?;
        let log_start = before_first_record(&storage).map_err(|e| ClusterError::DataDir(e.to_string()))?;
        let mut local = LocalLog { log_start, ..LocalLog::default() };
        let (mut last, mut last_payload) = (0, Vec::new());
        DiskRecords::new(&storage)
            .read_kept(&mut |sequence, payload| {
                if sequence == at {
                    local.at = Some(payload.to_vec());
                }
                if sequence > at {
                    local.beyond.push(crc32c::crc32c(payload));
                }
                last = sequence;
                last_payload.clear();
                last_payload.extend_from_slice(payload);
                Ok(())
            })
            .map_err(|e| ClusterError::DataDir(e.to_string()))?;
        local.last = (last > 0).then_some((last, last_payload));
        Ok(local)
    })
    .await
    .map_err(|e| ClusterError::DataDir(e.to_string()))?
}

/// Whether the stream holds record `sequence` with this very payload.
async fn stream_holds(stream: &LogStream, sequence: u64, payload: &[u8]) -> Result<bool, ClusterError> {
    let end = stream.end().await?;
    if end.last_record < sequence {
        return Ok(false);
    }
    let message = stream.message_holding(sequence).await?;
    let (named, frames) = stream.message(message).await?;
    let records = records_in(named, &frames).map_err(ClusterError::Stream)?;
    Ok(records.iter().any(|(s, p)| *s == sequence && *p == payload))
}

/// Replaces this node's log, which ends (at `position`) before the
/// stream's first record, with the cluster's newest snapshot.
async fn join_from_snapshot(place: &CopyPlace<'_>, position: u64, first_record: u64) -> Result<(), ClusterError> {
    if position > 0 {
        let aside = move_log_aside(place.data_dir)?;
        tracing::warn!(
            "cluster: this node's log ends at record {position}, and the stream now starts at record {first_record} \
             (trimmed behind a snapshot): moved to {}",
            aside.display()
        );
    }
    let joined = place.snapshots.download_newest(place.data_dir).await?;
    match joined {
        Some(snapshot) if snapshot.replay_start + 1 >= first_record => Ok(()),
        Some(snapshot) => Err(ClusterError::Stream(format!(
            "the cluster's newest snapshot needs the log after record {}, but the stream starts at record {first_record}",
            snapshot.replay_start
        ))),
        None => Err(ClusterError::Stream(format!(
            "the stream starts at record {first_record} and the cluster keeps no snapshot to join from"
        ))),
    }
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
