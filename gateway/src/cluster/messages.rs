//! How records travel in the stream: each message carries consecutive
//! records as whole frames (the bytes the local log holds, each with its
//! CRC-32C), and a header naming the first and last of them, so a reader
//! checks the sequence before it applies anything.

use guichet_engine::wal::frame::read_frame;

/// `first-last`: the records a message carries.
pub const RECORDS_HEADER: &str = "Guichet-Records";
/// The node that appended the message.
pub const NODE_HEADER: &str = "Guichet-Node";
/// The format of the frames inside (the local log's frame version).
pub const FORMAT_HEADER: &str = "Guichet-Format";
/// The frame format this build writes and reads.
pub const FORMAT_VERSION: &str = "1";

/// Bytes kept free in each message for its headers, under the servers'
/// payload limit.
pub const HEADER_ROOM_BYTES: usize = 1024;

/// The records one message carries, by sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRecords {
    pub first: u64,
    pub last: u64,
}

impl MessageRecords {
    pub fn header_value(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }

    pub fn parse(value: &str) -> Result<MessageRecords, String> {
        let bad = || format!("{RECORDS_HEADER} {value:?} is not FIRST-LAST");
        let (first, last) = value.split_once('-').ok_or_else(bad)?;
        let first = first.parse().map_err(|_| bad())?;
        let last = last.parse().map_err(|_| bad())?;
        if first == 0 || last < first {
            return Err(bad());
        }
        Ok(MessageRecords { first, last })
    }
}

/// Splits framed records into runs of whole frames of at most `max_bytes`
/// each: (the records, the byte range). A frame longer than `max_bytes` is
/// an error naming it: it can never be sent.
pub fn cut(frames: &[u8], max_bytes: usize) -> Result<Vec<(MessageRecords, std::ops::Range<usize>)>, String> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    let mut current: Option<(MessageRecords, std::ops::Range<usize>)> = None;
    while offset < frames.len() {
        let (frame, length) =
            read_frame(&frames[offset..]).map_err(|e| format!("a synced batch does not read back: {e}"))?;
        if length > max_bytes {
            return Err(format!(
                "record {} takes {length} bytes, over the NATS servers' max_payload of {max_bytes}: raise max_payload",
                frame.sequence
            ));
        }
        match &mut current {
            Some((records, range)) if range.len() + length <= max_bytes => {
                records.last = frame.sequence;
                range.end += length;
            }
            _ => {
                pieces.extend(current.take());
                let records = MessageRecords { first: frame.sequence, last: frame.sequence };
                current = Some((records, offset..offset + length));
            }
        }
        offset += length;
    }
    pieces.extend(current);
    Ok(pieces)
}

/// The records in a message's payload, each checked (CRC, sequence order)
/// against the records its header names: (sequence, payload).
pub fn records_in(named: MessageRecords, payload: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut expected = named.first;
    while offset < payload.len() {
        let (frame, length) = read_frame(&payload[offset..])
            .map_err(|e| format!("records {}: damaged at byte {offset}: {e}", named.header_value()))?;
        if frame.sequence != expected || frame.sequence > named.last {
            return Err(format!(
                "records {}: found record {} where {expected} was due",
                named.header_value(),
                frame.sequence
            ));
        }
        records.push((frame.sequence, frame.payload));
        expected += 1;
        offset += length;
    }
    if expected != named.last + 1 {
        return Err(format!("records {}: ends at record {}", named.header_value(), expected - 1));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use guichet_engine::wal::frame::append_frame;

    fn frames(sequences: std::ops::RangeInclusive<u64>, payload_bytes: usize) -> Vec<u8> {
        let mut buffer = Vec::new();
        let first = *sequences.start();
        for sequence in sequences {
            append_frame(&mut buffer, sequence, first, &vec![sequence as u8; payload_bytes]);
        }
        buffer
    }

    #[test]
    fn a_batch_is_cut_at_frame_boundaries_under_the_limit_and_reads_back_whole() {
        let batch = frames(5..=14, 100);
        let frame_bytes = batch.len() / 10;
        let pieces = cut(&batch, 3 * frame_bytes + 1).unwrap();
        let named: Vec<_> = pieces.iter().map(|(r, _)| (r.first, r.last)).collect();
        assert_eq!(named, vec![(5, 7), (8, 10), (11, 13), (14, 14)]);
        let mut seen = Vec::new();
        for (records, range) in pieces {
            for (sequence, payload) in records_in(records, &batch[range]).unwrap() {
                assert_eq!(payload, vec![sequence as u8; 100]);
                seen.push(sequence);
            }
        }
        assert_eq!(seen, (5..=14).collect::<Vec<_>>());
    }

    #[test]
    fn a_frame_over_the_limit_is_named() {
        let error = cut(&frames(1..=1, 2000), 1000).unwrap_err();
        assert!(error.contains("record 1") && error.contains("max_payload"), "{error}");
    }

    #[test]
    fn a_message_whose_records_do_not_match_its_header_is_refused() {
        let batch = frames(5..=7, 10);
        let short = records_in(MessageRecords { first: 5, last: 8 }, &batch).unwrap_err();
        assert!(short.contains("ends at record 7"), "{short}");
        let shifted = records_in(MessageRecords { first: 4, last: 7 }, &batch).unwrap_err();
        assert!(shifted.contains("found record 5 where 4 was due"), "{shifted}");
        let mut damaged = batch.clone();
        damaged[40] ^= 1;
        assert!(records_in(MessageRecords { first: 5, last: 7 }, &damaged).unwrap_err().contains("damaged"));
        assert!(MessageRecords::parse("9-3").is_err() && MessageRecords::parse("x").is_err());
        assert_eq!(MessageRecords::parse("3-9").unwrap(), MessageRecords { first: 3, last: 9 });
    }
}
