//! Stripe (or a Stripe-compatible provider): a checkout creates a
//! PaymentIntent (form-encoded, our payment id in its metadata, which every
//! webhook about it echoes) and answers its client secret and id; a refund
//! is `POST /v1/refunds` for the PaymentIntent; a payment whose hold ended
//! is cancelled with `POST /v1/payment_intents/{id}/cancel`. Each carries an
//! `Idempotency-Key` that derives from our payment, so a repeated call makes
//! nothing twice.

use guichet_engine::payments::Payment;
use guichet_engine::spec::ProviderKind;
use guichet_engine::store::payment_upkeep::CancelRequest;
use guichet_engine::store::payments::RefundRequest;
use hyper::StatusCode;

use super::client::post_form;
use super::{BoxFuture, CheckoutAnswer, PaymentProvider, ProviderError};

pub struct StripeProvider {
    api_base: String,
    secret_key: String,
}

impl StripeProvider {
    pub fn new(api_base: String, secret_key: String) -> Self {
        Self { api_base: api_base.trim_end_matches('/').to_owned(), secret_key }
    }

    async fn create_intent(&self, payment: &Payment) -> Result<CheckoutAnswer, ProviderError> {
        let amount = payment.amount_cents.to_string();
        let currency = payment.currency.to_ascii_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("metadata[payment_id]", payment.id.as_str()),
            ("automatic_payment_methods[enabled]", "true"),
        ];
        let key = format!("checkout-{}", payment.id.as_str());
        let (status, body) = post_form(&self.api_base, "/v1/payment_intents", &self.secret_key, &key, &form).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            return Err(refusal("creating the payment intent", status, &answer));
        }
        match (answer["client_secret"].as_str(), answer["id"].as_str()) {
            (Some(secret), Some(id)) => {
                Ok(CheckoutAnswer::ClientSecret { secret: secret.to_owned(), provider_ref: id.to_owned() })
            }
            _ => Err(ProviderError::retry("the payment intent came back without its id or client_secret")),
        }
    }

    async fn cancel_intent(&self, cancel: &CancelRequest, key: &str) -> Result<(), ProviderError> {
        // Ids come from the provider's answer; refuse one that would change the path.
        if !cancel.provider_ref.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ProviderError::permanent(format!("not a payment intent id: {:?}", cancel.provider_ref)));
        }
        let path = format!("/v1/payment_intents/{}/cancel", cancel.provider_ref);
        let form = [("cancellation_reason", "abandoned")];
        let (status, body) = post_form(&self.api_base, &path, &self.secret_key, key, &form).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        // Already succeeded (its success is refunded) or already cancelled:
        // nothing is left to cancel.
        if status.is_success() || answer["error"]["code"] == "payment_intent_unexpected_state" {
            return Ok(());
        }
        Err(refusal("cancelling the payment intent", status, &answer))
    }

    async fn refund_intent(&self, refund: &RefundRequest, key: &str) -> Result<(), ProviderError> {
        let intent = refund
            .provider_ref
            .as_deref()
            .ok_or_else(|| ProviderError::permanent("no payment intent to refund (the confirmation named none)"))?;
        // The amount is stated, so a refund never gives back more than the order's.
        let amount = refund.amount_cents.to_string();
        let form = [
            ("payment_intent", intent),
            ("amount", amount.as_str()),
            ("metadata[payment_id]", refund.payment_id.as_str()),
        ];
        let (status, body) = post_form(&self.api_base, "/v1/refunds", &self.secret_key, key, &form).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_success() || answer["error"]["code"] == "charge_already_refunded" {
            return Ok(());
        }
        Err(refusal("refunding", status, &answer))
    }
}

/// A provider's refusal: for good on a 4xx other than 401, 403, 409 and
/// 429 (the request is wrong; an operator must look), else worth retrying.
/// 401 and 403 are our misconfiguration (a wrong, rolled or restricted
/// key), not the buyer's: retried with backoff while an operator fixes the
/// key (the outbox metrics and the log show it), not given up at once.
fn refusal(what: &str, status: StatusCode, answer: &serde_json::Value) -> ProviderError {
    let message = answer["error"]["message"].as_str().unwrap_or("no message");
    let text = format!("{what}: the provider answered {status}: {message}");
    let our_key = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if our_key {
        tracing::error!("{text} (check --stripe-secret-key: retrying with backoff)");
    }
    let transient = our_key
        || status.is_server_error()
        || status == StatusCode::CONFLICT
        || status == StatusCode::TOO_MANY_REQUESTS;
    if transient {
        ProviderError::retry(text)
    } else {
        ProviderError::permanent(text)
    }
}

impl PaymentProvider for StripeProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Stripe
    }

    fn checkout<'a>(&'a self, payment: &'a Payment) -> BoxFuture<'a, Result<CheckoutAnswer, ProviderError>> {
        Box::pin(self.create_intent(payment))
    }

    fn refund<'a>(&'a self, refund: &'a RefundRequest, key: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.refund_intent(refund, key))
    }

    fn cancel<'a>(&'a self, cancel: &'a CancelRequest, key: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.cancel_intent(cancel, key))
    }
}
