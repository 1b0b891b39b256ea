//! Payments in the engine: a checkout extends its hold; a confirmation buys
//! the hold through the purchase path (one order per payment); failures
//! release; deliveries in any order and twice; money that comes too late is
//! refunded through the outbox; all of it survives replay and snapshots.
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{HoldStatus, InventoryError, Requester};
use guichet_engine::limits::{MAX_HOLD_WITH_PAYMENT_S, PAYMENT_HOLD_EXTENSION_S};
use guichet_engine::outbox::OutboxState;
use guichet_engine::payments::PaymentState;
use guichet_engine::store::{CheckoutError, ConfirmOutcome, Confirmation, Engine, EngineOptions};
use guichet_engine::wal::storage::MemoryStorage;

const BUYER: BuyerId = BuyerId(3);

fn paid_engine(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
    let (engine, _) = Engine::open(Arc::new(storage.clone()), EngineOptions::default(), clock.clone()).unwrap();
    let mut json = small_spec_json();
    json["payment"] = serde_json::json!({ "provider": "stripe" });
    let (_, receipt) = engine.create_event(&spec_from(json)).unwrap();
    engine.wait_durable(receipt).unwrap();
    engine
}

fn reopen(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
    Engine::open(Arc::new(storage.crash(0)), EngineOptions::default(), clock.clone()).unwrap().0
}

fn checkout(engine: &Engine) -> (guichet_engine::ids::HoldId, String) {
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BUYER, &best_in("A", 2)).unwrap();
    let (payment, receipt) = engine.start_payment(&event, placed.hold.id, BUYER).unwrap();
    engine.wait_durable(receipt).unwrap();
    (placed.hold.id, payment.id.as_str().to_owned())
}

fn delivery<'a>(payment: &'a str, event_id: &'a str) -> Confirmation<'a> {
    Confirmation { payment, provider_event: Some(event_id), provider_ref: Some("pi_1") }
}

#[test]
fn a_checkout_extends_the_hold_to_its_limit() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (hold, payment) = checkout(&engine);
    let event = engine.event("test-event").unwrap();
    let expires = event.inventory.hold_info(hold).unwrap().expires_at;
    assert_eq!(expires, T0.plus_s(PAYMENT_HOLD_EXTENSION_S), "60 s hold, extended for the payment");
    event.inventory.check_invariants().unwrap();
    clock.advance_ms(120_000);
    assert_eq!(event.inventory.expire_holds().unwrap(), 0, "past its first expiry, the hold lives on");
    assert_eq!(event.inventory.availability().total.held, 2, "its seats are still held");
    event.inventory.check_invariants().unwrap();
    clock.advance_ms(680_000);
    let (again, _) = engine.start_payment(&event, hold, BUYER).unwrap();
    assert_eq!(again.id.as_str(), payment, "one payment per hold");
    assert!(event.inventory.hold_info(hold).unwrap().expires_at <= T0.plus_s(MAX_HOLD_WITH_PAYMENT_S));
    let other = engine.start_payment(&event, hold, BuyerId(4));
    assert!(matches!(other, Err(CheckoutError::Inventory(InventoryError::NotYours))));
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.event("test-event").unwrap().inventory.hold_info(hold).unwrap().expires_at, expires);
}

#[test]
fn a_confirmation_buys_the_hold_once_and_a_duplicate_changes_nothing() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (hold, payment) = checkout(&engine);
    let ConfirmOutcome::Ordered { order, created: true, receipt, .. } =
        engine.confirm_payment(delivery(&payment, "evt_1")).unwrap()
    else {
        panic!("the first confirmation makes the order")
    };
    engine.wait_durable(receipt).unwrap();
    assert_eq!(&*order.payment_ref, payment.as_str());
    assert!(matches!(engine.confirm_payment(delivery(&payment, "evt_1")).unwrap(), ConfirmOutcome::Duplicate));
    let ConfirmOutcome::Ordered { order: again, created: false, .. } =
        engine.confirm_payment(delivery(&payment, "evt_2")).unwrap()
    else {
        panic!("another delivery of the success finds the same order")
    };
    assert_eq!(again.id, order.id);
    let failed_late = engine.fail_payment(delivery(&payment, "evt_3"), false).unwrap();
    assert!(matches!(failed_late, ConfirmOutcome::Unchanged { .. }), "failed after succeeded: the order stands");
    let replayed = reopen(&storage, &clock);
    let event = replayed.event("test-event").unwrap();
    assert!(matches!(event.inventory.hold_info(hold).unwrap().status, HoldStatus::Purchased { .. }));
    assert!(matches!(replayed.confirm_payment(delivery(&payment, "evt_1")).unwrap(), ConfirmOutcome::Duplicate));
    assert!(matches!(replayed.payment(&payment).unwrap().state, PaymentState::Confirmed { .. }));
}

#[test]
fn a_cancelled_payment_releases_the_hold_and_a_later_success_is_refunded() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (hold, payment) = checkout(&engine);
    let event = engine.event("test-event").unwrap();
    assert!(matches!(engine.fail_payment(delivery(&payment, "evt_f"), true).unwrap(), ConfirmOutcome::Released { .. }));
    assert!(matches!(event.inventory.hold_info(hold).unwrap().status, HoldStatus::Released { .. }));
    let ConfirmOutcome::Refunding { receipt, .. } = engine.confirm_payment(delivery(&payment, "evt_s")).unwrap() else {
        panic!("succeeded after cancelled: refunded")
    };
    engine.wait_durable(receipt).unwrap();
    let refund = engine.refund_of(&engine.payment(&payment).unwrap()).unwrap();
    assert_eq!(refund.state, OutboxState::Pending);
    assert_eq!(&*refund.idempotency_key, format!("refund-{payment}"));
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.outbox_due("refund", 10).len(), 1, "the queued refund survives a crash");
}

/// A declined card leaves the payment open and the hold kept (the buyer
/// may try another card); a success then makes the order.
#[test]
fn a_declined_card_keeps_the_payment_open_and_a_later_success_buys() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (hold, payment) = checkout(&engine);
    let event = engine.event("test-event").unwrap();
    let outcome = engine.decline_payment(delivery(&payment, "evt_d"), Some("insufficient_funds")).unwrap();
    let ConfirmOutcome::Declined { receipt, .. } = outcome else { panic!("{outcome:?}") };
    engine.wait_durable(receipt).unwrap();
    assert!(matches!(event.inventory.hold_info(hold).unwrap().status, HoldStatus::Active));
    let state = engine.payment(&payment).unwrap().state;
    assert!(matches!(&state, PaymentState::Declined { reason, .. } if &**reason == "insufficient_funds"), "{state:?}");
    assert!(state.is_open());
    let replayed = reopen(&storage, &clock);
    assert!(replayed.payment(&payment).unwrap().state.is_open(), "the decline survives a crash, open");
    let weird = engine.decline_payment(delivery(&payment, "evt_d2"), Some("no such\ncode")).unwrap();
    assert!(matches!(weird, ConfirmOutcome::Declined { ref payment, .. }
        if matches!(&payment.state, PaymentState::Declined { reason, .. } if &**reason == "declined")));
    let outcome = engine.confirm_payment(delivery(&payment, "evt_s")).unwrap();
    assert!(matches!(outcome, ConfirmOutcome::Ordered { created: true, .. }), "{outcome:?}");
    assert!(engine.outbox_due("refund", 10).is_empty(), "nothing refunded");
}

/// The hold runs out under an open payment: the sweep expires the payment
/// and queues the cancellation of its PaymentIntent (once); a success that
/// still comes is refunded.
#[test]
fn a_hold_that_runs_out_expires_its_open_payment_and_cancels_it_at_the_provider() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (_, payment) = checkout(&engine);
    engine.wait_durable(engine.name_provider_ref(&payment, "pi_1").unwrap()).unwrap();
    engine.decline_payment(delivery(&payment, "evt_d"), None).unwrap();
    assert_eq!(engine.expire_payments().unwrap().0, 0, "the hold is live");
    clock.advance_ms(u64::from(MAX_HOLD_WITH_PAYMENT_S) * 1000);
    engine.expire_holds().unwrap();
    let (expired, receipt) = engine.expire_payments().unwrap();
    assert_eq!(expired, 1);
    engine.wait_durable(receipt).unwrap();
    assert_eq!(engine.payment(&payment).unwrap().state.name(), "expired");
    assert_eq!(engine.expire_payments().unwrap().0, 0, "once");
    let due = engine.outbox_due("cancel_payment", 10);
    assert_eq!(due.len(), 1);
    assert_eq!(&*due[0].idempotency_key, format!("cancel-{payment}"));
    let request: serde_json::Value = serde_json::from_slice(&due[0].payload).unwrap();
    assert_eq!(request["provider_ref"], "pi_1");
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.payment(&payment).unwrap().state.name(), "expired");
    assert_eq!(replayed.outbox_due("cancel_payment", 10).len(), 1, "the cancellation survives a crash");
    let outcome = replayed.confirm_payment(delivery(&payment, "evt_s")).unwrap();
    assert!(matches!(outcome, ConfirmOutcome::Refunding { .. }), "{outcome:?}");
}

#[test]
fn a_confirmation_after_the_hold_expired_is_refunded_and_the_refund_survives_snapshots() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (_, payment) = checkout(&engine);
    clock.advance_ms(u64::from(MAX_HOLD_WITH_PAYMENT_S) * 1000);
    engine.expire_holds().unwrap();
    let taken = engine.event("test-event").unwrap().inventory.hold(BuyerId(9), &best_in("A", 4));
    assert!(taken.is_ok(), "the expired hold's seats went to another buyer");
    let outcome = engine.confirm_payment(delivery(&payment, "evt_late")).unwrap();
    let ConfirmOutcome::Refunding { receipt, .. } = outcome else { panic!("{outcome:?}") };
    engine.wait_durable(receipt).unwrap();
    engine.snapshot().unwrap();
    let replayed = reopen(&storage, &clock);
    let due = replayed.outbox_due("refund", 10);
    assert_eq!(due.len(), 1);
    let payload: serde_json::Value = serde_json::from_slice(&due[0].payload).unwrap();
    assert_eq!(payload["provider_ref"], "pi_1");
    assert_eq!(payload["amount_cents"], 20_000);
    let receipt = replayed.outbox_attempted(due[0].id, Err("503".into()), false).unwrap();
    replayed.wait_durable(receipt).unwrap();
    assert!(replayed.outbox_due("refund", 10).is_empty(), "backing off");
    assert_eq!(replayed.outbox_counts().retrying, 1);
    assert!(matches!(replayed.confirm_payment(delivery(&payment, "evt_late")).unwrap(), ConfirmOutcome::Duplicate));
}

#[test]
fn an_event_without_a_provider_takes_no_checkout() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, _) = Engine::open(Arc::new(storage), EngineOptions::default(), clock).unwrap();
    let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    let placed = event.inventory.hold(BUYER, &best_in("A", 1)).unwrap();
    assert_eq!(engine.start_payment(&event, placed.hold.id, BUYER).unwrap_err().code(), "no_payment_provider");
    event.inventory.purchase(placed.hold.id, Requester::Buyer(BUYER), "k", "cash").unwrap();
}

/// A paid order, confirmed: (payment id, order id).
fn paid_order(engine: &Engine) -> (String, guichet_engine::ids::OrderId) {
    let (_, payment) = checkout(engine);
    let outcome = engine.confirm_payment(delivery(&payment, "evt_s")).unwrap();
    let ConfirmOutcome::Ordered { order, receipt, .. } = outcome else { panic!("{outcome:?}") };
    engine.wait_durable(receipt).unwrap();
    (payment, order.id)
}

#[test]
fn cancelling_a_paid_order_queues_its_refund_once() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (payment, order) = paid_order(&engine);
    let event = engine.event("test-event").unwrap();
    let (cancelled, receipt) = engine.cancel_order(&event, order, Requester::Admin).unwrap();
    assert!(cancelled.cancelled_at.is_some());
    assert!(receipt > cancelled.cancel_receipt, "the answer waits on the refund's record too");
    engine.wait_durable(receipt).unwrap();
    let due = engine.outbox_due("refund", 10);
    assert_eq!(due.len(), 1);
    assert_eq!(&*due[0].idempotency_key, format!("refund-{payment}"));
    let payload: serde_json::Value = serde_json::from_slice(&due[0].payload).unwrap();
    assert_eq!((payload["provider_ref"].as_str(), payload["amount_cents"].as_u64()), (Some("pi_1"), Some(20_000)));
    let (_, again) = engine.cancel_order(&event, order, Requester::Admin).unwrap();
    engine.wait_durable(again).unwrap();
    assert_eq!(engine.outbox_due("refund", 10).len(), 1, "cancelling again queues nothing more");
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.outbox_due("refund", 10).len(), 1, "the refund survives a crash");
}

/// A crash between the cancellation's record and its refund's: the engine
/// queues the refund when it opens (the cancellation alone is logged here,
/// as the crash left it).
#[test]
fn a_cancellation_whose_refund_a_crash_cut_off_is_refunded_on_open() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (payment, order) = paid_order(&engine);
    let event = engine.event("test-event").unwrap();
    let (_, receipt) = event.inventory.cancel_order(order, Requester::Admin).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert!(engine.outbox_due("refund", 10).is_empty());
    let replayed = reopen(&storage, &clock);
    let due = replayed.outbox_due("refund", 10);
    assert_eq!(due.len(), 1, "queued on open");
    assert_eq!(&*due[0].idempotency_key, format!("refund-{payment}"));
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.outbox_due("refund", 10).len(), 1, "once");
}

/// Retention: a payment that ended without an order is forgotten 7 days
/// after it ended once its outbox entries are done, by a logged record
/// (replay forgets alike, through a snapshot too); an open or confirmed
/// one never is.
#[test]
fn settled_payments_are_forgotten_after_their_retention_and_only_those() {
    use guichet_engine::limits::PAYMENT_KEPT_AFTER_SETTLED_S;
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (_, cancelled) = checkout(&engine);
    engine.fail_payment(delivery(&cancelled, "evt_c"), true).unwrap();
    let (_, refunded) = checkout(&engine);
    engine.fail_payment(delivery(&refunded, "evt_c2"), true).unwrap();
    engine.confirm_payment(delivery(&refunded, "evt_s2")).unwrap();
    let (confirmed, _) = paid_order(&engine);
    clock.advance_ms(u64::from(PAYMENT_KEPT_AFTER_SETTLED_S) * 1000 - 1);
    assert_eq!(engine.forget_settled_payments().unwrap().0, 0, "not yet");
    clock.advance_ms(1);
    let (forgotten, receipt) = engine.forget_settled_payments().unwrap();
    assert_eq!(forgotten, 1, "the refunded one waits for its refund");
    engine.wait_durable(receipt).unwrap();
    assert!(engine.payment(&cancelled).is_none());
    assert!(engine.payment(&refunded).is_some() && engine.payment(&confirmed).is_some());
    let due = engine.outbox_due("refund", 10);
    engine.wait_durable(engine.outbox_attempted(due[0].id, Ok(()), false).unwrap()).unwrap();
    engine.snapshot().unwrap();
    let (forgotten, receipt) = engine.forget_settled_payments().unwrap();
    assert_eq!(forgotten, 1, "refund done: forgotten");
    engine.wait_durable(receipt).unwrap();
    let replayed = reopen(&storage, &clock);
    assert!(replayed.payment(&cancelled).is_none() && replayed.payment(&refunded).is_none());
    assert!(replayed.payment(&confirmed).is_some(), "a confirmed payment lives as long as its order");
    assert_eq!(replayed.forget_settled_payments().unwrap().0, 0);
}

/// A buyer cannot pile up payments under way: a hold released under its
/// payment still counts until the sweep ends the payment.
#[test]
fn a_buyer_has_at_most_so_many_payments_under_way() {
    use guichet_engine::limits::MAX_OPEN_PAYMENTS_PER_BUYER;
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let checkout_and_release = || {
        let placed = event.inventory.hold(BUYER, &best_in("A", 1)).unwrap();
        let started = engine.start_payment(&event, placed.hold.id, BUYER);
        event.inventory.release(placed.hold.id, Requester::Buyer(BUYER)).unwrap();
        started
    };
    for _ in 0..MAX_OPEN_PAYMENTS_PER_BUYER {
        checkout_and_release().unwrap();
    }
    let refused = checkout_and_release().unwrap_err();
    assert_eq!(refused.code(), "too_many_open_payments");
    let other = event.inventory.hold(BuyerId(4), &best_in("A", 1)).unwrap();
    assert!(engine.start_payment(&event, other.hold.id, BuyerId(4)).is_ok(), "per buyer");
    engine.expire_payments().unwrap();
    assert!(checkout_and_release().is_ok(), "the sweep ended the released holds' payments");
}

/// A cancellation whose refund could not be queued (an `outbox_full`
/// refusal after the cancellation was logged; here the cancellation alone
/// is logged, as that leaves it) is refunded by the periodic sweep, without
/// a restart.
#[test]
fn the_sweeper_queues_the_refund_a_cancellation_lacks() {
    use guichet_engine::limits::MISSING_REFUNDS_CHECK_EVERY_S;
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let (first, order) = paid_order(&engine);
    engine.wait_durable(event.inventory.cancel_order(order, Requester::Admin).unwrap().1).unwrap();
    swept(&engine);
    let due = engine.outbox_due("refund", 10);
    assert_eq!(due.len(), 1, "queued by the sweep");
    assert_eq!(&*due[0].idempotency_key, format!("refund-{first}"));
    let (second, order) = {
        let placed = event.inventory.hold(BuyerId(5), &best_in("B", 1)).unwrap();
        let (payment, _) = engine.start_payment(&event, placed.hold.id, BuyerId(5)).unwrap();
        let outcome = engine.confirm_payment(delivery(payment.id.as_str(), "evt_2")).unwrap();
        let ConfirmOutcome::Ordered { order, .. } = outcome else { panic!("{outcome:?}") };
        (payment.id.as_str().to_owned(), order.id)
    };
    engine.wait_durable(event.inventory.cancel_order(order, Requester::Admin).unwrap().1).unwrap();
    clock.advance_ms(u64::from(MISSING_REFUNDS_CHECK_EVERY_S) * 1000);
    swept(&engine);
    let keys: Vec<String> = engine.outbox_due("refund", 10).iter().map(|e| e.idempotency_key.to_string()).collect();
    assert!(keys.contains(&format!("refund-{second}")), "{keys:?}");
}

/// A cancellation reported for a hold the buyer's record no longer keeps
/// (it ended, and later holds pushed it out) still ends the payment, rather
/// than being refused (404) at every redelivery.
#[test]
fn a_cancellation_for_a_forgotten_hold_ends_the_payment() {
    use guichet_engine::limits::ENDED_HOLDS_KEPT_PER_BUYER;
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let (hold, payment) = checkout(&engine);
    event.inventory.release(hold, Requester::Buyer(BUYER)).unwrap();
    for _ in 0..=ENDED_HOLDS_KEPT_PER_BUYER {
        let placed = event.inventory.hold(BUYER, &best_in("A", 1)).unwrap();
        event.inventory.release(placed.hold.id, Requester::Buyer(BUYER)).unwrap();
    }
    assert!(event.inventory.hold_info(hold).is_none(), "the buyer's record forgot the hold");
    let outcome = engine.fail_payment(delivery(&payment, "evt_c"), true).unwrap();
    let ConfirmOutcome::Released { payment: ended, receipt } = outcome else { panic!("{outcome:?}") };
    assert_eq!(ended.state.name(), "cancelled");
    engine.wait_durable(receipt).unwrap();
    let replayed = reopen(&storage, &clock);
    assert_eq!(replayed.payment(&payment).unwrap().state.name(), "cancelled");
}

/// One sweep of the payments, once what it logged is durable (an outbox
/// entry is handed out only then).
fn swept(engine: &Engine) {
    engine.sweep_payments().unwrap();
    engine.wait_durable(engine.after_everything_logged(guichet_engine::commit::Receipt::NONE)).unwrap();
}
