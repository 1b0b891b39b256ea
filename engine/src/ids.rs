//! Identifiers and counts as newtypes, so a hold id is never taken for an order id.
//!
//! Server-chosen ids (hold, order) are `u64`s that carry the index of the buyer
//! shard that owns them in their low bits: any operation on a hold or an order
//! finds its lock without a global lookup. Outside the engine they are opaque
//! strings (`h…`, `o…`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::limits::{BUYER_SHARDS, MAX_PUBLIC_ID_LEN};

/// Bits of a hold or order id that name its buyer shard.
const SHARD_BITS: u32 = 8;
const _: () = assert!(BUYER_SHARDS <= 1 << SHARD_BITS);

/// A buyer, as identified by the waiting room (the access token's subject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BuyerId(pub u64);

impl BuyerId {
    /// The promoter or operator acting with the admin token; never a real buyer.
    pub const ADMIN: Self = Self(u64::MAX);

    pub(crate) fn shard(self) -> usize {
        // Buyer ids may be sequential: mix them so shards fill evenly.
        let mixed = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 32) as usize % BUYER_SHARDS
    }
}

macro_rules! sharded_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("The id of ", $what, "; shown as `", $prefix, "` and hex digits.")]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl $name {
            pub(crate) fn new(sequence: u64, buyer_shard: usize) -> Self {
                debug_assert!(buyer_shard < BUYER_SHARDS);
                Self((sequence << SHARD_BITS) | buyer_shard as u64)
            }

            pub(crate) fn sequence(self) -> u64 {
                self.0 >> SHARD_BITS
            }

            /// The buyer shard, or `None` for an id no shard could have issued.
            pub(crate) fn shard(self) -> Option<usize> {
                let shard = (self.0 & ((1 << SHARD_BITS) - 1)) as usize;
                (shard < BUYER_SHARDS).then_some(shard)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let digits = text.strip_prefix($prefix).ok_or(IdParseError)?;
                if digits.is_empty() || digits.len() > 16 || digits.starts_with('+') {
                    return Err(IdParseError);
                }
                u64::from_str_radix(digits, 16).map(Self).map_err(|_| IdParseError)
            }
        }
    };
}

sharded_id!(HoldId, "h", "a hold");
sharded_id!(OrderId, "o", "an order");

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an id this server issued")]
pub struct IdParseError;

/// Index of a shard (a row, or a slice of a general-admission pool) in an event's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShardIndex(pub u32);

/// Index of a section in an event's layout, in the order the promoter listed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SectionIndex(pub u32);

/// Index of a price tier in an event's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TierIndex(pub u32);

/// A number of tickets (seats or general-admission places).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketCount(pub u32);

/// Whether `text` is a valid promoter-chosen id: `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_public_id(text: &str) -> bool {
    (1..=MAX_PUBLIC_ID_LEN).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_round_trip_and_name_their_shard() {
        let hold = HoldId::new(12_345, 17);
        assert_eq!(hold.shard(), Some(17));
        assert_eq!(hold.sequence(), 12_345);
        assert_eq!(hold.to_string().parse::<HoldId>(), Ok(hold));
        assert!("o1f".parse::<HoldId>().is_err());
        assert!("h".parse::<HoldId>().is_err());
        assert!("h+1".parse::<HoldId>().is_err());
        assert!("h12345678901234567".parse::<HoldId>().is_err());
    }

    #[test]
    fn public_ids_follow_the_contract() {
        assert!(is_valid_public_id("celine-dion_2027"));
        assert!(!is_valid_public_id(""));
        assert!(!is_valid_public_id("é"));
        assert!(!is_valid_public_id(&"a".repeat(65)));
    }
}
