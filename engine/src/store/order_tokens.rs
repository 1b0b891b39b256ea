//! Order tokens: the buyer's lasting credential for one order (its link),
//! signed with the same key ring as queue and access tokens. Stable per order
//! (issued at the order's creation), so every answer and every message
//! carries the same link until the signing key rotates.

use super::Engine;
use crate::event::Event;
use crate::inventory::Order;
use crate::limits::ORDER_TOKEN_VALID_AFTER_SHOW_S;
use crate::tokens::{OrderClaims, TokenError};

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
}
