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
    /// the log then numbers new records from there. A directory with a
    /// snapshot and no segment yet (a node that joined a cluster from its
    /// snapshot) numbers them from the snapshot's cut.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::Receipt;
    use crate::wal::snapshot::write_snapshot;
    use crate::wal::storage::MemoryStorage;

    #[test]
    fn a_log_of_a_snapshot_alone_numbers_its_records_after_the_snapshot() {
        let storage = MemoryStorage::new();
        write_snapshot(&storage, 40, b"the state to record 40").unwrap();
        let wal = Wal::resume(Arc::new(storage.clone()), WalOptions::default()).unwrap();
        assert_eq!(wal.submit(b"next".to_vec()).unwrap(), Receipt(41));
        wal.wait_durable(Receipt(41)).unwrap();
        wal.close();
        let again = Wal::resume(Arc::new(storage), WalOptions::default()).unwrap();
        assert_eq!(again.last_assigned_sequence(), 41, "the segment it wrote starts at 41");
    }
}
