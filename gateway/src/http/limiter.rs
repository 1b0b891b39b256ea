//! Budgets per minute: queue joins per client address (so one machine cannot
//! fill a waiting room with buyers nobody is behind; IPv6 clients by /64),
//! seat calls per admitted buyer (per access token), and "Find my order"
//! lookups per client address and per order id asked about (existing or
//! not, so a refusal tells nothing either). A fixed one-minute
//! window per key, in a bounded table. A refusal is 429 with the seconds to
//! wait, or 503 when too many keys are tracked at once.

use std::collections::HashMap;
use std::net::IpAddr;

use guichet_engine::time::UnixTimeMs;
use hyper::StatusCode;
use parking_lot::Mutex;

use super::error::{ApiError, ApiResult};

/// Keys whose windows are tracked at once; past it, stale windows are
/// dropped, and if all are current the call is refused as overload.
pub const MAX_TRACKED_KEYS: usize = 200_000;

#[derive(Debug)]
pub struct WindowLimiter {
    per_minute: u32,
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    by_key: HashMap<u128, (u64, u32)>,
    /// The minute stale windows were last dropped: at most one sweep a minute.
    swept_minute: u64,
}

/// Why a call was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This key used its budget: retry after this many seconds.
    OverBudget { retry_after_s: u64 },
    /// Too many distinct keys at once.
    Overloaded,
}

impl WindowLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(Windows::default()) }
    }

    /// Counts a call by `key` at `now_s` (Unix seconds).
    pub fn admit(&self, key: u128, now_s: u64) -> Result<(), Refusal> {
        let minute = now_s / 60;
        let mut windows = self.windows.lock();
        if windows.by_key.len() >= MAX_TRACKED_KEYS && !windows.by_key.contains_key(&key) {
            if windows.swept_minute != minute {
                windows.by_key.retain(|_, (window, _)| *window == minute);
                windows.swept_minute = minute;
            }
            if windows.by_key.len() >= MAX_TRACKED_KEYS {
                return Err(Refusal::Overloaded);
            }
        }
        let (window, count) = windows.by_key.entry(key).or_insert((minute, 0));
        if *window != minute {
            *window = minute;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(Refusal::OverBudget { retry_after_s: 60 - now_s % 60 });
        }
        *count += 1;
        Ok(())
    }
}

/// "Find my order" lookups a client address may make per minute.
pub const LOOKUPS_PER_CLIENT_PER_MINUTE: u32 = 5;
/// Lookups of one order id per minute, from all clients together.
pub const LOOKUPS_PER_ORDER_PER_MINUTE: u32 = 3;

/// "Find my order"'s two budgets.
#[derive(Debug)]
pub struct LookupLimiter {
    pub per_client: WindowLimiter,
    pub per_order: WindowLimiter,
}

impl Default for LookupLimiter {
    fn default() -> Self {
        Self {
            per_client: WindowLimiter::new(LOOKUPS_PER_CLIENT_PER_MINUTE),
            per_order: WindowLimiter::new(LOOKUPS_PER_ORDER_PER_MINUTE),
        }
    }
}

/// An order id's key for its budget, as typed: the same order however its
/// hex digits are written, and any other text by its digest.
pub fn order_key(order_id: &str, parsed: Option<(u32, u64)>) -> u128 {
    use sha2::Digest;
    match parsed {
        Some((event, order)) => (1 << 127) | (u128::from(event) << 64) | u128::from(order),
        None => {
            let digest = sha2::Sha256::digest(order_id.as_bytes());
            let mut first = [0; 16];
            first.copy_from_slice(&digest[..16]);
            u128::from_le_bytes(first) >> 1
        }
    }
}

/// A client address's key: IPv4 as is, IPv6 by its /64.
pub fn client_key(address: IpAddr) -> u128 {
    // IPv4 clients of a server listening on [::] arrive as ::ffff:a.b.c.d.
    match address.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) << 64,
    }
}

/// Counts a call against a per-minute budget: 429 past it.
pub fn within_budget(limiter: &WindowLimiter, key: u128, now: UnixTimeMs, code: &'static str) -> ApiResult<()> {
    match limiter.admit(key, now.0 / 1000) {
        Ok(()) => Ok(()),
        Err(Refusal::OverBudget { retry_after_s }) => {
            let message = "too many requests in this minute; retry later";
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).retry_after(retry_after_s))
        }
        Err(Refusal::Overloaded) => Err(ApiError::unavailable("overloaded", "too many clients at once; retry")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_budget_per_minute() {
        let limiter = WindowLimiter::new(3);
        let client = client_key("192.0.2.7".parse().unwrap());
        for _ in 0..3 {
            limiter.admit(client, 120).unwrap();
        }
        assert_eq!(limiter.admit(client, 150), Err(Refusal::OverBudget { retry_after_s: 30 }));
        assert!(limiter.admit(client_key("192.0.2.8".parse().unwrap()), 150).is_ok(), "budgets are per client");
        assert!(limiter.admit(client, 180).is_ok(), "a new minute, a new budget");
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let limiter = WindowLimiter::new(1);
        limiter.admit(client_key("2001:db8::1".parse().unwrap()), 0).unwrap();
        assert!(limiter.admit(client_key("2001:db8::2".parse().unwrap()), 0).is_err());
    }
}
