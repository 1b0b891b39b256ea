//! The signed tokens: the waiting room's queue token while a buyer waits and
//! access token once admitted, each bound to one event and one buyer; and the
//! order token, bound to one order, that lets its bearer read that order long
//! after the access is over. Each is checked with nothing but the
//! [`KeyRing`]: no lookup, no state.
//!
//! A token is `payload.mac`, both base64url without padding (URL-safe ASCII,
//! 90 characters; an order token 100). The payload is fixed-size binary,
//! little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | format version, [`TOKEN_VERSION`] |
//! | 1 | kind: 0 queue, 1 access, 2 order |
//! | 4 | id of the signing key |
//! | 4 | event number |
//! | 8 | buyer |
//! | 8 | issued at, ms since the epoch |
//! | 8 | expires at, ms since the epoch |
//! | 8 | the order (order tokens only) |
//!
//! An order token is a queue or access token's payload with the order
//! appended (a payment token, kind 3, the hold: see `payment`), so the two lengths tell the kinds apart before the MAC is
//! checked, and queue and access tokens keep the encoding they always had.
//!
//! The MAC is HMAC-SHA256 of the payload bytes under the named key's secret,
//! compared in constant time. Keys rotate: the ring signs with its current key
//! and still verifies with the older ones it keeps (up to [`MAX_SIGNING_KEYS`]).

mod payment;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::entropy::Entropy;
use crate::ids::{BuyerId, OrderId};
use crate::limits::{MAX_SIGNING_KEYS, MAX_TOKEN_LEN};
use crate::time::UnixTimeMs;
pub use payment::PaymentClaims;

/// The payload format this server signs and accepts.
pub const TOKEN_VERSION: u8 = 1;
/// Bytes of a signing key's secret.
pub const SECRET_LEN: usize = 32;

const PAYLOAD_LEN: usize = 1 + 1 + 4 + 4 + 8 + 8 + 8;
/// An order token's payload: a buyer token's, then the order.
const ORDER_PAYLOAD_LEN: usize = PAYLOAD_LEN + 8;
/// The kind byte of an order token (not a [`TokenKind`]: no buyer route takes one).
const ORDER_KIND: u8 = 2;
const MAC_LEN: usize = 32;
/// Characters of `len` bytes in base64 without padding.
const fn base64_no_pad_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}
const PAYLOAD_TEXT_LEN: usize = base64_no_pad_len(PAYLOAD_LEN);
const ORDER_PAYLOAD_TEXT_LEN: usize = base64_no_pad_len(ORDER_PAYLOAD_LEN);
const MAC_TEXT_LEN: usize = base64_no_pad_len(MAC_LEN);
/// Characters of every queue and access token this server signs.
pub const TOKEN_LEN: usize = PAYLOAD_TEXT_LEN + 1 + MAC_TEXT_LEN;
/// Characters of every order token this server signs.
pub const ORDER_TOKEN_LEN: usize = ORDER_PAYLOAD_TEXT_LEN + 1 + MAC_TEXT_LEN;
const _: () = assert!(TOKEN_LEN <= MAX_TOKEN_LEN);
const _: () = assert!(ORDER_TOKEN_LEN <= MAX_TOKEN_LEN);
/// Room for what the base64 decoder may want to write for either part.
const DECODE_SCRATCH_LEN: usize = 48;
// As `base64::decoded_len_estimate`, which is not a `const fn`: whole quads of characters.
const _: () = assert!(ORDER_PAYLOAD_TEXT_LEN.div_ceil(4) * 3 <= DECODE_SCRATCH_LEN);
const _: () = assert!(MAC_TEXT_LEN.div_ceil(4) * 3 <= DECODE_SCRATCH_LEN);

type HmacSha256 = Hmac<Sha256>;

/// What a token lets its bearer do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Waiting in the queue: may ask for its place, not touch inventory.
    Queue,
    /// Admitted: may hold and buy, until it expires.
    Access,
}

impl TokenKind {
    fn to_byte(self) -> u8 {
        match self {
            Self::Queue => 0,
            Self::Access => 1,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Queue),
            1 => Some(Self::Access),
            _ => None,
        }
    }
}

/// What a token says, as signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenClaims {
    pub kind: TokenKind,
    /// The key that signed the token ([`KeyRing::sign`] sets it).
    pub key_id: u32,
    /// The event's number.
    pub event: u32,
    pub buyer: BuyerId,
    pub issued_at: UnixTimeMs,
    /// The first instant at which the token is no longer valid.
    pub expires_at: UnixTimeMs,
}

impl TokenClaims {
    fn to_payload(self) -> [u8; PAYLOAD_LEN] {
        let mut payload = [0; PAYLOAD_LEN];
        payload[0] = TOKEN_VERSION;
        payload[1] = self.kind.to_byte();
        payload[2..6].copy_from_slice(&self.key_id.to_le_bytes());
        payload[6..10].copy_from_slice(&self.event.to_le_bytes());
        payload[10..18].copy_from_slice(&self.buyer.0.to_le_bytes());
        payload[18..26].copy_from_slice(&self.issued_at.0.to_le_bytes());
        payload[26..34].copy_from_slice(&self.expires_at.0.to_le_bytes());
        payload
    }
}

/// What an order token says, as signed: its bearer may read this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderClaims {
    /// The key that signed the token ([`KeyRing::sign_order`] sets it).
    pub key_id: u32,
    /// The event's number.
    pub event: u32,
    /// The buyer who placed the order.
    pub buyer: BuyerId,
    pub order: OrderId,
    pub issued_at: UnixTimeMs,
    /// The first instant at which the token is no longer valid.
    pub expires_at: UnixTimeMs,
}

impl OrderClaims {
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
        payload[1] = ORDER_KIND;
        payload[PAYLOAD_LEN..].copy_from_slice(&self.order.0.to_le_bytes());
        payload
    }
}

/// A token whose shape, version, key and MAC are checked: signed by this
/// server, its claims not yet looked at.
enum Opened {
    Buyer([u8; PAYLOAD_LEN]),
    Order([u8; ORDER_PAYLOAD_LEN]),
}

/// Why a token was refused. Each has a stable [`code`](TokenError::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TokenError {
    #[error("not a token this server issues")]
    Malformed,
    #[error("token format not supported by this server")]
    UnknownVersion,
    #[error("token signed with a key this server does not have")]
    UnknownKey,
    #[error("token signature does not match")]
    BadSignature,
    #[error("wrong kind of token (a queue token is not an access token, nor an order token, nor the reverse)")]
    WrongKind,
    #[error("token issued for another event")]
    OtherEvent,
    #[error("token expired")]
    Expired,
    /// A valid access token whose buyer has since left the queue or lost the place.
    #[error("the access this token gave has been given up")]
    Revoked,
}

impl TokenError {
    /// The API's code: a token that is not one of ours, whatever the reason,
    /// is `invalid_token` (the reason stays in the message, see `reason`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed | Self::UnknownVersion | Self::UnknownKey | Self::BadSignature => "invalid_token",
            Self::WrongKind => "wrong_token_kind",
            Self::OtherEvent => "token_other_event",
            Self::Expired => "token_expired",
            Self::Revoked => "token_revoked",
        }
    }

    /// Why exactly, a stable snake_case word for messages and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::UnknownVersion => "token_unknown_version",
            Self::UnknownKey => "token_unknown_key",
            Self::BadSignature => "token_bad_signature",
            Self::WrongKind => "token_wrong_kind",
            Self::OtherEvent => "token_other_event",
            Self::Expired => "token_expired",
            Self::Revoked => "token_revoked",
        }
    }
}

/// One HMAC key and the id tokens name it by.
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    pub id: u32,
    secret: [u8; SECRET_LEN],
    /// The HMAC state keyed with `secret`, made once: every token signed or
    /// checked clones it instead of hashing the key again.
    #[serde(skip)]
    keyed: std::sync::OnceLock<HmacSha256>,
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.secret == other.secret
    }
}

impl Eq for SigningKey {}

impl SigningKey {
    /// A key with a fresh random secret.
    pub fn generate(id: u32, entropy: &dyn Entropy) -> Self {
        let mut secret = [0; SECRET_LEN];
        entropy.fill(&mut secret);
        Self { id, secret, keyed: std::sync::OnceLock::new() }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let keyed = self
            .keyed
            .get_or_init(|| <HmacSha256 as Mac>::new_from_slice(&self.secret).expect("HMAC accepts a 32-byte key"));
        keyed.clone()
    }
}

/// Debug shows the id only: secrets stay out of logs and dumps.
impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The signing keys, oldest first, and which one signs. Never empty; the current
/// key is always in it; ids are distinct; at most [`MAX_SIGNING_KEYS`] keys.
/// Deserializing checks all of that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KeyRingFields")]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    current: u32,
}

/// A key ring as read, before its invariants are checked.
#[derive(Deserialize)]
struct KeyRingFields {
    keys: Vec<SigningKey>,
    current: u32,
}

/// Why a stored key ring was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring has no keys")]
    Empty,
    #[error("the key ring has more than {MAX_SIGNING_KEYS} keys")]
    TooManyKeys,
    #[error("the key ring has two keys with id {0}")]
    DuplicateKeyId(u32),
    #[error("the key ring's current key {0} is not in it")]
    NoCurrentKey(u32),
}

impl TryFrom<KeyRingFields> for KeyRing {
    type Error = KeyRingError;

    fn try_from(fields: KeyRingFields) -> Result<Self, Self::Error> {
        let KeyRingFields { keys, current } = fields;
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        if keys.len() > MAX_SIGNING_KEYS {
            return Err(KeyRingError::TooManyKeys);
        }
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|earlier| earlier.id == key.id) {
                return Err(KeyRingError::DuplicateKeyId(key.id));
            }
        }
        if !keys.iter().any(|key| key.id == current) {
            return Err(KeyRingError::NoCurrentKey(current));
        }
        Ok(Self { keys, current })
    }
}

impl KeyRing {
    /// A ring of one fresh key, id 1.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        Self { keys: vec![SigningKey::generate(1, entropy)], current: 1 }
    }

    /// Adds a fresh key and makes it current. Tokens signed with the older keys
    /// still verify, except those of the oldest key when the ring already had
    /// [`MAX_SIGNING_KEYS`]: it is dropped.
    pub fn rotate(&mut self, entropy: &dyn Entropy) {
        let mut id = self.current.wrapping_add(1);
        while self.key(id).is_some() {
            id = id.wrapping_add(1);
        }
        if self.keys.len() >= MAX_SIGNING_KEYS {
            self.keys.remove(0);
        }
        self.keys.push(SigningKey::generate(id, entropy));
        self.current = id;
    }

    /// The id of the key that signs.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// The ids of the keys that verify, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().map(|key| key.id)
    }

    fn key(&self, id: u32) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.id == id)
    }

    /// An HMAC-SHA256 keyed with key `key_id`, for the engine's other signed
    /// values (a cancellation's confirmation code); `None` if the ring lacks it.
    pub(crate) fn keyed_mac(&self, key_id: u32) -> Option<HmacSha256> {
        self.key(key_id).map(SigningKey::mac)
    }

    fn current_key(&self) -> &SigningKey {
        self.key(self.current).expect("a key ring always holds its current key")
    }

    /// Signs `claims` with the current key. The token names the current key
    /// whatever `claims.key_id` says; [`KeyRing::verify`] returns that id.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        let key = self.current_key();
        seal(key, &TokenClaims { key_id: key.id, ..*claims }.to_payload())
    }

    /// Signs an order token with the current key (whatever `claims.key_id` says).
    pub fn sign_order(&self, claims: &OrderClaims) -> String {
        let key = self.current_key();
        seal(key, &OrderClaims { key_id: key.id, ..*claims }.to_payload())
    }

    /// Checks `token` and returns its claims. In order: its shape and length
    /// ([`Malformed`](TokenError::Malformed)), format version, key id, MAC (in
    /// constant time), kind, event, and expiry (expired once `now >= expires_at`).
    pub fn verify(
        &self,
        token: &str,
        expected_kind: TokenKind,
        expected_event: u32,
        now: UnixTimeMs,
    ) -> Result<TokenClaims, TokenError> {
        let payload = match self.open(token)? {
            Opened::Buyer(payload) => payload,
            Opened::Order(_) => return Err(TokenError::WrongKind),
        };
        // Signed by this server from here on.
        let kind = TokenKind::from_byte(payload[1]).ok_or(TokenError::Malformed)?;
        let claims = TokenClaims {
            kind,
            key_id: u32::from_le_bytes(field(&payload, 2)),
            event: u32::from_le_bytes(field(&payload, 6)),
            buyer: BuyerId(u64::from_le_bytes(field(&payload, 10))),
            issued_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 18))),
            expires_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 26))),
        };
        if claims.kind != expected_kind {
            return Err(TokenError::WrongKind);
        }
        if claims.event != expected_event {
            return Err(TokenError::OtherEvent);
        }
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Checks an order token as [`KeyRing::verify`] checks the others, and
    /// returns its claims: the caller compares the event and order with the
    /// ones asked for (a valid token for another order is not a bad token).
    pub fn verify_order(&self, token: &str, now: UnixTimeMs) -> Result<OrderClaims, TokenError> {
        let payload = match self.open(token)? {
            Opened::Order(payload) => payload,
            Opened::Buyer(_) => return Err(TokenError::WrongKind),
        };
        match payload[1] {
            ORDER_KIND => {}
            payment::PAYMENT_KIND => return Err(TokenError::WrongKind),
            _ => return Err(TokenError::Malformed),
        }
        let claims = OrderClaims {
            key_id: u32::from_le_bytes(field(&payload, 2)),
            event: u32::from_le_bytes(field(&payload, 6)),
            buyer: BuyerId(u64::from_le_bytes(field(&payload, 10))),
            issued_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 18))),
            expires_at: UnixTimeMs(u64::from_le_bytes(field(&payload, 26))),
            order: OrderId(u64::from_le_bytes(field(&payload, PAYLOAD_LEN))),
        };
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Checks a token's shape and length, then its format version, key id and
    /// MAC (in constant time); the payload's length says which kind of token it is.
    fn open(&self, token: &str) -> Result<Opened, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload_text, mac_text) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if mac_text.len() != MAC_TEXT_LEN {
            return Err(TokenError::Malformed);
        }
        let opened = match payload_text.len() {
            PAYLOAD_TEXT_LEN => Opened::Buyer(decode_exact(payload_text)?),
            ORDER_PAYLOAD_TEXT_LEN => Opened::Order(decode_exact(payload_text)?),
            _ => return Err(TokenError::Malformed),
        };
        let tag: [u8; MAC_LEN] = decode_exact(mac_text)?;
        let payload: &[u8] = match &opened {
            Opened::Buyer(payload) => payload,
            Opened::Order(payload) => payload,
        };
        if payload[0] != TOKEN_VERSION {
            return Err(TokenError::UnknownVersion);
        }
        let key = self.key(u32::from_le_bytes(field(payload, 2))).ok_or(TokenError::UnknownKey)?;
        let mut mac = key.mac();
        mac.update(payload);
        mac.verify_slice(&tag).map_err(|_| TokenError::BadSignature)?;
        Ok(opened)
    }
}

/// `payload.mac` under `key`, both base64url without padding.
fn seal(key: &SigningKey, payload: &[u8]) -> String {
    let mut mac = key.mac();
    mac.update(payload);
    let tag = mac.finalize().into_bytes();
    let mut token = String::with_capacity(ORDER_TOKEN_LEN);
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag, &mut token);
    token
}

/// The `N` bytes of `payload` from `start` (in bounds: payloads are fixed-size).
fn field<const N: usize>(payload: &[u8], start: usize) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(&payload[start..start + N]);
    bytes
}

/// Decodes canonical base64url without padding into exactly `N` bytes.
fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], TokenError> {
    let mut scratch = [0; DECODE_SCRATCH_LEN];
    let decoded_len = URL_SAFE_NO_PAD.decode_slice(text, &mut scratch).map_err(|_| TokenError::Malformed)?;
    let decoded = scratch.get(..decoded_len).filter(|decoded| decoded.len() == N).ok_or(TokenError::Malformed)?;
    let mut bytes = [0; N];
    bytes.copy_from_slice(decoded);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    const EVENT: u32 = 7;
    const NOW: UnixTimeMs = UnixTimeMs(1_796_000_000_000);
    /// `claims(TokenKind::Access)` as signed by `ring()` before order tokens existed.
    const KNOWN_ACCESS_TOKEN: &str =
        "AQEBAAAABwAAAO_Nq4lnRSMBACjxKaIBAADAT_opogEAAA.jDzvB6YibK-KMZFSzeZBv_pkvCvlhzc1ZpXDL3iEXhs";

    fn ring() -> KeyRing {
        KeyRing::generate(&SeededEntropy::new(42))
    }

    fn claims(kind: TokenKind) -> TokenClaims {
        TokenClaims {
            kind,
            key_id: 1,
            event: EVENT,
            buyer: BuyerId(0x0123_4567_89ab_cdef),
            issued_at: NOW,
            expires_at: NOW.plus_s(600),
        }
    }

    fn verify_access(ring: &KeyRing, token: &str) -> Result<TokenClaims, TokenError> {
        ring.verify(token, TokenKind::Access, EVENT, NOW)
    }

    fn split(token: &str) -> (Vec<u8>, Vec<u8>) {
        let (payload, mac) = token.split_once('.').unwrap();
        (URL_SAFE_NO_PAD.decode(payload).unwrap(), URL_SAFE_NO_PAD.decode(mac).unwrap())
    }

    fn join(payload: &[u8], mac: &[u8]) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(mac))
    }

    #[test]
    fn tokens_round_trip() {
        let ring = ring();
        for kind in [TokenKind::Queue, TokenKind::Access] {
            let claims = claims(kind);
            let token = ring.sign(&claims);
            assert_eq!(token.len(), TOKEN_LEN);
            assert_eq!(ring.verify(&token, kind, EVENT, NOW), Ok(claims));
        }
        let extreme = TokenClaims {
            event: u32::MAX,
            buyer: BuyerId(u64::MAX),
            issued_at: UnixTimeMs(0),
            expires_at: UnixTimeMs(u64::MAX),
            ..claims(TokenKind::Access)
        };
        assert_eq!(ring.verify(&ring.sign(&extreme), TokenKind::Access, u32::MAX, NOW), Ok(extreme));
    }

    #[test]
    fn signing_is_deterministic_and_binds_every_field() {
        let ring = ring();
        let base = claims(TokenKind::Access);
        assert_eq!(ring.sign(&base), ring.sign(&base));
        let variants = [
            TokenClaims { kind: TokenKind::Queue, ..base },
            TokenClaims { event: EVENT + 1, ..base },
            TokenClaims { buyer: BuyerId(base.buyer.0 + 1), ..base },
            TokenClaims { issued_at: NOW.plus_ms(1), ..base },
            TokenClaims { expires_at: base.expires_at.plus_ms(1), ..base },
        ];
        for variant in variants {
            assert_ne!(split(&ring.sign(&variant)).1, split(&ring.sign(&base)).1, "{variant:?}");
        }
    }

    #[test]
    fn sign_names_the_current_key_whatever_the_claims_say() {
        let ring = ring();
        let token = ring.sign(&TokenClaims { key_id: 99, ..claims(TokenKind::Access) });
        assert_eq!(verify_access(&ring, &token).map(|claims| claims.key_id), Ok(1));
    }

    #[test]
    fn a_flipped_mac_byte_is_a_bad_signature() {
        let ring = ring();
        let (payload, mac) = split(&ring.sign(&claims(TokenKind::Access)));
        for index in 0..mac.len() {
            for bit in [0x01, 0x80] {
                let mut forged = mac.clone();
                forged[index] ^= bit;
                assert_eq!(verify_access(&ring, &join(&payload, &forged)), Err(TokenError::BadSignature));
            }
        }
    }

    #[test]
    fn a_flipped_payload_byte_is_refused() {
        let ring = ring();
        let (payload, mac) = split(&ring.sign(&claims(TokenKind::Access)));
        for index in 0..payload.len() {
            for bit in [0x01, 0x80] {
                let mut forged = payload.clone();
                forged[index] ^= bit;
                let expected = match index {
                    0 => TokenError::UnknownVersion,
                    2..=5 => TokenError::UnknownKey,
                    _ => TokenError::BadSignature,
                };
                assert_eq!(verify_access(&ring, &join(&forged, &mac)), Err(expected), "byte {index}");
            }
        }
    }

    #[test]
    fn any_changed_character_is_refused() {
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        for index in 0..token.len() {
            for replacement in ['A', 'z', '_', '-', '9', '.'] {
                let mut forged = token.clone().into_bytes();
                if forged[index] == replacement as u8 {
                    continue;
                }
                forged[index] = replacement as u8;
                let forged = String::from_utf8(forged).unwrap();
                assert!(verify_access(&ring, &forged).is_err(), "{forged}");
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_is_malformed() {
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        for len in 0..token.len() {
            assert_eq!(verify_access(&ring, &token[..len]), Err(TokenError::Malformed), "prefix of {len}");
            assert_eq!(verify_access(&ring, &token[len + 1..]), Err(TokenError::Malformed), "suffix from {}", len + 1);
        }
        for extra in ["A", "=", ".", " ", "\n"] {
            assert_eq!(verify_access(&ring, &format!("{token}{extra}")), Err(TokenError::Malformed));
            assert_eq!(verify_access(&ring, &format!("{extra}{token}")), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        let (payload_text, mac_text) = token.split_once('.').unwrap();
        let garbage = [
            String::new(),
            ".".into(),
            "..".into(),
            "not a token".into(),
            "Bearer x.y".into(),
            "é".repeat(45),
            "A".repeat(TOKEN_LEN),
            "A".repeat(MAX_TOKEN_LEN + 1),
            "A".repeat(1 << 20),
            format!("{}.{}", "A".repeat(PAYLOAD_TEXT_LEN), "A".repeat(MAC_TEXT_LEN - 1)),
            format!("{}.{}", "é".repeat(PAYLOAD_TEXT_LEN / 2), mac_text),
            format!("{}={}", payload_text, mac_text),
            format!("{}.{}", mac_text, payload_text),
            token.replace('.', ""),
            token.replace('.', ".."),
            // The standard alphabet is not the URL-safe one.
            format!("{}.{}", "+".repeat(PAYLOAD_TEXT_LEN), mac_text),
            format!("{}.{}", payload_text, "/".repeat(MAC_TEXT_LEN)),
            // Padding is not allowed.
            format!("{}.{}=", payload_text, &mac_text[..MAC_TEXT_LEN - 1]),
        ];
        for text in garbage {
            assert_eq!(verify_access(&ring, &text), Err(TokenError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn non_canonical_base64_is_malformed() {
        // The last character of each part carries unused low bits: flipping one
        // would make a second spelling of the same token.
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        let (payload_text, mac_text) = token.split_once('.').unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let with_last =
            |text: &str, index: u8| format!("{}{}", &text[..text.len() - 1], alphabet[usize::from(index)] as char);
        let last_index = |text: &str| alphabet.iter().position(|&c| c == *text.as_bytes().last().unwrap()).unwrap();
        let payload_last = last_index(payload_text) as u8;
        let mac_last = last_index(mac_text) as u8;
        // 34 bytes leave 4 unused bits in the payload's last character, 32 bytes 2 in the MAC's.
        let forged_payload = format!("{}.{mac_text}", with_last(payload_text, payload_last ^ 0x01));
        let forged_mac = format!("{payload_text}.{}", with_last(mac_text, mac_last ^ 0x01));
        assert_ne!(forged_payload, token);
        assert_ne!(forged_mac, token);
        assert_eq!(verify_access(&ring, &forged_payload), Err(TokenError::Malformed));
        assert_eq!(verify_access(&ring, &forged_mac), Err(TokenError::Malformed));
    }

    #[test]
    fn a_token_expires_at_its_expiry() {
        let ring = ring();
        let claims = claims(TokenKind::Access);
        let token = ring.sign(&claims);
        let just_before = UnixTimeMs(claims.expires_at.0 - 1);
        assert_eq!(ring.verify(&token, TokenKind::Access, EVENT, just_before), Ok(claims));
        for now in [claims.expires_at, claims.expires_at.plus_ms(1), UnixTimeMs(u64::MAX)] {
            assert_eq!(ring.verify(&token, TokenKind::Access, EVENT, now), Err(TokenError::Expired));
        }
    }

    #[test]
    fn a_token_of_another_event_is_refused() {
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        for event in [0, EVENT - 1, EVENT + 1, u32::MAX] {
            assert_eq!(ring.verify(&token, TokenKind::Access, event, NOW), Err(TokenError::OtherEvent));
        }
    }

    #[test]
    fn a_queue_token_is_not_an_access_token() {
        let ring = ring();
        let queue = ring.sign(&claims(TokenKind::Queue));
        assert_eq!(ring.verify(&queue, TokenKind::Access, EVENT, NOW), Err(TokenError::WrongKind));
        let access = ring.sign(&claims(TokenKind::Access));
        assert_eq!(ring.verify(&access, TokenKind::Queue, EVENT, NOW), Err(TokenError::WrongKind));
    }

    #[test]
    fn checks_come_in_order() {
        let ring = ring();
        let wrong_everything = ring.sign(&TokenClaims { event: EVENT + 1, ..claims(TokenKind::Queue) });
        let late = UnixTimeMs(u64::MAX);
        assert_eq!(ring.verify(&wrong_everything, TokenKind::Access, EVENT, late), Err(TokenError::WrongKind));
        assert_eq!(ring.verify(&wrong_everything, TokenKind::Queue, EVENT, late), Err(TokenError::OtherEvent));
        assert_eq!(ring.verify(&wrong_everything, TokenKind::Queue, EVENT + 1, late), Err(TokenError::Expired));

        // A bad signature is found before what the payload claims is looked at.
        let (payload, mut mac) = split(&wrong_everything);
        mac[0] ^= 1;
        assert_eq!(ring.verify(&join(&payload, &mac), TokenKind::Access, EVENT, late), Err(TokenError::BadSignature));
    }

    #[test]
    fn an_unknown_key_id_is_refused() {
        let mut rotated = ring();
        rotated.rotate(&SeededEntropy::new(1));
        let token = rotated.sign(&claims(TokenKind::Access));
        assert_eq!(verify_access(&rotated, &token).map(|claims| claims.key_id), Ok(2));
        assert_eq!(verify_access(&ring(), &token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn another_rings_key_with_the_same_id_is_a_bad_signature() {
        let token = ring().sign(&claims(TokenKind::Access));
        let stranger = KeyRing::generate(&SeededEntropy::new(43));
        assert_eq!(verify_access(&stranger, &token), Err(TokenError::BadSignature));
    }

    #[test]
    fn old_keys_still_verify_after_rotation() {
        let entropy = SeededEntropy::new(5);
        let mut ring = KeyRing::generate(&entropy);
        let claims = claims(TokenKind::Access);
        let old = ring.sign(&claims);
        ring.rotate(&entropy);
        assert_eq!(ring.current_key_id(), 2);
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(verify_access(&ring, &old), Ok(claims));
        let new = ring.sign(&claims);
        assert_ne!(new, old);
        assert_eq!(verify_access(&ring, &new), Ok(TokenClaims { key_id: 2, ..claims }));

        // The ring keeps a bounded number of keys: the oldest goes first.
        for _ in 2..MAX_SIGNING_KEYS {
            ring.rotate(&entropy);
        }
        assert_eq!(ring.key_ids().count(), MAX_SIGNING_KEYS);
        assert_eq!(verify_access(&ring, &old), Ok(claims));
        ring.rotate(&entropy);
        assert_eq!(ring.key_ids().count(), MAX_SIGNING_KEYS);
        assert_eq!(verify_access(&ring, &old), Err(TokenError::UnknownKey));
        assert_eq!(verify_access(&ring, &new).map(|claims| claims.key_id), Ok(2));
    }

    #[test]
    fn rotation_wraps_key_ids_without_reusing_a_kept_one() {
        let entropy = SeededEntropy::new(9);
        let mut ring = KeyRing {
            keys: vec![SigningKey::generate(0, &entropy), SigningKey::generate(u32::MAX, &entropy)],
            current: u32::MAX,
        };
        ring.rotate(&entropy);
        assert_eq!(ring.current_key_id(), 1);
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), [0, u32::MAX, 1]);
    }

    #[test]
    fn tokens_are_url_safe_ascii() {
        let entropy = SeededEntropy::new(11);
        let ring = KeyRing::generate(&entropy);
        for _ in 0..500 {
            let mut random = [0; 29];
            entropy.fill(&mut random);
            let claims = TokenClaims {
                kind: if random[0] % 2 == 0 { TokenKind::Queue } else { TokenKind::Access },
                key_id: 1,
                event: u32::from_le_bytes(random[1..5].try_into().unwrap()),
                buyer: BuyerId(u64::from_le_bytes(random[5..13].try_into().unwrap())),
                issued_at: UnixTimeMs(u64::from_le_bytes(random[13..21].try_into().unwrap())),
                expires_at: UnixTimeMs(u64::from_le_bytes(random[21..29].try_into().unwrap())),
            };
            let token = ring.sign(&claims);
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert_eq!(token.matches('.').count(), 1);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'), "{token}");
            let at = UnixTimeMs(claims.expires_at.0.saturating_sub(1));
            let verified = ring.verify(&token, claims.kind, claims.event, at);
            if claims.expires_at.0 == 0 {
                assert_eq!(verified, Err(TokenError::Expired));
            } else {
                assert_eq!(verified, Ok(claims));
            }
        }
    }

    #[test]
    fn error_codes_are_distinct_snake_case() {
        let errors = [
            TokenError::Malformed,
            TokenError::UnknownVersion,
            TokenError::UnknownKey,
            TokenError::BadSignature,
            TokenError::WrongKind,
            TokenError::OtherEvent,
            TokenError::Expired,
        ];
        let mut reasons: Vec<_> = errors.iter().map(|error| error.reason()).collect();
        assert!(reasons
            .iter()
            .all(|reason| reason.starts_with("token_") && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), errors.len());
        assert_eq!(TokenError::BadSignature.reason(), "token_bad_signature");
        assert_eq!(TokenError::BadSignature.code(), "invalid_token", "the client learns only that it is not valid");
        assert_eq!(TokenError::WrongKind.code(), "wrong_token_kind");
    }

    #[test]
    fn key_ring_round_trips_through_serde_and_checks_what_it_reads() {
        let entropy = SeededEntropy::new(3);
        let mut ring = KeyRing::generate(&entropy);
        ring.rotate(&entropy);
        let json = serde_json::to_string(&ring).unwrap();
        let read: KeyRing = serde_json::from_str(&json).unwrap();
        assert_eq!(read, ring);
        let token = ring.sign(&claims(TokenKind::Access));
        assert!(verify_access(&read, &token).is_ok());

        let key = |id: u32| serde_json::json!({ "id": id, "secret": vec![7_u8; SECRET_LEN] });
        let refused = [
            (serde_json::json!({ "keys": [], "current": 1 }), "no keys"),
            (serde_json::json!({ "keys": [key(1), key(1)], "current": 1 }), "two keys with id 1"),
            (serde_json::json!({ "keys": [key(1)], "current": 2 }), "current key 2"),
            (
                serde_json::json!({ "keys": (0..=MAX_SIGNING_KEYS as u32).map(key).collect::<Vec<_>>(), "current": 1 }),
                "more than",
            ),
            (serde_json::json!({ "keys": [{ "id": 1, "secret": vec![7_u8; 31] }], "current": 1 }), "31"),
        ];
        for (value, expected) in refused {
            let error = serde_json::from_value::<KeyRing>(value).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    fn order_claims() -> OrderClaims {
        OrderClaims {
            key_id: 1,
            event: EVENT,
            buyer: BuyerId(0x0123_4567_89ab_cdef),
            order: OrderId(0x0fed_cba9_8765_4321),
            issued_at: NOW,
            expires_at: NOW.plus_s(86_400),
        }
    }

    #[test]
    fn order_tokens_round_trip_and_expire() {
        let ring = ring();
        let claims = order_claims();
        let token = ring.sign_order(&claims);
        assert_eq!(token.len(), ORDER_TOKEN_LEN);
        assert_eq!(ORDER_TOKEN_LEN, 100);
        assert_eq!(ring.verify_order(&token, NOW), Ok(claims));
        assert_eq!(ring.verify_order(&token, UnixTimeMs(claims.expires_at.0 - 1)), Ok(claims));
        assert_eq!(ring.verify_order(&token, claims.expires_at), Err(TokenError::Expired));
    }

    #[test]
    fn order_and_buyer_tokens_are_not_interchangeable() {
        let ring = ring();
        let order = ring.sign_order(&order_claims());
        for kind in [TokenKind::Queue, TokenKind::Access] {
            assert_eq!(ring.verify(&order, kind, EVENT, NOW), Err(TokenError::WrongKind));
            assert_eq!(ring.verify_order(&ring.sign(&claims(kind)), NOW), Err(TokenError::WrongKind));
        }
    }

    #[test]
    fn a_forged_order_token_is_refused() {
        let ring = ring();
        let token = ring.sign_order(&order_claims());
        let (payload, mac) = split(&token);
        for index in 0..payload.len() {
            let mut forged = payload.clone();
            forged[index] ^= 0x01;
            assert!(ring.verify_order(&join(&forged, &mac), NOW).is_err(), "byte {index}");
        }
        // Another order's number with this token's MAC.
        let other = ring.sign_order(&OrderClaims { order: OrderId(7), ..order_claims() });
        let (other_payload, _) = split(&other);
        assert_eq!(ring.verify_order(&join(&other_payload, &mac), NOW), Err(TokenError::BadSignature));
        let stranger = KeyRing::generate(&SeededEntropy::new(43));
        assert_eq!(stranger.verify_order(&token, NOW), Err(TokenError::BadSignature));
        for len in 0..token.len() {
            assert_eq!(ring.verify_order(&token[..len], NOW), Err(TokenError::Malformed), "prefix of {len}");
        }
    }

    #[test]
    fn queue_and_access_tokens_keep_their_encoding() {
        // A token signed before order tokens existed (key 1 of seed 42): it
        // must verify as it did, byte for byte.
        let ring = ring();
        let token = ring.sign(&claims(TokenKind::Access));
        assert_eq!(token.len(), TOKEN_LEN);
        assert_eq!(token, KNOWN_ACCESS_TOKEN);
        assert_eq!(verify_access(&ring, KNOWN_ACCESS_TOKEN), Ok(claims(TokenKind::Access)));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let ring = KeyRing::generate(&SeededEntropy::new(1));
        let secret = ring.keys[0].secret;
        let shown = format!("{ring:?}");
        assert!(shown.contains("id: 1"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains(&format!("{secret:?}")[1..12]), "{shown}");
    }
}
