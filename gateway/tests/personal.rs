//! Buyers' personal data over real HTTP: the checkout takes an `email` and
//! a `name` (checked, each refusal naming its field), the order says
//! whether they are kept, and they are on disk only encrypted: no file of
//! the data directory (log segments, snapshots, key table) holds the
//! address in clear, before or after a restart. Staff over the event (an
//! admin, the event's promoter) erase them: the key is deleted, once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

const EMAIL: &str = "ana.levesque@example.org";

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        // Its events are paid through the test provider, which the server must allow.
        let guichet = Guichet::start(dir, &["--enable-test-provider"]);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        Server { guichet, agent }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.guichet.base());
        let mut request =
            ureq::http::Request::builder().method(method).uri(&url).header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = self.agent.run(request.body(body.unwrap_or("").to_owned()).unwrap()).unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn spec(id: &str) -> Value {
    json!({
        "id": id, "name": "Paid show", "venue": "Hall",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "parterre", "name": "Parterre", "price_cents": 14950}],
        "sections": [{"id": "A", "name": "A", "tier": "parterre", "rows": [{"id": "1", "seats": 8}]}],
        "per_buyer_limit": 2, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900},
        "payment": {"provider": "test"}
    })
}

fn create_event(server: &Server, event: &str) {
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&spec(event).to_string()));
    assert_eq!(status, 201, "{body}");
}

/// Admits a buyer and holds a seat: (access token, hold id).
fn buyer_with_hold(server: &Server, event: &str) -> (String, String) {
    let (status, joined) = server.call("POST", &format!("/v1/events/{event}/queue"), None, None);
    assert_eq!(status, 201, "{joined}");
    let queue_token = joined["queue_token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let access = loop {
        assert!(Instant::now() < deadline, "admitted in time");
        std::thread::sleep(Duration::from_millis(200));
        let (_, status) = server.call("GET", &format!("/v1/events/{event}/queue/status"), Some(&queue_token), None);
        if let Some(access) = status["access_token"].as_str() {
            break access.to_owned();
        }
    };
    let hold_body = Some(r#"{"section":"A","quantity":1}"#);
    let (status, hold) = server.call("POST", &format!("/v1/events/{event}/holds"), Some(&access), hold_body);
    assert_eq!(status, 201, "{hold}");
    (access, hold["hold_id"].as_str().unwrap().to_owned())
}

/// Checks out with `body`, then pays on the test page: the order.
fn bought(server: &Server, event: &str, body: &str) -> (Value, String) {
    let (access, hold_id) = buyer_with_hold(server, event);
    let (status, answer) = server.call("POST", &format!("/v1/holds/{hold_id}/checkout"), Some(&access), Some(body));
    assert_eq!(status, 200, "{answer}");
    let payment = answer["payment"]["payment_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/payments/{payment}/test-confirm");
    let (status, confirmed) = server.call("POST", &path, Some(&access), None);
    assert_eq!(status, 200, "{confirmed}");
    (confirmed["order"].clone(), access)
}

/// The data directory's files (subdirectories too) that hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn a_checkout_keeps_the_buyers_email_and_name_encrypted() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create_event(&server, "paid");
    let body = json!({ "email": EMAIL, "name": "Ana Lévesque" }).to_string();
    let (order, access) = bought(&server, "paid", &body);
    assert_eq!(order["personal_data"], "kept", "{order}");
    let (without, _) = bought(&server, "paid", "{}");
    assert_eq!(without["personal_data"], "none");
    let order_path = format!("/v1/orders/{}", order["order_id"].as_str().unwrap());
    let (status, read) = server.call("GET", &order_path, Some(&access), None);
    assert_eq!((status, &read["personal_data"]), (200, &json!("kept")));
    assert!(!read.to_string().contains(EMAIL), "no answer shows the data");
    assert_eq!(files_holding(&data, EMAIL.as_bytes()), Vec::<String>::new(), "the address is nowhere in clear");
    server.guichet.terminate();
    let snapshots =
        data.read_dir().unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "snapshot"));
    assert_eq!(snapshots.count(), 1, "a snapshot taken at shutdown");
    assert_eq!(
        key_table_files(&data.join("personal-keys")).len(),
        1,
        "one key, in the key table (no spares once stopped)"
    );
    assert_eq!(files_holding(&data, EMAIL.as_bytes()), Vec::<String>::new(), "nor in the snapshot");
    assert_eq!(files_holding(&data, "Lévesque".as_bytes()), Vec::<String>::new(), "nor the name");
    let server = Server::start(&data);
    let (status, read) = server.call("GET", &order_path, Some(ADMIN), None);
    assert_eq!((status, &read["personal_data"]), (200, &json!("kept")), "{read}");
}

#[test]
fn a_checkout_refuses_a_bad_email_or_name_naming_the_field() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create_event(&server, "paid");
    let (access, hold_id) = buyer_with_hold(&server, "paid");
    let path = format!("/v1/holds/{hold_id}/checkout");
    let refused = |body: Value| {
        let (status, answer) = server.call("POST", &path, Some(&access), Some(&body.to_string()));
        (
            status,
            answer["error"]["code"].as_str().map(str::to_owned),
            answer["error"]["field"].as_str().map(str::to_owned),
        )
    };
    let email = |code: &str| (400, Some(code.to_owned()), Some("email".to_owned()));
    assert_eq!(refused(json!({ "email": "ana.example.org" })), email("invalid_email"));
    assert_eq!(refused(json!({ "email": "ana@a@b" })), email("invalid_email"));
    assert_eq!(refused(json!({ "email": "ana@example.org\r\nBcc: x@y" })), email("invalid_email"));
    assert_eq!(refused(json!({ "email": format!("{}@example.org", "a".repeat(250)) })), email("invalid_email"));
    let name = (400, Some("invalid_name".to_owned()), Some("name".to_owned()));
    assert_eq!(refused(json!({ "email": EMAIL, "name": "Ana\u{7}" })), name);
    assert_eq!(refused(json!({ "name": "x".repeat(201) })), name);
    let (status, code, _) = refused(json!({ "email": null }));
    assert_eq!((status, code.as_deref()), (400, Some("invalid_body")), "null is not absent");
    let (status, code, _) = refused(json!({ "phone": "555" }));
    assert_eq!((status, code.as_deref()), (400, Some("invalid_body")), "other fields are refused");
    let (status, answer) = server.call("POST", &path, Some(&access), Some(&json!({ "email": EMAIL }).to_string()));
    assert_eq!(status, 200, "{answer}");
}

/// The key table's keys and their bytes (a spare key being written, still
/// `.tmp`, is not one yet).
fn key_table_files(key_table: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let names = key_table.read_dir().unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned());
    let keys = names.filter(|name| name.ends_with(".key"));
    keys.filter_map(|name| Some((name.clone(), std::fs::read(key_table.join(&name)).ok()?))).collect()
}

/// A staff token made by the admin: `role` over `events`.
fn token(server: &Server, role: &str, events: &[&str]) -> String {
    let body = json!({ "role": role, "events": events, "label": format!("{role} {events:?}") }).to_string();
    let (status, made) = server.call("POST", "/v1/tokens", Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "{made}");
    made["token"].as_str().unwrap().to_owned()
}

#[test]
fn staff_over_the_event_erase_a_buyers_data_once_and_nothing_readable_is_left() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    create_event(&server, "paid");
    create_event(&server, "other");
    let (order, access) = bought(&server, "paid", &json!({ "email": EMAIL, "name": "Ana" }).to_string());
    let order_id = order["order_id"].as_str().unwrap();
    let path = format!("/v1/orders/{order_id}/personal-data");
    let erase = |token: Option<&str>| {
        let (status, answer) = server.call("DELETE", &path, token, None);
        (status, answer["error"]["code"].as_str().map(str::to_owned), answer)
    };
    let key_table = data.join("personal-keys");
    // Spare keys come and go beside it: the buyer's is the one an erasure removes.
    let keys_before = key_table_files(&key_table);
    assert_eq!(erase(None).0, 401, "no token");
    let (status, code, _) = erase(Some(&access));
    assert_eq!((status, code.as_deref()), (403, Some("admin_only")), "the buyer does not erase through staff routes");
    let (status, code, _) = erase(Some(&token(&server, "viewer", &["paid"])));
    assert_eq!((status, code.as_deref()), (403, Some("role_not_allowed")));
    let (status, code, _) = erase(Some(&token(&server, "promoter", &["other"])));
    assert_eq!((status, code.as_deref()), (403, Some("token_other_event")));
    let (status, _, answer) = erase(Some(&token(&server, "shop", &["paid"])));
    assert_eq!(status, 403, "{answer}");
    let gone = |before: &std::collections::BTreeMap<String, Vec<u8>>| {
        let now = key_table_files(&key_table);
        before.iter().filter(|(name, _)| !now.contains_key(*name)).map(|(_, key)| key.clone()).collect::<Vec<_>>()
    };
    assert_eq!(gone(&keys_before).len(), 0, "the refusals erased nothing");

    let promoter = token(&server, "promoter", &["paid"]);
    let (status, _, answer) = erase(Some(&promoter));
    assert_eq!((status, &answer), (200, &json!({ "order_id": order_id, "personal_data": "erased" })));
    let key_bytes = gone(&keys_before);
    assert_eq!(key_bytes.len(), 1, "the buyer's key is deleted, and only it");
    let (status, _, again) = erase(Some(ADMIN));
    assert_eq!((status, &again["personal_data"]), (200, &json!("erased")), "twice: 200, nothing more");
    let (status, read) = server.call("GET", &format!("/v1/orders/{order_id}"), Some(&access), None);
    assert_eq!((status, &read["personal_data"], &read["status"]), (200, &json!("erased"), &json!("confirmed")));
    let (status, unknown) = server.call("DELETE", "/v1/orders/o0-999999/personal-data", Some(ADMIN), None);
    assert_eq!((status, &unknown["error"]["code"]), (404, &json!("unknown_order")));
    let (without, _) = bought(&server, "paid", "{}");
    let path = format!("/v1/orders/{}/personal-data", without["order_id"].as_str().unwrap());
    let (status, answer) = server.call("DELETE", &path, Some(ADMIN), None);
    assert_eq!((status, &answer["personal_data"]), (200, &json!("none")), "nothing given, nothing to erase");

    server.guichet.terminate();
    assert_eq!(files_holding(&data, EMAIL.as_bytes()), Vec::<String>::new());
    for key in &key_bytes {
        assert_eq!(files_holding(&data, key), Vec::<String>::new(), "the key is nowhere on disk");
    }
    let server = Server::start(&data);
    let (status, read) = server.call("GET", &format!("/v1/orders/{order_id}"), Some(ADMIN), None);
    assert_eq!((status, &read["personal_data"]), (200, &json!("erased")), "after a restart too");
}
