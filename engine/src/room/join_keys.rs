//! Idempotency keys of joins: a join retried because its answer was lost
//! finds the place it already made, instead of leaving a ghost in line.
//!
//! A join has no token yet, so its key is scoped to the event: anyone who
//! presents the key gets that buyer's queue token. A key must therefore be
//! unguessable; [`JoinKey::parse`] refuses keys too short to carry 128 bits.
//! Only the first 16 bytes of the key's SHA-256 are kept (in memory and in the
//! log): a fixed size per key, and a log that never holds the key itself.
//! Keys are kept `JOIN_KEY_KEPT_S`, oldest first out, so what a waiting buyer
//! costs stays bounded however long the event runs.

use std::collections::VecDeque;

use ahash::AHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::BuyerId;
use crate::limits::{
    JOIN_KEY_KEPT_S, MAX_IDEMPOTENCY_KEY_LEN, MAX_JOIN_KEYS_PER_EVENT, MIN_JOIN_KEY_CHARS, MIN_JOIN_KEY_HEX_DIGITS,
};
use crate::time::UnixTimeMs;

/// A join's `Idempotency-Key`, as kept: the first 16 bytes of its SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JoinKey(pub [u8; 16]);

/// Why a join key is refused; the message states the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadJoinKey {
    /// Not 22 to 128 characters of the base64url alphabet.
    Alphabet,
    /// Hex digits only, fewer than 32 (4 bits a digit).
    ShortHex,
    /// A UUID's shape: a version 4 UUID has 122 random bits, not 128.
    Uuid,
}

impl BadJoinKey {
    pub fn rule(self) -> &'static str {
        match self {
            BadJoinKey::Alphabet => {
                "a join's Idempotency-Key must be 22 to 128 characters from A-Z a-z 0-9 - _ (16 random bytes in \
                 base64url, or more)"
            }
            BadJoinKey::ShortHex => "a join's Idempotency-Key in hex digits only needs at least 32 of them (128 bits)",
            BadJoinKey::Uuid => {
                "a join's Idempotency-Key may not be a UUID (a version 4 UUID has 122 random bits; 128 are needed): \
                 send 16 random bytes in base64url or hex"
            }
        }
    }
}

impl JoinKey {
    /// Checks the header's text against the 128-bit rule and keeps its digest.
    ///
    /// The rule counts what the characters can carry (the server cannot see
    /// randomness): 6 bits for a base64url character, so at least 22; 4 bits
    /// for a key in hex digits only, so at least 32. A UUID's shape is refused.
    pub fn parse(text: &str) -> Result<JoinKey, BadJoinKey> {
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !(MIN_JOIN_KEY_CHARS..=MAX_IDEMPOTENCY_KEY_LEN).contains(&text.len()) || !text.bytes().all(base64url) {
            return Err(BadJoinKey::Alphabet);
        }
        if text.len() < MIN_JOIN_KEY_HEX_DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadJoinKey::ShortHex);
        }
        if looks_like_uuid(text) {
            return Err(BadJoinKey::Uuid);
        }
        let digest = Sha256::digest(text.as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Ok(JoinKey(key))
    }
}

/// `8-4-4-4-12` hex digits with hyphens.
fn looks_like_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { *b == b'-' } else { b.is_ascii_hexdigit() })
}

/// The keys of one room's recent joins.
#[derive(Debug, Default)]
pub(super) struct JoinKeys {
    /// Key → the buyer (number) its join made.
    by_key: AHashMap<JoinKey, u32>,
    /// Keys in join order, so oldest first: forgetting pops the front.
    by_age: VecDeque<JoinKey>,
}

/// The join keys a snapshot carries, in join order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinKeysSnapshot(Vec<(JoinKey, u32)>);

impl JoinKeys {
    pub(super) fn buyer(&self, key: &JoinKey) -> Option<BuyerId> {
        self.by_key.get(key).map(|&buyer| BuyerId(u64::from(buyer)))
    }

    pub(super) fn is_full(&self) -> bool {
        self.by_key.len() >= MAX_JOIN_KEYS_PER_EVENT
    }

    pub(super) fn insert(&mut self, key: JoinKey, buyer: BuyerId) {
        self.by_key.insert(key, buyer.0 as u32);
        self.by_age.push_back(key);
    }

    /// Forgets keys whose join is `JOIN_KEY_KEPT_S` or more before `now`;
    /// `joined_at` gives a buyer's join time. Returns how many.
    pub(super) fn forget_old(&mut self, now: UnixTimeMs, joined_at: impl Fn(usize) -> Option<UnixTimeMs>) -> usize {
        let mut forgotten = 0;
        while let Some(oldest) = self.by_age.front() {
            let joined = self.by_key.get(oldest).and_then(|&buyer| joined_at(buyer as usize));
            if joined.is_some_and(|at| now < at.plus_s(JOIN_KEY_KEPT_S)) {
                break;
            }
            self.by_key.remove(oldest);
            self.by_age.pop_front();
            forgotten += 1;
        }
        forgotten
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Bytes held (capacities), for the cost of a waiting buyer.
    pub(super) fn memory_bytes(&self) -> usize {
        // hashbrown: a power-of-two number of buckets at most 7/8 full, each
        // an entry and a control byte.
        let buckets = match self.by_key.capacity() {
            0 => 0,
            capacity => (capacity * 8).div_ceil(7).next_power_of_two(),
        };
        let bucket_bytes = std::mem::size_of::<(JoinKey, u32)>() + 1;
        buckets * bucket_bytes + self.by_age.capacity() * std::mem::size_of::<JoinKey>()
    }

    pub(super) fn snapshot(&self) -> JoinKeysSnapshot {
        JoinKeysSnapshot(self.by_age.iter().filter_map(|key| Some((*key, *self.by_key.get(key)?))).collect())
    }

    /// Loads a snapshot's keys; every buyer they name must be one of `buyers`.
    pub(super) fn restore(&mut self, saved: JoinKeysSnapshot, buyers: usize) -> Result<(), &'static str> {
        if saved.0.len() > MAX_JOIN_KEYS_PER_EVENT || saved.0.iter().any(|(_, buyer)| *buyer as usize >= buyers) {
            return Err("the snapshot's join keys name buyers it does not hold, or too many");
        }
        for (key, buyer) in saved.0 {
            self.insert(key, BuyerId(u64::from(buyer)));
        }
        Ok(())
    }
}
