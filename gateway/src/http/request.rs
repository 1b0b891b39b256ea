//! Reading a request: the body (bounded, JSON, unknown fields refused, the
//! field at fault named), the bearer token, the client's address.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH};
use hyper::{HeaderMap, Request, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};

/// Reads the whole body, refusing more than `max_bytes` (413).
pub async fn read_body(request: Request<Incoming>, max_bytes: usize) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the limit of {max_bytes} bytes"),
        )
    };
    // Refused from its declared length, before a byte of it is read.
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), max_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::bad_request("body_unreadable", "the request body could not be read")),
    }
}

/// Parses JSON into `T`; an error names the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request("body_required", "this route takes a JSON body"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = parsed.map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() { "malformed_json" } else { "invalid_body" };
        let api = ApiError::bad_request(code, format!("the body is not valid: {inner}"));
        if field == "." {
            api
        } else {
            api.with("field", field)
        }
    })?;
    deserializer.end().map_err(|_| ApiError::bad_request("malformed_json", "trailing data after the JSON body"))?;
    Ok(value)
}

/// The bearer token, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    let text =
        value.to_str().map_err(|_| ApiError::unauthorized("invalid_token", "the Authorization header is not text"))?;
    // The scheme name is case-insensitive (RFC 9110).
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized("invalid_token", "Authorization must be `Bearer <token>`")),
    }
}

/// The query string's pairs, decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}
