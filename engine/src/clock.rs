//! Time comes in through [`Clock`], so tests can jump it and replays are exact.
//!
//! Every record carries the time it was made at; `apply` never reads a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::UnixTimeMs;

/// A source of the current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> UnixTimeMs;
}

/// The wall clock, made non-decreasing: a step back of the system clock (NTP)
/// reads as time standing still, so hold expiries never run backwards.
#[derive(Debug, Default)]
pub struct SystemClock {
    latest_ms: AtomicU64,
}

impl SystemClock {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> UnixTimeMs {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let previous_ms = self.latest_ms.fetch_max(wall_ms, Ordering::Relaxed);
        UnixTimeMs(previous_ms.max(wall_ms))
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    pub fn new(start: UnixTimeMs) -> Self {
        Self { now_ms: AtomicU64::new(start.0) }
    }

    pub fn set(&self, to: UnixTimeMs) {
        self.now_ms.store(to.0, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, by_ms: u64) {
        self.now_ms.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTimeMs {
        UnixTimeMs(self.now_ms.load(Ordering::SeqCst))
    }
}
