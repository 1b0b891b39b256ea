//! Email to buyers: the worker that drains the engine's outbox of email
//! (`compose` builds each message when it is sent, `smtp` hands it to the
//! configured relay; `crate::mail_status` keeps the relay's last word for
//! the dashboard). At least once: an entry is attempted only once its record is
//! durable, its outcome is recorded after the attempt, and a message sent
//! again after a crash carries the same Message-ID (it derives from the
//! entry's key), so the receiving side can tell it is the same message.
//! Without a relay configured the worker does not run: entries wait, and
//! the metrics count them.

pub mod compose;
pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use guichet_engine::emails::EMAIL_KIND;
use guichet_engine::outbox::{OutboxEntry, OutboxEntryId};
use guichet_engine::store::Engine;
use lettre::message::Mailbox;
use lettre::Message;

use self::compose::Composed;
use self::smtp::{Relay, SendFailure};
use crate::documents::{render_tickets_pdf, TicketsDocument};
use crate::mail_status::MailStatus;

/// How often the worker looks for email due.
const MAIL_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Messages sent per look, one after the other.
const MAILS_PER_POLL: usize = 32;

/// How email leaves: `guichet serve`'s `--smtp-relay`, `--mail-from`,
/// `--public-url`, `--smtp-timeout-ms`.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The relay as `host:port`, spoken to in plain SMTP (a local MTA).
    pub relay: String,
    pub from: Mailbox,
    /// The server's public base URL (no trailing `/`): order links start with it.
    pub public_url: String,
    /// The longest an SMTP exchange may take before it counts as failed.
    pub timeout: Duration,
}

/// Runs until the task is dropped.
pub async fn run(engine: Arc<Engine>, settings: Arc<MailSettings>, status: Arc<MailStatus>) {
    let relay = match Relay::new(&settings) {
        Ok(relay) => relay,
        Err(error) => {
            tracing::error!("the SMTP relay {:?} cannot be used: {error}", settings.relay);
            status.failed(engine.clock().now(), false, &error);
            return;
        }
    };
    let mut interval = tokio::time::interval(MAIL_POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for entry in engine.outbox_due(EMAIL_KIND, MAILS_PER_POLL) {
            let relay_down = attempt(&engine, &settings, &relay, &status, entry).await;
            if relay_down {
                // The next entries would fail alike: they wait for the next look.
                break;
            }
        }
    }
}

/// Composes and sends one entry and records the outcome; true when the
/// relay could not take it for a passing reason.
async fn attempt(
    engine: &Arc<Engine>,
    settings: &Arc<MailSettings>,
    relay: &Relay,
    status: &MailStatus,
    entry: OutboxEntry,
) -> bool {
    let (id, key) = (entry.id, entry.idempotency_key.clone());
    let now = || engine.clock().now();
    let (result, permanent) = match written(engine, settings, status, &entry).await {
        Ok(Some(message)) => match relay.send(message).await {
            Ok(()) => {
                status.sent(now());
                (Ok(()), false)
            }
            Err(SendFailure { permanent, message }) => {
                tracing::warn!(%key, permanent, "email not sent: {message}");
                status.failed(now(), permanent, &message);
                (Err(message), permanent)
            }
        },
        Ok(None) => (Ok(()), false),
        Err(error) => {
            tracing::warn!(%key, "email cannot be composed: {error}");
            status.unsendable();
            (Err(error), true)
        }
    };
    let relay_down = result.is_err() && !permanent;
    record(engine, id, result, permanent).await;
    relay_down
}

/// The message of `entry` with its tickets rendered (`None`: nothing to
/// send, counted as skipped); an error is for good.
async fn written(
    engine: &Arc<Engine>,
    settings: &Arc<MailSettings>,
    status: &MailStatus,
    entry: &OutboxEntry,
) -> Result<Option<Message>, String> {
    // The buyer's contact is read from the key table on disk: off the serving threads.
    let (for_prepare, settings_for_prepare, entry_for_prepare) = (engine.clone(), settings.clone(), entry.clone());
    let prepared =
        tokio::task::spawn_blocking(move || compose::prepare(&for_prepare, &settings_for_prepare, &entry_for_prepare))
            .await
            .unwrap_or_else(|panicked| Err(format!("composing panicked: {panicked}")));
    let draft = match prepared? {
        Composed::Write(draft) => draft,
        Composed::Skip(reason) => {
            tracing::debug!(key = %entry.idempotency_key, "email not sent: {reason}");
            status.skipped(reason);
            return Ok(None);
        }
    };
    let tickets = match draft.wants_tickets() {
        true => {
            let name = draft.contact.name.as_deref();
            let document = TicketsDocument::of(engine, &draft.event, &draft.order, &draft.order_id, name);
            Some(render_tickets_pdf(document).await.map_err(|e| format!("the tickets PDF: {e}"))?)
        }
        false => None,
    };
    draft.message(settings, entry, tickets).map(Some)
}

async fn record(engine: &Engine, id: OutboxEntryId, result: Result<(), String>, permanent: bool) {
    match engine.outbox_attempted(id, result, permanent) {
        Ok(receipt) => {
            if let Err(error) = engine.durable(receipt).await {
                tracing::error!("recording an email attempt: {error}");
            }
        }
        Err(error) => tracing::error!("recording an email attempt: {error}"),
    }
}
