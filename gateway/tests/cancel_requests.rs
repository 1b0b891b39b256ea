//! Cancelling with only the order link: the order token reads and never
//! cancels alone; `POST /v1/orders/{id}/cancel-requests` emails the buyer a
//! one-time confirmation, and the cancellation takes the order token with
//! that code. "Find my order" (`POST /v1/orders/lookup`) answers alike
//! whatever it is asked, within its budgets. Over real HTTP.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{data_dir, Guichet, ADMIN};
use guichet_engine::confirmations::{self, ConfirmationClaims};
use guichet_engine::ids::OrderId;
use guichet_engine::limits::{CANCEL_CONFIRMATION_VALID_S, MAX_CONFIRMATION_CODE_LEN};
use guichet_engine::tokens::KeyRing;
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        // Its events are paid through the test provider, which the server must allow.
        let args: Vec<&str> = args.iter().copied().chain(["--enable-test-provider"]).collect();
        Server { guichet: Guichet::start(dir, &args), agent }
    }

    /// `(status, body, Retry-After)`.
    fn call(&self, path: &str, token: Option<&str>, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        self.send("POST", path, token, body, headers)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", self.guichet.base());
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let text = body.map(|body| body.to_string()).unwrap_or_default();
        if !text.is_empty() {
            request = request.header("Content-Type", "application/json");
        }
        let mut response = self.agent.run(request.body(text).unwrap()).expect("the server answers");
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), retry_after }
    }

    fn pending_entries(&self) -> u64 {
        let url = format!("{}/metrics", self.guichet.base());
        let text = self.agent.get(&url).call().unwrap().body_mut().read_to_string().unwrap();
        let line = text.lines().find(|l| l.starts_with("guichet_outbox_entries{state=\"pending\"}")).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Reply {
    fn code(&self) -> (u16, Option<&str>) {
        (self.status, self.body["error"]["code"].as_str())
    }
}

/// An event paid through the `test` provider (no money moves), which
/// buyers may cancel until `refund_until` (`None`: never).
fn create(server: &Server, id: &str, refund_until: Option<&str>) {
    let mut spec = json!({
        "id": id, "name": "Show", "venue": "Hall",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "ga", "name": "GA", "price_cents": 5000}],
        "sections": [{"id": "GA", "name": "GA", "tier": "ga", "capacity": 100}],
        "per_buyer_limit": 4, "hold_ttl_s": 600, "payment": {"provider": "test"},
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    });
    if let Some(until) = refund_until {
        spec["refund_until"] = json!(until);
    }
    let created = server.call("/v1/events", Some(ADMIN), Some(spec), &[]);
    assert_eq!(created.status, 201, "{:?}", created.body);
}

/// A buyer joins, is admitted, checks out one place (giving `email`, if
/// any) and pays on the test page: (access token, order).
fn buy(server: &Server, event: &str, email: Option<&str>) -> (String, Value) {
    let joined = server.call(&format!("/v1/events/{event}/queue"), None, None, &[]);
    let mut status = joined.body["status"].clone();
    let queue_token = joined.body["queue_token"].as_str().unwrap().to_owned();
    while status["state"] != "admitted" {
        std::thread::sleep(Duration::from_millis(200));
        status = server.send("GET", &format!("/v1/events/{event}/queue/status"), Some(&queue_token), None, &[]).body;
    }
    let access = status["access_token"].as_str().unwrap().to_owned();
    let hold = server.call(
        &format!("/v1/events/{event}/holds"),
        Some(&access),
        Some(json!({"section": "GA", "quantity": 1})),
        &[],
    );
    let path = format!("/v1/holds/{}/checkout", hold.body["hold_id"].as_str().unwrap());
    let checkout = server.call(&path, Some(&access), email.map(|email| json!({ "email": email })), &[]);
    assert_eq!(checkout.status, 200, "{:?}", checkout.body);
    let payment = checkout.body["payment"]["payment_id"].as_str().unwrap();
    let paid = server.call(&format!("/v1/payments/{payment}/test-confirm"), Some(&access), None, &[]);
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    (access, paid.body["order"].clone())
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A code as the engine signs it for the email (the test reads the keys from the data directory).
fn code_for(data: &Path, order_id: &str, nth: u32, expires_at_s: u64) -> String {
    let keys: KeyRing = serde_json::from_slice(&std::fs::read(data.join("signing-keys.json")).unwrap()).unwrap();
    let (event, order) = order_id.strip_prefix('o').unwrap().split_once('-').unwrap();
    let event = u32::from_str_radix(event, 16).unwrap();
    let order = OrderId(u64::from_str_radix(order, 16).unwrap());
    confirmations::sign(&keys, &ConfirmationClaims { event, order, nth, expires_at_s })
}

#[test]
fn the_order_token_cancels_only_with_the_confirmation_emailed_to_the_buyer() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &[]);
    create(&server, "show", Some("2099-08-01T00:00:00Z"));
    let (access, order) = buy(&server, "show", Some("ana@example.org"));
    let (_, other) = buy(&server, "show", Some("bob@example.org"));
    let order_id = order["order_id"].as_str().unwrap();
    let token = order["order_token"].as_str().unwrap();
    let cancel = format!("/v1/orders/{order_id}/cancel");
    let requests = format!("/v1/orders/{order_id}/cancel-requests");

    assert_eq!(server.call(&cancel, Some(token), None, &[]).code(), (403, Some("order_token_read_only")));
    let guessed =
        server.call(&cancel, Some(token), Some(json!({"confirmation": "1.1.4000000000.AAAAAAAAAAAAAAAAAAAAAA"})), &[]);
    assert_eq!(guessed.code(), (403, Some("invalid_confirmation")));
    // The body keeps to its schema whoever sends it, the access token too.
    let too_long = json!({ "confirmation": "0".repeat(MAX_CONFIRMATION_CODE_LEN + 1) });
    assert_eq!(server.call(&cancel, Some(&access), Some(too_long), &[]).code(), (400, Some("invalid_body")));
    let other_token = other["order_token"].as_str().unwrap();
    assert_eq!(server.call(&requests, Some(other_token), None, &[]).code(), (403, Some("not_yours")));

    let pending = server.pending_entries();
    let sent = server.call(&requests, Some(token), Some(json!({})), &[]);
    assert_eq!((sent.status, &sent.body), (202, &json!({"status": "sent"})), "no address in the answer");
    assert_eq!(server.pending_entries(), pending + 1, "exactly one email queued");
    let again = server.call(&requests, Some(&access), None, &[]);
    assert_eq!(again.code(), (429, Some("cancel_request_too_soon")));
    assert!(again.retry_after.is_some());
    assert_eq!(server.pending_entries(), pending + 1);

    let expires = now_s() + u64::from(CANCEL_CONFIRMATION_VALID_S);
    let for_other = code_for(&data, other["order_id"].as_str().unwrap(), 1, expires);
    let refused = server.call(&cancel, Some(token), Some(json!({"confirmation": for_other})), &[]);
    assert_eq!(refused.code(), (403, Some("invalid_confirmation")), "another order's code");
    let expired = code_for(&data, order_id, 1, now_s() - 1);
    let refused = server.call(&cancel, Some(token), Some(json!({"confirmation": expired})), &[]);
    assert_eq!(refused.code(), (403, Some("confirmation_expired")));
    let code = code_for(&data, order_id, 1, expires);
    assert_eq!(
        server.call(&cancel, None, Some(json!({"confirmation": code})), &[]).code(),
        (401, Some("access_token_required"))
    );
    let cancelled = server.call(&cancel, Some(token), Some(json!({"confirmation": code})), &[]);
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert!(cancelled.body["cancelled_at"].is_string());
    assert!(cancelled.body["refund"]["status"].is_string(), "the paid order's refund is queued: {:?}", cancelled.body);
    let again = server.call(&cancel, Some(token), Some(json!({"confirmation": code})), &[]);
    assert_eq!((again.status, &again.body["cancelled_at"]), (200, &cancelled.body["cancelled_at"]), "used: moot");
    assert_eq!(server.call(&requests, Some(token), None, &[]).code(), (409, Some("order_cancelled")));
}

#[test]
fn a_confirmation_is_refused_where_the_buyer_may_not_cancel() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &[]);
    create(&server, "final", None);
    create(&server, "open", Some("2099-08-01T00:00:00Z"));
    let (_, order) = buy(&server, "final", Some("ana@example.org"));
    let (_, silent) = buy(&server, "open", None);
    // The orders' own confirmations wait in the outbox (no relay here).
    let pending = server.pending_entries();
    let silent_requests = format!("/v1/orders/{}/cancel-requests", silent["order_id"].as_str().unwrap());
    let refused = server.call(&silent_requests, silent["order_token"].as_str(), None, &[]);
    assert_eq!(refused.code(), (409, Some("no_buyer_email")), "no address was given at checkout");
    let token = order["order_token"].as_str().unwrap();
    let requests = format!("/v1/orders/{}/cancel-requests", order["order_id"].as_str().unwrap());
    assert_eq!(server.call(&requests, Some(token), None, &[]).code(), (403, Some("refund_period_over")));
    assert_eq!(server.call(&requests, None, None, &[]).code(), (401, Some("access_token_required")));
    assert_eq!(
        server.call("/v1/orders/o0-ffff/cancel-requests", Some(token), None, &[]).code(),
        (403, Some("not_yours"))
    );
    assert_eq!(
        server.call("/v1/orders/o9-1/cancel-requests", Some(token), None, &[]).code(),
        (404, Some("unknown_order"))
    );
    assert_eq!(server.pending_entries(), pending, "no request was queued");
}

/// Fixed one-minute windows: start a budget test early in a minute.
fn at_the_start_of_a_minute() {
    if now_s() % 60 > 45 {
        std::thread::sleep(Duration::from_secs(61 - now_s() % 60));
    }
}

#[test]
fn find_my_order_answers_alike_whatever_is_asked_within_its_budgets() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &["--trusted-proxy", "127.0.0.0/8"]);
    create(&server, "show", None);
    let (_, order) = buy(&server, "show", Some("buyer@example.com"));
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    at_the_start_of_a_minute();
    let pending = server.pending_entries();
    let lookup = |order_id: &str, email: &str, client: &str| {
        let body = json!({"email": email, "order_id": order_id});
        server.call("/v1/orders/lookup", None, Some(body), &[("X-Forwarded-For", client)])
    };
    let asked = [
        (order_id.as_str(), "someone@example.com"),
        ("o0-fffff", "someone@example.com"),
        ("o77-1", "buyer@example.com"),
        ("not an order", "buyer@example.com"),
        (order_id.as_str(), "BUYER@example.com"),
    ];
    for (order_id, email) in asked {
        let answer = lookup(order_id, email, "203.0.113.1");
        assert_eq!((answer.status, &answer.body), (202, &json!({"status": "accepted"})), "{order_id} {email}");
    }
    let over = lookup("o0-1", "x@example.com", "203.0.113.1");
    assert_eq!(over.code(), (429, Some("lookup_rate_limited")), "the client's budget");
    assert!(over.retry_after.is_some());
    assert_eq!(lookup(&order_id, "a@example.com", "203.0.113.2").status, 202, "the order's third this minute");
    let over = lookup(&order_id.to_uppercase().replacen('O', "o", 1), "a@example.com", "203.0.113.4");
    assert_eq!(over.code(), (429, Some("lookup_rate_limited")), "the order's budget, however it is written");
    let over = lookup("o1-fffff", "a@example.com", "203.0.113.4");
    assert_eq!(over.status, 202, "another order, another budget");
    assert_eq!(lookup(&order_id, "not an address", "203.0.113.5").code(), (400, Some("invalid_email")));
    assert_eq!(
        server.pending_entries(),
        pending + 1,
        "one link emailed: to the buyer's own address, whatever its case"
    );
}
