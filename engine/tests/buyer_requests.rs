//! What buyers ask for by email: a cancellation's one-time confirmation
//! (queued as one email entry, its code signed when the message is written,
//! never in the log; limited per order) and "Find my order".
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::confirmations::ConfirmationError;
use guichet_engine::emails::{EmailMessage, EmailRequest, EMAIL_KIND};
use guichet_engine::event::Event;
use guichet_engine::ids::{BuyerId, OrderId};
use guichet_engine::inventory::{InventoryError, Requester};
use guichet_engine::limits::{
    CANCEL_CONFIRMATION_VALID_S, CANCEL_REQUEST_INTERVAL_S, MAX_CANCEL_REQUESTS_PER_ORDER,
    MAX_ORDER_LINK_EMAILS_PER_ORDER, ORDER_LINK_EMAIL_INTERVAL_S,
};
use guichet_engine::personal::PersonalData;
use guichet_engine::store::{BuyerRequestError, ConfirmOutcome, Confirmation, Engine, EngineOptions};
use guichet_engine::wal::storage::{MemoryStorage, Storage};

const BUYER: BuyerId = BuyerId(3);

const EMAIL: &str = "Ana.Levesque@example.org";

/// An engine with an event paid through the `test` provider whose buyers
/// may still cancel, and one order of `BUYER`'s, who gave an email address.
fn engine_with_order(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> (Engine, OrderId) {
    let (engine, _) = Engine::open(Arc::new(storage.clone()), EngineOptions::default(), clock.clone()).unwrap();
    let mut json = small_spec_json();
    json["starts_at"] = "2027-06-01T20:00:00Z".into();
    json["refund_until"] = "2027-05-01T00:00:00Z".into();
    json["payment"] = serde_json::json!({ "provider": "test" });
    let (event, receipt) = engine.create_event(&spec_from(json)).unwrap();
    engine.wait_durable(receipt).unwrap();
    let order = buy(&engine, &event, BUYER, Some(EMAIL));
    (engine, order)
}

/// A checkout by `buyer` (with `email` if given), confirmed: the order.
fn buy(engine: &Engine, event: &Event, buyer: BuyerId, email: Option<&str>) -> OrderId {
    let placed = event.inventory.hold(buyer, &best_in("A", 1)).unwrap();
    let (payment, receipt) = engine.start_payment(event, placed.hold.id, buyer).unwrap();
    engine.wait_durable(receipt).unwrap();
    if let Some(data) = PersonalData::checked(email.map(str::to_owned), None).unwrap() {
        engine.wait_durable(engine.keep_personal_data(&payment, &data).unwrap()).unwrap();
    }
    let confirmation = Confirmation { payment: payment.id.as_str(), provider_event: None, provider_ref: None };
    let ConfirmOutcome::Ordered { order, receipt, .. } = engine.confirm_payment(confirmation).unwrap() else {
        panic!("the confirmation makes the order")
    };
    engine.wait_durable(receipt).unwrap();
    order.id
}

fn reopen(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
    Engine::open(Arc::new(storage.crash(0)), EngineOptions::default(), clock.clone()).unwrap().0
}

/// The email entries due that a buyer's request queued (not the order's
/// own confirmation, queued when the payment made it), once all is durable
/// (an entry is handed out only then).
fn buyer_asked(engine: &Engine) -> Vec<guichet_engine::outbox::OutboxEntry> {
    let asked = |entry: &guichet_engine::outbox::OutboxEntry| {
        let request: EmailRequest = serde_json::from_slice(&entry.payload).unwrap();
        matches!(request.message, EmailMessage::CancelConfirmation { .. } | EmailMessage::OrderLink { .. })
    };
    engine.wait_durable(engine.after_everything_logged(guichet_engine::commit::Receipt::NONE)).unwrap();
    engine.outbox_due(EMAIL_KIND, 100).into_iter().filter(asked).collect()
}

#[test]
fn a_cancellation_request_queues_one_email_whose_code_is_nowhere_in_the_log() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let (nth, receipt) = engine.request_cancellation(&event, order, BUYER).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(nth, 1);
    let due = buyer_asked(&engine);
    assert_eq!(due.len(), 1, "exactly one email entry");
    let request: EmailRequest = serde_json::from_slice(&due[0].payload).unwrap();
    assert_eq!(
        request,
        EmailRequest { event: event.number.0, order, message: EmailMessage::CancelConfirmation { nth } }
    );
    let code = engine.cancel_confirmation_code(&event, order, nth).unwrap();
    assert_eq!(engine.cancel_confirmation_code(&event, order, nth), Some(code.clone()), "the same on every ask");
    assert_eq!(engine.cancel_confirmation_code(&event, order, 2), None, "no second request yet");
    assert_eq!(engine.check_cancel_confirmation(&event, order, &code), Ok(()));
    let tag = code.rsplit('.').next().unwrap();
    for file in storage.list().unwrap() {
        let bytes = storage.contents(&file).unwrap();
        assert!(!bytes.windows(tag.len()).any(|w| w == tag.as_bytes()), "the code is in {file}");
    }
    let replayed = reopen(&storage, &clock);
    let event = replayed.event("test-event").unwrap();
    assert_eq!(replayed.cancel_confirmation_code(&event, order, 1), Some(code), "the same code after a crash");
}

#[test]
fn a_code_confirms_its_own_order_for_thirty_minutes() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let (nth, _) = engine.request_cancellation(&event, order, BUYER).unwrap();
    let code = engine.cancel_confirmation_code(&event, order, nth).unwrap();
    let other = OrderId(order.0 + 1);
    assert_eq!(engine.check_cancel_confirmation(&event, other, &code), Err(ConfirmationError::Invalid));
    assert_eq!(engine.check_cancel_confirmation(&event, order, "1.1.9999999999.AAAA"), Err(ConfirmationError::Invalid));
    clock.advance_ms(u64::from(CANCEL_CONFIRMATION_VALID_S) * 1000 - 1000);
    assert_eq!(engine.check_cancel_confirmation(&event, order, &code), Ok(()), "a second before it expires");
    clock.advance_ms(1000);
    assert_eq!(engine.check_cancel_confirmation(&event, order, &code), Err(ConfirmationError::Expired));
}

#[test]
fn requests_are_spaced_and_counted_per_order() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    engine.request_cancellation(&event, order, BUYER).unwrap();
    let too_soon = engine.request_cancellation(&event, order, BUYER).unwrap_err();
    assert!(
        matches!(too_soon, BuyerRequestError::CancelRequestTooSoon { retry_after_s } if retry_after_s == u64::from(CANCEL_REQUEST_INTERVAL_S)),
        "{too_soon:?}"
    );
    for nth in 2..=MAX_CANCEL_REQUESTS_PER_ORDER {
        clock.advance_ms(u64::from(CANCEL_REQUEST_INTERVAL_S) * 1000);
        let (made, receipt) = engine.request_cancellation(&event, order, BUYER).unwrap();
        assert_eq!(made, nth);
        engine.wait_durable(receipt).unwrap();
    }
    clock.advance_ms(u64::from(CANCEL_REQUEST_INTERVAL_S) * 1000);
    let exhausted = engine.request_cancellation(&event, order, BUYER).unwrap_err();
    assert_eq!(exhausted.code(), "cancel_requests_exhausted");
    let last = engine.cancel_confirmation_code(&event, order, MAX_CANCEL_REQUESTS_PER_ORDER).unwrap();
    let first = engine.cancel_confirmation_code(&event, order, 1).unwrap();
    assert_eq!(engine.check_cancel_confirmation(&event, order, &last), Ok(()));
    assert_eq!(engine.check_cancel_confirmation(&event, order, &first), Ok(()), "any unexpired code of the order");
    let replayed = reopen(&storage, &clock);
    let event = replayed.event("test-event").unwrap();
    assert_eq!(replayed.request_cancellation(&event, order, BUYER).unwrap_err().code(), "cancel_requests_exhausted");
}

#[test]
fn only_an_order_its_buyer_may_still_cancel_gets_a_confirmation() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let refused = |buyer, order| engine.request_cancellation(&event, order, buyer).unwrap_err().code();
    assert_eq!(refused(BuyerId(4), order), "not_yours");
    assert_eq!(refused(BUYER, OrderId(order.0 + 1)), "unknown_order");
    let (_, receipt) = engine.cancel_order(&event, order, Requester::Buyer(BUYER)).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(refused(BUYER, order), "order_cancelled");
    assert!(buyer_asked(&engine).is_empty(), "no email queued");

    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    clock.set(event.valid.refund_until.unwrap());
    let late = engine.request_cancellation(&event, order, BUYER).unwrap_err();
    assert!(matches!(late, BuyerRequestError::Inventory(InventoryError::RefundPeriodOver)), "{late:?}");
}

#[test]
fn an_order_without_an_email_address_gets_no_confirmation() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, _) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let silent = buy(&engine, &event, BuyerId(4), None);
    assert_eq!(engine.request_cancellation(&event, silent, BuyerId(4)).unwrap_err().code(), "no_buyer_email");
    assert!(buyer_asked(&engine).is_empty());
}

#[test]
fn find_my_order_queues_the_link_only_for_the_buyers_own_address() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, order) = engine_with_order(&storage, &clock);
    let event = engine.event("test-event").unwrap();
    let silent = buy(&engine, &event, BuyerId(4), None);
    assert_eq!(engine.request_order_link(Some(&event), order, "someone@example.org").unwrap(), None);
    assert_eq!(engine.request_order_link(Some(&event), silent, EMAIL).unwrap(), None, "no address given");
    assert_eq!(engine.request_order_link(None, order, EMAIL).unwrap(), None, "no such event");
    assert_eq!(engine.request_order_link(Some(&event), OrderId(999), EMAIL).unwrap(), None);
    assert_eq!(engine.request_order_link(Some(&event), silent, "").unwrap(), None);
    assert!(buyer_asked(&engine).is_empty());

    let receipt = engine.request_order_link(Some(&event), order, " ana.LEVESQUE@example.org ").unwrap();
    engine.wait_durable(receipt.expect("the buyer's own address, in another case")).unwrap();
    let due = buyer_asked(&engine);
    assert_eq!(due.len(), 1);
    let request: EmailRequest = serde_json::from_slice(&due[0].payload).unwrap();
    assert_eq!(request.message, EmailMessage::OrderLink { nth: 1 });
    assert!(
        !String::from_utf8_lossy(&due[0].payload).to_lowercase().contains("example.org"),
        "no address in the entry"
    );
    assert_eq!(engine.request_order_link(Some(&event), order, EMAIL).unwrap(), None, "not again so soon");
    for nth in 2..=MAX_ORDER_LINK_EMAILS_PER_ORDER {
        clock.advance_ms(u64::from(ORDER_LINK_EMAIL_INTERVAL_S) * 1000);
        assert!(engine.request_order_link(Some(&event), order, EMAIL).unwrap().is_some(), "link {nth}");
    }
    clock.advance_ms(u64::from(ORDER_LINK_EMAIL_INTERVAL_S) * 1000);
    assert_eq!(engine.request_order_link(Some(&event), order, EMAIL).unwrap(), None, "the order's last link was sent");
    assert_eq!(buyer_asked(&engine).len(), MAX_ORDER_LINK_EMAILS_PER_ORDER as usize);
}
