//! The engine's replication in cluster mode. The log writer hands each
//! synced batch to a bounded channel; one task takes whatever has queued,
//! appends it to the stream (cut under the payload limit, a few messages
//! in flight, each fenced on the one before), and answers the batches as
//! their messages land, in order. While the stream does not answer (no
//! quorum), the same message is sent again: changes wait, nothing is
//! acknowledged. A refused append fails the log.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use guichet_engine::wal::{ReplicaAnswer, Replication, SyncedBatch};
use tokio::sync::mpsc;

use super::messages::{cut, MessageRecords, HEADER_ROOM_BYTES};
use super::meters::ClusterMeters;
use super::stream::{AppendError, ClusterError, Landing, LogStream, StreamEnd};

/// Synced batches queued for the stream before the log writer waits.
pub const MAX_BATCHES_WAITING: usize = 1024;
/// Batches taken together into one round of appends.
const MAX_BATCHES_PER_ROUND: usize = 256;
/// Appends sent to the stream before the first of them is answered: one.
/// A second sent behind it expects the sequence the first will take, and
/// if another writer's message took that place instead (this node fenced),
/// the second lands after it: a record of this node's on top of another
/// node's history. Naming the message it must follow
/// (`Nats-Expected-Last-Msg-Id`) refuses it, but left the R3 stream
/// answering "temporarily unavailable" for tens of seconds in our tests
/// (nats-server 2.15.1). With 16 in flight the replicated rate was 1.6x this
/// one's (docs/performance.md): the price of fencing that holds.
pub const MAX_APPENDS_IN_FLIGHT: usize = 1;
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

/// A message sent to the stream, not yet answered.
struct InFlight {
    records: MessageRecords,
    frames: Bytes,
    /// The batches it completes: its round's, on the round's last message.
    answers: Vec<ReplicaAnswer>,
    sent_at: Instant,
}

/// The appends sent and not yet answered, oldest first, with their answers
/// in the same order.
#[derive(Default)]
struct Pipeline {
    sent: VecDeque<InFlight>,
    landings: FuturesOrdered<Landing>,
}

/// Appends every batch the writer ships, in order, from `end` on; runs
/// until the writer's side is dropped. Up to [`MAX_APPENDS_IN_FLIGHT`]
/// messages are sent before the first is answered, each fenced on the
/// sequence before it. Should one not land as sent, everything in flight
/// is settled again one message at a time. After a refusal every later
/// batch is refused too: a fenced node acknowledges nothing more.
pub async fn ship(stream: LogStream, mut receiver: mpsc::Receiver<Shipped>, mut end: StreamEnd, meters: ClusterMeters) {
    meters.replicated_sequence.set(end.last_record as i64);
    let max_bytes = stream.max_payload_bytes().saturating_sub(HEADER_ROOM_BYTES);
    let mut refusal: Option<String> = None;
    let mut pipeline = Pipeline::default();
    let mut round = Vec::with_capacity(MAX_BATCHES_PER_ROUND);
    let mut writer_gone = false;
    while !(writer_gone && pipeline.sent.is_empty()) {
        let room = !writer_gone && pipeline.sent.len() < MAX_APPENDS_IN_FLIGHT;
        tokio::select! {
            biased;
            Some(landed) = pipeline.landings.next() => {
                let Some(first) = pipeline.sent.pop_front() else { continue };
                match landed {
                    Ok(sequence) if sequence == end.message_sequence + 1 => {
                        end = StreamEnd { message_sequence: sequence, last_record: first.records.last };
                        landed_as_sent(first, &end, &meters);
                    }
                    outcome => {
                        if let Err(why) = &outcome {
                            tracing::info!("cluster: records {} not answered as sent: {why}", first.records.header_value());
                        }
                        if let Err(why) = settle_one_by_one(&stream, &mut end, first, &mut pipeline, &meters).await {
                            refusal = Some(refuse_for_good(why, &meters));
                        }
                    }
                }
            }
            received = receiver.recv_many(&mut round, MAX_BATCHES_PER_ROUND), if room => {
                if received == 0 {
                    writer_gone = true;
                    continue;
                }
                if let Some(why) = &refusal {
                    round.drain(..).for_each(|(_, answer)| answer.refuse(why.clone()));
                    continue;
                }
                if let Err(why) = send_round(&stream, &end, &mut round, max_bytes, &mut pipeline).await {
                    refusal = Some(refuse_for_good(why, &meters));
                }
            }
        }
    }
}

/// Says why this node stops acknowledging, and has it exit.
fn refuse_for_good(why: String, meters: &ClusterMeters) -> String {
    tracing::error!("cluster: this node stops acknowledging changes and exits: {why}");
    meters.fenced.set(1);
    tokio::spawn(exit_when_answered());
    why
}

/// A refused node stops: after a moment for the refusals (503) to reach
/// their clients, it exits, and comes back (its supervisor starts it) as a
/// standby, which moves the records the stream refused aside.
async fn exit_when_answered() {
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::process::exit(super::DEPOSED_EXIT_STATUS);
}

/// Sends a round of consecutive batches, cut into messages, after what is
/// in flight; the round's batches are answered when its last message lands.
async fn send_round(
    stream: &LogStream,
    end: &StreamEnd,
    round: &mut Vec<Shipped>,
    max_bytes: usize,
    pipeline: &mut Pipeline,
) -> Result<(), String> {
    let sent_last = pipeline.sent.back().map_or(end.last_record, |last| last.records.last);
    let first = round.first().map_or(0, |(batch, _)| batch.first_sequence);
    let mut answers: Vec<ReplicaAnswer> = Vec::with_capacity(round.len());
    let mut frames = Vec::with_capacity(round.iter().map(|(b, _)| b.frames.len()).sum());
    for (batch, answer) in round.drain(..) {
        frames.extend_from_slice(&batch.frames);
        answers.push(answer);
    }
    if first != sent_last + 1 {
        let why = format!("the stream will end at record {sent_last} but the next batch starts at {first}");
        answers.into_iter().for_each(|answer| answer.refuse(why.clone()));
        return Err(why);
    }
    let frames = Bytes::from(frames);
    let messages = match cut(&frames, max_bytes) {
        Ok(messages) => messages,
        Err(why) => {
            answers.into_iter().for_each(|answer| answer.refuse(why.clone()));
            return Err(why);
        }
    };
    let count = messages.len();
    for (index, (records, range)) in messages.into_iter().enumerate() {
        let frames = frames.slice(range);
        let expected_last = end.message_sequence + pipeline.sent.len() as u64;
        let landing = match stream.send(records, frames.clone(), expected_last).await {
            Ok(landing) => landing,
            // Settled like an append that landed nowhere: sent again in turn.
            Err(why) => Box::pin(std::future::ready(Err(why))) as Landing,
        };
        let answers = if index + 1 == count { std::mem::take(&mut answers) } else { Vec::new() };
        pipeline.sent.push_back(InFlight { records, frames, answers, sent_at: Instant::now() });
        pipeline.landings.push_back(landing);
    }
    Ok(())
}

/// A message landed where it was sent to: its batches are durable.
fn landed_as_sent(message: InFlight, end: &StreamEnd, meters: &ClusterMeters) {
    meters.appends.inc();
    meters.append_last_seconds.set(message.sent_at.elapsed().as_secs_f64());
    meters.replicated_sequence.set(end.last_record as i64);
    message.answers.into_iter().for_each(ReplicaAnswer::confirm);
}

/// After a message did not land as sent (no answer, no quorum, or its place
/// taken): waits out every answer still to come, then appends that message
/// and each one after it in turn until it lands (a message that had landed
/// after all is found, not stored twice). An error: the node is fenced, and
/// every batch in flight was refused.
async fn settle_one_by_one(
    stream: &LogStream,
    end: &mut StreamEnd,
    first: InFlight,
    pipeline: &mut Pipeline,
    meters: &ClusterMeters,
) -> Result<(), String> {
    while pipeline.landings.next().await.is_some() {}
    let mut waiting: VecDeque<InFlight> = std::iter::once(first).chain(pipeline.sent.drain(..)).collect();
    while let Some(message) = waiting.pop_front() {
        if let Err(why) = append_until_landed(stream, end, message.records, message.frames.clone(), meters).await {
            for refused in std::iter::once(message).chain(waiting) {
                refused.answers.into_iter().for_each(|answer| answer.refuse(why.clone()));
            }
            return Err(why);
        }
        landed_as_sent(message, end, meters);
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
