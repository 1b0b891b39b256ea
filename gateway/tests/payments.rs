//! Paid sales over real HTTP: checkout, the provider's signed webhooks
//! (good, stale, forged, duplicate, out of order), a failed payment, money
//! that comes after the hold ended (refunded against a fake Stripe on
//! loopback, written here), a crash before the refund is attempted, the test
//! provider's payment page, purchases refused for paid events while unpaid
//! events sell as before, and cancellations refunded (by the buyer or the
//! promoter, once, across a crash; not for shops' or free orders).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{data_dir, Guichet, ADMIN};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "whsec_test_secret";
const STRIPE_KEY: &str = "sk_test_key";
/// Not a secret: checkout hands it to the buyer's page for Stripe.js.
const STRIPE_PUBLISHABLE_KEY: &str = "pk_test_key";

/// A request the fake Stripe received: path, `Idempotency-Key`, form body.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    idempotency_key: String,
    authorization: String,
    body: String,
}

/// A fake Stripe on 127.0.0.1: answers PaymentIntents (created, cancelled)
/// and refunds, and remembers every request.
struct FakeStripe {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// While set, refunds are refused with this status (as Stripe would with a bad key).
    refuse_refunds: Arc<Mutex<Option<u16>>>,
}

impl FakeStripe {
    fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let refuse_refunds = Arc::new(Mutex::new(None));
        let refusing = refuse_refunds.clone();
        std::thread::spawn(move || {
            // As Stripe: the same Idempotency-Key answers the same intent.
            let mut intents: Vec<String> = Vec::new();
            for (count, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let request = read_request(&stream);
                let answer = if request.path == "/v1/payment_intents" {
                    let key = request.idempotency_key.clone();
                    let n = intents.iter().position(|k| *k == key).unwrap_or_else(|| {
                        intents.push(key);
                        intents.len() - 1
                    });
                    json!({ "id": format!("pi_{n}"), "client_secret": format!("pi_{n}_secret_x") })
                } else if request.path.ends_with("/cancel") {
                    json!({ "id": request.path.split('/').nth(3), "status": "canceled" })
                } else {
                    json!({ "id": format!("re_{count}"), "status": "succeeded" })
                };
                let refused = *refusing.lock().unwrap();
                let (status, answer) = match refused {
                    Some(status) if request.path == "/v1/refunds" => {
                        (status, json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key" } }))
                    }
                    _ => (200, answer),
                };
                log.lock().unwrap().push(request);
                let body = answer.to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeStripe { base, received, refuse_refunds }
    }

    fn requests_to(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn read_request(stream: &std::net::TcpStream) -> Received {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let (mut length, mut idempotency_key, mut authorization) = (0, String::new(), String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "idempotency-key" => idempotency_key = value.trim().to_owned(),
            "authorization" => authorization = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Received { path, idempotency_key, authorization, body: String::from_utf8(body).unwrap() }
}

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path, stripe_base: &str) -> Server {
        Server::start_with(dir, stripe_base, &["--enable-test-provider"])
    }

    fn start_with(dir: &Path, stripe_base: &str, more: &[&str]) -> Server {
        let mut args = vec![
            "--stripe-secret-key",
            STRIPE_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            stripe_base,
            "--stripe-publishable-key",
            STRIPE_PUBLISHABLE_KEY,
        ];
        args.extend_from_slice(more);
        let guichet = Guichet::start(dir, &args);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        Server { guichet, agent }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        self.send(method, path, token, body, &[])
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.guichet.base());
        let mut request =
            ureq::http::Request::builder().method(method).uri(&url).header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = self.agent.run(request.body(body.unwrap_or("").to_owned()).unwrap()).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A webhook delivery signed at `signed_at` (Unix seconds) with `secret`.
    fn deliver(&self, event: &Value, signed_at: u64, secret: &str) -> (u16, Value) {
        let body = event.to_string();
        let signature = format!("t={signed_at},v1={}", sign(secret, signed_at, &body));
        self.send("POST", "/v1/payments/webhook", None, Some(&body), &[("Stripe-Signature", &signature)])
    }

    /// A delivery signed now with the right secret.
    fn deliver_now(&self, event: &Value) -> (u16, Value) {
        self.deliver(event, unix_now(), WEBHOOK_SECRET)
    }

    fn hold(&self, hold_id: &str, access: &str) -> Value {
        let (status, hold) = self.call("GET", &format!("/v1/holds/{hold_id}"), Some(access), None);
        assert_eq!(status, 200, "{hold}");
        hold
    }

    fn availability(&self, event: &str) -> Value {
        self.call("GET", &format!("/v1/events/{event}"), None, None).1["availability"]["total"].clone()
    }
}

fn sign(secret: &str, at: u64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{at}.{body}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A Stripe event about our payment.
fn stripe_event(id: &str, kind: &str, payment_id: &str) -> Value {
    json!({
        "id": id, "object": "event", "type": kind, "api_version": "2024-06-20",
        "data": { "object": { "id": "pi_0", "object": "payment_intent", "amount": 29900,
                              "amount_received": if kind == "payment_intent.succeeded" { 29900 } else { 0 },
                              "currency": "cad",
                              "metadata": { "payment_id": payment_id }, "some_new_field": {"x": 1} } }
    })
}

fn spec(id: &str, provider: Option<&str>) -> Value {
    let mut spec = json!({
        "id": id, "name": "Paid show", "venue": "Hall",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "parterre", "name": "Parterre", "price_cents": 14950}],
        "sections": [{"id": "A", "name": "A", "tier": "parterre", "rows": [{"id": "1", "seats": 4}]}],
        "per_buyer_limit": 4, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    });
    if let Some(provider) = provider {
        spec["payment"] = json!({ "provider": provider });
    }
    spec
}

/// Creates the event, admits a buyer, holds two seats: (access token, hold id).
fn buyer_with_hold(server: &Server, event: &str, provider: Option<&str>) -> (String, String) {
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&spec(event, provider).to_string()));
    assert_eq!(status, 201, "{body}");
    let access = admitted(server, event);
    let (status, hold) = server.call(
        "POST",
        &format!("/v1/events/{event}/holds"),
        Some(&access),
        Some(r#"{"section":"A","quantity":2}"#),
    );
    assert_eq!(status, 201, "{hold}");
    (access, hold["hold_id"].as_str().unwrap().to_owned())
}

fn admitted(server: &Server, event: &str) -> String {
    let (status, joined) = server.call("POST", &format!("/v1/events/{event}/queue"), None, None);
    assert_eq!(status, 201, "{joined}");
    let queue_token = joined["queue_token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "admitted in time");
        std::thread::sleep(Duration::from_millis(200));
        let (_, status) = server.call("GET", &format!("/v1/events/{event}/queue/status"), Some(&queue_token), None);
        if let Some(access) = status["access_token"].as_str() {
            return access.to_owned();
        }
    }
}

/// Checks out a hold: (payment id, the whole answer).
fn checkout(server: &Server, hold_id: &str, access: &str) -> (String, Value) {
    let (status, answer) = server.call("POST", &format!("/v1/holds/{hold_id}/checkout"), Some(access), None);
    assert_eq!(status, 200, "{answer}");
    (answer["payment"]["payment_id"].as_str().unwrap().to_owned(), answer)
}

/// An address on loopback where nothing listens: every call to it fails.
fn unreachable_address() -> String {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", closed.local_addr().unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_signed_success_makes_one_order_and_a_duplicate_changes_nothing() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, answer) = checkout(&server, &hold_id, &access);
    assert_eq!(answer["client_secret"], "pi_0_secret_x");
    assert_eq!(answer["publishable_key"], STRIPE_PUBLISHABLE_KEY, "what the page loads Stripe.js with");
    assert_eq!(answer["payment"]["status"], "pending");
    assert_eq!(answer["payment"]["amount_cents"], 29900);
    let intents = stripe.requests_to("/v1/payment_intents");
    assert_eq!(intents.len(), 1);
    assert!(intents[0].body.contains("amount=29900") && intents[0].body.contains("currency=cad"));
    assert!(intents[0].body.contains(&format!("metadata%5Bpayment_id%5D={payment}")));
    assert_eq!(intents[0].authorization, format!("Bearer {STRIPE_KEY}"));
    let (again, _) = checkout(&server, &hold_id, &access);
    assert_eq!(again, payment, "a repeated checkout answers the same payment");
    assert_eq!(stripe.requests_to("/v1/payment_intents")[1].idempotency_key, intents[0].idempotency_key);

    let success = stripe_event("evt_1", "payment_intent.succeeded", &payment);
    let (status, body) = server.deliver_now(&success);
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "{body}");
    let hold = server.hold(&hold_id, &access);
    assert_eq!(hold["status"], "purchased");
    assert_eq!(hold["payment"]["status"], "confirmed");
    assert_eq!(hold["order_id"], hold["payment"]["order_id"]);
    let order_id = hold["order_id"].as_str().unwrap();
    let (_, order) = server.call("GET", &format!("/v1/orders/{order_id}"), Some(&access), None);
    assert_eq!(order["payment_ref"], payment.as_str());
    let sold = server.availability("paid");

    let (status, body) = server.deliver_now(&success);
    assert_eq!((status, body["outcome"].as_str()), (200, Some("duplicate")));
    let (status, body) = server.deliver_now(&stripe_event("evt_2", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "another delivery: the same order");
    assert_eq!(server.hold(&hold_id, &access)["order_id"], order_id);
    assert_eq!(server.availability("paid"), sold, "nothing sold twice");
    let (status, body) = server.deliver_now(&stripe_event("evt_3", "charge.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "other event types: 2xx");
}

/// Correctly signed deliveries whose metadata names our payment but whose
/// PaymentIntent, amount or currency is not the payment's confirm nothing:
/// 2xx (a retry would not change them), a warning, and a count by reason.
#[test]
fn a_signed_delivery_that_does_not_match_its_payment_confirms_nothing() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    let success = stripe_event("evt_1", "payment_intent.succeeded", &payment);
    let forged = |n: &str, field: &str, value: Value| {
        let mut event = success.clone();
        event["id"] = json!(n);
        event["data"]["object"][field] = value;
        event
    };
    let cases = [
        (forged("evt_f1", "id", json!("pi_someone_elses")), "provider_ref"),
        (forged("evt_f2", "amount", json!(1)), "amount"),
        (forged("evt_f3", "amount_received", json!(100)), "amount"),
        (forged("evt_f4", "currency", json!("usd")), "currency"),
    ];
    for (delivery, reason) in &cases {
        let (status, body) = server.deliver_now(delivery);
        assert_eq!((status, body["outcome"].as_str()), (200, Some("rejected")), "{reason}: {body}");
        assert_eq!(server.hold(&hold_id, &access)["status"], "active", "{reason}: no order");
    }
    let metrics = metrics_text(&server);
    assert!(metrics.contains("guichet_webhook_rejected_total{reason=\"provider_ref\"} 1"), "{metrics}");
    assert!(metrics.contains("guichet_webhook_rejected_total{reason=\"amount\"} 2"), "{metrics}");
    assert!(metrics.contains("guichet_webhook_rejected_total{reason=\"currency\"} 1"), "{metrics}");
    let (status, body) = server.deliver_now(&forged("evt_f5", "id", json!("pi_x")).tap_type("payment_intent.canceled"));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("rejected")), "a forged cancellation releases nothing");
    assert_eq!(server.availability("paid")["held"], 2);
    let (status, body) = server.deliver_now(&success);
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "the real one: {body}");
}

trait EventType {
    fn tap_type(self, kind: &str) -> Value;
}

impl EventType for Value {
    fn tap_type(mut self, kind: &str) -> Value {
        self["type"] = json!(kind);
        self
    }
}

#[test]
fn stale_forged_and_unsigned_deliveries_are_refused_and_change_nothing() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    let success = stripe_event("evt_1", "payment_intent.succeeded", &payment);
    let (status, body) = server.deliver(&success, unix_now() - 301, WEBHOOK_SECRET);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_signature")), "stale: {body}");
    let (status, _) = server.deliver(&success, unix_now(), "whsec_forged");
    assert_eq!(status, 400, "forged");
    let body = success.to_string();
    let (status, _) = server.send("POST", "/v1/payments/webhook", None, Some(&body), &[]);
    assert_eq!(status, 400, "unsigned");
    let at = unix_now();
    let tampered = format!("t={at},v1={}", sign(WEBHOOK_SECRET, at, &body.replace("evt_1", "evt_9")));
    let (status, _) =
        server.send("POST", "/v1/payments/webhook", None, Some(&body), &[("Stripe-Signature", &tampered)]);
    assert_eq!(status, 400, "a signature of other bytes");
    assert_eq!(server.hold(&hold_id, &access)["status"], "active", "nothing changed");
    let several = format!("t={at},v1={},v1={}", "00".repeat(32), sign(WEBHOOK_SECRET, at, &body));
    let (status, _) = server.send("POST", "/v1/payments/webhook", None, Some(&body), &[("Stripe-Signature", &several)]);
    assert_eq!(status, 200, "one good v1 among several (a secret being rolled)");
    assert_eq!(server.hold(&hold_id, &access)["status"], "purchased");
}

/// A declined card: the buyer may try another on the same payment, so the
/// hold is kept and the decline shown; a second card that succeeds makes
/// the order.
#[test]
fn a_declined_card_keeps_the_hold_and_another_card_makes_the_order() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    let mut declined = stripe_event("evt_f", "payment_intent.payment_failed", &payment);
    declined["data"]["object"]["last_payment_error"] =
        json!({ "code": "card_declined", "decline_code": "insufficient_funds" });
    let (status, body) = server.deliver_now(&declined);
    assert_eq!((status, body["outcome"].as_str()), (200, Some("declined")), "{body}");
    assert_eq!(server.availability("paid")["held"], 2, "the seats stay held");
    let hold = server.hold(&hold_id, &access);
    assert_eq!((hold["status"].as_str(), hold["payment"]["status"].as_str()), (Some("active"), Some("pending")));
    assert_eq!(hold["payment"]["declined"]["reason"], "insufficient_funds", "{hold}");
    let (status, body) = server.deliver_now(&stripe_event("evt_s", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "another card: {body}");
    let hold = server.hold(&hold_id, &access);
    assert_eq!((hold["status"].as_str(), hold["payment"]["status"].as_str()), (Some("purchased"), Some("confirmed")));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(stripe.requests_to("/v1/refunds").is_empty(), "nothing refunded");
}

#[test]
fn a_cancelled_payment_releases_the_seats_and_a_late_success_is_refunded() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    assert_eq!(server.availability("paid")["held"], 2);
    let (status, body) = server.deliver_now(&stripe_event("evt_c", "payment_intent.canceled", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("released")));
    assert_eq!(server.availability("paid")["held"], 0, "the seats are back on sale");
    let hold = server.hold(&hold_id, &access);
    assert_eq!((hold["status"].as_str(), hold["payment"]["status"].as_str()), (Some("released"), Some("cancelled")));
    // Out of order: the success after the cancellation is refunded.
    let (status, body) = server.deliver_now(&stripe_event("evt_s", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("refunding")));
    wait_for("the refund", || !stripe.requests_to("/v1/refunds").is_empty());
    let refund = &stripe.requests_to("/v1/refunds")[0];
    assert_eq!(refund.idempotency_key, format!("refund-{payment}"));
    assert!(refund.body.contains("payment_intent=pi_0"), "{}", refund.body);
    wait_for("the refund shown done", || server.hold(&hold_id, &access)["payment"]["refund"]["status"] == "done");
    assert_eq!(server.hold(&hold_id, &access)["payment"]["status"], "refunded");
    let metrics = metrics_text(&server);
    assert!(metrics.contains("guichet_outbox_entries{state=\"done\"} 1"), "{metrics}");
}

/// The hold ends under an open payment: the payment expires and its
/// PaymentIntent is cancelled at the provider (once, keyed by the payment).
#[test]
fn a_hold_that_ends_under_an_open_payment_cancels_it_at_the_provider() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    assert_eq!(server.call("DELETE", &format!("/v1/holds/{hold_id}"), Some(&access), None).0, 204);
    wait_for("the cancellation", || !stripe.requests_to("/v1/payment_intents/pi_0/cancel").is_empty());
    let cancels = stripe.requests_to("/v1/payment_intents/pi_0/cancel");
    assert_eq!(cancels[0].idempotency_key, format!("cancel-{payment}"));
    assert_eq!(server.hold(&hold_id, &access)["payment"]["status"], "expired");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stripe.requests_to("/v1/payment_intents/pi_0/cancel").len(), 1, "once");
}

#[test]
fn a_cancellation_after_the_success_leaves_the_order() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    server.deliver_now(&stripe_event("evt_s", "payment_intent.succeeded", &payment));
    let (status, body) = server.deliver_now(&stripe_event("evt_c", "payment_intent.canceled", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("unchanged")));
    let hold = server.hold(&hold_id, &access);
    assert_eq!((hold["status"].as_str(), hold["payment"]["status"].as_str()), (Some("purchased"), Some("confirmed")));
}

#[test]
fn money_after_the_hold_ended_is_refunded_against_the_provider() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    // The hold ends while the provider is still at work (the buyer let it
    // go; a hold that ran out is the same path, covered with a manual clock
    // in the engine's tests), and another buyer takes the seats.
    assert_eq!(server.call("DELETE", &format!("/v1/holds/{hold_id}"), Some(&access), None).0, 204);
    let other = admitted(&server, "paid");
    let (status, _) =
        server.call("POST", "/v1/events/paid/holds", Some(&other), Some(r#"{"section":"A","quantity":4}"#));
    assert_eq!(status, 201);
    let (status, body) = server.deliver_now(&stripe_event("evt_late", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("refunding")));
    wait_for("the refund", || !stripe.requests_to("/v1/refunds").is_empty());
    assert_eq!(stripe.requests_to("/v1/refunds")[0].idempotency_key, format!("refund-{payment}"));
    let hold = server.hold(&hold_id, &access);
    assert_eq!(hold["payment"]["status"], "refunded", "the buyer is told: {hold}");
    assert!(hold.get("order_id").is_none(), "no order");
}

#[test]
fn a_crash_before_the_refund_is_attempted_does_not_lose_it() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    // Nothing listens at the provider's address yet: every attempt fails.
    let unreachable = unreachable_address();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    server.guichet.kill();
    let server = Server::start(&data, &unreachable);
    assert_eq!(server.call("DELETE", &format!("/v1/holds/{hold_id}"), Some(&access), None).0, 204);
    let (status, _) = server.deliver_now(&stripe_event("evt_late", "payment_intent.succeeded", &payment));
    assert_eq!(status, 200, "acknowledged: the refund is in the log");
    server.guichet.kill();
    let server = Server::start(&data, &stripe.base);
    wait_for("the refund after the restart", || !stripe.requests_to("/v1/refunds").is_empty());
    let refunds = stripe.requests_to("/v1/refunds");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].idempotency_key, format!("refund-{payment}"), "the same key as before the crash");
    wait_for("the refund recorded", || server.hold(&hold_id, &access)["payment"]["refund"]["status"] == "done");
}

#[test]
fn the_test_provider_redirects_to_its_page_whose_button_confirms() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "demo", Some("test"));
    let (payment, answer) = checkout(&server, &hold_id, &access);
    assert_eq!(answer["redirect_url"], format!("/pay/test/{payment}"));
    let (status, _) = server.call("POST", &format!("/v1/payments/{payment}/test-confirm"), None, None);
    assert_eq!(status, 401, "the buyer's access token is needed");
    let (status, confirmed) = server.call("POST", &format!("/v1/payments/{payment}/test-confirm"), Some(&access), None);
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["order"]["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(server.hold(&hold_id, &access)["status"], "purchased");
    assert!(stripe.received.lock().unwrap().is_empty(), "no provider was called");
}

#[test]
fn a_buyer_cannot_purchase_a_paid_event_and_an_unpaid_event_sells_as_before() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let purchase = format!("/v1/holds/{hold_id}/purchase");
    let key = [("Idempotency-Key", "k1")];
    let (status, body) = server.send("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"x"}"#), &key);
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("payment_required")));
    let (status, body) = server.send("POST", &purchase, Some(ADMIN), Some(r#"{"payment_ref":"x"}"#), &key);
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("payment_required")), "no order without payment");

    let (access, hold_id) = buyer_with_hold(&server, "free", None);
    let (status, body) = server.call("POST", &format!("/v1/holds/{hold_id}/checkout"), Some(&access), None);
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("no_payment_provider")));
    let purchase = format!("/v1/holds/{hold_id}/purchase");
    let (status, order) = server.send("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"cash"}"#), &key);
    assert_eq!(status, 201, "{order}");
    assert!(server.hold(&hold_id, &access).get("payment").is_none());
}

/// A shop took the money itself: its token of the event confirms the sale;
/// a shop token of another event, or a viewer's, does not.
#[test]
fn a_shop_token_of_the_event_may_purchase_a_paid_events_hold() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "partner", Some("external"));
    buyer_with_hold(&server, "elsewhere", Some("external"));
    let token_of = |role: &str, event: &str| {
        let body = json!({ "role": role, "events": [event], "label": format!("{role} of {event}") }).to_string();
        let (status, made) = server.call("POST", "/v1/tokens", Some(ADMIN), Some(&body));
        assert_eq!(status, 201, "{made}");
        made["token"].as_str().expect("a token").to_owned()
    };
    let purchase = format!("/v1/holds/{hold_id}/purchase");
    let key = [("Idempotency-Key", "shop-sale-1")];
    let body = Some(r#"{"payment_ref":"till-42"}"#);
    let other_shop = token_of("shop", "elsewhere");
    let (status, refused) = server.send("POST", &purchase, Some(&other_shop), body, &key);
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("token_other_event")));
    let viewer = token_of("viewer", "partner");
    let (status, refused) = server.send("POST", &purchase, Some(&viewer), body, &key);
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("role_not_allowed")));
    let shop = token_of("shop", "partner");
    let (status, order) = server.send("POST", &purchase, Some(&shop), body, &key);
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["payment_ref"], "till-42");
    assert_eq!(server.hold(&hold_id, &access)["status"], "purchased");
}

fn metrics_text(server: &Server) -> String {
    let url = format!("{}/metrics", server.guichet.base());
    let mut response = server.agent.get(&url).call().unwrap();
    response.body_mut().read_to_string().unwrap()
}

/// An event whose buyers may cancel until `refund_until`.
fn refundable_event(server: &Server, event: &str, provider: Option<&str>) -> (String, String) {
    let mut spec = spec(event, provider);
    spec["refund_until"] = json!("2099-01-01T00:00:00Z");
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&spec.to_string()));
    assert_eq!(status, 201, "{body}");
    let access = admitted(server, event);
    let (status, hold) = server.call(
        "POST",
        &format!("/v1/events/{event}/holds"),
        Some(&access),
        Some(r#"{"section":"A","quantity":2}"#),
    );
    assert_eq!(status, 201, "{hold}");
    (access, hold["hold_id"].as_str().unwrap().to_owned())
}

/// Pays a hold through the fake Stripe: (payment id, order id).
fn paid_through_stripe(server: &Server, hold_id: &str, access: &str) -> (String, String) {
    let (payment, _) = checkout(server, hold_id, access);
    let (status, body) = server.deliver_now(&stripe_event("evt_paid", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "{body}");
    (payment, server.hold(hold_id, access)["order_id"].as_str().unwrap().to_owned())
}

fn order_of(server: &Server, order_id: &str, token: &str) -> Value {
    let (status, order) = server.call("GET", &format!("/v1/orders/{order_id}"), Some(token), None);
    assert_eq!(status, 200, "{order}");
    order
}

fn assert_one_refund_of(stripe: &FakeStripe, payment: &str) {
    let refunds = stripe.requests_to("/v1/refunds");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].idempotency_key, format!("refund-{payment}"));
    assert!(refunds[0].body.contains("payment_intent=pi_0"), "{}", refunds[0].body);
    assert!(refunds[0].body.contains("amount=29900"), "the order's amount: {}", refunds[0].body);
}

#[test]
fn a_buyers_cancellation_is_refunded_once_against_the_provider() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = refundable_event(&server, "paid", Some("stripe"));
    let (payment, order_id) = paid_through_stripe(&server, &hold_id, &access);
    assert!(order_of(&server, &order_id, &access).get("refund").is_none(), "nothing to refund yet");
    let cancel = format!("/v1/orders/{order_id}/cancel");
    let (status, cancelled) = server.call("POST", &cancel, Some(&access), None);
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    assert!(cancelled["refund"]["status"].is_string(), "the refund's state is shown: {cancelled}");
    wait_for("the refund", || !stripe.requests_to("/v1/refunds").is_empty());
    wait_for("the refund shown done", || order_of(&server, &order_id, &access)["refund"]["status"] == "done");
    let (status, again) = server.call("POST", &cancel, Some(&access), None);
    assert_eq!((status, again["status"].as_str()), (200, Some("cancelled")));
    // The worker looks once a second: give it the time to do it twice.
    std::thread::sleep(Duration::from_millis(2500));
    assert_one_refund_of(&stripe, &payment);
    assert_eq!(order_of(&server, &order_id, &access)["refund"]["attempts"], 1);
}

#[test]
fn a_promoters_cancellation_is_refunded_against_the_provider() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, order_id) = paid_through_stripe(&server, &hold_id, &access);
    let cancel = format!("/v1/orders/{order_id}/cancel");
    let (status, refused) = server.call("POST", &cancel, Some(&access), None);
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("refund_period_over")), "no refund_until");
    assert!(stripe.requests_to("/v1/refunds").is_empty());
    let (status, cancelled) = server.call("POST", &cancel, Some(ADMIN), None);
    assert_eq!(status, 200, "{cancelled}");
    wait_for("the refund", || !stripe.requests_to("/v1/refunds").is_empty());
    assert_one_refund_of(&stripe, &payment);
    wait_for("the refund shown done", || order_of(&server, &order_id, ADMIN)["refund"]["status"] == "done");
}

#[test]
fn a_crash_right_after_a_cancellation_still_refunds() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let unreachable = unreachable_address();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = refundable_event(&server, "paid", Some("stripe"));
    let (payment, order_id) = paid_through_stripe(&server, &hold_id, &access);
    server.guichet.kill();
    // The provider cannot be reached: the refund is not made before the crash.
    let server = Server::start(&data, &unreachable);
    let (status, _) = server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(&access), None);
    assert_eq!(status, 200);
    server.guichet.kill();
    let server = Server::start(&data, &stripe.base);
    wait_for("the refund after the restart", || !stripe.requests_to("/v1/refunds").is_empty());
    assert_one_refund_of(&stripe, &payment);
    wait_for("the refund recorded", || order_of(&server, &order_id, &access)["refund"]["status"] == "done");
}

#[test]
fn cancellations_of_test_external_and_free_orders() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    // The test provider: its refund is done at once, no money moves.
    let (access, hold_id) = refundable_event(&server, "demo", Some("test"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    let confirm = format!("/v1/payments/{payment}/test-confirm");
    let (status, confirmed) = server.call("POST", &confirm, Some(&access), None);
    assert_eq!(status, 200, "{confirmed}");
    let order_id = confirmed["order"]["order_id"].as_str().unwrap().to_owned();
    assert_eq!(server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(&access), None).0, 200);
    wait_for("the test refund done", || order_of(&server, &order_id, &access)["refund"]["status"] == "done");
    // A shop took the money and gives it back itself; a free order has none.
    for (event, provider) in [("partner", Some("external")), ("free", None)] {
        let (access, hold_id) = refundable_event(&server, event, provider);
        let seller = match provider {
            Some(_) => {
                let body = json!({ "role": "shop", "events": [event], "label": "till" }).to_string();
                let (status, made) = server.call("POST", "/v1/tokens", Some(ADMIN), Some(&body));
                assert_eq!(status, 201, "{made}");
                made["token"].as_str().expect("a token").to_owned()
            }
            None => access.clone(),
        };
        let key = [("Idempotency-Key", "sale-1")];
        let purchase = format!("/v1/holds/{hold_id}/purchase");
        let (status, order) = server.send("POST", &purchase, Some(&seller), Some(r#"{"payment_ref":"till-1"}"#), &key);
        assert_eq!(status, 201, "{order}");
        let order_id = order["order_id"].as_str().unwrap();
        let (status, cancelled) = server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(&access), None);
        assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
        assert!(cancelled.get("refund").is_none(), "{event}: no refund queued: {cancelled}");
    }
    assert!(stripe.received.lock().unwrap().is_empty(), "no provider was called");
    assert!(metrics_text(&server).contains("guichet_outbox_entries{state=\"done\"} 1"));
}

/// The access runs out while the buyer pays: the payment token from the
/// checkout still reads that hold, and the order it became (with its order
/// link), and nothing else; it neither cancels nor releases.
#[test]
fn a_payment_token_follows_the_payment_after_the_access_ran_out() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let mut quick = spec("paid", Some("stripe"));
    quick["room"]["access_ttl_s"] = json!(3);
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&quick.to_string()));
    assert_eq!(status, 201, "{body}");
    let access = admitted(&server, "paid");
    let hold_of = |access: &str, quantity: u32| {
        let body = json!({ "section": "A", "quantity": quantity }).to_string();
        let (status, hold) = server.call("POST", "/v1/events/paid/holds", Some(access), Some(&body));
        assert_eq!(status, 201, "{hold}");
        hold["hold_id"].as_str().unwrap().to_owned()
    };
    let hold_id = hold_of(&access, 2);
    let (payment, answer) = checkout(&server, &hold_id, &access);
    let payment_token = answer["payment_token"].as_str().expect("a payment token").to_owned();
    let other_access = admitted(&server, "paid");
    let other_hold = hold_of(&other_access, 1);
    // The access ends 3 s after admission, rounded up to a second.
    wait_for("the access to end", || server.call("GET", "/v1/events/paid/seats", Some(&access), None).0 == 401);
    let (status, body) = server.call("GET", &format!("/v1/holds/{hold_id}"), Some(&access), None);
    assert_eq!(status, 401, "the access is over: {body}");
    let (status, body) = server.deliver_now(&stripe_event("evt_s", "payment_intent.succeeded", &payment));
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ordered")), "{body}");
    let hold = server.hold(&hold_id, &payment_token);
    assert_eq!(hold["status"], "purchased", "{hold}");
    let order_id = hold["order_id"].as_str().unwrap();
    let order = order_of(&server, order_id, &payment_token);
    assert!(order["order_url"].as_str().is_some_and(|url| url.contains("#t=")), "{order}");
    let (status, refused) = server.call("GET", &format!("/v1/holds/{other_hold}"), Some(&payment_token), None);
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("not_yours")), "another hold");
    let (status, _) = server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(&payment_token), None);
    assert_eq!(status, 401, "a payment token does not cancel");
    let (status, _) = server.call("DELETE", &format!("/v1/holds/{hold_id}"), Some(&payment_token), None);
    assert_eq!(status, 401, "nor release");
}

/// Stripe refuses our key (401, then 403): a refund is our misconfiguration,
/// not the buyer's, so it is retried with backoff, and done once the key works.
#[test]
fn a_refund_refused_for_our_key_is_retried_not_given_up() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (payment, order_id) = paid_through_stripe(&server, &hold_id, &access);
    for status in [401, 403] {
        *stripe.refuse_refunds.lock().unwrap() = Some(status);
        let before = stripe.requests_to("/v1/refunds").len();
        if before == 0 {
            assert_eq!(server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(ADMIN), None).0, 200);
        }
        wait_for("an attempt refused", || stripe.requests_to("/v1/refunds").len() > before);
        wait_for("the attempt recorded", || {
            order_of(&server, &order_id, ADMIN)["refund"]["attempts"].as_u64() > Some(before as u64)
        });
        let refund = order_of(&server, &order_id, ADMIN)["refund"].clone();
        assert_eq!(refund["status"], "pending", "{status}: retried, not failed: {refund}");
    }
    *stripe.refuse_refunds.lock().unwrap() = None;
    wait_for("the refund done once the key works", || {
        order_of(&server, &order_id, ADMIN)["refund"]["status"] == "done"
    });
    assert!(stripe.requests_to("/v1/refunds").iter().all(|r| r.idempotency_key == format!("refund-{payment}")));
}

/// The order link is the buyer's: staff lists, reads and cancellations do
/// not carry it; the buyer's own views do.
#[test]
fn staff_views_of_orders_carry_no_order_link() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "paid", Some("stripe"));
    let (_, order_id) = paid_through_stripe(&server, &hold_id, &access);
    let mine = order_of(&server, &order_id, &access);
    assert!(mine["order_token"].is_string() && mine["order_url"].is_string(), "{mine}");
    let (status, list) = server.call("GET", "/v1/events/paid/orders", Some(ADMIN), None);
    assert_eq!(status, 200, "{list}");
    let listed = &list["orders"][0];
    assert_eq!(listed["order_id"], order_id.as_str());
    assert!(listed.get("order_token").is_none() && listed.get("order_url").is_none(), "{listed}");
    let read = order_of(&server, &order_id, ADMIN);
    assert!(read.get("order_token").is_none() && read.get("order_url").is_none(), "{read}");
    let (status, cancelled) = server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(ADMIN), None);
    assert_eq!(status, 200);
    assert!(cancelled.get("order_token").is_none(), "{cancelled}");
    assert!(order_of(&server, &order_id, &access)["order_token"].is_string(), "the buyer's view keeps it");
}

/// The `test` provider moves no money: a server takes events that name it
/// only with `--enable-test-provider` (the demo, rehearsals, tests), and a
/// test payment's page confirms nothing on a server without it.
#[test]
fn the_test_provider_needs_the_servers_flag() {
    let (_dir, data) = data_dir();
    let stripe = FakeStripe::start();
    let server = Server::start(&data, &stripe.base);
    let (access, hold_id) = buyer_with_hold(&server, "demo", Some("test"));
    let (payment, _) = checkout(&server, &hold_id, &access);
    server.guichet.kill();
    let server = Server::start_with(&data, &stripe.base, &[]);
    let (status, refused) =
        server.call("POST", "/v1/events", Some(ADMIN), Some(&spec("other", Some("test")).to_string()));
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("test_provider_disabled")), "{refused}");
    assert_eq!(server.call("GET", "/v1/events/other", None, None).0, 404, "not created");
    let (status, _) = server.call("POST", &format!("/v1/payments/{payment}/test-confirm"), Some(&access), None);
    assert_eq!(status, 404, "no test confirmation without the flag");
    let (status, body) =
        server.call("POST", "/v1/events", Some(ADMIN), Some(&spec("card", Some("stripe")).to_string()));
    assert_eq!(status, 201, "other providers as before: {body}");
}
