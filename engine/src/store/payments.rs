//! The engine's side of payments: a checkout starts a payment for a live
//! hold (and extends the hold while it is under way); the provider's
//! confirmation buys the hold through the same purchase as today (the
//! payment id is the order's `payment_ref`, and the purchase's idempotency
//! key derives from it, so a repeated confirmation finds the same order); a
//! failure releases the hold; money that comes too late is refunded through
//! the outbox. The rules for each state and delivery are in
//! [`crate::payments`]. Lock order: the payments, then an event's
//! inventory, then the outbox; every record is logged under the locks of the
//! part it changes, then applied.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::commit::{Receipt, SinkError};
use crate::emails::EmailMessage;
use crate::event::{Event, EventNumber, WalRecordRef};
use crate::ids::{BuyerId, HoldId};
use crate::inventory::{InventoryError, Order, Requester};
use crate::limits::{
    MAX_HOLD_WITH_PAYMENT_S, MAX_OPEN_PAYMENTS_PER_BUYER, MAX_PROVIDER_ID_LEN, PAYMENT_HOLD_EXTENSION_S,
};
use crate::outbox::{Outbox, OutboxCounts, OutboxEntry, OutboxEntryId, OutboxError, OutboxRecord};
use crate::payments::{Payment, PaymentBook, PaymentError, PaymentId, PaymentRecord, PaymentState};
use crate::personal::PersonalError;
use crate::spec::ProviderKind;

/// The outbox kind of a refund; its payload is a JSON [`RefundRequest`].
pub const REFUND_KIND: &str = "refund";

/// What a refund entry asks of the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub payment_id: String,
    pub provider: ProviderKind,
    /// The provider's payment (a PaymentIntent id) to refund.
    pub provider_ref: Option<String>,
    pub amount_cents: u64,
    pub currency: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Log(#[from] SinkError),
    #[error(transparent)]
    Personal(#[from] PersonalError),
}

impl CheckoutError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckoutError::Payment(error) => error.code(),
            CheckoutError::Inventory(error) => error.code(),
            CheckoutError::Outbox(error) => error.code(),
            CheckoutError::Log(error) => error.code(),
            CheckoutError::Personal(error) => error.code(),
        }
    }
}

/// A provider's word on a payment, from a webhook delivery or the test page.
#[derive(Clone, Copy, Debug)]
pub struct Confirmation<'a> {
    pub payment: &'a str,
    /// The delivery's event id (none for the test page): a duplicate changes nothing.
    pub provider_event: Option<&'a str>,
    /// The provider's payment (a PaymentIntent id), for a refund.
    pub provider_ref: Option<&'a str>,
}

/// What a delivery did; every outcome is answered 2xx once `receipt` is durable.
#[derive(Clone, Debug)]
pub enum ConfirmOutcome {
    /// The provider's event id was seen before: nothing changed.
    Duplicate,
    /// Not a payment of ours (another integration's): nothing changed.
    UnknownPayment,
    /// The order the payment made (`created` false: made by an earlier delivery).
    Ordered { event: Arc<Event>, order: Order, created: bool, receipt: Receipt },
    /// The payment was already settled, or this delivery does not change it.
    Unchanged { payment: Payment, receipt: Receipt },
    /// Failed or cancelled: the hold is released.
    Released { payment: Payment, receipt: Receipt },
    /// A card was declined: the payment stays open, its hold kept.
    Declined { payment: Payment, receipt: Receipt },
    /// The money came too late: a refund is queued.
    Refunding { payment: Payment, receipt: Receipt },
}

impl Engine {
    /// Starts the payment of a live hold of `buyer` (or answers the one under
    /// way), extending the hold to `PAYMENT_HOLD_EXTENSION_S` from now, never
    /// past `MAX_HOLD_WITH_PAYMENT_S` after it was placed.
    pub fn start_payment(
        &self,
        event: &Event,
        hold: HoldId,
        buyer: BuyerId,
    ) -> Result<(Payment, Receipt), CheckoutError> {
        let provider = event.valid.spec.payment_provider().ok_or(PaymentError::NoProvider)?;
        let mut book = self.payments.lock();
        let held = event.inventory.hold_info(hold).ok_or(InventoryError::UnknownHold)?;
        if held.buyer != buyer {
            return Err(InventoryError::NotYours.into());
        }
        if let Some(existing) = book.for_hold(event.number.0, hold) {
            return match existing.state {
                ref open if open.is_open() => Ok((existing.clone(), self.after_everything_logged(Receipt::NONE))),
                ref other => Err(PaymentError::PaymentNotPending { state: other.name() }.into()),
            };
        }
        if book.is_full() {
            return Err(PaymentError::TooManyPayments.into());
        }
        if book.open_for_buyer(event.number.0, buyer) >= MAX_OPEN_PAYMENTS_PER_BUYER {
            return Err(PaymentError::TooManyOpenPayments.into());
        }
        let now = self.clock.now();
        let until = now.plus_s(PAYMENT_HOLD_EXTENSION_S).min(held.created_at.plus_s(MAX_HOLD_WITH_PAYMENT_S));
        let (held, _) = event.inventory.extend_hold(hold, until)?;
        let mut random = [0; 16];
        self.options.entropy.fill(&mut random);
        let payment = Payment {
            id: PaymentId::from_random(random),
            event: event.number.0,
            hold,
            buyer,
            provider,
            amount_cents: held.total_cents,
            currency: event.valid.spec.currency.as_str().into(),
            started_at: now,
            provider_ref: None,
            state: PaymentState::Pending,
        };
        let receipt = self.log_payment(&mut book, PaymentRecord::Started { payment: payment.clone() })?;
        Ok((payment, receipt))
    }

    /// The provider says the payment succeeded: the order is made, or (the
    /// hold ended, or the payment had failed) the money is refunded.
    pub fn confirm_payment(&self, confirmation: Confirmation<'_>) -> Result<ConfirmOutcome, CheckoutError> {
        check_provider_ids(&confirmation)?;
        let mut book = self.payments.lock();
        let Some((payment, event)) = self.delivery_target(&book, &confirmation) else {
            return Ok(self.seen_outcome(&book, &confirmation));
        };
        match payment.state {
            PaymentState::Pending | PaymentState::Declined { .. } => {
                self.buy_or_refund(&mut book, &event, payment, &confirmation)
            }
            PaymentState::Failed { .. } | PaymentState::Expired { .. } => {
                self.queue_refund(&mut book, payment, &confirmation)
            }
            PaymentState::Confirmed { order, .. } => match event.inventory.order(order) {
                Some(order) => Ok(ConfirmOutcome::Ordered { event, receipt: order.receipt, order, created: false }),
                None => Ok(ConfirmOutcome::Unchanged { payment, receipt: Receipt::NONE }),
            },
            PaymentState::Refunding { .. } => self.unchanged(&mut book, payment, &confirmation),
        }
    }

    /// The provider says the payment failed for good (`cancelled`: it was
    /// cancelled): an open payment's hold is released; otherwise nothing
    /// changes. (A declined card is not this: see `decline_payment`.)
    pub fn fail_payment(
        &self,
        confirmation: Confirmation<'_>,
        cancelled: bool,
    ) -> Result<ConfirmOutcome, CheckoutError> {
        check_provider_ids(&confirmation)?;
        let mut book = self.payments.lock();
        let Some((payment, event)) = self.delivery_target(&book, &confirmation) else {
            return Ok(self.seen_outcome(&book, &confirmation));
        };
        if !payment.state.is_open() {
            return self.unchanged(&mut book, payment, &confirmation);
        }
        match event.inventory.release(payment.hold, Requester::Admin) {
            Ok(_) => {}
            // The buyer's record forgot the hold (it ended long ago): its
            // seats are free already, and the payment ends all the same.
            Err(InventoryError::UnknownHold) => {}
            // Bought by a confirmation whose own record a crash lost: the
            // order stands, and a redelivered success records it.
            Err(InventoryError::HoldNotActive { .. }) => {
                return Ok(ConfirmOutcome::Unchanged { payment, receipt: Receipt::NONE })
            }
            Err(error) => return Err(error.into()),
        }
        let record = PaymentRecord::Failed {
            payment: payment.id.clone(),
            at: self.clock.now(),
            cancelled,
            provider_event: confirmation.provider_event.map(Into::into),
        };
        let receipt = self.log_payment(&mut book, record)?;
        let payment = book.get(payment.id.as_str()).cloned().unwrap_or(payment);
        Ok(ConfirmOutcome::Released { payment, receipt })
    }

    pub fn payment(&self, id: &str) -> Option<Payment> {
        self.payments.lock().get(id).cloned()
    }

    pub fn payment_for_hold(&self, event: &Event, hold: HoldId) -> Option<Payment> {
        self.payments.lock().for_hold(event.number.0, hold).cloned()
    }

    /// A payment's refund entry in the outbox, if it has one.
    pub fn refund_of(&self, payment: &Payment) -> Option<OutboxEntry> {
        self.outbox.lock().by_key(&payment.id.refund_key()).cloned()
    }

    /// Outbox entries of `kind` whose attempt is due, oldest first; only
    /// entries whose `Queued` record is durable, so nothing leaves for an
    /// entry a crash could still take back.
    pub fn outbox_due(&self, kind: &str, max: usize) -> Vec<OutboxEntry> {
        let durable = self.durable_so_far();
        self.outbox.lock().due(kind, self.clock.now(), durable, max)
    }

    /// Records an attempt's outcome (a failure is retried with backoff;
    /// `permanent`: the other side refused for good).
    pub fn outbox_attempted(
        &self,
        id: OutboxEntryId,
        result: Result<(), String>,
        permanent: bool,
    ) -> Result<Receipt, SinkError> {
        let mut outbox = self.outbox.lock();
        let now = self.clock.now();
        let record = match result {
            Err(error) if permanent => outbox.refused(id, now, error),
            result => outbox.attempted(id, now, result),
        };
        let Some(record) = record else { return Ok(Receipt::NONE) };
        let receipt = self.log_outbox(&mut outbox, &record)?;
        let refund = outbox.get(id).filter(|entry| &*entry.kind == REFUND_KIND).cloned();
        drop(outbox);
        match refund {
            Some(refund) => Ok(self.queue_refunded_email(&refund)?.max(receipt)),
            None => Ok(receipt),
        }
    }

    pub fn outbox_counts(&self) -> OutboxCounts {
        self.outbox.lock().counts()
    }

    /// The payment and event a delivery is about, unless it is a duplicate
    /// or names no payment of ours.
    pub(super) fn delivery_target(
        &self,
        book: &PaymentBook,
        confirmation: &Confirmation<'_>,
    ) -> Option<(Payment, Arc<Event>)> {
        if confirmation.provider_event.is_some_and(|id| book.has_seen(id)) {
            return None;
        }
        let payment = book.get(confirmation.payment)?.clone();
        let event = self.event_by_number(EventNumber(payment.event))?;
        Some((payment, event))
    }

    pub(super) fn seen_outcome(&self, book: &PaymentBook, confirmation: &Confirmation<'_>) -> ConfirmOutcome {
        match confirmation.provider_event {
            Some(id) if book.has_seen(id) => ConfirmOutcome::Duplicate,
            _ => ConfirmOutcome::UnknownPayment,
        }
    }

    fn buy_or_refund(
        &self,
        book: &mut PaymentBook,
        event: &Arc<Event>,
        payment: Payment,
        confirmation: &Confirmation<'_>,
    ) -> Result<ConfirmOutcome, CheckoutError> {
        let id = payment.id.clone();
        let bought = event.purchase(payment.hold, Requester::Buyer(payment.buyer), &id.purchase_key(), id.as_str());
        let purchase = match bought {
            Ok(purchase) => purchase,
            Err(InventoryError::Log(error)) => return Err(error.into()),
            // The hold ended (or cannot become an order): the money goes back.
            Err(_) => return self.queue_refund(book, payment, confirmation),
        };
        let record = PaymentRecord::Confirmed {
            payment: id,
            order: purchase.order.id,
            at: self.clock.now(),
            provider_event: confirmation.provider_event.map(Into::into),
            provider_ref: confirmation.provider_ref.map(Into::into),
        };
        let receipt = self.log_payment(book, record)?;
        let emailed = self.queue_order_email(event, purchase.order.id, EmailMessage::Confirmation)?;
        let receipt = receipt.max(emailed);
        Ok(ConfirmOutcome::Ordered { event: event.clone(), order: purchase.order, created: purchase.created, receipt })
    }

    /// Queues the payment's refund (once: its key is the payment's), then
    /// marks the payment refunding. The outbox record comes first, so a
    /// crash between the two leaves a refund queued and the payment still
    /// open to the provider's redelivery, which then finds the refund queued.
    fn queue_refund(
        &self,
        book: &mut PaymentBook,
        payment: Payment,
        confirmation: &Confirmation<'_>,
    ) -> Result<ConfirmOutcome, CheckoutError> {
        let now = self.clock.now();
        let provider_ref =
            confirmation.provider_ref.map(str::to_owned).or(payment.provider_ref.as_deref().map(Into::into));
        self.queue_refund_entry(&payment, provider_ref.clone())?;
        let record = PaymentRecord::RefundQueued {
            payment: payment.id.clone(),
            at: now,
            provider_event: confirmation.provider_event.map(Into::into),
            provider_ref: provider_ref.map(Into::into),
        };
        let receipt = self.log_payment(book, record)?;
        let payment = book.get(payment.id.as_str()).cloned().unwrap_or(payment);
        Ok(ConfirmOutcome::Refunding { payment, receipt })
    }

    /// Queues the refund of all of `payment` in the outbox under its stable
    /// key (`None`: an entry with that key was queued before).
    pub(super) fn queue_refund_entry(
        &self,
        payment: &Payment,
        provider_ref: Option<String>,
    ) -> Result<Option<Receipt>, CheckoutError> {
        let request = RefundRequest {
            payment_id: payment.id.as_str().into(),
            provider: payment.provider,
            provider_ref,
            amount_cents: payment.amount_cents,
            currency: payment.currency.to_string(),
        };
        let payload = serde_json::to_vec(&request).expect("a refund request serialises");
        let mut outbox = self.outbox.lock();
        let queued = match outbox.queue(REFUND_KIND, &payment.id.refund_key(), payload, self.clock.now()) {
            Ok(queued) => queued,
            Err(error) => {
                // The next sweep looks again (a cancellation logged before it keeps its place).
                self.note_refund_refused();
                return Err(error.into());
            }
        };
        match queued {
            Some(record) => Ok(Some(self.log_outbox(&mut outbox, &record)?)),
            None => Ok(None),
        }
    }

    /// A delivery that changes nothing; its event id is remembered so its
    /// retries are answered at once.
    pub(super) fn unchanged(
        &self,
        book: &mut PaymentBook,
        payment: Payment,
        confirmation: &Confirmation<'_>,
    ) -> Result<ConfirmOutcome, CheckoutError> {
        let receipt = match confirmation.provider_event {
            Some(id) => {
                self.log_payment(book, PaymentRecord::EventSeen { provider_event: id.into(), at: self.clock.now() })?
            }
            None => Receipt::NONE,
        };
        Ok(ConfirmOutcome::Unchanged { payment, receipt })
    }

    pub(super) fn log_payment(&self, book: &mut PaymentBook, record: PaymentRecord) -> Result<Receipt, SinkError> {
        let receipt = self.log.submit(&WalRecordRef::Payment { record: &record })?;
        if let Err(error) = book.apply(&record) {
            panic!("apply refused a payment change the engine had checked ({error}); record: {record:?}");
        }
        Ok(receipt)
    }

    pub(super) fn log_outbox(&self, outbox: &mut Outbox, record: &OutboxRecord) -> Result<Receipt, SinkError> {
        let receipt = self.log.submit(&WalRecordRef::Outbox { record })?;
        if let Err(error) = outbox.apply(record) {
            panic!("apply refused an outbox change the engine had checked ({error}); record: {record:?}");
        }
        if let OutboxRecord::Queued { id, .. } = record {
            outbox.note_queued_at(*id, receipt);
        }
        Ok(receipt)
    }

    /// Replay of a payment record (unless the snapshot's section holds it).
    pub(crate) fn replay_payment(&self, record: &PaymentRecord) -> Result<(), String> {
        self.payments.lock().apply(record).map_err(|e| e.0)
    }

    pub(crate) fn replay_outbox(&self, record: &OutboxRecord) -> Result<(), String> {
        self.outbox.lock().apply(record).map_err(|e| e.0)
    }

    pub(crate) fn restore_payments(&self, bytes: &[u8]) -> Result<(), String> {
        let snapshot = crate::codec::decode(bytes).map_err(|e| format!("payments section: {e}"))?;
        *self.payments.lock() = PaymentBook::restore(snapshot);
        Ok(())
    }

    pub(crate) fn restore_outbox(&self, bytes: &[u8]) -> Result<(), String> {
        let outbox: Outbox = crate::codec::decode(bytes).map_err(|e| format!("outbox section: {e}"))?;
        *self.outbox.lock() = outbox.restored();
        Ok(())
    }
}

pub(super) fn check_provider_ids(confirmation: &Confirmation<'_>) -> Result<(), PaymentError> {
    let ok =
        |id: &str| !id.is_empty() && id.len() <= MAX_PROVIDER_ID_LEN && id.bytes().all(|b| (0x21..0x7f).contains(&b));
    let all = [Some(confirmation.payment), confirmation.provider_event, confirmation.provider_ref];
    if all.into_iter().flatten().all(ok) {
        Ok(())
    } else {
        Err(PaymentError::BadProviderId)
    }
}
