//! Cancelling an order, and the refund it owes: one path for the buyer
//! (before `refund_until`) and the promoter. An order bought through a
//! provider that moves money (`stripe`, `test`) gets its payment's refund
//! queued in the outbox right after the cancellation, under the payment's
//! refund key, so the provider refunds once however often it is asked. An
//! `external` shop took the money itself and gives it back itself: nothing
//! is queued. Lock order as in [`super::payments`]: the payments, then the
//! event's inventory, then the outbox.
//!
//! Why the cancellation is logged first: a refund queued for an order that a
//! crash then leaves standing would give the money back and keep the seats
//! sold. The other way round, a crash between the two records leaves a
//! cancelled order without its refund; [`Engine::queue_missing_refunds`],
//! run when the engine opens, queues it. The buyer's notice of the
//! cancellation is queued last (see [`super::emails`]). The answer waits on
//! the outbox records, so a 2xx means all are durable.

use super::payments::CheckoutError;
use super::Engine;
use crate::commit::Receipt;
use crate::event::{Event, EventNumber};
use crate::ids::OrderId;
use crate::inventory::{Order, OrderStatus, Requester};
use crate::payments::{Payment, PaymentBook, PaymentState};
use crate::spec::ProviderKind;

impl Engine {
    /// Cancels an order (the rules are `Inventory::cancel_order`'s) and
    /// queues its refund; cancelling again queues nothing more.
    pub fn cancel_order(
        &self,
        event: &Event,
        order_id: OrderId,
        requester: Requester,
    ) -> Result<(Order, Receipt), CheckoutError> {
        let book = self.payments.lock();
        // Under the check-ins' lock: a scan judging this order sees it
        // cancelled or not, never half-way (lock order: payments, check-ins,
        // the event's inventory).
        let (order, cancelled) = {
            let _check_ins = self.checkins.lock();
            event.inventory.cancel_order(order_id, requester)?
        };
        let Some(payment) = refundable_payment(&book, event, &order) else {
            let emailed = self.queue_cancelled_email(&book, event, order.id, &order.payment_ref)?;
            return Ok((order, cancelled.max(emailed)));
        };
        let receipt = match self.queue_refund_entry(payment, payment.provider_ref.as_deref().map(Into::into))? {
            Some(queued) => queued,
            // Queued by an earlier cancellation, perhaps not yet durable.
            None => self.after_everything_logged(Receipt::NONE).max(cancelled),
        };
        let emailed = self.queue_cancelled_email(&book, event, order.id, &order.payment_ref)?;
        Ok((order, receipt.max(emailed)))
    }

    /// The payment whose refund `order` owes, if it was paid through a
    /// provider that moves money.
    pub fn refund_payment_of(&self, event: &Event, order: &Order) -> Option<Payment> {
        refundable_payment(&self.payments.lock(), event, order).cloned()
    }

    /// Queues the refund of every cancelled paid order that has none: a
    /// crash may have cut between a cancellation and its refund's record.
    /// Returns how many were queued.
    pub(crate) fn queue_missing_refunds(&self) -> Result<usize, CheckoutError> {
        let book = self.payments.lock();
        let mut queued = 0;
        for payment in book.iter() {
            let PaymentState::Confirmed { order, .. } = payment.state else { continue };
            let Some(event) = self.event_by_number(EventNumber(payment.event)) else { continue };
            let Some(order) = event.inventory.order(order) else { continue };
            if order.status != OrderStatus::Cancelled || refundable_payment(&book, &event, &order).is_none() {
                continue;
            }
            if self.queue_refund_entry(payment, payment.provider_ref.as_deref().map(Into::into))?.is_some() {
                queued += 1;
            }
        }
        Ok(queued)
    }
}

fn refundable_payment<'a>(book: &'a PaymentBook, event: &Event, order: &Order) -> Option<&'a Payment> {
    let payment = book.get(&order.payment_ref)?;
    let made_this_order = payment.event == event.number.0
        && matches!(payment.state, PaymentState::Confirmed { order: made, .. } if made == order.id);
    (made_this_order && payment.provider != ProviderKind::External).then_some(payment)
}
