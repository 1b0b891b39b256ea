//! One function per route: authenticate, parse, call the engine, wait until
//! the change is durable, render. No state of their own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use guichet_engine::event::{Event, EventNumber};
use guichet_engine::ids::{BuyerId, HoldId, OrderId};
use guichet_engine::inventory::{HoldRequest, OrderCursor, Receipt, Requester, SeatRequest};
use guichet_engine::limits::{MAX_ADMIT_PER_MINUTE, MAX_MAX_ACTIVE, MIN_ADMIT_PER_MINUTE, MIN_MAX_ACTIVE};
use guichet_engine::room::SettingsPatch;
use guichet_engine::spec::EventSpec;
use guichet_engine::time::UnixTimeMs;
use guichet_engine::tokens::{TokenError, TokenKind};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

use super::error::{ApiError, ApiResult};
use super::limiter::{client_key, Refusal, WindowLimiter};
use super::request::{bearer, query_pairs, read_json};
use super::router::{Matched, Route, Router};
use super::views;
use super::App;

/// The most orders one page of `GET /orders` returns.
const MAX_ORDERS_PAGE: usize = 1_000;

type HttpResponse = Response<Full<Bytes>>;

/// Answers one request; records its route, status and latency since `started`.
pub async fn handle(
    app: &App,
    router: &Router,
    request: Request<Incoming>,
    client: IpAddr,
    started: Instant,
) -> HttpResponse {
    let (route, response) = match router.find(request.uri().path()) {
        None => {
            let (label, response) = super::pages::serve(app, &request).unwrap_or_else(|| {
                ("unknown", ApiError::not_found("no_such_route", "there is no such route").into_response())
            });
            app.metrics.observe_page(label, response.status(), started.elapsed());
            return response;
        }
        Some(matched) if !matched.methods.contains(request.method()) => {
            (Some(matched.route), method_not_allowed(matched.methods))
        }
        Some(matched) => {
            let route = matched.route;
            (Some(route), dispatch(app, matched, request, client).await.unwrap_or_else(ApiError::into_response))
        }
    };
    app.metrics.observe_request(route, response.status(), started.elapsed());
    response
}

fn method_not_allowed(methods: &[Method]) -> HttpResponse {
    let allowed: Vec<&str> = methods.iter().map(Method::as_str).collect();
    let mut response =
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
            .into_response();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

async fn dispatch(app: &App, matched: Matched, request: Request<Incoming>, client: IpAddr) -> ApiResult<HttpResponse> {
    let param = matched.param.unwrap_or_default();
    let method = request.method().clone();
    match (matched.route, method) {
        (Route::Events, Method::GET) => list_events(app, &request),
        (Route::Events, _) => create_event(app, request).await,
        (Route::Event, _) => Ok(json_response(StatusCode::OK, &views::event_detail(&*event(app, &param)?, now(app)))),
        (Route::EventRoom, _) => patch_room(app, &param, request).await,
        (Route::EventStats, _) => {
            let event = event(app, &param)?;
            require_admin(app, &request)?;
            Ok(json_response(StatusCode::OK, &views::stats_json(&event)))
        }
        (Route::EventOrders, _) => list_orders(app, &param, &request),
        (Route::Queue, Method::POST) => {
            join_queue(app, &param, app.trusted_proxies.client_address(client, request.headers())).await
        }
        (Route::Queue, _) => leave_queue(app, &param, &request).await,
        (Route::QueueStatus, _) => queue_status(app, &param, &request).await,
        (Route::Seats, _) => {
            let event = event(app, &param)?;
            access_buyer(app, &request, &event)?;
            Ok(json_response(StatusCode::OK, &views::seats_json(&event)))
        }
        (Route::Holds, _) => place_hold(app, &param, request).await,
        (Route::Hold, Method::GET) => get_hold(app, &param, &request),
        (Route::Hold, _) => release_hold(app, &param, &request).await,
        (Route::HoldPurchase, _) => purchase(app, &param, request).await,
        (Route::Order, _) => get_order(app, &param, &request),
        (Route::OrderCancel, _) => cancel_order(app, &param, &request).await,
        (Route::Metrics, _) => Ok(app.metrics.render(&app.engine)),
        (Route::Healthz, _) => Ok(json_response(StatusCode::OK, &json!({ "status": "ok" }))),
        (Route::TicketKey, _) => {
            let key = app.engine.ticket_public_key();
            Ok(json_response(StatusCode::OK, &json!({ "algorithm": "Ed25519", "public_key": key })))
        }
        (Route::Readyz, _) => readiness(app),
    }
}

// ---- helpers ----

/// Room for a usual answer (a queue status, a hold of a few tickets) at the
/// first allocation, rather than growing the buffer several times.
const RESPONSE_BUFFER_BYTES: usize = 512;

pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    let mut buffer = Vec::with_capacity(RESPONSE_BUFFER_BYTES);
    if serde_json::to_writer(&mut buffer, body).is_err() {
        buffer.clear();
    }
    let mut response = Response::new(Full::new(Bytes::from(buffer)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn no_content() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn now(app: &App) -> UnixTimeMs {
    app.engine.clock().now()
}

fn event(app: &App, id: &str) -> ApiResult<Arc<Event>> {
    app.engine.event(id).ok_or_else(|| ApiError::not_found("unknown_event", format!("there is no event {id:?}")))
}

/// The event a hold or order reference names.
fn event_of_ref(app: &App, text: &str, prefix: char, what: &'static str) -> ApiResult<(Arc<Event>, u64)> {
    let unknown = || {
        ApiError::not_found(
            if prefix == 'h' { "unknown_hold" } else { "unknown_order" },
            format!("there is no such {what}"),
        )
    };
    let (number, id) = views::parse_ref(text, prefix).ok_or_else(unknown)?;
    let event = app.engine.event_by_number(EventNumber(number)).ok_or_else(unknown)?;
    Ok((event, id))
}

async fn durable(app: &App, receipt: Receipt) -> ApiResult<()> {
    Ok(app.engine.durable(receipt).await?)
}

fn is_admin(app: &App, token: &str) -> bool {
    app.admin_token.len() == token.len() && bool::from(app.admin_token.as_bytes().ct_eq(token.as_bytes()))
}

/// Whether `token` is a buyer's token that this server signed (for any event,
/// expired or not): on an admin route that is 403, not 401.
fn is_buyer_token(app: &App, token: &str) -> bool {
    let checked = app.engine.keys().verify(token, TokenKind::Queue, 0, now(app));
    matches!(checked, Ok(_) | Err(TokenError::WrongKind | TokenError::OtherEvent | TokenError::Expired))
}

/// Admin routes: 401 without a token or with a bad one, 403 with a buyer's.
fn require_admin(app: &App, request: &Request<Incoming>) -> ApiResult<()> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("missing_token", "this route needs the admin token"))?;
    if is_admin(app, token) {
        Ok(())
    } else if is_buyer_token(app, token) {
        Err(ApiError::forbidden("admin_only", "this route is for the promoter, not for buyers"))
    } else {
        Err(ApiError::unauthorized("invalid_token", "the token is not valid"))
    }
}

/// Counts a call against a per-minute budget: 429 past it.
fn within_budget(limiter: &WindowLimiter, key: u128, now: UnixTimeMs, code: &'static str) -> ApiResult<()> {
    match limiter.admit(key, now.0 / 1000) {
        Ok(()) => Ok(()),
        Err(Refusal::OverBudget { retry_after_s }) => {
            let message = "too many requests in this minute; retry later";
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).retry_after(retry_after_s))
        }
        Err(Refusal::Overloaded) => Err(ApiError::unavailable("overloaded", "too many clients at once; retry")),
    }
}

/// Seat routes: a valid access token for this event, within its buyer's budget of seat calls.
fn access_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let buyer = access_token_buyer(app, request, event)?;
    let key = (u128::from(event.number.0) << 64) | u128::from(buyer.0);
    within_budget(&app.seat_call_limiter, key, now(app), "rate_limited")?;
    Ok(buyer)
}

fn access_token_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let required =
        || ApiError::unauthorized("access_token_required", "this route needs an access token from the queue");
    let token = bearer(request.headers())?.ok_or_else(required)?;
    if is_admin(app, token) {
        return Err(ApiError::forbidden("buyer_only", "the admin token has no buyer identity on this route"));
    }
    match app.engine.verify_token(token, TokenKind::Access, event) {
        Ok(buyer) => Ok(buyer),
        Err(TokenError::WrongKind) => Err(required()),
        Err(error) => Err(error.into()),
    }
}

/// Hold and order routes: the admin, or the access token's buyer.
fn requester(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<Requester> {
    match bearer(request.headers())? {
        Some(token) if is_admin(app, token) => Ok(Requester::Admin),
        _ => Ok(Requester::Buyer(access_buyer(app, request, event)?)),
    }
}

fn queue_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("queue_token_required", "this route needs the queue token"))?;
    Ok(app.engine.verify_token(token, TokenKind::Queue, event)?)
}

// ---- promoter ----

fn list_events(app: &App, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let mut search = None;
    let (mut from, mut to) = (None, None);
    for (key, value) in query_pairs(request.uri().query()) {
        let instant = |field: &str| {
            UnixTimeMs::parse_rfc3339(&value).map_err(|e| {
                ApiError::bad_request("invalid_query", format!("{field}: {e}")).with("field", field.to_owned())
            })
        };
        match key.as_str() {
            "q" => search = Some(folded(&value)),
            "from" => from = Some(instant("from")?),
            "to" => to = Some(instant("to")?),
            other => {
                return Err(ApiError::bad_request("invalid_query", format!("unknown query parameter {other:?}"))
                    .with("field", other.to_owned()))
            }
        }
    }
    let now = now(app);
    let events: Vec<Value> = app
        .engine
        .events()
        .iter()
        .filter(|event| {
            let spec = &event.valid.spec;
            let matches =
                search.as_ref().is_none_or(|q| folded(&spec.name).contains(q) || folded(&spec.venue).contains(q));
            matches
                && from.is_none_or(|from| event.valid.starts_at >= from)
                && to.is_none_or(|to| event.valid.starts_at <= to)
        })
        .map(|event| views::event_summary(event, now))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "events": events })))
}

/// A page cursor: `<log position>.<order id>`, in hex.
fn parse_cursor(text: &str) -> Option<OrderCursor> {
    let (receipt, order) = text.split_once('.')?;
    let hex = |part: &str| (!part.is_empty() && part.len() <= 16).then(|| u64::from_str_radix(part, 16).ok()).flatten();
    Some(OrderCursor { receipt: Receipt(hex(receipt)?), order: OrderId(hex(order)?) })
}

/// Lower case without accents, for search.
fn folded(text: &str) -> String {
    text.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

async fn create_event(app: &App, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    require_admin(app, &request)?;
    let spec: EventSpec = read_json(request, app.max_body_bytes).await?;
    let (event, receipt) = app.engine.create_event(&spec)?;
    durable(app, receipt).await?;
    Ok(json_response(StatusCode::CREATED, &views::event_detail(&event, now(app))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomPatchBody {
    admit_per_minute: Option<u32>,
    max_active: Option<u32>,
    paused: Option<bool>,
}

async fn patch_room(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    require_admin(app, &request)?;
    let body: RoomPatchBody = read_json(request, app.max_body_bytes).await?;
    check_range("admit_per_minute", body.admit_per_minute, MIN_ADMIT_PER_MINUTE, MAX_ADMIT_PER_MINUTE)?;
    check_range("max_active", body.max_active, MIN_MAX_ACTIVE, MAX_MAX_ACTIVE)?;
    let patch =
        SettingsPatch { admit_per_minute: body.admit_per_minute, max_active: body.max_active, paused: body.paused };
    let (settings, receipt) = event.room.update_settings(patch)?;
    durable(app, receipt).await?;
    Ok(json_response(StatusCode::OK, &views::room_json(&settings)))
}

fn check_range(field: &str, value: Option<u32>, min: u32, max: u32) -> ApiResult<()> {
    match value {
        Some(value) if !(min..=max).contains(&value) => {
            Err(ApiError::bad_request("invalid_body", format!("{field} must be from {min} to {max}"))
                .with("field", field.to_owned()))
        }
        _ => Ok(()),
    }
}

fn list_orders(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    require_admin(app, request)?;
    let (mut after, mut limit) = (None, 100usize);
    for (key, value) in query_pairs(request.uri().query()) {
        let bad = |message: String| ApiError::bad_request("invalid_query", message).with("field", key.clone());
        match key.as_str() {
            "after" => {
                after = Some(parse_cursor(&value).ok_or_else(|| bad("after is not a cursor this server gave".into()))?)
            }
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_ORDERS_PAGE).contains(l))
                    .ok_or_else(|| bad(format!("limit must be 1 to {MAX_ORDERS_PAGE}")))?;
            }
            other => return Err(bad(format!("unknown query parameter {other:?}"))),
        }
    }
    // Only what is durable: every order up to there is applied, so no page skips one.
    let durable = Receipt(app.engine.wal().durable_sequence());
    let page = event.inventory.orders_page(after, limit + 1, durable);
    let next = (page.len() > limit).then(|| {
        let last = OrderCursor::of(&page[limit - 1]);
        format!("{:x}.{:x}", last.receipt.0, last.order.0)
    });
    let orders: Vec<Value> =
        page.iter().take(limit).map(|order| views::order_json(&app.engine, &event, order)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "orders": orders, "next": next })))
}

// ---- buyers: the waiting room ----

async fn join_queue(app: &App, id: &str, client: IpAddr) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    within_budget(&app.join_limiter, client_key(client), now(app), "join_rate_limited")?;
    let (buyer, receipt) = event.room.join()?;
    durable(app, receipt).await?;
    let status = event.room.peek(buyer, event.supply())?;
    let token = app.engine.queue_token(&event, buyer);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "queue_token": token, "status": views::queue_status_view(&status, None) }),
    ))
}

async fn queue_status(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let status = event.queue_status(buyer)?;
    let access = if status.state == guichet_engine::room::BuyerState::Admitted {
        // The admission must be durable before its token is handed out.
        durable(app, Receipt(app.engine.wal().last_assigned_sequence())).await?;
        app.engine.access_token(&event, buyer)
    } else {
        None
    };
    Ok(json_response(StatusCode::OK, &views::queue_status_view(&status, access)))
}

async fn leave_queue(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let receipt = match event.room.leave(buyer)? {
        // Left already, perhaps by a request whose record is not yet durable:
        // answer once everything logged so far is.
        Receipt::NONE => Receipt(app.engine.wal().last_assigned_sequence()),
        receipt => receipt,
    };
    durable(app, receipt).await?;
    Ok(no_content())
}

// ---- buyers: seats ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    seats: Option<Vec<SeatRequest>>,
    section: Option<String>,
    tier: Option<String>,
    quantity: Option<u32>,
}

impl HoldBody {
    fn into_request(self) -> ApiResult<HoldRequest> {
        let one_of = || {
            ApiError::bad_request("invalid_body", "give exactly one of: seats; section and quantity; tier and quantity")
        };
        let quantity = |q: Option<u32>| {
            q.ok_or_else(|| ApiError::bad_request("invalid_body", "quantity is required").with("field", "quantity"))
        };
        match (self.seats, self.section, self.tier) {
            (Some(seats), None, None) if self.quantity.is_none() => Ok(HoldRequest::Seats(seats)),
            (None, Some(section), None) => {
                Ok(HoldRequest::BestInSection { section, quantity: quantity(self.quantity)? })
            }
            (None, None, Some(tier)) => Ok(HoldRequest::BestInTier { tier, quantity: quantity(self.quantity)? }),
            _ => Err(one_of()),
        }
    }
}

async fn place_hold(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = event(app, id)?;
    let buyer = access_buyer(app, &request, &event)?;
    let body: HoldBody = read_json(request, app.max_body_bytes).await?;
    let placed = event.hold(buyer, &body.into_request()?)?;
    durable(app, placed.receipt).await?;
    Ok(json_response(StatusCode::CREATED, &views::hold_view(&event, &placed.hold, Some(placed.fit))))
}

fn owned_hold(
    app: &App,
    reference: &str,
    request: &Request<Incoming>,
) -> ApiResult<(Arc<Event>, guichet_engine::inventory::Hold, Requester)> {
    let (event, id) = event_of_ref(app, reference, 'h', "hold")?;
    let requester = requester(app, request, &event)?;
    let hold = event
        .inventory
        .hold_info(HoldId(id))
        .ok_or_else(|| ApiError::not_found("unknown_hold", "there is no such hold"))?;
    if !requester.may_act_for(hold.buyer) {
        return Err(ApiError::forbidden("not_yours", "this hold belongs to another buyer"));
    }
    Ok((event, hold, requester))
}

fn get_hold(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, hold, _) = owned_hold(app, reference, request)?;
    Ok(json_response(StatusCode::OK, &views::hold_view(&event, &hold, None)))
}

async fn release_hold(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, hold, requester) = owned_hold(app, reference, request)?;
    let receipt = event.inventory.release(hold.id, requester)?;
    durable(app, receipt).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    payment_ref: String,
}

async fn purchase(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = event_of_ref(app, reference, 'h', "hold")?;
    let requester = requester(app, &request, &event)?;
    let key = request
        .headers()
        .get("idempotency-key")
        .ok_or_else(|| ApiError::bad_request("idempotency_key_required", "the Idempotency-Key header is required"))?
        .to_str()
        .map_err(|_| ApiError::bad_request("bad_idempotency_key", "Idempotency-Key must be printable ASCII"))?
        .to_owned();
    let body: PurchaseBody = read_json(request, app.max_body_bytes).await?;
    let purchase = event.purchase(HoldId(id), requester, &key, &body.payment_ref)?;
    if !purchase.created && app.engine.wal().durable_sequence() < purchase.order.receipt.0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_flight",
            "the first request with this key is still in progress",
        )
        .retry_after(1));
    }
    durable(app, purchase.receipt).await?;
    let status = if purchase.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &views::order_json(&app.engine, &event, &purchase.order)))
}

fn owned_order(
    app: &App,
    reference: &str,
    request: &Request<Incoming>,
) -> ApiResult<(Arc<Event>, guichet_engine::inventory::Order, Requester)> {
    let (event, id) = event_of_ref(app, reference, 'o', "order")?;
    let requester = requester(app, request, &event)?;
    let order = event
        .inventory
        .order(OrderId(id))
        .ok_or_else(|| ApiError::not_found("unknown_order", "there is no such order"))?;
    if !requester.may_act_for(order.buyer) {
        return Err(ApiError::forbidden("not_yours", "this order belongs to another buyer"));
    }
    Ok((event, order, requester))
}

fn get_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order, _) = owned_order(app, reference, request)?;
    Ok(json_response(StatusCode::OK, &views::order_json(&app.engine, &event, &order)))
}

async fn cancel_order(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, order, requester) = owned_order(app, reference, request)?;
    let (cancelled, receipt) = event.inventory.cancel_order(order.id, requester)?;
    durable(app, receipt).await?;
    Ok(json_response(StatusCode::OK, &views::order_json(&app.engine, &event, &cancelled)))
}

// ---- operators ----

fn readiness(app: &App) -> ApiResult<HttpResponse> {
    if app.engine.wal().is_open() {
        Ok(json_response(StatusCode::OK, &json!({ "status": "ready" })))
    } else {
        let why = app.engine.wal().failure().unwrap_or_else(|| "the log is closed".into());
        Err(ApiError::unavailable("not_ready", format!("not ready: {why}")).retry_after(5))
    }
}
