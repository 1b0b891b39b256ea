//! An inventory's whole state as plain data: taken under all of the event's
//! locks (a consistent cut), restored into a fresh inventory, and hashed for
//! replay-determinism checks. Collections are sorted, so equal states encode
//! to equal bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::buyers::{ActiveHold, BuyerShard, BuyerState, Hold, HoldKey, Order, RequestDigest};
use super::shard::{SeatCell, ShardHold, ShardState};
use super::{AdminKey, ApplyError, Counts, Inventory};
use crate::codec;
use crate::ids::{BuyerId, HoldId, OrderId};
use crate::sync::MutexGuard;
use crate::time::UnixTimeMs;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventorySnapshot {
    shards: Vec<ShardSnapshot>,
    buyers: Vec<BuyerSnapshot>,
    holds: Vec<Hold>,
    orders: Vec<Order>,
    /// Per buyer shard: the next hold and order sequences.
    id_sequences: Vec<(u64, u64)>,
    admin_keys: Vec<(Box<str>, AdminKey)>,
    /// Not in the encoding of this struct (which snapshot format version 1
    /// fixed): the engine's snapshot carries it in a section of its own.
    #[serde(skip)]
    pub(crate) hold_keys: HoldKeysSnapshot,
}

/// Every buyer's hold keys: `(buyer, key, hold, request digest)`, by buyer,
/// each buyer's oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldKeysSnapshot(Vec<(BuyerId, Box<str>, HoldId, RequestDigest)>);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ShardSnapshot {
    cells: Vec<u64>,
    counts: Counts,
    holds: Vec<(HoldId, UnixTimeMs, u32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BuyerSnapshot {
    buyer: BuyerId,
    sold_tickets: u32,
    active_holds: Vec<(HoldId, UnixTimeMs, u32)>,
    ended_holds: Vec<HoldId>,
    orders: Vec<OrderId>,
    idempotency: Vec<(BuyerId, Box<str>, OrderId)>,
}

impl Inventory {
    /// Locks everything (in the global order), calls `cut` while every lock
    /// is held (the log's last sequence at that instant is the snapshot's
    /// coverage), and copies the state out.
    pub fn snapshot<T>(&self, cut: impl FnOnce() -> T) -> (InventorySnapshot, T) {
        let buyer_shards: Vec<MutexGuard<'_, BuyerShard>> = self.buyer_shards.iter().map(|s| s.lock()).collect();
        let seat_shards: Vec<MutexGuard<'_, ShardState>> = self.shards.iter().map(|s| s.state.lock()).collect();
        let covered = cut();
        let mut snapshot = InventorySnapshot {
            shards: seat_shards.iter().map(|s| shard_snapshot(s)).collect(),
            buyers: Vec::new(),
            holds: Vec::new(),
            orders: Vec::new(),
            id_sequences: buyer_shards.iter().map(|s| (s.next_hold_sequence, s.next_order_sequence)).collect(),
            admin_keys: Vec::new(),
            hold_keys: HoldKeysSnapshot::default(),
        };
        for shard in &buyer_shards {
            snapshot.buyers.extend(shard.buyers.iter().map(|(id, state)| buyer_snapshot(*id, state)));
            for (buyer, state) in &shard.buyers {
                let keys = state.hold_keys.iter().map(|used| (*buyer, used.key.clone(), used.hold, used.request));
                snapshot.hold_keys.0.extend(keys);
            }
            snapshot.holds.extend(shard.holds.values().cloned());
            snapshot.orders.extend(shard.orders.values().cloned());
        }
        snapshot.admin_keys = self.admin_keys.lock().iter().map(|(key, used)| (key.clone(), used.clone())).collect();
        drop(seat_shards);
        drop(buyer_shards);
        snapshot.admin_keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        snapshot.buyers.sort_unstable_by_key(|b| b.buyer);
        snapshot.holds.sort_unstable_by_key(|h| h.id);
        snapshot.orders.sort_unstable_by_key(|o| o.id);
        snapshot.hold_keys.0.sort_by_key(|(buyer, ..)| *buyer); // stable: each buyer's keys stay in order
        (snapshot, covered)
    }

    /// Loads a snapshot into this inventory, which must be fresh (nothing
    /// applied yet) and built from the same event spec; then checks the invariants.
    pub fn restore(&self, snapshot: InventorySnapshot) -> Result<(), ApplyError> {
        if snapshot.shards.len() != self.shards.len() {
            return Err(ApplyError(format!(
                "snapshot has {} shards, the event's layout {}",
                snapshot.shards.len(),
                self.shards.len()
            )));
        }
        for (shard, saved) in self.shards.iter().zip(snapshot.shards) {
            let mut state = shard.state.lock();
            if saved.cells.len() != state.cells.len() {
                return Err(ApplyError("a snapshot row has another number of seats than the layout".into()));
            }
            state.cells = saved.cells.into_iter().map(SeatCell::from_raw).collect();
            state.counts = saved.counts;
            state.holds = saved
                .holds
                .into_iter()
                .map(|(id, expires_at, places)| (id, ShardHold { expires_at, places }))
                .collect();
            state.earliest_expiry = UnixTimeMs::ZERO;
            shard.published.publish(&state.counts);
        }
        for buyer in snapshot.buyers {
            let mut shard = self.buyer_shards[buyer.buyer.shard()].lock();
            shard.buyers.insert(buyer.buyer, buyer_state(buyer));
        }
        for hold in snapshot.holds {
            let shard = hold.id.shard().ok_or_else(|| ApplyError(format!("hold id {} names no shard", hold.id)))?;
            self.buyer_shards[shard].lock().holds.insert(hold.id, hold);
        }
        for order in snapshot.orders {
            let shard = order.id.shard().ok_or_else(|| ApplyError(format!("order id {} names no shard", order.id)))?;
            self.buyer_shards[shard].lock().orders.insert(order.id, order);
        }
        if snapshot.id_sequences.len() != self.buyer_shards.len() {
            return Err(ApplyError("the snapshot has another number of buyer shards".into()));
        }
        self.admin_keys.lock().extend(snapshot.admin_keys);
        for (buyer, key, hold, request) in snapshot.hold_keys.0 {
            let mut shard = self.buyer_shards[buyer.shard()].lock();
            let used = HoldKey { key, hold, request, receipt: super::Receipt::NONE };
            shard.buyers.entry(buyer).or_default().hold_keys.push(used);
        }
        for (shard, (next_hold, next_order)) in self.buyer_shards.iter().zip(snapshot.id_sequences) {
            let mut shard = shard.lock();
            shard.next_hold_sequence = shard.next_hold_sequence.max(next_hold);
            shard.next_order_sequence = shard.next_order_sequence.max(next_order);
        }
        let confirmed = self
            .buyer_shards
            .iter()
            .map(|s| s.lock().orders.values().filter(|o| o.status == super::OrderStatus::Confirmed).count() as u64)
            .sum();
        self.confirmed_orders.store(confirmed, crate::sync::Ordering::Relaxed);
        self.check_invariants().map_err(|violation| ApplyError(format!("restored snapshot: {violation}")))
    }

    /// SHA-256 of the canonical encoding of the whole state, in hex: equal
    /// states, equal digests.
    pub fn digest(&self) -> String {
        let (snapshot, ()) = self.snapshot(|| ());
        let bytes = codec::encode(&(&snapshot, &snapshot.hold_keys)).expect("an inventory snapshot encodes");
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn shard_snapshot(state: &ShardState) -> ShardSnapshot {
    let mut holds: Vec<(HoldId, UnixTimeMs, u32)> =
        state.holds.iter().map(|(id, h)| (*id, h.expires_at, h.places)).collect();
    holds.sort_unstable();
    ShardSnapshot { cells: state.cells.iter().map(|c| c.to_raw()).collect(), counts: state.counts, holds }
}

fn buyer_snapshot(buyer: BuyerId, state: &BuyerState) -> BuyerSnapshot {
    let mut idempotency: Vec<(BuyerId, Box<str>, OrderId)> =
        state.idempotency.iter().map(|((scope, key), order)| (*scope, key.clone(), *order)).collect();
    idempotency.sort_unstable();
    BuyerSnapshot {
        buyer,
        sold_tickets: state.sold_tickets,
        active_holds: state.active_holds.iter().map(|h| (h.hold, h.expires_at, h.tickets)).collect(),
        ended_holds: state.ended_holds.iter().copied().collect(),
        orders: state.orders.clone(),
        idempotency,
    }
}

fn buyer_state(saved: BuyerSnapshot) -> BuyerState {
    BuyerState {
        sold_tickets: saved.sold_tickets,
        active_holds: saved
            .active_holds
            .into_iter()
            .map(|(hold, expires_at, tickets)| ActiveHold { hold, expires_at, tickets })
            .collect(),
        ended_holds: saved.ended_holds.into_iter().collect(),
        orders: saved.orders,
        idempotency: saved.idempotency.into_iter().map(|(scope, key, order)| ((scope, key), order)).collect(),
        hold_keys: Vec::new(),
    }
}
