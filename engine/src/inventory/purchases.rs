//! Orders: turning a live hold into one (the same `Idempotency-Key` returns
//! the same order), and cancelling one.

use super::buyers::{HoldStatus, Order, OrderStatus};
use super::record::{HoldEndReason, InventoryRecord};
use super::{check_idempotency_key, Inventory, InventoryError, Locked, Receipt, Requester};
use crate::ids::{BuyerId, HoldId, OrderId};
use crate::limits::{MAX_ORDERS_PER_BUYER, MAX_PAYMENT_REF_LEN};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub order: Order,
    /// False when an earlier request with the same Idempotency-Key made it.
    pub created: bool,
    pub receipt: Receipt,
    /// The record that made the order (none for a replayed request): what
    /// the event's room follows, as on replay.
    pub(crate) record: Option<InventoryRecord>,
}

impl Inventory {
    /// Turns a live hold into an order. The same `idempotency_key` (in the
    /// requester's scope) returns the same order, whatever happened since.
    pub fn purchase(
        &self,
        hold_id: HoldId,
        requester: Requester,
        idempotency_key: &str,
        payment_ref: &str,
    ) -> Result<Purchase, InventoryError> {
        check_idempotency_key(idempotency_key)?;
        check_payment_ref(payment_ref)?;
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(hold_id.shard(), InventoryError::UnknownHold)?;
        let hold = locked.buyers().holds.get(&hold_id).ok_or(InventoryError::UnknownHold)?;
        let (owner, status, expires_at, places) = (hold.buyer, hold.status, hold.expires_at, hold.places.clone());
        if !requester.may_act_for(owner) {
            return Err(InventoryError::NotYours);
        }
        let scope = match requester {
            Requester::Admin => BuyerId::ADMIN,
            Requester::Buyer(buyer) => buyer,
        };
        if let Some(replay) = self.replayed_purchase(&mut locked, owner, scope, idempotency_key, hold_id, payment_ref) {
            return replay;
        }
        match status {
            HoldStatus::Active if now < expires_at => {}
            HoldStatus::Active => {
                self.end_hold(&mut locked, hold_id, &places, HoldEndReason::Expired, now)?;
                return Err(InventoryError::HoldExpired);
            }
            HoldStatus::Expired { .. } => return Err(InventoryError::HoldExpired),
            HoldStatus::Released { .. } => return Err(InventoryError::HoldNotActive { why: "it was released" }),
            HoldStatus::Purchased { .. } => {
                return Err(InventoryError::HoldNotActive { why: "it was purchased with another Idempotency-Key" })
            }
        }
        if locked.buyers().buyers[&owner].orders.len() >= MAX_ORDERS_PER_BUYER {
            return Err(InventoryError::TooManyOrders);
        }
        self.lock_places(&mut locked, &places);
        let order_id = OrderId::new(locked.buyers().next_order_sequence, owner.shard());
        let record = InventoryRecord::HoldPurchased {
            hold: hold_id,
            order: order_id,
            at: now,
            scope,
            idempotency_key: idempotency_key.into(),
            payment_ref: payment_ref.into(),
        };
        let receipt = self.commit(&mut locked, &record)?;
        let order = locked.buyers().orders[&order_id].clone();
        Ok(Purchase { order, created: true, receipt, record: Some(record) })
    }

    /// Cancels an order; its seats go back on sale. The promoter always may;
    /// the buyer only before the refund deadline. Cancelling twice is a no-op.
    pub fn cancel_order(&self, order_id: OrderId, requester: Requester) -> Result<(Order, Receipt), InventoryError> {
        let now = self.clock.now();
        let mut locked = self.lock_buyers_of(order_id.shard(), InventoryError::UnknownOrder)?;
        let order = locked.buyers().orders.get(&order_id).ok_or(InventoryError::UnknownOrder)?;
        if !requester.may_act_for(order.buyer) {
            return Err(InventoryError::NotYours);
        }
        if order.status == OrderStatus::Cancelled {
            return Ok((order.clone(), order.cancel_receipt));
        }
        let refund_open = self.settings.refund_until.is_some_and(|until| now < until);
        if requester != Requester::Admin && !refund_open {
            return Err(InventoryError::RefundPeriodOver);
        }
        let places = order.places.clone();
        self.lock_places(&mut locked, &places);
        let receipt = self.commit(&mut locked, &InventoryRecord::OrderCancelled { order: order_id, at: now })?;
        Ok((locked.buyers().orders[&order_id].clone(), receipt))
    }

    /// An earlier purchase with the same key: the same order, or a refusal if
    /// the key was used for something else.
    fn replayed_purchase(
        &self,
        locked: &mut Locked<'_>,
        owner: BuyerId,
        scope: BuyerId,
        idempotency_key: &str,
        hold_id: HoldId,
        payment_ref: &str,
    ) -> Option<Result<Purchase, InventoryError>> {
        let order_id = if scope == BuyerId::ADMIN {
            let used = self.admin_keys.lock().get(idempotency_key).cloned()?;
            if used.hold != hold_id || &*used.payment_ref != payment_ref {
                return Some(Err(InventoryError::IdempotencyKeyReused));
            }
            used.order // same hold, so the same owner and buyer shard, which is locked
        } else {
            let keys = &locked.buyers().buyers.get(&owner)?.idempotency;
            *keys.get(&(scope, Box::<str>::from(idempotency_key)))?
        };
        let order = &locked.buyers().orders[&order_id];
        if order.hold != hold_id || &*order.payment_ref != payment_ref {
            return Some(Err(InventoryError::IdempotencyKeyReused));
        }
        Some(Ok(Purchase { order: order.clone(), created: false, receipt: order.receipt, record: None }))
    }
}

fn check_payment_ref(payment_ref: &str) -> Result<(), InventoryError> {
    if payment_ref.is_empty() || payment_ref.len() > MAX_PAYMENT_REF_LEN {
        return Err(InventoryError::BadPaymentRef);
    }
    Ok(())
}
