//! Check-in at the door (`POST /v1/events/{id}/checkins`), over real HTTP:
//! every answer the contract names, a scan sent again, who may scan, and a
//! restart between two scans.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { guichet: Guichet::start(dir, &[]), agent }
    }

    /// `(status, body)`.
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.guichet.base());
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let text = body.map(|body| body.to_string()).unwrap_or_default();
        if !text.is_empty() {
            request = request.header("Content-Type", "application/json");
        }
        let mut response = self.agent.run(request.body(text).unwrap()).expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn create(&self, id: &str) {
        let spec = json!({
            "id": id, "name": "Show", "venue": "Hall",
            "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
            "tiers": [{"id": "ga", "name": "GA", "price_cents": 5000}],
            "sections": [{"id": "GA", "name": "Floor", "tier": "ga", "capacity": 100}],
            "per_buyer_limit": 4, "hold_ttl_s": 600,
            "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
        });
        let (status, body) = self.send("POST", "/v1/events", Some(ADMIN), Some(spec), None);
        assert_eq!(status, 201, "{body}");
    }

    /// A buyer's order of `quantity` places at `event`: (order id, ticket codes).
    fn buy(&self, event: &str, quantity: u32) -> (String, Vec<String>) {
        let (_, joined) = self.send("POST", &format!("/v1/events/{event}/queue"), None, None, None);
        let queue_token = joined["queue_token"].as_str().expect("a queue token").to_owned();
        let mut status = joined["status"].clone();
        while status["state"] != "admitted" {
            std::thread::sleep(Duration::from_millis(200));
            let path = format!("/v1/events/{event}/queue/status");
            status = self.send("GET", &path, Some(&queue_token), None, None).1;
        }
        let access = status["access_token"].as_str().expect("an access token").to_owned();
        let hold_body = json!({"section": "GA", "quantity": quantity});
        let (_, hold) = self.send("POST", &format!("/v1/events/{event}/holds"), Some(&access), Some(hold_body), None);
        let path = format!("/v1/holds/{}/purchase", hold["hold_id"].as_str().expect("a hold"));
        let (status, order) = self.send("POST", &path, Some(&access), Some(json!({"payment_ref": "p"})), Some("k"));
        assert_eq!(status, 201, "{order}");
        let codes =
            order["tickets"].as_array().expect("tickets").iter().map(|t| t["code"].as_str().unwrap().to_owned());
        (order["order_id"].as_str().expect("an order id").to_owned(), codes.collect())
    }

    fn token(&self, role: &str, events: &[&str]) -> String {
        let body = json!({ "role": role, "events": events, "label": format!("{role} desk") });
        let (status, made) = self.send("POST", "/v1/tokens", Some(ADMIN), Some(body), None);
        assert_eq!(status, 201, "{made}");
        made["token"].as_str().expect("a token").to_owned()
    }

    fn scan(&self, event: &str, token: &str, code: &str, door: &str, scan_id: &str) -> (u16, Value) {
        let body = json!({ "code": code, "door": door, "scan_id": scan_id });
        self.send("POST", &format!("/v1/events/{event}/checkins"), Some(token), Some(body), None)
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn a_ticket_is_let_in_once_and_every_other_answer_says_what_the_ticket_is() {
    let (dir, data) = data_dir();
    let server = Server::start(&data);
    server.create("show");
    server.create("other-show");
    let (order_id, codes) = server.buy("show", 2);
    let (_, other_codes) = server.buy("other-show", 1);
    let door = server.token("door", &["show"]);

    let (status, first) = server.scan("show", &door, &codes[0], "North gate", "scan-1");
    assert_eq!(status, 201, "{first}");
    assert_eq!((first["door"].as_str(), first["ticket"]["order_id"].as_str()), (Some("North gate"), Some(&*order_id)));
    assert_eq!((first["ticket"]["section"].as_str(), first["ticket"]["index"].as_u64()), (Some("GA"), Some(0)));

    let (status, again) = server.scan("show", &door, &codes[0], "North gate", "scan-1");
    assert_eq!((status, &again), (201, &first), "the same scan sent again answers as the first time");

    let (status, used) = server.scan("show", &door, &codes[0], "South gate", "scan-2");
    assert_eq!((status, error_code(&used)), (409, "already_used"), "{used}");
    assert_eq!(used["error"]["door"], "North gate", "{used}");
    assert_eq!(used["error"]["checked_in_at"], first["checked_in_at"], "{used}");

    let (status, body) = server.scan("show", &door, &other_codes[0], "North gate", "scan-3");
    assert_eq!((status, error_code(&body)), (422, "invalid_ticket"), "another event's ticket: {body}");
    let forged = format!("{}{}", &codes[1][..codes[1].len() - 1], if codes[1].ends_with('A') { 'B' } else { 'A' });
    let (status, body) = server.scan("show", &door, &forged, "North gate", "scan-4");
    assert_eq!((status, error_code(&body)), (422, "invalid_ticket"), "a forged code: {body}");
    let (status, body) = server.scan("show", &door, "not a ticket", "North gate", "scan-5");
    assert_eq!((status, error_code(&body)), (422, "invalid_ticket"), "{body}");
    let (status, body) = server.scan("show", &door, &codes[1], " ", "scan-6");
    assert_eq!((status, error_code(&body), body["error"]["field"].as_str()), (400, "invalid_body", Some("door")));

    let (status, cancelled) = server.send("POST", &format!("/v1/orders/{order_id}/cancel"), Some(ADMIN), None, None);
    assert_eq!(status, 200, "{cancelled}");
    let (status, body) = server.scan("show", &door, &codes[1], "North gate", "scan-7");
    assert_eq!((status, error_code(&body)), (410, "cancelled"), "{body}");
    assert!(body["error"]["cancelled_at"].is_string(), "{body}");

    let (status, stats) = server.send("GET", "/v1/events/show/stats", Some(ADMIN), None, None);
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        stats["checkins"],
        json!({"total": 1, "by_door": {"North gate": 1}, "by_section": {"GA": 1}}),
        "the dashboard counts tickets let in by door and by section"
    );
    drop(dir);
}

#[test]
fn only_a_door_token_of_the_event_or_an_admin_checks_in() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    server.create("show");
    server.create("other-show");
    let (_, codes) = server.buy("show", 3);
    let other_door = server.token("door", &["other-show"]);
    let viewer = server.token("viewer", &["show"]);

    let (status, body) = server.scan("show", &other_door, &codes[0], "North", "s-1");
    assert_eq!((status, error_code(&body)), (403, "token_other_event"), "{body}");
    let (status, body) = server.scan("show", &viewer, &codes[0], "North", "s-2");
    assert_eq!((status, error_code(&body)), (403, "role_not_allowed"), "{body}");
    let (status, body) = server.send(
        "POST",
        "/v1/events/show/checkins",
        None,
        Some(json!({"code": codes[0], "door": "N", "scan_id": "s"})),
        None,
    );
    assert_eq!((status, error_code(&body)), (401, "missing_token"), "{body}");
    let typo = json!({"code": codes[0], "door": "N", "scan_id": "s-3", "gate": "N"});
    let (status, body) = server.send("POST", "/v1/events/show/checkins", Some(ADMIN), Some(typo), None);
    assert_eq!((status, error_code(&body)), (400, "invalid_body"), "{body}");
    let (status, body) = server.scan("show", ADMIN, &codes[0], "Box office", "s-4");
    assert_eq!(status, 201, "an admin may: {body}");
}

#[test]
fn a_check_in_survives_a_restart_between_two_scans() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    server.create("show");
    let (_, codes) = server.buy("show", 1);
    let door = server.token("door", &["show"]);
    let (status, first) = server.scan("show", &door, &codes[0], "North", "scan-1");
    assert_eq!(status, 201, "{first}");
    server.guichet.kill();

    let server = Server::start(&data);
    let (status, again) = server.scan("show", &door, &codes[0], "North", "scan-1");
    assert_eq!((status, &again), (201, &first), "the scan's retry after a crash answers as the first time");
    let (status, used) = server.scan("show", &door, &codes[0], "South", "scan-2");
    assert_eq!((status, error_code(&used), used["error"]["door"].as_str()), (409, "already_used", Some("North")));
}

#[test]
fn a_ticket_a_door_without_network_let_in_again_is_listed_to_every_door() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    server.create("show");
    let (_, codes) = server.buy("show", 3);
    let door = server.token("door", &["show"]);
    let (status, first) = server.scan("show", &door, &codes[0], "North", "n-1");
    assert_eq!(status, 201, "{first}");
    // A scan let in without network and sent first: let in when the door
    // says, but never later than now, nor before the order was made.
    for (code, let_in_at) in [(&codes[1], "2099-01-01T00:00:00Z"), (&codes[2], "2000-01-01T00:00:00Z")] {
        let body = json!({"code": code, "door": "West", "scan_id": format!("w-{let_in_at}"), "let_in_at": let_in_at});
        let (status, let_in) = server.send("POST", "/v1/events/show/checkins", Some(&door), Some(body), None);
        assert_eq!(status, 201, "{let_in}");
        let at = let_in["checked_in_at"].as_str().expect("an instant");
        assert!(at.starts_with("20") && at > "2026-12-01" && at < "2099", "{at}");
    }
    // South had no network, let the holder in from its list, and sends the scan now.
    let offline =
        json!({"code": codes[0], "door": "South", "scan_id": "s-1", "let_in_at": "2026-12-07T19:00:00-05:00"});
    for _ in 0..2 {
        let (status, body) = server.send("POST", "/v1/events/show/checkins", Some(&door), Some(offline.clone()), None);
        assert_eq!((status, error_code(&body)), (409, "already_used"), "{body}");
        assert_eq!(
            (body["error"]["door"].as_str(), body["error"]["second_entry"].as_bool()),
            (Some("North"), Some(true))
        );
    }
    // A door that was online and refused the holder made no second entry.
    let (status, body) = server.scan("show", &door, &codes[0], "East", "e-1");
    assert_eq!((status, body["error"]["second_entry"].as_bool()), (409, None), "{body}");
    let (status, list) = server.send("GET", "/v1/events/show/checkins", Some(&door), None, None);
    assert_eq!(status, 200, "{list}");
    let entries = list["second_entries"].as_array().expect("second entries");
    assert_eq!(entries.len(), 1, "the same scan sent twice is one entry: {list}");
    assert_eq!(
        (entries[0]["first_door"].as_str(), entries[0]["door"].as_str(), entries[0]["let_in_at"].as_str()),
        (Some("North"), Some("South"), Some("2026-12-08T00:00:00Z"))
    );
    assert_eq!(entries[0]["first_at"], first["checked_in_at"]);
    let bad = json!({"code": codes[0], "door": "South", "scan_id": "s-2", "let_in_at": "yesterday"});
    let (status, body) = server.send("POST", "/v1/events/show/checkins", Some(&door), Some(bad), None);
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("let_in_at")), "{body}");
    server.guichet.kill();

    let server = Server::start(&data);
    let (_, list) = server.send("GET", "/v1/events/show/checkins", Some(&door), None, None);
    assert_eq!(list["second_entries"].as_array().map(Vec::len), Some(1), "kept across a crash: {list}");
}
