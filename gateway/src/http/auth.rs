//! Who is calling, and what they may do: the bearer token
//! (`Authorization: Bearer <token>`); staff credentials (the configured
//! admin token, compared in constant time, counts as credential `t0`, the
//! first admin; the tokens `POST /v1/tokens` makes, with a role and a scope);
//! buyers' queue and access tokens (signed by the engine, checked without a
//! lookup). Each route asks for the credential and the [`Permission`] it
//! needs; a refusal is 401 without a usable credential, 403 with one that is
//! not for this route (`admin_only` for a buyer's, `role_not_allowed` for a
//! role that does not grant it, `token_other_event` for another event's).
//!
//! Every role check is here, in [`Staff::may`]'s table. A staff request for
//! a change is logged (`StaffRequest`, naming the credential) before the
//! handler tries it, and traced.

use guichet_engine::credentials::{CredentialId, Role, TOKEN_PREFIX};
use guichet_engine::event::Event;
use guichet_engine::ids::{BuyerId, HoldId, OrderId};
use guichet_engine::inventory::Requester;
use guichet_engine::tokens::{PaymentClaims, TokenError, TokenKind};
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, Method, Request};
use subtle::ConstantTimeEq;

use super::app::App;
use super::error::{ApiError, ApiResult};
use super::limiter::within_budget;

/// What a route asks of a staff credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// `POST`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}`.
    ManageTokens,
    /// `POST /v1/events`.
    CreateEvents,
    /// The event's figures and orders: `GET …/stats`, `GET …/orders`.
    ReadEvent,
    /// One hold or order: `GET /v1/holds/{id}`, `GET /v1/orders/{id}`.
    ReadSales,
    /// The event's settings, holds and orders: `PATCH …/room`,
    /// `DELETE /v1/holds/{id}`, `POST /v1/orders/{id}/cancel`.
    ManageEvent,
    /// `POST /v1/holds/{id}/purchase` for a buyer's hold.
    Purchase,
    /// Checking tickets in at the door, and the door's list:
    /// `POST` and `GET /v1/events/{id}/checkins`.
    CheckIn,
    /// Erasing a buyer's email and name: `DELETE /v1/orders/{id}/personal-data`.
    ErasePersonalData,
}

/// A staff credential that checked out: who, in what role, on which events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub id: CredentialId,
    pub role: Role,
    events: Vec<String>,
}

impl Staff {
    fn env_admin() -> Staff {
        Staff { id: CredentialId::ENV_ADMIN, role: Role::Admin, events: Vec::new() }
    }

    /// Whether the role grants `permission` (the one table of who may do what).
    fn role_grants(&self, permission: Permission) -> bool {
        use Permission::*;
        match self.role {
            Role::Admin => true,
            Role::Promoter => {
                matches!(permission, CreateEvents | ReadEvent | ReadSales | ManageEvent | Purchase | ErasePersonalData)
            }
            Role::Viewer => matches!(permission, ReadEvent | ReadSales),
            Role::Shop => matches!(permission, ReadSales | Purchase),
            Role::Door => permission == CheckIn,
        }
    }

    /// Whether the credential acts on `event`: an admin on all, others on their scope.
    fn covers(&self, event: &Event) -> bool {
        self.role == Role::Admin || self.events.iter().any(|id| id == event.id())
    }

    /// `permission` (on `event`, for a route about one): 403 if not.
    pub fn may(&self, permission: Permission, event: Option<&Event>) -> ApiResult<()> {
        if !self.role_grants(permission) {
            let message = format!("a {} token may not use this route", self.role.name());
            return Err(ApiError::forbidden("role_not_allowed", message));
        }
        match event {
            Some(event) if !self.covers(event) => Err(ApiError::forbidden(
                "token_other_event",
                format!("this {} token is not for event {:?}", self.role.name(), event.id()),
            )),
            _ => Ok(()),
        }
    }

    /// Whether this credential may check tickets in at `event` (a door token
    /// of the event, or an admin): what the check-in routes ask through
    /// `require_staff`, spelled out for the role table's test.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn may_check_in(&self, event: &Event) -> bool {
        self.may(Permission::CheckIn, Some(event)).is_ok()
    }

    /// Whether this is a `shop` token (of the event it was checked for).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn is_shop(&self) -> bool {
        self.role == Role::Shop
    }
}

/// Whether `token` is the configured admin token (compared in constant time).
fn is_env_admin(app: &App, token: &str) -> bool {
    app.admin_token.len() == token.len() && bool::from(app.admin_token.as_bytes().ct_eq(token.as_bytes()))
}

/// Whether `token` is a buyer's token that this server signed (for any event,
/// expired or not): on a staff route that is 403, not 401.
fn is_buyer_token(app: &App, token: &str) -> bool {
    let checked = app.engine.keys().verify(token, TokenKind::Queue, 0, app.now());
    matches!(checked, Ok(_) | Err(TokenError::WrongKind | TokenError::OtherEvent | TokenError::Expired))
}

/// The staff credential `token` is, if it is one: `None` for anything that
/// does not look like one, an error for one that does but fails.
fn staff_token(app: &App, token: &str) -> Option<ApiResult<Staff>> {
    if is_env_admin(app, token) {
        return Some(Ok(Staff::env_admin()));
    }
    if !token.starts_with(TOKEN_PREFIX) {
        return None;
    }
    Some(match app.engine.credentials().verify(token, app.now()) {
        Ok(verified) => Ok(Staff { id: verified.id, role: verified.role, events: verified.events }),
        Err(error) => Err(error.into()),
    })
}

/// Staff routes: a staff credential whose role grants `permission` (on
/// `event`, for a route about one). 401 without a token or with a bad,
/// expired or revoked one; 403 with a buyer's, or a role or scope that
/// does not reach. A request for a change is logged with who asked.
pub fn require_staff(
    app: &App,
    request: &Request<Incoming>,
    permission: Permission,
    event: Option<&Event>,
) -> ApiResult<Staff> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("missing_token", "this route needs a staff token"))?;
    let staff = match staff_token(app, token) {
        Some(staff) => staff?,
        None if is_buyer_token(app, token) => {
            return Err(ApiError::forbidden("admin_only", "this route is for staff tokens, not for buyers"))
        }
        None => return Err(ApiError::unauthorized("invalid_token", "the token is not valid")),
    };
    staff.may(permission, event)?;
    note_request(app, request, &staff)?;
    Ok(staff)
}

/// Logs a staff request for a change (not a read) with who asked, before
/// the handler tries it, and traces it.
fn note_request(app: &App, request: &Request<Incoming>, staff: &Staff) -> ApiResult<()> {
    if request.method() == Method::GET {
        return Ok(());
    }
    let line = format!("{} {}", request.method(), request.uri().path());
    tracing::info!(credential = %staff.id, role = staff.role.name(), request = %line, "staff request");
    app.engine.note_staff_request(staff.id, &line).map_err(ApiError::from)?;
    Ok(())
}

/// Who acts on a hold or order: its buyer (access token), or staff.
#[derive(Clone, Debug)]
pub enum Caller {
    Buyer(BuyerId),
    Staff(#[cfg_attr(not(test), allow(dead_code))] Staff),
}

impl Caller {
    /// The engine's view: staff act for any buyer of the event.
    pub fn requester(&self) -> Requester {
        match self {
            Caller::Buyer(buyer) => Requester::Buyer(*buyer),
            Caller::Staff(_) => Requester::Admin,
        }
    }

    /// Whether this is a `shop` token of the event (a purchase it confirms
    /// is one the shop was paid for): what lets a purchase through for an
    /// event whose payments a provider confirms.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn is_shop(&self) -> bool {
        matches!(self, Caller::Staff(staff) if staff.is_shop())
    }
}

/// Hold and order routes: a staff credential with `permission` on the
/// event, or the access token's buyer.
pub fn caller(app: &App, request: &Request<Incoming>, event: &Event, permission: Permission) -> ApiResult<Caller> {
    let staff = bearer(request.headers())?.filter(|token| is_env_admin(app, token) || token.starts_with(TOKEN_PREFIX));
    match staff {
        Some(_) => Ok(Caller::Staff(require_staff(app, request, permission, Some(event))?)),
        None => Ok(Caller::Buyer(access_buyer(app, request, event)?)),
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
    if let Some(staff) = staff_token(app, token) {
        staff?;
        return Err(ApiError::forbidden("buyer_only", "a staff token has no buyer identity on this route"));
    }
    match app.engine.verify_token(token, TokenKind::Access, event) {
        Ok(buyer) => Ok(buyer),
        Err(TokenError::WrongKind) => Err(required()),
        Err(error) => Err(error.into()),
    }
}

/// Who reads an order: a caller [`caller`] lets in (staff allowed to read
/// the event's sales, or a buyer by access token, still to be matched with
/// the order's buyer), or the bearer of this very order's token (whose
/// buyer must still be the order's: an order number the log lost in a crash
/// may later name another buyer's order).
pub enum OrderReader {
    Caller(Caller),
    OrderToken {
        buyer: BuyerId,
    },
    /// The payment token of the hold the order was bought with.
    PaymentToken {
        buyer: BuyerId,
        hold: HoldId,
    },
}

/// Order reading routes (the order, its calendar): the order token of this
/// order (read only; another order's is 403 `not_yours`), else as [`caller`].
pub fn order_reader(app: &App, request: &Request<Incoming>, event: &Event, order: OrderId) -> ApiResult<OrderReader> {
    if let Some(token) = bearer(request.headers())? {
        match app.engine.verify_order_token(token) {
            Ok(claims) if claims.event == event.number.0 && claims.order == order => {
                return Ok(OrderReader::OrderToken { buyer: claims.buyer })
            }
            Ok(_) => return Err(ApiError::forbidden("not_yours", "this order token is for another order")),
            Err(TokenError::Expired) => return Err(TokenError::Expired.into()),
            // Not an order token: the admin's or a buyer's, checked as such.
            Err(_) => {}
        }
        if let Some(claims) = payment_token(app, token, event)? {
            return Ok(OrderReader::PaymentToken { buyer: claims.buyer, hold: claims.hold });
        }
    }
    Ok(OrderReader::Caller(caller(app, request, event, Permission::ReadSales)?))
}

/// Reading a hold: the payment token of this hold (issued at its checkout,
/// so the buyer follows the payment after the access ran out; another
/// hold's is 403 `not_yours`), else as [`caller`]. Returns who acts.
pub fn hold_reader(app: &App, request: &Request<Incoming>, event: &Event, hold: HoldId) -> ApiResult<Requester> {
    if let Some(token) = bearer(request.headers())? {
        if let Some(claims) = payment_token(app, token, event)? {
            if claims.hold != hold {
                return Err(ApiError::forbidden("not_yours", "this payment token is for another hold"));
            }
            return Ok(Requester::Buyer(claims.buyer));
        }
    }
    Ok(caller(app, request, event, Permission::ReadSales)?.requester())
}

/// A payment token of `event` (`None`: not a payment token at all).
fn payment_token(app: &App, token: &str, event: &Event) -> ApiResult<Option<PaymentClaims>> {
    match app.engine.verify_payment_token(token) {
        Ok(claims) if claims.event == event.number.0 => Ok(Some(claims)),
        Ok(_) => Err(ApiError::forbidden("not_yours", "this payment token is for another event's hold")),
        Err(TokenError::WrongKind | TokenError::Malformed) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Cancelling: an order token (even expired) is refused with 403: it reads,
/// and a forwarded link must not be enough to cancel.
pub fn refuse_order_token(app: &App, request: &Request<Incoming>) -> ApiResult<()> {
    let Some(token) = bearer(request.headers())? else { return Ok(()) };
    match app.engine.verify_order_token(token) {
        Ok(_) | Err(TokenError::Expired) => Err(order_token_read_only()),
        Err(_) => Ok(()),
    }
}

fn order_token_read_only() -> ApiError {
    ApiError::forbidden(
        "order_token_read_only",
        "the order token only reads the order: cancelling needs the access token while it lasts, \
         or the confirmation emailed to the buyer (POST /v1/orders/{order_id}/cancel-requests)",
    )
}

/// The buyer named by the bearer's order token if it is a valid token of
/// this very order (`None` for any other token, or none).
pub fn this_order_token(
    app: &App,
    request: &Request<Incoming>,
    event: &Event,
    order: OrderId,
) -> ApiResult<Option<BuyerId>> {
    let Some(token) = bearer(request.headers())? else { return Ok(None) };
    match app.engine.verify_order_token(token) {
        Ok(claims) if claims.event == event.number.0 && claims.order == order => Ok(Some(claims.buyer)),
        _ => Ok(None),
    }
}

/// Cancelling with this order's token: only with `confirmation`, a code
/// the engine emailed to the buyer for this order, unexpired.
pub fn confirmed_by_email(app: &App, event: &Event, order: OrderId, confirmation: Option<&str>) -> ApiResult<()> {
    let code = confirmation.ok_or_else(order_token_read_only)?;
    Ok(app.engine.check_cancel_confirmation(event, order, code)?)
}

/// Asking for a cancellation confirmation: this order's token (its link),
/// or the access token of the order's buyer; returns the buyer it names
/// (the engine compares it with the order's).
pub fn order_holder(app: &App, request: &Request<Incoming>, event: &Event, order: OrderId) -> ApiResult<BuyerId> {
    if let Some(buyer) = this_order_token(app, request, event, order)? {
        return Ok(buyer);
    }
    if let Some(token) = bearer(request.headers())? {
        match app.engine.verify_order_token(token) {
            Ok(_) => return Err(ApiError::forbidden("not_yours", "this order token is for another order")),
            Err(TokenError::Expired) => return Err(TokenError::Expired.into()),
            Err(_) => {}
        }
    }
    access_buyer(app, request, event)
}

/// Queue routes: the queue token of this event.
pub fn queue_buyer(app: &App, request: &Request<Incoming>, event: &Event) -> ApiResult<BuyerId> {
    let token = bearer(request.headers())?
        .ok_or_else(|| ApiError::unauthorized("queue_token_required", "this route needs the queue token"))?;
    Ok(app.engine.verify_token(token, TokenKind::Queue, event)?)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use guichet_engine::clock::ManualClock;
    use guichet_engine::spec::EventSpec;
    use guichet_engine::store::{Engine, EngineOptions};
    use guichet_engine::time::UnixTimeMs;
    use guichet_engine::wal::storage::MemoryStorage;
    use serde_json::json;

    use super::*;

    fn events() -> (Engine, Arc<Event>, Arc<Event>) {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(1_800_000_000_000)));
        let (engine, _) = Engine::open(Arc::new(MemoryStorage::new()), EngineOptions::default(), clock).unwrap();
        let spec = |id: &str| -> EventSpec {
            serde_json::from_value(json!({
                "id": id, "name": "Show", "venue": "Hall",
                "starts_at": "2099-01-01T00:00:00Z", "on_sale_at": "2026-01-01T00:00:00Z", "currency": "CAD",
                "tiers": [{"id": "ga", "name": "GA", "price_cents": 100}],
                "sections": [{"id": "GA", "name": "GA", "tier": "ga", "capacity": 100}],
                "per_buyer_limit": 4, "hold_ttl_s": 600,
                "room": {"admit_per_minute": 60, "max_active": 100, "access_ttl_s": 900}
            }))
            .unwrap()
        };
        let (show, _) = engine.create_event(&spec("show")).unwrap();
        let (other, _) = engine.create_event(&spec("other")).unwrap();
        (engine, show, other)
    }

    fn staff(role: Role) -> Staff {
        let events = if role == Role::Admin { Vec::new() } else { vec!["show".to_owned()] };
        Staff { id: CredentialId(1), role, events }
    }

    #[test]
    fn a_door_token_checks_in_at_its_event_only_and_a_shop_is_known_as_one() {
        let (_engine, show, other) = events();
        let checks_in: Vec<(Role, bool, bool)> =
            Role::ALL.iter().map(|&r| (r, staff(r).may_check_in(&show), staff(r).may_check_in(&other))).collect();
        assert_eq!(
            checks_in,
            [
                (Role::Admin, true, true),
                (Role::Promoter, false, false),
                (Role::Door, true, false),
                (Role::Viewer, false, false),
                (Role::Shop, false, false),
            ]
        );
        let shops: Vec<bool> = Role::ALL.iter().map(|&r| Caller::Staff(staff(r)).is_shop()).collect();
        assert_eq!(shops, [false, false, false, false, true]);
        assert!(!Caller::Buyer(BuyerId(3)).is_shop());
        let refused = staff(Role::Shop).may(Permission::Purchase, Some(&other)).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (403, "token_other_event"));
        let refused = staff(Role::Viewer).may(Permission::Purchase, Some(&show)).unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (403, "role_not_allowed"));
    }

    #[test]
    fn an_admin_or_the_events_promoter_may_erase_personal_data() {
        let (_engine, show, other) = events();
        let erases = |role: Role, event: &Event| staff(role).may(Permission::ErasePersonalData, Some(event)).is_ok();
        let table: Vec<(Role, bool, bool)> =
            Role::ALL.iter().map(|&r| (r, erases(r, &show), erases(r, &other))).collect();
        assert_eq!(
            table,
            [
                (Role::Admin, true, true),
                (Role::Promoter, true, false),
                (Role::Door, false, false),
                (Role::Viewer, false, false),
                (Role::Shop, false, false),
            ]
        );
    }
}
