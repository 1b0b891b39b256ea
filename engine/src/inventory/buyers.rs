//! Buyers' side of the inventory: holds, orders, ticket counts and idempotency
//! keys, in shards locked by buyer. A hold or order id names its buyer shard,
//! so every operation finds its lock directly.

use std::collections::VecDeque;

use ahash::AHashMap;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::record::{HoldEndReason, Places};
use crate::commit::Receipt;
use crate::ids::{BuyerId, HoldId, OrderId, TicketCount};
use crate::limits::ENDED_HOLDS_KEPT_PER_BUYER;
use crate::time::UnixTimeMs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldStatus {
    Active,
    Released { at: UnixTimeMs },
    Expired { at: UnixTimeMs },
    Purchased { order: OrderId, at: UnixTimeMs },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: HoldId,
    pub buyer: BuyerId,
    pub created_at: UnixTimeMs,
    pub expires_at: UnixTimeMs,
    pub places: Places,
    pub tickets: TicketCount,
    pub total_cents: u64,
    pub status: HoldStatus,
    /// The log position of the record that ended the hold: repeating a
    /// release waits on it too. Not in snapshots (whatever they hold is durable).
    #[serde(skip)]
    pub ended_receipt: Receipt,
}

impl Hold {
    /// Active and not past its expiry at `now`.
    pub fn is_live(&self, now: UnixTimeMs) -> bool {
        self.status == HoldStatus::Active && now < self.expires_at
    }

    /// The status as of `now`: a hold past its expiry is expired whether or
    /// not its expiry record has been written yet (commands judge it so too).
    pub fn status_at(&self, now: UnixTimeMs) -> HoldStatus {
        match self.status {
            HoldStatus::Active if now >= self.expires_at => HoldStatus::Expired { at: self.expires_at },
            status => status,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    Confirmed,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub buyer: BuyerId,
    pub hold: HoldId,
    pub created_at: UnixTimeMs,
    pub cancelled_at: Option<UnixTimeMs>,
    pub places: Places,
    pub tickets: TicketCount,
    pub total_cents: u64,
    pub payment_ref: Box<str>,
    pub idempotency_key: Box<str>,
    pub status: OrderStatus,
    /// The log position of the purchase: an idempotent replay waits on it too.
    /// Not part of snapshots: whatever a snapshot holds is durable.
    #[serde(skip)]
    pub receipt: Receipt,
    /// The log position of the cancellation, likewise.
    #[serde(skip)]
    pub cancel_receipt: Receipt,
}

/// A live hold as the per-buyer limit sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActiveHold {
    pub(crate) hold: HoldId,
    pub(crate) expires_at: UnixTimeMs,
    pub(crate) tickets: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct BuyerState {
    pub(crate) sold_tickets: u32,
    pub(crate) active_holds: SmallVec<[ActiveHold; 2]>,
    /// Released or expired holds, most recent last; bounded by `ENDED_HOLDS_KEPT_PER_BUYER`.
    pub(crate) ended_holds: VecDeque<HoldId>,
    pub(crate) orders: Vec<OrderId>,
    /// `(scope, key)` → order: a replayed purchase returns the same order.
    pub(crate) idempotency: AHashMap<(BuyerId, Box<str>), OrderId>,
    /// The buyer's hold keys, oldest first; bounded by `MAX_HOLD_KEYS_PER_BUYER`
    /// (a few per buyer: a list is smaller than a map and as quick).
    pub(crate) hold_keys: Vec<HoldKey>,
}

/// What a hold's `Idempotency-Key` was used for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HoldKey {
    pub(crate) key: Box<str>,
    pub(crate) hold: HoldId,
    /// Tells a replay (same request) from a reuse of the key (another one).
    pub(crate) request: RequestDigest,
    /// The log position of the hold: a replay before it is durable is told
    /// the first request is still in flight. `NONE` once restored from a snapshot.
    pub(crate) receipt: Receipt,
}

/// The first 16 bytes of the SHA-256 of a hold request's canonical encoding.
pub type RequestDigest = [u8; 16];

impl BuyerState {
    pub(crate) fn hold_key(&self, key: &str) -> Option<&HoldKey> {
        self.hold_keys.iter().find(|used| &*used.key == key)
    }

    /// Tickets this buyer holds (in unexpired holds) or has bought.
    pub(crate) fn tickets_counted(&self, now: UnixTimeMs) -> u32 {
        let held: u32 = self.active_holds.iter().filter(|h| now < h.expires_at).map(|h| h.tickets).sum();
        held + self.sold_tickets
    }
}

#[derive(Debug)]
pub(crate) struct BuyerShard {
    pub(crate) buyers: AHashMap<BuyerId, BuyerState>,
    pub(crate) holds: AHashMap<HoldId, Hold>,
    pub(crate) orders: AHashMap<OrderId, Order>,
    /// Sequences for the next hold and order ids of this shard: ids are drawn
    /// under the shard's lock, with no counter shared between threads, and
    /// `apply` moves these past every id it sees, live or on replay.
    pub(crate) next_hold_sequence: u64,
    pub(crate) next_order_sequence: u64,
}

impl Default for BuyerShard {
    fn default() -> Self {
        Self {
            buyers: AHashMap::new(),
            holds: AHashMap::new(),
            orders: AHashMap::new(),
            next_hold_sequence: 1,
            next_order_sequence: 1,
        }
    }
}

impl BuyerShard {
    pub(crate) fn insert_hold(&mut self, hold: Hold) {
        self.next_hold_sequence = self.next_hold_sequence.max(hold.id.sequence() + 1);
        let buyer = self.buyers.entry(hold.buyer).or_default();
        buyer.active_holds.push(ActiveHold { hold: hold.id, expires_at: hold.expires_at, tickets: hold.tickets.0 });
        self.holds.insert(hold.id, hold);
    }

    /// Marks an active hold ended; returns it (for its places).
    pub(crate) fn end_hold(&mut self, hold_id: HoldId, status: HoldStatus, receipt: Receipt) -> &Hold {
        let hold = self.holds.get_mut(&hold_id).expect("checked: the hold exists");
        debug_assert_eq!(hold.status, HoldStatus::Active);
        hold.status = status;
        hold.ended_receipt = receipt;
        let buyer_id = hold.buyer;
        let buyer = self.buyers.get_mut(&buyer_id).expect("a hold's buyer exists");
        buyer.active_holds.retain(|h| h.hold != hold_id);
        // A purchased hold is kept as long as its order (bounded by
        // `MAX_ORDERS_PER_BUYER`): a retried purchase must find it to replay the order.
        // A keyed hold is kept too (bounded by `MAX_HOLD_KEYS_PER_BUYER`): a retried hold must find it.
        let keyed = buyer.hold_keys.iter().any(|used| used.hold == hold_id);
        if !matches!(status, HoldStatus::Purchased { .. }) && !keyed {
            buyer.ended_holds.push_back(hold_id);
            if buyer.ended_holds.len() > ENDED_HOLDS_KEPT_PER_BUYER {
                if let Some(forgotten) = buyer.ended_holds.pop_front() {
                    self.holds.remove(&forgotten);
                }
            }
        }
        &self.holds[&hold_id]
    }

    pub(crate) fn insert_order(&mut self, order: Order, scope: BuyerId) {
        self.next_order_sequence = self.next_order_sequence.max(order.id.sequence() + 1);
        let buyer = self.buyers.get_mut(&order.buyer).expect("an order's buyer exists");
        buyer.sold_tickets += order.tickets.0;
        buyer.orders.push(order.id);
        if scope != BuyerId::ADMIN {
            // The admin's keys are event-wide: the inventory keeps them.
            buyer.idempotency.insert((scope, order.idempotency_key.clone()), order.id);
        }
        self.orders.insert(order.id, order);
    }

    pub(crate) fn cancel_order(&mut self, order_id: OrderId, at: UnixTimeMs, receipt: Receipt) -> &Order {
        let order = self.orders.get_mut(&order_id).expect("checked: the order exists");
        debug_assert_eq!(order.status, OrderStatus::Confirmed);
        order.status = OrderStatus::Cancelled;
        order.cancelled_at = Some(at);
        order.cancel_receipt = receipt;
        let buyer = self.buyers.get_mut(&order.buyer).expect("an order's buyer exists");
        buyer.sold_tickets -= order.tickets.0;
        order
    }
}

pub(crate) fn ended_status(reason: HoldEndReason, at: UnixTimeMs) -> HoldStatus {
    match reason {
        HoldEndReason::Released => HoldStatus::Released { at },
        HoldEndReason::Expired => HoldStatus::Expired { at },
    }
}
