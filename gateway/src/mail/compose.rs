//! The messages to buyers, composed when they are sent: from the order as
//! it is then, and the buyer's contact if it still exists (an entry names
//! only the order). The Message-ID is the entry's idempotency key at the
//! sender's domain and the Date is when the entry was queued, so a message
//! sent again after a crash is the same message; an order's confirmation
//! carries its link (`{public_url}/o/{order_id}#t={order_token}`) and its
//! calendar file and its tickets as a PDF (rendered by `documents`, on the
//! spare CPU); a cancellation's confirmation
//! carries the link with its one-time code, signed as it is written.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use guichet_engine::emails::{EmailMessage, EmailRequest};
use guichet_engine::event::{Event, EventNumber};
use guichet_engine::inventory::{Order, OrderStatus};
use guichet_engine::limits::CANCEL_CONFIRMATION_VALID_S;
use guichet_engine::outbox::OutboxEntry;
use guichet_engine::store::personal::BuyerContact;
use guichet_engine::store::Engine;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::MailSettings;
use crate::calendar::order_ics;
use crate::http::views::{cancel_confirmation_url, order_ref, order_url};

/// What an entry comes to.
pub enum Composed {
    /// A message to write ([`Draft::message`]), its tickets rendered first
    /// by the caller when [`Draft::wants_tickets`].
    Write(Box<Draft>),
    /// Nothing to send (the label says why); the entry is done.
    Skip(&'static str),
}

/// An entry's message before its attachments are rendered.
pub struct Draft {
    pub what: EmailMessage,
    pub event: Arc<Event>,
    pub order: Order,
    pub contact: BuyerContact,
    /// The order's public id (`o<event>-<order>`).
    pub order_id: String,
    /// The order's page, with its token.
    pub link: String,
}

/// The message `entry` asks for, from the order as it is now; an error is
/// for good (the entry is unreadable, or its order is gone).
pub fn prepare(engine: &Engine, settings: &MailSettings, entry: &OutboxEntry) -> Result<Composed, String> {
    let request: EmailRequest =
        serde_json::from_slice(&entry.payload).map_err(|e| format!("unreadable email entry: {e}"))?;
    let event = engine.event_by_number(EventNumber(request.event)).ok_or("the order's event is gone")?;
    let order = event.inventory.order(request.order).ok_or("the order is gone")?;
    if request.message == EmailMessage::Confirmation && order.status == OrderStatus::Cancelled {
        return Ok(Composed::Skip("order_cancelled"));
    }
    let Some(contact) = engine.buyer_contact(&event, order.id) else { return Ok(Composed::Skip("no_address")) };
    let order_id = order_ref(&event, order.id);
    let token = engine.order_token(&event, &order);
    let path = match request.message {
        EmailMessage::CancelConfirmation { nth } => {
            if order.status == OrderStatus::Cancelled {
                return Ok(Composed::Skip("order_cancelled"));
            }
            // Signed now, from the entry's time: never stored, the same code if sent again.
            let code = engine.cancel_confirmation_code(&event, order.id, nth).ok_or("the request is gone")?;
            cancel_confirmation_url(&order_id, &token, &code)
        }
        _ => order_url(&order_id, &token),
    };
    let link = format!("{}{path}", settings.public_url);
    Ok(Composed::Write(Box::new(Draft { what: request.message, event, order, contact, order_id, link })))
}

impl Draft {
    /// Whether the message carries the tickets (a PDF): the confirmation does.
    pub fn wants_tickets(&self) -> bool {
        self.what == EmailMessage::Confirmation
    }

    /// The whole message, as entry `entry` (its key, its time), with the
    /// rendered `tickets` if any.
    pub fn message(
        &self,
        settings: &MailSettings,
        entry: &OutboxEntry,
        tickets: Option<Vec<u8>>,
    ) -> Result<Message, String> {
        let letter =
            Letter { event: &self.event, order: &self.order, order_id: self.order_id.clone(), link: self.link.clone() };
        letter.message(&self.what, settings, &self.contact, entry, tickets)
    }
}

/// An order, as a message tells of it.
pub struct Letter<'a> {
    pub event: &'a Event,
    pub order: &'a Order,
    /// The order's public id (`o<event>-<order>`).
    pub order_id: String,
    /// The order's page, with its token.
    pub link: String,
}

impl Letter<'_> {
    /// The whole message to `contact` about `what`, as entry `entry`.
    pub fn message(
        &self,
        what: &EmailMessage,
        settings: &MailSettings,
        contact: &BuyerContact,
        entry: &OutboxEntry,
        tickets: Option<Vec<u8>>,
    ) -> Result<Message, String> {
        let address = contact.email.parse().map_err(|e| format!("the buyer's address is not usable: {e}"))?;
        let to = Mailbox::new(contact.name.clone(), address);
        let (subject, body) = self.words(what, contact)?;
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body));
        if matches!(what, EmailMessage::Confirmation | EmailMessage::OrderLink { .. } | EmailMessage::Cancelled) {
            let ics = order_ics(self.event, self.order, &self.order_id);
            let calendar = ContentType::parse("text/calendar; charset=utf-8").map_err(|e| e.to_string())?;
            parts = parts.singlepart(Attachment::new(format!("{}.ics", self.order_id)).body(ics, calendar));
        }
        if let Some(pdf) = tickets {
            let kind = ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
            parts = parts.singlepart(Attachment::new(format!("tickets-{}.pdf", self.order_id)).body(pdf, kind));
        }
        Message::builder()
            .from(settings.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(&entry.idempotency_key, &settings.from)))
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(entry.queued_at.0))
            .multipart(parts)
            .map_err(|e| format!("the message cannot be built: {e}"))
    }

    /// The subject and the text.
    fn words(&self, what: &EmailMessage, contact: &BuyerContact) -> Result<(String, String), String> {
        let spec = &self.event.valid.spec;
        let (show, order_id, link) = (&spec.name, &self.order_id, &self.link);
        let greeting = match &contact.name {
            Some(name) => format!("Hello {name},"),
            None => "Hello,".to_owned(),
        };
        let when = format!("{}, {}", spec.venue, self.event.valid.starts_at.to_rfc3339());
        let tickets = self.order.tickets.0;
        let amount = money(self.order.total_cents, spec.currency.as_str());
        let (subject, middle) = match what {
            EmailMessage::Confirmation => (
                format!("Your tickets for {show}"),
                format!(
                    "your order {order_id} is confirmed: {tickets} ticket(s) for {show} ({when}), {amount}.\n\n\
                     Your tickets, to show at the door or print:\n{link}\n\n\
                     The tickets (PDF) and the calendar file are attached."
                ),
            ),
            EmailMessage::OrderLink { .. } => (
                format!("Your order for {show}"),
                format!("here is the link to your order {order_id} for {show} ({when}):\n{link}"),
            ),
            EmailMessage::Cancelled => (
                format!("Your order for {show} is cancelled"),
                format!(
                    "your order {order_id} for {show} ({when}) is cancelled; its tickets are no longer valid.\n\n\
                     The order: {link}"
                ),
            ),
            EmailMessage::Refunded => (
                format!("Your refund for {show}"),
                format!(
                    "the payment of your order {order_id} for {show}, {amount}, was refunded. It reaches your \
                     account in a few days, as your bank goes.\n\nThe order: {link}"
                ),
            ),
            EmailMessage::CancelConfirmation { .. } => (
                format!("Confirm the cancellation of your order for {show}"),
                format!(
                    "someone with your order's link asked to cancel order {order_id} for {show} ({when}). \
                     If it was you, open this link within {minutes} minutes and confirm the cancellation:\n{link}\n\n\
                     If it was not you, ignore this message: nothing changes, and your tickets stay valid.",
                    minutes = CANCEL_CONFIRMATION_VALID_S / 60
                ),
            ),
        };
        let footer = "You get this message because you bought tickets with this address.";
        Ok((subject, format!("{greeting}\n\n{middle}\n\n-- \n{footer}\n")))
    }
}

/// `<key@domain of the sender>`: the same for every attempt of one entry.
pub fn message_id(idempotency_key: &str, from: &Mailbox) -> String {
    format!("<{idempotency_key}@{}>", from.email.domain())
}

fn money(cents: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_is_the_key_at_the_senders_domain() {
        let from: Mailbox = "Guichet <tickets@example.org>".parse().unwrap();
        assert_eq!(message_id("email-confirmation-0-7", &from), "<email-confirmation-0-7@example.org>");
        assert_eq!(money(12_345, "CAD"), "123.45 CAD");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
    }
}
