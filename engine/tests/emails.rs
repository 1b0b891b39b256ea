//! Email through the outbox: a payment's order queues its confirmation (the
//! webhook's answer waits on it), a cancellation its notice, a refund done
//! its notice; each once, whatever asks again; and no entry is handed to a
//! sender before its record is durable.
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::emails::{EmailMessage, EmailRequest, EMAIL_KIND};
use guichet_engine::ids::{BuyerId, OrderId};
use guichet_engine::inventory::Requester;
use guichet_engine::store::{ConfirmOutcome, Confirmation, Engine, EngineOptions};
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

/// A hold paid and confirmed: (the payment, the order, the answer's receipt).
fn paid_order(engine: &Engine) -> (String, OrderId, guichet_engine::commit::Receipt) {
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BUYER, &best_in("A", 2)).unwrap();
    let (payment, receipt) = engine.start_payment(&event, placed.hold.id, BUYER).unwrap();
    engine.wait_durable(receipt).unwrap();
    let payment = payment.id.as_str().to_owned();
    let delivery = Confirmation { payment: &payment, provider_event: Some("evt_s"), provider_ref: Some("pi_1") };
    let ConfirmOutcome::Ordered { order, receipt, .. } = engine.confirm_payment(delivery).unwrap() else {
        panic!("the confirmation makes the order")
    };
    (payment, order.id, receipt)
}

fn emails_due(engine: &Engine) -> Vec<EmailRequest> {
    let due = engine.outbox_due(EMAIL_KIND, 100);
    due.iter().map(|entry| serde_json::from_slice(&entry.payload).unwrap()).collect()
}

#[test]
fn a_paid_order_queues_its_confirmation_once_and_the_answer_waits_on_it() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (payment, order, receipt) = paid_order(&engine);
    let entry = engine.outbox_due(EMAIL_KIND, 100).pop();
    assert!(entry.is_none() || engine.is_durable(receipt), "not handed out before durable");
    engine.wait_durable(receipt).unwrap();
    let email = EmailRequest { event: 0, order, message: EmailMessage::Confirmation };
    assert_eq!(emails_due(&engine), vec![email.clone()], "the answer's receipt covers the email's record");
    let again = Confirmation { payment: &payment, provider_event: Some("evt_again"), provider_ref: Some("pi_1") };
    assert!(matches!(engine.confirm_payment(again).unwrap(), ConfirmOutcome::Ordered { created: false, .. }));
    assert_eq!(engine.outbox_counts().pending, 1, "one confirmation per order");
    let replayed = Engine::open(Arc::new(storage.crash(0)), EngineOptions::default(), clock.clone()).unwrap().0;
    assert_eq!(emails_due(&replayed), vec![email], "the queued email survives a crash, once");
}

#[test]
fn a_cancellation_and_its_refund_each_queue_their_notice() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let (_, order, receipt) = paid_order(&engine);
    engine.wait_durable(receipt).unwrap();
    let event = engine.event("test-event").unwrap();
    let (_, receipt) = engine.cancel_order(&event, order, Requester::Admin).unwrap();
    engine.wait_durable(receipt).unwrap();
    let message = |message| EmailRequest { event: 0, order, message };
    let sent = [message(EmailMessage::Confirmation), message(EmailMessage::Cancelled)];
    assert_eq!(emails_due(&engine), sent, "the answer's receipt covers the notice's record");
    let refund = engine.outbox_due("refund", 10).pop().unwrap();
    let receipt = engine.outbox_attempted(refund.id, Err("503".into()), false).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(emails_due(&engine).len(), 2, "a failed refund attempt tells the buyer nothing");
    clock.advance_ms(60_000);
    let receipt = engine.outbox_attempted(refund.id, Ok(()), false).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(emails_due(&engine).last(), Some(&message(EmailMessage::Refunded)));
    let (_, receipt) = engine.cancel_order(&event, order, Requester::Admin).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(emails_due(&engine).len(), 3, "cancelling again queues nothing more");
}

#[test]
fn an_order_without_a_payment_queues_no_email() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let (engine, _) = Engine::open(Arc::new(storage), EngineOptions::default(), clock).unwrap();
    let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    let placed = event.inventory.hold(BUYER, &best_in("A", 1)).unwrap();
    let bought = event.inventory.purchase(placed.hold.id, Requester::Buyer(BUYER), "k", "cash").unwrap();
    engine.cancel_order(&event, bought.order.id, Requester::Admin).unwrap();
    engine.wait_durable(engine.after_everything_logged(Default::default())).unwrap();
    assert_eq!(engine.outbox_counts(), Default::default(), "no checkout, no address: nothing queued");
}

/// An email whose record is logged but not yet durable is not handed to
/// the sender: a crash could still take the record back, and the message
/// would then be about a change the log never kept.
#[test]
fn an_email_is_not_due_until_its_record_is_durable() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let request = EmailRequest { event: 0, order: OrderId(1), message: EmailMessage::OrderLink { nth: 1 } };
    storage.hold_syncs();
    let held = SyncsHeld(&storage);
    let receipt = engine.queue_email(&request).unwrap().unwrap();
    assert!(!engine.is_durable(receipt));
    assert!(engine.outbox_due(EMAIL_KIND, 10).is_empty(), "logged, not durable: not due");
    assert_eq!(engine.outbox_counts().pending, 1, "but counted as pending");
    drop(held);
    engine.wait_durable(receipt).unwrap();
    assert_eq!(emails_due(&engine), vec![request]);
}

/// Lets the log sync again when dropped, a failed assertion included (the
/// engine's log would otherwise wait for it forever when dropped).
struct SyncsHeld<'a>(&'a MemoryStorage);

impl Drop for SyncsHeld<'_> {
    fn drop(&mut self) {
        self.0.release_syncs();
    }
}
