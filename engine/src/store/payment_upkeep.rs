//! What happens to a payment between its checkout and its end, besides the
//! confirmation (`payments`): the provider's own id for it, named at
//! checkout; a declined card, which keeps the payment open (the provider
//! lets the buyer try another card on the same payment); and the sweep that
//! ends open payments whose hold ended, cancelling them at the provider
//! through the outbox, so a card is never charged for seats the buyer no
//! longer holds (and if it is, the success is refunded); and the retention
//! that forgets settled payments. Lock order as in [`super::payments`]: the
//! payments, then an event's inventory, then the outbox.
//!
//! What retention keeps, and why:
//! - an open payment (pending, declined): the buyer is still paying;
//! - a confirmed payment, as long as its order exists (the inventory keeps
//!   orders for good): staff may cancel an order at any time, and that
//!   cancellation owes the refund, which needs the payment's provider,
//!   PaymentIntent and amount; the order's answers show the refund through
//!   it too. So a confirmed payment costs what its order does, bounded by
//!   the seats sold, and is never forgotten;
//! - a payment that ended without an order (failed, cancelled, expired,
//!   refunded): until `PAYMENT_KEPT_AFTER_SETTLED_S` after it ended (past
//!   Stripe's 3 days of webhook retries, so a late success still finds it
//!   and is refunded), and only once its outbox entries (its refund, its
//!   cancellation at the provider) are done: a pending one still needs it,
//!   and a failed one waits for an operator. Then a `Forgotten` record
//!   names it, so replay forgets alike.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::payments::{check_provider_ids, CheckoutError, ConfirmOutcome, Confirmation};
use super::Engine;
use crate::commit::Receipt;
use crate::event::EventNumber;
use crate::inventory::HoldStatus;
use crate::limits::{
    MAX_DECLINE_REASON_LEN, MAX_PAYMENTS_EXPIRED_PER_SWEEP, MAX_PAYMENTS_FORGOTTEN_PER_SWEEP,
    MISSING_REFUNDS_CHECK_EVERY_S, PAYMENT_KEPT_AFTER_SETTLED_S,
};
use crate::outbox::OutboxState;
use crate::payments::{Payment, PaymentBook, PaymentError, PaymentId, PaymentRecord};
use crate::spec::ProviderKind;
use crate::time::UnixTimeMs;

/// The outbox kind of a cancellation at the provider; its payload is a
/// JSON [`CancelRequest`].
pub const CANCEL_KIND: &str = "cancel_payment";

/// What a cancellation entry asks of the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub payment_id: String,
    pub provider: ProviderKind,
    /// The provider's payment (a PaymentIntent id) to cancel.
    pub provider_ref: String,
}

/// The reason shown for a decline a provider gave none (or one we do not keep).
pub const UNSAID_DECLINE_REASON: &str = "declined";

impl Engine {
    /// Records the provider's id for a payment (the PaymentIntent its
    /// checkout made); deliveries are then checked against it. Naming the
    /// same id again changes nothing; another id is refused.
    pub fn name_provider_ref(&self, payment: &str, provider_ref: &str) -> Result<Receipt, CheckoutError> {
        let ids = Confirmation { payment, provider_event: None, provider_ref: Some(provider_ref) };
        check_provider_ids(&ids)?;
        let mut book = self.payments.lock();
        let found = book.get(payment).ok_or(PaymentError::UnknownPayment)?;
        match found.provider_ref.as_deref() {
            Some(named) if named == provider_ref => Ok(self.after_everything_logged(Receipt::NONE)),
            Some(_) => Err(PaymentError::ProviderRefMismatch.into()),
            None => {
                let record =
                    PaymentRecord::ProviderRefNamed { payment: found.id.clone(), provider_ref: provider_ref.into() };
                Ok(self.log_payment(&mut book, record)?)
            }
        }
    }

    /// The provider declined a card (`reason`: its decline code, if any): an
    /// open payment stays open and its hold is kept, with the reason shown,
    /// so the buyer may try another card until the hold ends.
    pub fn decline_payment(
        &self,
        confirmation: Confirmation<'_>,
        reason: Option<&str>,
    ) -> Result<ConfirmOutcome, CheckoutError> {
        check_provider_ids(&confirmation)?;
        let mut book = self.payments.lock();
        let Some((payment, _)) = self.delivery_target(&book, &confirmation) else {
            return Ok(self.seen_outcome(&book, &confirmation));
        };
        if !payment.state.is_open() {
            return self.unchanged(&mut book, payment, &confirmation);
        }
        let record = PaymentRecord::Declined {
            payment: payment.id.clone(),
            at: self.clock.now(),
            reason: decline_reason(reason).into(),
            provider_event: confirmation.provider_event.map(Into::into),
        };
        let receipt = self.log_payment(&mut book, record)?;
        let payment = book.get(payment.id.as_str()).cloned().unwrap_or(payment);
        Ok(ConfirmOutcome::Declined { payment, receipt })
    }

    /// Ends the open payments whose hold ended (ran out, was released, or is
    /// forgotten), at most `MAX_PAYMENTS_EXPIRED_PER_SWEEP` a call: each is
    /// cancelled at the provider through the outbox, then marked expired.
    /// Returns how many, and what to await.
    pub fn expire_payments(&self) -> Result<(usize, Receipt), CheckoutError> {
        let mut book = self.payments.lock();
        let now = self.clock.now();
        let ended: Vec<Payment> = book
            .open_payments()
            .filter(|payment| self.hold_ended(payment, now))
            .take(MAX_PAYMENTS_EXPIRED_PER_SWEEP)
            .cloned()
            .collect();
        let mut last = Receipt::NONE;
        for payment in &ended {
            last = last.max(self.expire_payment(&mut book, payment, now)?);
        }
        Ok((ended.len(), last))
    }

    /// Forgets the payments that ended without an order long enough ago and
    /// whose outbox entries are done (the rule is this module's doc), at
    /// most `MAX_PAYMENTS_FORGOTTEN_PER_SWEEP` a call, in one record.
    pub fn forget_settled_payments(&self) -> Result<(usize, Receipt), CheckoutError> {
        let mut book = self.payments.lock();
        let now = self.clock.now();
        let Some(before) = now.0.checked_sub(u64::from(PAYMENT_KEPT_AFTER_SETTLED_S) * 1000) else {
            return Ok((0, Receipt::NONE));
        };
        let forgotten: Vec<PaymentId> = {
            let outbox = self.outbox.lock();
            let done =
                |key: String| outbox.by_key(&key).is_none_or(|entry| matches!(entry.state, OutboxState::Done { .. }));
            book.ended_before(UnixTimeMs(before))
                .filter(|payment| done(payment.id.refund_key()) && done(payment.id.cancel_key()))
                .take(MAX_PAYMENTS_FORGOTTEN_PER_SWEEP)
                .map(|payment| payment.id.clone())
                .collect()
        };
        if forgotten.is_empty() {
            return Ok((0, Receipt::NONE));
        }
        let count = forgotten.len();
        let receipt = self.log_payment(&mut book, PaymentRecord::Forgotten { payments: forgotten, at: now })?;
        Ok((count, receipt))
    }

    /// The sweeper's part for payments: open payments whose hold ended are
    /// expired, settled ones past their retention forgotten, and cancelled
    /// orders without their refund (an `outbox_full` refusal after the
    /// cancellation was logged, or a crash between the two) get it queued:
    /// at the next sweep after a refusal, else every
    /// `MISSING_REFUNDS_CHECK_EVERY_S` (the look goes through every payment).
    pub fn sweep_payments(&self) -> Result<(), CheckoutError> {
        self.expire_payments()?;
        self.forget_settled_payments()?;
        let now = self.clock.now().0;
        let checked = self.missing_refunds_checked_ms.load(Ordering::Relaxed);
        if checked == 0 || now >= checked + u64::from(MISSING_REFUNDS_CHECK_EVERY_S) * 1000 {
            self.missing_refunds_checked_ms.store(now.max(1), Ordering::Relaxed);
            let queued = self.queue_missing_refunds()?;
            if queued > 0 {
                tracing::warn!(queued, "queued the refunds of cancelled orders that had none");
            }
        }
        Ok(())
    }

    /// A refund could not be queued: the next sweep looks for it.
    pub(super) fn note_refund_refused(&self) {
        self.missing_refunds_checked_ms.store(0, Ordering::Relaxed);
    }

    /// Whether a payment's hold is over. A hold bought without its payment's
    /// record (a crash cut it off) is not: a redelivered success records it.
    fn hold_ended(&self, payment: &Payment, now: UnixTimeMs) -> bool {
        let Some(event) = self.event_by_number(EventNumber(payment.event)) else { return false };
        match event.inventory.hold_info(payment.hold) {
            None => true,
            Some(hold) => match hold.status {
                HoldStatus::Active => hold.expires_at <= now,
                HoldStatus::Purchased { .. } => false,
                HoldStatus::Released { .. } | HoldStatus::Expired { .. } => true,
            },
        }
    }

    /// The cancellation's outbox entry first, then the payment's record: a
    /// crash between the two leaves the payment open, and the next sweep
    /// finds the entry queued (same key) and records the expiry.
    fn expire_payment(
        &self,
        book: &mut PaymentBook,
        payment: &Payment,
        now: UnixTimeMs,
    ) -> Result<Receipt, CheckoutError> {
        let mut receipt = Receipt::NONE;
        if let (ProviderKind::Stripe, Some(provider_ref)) = (payment.provider, payment.provider_ref.as_deref()) {
            let request = CancelRequest {
                payment_id: payment.id.as_str().into(),
                provider: payment.provider,
                provider_ref: provider_ref.into(),
            };
            receipt = self.queue_cancel_entry(&payment.id, &request)?.unwrap_or(Receipt::NONE);
        }
        let expired = self.log_payment(book, PaymentRecord::Expired { payment: payment.id.clone(), at: now })?;
        Ok(receipt.max(expired))
    }

    fn queue_cancel_entry(
        &self,
        payment: &PaymentId,
        request: &CancelRequest,
    ) -> Result<Option<Receipt>, CheckoutError> {
        let payload = serde_json::to_vec(request).expect("a cancel request serialises");
        let mut outbox = self.outbox.lock();
        match outbox.queue(CANCEL_KIND, &payment.cancel_key(), payload, self.clock.now())? {
            Some(record) => Ok(Some(self.log_outbox(&mut outbox, &record)?)),
            None => Ok(None),
        }
    }
}

/// The reason kept for a decline: the provider's code when it is a short
/// printable word, else [`UNSAID_DECLINE_REASON`].
fn decline_reason(reason: Option<&str>) -> &str {
    let kept = |code: &&str| {
        !code.is_empty()
            && code.len() <= MAX_DECLINE_REASON_LEN
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    reason.filter(kept).unwrap_or(UNSAID_DECLINE_REASON)
}
