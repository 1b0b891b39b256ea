//! Payments for events that name a provider: a payment is started for a
//! hold (checkout), then confirmed (the hold becomes an order), failed or
//! cancelled (the hold is released), or found too late (the hold had ended:
//! the money goes back through a refund in the outbox). The book also
//! remembers the provider's webhook event ids, so a delivery made twice
//! changes nothing. Plain state changed only by [`PaymentBook::apply`], live
//! and on replay; the engine (`store::payments`) decides the records and ties
//! them to the inventory.
//!
//! The rules for deliveries in any order (a payment's state, then what
//! arrives):
//! - pending (or declined) + succeeded: the order is made (one per payment);
//! - pending (or declined) + declined (`payment_failed`): the payment stays
//!   open and the hold kept, with the reason shown: the provider lets the
//!   buyer try another card on the same payment until the hold ends;
//! - pending (or declined) + cancelled: the hold is released;
//! - a hold that ends (runs out, or is released) under an open payment: the
//!   payment expires and the provider's payment is cancelled through the
//!   outbox, so no card can be charged for seats the buyer no longer holds;
//! - confirmed + succeeded: the same order (nothing changes);
//! - confirmed + failed or cancelled: ignored (an earlier attempt's report;
//!   the money moved, the order stands);
//! - cancelled or expired + succeeded, or a hold that ended before the
//!   confirmation: refunded;
//! - cancelled or expired + failed, refunded + anything: nothing changes.

mod delivery;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::commit::ApplyError;
use crate::ids::{BuyerId, HoldId, OrderId};
use crate::limits::{MAX_PAYMENTS, MAX_WEBHOOK_EVENTS_KEPT, WEBHOOK_EVENT_KEPT_S};
use crate::spec::ProviderKind;
use crate::time::UnixTimeMs;
pub use delivery::{DeliveredPayment, DeliveryMismatch};

/// Our id of a payment (`pay_` and 32 hex digits, from the engine's entropy):
/// what the provider is given as metadata and echoes in its webhooks, and
/// the `payment_ref` of the order it makes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PaymentId(pub Box<str>);

impl PaymentId {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        PaymentId(format!("pay_{hex}").into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The idempotency key of the purchase a confirmation makes: the same
    /// payment always asks for the same order.
    pub fn purchase_key(&self) -> String {
        format!("payment:{}", self.0)
    }

    /// The idempotency key of this payment's refund, sent to the provider.
    pub fn refund_key(&self) -> String {
        format!("refund-{}", self.0)
    }

    /// The idempotency key of the cancellation of this payment at the
    /// provider (its hold ended while it was open).
    pub fn cancel_key(&self) -> String {
        format!("cancel-{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentState {
    Pending,
    Confirmed {
        order: OrderId,
        at: UnixTimeMs,
    },
    /// Failed (or cancelled): its hold was released.
    Failed {
        at: UnixTimeMs,
        cancelled: bool,
    },
    /// The money came after the hold had ended (or after a failure): it is
    /// refunded through the outbox entry with `PaymentId::refund_key`.
    Refunding {
        at: UnixTimeMs,
    },
    /// Still open: the provider declined a card (`reason`, its code) and the
    /// buyer may try another until the hold ends.
    Declined {
        at: UnixTimeMs,
        reason: Box<str>,
    },
    /// The hold ended while the payment was open: the provider's payment is
    /// cancelled through the outbox entry with `PaymentId::cancel_key`.
    Expired {
        at: UnixTimeMs,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    /// The event's number (as hold and order references carry it).
    pub event: u32,
    pub hold: HoldId,
    pub buyer: BuyerId,
    pub provider: ProviderKind,
    pub amount_cents: u64,
    pub currency: Box<str>,
    pub started_at: UnixTimeMs,
    /// The provider's own reference once it named one (a PaymentIntent id).
    pub provider_ref: Option<Box<str>>,
    pub state: PaymentState,
}

/// Every change to the payments, as written to the log. `provider_event` is
/// the webhook delivery's event id, remembered so a duplicate changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentRecord {
    Started {
        payment: Payment,
    },
    Confirmed {
        payment: PaymentId,
        order: OrderId,
        at: UnixTimeMs,
        provider_event: Option<Box<str>>,
        provider_ref: Option<Box<str>>,
    },
    Failed {
        payment: PaymentId,
        at: UnixTimeMs,
        cancelled: bool,
        provider_event: Option<Box<str>>,
    },
    RefundQueued {
        payment: PaymentId,
        at: UnixTimeMs,
        provider_event: Option<Box<str>>,
        provider_ref: Option<Box<str>>,
    },
    /// A delivery that changed nothing but is remembered, so its retries are
    /// answered at once.
    EventSeen {
        provider_event: Box<str>,
        at: UnixTimeMs,
    },
    /// The provider declined a card; the payment stays open.
    Declined {
        payment: PaymentId,
        at: UnixTimeMs,
        reason: Box<str>,
        provider_event: Option<Box<str>>,
    },
    /// The payment's hold ended while it was open.
    Expired {
        payment: PaymentId,
        at: UnixTimeMs,
    },
    /// The provider named its payment (a PaymentIntent id) at checkout:
    /// deliveries must name the same one.
    ProviderRefNamed {
        payment: PaymentId,
        provider_ref: Box<str>,
    },
    /// Settled payments past their retention, forgotten (see
    /// `PaymentBook::forgettable`).
    Forgotten {
        payments: Vec<PaymentId>,
        at: UnixTimeMs,
    },
}

impl PaymentRecord {
    /// The payment a record changes (none: a delivery only remembered).
    fn payment(&self) -> Option<&PaymentId> {
        match self {
            PaymentRecord::Started { payment } => Some(&payment.id),
            PaymentRecord::Confirmed { payment, .. }
            | PaymentRecord::Failed { payment, .. }
            | PaymentRecord::RefundQueued { payment, .. }
            | PaymentRecord::Declined { payment, .. }
            | PaymentRecord::Expired { payment, .. }
            | PaymentRecord::ProviderRefNamed { payment, .. } => Some(payment),
            PaymentRecord::EventSeen { .. } | PaymentRecord::Forgotten { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("this event takes no payment: purchase the hold with a payment_ref")]
    NoProvider,
    #[error("this event's payments are confirmed by the provider: start a checkout")]
    PaymentRequired,
    #[error("this hold's payment is {state}")]
    PaymentNotPending { state: &'static str },
    #[error("there is no such payment")]
    UnknownPayment,
    #[error("the engine holds as many payments as it can ({MAX_PAYMENTS})")]
    TooManyPayments,
    #[error("a provider id is 1 to {} printable characters", crate::limits::MAX_PROVIDER_ID_LEN)]
    BadProviderId,
    #[error("the provider named another payment for this checkout than before")]
    ProviderRefMismatch,
    #[error("this buyer has as many payments under way as allowed ({})", crate::limits::MAX_OPEN_PAYMENTS_PER_BUYER)]
    TooManyOpenPayments,
}

impl PaymentError {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentError::NoProvider => "no_payment_provider",
            PaymentError::PaymentRequired => "payment_required",
            PaymentError::PaymentNotPending { .. } => "payment_not_pending",
            PaymentError::UnknownPayment => "unknown_payment",
            PaymentError::TooManyPayments => "too_many_payments",
            PaymentError::BadProviderId => "bad_provider_id",
            PaymentError::ProviderRefMismatch => "provider_ref_mismatch",
            PaymentError::TooManyOpenPayments => "too_many_open_payments",
        }
    }
}

impl PaymentState {
    /// The state's name in the API.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Confirmed { .. } => "confirmed",
            PaymentState::Failed { cancelled: false, .. } => "failed",
            PaymentState::Failed { cancelled: true, .. } => "cancelled",
            PaymentState::Refunding { .. } => "refunded",
            // Still open: the decline is shown beside the state.
            PaymentState::Declined { .. } => "pending",
            PaymentState::Expired { .. } => "expired",
        }
    }

    /// When the payment ended without an order (none: open or confirmed).
    pub fn ended_at(&self) -> Option<UnixTimeMs> {
        match self {
            PaymentState::Failed { at, .. } | PaymentState::Expired { at } | PaymentState::Refunding { at } => {
                Some(*at)
            }
            PaymentState::Pending | PaymentState::Declined { .. } | PaymentState::Confirmed { .. } => None,
        }
    }

    /// Open: the buyer may still pay (pending, or a card declined).
    pub fn is_open(&self) -> bool {
        matches!(self, PaymentState::Pending | PaymentState::Declined { .. })
    }
}

/// Every payment, by id and by hold, and the webhook event ids seen.
#[derive(Debug, Default)]
pub struct PaymentBook {
    payments: HashMap<PaymentId, Payment>,
    by_hold: HashMap<(u32, HoldId), PaymentId>,
    seen: HashSet<Box<str>>,
    /// Seen ids oldest first, with when: forgotten after `WEBHOOK_EVENT_KEPT_S`
    /// or past `MAX_WEBHOOK_EVENTS_KEPT`.
    seen_order: VecDeque<(Box<str>, UnixTimeMs)>,
    /// The open payments (pending or declined), so the sweep that ends them
    /// looks at those only; derived from `payments`, never stored.
    open: BTreeSet<PaymentId>,
    /// Open payments per buyer of an event; derived as `open` is.
    open_by_buyer: HashMap<(u32, BuyerId), u32>,
    /// Payments that ended without an order (failed, cancelled, expired,
    /// refunded), by when they ended: the ones retention may forget, oldest
    /// first; derived as `open` is.
    ended: BTreeSet<(UnixTimeMs, PaymentId)>,
}

/// The book as plain data, for snapshots.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PaymentBookSnapshot {
    pub payments: Vec<Payment>,
    pub seen: Vec<(Box<str>, UnixTimeMs)>,
}

impl PaymentBook {
    pub fn get(&self, id: &str) -> Option<&Payment> {
        self.payments.get(&PaymentId(id.into()))
    }

    pub fn for_hold(&self, event: u32, hold: HoldId) -> Option<&Payment> {
        self.by_hold.get(&(event, hold)).and_then(|id| self.payments.get(id))
    }

    /// The open payments (pending or declined), in id order.
    pub fn open_payments(&self) -> impl Iterator<Item = &Payment> {
        self.open.iter().filter_map(|id| self.payments.get(id))
    }

    /// How many payments of `buyer` at event number `event` are open.
    pub fn open_for_buyer(&self, event: u32, buyer: BuyerId) -> u32 {
        self.open_by_buyer.get(&(event, buyer)).copied().unwrap_or(0)
    }

    pub fn has_seen(&self, provider_event: &str) -> bool {
        self.seen.contains(provider_event)
    }

    /// Every payment, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Payment> {
        self.payments.values()
    }

    pub fn is_full(&self) -> bool {
        self.payments.len() >= MAX_PAYMENTS
    }

    pub fn len(&self) -> usize {
        self.payments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payments.is_empty()
    }

    /// The one function that changes the book, live and on replay.
    pub fn apply(&mut self, record: &PaymentRecord) -> Result<(), ApplyError> {
        let ended_before = record.payment().and_then(|id| self.payments.get(id)).and_then(|p| p.state.ended_at());
        self.change(record)?;
        if let Some(id) = record.payment() {
            if let Some(at) = ended_before {
                self.ended.remove(&(at, id.clone()));
            }
            self.index(id);
        }
        Ok(())
    }

    /// Keeps the derived indexes true for `id` (an earlier `ended` entry of
    /// it is the caller's to remove).
    fn index(&mut self, id: &PaymentId) {
        let Some(payment) = self.payments.get(id) else { return };
        let key = (payment.event, payment.buyer);
        if let Some(at) = payment.state.ended_at() {
            self.ended.insert((at, id.clone()));
        }
        if payment.state.is_open() {
            if self.open.insert(id.clone()) {
                *self.open_by_buyer.entry(key).or_default() += 1;
            }
        } else if self.open.remove(id) {
            if let Some(count) = self.open_by_buyer.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    self.open_by_buyer.remove(&key);
                }
            }
        }
    }

    fn change(&mut self, record: &PaymentRecord) -> Result<(), ApplyError> {
        match record {
            PaymentRecord::Forgotten { payments, .. } => self.forget(payments)?,
            PaymentRecord::Started { payment } => {
                if self.payments.contains_key(&payment.id) || self.by_hold.contains_key(&(payment.event, payment.hold))
                {
                    return Err(ApplyError(format!("payment {} or one for its hold exists", payment.id.0)));
                }
                self.by_hold.insert((payment.event, payment.hold), payment.id.clone());
                self.payments.insert(payment.id.clone(), payment.clone());
            }
            PaymentRecord::Confirmed { payment, order, at, provider_event, provider_ref } => {
                let found = self.open_or_refused(payment, false)?;
                found.state = PaymentState::Confirmed { order: *order, at: *at };
                found.provider_ref = provider_ref.clone().or(found.provider_ref.take());
                self.remember(provider_event, *at);
            }
            PaymentRecord::Failed { payment, at, cancelled, provider_event } => {
                let found = self.open_or_refused(payment, false)?;
                found.state = PaymentState::Failed { at: *at, cancelled: *cancelled };
                self.remember(provider_event, *at);
            }
            PaymentRecord::RefundQueued { payment, at, provider_event, provider_ref } => {
                let found = self.open_or_refused(payment, true)?;
                found.state = PaymentState::Refunding { at: *at };
                found.provider_ref = provider_ref.clone().or(found.provider_ref.take());
                self.remember(provider_event, *at);
            }
            PaymentRecord::EventSeen { provider_event, at } => self.remember(&Some(provider_event.clone()), *at),
            PaymentRecord::Declined { payment, at, reason, provider_event } => {
                let found = self.open_or_refused(payment, false)?;
                found.state = PaymentState::Declined { at: *at, reason: reason.clone() };
                self.remember(provider_event, *at);
            }
            PaymentRecord::Expired { payment, at } => {
                let found = self.open_or_refused(payment, false)?;
                found.state = PaymentState::Expired { at: *at };
            }
            PaymentRecord::ProviderRefNamed { payment, provider_ref } => {
                let found = self.payments.get_mut(payment);
                let found = found.ok_or_else(|| ApplyError(format!("unknown payment {}", payment.0)))?;
                match &found.provider_ref {
                    Some(named) if named != provider_ref => {
                        return Err(ApplyError(format!("payment {} has provider ref {named}", payment.0)))
                    }
                    _ => found.provider_ref = Some(provider_ref.clone()),
                }
            }
        }
        Ok(())
    }

    /// Forgets settled payments; refuses (changing nothing) if one is open,
    /// confirmed, or unknown.
    fn forget(&mut self, ids: &[PaymentId]) -> Result<(), ApplyError> {
        for id in ids {
            let payment = self.payments.get(id).ok_or_else(|| ApplyError(format!("unknown payment {}", id.0)))?;
            if payment.state.ended_at().is_none() {
                return Err(ApplyError(format!("payment {} is {}: not settled", id.0, payment.state.name())));
            }
        }
        for id in ids {
            if let Some(payment) = self.payments.remove(id) {
                self.by_hold.remove(&(payment.event, payment.hold));
                if let Some(at) = payment.state.ended_at() {
                    self.ended.remove(&(at, id.clone()));
                }
            }
        }
        Ok(())
    }

    /// Payments that ended without an order at or before `before`, oldest
    /// first: those retention may forget (the engine also checks their
    /// outbox entries are done).
    pub fn ended_before(&self, before: UnixTimeMs) -> impl Iterator<Item = &Payment> {
        self.ended.iter().take_while(move |(at, _)| *at <= before).filter_map(|(_, id)| self.payments.get(id))
    }

    /// A payment still open (or, for a refund, ended without money too:
    /// failed, cancelled or expired).
    fn open_or_refused(&mut self, id: &PaymentId, ended_too: bool) -> Result<&mut Payment, ApplyError> {
        let found = self.payments.get_mut(id).ok_or_else(|| ApplyError(format!("unknown payment {}", id.0)))?;
        match found.state {
            ref state if state.is_open() => Ok(found),
            PaymentState::Failed { .. } | PaymentState::Expired { .. } if ended_too => Ok(found),
            ref other => Err(ApplyError(format!("payment {} is {}", id.0, other.name()))),
        }
    }

    fn remember(&mut self, provider_event: &Option<Box<str>>, at: UnixTimeMs) {
        let Some(event) = provider_event else { return };
        while let Some((oldest, seen_at)) = self.seen_order.front() {
            let too_old = seen_at.plus_s(WEBHOOK_EVENT_KEPT_S) <= at;
            if !too_old && self.seen_order.len() < MAX_WEBHOOK_EVENTS_KEPT {
                break;
            }
            self.seen.remove(oldest);
            self.seen_order.pop_front();
        }
        if self.seen.insert(event.clone()) {
            self.seen_order.push_back((event.clone(), at));
        }
    }

    pub fn snapshot(&self) -> PaymentBookSnapshot {
        let mut payments: Vec<Payment> = self.payments.values().cloned().collect();
        payments.sort_by(|a, b| a.id.cmp(&b.id));
        PaymentBookSnapshot { payments, seen: self.seen_order.iter().cloned().collect() }
    }

    pub fn restore(snapshot: PaymentBookSnapshot) -> Self {
        let mut book = PaymentBook::default();
        for payment in snapshot.payments {
            let id = payment.id.clone();
            book.by_hold.insert((payment.event, payment.hold), id.clone());
            book.payments.insert(id.clone(), payment);
            book.index(&id);
        }
        for (event, at) in snapshot.seen {
            book.seen.insert(event.clone());
            book.seen_order.push_back((event, at));
        }
        book
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(book: &mut PaymentBook, hold: u64) -> PaymentId {
        let id = PaymentId::from_random([hold as u8; 16]);
        let payment = Payment {
            id: id.clone(),
            event: 0,
            hold: HoldId(hold),
            buyer: BuyerId(1),
            provider: ProviderKind::Stripe,
            amount_cents: 1000,
            currency: "CAD".into(),
            started_at: UnixTimeMs(0),
            provider_ref: None,
            state: PaymentState::Pending,
        };
        book.apply(&PaymentRecord::Started { payment }).unwrap();
        id
    }

    #[test]
    fn a_payment_is_confirmed_once_and_its_delivery_remembered() {
        let mut book = PaymentBook::default();
        let id = started(&mut book, 1);
        let confirmed = PaymentRecord::Confirmed {
            payment: id.clone(),
            order: OrderId(7),
            at: UnixTimeMs(5),
            provider_event: Some("evt_1".into()),
            provider_ref: Some("pi_1".into()),
        };
        book.apply(&confirmed).unwrap();
        assert!(book.has_seen("evt_1"));
        assert_eq!(book.get(id.as_str()).unwrap().state.name(), "confirmed");
        assert!(book.apply(&confirmed).is_err(), "a second confirmation record does not fit");
        let failed = PaymentRecord::Failed { payment: id, at: UnixTimeMs(6), cancelled: false, provider_event: None };
        assert!(book.apply(&failed).is_err(), "a confirmed payment never fails");
    }

    #[test]
    fn a_failed_payment_may_still_be_refunded() {
        let mut book = PaymentBook::default();
        let id = started(&mut book, 2);
        book.apply(&PaymentRecord::Failed {
            payment: id.clone(),
            at: UnixTimeMs(1),
            cancelled: true,
            provider_event: None,
        })
        .unwrap();
        let refund = PaymentRecord::RefundQueued {
            payment: id.clone(),
            at: UnixTimeMs(2),
            provider_event: None,
            provider_ref: None,
        };
        book.apply(&refund).unwrap();
        assert_eq!(book.get(id.as_str()).unwrap().state, PaymentState::Refunding { at: UnixTimeMs(2) });
    }

    #[test]
    fn webhook_ids_are_forgotten_after_their_time_and_survive_a_snapshot() {
        let mut book = PaymentBook::default();
        book.apply(&PaymentRecord::EventSeen { provider_event: "evt_old".into(), at: UnixTimeMs(0) }).unwrap();
        let restored =
            PaymentBook::restore(crate::codec::decode(&crate::codec::encode(&book.snapshot()).unwrap()).unwrap());
        assert!(restored.has_seen("evt_old"));
        let later = UnixTimeMs(0).plus_s(WEBHOOK_EVENT_KEPT_S);
        book.apply(&PaymentRecord::EventSeen { provider_event: "evt_new".into(), at: later }).unwrap();
        assert!(!book.has_seen("evt_old") && book.has_seen("evt_new"));
    }
}
