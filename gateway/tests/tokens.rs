//! Staff and machine tokens over real HTTP: every role on every staff
//! route (granted, refused for the role, refused on another event), and
//! revoked, expired and forged tokens; making, listing and revoking; what a
//! restart keeps (replay after kill -9, a snapshot after a clean stop); the
//! trail of who did what in `guichet wal dump`; and `guichet token` against
//! a running server.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
    agent: ureq::Agent,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let guichet = Guichet::start(dir, &[]);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        Server { guichet, agent }
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.guichet.base());
        let mut request =
            ureq::http::Request::builder().method(method).uri(&url).header("Authorization", format!("Bearer {token}"));
        if path.ends_with("/purchase") {
            request = request.header("Idempotency-Key", format!("{:032x}", unique()));
        }
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        let request = request.body(body.map(Value::to_string).unwrap_or_default()).expect("a request");
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn expect(&self, method: &str, path: &str, token: &str, body: Option<&Value>, status: u16) -> Value {
        let (got, answer) = self.call(method, path, token, body);
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    fn token(&self, role: &str, events: &[&str], expires_at: Option<String>) -> (String, String) {
        let mut body = json!({ "role": role, "events": events, "label": format!("{role} desk") });
        if let Some(at) = expires_at {
            body["expires_at"] = json!(at);
        }
        let made = self.expect("POST", "/v1/tokens", ADMIN, Some(&body), 201);
        (made["token_id"].as_str().expect("an id").to_owned(), made["token"].as_str().expect("a token").to_owned())
    }

    /// An admitted buyer's access token.
    fn access(&self, event: &str) -> String {
        let joined = self.expect("POST", &format!("/v1/events/{event}/queue"), "none", None, 201);
        let queue = joined["queue_token"].as_str().expect("a queue token").to_owned();
        for _ in 0..150 {
            let (_, status) = self.call("GET", &format!("/v1/events/{event}/queue/status"), &queue, None);
            if let Some(access) = status["access_token"].as_str() {
                return access.to_owned();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("never admitted");
    }

    fn hold(&self, event: &str, access: &str) -> String {
        let body = json!({"section": "GA", "quantity": 1});
        let hold = self.expect("POST", &format!("/v1/events/{event}/holds"), access, Some(&body), 201);
        hold["hold_id"].as_str().expect("a hold id").to_owned()
    }

    fn order(&self, event: &str, access: &str) -> String {
        let hold = self.hold(event, access);
        let body = json!({"payment_ref": "p"});
        let order = self.expect("POST", &format!("/v1/holds/{hold}/purchase"), access, Some(&body), 201);
        order["order_id"].as_str().expect("an order id").to_owned()
    }
}

fn unique() -> u128 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos();
    now + u128::from(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn spec(id: &str) -> Value {
    json!({
        "id": id, "name": "Tokens", "venue": "Salle",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
        "sections": [{"id": "GA", "name": "GA", "tier": "t", "capacity": 1000}],
        "per_buyer_limit": 100, "hold_ttl_s": 600, "refund_until": "2099-01-01T00:00:00Z",
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    })
}

/// The staff routes, each with the status it answers when granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    CreateEvent,
    PatchRoom,
    Stats,
    Orders,
    GetHold,
    ReleaseHold,
    Purchase,
    GetOrder,
    CancelOrder,
    ListTokens,
    CreateToken,
    RevokeToken,
}

const ROUTES: [Route; 12] = [
    Route::CreateEvent,
    Route::PatchRoom,
    Route::Stats,
    Route::Orders,
    Route::GetHold,
    Route::ReleaseHold,
    Route::Purchase,
    Route::GetOrder,
    Route::CancelOrder,
    Route::ListTokens,
    Route::CreateToken,
    Route::RevokeToken,
];

/// Whether `role` may use `route` (written from the documented table, not the code's).
fn granted(role: &str, route: Route) -> bool {
    use Route::*;
    match role {
        "admin" => true,
        "promoter" => !matches!(route, ListTokens | CreateToken | RevokeToken),
        "viewer" => matches!(route, Stats | Orders | GetHold | GetOrder),
        "shop" => matches!(route, GetHold | GetOrder | Purchase),
        "door" => false,
        other => panic!("{other}"),
    }
}

/// Whether `route` is about one event (so a scoped token of another is refused).
fn scoped(route: Route) -> bool {
    !matches!(route, Route::CreateEvent | Route::ListTokens | Route::CreateToken | Route::RevokeToken)
}

struct Shop {
    server: Server,
    /// An admitted buyer of each event.
    buyers: [(String, String); 2],
}

impl Shop {
    fn access(&self, event: &str) -> &str {
        &self.buyers.iter().find(|(e, _)| e == event).expect("an event of the test").1
    }

    /// The request for `route` on `event`, with a fresh hold or order where it uses one up.
    fn request(&self, route: Route, event: &str) -> (&'static str, String, Option<Value>, u16) {
        let s = &self.server;
        match route {
            Route::CreateEvent => ("POST", "/v1/events".into(), Some(spec(&format!("e{}", unique()))), 201),
            Route::PatchRoom => ("PATCH", format!("/v1/events/{event}/room"), Some(json!({"paused": false})), 200),
            Route::Stats => ("GET", format!("/v1/events/{event}/stats"), None, 200),
            Route::Orders => ("GET", format!("/v1/events/{event}/orders"), None, 200),
            Route::GetHold => ("GET", format!("/v1/holds/{}", s.hold(event, self.access(event))), None, 200),
            Route::ReleaseHold => ("DELETE", format!("/v1/holds/{}", s.hold(event, self.access(event))), None, 204),
            Route::Purchase => {
                let hold = s.hold(event, self.access(event));
                ("POST", format!("/v1/holds/{hold}/purchase"), Some(json!({"payment_ref": "shop-1"})), 201)
            }
            Route::GetOrder => ("GET", format!("/v1/orders/{}", s.order(event, self.access(event))), None, 200),
            Route::CancelOrder => {
                ("POST", format!("/v1/orders/{}/cancel", s.order(event, self.access(event))), None, 200)
            }
            Route::ListTokens => ("GET", "/v1/tokens".into(), None, 200),
            Route::CreateToken => {
                ("POST", "/v1/tokens".into(), Some(json!({"role": "viewer", "events": ["show"], "label": "x"})), 201)
            }
            Route::RevokeToken => ("DELETE", format!("/v1/tokens/{}", s.token("viewer", &["show"], None).0), None, 204),
        }
    }

    /// Calls `route` on `event` with `token`; the status and error code.
    fn try_route(&self, route: Route, event: &str, token: &str) -> (u16, u16, String) {
        let (method, path, body, granted) = self.request(route, event);
        let (status, answer) = self.server.call(method, &path, token, body.as_ref());
        (status, granted, answer["error"]["code"].as_str().unwrap_or_default().to_owned())
    }
}

fn in_seconds(seconds: u64) -> String {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() + seconds;
    let (days, rest) = (at / 86_400, at % 86_400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[test]
fn every_role_on_every_staff_route_is_granted_or_refused_as_documented() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    for event in ["show", "other"] {
        server.expect("POST", "/v1/events", ADMIN, Some(&spec(event)), 201);
    }
    let buyers = ["show", "other"].map(|event| (event.to_owned(), server.access(event)));
    let shop = Shop { server, buyers };
    let roles = ["admin", "promoter", "viewer", "shop", "door"];
    let expiring: Vec<(String, String)> = roles
        .iter()
        .map(|role| shop.server.token(role, if *role == "admin" { &[] } else { &["show"] }, Some(in_seconds(2))))
        .collect();
    for role in roles {
        let events: &[&str] = if role == "admin" { &[] } else { &["show"] };
        let (_, token) = shop.server.token(role, events, None);
        for route in ROUTES {
            let (status, success, code) = shop.try_route(route, "show", &token);
            if granted(role, route) {
                assert_eq!(status, success, "{role} on {route:?}: {code}");
            } else {
                assert_eq!((status, code.as_str()), (403, "role_not_allowed"), "{role} on {route:?}");
            }
            if scoped(route) && granted(role, route) {
                let (status, success, code) = shop.try_route(route, "other", &token);
                if role == "admin" {
                    assert_eq!(status, success, "admin on {route:?} of another event: {code}");
                } else {
                    assert_eq!((status, code.as_str()), (403, "token_other_event"), "{role} on {route:?} of other");
                }
            }
        }
        let forged = format!("{}{}", &token[..token.len() - 1], if token.ends_with('A') { "B" } else { "A" });
        for route in ROUTES {
            let (status, _, code) = shop.try_route(route, "show", &forged);
            assert_eq!((status, code.as_str()), (401, "invalid_token"), "forged {role} on {route:?}");
        }
    }
    std::thread::sleep(Duration::from_millis(2_100));
    for ((id, token), role) in expiring.iter().zip(roles) {
        for route in ROUTES {
            let (status, _, code) = shop.try_route(route, "show", token);
            assert_eq!((status, code.as_str()), (401, "token_expired"), "expired {role} on {route:?}");
        }
        shop.server.expect("DELETE", &format!("/v1/tokens/{id}"), ADMIN, None, 204);
        for route in ROUTES {
            let (status, _, code) = shop.try_route(route, "show", token);
            assert_eq!((status, code.as_str()), (401, "token_revoked"), "revoked {role} on {route:?}");
        }
    }
}

#[test]
fn tokens_are_made_listed_and_revoked_and_a_promoter_owns_what_it_creates() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    server.expect("POST", "/v1/events", ADMIN, Some(&spec("show")), 201);
    let (promoter_id, promoter) = server.token("promoter", &[], None);
    let (_, rival) = server.token("promoter", &["show"], None);
    server.expect("POST", "/v1/events", &promoter, Some(&spec("mine")), 201);
    server.expect("GET", "/v1/events/mine/stats", &promoter, None, 200);
    let refused = server.expect("GET", "/v1/events/mine/stats", &rival, None, 403);
    assert_eq!(refused["error"]["code"], "token_other_event");
    server.expect("GET", "/v1/events/show/stats", &rival, None, 200);
    // A buyer's token on a staff route, a staff token on a buyer's route.
    let access = server.access("show");
    assert_eq!(server.expect("GET", "/v1/tokens", &access, None, 403)["error"]["code"], "admin_only");
    let seats = server.expect("GET", "/v1/events/show/seats", &promoter, None, 403);
    assert_eq!(seats["error"]["code"], "buyer_only");

    let list = server.expect("GET", "/v1/tokens", ADMIN, None, 200);
    let tokens = list["tokens"].as_array().expect("a list");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["token_id"], promoter_id.as_str());
    assert_eq!(tokens[0]["events"], json!(["mine"]), "the promoter owns the event it created");
    assert_eq!(tokens[0]["created_by"], "t0");
    assert!(tokens[0].get("token").is_none() && !list.to_string().contains(&promoter[8..]), "no secret listed");

    for bad in [
        json!({"role": "king", "label": "x"}),
        json!({"role": "door", "events": ["show", "mine"], "label": "x"}),
        json!({"role": "viewer", "events": ["nope"], "label": "x"}),
        json!({"role": "viewer", "events": ["show"], "label": ""}),
        json!({"role": "admin", "label": "x", "expires_at": "2020-01-01T00:00:00Z"}),
        json!({"role": "admin", "label": "x", "secret": "mine"}),
    ] {
        assert_eq!(
            server.expect("POST", "/v1/tokens", ADMIN, Some(&bad), 400)["error"]["code"],
            "invalid_body",
            "{bad}"
        );
    }
    server.expect("DELETE", &format!("/v1/tokens/{promoter_id}"), ADMIN, None, 204);
    server.expect("DELETE", &format!("/v1/tokens/{promoter_id}"), ADMIN, None, 204);
    assert_eq!(server.expect("DELETE", "/v1/tokens/t99", ADMIN, None, 404)["error"]["code"], "unknown_token");
    let revoked = server.expect("GET", "/v1/events/mine/stats", &promoter, None, 401);
    assert_eq!(revoked["error"]["code"], "token_revoked");
    let list = server.expect("GET", "/v1/tokens", ADMIN, None, 200);
    assert!(list["tokens"][0]["revoked_at"].is_string(), "{list}");
}

#[test]
fn a_restart_keeps_tokens_by_replay_and_by_snapshot_and_the_log_says_who_did_what() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    let (_, promoter) = server.token("promoter", &[], None);
    server.expect("POST", "/v1/events", &promoter, Some(&spec("mine")), 201);
    let (viewer_id, viewer) = server.token("viewer", &["mine"], None);
    server.expect("DELETE", &format!("/v1/tokens/{viewer_id}"), ADMIN, None, 204);
    let before = server.expect("GET", "/v1/tokens", ADMIN, None, 200);
    server.guichet.kill();

    let server = Server::start(&data);
    assert_eq!(server.expect("GET", "/v1/tokens", ADMIN, None, 200), before, "replayed after kill -9");
    server.expect("GET", "/v1/events/mine/stats", &promoter, None, 200);
    server.expect("GET", "/v1/events/mine/stats", &viewer, None, 401);
    server.expect("PATCH", "/v1/events/mine/room", &promoter, Some(&json!({"paused": true})), 200);
    server.guichet.terminate();

    let snapshot = std::fs::read_dir(&data).expect("the data directory").flatten();
    assert!(snapshot.into_iter().any(|f| f.file_name().to_string_lossy().ends_with(".snapshot")), "a snapshot");
    let server = Server::start(&data);
    assert_eq!(server.expect("GET", "/v1/tokens", ADMIN, None, 200), before, "restored from the snapshot");
    server.expect("GET", "/v1/events/mine/stats", &promoter, None, 200);
    assert_eq!(server.expect("GET", "/v1/events/mine/stats", &viewer, None, 401)["error"]["code"], "token_revoked");
    server.guichet.kill();

    let dump = Command::new(env!("CARGO_BIN_EXE_guichet")).args(["wal", "dump"]).arg(&data).output().expect("runs");
    let dump = String::from_utf8_lossy(&dump.stdout);
    for line in [
        r#"StaffRequest { by: t0, at: "#,
        r#"request: "POST /v1/tokens" }"#,
        r#"StaffRequest { by: t1, at: "#,
        r#"request: "PATCH /v1/events/mine/room" }"#,
        "EventCreatedBy { event: EventNumber(0)",
        "created_by: t1 }",
        "Revoked { id: t2,",
    ] {
        assert!(dump.contains(line), "`{line}` in:\n{dump}");
    }
}

#[test]
fn the_token_command_makes_lists_and_revokes_through_a_running_server() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data);
    server.expect("POST", "/v1/events", ADMIN, Some(&spec("show")), 201);
    let guichet = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .arg("token")
            .args(args)
            .args(["--server", server.guichet.base()])
            .env("GUICHET_ADMIN_TOKEN", ADMIN)
            .output()
            .expect("guichet token runs");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (made, token) = guichet(&["create", "--role", "viewer", "--event", "show", "--label", "box office"]);
    assert!(made, "{token}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("gch_t1_"), "{token}");
    server.expect("GET", "/v1/events/show/stats", &token, None, 200);
    let (listed, list) = guichet(&["list"]);
    assert!(listed && list.contains("t1") && list.contains("viewer") && list.contains("box office"), "{list}");
    assert!(!list.contains(&token[7..]), "no secret listed");
    let (revoked, _) = guichet(&["revoke", "t1"]);
    assert!(revoked);
    server.expect("GET", "/v1/events/show/stats", &token, None, 401);
    let (refused, _) = guichet(&["create", "--role", "door", "--label", "gate"]);
    assert!(!refused, "a door token without its event is refused");
}
