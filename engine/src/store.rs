//! The durable engine: events (inventory and waiting room each) over one
//! write-ahead log, the token signing keys, snapshots, and recovery.
//!
//! Every change reaches the log as a [`WalRecord`] (an event's creation, or an
//! inventory or room record tagged with its event's number). Recovery loads the newest
//! valid snapshot, replays the records after it through the same `apply` as
//! live traffic, cuts a torn tail, restarts the writer, and expires the holds
//! that ran out while the process was down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::codec;
use crate::commit::{ApplyError, Receipt, SinkError};
use crate::entropy::{Entropy, OsEntropy};
pub use crate::event::{Event, EventNumber, WalRecord};
use crate::event::{LogHandle, WalRecordRef};
use crate::ids::BuyerId;
use crate::inventory::{HoldKeysSnapshot, InventoryError, InventorySnapshot};
use crate::limits::{DEFAULT_HEARTBEAT_GRACE_S, DEFAULT_POLL_TOLERANCE_PERCENT, MAX_EVENTS};
use crate::room::{BuyerState, JoinKeysSnapshot, QueueStatus, RoomSnapshot};
use crate::spec::{EventSpec, SpecErrors};
use crate::tickets::{TicketClaims, TicketSigner};
use crate::time::UnixTimeMs;
use crate::tokens::{KeyRing, TokenClaims, TokenError, TokenKind};
use crate::valid::ValidEvent;
use crate::wal::reader::{self, DiskRecords, RecordSource, ScanError, TornTail};
use crate::wal::snapshot::{read_snapshot_versioned, snapshots, write_snapshot};
use crate::wal::storage::{DiskStorage, Storage};
use crate::wal::{Wal, WalError, WalOptions};

/// The idempotency keys of holds and joins, per event in the order of
/// `EngineSnapshot::events`: format version 2 appends this section to
/// version 1's payload, so version 1 snapshots still decode (with no keys).
#[derive(Default, Serialize, Deserialize)]
struct KeySection {
    events: Vec<(HoldKeysSnapshot, JoinKeysSnapshot)>,
}

#[derive(Serialize, Deserialize)]
struct EngineSnapshot {
    /// Every event created at or before this sequence is in `events`.
    events_covered: u64,
    events: Vec<EventSnapshot>,
}

#[derive(Serialize, Deserialize)]
struct EventSnapshot {
    number: EventNumber,
    spec_json: String,
    created_at: UnixTimeMs,
    lottery_seed: [u8; 32],
    coverage: Coverage,
    inventory: InventorySnapshot,
    room: RoomSnapshot,
}

/// The log sequences an event's snapshot covers: every inventory (room)
/// record at or before `inventory` (`room`) is in it. Two cuts, because the
/// inventory and the room have their own locks.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Coverage {
    inventory: u64,
    room: u64,
}

/// Events during recovery, each with what its snapshot covers, and where
/// in the log replay stands.
#[derive(Default)]
struct Replay {
    events: Vec<(Arc<Event>, Coverage)>,
    position: LogPosition,
}

/// Replay's place in the log: the last record applied (at first, the
/// position the snapshot's events are complete at), and how many were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LogPosition {
    last: u64,
    records: u64,
}

impl LogPosition {
    /// Moves to the record a source says comes next: refused when it is at or
    /// before the position (the snapshot or replay holds it already), or
    /// skips records, so no source can leave a gap or apply a record twice.
    fn advance_to(&mut self, sequence: u64) -> Result<(), String> {
        if sequence <= self.last {
            return Err(format!("record {sequence} is at or before log position {}, already applied", self.last));
        }
        if sequence != self.last + 1 {
            return Err(format!("record {sequence} follows record {}: the records between are missing", self.last));
        }
        self.last = sequence;
        self.records += 1;
        Ok(())
    }
}

/// The data directory's file of signing keys (secret: written with mode 0600).
const SIGNING_KEYS_FILE: &str = "signing-keys.json";
/// The e-ticket signing key (secret, likewise).
const TICKET_KEY_FILE: &str = "ticket-key.json";

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub wal: WalOptions,
    /// A waiting buyer silent for longer loses the place.
    pub heartbeat_grace_s: u32,
    /// Polls are accepted from this share of the advised interval on (0: all).
    pub poll_tolerance_percent: u8,
    /// Where lottery seeds and signing keys come from.
    pub entropy: Arc<dyn Entropy>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            wal: WalOptions::default(),
            heartbeat_grace_s: DEFAULT_HEARTBEAT_GRACE_S,
            poll_tolerance_percent: DEFAULT_POLL_TOLERANCE_PERCENT,
            entropy: Arc::new(OsEntropy),
        }
    }
}

/// What recovery found and did.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The snapshot loaded, if any: its file and the sequence it covers.
    pub snapshot: Option<(String, u64)>,
    pub records_replayed: u64,
    pub last_sequence: u64,
    pub torn_tail: Option<TornTail>,
    pub holds_expired: usize,
    pub events: usize,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Log(#[from] ScanError),
    #[error("snapshot {file}: {why}")]
    Snapshot { file: String, why: String },
    #[error("opening the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("expiring holds after recovery: {0}")]
    Expiry(InventoryError),
    #[error("signing keys {file}: {why}")]
    Keys { file: String, why: String },
    #[error(
        "the log ends at record {log_end} but the snapshot covers up to {snapshot}: synced records were lost. Move \
         the segments after the snapshot aside to start from the snapshot alone, or restore a backup"
    )]
    LogBehindSnapshot { log_end: u64, snapshot: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum CreateEventError {
    #[error(transparent)]
    Invalid(#[from] SpecErrors),
    #[error("an event with id {0:?} already exists")]
    Exists(String),
    #[error("the engine holds as many events as it can ({MAX_EVENTS})")]
    TooManyEvents,
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl CreateEventError {
    /// The API's code for it: the one catalogue of codes is the engine's.
    pub fn code(&self) -> &'static str {
        match self {
            CreateEventError::Invalid(_) => "invalid_event",
            CreateEventError::Exists(_) => "event_exists",
            CreateEventError::TooManyEvents => "too_many_events",
            CreateEventError::Log(sink) => sink.code(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("writing the snapshot: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding the snapshot: {0}")]
    Encode(#[from] codec::CodecError),
}

/// What a snapshot wrote and pruned.
#[derive(Clone, Debug)]
pub struct SnapshotReport {
    pub file: String,
    pub covered: u64,
    pub bytes: usize,
    pub segments_removed: usize,
    /// The longest time one event's changes waited while its state was copied.
    pub longest_copy: Duration,
    pub elapsed: Duration,
}

pub struct Engine {
    storage: Arc<dyn Storage>,
    log: Arc<LogHandle>,
    clock: Arc<dyn Clock>,
    options: EngineOptions,
    keys: KeyRing,
    tickets: TicketSigner,
    events: DashMap<Box<str>, Arc<Event>>,
    /// Events by number; its lock serialises creations with their log records.
    ordered: Mutex<Vec<Arc<Event>>>,
    snapshot_running: Mutex<()>,
    /// The log sequence the newest snapshot covers (0: none).
    snapshot_covered: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("events", &self.events.len()).finish()
    }
}

impl Engine {
    /// Opens a data directory (creating it if needed) and recovers.
    pub fn open_dir(
        dir: impl AsRef<std::path::Path>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, RecoveryReport), RecoveryError> {
        Self::open(Arc::new(DiskStorage::open(dir)?), options, clock)
    }

    /// Recovers from `storage`: newest valid snapshot, then the log after it.
    pub fn open(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, RecoveryReport), RecoveryError> {
        let started = Instant::now();
        let wal_options = options.wal;
        let engine = Engine::unstarted(storage, options, clock)?;
        let mut report = RecoveryReport::default();
        let mut replay = engine.load_snapshot(&mut report)?;
        let mut disk = DiskRecords::new(&*engine.storage);
        engine.replay_from(&mut disk, &mut replay)?;
        let outcome = disk.outcome();
        debug_assert_eq!(outcome.last_sequence, replay.position.last);
        if let Some(torn) = &outcome.torn_tail {
            tracing::warn!(
                segment = %engine.storage.describe(&torn.segment),
                offset = torn.offset,
                bytes = torn.bytes,
                "cutting a torn write off the end of the log ({}); it was never acknowledged",
                torn.reason
            );
            engine.zero_torn_tail(torn)?;
        }
        let snapshot_sequence = report.snapshot.as_ref().map_or(0, |s| s.1);
        if outcome.last_sequence < snapshot_sequence {
            // Only possible if synced records were lost (durability `none`, or a
            // damaged disk): appending after them would leave a gap for good.
            return Err(RecoveryError::LogBehindSnapshot {
                log_end: outcome.last_sequence,
                snapshot: snapshot_sequence,
            });
        }
        let wal = Wal::start(engine.storage.clone(), wal_options, outcome.last_sequence, outcome.append)?;
        engine.log.0.set(Arc::new(wal)).expect("the log is started once");
        for event in engine.events() {
            event.room.mark_all_seen();
            report.holds_expired += event.inventory.expire_holds().map_err(RecoveryError::Expiry)?;
        }
        report.records_replayed = replay.position.records;
        report.last_sequence = replay.position.last;
        report.torn_tail = outcome.torn_tail;
        report.events = engine.events.len();
        report.elapsed = started.elapsed();
        tracing::info!(
            snapshot = ?report.snapshot,
            records_replayed = report.records_replayed,
            last_sequence = report.last_sequence,
            holds_expired = report.holds_expired,
            events = report.events,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "recovered"
        );
        Ok((engine, report))
    }

    /// An engine with its keys and no events, its log not yet started.
    fn unstarted(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, RecoveryError> {
        let keys = load_or_create(&*storage, SIGNING_KEYS_FILE, || KeyRing::generate(&*options.entropy))?;
        let tickets = load_or_create(&*storage, TICKET_KEY_FILE, || TicketSigner::generate(&*options.entropy))?;
        Ok(Engine {
            storage,
            log: Arc::new(LogHandle::default()),
            clock,
            options,
            keys,
            tickets,
            events: DashMap::new(),
            ordered: Mutex::new(Vec::new()),
            snapshot_running: Mutex::new(()),
            snapshot_covered: AtomicU64::new(0),
        })
    }

    /// Loads the newest snapshot: its events with what each covers, and the
    /// log position replay starts after (every event created up to it is in).
    fn load_snapshot(&self, report: &mut RecoveryReport) -> Result<Replay, RecoveryError> {
        let mut replay = Replay::default();
        let Some((_, name)) = snapshots(&*self.storage)?.into_iter().next() else { return Ok(replay) };
        let file = self.storage.describe(&name);
        let broken = |why: String| RecoveryError::Snapshot { file: file.clone(), why };
        let (sequence, version, payload) =
            read_snapshot_versioned(&*self.storage, &name).map_err(|e| broken(e.to_string()))?;
        let (snapshot, keys) = decode_snapshot(version, &payload).map_err(|e| broken(e.to_string()))?;
        if !keys.events.is_empty() && keys.events.len() != snapshot.events.len() {
            return Err(broken("the key section does not match the events".into()));
        }
        let mut keys = keys.events.into_iter();
        for mut saved in snapshot.events {
            if let Some((hold_keys, join_keys)) = keys.next() {
                saved.inventory.hold_keys = hold_keys;
                saved.room.join_keys = join_keys;
            }
            let event = self
                .add_event(saved.number, &saved.spec_json, saved.created_at, saved.lottery_seed)
                .map_err(|e| broken(e.0))?;
            event.inventory.restore(saved.inventory).map_err(|e| broken(e.0))?;
            event.room.restore(saved.room).map_err(|e| broken(e.0))?;
            replay.events.push((event, saved.coverage));
        }
        report.snapshot = Some((name, sequence));
        self.snapshot_covered.store(sequence, Ordering::Relaxed);
        replay.position = LogPosition { last: snapshot.events_covered, records: 0 };
        Ok(replay)
    }

    /// Applies every record `source` holds after replay's position, each at
    /// the log position the source states, through the same `apply` as live
    /// traffic.
    fn replay_from(&self, source: &mut dyn RecordSource, replay: &mut Replay) -> Result<(), RecoveryError> {
        let after = replay.position.last;
        source.read_after(after, &mut |sequence, payload| {
            replay.position.advance_to(sequence)?;
            self.replay(sequence, payload, replay)
        })?;
        Ok(())
    }

    /// Applies one record from the log, unless the snapshot already holds it.
    fn replay(&self, sequence: u64, payload: &[u8], replay: &mut Replay) -> Result<(), String> {
        let target = |replay: &Replay, event: EventNumber| {
            let found = replay.events.get(event.0 as usize).cloned();
            found.ok_or_else(|| format!("names event number {}, which was never created", event.0))
        };
        match WalRecord::decode(payload).map_err(|e| e.to_string())? {
            WalRecord::EventCreated { event, at, lottery_seed, spec_json } => {
                if (event.0 as usize) < replay.events.len() {
                    return Ok(());
                }
                let created = self.add_event(event, &spec_json, at, lottery_seed).map_err(|e| e.0)?;
                replay.events.push((created, Coverage::default()));
                Ok(())
            }
            WalRecord::Inventory { event, record } => {
                let (target, covered) = target(replay, event)?;
                target
                    .replay_inventory_record(&record, Receipt(sequence), sequence <= covered.inventory)
                    .map_err(|e| e.0)
            }
            WalRecord::Room { event, record } => {
                let (target, covered) = target(replay, event)?;
                if sequence > covered.room {
                    target.room.apply(&record).map_err(|e| e.0)?;
                }
                Ok(())
            }
        }
    }

    /// Builds an event from its logged spec and registers it under `number`.
    fn add_event(
        &self,
        number: EventNumber,
        spec_json: &str,
        created_at: UnixTimeMs,
        lottery_seed: [u8; 32],
    ) -> Result<Arc<Event>, ApplyError> {
        let spec: EventSpec = serde_json::from_str(spec_json).map_err(|e| ApplyError(format!("event spec: {e}")))?;
        let valid = spec.validate().map_err(|e| ApplyError(e.to_string()))?;
        let mut ordered = self.ordered.lock();
        if number.0 as usize != ordered.len() {
            return Err(ApplyError(format!("event number {} out of order (expected {})", number.0, ordered.len())));
        }
        Ok(self.register(&mut ordered, number, valid, created_at, lottery_seed))
    }

    fn register(
        &self,
        ordered: &mut Vec<Arc<Event>>,
        number: EventNumber,
        valid: ValidEvent,
        created_at: UnixTimeMs,
        lottery_seed: [u8; 32],
    ) -> Arc<Event> {
        let policy = crate::event::PollPolicy {
            heartbeat_grace_s: self.options.heartbeat_grace_s,
            poll_tolerance_percent: self.options.poll_tolerance_percent,
        };
        let (clock, log) = (self.clock.clone(), self.log.clone());
        let event = Arc::new(Event::new(number, valid, created_at, lottery_seed, policy, clock, log));
        self.events.insert(event.id().into(), event.clone());
        ordered.push(event.clone());
        event
    }

    fn zero_torn_tail(&self, torn: &TornTail) -> Result<(), RecoveryError> {
        let mut file = self.storage.open_for_writing(&torn.segment, 0)?;
        file.write_at(torn.offset, &vec![0; torn.bytes as usize])?;
        file.sync_data()?;
        Ok(())
    }

    /// Creates an event; durable once the receipt is.
    pub fn create_event(&self, spec: &EventSpec) -> Result<(Arc<Event>, Receipt), CreateEventError> {
        let valid = spec.validate()?;
        let spec_json = serde_json::to_string(spec).expect("an event spec serialises");
        let mut ordered = self.ordered.lock();
        if self.events.contains_key(spec.id.as_str()) {
            return Err(CreateEventError::Exists(spec.id.clone()));
        }
        if ordered.len() >= MAX_EVENTS {
            return Err(CreateEventError::TooManyEvents);
        }
        let number = EventNumber(ordered.len() as u32);
        let at = self.clock.now();
        let mut lottery_seed = [0; 32];
        self.options.entropy.fill(&mut lottery_seed);
        let record = WalRecordRef::EventCreated { event: number, at, lottery_seed, spec_json: &spec_json };
        let receipt = self.log.submit(&record)?;
        Ok((self.register(&mut ordered, number, valid, at, lottery_seed), receipt))
    }

    pub fn event(&self, id: &str) -> Option<Arc<Event>> {
        self.events.get(id).map(|entry| entry.value().clone())
    }

    /// The event with this number (as hold and order references carry it).
    pub fn event_by_number(&self, number: EventNumber) -> Option<Arc<Event>> {
        self.ordered.lock().get(number.0 as usize).cloned()
    }

    /// Events in creation order.
    pub fn events(&self) -> Vec<Arc<Event>> {
        self.ordered.lock().clone()
    }

    pub fn wal(&self) -> &Wal {
        self.log.0.get().expect("the log is open once recovery is done")
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The keys that sign and check queue and access tokens.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The signed code of ticket `index` of an order.
    pub fn ticket_code(&self, event: &Event, order: &crate::inventory::Order, index: u16) -> String {
        let claims = TicketClaims { event: event.number.0, order: order.id, index, tickets_in_order: order.tickets.0 };
        self.tickets.code(&claims)
    }

    /// The public key scanners check ticket codes with (Ed25519, base64url).
    pub fn ticket_public_key(&self) -> String {
        self.tickets.public_key()
    }

    /// A queue token for a buyer who joined `event`: valid until the show starts.
    pub fn queue_token(&self, event: &Event, buyer: BuyerId) -> String {
        self.sign(TokenKind::Queue, event, buyer, event.valid.starts_at)
    }

    /// The access token that goes with a status that says `admitted`, valid
    /// until the access ends; `None` for any other status. Signed from the
    /// status itself, not from a second look at the room, so an answer can
    /// never say admitted without its token.
    pub fn access_token(&self, event: &Event, buyer: BuyerId, status: &QueueStatus) -> Option<(String, UnixTimeMs)> {
        let ends = status.access_expires_at.filter(|_| status.state == BuyerState::Admitted)?;
        Some((self.sign(TokenKind::Access, event, buyer, ends), ends))
    }

    /// Checks a token for `event`: signature, kind, event and expiry; returns
    /// its buyer. An access token also needs its buyer still admitted (one
    /// who left the queue gave the place up).
    pub fn verify_token(&self, token: &str, kind: TokenKind, event: &Event) -> Result<BuyerId, TokenError> {
        let buyer = self.keys.verify(token, kind, event.number.0, self.clock.now())?.buyer;
        if kind == TokenKind::Access && !event.room.may_shop(buyer) {
            return Err(TokenError::Revoked);
        }
        Ok(buyer)
    }

    fn sign(&self, kind: TokenKind, event: &Event, buyer: BuyerId, expires_at: UnixTimeMs) -> String {
        let issued_at = self.clock.now();
        let key_id = self.keys.current_key_id();
        self.keys.sign(&TokenClaims { kind, key_id, event: event.number.0, buyer, issued_at, expires_at })
    }

    /// What to await before answering with state that earlier changes made
    /// (their records perhaps not yet durable): everything logged so far.
    /// A change that logged nothing (`Receipt::NONE`) answers only then too.
    pub fn after_everything_logged(&self, receipt: Receipt) -> Receipt {
        match receipt {
            Receipt::NONE => Receipt(self.wal().last_assigned_sequence()),
            receipt => receipt,
        }
    }

    /// Whether `receipt`'s record (and every one before it) is durable.
    pub fn is_durable(&self, receipt: Receipt) -> bool {
        self.wal().durable_sequence() >= receipt.0
    }

    /// Everything durable so far: reads that must show only acknowledged
    /// changes (a page of orders) stop there.
    pub fn durable_so_far(&self) -> Receipt {
        Receipt(self.wal().durable_sequence())
    }

    /// Blocks until `receipt` is durable.
    pub fn wait_durable(&self, receipt: Receipt) -> Result<(), WalError> {
        self.wal().wait_durable(receipt)
    }

    /// Waits, without blocking a thread, until `receipt` is durable.
    pub fn durable(&self, receipt: Receipt) -> crate::wal::Durable {
        self.wal().durable(receipt)
    }

    /// Expires the holds of every event whose time is up; returns how many.
    /// One event's failure does not stop the others; the first error is returned.
    pub fn expire_holds(&self) -> Result<usize, InventoryError> {
        let mut expired = 0;
        let mut first_error = None;
        for event in self.events() {
            match event.inventory.expire_holds() {
                Ok(count) => expired += count,
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        first_error.map_or(Ok(expired), Err)
    }

    /// Writes a snapshot of everything, then deletes the segments and older
    /// snapshots it makes unnecessary. Traffic stops only while each event's
    /// state is copied, one event at a time.
    pub fn snapshot(&self) -> Result<SnapshotReport, SnapshotError> {
        let started = Instant::now();
        let _one_at_a_time = self.snapshot_running.lock();
        let wal = self.wal();
        let (events, events_covered) = {
            let ordered = self.ordered.lock();
            (ordered.clone(), wal.last_assigned_sequence())
        };
        let mut saved = Vec::with_capacity(events.len());
        let mut longest_copy = Duration::ZERO;
        for event in &events {
            let copy_started = Instant::now();
            let (inventory, inventory_covered) = event.inventory.snapshot(|| wal.last_assigned_sequence());
            longest_copy = longest_copy.max(copy_started.elapsed());
            let (room, room_covered) = event.room.snapshot(|| wal.last_assigned_sequence());
            saved.push(EventSnapshot {
                number: event.number,
                spec_json: serde_json::to_string(&event.valid.spec).expect("an event spec serialises"),
                created_at: event.created_at,
                lottery_seed: event.lottery_seed(),
                coverage: Coverage { inventory: inventory_covered, room: room_covered },
                inventory,
                room,
            });
        }
        let newest_cut = saved.iter().map(|e| e.coverage.inventory.max(e.coverage.room)).max();
        let covered = newest_cut.unwrap_or(events_covered).max(events_covered);
        // A snapshot never holds a change the log could still lose.
        wal.wait_durable(Receipt(covered))?;
        let keys = KeySection {
            events: saved
                .iter_mut()
                .map(|e| (std::mem::take(&mut e.inventory.hold_keys), std::mem::take(&mut e.room.join_keys)))
                .collect(),
        };
        // Two values one after the other: version 1's payload, then the key section.
        let payload = codec::encode(&(EngineSnapshot { events_covered, events: saved }, keys))?;
        let file = write_snapshot(&*self.storage, covered, &payload)?;
        self.snapshot_covered.store(covered, Ordering::Relaxed);
        let segments_removed = self.prune(events_covered, covered)?;
        Ok(SnapshotReport {
            file,
            covered,
            bytes: payload.len(),
            segments_removed,
            longest_copy,
            elapsed: started.elapsed(),
        })
    }

    /// Removes snapshots older than `newest` and segments whose records are all
    /// at or before `events_covered`. The last segment always stays.
    fn prune(&self, events_covered: u64, newest: u64) -> Result<usize, std::io::Error> {
        for (sequence, name) in snapshots(&*self.storage)? {
            if sequence < newest {
                self.storage.remove(&name)?;
            }
        }
        let segments = reader::segments(&*self.storage)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            if pair[1].first_sequence <= events_covered + 1 {
                self.storage.remove(&pair[0].name)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The log sequence the newest snapshot covers (0 when there is none).
    pub fn snapshot_covered(&self) -> u64 {
        self.snapshot_covered.load(Ordering::Relaxed)
    }

    /// A clean stop: a snapshot (so the next start replays nothing), then the
    /// log is closed. Call once traffic has stopped.
    pub fn shutdown(&self) -> Result<SnapshotReport, SnapshotError> {
        let report = self.snapshot();
        self.close();
        report
    }

    /// Stops the log after it has written and synced everything queued.
    pub fn close(&self) {
        if let Some(wal) = self.log.0.get() {
            wal.close();
        }
    }
}

/// A snapshot's payload: version 1 has no key section.
fn decode_snapshot(version: u16, payload: &[u8]) -> Result<(EngineSnapshot, KeySection), codec::CodecError> {
    if version == 1 {
        return Ok((codec::decode(payload)?, KeySection::default()));
    }
    codec::decode(payload)
}

/// Reads a key file, or makes and keeps a new key on first start.
fn load_or_create<T: Serialize + serde::de::DeserializeOwned>(
    storage: &dyn Storage,
    file: &str,
    generate: impl FnOnce() -> T,
) -> Result<T, RecoveryError> {
    let broken = |why: String| RecoveryError::Keys { file: storage.describe(file), why };
    match storage.read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| broken(e.to_string())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = generate();
            let bytes = serde_json::to_vec(&key).map_err(|e| broken(e.to_string()))?;
            storage.write_atomically(file, &bytes).map_err(|e| broken(e.to_string()))?;
            Ok(key)
        }
        Err(error) => Err(broken(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::demo::demo_event;
    use crate::inventory::{HoldRequest, KeyedHold, Requester};
    use crate::wal::reader::RecordVisitor;
    use crate::wal::storage::MemoryStorage;

    /// Records held in memory, as another holder of the log (a replicated
    /// stream) would hand them over.
    struct RecordList(Vec<(u64, Vec<u8>)>);

    impl RecordSource for RecordList {
        fn read_after(&mut self, after_sequence: u64, visit: &mut RecordVisitor<'_>) -> Result<(), ScanError> {
            for (sequence, payload) in self.0.iter().filter(|(sequence, _)| *sequence > after_sequence) {
                visit(*sequence, payload).map_err(|reason| ScanError::Record {
                    file: "a list of records".into(),
                    offset: 0,
                    sequence: *sequence,
                    reason,
                })?;
            }
            Ok(())
        }
    }

    fn small_segments() -> EngineOptions {
        let wal = WalOptions { segment_bytes: 1 << 20, ..WalOptions::default() };
        EngineOptions { wal, ..EngineOptions::default() }
    }

    const ON_SALE: UnixTimeMs = UnixTimeMs(1_796_482_800_000); // 2026-12-05T15:00:00Z, the demo's

    /// A log with the demo event, buyers admitted, holds, and purchases.
    fn busy_log(clock: &Arc<ManualClock>) -> MemoryStorage {
        let storage = MemoryStorage::new();
        let (engine, _) = Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap();
        let (event, _) = engine.create_event(&demo_event().spec).unwrap();
        let buyers: Vec<BuyerId> = (0..30).map(|_| event.room.join().unwrap().0).collect();
        clock.set(ON_SALE);
        for _ in 0..30 {
            event.tick().unwrap();
            clock.advance_ms(100);
        }
        let request = HoldRequest::BestInSection { section: "L1".into(), quantity: 2 };
        for (index, buyer) in buyers.iter().enumerate().filter(|(_, b)| event.room.may_shop(**b)).take(6) {
            let Ok(KeyedHold::Placed(placed)) = event.hold(*buyer, &request, None) else { panic!("a hold") };
            if index % 2 == 0 {
                event.purchase(placed.hold.id, Requester::Buyer(*buyer), "k", "p").unwrap();
            }
        }
        engine.wait_durable(engine.after_everything_logged(Receipt::NONE)).unwrap();
        engine.close();
        storage
    }

    fn logged_records(storage: &MemoryStorage) -> Vec<(u64, Vec<u8>)> {
        let mut records = Vec::new();
        let mut disk = DiskRecords::new(storage);
        disk.read_after(0, &mut |sequence, payload| {
            records.push((sequence, payload.to_vec()));
            Ok(())
        })
        .unwrap();
        records
    }

    /// An engine replayed from `source` alone (no snapshot), its log not started.
    fn replayed(source: &mut dyn RecordSource, clock: &Arc<ManualClock>) -> Result<Engine, RecoveryError> {
        let storage = Arc::new(MemoryStorage::new());
        let engine = Engine::unstarted(storage, small_segments(), clock.clone())?;
        let mut replay = engine.load_snapshot(&mut RecoveryReport::default())?;
        engine.replay_from(source, &mut replay)?;
        Ok(engine)
    }

    /// What replay rebuilds: each event's inventory and its room, buyer by buyer.
    fn state(engine: &Engine) -> Vec<(String, crate::room::RoomStats, Vec<Option<QueueStatus>>)> {
        let events = engine.events();
        let picture = |event: &Arc<Event>| {
            let buyers = (0..event.room.stats().admitted_total + 40).map(BuyerId);
            let statuses = buyers.map(|b| event.room.peek(b, event.supply()).ok()).collect();
            (event.inventory.digest(), event.room.stats(), statuses)
        };
        events.iter().map(picture).collect()
    }

    #[test]
    fn records_from_any_source_replay_into_the_state_the_disk_replays_into() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = busy_log(&clock);
        let (from_disk, report) = Engine::open(Arc::new(storage.crash(0)), small_segments(), clock.clone()).unwrap();
        let records = logged_records(&storage);
        assert_eq!(report.records_replayed, records.len() as u64);
        let from_list = replayed(&mut RecordList(records), &clock).unwrap();
        assert_eq!(state(&from_list), state(&from_disk));
        assert!(from_disk.event(&demo_event().spec.id).unwrap().inventory.confirmed_orders() > 0);
    }

    #[test]
    fn a_source_that_skips_or_repeats_a_record_is_refused() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let records = logged_records(&busy_log(&clock));
        let mut skipping = records.clone();
        skipping.remove(5);
        let refused = replayed(&mut RecordList(skipping), &clock).unwrap_err().to_string();
        assert!(refused.contains("record 7 follows record 5"), "{refused}");
        let mut repeating = records;
        repeating.insert(5, repeating[4].clone());
        let refused = replayed(&mut RecordList(repeating), &clock).unwrap_err().to_string();
        assert!(refused.contains("record 5 is at or before log position 5"), "{refused}");
    }
}
