//! The admin API calls the run makes around the buyers: creating the event,
//! and reading its stats and every order, retried while the server restarts
//! or is busy (the buyers' own calls are in `buyer`).

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;

use crate::api::{Api, Call, Endpoint};

/// How long admin calls at the end (orders, stats) may keep retrying.
const ADMIN_PATIENCE: Duration = Duration::from_secs(60);
/// Orders fetched per page (the contract's maximum).
const ORDERS_PAGE: u32 = 1000;

pub async fn create_event(api: &Api, admin_token: &str, spec: &Value) -> Result<(), String> {
    let call = Call::new(Endpoint::Admin, Method::POST, "/v1/events").token(admin_token).json(spec);
    let reply = api.send(call).await.map_err(|e| format!("creating the event at {}: {e}", api.base()))?;
    match reply.status {
        201 => Ok(()),
        status => Err(format!("creating the event: {status} {}", String::from_utf8_lossy(&reply.body))),
    }
}

/// An admin GET, retried while the server is restarting or busy.
pub async fn admin_get(api: &Api, admin_token: &str, path: &str) -> Result<Value, String> {
    let give_up = Instant::now() + ADMIN_PATIENCE;
    loop {
        let reply = api.send(Call::new(Endpoint::Admin, Method::GET, path).token(admin_token)).await;
        match reply {
            Ok(reply) if reply.status == 200 => return Ok(reply.json()),
            Ok(reply) if reply.status != 503 && reply.status != 429 => {
                return Err(format!("GET {path}: {} {}", reply.status, String::from_utf8_lossy(&reply.body)))
            }
            _ if Instant::now() >= give_up => return Err(format!("GET {path}: no answer within {ADMIN_PATIENCE:?}")),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Orders and stats read when they agree: a purchase a buyer gave up waiting
/// for may still land, so read stats, orders, stats until nothing moved.
pub async fn settled_orders_and_stats(
    api: &Api,
    admin_token: &str,
    event_id: &str,
) -> Result<(Vec<Value>, Value), String> {
    let stats_path = format!("/v1/events/{event_id}/stats");
    let mut before = admin_get(api, admin_token, &stats_path).await?;
    for _ in 0..5 {
        let orders = all_orders(api, admin_token, event_id).await?;
        let after = admin_get(api, admin_token, &stats_path).await?;
        if after["orders"] == before["orders"] && after["inventory"]["total"] == before["inventory"]["total"] {
            return Ok((orders, after));
        }
        before = after;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err("the event's orders kept changing after the run; nothing to audit against".into())
}

async fn all_orders(api: &Api, admin_token: &str, event_id: &str) -> Result<Vec<Value>, String> {
    let mut orders = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/events/{event_id}/orders?limit={ORDERS_PAGE}");
        if let Some(cursor) = &after {
            path.push_str("&after=");
            path.extend(form_urlencoded::byte_serialize(cursor.as_bytes()));
        }
        let page = admin_get(api, admin_token, &path).await?;
        let listed = page["orders"].as_array().cloned().unwrap_or_default();
        let empty = listed.is_empty();
        orders.extend(listed);
        match page["next"].as_str() {
            Some(next) if !empty && after.as_deref() != Some(next) => after = Some(next.to_owned()),
            Some(next) if after.as_deref() == Some(next) => {
                return Err(format!("order paging: the server gave the cursor {next:?} twice"))
            }
            _ => return Ok(orders),
        }
    }
}
