//! Reading a request: the body (bounded, declared as JSON, unknown fields
//! refused, the field at fault named), the `Idempotency-Key` header and the
//! query. (The bearer token is `auth`'s.)

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
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

/// The longest `Content-Type` echoed back in a 415's message: the header is
/// the client's, and an error body should not grow with it.
const MAX_ECHOED_MEDIA_TYPE_CHARS: usize = 100;

/// Reads a JSON body into `T`: the body must be declared
/// `Content-Type: application/json` (parameters such as `charset` allowed),
/// else 415. A request with neither body nor `Content-Type` is 400
/// `body_required`, the more useful answer when nothing was sent.
pub async fn read_json<T: DeserializeOwned>(request: Request<Incoming>, max_bytes: usize) -> ApiResult<T> {
    let declared = request.headers().get(CONTENT_TYPE).map(|value| value.to_str().map_err(|_| "(not text)"));
    match declared {
        Some(Ok(media_type)) if is_json(media_type) => parse_json(&read_body(request, max_bytes).await?),
        Some(Ok(media_type)) => Err(unsupported_media_type(media_type)),
        Some(Err(what)) => Err(unsupported_media_type(what)),
        None => {
            let body = read_body(request, max_bytes).await?;
            if body.is_empty() {
                parse_json(&body)
            } else {
                Err(unsupported_media_type("no Content-Type"))
            }
        }
    }
}

/// Reads an optional JSON body: none (empty) is `None`; a body must be
/// declared JSON (415) and parse as `T`.
pub async fn read_optional_json<T: DeserializeOwned>(
    request: Request<Incoming>,
    max_bytes: usize,
) -> ApiResult<Option<T>> {
    let declared = request.headers().get(CONTENT_TYPE).map(|value| value.to_str().unwrap_or("(not text)").to_owned());
    let body = read_body(request, max_bytes).await?;
    match declared {
        _ if body.is_empty() => Ok(None),
        Some(media_type) if is_json(&media_type) => parse_json(&body).map(Some),
        Some(media_type) => Err(unsupported_media_type(&media_type)),
        None => Err(unsupported_media_type("no Content-Type")),
    }
}

/// Whether a `Content-Type` value is `application/json`, whatever its case
/// and parameters (RFC 9110: type and subtype are case-insensitive).
pub fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn unsupported_media_type(received: &str) -> ApiError {
    let shown: String = received.chars().take(MAX_ECHOED_MEDIA_TYPE_CHARS).collect();
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("this route takes `Content-Type: application/json`; the request has {shown:?}"),
    )
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

/// The `Idempotency-Key` header, if any (its rules are checked where it is used).
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("bad_idempotency_key", "Idempotency-Key must be printable ASCII"))?;
    Ok(Some(text.to_owned()))
}

/// The query string's pairs, decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_is_recognised_with_parameters_and_in_any_case() {
        for accepted in
            ["application/json", "Application/JSON", "application/json; charset=utf-8", " application/json ;x=y"]
        {
            assert!(is_json(accepted), "{accepted}");
        }
        for refused in ["text/plain", "application/jsonp", "application/x-www-form-urlencoded", "", "json"] {
            assert!(!is_json(refused), "{refused}");
        }
    }
}
