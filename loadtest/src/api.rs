//! The HTTP client every virtual buyer shares (one hyper connection pool), and
//! the recorder of what each call cost. A call's latency runs from the moment
//! the buyer meant to send it, so time spent waiting for a slot when too many
//! requests are in flight counts (no coordinated omission).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// A request that takes longer than this is counted as a transport error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Latencies recorded, in microseconds: 1 µs to a minute.
const MAX_LATENCY_US: u64 = 60_000_000;
/// The report's time axis has at most this many windows.
pub const MAX_WINDOWS: u64 = 240;

/// What a call was for: the rows of the latency tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Join,
    Status,
    Leave,
    Seats,
    Hold,
    Release,
    Purchase,
    Admin,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Join,
        Endpoint::Status,
        Endpoint::Leave,
        Endpoint::Seats,
        Endpoint::Hold,
        Endpoint::Release,
        Endpoint::Purchase,
        Endpoint::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Join => "join",
            Endpoint::Status => "status",
            Endpoint::Leave => "leave",
            Endpoint::Seats => "seats",
            Endpoint::Hold => "hold",
            Endpoint::Release => "release",
            Endpoint::Purchase => "purchase",
            Endpoint::Admin => "admin",
        }
    }
}

/// An answer from the server.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The error body's `code`, if any.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    }
}

/// No answer: the connection failed or the request timed out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Figures for one endpoint.
pub struct EndpointFigures {
    pub latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// Latency per window of the run (created when the window sees a call).
    pub windows: Vec<Option<Histogram<u64>>>,
}

impl EndpointFigures {
    fn new(windows: usize) -> Self {
        Self {
            latency_us: new_histogram(),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            windows: vec![None; windows],
        }
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("the bounds are valid")
}

/// Everything the client saw, by endpoint and over time.
pub struct Recorder {
    pub start: Instant,
    pub window: Duration,
    pub figures: BTreeMap<Endpoint, EndpointFigures>,
    /// Calls and 5xx/transport errors per second of the run.
    pub calls_per_s: Vec<u32>,
    pub errors_per_s: Vec<u32>,
    /// Requests that got no answer (refused, reset, timed out), per second:
    /// expected only while a killed server restarts.
    pub no_answer_per_s: Vec<u32>,
    /// Answers with a 5xx status other than 503 with `Retry-After` (the
    /// contract's way to say "overloaded, come back").
    pub unexpected_5xx: u64,
}

impl Recorder {
    pub fn new(start: Instant, max_duration: Duration) -> Self {
        let window_s = max_duration.as_secs().div_ceil(MAX_WINDOWS).max(1);
        let windows = max_duration.as_secs().div_ceil(window_s) as usize + 2;
        let seconds = max_duration.as_secs() as usize + 2;
        Self {
            start,
            window: Duration::from_secs(window_s),
            figures: Endpoint::ALL.iter().map(|&e| (e, EndpointFigures::new(windows))).collect(),
            calls_per_s: vec![0; seconds],
            errors_per_s: vec![0; seconds],
            no_answer_per_s: vec![0; seconds],
            unexpected_5xx: 0,
        }
    }

    fn record(&mut self, endpoint: Endpoint, began: Instant, latency: Duration, answer: Option<(u16, bool)>) {
        let since_start = began.saturating_duration_since(self.start);
        let second = (since_start.as_secs() as usize).min(self.calls_per_s.len() - 1);
        self.calls_per_s[second] += 1;
        let figures = self.figures.get_mut(&endpoint).expect("every endpoint has figures");
        let Some((status, retry_after)) = answer else {
            // No answer has no latency worth mixing with answers' (a refused
            // connection fails in microseconds): counted, not timed.
            self.errors_per_s[second] += 1;
            self.no_answer_per_s[second] += 1;
            figures.transport_errors += 1;
            return;
        };
        if status >= 500 {
            self.errors_per_s[second] += 1;
            if status != 503 || !retry_after {
                self.unexpected_5xx += 1;
            }
        }
        *figures.statuses.entry(status).or_default() += 1;
        let latency_us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let window = (since_start.as_secs() / self.window.as_secs()) as usize;
        let _ = figures.latency_us.record(latency_us);
        let last = figures.windows.len() - 1;
        let _ = figures.windows[window.min(last)].get_or_insert_with(new_histogram).record(latency_us);
    }
}

/// The shared client.
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    in_flight: Semaphore,
    pub recorder: Mutex<Recorder>,
}

/// A request to send.
#[derive(Clone)]
pub struct Call<'a> {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub body: Option<Vec<u8>>,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn new(endpoint: Endpoint, method: Method, path: &'a str) -> Self {
        Self { endpoint, method, path, token: None, body: None, idempotency_key: None }
    }

    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    pub fn idempotency_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

impl Api {
    pub fn new(base: &str, max_in_flight: u32, recorder: Recorder) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(max_in_flight as usize)
            .build(connector);
        Arc::new(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            in_flight: Semaphore::new(max_in_flight as usize),
            recorder: Mutex::new(recorder),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request and records it; no retry.
    pub async fn send(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        let began = Instant::now();
        let permit = self.in_flight.acquire().await.map_err(|_| TransportError("the client is closed".into()))?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(&call)).await;
        drop(permit);
        let answer = answer.unwrap_or_else(|_| Err(TransportError(format!("no answer within {REQUEST_TIMEOUT:?}"))));
        let status = answer.as_ref().ok().map(|reply| (reply.status, reply.retry_after.is_some()));
        self.recorder.lock().record(call.endpoint, began, began.elapsed(), status);
        answer
    }

    async fn exchange(&self, call: &Call<'_>) -> Result<Reply, TransportError> {
        let mut request = Request::builder().method(call.method.clone()).uri(format!("{}{}", self.base, call.path));
        if let Some(token) = call.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if call.body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(call.body.clone().unwrap_or_default()));
        let request = request.body(body).map_err(|e| TransportError(format!("building the request: {e}")))?;
        let response = self.client.request(request).await.map_err(|e| TransportError(describe(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.into_body().collect().await.map_err(|e| TransportError(e.to_string()))?.to_bytes();
        Ok(Reply { status, body, retry_after })
    }
}

fn describe(error: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}
