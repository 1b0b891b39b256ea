//! Email to buyers, as outbox entries: what to send and about which order,
//! never to whom. The address is looked up when the message is sent (it is
//! personal data, kept encrypted apart from the log), so an erased buyer's
//! address is in no log record and no outbox payload. The entry's
//! idempotency key names the message; the Message-ID derives from it, so a
//! message sent again after a crash is the same message to the receiver.

use serde::{Deserialize, Serialize};

use crate::ids::OrderId;

/// The outbox kind of an email; its payload is a JSON [`EmailRequest`].
pub const EMAIL_KIND: &str = "email";

/// One message to the buyer of one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRequest {
    /// The event's number (`EventNumber`'s value).
    pub event: u32,
    pub order: OrderId,
    pub message: EmailMessage,
}

/// Which message: the renderer decides its words and attachments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EmailMessage {
    /// The order is confirmed: the order link, the tickets (PDF), the `.ics`.
    Confirmation,
    /// "Find my order": the order link again (`nth` tells requests apart).
    OrderLink { nth: u32 },
    /// The one-time confirmation a cancellation asks for (`nth` tells requests apart).
    CancelConfirmation { nth: u32 },
    /// The order was cancelled.
    Cancelled,
    /// The order's money was given back.
    Refunded,
}

impl EmailRequest {
    /// The outbox idempotency key, one per message: queued twice, sent once.
    pub fn key(&self) -> String {
        let order = self.order;
        let event = self.event;
        match self.message {
            EmailMessage::Confirmation => format!("email-confirmation-{event}-{order}"),
            EmailMessage::OrderLink { nth } => format!("email-link-{event}-{order}-{nth}"),
            EmailMessage::CancelConfirmation { nth } => format!("email-cancel-code-{event}-{order}-{nth}"),
            EmailMessage::Cancelled => format!("email-cancelled-{event}-{order}"),
            EmailMessage::Refunded => format!("email-refunded-{event}-{order}"),
        }
    }
}
