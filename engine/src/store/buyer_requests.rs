//! What a buyer asks for by email, with the order's link or without it: a
//! cancellation's one-time confirmation (the order link alone reads the
//! order; cancelling also needs the code this sends to the buyer's mailbox),
//! and "Find my order" (the link sent again to the address given at
//! checkout).
//!
//! A request is its email entry in the outbox, nothing more: the entry's
//! key numbers the requests of an order (`nth`, from 1) and its time starts
//! the code's validity, so the requests survive a crash and a snapshot with
//! the outbox, and the log holds no code (see [`crate::confirmations`]).
//! An order's requests are counted by their keys, `nth` = 1, 2, … up to the
//! first missing one, so a count never costs more than its limit in lookups.
//! (A done entry the outbox forgot to make room, after a million newer
//! ones, lets its order's count start again: a limit against floods, not an
//! audit.)
//!
//! Every code of an order's unexpired requests cancels it: each was sent to
//! the same mailbox, so a newer one proves nothing more, and a buyer who
//! asked twice may open either email. Used once, the order is cancelled; the
//! same code again answers the cancelled order, as cancelling twice does.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Engine;
use crate::commit::{Receipt, SinkError};
use crate::confirmations::{self, ConfirmationClaims, ConfirmationError};
use crate::emails::{EmailMessage, EmailRequest, EMAIL_KIND};
use crate::event::Event;
use crate::ids::{BuyerId, OrderId};
use crate::inventory::{InventoryError, OrderStatus};
use crate::limits::{
    CANCEL_CONFIRMATION_VALID_S, CANCEL_REQUEST_INTERVAL_S, MAX_CANCEL_REQUESTS_PER_ORDER,
    MAX_ORDER_LINK_EMAILS_PER_ORDER, ORDER_LINK_EMAIL_INTERVAL_S,
};
use crate::outbox::{Outbox, OutboxError};
use crate::time::UnixTimeMs;

/// Why a cancellation confirmation was not sent, or a code not taken.
#[derive(Debug, thiserror::Error)]
pub enum BuyerRequestError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("the order is already cancelled")]
    OrderCancelled,
    #[error("no email address was given for this order (or it was erased): there is nowhere to send a confirmation")]
    NoBuyerEmail,
    #[error("this order was sent {MAX_CANCEL_REQUESTS_PER_ORDER} cancellation confirmations already")]
    CancelRequestsExhausted,
    #[error("a cancellation confirmation was sent less than {CANCEL_REQUEST_INTERVAL_S} s ago")]
    CancelRequestTooSoon { retry_after_s: u64 },
    #[error(transparent)]
    Confirmation(#[from] ConfirmationError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl BuyerRequestError {
    pub fn code(&self) -> &'static str {
        match self {
            BuyerRequestError::Inventory(error) => error.code(),
            BuyerRequestError::OrderCancelled => "order_cancelled",
            BuyerRequestError::NoBuyerEmail => "no_buyer_email",
            BuyerRequestError::CancelRequestsExhausted => "cancel_requests_exhausted",
            BuyerRequestError::CancelRequestTooSoon { .. } => "cancel_request_too_soon",
            BuyerRequestError::Confirmation(error) => error.code(),
            BuyerRequestError::Outbox(error) => error.code(),
            BuyerRequestError::Log(error) => error.code(),
        }
    }
}

/// An order's earlier requests of one kind: how many, and when the last was made.
struct Earlier {
    count: u32,
    last_at: Option<UnixTimeMs>,
}

impl Engine {
    /// Sends the buyer of `order_id` a cancellation confirmation: the order
    /// must be `buyer`'s, not cancelled, and cancellable by its buyer now
    /// (before `refund_until`), with the same refusals as the cancellation,
    /// and its buyer must have given an email address (still kept).
    /// Returns which request this is and the receipt to await.
    pub fn request_cancellation(
        &self,
        event: &Event,
        order_id: OrderId,
        buyer: BuyerId,
    ) -> Result<(u32, Receipt), BuyerRequestError> {
        let order = event.inventory.order(order_id).ok_or(InventoryError::UnknownOrder)?;
        if order.buyer != buyer {
            return Err(InventoryError::NotYours.into());
        }
        if order.status == OrderStatus::Cancelled {
            return Err(BuyerRequestError::OrderCancelled);
        }
        let now = self.clock.now();
        if event.valid.refund_until.is_none_or(|until| now >= until) {
            return Err(InventoryError::RefundPeriodOver.into());
        }
        if self.buyer_contact(event, order_id).is_none() {
            return Err(BuyerRequestError::NoBuyerEmail);
        }
        let mut outbox = self.outbox.lock();
        let earlier = earlier_requests(&outbox, event, order_id, cancel_message, MAX_CANCEL_REQUESTS_PER_ORDER);
        if earlier.count >= MAX_CANCEL_REQUESTS_PER_ORDER {
            return Err(BuyerRequestError::CancelRequestsExhausted);
        }
        if let Some(wait_s) = wait_s(earlier.last_at, CANCEL_REQUEST_INTERVAL_S, now) {
            return Err(BuyerRequestError::CancelRequestTooSoon { retry_after_s: wait_s });
        }
        let nth = earlier.count + 1;
        let request = EmailRequest { event: event.number.0, order: order_id, message: cancel_message(nth) };
        let receipt = self.queue_email_locked(&mut outbox, &request)?;
        Ok((nth, receipt))
    }

    /// The code the `nth` cancellation confirmation of `order` carries (the
    /// mail composer writes it into the message, with the order link);
    /// `None` if that request is not in the outbox.
    pub fn cancel_confirmation_code(&self, event: &Event, order: OrderId, nth: u32) -> Option<String> {
        let key = EmailRequest { event: event.number.0, order, message: cancel_message(nth) }.key();
        let requested_at = self.outbox.lock().by_key(&key)?.queued_at;
        let expires_at_s = requested_at.0 / 1000 + u64::from(CANCEL_CONFIRMATION_VALID_S);
        let claims = ConfirmationClaims { event: event.number.0, order, nth, expires_at_s };
        Some(confirmations::sign(&self.keys, &claims))
    }

    /// Checks a cancellation confirmation code for `order` now.
    pub fn check_cancel_confirmation(
        &self,
        event: &Event,
        order: OrderId,
        code: &str,
    ) -> Result<(), ConfirmationError> {
        confirmations::verify(&self.keys, code, event.number.0, order, self.clock.now()).map(|_| ())
    }

    /// "Find my order": if `order` exists and its buyer's email is `email`
    /// (compared without regard to case, in constant time), queues the order
    /// link's email, at most [`MAX_ORDER_LINK_EMAILS_PER_ORDER`] times and
    /// one per [`ORDER_LINK_EMAIL_INTERVAL_S`]. The same work whether or not
    /// the order exists (`event` is `None` when the reference names none),
    /// and nothing in the result for the caller to show: the answer must not
    /// tell who bought what.
    pub fn request_order_link(
        &self,
        event: Option<&Event>,
        order: OrderId,
        email: &str,
    ) -> Result<Option<Receipt>, BuyerRequestError> {
        let contact = event.and_then(|event| self.buyer_contact(event, order));
        let known = contact.as_ref().map(|contact| contact.email.as_str()).unwrap_or_default();
        let matches = bool::from(email_digest(email).ct_eq(&email_digest(known)));
        let (Some(event), true) = (event, matches && contact.is_some()) else { return Ok(None) };
        let mut outbox = self.outbox.lock();
        let earlier = earlier_requests(&outbox, event, order, link_message, MAX_ORDER_LINK_EMAILS_PER_ORDER);
        let now = self.clock.now();
        if earlier.count >= MAX_ORDER_LINK_EMAILS_PER_ORDER
            || wait_s(earlier.last_at, ORDER_LINK_EMAIL_INTERVAL_S, now).is_some()
        {
            return Ok(None);
        }
        let request = EmailRequest { event: event.number.0, order, message: link_message(earlier.count + 1) };
        Ok(Some(self.queue_email_locked(&mut outbox, &request)?))
    }

    /// Queues `request` under the outbox lock its caller holds (the count
    /// of earlier requests and the new one are one step).
    fn queue_email_locked(&self, outbox: &mut Outbox, request: &EmailRequest) -> Result<Receipt, BuyerRequestError> {
        let payload = serde_json::to_vec(request).map_err(|_| OutboxError::PayloadTooLarge)?;
        match outbox.queue(EMAIL_KIND, &request.key(), payload, self.clock.now())? {
            Some(record) => Ok(self.log_outbox(outbox, &record)?),
            // Counted up to the first missing key, so this key is free.
            None => Ok(self.after_everything_logged(Receipt::NONE)),
        }
    }
}

fn cancel_message(nth: u32) -> EmailMessage {
    EmailMessage::CancelConfirmation { nth }
}

fn link_message(nth: u32) -> EmailMessage {
    EmailMessage::OrderLink { nth }
}

/// The order's requests of one kind in the outbox: `nth` = 1, 2, … up to
/// the first missing or `max`.
fn earlier_requests(
    outbox: &Outbox,
    event: &Event,
    order: OrderId,
    message: fn(u32) -> EmailMessage,
    max: u32,
) -> Earlier {
    let mut earlier = Earlier { count: 0, last_at: None };
    while earlier.count < max {
        let key = EmailRequest { event: event.number.0, order, message: message(earlier.count + 1) }.key();
        let Some(entry) = outbox.by_key(&key) else { break };
        earlier.count += 1;
        earlier.last_at = Some(entry.queued_at);
    }
    earlier
}

/// Seconds still to wait when the last request was at `last_at` and they
/// are at least `interval_s` apart.
fn wait_s(last_at: Option<UnixTimeMs>, interval_s: u32, now: UnixTimeMs) -> Option<u64> {
    let next = last_at?.plus_s(interval_s);
    (now < next).then(|| (next.0 - now.0).div_ceil(1000))
}

/// SHA-256 of an address as compared: trimmed, lower case. Digests have one
/// length, so comparing them takes the same time whatever was typed.
fn email_digest(email: &str) -> [u8; 32] {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).into()
}
