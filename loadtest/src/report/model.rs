//! What a report holds: the shape of `report.json`, which the terminal
//! summary and the HTML page read too.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::Audit;
use crate::chaos::ChaosEvent;
use crate::sampler::Sample;

/// Calls and latency percentiles of one endpoint over the whole run.
#[derive(Debug, Serialize)]
pub struct EndpointSummary {
    pub endpoint: &'static str,
    pub calls: u64,
    pub transport_errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl EndpointSummary {
    /// The latency columns every view shows, in order: p50, p90, p99, p99.9, max.
    pub fn latencies_ms(&self) -> [f64; 5] {
        [self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms]
    }
}

/// Latency percentiles of one endpoint in one window of the run.
#[derive(Debug, Serialize)]
pub struct LatencyWindow {
    pub endpoint: &'static str,
    pub from_s: u64,
    pub calls: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub queue: bool,
    pub target: String,
    pub event_id: String,
    pub duration_s: f64,
    pub buyers: u64,
    pub capacity: u64,
    pub tickets_sold: u64,
    /// When the event first had nothing available or held.
    pub sold_out_at_s: Option<f64>,
    /// When 99 % of the places were first seen sold.
    pub sold_99_percent_at_s: Option<f64>,
    /// Buyers who found no seats although the venue had at least the
    /// tickets they wanted available when they gave up (elsewhere than they
    /// looked), as the nearest sample of the timeline says.
    pub no_seats_while_available: u64,
    pub on_sale_at_s: f64,
    pub ends: BTreeMap<&'static str, u64>,
    /// Holds refused because someone else took the picked seats first (409 seats_unavailable).
    pub hold_conflicts: u64,
    /// Holds refused because too few places were left where asked (409 not_enough_available).
    pub holds_too_few_left: u64,
    /// The faults played (`--chaos`) and what the tool did as a service manager.
    pub chaos: Vec<ChaosEvent>,
    pub endpoints: Vec<EndpointSummary>,
    pub latency_windows: Vec<LatencyWindow>,
    pub calls_per_s: Vec<u32>,
    pub errors_per_s: Vec<u32>,
    pub timeline: Vec<Sample>,
    pub audit: Audit,
}
