//! One event on sale: its spec, its inventory and its waiting room, tied to
//! the log they share, and the operations that need both (a purchase frees
//! the buyer's place among the active shoppers). What the room does after an
//! inventory record is written once, in `follow_inventory_record`, which
//! live traffic and replay both call.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::checkins::{CheckInRecord, SecondEntryRecord};
use crate::clock::Clock;
use crate::codec;
use crate::commit::{ApplyError, Receipt, SinkError};
use crate::credentials::{CredentialId, CredentialRecord};
use crate::ids::{BuyerId, HoldId};
use crate::inventory::{
    HoldRequest, Inventory, InventoryError, InventoryRecord, KeyedHold, Purchase, RecordSink, Requester,
};
use crate::outbox::OutboxRecord;
use crate::payments::PaymentRecord;
use crate::personal::PersonalRecord;
use crate::room::{
    QueueStatus, RoomConfig, RoomError, RoomRecord, RoomSettings, RoomSink, Supply, TickReport, WaitingRoom,
};
use crate::sync::{AtomicU64, Ordering};
use crate::time::UnixTimeMs;
use crate::valid::ValidEvent;
use crate::wal::Wal;

/// An event's position in creation order; what log records name it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventNumber(pub u32);

/// One record of the log, as written (borrowing) ...
#[derive(Serialize)]
pub(crate) enum WalRecordRef<'a> {
    // Kept for its place (the two enums' variants share indices): events
    // are created with `EventCreatedBy` now, and older logs still say this.
    #[allow(dead_code)]
    EventCreated {
        event: EventNumber,
        at: UnixTimeMs,
        lottery_seed: [u8; 32],
        spec_json: &'a str,
    },
    Inventory {
        event: EventNumber,
        record: &'a InventoryRecord,
    },
    Room {
        event: EventNumber,
        record: &'a RoomRecord,
    },
    Credential {
        record: &'a CredentialRecord,
    },
    EventCreatedBy {
        event: EventNumber,
        at: UnixTimeMs,
        lottery_seed: [u8; 32],
        spec_json: &'a str,
        created_by: CredentialId,
    },
    StaffRequest {
        by: CredentialId,
        at: UnixTimeMs,
        request: &'a str,
    },
    Payment {
        record: &'a PaymentRecord,
    },
    Outbox {
        record: &'a OutboxRecord,
    },
    Personal {
        record: &'a PersonalRecord,
    },
    Term {
        node: &'a str,
        lease_revision: u64,
        at: UnixTimeMs,
    },
    CheckIn {
        record: &'a CheckInRecord,
    },
    SecondEntry {
        record: &'a SecondEntryRecord,
    },
}

/// ... and as read back. The two enums must keep the same shape.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum WalRecord {
    EventCreated {
        event: EventNumber,
        at: UnixTimeMs,
        lottery_seed: [u8; 32],
        spec_json: String,
    },
    Inventory {
        event: EventNumber,
        record: InventoryRecord,
    },
    Room {
        event: EventNumber,
        record: RoomRecord,
    },
    /// A change to the staff and machine credentials.
    Credential {
        record: CredentialRecord,
    },
    /// An event's creation naming who created it (`EventCreated`, older,
    /// counts as created by the environment's admin token).
    EventCreatedBy {
        event: EventNumber,
        at: UnixTimeMs,
        lottery_seed: [u8; 32],
        spec_json: String,
        created_by: CredentialId,
    },
    /// A staff credential asked for a change (`request`: method and path).
    /// Logged before the change is tried, so the change, if made, follows
    /// it in the log; a refused request leaves this record alone.
    StaffRequest {
        by: CredentialId,
        at: UnixTimeMs,
        request: String,
    },
    /// Engine-wide: a payment started, confirmed, failed or refunded.
    Payment {
        record: PaymentRecord,
    },
    /// Engine-wide: a side effect queued or attempted.
    Outbox {
        record: OutboxRecord,
    },
    /// Engine-wide: a buyer's personal data kept (sealed) or erased.
    Personal {
        record: PersonalRecord,
    },
    /// Cluster mode: `node` became the primary, holding the lease at
    /// `lease_revision`. Every later record until the next term is that
    /// node's; it changes no state.
    Term {
        node: String,
        lease_revision: u64,
        at: UnixTimeMs,
    },
    /// Engine-wide: a ticket let in at the door.
    CheckIn {
        record: CheckInRecord,
    },
    /// Engine-wide: a ticket a door without network let in again.
    SecondEntry {
        record: SecondEntryRecord,
    },
}

impl WalRecord {
    pub fn decode(payload: &[u8]) -> Result<Self, codec::CodecError> {
        codec::decode(payload)
    }
}

/// The log, reachable by the events' sinks once recovery has started it.
#[derive(Debug, Default)]
pub(crate) struct LogHandle(pub(crate) OnceLock<Arc<Wal>>);

impl LogHandle {
    pub(crate) fn submit(&self, record: &WalRecordRef<'_>) -> Result<Receipt, SinkError> {
        let wal = self.0.get().ok_or_else(|| SinkError::Poisoned("the log is not open yet".into()))?;
        let payload = codec::encode(record).map_err(|error| SinkError::Encode(error.to_string()))?;
        wal.submit(payload)
    }
}

/// Tags an event's records with its number and logs them.
#[derive(Debug)]
struct EventSink {
    event: EventNumber,
    log: Arc<LogHandle>,
}

impl RecordSink for EventSink {
    fn submit(&self, record: &InventoryRecord) -> Result<Receipt, SinkError> {
        self.log.submit(&WalRecordRef::Inventory { event: self.event, record })
    }
}

impl RoomSink for EventSink {
    fn submit(&self, record: &RoomRecord) -> Result<Receipt, SinkError> {
        self.log.submit(&WalRecordRef::Room { event: self.event, record })
    }
}

/// What is left to sell, refreshed at every tick (just before the room
/// decides admissions from it), so a status poll reads three numbers instead
/// of summing every shard.
#[derive(Debug, Default)]
struct SupplyCache {
    remaining: AtomicU64,
    available: AtomicU64,
    milli_tickets_per_order: AtomicU64,
}

/// An event on sale.
#[derive(Debug)]
pub struct Event {
    pub number: EventNumber,
    pub valid: ValidEvent,
    pub created_at: UnixTimeMs,
    pub inventory: Inventory,
    pub room: WaitingRoom,
    lottery_seed: [u8; 32],
    supply: SupplyCache,
}

/// How the waiting room treats polls (the engine's options, the same for every event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPolicy {
    pub heartbeat_grace_s: u32,
    pub poll_tolerance_percent: u8,
}

/// Before any order, the room assumes this many tickets per order.
const PRIOR_TICKETS_PER_ORDER: f64 = 2.0;

impl Event {
    pub(crate) fn new(
        number: EventNumber,
        valid: ValidEvent,
        created_at: UnixTimeMs,
        lottery_seed: [u8; 32],
        policy: PollPolicy,
        clock: Arc<dyn Clock>,
        log: Arc<LogHandle>,
    ) -> Event {
        let sink = Arc::new(EventSink { event: number, log });
        let inventory = Inventory::new(&valid, clock.clone(), sink.clone());
        let config = RoomConfig {
            on_sale_at: valid.on_sale_at,
            closes_at: valid.starts_at,
            access_ttl_s: valid.spec.room.access_ttl_s,
            heartbeat_grace_s: policy.heartbeat_grace_s,
            poll_tolerance_percent: policy.poll_tolerance_percent,
            seed: lottery_seed,
        };
        let settings = RoomSettings {
            admit_per_minute: valid.spec.room.admit_per_minute,
            max_active: valid.spec.room.max_active,
            paused: false,
        };
        let room = WaitingRoom::new(config, settings, created_at, clock, sink);
        let event = Event { number, valid, created_at, inventory, room, lottery_seed, supply: SupplyCache::default() };
        event.refresh_supply();
        event
    }

    pub fn id(&self) -> &str {
        &self.valid.spec.id
    }

    pub(crate) fn lottery_seed(&self) -> [u8; 32] {
        self.lottery_seed
    }

    /// Holds places for an admitted buyer; the room then stops counting the
    /// buyer among those still looking (see `WaitingRoom::note_hold`).
    pub fn hold(
        &self,
        buyer: BuyerId,
        request: &HoldRequest,
        idempotency_key: Option<&str>,
    ) -> Result<KeyedHold, InventoryError> {
        let outcome = match idempotency_key {
            None => KeyedHold::Placed(self.inventory.hold(buyer, request)?),
            Some(key) => self.inventory.hold_with_key(buyer, request, key)?,
        };
        if let KeyedHold::Placed(placed) = &outcome {
            self.follow_inventory_record(&placed.record);
        }
        Ok(outcome)
    }

    /// Buys a hold; a first purchase also frees the buyer's active place.
    pub fn purchase(
        &self,
        hold: HoldId,
        requester: Requester,
        idempotency_key: &str,
        payment_ref: &str,
    ) -> Result<Purchase, InventoryError> {
        let purchase = self.inventory.purchase(hold, requester, idempotency_key, payment_ref)?;
        if let Some(record) = &purchase.record {
            self.follow_inventory_record(record);
        }
        Ok(purchase)
    }

    /// Replays an inventory record logged at `receipt`: applied unless the
    /// inventory's snapshot already holds it, then followed by the room
    /// whatever the room's cut (a snapshot may fall between the two).
    pub(crate) fn replay_inventory_record(
        &self,
        record: &InventoryRecord,
        receipt: Receipt,
        in_snapshot: bool,
    ) -> Result<(), ApplyError> {
        if !in_snapshot {
            self.inventory.apply(record, receipt)?;
        }
        self.follow_inventory_record(record);
        Ok(())
    }

    /// The room rules that follow from an inventory record, live and on
    /// replay alike: a hold takes its buyer out of those still looking (for
    /// admission), a purchase frees the buyer's active place. Called once
    /// the record is applied; following a record twice changes nothing.
    fn follow_inventory_record(&self, record: &InventoryRecord) {
        match *record {
            InventoryRecord::HoldPlaced { buyer, .. } | InventoryRecord::HoldPlacedWithKey { buyer, .. } => {
                self.room.note_hold(buyer)
            }
            InventoryRecord::HoldPurchased { hold, .. } => {
                if let Some(held) = self.inventory.hold_info(hold) {
                    self.room.note_purchase(held.buyer);
                }
            }
            _ => {}
        }
    }

    /// A buyer's place in line (a poll: the heartbeat).
    pub fn queue_status(&self, buyer: BuyerId) -> Result<QueueStatus, RoomError> {
        self.room.status(buyer, self.supply())
    }

    /// Opens the lobby when due and admits from the front; run at least every 100 ms.
    pub fn tick(&self) -> Result<TickReport, RoomError> {
        let supply = self.refresh_supply();
        self.room.tick(supply)
    }

    /// The supply as of the last tick.
    pub fn supply(&self) -> Supply {
        Supply {
            remaining: self.supply.remaining.load(Ordering::Relaxed),
            available: self.supply.available.load(Ordering::Relaxed),
            tickets_per_order: self.supply.milli_tickets_per_order.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    fn refresh_supply(&self) -> Supply {
        let total = self.inventory.availability().total;
        let orders = self.inventory.confirmed_orders();
        let tickets_per_order = if orders == 0 { PRIOR_TICKETS_PER_ORDER } else { total.sold as f64 / orders as f64 };
        let supply = Supply { remaining: total.available + total.held, available: total.available, tickets_per_order };
        self.supply.remaining.store(supply.remaining, Ordering::Relaxed);
        self.supply.available.store(supply.available, Ordering::Relaxed);
        self.supply.milli_tickets_per_order.store((tickets_per_order * 1000.0) as u64, Ordering::Relaxed);
        supply
    }
}
