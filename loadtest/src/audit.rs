//! The audit at the end of every run: what the server says it sold, checked
//! against itself, against its own figures and against what each virtual
//! buyer was told. Nothing sold twice, nothing acknowledged lost, nothing
//! invented; then fairness (arrival and lottery order against admission order)
//! and honesty (the ETA shown at join against the real wait).
//!
//! This module gathers the evidence and the verdict; each theme of checks is
//! its own submodule (`ledger`, `fairness`, `honesty`), over the shared
//! `check`, `statistics` and the audit's own `lottery`.

use std::time::Duration;

use guichet_engine::spec::EventSpec;
use serde::Serialize;
use serde_json::Value;

use crate::buyer::BuyerRecord;

mod check;
mod fairness;
mod honesty;
mod ledger;
mod lottery;
mod statistics;

use check::{tickets, Check};
use fairness::Fairness;
use honesty::{Honesty, Outcomes};

#[derive(Debug, Serialize)]
pub struct Audit {
    pub passed: bool,
    pub checks: Vec<Check>,
    pub orders: usize,
    pub tickets_sold: u64,
    pub fairness: Fairness,
    pub honesty: Honesty,
    pub outcomes: Outcomes,
}

/// What the audit reads.
pub struct Evidence<'a> {
    pub spec: &'a EventSpec,
    pub records: &'a [BuyerRecord],
    /// Every order of the event, from the admin API.
    pub orders: &'a [Value],
    /// The event's stats after the run.
    pub stats: &'a Value,
    /// `lottery.seed_sha256` as published before the on-sale.
    pub seed_sha256_before: Option<String>,
    pub unexpected_5xx: u64,
    /// Queue answers that said admitted without the access token.
    pub admitted_without_token: u64,
    /// Requests that got no answer while the server was not being restarted.
    pub no_answer_outside_restart: u64,
    /// With a cluster: nodes that exited with no fault to explain it (a false takeover, a crash).
    pub unexplained_exits: Option<u64>,
    pub min_rank_correlation: f64,
    /// With the room effectively open, admission order says nothing.
    pub judge_fairness: bool,
    /// When the event first had nothing available or held, from the start of the run.
    pub sold_out_at: Option<Duration>,
}

pub fn audit(evidence: &Evidence<'_>) -> Audit {
    let confirmed: Vec<&Value> = evidence.orders.iter().filter(|o| o["status"] == "confirmed").collect();
    let tickets_sold: u64 = confirmed.iter().map(|o| tickets(o).len() as u64).sum();
    let fairness = fairness::fairness(evidence.records, evidence.stats, evidence.seed_sha256_before.clone());
    let mut checks = vec![
        ledger::no_seat_sold_twice(evidence.spec, &confirmed),
        ledger::sold_matches_stats(&confirmed, tickets_sold, evidence.stats),
        ledger::nothing_lost(evidence.records, evidence.orders),
        ledger::nothing_invented(evidence.records, evidence.orders),
        Check {
            name: "no unexpected 5xx",
            passed: evidence.unexpected_5xx == 0,
            detail: format!("{} answers with a 5xx other than 503 with Retry-After", evidence.unexpected_5xx),
        },
        Check {
            name: "every admitted answer carries its access token",
            passed: evidence.admitted_without_token == 0,
            detail: format!("{} queue answers said admitted without a token", evidence.admitted_without_token),
        },
        Check {
            name: "every request answered (but around a fault)",
            passed: evidence.no_answer_outside_restart == 0,
            detail: format!(
                "{} requests without an answer (refused, reset, timed out) outside a fault and its recovery",
                evidence.no_answer_outside_restart
            ),
        },
    ];
    if let Some(exits) = evidence.unexplained_exits {
        checks.push(Check {
            name: "no node deposed or crashed but by a fault",
            passed: exits == 0,
            detail: format!("{exits} nodes exited on their own beyond one per primary frozen with stop-primary"),
        });
    }
    if evidence.judge_fairness {
        checks.extend(fairness::fairness_checks(&fairness, evidence.min_rank_correlation));
    }
    Audit {
        passed: checks.iter().all(|c| c.passed),
        checks,
        orders: confirmed.len(),
        tickets_sold,
        fairness,
        honesty: honesty::honesty(evidence.records),
        outcomes: honesty::outcomes(evidence.records, evidence.sold_out_at),
    }
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::{order, record};
    use super::*;
    use serde_json::json;

    fn run(records: &[BuyerRecord], orders: &[Value], sold: u64) -> Audit {
        let spec = guichet_engine::demo::demo_event().spec;
        let stats = json!({"inventory": {"total": {"sold": sold}}, "orders": orders.len(), "lottery": {}});
        audit(&Evidence {
            spec: &spec,
            records,
            orders,
            stats: &stats,
            seed_sha256_before: None,
            unexpected_5xx: 0,
            admitted_without_token: 0,
            no_answer_outside_restart: 0,
            unexplained_exits: None,
            min_rank_correlation: 0.5,
            judge_fairness: false,
            sold_out_at: None,
        })
    }

    fn failed(audit: &Audit) -> Vec<&'static str> {
        audit.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect()
    }

    #[test]
    fn a_clean_run_passes() {
        let records = [record(0, Some(("o1", &[("t1", "1", 1)])), Some("p0")), record(1, None, Some("p1"))];
        let orders = [order("o1", "p0", &[("t1", "1", 1)])];
        let audit = run(&records, &orders, 1);
        assert!(audit.passed, "{:?}", audit.checks);
    }

    #[test]
    fn each_kind_of_damage_is_caught() {
        let records = [
            record(0, Some(("o1", &[("t1", "1", 1)])), Some("p0")),
            record(1, Some(("o2", &[("t2", "1", 2)])), Some("p1")),
        ];
        // The same seat in two orders (and so not the seat acknowledged).
        let orders = [order("o1", "p0", &[("t1", "1", 1)]), order("o2", "p1", &[("t2", "1", 1)])];
        assert_eq!(failed(&run(&records, &orders, 2)), ["no seat sold twice", "every acknowledged purchase is there"]);
        // An acknowledged order missing, and stats that disagree.
        let orders = [order("o1", "p0", &[("t1", "1", 1)])];
        assert_eq!(
            failed(&run(&records, &orders, 2)),
            ["sold counts equal the event's stats", "every acknowledged purchase is there"]
        );
        // An order nobody attempted.
        let orders = [
            order("o1", "p0", &[("t1", "1", 1)]),
            order("o2", "p1", &[("t2", "1", 2)]),
            order("o3", "ghost", &[("t3", "1", 3)]),
        ];
        assert_eq!(failed(&run(&records, &orders, 3)), ["no order that no buyer attempted"]);
    }
}
