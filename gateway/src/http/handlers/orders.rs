//! The buyer's order after the sale: read by the access token while it
//! lasts, by the admin, by the order's own token (its link) long after, or
//! by the payment token of the hold it was bought with;
//! and the show as a calendar file. Cancelling is `holds`'s: it needs more
//! than the order token.

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
use crate::http::app::App;
use crate::http::auth::{order_reader, Caller, OrderReader};
use crate::http::error::{ApiError, ApiResult};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

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
    let mut response = Response::new(Full::new(Bytes::from(order_ics(&event, &order, &order_id))));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    // The order id is hex digits, a dash and a letter: safe in a header.
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{order_id}.ics\"")) {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    // The buyer's: not for shared caches.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(response)
}
