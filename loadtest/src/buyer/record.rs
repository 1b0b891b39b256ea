//! What a buyer came away with, as the audit and the report read it: how the
//! visit ended, when each step happened, and the order acknowledged.

use std::time::Duration;

use serde_json::Value;

use crate::plan::BuyerPlan;

/// How a buyer's visit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    Bought,
    SoldOut,
    LeftQueue,
    AbandonedAtCheckout,
    NoSeatsFound,
    HoldExpired,
    AccessExpired,
    PlaceLost,
    Closed,
    OutOfTime,
    Refused,
}

impl End {
    pub fn name(self) -> &'static str {
        match self {
            End::Bought => "bought",
            End::SoldOut => "sold out",
            End::LeftQueue => "left the queue",
            End::AbandonedAtCheckout => "abandoned at checkout",
            End::NoSeatsFound => "no seats found",
            End::HoldExpired => "hold expired",
            End::AccessExpired => "access expired",
            End::PlaceLost => "place lost",
            End::Closed => "closed",
            End::OutOfTime => "run over",
            End::Refused => "refused",
        }
    }
}

/// A ticket as an order lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seat {
    pub section: String,
    pub row: Option<String>,
    pub number: Option<u64>,
}

impl Seat {
    pub fn from_ticket(ticket: &Value) -> Self {
        Seat {
            section: ticket["section"].as_str().unwrap_or("").to_owned(),
            row: ticket["row"].as_str().map(str::to_owned),
            number: ticket["number"].as_u64(),
        }
    }
}

/// An order the server acknowledged to this buyer (201 or 200).
#[derive(Clone, Debug)]
pub struct Acknowledged {
    pub order_id: String,
    pub ticket_ids: Vec<String>,
    pub seats: Vec<Seat>,
}

/// Everything the audit and the report need from one buyer.
#[derive(Clone, Debug)]
pub struct BuyerRecord {
    pub plan: BuyerPlan,
    pub joined_at: Option<Duration>,
    /// The server's buyer number (join order), read from the queue token.
    pub buyer_number: Option<u64>,
    /// The server put the buyer in the lobby (before the on-sale).
    pub in_lobby: bool,
    pub eta_at_join_s: Option<u64>,
    /// The first ETA the buyer was shown (at the join, or at the first poll
    /// out of the lobby), and when.
    pub first_eta: Option<(Duration, u64)>,
    /// When the server first said the places would likely not reach the
    /// buyer (`sold_out_likely`) or were gone (`sold_out`).
    pub warned_at: Option<Duration>,
    pub admitted_at: Option<Duration>,
    /// When the buyer gave up finding places (ended with "no seats found").
    pub gave_up_at: Option<Duration>,
    /// Holds refused because the seats picked on the map were taken meanwhile.
    pub conflicts: u32,
    /// Holds refused because the section or tier had too few places left.
    pub too_few_left: u32,
    /// The payment reference (also the idempotency key) of the purchase, once tried.
    pub purchase_attempted: Option<String>,
    pub order: Option<Acknowledged>,
    pub end: End,
}
