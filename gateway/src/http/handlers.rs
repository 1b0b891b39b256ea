//! One function per route: authenticate, parse, call the engine, wait until
//! the change is durable, render. No state of their own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use guichet_engine::event::Event;
use guichet_engine::ids::{BuyerId, HoldId, OrderId};
use guichet_engine::inventory::{HoldRequest, KeyedHold, OrderCursor, Receipt, Requester, SeatRequest};
use guichet_engine::json_fields;
use guichet_engine::room::{JoinKey, QueueStatus, RoomError, SettingsPatch};
use guichet_engine::spec::EventSpec;
use guichet_engine::time::{TimeParseError, UnixTimeMs};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::app::App;
use super::auth::{access_buyer, queue_buyer, requester, require_admin};
use super::error::{ApiError, ApiResult};
use super::limiter::{client_key, within_budget};
use super::request::{query_pairs, read_json};
use super::router::{Matched, Route, Router};
use super::views::{self, QueueStatusView};

/// The most orders one page of `GET /orders` returns.
const MAX_ORDERS_PAGE: usize = 1_000;

type HttpResponse = Response<Full<Bytes>>;

/// Answers one request; records its route, status and latency since `started`.
/// `HEAD` is answered as `GET`, with the same status and headers and no body
/// (uptime monitors and `curl -I` use it).
pub async fn handle(
    app: &App,
    router: &Router,
    mut request: Request<Incoming>,
    client: IpAddr,
    started: Instant,
) -> HttpResponse {
    if request.method() != Method::HEAD {
        return answer(app, router, request, client, started).await;
    }
    *request.method_mut() = Method::GET;
    without_body(answer(app, router, request, client, started).await)
}

/// The headers of a response, its body's length in `Content-Length`, and no body.
fn without_body(response: HttpResponse) -> HttpResponse {
    let (mut parts, body) = response.into_parts();
    let length = hyper::body::Body::size_hint(&body).exact().unwrap_or(0);
    parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    Response::from_parts(parts, Full::new(Bytes::new()))
}

async fn answer(
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
    app.metrics.observe_request(route.map(Route::index), response.status(), started.elapsed());
    response
}

fn method_not_allowed(methods: &[Method]) -> HttpResponse {
    let mut allowed: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) {
        allowed.push(Method::HEAD.as_str());
    }
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
        (Route::Event, _) => Ok(json_response(StatusCode::OK, &views::event_detail(&*app.event(&param)?, app.now()))),
        (Route::EventRoom, _) => patch_room(app, &param, request).await,
        (Route::EventStats, _) => {
            let event = app.event(&param)?;
            require_admin(app, &request)?;
            Ok(json_response(StatusCode::OK, &views::stats_json(&event)))
        }
        (Route::EventOrders, _) => list_orders(app, &param, &request),
        (Route::Queue, Method::POST) => {
            let key = join_key(request.headers())?;
            join_queue(app, &param, app.trusted_proxies.client_address(client, request.headers()), key).await
        }
        (Route::Queue, _) => leave_queue(app, &param, &request).await,
        (Route::QueueStatus, _) => queue_status(app, &param, &request).await,
        (Route::Seats, _) => {
            let event = app.event(&param)?;
            access_buyer(app, &request, &event)?;
            Ok(json_response(StatusCode::OK, &views::seats_json(&event)))
        }
        (Route::Holds, _) => place_hold(app, &param, request).await,
        (Route::Hold, Method::GET) => get_hold(app, &param, &request),
        (Route::Hold, _) => release_hold(app, &param, &request).await,
        (Route::HoldPurchase, _) => purchase(app, &param, request).await,
        (Route::Order, _) => get_order(app, &param, &request),
        (Route::OrderCancel, _) => cancel_order(app, &param, &request).await,
        (Route::Metrics, _) => Ok(metrics_exposition(app)),
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

// ---- promoter ----

fn list_events(app: &App, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let mut search = None;
    let (mut from, mut to) = (None, None);
    // An instant before 1970 is a valid bound, before every event: `from`
    // then keeps them all, `to` none.
    let mut to_before_epoch = false;
    for (key, value) in query_pairs(request.uri().query()) {
        let instant = |field: &str| match UnixTimeMs::parse_rfc3339(&value) {
            Ok(instant) => Ok(Some(instant)),
            Err(TimeParseError::BeforeEpoch) => Ok(None),
            Err(e) => {
                Err(ApiError::bad_request("invalid_query", format!("{field}: {e}")).with("field", field.to_owned()))
            }
        };
        match key.as_str() {
            "q" => search = Some(folded(&value)),
            "from" => from = instant("from")?,
            "to" => {
                to = instant("to")?;
                to_before_epoch = to.is_none();
            }
            other => {
                return Err(ApiError::bad_request("invalid_query", format!("unknown query parameter {other:?}"))
                    .with("field", other.to_owned()))
            }
        }
    }
    let now = app.now();
    let events: Vec<Value> = app
        .engine
        .events()
        .iter()
        .filter(|event| {
            let spec = &event.valid.spec;
            let matches =
                search.as_ref().is_none_or(|q| folded(&spec.name).contains(q) || folded(&spec.venue).contains(q));
            matches
                && !to_before_epoch
                && from.is_none_or(|from| event.valid.starts_at >= from)
                && to.is_none_or(|to| event.valid.starts_at <= to)
        })
        .map(|event| views::event_summary(event, now))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "events": events })))
}

/// A page cursor: `<log position>.<order id>`, each 1 to 16 hex digits and
/// nothing else (`from_str_radix` alone would take a leading `+`), as the
/// spec's pattern says.
fn parse_cursor(text: &str) -> Option<OrderCursor> {
    let (receipt, order) = text.split_once('.')?;
    let hex = |part: &str| {
        let digits = (1..=16).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_hexdigit());
        digits.then(|| u64::from_str_radix(part, 16).ok()).flatten()
    };
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
    app.durable(receipt).await?;
    Ok(json_response(StatusCode::CREATED, &views::event_detail(&event, app.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomPatchBody {
    #[serde(default, deserialize_with = "json_fields::present_integer")]
    admit_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "json_fields::present_integer")]
    max_active: Option<u32>,
    #[serde(default, deserialize_with = "json_fields::present")]
    paused: Option<bool>,
}

async fn patch_room(app: &App, id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    require_admin(app, &request)?;
    let body: RoomPatchBody = read_json(request, app.max_body_bytes).await?;
    let patch =
        SettingsPatch { admit_per_minute: body.admit_per_minute, max_active: body.max_active, paused: body.paused };
    let (settings, receipt) = event.room.update_settings(patch)?;
    app.durable(app.engine.after_everything_logged(receipt)).await?;
    Ok(json_response(StatusCode::OK, &views::room_json(&settings)))
}

fn list_orders(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
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
    let durable = app.engine.durable_so_far();
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

async fn join_queue(app: &App, id: &str, client: IpAddr, key: Option<JoinKey>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    within_budget(&app.join_limiter, client_key(client), app.now(), "join_rate_limited")?;
    let (buyer, receipt, created) = join_room(app, &event, key)?;
    app.durable(receipt).await?;
    // A tick may have admitted the buyer while the join was being made durable.
    let status = queue_answer(app, &event, buyer, event.room.peek(buyer, event.supply())?).await?;
    let token = app.engine.queue_token(&event, buyer);
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(code, &json!({ "queue_token": token, "status": status })))
}

async fn queue_status(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let status = queue_answer(app, &event, buyer, event.queue_status(buyer)?).await?;
    Ok(json_response(StatusCode::OK, &status))
}

/// A queue status as answered, from one reading of the room: `admitted`
/// always carries the access token signed for the access's end in that same
/// reading, and only once the admission is durable.
async fn queue_answer(app: &App, event: &Event, buyer: BuyerId, status: QueueStatus) -> ApiResult<QueueStatusView> {
    let access = app.engine.access_token(event, buyer, &status);
    if access.is_some() {
        // The admission was logged before the reading; everything logged so far covers it.
        app.durable(app.engine.after_everything_logged(Receipt::NONE)).await?;
    }
    Ok(views::queue_status_view(&status, access))
}

async fn leave_queue(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let receipt = event.room.leave(buyer)?;
    app.durable(app.engine.after_everything_logged(receipt)).await?;
    Ok(no_content())
}

// ---- buyers: seats ----

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
) -> ApiResult<(Arc<Event>, guichet_engine::inventory::Hold, Requester)> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
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
    Ok(json_response(StatusCode::OK, &views::hold_view(&event, &hold, None, app.now())))
}

async fn release_hold(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, hold, requester) = owned_hold(app, reference, request)?;
    let receipt = event.inventory.release(hold.id, requester)?;
    app.durable(receipt).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    payment_ref: String,
}

async fn purchase(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
    let requester = requester(app, &request, &event)?;
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
) -> ApiResult<(Arc<Event>, guichet_engine::inventory::Order, Requester)> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
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
    app.durable(receipt).await?;
    Ok(json_response(StatusCode::OK, &views::order_json(&app.engine, &event, &cancelled)))
}

// ---- idempotency keys ----

/// The `Idempotency-Key` header, if any (its rules are checked where it is used).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("bad_idempotency_key", "Idempotency-Key must be printable ASCII"))?;
    Ok(Some(text.to_owned()))
}

/// A join's key: scoped to the event, so it must carry 128 bits (else 400).
fn join_key(headers: &HeaderMap) -> ApiResult<Option<JoinKey>> {
    let Some(text) = idempotency_key(headers)? else { return Ok(None) };
    Ok(Some(JoinKey::parse(&text).map_err(RoomError::from)?))
}

/// Joins, or finds the buyer an earlier join with the same key made. A
/// replay answers once everything logged so far (the first join with it) is durable.
fn join_room(app: &App, event: &Event, key: Option<JoinKey>) -> ApiResult<(BuyerId, Receipt, bool)> {
    let Some(key) = key else {
        let (buyer, receipt) = event.room.join()?;
        return Ok((buyer, receipt, true));
    };
    let joined = event.room.join_with_key(key)?;
    Ok((joined.buyer, app.engine.after_everything_logged(joined.receipt), joined.created))
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

// ---- operators ----

/// `/metrics`: Prometheus' text format, with the engine's figures read now.
fn metrics_exposition(app: &App) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(app.metrics.exposition(&app.engine))));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

fn readiness(app: &App) -> ApiResult<HttpResponse> {
    if app.engine.wal().is_open() {
        Ok(json_response(StatusCode::OK, &json!({ "status": "ready" })))
    } else {
        let why = app.engine.wal().failure().unwrap_or_else(|| "the log is closed".into());
        Err(ApiError::unavailable("not_ready", format!("not ready: {why}")).retry_after(5))
    }
}

#[cfg(test)]
mod tests {
    //! Handlers under a scripted interleaving: the engine on a log whose
    //! syncs the test holds, and a clock that moves only when told.

    use std::net::Ipv4Addr;

    use guichet_engine::clock::ManualClock;
    use guichet_engine::store::EngineOptions;
    use guichet_engine::wal::storage::MemoryStorage;
    use http_body_util::BodyExt;

    use super::*;
    use crate::http::client_address::TrustedProxies;
    use crate::http::limiter::WindowLimiter;
    use crate::http::router::metric_labels;
    use crate::metrics::Metrics;

    const NOW: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

    fn app(storage: &MemoryStorage, clock: Arc<ManualClock>) -> App {
        let (engine, _) =
            guichet_engine::store::Engine::open(Arc::new(storage.clone()), EngineOptions::default(), clock)
                .expect("a fresh engine opens");
        App {
            engine: Arc::new(engine),
            admin_token: "admin".into(),
            max_body_bytes: 1 << 20,
            metrics: Metrics::new(metric_labels()),
            join_limiter: WindowLimiter::new(1_000_000),
            trusted_proxies: TrustedProxies::new(Vec::new()).expect("no proxies is valid"),
            seat_call_limiter: WindowLimiter::new(1_000_000),
        }
    }

    fn on_sale_spec() -> EventSpec {
        serde_json::from_value(json!({
            "id": "show", "name": "Show", "venue": "Hall",
            "starts_at": "2099-01-01T00:00:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
            "tiers": [{"id": "ga", "name": "GA", "price_cents": 100}],
            "sections": [{"id": "GA", "name": "GA", "tier": "ga", "capacity": 100}],
            "per_buyer_limit": 4, "hold_ttl_s": 600,
            "room": {"admit_per_minute": 60000, "max_active": 100, "access_ttl_s": 900}
        }))
        .expect("the spec parses")
    }

    /// A tick admits the buyer while the join waits for its record to be
    /// durable: the join's answer then says `admitted`, and must carry the
    /// access token (it used to answer admitted with no token).
    #[test]
    fn a_join_admitted_while_it_waits_for_durability_answers_with_its_token() {
        let storage = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(NOW));
        let app = Arc::new(app(&storage, clock.clone()));
        let (event, receipt) = app.engine.create_event(&on_sale_spec()).unwrap();
        app.engine.wait_durable(receipt).unwrap();
        assert!(event.tick().unwrap().opened);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        storage.hold_syncs();
        let joining = {
            let app = app.clone();
            runtime.spawn(async move { join_queue(&app, "show", IpAddr::V4(Ipv4Addr::LOCALHOST), None).await })
        };
        // The join is logged (it waits for the sync we hold); now a tick admits it.
        while event.room.stats().waiting == 0 {
            runtime.block_on(tokio::task::yield_now());
        }
        clock.advance_ms(1_000);
        assert_eq!(event.tick().unwrap().admitted, 1);
        storage.release_syncs();
        let response = runtime.block_on(joining).unwrap().unwrap_or_else(ApiError::into_response);
        assert_eq!(response.status(), StatusCode::CREATED);
        let body = runtime.block_on(response.into_body().collect()).unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"]["state"], "admitted", "{body}");
        assert!(body["status"]["access_token"].is_string(), "admitted without a token: {body}");
        assert!(body["status"]["access_expires_at"].is_string(), "{body}");
    }

    /// Past its expiry, a hold whose expiry has not been swept yet shows as
    /// expired, as a purchase of it is refused (it used to show active).
    #[test]
    fn a_hold_past_its_expiry_shows_expired_before_any_sweep() {
        let storage = MemoryStorage::new();
        let clock = Arc::new(ManualClock::new(NOW));
        let app = app(&storage, clock.clone());
        let (event, _) = app.engine.create_event(&on_sale_spec()).unwrap();
        let request = HoldRequest::BestInSection { section: "GA".into(), quantity: 2 };
        let placed = event.inventory.hold(BuyerId(0), &request).unwrap();
        let hold = placed.hold.id;
        let shown = |app: &App| {
            let hold = event.inventory.hold_info(hold).unwrap();
            let view = serde_json::to_value(views::hold_view(&event, &hold, None, app.now())).unwrap();
            view["status"].as_str().unwrap().to_owned()
        };
        assert_eq!(shown(&app), "active");
        clock.set(UnixTimeMs(placed.hold.expires_at.0 + 200));
        assert_eq!(shown(&app), "expired", "0.2 s past expires_at");
        let refused = event.purchase(hold, Requester::Buyer(BuyerId(0)), "key", "pay").unwrap_err();
        assert_eq!(ApiError::from(refused).into_response().status(), StatusCode::GONE);
    }
}
