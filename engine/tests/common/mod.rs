//! Shared fixtures for the engine's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use guichet_engine::clock::ManualClock;
use guichet_engine::inventory::{DiscardSink, HoldRequest, Inventory, SeatRequest};
use guichet_engine::spec::EventSpec;
use guichet_engine::time::UnixTimeMs;

pub const T0: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

/// A small venue: section A has rows 1 (4 seats) and 2 (6 seats, numbered
/// from 101, tier "loge"); section B has one row of 3; GA has 10 places.
pub fn small_spec_json() -> serde_json::Value {
    serde_json::json!({
        "id": "test-event", "name": "Test", "venue": "Test hall",
        "starts_at": "2027-01-01T20:00:00Z", "on_sale_at": "2026-12-01T15:00:00Z",
        "refund_until": "2027-01-01T00:00:00Z",
        "currency": "CAD",
        "tiers": [
            {"id": "parterre", "name": "Parterre", "price_cents": 10000},
            {"id": "loge", "name": "Loge", "price_cents": 25000},
            {"id": "pelouse", "name": "Pelouse", "price_cents": 5000}
        ],
        "sections": [
            {"id": "A", "name": "A", "tier": "parterre", "rows": [
                {"id": "1", "seats": 4},
                {"id": "2", "seats": 6, "first": 101, "tier": "loge"}
            ]},
            {"id": "B", "name": "B", "tier": "parterre", "rows": [{"id": "1", "seats": 3}]},
            {"id": "GA", "name": "Pelouse", "tier": "pelouse", "capacity": 10}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 60,
        "room": {"admit_per_minute": 60, "max_active": 10, "access_ttl_s": 300}
    })
}

pub fn spec_from(json: serde_json::Value) -> EventSpec {
    serde_json::from_value(json).expect("test spec parses")
}

pub fn small_inventory() -> (Inventory, Arc<ManualClock>) {
    inventory_from(small_spec_json())
}

pub fn inventory_from(json: serde_json::Value) -> (Inventory, Arc<ManualClock>) {
    let event = spec_from(json).validate().expect("test spec is valid");
    let clock = Arc::new(ManualClock::new(T0));
    (Inventory::new(&event, clock.clone(), Arc::new(DiscardSink)), clock)
}

pub fn seat(section: &str, row: &str, number: u32) -> SeatRequest {
    SeatRequest { section: section.into(), row: row.into(), number }
}

pub fn seats(list: &[(&str, &str, u32)]) -> HoldRequest {
    HoldRequest::Seats(list.iter().map(|(s, r, n)| seat(s, r, *n)).collect())
}

pub fn best_in(section: &str, quantity: u32) -> HoldRequest {
    HoldRequest::BestInSection { section: section.into(), quantity }
}
