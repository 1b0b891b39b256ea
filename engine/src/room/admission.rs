//! Admission: how many buyers leave the line for the shop, and when.
//!
//! A token bucket in exact integer units admits at `admit_per_minute`; the
//! buyers shopping are capped by `max_active`; and the supply gates it all:
//! a buyer is admitted only while the places available can serve the ones
//! already shopping without a hold and one more (see [`ADMISSION_MARGIN`]).
//! Paused or stalled time never banks admissions for later. A ring of
//! admissions per second gives the measured rate the ETAs use; it is
//! derived from logged records only, so replay measures alike.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::epoch::Epoch;
use super::line::{BuyerIndex, Phase};
use super::RoomState;
use crate::time::UnixTimeMs;

/// Admission units: one admission is `UNITS_PER_ADMISSION`; each millisecond
/// adds `admit_per_minute` units, so the rate is exact in integers.
const UNITS_PER_ADMISSION: u64 = 60_000;
/// The bucket never holds more than one second of admissions (at least one),
/// so a stall or a pause never releases a burst.
const BUCKET_SECONDS: u64 = 1;
/// Seconds of admissions the measured rate averages over.
const RATE_WINDOW_S: usize = 60;
/// A rate measured over less time than this says nothing yet.
const MIN_RATE_SPAN_MS: u64 = 200;
/// Admission counts each admitted buyer still shopping without a hold as
/// wanting this many times the measured tickets per order: a buyer is
/// admitted only while `in_flight * tickets_per_order * margin < available`.
/// Above 1 because orders vary in size (1 to 6 tickets for an average near
/// 2.65) and seats left scattered fit fewer buyers than their number says;
/// the few places this holds back are offered as soon as the buyers in
/// flight hold (or leave), seconds later.
pub const ADMISSION_MARGIN: f64 = 1.25;

/// What is left to sell, as the room needs it for its honesty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Supply {
    /// Places available or held (held ones may come back).
    pub remaining: u64,
    /// Places available now (neither held nor sold): what admission may promise.
    pub available: u64,
    /// Tickets per order observed so far (or a prior before any order).
    pub tickets_per_order: f64,
}

/// Why admission is stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StallReason {
    /// The promoter paused the sale: no ETA.
    Paused,
    /// Every place is held, sold, or promised to buyers already shopping:
    /// admission resumes as holds expire or are released, or orders are cancelled.
    WaitingForReleasedSeats,
    /// `max_active` buyers are shopping: the next is admitted when one buys,
    /// leaves, or runs out of time.
    MaxActiveReached,
}

impl StallReason {
    pub fn code(self) -> &'static str {
        match self {
            StallReason::Paused => "paused",
            StallReason::WaitingForReleasedSeats => "waiting_for_released_seats",
            StallReason::MaxActiveReached => "max_active_reached",
        }
    }
}

/// An admitted buyer's access, and when it ends (seconds after the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Access {
    pub(super) buyer: BuyerIndex,
    pub(super) ends_s: u32,
}

/// The admitted buyers still counted as active, as snapshots keep them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Shoppers {
    /// In admission (= expiry) order; some may have ended early (bought, left).
    pub(super) accesses: VecDeque<Access>,
    pub(super) active: u64,
}

impl Shoppers {
    /// Bytes held (capacity), for the cost of a buyer.
    pub(super) fn memory_bytes(&self) -> usize {
        self.accesses.capacity() * std::mem::size_of::<Access>()
    }
}

/// The token bucket and the admissions of the last minute, by second, as
/// snapshots keep them (fields in snapshot format version 1's order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pace {
    bucket_units: u64,
    last_tick: UnixTimeMs,
    /// A ring indexed by second.
    #[serde(with = "ring_encoding")]
    admissions_by_second: [u32; RATE_WINDOW_S],
    ring_second: u64,
    opened_second: Option<u64>,
}

/// Snapshot format version 1 encodes the ring as a sequence (its length,
/// then the counts), as it would a `Vec`; serde's arrays stop at 32 and
/// encode no length, so the ring says how.
mod ring_encoding {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::RATE_WINDOW_S;

    pub(super) fn serialize<S: Serializer>(ring: &[u32; RATE_WINDOW_S], to: S) -> Result<S::Ok, S::Error> {
        ring.as_slice().serialize(to)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<[u32; RATE_WINDOW_S], D::Error> {
        let counts = Vec::<u32>::deserialize(from)?;
        <[u32; RATE_WINDOW_S]>::try_from(counts)
            .map_err(|counts| D::Error::invalid_length(counts.len(), &"one admission count per second of a minute"))
    }
}

impl Pace {
    /// Before the opening: nothing admitted, nothing accrued since `start`.
    pub(super) fn new(start: UnixTimeMs) -> Self {
        Pace {
            bucket_units: 0,
            last_tick: start,
            admissions_by_second: [0; RATE_WINDOW_S],
            ring_second: 0,
            opened_second: None,
        }
    }

    /// Admission starts from the opening instant: nothing accrued before it counts.
    pub(super) fn open(&mut self, at: UnixTimeMs, second: u64) {
        self.opened_second = Some(second);
        self.last_tick = at;
        self.bucket_units = 0;
    }

    pub(super) fn opened_second(&self) -> Option<u64> {
        self.opened_second
    }

    /// The time since the last tick, which is now `now` (never going back).
    fn tick_at(&mut self, now: UnixTimeMs) -> u64 {
        let elapsed_ms = self.last_tick.ms_until(now);
        self.last_tick = self.last_tick.max(now);
        elapsed_ms
    }

    /// `elapsed_ms` at `admit_per_minute` into the bucket: how many
    /// admissions it now holds.
    fn fill(&mut self, elapsed_ms: u64, admit_per_minute: u32) -> u64 {
        let rate = u64::from(admit_per_minute);
        let bucket_limit = (rate * 1000 * BUCKET_SECONDS).max(UNITS_PER_ADMISSION);
        self.bucket_units = (self.bucket_units + elapsed_ms * rate).min(bucket_limit);
        self.bucket_units / UNITS_PER_ADMISSION
    }

    /// Paused, or nothing left to promise: no admissions bank up for later.
    fn empty(&mut self) {
        self.bucket_units = 0;
    }

    pub(super) fn spend(&mut self, admissions: usize) {
        self.bucket_units -= admissions as u64 * UNITS_PER_ADMISSION;
    }

    /// Nobody waits: admissions do not bank up for later arrivals.
    pub(super) fn nobody_waiting(&mut self) {
        self.bucket_units = self.bucket_units.min(UNITS_PER_ADMISSION - 1);
    }

    pub(super) fn note_admissions(&mut self, second: u64, count: u32) {
        self.advance_ring(second);
        self.admissions_by_second[(second % RATE_WINDOW_S as u64) as usize] += count;
    }

    fn advance_ring(&mut self, second: u64) {
        if second <= self.ring_second {
            return;
        }
        let stale = (second - self.ring_second).min(RATE_WINDOW_S as u64);
        for step in 1..=stale {
            self.admissions_by_second[((self.ring_second + step) % RATE_WINDOW_S as u64) as usize] = 0;
        }
        self.ring_second = second;
    }

    /// The second of the last admission (of the opening before any), from
    /// the rate ring: derived from logged records, so replay gives the same.
    pub(super) fn last_admission_second(&self, any_admitted: bool) -> Option<u64> {
        if any_admitted {
            Some(self.ring_second)
        } else {
            self.opened_second
        }
    }

    /// Admissions per minute over the minute up to `until` (over the time
    /// since the opening, at `opened_at`, during the first minute), timed to
    /// the millisecond: the second under way counts for the part of it that
    /// has passed, so the opening seconds do not read as a slow line.
    pub(super) fn measured_per_minute(&self, opened_at: Option<UnixTimeMs>, until: UnixTimeMs, epoch: Epoch) -> u64 {
        let window = RATE_WINDOW_S as u64;
        let (Some(opened_second), Some(opened_at)) = (self.opened_second, opened_at) else { return 0 };
        let until_second = epoch.second_of(until);
        let from = until_second.saturating_sub(window - 1).max(opened_second);
        if from > self.ring_second {
            return 0;
        }
        let total: u64 = (from..=self.ring_second.min(until_second))
            .map(|second| u64::from(self.admissions_by_second[(second % window) as usize]))
            .sum();
        let span_ms = epoch.start_of_second(from).max(opened_at).ms_until(until);
        if span_ms < MIN_RATE_SPAN_MS {
            return 0;
        }
        total * 60_000 / span_ms
    }
}

impl RoomState {
    /// How many to admit at `now`, by rate, cap and supply; the bucket
    /// accrues the time since the last tick.
    pub(super) fn admissions_due(&mut self, now: UnixTimeMs, supply: Supply) -> u64 {
        let elapsed_ms = self.pace.tick_at(now);
        let by_supply = self.admissible_for_supply(supply);
        if !self.line.opened() || self.settings.paused || by_supply == 0 {
            self.pace.empty();
            return 0;
        }
        let by_rate = self.pace.fill(elapsed_ms, self.settings.admit_per_minute);
        let by_cap = u64::from(self.settings.max_active).saturating_sub(self.shoppers.active);
        by_rate.min(by_cap).min(by_supply)
    }

    /// Admitted buyers still shopping without a hold.
    fn in_flight(&self) -> u64 {
        self.shoppers.active.saturating_sub(self.holding.len() as u64)
    }

    /// How many more buyers the places available can serve: admission goes on
    /// while `in_flight * tickets_per_order * ADMISSION_MARGIN < available`, so
    /// with any place available and nobody in flight, one buyer is admitted.
    fn admissible_for_supply(&self, supply: Supply) -> u64 {
        let per_buyer = supply.tickets_per_order.max(1.0) * ADMISSION_MARGIN;
        let buyers_served = (supply.available as f64 / per_buyer).ceil() as u64;
        buyers_served.saturating_sub(self.in_flight())
    }

    /// Why the next tick would admit nobody, if so (the line is not empty).
    pub(super) fn stall_reason(&self, supply: Supply) -> Option<StallReason> {
        if self.settings.paused {
            Some(StallReason::Paused)
        } else if self.admissible_for_supply(supply) == 0 {
            Some(StallReason::WaitingForReleasedSeats)
        } else if self.shoppers.active >= u64::from(self.settings.max_active) {
            Some(StallReason::MaxActiveReached)
        } else {
            None
        }
    }

    /// A waiting buyer admitted, until `ends_s`.
    pub(super) fn start_access(&mut self, buyer: BuyerIndex, ends_s: u32) {
        self.line.take_out(buyer, Phase::Admitted);
        self.line.entry_mut(buyer).access_ends_s = ends_s;
        self.shoppers.accesses.push_back(Access { buyer, ends_s });
        self.shoppers.active += 1;
    }

    /// An admitted buyer's access ends (bought, left, or ran out of time):
    /// one less counted against `max_active`, and no longer holding.
    pub(super) fn end_access(&mut self, buyer: BuyerIndex, phase: Phase) {
        self.line.entry_mut(buyer).phase = phase;
        self.shoppers.active = self.shoppers.active.saturating_sub(1);
        self.holding.remove(&buyer);
    }

    /// Accesses whose time ran out stop counting against `max_active`.
    pub(super) fn expire_access(&mut self, now: UnixTimeMs, epoch: Epoch) {
        while let Some(&Access { buyer, ends_s }) = self.shoppers.accesses.front() {
            if now < epoch.at_offset(ends_s) {
                break;
            }
            self.shoppers.accesses.pop_front();
            if self.line.entry(buyer).phase == Phase::Admitted {
                self.end_access(buyer, Phase::AccessOver);
            }
        }
    }

    /// The measured rate up to `until` (see [`Pace::measured_per_minute`]).
    pub(super) fn measured_per_minute(&self, until: UnixTimeMs, epoch: Epoch) -> u64 {
        self.pace.measured_per_minute(self.opened_at, until, epoch)
    }
}
