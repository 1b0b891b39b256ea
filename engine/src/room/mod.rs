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
//! Buyers are numbered in join order; that number is the buyer id the queue
//! and access tokens carry. Queue slots are the order of service: slots
//! `0..lobby` hold the lobby in lottery order, later buyers have the slot equal
//! to their number. A Fenwick tree over slots counts the live buyers ahead of
//! anyone in O(log n).
//!
//! Every change is a [`RoomRecord`] applied by [`WaitingRoom::apply_locked`],
//! live and on replay. Heartbeats are not logged: after a restart every buyer
//! counts as just seen.

mod admission;
mod epoch;
mod error;
mod fenwick;
mod join_keys;
mod line;
mod lottery;
mod records;
mod settings;
mod status;

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use admission::{StallReason, Supply, ADMISSION_MARGIN};
pub use error::RoomError;
pub use join_keys::{BadJoinKey, JoinKey, JoinKeysSnapshot};
pub use lottery::{hex, lottery_order, seed_digest};
pub use records::{RoomRecord, RoomSink};
pub use settings::{RoomConfig, RoomSettings, SettingsPatch};
pub use status::{BuyerState, QueueStatus, RoomStats};

use crate::clock::Clock;
use crate::commit::{ApplyError, Receipt};
use crate::ids::BuyerId;
use crate::limits::MAX_WAITING_PER_EVENT;
use crate::sync::{RwLock, RwLockWriteGuard};
use crate::time::UnixTimeMs;
use admission::{Pace, Shoppers};
use epoch::Epoch;
use line::{BuyerIndex, KeptLine, Line, Phase};
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

/// A room's whole state as plain data (heartbeats excepted: a restored room
/// counts everyone as just seen).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    settings: RoomSettings,
    line: KeptLine,
    shoppers: Shoppers,
    counters: Counters,
    pace: Pace,
    /// Not in the encoding of this struct (which snapshot format version 1
    /// fixed): the engine's snapshot carries it in a section of its own.
    #[serde(skip)]
    pub(crate) join_keys: JoinKeysSnapshot,
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
        Self { config, epoch: Epoch(epoch), clock, sink, state: RwLock::new(state) }
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
        let snapshot = RoomSnapshot {
            settings: state.settings,
            line: state.line.kept().clone(),
            shoppers: state.shoppers.clone(),
            counters: state.counters,
            pace: state.pace.clone(),
            join_keys: state.join_keys.snapshot(),
        };
        (snapshot, covered)
    }

    /// Loads a snapshot into a fresh room of the same event.
    pub fn restore(&self, snapshot: RoomSnapshot) -> Result<(), ApplyError> {
        let mut state = self.state.write();
        let now = self.clock.now();
        if !state.line.entries().is_empty() {
            return Err(ApplyError("restoring a room snapshot into a used room, or a malformed one".into()));
        }
        let line = Line::restore(snapshot.line, &self.config.seed, now)?;
        let in_range = |buyer: BuyerIndex| line.index_of(buyer.id()).is_some();
        if !snapshot.shoppers.accesses.iter().all(|access| in_range(access.buyer)) {
            return Err(ApplyError("the room snapshot names buyers it does not hold".into()));
        }
        state.line = line;
        state.settings = snapshot.settings;
        state.shoppers = snapshot.shoppers;
        state.counters = snapshot.counters;
        state.opened_at = snapshot.pace.opened_second().map(|second| self.epoch.start_of_second(second));
        state.pace = snapshot.pace;
        let buyers = state.line.entries().len();
        state.join_keys.restore(snapshot.join_keys, buyers).map_err(|why| ApplyError(why.into()))
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

#[cfg(test)]
mod tests {
    //! The snapshot's bytes are a format on disk (snapshot format versions 1
    //! and 2): a room with a known history must encode to the bytes below,
    //! and those bytes must load back into the same answers.

    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;
    use crate::codec;
    use crate::commit::SinkError;

    const EPOCH: UnixTimeMs = UnixTimeMs(1_800_000_000_000);
    const ON_SALE: UnixTimeMs = UnixTimeMs(1_800_000_600_000);
    const PLENTY: Supply = Supply { remaining: 1_000_000, available: 1_000_000, tickets_per_order: 2.0 };
    const TIGHT: Supply = Supply { remaining: 9, available: 3, tickets_per_order: 2.5 };
    const SOLD_OUT: Supply = Supply { remaining: 0, available: 0, tickets_per_order: 2.0 };

    // The room snapshots of `lobby_history` and `sale_history`, and their
    // join keys (the section snapshot format version 2 appends), encoded, as
    // captured before the room's state was split into parts.
    const GOLDEN_LOBBY: &str = concat!(
        "3c0000000300000000070000000000000000000000000000000000000000000000000000000200000005000000000000",
        "000300000000000000000000000400000000000000000000000500000000000000000000000700000000000000000000",
        "000800000000000000000000000000000000000000000000000000000000000000000000000001000000000000000600",
        "000000000000000000000000000000505c18a30100003c00000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000",
    );
    const GOLDEN_LOBBY_JOIN_KEYS: &str =
        "020000000000000001010101010101010101010101010101010000000404040404040404040404040404040404000000";
    const GOLDEN_SALE: &str = concat!(
        "7800000004000000000a0000000000000004000000790200000000000003000000770200000200000005000000000000",
        "0003000000040000007d02000004000000060000000000000005000000050000007802000007000000040000007d0200",
        "0008000000040000007e0200005b02000002000000970200005b02000001000000000000005e02000001070000000900",
        "000001000000000000000800000097020000010000000000000007000000000000000300000000000000000000000000",
        "0000a08c000000000000500f6618a30100003c0000000000000000000000010000000100000001000000000000000000",
        "000002000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000001000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000000007902000000000000015802000000000000",
    );
    const GOLDEN_SALE_JOIN_KEYS: &str =
        "020000000000000004040404040404040404040404040404040000002828282828282828282828282828282807000000";

    #[derive(Debug, Default)]
    struct CountingSink(Mutex<u64>);

    impl RoomSink for CountingSink {
        fn submit(&self, _record: &RoomRecord) -> Result<Receipt, SinkError> {
            let mut count = self.0.lock().unwrap();
            *count += 1;
            Ok(Receipt(*count))
        }
    }

    fn room(clock: &Arc<ManualClock>) -> WaitingRoom {
        let config = RoomConfig {
            on_sale_at: ON_SALE,
            closes_at: ON_SALE.plus_s(86_400),
            access_ttl_s: 30,
            heartbeat_grace_s: 120,
            poll_tolerance_percent: 90,
            seed: *b"the golden snapshot's own seed!!",
        };
        let settings = RoomSettings { admit_per_minute: 60, max_active: 3, paused: false };
        WaitingRoom::new(config, settings, EPOCH, clock.clone(), Arc::new(CountingSink::default()))
    }

    fn key(n: u8) -> JoinKey {
        JoinKey([n; 16])
    }

    /// Everyone but buyer 4 polls: 4 falls silent and loses the place.
    fn poll(room: &WaitingRoom, buyers: impl IntoIterator<Item = u64>) {
        for buyer in buyers.into_iter().filter(|&buyer| buyer != 4) {
            // Some polls come too early; those change nothing, as in life.
            let _ = room.status(BuyerId(buyer), PLENTY);
        }
    }

    fn tick_for(room: &WaitingRoom, clock: &ManualClock, ms: u64, supply: Supply) {
        for _ in 0..ms / 100 {
            clock.advance_ms(100);
            room.tick(supply).unwrap();
        }
    }

    /// Joins (plain and keyed) in the lobby and a leave from it.
    fn lobby_history(clock: &Arc<ManualClock>) -> WaitingRoom {
        let room = room(clock);
        for n in 0..7u8 {
            if n % 3 == 1 {
                room.join_with_key(key(n)).unwrap();
            } else {
                room.join().unwrap();
            }
            clock.advance_ms(1_250);
        }
        room.leave(BuyerId(2)).unwrap();
        room
    }

    /// Then the lottery, a silent buyer dropped, admissions over several
    /// seconds, a hold and a purchase, an admitted buyer leaving, a settings
    /// change, joins after the opening, accesses running out, a stall for
    /// supply, and a bucket part full.
    fn sale_history(clock: &Arc<ManualClock>) -> WaitingRoom {
        let room = lobby_history(clock);
        clock.set(UnixTimeMs(ON_SALE.0 - 30_000));
        poll(&room, 0..7);
        clock.set(UnixTimeMs(ON_SALE.0 - 100));
        tick_for(&room, clock, 100, PLENTY);
        tick_for(&room, clock, 2_500, PLENTY);
        room.join_with_key(key(40)).unwrap();
        room.join().unwrap();
        room.note_hold(BuyerId(room.lobby_order()[0].0));
        room.note_purchase(BuyerId(room.lobby_order()[0].0));
        tick_for(&room, clock, 1_300, PLENTY);
        poll(&room, 0..9);
        let admitted: Vec<u64> = (0..9).filter(|&b| room.may_shop(BuyerId(b))).collect();
        room.leave(BuyerId(*admitted.last().unwrap())).unwrap();
        room.update_settings(SettingsPatch { admit_per_minute: Some(120), max_active: Some(4), paused: None }).unwrap();
        tick_for(&room, clock, 2_000, TIGHT);
        room.join().unwrap();
        tick_for(&room, clock, 31_000, PLENTY);
        poll(&room, 0..10);
        tick_for(&room, clock, 1_700, TIGHT);
        tick_for(&room, clock, 300, PLENTY);
        room
    }

    fn encoded(room: &WaitingRoom) -> (Vec<u8>, Vec<u8>) {
        let (snapshot, ()) = room.snapshot(|| ());
        (codec::encode(&snapshot).unwrap(), codec::encode(&snapshot.join_keys).unwrap())
    }

    fn answers(room: &WaitingRoom) -> Vec<Result<QueueStatus, RoomError>> {
        let buyers = 0..12;
        buyers.flat_map(|b| [PLENTY, TIGHT, SOLD_OUT].map(|supply| room.peek(BuyerId(b), supply))).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// `original`'s snapshot encodes to the golden bytes; the golden bytes
    /// restore into a room that answers as `original` does, then and after
    /// both have ticked on from `later` (heartbeats are not in snapshots:
    /// before anyone's grace runs out).
    fn check_golden(clock: &Arc<ManualClock>, original: &WaitingRoom, golden: (&str, &str), later: UnixTimeMs) {
        let (room_bytes, key_bytes) = encoded(original);
        assert_eq!(hex(&room_bytes), golden.0, "the room snapshot's encoding changed");
        assert_eq!(hex(&key_bytes), golden.1, "the join keys' encoding changed");

        let restored = room(clock);
        let mut snapshot: RoomSnapshot = codec::decode(&unhex(golden.0)).unwrap();
        snapshot.join_keys = codec::decode(&unhex(golden.1)).unwrap();
        restored.restore(snapshot).unwrap();
        assert_eq!(encoded(&restored), (room_bytes, key_bytes));
        assert_eq!(restored.lobby_order(), original.lobby_order());
        assert_eq!(restored.join_keys_held().0, original.join_keys_held().0);
        clock.set(later);
        for step in 0..40 {
            assert_eq!(answers(&restored), answers(original), "step {step}");
            assert_eq!(restored.stats(), original.stats(), "step {step}");
            clock.advance_ms(100);
            let supply = if step % 10 < 3 { TIGHT } else { PLENTY };
            assert_eq!(restored.tick(supply).unwrap().admitted, original.tick(supply).unwrap().admitted);
        }
        assert_eq!(encoded(&restored), encoded(original));
    }

    #[test]
    fn a_lobby_encodes_to_the_same_bytes_and_loads_back() {
        let clock = Arc::new(ManualClock::new(EPOCH));
        let original = lobby_history(&clock);
        check_golden(&clock, &original, (GOLDEN_LOBBY, GOLDEN_LOBBY_JOIN_KEYS), UnixTimeMs(ON_SALE.0 - 1_000));
    }

    #[test]
    fn a_sale_encodes_to_the_same_bytes_and_loads_back() {
        let clock = Arc::new(ManualClock::new(EPOCH));
        let original = sale_history(&clock);
        let now = clock.now();
        check_golden(&clock, &original, (GOLDEN_SALE, GOLDEN_SALE_JOIN_KEYS), now);
    }
}
