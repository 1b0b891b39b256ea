//! Buyers shopping (access token) and staff acting for them (a staff token
//! whose role allows it: see `http/auth.rs`): the seat map, holds (placed
//! with an optional `Idempotency-Key`), purchases (with a required one), and
//! cancelling orders (reading them is `orders`'s, for the order token too).

use std::sync::Arc;

use guichet_engine::event::Event;
use guichet_engine::ids::{HoldId, OrderId};
use guichet_engine::inventory::{Hold, HoldRequest, KeyedHold, Order, Receipt, Requester, SeatRequest};
use guichet_engine::json_fields;
use guichet_engine::limits::MAX_CONFIRMATION_CODE_LEN;
use guichet_engine::payments::PaymentError;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::http::app::App;
use crate::http::auth::{
    access_buyer, caller, confirmed_by_email, hold_reader, refuse_order_token, this_order_token, Permission,
};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{idempotency_key, read_json, read_optional_json};
use crate::http::response::{json_response, no_content, HttpResponse};
use crate::http::views;

/// The seat map, for a buyer with access (within the seat-call budget).
pub fn seats(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    access_buyer(app, request, &event)?;
    Ok(json_response(StatusCode::OK, &views::seats_json(&event)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    #[serde(default, deserialize_with = "json_fields::present")]
    seats: Option<Vec<SeatRequest>>,
    #[serde(default, deserialize_with = "json_fields::present")]
    section: Option<String>,
    #[serde(default, deserialize_with = "json_fields::present")]
    tier: Option<String>,
    #[serde(default, deserialize_with = "json_fields::present_integer")]
    quantity: Option<u32>,
    /// Best available among the seats flagged accessible or companion.
    #[serde(default, deserialize_with = "json_fields::present")]
    accessible: Option<bool>,
}

impl HoldBody {
    fn into_request(self) -> ApiResult<HoldRequest> {
        let one_of = || {
            ApiError::bad_request("invalid_body", "give exactly one of: seats; section and quantity; tier and quantity")
        };
        let quantity = |q: Option<u32>| {
            q.ok_or_else(|| ApiError::bad_request("invalid_body", "quantity is required").with("field", "quantity"))
        };
        let accessible = self.accessible.unwrap_or(false);
        match (self.seats, self.section, self.tier) {
            (Some(_), None, None) if self.accessible.is_some() => {
                let message = "accessible is for best available (section or tier); named seats are held as named";
                Err(ApiError::bad_request("invalid_body", message).with("field", "accessible"))
            }
            (Some(seats), None, None) if self.quantity.is_none() => Ok(HoldRequest::Seats(seats)),
            (None, Some(section), None) => {
                let quantity = quantity(self.quantity)?;
                Ok(match accessible {
                    false => HoldRequest::BestInSection { section, quantity },
                    true => HoldRequest::AccessibleInSection { section, quantity },
                })
            }
            (None, None, Some(tier)) => {
                let quantity = quantity(self.quantity)?;
                Ok(match accessible {
                    false => HoldRequest::BestInTier { tier, quantity },
                    true => HoldRequest::AccessibleInTier { tier, quantity },
                })
            }
            _ => Err(one_of()),
        }
    }
}

pub async fn place_hold(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let buyer = access_buyer(app, &request, &event)?;
    let key = idempotency_key(request.headers())?;
    let body: HoldBody = read_json(request, app.max_body_bytes).await?;
    let hold_request = body.into_request()?;
    match event.hold(buyer, &hold_request, key.as_deref())? {
        KeyedHold::Placed(placed) => {
            app.durable(placed.receipt).await?;
            Ok(json_response(StatusCode::CREATED, &views::hold_view(&event, &placed.hold, Some(placed.fit), app.now())))
        }
        KeyedHold::Replayed { hold, receipt } => {
            refuse_in_flight(app, receipt)?;
            Ok(json_response(StatusCode::OK, &views::hold_view(&event, &hold, None, app.now())))
        }
    }
}

fn owned_hold(
    app: &App,
    reference: &str,
    request: &Request<Incoming>,
    permission: Permission,
) -> ApiResult<(Arc<Event>, Hold, Requester)> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
    let requester = caller(app, request, &event, permission)?.requester();
    let hold = hold_for(&event, HoldId(id), requester)?;
    Ok((event, hold, requester))
}

/// Hold `id` of `event`, if `requester` may act for its buyer.
fn hold_for(event: &Event, id: HoldId, requester: Requester) -> ApiResult<Hold> {
    let hold =
        event.inventory.hold_info(id).ok_or_else(|| ApiError::not_found("unknown_hold", "there is no such hold"))?;
    if !requester.may_act_for(hold.buyer) {
        return Err(ApiError::forbidden("not_yours", "this hold belongs to another buyer"));
    }
    Ok(hold)
}

/// A hold, for its buyer (access token, or the payment token of this hold)
/// or staff.
pub fn get_hold(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
    let requester = hold_reader(app, request, &event, HoldId(id))?;
    let hold = hold_for(&event, HoldId(id), requester)?;
    let view = views::hold_view(&event, &hold, None, app.now());
    // A paid event's hold shows its payment (and refund) too.
    match app.engine.payment_for_hold(&event, hold.id) {
        Some(payment) => {
            let mut shown = serde_json::to_value(view).unwrap_or_default();
            shown["payment"] = views::payment_json(&app.engine, &event, &payment);
            Ok(json_response(StatusCode::OK, &shown))
        }
        None => Ok(json_response(StatusCode::OK, &view)),
    }
}

pub async fn release_hold(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, hold, requester) = owned_hold(app, reference, request, Permission::ManageEvent)?;
    let receipt = event.inventory.release(hold.id, requester)?;
    app.durable(receipt).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    payment_ref: String,
}

pub async fn purchase(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
    // A shop token of this event confirms a sale it was paid for; anyone
    // else buys a paid event's seats through its provider.
    let caller = caller(app, &request, &event, Permission::Purchase)?;
    if event.valid.spec.payment_provider().is_some() && !caller.is_shop() {
        return Err(PaymentError::PaymentRequired.into());
    }
    let requester = caller.requester();
    let key = idempotency_key(request.headers())?
        .ok_or_else(|| ApiError::bad_request("idempotency_key_required", "the Idempotency-Key header is required"))?;
    let body: PurchaseBody = read_json(request, app.max_body_bytes).await?;
    let purchase = event.purchase(HoldId(id), requester, &key, &body.payment_ref)?;
    if !purchase.created {
        refuse_in_flight(app, purchase.order.receipt)?;
    }
    app.durable(purchase.receipt).await?;
    let status = if purchase.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &views::order_json(&app.engine, &event, &purchase.order)))
}

fn owned_order(
    app: &App,
    reference: &str,
    request: &Request<Incoming>,
    permission: Permission,
) -> ApiResult<(Arc<Event>, Order, Requester)> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
    let requester = caller(app, request, &event, permission)?.requester();
    let order = event.inventory.order(OrderId(id)).ok_or_else(unknown_order)?;
    if !requester.may_act_for(order.buyer) {
        return Err(ApiError::forbidden("not_yours", "this order belongs to another buyer"));
    }
    Ok((event, order, requester))
}

/// An optional body: the confirmation code emailed to the buyer, sent with
/// the order's token (the access token and staff need none, and it is not
/// looked at for them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default, deserialize_with = "json_fields::present")]
    confirmation: Option<String>,
}

/// The body, held to its schema whoever sends it (a code is never longer).
async fn read_cancel_body(app: &App, request: Request<Incoming>) -> ApiResult<Option<CancelBody>> {
    let body: Option<CancelBody> = read_optional_json(request, app.max_body_bytes).await?;
    if body
        .as_ref()
        .and_then(|b| b.confirmation.as_ref())
        .is_some_and(|code| code.chars().count() > MAX_CONFIRMATION_CODE_LEN)
    {
        let message = format!("confirmation is at most {MAX_CONFIRMATION_CODE_LEN} characters");
        return Err(ApiError::bad_request("invalid_body", message));
    }
    Ok(body)
}

pub async fn cancel_order(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
    let (event, order, requester) = match this_order_token(app, &request, &event, OrderId(id))? {
        Some(buyer) => {
            let body = read_cancel_body(app, request).await?;
            confirmed_by_email(app, &event, OrderId(id), body.as_ref().and_then(|b| b.confirmation.as_deref()))?;
            let order = event.inventory.order(OrderId(id)).ok_or_else(unknown_order)?;
            if order.buyer != buyer {
                return Err(ApiError::forbidden("not_yours", "this order token is for another buyer's order"));
            }
            (event, order, Requester::Buyer(buyer))
        }
        None => {
            refuse_order_token(app, &request)?;
            let owned = owned_order(app, reference, &request, Permission::ManageEvent)?;
            // Checked as any body is; a confirmation adds nothing to these tokens.
            read_cancel_body(app, request).await?;
            owned
        }
    };
    let (cancelled, receipt) = app.engine.cancel_order(&event, order.id, requester)?;
    app.durable(receipt).await?;
    let view = if requester == Requester::Admin { views::staff_order_json } else { views::order_json };
    Ok(json_response(StatusCode::OK, &view(&app.engine, &event, &cancelled)))
}

fn unknown_order() -> ApiError {
    ApiError::not_found("unknown_order", "there is no such order")
}

/// 409 while the request that first used a key is not yet durable: its
/// answer is not final (a crash now would undo it), so the client retries.
fn refuse_in_flight(app: &App, first: Receipt) -> ApiResult<()> {
    if !app.engine.is_durable(first) {
        let message = "the first request with this key is still in progress";
        return Err(ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_flight", message).retry_after(1));
    }
    Ok(())
}
