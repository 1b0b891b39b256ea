//! Payment tokens: issued at checkout, they let the buyer follow one hold's
//! payment after the access token ran out (a payment may take until 30
//! minutes after the hold was placed): read that hold, and the order it
//! became. Signed with the same key ring as the others; the payload is an
//! order token's shape (a buyer token's, then 8 bytes: here the hold), with
//! its own kind byte, so the two never stand in for each other.

use super::{field, seal, KeyRing, Opened, TokenClaims, TokenError, TokenKind, ORDER_PAYLOAD_LEN, PAYLOAD_LEN};
use crate::ids::{BuyerId, HoldId};
use crate::time::UnixTimeMs;

/// The kind byte of a payment token.
pub(super) const PAYMENT_KIND: u8 = 3;

/// What a payment token says, as signed: its bearer may follow this hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaymentClaims {
    /// The key that signed the token ([`KeyRing::sign_payment`] sets it).
    pub key_id: u32,
    /// The event's number.
    pub event: u32,
    /// The buyer who holds the hold.
    pub buyer: BuyerId,
    pub hold: HoldId,
    pub issued_at: UnixTimeMs,
    /// The first instant at which the token is no longer valid.
    pub expires_at: UnixTimeMs,
}

impl PaymentClaims {
    fn to_payload(self) -> [u8; ORDER_PAYLOAD_LEN] {
        let buyer_part = TokenClaims {
            kind: TokenKind::Queue,
            key_id: self.key_id,
            event: self.event,
            buyer: self.buyer,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
        .to_payload();
        let mut payload = [0; ORDER_PAYLOAD_LEN];
        payload[..PAYLOAD_LEN].copy_from_slice(&buyer_part);
        payload[1] = PAYMENT_KIND;
        payload[PAYLOAD_LEN..].copy_from_slice(&self.hold.0.to_le_bytes());
        payload
    }
}

impl KeyRing {
    /// Signs a payment token with the current key (whatever `claims.key_id` says).
    pub fn sign_payment(&self, claims: &PaymentClaims) -> String {
        let key = self.current_key();
        seal(key, &PaymentClaims { key_id: key.id, ..*claims }.to_payload())
    }

    /// Checks a payment token as [`KeyRing::verify`] checks the others and
    /// returns its claims; the caller compares the event and hold.
    pub fn verify_payment(&self, token: &str, now: UnixTimeMs) -> Result<PaymentClaims, TokenError> {
        let payload = match self.open(token)? {
            Opened::Order(payload) if payload[1] == PAYMENT_KIND => payload,
            _ => return Err(TokenError::WrongKind),
        };
        let claims = PaymentClaims {
            key_id: u32::from_le_bytes(field(&payload, 2)),
            event: u32::from_le_bytes(field(&payload, 6)),
            buyer: BuyerId(u64::from_le_bytes(field(&payload, 10))),
            issued_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 18))),
            expires_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 26))),
            hold: HoldId(u64::from_le_bytes(field(&payload, PAYLOAD_LEN))),
        };
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;
    use crate::ids::OrderId;
    use crate::tokens::OrderClaims;

    const NOW: UnixTimeMs = UnixTimeMs(1_796_000_000_000);

    fn claims() -> PaymentClaims {
        PaymentClaims {
            key_id: 0,
            event: 7,
            buyer: BuyerId(42),
            hold: HoldId(9),
            issued_at: NOW,
            expires_at: NOW.plus_s(60),
        }
    }

    #[test]
    fn a_payment_token_round_trips_and_expires() {
        let ring = KeyRing::generate(&SeededEntropy::new(1));
        let token = ring.sign_payment(&claims());
        let read = ring.verify_payment(&token, NOW).unwrap();
        assert_eq!((read.event, read.buyer, read.hold), (7, BuyerId(42), HoldId(9)));
        assert_eq!(ring.verify_payment(&token, NOW.plus_s(60)), Err(TokenError::Expired));
        let other = KeyRing::generate(&SeededEntropy::new(2));
        assert_eq!(other.verify_payment(&token, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn payment_and_order_tokens_never_stand_in_for_each_other() {
        let ring = KeyRing::generate(&SeededEntropy::new(1));
        let payment = ring.sign_payment(&claims());
        assert_eq!(ring.verify_order(&payment, NOW), Err(TokenError::WrongKind));
        assert_eq!(ring.verify(&payment, TokenKind::Access, 7, NOW), Err(TokenError::WrongKind));
        let c = claims();
        let order = ring.sign_order(&OrderClaims {
            key_id: 0,
            event: c.event,
            buyer: c.buyer,
            order: OrderId(9),
            issued_at: c.issued_at,
            expires_at: c.expires_at,
        });
        assert_eq!(ring.verify_payment(&order, NOW), Err(TokenError::WrongKind));
        let access = ring.sign(&TokenClaims {
            kind: TokenKind::Access,
            key_id: 0,
            event: 7,
            buyer: c.buyer,
            issued_at: NOW,
            expires_at: c.expires_at,
        });
        assert_eq!(ring.verify_payment(&access, NOW), Err(TokenError::WrongKind));
    }
}
