//! Queueing email to a buyer: an outbox entry of kind [`EMAIL_KIND`] under
//! the message's own key, so asking twice sends once. The mail worker (in
//! the gateway) drains these entries; what it sends is decided when it
//! sends, from the order as it is then and the buyer's contact if it still
//! exists.
//!
//! Which orders get email: every order a payment made (confirmation,
//! cancellation, refund). Whether its buyer left an address is personal
//! data, known only when the message is composed; an order without one is
//! recorded done by the worker without sending. Orders made without a
//! payment (free events, invitations, a shop's sales) never had a checkout,
//! so no address: nothing is queued for them. A refund of money that came
//! too late made no order: no email (the buyer's contact is per order).
//!
//! Each email is queued right after the change it tells of, in its own
//! record; a crash between the two loses the email's record, so
//! [`Engine::queue_missing_emails`], run when the engine opens, queues the
//! email of every such change made within `EMAIL_CATCH_UP_S`. A full outbox
//! does not refuse the change the email is about (money moved; seats were
//! sold): the email is then not queued, and the error is logged.

use super::payments::{RefundRequest, REFUND_KIND};
use super::Engine;
use crate::commit::{Receipt, SinkError};
use crate::emails::{EmailMessage, EmailRequest, EMAIL_KIND};
use crate::event::{Event, EventNumber};
use crate::ids::OrderId;
use crate::inventory::OrderStatus;
use crate::limits::EMAIL_CATCH_UP_S;
use crate::outbox::{OutboxCounts, OutboxEntry, OutboxError, OutboxState};
use crate::payments::{PaymentBook, PaymentState};
use crate::store::CheckoutError;
use crate::time::UnixTimeMs;

impl Engine {
    /// Queues `request` (`None`: the same message was queued before).
    pub fn queue_email(&self, request: &EmailRequest) -> Result<Option<Receipt>, CheckoutError> {
        let payload = serde_json::to_vec(request).map_err(|_| OutboxError::PayloadTooLarge)?;
        let mut outbox = self.outbox.lock();
        match outbox.queue(EMAIL_KIND, &request.key(), payload, self.clock.now())? {
            Some(record) => Ok(Some(self.log_outbox(&mut outbox, &record)?)),
            None => Ok(None),
        }
    }

    /// The email entries by state (the metrics' and the dashboard's).
    pub fn email_counts(&self) -> OutboxCounts {
        self.outbox.lock().counts_of(EMAIL_KIND)
    }

    /// Queues `message` about `order` of `event`; what to await (`NONE`:
    /// queued before, or not queued because the outbox is full).
    pub(super) fn queue_order_email(
        &self,
        event: &Event,
        order: OrderId,
        message: EmailMessage,
    ) -> Result<Receipt, SinkError> {
        let request = EmailRequest { event: event.number.0, order, message };
        match self.queue_email(&request) {
            Ok(queued) => Ok(queued.unwrap_or(Receipt::NONE)),
            Err(CheckoutError::Log(error)) => Err(error),
            Err(error) => {
                tracing::error!(key = request.key(), "an email was not queued: {error}");
                Ok(Receipt::NONE)
            }
        }
    }

    /// Queues the notice that a payment's money went back, once `refund`
    /// (an outbox entry of a refund) is done, if the payment made an order
    /// (money that came too late made none).
    pub(super) fn queue_refunded_email(&self, refund: &OutboxEntry) -> Result<Receipt, SinkError> {
        let Some(payment_id) = refunded_payment(refund) else { return Ok(Receipt::NONE) };
        let made = self.payments.lock().get(&payment_id).map(|p| (p.event, p.state.clone()));
        let Some((event, PaymentState::Confirmed { order, .. })) = made else { return Ok(Receipt::NONE) };
        let Some(event) = self.event_by_number(EventNumber(event)) else { return Ok(Receipt::NONE) };
        self.queue_order_email(&event, order, EmailMessage::Refunded)
    }

    /// Queues the notice of a cancelled order, if a payment made it.
    pub(super) fn queue_cancelled_email(
        &self,
        book: &PaymentBook,
        event: &Event,
        order: OrderId,
        payment_ref: &str,
    ) -> Result<Receipt, SinkError> {
        let made_by_payment = book.get(payment_ref).is_some_and(|payment| {
            payment.event == event.number.0
                && matches!(payment.state, PaymentState::Confirmed { order: made, .. } if made == order)
        });
        if !made_by_payment {
            return Ok(Receipt::NONE);
        }
        self.queue_order_email(event, order, EmailMessage::Cancelled)
    }

    /// Queues the emails a crash cut off (see the module's doc); returns how many.
    pub(crate) fn queue_missing_emails(&self) -> Result<usize, SinkError> {
        let missing = self.missing_emails();
        for request in &missing {
            if let Some(event) = self.event_by_number(EventNumber(request.event)) {
                self.queue_order_email(&event, request.order, request.message.clone())?;
            }
        }
        Ok(missing.len())
    }

    /// The emails of changes made within `EMAIL_CATCH_UP_S` that have no
    /// outbox entry: confirmations of orders still standing, notices of
    /// cancellations and of refunds done.
    pub(crate) fn missing_emails(&self) -> Vec<EmailRequest> {
        let since = UnixTimeMs(self.clock.now().0.saturating_sub(u64::from(EMAIL_CATCH_UP_S) * 1000));
        let mut wanted = Vec::new();
        let book = self.payments.lock();
        for payment in book.iter() {
            let PaymentState::Confirmed { order, .. } = payment.state else { continue };
            let Some(event) = self.event_by_number(EventNumber(payment.event)) else { continue };
            let Some(order) = event.inventory.order(order) else { continue };
            let message = match (order.status, order.cancelled_at) {
                (OrderStatus::Confirmed, _) if order.created_at >= since => EmailMessage::Confirmation,
                (OrderStatus::Cancelled, Some(at)) if at >= since => EmailMessage::Cancelled,
                _ => continue,
            };
            wanted.push(EmailRequest { event: payment.event, order: order.id, message });
        }
        let outbox = self.outbox.lock();
        let refunds_done =
            outbox.all_of(REFUND_KIND).filter(|e| matches!(e.state, OutboxState::Done { at } if at >= since));
        for payment in refunds_done.filter_map(refunded_payment) {
            if let Some(made) = book.get(&payment) {
                if let PaymentState::Confirmed { order, .. } = made.state {
                    wanted.push(EmailRequest { event: made.event, order, message: EmailMessage::Refunded });
                }
            }
        }
        wanted.retain(|request| outbox.by_key(&request.key()).is_none());
        wanted
    }
}

/// The payment whose refund `entry` is, once the refund is done.
fn refunded_payment(entry: &OutboxEntry) -> Option<String> {
    if &*entry.kind != REFUND_KIND || !matches!(entry.state, OutboxState::Done { .. }) {
        return None;
    }
    serde_json::from_slice::<RefundRequest>(&entry.payload).ok().map(|request| request.payment_id)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::ids::BuyerId;
    use crate::inventory::HoldRequest;
    use crate::outbox::Outbox;
    use crate::store::{ConfirmOutcome, Confirmation, EngineOptions};
    use crate::wal::storage::MemoryStorage;

    const T0: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

    fn paid_spec() -> crate::spec::EventSpec {
        serde_json::from_value(serde_json::json!({
            "id": "paid", "name": "Paid", "venue": "Hall",
            "starts_at": "2027-01-01T20:00:00Z", "on_sale_at": "2026-12-01T15:00:00Z",
            "currency": "CAD", "payment": { "provider": "test" },
            "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
            "sections": [{"id": "GA", "name": "GA", "tier": "t", "capacity": 10}],
            "per_buyer_limit": 4, "hold_ttl_s": 60,
            "room": {"admit_per_minute": 60, "max_active": 10, "access_ttl_s": 300}
        }))
        .unwrap()
    }

    fn confirmed_order(engine: &Engine) -> OrderId {
        let (event, _) = engine.create_event(&paid_spec()).unwrap();
        let request = HoldRequest::BestInSection { section: "GA".into(), quantity: 1 };
        let placed = event.inventory.hold(BuyerId(1), &request).unwrap();
        let (payment, _) = engine.start_payment(&event, placed.hold.id, BuyerId(1)).unwrap();
        let delivery = Confirmation { payment: payment.id.as_str(), provider_event: None, provider_ref: None };
        let ConfirmOutcome::Ordered { order, receipt, .. } = engine.confirm_payment(delivery).unwrap() else {
            panic!("ordered")
        };
        engine.wait_durable(receipt).unwrap();
        order.id
    }

    /// The outbox as a crash right after the order's records leaves it:
    /// without the email's record.
    fn lose_the_email(engine: &Engine) {
        *engine.outbox.lock() = Outbox::default();
    }

    #[test]
    fn a_confirmation_a_crash_cut_off_is_queued_on_open_within_the_window() {
        let clock = Arc::new(ManualClock::new(T0));
        let storage = Arc::new(MemoryStorage::new());
        let (engine, _) = Engine::open(storage, EngineOptions::default(), clock.clone()).unwrap();
        let order = confirmed_order(&engine);
        assert!(engine.missing_emails().is_empty(), "queued with the order");
        lose_the_email(&engine);
        let confirmation = EmailRequest { event: 0, order, message: EmailMessage::Confirmation };
        assert_eq!(engine.missing_emails(), vec![confirmation.clone()]);
        assert_eq!(engine.queue_missing_emails().unwrap(), 1);
        assert!(engine.outbox.lock().by_key(&confirmation.key()).is_some());
        assert!(engine.missing_emails().is_empty(), "once");
        lose_the_email(&engine);
        clock.advance_ms(u64::from(EMAIL_CATCH_UP_S) * 1000 + 1);
        assert!(engine.missing_emails().is_empty(), "an order older than the window: perhaps sent, then forgotten");
    }
}
