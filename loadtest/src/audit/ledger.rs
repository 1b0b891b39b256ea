//! The ledger checks: nothing sold twice, the orders list agreeing with the
//! event's stats, every purchase acknowledged to a buyer present, and no order
//! that no buyer attempted.

use std::collections::{BTreeMap, HashMap, HashSet};

use guichet_engine::spec::EventSpec;
use serde_json::Value;

use super::check::{summarise, tickets, Check};
use crate::buyer::{BuyerRecord, Seat};

pub fn no_seat_sold_twice(spec: &EventSpec, confirmed: &[&Value]) -> Check {
    let mut seats: HashMap<Seat, usize> = HashMap::new();
    let mut ga: BTreeMap<String, u64> = BTreeMap::new();
    let mut ticket_ids: HashSet<&str> = HashSet::new();
    let mut problems = Vec::new();
    for order in confirmed {
        for ticket in tickets(order) {
            let seat = Seat::from_ticket(ticket);
            if let Some(id) = ticket["ticket_id"].as_str() {
                if !ticket_ids.insert(id) {
                    problems.push(format!("ticket {id} in two orders"));
                }
            }
            if seat.number.is_some() {
                let count = seats.entry(seat.clone()).or_default();
                *count += 1;
                if *count == 2 {
                    problems.push(format!("seat {seat:?} sold twice"));
                }
            } else {
                *ga.entry(seat.section).or_default() += 1;
            }
        }
    }
    for (section, sold) in &ga {
        let capacity = spec.sections.iter().find(|s| &s.id == section).and_then(|s| s.capacity).map_or(0, u64::from);
        if *sold > capacity {
            problems.push(format!("general admission {section}: {sold} sold for {capacity} places"));
        }
    }
    Check {
        name: "no seat sold twice",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{} reserved seats and {} GA places, each sold once", seats.len(), ga.values().sum::<u64>())
        } else {
            summarise(&problems)
        },
    }
}

pub fn sold_matches_stats(confirmed: &[&Value], tickets_sold: u64, stats: &Value) -> Check {
    let stats_sold = stats["inventory"]["total"]["sold"].as_u64();
    let stats_orders = stats["orders"].as_u64();
    let passed = stats_sold == Some(tickets_sold) && stats_orders == Some(confirmed.len() as u64);
    Check {
        name: "sold counts equal the event's stats",
        passed,
        detail: format!(
            "orders list {} orders, {tickets_sold} tickets; stats say {} orders, {} sold",
            confirmed.len(),
            stats_orders.map_or("?".into(), |n| n.to_string()),
            stats_sold.map_or("?".into(), |n| n.to_string()),
        ),
    }
}

pub fn nothing_lost(records: &[BuyerRecord], orders: &[Value]) -> Check {
    let by_id: HashMap<&str, &Value> = orders.iter().filter_map(|o| Some((o["order_id"].as_str()?, o))).collect();
    let mut problems = Vec::new();
    let mut acknowledged = 0;
    for order in records.iter().filter_map(|r| r.order.as_ref()) {
        acknowledged += 1;
        match by_id.get(order.order_id.as_str()) {
            None => problems.push(format!("order {} acknowledged but missing", order.order_id)),
            Some(stored) if stored["status"] != "confirmed" => {
                problems.push(format!("order {} acknowledged but {}", order.order_id, stored["status"]))
            }
            Some(stored) => {
                // The same tickets, in whatever order each list gives them.
                let mut ids: Vec<&str> = tickets(stored).iter().filter_map(|t| t["ticket_id"].as_str()).collect();
                let mut seats: Vec<Seat> = tickets(stored).iter().map(Seat::from_ticket).collect();
                let mut acknowledged_ids: Vec<&str> = order.ticket_ids.iter().map(String::as_str).collect();
                let mut acknowledged_seats = order.seats.clone();
                ids.sort_unstable();
                seats.sort();
                acknowledged_ids.sort_unstable();
                acknowledged_seats.sort();
                if ids != acknowledged_ids || seats != acknowledged_seats {
                    problems.push(format!("order {} has other tickets than acknowledged", order.order_id));
                }
            }
        }
    }
    Check {
        name: "every acknowledged purchase is there",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{acknowledged} orders acknowledged to buyers, all present and confirmed")
        } else {
            summarise(&problems)
        },
    }
}

pub fn nothing_invented(records: &[BuyerRecord], orders: &[Value]) -> Check {
    let attempted: HashSet<&str> = records.iter().filter_map(|r| r.purchase_attempted.as_deref()).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut problems = Vec::new();
    for order in orders {
        let id = order["order_id"].as_str().unwrap_or("?");
        match order["payment_ref"].as_str() {
            Some(reference) if attempted.contains(reference) => {
                if !seen.insert(reference) {
                    problems.push(format!("payment {reference} made two orders"));
                }
            }
            other => problems.push(format!("order {id} with payment {other:?} that no buyer attempted")),
        }
    }
    Check {
        name: "no order that no buyer attempted",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{} orders, each from one purchase a buyer attempted ({} attempted)", orders.len(), attempted.len())
        } else {
            summarise(&problems)
        },
    }
}
