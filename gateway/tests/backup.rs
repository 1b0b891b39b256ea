//! The backup drill: `guichet backup` copies a server's data directory while
//! buyers keep buying and snapshots keep pruning the log; a server started
//! on the copy has every order acknowledged before the backup began.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

fn call(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = ureq::http::Request::builder().method(method).uri(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let text = if body.is_null() { String::new() } else { body.to_string() };
    if !text.is_empty() {
        request = request.header("Content-Type", "application/json");
    }
    let Ok(mut response) = agent.run(request.body(text).unwrap()) else { return (0, Value::Null) };
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
}

/// One buyer: admitted, then one place at a time, each order noted once acknowledged.
fn buy_until(base: String, stop: Arc<AtomicBool>, orders: Arc<Mutex<Vec<String>>>, buyer: usize) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (_, joined) = call(&agent, &base, "POST", "/v1/events/drill/queue", None, Value::Null, None);
    let queue_token = joined["queue_token"].as_str().expect("a queue token").to_owned();
    let mut status = joined["status"].clone();
    while status["state"] != "admitted" {
        std::thread::sleep(Duration::from_millis(100));
        status = call(&agent, &base, "GET", "/v1/events/drill/queue/status", Some(&queue_token), Value::Null, None).1;
    }
    let access = status["access_token"].as_str().expect("an access token").to_owned();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < 100 {
        n += 1;
        let (status, hold) = call(
            &agent,
            &base,
            "POST",
            "/v1/events/drill/holds",
            Some(&access),
            json!({"section": "GA", "quantity": 1}),
            None,
        );
        if status != 201 {
            continue;
        }
        let path = format!("/v1/holds/{}/purchase", hold["hold_id"].as_str().expect("a hold"));
        let key = format!("k-{buyer}-{n}");
        let (status, order) =
            call(&agent, &base, "POST", &path, Some(&access), json!({"payment_ref": key}), Some(&key));
        if status == 201 {
            orders.lock().unwrap().push(order["order_id"].as_str().expect("an order").to_owned());
        }
    }
}

#[test]
fn a_backup_taken_under_load_restores_every_order_acknowledged_before_it() {
    let (dir, data) = data_dir();
    let server = Guichet::start(&data, &["--snapshot-every-records", "100"]);
    let base = server.base().to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let spec = json!({
        "id": "drill", "name": "Drill", "venue": "Hall", "starts_at": "2099-08-30T23:30:00Z",
        "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "ga", "name": "GA", "price_cents": 5000}],
        "sections": [{"id": "GA", "name": "Floor", "tier": "ga", "capacity": 100000}],
        "per_buyer_limit": 100, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    });
    assert_eq!(call(&agent, &base, "POST", "/v1/events", Some(ADMIN), spec, None).0, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let orders = Arc::new(Mutex::new(Vec::new()));
    let buyers: Vec<_> = (0..4)
        .map(|buyer| {
            let (base, stop, orders) = (base.clone(), stop.clone(), orders.clone());
            std::thread::spawn(move || buy_until(base, stop, orders, buyer))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while orders.lock().unwrap().len() < 40 {
        assert!(Instant::now() < deadline, "buyers buy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let acknowledged: Vec<String> = orders.lock().unwrap().clone();
    let copy = dir.path().join("backup");
    let backup =
        Command::new(env!("CARGO_BIN_EXE_guichet")).arg("backup").arg(&data).arg(&copy).output().expect("runs");
    let said = String::from_utf8_lossy(&backup.stderr);
    assert!(backup.status.success(), "{said}");
    assert!(said.contains("log OK"), "the copy is verified: {said}");
    stop.store(true, Ordering::Relaxed);
    for buyer in buyers {
        buyer.join().expect("a buyer thread");
    }
    let refused =
        Command::new(env!("CARGO_BIN_EXE_guichet")).arg("backup").arg(&data).arg(&copy).output().expect("runs");
    assert!(!refused.status.success(), "a copy is never written over another");
    server.kill();

    let restored = Guichet::start(&copy, &[]);
    for order in &acknowledged {
        let (status, body) =
            call(&agent, restored.base(), "GET", &format!("/v1/orders/{order}"), Some(ADMIN), Value::Null, None);
        assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")), "{order}: {body}");
    }
    let (_, stats) = call(&agent, restored.base(), "GET", "/v1/events/drill/stats", Some(ADMIN), Value::Null, None);
    assert!(stats["orders"].as_u64().unwrap_or(0) >= acknowledged.len() as u64, "{stats}");
}
