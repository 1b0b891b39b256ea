//! Documents handed to the buyer: an order's tickets as a PDF, for the
//! confirmation email and the order route (`GET /v1/orders/{id}/tickets.pdf`).
//!
//! [`TicketsDocument`] is what is printed, built from the engine's order and
//! event by [`TicketsDocument::of`], so every place that hands the PDF out
//! prints the same words and the same ticket codes as the order's JSON and
//! its page (the QR code encodes the ticket's `code`, which the door scans).
//! [`tickets_pdf`] renders it and nothing else: no clock, no randomness, so
//! the same order always gives the same bytes. Rendering runs only for the
//! email worker and that route, on the spare CPU (`crate::spare_cpu`), never
//! on the buying path.

mod pdf;

use guichet_engine::event::Event;
use guichet_engine::inventory::{Order, OrderStatus};
use guichet_engine::store::Engine;
use guichet_engine::time::UnixTimeMs;

pub use pdf::tickets_pdf;

/// Everything a ticket PDF prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketsDocument {
    pub event_name: String,
    pub venue: String,
    /// The show's start, as the venue's clock reads it (see [`local_start`]).
    pub starts_at: String,
    /// The order's public id (`o<event>-<order>`).
    pub order_id: String,
    /// Absent when the buyer gave none, or their data was erased.
    pub buyer_name: Option<String>,
    /// Printed on every page when the order was cancelled.
    pub cancelled: bool,
    /// When the order was made: the document's date, so its bytes stay the same.
    pub created_at: UnixTimeMs,
    pub tickets: Vec<TicketLine>,
}

/// One ticket: one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketLine {
    pub place: TicketPlace,
    /// The tier's name.
    pub tier: String,
    /// The price, with its currency (`45.00 EUR`).
    pub price: String,
    /// The signed ticket code the QR code encodes (the order JSON's `code`).
    pub code: String,
}

/// Where the ticket lets its holder in; section names as the spec gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketPlace {
    Seat { section: String, row: String, number: u32 },
    GeneralAdmission { section: String },
}

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A ticket code too long for a QR code (a signed code never is).
    #[error("the ticket code does not fit in a QR code: {0}")]
    QrCode(String),
    /// The PDF library refused the document (or panicked on it).
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

impl TicketsDocument {
    /// The document of `order` of `event`, whose public id is `order_id`
    /// (as `calendar::order_ics` takes it), for the buyer named `name`.
    /// Tickets are numbered as the order's JSON numbers them, so each code is
    /// the one its page shows.
    pub fn of(engine: &Engine, event: &Event, order: &Order, order_id: &str, name: Option<&str>) -> Self {
        let spec = &event.valid.spec;
        let section_name =
            |id: &str| spec.sections.iter().find(|s| s.id == id).map_or_else(|| id.to_owned(), |s| s.name.clone());
        let tier_name =
            |id: &str| spec.tiers.iter().find(|t| t.id == id).map_or_else(|| id.to_owned(), |t| t.name.clone());
        let mut tickets = Vec::with_capacity(order.tickets.0 as usize);
        for place in &order.places {
            let described = event.inventory.describe(place);
            for _ in 0..place.tickets() {
                let index = u16::try_from(tickets.len()).unwrap_or(u16::MAX);
                let section = section_name(described.section);
                tickets.push(TicketLine {
                    place: match (described.row, described.number) {
                        (Some(row), Some(number)) => TicketPlace::Seat { section, row: row.to_owned(), number },
                        _ => TicketPlace::GeneralAdmission { section },
                    },
                    tier: tier_name(described.tier),
                    price: money(described.price_cents, &spec.currency),
                    code: engine.ticket_code(event, order, index),
                });
            }
        }
        Self {
            event_name: spec.name.clone(),
            venue: spec.venue.clone(),
            starts_at: local_start(&spec.starts_at, event.valid.starts_at),
            order_id: order_id.to_owned(),
            buyer_name: name.map(str::to_owned).filter(|n| !n.trim().is_empty()),
            cancelled: order.status == OrderStatus::Cancelled,
            created_at: order.created_at,
            tickets,
        }
    }
}

/// The show's start as the promoter wrote it: the spec has no time zone, but
/// its `starts_at` carries the venue's UTC offset, so the wall-clock time
/// there is printed with that offset (`Saturday 5 December 2026, 20:00
/// (UTC+01:00)`). Falls back to UTC for a text that does not parse (a
/// validated spec's always does).
pub fn local_start(written: &str, starts_at: UnixTimeMs) -> String {
    const FORMAT: &str = "%A %-d %B %Y, %H:%M";
    match chrono::DateTime::parse_from_rfc3339(written) {
        Ok(local) if local.offset().local_minus_utc() == 0 => format!("{} (UTC)", local.format(FORMAT)),
        Ok(local) => format!("{} (UTC{})", local.format(FORMAT), local.format("%:z")),
        Err(_) => {
            let utc = i64::try_from(starts_at.0).ok().and_then(chrono::DateTime::from_timestamp_millis);
            format!("{} (UTC)", utc.unwrap_or_default().format(FORMAT))
        }
    }
}

/// An amount in cents with its ISO 4217 code: `45.00 EUR`.
fn money(cents: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_reads_as_the_venues_clock() {
        let at = UnixTimeMs::parse_rfc3339("2026-12-05T20:00:00+01:00").expect("a time");
        assert_eq!(local_start("2026-12-05T20:00:00+01:00", at), "Saturday 5 December 2026, 20:00 (UTC+01:00)");
        assert_eq!(local_start("2026-12-05T19:00:00Z", at), "Saturday 5 December 2026, 19:00 (UTC)");
        assert_eq!(local_start("not a time", at), "Saturday 5 December 2026, 19:00 (UTC)");
    }

    #[test]
    fn money_shows_cents_and_currency() {
        assert_eq!(money(4500, "EUR"), "45.00 EUR");
        assert_eq!(money(7, "CAD"), "0.07 CAD");
    }
}
