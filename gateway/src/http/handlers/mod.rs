//! One function per route: authenticate, parse, call the engine, wait until
//! the change is durable, render. No state of their own. This file answers a
//! request (HEAD as GET, 405 with `Allow`, the pages for paths the API does
//! not match) and dispatches by route; the routes are grouped by audience,
//! one file per group.

mod checkins;
mod events;
mod holds;
mod operator;
mod order_list;
mod orders;
mod payments;
mod personal;
mod queue;
mod tokens;

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use hyper::{Method, Request, Response, StatusCode};

use super::app::App;
use super::error::{ApiError, ApiResult};
use super::pages;
use super::response::HttpResponse;
use super::router::{Matched, Route, Router};

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
    Response::from_parts(parts, crate::http::response::whole(Bytes::new()))
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
            let (label, response) = pages::serve(app, &request).unwrap_or_else(|| {
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
        (Route::Events, Method::GET) => events::list_events(app, &request),
        (Route::Events, _) => events::create_event(app, request).await,
        (Route::Event, _) => events::event_detail(app, &param),
        (Route::EventHall, _) => events::event_hall(app, &param),
        (Route::EventRoom, _) => events::patch_room(app, &param, request).await,
        (Route::EventStats, _) => events::event_stats(app, &param, &request),
        (Route::EventOrders, _) => order_list::list_orders(app, &param, &request).await,
        (Route::EventCheckIns, Method::GET) => checkins::door_list(app, &param, &request),
        (Route::EventCheckIns, _) => checkins::check_in(app, &param, request).await,
        (Route::Queue, Method::POST) => {
            let key = queue::join_key(request.headers())?;
            queue::join_queue(app, &param, app.trusted_proxies.client_address(client, request.headers()), key).await
        }
        (Route::Queue, _) => queue::leave_queue(app, &param, &request).await,
        (Route::QueueStatus, _) => queue::queue_status(app, &param, &request).await,
        (Route::Seats, _) => holds::seats(app, &param, &request),
        (Route::Holds, _) => holds::place_hold(app, &param, request).await,
        (Route::Hold, Method::GET) => holds::get_hold(app, &param, &request),
        (Route::Hold, _) => holds::release_hold(app, &param, &request).await,
        (Route::HoldPurchase, _) => holds::purchase(app, &param, request).await,
        (Route::Order, _) => orders::get_order(app, &param, &request),
        (Route::OrderCancel, _) => holds::cancel_order(app, &param, request).await,
        (Route::OrderCalendar, _) => orders::order_calendar(app, &param, &request),
        (Route::OrderTickets, _) => orders::order_tickets_pdf(app, &param, &request).await,
        (Route::Metrics, _) => Ok(operator::metrics_exposition(app)),
        (Route::Healthz, _) => Ok(operator::healthz()),
        (Route::TicketKey, _) => Ok(operator::ticket_key(app)),
        (Route::Readyz, _) => operator::readiness(app),
        (Route::Tokens, Method::GET) => tokens::list_tokens(app, &request),
        (Route::Tokens, _) => tokens::create_token(app, request).await,
        (Route::Token, _) => tokens::revoke_token(app, &param, &request).await,
        (Route::HoldCheckout, _) => payments::checkout(app, &param, request).await,
        (Route::PaymentWebhook, _) => payments::webhook(app, request).await,
        (Route::PaymentTestConfirm, _) => payments::test_confirm(app, &param, request).await,
        (Route::OrderPersonalData, _) => personal::erase(app, &param, &request).await,
        (Route::OrderCancelRequests, _) => orders::request_cancellation(app, &param, request).await,
        (Route::OrderLookup, _) => {
            orders::lookup(app, app.trusted_proxies.client_address(client, request.headers()), request).await
        }
    }
}

#[cfg(test)]
mod tests {
    //! Handlers under a scripted interleaving: the engine on a log whose
    //! syncs the test holds, and a clock that moves only when told.

    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use guichet_engine::clock::ManualClock;
    use guichet_engine::ids::BuyerId;
    use guichet_engine::inventory::{HoldRequest, Requester};
    use guichet_engine::spec::EventSpec;
    use guichet_engine::store::EngineOptions;
    use guichet_engine::time::UnixTimeMs;
    use guichet_engine::wal::storage::MemoryStorage;
    use http_body_util::BodyExt;
    use serde_json::{json, Value};

    use super::queue::join_queue;
    use super::*;
    use crate::http::client_address::TrustedProxies;
    use crate::http::limiter::WindowLimiter;
    use crate::http::router::metric_labels;
    use crate::http::views;
    use crate::metrics::Metrics;

    const NOW: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

    fn app(storage: &MemoryStorage, clock: Arc<ManualClock>) -> App {
        let (engine, _) =
            guichet_engine::store::Engine::open(Arc::new(storage.clone()), EngineOptions::default(), clock)
                .expect("a fresh engine opens");
        let metrics = Metrics::new(metric_labels());
        let mail = Arc::new(crate::mail_status::MailStatus::new(None, metrics.mail_meters()));
        App {
            engine: Arc::new(engine),
            admin_token: "admin".into(),
            max_body_bytes: 1 << 20,
            metrics,
            mail,
            join_limiter: WindowLimiter::new(1_000_000),
            trusted_proxies: TrustedProxies::new(Vec::new()).expect("no proxies is valid"),
            seat_call_limiter: WindowLimiter::new(1_000_000),
            drawings: Default::default(),
            lookup_limiter: crate::http::limiter::LookupLimiter::default(),
            providers: Arc::new(crate::payments::Providers::new(&crate::payments::PaymentSecrets::default())),
            spare: Arc::new(crate::spare_cpu::SpareCpu::start().expect("a thread starts")),
            replication_wait: None,
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
