//! Opening an existing log to append to it without an engine behind it: a
//! standby's copy of the replicated log, which takes records made
//! elsewhere, in order, and keeps them on its own disk until it takes over.

use std::sync::Arc;

use super::reader::{DiskRecords, ScanError, TornTail};
use super::storage::Storage;
use super::writer::Wal;
use super::{WalError, WalOptions};

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Wal(#[from] WalError),
}

impl Wal {
    /// Opens the log in `storage` after its last valid record (a torn last
    /// write cut off, as recovery does), checking every record on the way;
    /// the log then numbers new records from there.
    pub fn resume(storage: Arc<dyn Storage>, options: WalOptions) -> Result<Wal, ResumeError> {
        let mut disk = DiskRecords::new(&*storage);
        disk.read_kept(&mut |_, _| Ok(()))?;
        let outcome = disk.outcome();
        if let Some(torn) = &outcome.torn_tail {
            cut_torn_tail(&*storage, torn)?;
        }
        Ok(Wal::start(storage, options, outcome.last_sequence, outcome.append, None)?)
    }
}

/// Cuts a torn write off the end of the log: zeros, as a fresh segment reads.
pub(crate) fn cut_torn_tail(storage: &dyn Storage, torn: &TornTail) -> Result<(), WalError> {
    tracing::warn!(
        segment = %storage.describe(&torn.segment),
        offset = torn.offset,
        bytes = torn.bytes,
        "cutting a torn write off the end of the log ({}); it was never acknowledged",
        torn.reason
    );
    let mut file = storage.open_for_writing(&torn.segment, 0)?;
    file.write_at(torn.offset, &vec![0; torn.bytes as usize])?;
    file.sync_data()?;
    Ok(())
}
