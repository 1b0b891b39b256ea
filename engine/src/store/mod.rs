//! The durable engine's registry: events (inventory and waiting room each)
//! by id and by number over one write-ahead log, the token and ticket
//! signing keys, what to await for durability, and the snapshots taken.
//!
//! Every change reaches the log as a [`WalRecord`] (an event's creation, or an
//! inventory or room record tagged with its event's number). How an engine
//! comes back from its data directory is [`recovery`]'s part.

mod buyer_requests;
mod cancellations;
mod checkins;
mod creation;
mod credentials;
mod emails;
mod follower;
mod order_tokens;
pub mod payment_upkeep;
pub mod payments;
pub mod personal;
pub mod recovery;
mod snapshot;

pub use buyer_requests::BuyerRequestError;
pub use checkins::{CheckInError, CheckInOutcome, Scan, TicketCheckIn};
pub use follower::Follower;
pub use payments::{CheckoutError, ConfirmOutcome, Confirmation};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::codec;
use crate::commit::{Receipt, SinkError};
use crate::credentials::Credentials;
use crate::entropy::{Entropy, OsEntropy};
use crate::event::LogHandle;
pub use crate::event::{Event, EventNumber, WalRecord};
use crate::ids::BuyerId;
use crate::inventory::{HoldKeysSnapshot, InventoryError, InventorySnapshot};
use crate::limits::{DEFAULT_HEARTBEAT_GRACE_S, DEFAULT_POLL_TOLERANCE_PERCENT, MAX_EVENTS};
use crate::outbox::Outbox;
use crate::payments::PaymentBook;
use crate::personal::{ContactKey, KeyId, PersonalBook};
use crate::room::{BuyerState, JoinKeysSnapshot, QueueStatus, RoomSnapshot};
use crate::spec::SpecErrors;
use crate::tickets::{TicketClaims, TicketSigner};
use crate::time::UnixTimeMs;
use crate::tokens::{KeyRing, TokenClaims, TokenError, TokenKind};
use crate::wal::storage::Storage;
use crate::wal::{Replication, Wal, WalError, WalOptions};

/// The idempotency keys of holds and joins, per event in the order of
/// `EngineSnapshot::events`: format version 2 appends this section to
/// version 1's payload, so version 1 snapshots still decode (with no keys).
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct KeySection {
    pub(crate) events: Vec<(HoldKeysSnapshot, JoinKeysSnapshot)>,
}

/// Engine-wide state kept by the parts that are not an event's (format
/// version 3 appends this to version 2's payload): each part's state in a
/// section of its own, by name, with the log sequence its cut covers, so
/// replay skips that part's records up to it. A part added later adds a
/// name, not a format version. Recovery refuses a name it does not know: a
/// newer build's state is never half read.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct NamedSections(pub(crate) BTreeMap<String, NamedSection>);

/// The credentials' section of a snapshot.
pub(crate) const CREDENTIALS_SECTION: &str = "credentials";

#[derive(Serialize, Deserialize)]
pub(crate) struct NamedSection {
    /// Every record of this part at or before this sequence is in `bytes`.
    pub(crate) covered: u64,
    pub(crate) bytes: Vec<u8>,
}

/// A snapshot's payload (format version 1; version 2 appends a [`KeySection`],
/// version 3 then [`NamedSections`]).
#[derive(Serialize, Deserialize)]
pub(crate) struct EngineSnapshot {
    /// Every event created at or before this sequence is in `events`.
    pub(crate) events_covered: u64,
    pub(crate) events: Vec<EventSnapshot>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct EventSnapshot {
    pub(crate) number: EventNumber,
    pub(crate) spec_json: String,
    pub(crate) created_at: UnixTimeMs,
    pub(crate) lottery_seed: [u8; 32],
    pub(crate) coverage: Coverage,
    pub(crate) inventory: InventorySnapshot,
    pub(crate) room: RoomSnapshot,
}

/// The log sequences an event's snapshot covers: every inventory (room)
/// record at or before `inventory` (`room`) is in it. Two cuts, because the
/// inventory and the room have their own locks.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Coverage {
    pub(crate) inventory: u64,
    pub(crate) room: u64,
}

#[derive(Clone)]
pub struct EngineOptions {
    pub wal: WalOptions,
    /// Where synced batches are replicated before they count as durable
    /// (`None`: alone, the local sync is enough).
    pub replication: Option<Arc<dyn Replication>>,
    /// A waiting buyer silent for longer loses the place.
    pub heartbeat_grace_s: u32,
    /// Polls are accepted from this share of the advised interval on (0: all).
    pub poll_tolerance_percent: u8,
    /// Where lottery seeds and signing keys come from.
    pub entropy: Arc<dyn Entropy>,
    /// Makes the personal-data key table's storage from the data
    /// directory's `personal-keys/` (`None`: that directory alone). A
    /// cluster wraps it so that every key is also in the cluster before a
    /// record names it, and gone from it before an erasure is logged.
    pub personal_key_table: Option<Arc<PersonalKeyTable>>,
}

/// See [`EngineOptions::personal_key_table`].
pub type PersonalKeyTable = dyn Fn(Arc<dyn Storage>) -> Arc<dyn Storage> + Send + Sync;

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("wal", &self.wal)
            .field("replicated", &self.replication.is_some())
            .field("personal_key_table_mirrored", &self.personal_key_table.is_some())
            .field("heartbeat_grace_s", &self.heartbeat_grace_s)
            .field("poll_tolerance_percent", &self.poll_tolerance_percent)
            .finish_non_exhaustive()
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            wal: WalOptions::default(),
            replication: None,
            heartbeat_grace_s: DEFAULT_HEARTBEAT_GRACE_S,
            poll_tolerance_percent: DEFAULT_POLL_TOLERANCE_PERCENT,
            entropy: Arc::new(OsEntropy),
            personal_key_table: None,
        }
    }
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
    credentials: Credentials,
    /// Events by number; its lock serialises creations with their log records.
    ordered: Mutex<Vec<Arc<Event>>>,
    snapshot_running: Mutex<()>,
    /// The log sequence the newest snapshot covers (0: none).
    snapshot_covered: AtomicU64,
    /// Engine-wide parts (snapshot sections `payments` and `outbox`); lock
    /// order: payments, then an event's inventory, then the outbox.
    payments: Mutex<PaymentBook>,
    outbox: Mutex<Outbox>,
    /// Buyers' sealed personal data (snapshot section `personal`; after the
    /// payments in lock order) and the key table that opens it (never in a
    /// snapshot or the log).
    personal: Mutex<PersonalBook>,
    personal_keys: Arc<dyn Storage>,
    /// Tickets let in at the door (snapshot section `checkins`).
    checkins: Mutex<crate::checkins::CheckInBook>,
    /// Keys already durable in the key table and named by no record yet
    /// (at most `SPARE_PERSONAL_KEYS`), taken by checkouts.
    spare_personal_keys: Mutex<Vec<(KeyId, ContactKey)>>,
    /// When the sweeper last looked for cancelled orders without their
    /// refund (ms; 0: a refund was refused since, look at the next sweep).
    missing_refunds_checked_ms: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("events", &self.events.len()).finish()
    }
}

impl Engine {
    /// An engine with these keys and no events, its log not yet started
    /// (recovery fills it, then starts the log).
    pub(crate) fn with_keys(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
        keys: KeyRing,
        tickets: TicketSigner,
        personal_keys: Arc<dyn Storage>,
    ) -> Engine {
        Engine {
            storage,
            log: Arc::new(LogHandle::default()),
            clock,
            options,
            keys,
            tickets,
            events: DashMap::new(),
            credentials: Credentials::default(),
            ordered: Mutex::new(Vec::new()),
            snapshot_running: Mutex::new(()),
            snapshot_covered: AtomicU64::new(0),
            payments: Mutex::new(PaymentBook::default()),
            outbox: Mutex::new(Outbox::default()),
            personal: Mutex::new(PersonalBook::default()),
            personal_keys,
            checkins: Mutex::new(crate::checkins::CheckInBook::default()),
            spare_personal_keys: Mutex::new(Vec::new()),
            missing_refunds_checked_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Hands the started log to the events' sinks; once only.
    pub(crate) fn start_log(&self, wal: Wal) {
        self.log.0.set(Arc::new(wal)).expect("the log is started once");
    }

    /// Records the sequence the snapshot recovery loaded covers.
    pub(crate) fn note_snapshot_loaded(&self, covered: u64) {
        self.snapshot_covered.store(covered, Ordering::Relaxed);
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

    /// The keys that sign and check queue, access and order tokens.
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

    /// The log sequence the newest snapshot covers (0 when there is none).
    pub fn snapshot_covered(&self) -> u64 {
        self.snapshot_covered.load(Ordering::Relaxed)
    }

    /// A clean stop: a snapshot (so the next start replays nothing), then the
    /// log is closed. Call once traffic has stopped.
    pub fn shutdown(&self) -> Result<SnapshotReport, SnapshotError> {
        // A stopped server's key table holds only keys that seal data.
        if let Err(error) = self.discard_spare_personal_keys() {
            tracing::warn!("spare personal-data keys left for the next start to remove: {error}");
        }
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
