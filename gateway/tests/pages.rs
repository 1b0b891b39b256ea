//! The pages over real HTTP, against the `guichet` binary: content types,
//! the language picked from `Accept-Language`, the security and caching
//! headers, 304s, the unknown event's 404 page, and ticket QR codes.
//! (What the pages do in a browser is tested by gateway/e2e.)

mod common;

use common::{Guichet, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
}

impl Server {
    fn start(dir: &std::path::Path) -> Server {
        // Some events are paid through the test provider, which the server must allow.
        Server { guichet: Guichet::start(dir, &["--enable-test-provider"]) }
    }

    /// One request on its own connection: (status, headers in lower case, body).
    fn get(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let reply = common::exchange(&self.guichet, &request);
        (reply.status, reply.headers, reply.body)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn pages_are_html_in_the_clients_language_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for path in ["/", "/admin"] {
        let (status, headers, body) = server.get("GET", path, &[("Accept-Language", "fr-CA,fr;q=0.9,en;q=0.8")], "");
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(header(&headers, "content-language"), Some("fr"));
        assert_eq!(header(&headers, "vary"), Some("Accept-Language"));
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
        let policy = header(&headers, "content-security-policy").expect("a policy");
        assert!(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        let html = String::from_utf8(body).unwrap();
        assert!(html.starts_with("<!doctype html>\n<html lang=\"fr\">"), "{path}");

        // The same version again: 304, no body.
        let etag = header(&headers, "etag").expect("an entity tag").to_owned();
        let (status, _, body) =
            server.get("GET", path, &[("Accept-Language", "fr"), ("If-None-Match", etag.as_str())], "");
        assert_eq!((status, body.len()), (304, 0), "{path}");
        // Another language is another version.
        let (status, headers, _) =
            server.get("GET", path, &[("Accept-Language", "en-US"), ("If-None-Match", etag.as_str())], "");
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-language"), Some("en"));
    }
    let (status, headers, _) = server.get("POST", "/admin", &[], "{}");
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("GET"));
}

#[test]
fn assets_have_their_types_and_versioned_urls_are_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (_, _, body) = server.get("GET", "/", &[], "");
    let html = String::from_utf8(body).unwrap();
    let versioned = html
        .split('"')
        .find(|part| part.starts_with("/assets/common.js?v="))
        .expect("the page loads common.js with a version")
        .to_owned();
    let (status, headers, body) = server.get("GET", &versioned, &[], "");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(header(&headers, "cache-control"), Some("public, max-age=31536000, immutable"));
    assert!(String::from_utf8(body).unwrap().contains("function t(key"));
    let (status, headers, _) = server.get("GET", "/assets/common.js", &[], "");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"), "unversioned: revalidated");
    for (path, kind) in [("/assets/style.css", "text/css; charset=utf-8"), ("/assets/icon.svg", "image/svg+xml")] {
        let (status, headers, _) = server.get("GET", path, &[], "");
        assert_eq!((status, header(&headers, "content-type")), (200, Some(kind)), "{path}");
    }
    let (status, _, _) = server.get("GET", "/assets/../Cargo.toml", &[], "");
    assert_eq!(status, 404);
    let (status, _, _) = server.get("GET", "/assets/nope.js", &[], "");
    assert_eq!(status, 404);
    // Paths that are neither API routes nor pages are still the API's JSON 404.
    let (status, headers, body) = server.get("GET", "/nowhere", &[], "");
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "no_such_route");
}

#[test]
fn the_queue_page_is_404_for_an_unknown_event_and_a_ticket_code_is_a_qr_svg() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let spec = json!({
        "id": "page-test", "name": "Page", "venue": "Salle", "starts_at": "2099-08-30T23:30:00Z",
        "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
        "sections": [{"id": "GA", "name": "GA", "tier": "t", "capacity": 10}],
        "per_buyer_limit": 4, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 600, "max_active": 10, "access_ttl_s": 900}
    })
    .to_string();
    let (status, _, body) = server.get(
        "POST",
        "/v1/events",
        &[("Authorization", &format!("Bearer {ADMIN}")), ("Content-Type", "application/json")],
        &spec,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, headers, body) = server.get("GET", "/e/page-test", &[], "");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8(body).unwrap().contains("/assets/event.js?v="));
    for unknown in ["/e/no-such-event", "/e/", "/e/bad%20id"] {
        let (status, headers, body) = server.get("GET", unknown, &[], "");
        assert_eq!(status, 404, "{unknown}");
        assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
        assert!(String::from_utf8(body).unwrap().contains("id=\"v-missing\""), "the page says there is no such event");
    }

    let code = "AQAAAAAAQAAAAAAAAAAAAgAAAA.RWMMcMYVGBipqwG-wC__Tl_Is_IEeK2wDKx7CGGH4mTJ4B0kp_yPQQRYP3xp4xdQi-TDKNkPNU2UGPfJlcDg";
    let (status, headers, body) = server.get("GET", &format!("/qr/{code}"), &[], "");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/svg+xml"));
    assert!(header(&headers, "cache-control").is_some_and(|c| c.starts_with("private")));
    let svg = String::from_utf8(body).unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    for bad in ["/qr/", "/qr/has%20space", "/qr/%3Cscript%3E"] {
        let (status, _, _) = server.get("GET", bad, &[], "");
        assert_eq!(status, 404, "{bad}");
    }
    let (status, _, _) = server.get("GET", &format!("/qr/{}", "A".repeat(300)), &[], "");
    assert_eq!(status, 404, "too long");
}

#[test]
fn only_the_page_of_an_event_paid_through_stripe_lets_stripe_js_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (id, payment) in [("by-card", Some("stripe")), ("by-test", Some("test")), ("free", None)] {
        let mut spec = json!({
            "id": id, "name": "Page", "venue": "Salle", "starts_at": "2099-08-30T23:30:00Z",
            "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
            "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
            "sections": [{"id": "GA", "name": "GA", "tier": "t", "capacity": 10}],
            "per_buyer_limit": 4, "hold_ttl_s": 600,
            "room": {"admit_per_minute": 600, "max_active": 10, "access_ttl_s": 900}
        });
        if let Some(provider) = payment {
            spec["payment"] = json!({ "provider": provider });
        }
        let auth = format!("Bearer {ADMIN}");
        let (status, _, body) = server.get(
            "POST",
            "/v1/events",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            &spec.to_string(),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }
    let policy_of = |path: &str, headers: &[(&str, &str)]| {
        let (status, answer_headers, _) = server.get("GET", path, headers, "");
        (status, header(&answer_headers, "content-security-policy").expect("a policy").to_owned())
    };
    let (status, card) = policy_of("/e/by-card", &[]);
    assert_eq!(status, 200);
    for allowed in
        ["script-src 'self' https://js.stripe.com", "frame-src https://js.stripe.com", "https://api.stripe.com"]
    {
        assert!(card.contains(allowed), "{allowed:?} in {card}");
    }
    assert!(card.contains("default-src 'none'") && !card.contains("unsafe-inline"), "{card}");
    // A revalidated page gets the same policy (a 304's headers replace the cached ones).
    let (_, headers, _) = server.get("GET", "/e/by-card", &[], "");
    let etag = header(&headers, "etag").expect("an entity tag").to_owned();
    assert_eq!(policy_of("/e/by-card", &[("If-None-Match", etag.as_str())]), (304, card.clone()));
    for path in ["/e/by-test", "/e/free", "/e/no-such-event", "/", "/admin", "/o/o1-1", "/pay/test/p1"] {
        let (_, policy) = policy_of(path, &[]);
        assert!(!policy.contains("stripe"), "{path}: {policy}");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
    }
}
