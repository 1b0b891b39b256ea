//! Operators' routes: liveness (`/healthz`), readiness (`/readyz`: the log
//! accepts changes), the Prometheus metrics, and the public key that signs
//! e-tickets.

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::http::app::App;
use crate::http::error::{ApiError, ApiResult};
use crate::http::response::{json_response, HttpResponse};

pub fn healthz() -> HttpResponse {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// The Ed25519 key that verifies e-tickets' signatures offline.
pub fn ticket_key(app: &App) -> HttpResponse {
    let key = app.engine.ticket_public_key();
    json_response(StatusCode::OK, &json!({ "algorithm": "Ed25519", "public_key": key }))
}

/// `/metrics`: Prometheus' text format, with the engine's figures read now.
pub fn metrics_exposition(app: &App) -> HttpResponse {
    let mut response = Response::new(crate::http::response::whole(Bytes::from(app.metrics.exposition(&app.engine))));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    response
}

pub fn readiness(app: &App) -> ApiResult<HttpResponse> {
    if app.engine.wal().is_open() {
        Ok(json_response(StatusCode::OK, &json!({ "status": "ready" })))
    } else {
        let why = app.engine.wal().failure().unwrap_or_else(|| "the log is closed".into());
        Err(ApiError::unavailable("not_ready", format!("not ready: {why}")).retry_after(5))
    }
}
