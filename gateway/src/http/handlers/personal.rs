//! Staff erasing a buyer's personal data (the email and name given at
//! checkout): the engine deletes the order's key from the key table, then
//! logs who erased it. The data itself is never in an answer.

use guichet_engine::ids::OrderId;
use guichet_engine::personal::ErasedBy;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::http::app::App;
use crate::http::auth::{require_staff, Permission};
use crate::http::error::{ApiError, ApiResult};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;

/// `DELETE /v1/orders/{order_id}/personal-data`: 200 with the order's
/// `personal_data` after (`erased`, or `none` when none was given); again
/// is 200 and changes nothing.
pub async fn erase(app: &App, reference: &str, request: &Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'o', "order")?;
    let staff = require_staff(app, request, Permission::ErasePersonalData, Some(&event))?;
    // The key's deletion is synced (and, in a cluster, made in the cluster): off the serving threads.
    let (engine, of_event) = (app.engine.clone(), event.clone());
    let erased = tokio::task::spawn_blocking(move || {
        engine.erase_personal_data(&of_event, OrderId(id), ErasedBy::Staff(staff.id))
    })
    .await;
    // A panic there is the engine's own (a broken invariant): it stays one.
    let erased = erased.unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()))?;
    let (state, receipt) = erased.ok_or_else(|| ApiError::not_found("unknown_order", "there is no such order"))?;
    app.durable(receipt).await?;
    let order_id = views::order_ref(&event, OrderId(id));
    Ok(json_response(StatusCode::OK, &json!({ "order_id": order_id, "personal_data": state.name() })))
}
