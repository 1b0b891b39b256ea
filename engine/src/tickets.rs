//! E-ticket codes: a short signed payload (event, order, ticket) that a
//! scanner verifies offline with the public key, small enough for a QR code.
//!
//! Code: base64url(payload) "." base64url(Ed25519 signature of the payload),
//! 113 characters. Payload, 19 bytes little-endian: version u8 (1), event
//! number u32, order id u64, ticket index u16, and the order's ticket count u32
//! (so a scanner can tell the last ticket of an order).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::entropy::Entropy;
use crate::ids::OrderId;

const VERSION: u8 = 1;
const PAYLOAD_BYTES: usize = 19;

/// What a ticket code says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketClaims {
    pub event: u32,
    pub order: OrderId,
    pub index: u16,
    pub tickets_in_order: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketCodeError {
    #[error("not a ticket code")]
    Malformed,
    #[error("the signature does not match: a forged or altered ticket")]
    BadSignature,
}

/// The ticket signing key, kept in the data directory.
#[derive(Clone, Serialize, Deserialize)]
pub struct TicketSigner {
    secret: [u8; 32],
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSigner").field("public_key", &self.public_key()).finish()
    }
}

impl TicketSigner {
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut secret = [0; 32];
        entropy.fill(&mut secret);
        Self { secret }
    }

    /// The public key, base64url: what scanners need.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&self.secret).verifying_key().to_bytes())
    }

    pub fn code(&self, claims: &TicketClaims) -> String {
        let mut payload = Vec::with_capacity(PAYLOAD_BYTES);
        payload.push(VERSION);
        payload.extend_from_slice(&claims.event.to_le_bytes());
        payload.extend_from_slice(&claims.order.0.to_le_bytes());
        payload.extend_from_slice(&claims.index.to_le_bytes());
        payload.extend_from_slice(&claims.tickets_in_order.to_le_bytes());
        let signature = SigningKey::from_bytes(&self.secret).sign(&payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// What a scanner does: checks a code against the public key, offline.
pub fn verify_code(code: &str, public_key: &str) -> Result<TicketClaims, TicketCodeError> {
    let malformed = |_| TicketCodeError::Malformed;
    let key_bytes: [u8; 32] =
        URL_SAFE_NO_PAD.decode(public_key).map_err(malformed)?.try_into().map_err(|_| TicketCodeError::Malformed)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| TicketCodeError::Malformed)?;
    let (payload, signature) = code.split_once('.').ok_or(TicketCodeError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(malformed)?;
    let signature: [u8; 64] =
        URL_SAFE_NO_PAD.decode(signature).map_err(malformed)?.try_into().map_err(|_| TicketCodeError::Malformed)?;
    if payload.len() != PAYLOAD_BYTES || payload[0] != VERSION {
        return Err(TicketCodeError::Malformed);
    }
    key.verify(&payload, &Signature::from_bytes(&signature)).map_err(|_| TicketCodeError::BadSignature)?;
    let u32_at = |i: usize| u32::from_le_bytes(payload[i..i + 4].try_into().expect("4 bytes"));
    Ok(TicketClaims {
        event: u32_at(1),
        order: OrderId(u64::from_le_bytes(payload[5..13].try_into().expect("8 bytes"))),
        index: u16::from_le_bytes(payload[13..15].try_into().expect("2 bytes")),
        tickets_in_order: u32_at(15),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    #[test]
    fn a_code_verifies_offline_and_any_change_is_caught() {
        let signer = TicketSigner::generate(&SeededEntropy::new(7));
        let claims = TicketClaims { event: 3, order: OrderId(0x1234), index: 1, tickets_in_order: 2 };
        let code = signer.code(&claims);
        assert!(code.len() <= 120 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(verify_code(&code, &signer.public_key()), Ok(claims));
        let mut altered = code.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert!(verify_code(&String::from_utf8(altered).unwrap(), &signer.public_key()).is_err());
        let other = TicketSigner::generate(&SeededEntropy::new(8));
        assert_eq!(verify_code(&code, &other.public_key()), Err(TicketCodeError::BadSignature));
        assert_eq!(verify_code("nonsense", &signer.public_key()), Err(TicketCodeError::Malformed));
    }
}
