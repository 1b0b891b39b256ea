//! Model-based property test of the inventory.
//!
//! Random sequences of operations (holds of named seats, best available in a
//! section or a tier, purchases with reused Idempotency-Keys, releases,
//! cancellations, blocks, time jumps, the sweeper) run against the real
//! [`Inventory`] of the small test venue and against a reference model kept
//! deliberately simple: a state per seat, counters for general admission, a
//! list of holds with their expiry, a list of orders. After every step the two
//! must agree on the outcome (success, or the error's code), the engine's
//! invariants must hold, and its counts, seat map, per-buyer counts, holds and
//! orders must match the model.
//!
//! The model does not choose best-available seats itself: it checks that the
//! engine's choice is allowed (free seats, the right fit, the right row) and
//! then applies it. Nor does it track which expired holds the engine has
//! reclaimed lazily, so "held" is compared exactly only after the sweeper ran
//! (`expire_holds`), and as bounds otherwise.
mod common;

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::{Clock, ManualClock};
use guichet_engine::ids::{BuyerId, HoldId, OrderId};
use guichet_engine::inventory::{
    Counts, Fit, Hold, HoldPlaced, HoldRequest, HoldStatus, Inventory, InventoryError, OrderStatus, Place, Requester,
    SeatRequest, SectionSeats,
};
use guichet_engine::layout::ShardKind;
use guichet_engine::limits::{ENDED_HOLDS_KEPT_PER_BUYER, MAX_RESERVED_SEATS_PER_EVENT};
use guichet_engine::time::UnixTimeMs;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---- the venue of `common::small_inventory`, as the model sees it ----

struct RowModel {
    section: usize,
    row: &'static str,
    first: u32,
    seats: u16,
    tier: usize,
    /// Offsets of the seats flagged accessible or companion, and of those accessible.
    flagged: &'static [u16],
    accessible: &'static [u16],
}

/// Rows in layout order: the first three shards.
const ROWS: [RowModel; 3] = [
    RowModel { section: 0, row: "1", first: 1, seats: 4, tier: 0, flagged: &[], accessible: &[] },
    RowModel { section: 0, row: "2", first: 101, seats: 6, tier: 1, flagged: &[3, 4, 5], accessible: &[4] },
    RowModel { section: 1, row: "1", first: 1, seats: 3, tier: 0, flagged: &[0], accessible: &[0] },
];
const SECTIONS: [&str; 3] = ["A", "B", "GA"];
const TIERS: [&str; 3] = ["parterre", "loge", "pelouse"];
const PRICES_CENTS: [u64; 3] = [10_000, 25_000, 5_000];
const GA_SECTION: usize = 2;
const GA_TIER: usize = 2;
const GA_CAPACITY: u32 = 10;
const PER_BUYER_LIMIT: u32 = 4;
const HOLD_TTL_MS: u64 = 60_000;

/// Buyers 1 and 60 share a buyer shard, so the shard's bookkeeping is shared too.
const BUYERS: [BuyerId; 4] = [BuyerId(1), BuyerId(60), BuyerId(2), BuyerId(3)];

/// Where generated seat requests point: the three rows, then three wrong names.
const TARGETS: [(&str, &str); 6] = [("A", "1"), ("A", "2"), ("B", "1"), ("A", "9"), ("Z", "1"), ("GA", "1")];
const SECTION_CHOICES: [&str; 4] = ["A", "B", "GA", "Z"];
const TIER_CHOICES: [&str; 4] = ["parterre", "loge", "pelouse", "balcon"];
const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];
const PAYMENT_REFS: [&str; 2] = ["pay-0", "pay-1"];

/// Ids no inventory issued: one names no buyer shard, one a shard but no hold.
const BOGUS_HOLDS: [HoldId; 2] = [HoldId(0xFF), HoldId((1_000_000 << 8) | 57)];
const BOGUS_ORDERS: [OrderId; 2] = [OrderId(0xFF), OrderId((1_000_000 << 8) | 57)];

// ---- operations, as generated ----

#[derive(Clone, Debug)]
struct SeatGen {
    target: usize,
    slot: u8,
    bad_number: bool,
}

#[derive(Clone, Debug)]
enum Who {
    /// The owner of the hold or order the operation is about.
    Owner,
    Buyer(usize),
    Admin,
}

#[derive(Clone, Debug)]
enum KeyGen {
    Pool(usize),
    Bad(u8),
}

#[derive(Clone, Debug)]
enum RefGen {
    Pool(usize),
    Bad(bool),
}

/// A hold or order made earlier in the run (counted back from the latest), or an id nobody issued.
#[derive(Clone, Copy, Debug)]
enum Pick {
    Made(u8),
    Bogus(usize),
}

#[derive(Clone, Debug)]
enum Op {
    HoldSeats {
        buyer: usize,
        seats: Vec<SeatGen>,
    },
    HoldBestInSection {
        buyer: usize,
        section: usize,
        quantity: u32,
        accessible: bool,
    },
    HoldBestInTier {
        buyer: usize,
        tier: usize,
        quantity: u32,
        accessible: bool,
    },
    Purchase {
        hold: Pick,
        who: Who,
        key: KeyGen,
        payment_ref: RefGen,
    },
    /// The purchase that made an earlier order again: same hold, requester and key;
    /// the same payment reference unless `other_ref`.
    RetryPurchase {
        order: u8,
        other_ref: bool,
    },
    Release {
        hold: Pick,
        who: Who,
    },
    Cancel {
        order: Pick,
        who: Who,
    },
    BlockSeats {
        seats: Vec<SeatGen>,
    },
    UnblockSeats {
        seats: Vec<SeatGen>,
    },
    /// Unblocks one seat the model knows to be blocked (or, if none, like `UnblockSeats`).
    UnblockBlockedSeat {
        pick: u8,
        seats: Vec<SeatGen>,
    },
    BlockPlaces {
        section: usize,
        places: u32,
    },
    UnblockPlaces {
        section: usize,
        places: u32,
    },
    Advance {
        ms: u64,
    },
    /// To the next whole minute after the start, where refund deadlines fall.
    AdvanceToMinute,
    ExpireHolds,
}

#[derive(Clone, Copy, Debug)]
enum RefundGen {
    /// As in the fixture: the refund deadline passed before the test starts.
    Past,
    /// No refund deadline: buyers never cancel.
    Never,
    /// Buyers may cancel until this many minutes after the start.
    Until(u64),
}

#[derive(Clone, Debug)]
struct Case {
    buyers: usize,
    refund: RefundGen,
    ops: Vec<Op>,
}

fn seat_gen() -> impl Strategy<Value = SeatGen> {
    let target = prop_oneof![12 => 0..3usize, 1 => 3..6usize];
    (target, any::<u8>(), prop::bool::weighted(0.05)).prop_map(|(target, slot, bad_number)| SeatGen {
        target,
        slot,
        bad_number,
    })
}

/// Mostly 1 to 3 seats, sometimes none or more than the limit, sometimes a seat named twice.
fn seat_list() -> impl Strategy<Value = Vec<SeatGen>> {
    let len = prop_oneof![16 => 1..=3usize, 1 => Just(0usize), 2 => 4..=5usize];
    (len.prop_flat_map(|n| prop::collection::vec(seat_gen(), n)), prop::bool::weighted(0.1)).prop_map(
        |(mut seats, duplicate)| {
            if duplicate && !seats.is_empty() {
                seats.push(seats[0].clone());
            }
            seats
        },
    )
}

fn buyer_gen() -> impl Strategy<Value = usize> {
    0..4usize
}

fn quantity_gen() -> impl Strategy<Value = u32> {
    prop_oneof![18 => 1..=4u32, 1 => Just(0u32), 1 => Just(5u32)]
}

fn who_gen() -> impl Strategy<Value = Who> {
    prop_oneof![6 => Just(Who::Owner), 2 => Just(Who::Admin), 2 => (0..4usize).prop_map(Who::Buyer)]
}

fn pick_gen() -> impl Strategy<Value = Pick> {
    prop_oneof![
        12 => (0..3u8).prop_map(Pick::Made),
        6 => any::<u8>().prop_map(Pick::Made),
        1 => (0..2usize).prop_map(Pick::Bogus),
    ]
}

fn key_gen() -> impl Strategy<Value = KeyGen> {
    prop_oneof![20 => (0..KEYS.len()).prop_map(KeyGen::Pool), 1 => (0..3u8).prop_map(KeyGen::Bad)]
}

fn ref_gen() -> impl Strategy<Value = RefGen> {
    prop_oneof![20 => (0..PAYMENT_REFS.len()).prop_map(RefGen::Pool), 1 => any::<bool>().prop_map(RefGen::Bad)]
}

fn places_gen() -> impl Strategy<Value = (usize, u32)> {
    let section = prop_oneof![8 => Just(GA_SECTION), 1 => Just(0usize), 1 => Just(3usize)];
    let places = prop_oneof![8 => 1..=4u32, 1 => Just(0u32), 1 => 5..=12u32];
    (section, places)
}

fn advance_gen() -> impl Strategy<Value = u64> {
    // Whole seconds land exactly on expiry instants (holds last 60 s) now and then.
    prop_oneof![3 => (0..=120u64).prop_map(|s| s * 1000), 1 => Just(HOLD_TTL_MS), 2 => 0..=120_000u64]
}

/// The operations, weighted. With `churn`, fewer purchases and more releases
/// and expiries, so that buyers end more holds than the engine remembers.
fn op_gen(churn: bool) -> impl Strategy<Value = Op> {
    let (purchase, retry, release, advance, sweep) = if churn { (3, 2, 12, 14, 6) } else { (16, 5, 7, 10, 4) };
    let section = prop_oneof![3 => Just(0usize), 2 => Just(1usize), 3 => Just(2usize), 1 => Just(3usize)];
    let tier = prop_oneof![4 => 0..3usize, 1 => Just(3usize)];
    prop_oneof![
        14 => (buyer_gen(), seat_list()).prop_map(|(buyer, seats)| Op::HoldSeats { buyer, seats }),
        14 => (buyer_gen(), section, quantity_gen(), prop::bool::weighted(0.2)).prop_map(
            |(buyer, section, quantity, accessible)| Op::HoldBestInSection { buyer, section, quantity, accessible }
        ),
        8 => (buyer_gen(), tier, quantity_gen(), prop::bool::weighted(0.2))
            .prop_map(|(buyer, tier, quantity, accessible)| Op::HoldBestInTier { buyer, tier, quantity, accessible }),
        purchase => (pick_gen(), who_gen(), key_gen(), ref_gen())
            .prop_map(|(hold, who, key, payment_ref)| Op::Purchase { hold, who, key, payment_ref }),
        retry => (0..4u8, prop::bool::weighted(0.3))
            .prop_map(|(order, other_ref)| Op::RetryPurchase { order, other_ref }),
        release => (pick_gen(), who_gen()).prop_map(|(hold, who)| Op::Release { hold, who }),
        7 => (pick_gen(), who_gen()).prop_map(|(order, who)| Op::Cancel { order, who }),
        4 => seat_list().prop_map(|seats| Op::BlockSeats { seats }),
        1 => seat_list().prop_map(|seats| Op::UnblockSeats { seats }),
        3 => (any::<u8>(), seat_list()).prop_map(|(pick, seats)| Op::UnblockBlockedSeat { pick, seats }),
        3 => places_gen().prop_map(|(section, places)| Op::BlockPlaces { section, places }),
        3 => places_gen().prop_map(|(section, places)| Op::UnblockPlaces { section, places }),
        advance => advance_gen().prop_map(|ms| Op::Advance { ms }),
        3 => Just(Op::AdvanceToMinute),
        sweep => Just(Op::ExpireHolds),
    ]
}

fn case_gen(steps: std::ops::RangeInclusive<usize>, churn: bool) -> impl Strategy<Value = Case> {
    let refund = prop_oneof![
        2 => Just(RefundGen::Past),
        1 => Just(RefundGen::Never),
        2 => (0..=3u64).prop_map(RefundGen::Until),
    ];
    (3..=4usize, refund, prop::collection::vec(op_gen(churn), steps)).prop_map(|(buyers, refund, ops)| Case {
        buyers,
        refund,
        ops,
    })
}

// ---- the reference model ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Available,
    Blocked,
    Held(usize),
    Sold(usize),
}

/// A hold's state as the engine records it: a hold whose time ran out stays
/// `Active` until something ends it (a purchase or release attempt, the
/// buyer's next hold, the sweeper), as in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HoldState {
    Active,
    Released { at: u64 },
    Expired { at: u64 },
    Purchased { order: usize, at: u64 },
}

#[derive(Clone, Debug)]
struct ModelHold {
    id: HoldId,
    buyer: usize,
    expires_at: u64,
    seats: Vec<(usize, u16)>,
    ga: u32,
    state: HoldState,
    /// Ended so long ago that the engine no longer remembers it.
    forgotten: bool,
}

impl ModelHold {
    fn tickets(&self) -> u32 {
        self.seats.len() as u32 + self.ga
    }
}

/// Who acts, resolved: a buyer (by index) or the promoter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Actor {
    Buyer(usize),
    Admin,
}

/// The admin's idempotency keys share one scope across the event's buyers.
const ADMIN_SCOPE: usize = usize::MAX;

fn key_scope(owner: usize, actor: Actor) -> usize {
    match actor {
        Actor::Admin => ADMIN_SCOPE,
        Actor::Buyer(_) => owner,
    }
}

impl Actor {
    fn requester(self) -> Requester {
        match self {
            Actor::Buyer(b) => Requester::Buyer(BUYERS[b]),
            Actor::Admin => Requester::Admin,
        }
    }

    fn may_act_for(self, owner: usize) -> bool {
        self == Actor::Admin || self == Actor::Buyer(owner)
    }
}

#[derive(Clone, Debug)]
struct ModelOrder {
    id: OrderId,
    buyer: usize,
    hold: usize,
    actor: Actor,
    key: String,
    payment_ref: String,
    cancelled_at: Option<u64>,
}

/// Where a best-available request may look, best first.
#[derive(Clone, Debug)]
enum Candidate {
    Rows(Vec<usize>),
    Ga,
}

/// What the best available must look like, by the model.
#[derive(Clone, Debug)]
enum BestExpected {
    /// General admission places.
    Ga,
    /// Adjacent seats in this row; `clean`: leaving no orphan seat.
    Adjacent {
        row: usize,
        clean: bool,
    },
    /// Split over the rows of this candidate (no row has enough adjacent seats).
    Split {
        rows: Vec<usize>,
    },
    NotEnough,
}

/// What a purchase must do, by the model.
enum PurchaseExpected {
    Refused(&'static str),
    Created,
    Replayed(usize),
}

struct Model {
    now: u64,
    refund_until: Option<u64>,
    rows: Vec<Vec<Cell>>,
    ga_blocked: u32,
    ga_sold: u32,
    holds: Vec<ModelHold>,
    orders: Vec<ModelOrder>,
    /// Per buyer, the ended holds the engine still remembers, oldest first. A
    /// batch is a set of holds ended by one sweep, in an order the model cannot know.
    ended: Vec<VecDeque<Vec<usize>>>,
    /// (key scope, who purchased, key) -> order. A buyer's keys are scoped to
    /// the hold's owner; the admin has one scope for the event (`ADMIN_SCOPE`).
    keys: HashMap<(usize, Actor, String), usize>,
}

fn code_of<T>(result: &Result<T, InventoryError>) -> Result<(), &'static str> {
    result.as_ref().map(|_| ()).map_err(InventoryError::code)
}

fn ensure_outcome<T: Debug>(
    what: &str,
    real: &Result<T, InventoryError>,
    expected: Result<(), &'static str>,
) -> Result<(), TestCaseError> {
    if code_of(real) != expected {
        return Err(TestCaseError::fail(format!(
            "{what}: the engine answered {real:?}, the model expected {expected:?}"
        )));
    }
    Ok(())
}

fn distance(start: usize, n: usize, len: usize) -> usize {
    (2 * start + n).abs_diff(len)
}

impl Model {
    fn new(refund_until: Option<u64>) -> Self {
        Self {
            now: T0.0,
            refund_until,
            rows: ROWS.iter().map(|r| vec![Cell::Available; usize::from(r.seats)]).collect(),
            ga_blocked: 0,
            ga_sold: 0,
            holds: Vec::new(),
            orders: Vec::new(),
            ended: vec![VecDeque::new(); BUYERS.len()],
            keys: HashMap::new(),
        }
    }

    fn is_live(&self, hold: usize) -> bool {
        let hold = &self.holds[hold];
        hold.state == HoldState::Active && self.now < hold.expires_at
    }

    /// Available, or held by a hold that is no longer live.
    fn seat_free(&self, row: usize, offset: usize) -> bool {
        match self.rows[row][offset] {
            Cell::Available => true,
            Cell::Held(hold) => !self.is_live(hold),
            Cell::Blocked | Cell::Sold(_) => false,
        }
    }

    /// Free, and flagged accessible or companion exactly when `flagged`:
    /// the seats best available may choose.
    fn choosable(&self, row: usize, offset: usize, flagged: bool) -> bool {
        self.seat_free(row, offset) && ROWS[row].flagged.contains(&(offset as u16)) == flagged
    }

    fn choosable_in_row(&self, row: usize, flagged: bool) -> usize {
        (0..self.rows[row].len()).filter(|&o| self.choosable(row, o, flagged)).count()
    }

    fn ga_held(&self) -> u32 {
        (0..self.holds.len()).filter(|&h| self.is_live(h)).map(|h| self.holds[h].ga).sum()
    }

    fn ga_free(&self) -> u32 {
        GA_CAPACITY - self.ga_blocked - self.ga_sold - self.ga_held()
    }

    /// What the per-buyer limit counts: live holds and confirmed orders.
    fn counted(&self, buyer: usize) -> u32 {
        let held: u32 = (0..self.holds.len())
            .filter(|&h| self.holds[h].buyer == buyer && self.is_live(h))
            .map(|h| self.holds[h].tickets())
            .sum();
        let bought: u32 = self
            .orders
            .iter()
            .filter(|o| o.buyer == buyer && o.cancelled_at.is_none())
            .map(|o| self.holds[o.hold].tickets())
            .sum();
        held + bought
    }

    fn known_hold(&self, pick: Pick) -> Option<usize> {
        match pick {
            Pick::Made(back) if !self.holds.is_empty() => {
                Some(self.holds.len() - 1 - usize::from(back) % self.holds.len())
            }
            _ => None,
        }
    }

    fn known_order(&self, pick: Pick) -> Option<usize> {
        match pick {
            Pick::Made(back) if !self.orders.is_empty() => {
                Some(self.orders.len() - 1 - usize::from(back) % self.orders.len())
            }
            _ => None,
        }
    }

    fn hold_id(&self, pick: Pick) -> HoldId {
        match (self.known_hold(pick), pick) {
            (Some(h), _) => self.holds[h].id,
            (None, Pick::Bogus(i)) => BOGUS_HOLDS[i],
            (None, Pick::Made(_)) => BOGUS_HOLDS[1],
        }
    }

    fn order_id(&self, pick: Pick) -> OrderId {
        match (self.known_order(pick), pick) {
            (Some(o), _) => self.orders[o].id,
            (None, Pick::Bogus(i)) => BOGUS_ORDERS[i],
            (None, Pick::Made(_)) => BOGUS_ORDERS[1],
        }
    }

    /// Ends an active hold: its seats go back on sale, or to the order.
    fn end_hold(&mut self, hold: usize, state: HoldState) {
        self.finish_hold(hold, state);
        // A purchased hold is remembered as long as its order (a retried
        // purchase must find it); others join the buyer's bounded history.
        if !matches!(state, HoldState::Purchased { .. }) {
            let buyer = self.holds[hold].buyer;
            self.ended[buyer].push_back(vec![hold]);
        }
    }

    /// Ends an active hold without noting it in the buyer's history.
    fn finish_hold(&mut self, hold: usize, state: HoldState) {
        assert_eq!(self.holds[hold].state, HoldState::Active, "the model ends active holds only");
        self.holds[hold].state = state;
        let to = match state {
            HoldState::Purchased { order, .. } => {
                self.ga_sold += self.holds[hold].ga;
                Cell::Sold(order)
            }
            _ => Cell::Available,
        };
        for &(row, offset) in &self.holds[hold].seats {
            // A seat of an expired hold may have been taken by someone else since.
            if self.rows[row][usize::from(offset)] == Cell::Held(hold) {
                self.rows[row][usize::from(offset)] = to;
            }
        }
    }

    /// What a purchase must answer; ends the hold if it ran out, as the engine does.
    fn purchase_expected(
        &mut self,
        hold: Option<usize>,
        actor: Actor,
        key: &str,
        payment_ref: &str,
    ) -> PurchaseExpected {
        if !valid_key(key) {
            return PurchaseExpected::Refused("bad_idempotency_key");
        }
        if !valid_ref(payment_ref) {
            return PurchaseExpected::Refused("bad_payment_ref");
        }
        let Some(h) = hold.filter(|&h| !self.holds[h].forgotten) else {
            return PurchaseExpected::Refused("unknown_hold");
        };
        let owner = self.holds[h].buyer;
        if !actor.may_act_for(owner) {
            return PurchaseExpected::Refused("not_yours");
        }
        if let Some(&o) = self.keys.get(&(key_scope(owner, actor), actor, key.to_owned())) {
            let order = &self.orders[o];
            if order.hold != h || order.payment_ref != payment_ref {
                return PurchaseExpected::Refused("idempotency_key_reused");
            }
            return PurchaseExpected::Replayed(o);
        }
        match self.holds[h].state {
            HoldState::Active if self.is_live(h) => PurchaseExpected::Created,
            HoldState::Active => {
                self.end_hold(h, HoldState::Expired { at: self.now });
                PurchaseExpected::Refused("hold_expired")
            }
            HoldState::Expired { .. } => PurchaseExpected::Refused("hold_expired"),
            HoldState::Released { .. } | HoldState::Purchased { .. } => PurchaseExpected::Refused("hold_not_active"),
        }
    }

    /// The engine ends a buyer's holds that ran out before placing a new one.
    fn end_expired_holds_of(&mut self, buyer: usize) {
        for hold in 0..self.holds.len() {
            let h = &self.holds[hold];
            if h.buyer == buyer && h.state == HoldState::Active && self.now >= h.expires_at {
                self.end_hold(hold, HoldState::Expired { at: self.now });
            }
        }
    }

    /// The engine remembers the last `ENDED_HOLDS_KEPT_PER_BUYER` ended holds
    /// of each buyer. Where the model cannot know which of a batch went first,
    /// it asks the engine which are gone, and checks that the count is right.
    fn forget_old_holds(&mut self, inventory: &Inventory) -> Result<(), TestCaseError> {
        for buyer in 0..BUYERS.len() {
            let remembered: usize = self.ended[buyer].iter().map(Vec::len).sum();
            let mut excess = remembered.saturating_sub(ENDED_HOLDS_KEPT_PER_BUYER);
            while excess > 0 {
                let front = self.ended[buyer].front_mut().expect("excess implies a batch");
                if front.len() <= excess {
                    excess -= front.len();
                    for hold in self.ended[buyer].pop_front().expect("checked") {
                        self.holds[hold].forgotten = true;
                    }
                } else {
                    let gone: Vec<usize> =
                        front.iter().copied().filter(|&h| inventory.hold_info(self.holds[h].id).is_none()).collect();
                    prop_assert_eq!(gone.len(), excess, "forgotten holds of a sweep batch {:?}", front);
                    front.retain(|h| !gone.contains(h));
                    for hold in gone {
                        self.holds[hold].forgotten = true;
                    }
                    excess = 0;
                }
            }
        }
        Ok(())
    }

    /// Named seats to (row, offset), as the engine resolves them; errors in the engine's order.
    fn resolve_seats(seats: &[SeatRequest], max: u32) -> Result<Vec<(usize, u16)>, &'static str> {
        if seats.is_empty() || seats.len() > max as usize {
            return Err("bad_quantity");
        }
        let mut resolved = Vec::new();
        for seat in seats {
            let Some(section) = SECTIONS.iter().position(|s| *s == seat.section) else {
                return Err("unknown_section");
            };
            if section == GA_SECTION {
                return Err("not_reserved_seating");
            }
            let Some(row) = ROWS.iter().position(|r| r.section == section && r.row == seat.row) else {
                return Err("unknown_row");
            };
            let layout = &ROWS[row];
            if seat.number < layout.first || seat.number >= layout.first + u32::from(layout.seats) {
                return Err("unknown_seat");
            }
            resolved.push((row, (seat.number - layout.first) as u16));
        }
        let mut sorted = resolved.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != resolved.len() {
            return Err("duplicate_seat");
        }
        Ok(resolved)
    }

    fn candidates_of_section(section: usize) -> Vec<Candidate> {
        if section == GA_SECTION {
            return vec![Candidate::Ga];
        }
        vec![Candidate::Rows((0..ROWS.len()).filter(|&r| ROWS[r].section == section).collect())]
    }

    /// The sections of a tier in listing order, each limited to its rows of that tier.
    fn candidates_of_tier(tier: usize) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        for section in 0..SECTIONS.len() {
            if section == GA_SECTION {
                if tier == GA_TIER {
                    candidates.push(Candidate::Ga);
                }
                continue;
            }
            let rows: Vec<usize> =
                (0..ROWS.len()).filter(|&r| ROWS[r].section == section && ROWS[r].tier == tier).collect();
            if !rows.is_empty() {
                candidates.push(Candidate::Rows(rows));
            }
        }
        candidates
    }

    /// Whether `n` seats from `start` in `row` would strand a single free seat on either side.
    fn leaves_orphan(&self, row: usize, start: usize, n: usize, flagged: bool) -> bool {
        let len = self.rows[row].len();
        let free = |o: usize| self.choosable(row, o, flagged);
        let left = start >= 1 && free(start - 1) && (start == 1 || !free(start - 2));
        let end = start + n;
        let right = end < len && free(end) && (end + 1 == len || !free(end + 1));
        left || right
    }

    /// Starts of `n` adjacent free seats in `row`; only those leaving no orphan if `clean`.
    fn adjacent_starts(&self, row: usize, n: usize, clean: bool, flagged: bool) -> Vec<usize> {
        let len = self.rows[row].len();
        (0..len.saturating_sub(n - 1))
            .filter(|&start| (start..start + n).all(|o| self.choosable(row, o, flagged)))
            // A flagged request's run holds an accessible seat.
            .filter(|&start| !flagged || (start..start + n).any(|o| ROWS[row].accessible.contains(&(o as u16))))
            .filter(|&start| !clean || !self.leaves_orphan(row, start, n, flagged))
            .collect()
    }

    /// Best available, step by step: adjacent without an orphan (or general
    /// admission) in any candidate, then adjacent with an orphan, then split
    /// across the rows of one candidate.
    fn best_expected(&self, candidates: &[Candidate], n: usize, flagged: bool) -> BestExpected {
        for candidate in candidates {
            match candidate {
                Candidate::Ga if !flagged && self.ga_free() as usize >= n => return BestExpected::Ga,
                Candidate::Ga => {}
                Candidate::Rows(rows) => {
                    if let Some(&row) = rows.iter().find(|&&r| !self.adjacent_starts(r, n, true, flagged).is_empty()) {
                        return BestExpected::Adjacent { row, clean: true };
                    }
                }
            }
        }
        for candidate in candidates {
            if let Candidate::Rows(rows) = candidate {
                if let Some(&row) = rows.iter().find(|&&r| !self.adjacent_starts(r, n, false, flagged).is_empty()) {
                    return BestExpected::Adjacent { row, clean: false };
                }
            }
        }
        // A flagged request is never split.
        for candidate in candidates.iter().filter(|_| !flagged) {
            if let Candidate::Rows(rows) = candidate {
                if rows.iter().map(|&r| self.choosable_in_row(r, flagged)).sum::<usize>() >= n {
                    return BestExpected::Split { rows: rows.clone() };
                }
            }
        }
        BestExpected::NotEnough
    }
}

// ---- places in the engine's terms ----

/// Seats (row, offset) and general-admission places of a list of places.
fn split_places(places: &[Place]) -> Result<(Vec<(usize, u16)>, u32), TestCaseError> {
    let mut seats = Vec::new();
    let mut ga = 0;
    for place in places {
        match *place {
            Place::Seat { shard, offset } if (shard.0 as usize) < ROWS.len() => seats.push((shard.0 as usize, offset)),
            Place::Ga { shard, places } if (shard.0 as usize) >= ROWS.len() => ga += places,
            other => return Err(TestCaseError::fail(format!("{other:?} is not a place of the small venue"))),
        }
    }
    Ok((seats, ga))
}

fn seat_request(gen: &SeatGen) -> SeatRequest {
    let (section, row) = TARGETS[gen.target];
    let number = match ROWS.iter().find(|r| SECTIONS[r.section] == section && r.row == row) {
        Some(layout) if gen.bad_number => {
            if gen.slot % 2 == 0 {
                layout.first + u32::from(layout.seats)
            } else {
                layout.first - 1
            }
        }
        Some(layout) => layout.first + u32::from(gen.slot) % u32::from(layout.seats),
        None => 1 + u32::from(gen.slot % 5),
    };
    seat(section, row, number)
}

fn seat_of(row: usize, offset: u16) -> SeatRequest {
    let layout = &ROWS[row];
    seat(SECTIONS[layout.section], layout.row, layout.first + u32::from(offset))
}

fn key_text(key: &KeyGen) -> String {
    match key {
        KeyGen::Pool(i) => KEYS[*i].to_owned(),
        KeyGen::Bad(0) => String::new(),
        KeyGen::Bad(1) => "k\n0".to_owned(),
        KeyGen::Bad(_) => "k".repeat(129),
    }
}

fn ref_text(payment_ref: &RefGen) -> String {
    match payment_ref {
        RefGen::Pool(i) => PAYMENT_REFS[*i].to_owned(),
        RefGen::Bad(false) => String::new(),
        RefGen::Bad(true) => "p".repeat(257),
    }
}

fn valid_key(key: &str) -> bool {
    (1..=128).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn valid_ref(payment_ref: &str) -> bool {
    (1..=256).contains(&payment_ref.len())
}

// ---- running a case ----

struct Run {
    inventory: Inventory,
    clock: Arc<ManualClock>,
    model: Model,
    buyers: usize,
}

impl Run {
    fn new(case: &Case) -> Result<Self, TestCaseError> {
        let mut spec = small_spec_json();
        // The flags of `ROWS`: A-2's seat 105 between companions 104 and 106, B-1's seat 1.
        spec["sections"][0]["rows"][1]["accessible"] = serde_json::json!([105]);
        spec["sections"][0]["rows"][1]["companion"] = serde_json::json!([106, 104]);
        spec["sections"][1]["rows"][0]["accessible"] = serde_json::json!([1]);
        let refund_until = match case.refund {
            RefundGen::Past => Some(UnixTimeMs::parse_rfc3339("2027-01-01T00:00:00Z").expect("valid instant")),
            RefundGen::Never => None,
            RefundGen::Until(minutes) => Some(T0.plus_ms(minutes * 60_000)),
        };
        match refund_until {
            Some(until) => spec["refund_until"] = serde_json::Value::String(until.to_rfc3339()),
            None => {
                spec.as_object_mut().expect("an object").remove("refund_until");
            }
        }
        let (inventory, clock) = inventory_from(spec);
        check_venue(&inventory)?;
        prop_assert_eq!(inventory.settings().refund_until, refund_until);
        Ok(Self { inventory, clock, model: Model::new(refund_until.map(|t| t.0)), buyers: case.buyers })
    }

    fn actor(&self, who: &Who, owner: Option<usize>) -> Actor {
        match who {
            Who::Owner => Actor::Buyer(owner.unwrap_or(0)),
            Who::Buyer(b) => Actor::Buyer(b % self.buyers),
            Who::Admin => Actor::Admin,
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let mut exact = false;
        match op {
            Op::HoldSeats { buyer, seats } => {
                let request = HoldRequest::Seats(seats.iter().map(seat_request).collect());
                self.hold(buyer % self.buyers, &request)?;
            }
            Op::HoldBestInSection { buyer, section, quantity, accessible } => {
                let (section, quantity) = (SECTION_CHOICES[*section].into(), *quantity);
                let request = match accessible {
                    false => HoldRequest::BestInSection { section, quantity },
                    true => HoldRequest::AccessibleInSection { section, quantity },
                };
                self.hold(buyer % self.buyers, &request)?;
            }
            Op::HoldBestInTier { buyer, tier, quantity, accessible } => {
                let (tier, quantity) = (TIER_CHOICES[*tier].into(), *quantity);
                let request = match accessible {
                    false => HoldRequest::BestInTier { tier, quantity },
                    true => HoldRequest::AccessibleInTier { tier, quantity },
                };
                self.hold(buyer % self.buyers, &request)?;
            }
            Op::Purchase { hold, who, key, payment_ref } => {
                let known = self.model.known_hold(*hold);
                let actor = self.actor(who, known.map(|h| self.model.holds[h].buyer));
                self.purchase(known, self.model.hold_id(*hold), actor, &key_text(key), &ref_text(payment_ref))?;
            }
            Op::RetryPurchase { order, other_ref } => {
                if let Some(o) = self.model.known_order(Pick::Made(*order)) {
                    let order = self.model.orders[o].clone();
                    let payment_ref =
                        if *other_ref { format!("{}-other", order.payment_ref) } else { order.payment_ref };
                    let hold_id = self.model.holds[order.hold].id;
                    self.purchase(Some(order.hold), hold_id, order.actor, &order.key, &payment_ref)?;
                }
            }
            Op::Release { hold, who } => {
                let known = self.model.known_hold(*hold);
                let actor = self.actor(who, known.map(|h| self.model.holds[h].buyer));
                self.release(known, self.model.hold_id(*hold), actor)?;
            }
            Op::Cancel { order, who } => {
                let known = self.model.known_order(*order);
                let actor = self.actor(who, known.map(|o| self.model.orders[o].buyer));
                self.cancel(known, self.model.order_id(*order), actor)?;
            }
            Op::BlockSeats { seats } => {
                self.set_seats_blocked(&seats.iter().map(seat_request).collect::<Vec<_>>(), true)?
            }
            Op::UnblockSeats { seats } => {
                self.set_seats_blocked(&seats.iter().map(seat_request).collect::<Vec<_>>(), false)?
            }
            Op::UnblockBlockedSeat { pick, seats } => {
                let blocked: Vec<(usize, u16)> = (0..ROWS.len())
                    .flat_map(|r| (0..ROWS[r].seats).map(move |o| (r, o)))
                    .filter(|&(r, o)| self.model.rows[r][usize::from(o)] == Cell::Blocked)
                    .collect();
                let request = match blocked.get(usize::from(*pick) % blocked.len().max(1)) {
                    Some(&(row, offset)) => vec![seat_of(row, offset)],
                    None => seats.iter().map(seat_request).collect(),
                };
                self.set_seats_blocked(&request, false)?;
            }
            Op::BlockPlaces { section, places } => self.set_places_blocked(*section, *places, true)?,
            Op::UnblockPlaces { section, places } => self.set_places_blocked(*section, *places, false)?,
            Op::Advance { ms } => {
                self.clock.advance_ms(*ms);
                self.model.now += ms;
            }
            Op::AdvanceToMinute => {
                let ms = 60_000 - (self.model.now - T0.0) % 60_000;
                self.clock.advance_ms(ms);
                self.model.now += ms;
            }
            Op::ExpireHolds => {
                self.expire_holds()?;
                exact = true;
            }
        }
        self.model.forget_old_holds(&self.inventory)?;
        self.check_state(exact)
    }

    fn hold(&mut self, buyer: usize, request: &HoldRequest) -> Result<(), TestCaseError> {
        let real = self.inventory.hold(BUYERS[buyer], request);
        let what = format!("hold {request:?} for buyer {buyer}");
        let model = &mut self.model;
        // Resolve the request, as the engine does before anything else.
        let flagged = matches!(request, HoldRequest::AccessibleInSection { .. } | HoldRequest::AccessibleInTier { .. });
        let (quantity, candidates, chosen) = match request {
            HoldRequest::Seats(seats) => match Model::resolve_seats(seats, PER_BUYER_LIMIT) {
                Ok(chosen) => (chosen.len() as u32, Vec::new(), Some(chosen)),
                Err(code) => return ensure_outcome(&what, &real, Err(code)),
            },
            HoldRequest::BestInSection { section, quantity }
            | HoldRequest::AccessibleInSection { section, quantity } => {
                if *quantity == 0 || *quantity > PER_BUYER_LIMIT {
                    return ensure_outcome(&what, &real, Err("bad_quantity"));
                }
                let Some(index) = SECTIONS.iter().position(|s| s == section) else {
                    return ensure_outcome(&what, &real, Err("unknown_section"));
                };
                (*quantity, Model::candidates_of_section(index), None)
            }
            HoldRequest::BestInTier { tier, quantity } | HoldRequest::AccessibleInTier { tier, quantity } => {
                if *quantity == 0 || *quantity > PER_BUYER_LIMIT {
                    return ensure_outcome(&what, &real, Err("bad_quantity"));
                }
                let Some(index) = TIERS.iter().position(|t| t == tier) else {
                    return ensure_outcome(&what, &real, Err("unknown_tier"));
                };
                (*quantity, Model::candidates_of_tier(index), None)
            }
        };
        model.end_expired_holds_of(buyer);
        if model.counted(buyer) + quantity > PER_BUYER_LIMIT {
            return ensure_outcome(&what, &real, Err("over_buyer_limit"));
        }
        let placed = match chosen {
            Some(chosen) => {
                let taken: Vec<SeatRequest> = chosen
                    .iter()
                    .filter(|&&(r, o)| !model.seat_free(r, usize::from(o)))
                    .map(|&(r, o)| seat_of(r, o))
                    .collect();
                if !taken.is_empty() {
                    ensure_outcome(&what, &real, Err("seats_unavailable"))?;
                    let Err(InventoryError::SeatsUnavailable { seats }) = &real else { unreachable!() };
                    let mut named: Vec<(String, String, u32)> =
                        seats.iter().map(|s| (s.section.clone(), s.row.clone(), s.number)).collect();
                    let mut expected: Vec<(String, String, u32)> =
                        taken.into_iter().map(|s| (s.section, s.row, s.number)).collect();
                    named.sort();
                    expected.sort();
                    prop_assert_eq!(named, expected, "{}: the seats named as unavailable", what);
                    return Ok(());
                }
                ensure_outcome(&what, &real, Ok(()))?;
                let placed = real.expect("checked");
                prop_assert_eq!(placed.fit, Fit::Chosen, "{}", what);
                let (seats, ga) = split_places(&placed.hold.places)?;
                let mut chosen = chosen;
                chosen.sort_unstable();
                prop_assert_eq!(seats, chosen, "{}: the engine held other seats than named", what);
                prop_assert_eq!(ga, 0);
                placed
            }
            None => {
                let expected = model.best_expected(&candidates, quantity as usize, flagged);
                if let BestExpected::NotEnough = expected {
                    return ensure_outcome(&what, &real, Err("not_enough_available"));
                }
                ensure_outcome(&what, &real, Ok(()))?;
                let placed = real.expect("checked");
                check_best(model, &placed, &expected, quantity as usize, flagged).map_err(|e| {
                    TestCaseError::fail(format!(
                        "{what}: expected {expected:?}, got {:?} {:?}: {e}",
                        placed.fit, placed.hold.places
                    ))
                })?;
                placed
            }
        };
        record_hold(model, buyer, &placed.hold).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))
    }

    fn purchase(
        &mut self,
        hold: Option<usize>,
        hold_id: HoldId,
        actor: Actor,
        key: &str,
        payment_ref: &str,
    ) -> Result<(), TestCaseError> {
        let real = self.inventory.purchase(hold_id, actor.requester(), key, payment_ref);
        let what = format!("purchase of {hold_id} ({hold:?}) by {actor:?} with key {key:?} and {payment_ref:?}");
        let model = &mut self.model;
        let expected = model.purchase_expected(hold, actor, key, payment_ref);
        match expected {
            PurchaseExpected::Refused(code) => ensure_outcome(&what, &real, Err(code)),
            PurchaseExpected::Replayed(o) => {
                ensure_outcome(&what, &real, Ok(()))?;
                let purchase = real.expect("checked");
                prop_assert!(!purchase.created, "{}: a replay made a new order", what);
                prop_assert_eq!(purchase.order.id, model.orders[o].id, "{}: a replay returned another order", what);
                Ok(())
            }
            PurchaseExpected::Created => {
                ensure_outcome(&what, &real, Ok(()))?;
                let purchase = real.expect("checked");
                let h = hold.expect("created from a known hold");
                let order = &purchase.order;
                for &(row, offset) in &model.holds[h].seats {
                    prop_assert_eq!(model.rows[row][usize::from(offset)], Cell::Held(h), "{}", what);
                }
                prop_assert!(purchase.created, "{}", what);
                prop_assert!(model.orders.iter().all(|o| o.id != order.id), "{}: order id reused", what);
                prop_assert_eq!(order.hold, hold_id);
                prop_assert_eq!(order.buyer, BUYERS[model.holds[h].buyer]);
                prop_assert_eq!(order.status, OrderStatus::Confirmed);
                prop_assert_eq!(order.created_at, UnixTimeMs(model.now));
                prop_assert_eq!(order.tickets.0, model.holds[h].tickets());
                prop_assert_eq!(&*order.idempotency_key, key);
                prop_assert_eq!(&*order.payment_ref, payment_ref);
                let (seats, ga) = split_places(&order.places)?;
                prop_assert_eq!((seats, ga), (model.holds[h].seats.clone(), model.holds[h].ga));
                let o = model.orders.len();
                model.orders.push(ModelOrder {
                    id: order.id,
                    buyer: model.holds[h].buyer,
                    hold: h,
                    actor,
                    key: key.to_owned(),
                    payment_ref: payment_ref.to_owned(),
                    cancelled_at: None,
                });
                model.keys.insert((key_scope(model.holds[h].buyer, actor), actor, key.to_owned()), o);
                model.end_hold(h, HoldState::Purchased { order: o, at: model.now });
                Ok(())
            }
        }
    }

    fn release(&mut self, hold: Option<usize>, hold_id: HoldId, actor: Actor) -> Result<(), TestCaseError> {
        let real = self.inventory.release(hold_id, actor.requester());
        let what = format!("release of {hold_id} ({hold:?}) by {actor:?}");
        let model = &mut self.model;
        let Some(h) = hold.filter(|&h| !model.holds[h].forgotten) else {
            return ensure_outcome(&what, &real, Err("unknown_hold"));
        };
        if !actor.may_act_for(model.holds[h].buyer) {
            return ensure_outcome(&what, &real, Err("not_yours"));
        }
        let expected = match model.holds[h].state {
            HoldState::Active => {
                let at = model.now;
                let state = if model.is_live(h) { HoldState::Released { at } } else { HoldState::Expired { at } };
                model.end_hold(h, state);
                Ok(())
            }
            HoldState::Released { .. } | HoldState::Expired { .. } => Ok(()),
            HoldState::Purchased { .. } => Err("hold_not_active"),
        };
        ensure_outcome(&what, &real, expected)
    }

    fn cancel(&mut self, order: Option<usize>, order_id: OrderId, actor: Actor) -> Result<(), TestCaseError> {
        let real = self.inventory.cancel_order(order_id, actor.requester());
        let what = format!("cancellation of {order_id} ({order:?}) by {actor:?}");
        let model = &mut self.model;
        let Some(o) = order else {
            return ensure_outcome(&what, &real, Err("unknown_order"));
        };
        if !actor.may_act_for(model.orders[o].buyer) {
            return ensure_outcome(&what, &real, Err("not_yours"));
        }
        if model.orders[o].cancelled_at.is_none() {
            let refund_open = model.refund_until.is_some_and(|until| model.now < until);
            if actor != Actor::Admin && !refund_open {
                return ensure_outcome(&what, &real, Err("refund_period_over"));
            }
            model.orders[o].cancelled_at = Some(model.now);
            let hold = &model.holds[model.orders[o].hold];
            for &(row, offset) in &hold.seats {
                prop_assert_eq!(model.rows[row][usize::from(offset)], Cell::Sold(o));
                model.rows[row][usize::from(offset)] = Cell::Available;
            }
            model.ga_sold -= hold.ga;
        }
        ensure_outcome(&what, &real, Ok(()))?;
        let (cancelled, _) = real.expect("checked");
        prop_assert_eq!(cancelled.id, order_id);
        prop_assert_eq!(cancelled.status, OrderStatus::Cancelled);
        prop_assert_eq!(cancelled.cancelled_at, model.orders[o].cancelled_at.map(UnixTimeMs));
        Ok(())
    }

    fn set_seats_blocked(&mut self, seats: &[SeatRequest], blocked: bool) -> Result<(), TestCaseError> {
        let real = if blocked { self.inventory.block_seats(seats) } else { self.inventory.unblock_seats(seats) };
        let what = format!("{} {seats:?}", if blocked { "blocking" } else { "unblocking" });
        let model = &mut self.model;
        let resolved = match Model::resolve_seats(seats, MAX_RESERVED_SEATS_PER_EVENT) {
            Ok(resolved) => resolved,
            Err(code) => return ensure_outcome(&what, &real, Err(code)),
        };
        let movable = |&(row, offset): &(usize, u16)| {
            if blocked {
                model.seat_free(row, usize::from(offset))
            } else {
                model.rows[row][usize::from(offset)] == Cell::Blocked
            }
        };
        if !resolved.iter().all(movable) {
            return ensure_outcome(&what, &real, Err(if blocked { "seats_unavailable" } else { "not_blocked" }));
        }
        for (row, offset) in resolved {
            model.rows[row][usize::from(offset)] = if blocked { Cell::Blocked } else { Cell::Available };
        }
        ensure_outcome(&what, &real, Ok(()))
    }

    fn set_places_blocked(&mut self, section: usize, places: u32, blocked: bool) -> Result<(), TestCaseError> {
        let section_id = SECTION_CHOICES[section];
        let real = if blocked {
            self.inventory.block_places(section_id, places)
        } else {
            self.inventory.unblock_places(section_id, places)
        };
        let what = format!("{} {places} places of {section_id}", if blocked { "blocking" } else { "unblocking" });
        let model = &mut self.model;
        let expected = if section >= SECTIONS.len() {
            Err("unknown_section")
        } else if section != GA_SECTION {
            Err("not_general_admission")
        } else if places == 0 {
            Err("bad_quantity")
        } else if blocked && model.ga_free() < places {
            Err("not_enough_available")
        } else if !blocked && model.ga_blocked < places {
            Err("not_blocked")
        } else {
            if blocked {
                model.ga_blocked += places;
            } else {
                model.ga_blocked -= places;
            }
            Ok(())
        };
        ensure_outcome(&what, &real, expected)
    }

    fn expire_holds(&mut self) -> Result<(), TestCaseError> {
        let real = self.inventory.expire_holds();
        let model = &mut self.model;
        let mut batches: Vec<Vec<usize>> = vec![Vec::new(); BUYERS.len()];
        for hold in 0..model.holds.len() {
            let h = &model.holds[hold];
            if h.state == HoldState::Active && model.now >= h.expires_at {
                batches[h.buyer].push(hold);
            }
        }
        let expired: usize = batches.iter().map(Vec::len).sum();
        ensure_outcome("expire_holds", &real, Ok(()))?;
        prop_assert_eq!(real.expect("checked"), expired, "holds ended by the sweeper");
        for (buyer, batch) in batches.into_iter().enumerate() {
            // Remembered as one batch: the sweeper ends them in an order the model cannot know.
            for &hold in &batch {
                model.finish_hold(hold, HoldState::Expired { at: model.now });
            }
            if !batch.is_empty() {
                model.ended[buyer].push_back(batch);
            }
        }
        Ok(())
    }

    /// Compares everything observable with the model. `exact`: no expired hold
    /// is left unended, so the engine's held counts are exactly the live holds.
    fn check_state(&self, exact: bool) -> Result<(), TestCaseError> {
        let inventory = &self.inventory;
        let model = &self.model;
        prop_assert_eq!(self.clock.now(), UnixTimeMs(model.now));
        inventory.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;

        // Counts per row and for general admission, then per section, tier and in total.
        let mut sections = [Counts::default(); 3];
        let mut tiers = [Counts::default(); 3];
        let mut parts: Vec<(usize, usize, Counts)> = Vec::new();
        for (row, layout) in ROWS.iter().enumerate() {
            let mut counts = Counts::default();
            for offset in 0..usize::from(layout.seats) {
                match model.rows[row][offset] {
                    _ if model.seat_free(row, offset) => counts.available += 1,
                    Cell::Held(_) => counts.held += 1,
                    Cell::Sold(_) => counts.sold += 1,
                    Cell::Blocked => counts.blocked += 1,
                    Cell::Available => unreachable!("an available seat is free"),
                }
            }
            parts.push((layout.section, layout.tier, counts));
        }
        let ga = Counts {
            available: u64::from(model.ga_free()),
            held: u64::from(model.ga_held()),
            sold: u64::from(model.ga_sold),
            blocked: u64::from(model.ga_blocked),
        };
        parts.push((GA_SECTION, GA_TIER, ga));
        let mut total = Counts::default();
        for (section, tier, counts) in &parts {
            sections[*section].add(counts);
            tiers[*tier].add(counts);
            total.add(counts);
        }
        let availability = inventory.availability();
        prop_assert_eq!(availability.sections.len(), 3);
        prop_assert_eq!(availability.tiers.len(), 3);
        for (i, expected) in sections.iter().enumerate() {
            compare_counts(&format!("section {}", SECTIONS[i]), &availability.sections[i], expected, exact)?;
        }
        for (i, expected) in tiers.iter().enumerate() {
            compare_counts(&format!("tier {}", TIERS[i]), &availability.tiers[i], expected, exact)?;
        }
        compare_counts("total", &availability.total, &total, exact)?;

        // What can be taken now, seat by seat.
        for entry in inventory.seat_map() {
            match entry {
                SectionSeats::Reserved { rows, .. } => {
                    for (shard, numbers) in rows {
                        let row = shard.0 as usize;
                        let free: Vec<u32> = (0..ROWS[row].seats)
                            .filter(|&o| model.seat_free(row, usize::from(o)))
                            .map(|o| ROWS[row].first + u32::from(o))
                            .collect();
                        prop_assert_eq!(numbers, free, "free seats of row shard {}", row);
                    }
                }
                SectionSeats::GeneralAdmission { available, .. } => {
                    prop_assert_eq!(available, u64::from(model.ga_free()), "free general-admission places");
                }
            }
        }

        for (b, buyer) in BUYERS.iter().enumerate() {
            prop_assert_eq!(inventory.buyer_tickets(*buyer), model.counted(b), "tickets counted for buyer {}", b);
        }

        for (h, hold) in model.holds.iter().enumerate() {
            let real = inventory.hold_info(hold.id);
            if hold.forgotten {
                prop_assert!(real.is_none(), "hold {} should be forgotten", h);
                continue;
            }
            let Some(real) = real else {
                return Err(TestCaseError::fail(format!("hold {h} ({}) is unknown", hold.id)));
            };
            let expected = match hold.state {
                HoldState::Active => HoldStatus::Active,
                HoldState::Released { at } => HoldStatus::Released { at: UnixTimeMs(at) },
                HoldState::Expired { at } => HoldStatus::Expired { at: UnixTimeMs(at) },
                HoldState::Purchased { order, at } => {
                    HoldStatus::Purchased { order: model.orders[order].id, at: UnixTimeMs(at) }
                }
            };
            prop_assert_eq!(real.status, expected, "status of hold {}", h);
        }
        for (o, order) in model.orders.iter().enumerate() {
            let Some(real) = inventory.order(order.id) else {
                return Err(TestCaseError::fail(format!("order {o} ({}) is unknown", order.id)));
            };
            let status = if order.cancelled_at.is_some() { OrderStatus::Cancelled } else { OrderStatus::Confirmed };
            prop_assert_eq!(real.status, status, "status of order {}", o);
            prop_assert_eq!(real.cancelled_at, order.cancelled_at.map(UnixTimeMs), "order {}", o);
        }
        Ok(())
    }
}

/// Sold and blocked always match; held includes expired holds not yet
/// reclaimed unless `exact`, so only their sum with available must match then.
fn compare_counts(what: &str, real: &Counts, model: &Counts, exact: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(real.sold, model.sold, "{}: sold", what);
    prop_assert_eq!(real.blocked, model.blocked, "{}: blocked", what);
    prop_assert_eq!(real.available + real.held, model.available + model.held, "{}: available + held", what);
    prop_assert!(real.held >= model.held, "{}: held {:?} fewer than the live holds {:?}", what, real, model);
    if exact {
        prop_assert_eq!(real, model, "{}: counts right after the sweeper", what);
    }
    Ok(())
}

/// Checks a best-available choice against what the model allows.
fn check_best(
    model: &Model,
    placed: &HoldPlaced,
    expected: &BestExpected,
    n: usize,
    flagged: bool,
) -> Result<(), String> {
    let (seats, ga) = split_places(&placed.hold.places).map_err(|e| e.to_string())?;
    if seats.len() + ga as usize != n {
        return Err(format!("{} places instead of {n}", seats.len() + ga as usize));
    }
    if let Some(&(row, offset)) = seats.iter().find(|&&(r, o)| !model.seat_free(r, usize::from(o))) {
        return Err(format!("seat {offset} of row {row} was not free"));
    }
    if let Some(&(row, offset)) = seats.iter().find(|&&(r, o)| !model.choosable(r, usize::from(o), flagged)) {
        return Err(format!("seat {offset} of row {row} is flagged accessible or companion: {}", !flagged));
    }
    match expected {
        BestExpected::Ga => {
            if placed.fit != Fit::GeneralAdmission || ga as usize != n {
                return Err("general admission places expected".into());
            }
        }
        BestExpected::Adjacent { row, clean } => {
            let fit = if *clean { Fit::Adjacent } else { Fit::AdjacentWithOrphan };
            if placed.fit != fit {
                return Err(format!("fit {fit:?} expected"));
            }
            let start = usize::from(seats[0].1);
            let adjacent = seats.iter().enumerate().all(|(i, &(r, o))| r == *row && usize::from(o) == start + i);
            if !adjacent {
                return Err(format!("adjacent seats in row {row} expected"));
            }
            if model.leaves_orphan(*row, start, n, flagged) == *clean {
                return Err("the fit says the opposite of the orphan seats left".into());
            }
            // Nearest the centre of the row among the runs of the same fit.
            let len = model.rows[*row].len();
            let best = model.adjacent_starts(*row, n, *clean, flagged).into_iter().map(|s| distance(s, n, len)).min();
            if best != Some(distance(start, n, len)) {
                return Err("a run nearer the centre of the row was free".into());
            }
        }
        BestExpected::Split { rows } => {
            let one_row = seats.iter().all(|(row, _)| Some(row) == seats.first().map(|(first, _)| first));
            let expected = if one_row { Fit::SplitInRow } else { Fit::SplitAcrossRows };
            if placed.fit != expected || ga != 0 {
                return Err(format!("seats split, {expected:?} expected"));
            }
            if !seats.iter().all(|(r, _)| rows.contains(r)) {
                return Err(format!("seats outside rows {rows:?}"));
            }
            // Front rows first: every row before the last one used gives all its free seats.
            let last = rows.iter().rposition(|r| seats.iter().any(|(s, _)| s == r)).expect("n > 0 seats");
            for &row in &rows[..last] {
                let used = seats.iter().filter(|(r, _)| *r == row).count();
                if used != model.choosable_in_row(row, flagged) {
                    return Err(format!("row {row} has free seats left while a row behind it is used"));
                }
            }
        }
        BestExpected::NotEnough => return Err("no hold expected".into()),
    }
    Ok(())
}

/// Adds a new hold to the model, checking its fields.
fn record_hold(model: &mut Model, buyer: usize, hold: &Hold) -> Result<(), String> {
    let (seats, ga) = split_places(&hold.places).map_err(|e| e.to_string())?;
    if hold.buyer != BUYERS[buyer]
        || hold.created_at != UnixTimeMs(model.now)
        || hold.expires_at != UnixTimeMs(model.now + HOLD_TTL_MS)
        || hold.status != HoldStatus::Active
        || model.holds.iter().any(|h| h.id == hold.id)
    {
        return Err(format!("unexpected hold {hold:?}"));
    }
    let tickets = seats.len() as u32 + ga;
    let price: u64 =
        seats.iter().map(|&(r, _)| PRICES_CENTS[ROWS[r].tier]).sum::<u64>() + u64::from(ga) * PRICES_CENTS[GA_TIER];
    if hold.tickets.0 != tickets || hold.total_cents != price {
        return Err(format!("hold of {tickets} tickets for {price} cents expected, got {hold:?}"));
    }
    if ga > model.ga_free() {
        return Err(format!("{ga} general-admission places held, {} were free", model.ga_free()));
    }
    let index = model.holds.len();
    for &(row, offset) in &seats {
        if !model.seat_free(row, usize::from(offset)) {
            return Err(format!("seat {offset} of row {row} was not free"));
        }
        model.rows[row][usize::from(offset)] = Cell::Held(index);
    }
    model.holds.push(ModelHold {
        id: hold.id,
        buyer,
        expires_at: model.now + HOLD_TTL_MS,
        seats,
        ga,
        state: HoldState::Active,
        forgotten: false,
    });
    Ok(())
}

/// The layout is the one the model describes.
fn check_venue(inventory: &Inventory) -> Result<(), TestCaseError> {
    let layout = inventory.layout();
    prop_assert_eq!(inventory.settings().per_buyer_limit, PER_BUYER_LIMIT);
    prop_assert_eq!(u64::from(inventory.settings().hold_ttl_s) * 1000, HOLD_TTL_MS);
    let sections: Vec<&str> = layout.sections.iter().map(|s| &*s.id).collect();
    prop_assert_eq!(sections, SECTIONS.to_vec());
    let tiers: Vec<(&str, u64)> = layout.tiers.iter().map(|t| (&*t.id, t.price_cents)).collect();
    prop_assert_eq!(tiers, TIERS.iter().copied().zip(PRICES_CENTS).collect::<Vec<_>>());
    for (index, shard) in layout.shards.iter().enumerate() {
        match (&shard.kind, ROWS.get(index)) {
            (ShardKind::Row { id, first_seat, seats, flagged, accessible }, Some(row)) => {
                prop_assert_eq!((&**id, *first_seat, *seats), (row.row, row.first, row.seats));
                prop_assert_eq!((&**flagged, &**accessible), (row.flagged, row.accessible));
                prop_assert_eq!((shard.section.0 as usize, shard.tier.0 as usize), (row.section, row.tier));
            }
            (ShardKind::GaSlice { .. }, None) => {
                prop_assert_eq!((shard.section.0 as usize, shard.tier.0 as usize), (GA_SECTION, GA_TIER));
            }
            (kind, _) => return Err(TestCaseError::fail(format!("unexpected shard {index}: {kind:?}"))),
        }
    }
    let ga: u64 = layout.shards.iter().skip(ROWS.len()).map(|s| u64::from(s.capacity())).sum();
    prop_assert_eq!(ga, u64::from(GA_CAPACITY));
    Ok(())
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let mut run = Run::new(case)?;
    run.check_state(true)?;
    for (i, op) in case.ops.iter().enumerate() {
        run.step(op).map_err(|e| TestCaseError::fail(format!("step {i} {op:?}: {e}")))?;
    }
    // In the end the sweeper leaves only live holds, and the counts are exact.
    run.step(&Op::ExpireHolds).map_err(|e| TestCaseError::fail(format!("final sweep: {e}")))
}

fn slow() -> bool {
    std::env::var_os("RUN_SLOW_TESTS").is_some_and(|v| v == "1")
}

fn config(cases: u32, slow_cases: u32) -> ProptestConfig {
    // No regression file: a failure prints its minimal case, to be kept as a plain test.
    ProptestConfig {
        cases: if slow() { slow_cases } else { cases },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256, 4096))]

    #[test]
    fn inventory_agrees_with_the_model(case in case_gen(1..=60, false)) {
        run_case(&case)?;
    }
}

proptest! {
    #![proptest_config(config(24, 256))]

    /// Long runs, so buyers end more holds than the engine remembers.
    #[test]
    fn inventory_agrees_with_the_model_over_long_runs(case in case_gen(100..=400, true)) {
        run_case(&case)?;
    }
}

/// Found by the model: once a buyer had ended more holds than the engine
/// remembers, the hold of an earlier purchase was forgotten, and retrying that
/// purchase with its Idempotency-Key answered `unknown_hold` instead of the order.
#[test]
fn a_purchase_can_be_retried_after_many_more_holds() {
    let (inventory, _) = small_inventory();
    let buyer = BuyerId(1);
    let first = inventory.hold(buyer, &best_in("GA", 1)).unwrap();
    let order = inventory.purchase(first.hold.id, Requester::Buyer(buyer), "k1", "pay-1").unwrap().order;
    for _ in 0..=ENDED_HOLDS_KEPT_PER_BUYER {
        let placed = inventory.hold(buyer, &best_in("GA", 1)).unwrap();
        inventory.release(placed.hold.id, Requester::Buyer(buyer)).unwrap();
    }
    let again = inventory.purchase(first.hold.id, Requester::Buyer(buyer), "k1", "pay-1").unwrap();
    assert!(!again.created);
    assert_eq!(again.order.id, order.id);
    let status = inventory.hold_info(first.hold.id).map(|h| h.status);
    assert!(matches!(status, Some(HoldStatus::Purchased { .. })), "{status:?}");
    inventory.check_invariants().unwrap();
}

/// Found by the model: an order id that names no buyer shard was answered
/// `unknown_hold` rather than `unknown_order`.
#[test]
fn an_order_id_nobody_issued_is_an_unknown_order() {
    let (inventory, _) = small_inventory();
    for id in BOGUS_ORDERS {
        assert_eq!(inventory.cancel_order(id, Requester::Admin).unwrap_err().code(), "unknown_order");
    }
}
