//! Order tokens: the buyer's lasting credential for one order (its link),
//! signed with the same key ring as queue and access tokens. Stable per order
//! (issued at the order's creation), so every answer and every message
//! carries the same link until the signing key rotates. And payment tokens,
//! issued at checkout, with which the buyer follows one hold's payment (the
//! hold, then its order) after the access ran out; stable per payment too.

use super::Engine;
use crate::event::Event;
use crate::inventory::Order;
use crate::limits::{ORDER_TOKEN_VALID_AFTER_SHOW_S, PAYMENT_TOKEN_VALID_S};
use crate::payments::Payment;
use crate::tokens::{OrderClaims, PaymentClaims, TokenError};

impl Engine {
    /// The order token of `order`: valid until
    /// [`ORDER_TOKEN_VALID_AFTER_SHOW_S`] after the event starts.
    pub fn order_token(&self, event: &Event, order: &Order) -> String {
        self.keys.sign_order(&OrderClaims {
            key_id: self.keys.current_key_id(),
            event: event.number.0,
            buyer: order.buyer,
            order: order.id,
            issued_at: order.created_at,
            expires_at: event.valid.starts_at.plus_s(ORDER_TOKEN_VALID_AFTER_SHOW_S),
        })
    }

    /// Checks an order token's signature and expiry; returns what it claims
    /// (the caller compares the event and order with the ones asked for).
    pub fn verify_order_token(&self, token: &str) -> Result<OrderClaims, TokenError> {
        self.keys.verify_order(token, self.clock.now())
    }

    /// The payment token of `payment`: its bearer may read the payment's
    /// hold and the order it made, until [`PAYMENT_TOKEN_VALID_S`] after
    /// the payment started.
    pub fn payment_token(&self, payment: &Payment) -> String {
        self.keys.sign_payment(&PaymentClaims {
            key_id: self.keys.current_key_id(),
            event: payment.event,
            buyer: payment.buyer,
            hold: payment.hold,
            issued_at: payment.started_at,
            expires_at: payment.started_at.plus_s(PAYMENT_TOKEN_VALID_S),
        })
    }

    /// Checks a payment token's signature and expiry; returns what it
    /// claims (the caller compares the event and hold with the ones asked for).
    pub fn verify_payment_token(&self, token: &str) -> Result<PaymentClaims, TokenError> {
        self.keys.verify_payment(token, self.clock.now())
    }
}
