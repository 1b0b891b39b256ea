//! Every status docs/openapi.yaml documents for a route is one that a test
//! reaches: the calls below go to the `guichet` binary over real HTTP, each
//! answer is recorded against its route, and the test fails on a documented
//! status that no call met (the spec promises something nobody has seen) or
//! on a status met that the spec does not document for the route.
//!
//! The log is made to fail for real: the server is started with SIGXFSZ
//! ignored, then its file-size limit is lowered to one byte (`prlimit`), so
//! its next write to the log fails with EFBIG.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Guichet, Options, ADMIN};
use serde_json::{json, Value};

const SPEC: &str = include_str!("../../docs/openapi.yaml");

/// Documented statuses no black-box test can cause, each with why. Kept
/// short: the test fails if one of them is not documented any more.
const OUT_OF_REACH: &[(&str, &str, u16, &str)] = &[
    ("get", "/v1/events/{event_id}/seats", 503, "`overloaded` needs 200,000 access tokens in one minute"),
    ("get", "/v1/holds/{hold_id}", 503, "`overloaded` needs 200,000 access tokens in one minute"),
    ("get", "/v1/orders/{order_id}", 503, "`overloaded` needs 200,000 access tokens in one minute"),
    ("get", "/v1/orders/{order_id}/calendar", 503, "`overloaded` needs 200,000 access tokens in one minute"),
    (
        "get",
        "/v1/orders/{order_id}/tickets.pdf",
        503,
        "`overloaded` needs 200,000 access tokens in one minute; `renderer_busy`, 64 PDFs queued behind a busy CPU",
    ),
    ("get", "/v1/orders/{order_id}/tickets.pdf", 500, "`document_failed`: a signed ticket code always fits a QR code"),
    ("get", "/v1/events/{event_id}/orders", 500, "`search_failed`: the search's thread would have to panic"),
    ("post", "/v1/tokens", 409, "`too_many_tokens` needs 10,000 tokens made, each with its own fsync"),
    ("post", "/v1/orders/lookup", 503, "`overloaded` needs 200,000 client addresses in one minute"),
];

type Operation = (String, String); // (method, path template)

/// Every documented (method, path) with its statuses. Paths are keys at
/// indentation 2 under `paths:`, methods at 4, `responses:` at 6 and the
/// statuses at 8 beneath it.
fn documented() -> BTreeMap<Operation, BTreeSet<u16>> {
    let mut found: BTreeMap<Operation, BTreeSet<u16>> = BTreeMap::new();
    let (mut in_paths, mut in_responses) = (false, false);
    let (mut path, mut method) = (String::new(), String::new());
    for line in SPEC.lines() {
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        let key = content.split(':').next().unwrap_or_default().trim().trim_matches('\'').to_owned();
        match indent {
            0 => in_paths = key == "paths",
            2 if in_paths => path = key,
            4 if in_paths => method = key,
            6 if in_paths => in_responses = key == "responses",
            8 if in_paths && in_responses => {
                let status = key.parse().unwrap_or_else(|_| panic!("a status under responses: {line:?}"));
                found.entry((method.clone(), path.clone())).or_default().insert(status);
            }
            _ => {}
        }
    }
    found
}

/// The documented path template a concrete path falls under (the one with
/// the most literal segments, so `/v1/tickets/public-key` is not a hold).
fn template_of(path: &str, templates: &BTreeSet<String>) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    templates
        .iter()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment);
            matches.then(|| (parts.iter().filter(|p| !p.starts_with('{')).count(), template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

/// One request: method, path, token, body (sent as JSON unless a type is
/// given), extra headers.
#[derive(Default)]
struct Call<'a> {
    method: &'a str,
    path: String,
    token: Option<&'a str>,
    body: Option<&'a str>,
    content_type: Option<&'a str>,
    headers: Vec<(&'a str, &'a str)>,
}

fn call<'a>(method: &'a str, path: &str) -> Call<'a> {
    Call { method, path: path.to_owned(), ..Call::default() }
}

impl<'a> Call<'a> {
    fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }
    fn json(mut self, body: &'a str) -> Self {
        self.body = Some(body);
        self.content_type = Some("application/json");
        self
    }
    fn typed(mut self, body: &'a str, content_type: &'a str) -> Self {
        self.body = Some(body);
        self.content_type = Some(content_type);
        self
    }
    fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }
}

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    /// Started with SIGXFSZ ignored, so that `break_the_log` can make the
    /// log's writes fail.
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let options = Options {
            args: extra,
            log: "error",
            // Not inherited: were the test's stderr a file, the lowered
            // file-size limit would fail the server's own writes to it.
            stderr_dropped: true,
            sigxfsz_ignored: true,
        };
        let guichet = Guichet::start_with(dir, &options);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        Server { guichet, agent }
    }

    fn send(&self, call: &Call) -> (u16, Value) {
        let mut request =
            ureq::http::Request::builder().method(call.method).uri(format!("{}{}", self.guichet.base(), call.path));
        if let Some(token) = call.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = call.content_type {
            request = request.header("Content-Type", content_type);
        }
        for (name, value) in &call.headers {
            request = request.header(*name, *value);
        }
        let request = request.body(call.body.unwrap_or_default().to_owned()).expect("a request");
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let (Some(etag), Value::Null) = (etag, &body) {
            body = json!({ "etag": etag });
        }
        (status, body)
    }

    /// Sends a request head announcing a body over `--max-body-bytes`.
    fn too_large(&self, method: &str, path: &str, token: &str) -> u16 {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: k\r\n\
             Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
        );
        let mut stream = std::net::TcpStream::connect(self.guichet.address()).expect("connects");
        stream.write_all(head.as_bytes()).expect("writes");
        let mut response = vec![0; 1024];
        let read = stream.read(&mut response).expect("reads");
        let text = String::from_utf8_lossy(&response[..read]).into_owned();
        text.split(' ').nth(1).and_then(|status| status.parse().ok()).expect("a status line")
    }

    /// From now on every write to the log fails.
    fn break_the_log(&self) {
        let limited = Command::new("prlimit")
            .args(["--pid", &self.guichet.pid().to_string(), "--fsize=1"])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(limited.success(), "prlimit lowers the server's file-size limit");
    }
}

/// The answers met, by operation.
struct Recorder {
    templates: BTreeSet<String>,
    met: RefCell<BTreeMap<Operation, BTreeSet<u16>>>,
}

impl Recorder {
    fn record(&self, method: &str, path: &str, status: u16) {
        let template = template_of(path, &self.templates).unwrap_or_else(|| panic!("{path} is not in the spec"));
        self.met.borrow_mut().entry((method.to_lowercase(), template)).or_default().insert(status);
    }

    /// Sends, records, and checks the status it was meant to reach.
    fn expect(&self, server: &Server, call: Call, expected: u16) -> Value {
        let (status, body) = server.send(&call);
        self.record(call.method, &call.path, status);
        assert_eq!(status, expected, "{} {}: {body}", call.method, call.path);
        body
    }

    fn expect_too_large(&self, server: &Server, method: &str, path: &str, token: &str) {
        let status = server.too_large(method, path, token);
        self.record(method, path, status);
        assert_eq!(status, 413, "{method} {path} with a body over the limit");
    }
}

fn spec(id: &str) -> Value {
    json!({
        "id": id, "name": "Statuses", "venue": "Salle",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
        "sections": [
            {"id": "A", "name": "A", "tier": "t", "rows": [{"id": "1", "seats": 10}]},
            {"id": "GA", "name": "GA", "tier": "t", "capacity": 100}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    })
}

/// Joins and polls until admitted: (queue token, access token).
fn admitted(record: &Recorder, server: &Server, event: &str) -> (String, String) {
    let queue = format!("/v1/events/{event}/queue");
    let joined = record.expect(server, call("POST", &queue), 201);
    let token = joined["queue_token"].as_str().expect("a queue token").to_owned();
    let status_path = format!("{queue}/status");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server.send(&call("GET", &status_path).token(&token));
        record.record("GET", &status_path, status);
        if let Some(access) = body["access_token"].as_str() {
            return (token, access.to_owned());
        }
        assert!(Instant::now() < deadline, "admitted in time: {status} {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hold(record: &Recorder, server: &Server, event: &str, access: &str) -> String {
    let body = record.expect(
        server,
        call("POST", &format!("/v1/events/{event}/holds")).token(access).json(r#"{"section":"GA","quantity":1}"#),
        201,
    );
    body["hold_id"].as_str().expect("a hold id").to_owned()
}

fn buy(record: &Recorder, server: &Server, hold: &str, token: &str, key: &str) -> String {
    let path = format!("/v1/holds/{hold}/purchase");
    let body = record.expect(
        server,
        call("POST", &path).token(token).json(r#"{"payment_ref":"p"}"#).header("Idempotency-Key", key),
        201,
    );
    body["order_id"].as_str().expect("an order id").to_owned()
}

#[test]
fn every_documented_status_of_every_route_is_reached() {
    let documented = documented();
    assert!(documented.len() > 20, "the reader finds the operations: {documented:?}");
    let record = Recorder {
        templates: documented.keys().map(|(_, path)| path.clone()).collect(),
        met: RefCell::new(BTreeMap::new()),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    promoter_routes(&record, &dir.path().join("promoter"));
    waiting_room_routes(&record, &dir.path().join("room"));
    seat_routes(&record, &dir.path().join("seats"));
    operator_routes_and_pages(&record, &dir.path().join("pages"));
    limits(&record, &dir.path().join("limits"));
    a_failed_log(&record, &dir.path().join("failed"));
    find_my_order(&record, &dir.path().join("lookup"));
    payment_routes(&record, &dir.path().join("payments"));
    payments_unconfigured_or_failing(&record, &dir.path().join("payments-failed"));
    payment_limits(&record, &dir.path().join("payments-limits"));
    door_routes(&record, &dir.path().join("door"));

    let met = record.met.into_inner();
    let out_of_reach: BTreeSet<(String, String, u16)> =
        OUT_OF_REACH.iter().map(|(method, path, status, _)| ((*method).into(), (*path).into(), *status)).collect();
    let mut unreached = Vec::new();
    for ((method, path), statuses) in &documented {
        for status in statuses {
            let seen = met.get(&(method.clone(), path.clone())).is_some_and(|s| s.contains(status));
            if !seen && !out_of_reach.contains(&(method.clone(), path.clone(), *status)) {
                unreached.push(format!("{} {path} {status}", method.to_uppercase()));
            }
        }
    }
    let mut undocumented = Vec::new();
    for ((method, path), statuses) in &met {
        for status in statuses {
            if !documented.get(&(method.clone(), path.clone())).is_some_and(|s| s.contains(status)) {
                undocumented.push(format!("{} {path} {status}", method.to_uppercase()));
            }
        }
    }
    for (method, path, status) in &out_of_reach {
        assert!(
            documented.get(&(method.clone(), path.clone())).is_some_and(|s| s.contains(status)),
            "{method} {path} {status} is listed as out of reach but not documented"
        );
    }
    assert!(unreached.is_empty(), "documented statuses no test reaches: {unreached:?}");
    assert!(undocumented.is_empty(), "statuses reached that the spec does not document: {undocumented:?}");
}

fn promoter_routes(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    let show = spec("show").to_string();
    record.expect(&server, call("GET", "/v1/events?from=2026-01-01T00:00:00Z"), 200);
    record.expect(&server, call("GET", "/v1/events?from=yesterday"), 400);
    record.expect(&server, call("POST", "/v1/events").json(&show), 401);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&show), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&show), 409);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(r#"{"id":"x"}"#), 400);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).typed(&show, "text/plain"), 415);
    record.expect_too_large(&server, "POST", "/v1/events", ADMIN);
    record.expect(&server, call("GET", "/v1/events/show"), 200);
    record.expect(&server, call("GET", "/v1/events/nope"), 404);

    let (_, access) = admitted(record, &server, "show");
    record.expect(&server, call("POST", "/v1/events").token(&access).json(&show), 403);
    let room = "/v1/events/show/room";
    record.expect(&server, call("PATCH", room).token(ADMIN).json(r#"{"max_active":500}"#), 200);
    record.expect(&server, call("PATCH", room).token(ADMIN).json(r#"{"max_active":0}"#), 400);
    record.expect(&server, call("PATCH", room).json("{}"), 401);
    record.expect(&server, call("PATCH", room).token(&access).json("{}"), 403);
    record.expect(&server, call("PATCH", "/v1/events/nope/room").token(ADMIN).json("{}"), 404);
    record.expect(&server, call("PATCH", room).token(ADMIN).typed("{}", "text/plain"), 415);
    record.expect_too_large(&server, "PATCH", room, ADMIN);
    for path in ["/v1/events/show/stats", "/v1/events/show/orders"] {
        record.expect(&server, call("GET", path).token(ADMIN), 200);
        record.expect(&server, call("GET", path), 401);
        record.expect(&server, call("GET", path).token(&access), 403);
        record.expect(&server, call("GET", &path.replace("show", "nope")).token(ADMIN), 404);
    }
    record.expect(&server, call("GET", "/v1/events/show/orders?limit=0").token(ADMIN), 400);
    token_routes(record, &server, &access);
}

fn token_routes(record: &Recorder, server: &Server, access: &str) {
    let tokens = "/v1/tokens";
    let viewer = r#"{"role":"viewer","events":["show"],"label":"box office"}"#;
    let made = record.expect(server, call("POST", tokens).token(ADMIN).json(viewer), 201);
    let (id, token) = (made["token_id"].as_str().expect("an id"), made["token"].as_str().expect("a token"));
    record.expect(server, call("POST", tokens).token(ADMIN).json(r#"{"role":"door","label":"gate"}"#), 400);
    record.expect(server, call("POST", tokens).json(viewer), 401);
    record.expect(server, call("POST", tokens).token(token).json(viewer), 403);
    record.expect(server, call("POST", tokens).token(ADMIN).typed(viewer, "text/plain"), 415);
    record.expect_too_large(server, "POST", tokens, ADMIN);
    record.expect(server, call("GET", tokens).token(ADMIN), 200);
    record.expect(server, call("GET", tokens), 401);
    record.expect(server, call("GET", tokens).token(access), 403);
    let path = format!("{tokens}/{id}");
    record.expect(server, call("DELETE", &path), 401);
    record.expect(server, call("DELETE", &path).token(token), 403);
    record.expect(server, call("DELETE", "/v1/tokens/t999").token(ADMIN), 404);
    record.expect(server, call("DELETE", &path).token(ADMIN), 204);
}

fn waiting_room_routes(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("show").to_string()), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("other").to_string()), 201);
    let mut started = spec("started");
    started["on_sale_at"] = json!("2020-01-01T00:00:00Z");
    started["starts_at"] = json!("2021-01-01T00:00:00Z");
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&started.to_string()), 201);
    record.expect(&server, call("POST", "/v1/events/started/queue"), 409);
    record.expect(&server, call("POST", "/v1/events/nope/queue"), 404);
    let join_key = "Vq3x8NfK2mPz7RbT1cWy9A"; // 16 random bytes, base64url
    record.expect(&server, call("POST", "/v1/events/show/queue").header("Idempotency-Key", join_key), 201);
    record.expect(&server, call("POST", "/v1/events/show/queue").header("Idempotency-Key", join_key), 200);
    record.expect(&server, call("POST", "/v1/events/show/queue").header("Idempotency-Key", "short"), 400);

    let (queue, _) = admitted(record, &server, "show");
    let (other_queue, _) = admitted(record, &server, "other");
    let status = "/v1/events/show/queue/status";
    // Polled at once again: sooner than the advised interval.
    record.expect(&server, call("GET", status).token(&queue), 429);
    record.expect(&server, call("GET", status), 401);
    record.expect(&server, call("GET", status).token(&other_queue), 403);
    record.expect(&server, call("GET", "/v1/events/nope/queue/status").token(&queue), 404);
    let leave = "/v1/events/show/queue";
    record.expect(&server, call("DELETE", leave), 401);
    record.expect(&server, call("DELETE", leave).token(&other_queue), 403);
    record.expect(&server, call("DELETE", "/v1/events/nope/queue").token(&queue), 404);
    record.expect(&server, call("DELETE", leave).token(&queue), 204);
}

fn seat_routes(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    let mut refundable = spec("show");
    refundable["refund_until"] = json!("2099-01-01T00:00:00Z");
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&refundable.to_string()), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("final").to_string()), 201);
    let (queue, access) = admitted(record, &server, "show");
    let (_, rival) = admitted(record, &server, "show");
    let (_, final_access) = admitted(record, &server, "final");

    let seats = "/v1/events/show/seats";
    record.expect(&server, call("GET", seats).token(&access), 200);
    record.expect(&server, call("GET", seats).token(&queue), 401);
    record.expect(&server, call("GET", seats).token(ADMIN), 403);
    record.expect(&server, call("GET", "/v1/events/nope/seats").token(&access), 404);

    let holds = "/v1/events/show/holds";
    let one = r#"{"seats":[{"section":"A","row":"1","number":1}]}"#;
    record.expect(&server, call("POST", holds).token(&access).json(one).header("Idempotency-Key", "h1"), 201);
    record.expect(&server, call("POST", holds).token(&access).json(one).header("Idempotency-Key", "h1"), 200);
    record.expect(&server, call("POST", holds).token(&rival).json(one), 409);
    record.expect(&server, call("POST", holds).token(&access).json(r#"{"section":"A","quantity":1.5}"#), 400);
    record.expect(&server, call("POST", holds).token(&access).json(r#"{"section":"Z","quantity":1}"#), 422);
    record.expect(&server, call("POST", holds).json(one), 401);
    record.expect(&server, call("POST", holds).token(ADMIN).json(one), 403);
    record.expect(&server, call("POST", "/v1/events/nope/holds").token(&access).json(one), 404);
    record.expect(&server, call("POST", holds).token(&access).typed(one, "text/plain"), 415);
    record.expect_too_large(&server, "POST", holds, &access);

    let held = hold(record, &server, "show", &access);
    let path = format!("/v1/holds/{held}");
    record.expect(&server, call("GET", &path).token(&access), 200);
    record.expect(&server, call("GET", &path), 401);
    record.expect(&server, call("GET", &path).token(&rival), 403);
    record.expect(&server, call("GET", "/v1/holds/h0-ffff").token(ADMIN), 404);
    record.expect(&server, call("DELETE", &path), 401);
    record.expect(&server, call("DELETE", &path).token(&rival), 403);
    record.expect(&server, call("DELETE", "/v1/holds/h0-ffff").token(ADMIN), 404);
    record.expect(&server, call("DELETE", &path).token(&access), 204);

    let purchase = |hold: &str| format!("/v1/holds/{hold}/purchase");
    let body = r#"{"payment_ref":"p"}"#;
    let bought = hold(record, &server, "show", &access);
    let order = buy(record, &server, &bought, &access, "k1");
    let replay = call("POST", &purchase(&bought)).token(&access).json(body).header("Idempotency-Key", "k1");
    record.expect(&server, replay, 200);
    let reused = call("POST", &purchase(&bought)).token(&access).json(r#"{"payment_ref":"q"}"#);
    record.expect(&server, reused.header("Idempotency-Key", "k1"), 422);
    record.expect(
        &server,
        call("POST", &purchase(&held)).token(&access).json(body).header("Idempotency-Key", "k2"),
        409,
    );
    record.expect(&server, call("DELETE", &format!("/v1/holds/{bought}")).token(&access), 409);
    let fresh = hold(record, &server, "show", &access);
    record.expect(&server, call("POST", &purchase(&fresh)).token(&access).json(body), 400);
    record.expect(&server, call("POST", &purchase(&fresh)).json(body).header("Idempotency-Key", "k3"), 401);
    record.expect(
        &server,
        call("POST", &purchase(&fresh)).token(&rival).json(body).header("Idempotency-Key", "k3"),
        403,
    );
    let unknown = call("POST", &purchase("h0-ffff")).token(ADMIN).json(body).header("Idempotency-Key", "k3");
    record.expect(&server, unknown, 404);
    let text = call("POST", &purchase(&fresh)).token(&access).typed(body, "text/plain").header("Idempotency-Key", "k3");
    record.expect(&server, text, 415);
    record.expect_too_large(&server, "POST", &purchase(&fresh), &access);

    let order_path = format!("/v1/orders/{order}");
    let read = record.expect(&server, call("GET", &order_path).token(&access), 200);
    let order_token = read["order_token"].as_str().expect("an order token").to_owned();
    record.expect(&server, call("GET", &order_path).token(&order_token), 200);
    record.expect(&server, call("GET", &order_path), 401);
    record.expect(&server, call("GET", &order_path).token(&rival), 403);
    record.expect(&server, call("GET", "/v1/orders/o0-ffff").token(ADMIN), 404);
    let calendar = format!("{order_path}/calendar");
    record.expect(&server, call("GET", &calendar).token(&order_token), 200);
    record.expect(&server, call("GET", &calendar).token(&access), 200);
    record.expect(&server, call("GET", &calendar), 401);
    record.expect(&server, call("GET", &calendar).token(&rival), 403);
    record.expect(&server, call("GET", "/v1/orders/o0-ffff/calendar").token(ADMIN), 404);
    let tickets_pdf = format!("{order_path}/tickets.pdf");
    record.expect(&server, call("GET", &tickets_pdf).token(&order_token), 200);
    record.expect(&server, call("GET", &tickets_pdf).token(&access), 200);
    record.expect(&server, call("GET", &tickets_pdf), 401);
    record.expect(&server, call("GET", &tickets_pdf).token(&rival), 403);
    record.expect(&server, call("GET", "/v1/orders/o0-ffff/tickets.pdf").token(ADMIN), 404);
    let cancel = format!("{order_path}/cancel");
    record.expect(&server, call("POST", &cancel).token(&order_token), 403);
    record.expect(&server, call("POST", &cancel), 401);
    record.expect(&server, call("POST", &cancel).token(&rival), 403);
    record.expect(&server, call("POST", "/v1/orders/o0-ffff/cancel").token(ADMIN), 404);
    // With only the order link: a confirmation emailed to the buyer, then the cancellation with it.
    let requests = format!("{order_path}/cancel-requests");
    record.expect(&server, call("POST", &requests), 401);
    record.expect(&server, call("POST", &requests).token(&rival), 403);
    record.expect(&server, call("POST", "/v1/orders/o0-ffff/cancel-requests").token(&access), 404);
    record.expect(&server, call("POST", &requests).token(&order_token).json(r#"{"x":1}"#), 400);
    record.expect(&server, call("POST", &requests).token(&order_token).typed("{}", "text/plain"), 415);
    record.expect_too_large(&server, "POST", &requests, &order_token);
    // A free order: no address was given (paid orders get theirs in `payment_routes`).
    record.expect(&server, call("POST", &requests).token(&order_token).json("{}"), 409);
    let guessed = r#"{"confirmation":"1.1.4000000000.AAAAAAAAAAAAAAAAAAAAAA"}"#;
    record.expect(&server, call("POST", &cancel).token(&order_token).json(guessed), 403);
    record.expect(&server, call("POST", &cancel).token(&order_token).json(r#"{"confirmation":5}"#), 400);
    record.expect(&server, call("POST", &cancel).token(&order_token).typed("{}", "text/plain"), 415);
    record.expect_too_large(&server, "POST", &cancel, &order_token);
    record.expect(&server, call("POST", &cancel).token(&access), 200);
    record.expect(&server, call("POST", &requests).token(&order_token), 409);
    // Without `refund_until` a buyer may not cancel.
    let final_hold = hold(record, &server, "final", &final_access);
    let final_order = buy(record, &server, &final_hold, &final_access, "f1");
    record.expect(&server, call("POST", &format!("/v1/orders/{final_order}/cancel")).token(&final_access), 403);

    // A hold past its time cannot be bought.
    let mut quick = spec("quick");
    quick["hold_ttl_s"] = json!(1);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&quick.to_string()), 201);
    let (_, quick_access) = admitted(record, &server, "quick");
    let expiring = hold(record, &server, "quick", &quick_access);
    std::thread::sleep(Duration::from_millis(1_200));
    let late = call("POST", &purchase(&expiring)).token(&quick_access).json(body).header("Idempotency-Key", "q1");
    record.expect(&server, late, 410);
}

fn operator_routes_and_pages(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("show").to_string()), 201);
    for path in ["/v1/tickets/public-key", "/metrics", "/healthz", "/readyz", "/", "/admin", "/e/show"] {
        record.expect(&server, call("GET", path), 200);
    }
    record.expect(&server, call("GET", "/e/nope"), 404);
    record.expect(&server, call("GET", "/o/o0-1"), 200);
    record.expect(&server, call("GET", "/o/o7f-1"), 404);
    record.expect(&server, call("GET", "/o/nope"), 404);
    let asset = record.expect(&server, call("GET", "/assets/style.css"), 200);
    let etag = asset["etag"].as_str().expect("an ETag").to_owned();
    record.expect(&server, call("GET", "/assets/style.css").header("If-None-Match", &etag), 304);
    record.expect(&server, call("GET", "/assets/nope.css"), 404);
    record.expect(&server, call("GET", "/qr/AAAA.BBBB"), 200);
    record.expect(&server, call("GET", "/qr/not%20a%20code"), 404);
    record.expect(&server, call("GET", "/pay/test/pay_0123"), 200);
    record.expect(&server, call("GET", "/pay/test/not%20an%20id"), 404);
    record.expect(&server, call("GET", "/door/show"), 200);
    record.expect(&server, call("GET", "/door/nope"), 404);
}

/// The first ticket code of an order, as staff read it.
fn ticket_code(record: &Recorder, server: &Server, order: &str) -> String {
    let body = record.expect(server, call("GET", &format!("/v1/orders/{order}")).token(ADMIN), 200);
    body["tickets"][0]["code"].as_str().expect("a ticket code").to_owned()
}

fn door_routes(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("show").to_string()), 201);
    let (_, access) = admitted(record, &server, "show");
    let kept = buy(record, &server, &hold(record, &server, "show", &access), &access, "k1");
    let cancelled = buy(record, &server, &hold(record, &server, "show", &access), &access, "k2");
    let (kept, cancelled_order) = (ticket_code(record, &server, &kept), cancelled);
    let cancelled = ticket_code(record, &server, &cancelled_order);
    record.expect(&server, call("POST", &format!("/v1/orders/{cancelled_order}/cancel")).token(ADMIN), 200);
    record.expect(&server, call("GET", "/v1/events/show/hall"), 200);
    record.expect(&server, call("GET", "/v1/events/nope/hall"), 404);
    let list = "/v1/events/show/checkins";
    record.expect(&server, call("GET", list).token(ADMIN), 200);
    record.expect(&server, call("GET", list), 401);
    record.expect(&server, call("GET", list).token(&access), 403);
    record.expect(&server, call("GET", "/v1/events/nope/checkins").token(ADMIN), 404);
    let scan = |code: &str, scan_id: &str| json!({"code": code, "door": "North", "scan_id": scan_id}).to_string();
    record.expect(&server, call("POST", list).token(ADMIN).json(&scan(&kept, "s1")), 201);
    record.expect(&server, call("POST", list).token(ADMIN).json(&scan(&kept, "s2")), 409);
    record.expect(&server, call("POST", list).token(ADMIN).json(&scan(&cancelled, "s3")), 410);
    record.expect(&server, call("POST", list).token(ADMIN).json(&scan("not a code", "s4")), 422);
    record.expect(&server, call("POST", list).token(ADMIN).json(r#"{"code":"x"}"#), 400);
    record.expect(&server, call("POST", list).json(&scan(&kept, "s5")), 401);
    record.expect(&server, call("POST", list).token(&access).json(&scan(&kept, "s6")), 403);
    record.expect(&server, call("POST", "/v1/events/nope/checkins").token(ADMIN).json(&scan(&kept, "s7")), 404);
    record.expect(&server, call("POST", list).token(ADMIN).typed(&scan(&kept, "s8"), "text/plain"), 415);
    record.expect_too_large(&server, "POST", list, ADMIN);
}

/// Waits for a fresh minute if this one is nearly over: the budgets are
/// counted in fixed one-minute windows, and the calls that spend one must
/// fall in the same window as those it refuses.
fn early_in_a_minute() {
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    if now_s % 60 > 45 {
        std::thread::sleep(Duration::from_secs(61 - now_s % 60));
    }
}

/// The budgets: one join a minute per client, four seat calls per buyer.
fn limits(record: &Recorder, data: &Path) {
    let args = ["--joins-per-minute-per-client", "1", "--seat-calls-per-minute-per-buyer", "4"];
    let server = Server::start(data, &args);
    early_in_a_minute();
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("show").to_string()), 201);
    let (_, access) = admitted(record, &server, "show");
    record.expect(&server, call("POST", "/v1/events/show/queue"), 429);
    // Four seat calls a minute: a hold and an order, then one refusal per route.
    let held = hold(record, &server, "show", &access);
    let bought = hold(record, &server, "show", &access);
    let order = buy(record, &server, &bought, &access, "k1");
    let body = r#"{"payment_ref":"p"}"#;
    record.expect(&server, call("GET", "/v1/events/show/seats").token(&access), 200);
    for refused in [
        call("GET", "/v1/events/show/seats").token(&access),
        call("POST", "/v1/events/show/holds").token(&access).json(r#"{"section":"GA","quantity":1}"#),
        call("GET", &format!("/v1/holds/{held}")).token(&access),
        call("DELETE", &format!("/v1/holds/{held}")).token(&access),
        call("POST", &format!("/v1/holds/{held}/purchase")).token(&access).json(body).header("Idempotency-Key", "k2"),
        call("GET", &format!("/v1/orders/{order}")).token(&access),
        call("GET", &format!("/v1/orders/{order}/calendar")).token(&access),
        call("GET", &format!("/v1/orders/{order}/tickets.pdf")).token(&access),
        call("POST", &format!("/v1/orders/{order}/cancel")).token(&access),
    ] {
        record.expect(&server, refused, 429);
    }
}

/// "Find my order": the same 202 whatever is asked, within its budgets.
fn find_my_order(record: &Recorder, data: &Path) {
    let server = Server::start(data, &[]);
    early_in_a_minute();
    let lookup = "/v1/orders/lookup";
    record.expect(&server, call("POST", lookup).json(r#"{"email":"a@example.com","order_id":"o0-1"}"#), 202);
    record.expect(&server, call("POST", lookup).json(r#"{"email":"nobody","order_id":"o0-1"}"#), 400);
    record.expect(&server, call("POST", lookup).typed("{}", "text/plain"), 415);
    record.expect_too_large(&server, "POST", lookup, "none");
    // Five a minute from this client, whatever they were.
    record.expect(&server, call("POST", lookup).json(r#"{"email":"b@example.com","order_id":"o0-2"}"#), 202);
    record.expect(&server, call("POST", lookup).json(r#"{"email":"c@example.com","order_id":"o0-3"}"#), 429);
}

/// Every change after the log failed: 503, and the server is not ready.
fn a_failed_log(record: &Recorder, data: &Path) {
    // Every poll accepted, so the admitted buyer's poll waits for the log.
    let server = Server::start(data, &["--poll-tolerance-percent", "0"]);
    let mut refundable = spec("show");
    refundable["refund_until"] = json!("2099-01-01T00:00:00Z");
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&refundable.to_string()), 201);
    let (queue, access) = admitted(record, &server, "show");
    let (leaver, _) = admitted(record, &server, "show");
    let held = hold(record, &server, "show", &access);
    let bought = hold(record, &server, "show", &access);
    let order = buy(record, &server, &bought, &access, "k1");
    let code = ticket_code(record, &server, &order);
    let to_buy = hold(record, &server, "show", &access);
    let viewer = r#"{"role":"viewer","events":["show"],"label":"box office"}"#;
    record.expect(&server, call("POST", "/v1/tokens").token(ADMIN).json(viewer), 201);

    server.break_the_log();
    let body = r#"{"payment_ref":"p"}"#;
    for change in [
        call("POST", "/v1/events").token(ADMIN).json(&spec("late").to_string()),
        call("PATCH", "/v1/events/show/room").token(ADMIN).json(r#"{"paused":true}"#),
        call("POST", "/v1/events/show/queue"),
        call("DELETE", "/v1/events/show/queue").token(&leaver),
        call("GET", "/v1/events/show/queue/status").token(&queue),
        call("POST", "/v1/events/show/holds").token(&access).json(r#"{"section":"GA","quantity":1}"#),
        call("DELETE", &format!("/v1/holds/{held}")).token(&access),
        call("POST", &format!("/v1/holds/{to_buy}/purchase")).token(&access).json(body).header("Idempotency-Key", "k2"),
        call("POST", &format!("/v1/orders/{order}/cancel")).token(ADMIN),
        call("POST", "/v1/events/show/checkins")
            .token(ADMIN)
            .json(&json!({"code": code, "door": "North", "scan_id": "s1"}).to_string()),
        call("POST", "/v1/tokens").token(ADMIN).json(viewer),
        call("DELETE", "/v1/tokens/t1").token(ADMIN),
        call("GET", "/readyz"),
    ] {
        record.expect(&server, change, 503);
    }
}

const WEBHOOK_SECRET: &str = "whsec_statuses";

fn paid_spec(id: &str, provider: &str) -> String {
    let mut paid = spec(id);
    paid["payment"] = json!({ "provider": provider });
    paid.to_string()
}

/// A webhook delivery signed now.
fn signed_delivery(body: &str) -> String {
    use hmac::{Hmac, Mac};
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("a key");
    mac.update(format!("{at}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={at},v1={hex}")
}

/// An address where nothing listens: the provider does not answer.
fn unreachable_provider() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    format!("http://{}", closed.local_addr().expect("an address"))
}

/// Checkout, the webhook and the test page's confirmation.
fn payment_routes(record: &Recorder, data: &Path) {
    let provider = unreachable_provider();
    let args = [
        "--stripe-secret-key",
        "sk_test",
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--stripe-api-base",
        &provider,
        "--enable-test-provider",
    ];
    let server = Server::start(data, &args);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&paid_spec("demo", "test")), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&paid_spec("card", "stripe")), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&spec("free").to_string()), 201);
    let mut quick: Value = serde_json::from_str(&paid_spec("quick", "test")).expect("json");
    quick["hold_ttl_s"] = json!(1);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&quick.to_string()), 201);
    let (_, access) = admitted(record, &server, "demo");
    let (_, rival) = admitted(record, &server, "demo");
    let (_, card_access) = admitted(record, &server, "card");
    let (_, free_access) = admitted(record, &server, "free");
    let (_, quick_access) = admitted(record, &server, "quick");
    let mut back: Value = serde_json::from_str(&paid_spec("back", "test")).expect("json");
    back["refund_until"] = json!("2099-01-01T00:00:00Z");
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&back.to_string()), 201);
    let (_, back_access) = admitted(record, &server, "back");

    let checkout = |hold: &str| format!("/v1/holds/{hold}/checkout");
    let held = hold(record, &server, "demo", &access);
    let paid = record.expect(&server, call("POST", &checkout(&held)).token(&access), 200);
    let payment = paid["payment"]["payment_id"].as_str().expect("a payment id").to_owned();
    record.expect(&server, call("POST", &checkout(&held)).token(&access).json(r#"{"email":"no-at-sign"}"#), 400);
    record.expect(&server, call("POST", &checkout(&held)).token(&access).json(r#"{"email":"ana@example.org"}"#), 200);
    record.expect(&server, call("POST", &checkout(&held)), 401);
    record.expect(&server, call("POST", &checkout(&held)).token(&rival), 403);
    record.expect(&server, call("POST", &checkout("h0-ffff")).token(&access), 404);
    record.expect(&server, call("POST", &checkout(&held)).token(&access).typed("{}", "text/plain"), 415);
    record.expect_too_large(&server, "POST", &checkout(&held), &access);
    let free_hold = hold(record, &server, "free", &free_access);
    record.expect(&server, call("POST", &checkout(&free_hold)).token(&free_access), 409);
    let quick_hold = hold(record, &server, "quick", &quick_access);
    std::thread::sleep(Duration::from_millis(1_200));
    record.expect(&server, call("POST", &checkout(&quick_hold)).token(&quick_access), 410);
    let card_hold = hold(record, &server, "card", &card_access);
    record.expect(&server, call("POST", &checkout(&card_hold)).token(&card_access), 502);
    let purchase = call("POST", &format!("/v1/holds/{held}/purchase")).token(&access);
    record.expect(&server, purchase.json(r#"{"payment_ref":"p"}"#).header("Idempotency-Key", "k"), 409);

    let confirm = format!("/v1/payments/{payment}/test-confirm");
    record.expect(&server, call("POST", &confirm), 401);
    record.expect(&server, call("POST", &confirm).token(&rival), 403);
    record.expect(&server, call("POST", "/v1/payments/pay_nope/test-confirm").token(&access), 404);
    let confirmed = record.expect(&server, call("POST", &confirm).token(&access), 200);
    let order = confirmed["order"]["order_id"].as_str().expect("an order id");
    let back_hold = hold(record, &server, "back", &back_access);
    let given = r#"{"email":"ana@example.org"}"#;
    let back_paid = record.expect(&server, call("POST", &checkout(&back_hold)).token(&back_access).json(given), 200);
    let back_payment = back_paid["payment"]["payment_id"].as_str().expect("a payment id").to_owned();
    let back_confirm = format!("/v1/payments/{back_payment}/test-confirm");
    let back_order = record.expect(&server, call("POST", &back_confirm).token(&back_access), 200);
    let requests = format!("/v1/orders/{}/cancel-requests", back_order["order"]["order_id"].as_str().expect("an id"));
    record.expect(&server, call("POST", &requests).token(&back_access), 202);
    record.expect(&server, call("POST", &requests).token(&back_access), 429);
    let erase = format!("/v1/orders/{order}/personal-data");
    record.expect(&server, call("DELETE", &erase), 401);
    record.expect(&server, call("DELETE", &erase).token(&access), 403);
    record.expect(&server, call("DELETE", "/v1/orders/o0-ffff/personal-data").token(ADMIN), 404);
    record.expect(&server, call("DELETE", &erase).token(ADMIN), 200);

    let webhook = "/v1/payments/webhook";
    let ignored = r#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{}}}"#;
    let signature = signed_delivery(ignored);
    record.expect(&server, call("POST", webhook).json(ignored).header("Stripe-Signature", &signature), 200);
    record.expect(&server, call("POST", webhook).json(ignored), 400);
    record.expect_too_large(&server, "POST", webhook, "none");
}

/// No provider keys: checkout and the webhook are 503; then a failed log.
fn payments_unconfigured_or_failing(record: &Recorder, data: &Path) {
    let server = Server::start(data, &["--enable-test-provider"]);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&paid_spec("demo", "test")), 201);
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&paid_spec("card", "stripe")), 201);
    let (_, access) = admitted(record, &server, "demo");
    let (_, card_access) = admitted(record, &server, "card");
    let card_hold = hold(record, &server, "card", &card_access);
    record.expect(&server, call("POST", &format!("/v1/holds/{card_hold}/checkout")).token(&card_access), 503);
    record.expect(
        &server,
        call("POST", "/v1/payments/webhook").json("{}").header("Stripe-Signature", "t=1,v1=00"),
        503,
    );
    let held = hold(record, &server, "demo", &access);
    let paid = record.expect(&server, call("POST", &format!("/v1/holds/{held}/checkout")).token(&access), 200);
    let payment = paid["payment"]["payment_id"].as_str().expect("a payment id").to_owned();
    let unpaid = hold(record, &server, "demo", &access);
    let mut back: Value = serde_json::from_str(&paid_spec("back", "test")).expect("json");
    back["refund_until"] = json!("2099-01-01T00:00:00Z");
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&back.to_string()), 201);
    let (_, back_access) = admitted(record, &server, "back");
    let back_hold = hold(record, &server, "back", &back_access);
    let given = r#"{"email":"ana@example.org"}"#;
    let back_checkout = format!("/v1/holds/{back_hold}/checkout");
    let back_paid = record.expect(&server, call("POST", &back_checkout).token(&back_access).json(given), 200);
    let back_payment = back_paid["payment"]["payment_id"].as_str().expect("a payment id").to_owned();
    let back_confirm = format!("/v1/payments/{back_payment}/test-confirm");
    let back_order = record.expect(&server, call("POST", &back_confirm).token(&back_access), 200);
    let requests = format!("/v1/orders/{}/cancel-requests", back_order["order"]["order_id"].as_str().expect("an id"));
    server.break_the_log();
    record.expect(&server, call("POST", &requests).token(&back_access), 503);
    record.expect(&server, call("POST", &format!("/v1/payments/{payment}/test-confirm")).token(&access), 503);
    record.expect(&server, call("POST", &format!("/v1/holds/{unpaid}/checkout")).token(&access), 503);
    record.expect(&server, call("DELETE", "/v1/orders/o0-ffff/personal-data").token(ADMIN), 503);
}

/// The buyer's budget of seat calls covers checkout and the test page's confirmation.
fn payment_limits(record: &Recorder, data: &Path) {
    let server = Server::start(data, &["--seat-calls-per-minute-per-buyer", "3", "--enable-test-provider"]);
    early_in_a_minute();
    record.expect(&server, call("POST", "/v1/events").token(ADMIN).json(&paid_spec("demo", "test")), 201);
    let (_, access) = admitted(record, &server, "demo");
    let held = hold(record, &server, "demo", &access);
    let paid = record.expect(&server, call("POST", &format!("/v1/holds/{held}/checkout")).token(&access), 200);
    let payment = paid["payment"]["payment_id"].as_str().expect("a payment id").to_owned();
    record.expect(&server, call("GET", "/v1/events/demo/seats").token(&access), 200);
    record.expect(&server, call("POST", &format!("/v1/holds/{held}/checkout")).token(&access), 429);
    record.expect(&server, call("POST", &format!("/v1/payments/{payment}/test-confirm")).token(&access), 429);
}
