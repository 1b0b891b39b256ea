//! The virtual waiting room of one event: a fair place in line, an honest
//! wait, and admission at the promoter's rate.
//!
//! Before `on_sale_at` buyers wait in the lobby. At the on-sale instant the
//! lobby is put in one random order drawn from a seed whose SHA-256 was
//! published beforehand (see `lottery`), ahead of everyone who arrives later,
//! first come, first served. A tick (at least every 100 ms) admits buyers from
//! the front at `admit_per_minute`, never more than `max_active` at once, and
//! never more than the places not yet held or sold can serve (see
//! [`ADMISSION_MARGIN`]): as holds expire or orders are cancelled, admission
//! resumes. Buyers who stop polling (the heartbeat) lose their place and are
//! skipped, never waited for. While admission is stalled the status says why,
//! and its ETA grows with the stall.
//!
//! This file is the front: [`WaitingRoom`], its lock, and its public
//! operations, each of which takes the lock, reads the clock once and hands
//! the work to a part:
//! - `line`: buyers in join order, the lottery's slots, who waits where;
//! - `admission`: the token bucket, the rate measured, the supply gate;
//! - `status`: what a buyer or the promoter is told;
//! - `records`: every change as a [`RoomRecord`], and the one `apply` that
//!   live traffic (after logging) and replay share;
//! - `snapshot`: the state's kept parts, as snapshot files encode them;
//! - `join_keys`, `lottery`, `fenwick`, `epoch`, `settings`, `error`.
//!
//! Heartbeats are not logged: after a restart every buyer counts as just seen.

mod admission;
mod epoch;
mod error;
mod fenwick;
mod join_keys;
mod line;
mod lottery;
mod records;
mod settings;
mod snapshot;
mod status;

use crate::sync::AtomicU64;
use std::collections::HashSet;
use std::sync::Arc;

pub use admission::{StallReason, Supply, ADMISSION_MARGIN};
pub use error::RoomError;
pub use join_keys::{BadJoinKey, JoinKey, JoinKeysSnapshot};
pub use lottery::{hex, lottery_order, seed_digest};
pub use records::{RoomRecord, RoomSink};
pub use settings::{RoomConfig, RoomSettings, SettingsPatch};
pub use snapshot::RoomSnapshot;
pub use status::{BuyerState, QueueStatus, RoomStats};

use crate::clock::Clock;
use crate::commit::{ApplyError, Receipt};
use crate::ids::BuyerId;
use crate::limits::MAX_WAITING_PER_EVENT;
use crate::sync::{RwLock, RwLockWriteGuard};
use crate::time::UnixTimeMs;
use admission::{Pace, Shoppers};
use epoch::Epoch;
use line::{BuyerIndex, Line, Phase};
use status::Counters;

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub opened: bool,
    pub admitted: usize,
    pub dropped: usize,
    pub receipt: Receipt,
}

#[derive(Debug)]
struct RoomState {
    settings: RoomSettings,
    line: Line,
    shoppers: Shoppers,
    /// Active buyers who have placed a hold: their places are counted as
    /// held, so they no longer weigh on admission. A subset of the active
    /// buyers (at most `max_active` of them). Not in snapshots: after a
    /// restore everyone active counts as still shopping, which only makes
    /// admission more careful until they buy, leave or time out.
    holding: HashSet<BuyerIndex>,
    counters: Counters,
    pace: Pace,
    join_keys: join_keys::JoinKeys,
    /// The opening instant, to the millisecond, so the first seconds' rate
    /// is measured over the time that really passed. Not in snapshots (a
    /// restored room takes the start of `opened_second`).
    opened_at: Option<UnixTimeMs>,
}

/// What a join with a key did: made a place, or found the one its key made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinOutcome {
    pub buyer: BuyerId,
    pub receipt: Receipt,
    /// False when an earlier join with the same key made the place.
    pub created: bool,
}

pub struct WaitingRoom {
    config: RoomConfig,
    /// Time zero for the compact per-buyer times (the event's creation).
    epoch: Epoch,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn RoomSink>,
    state: RwLock<RoomState>,
    /// Waiting buyers dropped for going silent since the process started
    /// (live only, not replay).
    silent_drops: AtomicU64,
}

impl std::fmt::Debug for WaitingRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingRoom").field("config", &self.config.on_sale_at).finish()
    }
}

impl WaitingRoom {
    pub fn new(
        config: RoomConfig,
        settings: RoomSettings,
        epoch: UnixTimeMs,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn RoomSink>,
    ) -> Self {
        let state = RoomState {
            settings,
            line: Line::new(),
            shoppers: Shoppers::default(),
            holding: HashSet::new(),
            counters: Counters::default(),
            pace: Pace::new(epoch),
            join_keys: join_keys::JoinKeys::default(),
            opened_at: None,
        };
        Self { config, epoch: Epoch(epoch), clock, sink, state: RwLock::new(state), silent_drops: AtomicU64::new(0) }
    }

    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    // ---- operations ----

    /// A new buyer joins: the lobby before the on-sale, the end of the line after.
    pub fn join(&self) -> Result<(BuyerId, Receipt), RoomError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        let joined = self.admit_new_buyer(&mut state, now, None)?;
        Ok((joined.buyer, joined.receipt))
    }

    /// A join with an `Idempotency-Key`: the same key (kept at least
    /// `JOIN_KEY_KEPT_S`) finds the same buyer, whatever happened since, and
    /// logs nothing. A replay's `receipt` is `NONE`: the caller waits for
    /// everything logged so far, which includes the first join.
    pub fn join_with_key(&self, key: JoinKey) -> Result<JoinOutcome, RoomError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        state.forget_join_keys(now, self.epoch);
        if let Some(buyer) = state.join_keys.buyer(&key) {
            return Ok(JoinOutcome { buyer, receipt: Receipt::NONE, created: false });
        }
        if state.join_keys.is_full() {
            return Err(RoomError::JoinKeysFull);
        }
        self.admit_new_buyer(&mut state, now, Some(key))
    }

    /// The one path of a new place in line, keyed or not: refused once the
    /// show starts or the room is full; after the on-sale, never in the lobby.
    fn admit_new_buyer(
        &self,
        state: &mut RwLockWriteGuard<'_, RoomState>,
        now: UnixTimeMs,
        key: Option<JoinKey>,
    ) -> Result<JoinOutcome, RoomError> {
        if now >= self.config.closes_at {
            return Err(RoomError::Closed);
        }
        if state.line.entries().len() >= MAX_WAITING_PER_EVENT {
            return Err(RoomError::Full);
        }
        if !state.line.opened() && now >= self.config.on_sale_at {
            // The on-sale has come but no tick has drawn the lottery yet: draw it
            // now, so a buyer arriving after the on-sale is never put in the lobby.
            self.commit(state, RoomRecord::Opened { at: now })?;
        }
        let buyer = BuyerId(state.line.entries().len() as u64);
        let record = match key {
            None => RoomRecord::Joined { buyer, at: now },
            Some(key) => RoomRecord::JoinedWithKey { buyer, at: now, key },
        };
        let receipt = self.commit(state, record)?;
        Ok(JoinOutcome { buyer, receipt, created: true })
    }

    /// Forgets join keys past `JOIN_KEY_KEPT_S` (run by the periodic sweep;
    /// joins do it too). Returns how many.
    pub fn forget_old_join_keys(&self) -> usize {
        let mut state = self.state.write();
        let now = self.clock.now();
        state.forget_join_keys(now, self.epoch)
    }

    /// Join keys kept now, and the bytes they take.
    pub fn join_keys_held(&self) -> (usize, usize) {
        let state = self.state.read();
        (state.join_keys.len(), state.join_keys.memory_bytes())
    }

    /// Where a buyer stands. Polling is the heartbeat; polling again before
    /// `poll_tolerance_percent` of the advised interval has passed is refused
    /// and changes nothing.
    pub fn status(&self, buyer: BuyerId, supply: Supply) -> Result<QueueStatus, RoomError> {
        let state = self.state.read();
        // Read under the lock: a tick that ran before it read the clock no
        // later than this, so the phase it left and this instant agree.
        let now = self.clock.now();
        let index = state.line.index_of(buyer).ok_or(RoomError::UnknownBuyer)?;
        let heartbeat = state.line.heartbeat(index);
        if let Some(retry_after_ms) = heartbeat.too_early_by_ms(now) {
            return Err(RoomError::TooEarly { retry_after_ms });
        }
        let status = self.describe(&state, index, now, supply);
        let tolerance_percent = u64::from(self.config.poll_tolerance_percent);
        heartbeat.polled(now, status.poll_after_ms * tolerance_percent / 100);
        Ok(status)
    }

    /// Where a buyer stands, without counting as a poll (for the promoter and for checks).
    pub fn peek(&self, buyer: BuyerId, supply: Supply) -> Result<QueueStatus, RoomError> {
        let state = self.state.read();
        let now = self.clock.now();
        let index = state.line.index_of(buyer).ok_or(RoomError::UnknownBuyer)?;
        Ok(self.describe(&state, index, now, supply))
    }

    /// The buyer leaves for good: the people behind move up.
    pub fn leave(&self, buyer: BuyerId) -> Result<Receipt, RoomError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        let index = state.line.index_of(buyer).ok_or(RoomError::UnknownBuyer)?;
        if matches!(state.line.entry(index).phase, Phase::Left | Phase::Dropped) {
            return Ok(Receipt::NONE);
        }
        self.commit(&mut state, RoomRecord::Left { buyer, at: now })
    }

    /// Opens the lobby when the on-sale comes, then admits from the front.
    pub fn tick(&self, supply: Supply) -> Result<TickReport, RoomError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        let mut report = TickReport::default();
        if !state.line.opened() && now >= self.config.on_sale_at {
            report.receipt = self.commit(&mut state, RoomRecord::Opened { at: now })?;
            report.opened = true;
            return Ok(report);
        }
        state.expire_access(now, self.epoch);
        let wanted = state.admissions_due(now, supply);
        let (admitted, dropped) = state.line.pick_from_front(wanted as usize, self.config.silent_before_ms(now));
        if !dropped.is_empty() {
            report.dropped = dropped.len();
            report.receipt = self.commit(&mut state, RoomRecord::Dropped { buyers: dropped, at: now })?;
        }
        if !admitted.is_empty() {
            report.admitted = admitted.len();
            state.pace.spend(admitted.len());
            report.receipt = self.commit(&mut state, RoomRecord::Admitted { buyers: admitted, at: now })?;
        }
        if state.line.waiting() == 0 {
            state.pace.nobody_waiting();
        }
        Ok(report)
    }

    pub fn update_settings(&self, patch: SettingsPatch) -> Result<(RoomSettings, Receipt), RoomError> {
        patch.check().map_err(RoomError::InvalidSetting)?;
        let mut state = self.state.write();
        let now = self.clock.now();
        let settings = patch.applied_to(state.settings);
        if settings == state.settings {
            // Nothing changes, so nothing is logged (an empty patch included).
            return Ok((settings, Receipt::NONE));
        }
        let receipt = self.commit(&mut state, RoomRecord::SettingsChanged { settings, at: now })?;
        Ok((settings, receipt))
    }

    /// The buyer bought: the access no longer counts against `max_active`.
    /// Implied by the purchase's own record, so not logged again; replay calls it too.
    pub fn note_purchase(&self, buyer: BuyerId) {
        let mut state = self.state.write();
        let Some(index) = state.line.index_of(buyer) else { return };
        if state.line.entry(index).phase == Phase::Admitted {
            state.end_access(index, Phase::Purchased);
        }
    }

    /// The buyer placed a hold: those places now count as held, so the buyer
    /// no longer weighs on admission as one still looking. Implied by the
    /// hold's own record; replay calls it too. Doing it twice changes nothing.
    pub fn note_hold(&self, buyer: BuyerId) {
        let mut state = self.state.write();
        let admitted = state.line.index_of(buyer).filter(|&index| state.line.entry(index).phase == Phase::Admitted);
        if let Some(index) = admitted {
            state.holding.insert(index);
        }
    }

    /// Counts every buyer as just seen: after a restart, nobody loses a place
    /// for the time the server was down (heartbeats are not logged).
    pub fn mark_all_seen(&self) {
        let now = self.clock.now();
        self.state.read().line.mark_all_seen(now);
    }

    /// Whether an admitted buyer may still shop: admitted (or bought), the
    /// access not over, and neither left nor dropped. An access token is worth only this.
    pub fn may_shop(&self, buyer: BuyerId) -> bool {
        let state = self.state.read();
        let now = self.clock.now();
        let index = state.line.index_of(buyer);
        index.is_some_and(|index| state.line.entry(index).shopping_until(now, self.epoch).is_some())
    }

    pub fn stats(&self) -> RoomStats {
        let now = self.clock.now();
        self.figures(&self.state.read(), now)
    }

    /// Bytes the room holds for its buyers (the capacity of its per-buyer
    /// arrays), for checking the cost of a waiting buyer.
    pub fn memory_bytes(&self) -> usize {
        let state = self.state.read();
        state.line.memory_bytes() + state.shoppers.memory_bytes()
    }

    /// The order the lottery gave the lobby, as buyer ids (empty before it).
    pub fn lobby_order(&self) -> Vec<BuyerId> {
        self.state.read().line.lobby_order()
    }

    // ---- snapshots ----

    /// Copies the state out; `cut` runs while no change can happen (the
    /// log's last sequence then is what the snapshot covers).
    pub fn snapshot<T>(&self, cut: impl FnOnce() -> T) -> (RoomSnapshot, T) {
        let state = self.state.read();
        let covered = cut();
        (RoomSnapshot::of(&state), covered)
    }

    /// Loads a snapshot into a fresh room of the same event.
    pub fn restore(&self, snapshot: RoomSnapshot) -> Result<(), ApplyError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        if !state.line.entries().is_empty() {
            return Err(ApplyError("restoring a room snapshot into a used room, or a malformed one".into()));
        }
        *state = snapshot.restored(&self.config, self.epoch, now)?;
        Ok(())
    }

    /// Applies a record read back from the log.
    pub fn apply(&self, record: &RoomRecord) -> Result<(), ApplyError> {
        self.apply_locked(&mut self.state.write(), record)
    }

    /// Drops waiting buyers silent past the grace period, walking at most
    /// `MAX_SLOTS_SCANNED_PER_TICK` slots from where the last sweep stopped.
    /// Admission skips them anyway; this keeps positions honest while
    /// admission is stalled (paused, cap reached, nothing available).
    pub fn drop_silent(&self) -> Result<usize, RoomError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        if !state.line.opened() {
            return Ok(0);
        }
        let silent = state.line.sweep_silent(self.config.silent_before_ms(now));
        let dropped = silent.len();
        if dropped > 0 {
            self.commit(&mut state, RoomRecord::Dropped { buyers: silent, at: now })?;
        }
        Ok(dropped)
    }
}

impl RoomState {
    /// Forgets join keys past `JOIN_KEY_KEPT_S` at `now`; returns how many.
    fn forget_join_keys(&mut self, now: UnixTimeMs, epoch: Epoch) -> usize {
        let RoomState { join_keys, line, .. } = self;
        join_keys.forget_old(now, |buyer| line.entries().get(buyer).map(|entry| epoch.at_offset(entry.joined_s)))
    }
}
