//! The lock-sharded seat allocator of one event.
//!
//! State lives in two kinds of shard, each behind its own lock:
//! - seat shards (a row of seat cells, or a slice of a general-admission pool);
//! - buyer shards (holds, orders, per-buyer counts and idempotency keys).
//!
//! Lock order: at most one buyer shard, then seat shards by ascending index.
//! An operation takes its locks, checks the request against the state, turns
//! it into an [`InventoryRecord`], hands the record to the sink and applies it
//! through [`Inventory::apply_locked`], the only code that changes state (also
//! used by replay), then lets go of its locks. No lock is ever held while
//! waiting for the disk: the caller waits on the returned [`Receipt`].

mod apply;
mod best;
mod buyers;
mod check;
mod error;
mod record;
mod search;
mod shard;
mod snapshot;

use std::sync::Arc;

use ahash::AHashMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The commit contract, where the allocator's callers have always found it.
pub use crate::commit::{ApplyError, Receipt, SinkError};
pub use buyers::{Hold, HoldStatus, Order, OrderStatus};
pub use check::InvariantViolation;
pub use error::{InventoryError, SeatLabel};
pub use record::{DiscardSink, HoldEndReason, InventoryRecord, Place, Places, RecordSink};
pub use shard::{Counts, SeatState};
pub use snapshot::{HoldKeysSnapshot, InventorySnapshot};

use buyers::BuyerShard;
use shard::{PublishedCounts, ShardState};

use crate::clock::Clock;
use crate::ids::{BuyerId, HoldId, OrderId, SectionIndex, ShardIndex, TierIndex};
use crate::layout::{SectionKind, ShardKind, VenueLayout};
use crate::limits::{
    BUYER_SHARDS, MAX_BUYERS_PER_EVENT, MAX_HOLD_KEYS_PER_BUYER, MAX_IDEMPOTENCY_KEY_LEN, MAX_ORDERS_PER_BUYER,
    MAX_PAYMENT_REF_LEN,
};
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};
use crate::time::UnixTimeMs;
use crate::valid::ValidEvent;
use crossbeam::utils::CachePadded;

/// The event settings the allocator enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InventorySettings {
    pub per_buyer_limit: u32,
    pub hold_ttl_s: u32,
    /// Buyers may cancel their own orders before this instant.
    pub refund_until: Option<UnixTimeMs>,
}

/// Who is asking: a buyer (from an access token) or the promoter (admin token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requester {
    Buyer(BuyerId),
    Admin,
}

impl Requester {
    /// Whether this requester may see or act on what `owner` holds or bought.
    pub fn may_act_for(self, owner: BuyerId) -> bool {
        match self {
            Requester::Admin => true,
            Requester::Buyer(buyer) => buyer == owner,
        }
    }
}

/// A seat named as buyers name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    pub section: String,
    pub row: String,
    #[serde(deserialize_with = "crate::json_fields::integer")]
    pub number: u32,
}

/// What a buyer asks to hold (the three forms of `POST /holds`). Its
/// encoding is what a hold key's request digest is taken of: add variants at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HoldRequest {
    /// These seats, all or nothing.
    Seats(Vec<SeatRequest>),
    /// The best `quantity` adjacent seats of a section, or places of a GA section.
    BestInSection { section: String, quantity: u32 },
    /// The best `quantity` in any section of a tier.
    BestInTier { tier: String, quantity: u32 },
}

/// How the places of a new hold were chosen, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// The buyer named the seats.
    Chosen,
    /// Adjacent seats in one row, leaving no single orphan seat.
    Adjacent,
    /// Adjacent seats in one row; a single seat beside them is left stranded.
    AdjacentWithOrphan,
    /// No row had enough adjacent seats: the group is split across rows.
    SplitAcrossRows,
    /// No row had enough adjacent seats, but one row had enough apart: the
    /// group is in one row, in separate runs.
    SplitInRow,
    GeneralAdmission,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldPlaced {
    pub hold: Hold,
    pub fit: Fit,
    pub receipt: Receipt,
    /// The record that placed it: what the event's room follows, as on replay.
    pub(crate) record: InventoryRecord,
}

/// What a hold with an `Idempotency-Key` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedHold {
    /// A new hold, durable once its receipt is.
    Placed(HoldPlaced),
    /// An earlier request with the same key made this hold (shown as it is
    /// now); `receipt` is where it was logged (`NONE` if long durable).
    Replayed { hold: Hold, receipt: Receipt },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub order: Order,
    /// False when an earlier request with the same Idempotency-Key made it.
    pub created: bool,
    pub receipt: Receipt,
    /// The record that made the order (none for a replayed request): what
    /// the event's room follows, as on replay.
    pub(crate) record: Option<InventoryRecord>,
}

/// A ticket's place in words, borrowed from the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketPlace<'a> {
    pub section: &'a str,
    pub row: Option<&'a str>,
    pub number: Option<u32>,
    pub tier: &'a str,
    pub price_cents: u64,
}

/// Where a page of orders ends: the order's log position, then its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderCursor {
    pub receipt: Receipt,
    pub order: OrderId,
}

impl OrderCursor {
    pub fn of(order: &Order) -> Self {
        Self { receipt: order.receipt, order: order.id }
    }
}

/// Places by state, per section, per tier and in total.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub sections: Vec<Counts>,
    pub tiers: Vec<Counts>,
    pub total: Counts,
}

/// What a buyer can take now in one section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionSeats {
    Reserved { section: SectionIndex, rows: Vec<(ShardIndex, Vec<u32>)> },
    GeneralAdmission { section: SectionIndex, available: u64 },
}

/// Padded to a cache line, so rows worked on by different threads do not share one.
#[repr(align(128))]
struct SeatShard {
    state: Mutex<ShardState>,
    published: PublishedCounts,
}

/// Where best-available looks, in order of preference.
#[derive(Clone, Debug)]
enum Candidate {
    Rows(Vec<ShardIndex>),
    Ga(SectionIndex),
}

pub struct Inventory {
    layout: Arc<VenueLayout>,
    settings: InventorySettings,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn RecordSink>,
    shards: Box<[SeatShard]>,
    /// Padded to a cache line each, so threads on different shards do not
    /// slow each other down through a shared line.
    buyer_shards: Box<[CachePadded<Mutex<BuyerShard>>]>,
    section_candidates: Vec<Candidate>,
    tier_candidates: Vec<Vec<Candidate>>,
    /// Orders not cancelled, for the waiting room's tickets-per-order estimate.
    confirmed_orders: AtomicU64,
    /// The admin's idempotency keys: one scope for the whole event. Locked
    /// after a buyer shard, never before (a leaf of the lock order).
    admin_keys: Mutex<AHashMap<Box<str>, AdminKey>>,
}

/// What an admin purchase's key was used for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AdminKey {
    pub(crate) order: OrderId,
    pub(crate) hold: HoldId,
    pub(crate) payment_ref: Box<str>,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory").field("shards", &self.shards.len()).field("settings", &self.settings).finish()
    }
}

/// The locks an operation holds: at most one buyer shard, then seat shards in
/// ascending order.
struct Locked<'a> {
    buyers: Option<MutexGuard<'a, BuyerShard>>,
    shards: SmallVec<[(ShardIndex, MutexGuard<'a, ShardState>); 4]>,
}

impl<'a> Locked<'a> {
    fn new(buyers: Option<MutexGuard<'a, BuyerShard>>) -> Self {
        Self { buyers, shards: SmallVec::new() }
    }

    fn shard(&mut self, index: ShardIndex) -> &mut ShardState {
        self.shards.iter_mut().find(|(i, _)| *i == index).map(|(_, guard)| &mut **guard).expect("shard is locked")
    }

    fn has_shard(&self, index: ShardIndex) -> bool {
        self.shards.iter().any(|(i, _)| *i == index)
    }

    fn buyers(&mut self) -> &mut BuyerShard {
        self.buyers.as_deref_mut().expect("buyer shard is locked")
    }

    fn unlock_shards_except(&mut self, keep: &[Place]) {
        self.shards.retain(|(index, _)| keep.iter().any(|p| p.shard() == *index));
    }
}

impl Inventory {
    pub fn new(event: &ValidEvent, clock: Arc<dyn Clock>, sink: Arc<dyn RecordSink>) -> Self {
        let settings = InventorySettings {
            per_buyer_limit: event.spec.per_buyer_limit,
            hold_ttl_s: event.spec.hold_ttl_s,
            refund_until: event.refund_until,
        };
        Self::with_layout(Arc::new(event.layout.clone()), settings, clock, sink)
    }

    pub fn with_layout(
        layout: Arc<VenueLayout>,
        settings: InventorySettings,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn RecordSink>,
    ) -> Self {
        let shards = layout
            .shards
            .iter()
            .map(|shard_layout| {
                let state = ShardState::new(shard_layout);
                let published = PublishedCounts::default();
                published.publish(&state.counts);
                SeatShard { state: Mutex::new(state), published }
            })
            .collect();
        let buyer_shards = (0..BUYER_SHARDS).map(|_| CachePadded::new(Mutex::new(BuyerShard::default()))).collect();
        let (section_candidates, tier_candidates) = plan_candidates(&layout);
        Self {
            layout,
            settings,
            clock,
            sink,
            shards,
            buyer_shards,
            section_candidates,
            tier_candidates,
            confirmed_orders: AtomicU64::new(0),
            admin_keys: Mutex::new(AHashMap::new()),
        }
    }

    pub fn layout(&self) -> &VenueLayout {
        &self.layout
    }

    pub fn settings(&self) -> InventorySettings {
        self.settings
    }

    // ---- operations ----

    /// Holds seats or places for `buyer`, all or nothing, within the per-buyer limit.
    pub fn hold(&self, buyer: BuyerId, request: &HoldRequest) -> Result<HoldPlaced, InventoryError> {
        match self.place_hold(buyer, request, None)? {
            KeyedHold::Placed(placed) => Ok(placed),
            KeyedHold::Replayed { .. } => unreachable!("a hold without a key is never a replay"),
        }
    }

    /// A hold with the buyer's `Idempotency-Key`: the same key with the same
    /// request returns the same hold (as it is now, even released or
    /// expired); with another request it is refused.
    pub fn hold_with_key(
        &self,
        buyer: BuyerId,
        request: &HoldRequest,
        idempotency_key: &str,
    ) -> Result<KeyedHold, InventoryError> {
        check_idempotency_key(idempotency_key)?;
        self.place_hold(buyer, request, Some((idempotency_key, request_digest(request))))
    }

    fn place_hold(
        &self,
        buyer: BuyerId,
        request: &HoldRequest,
        key: Option<(&str, buyers::RequestDigest)>,
    ) -> Result<KeyedHold, InventoryError> {
        let now = self.clock.now();
        let target = self.resolve_hold_request(request)?;
        let mut locked = Locked::new(Some(self.buyer_shards[buyer.shard()].lock()));
        self.expire_buyer_holds(&mut locked, buyer, now)?;
        if let Some((idempotency_key, digest)) = key {
            if let Some(replay) = replayed_hold(locked.buyers(), buyer, idempotency_key, digest) {
                return replay;
            }
        }
        self.check_buyer_may_hold(locked.buyers(), buyer, target.quantity(), now)?;
        let (places, fit) = match target {
            Target::Seats(places) => (self.lock_chosen_seats(&mut locked, places, now)?, Fit::Chosen),
            Target::Best(candidates, quantity) => self.lock_best(&mut locked, candidates, quantity, buyer, now)?,
        };
        let hold_id = HoldId::new(locked.buyers().next_hold_sequence, buyer.shard());
        let expires_at = now.plus_s(self.settings.hold_ttl_s);
        let record = match key {
            None => InventoryRecord::HoldPlaced { hold: hold_id, buyer, at: now, expires_at, places },
            Some((idempotency_key, request)) => InventoryRecord::HoldPlacedWithKey {
                hold: hold_id,
                buyer,
                at: now,
                expires_at,
                places,
                idempotency_key: idempotency_key.into(),
                request,
            },
        };
        let receipt = self.commit(&mut locked, &record)?;
        let hold = locked.buyers().holds[&hold_id].clone();
        Ok(KeyedHold::Placed(HoldPlaced { hold, fit, receipt, record }))
    }

    /// Turns a live hold into an order. The same `idempotency_key` (in the
    /// requester's scope) returns the same order, whatever happened since.
    pub fn purchase(
        &self,
        hold_id: HoldId,
        requester: Requester,
        idempotency_key: &str,
        payment_ref: &str,
    ) -> Result<Purchase, InventoryError> {
        check_idempotency_key(idempotency_key)?;
        check_payment_ref(payment_ref)?;
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(hold_id.shard(), InventoryError::UnknownHold)?;
        let hold = locked.buyers().holds.get(&hold_id).ok_or(InventoryError::UnknownHold)?;
        let (owner, status, expires_at, places) = (hold.buyer, hold.status, hold.expires_at, hold.places.clone());
        if !requester.may_act_for(owner) {
            return Err(InventoryError::NotYours);
        }
        let scope = match requester {
            Requester::Admin => BuyerId::ADMIN,
            Requester::Buyer(buyer) => buyer,
        };
        if let Some(replay) = self.replayed_purchase(&mut locked, owner, scope, idempotency_key, hold_id, payment_ref) {
            return replay;
        }
        match status {
            HoldStatus::Active if now < expires_at => {}
            HoldStatus::Active => {
                self.end_hold(&mut locked, hold_id, &places, HoldEndReason::Expired, now)?;
                return Err(InventoryError::HoldExpired);
            }
            HoldStatus::Expired { .. } => return Err(InventoryError::HoldExpired),
            HoldStatus::Released { .. } => return Err(InventoryError::HoldNotActive { why: "it was released" }),
            HoldStatus::Purchased { .. } => {
                return Err(InventoryError::HoldNotActive { why: "it was purchased with another Idempotency-Key" })
            }
        }
        if locked.buyers().buyers[&owner].orders.len() >= MAX_ORDERS_PER_BUYER {
            return Err(InventoryError::TooManyOrders);
        }
        self.lock_places(&mut locked, &places);
        let order_id = OrderId::new(locked.buyers().next_order_sequence, owner.shard());
        let record = InventoryRecord::HoldPurchased {
            hold: hold_id,
            order: order_id,
            at: now,
            scope,
            idempotency_key: idempotency_key.into(),
            payment_ref: payment_ref.into(),
        };
        let receipt = self.commit(&mut locked, &record)?;
        let order = locked.buyers().orders[&order_id].clone();
        Ok(Purchase { order, created: true, receipt, record: Some(record) })
    }

    /// Lets a hold go; its seats are back on sale at once. Releasing a hold
    /// that already ended is a no-op.
    pub fn release(&self, hold_id: HoldId, requester: Requester) -> Result<Receipt, InventoryError> {
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(hold_id.shard(), InventoryError::UnknownHold)?;
        let hold = locked.buyers().holds.get(&hold_id).ok_or(InventoryError::UnknownHold)?;
        if !requester.may_act_for(hold.buyer) {
            return Err(InventoryError::NotYours);
        }
        let (status, expires_at, places) = (hold.status, hold.expires_at, hold.places.clone());
        match status {
            HoldStatus::Active => {
                let reason = if now < expires_at { HoldEndReason::Released } else { HoldEndReason::Expired };
                self.end_hold(&mut locked, hold_id, &places, reason, now)
            }
            // Already gone: the answer is durable once the record that ended it is.
            HoldStatus::Released { .. } | HoldStatus::Expired { .. } => Ok(hold.ended_receipt),
            HoldStatus::Purchased { .. } => {
                Err(InventoryError::HoldNotActive { why: "it was purchased; cancel the order instead" })
            }
        }
    }

    /// Cancels an order; its seats go back on sale. The promoter always may;
    /// the buyer only before the refund deadline. Cancelling twice is a no-op.
    pub fn cancel_order(&self, order_id: OrderId, requester: Requester) -> Result<(Order, Receipt), InventoryError> {
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(order_id.shard(), InventoryError::UnknownOrder)?;
        let order = locked.buyers().orders.get(&order_id).ok_or(InventoryError::UnknownOrder)?;
        if !requester.may_act_for(order.buyer) {
            return Err(InventoryError::NotYours);
        }
        if order.status == OrderStatus::Cancelled {
            return Ok((order.clone(), order.cancel_receipt));
        }
        let refund_open = self.settings.refund_until.is_some_and(|until| now < until);
        if requester != Requester::Admin && !refund_open {
            return Err(InventoryError::RefundPeriodOver);
        }
        let places = order.places.clone();
        self.lock_places(&mut locked, &places);
        let receipt = self.commit(&mut locked, &InventoryRecord::OrderCancelled { order: order_id, at: now })?;
        Ok((locked.buyers().orders[&order_id].clone(), receipt))
    }

    /// Ends every hold whose time is up; returns how many. Run by a sweeper,
    /// so that availability counts do not wait for the next buyer.
    pub fn expire_holds(&self) -> Result<usize, InventoryError> {
        let now = self.clock.now();
        let mut expired = 0;
        for buyer_shard in self.buyer_shards.iter() {
            let mut locked = Locked::new(Some(buyer_shard.lock()));
            let due: Vec<(HoldId, Places)> = locked
                .buyers()
                .holds
                .values()
                .filter(|hold| hold.status == HoldStatus::Active && hold.expires_at <= now)
                .map(|hold| (hold.id, hold.places.clone()))
                .collect();
            for (hold_id, places) in due {
                self.end_hold(&mut locked, hold_id, &places, HoldEndReason::Expired, now)?;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Keeps seats off sale (the promoter's own use, production holds).
    pub fn block_seats(&self, seats: &[SeatRequest]) -> Result<Receipt, InventoryError> {
        self.set_seats_blocked(seats, true)
    }

    pub fn unblock_seats(&self, seats: &[SeatRequest]) -> Result<Receipt, InventoryError> {
        self.set_seats_blocked(seats, false)
    }

    /// Keeps `places` of a general-admission section off sale.
    pub fn block_places(&self, section: &str, places: u32) -> Result<Receipt, InventoryError> {
        self.set_places_blocked(section, places, true)
    }

    pub fn unblock_places(&self, section: &str, places: u32) -> Result<Receipt, InventoryError> {
        self.set_places_blocked(section, places, false)
    }

    // ---- reads ----

    /// Counts from every shard, read without locks (each shard's counts are
    /// consistent; the sum is a moment-by-moment view).
    pub fn availability(&self) -> Availability {
        let mut availability = Availability {
            sections: vec![Counts::default(); self.layout.sections.len()],
            tiers: vec![Counts::default(); self.layout.tiers.len()],
            total: Counts::default(),
        };
        for (shard, shard_layout) in self.shards.iter().zip(&self.layout.shards) {
            let counts = shard.published.read();
            availability.sections[shard_layout.section.0 as usize].add(&counts);
            availability.tiers[shard_layout.tier.0 as usize].add(&counts);
            availability.total.add(&counts);
        }
        availability
    }

    /// What can be taken now, section by section: seat numbers per row, or places.
    pub fn seat_map(&self) -> Vec<SectionSeats> {
        let now = self.clock.now();
        let mut sections = Vec::with_capacity(self.layout.sections.len());
        for (index, section) in self.layout.sections.iter().enumerate() {
            let index = SectionIndex(index as u32);
            let entry = match section.kind {
                SectionKind::Reserved { .. } => SectionSeats::Reserved {
                    section: index,
                    rows: self
                        .layout
                        .section_shards(index)
                        .map(|row| (row, self.free_seat_numbers(row, now)))
                        .collect(),
                },
                SectionKind::GeneralAdmission { .. } => {
                    let available = self.layout.section_shards(index).map(|s| self.free_places(s, now)).sum();
                    SectionSeats::GeneralAdmission { section: index, available }
                }
            };
            sections.push(entry);
        }
        sections
    }

    pub fn hold_info(&self, hold_id: HoldId) -> Option<Hold> {
        let shard = hold_id.shard()?;
        self.buyer_shards[shard].lock().holds.get(&hold_id).cloned()
    }

    pub fn order(&self, order_id: OrderId) -> Option<Order> {
        let shard = order_id.shard()?;
        self.buyer_shards[shard].lock().orders.get(&order_id).cloned()
    }

    /// A page of orders: at most `limit`, after `after`.
    ///
    /// Orders come in the order they were logged (those restored from a
    /// snapshot first, by id), and only those logged at or before `up_to`:
    /// pass the log's durable sequence read before the call, and every order
    /// up to it has been applied, so a later page never skips one.
    pub fn orders_page(&self, after: Option<OrderCursor>, limit: usize, up_to: Receipt) -> Vec<Order> {
        let mut page: Vec<Order> = Vec::new();
        for buyer_shard in self.buyer_shards.iter() {
            let shard = buyer_shard.lock();
            let listed =
                shard.orders.values().filter(|o| o.receipt <= up_to && after.is_none_or(|a| OrderCursor::of(o) > a));
            page.extend(listed.cloned());
            page.sort_unstable_by_key(OrderCursor::of);
            page.truncate(limit);
        }
        page
    }

    /// Orders that are not cancelled.
    pub fn confirmed_orders(&self) -> u64 {
        self.confirmed_orders.load(Ordering::Relaxed)
    }

    /// Tickets `buyer` holds (unexpired) or bought: what the per-buyer limit counts.
    pub fn buyer_tickets(&self, buyer: BuyerId) -> u32 {
        let now = self.clock.now();
        self.buyer_shards[buyer.shard()].lock().buyers.get(&buyer).map_or(0, |b| b.tickets_counted(now))
    }

    /// A seat's state (a held seat whose hold expired still reads as held
    /// until it is reclaimed).
    pub fn seat_state(&self, shard: ShardIndex, offset: u16) -> SeatState {
        self.shards[shard.0 as usize].state.lock().seat(offset)
    }

    /// The words and price of one place (a GA place stands for `tickets()` tickets).
    pub fn describe(&self, place: &Place) -> TicketPlace<'_> {
        let shard_layout = self.layout.shard(place.shard());
        let section = self.layout.section(shard_layout.section);
        let tier = self.layout.tier(shard_layout.tier);
        let (row, number) = match (place, &shard_layout.kind) {
            (Place::Seat { shard, offset }, ShardKind::Row { id, .. }) => {
                (Some(&**id), Some(self.layout.seat_number(*shard, *offset)))
            }
            _ => (None, None),
        };
        TicketPlace { section: &section.id, row, number, tier: &tier.id, price_cents: tier.price_cents }
    }

    // ---- helpers shared by the operations ----

    /// Hands a record to the sink, then applies it under the locks already held.
    fn commit(&self, locked: &mut Locked<'_>, record: &InventoryRecord) -> Result<Receipt, InventoryError> {
        let receipt = self.sink.submit(record)?;
        if let Err(error) = self.apply_locked(locked, record, receipt) {
            panic!("apply refused a change the operation had checked ({error}); record: {record:?}");
        }
        Ok(receipt)
    }

    /// Locks the buyer shard an id names; `unknown` when it names none.
    fn lock_buyers_of(&self, shard: Option<usize>, unknown: InventoryError) -> Result<Locked<'_>, InventoryError> {
        let shard = shard.ok_or(unknown)?;
        Ok(Locked::new(Some(self.buyer_shards[shard].lock())))
    }

    /// Locks the shards of `places` (already in lock order) that are not yet locked.
    fn lock_places<'a>(&'a self, locked: &mut Locked<'a>, places: &[Place]) {
        debug_assert!(record::places_in_lock_order(places));
        for place in places {
            let index = place.shard();
            if !locked.has_shard(index) {
                self.lock_shard(locked, index);
            }
        }
    }

    fn lock_shard<'a>(&'a self, locked: &mut Locked<'a>, index: ShardIndex) {
        debug_assert!(locked.shards.last().is_none_or(|(last, _)| *last < index), "seat shards locked out of order");
        locked.shards.push((index, self.shards[index.0 as usize].state.lock()));
    }

    fn end_hold<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        hold: HoldId,
        places: &[Place],
        reason: HoldEndReason,
        now: UnixTimeMs,
    ) -> Result<Receipt, InventoryError> {
        self.lock_places(locked, places);
        let receipt = self.commit(locked, &InventoryRecord::HoldEnded { hold, at: now, reason });
        locked.shards.clear();
        receipt
    }

    /// Ends `buyer`'s holds that ran out, so their bookkeeping never piles up.
    fn expire_buyer_holds<'a>(
        &'a self,
        locked: &mut Locked<'a>,
        buyer: BuyerId,
        now: UnixTimeMs,
    ) -> Result<(), InventoryError> {
        loop {
            let buyers = locked.buyers();
            let Some(state) = buyers.buyers.get(&buyer) else { return Ok(()) };
            let Some(due) = state.active_holds.iter().find(|h| h.expires_at <= now).map(|h| h.hold) else {
                return Ok(());
            };
            let places = buyers.holds[&due].places.clone();
            self.end_hold(locked, due, &places, HoldEndReason::Expired, now)?;
        }
    }

    fn check_buyer_may_hold(
        &self,
        buyers: &BuyerShard,
        buyer: BuyerId,
        quantity: u32,
        now: UnixTimeMs,
    ) -> Result<(), InventoryError> {
        let counted = match buyers.buyers.get(&buyer) {
            Some(state) => state.tickets_counted(now),
            None if buyers.buyers.len() >= MAX_BUYERS_PER_EVENT / BUYER_SHARDS => {
                return Err(InventoryError::TooManyBuyers)
            }
            None => 0,
        };
        let limit = self.settings.per_buyer_limit;
        if counted + quantity > limit {
            return Err(InventoryError::OverBuyerLimit { limit, counted, requested: quantity });
        }
        Ok(())
    }

    /// An earlier purchase with the same key: the same order, or a refusal if
    /// the key was used for something else.
    fn replayed_purchase(
        &self,
        locked: &mut Locked<'_>,
        owner: BuyerId,
        scope: BuyerId,
        idempotency_key: &str,
        hold_id: HoldId,
        payment_ref: &str,
    ) -> Option<Result<Purchase, InventoryError>> {
        let order_id = if scope == BuyerId::ADMIN {
            let used = self.admin_keys.lock().get(idempotency_key).cloned()?;
            if used.hold != hold_id || &*used.payment_ref != payment_ref {
                return Some(Err(InventoryError::IdempotencyKeyReused));
            }
            used.order // same hold, so the same owner and buyer shard, which is locked
        } else {
            let keys = &locked.buyers().buyers.get(&owner)?.idempotency;
            *keys.get(&(scope, Box::<str>::from(idempotency_key)))?
        };
        let order = &locked.buyers().orders[&order_id];
        if order.hold != hold_id || &*order.payment_ref != payment_ref {
            return Some(Err(InventoryError::IdempotencyKeyReused));
        }
        Some(Ok(Purchase { order: order.clone(), created: false, receipt: order.receipt, record: None }))
    }

    fn free_seat_numbers(&self, row: ShardIndex, now: UnixTimeMs) -> Vec<u32> {
        let state = self.shards[row.0 as usize].state.lock();
        (0..state.cells.len() as u16)
            .filter(|&offset| state.seat_is_free(offset, now))
            .map(|offset| self.layout.seat_number(row, offset))
            .collect()
    }

    fn free_places(&self, slice: ShardIndex, now: UnixTimeMs) -> u64 {
        let state = self.shards[slice.0 as usize].state.lock();
        let expired: u64 = state.holds.values().filter(|h| h.expires_at <= now).map(|h| u64::from(h.places)).sum();
        state.counts.available + expired
    }

    fn publish_counts(&self, locked: &mut Locked<'_>) {
        for (index, state) in locked.shards.iter() {
            self.shards[index.0 as usize].published.publish(&state.counts);
        }
    }
}

/// A hold request with its names resolved to layout indices.
enum Target<'a> {
    Seats(Places),
    Best(&'a [Candidate], u32),
}

impl Target<'_> {
    fn quantity(&self) -> u32 {
        match self {
            Target::Seats(places) => places.len() as u32,
            Target::Best(_, quantity) => *quantity,
        }
    }
}

/// An earlier hold with the same key: the same hold, or a refusal if the key
/// was used for another request; also refuses a new key past the buyer's bound.
fn replayed_hold(
    buyers: &BuyerShard,
    buyer: BuyerId,
    idempotency_key: &str,
    digest: buyers::RequestDigest,
) -> Option<Result<KeyedHold, InventoryError>> {
    let state = buyers.buyers.get(&buyer)?;
    let Some(used) = state.hold_key(idempotency_key) else {
        let full = state.hold_keys.len() >= MAX_HOLD_KEYS_PER_BUYER;
        return full.then_some(Err(InventoryError::TooManyHoldKeys { max: MAX_HOLD_KEYS_PER_BUYER }));
    };
    if used.request != digest {
        return Some(Err(InventoryError::IdempotencyKeyReused));
    }
    // Keyed holds are never forgotten; were one missing, the key still may not make a second hold.
    let Some(hold) = buyers.holds.get(&used.hold) else { return Some(Err(InventoryError::IdempotencyKeyReused)) };
    Some(Ok(KeyedHold::Replayed { hold: hold.clone(), receipt: used.receipt }))
}

/// The digest a hold key keeps of its request: the first 16 bytes of the
/// SHA-256 of the request's canonical (bincode) encoding.
fn request_digest(request: &HoldRequest) -> buyers::RequestDigest {
    use sha2::{Digest, Sha256};
    let encoded = crate::codec::encode(request).expect("a hold request encodes");
    let mut digest = [0; 16];
    digest.copy_from_slice(&Sha256::digest(&encoded)[..16]);
    digest
}

fn check_idempotency_key(key: &str) -> Result<(), InventoryError> {
    let printable = key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
        return Err(InventoryError::BadIdempotencyKey);
    }
    Ok(())
}

fn check_payment_ref(payment_ref: &str) -> Result<(), InventoryError> {
    if payment_ref.is_empty() || payment_ref.len() > MAX_PAYMENT_REF_LEN {
        return Err(InventoryError::BadPaymentRef);
    }
    Ok(())
}

/// Best-available candidates per section and per tier, in listing order.
fn plan_candidates(layout: &VenueLayout) -> (Vec<Candidate>, Vec<Vec<Candidate>>) {
    let mut per_section = Vec::new();
    let mut per_tier = vec![Vec::new(); layout.tiers.len()];
    for (index, section) in layout.sections.iter().enumerate() {
        let index = SectionIndex(index as u32);
        match section.kind {
            SectionKind::GeneralAdmission { .. } => {
                per_section.push(Candidate::Ga(index));
                per_tier[section.tier.0 as usize].push(Candidate::Ga(index));
            }
            SectionKind::Reserved { .. } => {
                let rows: Vec<ShardIndex> = layout.section_shards(index).collect();
                for (tier, candidates) in per_tier.iter_mut().enumerate() {
                    let tier_rows: Vec<ShardIndex> =
                        rows.iter().copied().filter(|row| layout.shard(*row).tier == TierIndex(tier as u32)).collect();
                    if !tier_rows.is_empty() {
                        candidates.push(Candidate::Rows(tier_rows));
                    }
                }
                per_section.push(Candidate::Rows(rows));
            }
        }
    }
    (per_section, per_tier)
}
