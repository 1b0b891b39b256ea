//! Shared setup for the allocator benchmarks: the demo venue with a clock that
//! does not move and no write-ahead log, request plans that walk the venue the
//! way real buyers would, and the operations the benchmarks time.

use std::sync::Arc;

use guichet_engine::clock::ManualClock;
use guichet_engine::demo::demo_event;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{DiscardSink, HoldRequest, Inventory, InventoryError, Requester, SeatRequest};
use guichet_engine::layout::{SectionKind, ShardKind};
use guichet_engine::valid::ValidEvent;

/// Tiers of the demo event, best first: the order the fill benchmark sells them in.
pub const DEMO_TIERS: [&str; 3] = ["loge", "parterre", "pelouse"];
/// Reserved sections of the demo event.
pub const DEMO_RESERVED_SECTIONS: [&str; 10] = ["L1", "L2", "L3", "L4", "101", "102", "103", "104", "105", "106"];
/// Places in the demo venue: 3,500 reserved seats and the 5,500-place lawn.
pub const DEMO_PLACES: u64 = 9_000;

/// A fresh inventory of the demo event, at its on-sale instant, with a clock
/// that only moves when told to and a sink that keeps nothing.
pub fn demo_inventory() -> (Inventory, Arc<ManualClock>) {
    inventory_of(&demo_event())
}

/// A fresh inventory of `event` (parse the demo once and build many from it).
pub fn inventory_of(event: &ValidEvent) -> (Inventory, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(event.on_sale_at));
    let inventory = Inventory::new(event, clock.clone(), Arc::new(DiscardSink));
    (inventory, clock)
}

/// Requests for two named side-by-side seats, row by row through `sections`:
/// seats 1-2, 3-4, ... of each row, front row first (a row of odd length
/// leaves its last seat out).
pub fn seat_pair_requests(inventory: &Inventory, sections: &[&str]) -> Vec<HoldRequest> {
    let layout = inventory.layout();
    let mut requests = Vec::new();
    for &section_id in sections {
        let section = layout.section_index(section_id).unwrap_or_else(|| panic!("no section {section_id}"));
        assert!(matches!(layout.section(section).kind, SectionKind::Reserved { .. }), "{section_id} is not reserved");
        for row in layout.section_shards(section) {
            let ShardKind::Row { id, first_seat, seats, .. } = &layout.shard(row).kind else { unreachable!() };
            for pair in 0..u32::from(*seats) / 2 {
                let number = first_seat + 2 * pair;
                let seat = |number| SeatRequest { section: section_id.into(), row: id.to_string(), number };
                requests.push(HoldRequest::Seats(vec![seat(number), seat(number + 1)]));
            }
        }
    }
    requests
}

/// `count` distinct buyers, numbered from `first`.
pub fn buyers(first: u64, count: u64) -> Vec<BuyerId> {
    (first..first + count).map(BuyerId).collect()
}

/// Holds and releases `requests` in turn for `buyers` in turn, `iterations`
/// times, starting at `cursor` (which is advanced, so repeated calls keep
/// walking the venue). Panics if a hold is refused: the plan must never ask
/// for seats that are taken.
pub fn hold_release_loop(
    inventory: &Inventory,
    requests: &[HoldRequest],
    buyers: &[BuyerId],
    iterations: u64,
    cursor: &mut usize,
) {
    for _ in 0..iterations {
        let i = *cursor;
        *cursor = cursor.wrapping_add(1);
        hold_release(inventory, &requests[i % requests.len()], buyers[i % buyers.len()]);
    }
}

/// One hold then its release, for `buyer`.
#[inline]
pub fn hold_release(inventory: &Inventory, request: &HoldRequest, buyer: BuyerId) {
    let placed = inventory.hold(buyer, request).expect("the benchmark's hold is granted");
    let receipt = inventory.release(placed.hold.id, Requester::Buyer(buyer)).expect("the hold is released");
    std::hint::black_box((placed.fit, receipt));
}

/// Sells out `inventory` with best-available holds of two, tier by tier in
/// `tiers`, each hold bought at once by a new buyer (numbered from 0). Returns
/// the places sold.
pub fn sell_out(inventory: &Inventory, tiers: &[&str]) -> u64 {
    let mut buyer = 0;
    let mut sold = 0;
    for &tier in tiers {
        let request = HoldRequest::BestInTier { tier: tier.into(), quantity: 2 };
        loop {
            let placed = match inventory.hold(BuyerId(buyer), &request) {
                Ok(placed) => placed,
                Err(InventoryError::NotEnoughAvailable { .. }) => break,
                Err(error) => panic!("the fill's hold was refused: {error}"),
            };
            let purchase = inventory
                .purchase(placed.hold.id, Requester::Buyer(BuyerId(buyer)), "fill", "pay-fill")
                .expect("the fill's hold is bought");
            sold += u64::from(purchase.order.tickets.0);
            buyer += 1;
        }
    }
    sold
}
