//! The inventory's invariants, checked over the whole state: for tests, debug
//! runs, and after recovery.
//!
//! - per shard: available + held + sold + blocked = capacity, and a row's
//!   counts match its cells;
//! - every held place belongs to an active hold that lists it, every sold place
//!   to a confirmed order that lists it: no seat is in two holds or orders;
//! - every buyer's bought-ticket count matches their confirmed orders.

use std::collections::HashMap;

use super::buyers::{BuyerShard, HoldStatus, OrderStatus};
use super::record::Place;
use super::shard::{Counts, SeatState, ShardState};
use super::Inventory;
use crate::ids::{BuyerId, HoldId, OrderId, ShardIndex};
use crate::sync::MutexGuard;
use crate::time::UnixTimeMs;

/// Every broken invariant found, described for a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("inventory invariants broken: {}", .0.join("; "))]
pub struct InvariantViolation(pub Vec<String>);

impl Inventory {
    /// Locks everything (in the global order) and checks every invariant.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let now = self.clock.now();
        let buyer_shards: Vec<MutexGuard<'_, BuyerShard>> = self.buyer_shards.iter().map(|s| s.lock()).collect();
        let seat_shards: Vec<MutexGuard<'_, ShardState>> = self.shards.iter().map(|s| s.state.lock()).collect();
        let mut problems = Vec::new();
        for (index, state) in seat_shards.iter().enumerate() {
            self.check_shard(ShardIndex(index as u32), state, &mut problems);
            if self.shards[index].published.read() != state.counts {
                problems.push(format!("shard {index}: published counts lag the shard's counts"));
            }
        }
        check_holds_against_shards(&buyer_shards, &seat_shards, now, &mut problems);
        check_orders_against_shards(&buyer_shards, &seat_shards, &mut problems);
        check_buyers(&buyer_shards, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvariantViolation(problems))
        }
    }

    fn check_shard(&self, index: ShardIndex, state: &ShardState, problems: &mut Vec<String>) {
        let capacity = u64::from(self.layout.shard(index).capacity());
        if state.counts.total() != capacity {
            problems.push(format!("shard {}: counts {:?} do not add up to capacity {capacity}", index.0, state.counts));
        }
        if state.is_row() {
            let mut counted = Counts::default();
            for offset in 0..state.cells.len() as u16 {
                match state.seat(offset) {
                    SeatState::Available => counted.available += 1,
                    SeatState::Blocked => counted.blocked += 1,
                    SeatState::Held(_) => counted.held += 1,
                    SeatState::Sold(_) => counted.sold += 1,
                }
            }
            if counted != state.counts {
                problems.push(format!("shard {}: counts {:?} disagree with cells {counted:?}", index.0, state.counts));
            }
        }
        let held_by_holds: u64 = state.holds.values().map(|h| u64::from(h.places)).sum();
        if held_by_holds != state.counts.held {
            problems.push(format!(
                "shard {}: holds account for {held_by_holds} places, {} are held",
                index.0, state.counts.held
            ));
        }
    }
}

fn all_holds<'a>(buyer_shards: &'a [MutexGuard<'_, BuyerShard>]) -> impl Iterator<Item = &'a super::Hold> {
    buyer_shards.iter().flat_map(|shard| shard.holds.values())
}

fn check_holds_against_shards(
    buyer_shards: &[MutexGuard<'_, BuyerShard>],
    seat_shards: &[MutexGuard<'_, ShardState>],
    now: UnixTimeMs,
    problems: &mut Vec<String>,
) {
    let active: HashMap<HoldId, &super::Hold> =
        all_holds(buyer_shards).filter(|h| h.status == HoldStatus::Active).map(|h| (h.id, h)).collect();
    for (index, state) in seat_shards.iter().enumerate() {
        let shard = ShardIndex(index as u32);
        for (hold_id, entry) in &state.holds {
            let Some(hold) = active.get(hold_id) else {
                problems.push(format!("shard {index}: places held by {hold_id}, which is not an active hold"));
                continue;
            };
            let listed: u32 = hold.places.iter().filter(|p| p.shard() == shard).map(Place::tickets).sum();
            if listed != entry.places || entry.expires_at != hold.expires_at {
                problems
                    .push(format!("shard {index}: hold {hold_id} has {} places here, lists {listed}", entry.places));
            }
        }
        for offset in 0..state.cells.len() as u16 {
            if let SeatState::Held(hold_id) = state.seat(offset) {
                let listed = active.get(&hold_id).is_some_and(|h| h.places.contains(&Place::Seat { shard, offset }));
                if !listed {
                    problems.push(format!("shard {index} seat {offset}: held by {hold_id}, which does not list it"));
                }
            }
        }
    }
    for hold in active.values() {
        for place in &hold.places {
            let present = seat_shards[place.shard().0 as usize].holds.contains_key(&hold.id);
            if !present && now < hold.expires_at {
                problems.push(format!(
                    "hold {}: live, but its places in shard {} were freed",
                    hold.id,
                    place.shard().0
                ));
            }
        }
    }
}

fn check_orders_against_shards(
    buyer_shards: &[MutexGuard<'_, BuyerShard>],
    seat_shards: &[MutexGuard<'_, ShardState>],
    problems: &mut Vec<String>,
) {
    let mut ga_sold: HashMap<ShardIndex, u64> = HashMap::new();
    let mut seat_orders: HashMap<(ShardIndex, u16), OrderId> = HashMap::new();
    for order in buyer_shards.iter().flat_map(|s| s.orders.values()).filter(|o| o.status == OrderStatus::Confirmed) {
        for place in &order.places {
            match *place {
                Place::Seat { shard, offset } => {
                    if let Some(other) = seat_orders.insert((shard, offset), order.id) {
                        problems.push(format!("shard {} seat {offset}: in orders {other} and {}", shard.0, order.id));
                    }
                    if seat_shards[shard.0 as usize].seat(offset) != SeatState::Sold(order.id) {
                        problems
                            .push(format!("order {}: seat {offset} of shard {} is not sold to it", order.id, shard.0));
                    }
                }
                Place::Ga { shard, places } => *ga_sold.entry(shard).or_default() += u64::from(places),
            }
        }
    }
    for (index, state) in seat_shards.iter().enumerate() {
        let shard = ShardIndex(index as u32);
        if state.is_row() {
            let sold_cells =
                (0..state.cells.len() as u16).filter(|o| matches!(state.seat(*o), SeatState::Sold(_))).count();
            let listed = seat_orders.keys().filter(|(s, _)| *s == shard).count();
            if sold_cells != listed {
                problems.push(format!("shard {index}: {sold_cells} seats sold, confirmed orders list {listed}"));
            }
        } else if ga_sold.get(&shard).copied().unwrap_or(0) != state.counts.sold {
            problems.push(format!(
                "shard {index}: {} places sold, confirmed orders list {:?}",
                state.counts.sold,
                ga_sold.get(&shard)
            ));
        }
    }
}

fn check_buyers(buyer_shards: &[MutexGuard<'_, BuyerShard>], problems: &mut Vec<String>) {
    for shard in buyer_shards {
        let mut sold: HashMap<BuyerId, u32> = HashMap::new();
        for order in shard.orders.values().filter(|o| o.status == OrderStatus::Confirmed) {
            *sold.entry(order.buyer).or_default() += order.tickets.0;
        }
        for (buyer_id, buyer) in &shard.buyers {
            if buyer.sold_tickets != sold.get(buyer_id).copied().unwrap_or(0) {
                problems.push(format!(
                    "buyer {}: counts {} tickets bought, orders say otherwise",
                    buyer_id.0, buyer.sold_tickets
                ));
            }
            for active in &buyer.active_holds {
                let ok = shard
                    .holds
                    .get(&active.hold)
                    .is_some_and(|h| h.status == HoldStatus::Active && h.buyer == *buyer_id);
                if !ok {
                    problems.push(format!("buyer {}: lists {} as active, which it is not", buyer_id.0, active.hold));
                }
            }
        }
    }
}
