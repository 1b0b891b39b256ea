//! Buyers' records and orders for the audit's tests.

use std::time::Duration;

use serde_json::{json, Value};

use crate::buyer::{Acknowledged, BuyerRecord, End, Seat};
use crate::plan::{BuyerPlan, Choice, Phase};

/// (ticket id, row, seat number) of seats in section A.
pub type Tickets<'a> = &'a [(&'a str, &'a str, u64)];

/// Buyer `index`, numbered `index` by the server and admitted `index` seconds in.
pub fn record(index: u32, order: Option<(&str, Tickets<'_>)>, attempted: Option<&str>) -> BuyerRecord {
    BuyerRecord {
        plan: BuyerPlan {
            index,
            phase: Phase::Spike,
            arrival: Duration::from_millis(u64::from(index)),
            tickets: 1,
            choice: Choice::BestAvailable,
            abandon_in_queue_after: None,
            abandon_at_checkout: false,
            think_before_hold: Duration::ZERO,
            think_before_purchase: Duration::ZERO,
            seed: 0,
        },
        joined_at: Some(Duration::ZERO),
        buyer_number: Some(u64::from(index)),
        in_lobby: false,
        eta_at_join_s: Some(1),
        first_eta: Some((Duration::ZERO, 1)),
        warned_at: None,
        admitted_at: Some(Duration::from_secs(u64::from(index))),
        gave_up_at: None,
        conflicts: 0,
        too_few_left: 0,
        purchase_attempted: attempted.map(str::to_owned),
        order: order.map(|(id, tickets)| Acknowledged {
            order_id: id.into(),
            ticket_ids: tickets.iter().map(|t| t.0.to_owned()).collect(),
            seats: tickets
                .iter()
                .map(|t| Seat { section: "A".into(), row: Some(t.1.into()), number: Some(t.2) })
                .collect(),
        }),
        end: End::Bought,
    }
}

pub fn order(id: &str, payment: &str, tickets: Tickets<'_>) -> Value {
    let tickets: Vec<Value> = tickets
        .iter()
        .map(|(ticket, row, number)| json!({"ticket_id": ticket, "section": "A", "row": row, "number": number}))
        .collect();
    json!({"order_id": id, "status": "confirmed", "payment_ref": payment, "tickets": tickets})
}
