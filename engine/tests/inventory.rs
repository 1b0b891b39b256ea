//! Every inventory operation and every way it can refuse.
mod common;
use std::sync::{Arc, Mutex};

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::{BuyerId, HoldId};
use guichet_engine::inventory::*;

const ALICE: BuyerId = BuyerId(1);
const BOB: BuyerId = BuyerId(2);

fn code(result: Result<impl std::fmt::Debug, InventoryError>) -> &'static str {
    result.expect_err("the operation should have been refused").code()
}

fn numbers(inventory: &Inventory, hold: &Hold) -> Vec<(String, Option<String>, Option<u32>)> {
    hold.places
        .iter()
        .map(|p| {
            let d = inventory.describe(p);
            (d.section.to_string(), d.row.map(str::to_string), d.number)
        })
        .collect()
}

#[test]
fn explicit_hold_takes_exactly_the_named_seats() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &seats(&[("A", "2", 102), ("A", "1", 3)])).unwrap();
    assert_eq!(placed.fit, Fit::Chosen);
    assert_eq!(placed.hold.expires_at, T0.plus_s(60));
    assert_eq!(placed.hold.tickets.0, 2);
    assert_eq!(placed.hold.total_cents, 10_000 + 25_000, "row 2 of A is priced at its own tier");
    assert_eq!(
        numbers(&inventory, &placed.hold),
        vec![("A".into(), Some("1".into()), Some(3)), ("A".into(), Some("2".into()), Some(102))]
    );
    let counts = inventory.availability();
    assert_eq!(counts.sections[0].held, 2);
    assert_eq!(counts.total.held, 2);
    inventory.check_invariants().unwrap();
}

#[test]
fn a_taken_seat_refuses_the_whole_request_and_names_every_unavailable_seat() {
    let (inventory, _) = small_inventory();
    inventory.hold(ALICE, &seats(&[("A", "1", 1), ("A", "1", 2)])).unwrap();
    let refused = inventory.hold(BOB, &seats(&[("A", "1", 1), ("A", "1", 2), ("A", "1", 3)])).unwrap_err();
    match refused {
        InventoryError::SeatsUnavailable { seats } => {
            let named: Vec<u32> = seats.iter().map(|s| s.number).collect();
            assert_eq!(named, vec![1, 2]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(inventory.availability().total.held, 2, "nothing of the refused request is held");
    assert_eq!(inventory.buyer_tickets(BOB), 0);
}

#[test]
fn unknown_places_are_refused_with_the_field_at_fault() {
    let (inventory, _) = small_inventory();
    let cases = [
        (seats(&[("A", "1", 1), ("Z", "1", 1)]), "unknown_section", "seats[1].section"),
        (seats(&[("A", "9", 1)]), "unknown_row", "seats[0].row"),
        (seats(&[("A", "2", 1)]), "unknown_seat", "seats[0].number"),
        (seats(&[("A", "1", 5)]), "unknown_seat", "seats[0].number"),
        (seats(&[("GA", "1", 1)]), "not_reserved_seating", "seats[0].section"),
        (seats(&[("A", "1", 1), ("B", "1", 1), ("A", "1", 1)]), "duplicate_seat", "seats[2]"),
        (best_in("Z", 1), "unknown_section", "section"),
        (HoldRequest::BestInTier { tier: "balcon".into(), quantity: 1 }, "unknown_tier", "tier"),
    ];
    for (request, expected_code, expected_field) in cases {
        let error = inventory.hold(ALICE, &request).unwrap_err();
        assert_eq!((error.code(), error.field()), (expected_code, Some(expected_field)), "{request:?}");
    }
}

#[test]
fn quantity_must_be_between_one_and_the_per_buyer_limit() {
    let (inventory, _) = small_inventory();
    assert_eq!(code(inventory.hold(ALICE, &best_in("A", 0))), "bad_quantity");
    assert_eq!(code(inventory.hold(ALICE, &best_in("A", 5))), "bad_quantity");
    assert_eq!(code(inventory.hold(ALICE, &HoldRequest::Seats(vec![]))), "bad_quantity");
    let five = seats(&[("A", "2", 101), ("A", "2", 102), ("A", "2", 103), ("A", "2", 104), ("A", "2", 105)]);
    assert_eq!(code(inventory.hold(ALICE, &five)), "bad_quantity");
}

#[test]
fn the_per_buyer_limit_counts_held_and_bought_tickets() {
    let (inventory, clock) = small_inventory();
    let first = inventory.hold(ALICE, &best_in("A", 2)).unwrap();
    inventory.purchase(first.hold.id, Requester::Buyer(ALICE), "k", "pay").unwrap();
    inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    let refused = inventory.hold(ALICE, &best_in("GA", 2)).unwrap_err();
    assert_eq!(refused, InventoryError::OverBuyerLimit { limit: 4, counted: 3, requested: 2 });
    inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    assert_eq!(inventory.buyer_tickets(ALICE), 4);
    clock.advance_ms(60_000);
    assert_eq!(inventory.buyer_tickets(ALICE), 2, "expired holds no longer count");
    inventory.hold(ALICE, &best_in("GA", 2)).unwrap();
    inventory.check_invariants().unwrap();
}

#[test]
fn best_available_prefers_the_front_row_centre_without_orphans() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &best_in("A", 2)).unwrap();
    assert_eq!(placed.fit, Fit::Adjacent);
    let got: Vec<Option<u32>> = numbers(&inventory, &placed.hold).into_iter().map(|t| t.2).collect();
    assert_eq!(got, vec![Some(1), Some(2)], "row 1 (seats 1-4): the centre pair would strand seats 1 and 4");
    let loge = inventory.hold(BOB, &HoldRequest::BestInTier { tier: "loge".into(), quantity: 2 }).unwrap();
    let got: Vec<Option<u32>> = numbers(&inventory, &loge.hold).into_iter().map(|t| t.2).collect();
    assert_eq!(got, vec![Some(103), Some(104)], "centre of row 2 (seats 101-106)");
}

#[test]
fn best_available_avoids_a_single_orphan_when_another_row_allows_it() {
    let (inventory, _) = small_inventory();
    // Row 1 of A: seat 1 taken leaves 2-4; any pair there strands a seat.
    inventory.hold(BOB, &seats(&[("A", "1", 1)])).unwrap();
    let placed = inventory.hold(ALICE, &best_in("A", 2)).unwrap();
    assert_eq!(placed.fit, Fit::Adjacent);
    assert!(numbers(&inventory, &placed.hold).iter().all(|t| t.1.as_deref() == Some("2")), "went to row 2");
}

#[test]
fn a_split_group_in_one_row_is_not_called_split_across_rows() {
    let (inventory, _) = small_inventory();
    // Section B is one row of three seats: with the middle one taken, a pair is split within the row.
    inventory.hold(BOB, &seats(&[("B", "1", 2)])).unwrap();
    let split = inventory.hold(ALICE, &best_in("B", 2)).unwrap();
    assert_eq!(split.fit, Fit::SplitInRow);
    assert!(numbers(&inventory, &split.hold).iter().all(|t| t.1.as_deref() == Some("1")));
}

#[test]
fn best_available_relaxes_to_an_orphan_then_to_a_split() {
    let (inventory, _) = small_inventory();
    // Section B is one row of three seats: a pair must strand one.
    let pair = inventory.hold(ALICE, &best_in("B", 2)).unwrap();
    assert_eq!(pair.fit, Fit::AdjacentWithOrphan);
    // Section A: leave 1 seat free in row 1 and 2 apart in row 2, then ask for 3.
    inventory.hold(BOB, &seats(&[("A", "1", 1), ("A", "1", 2), ("A", "1", 3)])).unwrap();
    inventory.hold(BuyerId(3), &seats(&[("A", "2", 101), ("A", "2", 103), ("A", "2", 105), ("A", "2", 106)])).unwrap();
    let split = inventory.hold(BuyerId(4), &best_in("A", 3)).unwrap();
    assert_eq!(split.fit, Fit::SplitAcrossRows);
    let got: Vec<(Option<String>, Option<u32>)> =
        numbers(&inventory, &split.hold).into_iter().map(|t| (t.1, t.2)).collect();
    assert_eq!(got, vec![(Some("1".into()), Some(4)), (Some("2".into()), Some(102)), (Some("2".into()), Some(104))]);
    assert_eq!(
        inventory.hold(BuyerId(5), &best_in("A", 1)).unwrap_err(),
        InventoryError::NotEnoughAvailable { requested: 1, available: 0 }
    );
    inventory.check_invariants().unwrap();
}

#[test]
fn best_available_in_a_tier_uses_row_overrides_and_general_admission() {
    let (inventory, _) = small_inventory();
    let loge = inventory.hold(ALICE, &HoldRequest::BestInTier { tier: "loge".into(), quantity: 2 }).unwrap();
    assert!(numbers(&inventory, &loge.hold).iter().all(|t| t.1.as_deref() == Some("2")), "only row 2 is loge");
    let lawn = inventory.hold(BOB, &HoldRequest::BestInTier { tier: "pelouse".into(), quantity: 3 }).unwrap();
    assert_eq!(lawn.fit, Fit::GeneralAdmission);
    assert_eq!(lawn.hold.tickets.0, 3);
    assert_eq!(lawn.hold.total_cents, 15_000);
    // Three in row 1 of A (4 seats) would strand one; all of B (3 seats) strands none.
    let parterre = inventory.hold(BuyerId(3), &HoldRequest::BestInTier { tier: "parterre".into(), quantity: 3 });
    assert!(numbers(&inventory, &parterre.unwrap().hold).iter().all(|t| t.0 == "B"));
}

#[test]
fn general_admission_sells_exactly_its_capacity_across_slices() {
    let (inventory, _) = small_inventory();
    let mut held = 0;
    for buyer in 0..20 {
        match inventory.hold(BuyerId(100 + buyer), &best_in("GA", 3)) {
            Ok(placed) => held += placed.hold.tickets.0,
            Err(error) => assert_eq!(error.code(), "not_enough_available"),
        }
    }
    let last = inventory.hold(BuyerId(999), &best_in("GA", 1));
    assert!(held == 10 || (held == 9 && last.is_ok()), "held {held}");
    assert_eq!(inventory.availability().sections[2].available, 0);
    inventory.check_invariants().unwrap();
}

#[test]
fn purchase_turns_a_hold_into_an_order_once_per_idempotency_key() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &best_in("A", 2)).unwrap();
    let bought = inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "key-1", "pay-1").unwrap();
    assert!(bought.created);
    assert_eq!(bought.order.status, OrderStatus::Confirmed);
    assert_eq!(bought.order.total_cents, 20_000);
    assert_eq!(bought.order.places, placed.hold.places);
    for place in &bought.order.places {
        let Place::Seat { shard, offset } = *place else { panic!("reserved seats") };
        assert_eq!(inventory.seat_state(shard, offset), SeatState::Sold(bought.order.id));
    }
    let replay = inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "key-1", "pay-1").unwrap();
    assert_eq!((replay.created, replay.order.id), (false, bought.order.id));
    assert_eq!(
        code(inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "key-1", "pay-2")),
        "idempotency_key_reused"
    );
    assert_eq!(code(inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "key-2", "pay-1")), "hold_not_active");
    let other = inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    assert_eq!(
        code(inventory.purchase(other.hold.id, Requester::Buyer(ALICE), "key-1", "pay-1")),
        "idempotency_key_reused"
    );
    assert_eq!(inventory.availability().total.sold, 2);
    inventory.check_invariants().unwrap();
}

#[test]
fn purchase_checks_owner_key_and_payment_reference() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &best_in("A", 1)).unwrap();
    let id = placed.hold.id;
    assert_eq!(code(inventory.purchase(id, Requester::Buyer(BOB), "k", "p")), "not_yours");
    assert_eq!(code(inventory.purchase(id, Requester::Buyer(ALICE), "", "p")), "bad_idempotency_key");
    assert_eq!(code(inventory.purchase(id, Requester::Buyer(ALICE), "tab\there", "p")), "bad_idempotency_key");
    assert_eq!(code(inventory.purchase(id, Requester::Buyer(ALICE), &"k".repeat(129), "p")), "bad_idempotency_key");
    assert_eq!(code(inventory.purchase(id, Requester::Buyer(ALICE), "k", "")), "bad_payment_ref");
    assert_eq!(code(inventory.purchase("h999999".parse().unwrap(), Requester::Buyer(ALICE), "k", "p")), "unknown_hold");
    assert_eq!(code(inventory.purchase(HoldId(u64::MAX), Requester::Buyer(ALICE), "k", "p")), "unknown_hold");
    let by_admin = inventory.purchase(id, Requester::Admin, "k", "p").unwrap();
    assert_eq!(by_admin.order.buyer, ALICE, "the order is the buyer's, whoever completed it");
    assert_eq!(inventory.buyer_tickets(ALICE), 1);
}

#[test]
fn an_expired_hold_cannot_be_bought_and_its_seats_are_back_on_sale() {
    let (inventory, clock) = small_inventory();
    let placed = inventory.hold(ALICE, &seats(&[("B", "1", 1)])).unwrap();
    clock.advance_ms(60_000);
    // Bob gets the seat before any sweep: expired holds are reclaimed when needed.
    let taken = inventory.hold(BOB, &seats(&[("B", "1", 1)])).unwrap();
    inventory.check_invariants().unwrap();
    assert_eq!(code(inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p")), "hold_expired");
    assert!(matches!(inventory.hold_info(placed.hold.id).unwrap().status, HoldStatus::Expired { .. }));
    assert_eq!(code(inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p")), "hold_expired");
    inventory.purchase(taken.hold.id, Requester::Buyer(BOB), "k", "p").unwrap();
    inventory.check_invariants().unwrap();
}

#[test]
fn a_hold_is_live_until_the_millisecond_before_it_expires() {
    let (inventory, clock) = small_inventory();
    let placed = inventory.hold(ALICE, &best_in("GA", 2)).unwrap();
    clock.advance_ms(59_999);
    inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap();
    let late = inventory.hold(BOB, &best_in("GA", 2)).unwrap();
    clock.advance_ms(60_000);
    assert_eq!(code(inventory.purchase(late.hold.id, Requester::Buyer(BOB), "k", "p")), "hold_expired");
}

#[test]
fn the_sweeper_expires_holds_and_frees_their_places() {
    let (inventory, clock) = small_inventory();
    inventory.hold(ALICE, &best_in("A", 2)).unwrap();
    inventory.hold(BOB, &best_in("GA", 3)).unwrap();
    clock.advance_ms(30_000);
    let young = inventory.hold(BuyerId(3), &best_in("B", 1)).unwrap();
    assert_eq!(inventory.expire_holds().unwrap(), 0);
    clock.advance_ms(30_000);
    assert_eq!(inventory.expire_holds().unwrap(), 2);
    let counts = inventory.availability();
    assert_eq!((counts.total.held, counts.total.available), (1, 22));
    assert_eq!(inventory.hold_info(young.hold.id).unwrap().status, HoldStatus::Active);
    inventory.check_invariants().unwrap();
}

#[test]
fn release_frees_the_seats_at_once_and_only_the_owner_may() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &seats(&[("A", "1", 1)])).unwrap();
    assert_eq!(code(inventory.release(placed.hold.id, Requester::Buyer(BOB))), "not_yours");
    inventory.release(placed.hold.id, Requester::Buyer(ALICE)).unwrap();
    inventory.release(placed.hold.id, Requester::Buyer(ALICE)).unwrap();
    assert!(matches!(inventory.hold_info(placed.hold.id).unwrap().status, HoldStatus::Released { .. }));
    assert_eq!(code(inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p")), "hold_not_active");
    inventory.hold(BOB, &seats(&[("A", "1", 1)])).unwrap();
    let bought = inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    inventory.purchase(bought.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap();
    assert_eq!(code(inventory.release(bought.hold.id, Requester::Buyer(ALICE))), "hold_not_active");
    assert_eq!(code(inventory.release("h77".parse().unwrap(), Requester::Admin)), "unknown_hold");
    inventory.check_invariants().unwrap();
}

#[test]
fn cancelling_an_order_puts_its_seats_back_on_sale() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &best_in("GA", 4)).unwrap();
    let order = inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap().order;
    assert_eq!(code(inventory.cancel_order(order.id, Requester::Buyer(BOB))), "not_yours");
    assert_eq!(code(inventory.cancel_order(order.id, Requester::Buyer(ALICE))), "refund_period_over");
    let (cancelled, _) = inventory.cancel_order(order.id, Requester::Admin).unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.cancelled_at, Some(T0));
    let (again, _) = inventory.cancel_order(order.id, Requester::Admin).unwrap();
    assert_eq!(again.status, OrderStatus::Cancelled);
    assert_eq!(inventory.availability().sections[2].available, 10);
    assert_eq!(inventory.buyer_tickets(ALICE), 0);
    assert_eq!(code(inventory.cancel_order("o5".parse().unwrap(), Requester::Admin)), "unknown_order");
    let replay = inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap();
    assert_eq!(replay.order.status, OrderStatus::Cancelled, "a replay shows the order's current status");
    inventory.check_invariants().unwrap();
}

#[test]
fn buyers_may_cancel_while_the_refund_period_is_open() {
    let mut json = small_spec_json();
    json["refund_until"] = "2027-06-01T00:00:00Z".into();
    let (inventory, _) = inventory_from(json);
    let placed = inventory.hold(ALICE, &best_in("A", 1)).unwrap();
    let order = inventory.purchase(placed.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap().order;
    inventory.cancel_order(order.id, Requester::Buyer(ALICE)).unwrap();
    assert_eq!(inventory.availability().total.sold, 0);
}

#[test]
fn blocked_seats_and_places_are_off_sale_until_unblocked() {
    let (inventory, _) = small_inventory();
    inventory.block_seats(&[seat("B", "1", 2)]).unwrap();
    assert_eq!(code(inventory.hold(ALICE, &seats(&[("B", "1", 2)]))), "seats_unavailable");
    assert_eq!(code(inventory.block_seats(&[seat("B", "1", 2)])), "seats_unavailable");
    assert_eq!(code(inventory.unblock_seats(&[seat("B", "1", 1)])), "not_blocked");
    inventory.block_places("GA", 9).unwrap();
    assert_eq!(code(inventory.block_places("GA", 2)), "not_enough_available");
    assert_eq!(code(inventory.block_places("A", 1)), "not_general_admission");
    assert_eq!(code(inventory.hold(ALICE, &best_in("GA", 2))), "not_enough_available");
    let counts = inventory.availability();
    assert_eq!((counts.total.blocked, counts.sections[2].available), (10, 1));
    inventory.unblock_places("GA", 9).unwrap();
    assert_eq!(code(inventory.unblock_places("GA", 1)), "not_blocked");
    inventory.unblock_seats(&[seat("B", "1", 2)]).unwrap();
    inventory.hold(ALICE, &seats(&[("B", "1", 2)])).unwrap();
    assert_eq!(inventory.availability().total.blocked, 0);
    inventory.check_invariants().unwrap();
}

#[test]
fn the_seat_map_lists_what_can_be_taken_now() {
    let (inventory, clock) = small_inventory();
    inventory.hold(ALICE, &seats(&[("A", "1", 2), ("A", "2", 101)])).unwrap();
    inventory.hold(BOB, &best_in("GA", 4)).unwrap();
    let map = inventory.seat_map();
    let SectionSeats::Reserved { rows, .. } = &map[0] else { panic!("A is reserved") };
    assert_eq!(rows[0].1, vec![1, 3, 4]);
    assert_eq!(rows[1].1, vec![102, 103, 104, 105, 106]);
    assert_eq!(map[2], SectionSeats::GeneralAdmission { section: guichet_engine::ids::SectionIndex(2), available: 6 });
    clock.advance_ms(60_000);
    let SectionSeats::GeneralAdmission { available, .. } = inventory.seat_map()[2] else { panic!() };
    assert_eq!(available, 10, "expired holds read as free at once");
}

/// Keeps every record, so a second inventory can replay them.
#[derive(Debug, Default)]
struct RecordingSink(Mutex<Vec<InventoryRecord>>);

impl RecordSink for RecordingSink {
    fn submit(&self, record: &InventoryRecord) -> Result<Receipt, SinkError> {
        let mut records = self.0.lock().unwrap();
        records.push(record.clone());
        Ok(Receipt(records.len() as u64))
    }
}

#[test]
fn replaying_the_records_rebuilds_the_same_state() {
    let event = spec_from(small_spec_json()).validate().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let sink = Arc::new(RecordingSink::default());
    let live = Inventory::new(&event, clock.clone(), sink.clone());
    let a = live.hold(ALICE, &best_in("A", 2)).unwrap();
    live.purchase(a.hold.id, Requester::Buyer(ALICE), "k", "p").unwrap();
    live.hold(BOB, &best_in("GA", 3)).unwrap();
    live.block_seats(&[seat("B", "1", 3)]).unwrap();
    clock.advance_ms(61_000);
    let c = live.hold(BuyerId(3), &best_in("GA", 4)).unwrap();
    let first_release = live.release(c.hold.id, Requester::Admin).unwrap();
    live.hold(BuyerId(3), &best_in("B", 2)).unwrap();

    // Repeating a release answers with the original record's receipt, so the
    // repeat is acknowledged only once that record is durable.
    assert_ne!(first_release, Receipt::NONE);
    assert_eq!(live.release(c.hold.id, Requester::Admin).unwrap(), first_release);

    let replayed = Inventory::new(&event, clock.clone(), Arc::new(DiscardSink));
    for (i, record) in sink.0.lock().unwrap().iter().enumerate() {
        replayed.apply(record, Receipt(i as u64 + 1)).unwrap();
    }
    assert_eq!(replayed.availability(), live.availability());
    let everything = Receipt(u64::MAX);
    assert_eq!(replayed.orders_page(None, 10, everything), live.orders_page(None, 10, everything));
    assert_eq!(replayed.seat_map(), live.seat_map());
    replayed.check_invariants().unwrap();
    // Replay also moves the id sequences past what the log used.
    let next = replayed.hold(BuyerId(9), &best_in("A", 1)).unwrap();
    assert!(live.hold_info(next.hold.id).is_none());
}

#[test]
fn apply_refuses_a_record_that_does_not_fit_and_changes_nothing() {
    let (inventory, _) = small_inventory();
    let placed = inventory.hold(ALICE, &seats(&[("A", "1", 1)])).unwrap();
    let clash = InventoryRecord::HoldPlaced {
        hold: "h1000".parse().unwrap(),
        buyer: BOB,
        at: T0,
        expires_at: T0.plus_s(60),
        places: placed.hold.places.clone(),
    };
    assert!(inventory.apply(&clash, Receipt(1)).is_err());
    let unknown =
        InventoryRecord::HoldEnded { hold: "h123400".parse().unwrap(), at: T0, reason: HoldEndReason::Released };
    assert!(inventory.apply(&unknown, Receipt(2)).is_err());
    let out_of_layout = InventoryRecord::PlacesBlocked {
        places: [Place::Seat { shard: guichet_engine::ids::ShardIndex(99), offset: 0 }].into_iter().collect(),
        at: T0,
    };
    assert!(inventory.apply(&out_of_layout, Receipt(3)).is_err());
    assert_eq!(inventory.availability().total.held, 1);
    inventory.check_invariants().unwrap();
}

#[test]
fn the_admin_has_one_idempotency_scope_for_the_whole_event() {
    let event = spec_from(small_spec_json()).validate().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let sink = Arc::new(RecordingSink::default());
    let inventory = Inventory::new(&event, clock.clone(), sink.clone());
    let alices = inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    let bobs = inventory.hold(BOB, &best_in("GA", 1)).unwrap();
    let first = inventory.purchase(alices.hold.id, Requester::Admin, "box-office-1", "cash").unwrap();
    assert!(first.created);
    assert_eq!(
        code(inventory.purchase(bobs.hold.id, Requester::Admin, "box-office-1", "cash")),
        "idempotency_key_reused",
        "the same admin key on another buyer's hold"
    );
    let again = inventory.purchase(alices.hold.id, Requester::Admin, "box-office-1", "cash").unwrap();
    assert_eq!((again.created, again.order.id), (false, first.order.id));
    // The buyer's own scope is separate from the admin's.
    inventory.purchase(bobs.hold.id, Requester::Buyer(BOB), "box-office-1", "card").unwrap();
    let replayed = Inventory::new(&event, clock, Arc::new(DiscardSink));
    for (i, record) in sink.0.lock().unwrap().iter().enumerate() {
        replayed.apply(record, Receipt(i as u64 + 1)).unwrap();
    }
    let after_replay = replayed.purchase(alices.hold.id, Requester::Admin, "box-office-1", "cash").unwrap();
    assert_eq!(after_replay.order.id, first.order.id);
    let (snapshot, ()) = replayed.snapshot(|| ());
    let restored = Inventory::new(&event, Arc::new(ManualClock::new(T0)), Arc::new(DiscardSink));
    restored.restore(snapshot).unwrap();
    assert_eq!(
        code(restored.purchase(bobs.hold.id, Requester::Admin, "box-office-1", "cash")),
        "idempotency_key_reused"
    );
}

#[test]
fn the_ended_holds_a_buyer_keeps_are_found_the_same_after_a_snapshot_is_restored() {
    use guichet_engine::limits::ENDED_HOLDS_KEPT_PER_BUYER;
    let (inventory, _) = small_inventory();
    let mut released = Vec::new();
    for _ in 0..=ENDED_HOLDS_KEPT_PER_BUYER {
        let placed = inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
        inventory.release(placed.hold.id, Requester::Buyer(ALICE)).unwrap();
        released.push(placed.hold.id);
    }
    let bought = inventory.hold(ALICE, &best_in("GA", 1)).unwrap();
    inventory.purchase(bought.hold.id, Requester::Buyer(ALICE), "order-1", "card").unwrap();
    let (snapshot, ()) = inventory.snapshot(|| ());
    let (restored, _) = small_inventory();
    restored.restore(snapshot).unwrap();
    assert_eq!(restored.digest(), inventory.digest());
    for copy in [&inventory, &restored] {
        let (forgotten, kept) = released.split_first().unwrap();
        assert_eq!(copy.hold_info(*forgotten), None, "the oldest is forgotten past the limit");
        for hold in kept {
            let info = copy.hold_info(*hold).expect("a recent ended hold is found by id");
            assert!(matches!(info.status, HoldStatus::Released { .. }));
            copy.release(*hold, Requester::Buyer(ALICE)).expect("releasing it again changes nothing");
            assert_eq!(code(copy.release(*hold, Requester::Buyer(BOB))), "not_yours");
        }
        assert!(matches!(copy.hold_info(bought.hold.id).unwrap().status, HoldStatus::Purchased { .. }));
        copy.check_invariants().unwrap();
        // Newer ones push them out, restored or not: what is kept stays bounded.
        for _ in 0..ENDED_HOLDS_KEPT_PER_BUYER {
            let placed = copy.hold(ALICE, &best_in("GA", 1)).unwrap();
            copy.release(placed.hold.id, Requester::Buyer(ALICE)).unwrap();
        }
        assert!(kept.iter().all(|hold| copy.hold_info(*hold).is_none()));
        copy.check_invariants().unwrap();
    }
}
