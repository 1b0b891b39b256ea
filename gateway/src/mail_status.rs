//! The SMTP relay's state as the mail worker last saw it (below `http`,
//! which shows it, and `mail`, which updates it): counted in the metrics
//! (`guichet_email_*`) and shown on the dashboard (last success, last
//! error), so a failing relay is seen before buyers ask where their tickets are.

use guichet_engine::outbox::OutboxCounts;
use guichet_engine::time::UnixTimeMs;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::metrics::MailMeters;

pub struct MailStatus {
    /// The relay's address; `None`: no email leaves this server.
    relay: Option<String>,
    meters: MailMeters,
    last: Mutex<RelayState>,
}

/// What the dashboard shows of the relay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayState {
    pub last_success_at: Option<UnixTimeMs>,
    pub last_error_at: Option<UnixTimeMs>,
    pub last_error: Option<String>,
}

impl MailStatus {
    pub fn new(relay: Option<String>, meters: MailMeters) -> MailStatus {
        meters.relay_configured.set(i64::from(relay.is_some()));
        meters.relay_up.set(i64::from(relay.is_some()));
        MailStatus { relay, meters, last: Mutex::new(RelayState::default()) }
    }

    pub fn relay(&self) -> Option<&str> {
        self.relay.as_deref()
    }

    pub fn state(&self) -> RelayState {
        self.last.lock().clone()
    }

    pub fn sent(&self, at: UnixTimeMs) {
        self.meters.sent.inc();
        self.meters.relay_up.set(1);
        self.meters.last_success_seconds.set((at.0 / 1000) as i64);
        self.last.lock().last_success_at = Some(at);
    }

    /// The relay did not take a message (`permanent`: it refused it for good,
    /// so it is up; otherwise it could not be reached or asked to retry).
    /// Only a passing failure's words are kept: they are about the relay,
    /// where a refusal's may name the buyer's address.
    pub fn failed(&self, at: UnixTimeMs, permanent: bool, error: &str) {
        let kind = if permanent { "permanent" } else { "transient" };
        self.meters.failures.with_label_values(&[kind]).inc();
        self.meters.relay_up.set(i64::from(permanent));
        if !permanent {
            let mut last = self.last.lock();
            last.last_error_at = Some(at);
            last.last_error = Some(error.chars().take(300).collect());
        }
    }

    /// Nothing to send (no address, the order changed): recorded done.
    pub fn skipped(&self, reason: &'static str) {
        self.meters.skipped.with_label_values(&[reason]).inc();
    }

    /// An entry that cannot become a message (unreadable, its order gone).
    pub fn unsendable(&self) {
        self.meters.failures.with_label_values(&["permanent"]).inc();
    }
}

impl MailStatus {
    /// The dashboard's view (`email` in an event's stats): the relay, its
    /// last success and last error, and the email entries by state.
    pub fn view(&self, counts: OutboxCounts) -> Value {
        let last = self.state();
        let time = |at: Option<UnixTimeMs>| at.map(|at| at.to_rfc3339());
        json!({
            "relay_configured": self.relay.is_some(),
            "pending": counts.pending, "retrying": counts.retrying, "failed": counts.failed,
            "last_success_at": time(last.last_success_at),
            "last_error_at": time(last.last_error_at), "last_error": last.last_error,
        })
    }
}
