//! Snapshot files: the whole state as of one log sequence, so recovery
//! replays only what came after it.
//!
//! ```text
//! offset  size  field
//!      0     4  magic     "GCHS"
//!      4     2  version   FORMAT_VERSION (1 is still read)
//!      6     2  reserved  0
//!      8     8  sequence  the log sequence the snapshot covers
//!     16     8  length    payload bytes
//!     24     4  crc32c    of bytes 0..24 and the payload
//!     28     …  payload   bincode (see `codec`)
//! ```
//! Written whole to a temporary file, synced, renamed, directory synced.
//! Version 2 appends a section to version 1's payload, and version 3 the
//! engine-wide named sections (see `store`); the version tells the reader
//! which are there.

use std::io;

use super::storage::Storage;

const MAGIC: [u8; 4] = *b"GCHS";
pub const FORMAT_VERSION: u16 = 3;
/// The oldest version this build still reads.
const OLDEST_READABLE_VERSION: u16 = 1;
const HEADER_BYTES: usize = 28;

/// The file name of the snapshot covering the log up to `sequence`.
pub fn snapshot_name(sequence: u64) -> String {
    format!("{sequence:020}.snapshot")
}

/// Snapshot files, newest first, as `(sequence, name)`.
pub fn snapshots(storage: &dyn Storage) -> io::Result<Vec<(u64, String)>> {
    let mut found: Vec<(u64, String)> = storage
        .list()?
        .into_iter()
        .filter_map(|name| Some((name.strip_suffix(".snapshot")?.parse().ok()?, name)))
        .collect();
    found.sort_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
    Ok(found)
}

pub fn write_snapshot(storage: &dyn Storage, sequence: u64, payload: &[u8]) -> io::Result<String> {
    write_snapshot_as(storage, FORMAT_VERSION, sequence, payload)
}

/// Writes a snapshot file of a given format version: tests write older ones.
pub(crate) fn write_snapshot_as(
    storage: &dyn Storage,
    version: u16,
    sequence: u64,
    payload: &[u8],
) -> io::Result<String> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes), payload);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(payload);
    let name = snapshot_name(sequence);
    storage.write_atomically(&name, &bytes)?;
    Ok(name)
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{file}: {why}")]
    Damaged { file: String, why: &'static str },
    #[error("reading {file}: {source}")]
    Io { file: String, source: io::Error },
}

/// Reads and checks a snapshot file; returns its sequence and payload.
pub fn read_snapshot(storage: &dyn Storage, name: &str) -> Result<(u64, Vec<u8>), SnapshotError> {
    read_snapshot_versioned(storage, name).map(|(sequence, _, payload)| (sequence, payload))
}

/// Reads and checks a snapshot file; returns its sequence, format version and payload.
pub fn read_snapshot_versioned(storage: &dyn Storage, name: &str) -> Result<(u64, u16, Vec<u8>), SnapshotError> {
    let file = storage.describe(name);
    let damaged = |why| SnapshotError::Damaged { file: file.clone(), why };
    let mut bytes = storage.read(name).map_err(|source| SnapshotError::Io { file: file.clone(), source })?;
    if bytes.len() < HEADER_BYTES || bytes[..4] != MAGIC {
        return Err(damaged("not a snapshot (bad magic or too short)"));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) || bytes[6..8] != [0, 0] {
        return Err(damaged("unsupported snapshot format version"));
    }
    let sequence = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let length = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if length != (bytes.len() - HEADER_BYTES) as u64 {
        return Err(damaged("length does not match the file size"));
    }
    let stored = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
    if crc32c::crc32c_append(crc32c::crc32c(&bytes[..24]), &bytes[HEADER_BYTES..]) != stored {
        return Err(damaged("checksum mismatch"));
    }
    Ok((sequence, version, bytes.split_off(HEADER_BYTES)))
}
