//! The promoter's order list searched on the server (`?q=`), and the CSV
//! export (`?format=csv`), over real HTTP.

mod common;

use std::time::Duration;

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    /// `(status, Content-Type, body)`.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String, String) {
        let mut request = ureq::http::Request::builder().method("GET").uri(format!("{}{path}", self.guichet.base()));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = self.agent.run(request.body(()).unwrap()).expect("the server answers");
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (response.status().as_u16(), kind, response.body_mut().read_to_string().unwrap_or_default())
    }

    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Value, key: Option<&str>) -> Value {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.guichet.base()))
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let mut response = self.agent.run(request.body(body.to_string()).unwrap()).expect("the server answers");
        serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null)
    }

    /// A buyer joins, is admitted, holds `hold` and buys it with `payment_ref`: the order id.
    fn buy(&self, hold: Value, payment_ref: &str) -> String {
        let joined = self.send("POST", "/v1/events/show/queue", None, json!({}), None);
        let queue_token = joined["queue_token"].as_str().expect("a queue token").to_owned();
        let mut status = joined["status"].clone();
        while status["state"] != "admitted" {
            std::thread::sleep(Duration::from_millis(200));
            let (_, _, text) = self.get("/v1/events/show/queue/status", Some(&queue_token));
            status = serde_json::from_str(&text).unwrap_or(Value::Null);
        }
        let access = status["access_token"].as_str().expect("an access token").to_owned();
        let held = self.send("POST", "/v1/events/show/holds", Some(&access), hold, None);
        let path = format!("/v1/holds/{}/purchase", held["hold_id"].as_str().expect("a hold"));
        let order = self.send("POST", &path, Some(&access), json!({"payment_ref": payment_ref}), Some("k"));
        order["order_id"].as_str().expect("an order").to_owned()
    }
}

fn listed(server: &Server, query: &str) -> Vec<String> {
    let (status, _, text) = server.get(&format!("/v1/events/show/orders?{query}"), Some(ADMIN));
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).expect("json");
    page["orders"].as_array().expect("orders").iter().map(|o| o["order_id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn orders_are_searched_on_the_server_and_exported_as_csv() {
    let (_dir, data) = data_dir();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let server = Server { guichet: Guichet::start(&data, &[]), agent };
    let spec = json!({
        "id": "show", "name": "Show", "venue": "Hall", "starts_at": "2099-08-30T23:30:00Z",
        "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "parterre", "name": "Parterre", "price_cents": 5000}, {"id": "pelouse", "name": "Pelouse", "price_cents": 2000}],
        "sections": [
            {"id": "A", "name": "Parterre A", "tier": "parterre", "rows": [{"id": "1", "seats": 10}]},
            {"id": "GA", "name": "Pelouse", "tier": "pelouse", "capacity": 100}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    });
    assert!(server.send("POST", "/v1/events", Some(ADMIN), spec, None)["id"] == "show");
    let seat = json!({"seats": [{"section": "A", "row": "1", "number": 7}]});
    let first = server.buy(seat, "pi_Tremblay");
    let second = server.buy(json!({"section": "GA", "quantity": 2}), "=HYPERLINK(\"http://x\")");
    let third = server.buy(json!({"section": "GA", "quantity": 1}), "pi_Côté");

    assert_eq!(listed(&server, ""), vec![first.clone(), second.clone(), third.clone()]);
    assert_eq!(listed(&server, "q=tremblay"), vec![first.clone()], "by payment reference, any case");
    assert_eq!(listed(&server, "q=pi_cote"), vec![third.clone()], "accents forgiven");
    assert_eq!(listed(&server, "q=A+1+7"), vec![first.clone()], "by seat");
    assert_eq!(listed(&server, &format!("q={second}")), vec![second.clone()], "by order id");
    assert_eq!(listed(&server, "q=pelouse"), vec![second.clone(), third.clone()], "by section or tier");
    assert_eq!(listed(&server, "q=pelouse&limit=1"), vec![second.clone()]);
    assert!(listed(&server, "q=nobody").is_empty());

    let (status, kind, csv) = server.get("/v1/events/show/orders?format=csv", Some(ADMIN));
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"), "{csv}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "order_id,status,created_at,cancelled_at,payment_ref,tickets,places,total_cents,currency,personal_data"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{first},confirmed,")) && lines[1].contains(",pi_Tremblay,1,A 1 7,5000,CAD,none"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(r#","'=HYPERLINK(""http://x"")",2,GA x2,4000,CAD,"#), "a formula is text: {}", lines[2]);
    let (_, _, filtered) = server.get("/v1/events/show/orders?format=csv&q=cote", Some(ADMIN));
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    // An export resumes after a page's cursor, and stops at `limit`.
    let (_, _, page) = server.get("/v1/events/show/orders?limit=1", Some(ADMIN));
    let cursor = serde_json::from_str::<Value>(&page).expect("json")["next"].as_str().expect("a cursor").to_owned();
    let (_, _, rest) = server.get(&format!("/v1/events/show/orders?format=csv&after={cursor}&limit=1"), Some(ADMIN));
    let rest: Vec<&str> = rest.lines().collect();
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest[1].starts_with(&format!("{second},")), "{rest:?}");

    let long = format!("q={}", "x".repeat(201));
    for (query, field) in [("format=xml", "format"), ("format=csv&limit=0", "limit"), (long.as_str(), "q")] {
        let (status, _, text) = server.get(&format!("/v1/events/show/orders?{query}"), Some(ADMIN));
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{query}: {text}");
    }
    let (status, _, _) = server.get("/v1/events/show/orders?format=csv", None);
    assert_eq!(status, 401, "the export is staff's");
}
