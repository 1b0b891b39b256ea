//! Who is calling: the bearer token (`Authorization: Bearer <token>`), the
//! promoter's admin token (compared in constant time), and buyers' queue and
//! access tokens (signed by the engine, checked without a lookup). Each
//! route group asks for the credential it needs; a refusal is 401 without a
//! usable credential, 403 with one that is not for this route.

use guichet_engine::event::Event;
use guichet_engine::ids::{BuyerId, OrderId};
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

/// Who reads an order: someone [`requester`] lets in (the admin, or a buyer
/// by access token, still to be matched with the order's buyer), or the
/// bearer of this very order's token.
pub enum OrderReader {
    Requester(Requester),
    OrderToken,
}

/// Order reading routes (the order, its calendar): the order token of this
/// order (read only; another order's is 403 `not_yours`), else as [`requester`].
pub fn order_reader(app: &App, request: &Request<Incoming>, event: &Event, order: OrderId) -> ApiResult<OrderReader> {
    if let Some(token) = bearer(request.headers())? {
        match app.engine.verify_order_token(token) {
            Ok(claims) if claims.event == event.number.0 && claims.order == order => {
                return Ok(OrderReader::OrderToken)
            }
            Ok(_) => return Err(ApiError::forbidden("not_yours", "this order token is for another order")),
            Err(TokenError::Expired) => return Err(TokenError::Expired.into()),
            // Not an order token: the admin's or a buyer's, checked as such.
            Err(_) => {}
        }
    }
    Ok(OrderReader::Requester(requester(app, request, event)?))
}

/// Cancelling: an order token (even expired) is refused with 403: it reads,
/// and a forwarded link must not be enough to cancel.
pub fn refuse_order_token(app: &App, request: &Request<Incoming>) -> ApiResult<()> {
    let Some(token) = bearer(request.headers())? else { return Ok(()) };
    match app.engine.verify_order_token(token) {
        Ok(_) | Err(TokenError::Expired) => Err(ApiError::forbidden(
            "order_token_read_only",
            "the order token only reads the order: cancelling needs the access token while it lasts \
             (or a confirmation sent to the buyer's email, where offered)",
        )),
        Err(_) => Ok(()),
    }
}

/// Queue routes: the queue token of this event.
pub fn queue_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("queue_token_required", "this route needs the queue token"))?;
    Ok(app.engine.verify_token(token, TokenKind::Queue, event)?)
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
