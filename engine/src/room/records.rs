//! Every change of a room as a record ([`RoomRecord`]), the sink records go
//! to (the write-ahead log), and the one function that applies a record:
//! live traffic logs a record and then applies it; replay applies the
//! records read back. Admissions are logged with the buyers they name, so
//! replay never re-decides them. Heartbeats are not logged: after a restart
//! every buyer counts as just seen.

use serde::{Deserialize, Serialize};

use super::join_keys::JoinKey;
use super::line::Phase;
use super::settings::RoomSettings;
use super::{RoomError, RoomState, WaitingRoom};
use crate::commit::{ApplyError, Receipt, SinkError};
use crate::ids::BuyerId;
use crate::sync::RwLockWriteGuard;
use crate::time::UnixTimeMs;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomRecord {
    Joined {
        buyer: BuyerId,
        at: UnixTimeMs,
    },
    /// The lottery: the lobby takes the order `lottery_order(seed, lobby)`.
    Opened {
        at: UnixTimeMs,
    },
    /// In admission order; each buyer's access expires `access_ttl_s` later.
    Admitted {
        buyers: Vec<BuyerId>,
        at: UnixTimeMs,
    },
    /// Silent past the grace period: the place is lost.
    Dropped {
        buyers: Vec<BuyerId>,
        at: UnixTimeMs,
    },
    Left {
        buyer: BuyerId,
        at: UnixTimeMs,
    },
    SettingsChanged {
        settings: RoomSettings,
        at: UnixTimeMs,
    },
    /// A join with an `Idempotency-Key` (its digest): a retry finds `buyer`.
    JoinedWithKey {
        buyer: BuyerId,
        at: UnixTimeMs,
        key: JoinKey,
    },
}

/// Where room records go (the write-ahead log).
pub trait RoomSink: Send + Sync + std::fmt::Debug {
    fn submit(&self, record: &RoomRecord) -> Result<Receipt, SinkError>;
}

impl WaitingRoom {
    /// Logs a change, then makes it (the operation checked it).
    pub(super) fn commit(
        &self,
        state: &mut RwLockWriteGuard<'_, RoomState>,
        record: RoomRecord,
    ) -> Result<Receipt, RoomError> {
        let receipt = self.sink.submit(&record)?;
        if let Err(error) = self.apply_locked(state, &record) {
            panic!("apply refused a room change the operation had checked ({error}); record: {record:?}");
        }
        if let RoomRecord::Dropped { buyers, .. } = &record {
            self.silent_drops.fetch_add(buyers.len() as u64, crate::sync::Ordering::Relaxed);
        }
        Ok(receipt)
    }

    /// Waiting buyers dropped for going silent since the process started.
    pub fn silent_drops_since_start(&self) -> u64 {
        self.silent_drops.load(crate::sync::Ordering::Relaxed)
    }

    /// The one function that changes a room's state: live, after the record
    /// is logged, and on replay.
    pub(super) fn apply_locked(&self, state: &mut RoomState, record: &RoomRecord) -> Result<(), ApplyError> {
        match record {
            RoomRecord::Joined { buyer, at } => self.add_buyer(state, *buyer, *at)?,
            RoomRecord::JoinedWithKey { buyer, at, key } => {
                // Forgetting by the record's own time: replay forgets what live traffic did.
                state.forget_join_keys(*at, self.epoch);
                if state.join_keys.buyer(key).is_some() {
                    return Err(ApplyError(format!("buyer {} joins with a key already in use", buyer.0)));
                }
                self.add_buyer(state, *buyer, *at)?;
                state.join_keys.insert(*key, *buyer);
            }
            RoomRecord::Opened { at } => self.open(state, *at)?,
            RoomRecord::Admitted { buyers, at } => {
                let access_ends_s = self.epoch.offset_s(at.plus_s(self.config.access_ttl_s));
                for buyer in state.line.check_waiting(buyers)? {
                    state.start_access(buyer, access_ends_s);
                }
                state.counters.admitted_total += buyers.len() as u64;
                state.pace.note_admissions(self.epoch.second_of(*at), buyers.len() as u32);
                state.line.advance_head();
            }
            RoomRecord::Dropped { buyers, .. } => {
                for buyer in state.line.check_waiting(buyers)? {
                    state.line.take_out(buyer, Phase::Dropped);
                }
                state.counters.abandoned += buyers.len() as u64;
                state.line.advance_head();
            }
            RoomRecord::Left { buyer, .. } => leave(state, *buyer)?,
            RoomRecord::SettingsChanged { settings, .. } => state.settings = *settings,
        }
        Ok(())
    }

    /// A new buyer at the end of the lobby or of the line.
    fn add_buyer(&self, state: &mut RoomState, buyer: BuyerId, at: UnixTimeMs) -> Result<(), ApplyError> {
        state.line.add(buyer, at, self.epoch.offset_s(at))?;
        if !state.line.opened() {
            state.counters.lobby += 1;
        }
        Ok(())
    }

    /// The lottery, and admission's start.
    fn open(&self, state: &mut RoomState, at: UnixTimeMs) -> Result<(), ApplyError> {
        if state.line.opened() {
            return Err(ApplyError("the lobby opened twice".into()));
        }
        state.line.open(&self.config.seed);
        state.counters.lobby = 0;
        state.pace.open(at, self.epoch.second_of(at));
        state.opened_at = Some(at);
        state.line.advance_head();
        Ok(())
    }
}

/// A buyer leaves, from wherever they are; leaving twice is refused.
fn leave(state: &mut RoomState, buyer: BuyerId) -> Result<(), ApplyError> {
    let Some(index) = state.line.index_of(buyer) else {
        return Err(ApplyError(format!("unknown buyer {}", buyer.0)));
    };
    let phase = state.line.entry(index).phase;
    match phase {
        Phase::Lobby => {
            state.line.entry_mut(index).phase = Phase::Left;
            state.counters.lobby = state.counters.lobby.saturating_sub(1);
        }
        Phase::Waiting => state.line.take_out(index, Phase::Left),
        Phase::Admitted => state.end_access(index, Phase::Left),
        Phase::Purchased | Phase::AccessOver => state.line.entry_mut(index).phase = Phase::Left,
        Phase::Left | Phase::Dropped => {
            return Err(ApplyError(format!("buyer {} already left", buyer.0)));
        }
    }
    if matches!(phase, Phase::Lobby | Phase::Waiting | Phase::Admitted) {
        state.counters.abandoned += 1; // left before buying
    }
    state.line.advance_head();
    Ok(())
}
