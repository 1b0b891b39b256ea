//! A provider's HTTP API, called with hyper's client: one connection per
//! call (calls are rare: a checkout, a refund), bounded in time and in the
//! size of the answer. Plain HTTP to the configured base address: in
//! production that is a TLS-originating egress proxy before the provider.

use std::time::Duration;

use bytes::Bytes;
use guichet_engine::limits::MAX_PROVIDER_ANSWER_BYTES;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ProviderError;

/// The longest a provider call may take, connection included.
const PROVIDER_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs a form to `base` + `path` with a bearer key and an
/// `Idempotency-Key`; returns the status and the answer's bytes.
pub async fn post_form(
    base: &str,
    path: &str,
    bearer: &str,
    idempotency_key: &str,
    form: &[(&str, &str)],
) -> Result<(StatusCode, Bytes), ProviderError> {
    let call = call(base, path, bearer, idempotency_key, form);
    match tokio::time::timeout(PROVIDER_CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(ProviderError::retry(format!("no answer from {base} within {PROVIDER_CALL_TIMEOUT:?}"))),
    }
}

async fn call(
    base: &str,
    path: &str,
    bearer: &str,
    idempotency_key: &str,
    form: &[(&str, &str)],
) -> Result<(StatusCode, Bytes), ProviderError> {
    let failed = |what: &str, error: &dyn std::fmt::Display| ProviderError::retry(format!("{what} {base}: {error}"));
    let uri: Uri = base.parse().map_err(|e| ProviderError::permanent(format!("bad provider address {base}: {e}")))?;
    let host = uri.host().ok_or_else(|| ProviderError::permanent(format!("no host in {base}")))?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port)).await.map_err(|e| failed("connecting to", &e))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| failed("talking to", &e))?;
    tokio::spawn(connection);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let request = Request::post(path)
        .header(HOST, format!("{host}:{port}"))
        .header(AUTHORIZATION, format!("Bearer {bearer}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("Idempotency-Key", idempotency_key)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ProviderError::permanent(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(|e| failed("calling", &e))?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_PROVIDER_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| failed("reading the answer of", &e))?
        .to_bytes();
    Ok((status, bytes))
}
