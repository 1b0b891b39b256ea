//! Email to buyers over real SMTP: a server on loopback (aiosmtpd) receives
//! the confirmation of a paid order (its link, its Message-ID, its calendar
//! file, its tickets as a PDF), the cancellation and refund notices; an
//! order without an address sends nothing; a failing relay is retried with
//! backoff and shows in the metrics and the stats; a kill -9 between the
//! order and the send neither loses the confirmation nor changes its
//! Message-ID; a forwarded link cancels only with the confirmation emailed
//! to the buyer; "Find my order" emails the link to the buyer alone.

mod common;

use std::time::{Duration, Instant};

use common::smtp::{free_port, Mail, SmtpSink};
use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

const FROM_DOMAIN: &str = "guichet.test";
const PUBLIC_URL: &str = "https://tickets.guichet.test";

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(data: &std::path::Path, relay: &str) -> Server {
        // The orders are paid through the test provider, which a server
        // may be told to refuse unless enabled; every server here allows it.
        static TEST_PROVIDER: std::sync::Once = std::sync::Once::new();
        TEST_PROVIDER.call_once(|| std::env::set_var("GUICHET_ENABLE_TEST_PROVIDER", "true"));
        let from = format!("Guichet <tickets@{FROM_DOMAIN}>");
        let args = ["--smtp-relay", relay, "--mail-from", &from, "--public-url", PUBLIC_URL];
        let guichet = Guichet::start(data, &args);
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

    fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.guichet.base());
        self.agent.get(&url).call().unwrap().body_mut().read_to_string().unwrap()
    }
}

fn spec() -> Value {
    json!({
        "id": "paid", "name": "Paid show", "venue": "Hall",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z",
        "refund_until": "2099-08-29T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "parterre", "name": "Parterre", "price_cents": 14950}],
        "sections": [{"id": "A", "name": "A", "tier": "parterre", "rows": [{"id": "1", "seats": 8}]}],
        "per_buyer_limit": 4, "hold_ttl_s": 600, "payment": { "provider": "test" },
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    })
}

fn create_event(server: &Server) {
    let (status, body) = server.call("POST", "/v1/events", Some(ADMIN), Some(&spec().to_string()));
    assert_eq!(status, 201, "{body}");
}

/// A buyer admitted, two seats held, paid through the test provider with
/// `checkout` as the checkout body: (access token, the order's JSON).
fn paid_order(server: &Server, checkout: Value) -> (String, Value) {
    let (status, joined) = server.call("POST", "/v1/events/paid/queue", None, None);
    assert_eq!(status, 201, "{joined}");
    let queue_token = joined["queue_token"].as_str().unwrap().to_owned();
    let access = wait_for("admission", || {
        let (_, status) = server.call("GET", "/v1/events/paid/queue/status", Some(&queue_token), None);
        status["access_token"].as_str().map(str::to_owned)
    });
    let body = r#"{"section":"A","quantity":2}"#;
    let (status, hold) = server.call("POST", "/v1/events/paid/holds", Some(&access), Some(body));
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap();
    let path = format!("/v1/holds/{hold_id}/checkout");
    let (status, answer) = server.call("POST", &path, Some(&access), Some(&checkout.to_string()));
    assert_eq!(status, 200, "{answer}");
    let payment = answer["payment"]["payment_id"].as_str().unwrap();
    let (status, confirmed) = server.call("POST", &format!("/v1/payments/{payment}/test-confirm"), Some(&access), None);
    assert_eq!(status, 200, "{confirmed}");
    (access, confirmed["order"].clone())
}

fn ada() -> Value {
    json!({ "email": "ada@example.org", "name": "Ada Lovelace" })
}

/// The Message-ID the engine's key for `message` about the order gives.
fn message_id(message: &str, order: &Value) -> String {
    let order_id = order["order_id"].as_str().unwrap();
    let (event, number) = order_id.strip_prefix('o').unwrap().split_once('-').unwrap();
    let event = u32::from_str_radix(event, 16).unwrap();
    format!("<email-{message}-{event}-o{number}@{FROM_DOMAIN}>")
}

fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_confirmation(mail: &Mail, order: &Value) {
    assert_eq!(mail.header("message-id"), message_id("confirmation", order));
    assert_eq!(mail.header("to"), "Ada Lovelace <ada@example.org>");
    assert_eq!(mail.header("from"), format!("Guichet <tickets@{FROM_DOMAIN}>"));
    assert_eq!(mail.header("subject"), "Your tickets for Paid show");
    let link = format!("{PUBLIC_URL}{}", order["order_url"].as_str().unwrap());
    assert!(mail.text.contains(&link), "the order link {link} in:\n{}", mail.text);
    assert!(mail.text.starts_with("Hello Ada Lovelace,"), "{}", mail.text);
    let ics = mail.attachments.iter().find(|a| a["content_type"] == "text/calendar").expect("a calendar file");
    assert_eq!(ics["filename"], format!("{}.ics", order["order_id"].as_str().unwrap()));
    assert!(ics["text"].as_str().unwrap().contains("SUMMARY:Paid show"), "{ics}");
    let pdf = mail.attachments.iter().find(|a| a["content_type"] == "application/pdf").expect("the tickets");
    assert_eq!(pdf["filename"], format!("tickets-{}.pdf", order["order_id"].as_str().unwrap()));
    assert!(pdf["starts"].as_str().unwrap().starts_with("%PDF-"), "{pdf}");
}

#[test]
fn a_paid_order_is_confirmed_then_its_cancellation_and_refund_are_told() {
    let (dir, data) = data_dir();
    let sink = SmtpSink::start(dir.path());
    let server = Server::start(&data, &sink.relay());
    create_event(&server);
    let (access, order) = paid_order(&server, ada());
    let mails = sink.wait_for(1);
    assert_confirmation(&mails[0], &order);
    let order_id = order["order_id"].as_str().unwrap();
    let (status, cancelled) = server.call("POST", &format!("/v1/orders/{order_id}/cancel"), Some(&access), None);
    assert_eq!(status, 200, "{cancelled}");
    let mails = sink.wait_for(3);
    let by_id = |message: &str| {
        let id = message_id(message, &order);
        mails.iter().find(|m| m.header("message-id") == id).unwrap_or_else(|| panic!("{id} among {mails:?}"))
    };
    let notice = by_id("cancelled");
    assert_eq!(notice.header("subject"), "Your order for Paid show is cancelled");
    assert!(notice.attachments.iter().any(|a| a["text"].as_str().is_some_and(|t| t.contains("STATUS:CANCELLED"))));
    let refund = by_id("refunded");
    assert_eq!(refund.header("subject"), "Your refund for Paid show");
    assert!(refund.text.contains("299.00 CAD"), "{}", refund.text);
    let metrics = server.metrics();
    assert!(metrics.contains("guichet_email_sent_total 3"), "{metrics}");
    let (_, stats) = server.call("GET", "/v1/events/paid/stats", Some(ADMIN), None);
    assert_eq!(stats["email"]["relay_configured"], true, "{stats}");
    assert!(stats["email"]["last_success_at"].is_string(), "{stats}");
}

#[test]
fn an_order_without_an_address_sends_nothing() {
    let (dir, data) = data_dir();
    let sink = SmtpSink::start(dir.path());
    let server = Server::start(&data, &sink.relay());
    create_event(&server);
    paid_order(&server, json!({}));
    wait_for("the entry done without a message", || {
        server.metrics().contains("guichet_email_skipped_total{reason=\"no_address\"} 1").then_some(())
    });
    assert!(sink.messages().is_empty());
}

#[test]
fn a_failing_relay_is_retried_shown_then_delivered() {
    let (dir, data) = data_dir();
    let port = free_port();
    let server = Server::start(&data, &format!("127.0.0.1:{port}"));
    create_event(&server);
    let (_, order) = paid_order(&server, ada());
    wait_for("the failure in the metrics", || {
        let metrics = server.metrics();
        let failed = metrics.contains("guichet_email_failures_total{kind=\"transient\"}")
            && metrics.contains("guichet_email_relay_up 0")
            && metrics.contains("guichet_email_entries{state=\"retrying\"} 1");
        failed.then_some(())
    });
    let (_, stats) = server.call("GET", "/v1/events/paid/stats", Some(ADMIN), None);
    assert!(stats["email"]["last_error"].is_string(), "{stats}");
    assert_eq!(stats["email"]["pending"], 1, "{stats}");
    let sink = SmtpSink::start_on(port, dir.path());
    let mails = sink.wait_for(1);
    assert_confirmation(&mails[0], &order);
    wait_for("the relay up again", || server.metrics().contains("guichet_email_relay_up 1").then_some(()));
}

/// The relay is down, so the confirmation cannot leave before the crash;
/// after the restart (relay up) it arrives, with the Message-ID the
/// engine's key gives. Any copy sent twice would carry the same one.
#[test]
fn a_kill_between_the_order_and_the_send_neither_loses_nor_changes_the_confirmation() {
    let (dir, data) = data_dir();
    let port = free_port();
    let server = Server::start(&data, &format!("127.0.0.1:{port}"));
    create_event(&server);
    let (_, order) = paid_order(&server, ada());
    server.guichet.kill();
    let sink = SmtpSink::start_on(port, dir.path());
    let _server = Server::start(&data, &sink.relay());
    let mails = sink.wait_for(1);
    assert_confirmation(&mails[0], &order);
    std::thread::sleep(Duration::from_secs(2));
    let mails = sink.messages();
    let ids: Vec<&str> = mails.iter().map(|m| m.header("message-id")).collect();
    assert!(ids.iter().all(|id| *id == message_id("confirmation", &order)), "{ids:?}");
}

/// A kill right after the order while the relay is up: the message may have
/// left before the kill; after the restart it leaves (again, perhaps), and
/// every copy is the same message.
#[test]
fn a_confirmation_sent_again_after_a_kill_is_the_same_message() {
    let (dir, data) = data_dir();
    let sink = SmtpSink::start(dir.path());
    let server = Server::start(&data, &sink.relay());
    create_event(&server);
    let (_, order) = paid_order(&server, ada());
    server.guichet.kill();
    let _server = Server::start(&data, &sink.relay());
    let mails = sink.wait_for(1);
    std::thread::sleep(Duration::from_secs(2));
    let mails = if mails.len() > 1 { mails } else { sink.messages() };
    for mail in &mails {
        assert_confirmation(mail, &order);
    }
}

/// The link in a message's text that starts with the server's public address.
fn link_in(mail: &Mail) -> String {
    let start = mail.text.find(PUBLIC_URL).unwrap_or_else(|| panic!("a link in:\n{}", mail.text));
    mail.text[start..].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_forwarded_link_cancels_only_with_the_confirmation_emailed_to_the_buyer() {
    let (dir, data) = data_dir();
    let sink = SmtpSink::start(dir.path());
    let server = Server::start(&data, &sink.relay());
    create_event(&server);
    let (_, order) = paid_order(&server, ada());
    sink.wait_for(1);
    let order_id = order["order_id"].as_str().unwrap();
    let order_token = order["order_token"].as_str().unwrap();
    let cancel = format!("/v1/orders/{order_id}/cancel");
    let (status, refused) = server.call("POST", &cancel, Some(order_token), None);
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("order_token_read_only")), "{refused}");

    let requests = format!("/v1/orders/{order_id}/cancel-requests");
    let (status, asked) = server.call("POST", &requests, Some(order_token), None);
    assert_eq!(status, 202, "{asked}");
    let mails = sink.wait_for(2);
    let id = message_id("cancel-code", &order).replace(&format!("@{FROM_DOMAIN}>"), &format!("-1@{FROM_DOMAIN}>"));
    let mail = mails.iter().find(|m| m.header("message-id") == id).unwrap_or_else(|| panic!("{id} in {mails:?}"));
    assert_eq!(mail.header("to"), "Ada Lovelace <ada@example.org>");
    let link = link_in(mail);
    let code = link.split("&c=").nth(1).unwrap_or_else(|| panic!("a code in {link}"));
    assert!(link.starts_with(&format!("{PUBLIC_URL}/o/{order_id}#t=")), "{link}");

    let wrong = json!({ "confirmation": format!("{code}0") }).to_string();
    let (status, refused) = server.call("POST", &cancel, Some(order_token), Some(&wrong));
    assert_eq!(status, 403, "{refused}");
    let body = json!({ "confirmation": code }).to_string();
    let (status, cancelled) = server.call("POST", &cancel, Some(order_token), Some(&body));
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    let mails = sink.wait_for(4);
    for message in ["cancelled", "refunded"] {
        let id = message_id(message, &order);
        assert!(mails.iter().any(|m| m.header("message-id") == id), "{id} among {mails:?}");
    }
}

#[test]
fn find_my_order_emails_the_link_to_the_buyers_address_only() {
    let (dir, data) = data_dir();
    let sink = SmtpSink::start(dir.path());
    let server = Server::start(&data, &sink.relay());
    create_event(&server);
    let (_, order) = paid_order(&server, ada());
    sink.wait_for(1);
    let order_id = order["order_id"].as_str().unwrap();
    let stranger = json!({ "email": "eve@example.org", "order_id": order_id }).to_string();
    let (status, answer) = server.call("POST", "/v1/orders/lookup", None, Some(&stranger));
    assert_eq!(status, 202, "{answer}");
    let buyer = json!({ "email": "ADA@example.org", "order_id": order_id }).to_string();
    let (status, same) = server.call("POST", "/v1/orders/lookup", None, Some(&buyer));
    assert_eq!((status, &same), (202, &answer), "the answer tells nothing");
    let mails = sink.wait_for(2);
    assert_eq!(mails.len(), 2, "one link, to the buyer only: {mails:?}");
    let resent = mails.iter().find(|m| m.header("subject") == "Your order for Paid show").expect("the link again");
    assert_eq!(resent.header("to"), "Ada Lovelace <ada@example.org>");
    assert_eq!(link_in(resent), format!("{PUBLIC_URL}{}", order["order_url"].as_str().unwrap()));
}
