//! Inventory records: every change to an event's inventory, as plain data.
//!
//! An operation decides, under its locks, which record describes the change;
//! the record goes to the [`RecordSink`] (the write-ahead log) and then through
//! `Inventory::apply_locked`, the one function that changes state, live or on
//! replay. Records name places by layout index, which the event's spec fixes.

use std::cmp::Ordering as CmpOrdering;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::commit::{Receipt, SinkError};
use crate::ids::{BuyerId, HoldId, OrderId, ShardIndex};
use crate::time::UnixTimeMs;

/// A seat of a row, or a number of places in a general-admission slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Place {
    Seat { shard: ShardIndex, offset: u16 },
    Ga { shard: ShardIndex, places: u32 },
}

impl Place {
    pub fn shard(&self) -> ShardIndex {
        match *self {
            Place::Seat { shard, .. } | Place::Ga { shard, .. } => shard,
        }
    }

    pub fn tickets(&self) -> u32 {
        match *self {
            Place::Seat { .. } => 1,
            Place::Ga { places, .. } => places,
        }
    }

    /// Position in the global lock order; unique per place of one record.
    fn order_key(&self) -> (ShardIndex, u32) {
        match *self {
            Place::Seat { shard, offset } => (shard, u32::from(offset)),
            Place::Ga { shard, .. } => (shard, 0),
        }
    }
}

impl PartialOrd for Place {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Place {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.order_key().cmp(&other.order_key()).then_with(|| self.tickets().cmp(&other.tickets()))
    }
}

/// The places of a hold or an order, in lock order (strictly ascending).
pub type Places = SmallVec<[Place; 4]>;

/// Whether places are strictly ascending, so no place appears twice and locks
/// are taken in the global order.
pub(crate) fn places_in_lock_order(places: &[Place]) -> bool {
    places.windows(2).all(|pair| pair[0].order_key() < pair[1].order_key())
}

/// Why a hold ended without a purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HoldEndReason {
    /// The buyer or the promoter let it go.
    Released,
    /// Its time ran out.
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryRecord {
    /// Frees, in one shard, every hold that expired at or before `at`.
    ExpiredReclaimed {
        shard: ShardIndex,
        at: UnixTimeMs,
    },
    HoldPlaced {
        hold: HoldId,
        buyer: BuyerId,
        at: UnixTimeMs,
        expires_at: UnixTimeMs,
        places: Places,
    },
    HoldEnded {
        hold: HoldId,
        at: UnixTimeMs,
        reason: HoldEndReason,
    },
    /// The hold becomes an order. `scope` is whose idempotency keys `idempotency_key` joins.
    HoldPurchased {
        hold: HoldId,
        order: OrderId,
        at: UnixTimeMs,
        scope: BuyerId,
        idempotency_key: Box<str>,
        payment_ref: Box<str>,
    },
    OrderCancelled {
        order: OrderId,
        at: UnixTimeMs,
    },
    PlacesBlocked {
        places: Places,
        at: UnixTimeMs,
    },
    PlacesUnblocked {
        places: Places,
        at: UnixTimeMs,
    },
    /// `HoldPlaced` with the buyer's `Idempotency-Key` and the digest of the
    /// request, so a retry of the same request finds this hold.
    HoldPlacedWithKey {
        hold: HoldId,
        buyer: BuyerId,
        at: UnixTimeMs,
        expires_at: UnixTimeMs,
        places: Places,
        idempotency_key: Box<str>,
        request: [u8; 16],
    },
    /// A live hold lasts longer while its payment is under way (never
    /// shorter: `expires_at` is later than the hold's expiry before it).
    HoldExtended {
        hold: HoldId,
        at: UnixTimeMs,
        expires_at: UnixTimeMs,
    },
}

/// Where committed records go: the write-ahead log, or nowhere in tests.
///
/// `submit` is called with the shard locks held, so the order of submissions
/// is the order of changes per shard. It must not block on I/O: it hands the
/// record over and returns; durability is awaited on the receipt afterwards.
pub trait RecordSink: Send + Sync + std::fmt::Debug {
    fn submit(&self, record: &InventoryRecord) -> Result<Receipt, SinkError>;
}

/// Takes every record and keeps none: an in-memory inventory with no durability.
#[derive(Debug, Default)]
pub struct DiscardSink;

impl RecordSink for DiscardSink {
    fn submit(&self, _record: &InventoryRecord) -> Result<Receipt, SinkError> {
        Ok(Receipt::NONE)
    }
}
