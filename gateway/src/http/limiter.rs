//! The per-client budget for joining queues: so one machine cannot fill a
//! waiting room with buyers nobody is behind. A fixed one-minute window per
//! client address (IPv6 clients by /64), with a bounded table of clients.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// Clients whose windows are tracked at once; past it, stale windows are
/// dropped, and if all are current the join is refused as overload.
pub const MAX_TRACKED_CLIENTS: usize = 200_000;

#[derive(Debug)]
pub struct JoinLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<u128, (u64, u32)>>,
}

/// Why a join was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This client used its budget: retry after this many seconds.
    OverBudget { retry_after_s: u64 },
    /// Too many distinct clients at once.
    Overloaded,
}

impl JoinLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a join by `client` at `now_s` (Unix seconds).
    pub fn admit(&self, client: IpAddr, now_s: u64) -> Result<(), Refusal> {
        let minute = now_s / 60;
        let mut windows = self.windows.lock();
        if windows.len() >= MAX_TRACKED_CLIENTS && !windows.contains_key(&key(client)) {
            windows.retain(|_, (window, _)| *window == minute);
            if windows.len() >= MAX_TRACKED_CLIENTS {
                return Err(Refusal::Overloaded);
            }
        }
        let (window, count) = windows.entry(key(client)).or_insert((minute, 0));
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

fn key(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) << 64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_budget_per_minute() {
        let limiter = JoinLimiter::new(3);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            limiter.admit(client, 120).unwrap();
        }
        assert_eq!(limiter.admit(client, 150), Err(Refusal::OverBudget { retry_after_s: 30 }));
        assert!(limiter.admit("192.0.2.8".parse().unwrap(), 150).is_ok(), "budgets are per client");
        assert!(limiter.admit(client, 180).is_ok(), "a new minute, a new budget");
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64() {
        let limiter = JoinLimiter::new(1);
        limiter.admit("2001:db8::1".parse().unwrap(), 0).unwrap();
        assert!(limiter.admit("2001:db8::2".parse().unwrap(), 0).is_err());
    }
}
