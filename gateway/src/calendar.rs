//! An order's calendar file (`.ics`, RFC 5545): the show as one calendar
//! event. Its UID is the order's, so adding the file twice (from the order
//! page, from the confirmation email) updates one entry instead of making
//! two; its DTSTAMP is the order's creation, so the same order always gives
//! the same bytes. The spec has no end time, so the entry has none either
//! (calendars show it at its start). One function builds it, for every
//! place that hands the file out.

use chrono::{DateTime, Utc};
use guichet_engine::event::Event;
use guichet_engine::inventory::{Order, OrderStatus};
use guichet_engine::time::UnixTimeMs;
use icalendar::{Calendar, Component, EventLike, EventStatus, Property};

/// The product that writes the file (`PRODID`).
const PRODUCT_ID: &str = "-//Guichet//Order calendar//EN";

/// The `.ics` of `order` (whose public id is `order_id`) of `event`.
pub fn order_ics(event: &Event, order: &Order, order_id: &str) -> String {
    let spec = &event.valid.spec;
    let tickets = order.tickets.0;
    let description =
        format!("Order {order_id}: {tickets} ticket{}. Show the tickets on the order page.", plural(tickets));
    let mut show = icalendar::Event::new();
    show.uid(&format!("{order_id}@guichet"))
        .timestamp(utc(order.created_at))
        .starts(utc(event.valid.starts_at))
        .summary(&spec.name)
        .location(&spec.venue)
        .description(&description);
    if order.status == OrderStatus::Cancelled {
        show.status(EventStatus::Cancelled);
    }
    let mut calendar = Calendar::empty();
    calendar.append_property(Property::new("VERSION", "2.0"));
    calendar.append_property(Property::new("PRODID", PRODUCT_ID));
    calendar.append_property(Property::new("CALSCALE", "GREGORIAN"));
    calendar.push(show.done());
    calendar.done().to_string()
}

fn plural(count: u32) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// An instant as chrono's UTC time (the Unix epoch for one beyond its range,
/// which a validated event never has).
fn utc(at: UnixTimeMs) -> DateTime<Utc> {
    i64::try_from(at.0).ok().and_then(DateTime::from_timestamp_millis).unwrap_or_default()
}
