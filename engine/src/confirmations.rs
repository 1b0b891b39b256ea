//! One-time cancellation confirmations: the code a buyer receives by email
//! when a cancellation is asked for with only the order's link, and sends
//! back to cancel. A forwarded order link reads the order; cancelling (and
//! the refund it triggers) also needs this code, which only reaches the
//! buyer's mailbox.
//!
//! The code is signed, not stored: an HMAC-SHA256 under the engine's key
//! ring (the keys live in the data directory, outside the log) over the
//! event, the order, which request it answers (`nth`) and its expiry. The
//! log and the email outbox hold only the request (event, order, `nth`, the
//! time), so reading them is not enough to cancel; the mail composer asks
//! for the code when it writes the message, and gets the same code however
//! often it asks (a message resent after a crash says the same).
//!
//! Text: `<key id>.<nth>.<expiry, Unix seconds>.<tag>`, the tag the first
//! [`TAG_LEN`] bytes of the MAC in base64url without padding (22
//! characters), checked in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;

use crate::ids::OrderId;
use crate::limits::MAX_CONFIRMATION_CODE_LEN;
use crate::time::UnixTimeMs;
use crate::tokens::KeyRing;

/// Bytes of the MAC a code keeps: 128 bits, not guessable within any rate limit.
pub const TAG_LEN: usize = 16;
/// What the MAC starts with, so a code's MAC is never a token's (theirs
/// start with a version byte, 1) nor anything else the ring signs.
const DOMAIN: &[u8] = b"guichet cancel confirmation v1\0";

/// What a confirmation code is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmationClaims {
    /// The event's number.
    pub event: u32,
    pub order: OrderId,
    /// Which cancellation request of the order it answers (from 1).
    pub nth: u32,
    /// The first second at which the code no longer cancels.
    pub expires_at_s: u64,
}

/// Why a confirmation code was refused. Each has a stable [`code`](ConfirmationError::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmationError {
    /// Not a code this server signed for this order (mistyped, forged,
    /// another order's, or signed with a key the ring no longer keeps).
    #[error("this confirmation code is not valid for this order")]
    Invalid,
    #[error("this confirmation code has expired; ask for a new one")]
    Expired,
}

impl ConfirmationError {
    pub fn code(self) -> &'static str {
        match self {
            ConfirmationError::Invalid => "invalid_confirmation",
            ConfirmationError::Expired => "confirmation_expired",
        }
    }
}

/// The code for `claims`, signed with the ring's current key.
pub fn sign(keys: &KeyRing, claims: &ConfirmationClaims) -> String {
    let key_id = keys.current_key_id();
    let tag = tag(keys, key_id, claims).unwrap_or_default();
    format!("{key_id}.{}.{}.{}", claims.nth, claims.expires_at_s, URL_SAFE_NO_PAD.encode(tag))
}

/// Checks `code` for this event's `order` at `now`: its shape, its MAC (in
/// constant time), then its expiry. Returns the request it answers (`nth`).
pub fn verify(
    keys: &KeyRing,
    code: &str,
    event: u32,
    order: OrderId,
    now: UnixTimeMs,
) -> Result<u32, ConfirmationError> {
    let (key_id, claims, tag) = parse(code, event, order).ok_or(ConfirmationError::Invalid)?;
    let mut mac = keys.keyed_mac(key_id).ok_or(ConfirmationError::Invalid)?;
    feed(&mut mac, &claims);
    mac.verify_truncated_left(&tag).map_err(|_| ConfirmationError::Invalid)?;
    if now.0 / 1000 >= claims.expires_at_s {
        return Err(ConfirmationError::Expired);
    }
    Ok(claims.nth)
}

/// The parts of a code's text, or `None` if it is not shaped like one.
fn parse(code: &str, event: u32, order: OrderId) -> Option<(u32, ConfirmationClaims, [u8; TAG_LEN])> {
    if code.len() > MAX_CONFIRMATION_CODE_LEN {
        return None;
    }
    let mut parts = code.split('.');
    let key_id = parts.next()?.parse().ok()?;
    let nth = parts.next()?.parse().ok()?;
    let expires_at_s = parts.next()?.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?.try_into().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((key_id, ConfirmationClaims { event, order, nth, expires_at_s }, tag))
}

fn tag(keys: &KeyRing, key_id: u32, claims: &ConfirmationClaims) -> Option<[u8; TAG_LEN]> {
    let mut mac = keys.keyed_mac(key_id)?;
    feed(&mut mac, claims);
    let full = mac.finalize().into_bytes();
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    Some(tag)
}

fn feed(mac: &mut impl Mac, claims: &ConfirmationClaims) {
    mac.update(DOMAIN);
    mac.update(&claims.event.to_le_bytes());
    mac.update(&claims.order.0.to_le_bytes());
    mac.update(&claims.nth.to_le_bytes());
    mac.update(&claims.expires_at_s.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    const NOW: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

    fn claims() -> ConfirmationClaims {
        ConfirmationClaims { event: 3, order: OrderId(77), nth: 2, expires_at_s: 1_800_001_800 }
    }

    #[test]
    fn a_code_confirms_its_order_until_it_expires() {
        let keys = KeyRing::generate(&SeededEntropy::new(1));
        let code = sign(&keys, &claims());
        assert_eq!(code, sign(&keys, &claims()), "the same code however often it is asked for");
        assert_eq!(verify(&keys, &code, 3, OrderId(77), NOW), Ok(2));
        assert_eq!(verify(&keys, &code, 3, OrderId(78), NOW), Err(ConfirmationError::Invalid), "another order");
        assert_eq!(verify(&keys, &code, 4, OrderId(77), NOW), Err(ConfirmationError::Invalid), "another event");
        let at_expiry = UnixTimeMs(claims().expires_at_s * 1000);
        assert_eq!(verify(&keys, &code, 3, OrderId(77), at_expiry), Err(ConfirmationError::Expired));
    }

    #[test]
    fn a_changed_or_foreign_code_is_refused() {
        let keys = KeyRing::generate(&SeededEntropy::new(1));
        let code = sign(&keys, &claims());
        let later = code.replace(".1800001800.", ".1900001800.");
        assert_eq!(verify(&keys, &later, 3, OrderId(77), NOW), Err(ConfirmationError::Invalid), "expiry moved");
        let other_keys = KeyRing::generate(&SeededEntropy::new(2));
        assert_eq!(verify(&other_keys, &code, 3, OrderId(77), NOW), Err(ConfirmationError::Invalid));
        for junk in ["", "1.2.3", "1.2.3.4.5", "x.2.3.AAAA", &"9".repeat(500)] {
            assert_eq!(verify(&keys, junk, 3, OrderId(77), NOW), Err(ConfirmationError::Invalid), "{junk:?}");
        }
    }
}
