//! The signing keys every node of a cluster shares (queue and access
//! tokens, e-tickets), kept in a JetStream key-value bucket so that a
//! buyer's tokens and tickets stay valid whichever node serves. The first
//! primary puts its keys there; every node writes the cluster's keys into
//! its data directory before its engine opens.

use std::path::Path;

use async_nats::jetstream::kv::{self, CreateErrorKind, Store};
use async_nats::jetstream::stream::StorageType;
use async_nats::jetstream::Context;
use bytes::Bytes;
use guichet_engine::store::recovery::SIGNING_KEY_FILES;
use guichet_engine::wal::storage::{DiskStorage, Storage};

use super::stream::{key_value_bucket, ClusterError};

pub const KEYS_BUCKET: &str = "GUICHET_KEYS";

/// The cluster's key bucket.
pub struct SharedKeys {
    store: Store,
}

/// A key file's name as a bucket key (`.` is a separator there).
pub(super) fn bucket_key(file: &str) -> String {
    file.replace('.', "_")
}

impl SharedKeys {
    pub async fn open(jetstream: &Context, replicas: usize) -> Result<SharedKeys, ClusterError> {
        let config = kv::Config {
            bucket: KEYS_BUCKET.into(),
            description: "Guichet's signing keys (secret)".into(),
            history: 1,
            storage: StorageType::File,
            num_replicas: replicas,
            ..kv::Config::default()
        };
        let store = key_value_bucket(jetstream, config).await?;
        Ok(SharedKeys { store })
    }

    /// Writes the cluster's keys into `data_dir` (replacing any of its own):
    /// answers how many the cluster had.
    pub async fn download(&self, data_dir: &Path) -> Result<usize, ClusterError> {
        let storage = DiskStorage::open(data_dir).map_err(|e| io_error(data_dir, e))?;
        let mut found = 0;
        for file in SIGNING_KEY_FILES {
            let value = self.store.get(bucket_key(file)).await.map_err(|e| ClusterError::Stream(e.to_string()))?;
            let Some(bytes) = value else { continue };
            found += 1;
            if storage.read(file).ok().as_deref() != Some(&bytes[..]) {
                storage.write_atomically(file, &bytes).map_err(|e| io_error(data_dir, e))?;
                tracing::info!("cluster: {file} taken from the cluster");
            }
        }
        Ok(found)
    }

    /// Puts this node's keys (made by its engine) where the cluster has
    /// none. Only the primary calls it, after `download`, so a key already
    /// there is the one this node uses; a different one is refused.
    pub async fn upload(&self, data_dir: &Path) -> Result<(), ClusterError> {
        let storage = DiskStorage::open(data_dir).map_err(|e| io_error(data_dir, e))?;
        for file in SIGNING_KEY_FILES {
            let bytes = storage.read(file).map_err(|e| io_error(data_dir, e))?;
            match self.store.create(bucket_key(file), Bytes::from(bytes.clone())).await {
                Ok(_) => tracing::info!("cluster: {file} shared with the cluster"),
                Err(error) if error.kind() == CreateErrorKind::AlreadyExists => {
                    let shared =
                        self.store.get(bucket_key(file)).await.map_err(|e| ClusterError::Stream(e.to_string()))?;
                    if shared.as_deref() != Some(&bytes[..]) {
                        return Err(ClusterError::Diverged(format!("{file} differs from the cluster's")));
                    }
                }
                Err(error) => return Err(ClusterError::Stream(format!("sharing {file}: {error}"))),
            }
        }
        Ok(())
    }
}

fn io_error(dir: &Path, error: std::io::Error) -> ClusterError {
    ClusterError::DataDir(format!("{}: {error}", dir.display()))
}
