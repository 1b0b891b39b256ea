//! How one record sits on disk: a 32-byte header, then the payload.
//!
//! ```text
//! offset  size  field
//!      0     4  magic        "GCH1"
//!      4     2  version      FORMAT_VERSION
//!      6     2  reserved     0
//!      8     4  length       payload bytes
//!     12     4  crc32c       of bytes 0..12, 16..32 and the payload
//!     16     8  sequence     this record's log position
//!     24     8  batch_first  sequence of the first record of its batch
//!     32     …  payload      bincode (see `codec`)
//! ```
//! All integers little-endian. Preallocated space reads as zeros, and a zero
//! magic marks the end of a segment's data. `batch_first` lets recovery tell a
//! torn last batch (cut it off) from damage to a batch that had been synced
//! (refuse to start): see `reader`.

pub const MAGIC: [u8; 4] = *b"GCH1";
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_BYTES: usize = 32;
/// The largest payload one record may carry.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// A record read back from a segment.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub sequence: u64,
    pub batch_first: u64,
    pub payload: &'a [u8],
}

/// What was found at an offset instead of a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Zeros: the end of the written data (the rest is preallocated).
    #[error("end of data")]
    End,
    /// A header of zeros with data after it: a write that never reached the disk, or damage.
    #[error("a zeroed record header")]
    ZeroedHeader,
    #[error("the record is cut short")]
    Truncated,
    #[error("bad magic bytes")]
    BadMagic,
    #[error("unsupported format version {0}")]
    BadVersion(u16),
    #[error("reserved header bytes are not zero")]
    BadReserved,
    #[error("record length {0} is over the limit")]
    TooLong(u32),
    #[error("checksum mismatch")]
    BadChecksum,
}

/// Appends one framed record to `out`.
pub fn append_frame(out: &mut Vec<u8>, sequence: u64, batch_first: u64, payload: &[u8]) {
    assert!(payload.len() <= MAX_PAYLOAD_BYTES, "record payload of {} bytes is over the limit", payload.len());
    debug_assert!(batch_first <= sequence);
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&batch_first.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = checksum(&out[start..start + HEADER_BYTES], payload);
    out[start + 12..start + 16].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the record at the start of `bytes`; returns it and its framed size.
pub fn read_frame(bytes: &[u8]) -> Result<(Frame<'_>, usize), FrameError> {
    if bytes.len() < HEADER_BYTES {
        return Err(if bytes.iter().all(|&b| b == 0) { FrameError::End } else { FrameError::Truncated });
    }
    let header = &bytes[..HEADER_BYTES];
    if header[..4] != MAGIC {
        return Err(if header.iter().all(|&b| b == 0) { FrameError::End } else { FrameError::BadMagic });
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != FORMAT_VERSION {
        return Err(FrameError::BadVersion(version));
    }
    if header[6..8] != [0, 0] {
        return Err(FrameError::BadReserved);
    }
    let length = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if length as usize > MAX_PAYLOAD_BYTES {
        return Err(FrameError::TooLong(length));
    }
    let end = HEADER_BYTES + length as usize;
    let payload = bytes.get(HEADER_BYTES..end).ok_or(FrameError::Truncated)?;
    let stored = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
    if checksum(header, payload) != stored {
        return Err(FrameError::BadChecksum);
    }
    let sequence = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    let batch_first = u64::from_le_bytes(header[24..32].try_into().expect("8 bytes"));
    Ok((Frame { sequence, batch_first, payload }, end))
}

/// CRC-32C of the header (its checksum field excluded) and the payload.
fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[..12]);
    let crc = crc32c::crc32c_append(crc, &header[16..HEADER_BYTES]);
    crc32c::crc32c_append(crc, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut bytes = Vec::new();
        append_frame(&mut bytes, 7, 7, b"hello");
        append_frame(&mut bytes, 8, 7, b"");
        let (first, used) = read_frame(&bytes).unwrap();
        assert_eq!(first, Frame { sequence: 7, batch_first: 7, payload: b"hello" });
        let (second, _) = read_frame(&bytes[used..]).unwrap();
        assert_eq!(second, Frame { sequence: 8, batch_first: 7, payload: b"" });
    }

    #[test]
    fn every_damage_is_detected() {
        let mut bytes = Vec::new();
        append_frame(&mut bytes, 7, 5, b"hello world");
        for cut in 1..bytes.len() {
            assert_eq!(read_frame(&bytes[..cut]).unwrap_err(), FrameError::Truncated, "cut at {cut}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(read_frame(&flipped).is_err(), "flip of bit {bit} went unnoticed");
        }
        assert_eq!(read_frame(&[0; 40]).unwrap_err(), FrameError::End);
    }
}
