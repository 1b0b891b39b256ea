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

use self::compose::{Composed, Draft};
use self::smtp::{Relay, SendFailure};
use crate::documents::{tickets_pdf, TicketsDocument};
use crate::mail_status::MailStatus;
use crate::spare_cpu::SpareCpu;

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

/// Runs until the task is dropped. Writing and sending (the PDF, the MIME
/// message, the SMTP exchange) happen on the spare CPU; what they need from
/// the engine is read here first, at normal priority.
pub async fn run(engine: Arc<Engine>, settings: Arc<MailSettings>, status: Arc<MailStatus>, spare: Arc<SpareCpu>) {
    let for_relay = settings.clone();
    // Built where it is used: its connection pool lives on the spare thread.
    let relay = match spare.run(async move { Relay::new(&for_relay).map(Arc::new) }).await {
        Ok(Ok(relay)) => relay,
        Ok(Err(error)) => {
            tracing::error!("the SMTP relay {:?} cannot be used: {error}", settings.relay);
            status.failed(engine.clock().now(), false, &error);
            return;
        }
        Err(stopped) => return tracing::error!("no email is sent: {stopped}"),
    };
    let mut interval = tokio::time::interval(MAIL_POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        for entry in engine.outbox_due(EMAIL_KIND, MAILS_PER_POLL) {
            let relay_down = attempt(&engine, &settings, &relay, &status, &spare, entry).await;
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
    relay: &Arc<Relay>,
    status: &MailStatus,
    spare: &SpareCpu,
    entry: OutboxEntry,
) -> bool {
    let (id, key) = (entry.id, entry.idempotency_key.clone());
    let now = || engine.clock().now();
    let (result, permanent) = match parcel(engine, settings, status, &entry).await {
        Ok(Some(parcel)) => {
            let (relay, settings) = (relay.clone(), settings.clone());
            let sent = spare.run(async move { parcel.write_and_send(&relay, &settings, &entry).await }).await;
            match sent.unwrap_or_else(|stopped| Err(NotSent::Later(stopped.to_string()))) {
                Ok(()) => {
                    status.sent(now());
                    (Ok(()), false)
                }
                Err(NotSent::Refused(SendFailure { permanent, message })) => {
                    tracing::warn!(%key, permanent, "email not sent: {message}");
                    status.failed(now(), permanent, &message);
                    (Err(message), permanent)
                }
                Err(NotSent::Later(message)) => {
                    tracing::warn!(%key, "email not sent: {message}");
                    (Err(message), false)
                }
                Err(NotSent::Unwritable(error)) => unwritable(&key, status, error),
            }
        }
        Ok(None) => (Ok(()), false),
        Err(error) => unwritable(&key, status, error),
    };
    let relay_down = result.is_err() && !permanent;
    record(engine, id, result, permanent).await;
    relay_down
}

fn unwritable(key: &str, status: &MailStatus, error: String) -> (Result<(), String>, bool) {
    tracing::warn!(%key, "email cannot be composed: {error}");
    status.unsendable();
    (Err(error), true)
}

/// What the spare CPU needs to write and send one message: the draft, and
/// the tickets to render when it carries them. Plain data: no engine lock
/// is taken there.
struct Parcel {
    draft: Box<Draft>,
    tickets: Option<TicketsDocument>,
}

/// Why a message did not leave.
enum NotSent {
    /// It cannot be written (for good).
    Unwritable(String),
    /// The relay did not take it.
    Refused(SendFailure),
    /// The server is stopping: try again after.
    Later(String),
}

impl Parcel {
    async fn write_and_send(self, relay: &Relay, settings: &MailSettings, entry: &OutboxEntry) -> Result<(), NotSent> {
        let pdf = match &self.tickets {
            Some(tickets) => {
                Some(tickets_pdf(tickets).map_err(|e| NotSent::Unwritable(format!("the tickets PDF: {e}")))?)
            }
            None => None,
        };
        let message = self.draft.message(settings, entry, pdf).map_err(NotSent::Unwritable)?;
        relay.send(message).await.map_err(NotSent::Refused)
    }
}

/// What `entry` comes to, read from the engine (`None`: nothing to send,
/// counted as skipped); an error is for good.
async fn parcel(
    engine: &Arc<Engine>,
    settings: &Arc<MailSettings>,
    status: &MailStatus,
    entry: &OutboxEntry,
) -> Result<Option<Parcel>, String> {
    // The buyer's contact is read from the key table on disk: off the serving threads.
    let (engine, settings, for_prepare) = (engine.clone(), settings.clone(), entry.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        let draft = match compose::prepare(&engine, &settings, &for_prepare)? {
            Composed::Write(draft) => draft,
            Composed::Skip(reason) => return Ok(Err(reason)),
        };
        let tickets = draft.wants_tickets().then(|| {
            let name = draft.contact.name.as_deref();
            TicketsDocument::of(&engine, &draft.event, &draft.order, &draft.order_id, name)
        });
        Ok(Ok(Parcel { draft, tickets }))
    })
    .await
    .unwrap_or_else(|panicked| Err(format!("composing panicked: {panicked}")));
    match prepared? {
        Ok(parcel) => Ok(Some(parcel)),
        Err(reason) => {
            tracing::debug!(key = %entry.idempotency_key, "email not sent: {reason}");
            status.skipped(reason);
            Ok(None)
        }
    }
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
