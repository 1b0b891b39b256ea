//! One shard's state: the seats of a row, or the counters of a general-admission
//! slice, plus the holds that have places in it and when they expire.
//!
//! Everything here runs under the shard's lock and is called only from `apply`
//! (mutations) or from the operations' searches (reads).

use ahash::AHashMap;
use serde::{Deserialize, Serialize};

use crate::ids::{HoldId, OrderId};
use crate::layout::{ShardKind, ShardLayout};
use crate::sync::{AtomicU32, Ordering};
use crate::time::UnixTimeMs;

/// A seat's state packed in 8 bytes: a 2-bit tag and a hold or order id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SeatCell(u64);

const TAG_SHIFT: u32 = 62;
const ID_MASK: u64 = (1 << TAG_SHIFT) - 1;
const TAG_BLOCKED: u64 = 1;
const TAG_HELD: u64 = 2;
const TAG_SOLD: u64 = 3;

/// What a seat is doing now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SeatState {
    Available,
    Blocked,
    Held(HoldId),
    Sold(OrderId),
}

impl SeatCell {
    pub(crate) const AVAILABLE: Self = Self(0);

    /// The packed form, for snapshots; any `u64` is a valid cell.
    pub(crate) fn to_raw(self) -> u64 {
        self.0
    }

    pub(crate) fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    const BLOCKED: Self = Self(TAG_BLOCKED << TAG_SHIFT);

    fn held(hold: HoldId) -> Self {
        assert!(hold.0 <= ID_MASK, "hold id {hold} does not fit a seat cell");
        Self((TAG_HELD << TAG_SHIFT) | hold.0)
    }

    fn sold(order: OrderId) -> Self {
        assert!(order.0 <= ID_MASK, "order id {order} does not fit a seat cell");
        Self((TAG_SOLD << TAG_SHIFT) | order.0)
    }

    pub(crate) fn state(self) -> SeatState {
        match self.0 >> TAG_SHIFT {
            0 => SeatState::Available,
            TAG_BLOCKED => SeatState::Blocked,
            TAG_HELD => SeatState::Held(HoldId(self.0 & ID_MASK)),
            _ => SeatState::Sold(OrderId(self.0 & ID_MASK)),
        }
    }
}

/// Places by state. For a row, derived from its cells (and checked against
/// them); for a general-admission slice, the state itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub available: u64,
    pub held: u64,
    pub sold: u64,
    pub blocked: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.available + self.held + self.sold + self.blocked
    }

    pub fn add(&mut self, other: &Counts) {
        self.available += other.available;
        self.held += other.held;
        self.sold += other.sold;
        self.blocked += other.blocked;
    }
}

/// A hold's presence in one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShardHold {
    pub(crate) expires_at: UnixTimeMs,
    pub(crate) places: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct ShardState {
    /// Seat cells of a row; empty for a general-admission slice.
    pub(crate) cells: Box<[SeatCell]>,
    pub(crate) counts: Counts,
    pub(crate) holds: AHashMap<HoldId, ShardHold>,
    /// No hold here expires before this instant. A lower bound: it may be stale
    /// low after a release, never high; `has_expired_holds` refreshes it.
    pub(crate) earliest_expiry: UnixTimeMs,
}

impl ShardState {
    pub(crate) fn new(layout: &ShardLayout) -> Self {
        let cells = match layout.kind {
            ShardKind::Row { seats, .. } => vec![SeatCell::AVAILABLE; usize::from(seats)].into(),
            ShardKind::GaSlice { .. } => Box::default(),
        };
        let counts = Counts { available: u64::from(layout.capacity()), ..Counts::default() };
        Self { cells, counts, holds: AHashMap::new(), earliest_expiry: UnixTimeMs(u64::MAX) }
    }

    pub(crate) fn is_row(&self) -> bool {
        !self.cells.is_empty()
    }

    /// Whether a hold here has expired by `now` (so a reclaim is due).
    pub(crate) fn has_expired_holds(&mut self, now: UnixTimeMs) -> bool {
        if self.earliest_expiry > now {
            return false;
        }
        self.earliest_expiry = self.holds.values().map(|h| h.expires_at).min().unwrap_or(UnixTimeMs(u64::MAX));
        self.earliest_expiry <= now
    }

    /// Whether seat `offset` can be taken now: available, or held by a hold
    /// that has expired (a reclaim record frees it first).
    pub(crate) fn seat_is_free(&self, offset: u16, now: UnixTimeMs) -> bool {
        match self.cells[usize::from(offset)].state() {
            SeatState::Available => true,
            SeatState::Held(hold) => self.holds.get(&hold).is_some_and(|h| h.expires_at <= now),
            SeatState::Blocked | SeatState::Sold(_) => false,
        }
    }

    pub(crate) fn seat(&self, offset: u16) -> SeatState {
        self.cells[usize::from(offset)].state()
    }

    // ---- mutations, called from `apply` only, after its checks ----

    pub(crate) fn hold_seat(&mut self, offset: u16, hold: HoldId, expires_at: UnixTimeMs) {
        let cell = &mut self.cells[usize::from(offset)];
        assert_eq!(cell.state(), SeatState::Available, "holding a seat that is not available");
        *cell = SeatCell::held(hold);
        self.counts.available -= 1;
        self.counts.held += 1;
        self.note_hold(hold, expires_at, 1);
    }

    pub(crate) fn hold_places(&mut self, places: u32, hold: HoldId, expires_at: UnixTimeMs) {
        assert!(self.counts.available >= u64::from(places), "holding more places than available");
        self.counts.available -= u64::from(places);
        self.counts.held += u64::from(places);
        self.note_hold(hold, expires_at, places);
    }

    fn note_hold(&mut self, hold: HoldId, expires_at: UnixTimeMs, places: u32) {
        let entry = self.holds.entry(hold).or_insert(ShardHold { expires_at, places: 0 });
        entry.places += places;
        self.earliest_expiry = self.earliest_expiry.min(expires_at);
    }

    /// Frees what `hold` still has here; nothing if a reclaim already did.
    pub(crate) fn release_hold(&mut self, hold: HoldId) {
        let Some(entry) = self.holds.remove(&hold) else { return };
        self.retag_hold_seats(hold, SeatCell::AVAILABLE, entry.places);
        self.counts.held -= u64::from(entry.places);
        self.counts.available += u64::from(entry.places);
    }

    /// Turns what `hold` has here into sold places of `order`.
    pub(crate) fn sell_hold(&mut self, hold: HoldId, order: OrderId) {
        let entry = self.holds.remove(&hold).expect("checked: the purchased hold is present in its shards");
        self.retag_hold_seats(hold, SeatCell::sold(order), entry.places);
        self.counts.held -= u64::from(entry.places);
        self.counts.sold += u64::from(entry.places);
    }

    fn retag_hold_seats(&mut self, hold: HoldId, to: SeatCell, places: u32) {
        if !self.is_row() {
            return;
        }
        let held = SeatCell::held(hold);
        let mut retagged = 0;
        for cell in self.cells.iter_mut().filter(|cell| **cell == held) {
            *cell = to;
            retagged += 1;
        }
        assert_eq!(retagged, places, "a hold's seat count in a row disagrees with its cells");
    }

    pub(crate) fn unsell_seat(&mut self, offset: u16) {
        self.cells[usize::from(offset)] = SeatCell::AVAILABLE;
        self.counts.sold -= 1;
        self.counts.available += 1;
    }

    pub(crate) fn unsell_places(&mut self, places: u32) {
        self.counts.sold -= u64::from(places);
        self.counts.available += u64::from(places);
    }

    pub(crate) fn set_seat_blocked(&mut self, offset: u16, blocked: bool) {
        let (from, to) =
            if blocked { (SeatCell::AVAILABLE, SeatCell::BLOCKED) } else { (SeatCell::BLOCKED, SeatCell::AVAILABLE) };
        let cell = &mut self.cells[usize::from(offset)];
        assert_eq!(*cell, from, "blocking or unblocking a seat in the wrong state");
        *cell = to;
        self.move_blocked(1, blocked);
    }

    pub(crate) fn set_places_blocked(&mut self, places: u32, blocked: bool) {
        self.move_blocked(u64::from(places), blocked);
    }

    fn move_blocked(&mut self, places: u64, blocked: bool) {
        if blocked {
            assert!(self.counts.available >= places);
            self.counts.available -= places;
            self.counts.blocked += places;
        } else {
            assert!(self.counts.blocked >= places);
            self.counts.blocked -= places;
            self.counts.available += places;
        }
    }

    /// Frees every hold here that expired at or before `at`.
    pub(crate) fn reclaim_expired(&mut self, at: UnixTimeMs) {
        let expired: Vec<HoldId> = self.holds.iter().filter(|(_, h)| h.expires_at <= at).map(|(id, _)| *id).collect();
        for hold in expired {
            self.release_hold(hold);
        }
        self.earliest_expiry = self.holds.values().map(|h| h.expires_at).min().unwrap_or(UnixTimeMs(u64::MAX));
    }
}

/// A shard's counts readable without its lock (for availability and hints),
/// written under the lock after every change.
#[derive(Debug, Default)]
pub(crate) struct PublishedCounts {
    available: AtomicU32,
    held: AtomicU32,
    sold: AtomicU32,
    blocked: AtomicU32,
}

impl PublishedCounts {
    pub(crate) fn publish(&self, counts: &Counts) {
        // Shard capacities are u32 (a row or a slice of a pool), so these fit.
        self.available.store(counts.available as u32, Ordering::Relaxed);
        self.held.store(counts.held as u32, Ordering::Relaxed);
        self.sold.store(counts.sold as u32, Ordering::Relaxed);
        self.blocked.store(counts.blocked as u32, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Counts {
        Counts {
            available: u64::from(self.available.load(Ordering::Relaxed)),
            held: u64::from(self.held.load(Ordering::Relaxed)),
            sold: u64::from(self.sold.load(Ordering::Relaxed)),
            blocked: u64::from(self.blocked.load(Ordering::Relaxed)),
        }
    }

    /// Places that could be free now: available, or held by holds that may
    /// have expired. A hint for searches, which check under the lock.
    pub(crate) fn maybe_free(&self) -> u64 {
        u64::from(self.available.load(Ordering::Relaxed)) + u64::from(self.held.load(Ordering::Relaxed))
    }
}
