//! Payment providers, behind one interface ([`PaymentProvider`]): what a
//! checkout answers the buyer's page (a redirect to the test payment page,
//! Stripe's client secret, or nothing: a shop confirms), and how a refund
//! leaves, and how a payment whose hold ended is cancelled (the refund
//! worker drains the engine's outbox through it). Chosen
//! per event (`payment.provider` in the spec); secrets come from the
//! configuration. A provider is called on the checkout and refund paths
//! only, never on the hold path.

mod client;
pub mod refunds;
mod stripe;
mod test_provider;

use std::future::Future;
use std::pin::Pin;

use guichet_engine::payments::Payment;
use guichet_engine::spec::ProviderKind;
use guichet_engine::store::payment_upkeep::CancelRequest;
use guichet_engine::store::payments::RefundRequest;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the buyer's page needs to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckoutAnswer {
    /// Open this page (the test provider's payment page).
    Redirect(String),
    /// Confirm the payment in the browser with Stripe's client secret;
    /// `provider_ref` is the PaymentIntent's id, which deliveries must name.
    ClientSecret { secret: String, provider_ref: String },
    /// No provider call: a trusted shop confirms with its token.
    ShopConfirms,
}

/// A provider call that did not work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderError {
    pub message: String,
    /// The provider refused for good (retrying cannot help).
    pub permanent: bool,
}

impl ProviderError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: false }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), permanent: true }
    }
}

/// One payment provider.
pub trait PaymentProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// What the page needs to pay `payment` (called again for a repeated
    /// checkout: the same payment gets the same answer).
    fn checkout<'a>(&'a self, payment: &'a Payment) -> BoxFuture<'a, Result<CheckoutAnswer, ProviderError>>;
    /// Gives the money back; `idempotency_key` is the same at every attempt.
    fn refund<'a>(
        &'a self,
        refund: &'a RefundRequest,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// Cancels a payment whose hold ended, so no card can be charged any
    /// more; a payment already ended at the provider counts as done.
    fn cancel<'a>(
        &'a self,
        cancel: &'a CancelRequest,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>>;
}

/// The providers this server can use, from its configuration.
pub struct Providers {
    test: test_provider::TestProvider,
    stripe: Option<stripe::StripeProvider>,
    external: test_provider::ExternalProvider,
    /// Whether events may name the `test` provider (a flag: no money moves).
    test_enabled: bool,
    /// Stripe's webhook signing secret (none: webhooks are refused).
    pub stripe_webhook_secret: Option<String>,
    /// Stripe's publishable key, which a checkout hands the buyer's page
    /// with the client secret (none: the page cannot show the card form).
    pub stripe_publishable_key: Option<String>,
}

impl Providers {
    pub fn new(secrets: &PaymentSecrets) -> Self {
        if secrets.stripe_secret_key.is_some() && secrets.stripe_publishable_key.is_none() {
            tracing::warn!("a Stripe secret key without a publishable key: buyers' pages cannot show the card form");
        }
        let stripe = secrets
            .stripe_secret_key
            .as_ref()
            .map(|key| stripe::StripeProvider::new(secrets.stripe_api_base.clone(), key.clone()));
        Self {
            test: test_provider::TestProvider,
            stripe,
            external: test_provider::ExternalProvider,
            test_enabled: secrets.enable_test_provider,
            stripe_webhook_secret: secrets.stripe_webhook_secret.clone(),
            stripe_publishable_key: secrets.stripe_publishable_key.clone(),
        }
    }

    /// The provider of this kind, unless it is not configured (Stripe
    /// without a key, `test` without `--enable-test-provider`).
    pub fn get(&self, kind: ProviderKind) -> Option<&dyn PaymentProvider> {
        match kind {
            ProviderKind::Test => self.test_enabled.then_some(&self.test as &dyn PaymentProvider),
            ProviderKind::Stripe => self.stripe.as_ref().map(|p| p as &dyn PaymentProvider),
            ProviderKind::External => Some(&self.external),
        }
    }
}

/// The payment providers' secrets and addresses: from the configuration
/// only, never from an event's spec or the log.
#[derive(Clone, Default)]
pub struct PaymentSecrets {
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    /// Not a secret: the buyer's page loads Stripe.js with it.
    pub stripe_publishable_key: Option<String>,
    pub stripe_api_base: String,
    /// `--enable-test-provider`: events may sell through the `test` provider.
    pub enable_test_provider: bool,
}

/// Where Stripe's API is reached when nothing says otherwise.
pub const DEFAULT_STRIPE_API_BASE: &str = "http://127.0.0.1:8443";

impl std::fmt::Debug for PaymentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, only whether it is set.
        f.debug_struct("PaymentSecrets")
            .field("stripe_secret_key", &self.stripe_secret_key.is_some())
            .field("stripe_webhook_secret", &self.stripe_webhook_secret.is_some())
            .field("stripe_publishable_key", &self.stripe_publishable_key)
            .field("stripe_api_base", &self.stripe_api_base)
            .field("enable_test_provider", &self.enable_test_provider)
            .finish()
    }
}
