//! The buyers' personal-data key table in a cluster: each key in a
//! JetStream key-value bucket as well as in the data directory's
//! `personal-keys/`, so that a new primary reads the emails and names
//! sealed on the old one, and an erased buyer stays unreadable on every
//! node. The engine writes a key before any record names it and deletes it
//! before an erasure is logged; here both are done in the bucket too
//! before the engine goes on. A new primary takes the bucket's keys (and
//! deletions) into its directory before its engine opens.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::Arc;

use async_nats::jetstream::kv::{self, Store};
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use guichet_engine::store::personal::KEY_TABLE_DIR;
use guichet_engine::wal::storage::{DiskStorage, Storage, StorageFile};
use parking_lot::Mutex;
use tokio::runtime::Handle;

use super::keys::bucket_key;
use super::stream::{key_value_bucket, ClusterError};

pub const PERSONAL_KEYS_BUCKET: &str = "GUICHET_PERSONAL_KEYS";
/// The header a key-value entry's operation travels in (`DEL`, `PURGE`; none for a put).
const KV_OPERATION: &str = "KV-Operation";
/// Key entries read from the cluster at once when a node takes over.
const KEYS_READ_AT_ONCE: usize = 32;

/// The cluster's copy of the key table.
#[derive(Clone)]
pub struct SharedKeyTable {
    store: Store,
    jetstream: Context,
    /// Keys this node removed while its term was not yet in the stream:
    /// `Some` until then (see `MirroredKeyTable::remove`), `None` after.
    deferred_deletes: Arc<Mutex<Option<Vec<String>>>>,
}

impl SharedKeyTable {
    pub async fn open(jetstream: &Context, replicas: usize) -> Result<SharedKeyTable, ClusterError> {
        let config = kv::Config {
            bucket: PERSONAL_KEYS_BUCKET.into(),
            description: "Guichet's personal-data keys (secret)".into(),
            history: 1,
            storage: StorageType::File,
            num_replicas: replicas,
            ..kv::Config::default()
        };
        Ok(SharedKeyTable {
            store: key_value_bucket(jetstream, config).await?,
            jetstream: jetstream.clone(),
            deferred_deletes: Arc::new(Mutex::new(Some(Vec::new()))),
        })
    }

    /// Makes `data_dir/personal-keys/` and the cluster's keys one table:
    /// the cluster's keys written here, the keys it deleted removed, and
    /// keys only this directory has (made before its node joined a
    /// cluster) put in the cluster. Answers how many keys the table holds.
    pub async fn download(&self, data_dir: &Path) -> Result<usize, ClusterError> {
        let local = DiskStorage::open(data_dir.join(KEY_TABLE_DIR)).map_err(|e| io_error(data_dir, e))?;
        let mut seen = HashSet::new();
        let mut held = self.take_cluster_keys(&local, data_dir, &mut seen).await?;
        for file in local.list().map_err(|e| io_error(data_dir, e))? {
            // Not a key (a temporary file a crash left), or one the cluster has (or deleted).
            if !file.ends_with(".key") || seen.contains(&file) {
                continue;
            }
            let bytes = local.read(&file).map_err(|e| io_error(data_dir, e))?;
            let put = self.store.put(bucket_key(&file), Bytes::from(bytes)).await;
            put.map_err(|e| ClusterError::Stream(format!("sharing a personal-data key: {e}")))?;
            held += 1;
        }
        Ok(held)
    }

    /// The cluster's side of `download`: answers how many keys it holds,
    /// and notes in `seen` every file it has an entry for. Reads the
    /// bucket's stream message by message, several at a time (a key-value
    /// watch of this client waits forever on some buckets).
    async fn take_cluster_keys(
        &self,
        local: &DiskStorage,
        data_dir: &Path,
        seen: &mut HashSet<String>,
    ) -> Result<usize, ClusterError> {
        // Fresh: the store's own status is what it was when the bucket was opened.
        let stream = self.jetstream.get_stream(format!("KV_{PERSONAL_KEYS_BUCKET}")).await;
        let stream = stream.map_err(|e| ClusterError::Stream(format!("the personal-data keys' bucket: {e}")))?;
        let state = stream.cached_info().state.clone();
        if state.messages == 0 {
            return Ok(0);
        }
        let prefix = format!("$KV.{PERSONAL_KEYS_BUCKET}.");
        let mut messages = futures_util::stream::iter(state.first_sequence..=state.last_sequence)
            .map(|sequence| {
                let stream = stream.clone();
                async move { (sequence, stream.get_raw_message(sequence).await) }
            })
            .buffered(KEYS_READ_AT_ONCE);
        let (mut missing, mut held) = (Vec::new(), 0);
        while let Some((sequence, read)) = messages.next().await {
            let message = match read {
                Ok(message) => message,
                // A key's older entry, gone (the bucket keeps one per key).
                Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => continue,
                Err(error) => return Err(ClusterError::Stream(format!("reading key entry {sequence}: {error}"))),
            };
            let Some(key) = message.subject.strip_prefix(prefix.as_str()).filter(|key| key.ends_with("_key")) else {
                continue;
            };
            let file = file_name(key);
            seen.insert(file.clone());
            let on_disk = local.read(&file).ok();
            let removed = message.headers.get(KV_OPERATION).is_some_and(|op| op.as_str() != "PUT");
            if !removed {
                held += 1;
                match on_disk {
                    None => missing.push((file, message.payload.to_vec())),
                    Some(bytes) if bytes[..] != message.payload[..] => {
                        local.write_atomically(&file, &message.payload).map_err(|e| io_error(data_dir, e))?
                    }
                    Some(_) => {}
                }
            } else if on_disk.is_some() {
                local.remove(&file).map_err(|e| io_error(data_dir, e))?;
            }
        }
        // One directory sync for them all: nothing uses them before this returns.
        local.write_new_files(&missing).map_err(|e| io_error(data_dir, e))?;
        Ok(held)
    }

    /// The engine's key table: this node's directory, mirrored into the
    /// bucket through `runtime` (its calls come from blocking threads).
    pub fn mirror(&self, local: Arc<dyn Storage>, runtime: Handle) -> Arc<dyn Storage> {
        let deferred_deletes = self.deferred_deletes.clone();
        Arc::new(MirroredKeyTable { local, store: self.store.clone(), runtime, deferred_deletes })
    }

    /// Once this node's term record is in the stream (the old primary
    /// fenced off): deletes from the cluster the keys its engine removed
    /// while opening, and deletes at once from then on.
    pub async fn delete_deferred(&self) {
        let deferred = self.deferred_deletes.lock().take().unwrap_or_default();
        let deletes = deferred.iter().map(|key| async move { (key, self.store.delete(key).await) });
        for (key, deleted) in futures_util::future::join_all(deletes).await {
            // Unused keys seal nothing: one left behind is cleared at a later takeover.
            if let Err(error) = deleted {
                tracing::warn!("cluster: deleting unused personal-data key {key}: {error}");
            }
        }
        if !deferred.is_empty() {
            tracing::info!(keys = deferred.len(), "cluster: unused personal-data keys deleted from the cluster");
        }
    }
}

/// The key table on disk, each write and removal also made in the bucket
/// (and acknowledged by it) before it returns.
struct MirroredKeyTable {
    local: Arc<dyn Storage>,
    store: Store,
    runtime: Handle,
    deferred_deletes: Arc<Mutex<Option<Vec<String>>>>,
}

impl std::fmt::Debug for MirroredKeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirroredKeyTable").field("local", &self.local).finish_non_exhaustive()
    }
}

impl MirroredKeyTable {
    /// Runs `change` against the bucket on the runtime and waits for it.
    /// Never called on one of the runtime's own threads: the engine's
    /// key-table calls run on blocking threads and its upkeep thread.
    fn in_bucket(&self, change: Change) -> io::Result<()> {
        let store = self.store.clone();
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let outcome = match change {
                Change::Put(entries) => put_all(&store, entries).await,
                Change::Delete(key) => store.delete(&key).await.map_err(|e| e.to_string()),
            };
            let _ = answer.send(outcome);
        });
        let outcome = answered.recv().map_err(|_| io::Error::other("the cluster's key table did not answer"))?;
        outcome.map_err(|why| io::Error::other(format!("the cluster's key table: {why}")))
    }
}

enum Change {
    Put(Vec<(String, Bytes)>),
    Delete(String),
}

/// All at once, then every acknowledgement: a batch of spares costs the
/// upkeep thread (which also admits buyers) one round trip, not one each.
async fn put_all(store: &Store, entries: Vec<(String, Bytes)>) -> Result<(), String> {
    let puts = entries.into_iter().map(|(key, value)| async move { store.put(&key, value).await });
    futures_util::future::try_join_all(puts).await.map(|_| ()).map_err(|e| e.to_string())
}

impl Storage for MirroredKeyTable {
    fn list(&self) -> io::Result<Vec<String>> {
        self.local.list()
    }

    fn open_for_writing(&self, name: &str, preallocate_bytes: u64) -> io::Result<Box<dyn StorageFile>> {
        Err(io::Error::other(format!("the key table holds whole files only, not {name} ({preallocate_bytes} bytes)")))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.local.read(name)
    }

    /// From the bucket first: a key gone from the cluster is gone for a new
    /// primary. But while this node's term record is not in the stream
    /// (its engine opening, removing the keys it finds unused), the old
    /// primary may still have a checkout sealed under one of its spares
    /// acknowledged: the cluster's copy is deleted only once it is fenced off.
    fn remove(&self, name: &str) -> io::Result<()> {
        let mut deferred = self.deferred_deletes.lock();
        if let Some(keys) = deferred.as_mut() {
            keys.push(bucket_key(name));
            drop(deferred);
            return self.local.remove(name);
        }
        drop(deferred);
        self.in_bucket(Change::Delete(bucket_key(name)))?;
        self.local.remove(name)
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.local.write_atomically(name, bytes)?;
        self.in_bucket(Change::Put(vec![(bucket_key(name), Bytes::copy_from_slice(bytes))]))
    }

    fn write_new_files(&self, files: &[(String, Vec<u8>)]) -> io::Result<()> {
        self.local.write_new_files(files)?;
        let entries = files.iter().map(|(name, bytes)| (bucket_key(name), Bytes::copy_from_slice(bytes))).collect();
        self.in_bucket(Change::Put(entries))
    }

    fn describe(&self, name: &str) -> String {
        format!("{} (and the cluster's {PERSONAL_KEYS_BUCKET})", self.local.describe(name))
    }

    fn subdirectory(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        Err(io::Error::other(format!("the key table has no subdirectory ({name})")))
    }
}

/// A bucket key back to its file name (`bucket_key` made `.` into `_`).
fn file_name(key: &str) -> String {
    match key.strip_suffix("_key") {
        Some(id) => format!("{id}.key"),
        None => key.to_owned(),
    }
}

fn io_error(dir: &Path, error: io::Error) -> ClusterError {
    ClusterError::DataDir(format!("{}: {error}", dir.join(KEY_TABLE_DIR).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_travels_under_a_bucket_key_and_back() {
        let file = "00112233445566778899aabbccddeeff.key";
        assert_eq!(bucket_key(file), "00112233445566778899aabbccddeeff_key");
        assert_eq!(file_name(&bucket_key(file)), file);
    }
}
