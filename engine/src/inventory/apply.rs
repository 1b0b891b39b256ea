//! `apply`: the one function that changes inventory state, for live traffic
//! and for replay alike. It checks a record against the state first and
//! changes nothing if the record does not fit, so a bad record read from disk
//! is reported, never half-applied.

use super::buyers::{ended_status, Hold, HoldKey, HoldStatus, Order, OrderStatus};
use super::record::{places_in_lock_order, InventoryRecord, Place, Places};
use super::shard::{SeatState, ShardState};
use super::{Inventory, Locked};
use crate::commit::{ApplyError, Receipt};
use crate::ids::{BuyerId, HoldId, OrderId, ShardIndex, TicketCount};
use crate::layout::ShardKind;
use crate::sync::Ordering;
use crate::time::UnixTimeMs;

fn refuse<T>(why: impl Into<String>) -> Result<T, ApplyError> {
    Err(ApplyError(why.into()))
}

impl Inventory {
    /// Applies a record read back from the log: takes the locks it needs, in
    /// order, then goes through the same code as live changes.
    pub fn apply(&self, record: &InventoryRecord, receipt: Receipt) -> Result<(), ApplyError> {
        let mut locked = self.lock_for(record)?;
        self.apply_locked(&mut locked, record, receipt)
    }

    /// Takes the locks `record` needs: its buyer shard first (where a hold's
    /// or order's places are looked up), then its seat shards in order.
    fn lock_for(&self, record: &InventoryRecord) -> Result<Locked<'_>, ApplyError> {
        use InventoryRecord::*;
        let buyer_shard = match record {
            ExpiredReclaimed { .. } | PlacesBlocked { .. } | PlacesUnblocked { .. } => None,
            HoldPlaced { hold, buyer, .. } if hold.shard() != Some(buyer.shard()) => {
                return refuse(format!("hold {hold} does not belong to buyer {}'s shard", buyer.0));
            }
            HoldPlacedWithKey { hold, buyer, .. } if hold.shard() != Some(buyer.shard()) => {
                return refuse(format!("hold {hold} does not belong to buyer {}'s shard", buyer.0));
            }
            HoldPlaced { buyer, .. } | HoldPlacedWithKey { buyer, .. } => Some(buyer.shard()),
            HoldEnded { hold, .. } | HoldPurchased { hold, .. } | HoldExtended { hold, .. } => {
                Some(hold.shard().ok_or_else(|| ApplyError(format!("hold id {hold} names no shard")))?)
            }
            OrderCancelled { order, .. } => {
                Some(order.shard().ok_or_else(|| ApplyError(format!("order id {order} names no shard")))?)
            }
        };
        let mut locked = Locked::new(buyer_shard.map(|shard| self.buyer_shards[shard].lock()));
        let places: Places = match record {
            ExpiredReclaimed { shard, .. } => {
                self.check_shard_index(*shard)?;
                self.lock_shard(&mut locked, *shard);
                return Ok(locked);
            }
            HoldPlaced { places, .. }
            | HoldPlacedWithKey { places, .. }
            | PlacesBlocked { places, .. }
            | PlacesUnblocked { places, .. } => places.clone(),
            HoldEnded { hold, .. } | HoldPurchased { hold, .. } | HoldExtended { hold, .. } => {
                let found = locked.buyers().holds.get(hold).map(|h| h.places.clone());
                found.ok_or_else(|| ApplyError(format!("unknown hold {hold}")))?
            }
            OrderCancelled { order, .. } => {
                let found = locked.buyers().orders.get(order).map(|o| o.places.clone());
                found.ok_or_else(|| ApplyError(format!("unknown order {order}")))?
            }
        };
        self.check_places(&places)?;
        self.lock_places(&mut locked, &places);
        Ok(locked)
    }

    /// Checks `record` against the locked state, then changes the state.
    pub(super) fn apply_locked(
        &self,
        locked: &mut Locked<'_>,
        record: &InventoryRecord,
        receipt: Receipt,
    ) -> Result<(), ApplyError> {
        use InventoryRecord::*;
        match record {
            ExpiredReclaimed { shard, at } => locked.shard(*shard).reclaim_expired(*at),
            HoldPlaced { hold, buyer, at, expires_at, places } => {
                self.apply_new_hold(locked, *hold, *buyer, (*at, *expires_at), places)?;
            }
            HoldPlacedWithKey { hold, buyer, at, expires_at, places, idempotency_key, request } => {
                let state = locked.buyers().buyers.get(buyer);
                if state.is_some_and(|b| b.hold_key(idempotency_key).is_some()) {
                    return refuse(format!("buyer {} already used the hold key {idempotency_key:?}", buyer.0));
                }
                self.apply_new_hold(locked, *hold, *buyer, (*at, *expires_at), places)?;
                let used = HoldKey { key: idempotency_key.clone(), hold: *hold, request: *request, receipt };
                locked.buyers().buyers.entry(*buyer).or_default().hold_keys.push(used);
            }
            HoldEnded { hold, at, reason } => {
                active_hold(locked, *hold)?;
                let places = locked.buyers().end_hold(*hold, ended_status(*reason, *at), receipt).places.clone();
                for_each_shard(&places, |shard| locked.shard(shard).release_hold(*hold));
            }
            HoldPurchased { hold, order, at, scope, idempotency_key, payment_ref } => {
                let held = active_hold(locked, *hold)?.clone();
                check_hold_intact(locked, &held)?;
                if locked.buyers().orders.contains_key(order) || order.shard() != hold.shard() {
                    return refuse(format!(
                        "order {order} already exists or is in another buyer shard than hold {hold}"
                    ));
                }
                locked.buyers().end_hold(*hold, HoldStatus::Purchased { order: *order, at: *at }, receipt);
                for_each_shard(&held.places, |shard| locked.shard(shard).sell_hold(*hold, *order));
                let new_order = Order {
                    id: *order,
                    buyer: held.buyer,
                    hold: *hold,
                    created_at: *at,
                    cancelled_at: None,
                    places: held.places.clone(),
                    tickets: held.tickets,
                    total_cents: held.total_cents,
                    payment_ref: payment_ref.clone(),
                    idempotency_key: idempotency_key.clone(),
                    status: OrderStatus::Confirmed,
                    receipt,
                    cancel_receipt: Receipt::NONE,
                };
                if *scope == crate::ids::BuyerId::ADMIN {
                    let used = super::AdminKey { order: *order, hold: *hold, payment_ref: payment_ref.clone() };
                    self.admin_keys.lock().insert(idempotency_key.clone(), used);
                }
                locked.buyers().insert_order(new_order, *scope);
                self.confirmed_orders.fetch_add(1, Ordering::Relaxed);
            }
            OrderCancelled { order, at } => {
                let places = confirmed_order_places(locked, *order)?;
                check_all_sold_to(locked, &places, *order)?;
                locked.buyers().cancel_order(*order, *at, receipt);
                self.confirmed_orders.fetch_sub(1, Ordering::Relaxed);
                for place in &places {
                    match *place {
                        Place::Seat { shard, offset } => locked.shard(shard).unsell_seat(offset),
                        Place::Ga { shard, places } => locked.shard(shard).unsell_places(places),
                    }
                }
            }
            HoldExtended { hold, expires_at, .. } => self.apply_extension(locked, *hold, *expires_at)?,
            PlacesBlocked { places, .. } | PlacesUnblocked { places, .. } => {
                let blocked = matches!(record, PlacesBlocked { .. });
                self.check_places(places)?;
                check_blockable(locked, places, blocked)?;
                for place in places {
                    match *place {
                        Place::Seat { shard, offset } => locked.shard(shard).set_seat_blocked(offset, blocked),
                        Place::Ga { shard, places } => locked.shard(shard).set_places_blocked(places, blocked),
                    }
                }
            }
        }
        self.publish_counts(locked);
        Ok(())
    }

    /// A new active hold of `places` for `buyer`, from `at` to its expiry.
    fn apply_new_hold(
        &self,
        locked: &mut Locked<'_>,
        hold: HoldId,
        buyer: BuyerId,
        (at, expires_at): (UnixTimeMs, UnixTimeMs),
        places: &Places,
    ) -> Result<(), ApplyError> {
        self.check_places(places)?;
        check_all_free(locked, places)?;
        if locked.buyers().holds.contains_key(&hold) {
            return refuse(format!("hold {hold} already exists"));
        }
        for place in places {
            match *place {
                Place::Seat { shard, offset } => locked.shard(shard).hold_seat(offset, hold, expires_at),
                Place::Ga { shard, places } => locked.shard(shard).hold_places(places, hold, expires_at),
            }
        }
        let (tickets, total_cents) = self.price(places);
        locked.buyers().insert_hold(Hold {
            id: hold,
            buyer,
            created_at: at,
            expires_at,
            places: places.clone(),
            tickets,
            total_cents,
            status: HoldStatus::Active,
            ended_receipt: Receipt::NONE,
        });
        Ok(())
    }

    /// A live hold's new, later expiry, in its buyer's books and in every
    /// shard it has places in.
    fn apply_extension(&self, locked: &mut Locked<'_>, hold: HoldId, expires_at: UnixTimeMs) -> Result<(), ApplyError> {
        let held = active_hold(locked, hold)?.clone();
        check_hold_intact(locked, &held)?;
        if expires_at <= held.expires_at {
            return refuse(format!("hold {hold} would not last longer (expires at {:?})", held.expires_at));
        }
        let buyers = locked.buyers();
        if let Some(found) = buyers.holds.get_mut(&hold) {
            found.expires_at = expires_at;
        }
        if let Some(state) = buyers.buyers.get_mut(&held.buyer) {
            state.active_holds.iter_mut().filter(|h| h.hold == hold).for_each(|h| h.expires_at = expires_at);
        }
        for_each_shard(&held.places, |shard| {
            if let Some(entry) = locked.shard(shard).holds.get_mut(&hold) {
                entry.expires_at = expires_at;
            }
        });
        Ok(())
    }

    fn check_shard_index(&self, shard: ShardIndex) -> Result<(), ApplyError> {
        if shard.0 as usize >= self.shards.len() {
            return refuse(format!("shard {} is not in this event's layout", shard.0));
        }
        Ok(())
    }

    /// Places name real seats or slices of this layout, each once, in lock order.
    fn check_places(&self, places: &Places) -> Result<(), ApplyError> {
        if places.is_empty() || !places_in_lock_order(places) {
            return refuse("places are empty, repeated or out of order");
        }
        for place in places {
            self.check_shard_index(place.shard())?;
            let fits = match (place, &self.layout.shard(place.shard()).kind) {
                (Place::Seat { offset, .. }, ShardKind::Row { seats, .. }) => offset < seats,
                (Place::Ga { places, .. }, ShardKind::GaSlice { capacity }) => (1..=*capacity).contains(places),
                _ => false,
            };
            if !fits {
                return refuse(format!("{place:?} does not fit the layout"));
            }
        }
        Ok(())
    }

    fn price(&self, places: &Places) -> (TicketCount, u64) {
        places.iter().fold((TicketCount(0), 0), |(tickets, total), place| {
            let count = place.tickets();
            (TicketCount(tickets.0 + count), total + u64::from(count) * self.layout.shard_price_cents(place.shard()))
        })
    }
}

fn for_each_shard(places: &Places, mut action: impl FnMut(ShardIndex)) {
    let mut previous = None;
    for place in places {
        if previous != Some(place.shard()) {
            action(place.shard());
            previous = Some(place.shard());
        }
    }
}

fn active_hold<'l>(locked: &'l mut Locked<'_>, hold: HoldId) -> Result<&'l Hold, ApplyError> {
    match locked.buyers().holds.get(&hold) {
        Some(found) if found.status == HoldStatus::Active => Ok(found),
        Some(found) => refuse(format!("hold {hold} is not active ({:?})", found.status)),
        None => refuse(format!("unknown hold {hold}")),
    }
}

fn confirmed_order_places(locked: &mut Locked<'_>, order: OrderId) -> Result<Places, ApplyError> {
    match locked.buyers().orders.get(&order) {
        Some(found) if found.status == OrderStatus::Confirmed => Ok(found.places.clone()),
        Some(_) => refuse(format!("order {order} is already cancelled")),
        None => refuse(format!("unknown order {order}")),
    }
}

fn check_all_free(locked: &mut Locked<'_>, places: &Places) -> Result<(), ApplyError> {
    for place in places {
        let free = match *place {
            Place::Seat { shard, offset } => locked.shard(shard).seat(offset) == SeatState::Available,
            Place::Ga { shard, places } => locked.shard(shard).counts.available >= u64::from(places),
        };
        if !free {
            return refuse(format!("{place:?} is not available"));
        }
    }
    Ok(())
}

/// A hold about to be sold still has all its places, none reclaimed.
fn check_hold_intact(locked: &mut Locked<'_>, hold: &Hold) -> Result<(), ApplyError> {
    let mut result = Ok(());
    for_each_shard(&hold.places, |shard| {
        let expected: u32 = hold.places.iter().filter(|p| p.shard() == shard).map(Place::tickets).sum();
        let state: &ShardState = locked.shard(shard);
        if state.holds.get(&hold.id).map(|h| h.places) != Some(expected) {
            result = refuse(format!("hold {} lost places in shard {} (reclaimed)", hold.id, shard.0));
        }
    });
    result
}

fn check_all_sold_to(locked: &mut Locked<'_>, places: &Places, order: OrderId) -> Result<(), ApplyError> {
    for place in places {
        let sold = match *place {
            Place::Seat { shard, offset } => locked.shard(shard).seat(offset) == SeatState::Sold(order),
            Place::Ga { shard, places } => locked.shard(shard).counts.sold >= u64::from(places),
        };
        if !sold {
            return refuse(format!("{place:?} is not sold to order {order}"));
        }
    }
    Ok(())
}

fn check_blockable(locked: &mut Locked<'_>, places: &Places, blocked: bool) -> Result<(), ApplyError> {
    for place in places {
        let ok = match (*place, blocked) {
            (Place::Seat { shard, offset }, true) => locked.shard(shard).seat(offset) == SeatState::Available,
            (Place::Seat { shard, offset }, false) => locked.shard(shard).seat(offset) == SeatState::Blocked,
            (Place::Ga { shard, places }, true) => locked.shard(shard).counts.available >= u64::from(places),
            (Place::Ga { shard, places }, false) => locked.shard(shard).counts.blocked >= u64::from(places),
        };
        if !ok {
            return refuse(format!("{place:?} cannot be {}", if blocked { "blocked" } else { "unblocked" }));
        }
    }
    Ok(())
}
