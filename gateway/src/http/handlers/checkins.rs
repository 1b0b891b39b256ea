//! `POST /v1/events/{event_id}/checkins`: a door's scan of a ticket (a
//! `door` token of the event, or an admin). 201 the first time, and for the
//! same scan sent again; 409 `already_used` with when and at which door;
//! 410 `cancelled`; 422 `invalid_ticket`. Every answer waits until the
//! check-in it rests on is durable. A door that let the ticket in without
//! network says when (`let_in_at`); if another scan was first, that second
//! entry is kept and listed to every door.

use guichet_engine::checkins::CheckInRefusal;
use guichet_engine::json_fields;
use guichet_engine::store::{CheckInError, CheckInOutcome, Scan, TicketCheckIn};
use guichet_engine::time::UnixTimeMs;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::http::app::App;
use crate::http::auth::{require_staff, Permission};
use crate::http::error::{log_error, ApiError, ApiResult};
use crate::http::request::read_json;
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInBody {
    code: String,
    door: String,
    scan_id: String,
    /// When the door let the ticket in without network (RFC 3339).
    #[serde(default, deserialize_with = "json_fields::present")]
    let_in_at: Option<String>,
}

impl CheckInBody {
    fn let_in_at(&self) -> ApiResult<Option<UnixTimeMs>> {
        let Some(text) = &self.let_in_at else { return Ok(None) };
        UnixTimeMs::parse_rfc3339(text).map(Some).map_err(|error| {
            ApiError::bad_request("invalid_body", format!("let_in_at: {error}")).with("field", "let_in_at")
        })
    }
}

pub async fn check_in(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_staff(app, &request, Permission::CheckIn, Some(&event))?;
    let body: CheckInBody = read_json(request, app.max_body_bytes).await?;
    let scan = Scan { code: &body.code, door: &body.door, scan_id: &body.scan_id };
    let (outcome, receipt) = app.engine.check_in(&event, &scan, body.let_in_at()?).map_err(refused)?;
    app.durable(receipt).await?;
    let used = |ticket: &TicketCheckIn| {
        json!({
            "ticket": views::ticket_json(&event, &ticket.order, ticket.index),
            "checked_in_at": ticket.check_in.at.to_rfc3339(),
            "door": ticket.check_in.door,
        })
    };
    match outcome {
        CheckInOutcome::LetIn(ticket) => Ok(json_response(StatusCode::CREATED, &used(&ticket))),
        CheckInOutcome::AlreadyUsed { first, second_entry } => {
            let message =
                format!("already used: let in at {} by door {:?}", first.check_in.at.to_rfc3339(), first.check_in.door);
            let body = used(&first);
            let mut error = ApiError::new(StatusCode::CONFLICT, "already_used", message)
                .with("ticket", body["ticket"].clone())
                .with("checked_in_at", body["checked_in_at"].clone())
                .with("door", body["door"].clone());
            if second_entry {
                error = error.with("second_entry", true);
            }
            Err(error)
        }
        CheckInOutcome::Cancelled { order, index, at } => Err(ApiError::new(
            StatusCode::GONE,
            "cancelled",
            format!("cancelled: its order was cancelled at {}", at.to_rfc3339()),
        )
        .with("ticket", views::ticket_json(&event, &order, index))
        .with("cancelled_at", at.to_rfc3339())),
    }
}

/// `GET`: what a door needs to judge tickets while the network is down:
/// the key codes are signed with, the event's number (in every code), the
/// cancelled orders and the tickets let in so far. Orders are named by the
/// number a code carries (its 64-bit order id, in decimal).
pub fn door_list(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_staff(app, request, Permission::CheckIn, Some(&event))?;
    let (cancelled, checked_in) = app.engine.door_list(&event);
    let checked_in: Vec<_> = checked_in
        .iter()
        .map(|(order, index, check_in)| {
            json!({
                "order": order.0.to_string(), "index": index,
                "ticket_id": format!("t{:x}-{:x}-{index}", event.number.0, order.0),
                "door": check_in.door, "checked_in_at": check_in.at.to_rfc3339(),
            })
        })
        .collect();
    let second_entries: Vec<_> = app
        .engine
        .second_entries(&event)
        .iter()
        .map(|(order, index, first, second)| {
            let ticket = event.inventory.order(*order).map(|order| views::ticket_json(&event, &order, *index));
            json!({
                "order": order.0.to_string(), "index": index, "ticket": ticket,
                "ticket_id": format!("t{:x}-{:x}-{index}", event.number.0, order.0),
                "first_door": first.door, "first_at": first.at.to_rfc3339(),
                "door": second.door, "let_in_at": second.let_in_at.to_rfc3339(),
            })
        })
        .collect();
    let body = json!({
        "event_number": event.number.0,
        "ticket_public_key": app.engine.ticket_public_key(),
        "cancelled_orders": cancelled.iter().map(|order| order.0.to_string()).collect::<Vec<_>>(),
        "checked_in": checked_in,
        "second_entries": second_entries,
        "as_of": app.engine.clock().now().to_rfc3339(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn refused(error: CheckInError) -> ApiError {
    let message = error.to_string();
    match &error {
        CheckInError::InvalidTicket(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ticket",
            format!("not a ticket of this event: {message}"),
        ),
        CheckInError::Request(CheckInRefusal::Door) => {
            ApiError::bad_request("invalid_body", message).with("field", "door")
        }
        CheckInError::Request(CheckInRefusal::ScanId) => {
            ApiError::bad_request("invalid_body", message).with("field", "scan_id")
        }
        CheckInError::Request(CheckInRefusal::TooManyDoors) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_doors", message).with("field", "door")
        }
        CheckInError::Log(sink) => log_error(sink),
    }
}
