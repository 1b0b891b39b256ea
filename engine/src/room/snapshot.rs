//! A room's snapshot: the parts of its state that snapshots keep, as they
//! are, encoded by serde in the order snapshot format version 1 fixed
//! (settings, line, shoppers, counters, pace: bincode encodes a struct as
//! its fields in order, so the grouping adds no bytes). What a snapshot
//! leaves out is rebuilt on a restore (the lottery's slots, the live
//! counts, the opening instant to its second) or starts afresh (heartbeats:
//! everyone counts as just seen; holds: everyone active counts as still
//! shopping). Join keys travel in a section of their own (format version 2).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::admission::{Pace, Shoppers};
use super::epoch::Epoch;
use super::join_keys::{JoinKeys, JoinKeysSnapshot};
use super::line::{KeptLine, Line};
use super::settings::{RoomConfig, RoomSettings};
use super::status::Counters;
use super::RoomState;
use crate::commit::ApplyError;
use crate::time::UnixTimeMs;

/// A room's whole state as plain data (heartbeats excepted: a restored room
/// counts everyone as just seen). The fields' order is the encoding's.
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

impl RoomSnapshot {
    /// The kept parts of `state`.
    pub(super) fn of(state: &RoomState) -> Self {
        RoomSnapshot {
            settings: state.settings,
            line: state.line.kept().clone(),
            shoppers: state.shoppers.clone(),
            counters: state.counters,
            pace: state.pace.clone(),
            join_keys: state.join_keys.snapshot(),
        }
    }

    /// The state this snapshot keeps, every buyer seen at `now`; checked
    /// whole before anything is used.
    pub(super) fn restored(self, config: &RoomConfig, epoch: Epoch, now: UnixTimeMs) -> Result<RoomState, ApplyError> {
        let line = Line::restore(self.line, &config.seed, now)?;
        if !self.shoppers.accesses.iter().all(|access| line.index_of(access.buyer.id()).is_some()) {
            return Err(ApplyError("the room snapshot names buyers it does not hold".into()));
        }
        let mut join_keys = JoinKeys::default();
        join_keys.restore(self.join_keys, line.entries().len()).map_err(|why| ApplyError(why.into()))?;
        Ok(RoomState {
            settings: self.settings,
            line,
            shoppers: self.shoppers,
            holding: HashSet::new(),
            counters: self.counters,
            opened_at: self.pace.opened_second().map(|second| epoch.start_of_second(second)),
            pace: self.pace,
            join_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The snapshot's bytes are a format on disk (snapshot format versions 1
    //! and 2): a room with a known history must encode to the bytes below,
    //! and those bytes must load back into the same answers.

    use std::sync::Mutex;

    use std::sync::Arc;

    use super::RoomSnapshot;
    use crate::clock::{Clock, ManualClock};
    use crate::codec;
    use crate::commit::{Receipt, SinkError};
    use crate::ids::BuyerId;
    use crate::room::{
        hex, JoinKey, QueueStatus, RoomConfig, RoomError, RoomRecord, RoomSettings, RoomSink, SettingsPatch, Supply,
        WaitingRoom,
    };
    use crate::time::UnixTimeMs;

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
