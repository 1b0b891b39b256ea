//! Whether a provider's delivery is about one of our payments as we made
//! it: its metadata names our payment, but metadata is whatever the
//! provider payment's creator wrote, so the provider payment named at
//! checkout, the amount and the currency must match too.

use super::Payment;

/// What a provider's delivery says of the payment it is about, checked
/// against what we asked for before it may change anything.
#[derive(Clone, Copy, Debug)]
pub struct DeliveredPayment<'a> {
    /// The provider's payment (a PaymentIntent id).
    pub provider_ref: Option<&'a str>,
    pub amount_cents: Option<u64>,
    /// For a success: what was received (Stripe's `amount_received`).
    pub received_cents: Option<u64>,
    /// As the provider writes it (Stripe: lower case).
    pub currency: Option<&'a str>,
}

/// Why a delivery does not match its payment: it confirms nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMismatch {
    /// We know no provider payment for ours (none was named at checkout).
    NoProviderRef,
    /// It names another provider payment than ours (its metadata names
    /// ours, but metadata is whatever the payment's creator wrote).
    ProviderRef,
    Amount,
    Currency,
}

impl DeliveryMismatch {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            DeliveryMismatch::NoProviderRef => "no_provider_ref",
            DeliveryMismatch::ProviderRef => "provider_ref",
            DeliveryMismatch::Amount => "amount",
            DeliveryMismatch::Currency => "currency",
        }
    }
}

impl Payment {
    /// Whether a delivery is about this very payment: the provider payment
    /// named at checkout, our amount (received in full, for a success) and
    /// our currency.
    pub fn check_delivery(&self, delivered: &DeliveredPayment<'_>, success: bool) -> Result<(), DeliveryMismatch> {
        let ours = self.provider_ref.as_deref().ok_or(DeliveryMismatch::NoProviderRef)?;
        if delivered.provider_ref != Some(ours) {
            return Err(DeliveryMismatch::ProviderRef);
        }
        let amount_ok = delivered.amount_cents == Some(self.amount_cents)
            && (!success || delivered.received_cents == Some(self.amount_cents));
        if !amount_ok {
            return Err(DeliveryMismatch::Amount);
        }
        if !delivered.currency.is_some_and(|currency| currency.eq_ignore_ascii_case(&self.currency)) {
            return Err(DeliveryMismatch::Currency);
        }
        Ok(())
    }
}
