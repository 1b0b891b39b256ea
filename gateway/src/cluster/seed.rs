//! Before a node serves as the primary, its log and the stream must agree.
//! Records on its disk past the stream's end (a single server's log
//! joining a cluster; a crash between the local sync and the stream's
//! answer) are appended first, each message sent until it lands, so the
//! stream stays the log's one history. A stream that holds records this
//! node does not, or a different record at the same place, stops the
//! start: that node's disk is not the history (as a standby, its copy
//! already moved such a log aside).

use std::path::Path;

use bytes::Bytes;
use guichet_engine::wal::frame::append_frame;
use guichet_engine::wal::reader::before_first_record;
use guichet_engine::wal::storage::DiskStorage;
use guichet_engine::wal::{DiskRecords, RecordSource};
use tokio::sync::mpsc;

use super::messages::{records_in, MessageRecords, HEADER_ROOM_BYTES};
use super::meters::ClusterMeters;
use super::shipper::append_until_landed;
use super::stream::{ClusterError, LogStream, StreamEnd};

/// Runs of local records read from disk before they are appended.
const RUNS_READ_AHEAD: usize = 4;

/// Checks this node's log against the stream and appends what the stream
/// lacks; answers where the stream then ends (where this node's log ends).
pub async fn seed_from_disk(stream: &LogStream, data_dir: &Path) -> Result<StreamEnd, ClusterError> {
    let mut end = stream.end().await?;
    let last_in_stream = match end.last_record {
        0 => None,
        last => Some(stream_record(stream, &end, last).await?),
    };
    let max_bytes = stream.max_payload_bytes().saturating_sub(HEADER_ROOM_BYTES);
    let (sender, mut runs) = mpsc::channel(RUNS_READ_AHEAD);
    let dir = data_dir.to_path_buf();
    let from = end.last_record;
    let reader = tokio::task::spawn_blocking(move || read_local(&dir, from, last_in_stream, max_bytes, sender));
    let meters = ClusterMeters::new();
    while let Some((records, frames)) = runs.recv().await {
        append_until_landed(stream, &mut end, records, frames, &meters).await.map_err(|why| {
            ClusterError::Diverged(format!("appending this node's records {}: {why}", records.header_value()))
        })?;
        tracing::warn!(
            "cluster: appended records {} from this node's log (synced here, not yet in the stream)",
            records.header_value()
        );
    }
    reader.await.map_err(|e| ClusterError::Stream(e.to_string()))??;
    Ok(end)
}

/// The stream's record `sequence` (inside its last message).
async fn stream_record(stream: &LogStream, end: &StreamEnd, sequence: u64) -> Result<(u64, Vec<u8>), ClusterError> {
    let (named, frames) = stream.message(end.message_sequence).await?;
    let records = records_in(named, &frames).map_err(ClusterError::Stream)?;
    let (_, payload) = records
        .into_iter()
        .find(|(s, _)| *s == sequence)
        .ok_or_else(|| ClusterError::Stream(format!("its last message does not hold record {sequence}")))?;
    Ok((sequence, payload.to_vec()))
}

/// Reads this node's records from the stream's last one on: checks that one
/// is the same here, and sends the ones after it in runs under `max_bytes`.
fn read_local(
    dir: &Path,
    stream_last: u64,
    last_in_stream: Option<(u64, Vec<u8>)>,
    max_bytes: usize,
    sender: mpsc::Sender<(MessageRecords, Bytes)>,
) -> Result<(), ClusterError> {
    let storage = DiskStorage::open(dir).map_err(|e| ClusterError::Diverged(format!("{}: {e}", dir.display())))?;
    let mut run = Run::default();
    // A log that starts past the stream's last record (a node that joined
    // from the cluster's snapshot) holds it in its snapshot, which covers
    // only replicated records.
    let log_starts_after = before_first_record(&storage).map_err(|e| ClusterError::DataDir(e.to_string()))?;
    if stream_last > 0 && log_starts_after > stream_last {
        return Err(ClusterError::Diverged(format!(
            "this node's log starts after record {log_starts_after}, past the stream's end at record {stream_last}"
        )));
    }
    let in_snapshot = stream_last > 0 && log_starts_after == stream_last;
    let after = if in_snapshot { log_starts_after } else { stream_last.saturating_sub(1) };
    let mut local_last = after;
    let mut checked = last_in_stream.is_none() || in_snapshot;
    let mut visit = |sequence: u64, payload: &[u8]| -> Result<(), String> {
        local_last = sequence;
        if let Some((expected, stream_payload)) = &last_in_stream {
            if sequence == *expected {
                checked = true;
                return if payload == stream_payload.as_slice() {
                    Ok(())
                } else {
                    Err(format!("record {sequence} differs between this node's log and the stream"))
                };
            }
        }
        run.push(sequence, payload, max_bytes, &sender)
    };
    DiskRecords::new(&storage).read_after(after, &mut visit).map_err(|e| ClusterError::Diverged(e.to_string()))?;
    if !checked || local_last < stream_last {
        return Err(ClusterError::Diverged(format!(
            "the stream holds records up to {stream_last}, this node's log only up to {local_last}: start this node \
             with the data directory that wrote the stream"
        )));
    }
    run.flush(&sender).map_err(ClusterError::Stream)
}

/// Records framed for one message.
#[derive(Default)]
struct Run {
    records: Option<MessageRecords>,
    frames: Vec<u8>,
}

impl Run {
    fn push(
        &mut self,
        sequence: u64,
        payload: &[u8],
        max_bytes: usize,
        sender: &mpsc::Sender<(MessageRecords, Bytes)>,
    ) -> Result<(), String> {
        let before = self.frames.len();
        let first = self.records.map_or(sequence, |r| r.first);
        append_frame(&mut self.frames, sequence, first, payload);
        if self.frames.len() > max_bytes && before > 0 {
            let this_one = self.frames.split_off(before);
            self.flush(sender)?;
            self.frames = this_one;
        }
        if self.frames.len() > max_bytes {
            return Err(format!("record {sequence} is over the NATS servers' max_payload of {max_bytes}"));
        }
        let records = self.records.get_or_insert(MessageRecords { first: sequence, last: sequence });
        records.last = sequence;
        Ok(())
    }

    fn flush(&mut self, sender: &mpsc::Sender<(MessageRecords, Bytes)>) -> Result<(), String> {
        let Some(records) = self.records.take() else { return Ok(()) };
        let frames = Bytes::from(std::mem::take(&mut self.frames));
        sender.blocking_send((records, frames)).map_err(|_| "the append of local records stopped".to_owned())
    }
}
