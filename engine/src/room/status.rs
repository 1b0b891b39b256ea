//! What the room tells: a buyer's status (state, place, ETA, when to poll
//! again, and why admission is stalled, if it is) and the promoter's figures.
//!
//! While admission is stalled a waiting buyer's ETA is the line's last pace
//! plus the time stalled so far, so it grows instead of freezing (and is
//! null only while paused). Advised polls spread out with a jitter.

use serde::{Deserialize, Serialize};

use super::admission::{StallReason, Supply};
use super::line::{BuyerIndex, Phase};
use super::lottery::{hex, seed_digest};
use super::settings::RoomSettings;
use super::{RoomState, WaitingRoom};
use crate::time::UnixTimeMs;

/// Polls are advised between these bounds; the heartbeat grace must exceed the upper one.
const MIN_POLL_MS: u64 = 1_000;
const MAX_POLL_MS: u64 = 20_000;

/// A buyer's state as the contract names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyerState {
    Lobby,
    Waiting,
    Admitted,
    SoldOut,
    Closed,
    Left,
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueStatus {
    pub state: BuyerState,
    /// 1 for the next buyer to be admitted; `None` in the lobby and once out of line.
    pub position: Option<u64>,
    pub ahead: Option<u64>,
    pub eta_s: Option<u64>,
    pub poll_after_ms: u64,
    /// When the access ends: present exactly when `state` is `Admitted`.
    pub access_expires_at: Option<UnixTimeMs>,
    /// The places left are unlikely to reach this buyer.
    pub sold_out_likely: bool,
    /// Why nobody is being admitted just now, while that is so.
    pub reason: Option<StallReason>,
}

/// The room in figures, for the promoter's dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoomStats {
    pub lobby: u64,
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub abandoned: u64,
    pub settings: RoomSettings,
    pub measured_admit_per_minute: u64,
    pub opened: bool,
    /// SHA-256 of the lottery seed, hex: published before the on-sale.
    pub seed_sha256: String,
    /// The seed itself, hex, once the lottery is drawn.
    pub seed: Option<String>,
    /// Buyers numbered `0..lobby_size` (everyone who joined before the draw)
    /// were put in lottery order: with the seed, what anyone needs to
    /// recompute the order. Known once drawn.
    pub lobby_size: Option<u32>,
}

/// The room's running totals, as snapshots keep them (fields in snapshot
/// format version 1's order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Counters {
    pub(super) admitted_total: u64,
    /// Left or dropped before buying.
    pub(super) abandoned: u64,
    /// Buyers in the lobby now.
    pub(super) lobby: u64,
}

impl WaitingRoom {
    /// Where a buyer stands at `now`, with `supply` left to sell.
    pub(super) fn describe(
        &self,
        state: &RoomState,
        index: BuyerIndex,
        now: UnixTimeMs,
        supply: Supply,
    ) -> QueueStatus {
        let entry = *state.line.entry(index);
        let mut status = QueueStatus {
            state: BuyerState::Waiting,
            position: None,
            ahead: None,
            eta_s: None,
            poll_after_ms: MIN_POLL_MS,
            access_expires_at: None,
            sold_out_likely: false,
            reason: None,
        };
        match entry.phase {
            Phase::Admitted | Phase::Purchased | Phase::AccessOver => {
                // One judgement, the same as `may_shop`'s: admitted means the
                // access can be handed out now, so it always comes with its end.
                match entry.shopping_until(now, self.epoch) {
                    Some(ends) => {
                        status.state = BuyerState::Admitted;
                        status.access_expires_at = Some(ends);
                    }
                    None => status.state = BuyerState::Expired,
                }
                status.poll_after_ms = MAX_POLL_MS;
                return status;
            }
            Phase::Left => status.state = BuyerState::Left,
            Phase::Dropped => status.state = BuyerState::Expired,
            Phase::Lobby | Phase::Waiting if now >= self.config.closes_at => status.state = BuyerState::Closed,
            Phase::Lobby | Phase::Waiting if supply.remaining == 0 => {
                status.state = BuyerState::SoldOut;
                status.poll_after_ms = MAX_POLL_MS;
            }
            Phase::Lobby => {
                status.state = BuyerState::Lobby;
                // Spread out, so the lobby does not poll all at once at the opening.
                let until_open_ms = now.ms_until(self.config.on_sale_at);
                status.poll_after_ms = jitter(until_open_ms.clamp(MIN_POLL_MS, MAX_POLL_MS / 2), index, now);
            }
            Phase::Waiting => self.describe_waiting(state, index, now, supply, &mut status),
        }
        status
    }

    /// A waiting buyer's place, ETA, and why the line is stalled, if it is.
    fn describe_waiting(
        &self,
        state: &RoomState,
        index: BuyerIndex,
        now: UnixTimeMs,
        supply: Supply,
        status: &mut QueueStatus,
    ) {
        let ahead = state.line.ahead_of(index);
        let reason = state.stall_reason(supply);
        let now_second = self.epoch.second_of(now);
        // While stalled: the pace the line last moved at, plus the stall so
        // far, assumed to last as long again (the best guess for a wait of
        // unknown length), so the ETA grows with it instead of freezing.
        let (moving_until, stalled_s) = match reason {
            Some(_) => {
                let last = state
                    .pace
                    .last_admission_second(state.counters.admitted_total > 0)
                    .unwrap_or(now_second)
                    .min(now_second);
                (self.epoch.start_of_second(last + 1).min(now), now_second - last)
            }
            None => (now, 0),
        };
        let per_minute = match state.measured_per_minute(moving_until, self.epoch) {
            0 => u64::from(state.settings.admit_per_minute),
            measured => measured,
        };
        let moving_s = (ahead + 1) * 60 / per_minute.max(1);
        status.position = Some(ahead + 1);
        status.ahead = Some(ahead);
        status.reason = reason;
        status.eta_s = (reason != Some(StallReason::Paused)).then_some(moving_s + stalled_s);
        // About ten polls over the wait, further back less often, with jitter;
        // the stall's share does not slow the front down: it must see its turn.
        let base_ms = (moving_s * 100).clamp(MIN_POLL_MS, MAX_POLL_MS);
        status.poll_after_ms = jitter(base_ms, index, now);
        // Everyone ahead, and everyone shopping, is served before this buyer.
        let tickets_per_order = supply.tickets_per_order.max(1.0);
        status.sold_out_likely =
            ((ahead + state.shoppers.active) as f64) * tickets_per_order >= supply.remaining as f64;
    }

    /// The room in figures at `now`.
    pub(super) fn figures(&self, state: &RoomState, now: UnixTimeMs) -> RoomStats {
        RoomStats {
            lobby: state.counters.lobby,
            waiting: state.line.waiting(),
            active: state.shoppers.active,
            admitted_total: state.counters.admitted_total,
            abandoned: state.counters.abandoned,
            settings: state.settings,
            measured_admit_per_minute: state.measured_per_minute(now, self.epoch),
            opened: state.line.opened(),
            seed_sha256: hex(&seed_digest(&self.config.seed)),
            seed: state.line.opened().then(|| hex(&self.config.seed)),
            lobby_size: state.line.opened().then_some(state.line.lobby_size()),
        }
    }
}

/// ±20 % around `base_ms`, varying by buyer and by second, so polls spread out.
fn jitter(base_ms: u64, buyer: BuyerIndex, now: UnixTimeMs) -> u64 {
    let mut x = u64::from(buyer.0) ^ (now.0 / 1000).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    let spread = base_ms / 5;
    base_ms - spread + x % (2 * spread + 1)
}
