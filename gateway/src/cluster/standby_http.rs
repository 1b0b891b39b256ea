//! What a standby answers while it waits for the lease: liveness, its role
//! and lag on `/readyz` (503, so a load balancer sends nothing here), the
//! same on `/metrics`, and 503 `not_primary` with `Retry-After` to every
//! other route. Each answer closes its connection, so a client's next
//! request after this node takes over reaches the primary's server.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::http::error::ApiError;
use crate::http::response::{json_response, whole, HttpResponse};

/// What a standby tells about itself.
#[derive(Debug, Default)]
pub struct StandbyStatus {
    /// Records the stream holds that this node has not copied yet.
    pub lag_records: AtomicU64,
    /// How long ago the stream stored the oldest message not copied yet.
    pub lag_ms: AtomicU64,
    /// The last record copied.
    pub copied_records: AtomicU64,
    /// Whether this node's engine applies every record copied (a takeover
    /// then replays nothing), or must recover from its log on disk.
    pub hot: AtomicBool,
}

/// Answers every connection as a standby, until the caller drops this future.
pub async fn answer_as_standby(listener: &TcpListener, node_id: String, status: Arc<StandbyStatus>) {
    let node_id: Arc<str> = node_id.into();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: give the connections a moment to close.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let (node_id, status) = (node_id.clone(), status.clone());
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let answer = answer(request.uri().path(), &node_id, &status);
            async move { Ok::<_, Infallible>(answer) }
        });
        tokio::spawn(async move {
            let connection = http1::Builder::new().keep_alive(false).serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
        });
    }
}

fn answer(path: &str, node_id: &str, status: &StandbyStatus) -> HttpResponse {
    let lag_records = status.lag_records.load(Ordering::Relaxed);
    let hot = status.hot.load(Ordering::Relaxed);
    let lag_ms = status.lag_ms.load(Ordering::Relaxed);
    let not_primary = |what: &str| {
        ApiError::unavailable("not_primary", format!("{what}: this node ({node_id}) is a standby; the primary serves"))
            .with("role", "standby")
            .with("lag_records", lag_records)
            .with("lag_ms", lag_ms)
            .with("hot", hot)
            .into_response()
    };
    match path {
        "/healthz" => json_response(StatusCode::OK, &json!({ "status": "ok", "role": "standby" })),
        "/readyz" => not_primary("not ready"),
        "/metrics" => {
            let text = format!(
                "# HELP guichet_cluster_primary 1 on the node that holds the lease and serves.\n\
                 # TYPE guichet_cluster_primary gauge\nguichet_cluster_primary 0\n\
                 # HELP guichet_cluster_standby_lag_records Records in the stream a standby has not copied yet.\n\
                 # TYPE guichet_cluster_standby_lag_records gauge\nguichet_cluster_standby_lag_records {lag_records}\n\
                 # HELP guichet_cluster_standby_lag_ms How long ago the stream stored the oldest message a standby has not copied.\n\
                 # TYPE guichet_cluster_standby_lag_ms gauge\nguichet_cluster_standby_lag_ms {lag_ms}\n\
                 # HELP guichet_cluster_copied_records The last record a standby copied.\n\
                 # TYPE guichet_cluster_copied_records gauge\nguichet_cluster_copied_records {}\n\
                 # HELP guichet_cluster_standby_hot 1 when a standby's engine applies every record it copies.\n\
                 # TYPE guichet_cluster_standby_hot gauge\nguichet_cluster_standby_hot {}\n",
                status.copied_records.load(Ordering::Relaxed),
                u8::from(hot)
            );
            let mut response = Response::new(whole(text));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            response
        }
        _ => not_primary("not served here"),
    }
}
