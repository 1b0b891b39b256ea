//! Keep-alive connections under load, over real HTTP against the `guichet`
//! binary: a connection in use is never dropped, even when the machine is
//! so busy that the server's threads stall; the server closes a connection
//! only when it was idle past its keep-alive timeout, or after a response
//! that says `Connection: close`.
//!
//! The clients are plain `std` sockets speaking HTTP/1.1 by hand, so every
//! close is seen as it happens (a pooling client would hide it by retrying).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{data_dir, Guichet, ADMIN};
use serde_json::{json, Value};

struct Server {
    guichet: Guichet,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        Server { guichet: Guichet::start(dir, extra) }
    }

    fn connect(&self) -> Connection {
        Connection::open(self.guichet.address())
    }
}

/// One response as read off the wire.
struct Response {
    status: u16,
    body: Value,
    /// The response said `Connection: close`.
    closes: bool,
}

/// One keep-alive HTTP/1.1 connection, used for request after request.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).expect("the server accepts");
        stream.set_nodelay(true).unwrap();
        // Far above any answer's time: a hung server fails the test, not a timeout here.
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Connection { reader: BufReader::new(stream) }
    }

    fn send(&mut self, method: &str, path: &str, token: &str, body: Option<&str>) -> Result<Response, String> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n");
        if method == "POST" && path.ends_with("/purchase") {
            request.push_str(&format!("Idempotency-Key: {}\r\n", unique_key()));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.reader.get_mut().write_all(request.as_bytes()).map_err(|e| format!("sending {method} {path}: {e}"))?;
        self.receive().map_err(|e| format!("answer to {method} {path}: {e}"))
    }

    fn receive(&mut self) -> Result<Response, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => return Err("the connection was closed (EOF before a response)".into()),
            Ok(_) => {}
            Err(error) => return Err(error.to_string()),
        }
        let status: u16 =
            line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line {line:?}"))?;
        let (mut length, mut closes) = (0usize, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').ok_or_else(|| format!("bad header {header:?}"))?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().map_err(|_| format!("bad length {value:?}"))?,
                "connection" => closes |= value.trim().eq_ignore_ascii_case("close"),
                "transfer-encoding" => return Err(format!("unexpected transfer-encoding {value:?}")),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).map_err(|e| format!("reading the body: {e}"))?;
        Ok(Response { status, body: serde_json::from_slice(&body).unwrap_or(Value::Null), closes })
    }
}

fn unique_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("soak-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A deterministic pseudo-random sequence (xorshift64), one per client.
struct Dice(u64);

impl Dice {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Busy threads, one per core, until dropped: the machine is also busy.
struct CpuHog {
    stop: &'static AtomicBool,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHog {
    fn start() -> CpuHog {
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut spin = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        spin = std::hint::black_box(spin.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        CpuHog { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn event_spec() -> Value {
    json!({
        "id": "soak", "name": "Soak", "venue": "Centre Bell",
        "starts_at": "2099-08-30T23:30:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "pelouse", "name": "Pelouse", "price_cents": 7950}],
        "sections": [{"id": "GA", "name": "Pelouse", "tier": "pelouse", "capacity": 100000}],
        "per_buyer_limit": 100, "hold_ttl_s": 600,
        "room": {"admit_per_minute": 60000, "max_active": 1000, "access_ttl_s": 900}
    })
}

/// Joins `count` buyers and polls until each is admitted: their access tokens.
fn admitted_buyers(server: &Server, count: usize) -> Vec<String> {
    let mut connection = server.connect();
    let mut call = |method: &str, path: &str, token: &str| loop {
        let response = connection.send(method, path, token, None).expect("setup call");
        if response.closes {
            connection = server.connect();
        }
        if response.status != 429 {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let queue_tokens: Vec<String> = (0..count)
        .map(|_| {
            let joined = call("POST", "/v1/events/soak/queue", "");
            assert_eq!(joined.status, 201, "{}", joined.body);
            joined.body["queue_token"].as_str().unwrap().to_owned()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    queue_tokens
        .iter()
        .map(|token| loop {
            assert!(Instant::now() < deadline, "admitted in time");
            let status = call("GET", "/v1/events/soak/queue/status", token);
            if status.body["state"] == "admitted" {
                break status.body["access_token"].as_str().unwrap().to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        })
        .collect()
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    closes_announced: u64,
    /// 5xx answers: not connection errors, but reported.
    server_errors: u64,
    errors: Vec<String>,
}

/// One buyer's loop on one connection: hold, pause, buy or release, pause.
fn buyer(server: &Server, token: &str, seed: u64, until: Instant, tally: &Mutex<Tally>) {
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut connection = server.connect();
    let pause = |dice: &mut Dice| std::thread::sleep(Duration::from_millis(dice.below(1_501)));
    let record = |connection: &mut Connection, outcome: Result<Response, String>| -> Option<Value> {
        let mut tally = tally.lock().unwrap();
        tally.requests += 1;
        match outcome {
            Ok(response) => {
                if response.closes {
                    tally.closes_announced += 1;
                    *connection = server.connect();
                }
                if response.status >= 500 {
                    tally.server_errors += 1;
                }
                Some(response.body)
            }
            Err(error) => {
                tally.errors.push(error);
                *connection = server.connect();
                None
            }
        }
    };
    while Instant::now() < until {
        pause(&mut dice);
        let hold = connection.send("POST", "/v1/events/soak/holds", token, Some(r#"{"section":"GA","quantity":1}"#));
        let Some(hold) = record(&mut connection, hold) else { continue };
        let Some(hold_id) = hold["hold_id"].as_str() else { continue };
        pause(&mut dice);
        let next = if dice.below(4) == 0 {
            connection.send("POST", &format!("/v1/holds/{hold_id}/purchase"), token, Some(r#"{"payment_ref":"p"}"#))
        } else {
            connection.send("DELETE", &format!("/v1/holds/{hold_id}"), token, None)
        };
        record(&mut connection, next);
    }
}

/// 64 keep-alive connections hold, buy and release with pauses of 0-1.5 s
/// while busy threads load every core: not one connection error. The head
/// limit is set below the longest pause: it must count only the time a
/// head takes to arrive, never the client's pause between requests (with
/// the default 5 s, only a pause plus a stall of 3.5 s showed it).
#[test]
fn busy_keep_alive_connections_are_never_dropped_under_cpu_pressure() {
    let slow = std::env::var_os("RUN_SLOW_TESTS").is_some_and(|v| v == "1");
    let soak = Duration::from_secs(if slow { 300 } else { 60 });
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &["--header-timeout-ms", "1000"]);
    let mut setup = server.connect();
    let created = setup.send("POST", "/v1/events", ADMIN, Some(&event_spec().to_string())).unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let tokens = admitted_buyers(&server, 64);
    let tally = Mutex::new(Tally::default());
    let hog = CpuHog::start();
    let until = Instant::now() + soak;
    std::thread::scope(|scope| {
        for (seed, token) in tokens.iter().enumerate() {
            let (server, tally) = (&server, &tally);
            scope.spawn(move || buyer(server, token, seed as u64 + 1, until, tally));
        }
    });
    drop(hog);
    let tally = tally.into_inner().unwrap();
    eprintln!(
        "soak: {} requests in {soak:?} on 64 connections; {} closes announced, {} 5xx answers, {} connection errors",
        tally.requests,
        tally.closes_announced,
        tally.server_errors,
        tally.errors.len()
    );
    assert!(tally.requests > 1_000, "the soak did its work: {} requests", tally.requests);
    assert!(
        tally.errors.is_empty(),
        "{} connection errors in {} requests ({} closes announced, {} 5xx answers), first ones: {:#?}",
        tally.errors.len(),
        tally.requests,
        tally.closes_announced,
        tally.server_errors,
        &tally.errors[..tally.errors.len().min(10)]
    );
}

/// Reads what is left on a connection the server should have closed: EOF.
fn assert_closed_cleanly(connection: &mut Connection) {
    let mut rest = Vec::new();
    match connection.reader.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "nothing more after the last answer: {:?}", String::from_utf8_lossy(&rest)),
        Err(error) => panic!("the server closed with an error, not cleanly: {error}"),
    }
}

#[test]
fn an_idle_connection_lives_until_its_keep_alive_timeout_then_closes_cleanly() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &["--keep-alive-timeout-ms", "2000"]);
    let mut connection = server.connect();
    for pause_ms in [0, 800, 1200] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        let answer = connection.send("GET", "/healthz", "", None).expect("the connection is still open");
        assert_eq!((answer.status, answer.closes), (200, false), "after a pause of {pause_ms} ms");
    }
    let since = Instant::now();
    assert_closed_cleanly(&mut connection);
    let closed_after = since.elapsed();
    assert!(closed_after >= Duration::from_millis(1500), "closed after {closed_after:?} idle");
    assert!(closed_after < Duration::from_secs(20), "closed after {closed_after:?} idle");
}

#[test]
fn when_the_server_closes_a_busy_connection_its_last_answer_says_so() {
    let (_dir, data) = data_dir();
    let server = Server::start(&data, &["--max-body-bytes", "1000"]);
    let post = |token: &str, length: usize, body: &str| {
        format!(
            "POST /v1/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body}"
        )
    };
    // Refused before the body is read, the whole body already sent: it is
    // discarded and the connection serves on.
    let mut connection = server.connect();
    connection.reader.get_mut().write_all(post("wrong", 2, "{}").as_bytes()).unwrap();
    let answer = connection.receive().expect("an answer");
    assert_eq!((answer.status, answer.closes), (401, false), "{}", answer.body);
    let next = connection.send("GET", "/healthz", "", None).expect("the connection serves on");
    assert_eq!((next.status, next.closes), (200, false));
    // Refused before the body is read, the body not there: the connection
    // cannot carry another request, and the answer says so.
    for (token, length, status) in [("wrong", 500, 401), (ADMIN, 5000, 413)] {
        let mut connection = server.connect();
        connection.reader.get_mut().write_all(post(token, length, "").as_bytes()).unwrap();
        let answer = connection.receive().expect("an answer");
        assert_eq!((answer.status, answer.closes), (status, true), "{}", answer.body);
        assert_closed_cleanly(&mut connection);
    }
}
