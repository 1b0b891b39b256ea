//! Who is calling: the bearer token (`Authorization: Bearer <token>`), the
//! promoter's admin token (compared in constant time), and buyers' queue and
//! access tokens (signed by the engine, checked without a lookup). Each
//! route group asks for the credential it needs; a refusal is 401 without a
//! usable credential, 403 with one that is not for this route.

use guichet_engine::event::Event;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::Requester;
use guichet_engine::tokens::{TokenError, TokenKind};
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Request};
use subtle::ConstantTimeEq;

use super::app::App;
use super::error::{ApiError, ApiResult};
use super::limiter::within_budget;

/// Whether `token` is the admin token (compared in constant time).
fn is_admin(app: &App, token: &str) -> bool {
    app.admin_token.len() == token.len() && bool::from(app.admin_token.as_bytes().ct_eq(token.as_bytes()))
}

/// Whether `token` is a buyer's token that this server signed (for any event,
/// expired or not): on an admin route that is 403, not 401.
fn is_buyer_token(app: &App, token: &str) -> bool {
    let checked = app.engine.keys().verify(token, TokenKind::Queue, 0, app.now());
    matches!(checked, Ok(_) | Err(TokenError::WrongKind | TokenError::OtherEvent | TokenError::Expired))
}

/// Admin routes: 401 without a token or with a bad one, 403 with a buyer's.
pub fn require_admin(app: &App, request: &Request<Incoming>) -> ApiResult<()> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("missing_token", "this route needs the admin token"))?;
    if is_admin(app, token) {
        Ok(())
    } else if is_buyer_token(app, token) {
        Err(ApiError::forbidden("admin_only", "this route is for the promoter, not for buyers"))
    } else {
        Err(ApiError::unauthorized("invalid_token", "the token is not valid"))
    }
}

/// Seat routes: a valid access token for this event, within its buyer's budget of seat calls.
pub fn access_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let buyer = access_token_buyer(app, request, event)?;
    let key = (u128::from(event.number.0) << 64) | u128::from(buyer.0);
    within_budget(&app.seat_call_limiter, key, app.now(), "rate_limited")?;
    Ok(buyer)
}

fn access_token_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let required =
        || ApiError::unauthorized("access_token_required", "this route needs an access token from the queue");
    let token = bearer(request.headers())?.ok_or_else(required)?;
    if is_admin(app, token) {
        return Err(ApiError::forbidden("buyer_only", "the admin token has no buyer identity on this route"));
    }
    match app.engine.verify_token(token, TokenKind::Access, event) {
        Ok(buyer) => Ok(buyer),
        Err(TokenError::WrongKind) => Err(required()),
        Err(error) => Err(error.into()),
    }
}

/// Hold and order routes: the admin, or the access token's buyer.
pub fn requester(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<Requester> {
    match bearer(request.headers())? {
        Some(token) if is_admin(app, token) => Ok(Requester::Admin),
        _ => Ok(Requester::Buyer(access_buyer(app, request, event)?)),
    }
}

/// Queue routes: the queue token of this event.
pub fn queue_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("queue_token_required", "this route needs the queue token"))?;
    Ok(app.engine.verify_token(token, TokenKind::Queue, event)?)
}

/// A paid event's purchase route: whether this caller may buy a hold
/// without a checkout. The hook where a `shop` token (a trusted shop that
/// took the money itself, for events whose provider is `external`) will be
/// let through, once tokens have roles; until then nobody is, so for an
/// event with a provider every order comes from a confirmed payment.
pub fn shop_may_purchase(_app: &App, _request: &Request<Incoming>, _event: &Event) -> bool {
    false
}

/// How far a webhook's signed timestamp may be from now (Stripe's default).
pub const WEBHOOK_TOLERANCE_S: u64 = 300;

/// A payment provider's webhook delivery, verified on its raw bytes with
/// the scheme Stripe documents: the `Stripe-Signature` header
/// `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, where a `v1` is the
/// HMAC-SHA256 of `<t>.<body>` under the endpoint's signing secret (several
/// while a secret is rolled); compared in constant time; `t` within
/// `WEBHOOK_TOLERANCE_S` of now, so a captured delivery cannot be replayed later.
pub fn verify_webhook(headers: &HeaderMap, body: &[u8], secret: &str, now_s: u64) -> ApiResult<()> {
    use hmac::{Hmac, Mac};
    let invalid = |why: &str| ApiError::bad_request("invalid_signature", format!("the webhook signature {why}"));
    let header = headers.get("stripe-signature").ok_or_else(|| invalid("is missing (Stripe-Signature)"))?;
    let header = header.to_str().map_err(|_| invalid("header is not text"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.extend(decode_hex(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| invalid("has no timestamp"))?;
    if now_s.abs_diff(timestamp) > WEBHOOK_TOLERANCE_S {
        return Err(invalid(&format!("timestamp is more than {WEBHOOK_TOLERANCE_S} s from now")));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| invalid("secret is unusable"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    if signatures.iter().any(|signature| mac.clone().verify_slice(signature).is_ok()) {
        Ok(())
    } else {
        Err(invalid("does not match"))
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The bearer token, if the request carries one.
fn bearer(headers: &HeaderMap) -> ApiResult<Option<&str>> {
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
