//! Answers as HTTP: the response type every route returns (a body whole,
//! or streamed through a channel as it is made), a JSON body with its
//! status, and an empty 204.

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::{Either, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// A body known whole, or one written as it is made (an export).
pub type Body = Either<Full<Bytes>, Channel<Bytes>>;
pub type HttpResponse = Response<Body>;

/// A body known whole.
pub fn whole(bytes: impl Into<Bytes>) -> Body {
    Either::Left(Full::new(bytes.into()))
}

/// Room for a usual answer (a queue status, a hold of a few tickets) at the
/// first allocation, rather than growing the buffer several times.
const RESPONSE_BUFFER_BYTES: usize = 512;

pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    let mut buffer = Vec::with_capacity(RESPONSE_BUFFER_BYTES);
    if serde_json::to_writer(&mut buffer, body).is_err() {
        buffer.clear();
    }
    let mut response = Response::new(whole(buffer));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn no_content() -> HttpResponse {
    let mut response = Response::new(whole(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
