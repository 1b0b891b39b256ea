//! Reading the log back: every segment in order, every record checked.
//!
//! The writer syncs each batch before it writes the next, and never splits a
//! batch across segments, so a crash can tear only the last batch of the last
//! segment. Damage there is cut off when every valid record after it belongs
//! to the same batch (its `batch_first` is not past the damaged record): a
//! torn write. Damage anywhere else, or followed by a record of a later batch,
//! refuses recovery, naming the file and the offset.

use std::io;

use super::frame::{read_frame, FrameError, HEADER_BYTES, MAGIC};
use super::segment::AppendPoint;
pub use super::segment::{segments, SegmentFile};
use super::storage::Storage;

/// The sequence just before the oldest record still in the log (older
/// segments are removed once a snapshot covers them): where a full scan starts.
pub fn before_first_record(storage: &dyn Storage) -> io::Result<u64> {
    Ok(segments(storage)?.first().map_or(0, |s| s.first_sequence.saturating_sub(1)))
}

/// A torn write cut off the end of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: String,
    pub offset: u64,
    /// Bytes from `offset` to the last non-zero byte.
    pub bytes: u64,
    pub reason: FrameError,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// The last valid record's sequence (0 for an empty log).
    pub last_sequence: u64,
    /// Records passed to the visitor (those after `after_sequence`).
    pub records_visited: u64,
    pub torn_tail: Option<TornTail>,
    pub(crate) append: Option<AppendPoint>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "{file}: record at offset {offset} is damaged ({reason}) and valid records follow it, so it is not a torn \
         write; refusing to start. Inspect the log with `guichet wal dump`, or restore the data directory from a backup"
    )]
    Corrupt { file: String, offset: u64, reason: FrameError },
    #[error("{file}: record at offset {offset} has sequence {found}, expected {expected}: records are missing")]
    OutOfSequence { file: String, offset: u64, found: u64, expected: u64 },
    #[error("{file}: record {sequence} at offset {offset} cannot be applied: {reason}")]
    Record { file: String, offset: u64, sequence: u64, reason: String },
    #[error("reading {file}: {source}")]
    Io { file: String, source: io::Error },
}

/// What a source hands each record to, with its sequence; an `Err` (why)
/// refuses the record and stops the reading.
pub type RecordVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), String> + 'a;

/// Where replay takes its records from: the segments on disk
/// ([`DiskRecords`]), or another holder of the same log (a replicated
/// stream). A source states each record's log sequence; replay checks the
/// order (no gap, nothing it already holds) and applies each record at it.
pub trait RecordSource {
    /// Hands `visit` every record after `after_sequence`, in log order, each
    /// with its sequence; stops at the first record `visit` refuses.
    fn read_after(&mut self, after_sequence: u64, visit: &mut RecordVisitor<'_>) -> Result<(), ScanError>;
}

/// The log's segments on disk as a record source. The scan also finds what
/// the writer needs to carry on (a torn tail to cut, where to append).
pub struct DiskRecords<'a> {
    storage: &'a dyn Storage,
    outcome: ScanOutcome,
}

impl<'a> DiskRecords<'a> {
    pub fn new(storage: &'a dyn Storage) -> Self {
        Self { storage, outcome: ScanOutcome::default() }
    }

    /// Hands `visit` every record the segments on disk hold: from the
    /// oldest segment kept (those a snapshot covers are pruned) on.
    pub fn read_kept(&mut self, visit: &mut RecordVisitor<'_>) -> Result<(), ScanError> {
        let oldest =
            segments(self.storage).map_err(|source| ScanError::Io { file: self.storage.describe(""), source })?;
        let after = oldest.first().map_or(0, |segment| segment.first_sequence.saturating_sub(1));
        self.read_after(after, visit)
    }

    /// What the last read found at the end of the log.
    pub fn outcome(self) -> ScanOutcome {
        self.outcome
    }
}

impl RecordSource for DiskRecords<'_> {
    fn read_after(&mut self, after_sequence: u64, visit: &mut RecordVisitor<'_>) -> Result<(), ScanError> {
        self.outcome = scan(self.storage, after_sequence, visit)?;
        Ok(())
    }
}

/// Reads every record after `after_sequence` in order and hands it to `visit`.
pub fn scan(
    storage: &dyn Storage,
    after_sequence: u64,
    mut visit: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<ScanOutcome, ScanError> {
    let all = segments(storage).map_err(|source| ScanError::Io { file: storage.describe(""), source })?;
    // Segments whose successor starts at or before the first record we need are covered already.
    let needed: Vec<&SegmentFile> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| all.get(i + 1).is_none_or(|next| next.first_sequence > after_sequence + 1))
        .map(|(_, s)| s)
        .collect();
    let mut outcome = ScanOutcome { last_sequence: after_sequence, ..ScanOutcome::default() };
    let mut previous: Option<u64> = None;
    for (index, segment) in needed.iter().enumerate() {
        let is_last = index + 1 == needed.len();
        let file = storage.describe(&segment.name);
        let bytes = storage.read(&segment.name).map_err(|source| ScanError::Io { file: file.clone(), source })?;
        let mut offset = 0usize;
        loop {
            match read_frame(&bytes[offset..]) {
                Ok((frame, length)) => {
                    let expected = previous.map_or(frame.sequence.min(after_sequence + 1), |p| p + 1);
                    if frame.sequence != expected {
                        let (found, offset) = (frame.sequence, offset as u64);
                        return Err(ScanError::OutOfSequence { file, offset, found, expected });
                    }
                    if frame.sequence > after_sequence {
                        visit(frame.sequence, frame.payload).map_err(|reason| ScanError::Record {
                            file: file.clone(),
                            offset: offset as u64,
                            sequence: frame.sequence,
                            reason,
                        })?;
                        outcome.records_visited += 1;
                    }
                    previous = Some(frame.sequence);
                    offset += length;
                }
                Err(FrameError::End) if all_zero(&bytes[offset..]) => break,
                Err(reason)
                    if is_last && !later_batch_follows(&bytes[offset..], damaged_sequence(previous, segment)) =>
                {
                    let bytes_to_cut = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1 - offset);
                    let torn = TornTail {
                        segment: segment.name.clone(),
                        offset: offset as u64,
                        bytes: bytes_to_cut as u64,
                        reason: zeroed_if_end(reason),
                    };
                    outcome.torn_tail = Some(torn);
                    break;
                }
                Err(reason) => {
                    return Err(ScanError::Corrupt { file, offset: offset as u64, reason: zeroed_if_end(reason) })
                }
            }
        }
        if is_last {
            outcome.append = Some(AppendPoint { segment: segment.name.clone(), offset: offset as u64 });
        }
    }
    outcome.last_sequence = previous.unwrap_or(after_sequence).max(after_sequence);
    Ok(outcome)
}

/// Whether every byte is zero: the unused rest of a preallocated segment
/// (most of a 64 MiB file) is checked at every start, so the check folds
/// blocks with OR, which compiles to wide vector operations, rather than
/// stopping byte by byte.
fn all_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(4096);
    let blocks_zero = blocks.all(|block| block.iter().fold(0u8, |any, &b| any | b) == 0);
    blocks_zero && blocks.remainder().iter().all(|&b| b == 0)
}

/// The sequence a damaged record would have had: the one after the last good
/// record, or the segment's first when none of it was read yet.
fn damaged_sequence(previous: Option<u64>, segment: &SegmentFile) -> u64 {
    previous.map_or(segment.first_sequence, |p| p + 1)
}

/// Zeros where a header should be, with data after them, are damage, not the end.
fn zeroed_if_end(reason: FrameError) -> FrameError {
    if reason == FrameError::End {
        FrameError::ZeroedHeader
    } else {
        reason
    }
}

/// Whether a valid record of a batch later than the damaged record's lies
/// past the damage at the start of `bytes`. `damaged_sequence` is the sequence
/// the damaged record would have had; its batch started at or before it.
fn later_batch_follows(bytes: &[u8], damaged_sequence: u64) -> bool {
    let mut position = 1;
    while position + HEADER_BYTES <= bytes.len() {
        if bytes[position..position + 4] != MAGIC {
            position += 1;
            continue;
        }
        match read_frame(&bytes[position..]) {
            Ok((frame, _)) if frame.batch_first > damaged_sequence => return true,
            Ok((_, length)) => position += length,
            Err(_) => position += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::frame::append_frame;
    use crate::wal::segment_name;
    use crate::wal::storage::MemoryStorage;

    /// Writes batches of `(sequence, payload)` into one segment; returns each record's offset.
    fn write_segment(storage: &MemoryStorage, batches: &[&[u64]]) -> Vec<usize> {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for batch in batches {
            for &sequence in *batch {
                offsets.push(bytes.len());
                append_frame(&mut bytes, sequence, batch[0], format!("record {sequence}").as_bytes());
            }
        }
        bytes.resize(bytes.len() + 256, 0);
        let name = segment_name(batches[0][0]);
        storage.write_atomically(&name, &bytes).unwrap();
        offsets
    }

    fn scan_all(storage: &MemoryStorage) -> (Result<ScanOutcome, ScanError>, Vec<u64>) {
        let mut seen = Vec::new();
        let outcome = scan(storage, 0, |sequence, _| {
            seen.push(sequence);
            Ok(())
        });
        (outcome, seen)
    }

    #[test]
    fn damage_inside_the_last_batch_is_a_torn_write() {
        let storage = MemoryStorage::new();
        let offsets = write_segment(&storage, &[&[1, 2, 3], &[4, 5, 6]]);
        // Record 5 lost, record 6 (same batch) made it: pages of one write land in any order.
        storage.flip_bit(&segment_name(1), offsets[4] + 35, 0);
        let (outcome, seen) = scan_all(&storage);
        let outcome = outcome.unwrap();
        assert_eq!(seen, vec![1, 2, 3, 4]);
        let torn = outcome.torn_tail.unwrap();
        assert_eq!(torn.offset, offsets[4] as u64);
        assert_eq!(outcome.append.unwrap().offset, offsets[4] as u64);
    }

    #[test]
    fn damage_to_a_synced_batch_refuses_even_at_its_last_record() {
        for damaged in [1, 2] {
            let storage = MemoryStorage::new();
            let offsets = write_segment(&storage, &[&[1, 2, 3], &[4, 5]]);
            storage.flip_bit(&segment_name(1), offsets[damaged] + 3, 1);
            match scan_all(&storage).0 {
                Err(ScanError::Corrupt { offset, .. }) => assert_eq!(offset, offsets[damaged] as u64),
                other => panic!("record {} damaged: {other:?}", damaged + 1),
            }
        }
    }

    #[test]
    fn damage_in_an_earlier_segment_refuses() {
        let storage = MemoryStorage::new();
        let offsets = write_segment(&storage, &[&[1, 2]]);
        write_segment(&storage, &[&[3, 4]]);
        storage.flip_bit(&segment_name(1), offsets[1] + 33, 2);
        assert!(matches!(scan_all(&storage).0, Err(ScanError::Corrupt { .. })));
    }

    #[test]
    fn a_zeroed_header_inside_the_last_batch_is_a_torn_write() {
        let storage = MemoryStorage::new();
        let offsets = write_segment(&storage, &[&[1, 2], &[3, 4]]);
        let mut bytes = storage.contents(&segment_name(1)).unwrap();
        bytes[offsets[2]..offsets[2] + 32].fill(0); // record 3's header page never reached the disk
        storage.write_atomically(&segment_name(1), &bytes).unwrap();
        let (outcome, seen) = scan_all(&storage);
        let torn = outcome.unwrap().torn_tail.expect("cut, not taken as the end");
        assert_eq!((seen, torn.offset, torn.reason), (vec![1, 2], offsets[2] as u64, FrameError::ZeroedHeader));
    }

    #[test]
    fn a_zeroed_header_in_synced_data_refuses() {
        let storage = MemoryStorage::new();
        let offsets = write_segment(&storage, &[&[1, 2], &[3, 4]]);
        let mut bytes = storage.contents(&segment_name(1)).unwrap();
        bytes[offsets[1]..offsets[1] + 32].fill(0);
        storage.write_atomically(&segment_name(1), &bytes).unwrap();
        assert!(matches!(scan_all(&storage).0, Err(ScanError::Corrupt { reason: FrameError::ZeroedHeader, .. })));
    }

    #[test]
    fn a_torn_first_batch_of_a_segment_is_cut_even_when_earlier_segments_are_skipped() {
        let storage = MemoryStorage::new();
        write_segment(&storage, &[&[1, 2, 3]]);
        let offsets = write_segment(&storage, &[&[4, 5, 6]]);
        storage.flip_bit(&segment_name(4), offsets[0] + 33, 0);
        let outcome = scan(&storage, 3, |_, _| Ok(())).expect("a torn write, not corruption");
        assert_eq!(outcome.torn_tail.map(|t| t.offset), Some(0));
    }

    #[test]
    fn a_missing_record_is_reported() {
        let storage = MemoryStorage::new();
        write_segment(&storage, &[&[1, 2]]);
        write_segment(&storage, &[&[4, 5]]);
        match scan_all(&storage).0 {
            Err(ScanError::OutOfSequence { found, expected, .. }) => assert_eq!((found, expected), (4, 3)),
            other => panic!("{other:?}"),
        }
    }
}
