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
//!
//! This file holds the [`Inventory`] type, its locks and the helpers every
//! operation shares; the operations are in `holds`, `purchases` (and
//! cancellations), `search` (resolving requests, best available, blocking
//! places), the reads in `queries`, and state changes in `apply`.

mod apply;
mod best;
mod buyers;
mod check;
mod error;
mod holds;
mod purchases;
mod queries;
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
pub use holds::{Fit, HoldPlaced, HoldRequest, KeyedHold, SeatRequest};
pub use purchases::Purchase;
pub use queries::{Availability, OrderCursor, Sales, SectionSeats, Sold, TicketPlace};
pub use record::{DiscardSink, HoldEndReason, InventoryRecord, Place, Places, RecordSink};
pub use shard::{Counts, SeatState};
pub use snapshot::{HoldKeysSnapshot, InventorySnapshot};

use buyers::BuyerShard;
use shard::{PublishedCounts, ShardState};

use crate::clock::Clock;
use crate::ids::{BuyerId, HoldId, OrderId, SectionIndex, ShardIndex, TierIndex};
use crate::layout::{SectionKind, VenueLayout};
use crate::limits::{BUYER_SHARDS, MAX_IDEMPOTENCY_KEY_LEN};
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
    /// Holds that ran out since the process started (live only, not replay).
    holds_expired: AtomicU64,
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
            holds_expired: AtomicU64::new(0),
            admin_keys: Mutex::new(AHashMap::new()),
        }
    }

    pub fn layout(&self) -> &VenueLayout {
        &self.layout
    }

    pub fn settings(&self) -> InventorySettings {
        self.settings
    }

    // ---- keeping places off sale (the work is in `search`) ----

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

    // ---- helpers shared by the operations ----

    /// Hands a record to the sink, then applies it under the locks already held.
    fn commit(&self, locked: &mut Locked<'_>, record: &InventoryRecord) -> Result<Receipt, InventoryError> {
        let receipt = self.sink.submit(record)?;
        if let Err(error) = self.apply_locked(locked, record, receipt) {
            panic!("apply refused a change the operation had checked ({error}); record: {record:?}");
        }
        if let InventoryRecord::HoldEnded { reason: record::HoldEndReason::Expired, .. } = record {
            self.holds_expired.fetch_add(1, Ordering::Relaxed);
        }
        Ok(receipt)
    }

    /// Holds that ran out since the process started (replay not counted).
    pub fn holds_expired_since_start(&self) -> u64 {
        self.holds_expired.load(Ordering::Relaxed)
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

    fn publish_counts(&self, locked: &mut Locked<'_>) {
        for (index, state) in locked.shards.iter() {
            self.shards[index.0 as usize].published.publish(&state.counts);
        }
    }
}

fn check_idempotency_key(key: &str) -> Result<(), InventoryError> {
    let printable = key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
        return Err(InventoryError::BadIdempotencyKey);
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
