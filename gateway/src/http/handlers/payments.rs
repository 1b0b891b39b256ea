//! Payments: a buyer's checkout (access token) starts the payment of a hold
//! and answers what the page needs to pay; the provider's webhook (signed,
//! verified on the raw bytes) confirms or fails it; the test provider's
//! payment page confirms through the same engine path as the webhook.

use guichet_engine::ids::HoldId;
use guichet_engine::json_fields;
use guichet_engine::limits::MAX_WEBHOOK_BODY_BYTES;
use guichet_engine::payments::{DeliveredPayment, DeliveryMismatch, PaymentError};
use guichet_engine::personal::PersonalData;
use guichet_engine::spec::ProviderKind;
use guichet_engine::store::{ConfirmOutcome, Confirmation};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::app::App;
use crate::http::auth::{access_buyer, verify_webhook};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{read_body, read_optional_json};
use crate::http::response::{json_response, HttpResponse};
use crate::http::views;
use crate::payments::CheckoutAnswer;

/// The checkout body: empty, `{}`, or the buyer's `email` and `name`
/// (checked, then kept sealed: see the engine's `personal`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    #[serde(default, deserialize_with = "json_fields::present")]
    email: Option<String>,
    #[serde(default, deserialize_with = "json_fields::present")]
    name: Option<String>,
}

pub async fn checkout(app: &App, reference: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let (event, id) = app.event_of_ref(reference, 'h', "hold")?;
    let buyer = access_buyer(app, &request, &event)?;
    let body = read_optional_json::<CheckoutBody>(request, app.max_body_bytes).await?.unwrap_or_default();
    let personal = PersonalData::checked(body.email, body.name)?;
    let provider_kind = event.valid.spec.payment_provider().ok_or(PaymentError::NoProvider)?;
    let provider = app.providers.get(provider_kind).ok_or_else(|| {
        ApiError::unavailable("provider_not_configured", "this server has no key for the event's payment provider")
            .retry_after(60)
    })?;
    let (payment, mut receipt) = app.engine.start_payment(&event, HoldId(id), buyer)?;
    if let Some(personal) = personal {
        // The key is written and synced to the key table: off the serving threads.
        let (engine, for_key) = (app.engine.clone(), payment.clone());
        let kept = tokio::task::spawn_blocking(move || engine.keep_personal_data(&for_key, &personal)).await;
        // A panic there is the engine's own (a broken invariant): it stays one.
        receipt = receipt.max(kept.unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()))?);
    }
    app.durable(receipt).await?;
    let answer = provider.checkout(&payment).await.map_err(|error| {
        tracing::warn!(payment = payment.id.as_str(), "checkout: {}", error.message);
        ApiError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", "the payment provider did not answer; retry")
            .retry_after(5)
    })?;
    if let CheckoutAnswer::ClientSecret { provider_ref, .. } = &answer {
        // Kept before the page can pay: deliveries must name this payment intent.
        let receipt = app.engine.name_provider_ref(payment.id.as_str(), provider_ref).map_err(|error| {
            tracing::warn!(payment = payment.id.as_str(), "checkout: the provider's payment id: {error}");
            ApiError::from(error)
        })?;
        app.durable(receipt).await?;
    }
    let payment = app.engine.payment(payment.id.as_str()).unwrap_or(payment);
    let hold = event.inventory.hold_info(HoldId(id));
    let mut view = json!({ "payment": views::payment_json(&app.engine, &event, &payment) });
    view["hold_expires_at"] = hold.map(|h| h.expires_at.to_rfc3339()).into();
    view["payment_token"] = app.engine.payment_token(&payment).into();
    match answer {
        CheckoutAnswer::Redirect(url) => view["redirect_url"] = url.into(),
        CheckoutAnswer::ClientSecret { secret, .. } => {
            view["client_secret"] = secret.into();
            // What the page loads Stripe.js with to show the card form.
            if let Some(key) = &app.providers.stripe_publishable_key {
                view["publishable_key"] = key.as_str().into();
            }
        }
        CheckoutAnswer::ShopConfirms => {}
    }
    Ok(json_response(StatusCode::OK, &view))
}

/// Stripe's webhook: signature first (on the raw bytes), then the event.
/// The provider's body is read loosely (its fields grow without notice).
pub async fn webhook(app: &App, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let secret = app.providers.stripe_webhook_secret.clone().ok_or_else(|| {
        ApiError::unavailable("provider_not_configured", "this server has no webhook signing secret").retry_after(60)
    })?;
    let headers = request.headers().clone();
    let body = read_body(request, MAX_WEBHOOK_BODY_BYTES).await?;
    verify_webhook(&headers, &body, &secret, app.now().0 / 1000)?;
    let delivery: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the delivery is not JSON: {e}")))?;
    let object = &delivery["data"]["object"];
    let (Some(kind), Some(payment)) = (delivery["type"].as_str(), object["metadata"]["payment_id"].as_str()) else {
        return Ok(received("ignored"));
    };
    let confirmation =
        Confirmation { payment, provider_event: delivery["id"].as_str(), provider_ref: object["id"].as_str() };
    let acted_on = ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"];
    if !acted_on.contains(&kind) {
        return Ok(received("ignored"));
    }
    if let Some(mismatch) = mismatch(app, object, payment, kind == "payment_intent.succeeded") {
        // Signed, so the provider's, but not about our payment as we made it:
        // it confirms nothing. 2xx: a retry would not change it, and days of
        // failing deliveries would get the endpoint disabled for every payment.
        tracing::warn!(
            payment,
            provider_ref = object["id"].as_str().unwrap_or_default(),
            event = delivery["id"].as_str().unwrap_or_default(),
            "webhook delivery rejected: {} does not match the payment",
            mismatch.reason()
        );
        app.metrics.webhook_rejected(mismatch.reason());
        return Ok(received("rejected"));
    }
    let outcome = match kind {
        "payment_intent.succeeded" => app.engine.confirm_payment(confirmation)?,
        "payment_intent.payment_failed" => app.engine.decline_payment(confirmation, decline_code(object))?,
        "payment_intent.canceled" => app.engine.fail_payment(confirmation, true)?,
        _ => return Ok(received("ignored")),
    };
    let name = settle(app, &outcome).await?;
    Ok(received(name))
}

/// The test payment page's Pay button: the payment's buyer (access token)
/// confirms a payment of the `test` provider, through the same path as a
/// provider's webhook.
pub async fn test_confirm(app: &App, payment_id: &str, request: Request<Incoming>) -> ApiResult<HttpResponse> {
    let unknown = || ApiError::not_found("unknown_payment", "there is no such test payment");
    // Only while the server takes the test provider (`--enable-test-provider`).
    app.providers.get(ProviderKind::Test).ok_or_else(unknown)?;
    let payment = app.engine.payment(payment_id).filter(|p| p.provider == ProviderKind::Test).ok_or_else(unknown)?;
    let event = app.engine.event_by_number(guichet_engine::event::EventNumber(payment.event)).ok_or_else(unknown)?;
    if access_buyer(app, &request, &event)? != payment.buyer {
        return Err(ApiError::forbidden("not_yours", "this payment belongs to another buyer"));
    }
    let confirmation = Confirmation { payment: payment_id, provider_event: None, provider_ref: None };
    let outcome = app.engine.confirm_payment(confirmation)?;
    settle(app, &outcome).await?;
    let payment = app.engine.payment(payment_id).ok_or_else(unknown)?;
    let mut view = json!({ "payment": views::payment_json(&app.engine, &event, &payment) });
    if let ConfirmOutcome::Ordered { order, .. } = &outcome {
        view["order"] = views::order_json(&app.engine, &event, order);
    }
    Ok(json_response(StatusCode::OK, &view))
}

/// Waits until what a delivery changed is durable; names the outcome.
async fn settle(app: &App, outcome: &ConfirmOutcome) -> ApiResult<&'static str> {
    let (name, receipt) = match outcome {
        ConfirmOutcome::Duplicate => ("duplicate", None),
        ConfirmOutcome::UnknownPayment => ("ignored", None),
        ConfirmOutcome::Ordered { receipt, .. } => ("ordered", Some(*receipt)),
        ConfirmOutcome::Unchanged { receipt, .. } => ("unchanged", Some(*receipt)),
        ConfirmOutcome::Released { receipt, .. } => ("released", Some(*receipt)),
        ConfirmOutcome::Declined { receipt, .. } => ("declined", Some(*receipt)),
        ConfirmOutcome::Refunding { receipt, .. } => ("refunding", Some(*receipt)),
    };
    // A duplicate's first delivery may still be on its way to the disk.
    let receipt = app.engine.after_everything_logged(receipt.unwrap_or_default());
    app.durable(receipt).await?;
    Ok(name)
}

/// Why a delivery about one of our payments does not match it (none for a
/// payment we do not know: that is `ignored`).
fn mismatch(app: &App, intent: &Value, payment: &str, success: bool) -> Option<DeliveryMismatch> {
    let ours = app.engine.payment(payment)?;
    let delivered = DeliveredPayment {
        provider_ref: intent["id"].as_str(),
        amount_cents: intent["amount"].as_u64(),
        received_cents: intent["amount_received"].as_u64(),
        currency: intent["currency"].as_str(),
    };
    ours.check_delivery(&delivered, success).err()
}

/// Why the provider declined: its decline code, else its error code.
fn decline_code(intent: &Value) -> Option<&str> {
    let error = &intent["last_payment_error"];
    error["decline_code"].as_str().or(error["code"].as_str())
}

fn received(outcome: &str) -> HttpResponse {
    json_response(StatusCode::OK, &json!({ "received": true, "outcome": outcome }))
}
