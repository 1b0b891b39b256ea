//! The providers that call no one: `test` (the demo: the test payment page
//! confirms at once through the same path as a provider's webhook; no money
//! moves, so a refund is done at once) and `external` (a trusted shop took
//! the money itself and confirms with its `shop` token; refunds are the
//! shop's, so the outbox entry is done at once and the state shown).

use guichet_engine::payments::Payment;
use guichet_engine::spec::ProviderKind;
use guichet_engine::store::payment_upkeep::CancelRequest;
use guichet_engine::store::payments::RefundRequest;

use super::{BoxFuture, CheckoutAnswer, PaymentProvider, ProviderError};

/// The path of the test payment page for a payment.
pub fn test_page_path(payment_id: &str) -> String {
    format!("/pay/test/{payment_id}")
}

pub struct TestProvider;

impl PaymentProvider for TestProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Test
    }

    fn checkout<'a>(&'a self, payment: &'a Payment) -> BoxFuture<'a, Result<CheckoutAnswer, ProviderError>> {
        Box::pin(async move { Ok(CheckoutAnswer::Redirect(test_page_path(payment.id.as_str()))) })
    }

    fn refund<'a>(&'a self, _: &'a RefundRequest, _: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }

    fn cancel<'a>(&'a self, _: &'a CancelRequest, _: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

pub struct ExternalProvider;

impl PaymentProvider for ExternalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::External
    }

    fn checkout<'a>(&'a self, _: &'a Payment) -> BoxFuture<'a, Result<CheckoutAnswer, ProviderError>> {
        Box::pin(async { Ok(CheckoutAnswer::ShopConfirms) })
    }

    fn refund<'a>(&'a self, _: &'a RefundRequest, _: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }

    fn cancel<'a>(&'a self, _: &'a CancelRequest, _: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}
