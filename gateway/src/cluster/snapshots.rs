//! Snapshots in the cluster. The primary puts each snapshot its engine
//! writes into a JetStream object store, named by the log sequence it
//! covers (and the record its replay starts after), keeps the newest
//! [`SNAPSHOTS_KEPT`], and trims the stream behind the older one's replay
//! start: the stream stays as long as a sale's last stretch,
//! not its whole history. A node whose log the stream no longer continues
//! (a new machine, or a standby left behind the trim) joins from the
//! newest snapshot and the stream's tail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use futures_util::StreamExt;
use guichet_engine::store::recovery::snapshot_replay_start;
use guichet_engine::wal::segment_name;
use guichet_engine::wal::snapshot::{read_snapshot, snapshot_name, snapshots};
use guichet_engine::wal::storage::{DiskStorage, Storage};
use guichet_engine::wal::WalOptions;
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

/// A snapshot the cluster keeps: the sequence it covers (its file's name)
/// and the record replay starts after (the log must hold every record
/// after it: some parts are covered further than others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedSnapshot {
    pub covered: u64,
    pub replay_start: u64,
}

impl SharedSnapshot {
    fn object_name(self) -> String {
        format!("snapshot-{:020}-after-{:020}", self.covered, self.replay_start)
    }

    fn parse(name: &str) -> Option<SharedSnapshot> {
        let (covered, replay_start) = name.strip_prefix("snapshot-")?.split_once("-after-")?;
        Some(SharedSnapshot { covered: covered.parse().ok()?, replay_start: replay_start.parse().ok()? })
    }
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

    /// The snapshots the cluster keeps, newest first.
    pub async fn kept(&self) -> Result<Vec<SharedSnapshot>, ClusterError> {
        let listing = async {
            let mut list = self.store.list().await.map_err(|e| e.to_string())?;
            let mut found = Vec::new();
            while let Some(info) = list.next().await {
                let info = info.map_err(|e| e.to_string())?;
                found.extend(SharedSnapshot::parse(&info.name));
            }
            Ok::<_, String>(found)
        };
        let mut found = tokio::time::timeout(LIST_PATIENCE, listing)
            .await
            .map_err(|_| stream_error("listing")(format!("no answer within {LIST_PATIENCE:?}")))?
            .map_err(stream_error("listing"))?;
        found.sort_unstable_by_key(|s| std::cmp::Reverse(s.covered));
        Ok(found)
    }

    /// Writes the cluster's newest snapshot into `data_dir` (checked whole
    /// before it is kept), and an empty log that starts after its replay
    /// start; answers it (`None`: the cluster keeps none).
    pub async fn download_newest(&self, data_dir: &Path) -> Result<Option<SharedSnapshot>, ClusterError> {
        let Some(&newest) = self.kept().await?.first() else { return Ok(None) };
        let name = newest.object_name();
        let mut object = self.store.get(&name).await.map_err(|e| stream_error("reading")(e.to_string()))?;
        let mut bytes = Vec::new();
        let read = (&mut object).take(MAX_SNAPSHOT_BYTES).read_to_end(&mut bytes).await;
        read.map_err(|e| stream_error("reading")(e.to_string()))?;
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || keep_snapshot(&dir, newest, &bytes))
            .await
            .map_err(|e| ClusterError::DataDir(e.to_string()))??;
        tracing::warn!(covered = newest.covered, "cluster: this node joins from the cluster's newest snapshot");
        Ok(Some(newest))
    }

    async fn upload(&self, snapshot: SharedSnapshot, bytes: Vec<u8>) -> Result<(), ClusterError> {
        let mut reader = bytes.as_slice();
        self.store
            .put(snapshot.object_name().as_str(), &mut reader)
            .await
            .map_err(|e| stream_error("putting a snapshot")(e.to_string()))?;
        Ok(())
    }

    async fn forget(&self, snapshot: SharedSnapshot) -> Result<(), ClusterError> {
        self.store.delete(snapshot.object_name()).await.map_err(|e| stream_error("deleting")(e.to_string()))
    }
}

/// Writes a snapshot taken from the cluster as this node's, once it reads
/// back whole (its CRC-32C, the sequence it names, the record its replay
/// starts after), then an empty log segment that starts after that record,
/// so the copy numbers what it copies from there.
fn keep_snapshot(dir: &Path, snapshot: SharedSnapshot, bytes: &[u8]) -> Result<(), ClusterError> {
    let failed = |why: String| ClusterError::DataDir(format!("the cluster's snapshot {}: {why}", snapshot.covered));
    let storage = DiskStorage::open(dir).map_err(|e| failed(e.to_string()))?;
    let name = snapshot_name(snapshot.covered);
    storage.write_atomically(&name, bytes).map_err(|e| failed(e.to_string()))?;
    let checked = match read_snapshot(&storage, &name) {
        Ok((covered, _)) if covered != snapshot.covered => Err(format!("it covers the log to {covered}")),
        Ok(_) => snapshot_replay_start(&storage, &name).map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match checked {
        Ok(replay_start) if replay_start == snapshot.replay_start => {}
        outcome => {
            let _ = storage.remove(&name);
            return Err(failed(match outcome {
                Ok(replay_start) => format!("its replay starts after record {replay_start}, not as its name says"),
                Err(why) => why,
            }));
        }
    }
    let segment = segment_name(snapshot.replay_start + 1);
    storage.open_for_writing(&segment, WalOptions::default().segment_bytes).map_err(|e| failed(e.to_string()))?;
    Ok(())
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
/// The stream is trimmed only once two are kept, behind the older one's
/// replay start: a snapshot that cannot be read leaves another to join from.
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
    let Some((snapshot, bytes)) = newest.filter(|(snapshot, _)| snapshot.covered > shared) else { return Ok(shared) };
    let kept = snapshots.kept().await?;
    if !kept.contains(&snapshot) {
        snapshots.upload(snapshot, bytes).await?;
        tracing::info!(covered = snapshot.covered, "cluster: snapshot shared");
    }
    let kept = snapshots.kept().await?;
    for old in kept.iter().skip(SNAPSHOTS_KEPT) {
        snapshots.forget(*old).await?;
    }
    if kept.len() >= SNAPSHOTS_KEPT {
        let oldest_kept = kept[SNAPSHOTS_KEPT - 1];
        let trimmed = stream.trim_before_record(oldest_kept.replay_start + 1).await?;
        if trimmed > 0 {
            tracing::info!(messages = trimmed, behind_record = oldest_kept.replay_start, "cluster: the stream trimmed");
        }
    }
    Ok(snapshot.covered)
}

/// This node's newest snapshot file and its bytes (`None`: none yet). A
/// newer snapshot may remove it meanwhile: the next round takes that one.
fn newest_local(dir: &Path) -> Result<Option<(SharedSnapshot, Vec<u8>)>, ClusterError> {
    let failed = |why: String| ClusterError::DataDir(format!("{}: {why}", dir.display()));
    let storage = DiskStorage::open(dir).map_err(|e| failed(e.to_string()))?;
    let Some((covered, name)) = snapshots(&storage).map_err(|e| failed(e.to_string()))?.into_iter().next() else {
        return Ok(None);
    };
    let bytes = storage.read(&name).map_err(|e| failed(e.to_string()))?;
    let replay_start = snapshot_replay_start(&storage, &name).map_err(|e| failed(e.to_string()))?;
    Ok(Some((SharedSnapshot { covered, replay_start }, bytes)))
}
