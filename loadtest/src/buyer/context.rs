//! What every buyer of a run shares: the venue as buyers see it, the live
//! counts for the progress display, and the server's API.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Api;

/// The venue as buyers see it: where they can ask for seats.
pub struct Venue {
    pub reserved_sections: Vec<String>,
    pub ga_sections: Vec<String>,
    pub tiers: Vec<String>,
}

/// Live counts for the progress display.
#[derive(Default)]
pub struct Tally {
    pub arrived: AtomicU64,
    pub queued: AtomicU64,
    pub admitted: AtomicU64,
    pub bought: AtomicU64,
    pub tickets: AtomicU64,
    pub finished: AtomicU64,
    /// Queue answers (a join's or a poll's) that said admitted without the access token.
    pub admitted_without_token: AtomicU64,
}

/// What every buyer shares.
pub struct Context {
    pub api: Arc<Api>,
    pub event_id: String,
    /// Distinguishes this run's payment references and idempotency keys.
    pub run_tag: String,
    pub start: Instant,
    pub deadline: Instant,
    pub venue: Venue,
    pub sold_out_patience: Duration,
    pub tally: Tally,
    /// The event is paid through the test provider: buyers check out and
    /// confirm on the test page instead of purchasing.
    pub paid_through_test_provider: bool,
    /// Buyers give an email address at checkout.
    pub buyer_email: bool,
}
