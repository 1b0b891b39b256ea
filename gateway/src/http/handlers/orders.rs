//! The buyer's order after the sale: read by the access token while it
//! lasts, by the admin, or by the order's own token (its link) long after;
//! the show as a calendar file and the tickets as a PDF, under the same
//! rule. Cancelling is `holds`'s: it needs more than the order token.

use std::sync::Arc;

use bytes::Bytes;
use guichet_engine::event::Event;
use guichet_engine::ids::OrderId;
use guichet_engine::inventory::Order;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use crate::calendar::order_ics;
use crate::documents::{render_tickets_pdf, TicketsDocument};
use crate::http::app::App;
use crate::http::auth::{order_reader, OrderReader};
use crate::http::error::{ApiError, ApiResult};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

/// The order a reference names, if the caller may read it.
fn readable_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<(Arc<Event>, Order)> {
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
        _ => Ok((event, order)),
    }
}

pub fn get_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order) = readable_order(app, reference, request)?;
    Ok(json_response(StatusCode::OK, &views::order_json(&app.engine, &event, &order)))
}

/// The show as an `.ics` file, named after the order.
pub fn order_calendar(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order) = readable_order(app, reference, request)?;
    let order_id = views::order_ref(&event, order.id);
    let body = Bytes::from(order_ics(&event, &order, &order_id));
    Ok(attachment(body, "text/calendar; charset=utf-8", &format!("{order_id}.ics")))
}

/// The tickets as a PDF (one page per ticket, with its QR code), named
/// after the order; the buyer's name on it when one is kept.
pub async fn order_tickets_pdf(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order) = readable_order(app, reference, request)?;
    let order_id = views::order_ref(&event, order.id);
    let name = app.engine.buyer_contact(&event, order.id).and_then(|contact| contact.name);
    let tickets = TicketsDocument::of(&app.engine, &event, &order, &order_id, name.as_deref());
    let pdf = render_tickets_pdf(tickets).await.map_err(|error| {
        tracing::error!(order = %order_id, %error, "the tickets PDF could not be made");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "document_failed", "the tickets PDF could not be made")
    })?;
    Ok(attachment(Bytes::from(pdf), "application/pdf", &format!("{order_id}-tickets.pdf")))
}

/// A file to download: its type, its name, and not for shared caches (it is
/// the buyer's).
fn attachment(body: Bytes, content_type: &'static str, file_name: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The order id is hex digits, a dash and a letter: safe in a header.
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    response
}
