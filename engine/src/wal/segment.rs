//! Segment files: how they are named, found, and where appending resumes.
//! Shared by the reader (which finds the end of the data at recovery) and
//! the writer (which appends there), so neither reaches into the other.

use std::io;

use super::storage::Storage;

/// The file name of the segment whose first record is `first_sequence`.
pub fn segment_name(first_sequence: u64) -> String {
    format!("{first_sequence:020}.wal")
}

/// A segment file and the sequence of its first record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    pub first_sequence: u64,
    pub name: String,
}

/// Segment files, by first sequence.
pub fn segments(storage: &dyn Storage) -> io::Result<Vec<SegmentFile>> {
    let mut found: Vec<SegmentFile> = storage
        .list()?
        .into_iter()
        .filter_map(|name| {
            let first_sequence = name.strip_suffix(".wal")?.parse().ok()?;
            Some(SegmentFile { first_sequence, name })
        })
        .collect();
    found.sort_by_key(|s| s.first_sequence);
    Ok(found)
}

/// Where the writer appends: a segment and the offset of its end of data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AppendPoint {
    pub(crate) segment: String,
    pub(crate) offset: u64,
}
