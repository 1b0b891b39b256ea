//! Holds: placing them (chosen seats or best available, with or without an
//! `Idempotency-Key`), letting them go, and expiring them when their time is up.

use serde::{Deserialize, Serialize};

use super::buyers::{self, BuyerShard, HoldStatus};
use super::record::{HoldEndReason, InventoryRecord, Place, Places};
use super::{check_idempotency_key, Candidate, Hold, Inventory, InventoryError, Locked, Receipt, Requester};
use crate::ids::{BuyerId, HoldId};
use crate::limits::{BUYER_SHARDS, MAX_BUYERS_PER_EVENT, MAX_HOLD_KEYS_PER_BUYER};
use crate::time::UnixTimeMs;

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
    /// As `BestInSection`, among the seats flagged accessible or companion
    /// (which the other forms never choose).
    AccessibleInSection { section: String, quantity: u32 },
    /// As `BestInTier`, among the seats flagged accessible or companion.
    AccessibleInTier { tier: String, quantity: u32 },
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

impl Inventory {
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
            Target::Best { candidates, quantity, flagged } => {
                self.lock_best(&mut locked, Wanted { candidates, quantity, flagged }, buyer, now)?
            }
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

    /// Makes a live hold last until `until` (while its payment is under
    /// way); a hold that already lasts that long is left as it is (no
    /// record). Returns the hold as it is now.
    pub fn extend_hold(&self, hold_id: HoldId, until: UnixTimeMs) -> Result<(Hold, Receipt), InventoryError> {
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(hold_id.shard(), InventoryError::UnknownHold)?;
        let hold = locked.buyers().holds.get(&hold_id).ok_or(InventoryError::UnknownHold)?;
        let (status, expires_at, places) = (hold.status, hold.expires_at, hold.places.clone());
        match status {
            HoldStatus::Active if now < expires_at => {}
            HoldStatus::Active | HoldStatus::Expired { .. } => return Err(InventoryError::HoldExpired),
            HoldStatus::Released { .. } => return Err(InventoryError::HoldNotActive { why: "it was released" }),
            HoldStatus::Purchased { .. } => return Err(InventoryError::HoldNotActive { why: "it was purchased" }),
        }
        if until <= expires_at {
            let hold = locked.buyers().holds[&hold_id].clone();
            return Ok((hold, Receipt::NONE));
        }
        self.lock_places(&mut locked, &places);
        let receipt =
            self.commit(&mut locked, &InventoryRecord::HoldExtended { hold: hold_id, at: now, expires_at: until })?;
        Ok((locked.buyers().holds[&hold_id].clone(), receipt))
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

    pub(super) fn end_hold<'a>(
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
}

/// A hold request with its names resolved to layout indices.
pub(super) enum Target<'a> {
    Seats(Places),
    /// `flagged`: choose only among accessible and companion seats, instead
    /// of only among the others.
    Best {
        candidates: &'a [Candidate],
        quantity: u32,
        flagged: bool,
    },
}

/// What best available looks for: `quantity` places among `candidates`,
/// only flagged seats or only the others.
pub(super) struct Wanted<'a> {
    pub candidates: &'a [Candidate],
    pub quantity: u32,
    pub flagged: bool,
}

impl Target<'_> {
    fn quantity(&self) -> u32 {
        match self {
            Target::Seats(places) => places.len() as u32,
            Target::Best { quantity, .. } => *quantity,
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
