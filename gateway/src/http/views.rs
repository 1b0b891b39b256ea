//! What the API shows: engine state rendered as the contract's JSON, and the
//! opaque ids of holds, orders and tickets (which carry their event's number,
//! so `/v1/holds/{id}` finds its event without a global map).

use guichet_engine::credentials::Credential;
use guichet_engine::event::Event;
use guichet_engine::ids::{HoldId, OrderId};
use guichet_engine::inventory::{Counts, Fit, Hold, HoldStatus, Order, OrderStatus, Place, SectionSeats};
use guichet_engine::outbox::{OutboxEntry, OutboxState};
use guichet_engine::payments::{Payment, PaymentState};
use guichet_engine::room::{BuyerState, QueueStatus, RoomSettings, StallReason};
use guichet_engine::store::Engine;
use guichet_engine::time::UnixTimeMs;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// `h<event>-<hold>` in hex.
pub fn hold_ref(event: &Event, hold: HoldId) -> String {
    format!("h{:x}-{:x}", event.number.0, hold.0)
}

/// `o<event>-<order>` in hex.
pub fn order_ref(event: &Event, order: OrderId) -> String {
    format!("o{:x}-{:x}", event.number.0, order.0)
}

/// The order's page, its token in the fragment: browsers never send a
/// fragment, so the token stays out of server and proxy logs.
pub fn order_url(order_id: &str, order_token: &str) -> String {
    format!("/o/{order_id}#t={order_token}")
}

/// The link a cancellation confirmation email carries: the order's page,
/// which offers "Confirm the cancellation" when the fragment has `c`
/// (`Engine::cancel_confirmation_code` gives the code).
#[cfg_attr(not(test), allow(dead_code))]
pub fn cancel_confirmation_url(order_id: &str, order_token: &str, code: &str) -> String {
    format!("{}&c={code}", order_url(order_id, order_token))
}

/// Splits `<prefix><event>-<id>` into the event number and the engine id.
pub fn parse_ref(text: &str, prefix: char) -> Option<(u32, u64)> {
    let (event, id) = text.strip_prefix(prefix)?.split_once('-')?;
    let valid =
        |part: &str, max_len| !part.is_empty() && part.len() <= max_len && part.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid(event, 8) || !valid(id, 16) {
        return None;
    }
    Some((u32::from_str_radix(event, 16).ok()?, u64::from_str_radix(id, 16).ok()?))
}

/// The event's state for the public: scheduled, on sale, sold out or closed.
pub fn event_state(event: &Event, now: UnixTimeMs) -> &'static str {
    let total = event.inventory.availability().total;
    if now >= event.valid.starts_at {
        "closed"
    } else if now < event.valid.on_sale_at {
        "scheduled"
    } else if total.available + total.held == 0 {
        "sold_out"
    } else {
        "on_sale"
    }
}

fn counts_json(counts: &Counts) -> Value {
    json!({ "available": counts.available, "held": counts.held, "sold": counts.sold })
}

pub fn event_summary(event: &Event, now: UnixTimeMs) -> Value {
    let spec = &event.valid.spec;
    json!({
        "id": spec.id, "name": spec.name, "venue": spec.venue,
        "starts_at": event.valid.starts_at.to_rfc3339(), "on_sale_at": event.valid.on_sale_at.to_rfc3339(),
        "state": event_state(event, now),
    })
}

/// The spec as created (nothing secret is in it), with state and availability.
pub fn event_detail(event: &Event, now: UnixTimeMs) -> Value {
    let mut body = serde_json::to_value(&event.valid.spec).unwrap_or_default();
    let availability = event.inventory.availability();
    let layout = event.inventory.layout();
    let sections: Map<String, Value> =
        layout.sections.iter().zip(&availability.sections).map(|(s, c)| (s.id.to_string(), counts_json(c))).collect();
    let tiers: Map<String, Value> =
        layout.tiers.iter().zip(&availability.tiers).map(|(t, c)| (t.id.to_string(), counts_json(c))).collect();
    if let Some(object) = body.as_object_mut() {
        // Times in UTC whatever offset they were given in; the room as it is now.
        object.insert("starts_at".into(), event.valid.starts_at.to_rfc3339().into());
        object.insert("on_sale_at".into(), event.valid.on_sale_at.to_rfc3339().into());
        if let Some(until) = event.valid.refund_until {
            object.insert("refund_until".into(), until.to_rfc3339().into());
        }
        let room = event.room.stats().settings;
        let access_ttl_s = event.valid.spec.room.access_ttl_s;
        object.insert(
            "room".into(),
            json!({ "admit_per_minute": room.admit_per_minute, "max_active": room.max_active, "access_ttl_s": access_ttl_s, "paused": room.paused }),
        );
        object.insert("state".into(), event_state(event, now).into());
        object.insert(
            "availability".into(),
            json!({ "sections": sections, "tiers": tiers, "total": counts_json(&availability.total) }),
        );
    }
    body
}

/// Ticket `index` of an order, as a door sees it: its id, its order, and
/// its place.
pub fn ticket_json(event: &Event, order: &Order, index: u16) -> Value {
    let mut ticket = tickets(event, &order.places).into_iter().nth(usize::from(index)).unwrap_or_default();
    ticket.insert("ticket_id".into(), format!("t{:x}-{:x}-{index}", event.number.0, order.id.0).into());
    ticket.insert("order_id".into(), order_ref(event, order.id).into());
    ticket.insert("index".into(), index.into());
    Value::Object(ticket)
}

/// Tickets of places: one per seat; a GA place has no `row` or `number` keys at all.
fn tickets(event: &Event, places: &[Place]) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for place in places {
        let described = event.inventory.describe(place);
        for _ in 0..place.tickets() {
            let mut ticket = Map::new();
            ticket.insert("section".into(), described.section.into());
            if let (Some(row), Some(number)) = (described.row, described.number) {
                ticket.insert("row".into(), row.into());
                ticket.insert("number".into(), number.into());
            }
            ticket.insert("tier".into(), described.tier.into());
            ticket.insert("price_cents".into(), described.price_cents.into());
            out.push(ticket);
        }
    }
    out
}

/// One ticket of a hold. Typed rather than a `Value` map (as for the queue
/// status): a hold is answered on every hold request, and building maps of
/// strings per ticket was a fifth of the gateway's work on that path.
#[derive(Serialize)]
pub struct HoldTicketView<'a> {
    section: &'a str,
    /// A GA ticket has no `row` and `number` keys at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    tier: &'a str,
    price_cents: u64,
}

/// A hold, as the contract shows it; `fit` only in the answer to a new hold.
#[derive(Serialize)]
pub struct HoldView<'a> {
    hold_id: String,
    event_id: &'a str,
    status: &'static str,
    created_at: String,
    expires_at: String,
    tickets: Vec<HoldTicketView<'a>>,
    total_cents: u64,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fit: Option<Fit>,
    /// The order a purchased hold became.
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
}

pub fn hold_view<'a>(event: &'a Event, hold: &Hold, fit: Option<Fit>, now: UnixTimeMs) -> HoldView<'a> {
    let status = match hold.status_at(now) {
        HoldStatus::Active => "active",
        HoldStatus::Released { .. } => "released",
        HoldStatus::Expired { .. } => "expired",
        HoldStatus::Purchased { .. } => "purchased",
    };
    let mut tickets = Vec::with_capacity(hold.places.len());
    for place in &hold.places {
        let described = event.inventory.describe(place);
        for _ in 0..place.tickets() {
            tickets.push(HoldTicketView {
                section: described.section,
                row: described.row.filter(|_| described.number.is_some()),
                number: described.number.filter(|_| described.row.is_some()),
                tier: described.tier,
                price_cents: described.price_cents,
            });
        }
    }
    HoldView {
        hold_id: hold_ref(event, hold.id),
        event_id: event.id(),
        status,
        created_at: hold.created_at.to_rfc3339(),
        expires_at: hold.expires_at.to_rfc3339(),
        tickets,
        total_cents: hold.total_cents,
        currency: &event.valid.spec.currency,
        fit,
        order_id: match hold.status {
            HoldStatus::Purchased { order, .. } => Some(order_ref(event, order)),
            _ => None,
        },
    }
}

/// An order as staff see it: without the buyer's `order_token` and
/// `order_url` (the buyer's credential; a lost link is resent by email).
pub fn staff_order_json(engine: &Engine, event: &Event, order: &Order) -> Value {
    let mut view = order_json(engine, event, order);
    if let Some(object) = view.as_object_mut() {
        object.remove("order_token");
        object.remove("order_url");
    }
    view
}

/// An order as its buyer sees it (with its order link).
pub fn order_json(engine: &Engine, event: &Event, order: &Order) -> Value {
    let order_id = order_ref(event, order.id);
    let tickets: Vec<Value> = tickets(event, &order.places)
        .into_iter()
        .enumerate()
        .map(|(index, mut ticket)| {
            let ticket_id = format!("t{:x}-{:x}-{index}", event.number.0, order.id.0);
            let code = engine.ticket_code(event, order, u16::try_from(index).unwrap_or(u16::MAX));
            ticket.insert("ticket_id".into(), ticket_id.into());
            ticket.insert("code".into(), code.into());
            Value::Object(ticket)
        })
        .collect();
    let status = match order.status {
        OrderStatus::Confirmed => "confirmed",
        OrderStatus::Cancelled => "cancelled",
    };
    let order_token = engine.order_token(event, order);
    let mut body = json!({
        "order_id": order_id, "event_id": event.id(), "status": status,
        "created_at": order.created_at.to_rfc3339(), "tickets": tickets, "total_cents": order.total_cents,
        "currency": event.valid.spec.currency, "payment_ref": &*order.payment_ref,
        "order_url": order_url(&order_id, &order_token), "order_token": order_token,
        "personal_data": engine.personal_data_state(event, order).name(),
    });
    if let (Some(at), Some(object)) = (order.cancelled_at, body.as_object_mut()) {
        object.insert("cancelled_at".into(), at.to_rfc3339().into());
    }
    if let Some(refund) = engine.refund_payment_of(event, order).and_then(|payment| engine.refund_of(&payment)) {
        body["refund"] = refund_json(&refund);
    }
    body
}

/// A buyer's place in line, as the contract shows it. A typed struct, not a
/// `Value`: this is the most frequent response, and a map per poll costs.
#[derive(Serialize)]
pub struct QueueStatusView {
    state: BuyerState,
    position: Option<u64>,
    ahead: Option<u64>,
    eta_s: Option<u64>,
    poll_after_ms: u64,
    sold_out_likely: bool,
    /// Why admission is stalled, while it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<StallReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_expires_at: Option<String>,
}

pub fn queue_status_view(status: &QueueStatus, access: Option<(String, UnixTimeMs)>) -> QueueStatusView {
    debug_assert_eq!(
        status.state == BuyerState::Admitted,
        access.is_some(),
        "admitted goes with its token, and only it"
    );
    let (access_token, access_expires_at) = match access {
        Some((token, expires)) => (Some(token), Some(expires.to_rfc3339())),
        None => (None, None),
    };
    QueueStatusView {
        state: status.state,
        position: status.position,
        ahead: status.ahead,
        eta_s: status.eta_s,
        poll_after_ms: status.poll_after_ms,
        sold_out_likely: status.sold_out_likely,
        reason: status.reason,
        access_token,
        access_expires_at,
    }
}

pub fn room_json(settings: &RoomSettings) -> Value {
    json!({ "admit_per_minute": settings.admit_per_minute, "max_active": settings.max_active, "paused": settings.paused })
}

/// The promoter's live figures.
pub fn stats_json(event: &Event) -> Value {
    let room = event.room.stats();
    let availability = event.inventory.availability();
    let layout = event.inventory.layout();
    let sections: Map<String, Value> =
        layout.sections.iter().zip(&availability.sections).map(|(s, c)| (s.id.to_string(), counts_json(c))).collect();
    let orders = event.inventory.confirmed_orders();
    let sales = event.inventory.sales();
    let sold = |sold: &guichet_engine::inventory::Sold| json!({ "tickets": sold.tickets, "revenue_cents": sold.revenue_cents });
    let by_section: Map<String, Value> =
        layout.sections.iter().zip(&sales.sections).map(|(s, sold_here)| (s.id.to_string(), sold(sold_here))).collect();
    let by_tier: Map<String, Value> =
        layout.tiers.iter().zip(&sales.tiers).map(|(t, sold_here)| (t.id.to_string(), sold(sold_here))).collect();
    json!({
        "queue": {
            "lobby": room.lobby, "waiting": room.waiting, "active": room.active,
            "admitted_total": room.admitted_total, "abandoned": room.abandoned,
        },
        "admission": {
            "admit_per_minute": room.settings.admit_per_minute,
            "measured_admit_per_minute": room.measured_admit_per_minute,
            "max_active": room.settings.max_active, "paused": room.settings.paused,
        },
        "lottery": {
            "seed_sha256": room.seed_sha256, "seed": room.seed, "drawn": room.opened, "lobby_size": room.lobby_size,
        },
        "inventory": { "sections": sections, "total": counts_json(&availability.total) },
        "orders": orders,
        "revenue_cents": sales.total.revenue_cents,
        "sales": { "sections": by_section, "tiers": by_tier },
    })
}

/// What an admitted buyer can take: seat numbers per row, or GA places left.
pub fn seats_json(event: &Event) -> Value {
    let layout = event.inventory.layout();
    let sections: Vec<Value> = event
        .inventory
        .seat_map()
        .into_iter()
        .map(|entry| match entry {
            SectionSeats::Reserved { section, rows } => {
                let section = layout.section(section);
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|(shard, numbers)| {
                        let row_id = match &layout.shard(shard).kind {
                            guichet_engine::layout::ShardKind::Row { id, .. } => id.to_string(),
                            guichet_engine::layout::ShardKind::GaSlice { .. } => String::new(),
                        };
                        json!({ "row": row_id, "tier": layout.tier(layout.shard(shard).tier).id.to_string(), "available": numbers })
                    })
                    .collect();
                json!({ "section": section.id.to_string(), "name": section.name.to_string(), "rows": rows })
            }
            SectionSeats::GeneralAdmission { section, available } => {
                let section = layout.section(section);
                json!({ "section": section.id.to_string(), "name": section.name.to_string(), "tier": layout.tier(section.tier).id.to_string(), "available": available })
            }
        })
        .collect();
    json!({ "event_id": event.id(), "sections": sections })
}

/// A staff or machine token as listed: never its secret.
pub fn token_json(credential: &Credential) -> Value {
    let time = |at: Option<UnixTimeMs>| at.map(UnixTimeMs::to_rfc3339);
    json!({
        "token_id": credential.id.to_string(),
        "role": credential.role.name(),
        "events": credential.events,
        "label": credential.label,
        "created_at": credential.created_at.to_rfc3339(),
        "created_by": credential.created_by.to_string(),
        "expires_at": time(credential.expires_at),
        "revoked_at": time(credential.revoked_at),
    })
}

/// A payment as the API shows it: its state and, when its money is being
/// given back, the refund's (`pending` while attempts go on, `done`, `failed`).
pub fn payment_json(engine: &Engine, event: &Event, payment: &Payment) -> Value {
    let mut view = json!({
        "payment_id": payment.id.as_str(),
        "hold_id": hold_ref(event, payment.hold),
        "provider": payment.provider.name(),
        "status": payment.state.name(),
        "amount_cents": payment.amount_cents,
        "currency": &*payment.currency,
        "started_at": payment.started_at.to_rfc3339(),
    });
    match &payment.state {
        PaymentState::Confirmed { order, .. } => view["order_id"] = order_ref(event, *order).into(),
        // Still open: the page says "declined, try another card".
        PaymentState::Declined { at, reason } => {
            view["declined"] = json!({ "reason": &**reason, "at": at.to_rfc3339() });
        }
        _ => {}
    }
    if let Some(refund) = engine.refund_of(payment) {
        view["refund"] = refund_json(&refund);
    }
    view
}

/// A refund's state: `pending` while attempts go on, `done`, `failed`.
fn refund_json(refund: &OutboxEntry) -> Value {
    let status = match refund.state {
        OutboxState::Pending => "pending",
        OutboxState::Done { .. } => "done",
        OutboxState::Failed { .. } => "failed",
    };
    let mut shown = json!({ "status": status, "attempts": refund.attempts });
    if refund.state == OutboxState::Pending {
        shown["next_attempt_at"] = refund.next_attempt_at.to_rfc3339().into();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_link_is_the_order_link_with_the_code_in_the_fragment() {
        let url = cancel_confirmation_url("o1-2a", "payload.mac", "1.1.1800000000.tag");
        assert_eq!(url, "/o/o1-2a#t=payload.mac&c=1.1.1800000000.tag");
    }
}
