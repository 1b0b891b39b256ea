//! The log writer: group commit on one thread.
//!
//! Callers hand encoded records to [`Wal::submit`] (which never blocks on I/O:
//! it numbers the record and puts it on a bounded channel) and later wait on
//! the receipt. The writer thread takes everything pending, frames it into one
//! buffer, writes it with one call, syncs once, then publishes the highest
//! durable sequence, which completes the whole batch (or, with a
//! [`Replication`], hands the synced batch over and the replicas' answer
//! completes it). Any write or sync error poisons the log for good: no
//! retry, nothing more acknowledged.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::frame::{append_frame, MAX_PAYLOAD_BYTES};
use super::replication::{Completion, ReplicaAnswer, Replication, SyncedBatch};
use super::segment::{segment_name, segments, AppendPoint};
use super::storage::{Storage, StorageFile};
use super::{Durability, WalError, WalOptions};
use crate::commit::{Receipt, SinkError};
use crate::sync::channel::{bounded, Receiver, Sender, TrySendError};
use crate::sync::{spawn, AtomicBool, AtomicU64, Condvar, Mutex, Ordering};

/// A record waiting for the writer.
struct Pending {
    sequence: u64,
    payload: Vec<u8>,
}

/// Counters the writer keeps, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct WalStats {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub sync_nanos_total: AtomicU64,
    pub last_sync_nanos: AtomicU64,
}

/// What writer and waiters share.
#[derive(Debug, Default)]
struct Shared {
    durable_sequence: AtomicU64,
    poisoned: AtomicBool,
    failure: Mutex<Option<String>>,
    /// Blocking waiters sleep on `wake`.
    wake_lock: Mutex<()>,
    wake: Condvar,
    /// Async waiters, by the sequence they wait for: the writer wakes only
    /// those its batch completed, so thousands of waiters cost little.
    wakers: Mutex<BTreeMap<u64, Vec<Waker>>>,
    stats: WalStats,
}

impl Shared {
    /// Every record up to `sequence` is durable. Never moves back: a late
    /// answer for an earlier batch changes nothing.
    fn publish_durable(&self, sequence: u64) {
        if self.durable_sequence.fetch_max(sequence, Ordering::AcqRel) >= sequence {
            return;
        }
        let completed = {
            let mut wakers = self.wakers.lock();
            let later = wakers.split_off(&(sequence + 1));
            std::mem::replace(&mut *wakers, later)
        };
        completed.into_values().flatten().for_each(Waker::wake);
        self.wake_blocking();
    }

    fn poison(&self, why: String) {
        *self.failure.lock() = Some(why);
        self.poisoned.store(true, Ordering::Release);
        let everyone = std::mem::take(&mut *self.wakers.lock());
        everyone.into_values().flatten().for_each(Waker::wake);
        self.wake_blocking();
    }

    fn wake_blocking(&self) {
        drop(self.wake_lock.lock());
        self.wake.notify_all();
    }

    /// `Some` once the answer for `sequence` is known.
    fn outcome(&self, sequence: u64) -> Option<Result<(), WalError>> {
        if self.durable_sequence.load(Ordering::Acquire) >= sequence {
            return Some(Ok(()));
        }
        if self.poisoned.load(Ordering::Acquire) {
            let why = self.failure.lock().clone().unwrap_or_default();
            return Some(Err(WalError::Poisoned(why)));
        }
        None
    }
}

impl Completion for Shared {
    fn durable_up_to(&self, sequence: u64) {
        self.publish_durable(sequence);
    }

    fn fail(&self, why: String) {
        self.poison(why);
    }
}

struct Enqueue {
    next_sequence: u64,
    sender: Option<Sender<Pending>>,
}

/// The write-ahead log, open for appending.
pub struct Wal {
    enqueue: Mutex<Enqueue>,
    shared: Arc<Shared>,
    writer: Mutex<Option<WriterHandle>>,
}

#[cfg(not(loom))]
type WriterHandle = std::thread::JoinHandle<()>;
#[cfg(loom)]
type WriterHandle = loom::thread::JoinHandle<()>;

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("durable_sequence", &self.durable_sequence()).finish()
    }
}

impl Wal {
    /// Starts a new, empty log in `storage` (which must hold no segment yet).
    pub fn create(storage: Arc<dyn Storage>, options: WalOptions) -> Result<Wal, WalError> {
        if !segments(&*storage)?.is_empty() {
            return Err(WalError::Io("the storage already holds a log; recover it instead".into()));
        }
        Self::start(storage, options, 0, None, None)
    }

    /// Starts the writer. `last_sequence` is the last record already in the
    /// log; `append` is where to write next (`None`: start a new segment);
    /// `replication`, if any, must confirm each batch before it is durable.
    pub(crate) fn start(
        storage: Arc<dyn Storage>,
        options: WalOptions,
        last_sequence: u64,
        append: Option<AppendPoint>,
        replication: Option<Arc<dyn Replication>>,
    ) -> Result<Wal, WalError> {
        if options.durability == Durability::None {
            tracing::warn!(
                "write-ahead log durability is NONE: changes are acknowledged before they are synced and a machine \
                 crash can lose them. Use this for benchmarks only."
            );
        }
        let (sender, receiver) = bounded(options.max_pending_records);
        let shared = Arc::new(Shared::default());
        shared.durable_sequence.store(last_sequence, Ordering::Release);
        let segment = match append {
            Some(point) => Some(OpenSegment {
                file: storage.open_for_writing(&point.segment, options.segment_bytes)?,
                offset: point.offset,
            }),
            None => None,
        };
        let writer = Writer { storage, options, segment, buffer: Vec::new(), shared: shared.clone(), replication };
        let handle = spawn("guichet-wal", move || writer.run(receiver))?;
        Ok(Wal {
            enqueue: Mutex::new(Enqueue { next_sequence: last_sequence + 1, sender: Some(sender) }),
            shared,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Numbers an encoded record and queues it for the writer. Never blocks on
    /// I/O; a full queue or a failed log is an error and the record is not taken.
    pub fn submit(&self, payload: Vec<u8>) -> Result<Receipt, SinkError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SinkError::TooLarge { bytes: payload.len(), max: MAX_PAYLOAD_BYTES });
        }
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(self.poisoned_error());
        }
        let mut enqueue = self.enqueue.lock();
        let sequence = enqueue.next_sequence;
        let Some(sender) = &enqueue.sender else { return Err(SinkError::Poisoned("the log is closed".into())) };
        match sender.try_send(Pending { sequence, payload }) {
            Ok(()) => {
                enqueue.next_sequence += 1;
                Ok(Receipt(sequence))
            }
            Err(TrySendError::Full(_)) => Err(SinkError::Full),
            Err(TrySendError::Disconnected(_)) => Err(self.poisoned_error()),
        }
    }

    fn poisoned_error(&self) -> SinkError {
        SinkError::Poisoned(self.shared.failure.lock().clone().unwrap_or_else(|| "the log is closed".into()))
    }

    /// The last sequence handed out (durable or not).
    pub fn last_assigned_sequence(&self) -> u64 {
        self.enqueue.lock().next_sequence - 1
    }

    /// Every record up to this one is durable.
    pub fn durable_sequence(&self) -> u64 {
        self.shared.durable_sequence.load(Ordering::Acquire)
    }

    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// Whether the log takes records: not failed and not closed.
    pub fn is_open(&self) -> bool {
        !self.is_poisoned() && self.enqueue.lock().sender.is_some()
    }

    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().clone()
    }

    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// Blocks until the record is durable (or the log failed).
    pub fn wait_durable(&self, receipt: Receipt) -> Result<(), WalError> {
        let mut guard = self.shared.wake_lock.lock();
        loop {
            if let Some(outcome) = self.shared.outcome(receipt.0) {
                return outcome;
            }
            guard = self.shared.wake.wait(guard);
        }
    }

    /// Waits, without blocking a thread, until the record is durable.
    pub fn durable(&self, receipt: Receipt) -> Durable {
        Durable { shared: self.shared.clone(), sequence: receipt.0 }
    }

    /// Stops taking records, lets the writer drain and sync what is queued,
    /// and waits for it. Later submits fail.
    pub fn close(&self) {
        self.enqueue.lock().sender = None;
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The future of [`Wal::durable`].
pub struct Durable {
    shared: Arc<Shared>,
    sequence: u64,
}

impl Future for Durable {
    type Output = Result<(), WalError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(outcome) = self.shared.outcome(self.sequence) {
            return Poll::Ready(outcome);
        }
        let mut wakers = self.shared.wakers.lock();
        // Checked again under the lock: the writer publishes, then takes it to wake.
        if let Some(outcome) = self.shared.outcome(self.sequence) {
            return Poll::Ready(outcome);
        }
        let waiting = wakers.entry(self.sequence).or_default();
        if !waiting.iter().any(|w| w.will_wake(context.waker())) {
            waiting.push(context.waker().clone());
        }
        Poll::Pending
    }
}

struct OpenSegment {
    file: Box<dyn StorageFile>,
    offset: u64,
}

struct Writer {
    storage: Arc<dyn Storage>,
    options: WalOptions,
    segment: Option<OpenSegment>,
    buffer: Vec<u8>,
    shared: Arc<Shared>,
    replication: Option<Arc<dyn Replication>>,
}

/// Fails the log if the writer thread unwinds, so no waiter hangs on a
/// writer that is gone.
struct PoisonOnPanic(Arc<Shared>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison("the log writer thread panicked".into());
        }
    }
}

impl Writer {
    fn run(mut self, receiver: Receiver<Pending>) {
        let _guard = PoisonOnPanic(self.shared.clone());
        while let Ok(first) = receiver.recv() {
            let first_sequence = first.sequence;
            let (last_sequence, records) = self.frame_batch(first, &receiver);
            if let Err(error) = self.write_batch(first_sequence) {
                let why = format!("writing records {first_sequence}..={last_sequence}: {error}");
                tracing::error!("write-ahead log failed, nothing more will be acknowledged: {why}");
                self.shared.poison(why);
                return;
            }
            let stats = &self.shared.stats;
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats.records.fetch_add(records, Ordering::Relaxed);
            stats.bytes.fetch_add(self.buffer.len() as u64, Ordering::Relaxed);
            self.complete(first_sequence, last_sequence);
        }
    }

    /// A synced batch is durable at once, or once the replicas hold it.
    fn complete(&mut self, first_sequence: u64, last_sequence: u64) {
        let Some(replication) = &self.replication else {
            self.shared.publish_durable(last_sequence);
            return;
        };
        let capacity = self.buffer.capacity();
        let frames = std::mem::replace(&mut self.buffer, Vec::with_capacity(capacity));
        let answer = ReplicaAnswer { completion: self.shared.clone(), last_sequence };
        replication.ship(SyncedBatch { first_sequence, last_sequence, frames }, answer);
    }

    /// Frames `first` and whatever else is pending into the buffer; returns
    /// the batch's last sequence and its number of records.
    fn frame_batch(&mut self, first: Pending, receiver: &Receiver<Pending>) -> (u64, u64) {
        self.buffer.clear();
        let batch_first = first.sequence;
        append_frame(&mut self.buffer, first.sequence, batch_first, &first.payload);
        let mut last_sequence = first.sequence;
        let mut records = 1;
        while self.buffer.len() < self.options.max_batch_bytes {
            let Ok(next) = receiver.try_recv() else { break };
            debug_assert_eq!(next.sequence, last_sequence + 1, "records reach the writer in sequence order");
            append_frame(&mut self.buffer, next.sequence, batch_first, &next.payload);
            last_sequence = next.sequence;
            records += 1;
        }
        (last_sequence, records)
    }

    fn write_batch(&mut self, first_sequence: u64) -> Result<(), WalError> {
        let length = self.buffer.len() as u64;
        let full = self.segment.as_ref().is_none_or(|s| s.offset > 0 && s.offset + length > self.options.segment_bytes);
        if full {
            let name = segment_name(first_sequence);
            let file = self.storage.open_for_writing(&name, self.options.segment_bytes)?;
            self.segment = Some(OpenSegment { file, offset: 0 });
        }
        let segment = self.segment.as_mut().expect("a segment is open");
        segment.file.write_at(segment.offset, &self.buffer)?;
        segment.offset += length;
        if self.options.durability == Durability::Fsync {
            let started = Instant::now();
            segment.file.sync_data()?;
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.shared.stats.sync_nanos_total.fetch_add(nanos, Ordering::Relaxed);
            self.shared.stats.last_sync_nanos.store(nanos, Ordering::Relaxed);
        }
        Ok(())
    }
}
