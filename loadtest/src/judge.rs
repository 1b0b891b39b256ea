//! Judging a run: the event's orders and stats read once they settle, the
//! audit over them and what the buyers were told, and the report that holds
//! both with the run's figures.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::admin;
use crate::audit::{self, Evidence};
use crate::buyer::BuyerRecord;
use crate::chaos::{self, ChaosEvent};
use crate::drive::Driven;
use crate::plan;
use crate::report::{self, Report};
use crate::scenario::Scenario;
use crate::setup::Stage;
use crate::spawn::Started;

/// Seconds a fault may disturb: from the fault until this long after the
/// service is back (buyers back off up to 2 s; requests in flight at a kill
/// fail at once; HAProxy sees a new primary within a second).
const RESTART_GRACE_S: u64 = 10;

/// How the run was asked to go, as the judge needs it.
#[derive(Clone, Copy)]
pub struct Rules {
    /// The room let everyone straight in: admission order says nothing.
    pub no_queue: bool,
}

/// Audits the run (the server must still answer) and builds its report; hands
/// the buyers' records back for the report's files.
pub async fn judge(
    stage: &Stage,
    scenario: &Scenario,
    driven: Driven,
    rules: Rules,
) -> Result<(Report, Vec<BuyerRecord>), String> {
    let context = &stage.context;
    let (orders, stats) = admin::settled_orders_and_stats(&context.api, &stage.admin_token, &context.event_id).await?;
    let venue_spec = scenario.spec();
    let capacity = scenario.capacity();
    let (unexpected_5xx, no_answer_outside_restart, endpoints, latency_windows, calls_per_s, errors_per_s) = {
        let recorder = context.api.recorder.lock();
        (
            recorder.unexpected_5xx,
            outside_faults(&recorder.no_answer_per_s, &driven.chaos),
            report::endpoint_summaries(&recorder),
            report::latency_windows(&recorder),
            trim_trailing_zeros(&recorder.calls_per_s),
            trim_trailing_zeros(&recorder.errors_per_s),
        )
    };
    let Driven { records, duration_s, timeline, chaos } = driven;
    let sold_out_at_s = timeline.iter().find(|s| s.available == 0 && s.held == 0 && s.sold > 0).map(|s| s.at_s);
    let sold_99_percent_at_s = timeline.iter().find(|s| s.sold * 100 >= capacity * 99).map(|s| s.at_s);
    let audit = audit::audit(&Evidence {
        spec: &venue_spec,
        records: &records,
        orders: &orders,
        stats: &stats,
        seed_sha256_before: stage.seed_sha256_before.clone(),
        unexpected_5xx,
        admitted_without_token: context.tally.admitted_without_token.load(Ordering::Relaxed),
        no_answer_outside_restart,
        unexplained_exits: matches!(stage.spawned, Some(Started::Cluster(_))).then(|| chaos::unexplained_exits(&chaos)),
        min_rank_correlation: scenario.audit.min_rank_correlation,
        judge_fairness: !rules.no_queue,
        sold_out_at: sold_out_at_s.map(Duration::from_secs_f64),
    });
    let report = Report {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        queue: !rules.no_queue,
        target: stage.target.clone(),
        event_id: context.event_id.clone(),
        duration_s,
        buyers: scenario.total_buyers(),
        capacity,
        tickets_sold: audit.tickets_sold,
        sold_out_at_s,
        sold_99_percent_at_s,
        no_seats_while_available: report::no_seats_while_available(&records, &timeline),
        on_sale_at_s: plan::on_sale_offset(scenario).as_secs_f64(),
        ends: report::ends(&records),
        hold_conflicts: records.iter().map(|r| u64::from(r.conflicts)).sum(),
        holds_too_few_left: records.iter().map(|r| u64::from(r.too_few_left)).sum(),
        chaos,
        endpoints,
        latency_windows,
        calls_per_s,
        errors_per_s,
        timeline,
        audit,
    };
    Ok((report, records))
}

/// Requests without an answer in the seconds no fault explains.
fn outside_faults(no_answer_per_s: &[u32], chaos: &[ChaosEvent]) -> u64 {
    let windows: Vec<_> = chaos
        .iter()
        .map(|event| {
            let from = event.at_s.floor() as u64;
            from..=(event.at_s + event.out_s).ceil() as u64 + RESTART_GRACE_S
        })
        .collect();
    no_answer_per_s
        .iter()
        .enumerate()
        .filter(|(second, _)| !windows.iter().any(|w| w.contains(&(*second as u64))))
        .map(|(_, &n)| u64::from(n))
        .sum()
}

fn trim_trailing_zeros(values: &[u32]) -> Vec<u32> {
    let end = values.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
    values[..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fault_excuses_requests_without_an_answer() {
        let per_s = [0, 2, 0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
        assert_eq!(outside_faults(&per_s, &[]), 17);
        let fault = |at_s: f64, out_s: f64| ChaosEvent {
            at_s,
            kind: "kill",
            what: String::new(),
            outcome: String::new(),
            out_s,
        };
        // Killed at 3.2 s, listening again 1.5 s later: 3..=15 is excused.
        assert_eq!(outside_faults(&per_s, &[fault(3.2, 1.5)]), 6);
        // Two faults, each with its own window.
        assert_eq!(outside_faults(&per_s, &[fault(1.0, 5.0), fault(20.0, 0.5)]), 0);
    }
}
