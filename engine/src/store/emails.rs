//! Queueing email to a buyer: an outbox entry of kind [`EMAIL_KIND`] under
//! the message's own key, so asking twice sends once. The mail worker (in
//! the gateway) drains these entries; what it sends is decided when it
//! sends, from the order as it is then and the buyer's contact if it still
//! exists.

use super::Engine;
use crate::commit::Receipt;
use crate::emails::{EmailRequest, EMAIL_KIND};
use crate::outbox::OutboxError;
use crate::store::CheckoutError;

impl Engine {
    /// Queues `request` (`None`: the same message was queued before).
    pub fn queue_email(&self, request: &EmailRequest) -> Result<Option<Receipt>, CheckoutError> {
        let payload = serde_json::to_vec(request).map_err(|_| OutboxError::PayloadTooLarge)?;
        let mut outbox = self.outbox.lock();
        match outbox.queue(EMAIL_KIND, &request.key(), payload, self.clock.now())? {
            Some(record) => Ok(Some(self.log_outbox(&mut outbox, &record)?)),
            None => Ok(None),
        }
    }
}
