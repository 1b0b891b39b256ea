//! Buyers in the waiting room: joining (with or without an
//! `Idempotency-Key`, within the client's join budget), the status poll
//! (the heartbeat, which hands over the access token once admitted), and
//! leaving.

use std::net::IpAddr;

use guichet_engine::event::Event;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::Receipt;
use guichet_engine::room::{JoinKey, QueueStatus, RoomError};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, StatusCode};
use serde_json::json;

use crate::http::app::App;
use crate::http::auth::queue_buyer;
use crate::http::error::ApiResult;
use crate::http::limiter::{client_key, within_budget};
use crate::http::request::idempotency_key;
use crate::http::response::{json_response, no_content, HttpResponse};
use crate::http::views::{self, QueueStatusView};

pub async fn join_queue(app: &App, id: &str, client: IpAddr, key: Option<JoinKey>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    within_budget(&app.join_limiter, client_key(client), app.now(), "join_rate_limited")?;
    let (buyer, receipt, created) = join_room(app, &event, key)?;
    app.durable(receipt).await?;
    // A tick may have admitted the buyer while the join was being made durable.
    let status = queue_answer(app, &event, buyer, event.room.peek(buyer, event.supply())?).await?;
    let token = app.engine.queue_token(&event, buyer);
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(code, &json!({ "queue_token": token, "status": status })))
}

pub async fn queue_status(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let status = queue_answer(app, &event, buyer, event.queue_status(buyer)?).await?;
    Ok(json_response(StatusCode::OK, &status))
}

/// A queue status as answered, from one reading of the room: `admitted`
/// always carries the access token signed for the access's end in that same
/// reading, and only once the admission is durable.
async fn queue_answer(app: &App, event: &Event, buyer: BuyerId, status: QueueStatus) -> ApiResult<QueueStatusView> {
    let access = app.engine.access_token(event, buyer, &status);
    if access.is_some() {
        // The admission was logged before the reading; everything logged so far covers it.
        app.durable(app.engine.after_everything_logged(Receipt::NONE)).await?;
    }
    Ok(views::queue_status_view(&status, access))
}

pub async fn leave_queue(app: &App, id: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let event = app.event(id)?;
    let buyer = queue_buyer(app, request, &event)?;
    let receipt = event.room.leave(buyer)?;
    app.durable(app.engine.after_everything_logged(receipt)).await?;
    Ok(no_content())
}

/// A join's key: scoped to the event, so it must carry 128 bits (else 400).
pub fn join_key(headers: &HeaderMap) -> ApiResult<Option<JoinKey>> {
    let Some(text) = idempotency_key(headers)? else { return Ok(None) };
    Ok(Some(JoinKey::parse(&text).map_err(RoomError::from)?))
}

/// Joins, or finds the buyer an earlier join with the same key made. A
/// replay answers once everything logged so far (the first join with it) is durable.
fn join_room(app: &App, event: &Event, key: Option<JoinKey>) -> ApiResult<(BuyerId, Receipt, bool)> {
    let Some(key) = key else {
        let (buyer, receipt) = event.room.join()?;
        return Ok((buyer, receipt, true));
    };
    let joined = event.room.join_with_key(key)?;
    Ok((joined.buyer, app.engine.after_everything_logged(joined.receipt), joined.created))
}
