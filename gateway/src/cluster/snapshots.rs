//! Snapshots in the cluster. The primary puts each snapshot its engine
//! writes into a JetStream object store, named by the log sequence it
//! covers, keeps the newest [`SNAPSHOTS_KEPT`], and trims the stream behind
//! the oldest of those: the stream stays as long as a sale's last stretch,
//! not its whole history. A node whose log the stream no longer continues
//! (a new machine, or a standby left behind the trim) joins from the
//! newest snapshot and the stream's tail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use futures_util::StreamExt;
use guichet_engine::wal::snapshot::{read_snapshot, snapshot_name, snapshots};
use guichet_engine::wal::storage::{DiskStorage, Storage};
use tokio::io::AsyncReadExt;

use super::stream::{ClusterError, LogStream};

pub const SNAPSHOTS_BUCKET: &str = "GUICHET_SNAPSHOTS";
/// Snapshots the cluster keeps: the stream is trimmed behind the oldest.
pub const SNAPSHOTS_KEPT: usize = 2;
/// How often the primary looks for a snapshot its engine wrote.
const SHARE_EVERY: Duration = Duration::from_secs(2);
/// The longest the object store's listing may take.
const LIST_PATIENCE: Duration = Duration::from_secs(10);
/// The largest snapshot a node takes from the cluster (the object store's
/// own bound is the disk).
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;

/// The cluster's snapshot store.
#[derive(Clone)]
pub struct SharedSnapshots {
    store: ObjectStore,
}

/// An object's name for the snapshot covering the log to `sequence`.
fn object_name(sequence: u64) -> String {
    format!("snapshot-{sequence:020}")
}

fn sequence_of(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?.parse().ok()
}

fn stream_error(what: &str) -> impl Fn(String) -> ClusterError + '_ {
    move |why| ClusterError::Stream(format!("the snapshot store {SNAPSHOTS_BUCKET}: {what}: {why}"))
}

impl SharedSnapshots {
    pub async fn open(jetstream: &Context, replicas: usize) -> Result<SharedSnapshots, ClusterError> {
        if let Ok(store) = jetstream.get_object_store(SNAPSHOTS_BUCKET).await {
            return Ok(SharedSnapshots { store });
        }
        let config = object_store::Config {
            bucket: SNAPSHOTS_BUCKET.into(),
            description: Some("Guichet's snapshots, by the log record each covers".into()),
            storage: StorageType::File,
            num_replicas: replicas,
            ..object_store::Config::default()
        };
        let store = jetstream.create_object_store(config).await.map_err(|e| stream_error("creating")(e.to_string()))?;
        Ok(SharedSnapshots { store })
    }

    /// The log sequences of the snapshots the cluster keeps, newest first.
    pub async fn kept(&self) -> Result<Vec<u64>, ClusterError> {
        let listing = async {
            let mut list = self.store.list().await.map_err(|e| e.to_string())?;
            let mut found = Vec::new();
            while let Some(info) = list.next().await {
                let info = info.map_err(|e| e.to_string())?;
                found.extend(sequence_of(&info.name));
            }
            Ok::<_, String>(found)
        };
        let mut found = tokio::time::timeout(LIST_PATIENCE, listing)
            .await
            .map_err(|_| stream_error("listing")(format!("no answer within {LIST_PATIENCE:?}")))?
            .map_err(stream_error("listing"))?;
        found.sort_unstable_by(|a, b| b.cmp(a));
        Ok(found)
    }

    /// Writes the cluster's newest snapshot into `data_dir` (checked whole
    /// before it is kept); answers the sequence it covers (`None`: none).
    pub async fn download_newest(&self, data_dir: &Path) -> Result<Option<u64>, ClusterError> {
        let Some(&sequence) = self.kept().await?.first() else { return Ok(None) };
        let mut object =
            self.store.get(object_name(sequence)).await.map_err(|e| stream_error("reading")(e.to_string()))?;
        let mut bytes = Vec::new();
        (&mut object)
            .take(MAX_SNAPSHOT_BYTES)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| stream_error("reading")(e.to_string()))?;
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || keep_snapshot(&dir, sequence, &bytes))
            .await
            .map_err(|e| ClusterError::DataDir(e.to_string()))??;
        tracing::warn!(sequence, "cluster: this node joins from the cluster's newest snapshot");
        Ok(Some(sequence))
    }

    async fn upload(&self, sequence: u64, bytes: Vec<u8>) -> Result<(), ClusterError> {
        let mut reader = bytes.as_slice();
        self.store
            .put(object_name(sequence).as_str(), &mut reader)
            .await
            .map_err(|e| stream_error("putting a snapshot")(e.to_string()))?;
        Ok(())
    }

    async fn forget(&self, sequence: u64) -> Result<(), ClusterError> {
        self.store.delete(object_name(sequence)).await.map_err(|e| stream_error("deleting")(e.to_string()))
    }
}

/// Writes a snapshot taken from the cluster as this node's, once it reads
/// back whole (its CRC-32C and the sequence it names).
fn keep_snapshot(dir: &Path, sequence: u64, bytes: &[u8]) -> Result<(), ClusterError> {
    let failed = |why: String| ClusterError::DataDir(format!("the cluster's snapshot {sequence}: {why}"));
    let storage = DiskStorage::open(dir).map_err(|e| failed(e.to_string()))?;
    let name = snapshot_name(sequence);
    storage.write_atomically(&name, bytes).map_err(|e| failed(e.to_string()))?;
    match read_snapshot(&storage, &name) {
        Ok((covered, _)) if covered == sequence => Ok(()),
        outcome => {
            let _ = storage.remove(&name);
            Err(failed(match outcome {
                Ok((covered, _)) => format!("it covers the log to {covered}, not {sequence}"),
                Err(error) => error.to_string(),
            }))
        }
    }
}

/// The primary's part, until the process ends: shares each snapshot its
/// engine writes, keeps the newest [`SNAPSHOTS_KEPT`] and trims the stream
/// behind the oldest kept. A failure is said and tried again next time:
/// nothing a buyer waits for depends on it.
pub async fn share_snapshots(snapshots: SharedSnapshots, stream: LogStream, data_dir: PathBuf) {
    let mut shared = 0;
    loop {
        tokio::time::sleep(SHARE_EVERY).await;
        match share_newest(&snapshots, &stream, &data_dir, shared).await {
            Ok(newest) => shared = newest,
            Err(error) => tracing::warn!("cluster: sharing snapshots: {error}"),
        }
    }
}

/// One round of [`share_snapshots`]; answers the newest snapshot shared.
async fn share_newest(
    snapshots: &SharedSnapshots,
    stream: &LogStream,
    data_dir: &Path,
    shared: u64,
) -> Result<u64, ClusterError> {
    let dir = data_dir.to_path_buf();
    let newest = tokio::task::spawn_blocking(move || newest_local(&dir))
        .await
        .map_err(|e| ClusterError::DataDir(e.to_string()))??;
    let Some((sequence, bytes)) = newest.filter(|(sequence, _)| *sequence > shared) else { return Ok(shared) };
    let kept = snapshots.kept().await?;
    if !kept.contains(&sequence) {
        snapshots.upload(sequence, bytes).await?;
        tracing::info!(sequence, "cluster: snapshot shared");
    }
    let kept = snapshots.kept().await?;
    for old in kept.iter().skip(SNAPSHOTS_KEPT) {
        snapshots.forget(*old).await?;
    }
    if let Some(oldest_kept) = kept[..kept.len().min(SNAPSHOTS_KEPT)].last() {
        let trimmed = stream.trim_before_record(oldest_kept + 1).await?;
        if trimmed > 0 {
            tracing::info!(
                messages = trimmed,
                behind_record = oldest_kept,
                "cluster: the stream trimmed behind a snapshot"
            );
        }
    }
    Ok(sequence)
}

/// This node's newest snapshot file: the sequence it covers and its bytes
/// (`None`: none yet). A newer snapshot may remove it meanwhile: the next
/// round takes that one.
fn newest_local(dir: &Path) -> Result<Option<(u64, Vec<u8>)>, ClusterError> {
    let failed = |e: std::io::Error| ClusterError::DataDir(format!("{}: {e}", dir.display()));
    let storage = DiskStorage::open(dir).map_err(failed)?;
    let Some((sequence, name)) = snapshots(&storage).map_err(failed)?.into_iter().next() else { return Ok(None) };
    let bytes = storage.read(&name).map_err(failed)?;
    Ok(Some((sequence, bytes)))
}
