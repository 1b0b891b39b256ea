//! A buyer's personal data (email, name), given at checkout: kept encrypted
//! under a key of its own, so erasing the buyer deletes the key and leaves
//! nothing readable in the log or a snapshot.

use super::Engine;
use crate::event::Event;
use crate::ids::OrderId;

/// Who to write to about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuyerContact {
    pub email: String,
    pub name: Option<String>,
}

impl Engine {
    /// The contact of the buyer of `order`, if one was given and not erased.
    pub fn buyer_contact(&self, event: &Event, order: OrderId) -> Option<BuyerContact> {
        let _ = (event, order);
        None
    }
}
