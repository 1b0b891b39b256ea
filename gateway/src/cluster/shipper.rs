//! The engine's replication in cluster mode. The log writer hands each
//! synced batch to a bounded channel; one task takes whatever has queued,
//! appends it to the stream (cut under the payload limit, one message at
//! a time, each fenced on the one before), and answers the batches. While
//! the stream does not answer (no quorum), the same message is sent again:
//! changes wait, nothing is acknowledged. A refused append fails the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use guichet_engine::wal::{ReplicaAnswer, Replication, SyncedBatch};
use tokio::sync::mpsc;

use super::messages::{cut, MessageRecords, HEADER_ROOM_BYTES};
use super::meters::ClusterMeters;
use super::stream::{AppendError, ClusterError, LogStream, StreamEnd};

/// Synced batches queued for the stream before the log writer waits.
pub const MAX_BATCHES_WAITING: usize = 1024;
/// Batches taken together into one round of appends.
const MAX_BATCHES_PER_ROUND: usize = 256;
/// The pause before an unanswered append is sent again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

type Shipped = (SyncedBatch, ReplicaAnswer);

/// The log writer's side: a bounded channel to [`ship`].
pub struct ChannelReplication {
    sender: mpsc::Sender<Shipped>,
}

impl ChannelReplication {
    pub fn new() -> (Arc<ChannelReplication>, mpsc::Receiver<Shipped>) {
        let (sender, receiver) = mpsc::channel(MAX_BATCHES_WAITING);
        (Arc::new(ChannelReplication { sender }), receiver)
    }
}

impl Replication for ChannelReplication {
    fn ship(&self, batch: SyncedBatch, answer: ReplicaAnswer) {
        // The writer is a thread of its own, never a runtime's: blocking here
        // pushes back on the log's queue, as the trait allows.
        if let Err(refused) = self.sender.blocking_send((batch, answer)) {
            let (_, answer) = refused.0;
            answer.refuse("the cluster's shipper has stopped".into());
        }
    }
}

/// Appends every batch the writer ships, in order, from `end` on, one
/// message at a time: a second message sent before the first is answered
/// expects the sequence the first will take, and if a node that took over
/// appended there first, it would land behind that node's message (several
/// in flight were measured and dropped: docs/performance.md). Runs until
/// the writer's side is dropped. After a refusal every later batch
/// is refused too: a fenced node acknowledges nothing more.
pub async fn ship(stream: LogStream, mut receiver: mpsc::Receiver<Shipped>, mut end: StreamEnd, meters: ClusterMeters) {
    meters.replicated_sequence.set(end.last_record as i64);
    let max_bytes = stream.max_payload_bytes().saturating_sub(HEADER_ROOM_BYTES);
    let mut refusal: Option<String> = None;
    let mut round = Vec::with_capacity(MAX_BATCHES_PER_ROUND);
    while receiver.recv_many(&mut round, MAX_BATCHES_PER_ROUND).await > 0 {
        if refusal.is_none() {
            if let Err(why) = append_round(&stream, &mut end, &round, max_bytes, &meters).await {
                tracing::error!("cluster: this node stops acknowledging changes and exits: {why}");
                meters.fenced.set(1);
                refusal = Some(why);
                tokio::spawn(exit_when_answered());
            }
        }
        for (_, answer) in round.drain(..) {
            match &refusal {
                None => answer.confirm(),
                Some(why) => answer.refuse(why.clone()),
            }
        }
    }
}

/// A refused node stops: after a moment for the refusals (503) to reach
/// their clients, it exits, and comes back (its supervisor starts it) as a
/// standby, which moves the records the stream refused aside.
async fn exit_when_answered() {
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::process::exit(super::DEPOSED_EXIT_STATUS);
}

/// Appends a round of consecutive batches; `end` follows what landed.
async fn append_round(
    stream: &LogStream,
    end: &mut StreamEnd,
    round: &[Shipped],
    max_bytes: usize,
    meters: &ClusterMeters,
) -> Result<(), String> {
    let first = round.first().map_or(0, |(batch, _)| batch.first_sequence);
    if first != end.last_record + 1 {
        return Err(format!("the stream ends at record {} but the next batch starts at {first}", end.last_record));
    }
    let mut frames = Vec::with_capacity(round.iter().map(|(b, _)| b.frames.len()).sum());
    for (batch, _) in round {
        frames.extend_from_slice(&batch.frames);
    }
    let frames = Bytes::from(frames);
    for (records, range) in cut(&frames, max_bytes)? {
        let started = Instant::now();
        append_until_landed(stream, end, records, frames.slice(range), meters).await?;
        meters.appends.inc();
        meters.append_last_seconds.set(started.elapsed().as_secs_f64());
        meters.replicated_sequence.set(end.last_record as i64);
    }
    Ok(())
}

/// Sends one message until the stream takes it, or refuses it for good.
pub(super) async fn append_until_landed(
    stream: &LogStream,
    end: &mut StreamEnd,
    records: MessageRecords,
    frames: Bytes,
    meters: &ClusterMeters,
) -> Result<(), String> {
    let mut attempts: u64 = 0;
    loop {
        attempts += 1;
        match stream.append(records, frames.clone(), end.message_sequence).await {
            Ok(sequence) => {
                *end = StreamEnd { message_sequence: sequence, last_record: records.last };
                if attempts > 1 {
                    tracing::info!(attempts, "cluster: the stream took records {} again", records.header_value());
                }
                return Ok(());
            }
            Err(AppendError::Unavailable(why)) => {
                meters.append_retries.inc();
                if attempts == 1 || attempts % 25 == 0 {
                    tracing::warn!(attempts, "cluster: records {} wait for the stream: {why}", records.header_value());
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(AppendError::Fenced(why)) => {
                // A resend whose first try landed reads as fenced when the
                // duplicate window has no record of it: look before deciding,
                // and send again if the stream cannot be read just now.
                match landed_already(stream, end, records, &frames).await {
                    Ok(true) => return Ok(()),
                    Ok(false) => return Err(format!("fenced at stream message {}: {why}", end.message_sequence)),
                    Err(unread) => {
                        tracing::warn!(
                            "cluster: records {} refused; the stream's next message unread: {unread}",
                            records.header_value()
                        );
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
            Err(AppendError::Refused(why)) => return Err(why),
        }
    }
}

/// Whether the message right after `end` is this very one (an error: the
/// stream could not be read).
async fn landed_already(
    stream: &LogStream,
    end: &mut StreamEnd,
    records: MessageRecords,
    frames: &Bytes,
) -> Result<bool, ClusterError> {
    let next = end.message_sequence + 1;
    let now = stream.end().await?;
    if now.message_sequence < next {
        return Err(ClusterError::Stream(format!("the stream ends at message {}", now.message_sequence)));
    }
    let (named, payload) = stream.message(next).await?;
    if named == records && payload == *frames {
        *end = StreamEnd { message_sequence: next, last_record: records.last };
        return Ok(true);
    }
    Ok(false)
}
