//! The line: every buyer's place, in join order, and the order of service.
//!
//! A buyer's number in join order ([`BuyerIndex`]) is the buyer id tokens
//! carry; a queue [`Slot`] is a place in the order of service. Slots
//! `0..lobby_size` hold the lobby in lottery order; later buyers have the
//! slot equal to their number. A Fenwick tree over slots counts the live
//! (waiting) buyers ahead of anyone in O(log n). Slots before the head are
//! all served.

use serde::{Deserialize, Serialize};

use super::epoch::Epoch;
use super::fenwick::Fenwick;
use super::lottery::lottery_order;
use crate::commit::ApplyError;
use crate::ids::BuyerId;
use crate::limits::{MAX_SLOTS_SCANNED_PER_TICK, MAX_WAITING_PER_EVENT};
use crate::sync::{AtomicU64, Ordering};
use crate::time::UnixTimeMs;

/// A buyer's number in join order: the index of its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct BuyerIndex(pub(super) u32);

/// A place in the order of service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Slot(pub(super) u32);

impl BuyerIndex {
    pub(super) fn id(self) -> BuyerId {
        BuyerId(u64::from(self.0))
    }

    fn at(self) -> usize {
        self.0 as usize
    }
}

/// One buyer's place, 12 bytes; the heartbeat lives apart, as an atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) phase: Phase,
    /// When admitted: seconds after the room's epoch that access ends.
    pub(super) access_ends_s: u32,
    /// Seconds after the room's epoch of the join.
    pub(super) joined_s: u32,
}

/// The per-buyer figures the docs state (ARCHITECTURE.md, limits.rs) rest on
/// these sizes: a change that grows them fails to compile, not the docs.
const _: () = assert!(std::mem::size_of::<Entry>() == 12, "an Entry is 12 bytes");
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Heartbeat>() == 16, "a Heartbeat is two 8-byte times");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Phase {
    Lobby,
    Waiting,
    Admitted,
    /// Admitted and bought: no longer counts against `max_active`.
    Purchased,
    /// Admitted, and the access ran out: no longer counts either.
    AccessOver,
    Left,
    Dropped,
}

impl Entry {
    /// When the buyer's access ends, if the buyer may shop at `now`: the one
    /// rule behind an `admitted` status, its access token and `may_shop`.
    pub(super) fn shopping_until(&self, now: UnixTimeMs, epoch: Epoch) -> Option<UnixTimeMs> {
        let ends = epoch.at_offset(self.access_ends_s);
        (matches!(self.phase, Phase::Admitted | Phase::Purchased) && now < ends).then_some(ends)
    }
}

/// A buyer's heartbeat: when they last polled, and the earliest next poll
/// accepted, in Unix milliseconds (absolute: rooms stay open for months).
#[derive(Debug)]
pub(super) struct Heartbeat {
    seen_ms: AtomicU64,
    next_ms: AtomicU64,
}

impl Heartbeat {
    fn new(seen: UnixTimeMs) -> Self {
        Self { seen_ms: AtomicU64::new(seen.0), next_ms: AtomicU64::new(0) }
    }

    /// How long until a poll is accepted, if it is too early at `now`.
    pub(super) fn too_early_by_ms(&self, now: UnixTimeMs) -> Option<u64> {
        let next_ms = self.next_ms.load(Ordering::Relaxed);
        (now.0 < next_ms).then(|| next_ms - now.0)
    }

    /// A poll at `now`; the next is accepted `next_after_ms` later.
    pub(super) fn polled(&self, now: UnixTimeMs, next_after_ms: u64) {
        self.seen_ms.store(now.0, Ordering::Relaxed);
        self.next_ms.store(now.0 + next_after_ms, Ordering::Relaxed);
    }

    /// Seen now, and free to poll at once.
    fn reset(&self, now: UnixTimeMs) {
        self.seen_ms.store(now.0, Ordering::Relaxed);
        self.next_ms.store(0, Ordering::Relaxed);
    }

    fn silent(&self, silent_before_ms: u64) -> bool {
        self.seen_ms.load(Ordering::Relaxed) < silent_before_ms
    }
}

/// The line as snapshots keep it; the fields are in the order snapshot
/// format version 1 encodes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeptLine {
    entries: Vec<Entry>,
    opened: bool,
    /// Buyers in the lobby when it opened: they hold slots `0..lobby_size`.
    lobby_size: u32,
    head: Slot,
}

/// The line: what snapshots keep, what is rebuilt from it on a restore (the
/// lottery's slots, the live counts), and the heartbeats (never kept).
#[derive(Debug)]
pub(super) struct Line {
    kept: KeptLine,
    heartbeats: Vec<Heartbeat>,
    /// `lobby_order[slot]`: the buyer at a lobby slot.
    lobby_order: Vec<BuyerIndex>,
    /// `lobby_slot[buyer]`: the slot of a lobby buyer.
    lobby_slot: Vec<Slot>,
    /// 1 at each slot whose buyer is waiting.
    live: Fenwick,
    /// Where the next silent sweep starts (it walks the line a bounded stretch at a time).
    sweep_cursor: Slot,
}

impl Line {
    pub(super) fn new() -> Self {
        Line {
            kept: KeptLine { entries: Vec::new(), opened: false, lobby_size: 0, head: Slot(0) },
            heartbeats: Vec::new(),
            lobby_order: Vec::new(),
            lobby_slot: Vec::new(),
            live: Fenwick::new(),
            sweep_cursor: Slot(0),
        }
    }

    /// The line a snapshot kept, every buyer counted as seen at `now`.
    pub(super) fn restore(kept: KeptLine, seed: &[u8; 32], now: UnixTimeMs) -> Result<Self, ApplyError> {
        let buyers = kept.entries.len();
        if buyers > MAX_WAITING_PER_EVENT || kept.lobby_size as usize > buyers {
            return Err(ApplyError("the room snapshot's sizes are out of bounds".into()));
        }
        if kept.head.0 as usize > buyers {
            return Err(ApplyError("the room snapshot names buyers it does not hold".into()));
        }
        let heartbeats = (0..buyers).map(|_| Heartbeat::new(now)).collect();
        let mut line = Line { kept, heartbeats, ..Line::new() };
        if line.kept.opened {
            line.lobby_order = lottery(seed, line.kept.lobby_size);
            line.lobby_slot = slots_of(&line.lobby_order);
            let values: Vec<u32> =
                (0..buyers as u32).map(|slot| u32::from(line.entry_at(Slot(slot)).phase == Phase::Waiting)).collect();
            line.live = Fenwick::from_values(&values);
        }
        Ok(line)
    }

    pub(super) fn kept(&self) -> &KeptLine {
        &self.kept
    }

    pub(super) fn opened(&self) -> bool {
        self.kept.opened
    }

    pub(super) fn lobby_size(&self) -> u32 {
        self.kept.lobby_size
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.kept.entries
    }

    /// The buyer an id names, if it is one of this line's.
    pub(super) fn index_of(&self, buyer: BuyerId) -> Option<BuyerIndex> {
        u32::try_from(buyer.0).ok().map(BuyerIndex).filter(|index| index.at() < self.kept.entries.len())
    }

    pub(super) fn entry(&self, buyer: BuyerIndex) -> &Entry {
        &self.kept.entries[buyer.at()]
    }

    pub(super) fn entry_mut(&mut self, buyer: BuyerIndex) -> &mut Entry {
        &mut self.kept.entries[buyer.at()]
    }

    pub(super) fn heartbeat(&self, buyer: BuyerIndex) -> &Heartbeat {
        &self.heartbeats[buyer.at()]
    }

    /// Counts every buyer as seen at `now`.
    pub(super) fn mark_all_seen(&self, now: UnixTimeMs) {
        for heartbeat in &self.heartbeats {
            heartbeat.reset(now);
        }
    }

    /// Buyers waiting in line (the lobby not included).
    pub(super) fn waiting(&self) -> u64 {
        self.live.prefix_sum(self.live.len())
    }

    /// Waiting buyers ahead of a buyer.
    pub(super) fn ahead_of(&self, buyer: BuyerIndex) -> u64 {
        self.live.prefix_sum(self.slot_of(buyer).0 as usize)
    }

    /// The order the lottery gave the lobby, as buyer ids (empty before it).
    pub(super) fn lobby_order(&self) -> Vec<BuyerId> {
        self.lobby_order.iter().map(|buyer| buyer.id()).collect()
    }

    /// A new buyer at the end of the lobby or of the line, seen at `at`.
    pub(super) fn add(&mut self, buyer: BuyerId, at: UnixTimeMs, joined_s: u32) -> Result<(), ApplyError> {
        if buyer.0 != self.kept.entries.len() as u64 {
            return Err(ApplyError(format!("buyer {} joins out of order", buyer.0)));
        }
        let phase = if self.kept.opened { Phase::Waiting } else { Phase::Lobby };
        self.kept.entries.push(Entry { phase, access_ends_s: 0, joined_s });
        self.heartbeats.push(Heartbeat::new(at));
        if self.kept.opened {
            self.live.push(1);
        }
        Ok(())
    }

    /// The lottery: lobby buyers (those still there) take the first slots in
    /// the order drawn from the seed.
    pub(super) fn open(&mut self, seed: &[u8; 32]) {
        let lobby_size = self.kept.entries.len() as u32;
        let order = lottery(seed, lobby_size);
        let values: Vec<u32> = order.iter().map(|&buyer| u32::from(self.entry(buyer).phase == Phase::Lobby)).collect();
        for entry in self.kept.entries.iter_mut().filter(|e| e.phase == Phase::Lobby) {
            entry.phase = Phase::Waiting;
        }
        self.live = Fenwick::from_values(&values);
        self.lobby_slot = slots_of(&order);
        self.lobby_order = order;
        self.kept.lobby_size = lobby_size;
        self.kept.opened = true;
    }

    /// Every buyer named is in the line, once: their numbers.
    pub(super) fn check_waiting(&self, buyers: &[BuyerId]) -> Result<Vec<BuyerIndex>, ApplyError> {
        let distinct: std::collections::HashSet<&BuyerId> = buyers.iter().collect();
        if distinct.len() != buyers.len() {
            return Err(ApplyError("a buyer is named twice in one record".into()));
        }
        let waiting = |buyer: &BuyerId| {
            let index = self.index_of(*buyer);
            let phase = index.map(|index| self.entry(index).phase);
            match (index, phase) {
                (Some(index), Some(Phase::Waiting)) => Ok(index),
                _ => Err(ApplyError(format!("buyer {} is not waiting ({phase:?})", buyer.0))),
            }
        };
        buyers.iter().map(waiting).collect()
    }

    /// Takes a waiting buyer out of line, into `phase`.
    pub(super) fn take_out(&mut self, buyer: BuyerIndex, phase: Phase) {
        let slot = self.slot_of(buyer);
        self.live.add(slot.0 as usize, -1);
        self.entry_mut(buyer).phase = phase;
    }

    /// Moves the head past served slots, so every slot before it is out of line.
    pub(super) fn advance_head(&mut self) {
        let slots = self.live.len() as u32;
        while self.kept.head.0 < slots && self.entry_at(self.kept.head).phase != Phase::Waiting {
            self.kept.head.0 += 1;
        }
    }

    /// Walks the line from the head: up to `wanted` live buyers to admit, and
    /// the silent ones met on the way, to drop. Bounded per tick.
    pub(super) fn pick_from_front(&self, wanted: usize, silent_before_ms: u64) -> (Vec<BuyerId>, Vec<BuyerId>) {
        let (mut admitted, mut dropped) = (Vec::new(), Vec::new());
        let slots = self.live.len() as u32;
        let mut slot = self.kept.head;
        let mut scanned = 0;
        while admitted.len() < wanted && slot.0 < slots && scanned < MAX_SLOTS_SCANNED_PER_TICK {
            let buyer = self.buyer_at(slot);
            if self.entry(buyer).phase == Phase::Waiting {
                if self.heartbeat(buyer).silent(silent_before_ms) {
                    dropped.push(buyer.id());
                } else {
                    admitted.push(buyer.id());
                }
            }
            slot.0 += 1;
            scanned += 1;
        }
        (admitted, dropped)
    }

    /// The waiting buyers silent since before `silent_before_ms`, among at
    /// most `MAX_SLOTS_SCANNED_PER_TICK` slots from where the last sweep stopped.
    pub(super) fn sweep_silent(&mut self, silent_before_ms: u64) -> Vec<BuyerId> {
        let slots = self.live.len() as u32;
        let mut slot = self.sweep_cursor.max(self.kept.head);
        let mut silent = Vec::new();
        for _ in 0..MAX_SLOTS_SCANNED_PER_TICK {
            if slot.0 >= slots {
                slot = self.kept.head;
                break;
            }
            let buyer = self.buyer_at(slot);
            if self.entry(buyer).phase == Phase::Waiting && self.heartbeat(buyer).silent(silent_before_ms) {
                silent.push(buyer.id());
            }
            slot.0 += 1;
        }
        self.sweep_cursor = slot;
        silent
    }

    /// Bytes held for the buyers (capacities).
    pub(super) fn memory_bytes(&self) -> usize {
        self.kept.entries.capacity() * std::mem::size_of::<Entry>()
            + self.heartbeats.capacity() * std::mem::size_of::<Heartbeat>()
            + self.live.capacity() * std::mem::size_of::<u32>()
            + self.lobby_order.capacity() * std::mem::size_of::<BuyerIndex>()
            + self.lobby_slot.capacity() * std::mem::size_of::<Slot>()
    }

    fn slot_of(&self, buyer: BuyerIndex) -> Slot {
        if buyer.0 < self.kept.lobby_size {
            self.lobby_slot[buyer.at()]
        } else {
            Slot(buyer.0)
        }
    }

    fn buyer_at(&self, slot: Slot) -> BuyerIndex {
        if slot.0 < self.kept.lobby_size {
            self.lobby_order[slot.0 as usize]
        } else {
            BuyerIndex(slot.0)
        }
    }

    fn entry_at(&self, slot: Slot) -> &Entry {
        self.entry(self.buyer_at(slot))
    }
}

/// The lottery's order of a lobby of `lobby_size` buyers.
fn lottery(seed: &[u8; 32], lobby_size: u32) -> Vec<BuyerIndex> {
    lottery_order(seed, lobby_size).into_iter().map(BuyerIndex).collect()
}

/// `slots_of(order)[buyer]`: the slot of each buyer of `order` (a permutation).
fn slots_of(order: &[BuyerIndex]) -> Vec<Slot> {
    let mut slots = vec![Slot(0); order.len()];
    for (slot, &buyer) in order.iter().enumerate() {
        slots[buyer.at()] = Slot(slot as u32);
    }
    slots
}
