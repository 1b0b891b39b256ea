//! The v1 API over real HTTP, against the `guichet` binary started on an
//! ephemeral port with a temporary data directory.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{data_dir, Guichet, Reply, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
    base: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Self::start_with(dir, &[])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let guichet = Guichet::start(dir, extra);
        let base = guichet.base().to_owned();
        // A fresh connection per call: the server closes a connection whose
        // request body it refused unread, and reusing it would race that close.
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        Server { guichet, base, agent }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        self.call_with(method, path, token, body, &[])
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        self.call_typed(method, path, token, body, headers, Some("application/json"))
    }

    /// A call with the given `Content-Type`, or none at all.
    fn call_typed(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let request = request.body(body.unwrap_or("").to_owned()).unwrap();
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// One request (`METHOD /path`) on its own connection, read to the end.
    fn raw(&self, request_line: &str, token: Option<&str>) -> Reply {
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        common::exchange(
            &self.guichet,
            &format!("{request_line} HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n"),
        )
    }

    fn kill(self) {
        self.guichet.kill();
    }
}

/// Sends raw bytes and returns the response's status line.
fn raw_status(server: &Server, bytes: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.guichet.address()).unwrap();
    stream.write_all(bytes.as_bytes()).unwrap();
    let mut response = vec![0; 1024];
    let read = stream.read(&mut response).unwrap();
    String::from_utf8_lossy(&response[..read]).lines().next().unwrap_or_default().to_owned()
}

/// A small event on sale since 2026, admitting fast.
fn spec(id: &str) -> Value {
    json!({
        "id": id, "name": "Céline Dion — test", "venue": "Amphithéâtre Cogeco",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "parterre", "name": "Parterre", "price_cents": 14950}, {"id": "pelouse", "name": "Pelouse", "price_cents": 7950}],
        "sections": [
            {"id": "A", "name": "A", "tier": "parterre", "rows": [{"id": "1", "seats": 10}, {"id": "2", "seats": 10}]},
            {"id": "GA", "name": "Pelouse", "tier": "pelouse", "capacity": 100}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    })
}

fn create(server: &Server, spec: &Value) {
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&spec.to_string()));
    assert_eq!(status, 201, "{body}");
}

/// Joins the queue and polls (as told) until admitted: (queue token, access token).
fn admitted_buyer(server: &Server, event: &str) -> (String, String) {
    admitted_buyers(server, event, 1).remove(0)
}

/// `count` buyers join, then poll until all are admitted.
fn admitted_buyers(server: &Server, event: &str, count: usize) -> Vec<(String, String)> {
    let queue_tokens: Vec<String> = (0..count)
        .map(|_| {
            let (status, joined) = server.call("POST", &format!("/v1/events/{event}/queue"), None, None);
            assert_eq!(status, 201, "{joined}");
            assert_admitted_with_token(&joined["status"]);
            joined["queue_token"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut access: Vec<Option<String>> = vec![None; count];
    let deadline = Instant::now() + Duration::from_secs(30);
    while access.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "admitted in time");
        std::thread::sleep(Duration::from_millis(200));
        for (token, granted) in queue_tokens.iter().zip(access.iter_mut()).filter(|(_, a)| a.is_none()) {
            let (status, body) = server.call("GET", &format!("/v1/events/{event}/queue/status"), Some(token), None);
            assert!(status == 200 || status == 429, "{status} {body}");
            assert_admitted_with_token(&body);
            if body["state"] == "admitted" {
                *granted = Some(body["access_token"].as_str().unwrap().to_owned());
            }
        }
    }
    queue_tokens.into_iter().zip(access.into_iter().flatten()).collect()
}

/// A status that says `admitted` carries the access token and its end; no other does.
fn assert_admitted_with_token(status: &Value) {
    let admitted = status["state"] == "admitted";
    assert_eq!(status["access_token"].is_string(), admitted, "{status}");
    assert_eq!(status["access_expires_at"].is_string(), admitted, "{status}");
}

#[test]
fn a_buyer_queues_holds_buys_and_the_promoter_sees_it() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let (status, list) = server.call("GET", "/v1/events?q=celine%20dion", None, None);
    assert_eq!((status, list["events"][0]["id"].as_str()), (200, Some("show")), "accent-insensitive search");
    let (_, detail) = server.call("GET", "/v1/events/show", None, None);
    assert_eq!(detail["state"], "on_sale");
    assert_eq!(detail["availability"]["total"]["available"], 120);
    let (_, access) = admitted_buyer(&server, "show");
    let (status, seats) = server.call("GET", "/v1/events/show/seats", Some(&access), None);
    assert_eq!(status, 200);
    assert_eq!(seats["sections"][1]["available"], 100);
    let (status, hold) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":2}"#));
    assert_eq!(status, 201, "{hold}");
    assert_eq!(hold["total_cents"], 29900);
    let hold_id = hold["hold_id"].as_str().unwrap();
    assert_eq!(server.call("GET", &format!("/v1/holds/{hold_id}"), Some(&access), None).0, 200);
    let purchase = format!("/v1/holds/{hold_id}/purchase");
    let key = [("Idempotency-Key", "order-1")];
    let (status, order) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"pay-1"}"#), &key);
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["tickets"].as_array().unwrap().len(), 2);
    let (_, public_key) = server.call("GET", "/v1/tickets/public-key", None, None);
    let code = order["tickets"][1]["code"].as_str().unwrap();
    let claims = guichet_engine::tickets::verify_code(code, public_key["public_key"].as_str().unwrap())
        .expect("a scanner verifies the code offline");
    assert_eq!((claims.index, claims.tickets_in_order), (1, 2));
    let (status, again) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"pay-1"}"#), &key);
    assert_eq!((status, &again["order_id"]), (200, &order["order_id"]), "the same key returns the same order");
    let (status, _) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"other"}"#), &key);
    assert_eq!(status, 422, "the same key with another body");
    let (status, ga) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"tier":"pelouse","quantity":1}"#));
    assert_eq!(status, 201);
    assert!(
        ga["tickets"][0].get("row").is_none() && ga["tickets"][0].get("number").is_none(),
        "GA tickets have no row or number"
    );
    assert_eq!(
        server.call("DELETE", &format!("/v1/holds/{}", ga["hold_id"].as_str().unwrap()), Some(&access), None).0,
        204
    );
    let order_path = format!("/v1/orders/{}", order["order_id"].as_str().unwrap());
    assert_eq!(server.call("GET", &order_path, Some(&access), None).0, 200);
    let (status, stats) = server.call("GET", "/v1/events/show/stats", Some(ADMIN), None);
    assert_eq!(
        (status, &stats["inventory"]["total"]["sold"], &stats["revenue_cents"]),
        (200, &json!(2), &json!(29900))
    );
    assert_eq!(
        stats["sales"],
        json!({
            "sections": {"A": {"tickets": 2, "revenue_cents": 29900}, "GA": {"tickets": 0, "revenue_cents": 0}},
            "tiers": {"parterre": {"tickets": 2, "revenue_cents": 29900}, "pelouse": {"tickets": 0, "revenue_cents": 0}},
        }),
        "tickets and revenue by section and by tier"
    );
    let (status, page) = server.call("GET", "/v1/events/show/orders?limit=10", Some(ADMIN), None);
    assert_eq!((status, page["orders"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, room) =
        server.call("PATCH", "/v1/events/show/room", Some(ADMIN), Some(r#"{"admit_per_minute":120,"paused":true}"#));
    assert_eq!((status, &room["admit_per_minute"], &room["paused"]), (200, &json!(120), &json!(true)));
    let (status, cancelled) = server.call("POST", &format!("{order_path}/cancel"), Some(ADMIN), None);
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")));
    let (status, listed) = server.call("GET", "/v1/events/show/orders", Some(ADMIN), None);
    assert_eq!((status, &listed["orders"][0]["status"]), (200, &json!("cancelled")), "cancelled orders are listed");
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(server.call("GET", "/readyz", None, None).0, 200);
}

#[test]
fn every_refusal_has_its_status_and_code() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    create(&server, &spec("other"));
    let (queue, access) = admitted_buyer(&server, "show");
    let (_, other_access) = admitted_buyer(&server, "show");
    let (_, foreign_access) = admitted_buyer(&server, "other");
    let check = |(status, body): (u16, Value), expected: u16, code: &str| {
        assert_eq!((status, body["error"]["code"].as_str()), (expected, Some(code)), "{body}");
    };
    // 401
    check(server.call("POST", "/v1/events", None, Some(&spec("x").to_string())), 401, "missing_token");
    check(server.call("GET", "/v1/events/show/stats", Some("forged"), None), 401, "invalid_token");
    let forged = format!("{}x", &access[..access.len() - 1]);
    check(server.call("GET", "/v1/events/show/seats", Some(&forged), None), 401, "invalid_token");
    check(server.call("GET", "/v1/events/show/seats", None, None), 401, "access_token_required");
    check(server.call("GET", "/v1/events/show/seats", Some(&queue), None), 401, "access_token_required");
    check(
        server.call("POST", "/v1/events/show/holds", Some(&queue), Some(r#"{"section":"A","quantity":1}"#)),
        401,
        "access_token_required",
    );
    // 403
    check(server.call("GET", "/v1/events/show/stats", Some(&access), None), 403, "admin_only");
    check(server.call("POST", "/v1/events", Some(&access), Some(&spec("x").to_string())), 403, "admin_only");
    check(server.call("GET", "/v1/events/show/seats", Some(&foreign_access), None), 403, "token_other_event");
    check(server.call("GET", "/v1/events/show/stats", Some(&foreign_access), None), 403, "admin_only");
    let (_, hold) = server.call(
        "POST",
        "/v1/events/show/holds",
        Some(&access),
        Some(r#"{"seats":[{"section":"A","row":"1","number":1}]}"#),
    );
    let hold_path = format!("/v1/holds/{}", hold["hold_id"].as_str().unwrap());
    check(server.call("GET", &hold_path, Some(&other_access), None), 403, "not_yours");
    // 404
    check(server.call("GET", "/v1/events/nope", None, None), 404, "unknown_event");
    check(server.call("GET", "/v1/holds/h0-ffff", Some(ADMIN), None), 404, "unknown_hold");
    check(server.call("GET", "/v1/orders/garbage", Some(ADMIN), None), 404, "unknown_order");
    check(server.call("GET", "/v2/nothing", None, None), 404, "no_such_route");
    // 409
    check(server.call("POST", "/v1/events", Some(ADMIN), Some(&spec("show").to_string())), 409, "event_exists");
    let taken = server.call(
        "POST",
        "/v1/events/show/holds",
        Some(&other_access),
        Some(r#"{"seats":[{"section":"A","row":"1","number":1}]}"#),
    );
    assert_eq!(taken.1["error"]["seats"][0]["number"], 1, "the unavailable seat is named");
    check(taken, 409, "seats_unavailable");
    // 422
    check(
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":4}"#)),
        422,
        "over_buyer_limit",
    );
    check(
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":0}"#)),
        422,
        "bad_quantity",
    );
    let unknown_row = server.call(
        "POST",
        "/v1/events/show/holds",
        Some(&access),
        Some(r#"{"seats":[{"section":"A","row":"9","number":1}]}"#),
    );
    assert_eq!(unknown_row.1["error"]["field"], "seats[0].row");
    check(unknown_row, 422, "unknown_row");
    // 400
    check(server.call("POST", "/v1/events/show/holds", Some(&access), Some("{not json")), 400, "malformed_json");
    let wrong_type =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":"two"}"#));
    assert_eq!(wrong_type.1["error"]["field"], "quantity");
    check(wrong_type, 400, "invalid_body");
    let mut bad = spec("bad");
    bad["sections"][0]["rows"][0]["seats"] = json!(0);
    let invalid = server.call("POST", "/v1/events", Some(ADMIN), Some(&bad.to_string()));
    assert_eq!(invalid.1["error"]["field"], "sections[0].rows[0].seats");
    check(invalid, 400, "invalid_event");
    let mut typo = spec("typo");
    typo["room"]["admit_per_minuet"] = json!(1);
    check(server.call("POST", "/v1/events", Some(ADMIN), Some(&typo.to_string())), 400, "invalid_body");
    check(
        server.call_with("POST", &format!("{hold_path}/purchase"), Some(&access), Some(r#"{"payment_ref":"p"}"#), &[]),
        400,
        "idempotency_key_required",
    );
    // 413: refused from the declared length, before the body is sent.
    let head = format!(
        "POST {hold_path}/purchase HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {access}\r\nIdempotency-Key: k\r\nContent-Length: 2000000\r\n\r\n"
    );
    assert!(raw_status(&server, &head).starts_with("HTTP/1.1 413"), "body over the limit");
    // 405
    check(server.call("PUT", "/v1/events", Some(ADMIN), None), 405, "method_not_allowed");
}

#[test]
fn an_expired_hold_is_gone_and_an_expired_access_token_refused() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let mut quick = spec("quick");
    quick["hold_ttl_s"] = json!(1);
    quick["room"]["access_ttl_s"] = json!(3);
    create(&server, &quick);
    let (_, access) = admitted_buyer(&server, "quick");
    let (_, hold) =
        server.call("POST", "/v1/events/quick/holds", Some(&access), Some(r#"{"section":"A","quantity":1}"#));
    std::thread::sleep(Duration::from_millis(1_200));
    let path = format!("/v1/holds/{}/purchase", hold["hold_id"].as_str().unwrap());
    let (status, body) =
        server.call_with("POST", &path, Some(&access), Some(r#"{"payment_ref":"p"}"#), &[("Idempotency-Key", "k")]);
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("hold_expired")));
    std::thread::sleep(Duration::from_millis(3_500)); // access ends within 3 s (rounded up to a second) of admission
    let (status, body) = server.call("GET", "/v1/events/quick/seats", Some(&access), None);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("token_expired")));
}

#[test]
fn sixty_four_buyers_race_for_one_seat_and_exactly_one_wins() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    // Room enough for all 64 to be admitted at once (admission promises no
    // more buyers than the places can serve), all after the same seat.
    let mut race = spec("race");
    race["sections"][1]["capacity"] = json!(1_000);
    create(&server, &race);
    let tokens: Vec<String> = admitted_buyers(&server, "race", 64).into_iter().map(|(_, access)| access).collect();
    let seat = r#"{"seats":[{"section":"A","row":"2","number":5}]}"#;
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let racers: Vec<_> = tokens
            .iter()
            .map(|token| scope.spawn(|| server.call("POST", "/v1/events/race/holds", Some(token), Some(seat)).0))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 63);
}

#[test]
fn after_kill_9_everything_acknowledged_is_back_and_a_retried_purchase_returns_its_order() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let (queue, access) = admitted_buyer(&server, "show");
    let (_, waiting) = server.call("POST", "/v1/events/show/queue", None, None);
    let (_, held) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"GA","quantity":2}"#));
    let (_, bought) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":1}"#));
    let purchase = format!("/v1/holds/{}/purchase", bought["hold_id"].as_str().unwrap());
    let key = [("Idempotency-Key", "retry-me")];
    let (status, order) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"pay"}"#), &key);
    assert_eq!(status, 201);
    server.kill();
    let server = Server::start(&data);
    let (status, again) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"pay"}"#), &key);
    assert_eq!((status, &again["order_id"]), (200, &order["order_id"]), "the retry after the crash returns the order");
    let (status, hold) =
        server.call("GET", &format!("/v1/holds/{}", held["hold_id"].as_str().unwrap()), Some(&access), None);
    assert_eq!((status, &hold["status"]), (200, &json!("active")), "the hold is back");
    let (_, detail) = server.call("GET", "/v1/events/show", None, None);
    assert_eq!(detail["availability"]["total"]["sold"], 1);
    let (status, place) =
        server.call("GET", "/v1/events/show/queue/status", Some(waiting["queue_token"].as_str().unwrap()), None);
    assert_eq!(status, 200, "the queue token is still valid: {place}");
    assert!(place["state"] == "waiting" || place["state"] == "admitted" || place["state"] == "lobby", "{place}");
    assert_admitted_with_token(&place);
    let (status, mine) = server.call("GET", "/v1/events/show/queue/status", Some(&queue), None);
    assert_eq!((status, &mine["state"]), (200, &json!("admitted")), "an admitted buyer stays admitted");
    assert_admitted_with_token(&mine);
}

#[test]
fn a_body_must_be_declared_json_but_a_bodyless_post_needs_no_type() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let (_, access) = admitted_buyer(&server, "show");
    let hold = r#"{"section":"GA","quantity":1}"#;
    let holds = "/v1/events/show/holds";
    let (status, body) = server.call_typed("POST", holds, Some(&access), Some(hold), &[], Some("text/plain"));
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("text/plain"),
        "names what was sent: {body}"
    );
    let (status, body) = server.call_typed("POST", holds, Some(&access), Some(hold), &[], None);
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")), "{body}");
    let (status, body) =
        server.call_typed("POST", holds, Some(&access), Some(hold), &[], Some("Application/JSON; charset=UTF-8"));
    assert_eq!(status, 201, "parameters and case do not matter: {body}");
    let patch = server.call_typed("PATCH", "/v1/events/show/room", Some(ADMIN), Some(r#"{"paused":false}"#), &[], None);
    assert_eq!(patch.0, 415, "{}", patch.1);
    // Bodyless POSTs: joining the queue and cancelling an order take no body, so no type.
    let (status, joined) = server.call_typed("POST", "/v1/events/show/queue", None, None, &[], None);
    assert_eq!(status, 201, "{joined}");
    let hold_id = body["hold_id"].as_str().unwrap();
    let (status, order) = server.call_with(
        "POST",
        &format!("/v1/holds/{hold_id}/purchase"),
        Some(&access),
        Some(r#"{"payment_ref":"p"}"#),
        &[("Idempotency-Key", "k1")],
    );
    assert_eq!(status, 201, "{order}");
    let order_id = order["order_id"].as_str().unwrap();
    let (status, cancelled) =
        server.call_typed("POST", &format!("/v1/orders/{order_id}/cancel"), Some(ADMIN), None, &[], None);
    assert_eq!(status, 200, "{cancelled}");
}

#[test]
fn joining_too_often_from_one_address_is_rate_limited() {
    let (_dir, data) = data_dir();
    let server = Server::start_with(&data, &["--joins-per-minute-per-client", "3"]);
    create(&server, &spec("show"));
    for _ in 0..3 {
        assert_eq!(server.call("POST", "/v1/events/show/queue", None, None).0, 201);
    }
    let (status, body) = server.call("POST", "/v1/events/show/queue", None, None);
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("join_rate_limited")));
}

#[test]
fn behind_a_trusted_proxy_the_join_budget_is_per_forwarded_client() {
    let (_dir, data) = data_dir();
    let server = Server::start_with(&data, &["--joins-per-minute-per-client", "1", "--trusted-proxy", "127.0.0.0/8"]);
    create(&server, &spec("show"));
    let join = |forwarded: &str| {
        server.call_with("POST", "/v1/events/show/queue", None, None, &[("X-Forwarded-For", forwarded)]).0
    };
    assert_eq!(join("198.51.100.1, 203.0.113.1"), 201);
    assert_eq!(join("203.0.113.1"), 429, "the same client behind the proxy");
    assert_eq!(join("203.0.113.1, 203.0.113.2, 127.0.0.5"), 201, "another client; the proxy hop is skipped");
    assert_eq!(join("not an address"), 201, "a malformed header counts against the peer's budget");
    assert_eq!(join("also wrong"), 429);
}

#[test]
fn seat_calls_are_limited_per_access_token() {
    let (_dir, data) = data_dir();
    let server = Server::start_with(&data, &["--seat-calls-per-minute-per-buyer", "2"]);
    create(&server, &spec("show"));
    let (_, access) = admitted_buyer(&server, "show");
    let (_, other) = admitted_buyer(&server, "show");
    for _ in 0..2 {
        assert_eq!(server.call("GET", "/v1/events/show/seats", Some(&access), None).0, 200);
    }
    let (status, body) = server.call("GET", "/v1/events/show/seats", Some(&access), None);
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")));
    assert_eq!(server.call("GET", "/v1/events/show/seats", Some(&other), None).0, 200, "budgets are per buyer");
    assert_eq!(server.call("GET", "/v1/events/show/stats", Some(ADMIN), None).0, 200, "the promoter is not limited");
}

#[test]
fn a_client_that_stops_reading_does_not_hold_its_connection_forever() {
    use std::io::Write;
    let (_dir, data) = data_dir();
    // Its answers fit in the kernel's buffers: then the connection is idle,
    // and the keep-alive limit ends it (a write blocked past its limit is
    // the watchdog's unit tests' business).
    let limits = ["--max-connections", "1", "--request-timeout-ms", "500", "--keep-alive-timeout-ms", "2000"];
    let server = Server::start_with(&data, &limits);
    let mut greedy = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    greedy.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let request = "GET /v1/tickets/public-key HTTP/1.1\r\nHost: test\r\n\r\n".repeat(2_000);
    let _ = greedy.write_all(request.as_bytes()); // and never read the answers
    let started = Instant::now();
    let (status, _) = server.call("GET", "/healthz", None, None);
    assert_eq!(status, 200, "another client is served once the stuck connection times out");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(greedy);
}

#[test]
fn paging_orders_misses_none_created_between_pages() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let buyers: Vec<String> = admitted_buyers(&server, "show", 2).into_iter().map(|(_, access)| access).collect();
    let buy = |access: &str, key: &str| {
        let (_, hold) =
            server.call("POST", "/v1/events/show/holds", Some(access), Some(r#"{"section":"GA","quantity":1}"#));
        let path = format!("/v1/holds/{}/purchase", hold["hold_id"].as_str().unwrap());
        let (status, order) =
            server.call_with("POST", &path, Some(access), Some(r#"{"payment_ref":"p"}"#), &[("Idempotency-Key", key)]);
        assert_eq!(status, 201);
        order["order_id"].as_str().unwrap().to_owned()
    };
    let mut bought = vec![buy(&buyers[1], "a"), buy(&buyers[1], "b")];
    let (_, first) = server.call("GET", "/v1/events/show/orders?limit=1", Some(ADMIN), None);
    let mut seen: Vec<String> =
        first["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()).collect();
    bought.push(buy(&buyers[0], "c")); // created while the promoter pages
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(cursor) = next {
        let (status, page) =
            server.call("GET", &format!("/v1/events/show/orders?limit=1&after={cursor}"), Some(ADMIN), None);
        assert_eq!(status, 200, "{page}");
        seen.extend(page["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_owned()));
        next = page["next"].as_str().map(str::to_owned);
    }
    seen.sort();
    bought.sort();
    assert_eq!(seen, bought, "every order, once");
    let (status, _) = server.call("GET", "/v1/events/show/orders?after=o0-1", Some(ADMIN), None);
    assert_eq!(status, 400, "an order id is not a cursor");
}

/// Buyers join and poll in parallel while the room admits them at every tick,
/// then race for a GA pool: every answer that says `admitted` (the
/// join's own, when a tick admitted the buyer while the join was being made
/// durable, or a poll's) carries the access token. 4 rounds of 32 buyers; 40
/// with `RUN_SLOW_TESTS=1`.
#[test]
fn buyers_joining_and_polling_in_parallel_are_never_told_admitted_without_a_token() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let rounds = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 40 } else { 4 };
    for round in 0..rounds {
        let id = format!("parallel-{round}");
        create(&server, &spec(&id));
        let holds: Vec<u16> = std::thread::scope(|scope| {
            let buyers: Vec<_> = (0..32).map(|_| scope.spawn(|| join_poll_and_hold(&server, &id))).collect();
            buyers.into_iter().map(|b| b.join().unwrap()).collect()
        });
        assert_eq!(holds.iter().filter(|s| **s == 201).count(), 25, "100 places, 4 each: {holds:?}");
    }
}

/// One buyer: joins, polls as told until admitted, asks for 4 GA places; the hold's status code.
fn join_poll_and_hold(server: &Server, event: &str) -> u16 {
    let (status, joined) = server.call("POST", &format!("/v1/events/{event}/queue"), None, None);
    assert_eq!(status, 201, "{joined}");
    assert_admitted_with_token(&joined["status"]);
    let queue_token = joined["queue_token"].as_str().unwrap().to_owned();
    let mut answer = joined["status"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while answer["state"] != "admitted" {
        assert!(Instant::now() < deadline, "admitted in time: {answer}");
        std::thread::sleep(Duration::from_millis(answer["poll_after_ms"].as_u64().unwrap_or(1_000).min(200)));
        let (status, body) = server.call("GET", &format!("/v1/events/{event}/queue/status"), Some(&queue_token), None);
        assert!(status == 200 || status == 429, "{status} {body}");
        assert_admitted_with_token(&body);
        if status == 200 {
            answer = body;
        }
    }
    let access = answer["access_token"].as_str().unwrap();
    let hold = r#"{"section":"GA","quantity":4}"#;
    server.call("POST", &format!("/v1/events/{event}/holds"), Some(access), Some(hold)).0
}

/// `HEAD` on every `GET` route answers as `GET` does: same status, same
/// headers (the body's length included), and no body.
#[test]
fn head_answers_every_get_route_as_get_without_a_body() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let (queue, access) = admitted_buyer(&server, "show");
    let (_, held) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"GA","quantity":1}"#));
    let hold = held["hold_id"].as_str().unwrap().to_owned();
    let (_, bought) =
        server.call("POST", "/v1/events/show/holds", Some(&access), Some(r#"{"section":"A","quantity":1}"#));
    let purchase = format!("/v1/holds/{}/purchase", bought["hold_id"].as_str().unwrap());
    let key = [("Idempotency-Key", "head-test")];
    let (_, order) = server.call_with("POST", &purchase, Some(&access), Some(r#"{"payment_ref":"p"}"#), &key);
    let order = order["order_id"].as_str().unwrap().to_owned();
    let routes: Vec<(String, Option<&str>)> = vec![
        ("/".into(), None),
        ("/e/show".into(), None),
        ("/admin".into(), None),
        ("/healthz".into(), None),
        ("/readyz".into(), None),
        ("/v1/events".into(), None),
        ("/v1/events/show".into(), None),
        ("/v1/events/nope".into(), None),
        ("/v1/tickets/public-key".into(), None),
        ("/v1/events/show/stats".into(), Some(ADMIN)),
        ("/v1/events/show/orders".into(), Some(ADMIN)),
        ("/v1/events/show/queue/status".into(), Some(queue.as_str())),
        ("/v1/events/show/seats".into(), Some(access.as_str())),
        (format!("/v1/holds/{hold}"), Some(access.as_str())),
        (format!("/v1/orders/{order}"), Some(access.as_str())),
    ];
    for (path, token) in &routes {
        let get = server.raw(&format!("GET {path}"), *token);
        let head = server.raw(&format!("HEAD {path}"), *token);
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
        assert_eq!(head.header("content-type"), get.header("content-type"), "HEAD {path}");
        if !path.ends_with("/queue/status") {
            // (A poll's jittered advice varies from one answer to the next.)
            assert_eq!(head.header("content-length"), Some(get.body.len().to_string()), "HEAD {path}");
        }
    }
    let refused = server.raw("HEAD /v1/events/show/holds", None);
    assert_eq!(refused.status, 405, "a route without GET has no HEAD either");
    assert_eq!(server.raw("PUT /v1/events/show", None).header("allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn integral_numbers_are_integers_and_an_optional_field_is_never_null() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let mut integral = spec("show");
    integral["per_buyer_limit"] = json!(4.0);
    integral["tiers"][0]["price_cents"] = json!(14950.0);
    integral["sections"][0]["rows"][0]["seats"] = json!(1e1);
    create(&server, &integral);
    let (_, event) = server.call("GET", "/v1/events/show", None, None);
    assert_eq!((&event["per_buyer_limit"], &event["tiers"][0]["price_cents"]), (&json!(4), &json!(14950)));
    let (_, access) = admitted_buyer(&server, "show");
    let refused = |(status, body): (u16, Value), field: &str| {
        assert_eq!(
            (status, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (400, Some("invalid_body"), Some(field)),
            "{body}"
        );
    };
    let holds = "/v1/events/show/holds";
    let (status, body) = server.call("POST", holds, Some(&access), Some(r#"{"section":"GA","quantity":2.0}"#));
    assert_eq!((status, body["tickets"].as_array().map(Vec::len)), (201, Some(2)), "{body}");
    let named = r#"{"seats":[{"section":"A","row":"1","number":3.0}]}"#;
    assert_eq!(server.call("POST", holds, Some(&access), Some(named)).0, 201);
    refused(server.call("POST", holds, Some(&access), Some(r#"{"section":"GA","quantity":1.5}"#)), "quantity");
    refused(
        server.call("POST", holds, Some(&access), Some(r#"{"seats":[{"section":"A","row":"1","number":4.5}]}"#)),
        "seats[0].number",
    );
    refused(server.call("POST", holds, Some(&access), Some(r#"{"section":"GA","quantity":1,"seats":null}"#)), "seats");
    let room = "/v1/events/show/room";
    let (status, patched) = server.call("PATCH", room, Some(ADMIN), Some(r#"{"max_active":9226.0}"#));
    assert_eq!((status, &patched["max_active"]), (200, &json!(9226)), "{patched}");
    refused(server.call("PATCH", room, Some(ADMIN), Some(r#"{"max_active":9226.5}"#)), "max_active");
    refused(server.call("PATCH", room, Some(ADMIN), Some(r#"{"paused":null}"#)), "paused");
    let mut null_refund = spec("null");
    null_refund["refund_until"] = Value::Null;
    refused(server.call("POST", "/v1/events", Some(ADMIN), Some(&null_refund.to_string())), "refund_until");
    // The event's room shows the settings in force, `paused` included.
    let (_, event) = server.call("GET", "/v1/events/show", None, None);
    assert_eq!(
        event["room"],
        json!({"admit_per_minute": 60000, "max_active": 9226, "access_ttl_s": 900, "paused": false})
    );
}

#[test]
fn query_bounds_mean_what_the_spec_says() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("show"));
    let count = |query: &str| {
        let (status, body) = server.call("GET", &format!("/v1/events?{query}"), None, None);
        assert_eq!(status, 200, "{query}: {body}");
        body["events"].as_array().map(Vec::len)
    };
    assert_eq!(count("from=0003-01-16T13:22:52Z"), Some(1), "before 1970 keeps every event");
    assert_eq!(count("to=1969-12-31T23:59:59Z"), Some(0), "before 1970 keeps none");
    // An orders cursor is hex digits only, as the spec's pattern says.
    let (status, body) = server.call("GET", "/v1/events/show/orders?after=%2B1.2", Some(ADMIN), None);
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("after")), "{body}");
    let (status, body) = server.call("GET", "/v1/events/show/orders?after=1.2", Some(ADMIN), None);
    assert_eq!(status, 200, "{body}");
}

/// 16 random bytes in base64url: the shortest join key accepted.
const JOIN_KEY: &str = "Vq3x8NfK2mPz7RbT1cWy9A";

/// Buyers who ever took a place: waiting now, or admitted.
fn places_taken(server: &Server, event: &str) -> u64 {
    let (_, stats) = server.call("GET", &format!("/v1/events/{event}/stats"), Some(ADMIN), None);
    let queue = &stats["queue"];
    ["lobby", "waiting", "admitted_total"].iter().map(|field| queue[field].as_u64().unwrap()).sum()
}

#[test]
fn a_retried_join_or_hold_with_its_key_gets_the_same_answer() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("keys"));
    let short = [("Idempotency-Key", "only-twenty-one-chars")];
    let (status, refused) = server.call_with("POST", "/v1/events/keys/queue", None, None, &short);
    assert_eq!((status, &refused["error"]["code"]), (400, &json!("bad_idempotency_key")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("22 to 128"), "names the rule: {refused}");
    let key = [("Idempotency-Key", JOIN_KEY)];
    let (status, first) = server.call_with("POST", "/v1/events/keys/queue", None, None, &key);
    assert_eq!(status, 201, "{first}");
    let (status, again) = server.call_with("POST", "/v1/events/keys/queue", None, None, &key);
    assert_eq!(status, 200, "a replay: {again}");
    assert_eq!(places_taken(&server, "keys"), 1, "one place in line, no ghost");
    let (status, polled) =
        server.call("GET", "/v1/events/keys/queue/status", Some(again["queue_token"].as_str().unwrap()), None);
    assert_eq!(status, 200, "the replay's token is the same buyer's: {polled}");

    let (_, access) = admitted_buyer(&server, "keys");
    let hold_key = [("Idempotency-Key", "hold-1")];
    let body = r#"{"section":"A","quantity":2}"#;
    let (status, held) = server.call_with("POST", "/v1/events/keys/holds", Some(&access), Some(body), &hold_key);
    assert_eq!(status, 201, "{held}");
    let (status, replay) = server.call_with("POST", "/v1/events/keys/holds", Some(&access), Some(body), &hold_key);
    assert_eq!((status, &replay["hold_id"]), (200, &held["hold_id"]), "{replay}");
    let other = r#"{"section":"GA","quantity":1}"#;
    let (status, reused) = server.call_with("POST", "/v1/events/keys/holds", Some(&access), Some(other), &hold_key);
    assert_eq!((status, &reused["error"]["code"]), (422, &json!("idempotency_key_reused")), "{reused}");
    let (_, detail) = server.call("GET", "/v1/events/keys", None, None);
    assert_eq!(detail["availability"]["total"]["held"], 2, "one hold, not two");
}

#[test]
fn after_kill_9_a_retried_join_or_hold_finds_what_its_first_try_made() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("crash"));
    let key = [("Idempotency-Key", JOIN_KEY)];
    let (status, joined) = server.call_with("POST", "/v1/events/crash/queue", None, None, &key);
    assert_eq!(status, 201, "{joined}");
    let (_, access) = admitted_buyer(&server, "crash");
    let hold_key = [("Idempotency-Key", "hold-before-the-crash")];
    let body = r#"{"section":"GA","quantity":3}"#;
    let (status, held) = server.call_with("POST", "/v1/events/crash/holds", Some(&access), Some(body), &hold_key);
    assert_eq!(status, 201, "{held}");
    server.kill();
    let server = Server::start(&data);
    let (status, again) = server.call_with("POST", "/v1/events/crash/queue", None, None, &key);
    assert_eq!(status, 200, "the join's retry after the crash: {again}");
    assert_eq!(places_taken(&server, "crash"), 2, "the keyed joiner and the shopper, no ghost");
    let (status, replay) = server.call_with("POST", "/v1/events/crash/holds", Some(&access), Some(body), &hold_key);
    assert_eq!((status, &replay["hold_id"]), (200, &held["hold_id"]), "{replay}");
    let (_, detail) = server.call("GET", "/v1/events/crash", None, None);
    assert_eq!(detail["availability"]["total"]["held"], 3);
}

/// Buys one place in section A with `access`: the order's JSON.
fn buy_one(server: &Server, event: &str, access: &str, key: &str) -> Value {
    let (status, hold) = server.call(
        "POST",
        &format!("/v1/events/{event}/holds"),
        Some(access),
        Some(r#"{"section":"A","quantity":1}"#),
    );
    assert_eq!(status, 201, "{hold}");
    let path = format!("/v1/holds/{}/purchase", hold["hold_id"].as_str().unwrap());
    let (status, order) =
        server.call_with("POST", &path, Some(access), Some(r#"{"payment_ref":"p"}"#), &[("Idempotency-Key", key)]);
    assert_eq!(status, 201, "{order}");
    order
}

fn code(reply: &(u16, Value)) -> (u16, Option<&str>) {
    (reply.0, reply.1["error"]["code"].as_str())
}

/// An order token names its buyer too: one signed for this order's number
/// but another buyer (an order number a crash let the log lose, given again
/// to someone else) reads nothing.
#[test]
fn an_order_token_for_another_buyer_of_the_same_order_number_reads_nothing() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &spec("renumbered"));
    let buyers = admitted_buyers(&server, "renumbered", 1);
    let mine = buy_one(&server, "renumbered", &buyers[0].1, "k1");
    let order_path = format!("/v1/orders/{}", mine["order_id"].as_str().unwrap());
    let keys: guichet_engine::tokens::KeyRing =
        serde_json::from_slice(&std::fs::read(data.join("signing-keys.json")).unwrap()).unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let claims = keys.verify_order(mine["order_token"].as_str().unwrap(), guichet_engine::time::UnixTimeMs(now_ms));
    let claims = claims.expect("the order token verifies with the server's keys");
    let other_buyer =
        guichet_engine::tokens::OrderClaims { buyer: guichet_engine::ids::BuyerId(claims.buyer.0 + 1), ..claims };
    let stranger = keys.sign_order(&other_buyer);
    assert_eq!(server.call("GET", &order_path, Some(mine["order_token"].as_str().unwrap()), None).0, 200);
    assert_eq!(code(&server.call("GET", &order_path, Some(&stranger), None)), (403, Some("not_yours")));
}

#[test]
fn an_order_token_reads_its_order_after_the_access_expired_and_nothing_else() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let mut short = spec("short");
    short["refund_until"] = json!("2099-08-01T00:00:00Z");
    short["room"]["access_ttl_s"] = json!(2);
    create(&server, &short);
    let buyers = admitted_buyers(&server, "short", 2);
    let (mine, theirs) = (buy_one(&server, "short", &buyers[0].1, "k1"), buy_one(&server, "short", &buyers[1].1, "k2"));
    let order_id = mine["order_id"].as_str().unwrap();
    let token = mine["order_token"].as_str().unwrap();
    assert_eq!(token.len(), 100, "{mine}");
    assert_eq!(mine["order_url"], format!("/o/{order_id}#t={token}"), "the token rides in the fragment");
    let order_path = format!("/v1/orders/{order_id}");
    let their_path = format!("/v1/orders/{}", theirs["order_id"].as_str().unwrap());

    // While the access lasts: the order token reads, and never cancels.
    let (status, read) = server.call("GET", &order_path, Some(token), None);
    assert_eq!((status, &read["order_token"], &read["tickets"]), (200, &mine["order_token"], &mine["tickets"]));
    let refused = server.call("POST", &format!("{order_path}/cancel"), Some(token), None);
    assert_eq!(code(&refused), (403, Some("order_token_read_only")), "{}", refused.1);
    assert!(refused.1["error"]["message"].as_str().unwrap().contains("access token"));
    assert_eq!(code(&server.call("GET", &their_path, Some(token), None)), (403, Some("not_yours")));
    assert_eq!(
        code(&server.call("GET", &format!("{their_path}/calendar"), Some(token), None)),
        (403, Some("not_yours"))
    );
    assert_eq!(
        code(&server.call("POST", &format!("{their_path}/cancel"), Some(token), None)),
        (403, Some("order_token_read_only"))
    );
    // An order token is not an access token, nor an admin's.
    assert_eq!(
        code(&server.call("GET", "/v1/events/short/seats", Some(token), None)),
        (401, Some("access_token_required"))
    );
    assert_eq!(code(&server.call("GET", "/v1/events/short/stats", Some(token), None)), (403, Some("admin_only")));

    // Forged: another order's number under this token's MAC, or a changed MAC.
    let (payload, mac) = token.split_once('.').unwrap();
    let (their_payload, _) = theirs["order_token"].as_str().unwrap().split_once('.').unwrap();
    let flipped = if mac.ends_with('A') { 'Q' } else { 'A' };
    for forged in [format!("{their_payload}.{mac}"), format!("{payload}.{}{flipped}", &mac[..mac.len() - 1])] {
        assert_eq!(code(&server.call("GET", &their_path, Some(&forged), None)), (401, Some("invalid_token")));
        assert_eq!(code(&server.call("GET", &order_path, Some(&forged), None)), (401, Some("invalid_token")));
    }

    std::thread::sleep(Duration::from_millis(3_500)); // the access ends within 2 s (rounded up to a second) of admission
    assert_eq!(code(&server.call("GET", &order_path, Some(&buyers[0].1), None)), (401, Some("token_expired")));
    let (status, read) = server.call("GET", &order_path, Some(token), None);
    assert_eq!((status, &read["status"]), (200, &json!("confirmed")), "the link outlives the access");
    assert_eq!(code(&server.call("POST", &format!("{order_path}/cancel"), Some(token), None)).0, 403);
    let calendar = server.raw(&format!("GET {order_path}/calendar"), Some(token));
    assert_eq!(calendar.status, 200);
    assert_eq!(calendar.header("content-type").as_deref(), Some("text/calendar; charset=utf-8"));
    assert_eq!(calendar.header("content-disposition"), Some(format!("attachment; filename=\"{order_id}.ics\"")));
    let ics = String::from_utf8(calendar.body.clone()).unwrap();
    for line in [
        "BEGIN:VCALENDAR\r\n",
        "VERSION:2.0\r\n",
        "BEGIN:VEVENT\r\n",
        &format!("UID:{order_id}@guichet\r\n"),
        "DTSTART:20990830T233000Z\r\n",
        "SUMMARY:Céline Dion — test\r\n",
        "LOCATION:Amphithéâtre Cogeco\r\n",
        "END:VCALENDAR\r\n",
    ] {
        assert!(ics.contains(line), "{line:?} in {ics}");
    }
    assert_eq!(server.raw(&format!("GET {order_path}/calendar"), Some(token)).body, calendar.body, "the same file");
    assert_eq!(server.raw(&format!("GET {order_path}/calendar"), Some(ADMIN)).body, calendar.body, "for the admin too");
    assert_eq!(server.raw(&format!("GET {order_path}/calendar"), None).status, 401);

    // The tickets as a PDF, by the same tokens: a page per ticket, each with
    // the code the order's JSON (and its page's QR code) has.
    let pdf = server.raw(&format!("GET {order_path}/tickets.pdf"), Some(token));
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(pdf.header("content-disposition"), Some(format!("attachment; filename=\"{order_id}-tickets.pdf\"")));
    let pages = common::pdf::pages_text(&pdf.body);
    let tickets = read["tickets"].as_array().unwrap();
    assert_eq!(pages.len(), tickets.len());
    for (page, ticket) in pages.iter().zip(tickets) {
        for words in ["Céline Dion — test", "Amphithéâtre Cogeco", ticket["code"].as_str().unwrap(), order_id] {
            assert!(page.contains(words), "{words:?} is not on the page: {page}");
        }
    }
    assert_eq!(server.raw(&format!("GET {order_path}/tickets.pdf"), Some(ADMIN)).status, 200, "for the admin too");
    assert_eq!(server.raw(&format!("GET {order_path}/tickets.pdf"), None).status, 401);
    assert_eq!(
        code(&server.call("GET", &format!("{their_path}/tickets.pdf"), Some(token), None)),
        (403, Some("not_yours"))
    );
}

/// The small spec drawn, with accessible seat 1 and companion seat 2 in row 2.
fn drawn_spec(id: &str) -> Value {
    let mut spec = spec(id);
    spec["hall"] =
        json!({"width": 300, "height": 200, "stage": {"label": "Scène", "shape": [[100, 5], [200, 5], [150, 30]]}});
    spec["sections"][0]["seating"] =
        json!({"front": [150, 60], "angle_deg": 0, "seat_spacing": 10, "row_spacing": 12, "curve_radius": 100});
    spec["sections"][0]["rows"][1]["accessible"] = json!([1]);
    spec["sections"][0]["rows"][1]["companion"] = json!([2]);
    spec["sections"][1]["shape"] = json!([[20, 120], [280, 120], [280, 190], [20, 190]]);
    spec
}

#[test]
fn the_hall_draws_every_seat_and_best_available_keeps_accessible_seats_for_those_who_ask() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create(&server, &drawn_spec("drawn"));
    let (status, hall) = server.call("GET", "/v1/events/drawn/hall", None, None);
    assert_eq!(status, 200, "{hall}");
    assert_eq!(
        (hall["width"].as_u64(), hall["height"].as_u64(), hall["drawn"].as_bool()),
        (Some(300), Some(200), Some(true))
    );
    assert_eq!(hall["stage"]["label"], "Scène");
    let rows = hall["sections"][0]["rows"].as_array().expect("rows");
    let seats: Vec<&Value> = rows.iter().flat_map(|row| row["seats"].as_array().expect("seats")).collect();
    assert_eq!(seats.len(), 20);
    for seat in &seats {
        let (x, y) = (seat[1].as_f64().expect("x"), seat[2].as_f64().expect("y"));
        assert!((0.0..=300.0).contains(&x) && (0.0..=200.0).contains(&y), "{seat}");
    }
    assert_eq!((&rows[1]["accessible"], &rows[1]["companion"]), (&json!([1]), &json!([2])));
    assert!(hall["sections"][0]["shape"].as_array().is_some_and(|shape| shape.len() >= 4));
    assert_eq!(hall["sections"][1]["capacity"], 100);
    assert_eq!(server.call("GET", "/v1/events/nope/hall", None, None).0, 404);
    // An event without a hall is laid out plainly.
    create(&server, &spec("plain"));
    let (status, plain) = server.call("GET", "/v1/events/plain/hall", None, None);
    assert_eq!((status, plain["drawn"].as_bool()), (200, Some(false)), "{plain}");

    // Buyers take pairs by best available until the 18 seats not flagged
    // are held; the flagged seats 1 and 2 of row 2 are left.
    let buyers = admitted_buyers(&server, "drawn", 6);
    for (_, access) in &buyers[..4] {
        let (status, hold) =
            server.call("POST", "/v1/events/drawn/holds", Some(access), Some(r#"{"section": "A", "quantity": 2}"#));
        assert_eq!(status, 201, "{hold}");
    }
    let taken = |hold: &Value| -> Vec<(String, u64)> {
        hold["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| (t["row"].as_str().unwrap().to_owned(), t["number"].as_u64().unwrap()))
            .collect()
    };
    let mut row_two = Vec::new();
    for (_, access) in &buyers[..4] {
        let (status, hold) =
            server.call("POST", "/v1/events/drawn/holds", Some(access), Some(r#"{"tier": "parterre", "quantity": 2}"#));
        assert_eq!(status, 201, "{hold}");
        row_two.extend(taken(&hold).into_iter().filter(|(row, _)| row == "2").map(|(_, n)| n));
    }
    assert!(!row_two.contains(&1) && !row_two.contains(&2), "{row_two:?}");
    let (_, access) = &buyers[4];
    let (status, hold) =
        server.call("POST", "/v1/events/drawn/holds", Some(access), Some(r#"{"section": "A", "quantity": 2}"#));
    assert_eq!(status, 201, "{hold}");
    assert!(taken(&hold).iter().all(|(row, number)| row == "1" || *number > 2), "{hold}");
    let refused =
        server.call("POST", "/v1/events/drawn/holds", Some(access), Some(r#"{"section": "A", "quantity": 1}"#));
    assert_eq!(code(&refused), (409, Some("not_enough_available")), "{}", refused.1);
    let (status, hold) = server.call(
        "POST",
        "/v1/events/drawn/holds",
        Some(access),
        Some(r#"{"section": "A", "quantity": 2, "accessible": true}"#),
    );
    assert_eq!(status, 201, "{hold}");
    assert_eq!(taken(&hold), vec![("2".to_owned(), 1), ("2".to_owned(), 2)]);
    let mixed = r#"{"seats": [{"section": "A", "row": "1", "number": 1}], "accessible": true}"#;
    let refused = server.call("POST", "/v1/events/drawn/holds", Some(&buyers[5].1), Some(mixed));
    assert_eq!(code(&refused), (400, Some("invalid_body")), "{}", refused.1);
    assert_eq!(refused.1["error"]["field"], "accessible");
}
