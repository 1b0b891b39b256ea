//! The cluster's stream: one NATS JetStream stream holds the log, one
//! message per run of records. Appends are fenced: each names the stream
//! sequence it must follow, so a node that missed another's append can
//! never add after it.

use std::time::{Duration, Instant};

use async_nats::header::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType, Stream};
use async_nats::jetstream::{kv, Context};
use bytes::Bytes;

use super::messages::{MessageRecords, FORMAT_HEADER, FORMAT_VERSION, NODE_HEADER, RECORDS_HEADER};
use super::ClusterSettings;

/// The stream's name in JetStream.
pub const STREAM_NAME: &str = "GUICHET_LOG";
/// The one subject the stream takes.
pub const STREAM_SUBJECT: &str = "guichet.log";
/// How long a node keeps trying to reach JetStream at start.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// A retried append with the same id within this window is answered as the
/// first one was, not stored twice.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster: cannot reach JetStream at {servers} within {patience:?}: {why}")]
    Unreachable { servers: String, patience: Duration, why: String },
    #[error("cluster: the stream {STREAM_NAME}: {0}")]
    Stream(String),
    #[error("cluster: this node's log and the stream disagree: {0}")]
    Diverged(String),
    #[error("cluster: the data directory: {0}")]
    DataDir(String),
}

/// Why an append did not land.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another append took the place this one expected: this node is fenced.
    #[error("another append took this one's place in the stream: {0}")]
    Fenced(String),
    /// No answer, or no quorum: it may be sent again.
    #[error("no acknowledgement from the stream: {0}")]
    Unavailable(String),
    /// The stream refused the message for a reason a resend would not change.
    #[error("the stream refused the message: {0}")]
    Refused(String),
}

/// Where the stream ends: its last message and the last record in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamEnd {
    /// JetStream's sequence of the last message (0: empty).
    pub message_sequence: u64,
    /// The last log record the stream holds (0: none).
    pub last_record: u64,
}

/// A connection to the cluster's stream.
#[derive(Clone)]
pub struct LogStream {
    jetstream: Context,
    stream: Stream,
    node_id: String,
    /// This process's mark in message ids: a restarted node's appends are
    /// never taken for duplicates of its previous life's.
    incarnation: String,
    max_payload_bytes: usize,
}

impl LogStream {
    /// Connects and makes sure the stream exists with the replicas asked
    /// for; retries while the cluster forms (JetStream elects its leaders
    /// a few seconds after the servers start).
    pub async fn open(settings: &ClusterSettings, incarnation: String) -> Result<LogStream, ClusterError> {
        let servers = settings.servers.join(",");
        let started = Instant::now();
        loop {
            match Self::try_open(settings, &incarnation).await {
                Ok(stream) => return Ok(stream),
                Err(why) if started.elapsed() < CONNECT_PATIENCE => {
                    tracing::info!("cluster: waiting for JetStream at {servers}: {why}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(why) => return Err(ClusterError::Unreachable { servers, patience: CONNECT_PATIENCE, why }),
            }
        }
    }

    async fn try_open(settings: &ClusterSettings, incarnation: &str) -> Result<LogStream, String> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("guichet {}", settings.node_id))
            .connection_timeout(Duration::from_secs(2))
            .connect(settings.servers.as_slice())
            .await
            .map_err(|e| e.to_string())?;
        let max_payload_bytes = client.server_info().max_payload;
        let mut jetstream = async_nats::jetstream::new(client);
        jetstream.set_timeout(settings.append_timeout);
        let config = Config {
            name: STREAM_NAME.into(),
            subjects: vec![STREAM_SUBJECT.into()],
            storage: StorageType::File,
            num_replicas: settings.replicas,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::New,
            duplicate_window: DUPLICATE_WINDOW,
            allow_direct: true,
            ..Config::default()
        };
        let mut stream = jetstream.get_or_create_stream(config).await.map_err(|e| e.to_string())?;
        let info = stream.info().await.map_err(|e| e.to_string())?;
        if info.config.num_replicas != settings.replicas {
            return Err(format!(
                "the stream {STREAM_NAME} keeps {} replicas, not the {} asked for (cluster_replicas)",
                info.config.num_replicas, settings.replicas
            ));
        }
        let stream = stream.clone();
        Ok(LogStream {
            jetstream,
            stream,
            node_id: settings.node_id.clone(),
            incarnation: incarnation.into(),
            max_payload_bytes,
        })
    }

    /// The JetStream context, for the cluster's buckets.
    pub fn jetstream(&self) -> &Context {
        &self.jetstream
    }

    /// The largest message the servers take, headers included.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    /// Where the stream ends now.
    pub async fn end(&self) -> Result<StreamEnd, ClusterError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(|e| ClusterError::Stream(e.to_string()))?;
        let message_sequence = info.state.last_sequence;
        if message_sequence == 0 {
            return Ok(StreamEnd::default());
        }
        let (records, _) = self.message(message_sequence).await?;
        Ok(StreamEnd { message_sequence, last_record: records.last })
    }

    /// The first message the stream still holds (older ones were trimmed
    /// behind a snapshot) and the first record in it; `(0, 0)` when empty.
    pub async fn start(&self) -> Result<(u64, u64), ClusterError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(|e| ClusterError::Stream(e.to_string()))?;
        if info.state.messages == 0 {
            return Ok((0, 0));
        }
        let first = info.state.first_sequence;
        let (records, _) = self.message(first).await?;
        Ok((first, records.first))
    }

    /// The stream message holding record `sequence` (or the one after the
    /// last, if none holds it yet; the first kept, if it was trimmed away):
    /// a binary search on the messages' record ranges, which grow with the
    /// message sequence.
    pub async fn message_holding(&self, sequence: u64) -> Result<u64, ClusterError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(|e| ClusterError::Stream(e.to_string()))?;
        let (mut low, mut high) = (info.state.first_sequence.max(1), info.state.last_sequence + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            let (named, _) = self.message(middle).await?;
            if named.last < sequence {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    /// Removes the messages before the one holding `record` (never the
    /// last message: the stream's end, which appends are fenced on, stays
    /// readable); answers how many went.
    pub async fn trim_before_record(&self, record: u64) -> Result<u64, ClusterError> {
        let end = self.end().await?;
        let keep_from = self.message_holding(record).await?.min(end.message_sequence);
        let (first, _) = self.start().await?;
        if keep_from <= first {
            return Ok(0);
        }
        let purged = self.stream.purge().sequence(keep_from).await;
        let purged = purged.map_err(|e| ClusterError::Stream(format!("trimming before message {keep_from}: {e}")))?;
        Ok(purged.purged)
    }

    /// When the stream stored message `sequence` (Unix milliseconds, by the
    /// NATS server's clock).
    pub async fn stored_at_ms(&self, sequence: u64) -> Result<u64, ClusterError> {
        let message = self.stream.get_raw_message(sequence).await;
        let message = message.map_err(|e| ClusterError::Stream(format!("reading message {sequence}: {e}")))?;
        Ok(u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
    }

    /// The id this process gives the message of `records`: a resend within
    /// the duplicate window is answered as the first send was.
    fn message_id(&self, records: MessageRecords) -> String {
        format!("{}/{}/{}", self.node_id, self.incarnation, records.first)
    }

    /// One message of the stream: the records it names, and its frames.
    pub async fn message(&self, sequence: u64) -> Result<(MessageRecords, Bytes), ClusterError> {
        let message = self
            .stream
            .get_raw_message(sequence)
            .await
            .map_err(|e| ClusterError::Stream(format!("reading message {sequence}: {e}")))?;
        let named = records_header(&message.headers)
            .map_err(|why| ClusterError::Stream(format!("message {sequence}: {why}")))?;
        Ok((named, message.payload))
    }

    /// Appends `frames` (records `records`) after stream message
    /// `expected_last`; answers the new message's sequence.
    pub async fn append(&self, records: MessageRecords, frames: Bytes, expected_last: u64) -> Result<u64, AppendError> {
        let message = PublishMessage::build()
            .payload(frames)
            .message_id(self.message_id(records))
            .expected_last_sequence(expected_last)
            .header(RECORDS_HEADER, records.header_value().as_str())
            .header(NODE_HEADER, self.node_id.as_str())
            .header(FORMAT_HEADER, FORMAT_VERSION);
        let sent = self.jetstream.send_publish(STREAM_SUBJECT, message).await.map_err(classify)?;
        let ack = sent.await.map_err(classify)?;
        Ok(ack.sequence)
    }
}

/// A key-value bucket of the cluster's, made with `config` if missing.
pub async fn key_value_bucket(jetstream: &Context, config: kv::Config) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = jetstream.get_key_value(config.bucket.as_str()).await {
        return Ok(store);
    }
    let bucket = config.bucket.clone();
    jetstream.create_key_value(config).await.map_err(|e| ClusterError::Stream(format!("the bucket {bucket}: {e}")))
}

/// The records a message names, once its format is one this build reads:
/// a newer one (written by an upgraded node) is refused by name, never
/// guessed at; standbys are upgraded first (docs/operations.md).
fn records_header(headers: &HeaderMap) -> Result<MessageRecords, String> {
    let format = headers.get(FORMAT_HEADER).map(|v| v.as_str()).unwrap_or(FORMAT_VERSION);
    if format != FORMAT_VERSION {
        return Err(format!(
            "its records are in format {format:?}, and this build reads format {FORMAT_VERSION}: upgrade this node"
        ));
    }
    let value = headers.get(RECORDS_HEADER).ok_or_else(|| format!("no {RECORDS_HEADER} header"))?;
    MessageRecords::parse(value.as_str())
}

fn classify(error: async_nats::jetstream::context::PublishError) -> AppendError {
    let why = error.to_string();
    match error.kind() {
        PublishErrorKind::WrongLastSequence => AppendError::Fenced(why),
        // "No stream found" is how the client reads "no responders": while the
        // stream's leader is being elected after a server is lost, nothing
        // answers on its subject. It passes like a timeout.
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::Other => AppendError::Unavailable(why),
        PublishErrorKind::WrongLastMessageId => AppendError::Refused(why),
    }
}
