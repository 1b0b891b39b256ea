//! The buyer's order after the sale: read by the access token while it
//! lasts, by the admin, by the order's own token (its link) long after, or
//! by the payment token of the hold it was bought with; the show as a
//! calendar file and the tickets as a PDF, under the same rule; a
//! cancellation's confirmation emailed to the buyer (cancelling is
//! `holds`'s: with the order token it needs that confirmation); and "Find
//! my order", which emails the link again and answers alike whoever asks
//! about whatever.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use guichet_engine::event::{Event, EventNumber};
use guichet_engine::ids::OrderId;
use guichet_engine::inventory::Order;
use guichet_engine::limits::{DOWNLOAD_RENDER_WAIT_S, MAX_LOOKUP_EMAIL_CHARS};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::calendar::order_ics;
use crate::documents::{tickets_pdf, TicketsDocument};
use crate::http::app::App;
use crate::http::auth::{order_holder, order_reader, Caller, OrderReader};
use crate::http::error::{ApiError, ApiResult};
use crate::http::limiter::{client_key, order_key, within_budget};
use crate::http::request::{read_json, read_optional_json};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;
use crate::spare_cpu::SpareCpuError;

/// The order a reference names, if the caller may read it; and whether the
/// reader is staff (who do not see the buyer's order link).
fn readable_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<(Arc<Event>, Order, bool)> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
    let reader = order_reader(app, request, &event, OrderId(id))?;
    let order = event
        .inventory
        .order(OrderId(id))
        .ok_or_else(|| ApiError::not_found("unknown_order", "there is no such order"))?;
    match reader {
        OrderReader::Caller(caller) if !caller.requester().may_act_for(order.buyer) => {
            Err(ApiError::forbidden("not_yours", "this order belongs to another buyer"))
        }
        OrderReader::OrderToken { buyer } if buyer != order.buyer => {
            Err(ApiError::forbidden("not_yours", "this order token is for another buyer's order"))
        }
        OrderReader::PaymentToken { buyer, hold } if buyer != order.buyer || hold != order.hold => {
            Err(ApiError::forbidden("not_yours", "this payment token is for another hold's order"))
        }
        OrderReader::Caller(Caller::Staff(_)) => Ok((event, order, true)),
        _ => Ok((event, order, false)),
    }
}

pub fn get_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order, staff) = readable_order(app, reference, request)?;
    let view = if staff { views::staff_order_json } else { views::order_json };
    Ok(json_response(StatusCode::OK, &view(&app.engine, &event, &order)))
}

/// The show as an `.ics` file, named after the order.
pub fn order_calendar(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order, _) = readable_order(app, reference, request)?;
    let order_id = views::order_ref(&event, order.id);
    let body = Bytes::from(order_ics(&event, &order, &order_id));
    Ok(attachment(body, "text/calendar; charset=utf-8", &format!("{order_id}.ics")))
}

/// The tickets as a PDF (one page per ticket, with its QR code), named
/// after the order; the buyer's name on it when one is kept.
pub async fn order_tickets_pdf(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order, _) = readable_order(app, reference, request)?;
    let order_id = views::order_ref(&event, order.id);
    // The buyer's name is read from the key table on disk: off the serving threads.
    let (engine, id) = (app.engine.clone(), order_id.clone());
    let tickets = tokio::task::spawn_blocking(move || {
        let name = engine.buyer_contact(&event, order.id).and_then(|contact| contact.name);
        TicketsDocument::of(&engine, &event, &order, &id, name.as_deref())
    })
    .await
    .map_err(|error| {
        tracing::error!(order = %order_id, %error, "the tickets PDF could not be made");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "document_failed", "the tickets PDF could not be made")
    })?;
    let wait = Duration::from_secs(DOWNLOAD_RENDER_WAIT_S);
    let rendered = app.spare.run_within(wait, async move { tickets_pdf(&tickets) }).await;
    let failed = |error: &dyn std::fmt::Display| {
        tracing::error!(order = %order_id, %error, "the tickets PDF could not be made");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "document_failed", "the tickets PDF could not be made")
    };
    let pdf = match rendered {
        Ok(Ok(pdf)) => pdf,
        Ok(Err(error)) => return Err(failed(&error)),
        Err(SpareCpuError::Busy) => return Err(renderer_busy()),
        Err(error @ SpareCpuError::Stopped) => return Err(failed(&error)),
    };
    Ok(attachment(Bytes::from(pdf), "application/pdf", &format!("{order_id}-tickets.pdf")))
}

/// The sale has the CPU: the PDF can come later (the order page shows the
/// same tickets meanwhile).
fn renderer_busy() -> ApiError {
    let message = "the tickets PDF cannot be made while the server is this busy; retry in a minute";
    ApiError::unavailable("renderer_busy", message).retry_after(60)
}

/// A file to download: its type, its name, and not for shared caches (it is
/// the buyer's).
fn attachment(body: Bytes, content_type: &'static str, file_name: &str) -> HttpResponse {
    let mut response = Response::new(crate::http::response::whole(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The order id is hex digits, a dash and a letter: safe in a header.
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    response
}

/// The cancellation confirmation's body: empty or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// Emails the buyer a one-time code that cancels the order (with the order
/// link), for the bearer of the order's token or its access token: 202
/// once the email is queued durably. The answer never names the address.
pub async fn request_cancellation(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
    let buyer = order_holder(app, &request, &event, OrderId(id))?;
    let _: Option<EmptyBody> = read_optional_json(request, app.max_body_bytes).await?;
    let (_, receipt) = app.engine.request_cancellation(&event, OrderId(id), buyer)?;
    app.durable(receipt).await?;
    Ok(json_response(StatusCode::ACCEPTED, &json!({ "status": "sent" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    email: String,
    order_id: String,
}

/// The longest order id worth looking up, in characters (`o` and two hex numbers).
const MAX_LOOKUP_ORDER_ID_LEN: usize = 1 + 8 + 1 + 16;

/// "Find my order": the order link emailed again to the address given at
/// checkout. Whatever the order and address, the same 202 and body: the
/// answer does not tell whether the order exists or whose it is. Not
/// awaited: the email's record is logged (the writer syncs it at once), but
/// waiting on it only when there is one would tell by the time taken; the
/// answer acknowledges no change, and a buyer who got no email asks again.
pub async fn lookup(app: &App, client: IpAddr, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let limits = &app.lookup_limiter;
    within_budget(&limits.per_client, client_key(client), app.now(), "lookup_rate_limited")?;
    let body: LookupBody = read_json(request, app.max_body_bytes).await?;
    if body.email.chars().count() > MAX_LOOKUP_EMAIL_CHARS || !body.email.contains('@') {
        let message = format!("email must be an address (at most {MAX_LOOKUP_EMAIL_CHARS} characters)");
        return Err(ApiError::bad_request("invalid_email", message));
    }
    if body.order_id.chars().count() > MAX_LOOKUP_ORDER_ID_LEN {
        return Err(ApiError::bad_request("invalid_order_id", "order_id is an order's id, as o1-2a"));
    }
    let parsed = views::parse_ref(&body.order_id, 'o');
    within_budget(&limits.per_order, order_key(&body.order_id, parsed), app.now(), "lookup_rate_limited")?;
    let event = parsed.and_then(|(number, _)| app.engine.event_by_number(EventNumber(number)));
    let order = OrderId(parsed.map_or(0, |(_, id)| id));
    // Matched after the answer, on a blocking thread (the address is read
    // from the key table): how long the answer takes tells nothing of
    // whether the order exists or the address matched.
    let engine = app.engine.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(error) = engine.request_order_link(event.as_deref(), order, &body.email) {
            tracing::warn!(code = error.code(), %error, "an order link's email was not queued");
        }
    });
    Ok(json_response(StatusCode::ACCEPTED, &json!({ "status": "accepted" })))
}
