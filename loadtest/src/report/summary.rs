//! The terminal summary printed at the end of a run.

use std::fmt::Write as _;

use super::model::Report;

/// The terminal summary.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let mode = if report.queue { "with the waiting room" } else { "without the waiting room (--no-queue)" };
    let _ = writeln!(
        out,
        "\n{} ({mode}), seed {}, {:.0} s, against {}",
        report.scenario, report.seed, report.duration_s, report.target
    );
    let sold_out = report
        .sold_out_at_s
        .map_or("not sold out".into(), |s| format!("sold out {:.0} s after the on-sale", s - report.on_sale_at_s));
    let _ = writeln!(
        out,
        "  {} buyers · {} of {} places sold ({:.1}%) · {sold_out}\n  holds refused: {} seats taken meanwhile (conflicts), {} too few left there",
        report.buyers,
        report.tickets_sold,
        report.capacity,
        100.0 * report.tickets_sold as f64 / report.capacity.max(1) as f64,
        report.hold_conflicts,
        report.holds_too_few_left
    );
    let ends: Vec<String> = report.ends.iter().map(|(end, n)| format!("{end} {n}")).collect();
    let _ = writeln!(out, "  buyers: {}", ends.join(" · "));
    let outcomes = &report.audit.outcomes;
    let percent = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1} %", 100.0 * v));
    let _ = writeln!(
        out,
        "  {} admitted, {} of them found no seats ({}) · 99 % sold {} · of {} buyers who end with nothing (not by their own choice), {} were told sold_out_likely or sold_out before the sell-out ({})",
        outcomes.admitted,
        outcomes.no_seats_found,
        percent(outcomes.no_seats_found_share_of_admitted),
        report
            .sold_99_percent_at_s
            .map_or("never".into(), |s| format!("{:.0} s after the on-sale", s - report.on_sale_at_s)),
        outcomes.ended_with_nothing,
        outcomes.warned_before_sell_out,
        percent(outcomes.warned_share),
    );
    let _ = writeln!(
        out,
        "  of those who found no seats, {} gave up while at least the tickets they wanted were available elsewhere in the venue",
        report.no_seats_while_available
    );
    for event in &report.chaos {
        let outcome = if event.outcome.is_empty() { String::new() } else { format!("; {}", event.outcome) };
        let _ = writeln!(out, "  chaos at {:.1} s: {}{outcome}", event.at_s, event.what);
    }
    let _ = writeln!(
        out,
        "\n  {:<9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}  statuses",
        "endpoint", "calls", "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms"
    );
    for e in &report.endpoints {
        let statuses: Vec<String> = e.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        let errors = if e.transport_errors > 0 { format!(" no-answer:{}", e.transport_errors) } else { String::new() };
        let [p50, p90, p99, p999, max] = e.latencies_ms();
        let statuses = statuses.join(" ");
        let _ = writeln!(
            out,
            "  {:<9} {:>9} {p50:>8.2} {p90:>8.2} {p99:>8.2} {p999:>8.2} {max:>9.2}  {statuses}{errors}",
            e.endpoint, e.calls
        );
    }
    let fairness = &report.audit.fairness;
    let honesty = &report.audit.honesty;
    let correlation = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
    let _ = writeln!(
        out,
        "\n  fairness: join vs admission {} ({} buyers) · lottery vs admission {} ({} lobby buyers)",
        correlation(fairness.after_on_sale_rank_correlation),
        fairness.after_on_sale_buyers,
        correlation(fairness.lobby_rank_correlation),
        fairness.lobby_buyers
    );
    let seconds = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:+.1} s"));
    let _ = writeln!(
        out,
        "  honesty: real wait minus ETA at join, median {} · 90% within {} · median ratio {} ({} buyers)",
        seconds(honesty.median_error_s),
        honesty.p90_abs_error_s.map_or("n/a".into(), |v| format!("{v:.1} s")),
        honesty.median_ratio.map_or("n/a".into(), |v| format!("{v:.2}")),
        honesty.buyers
    );
    let _ = writeln!(
        out,
        "  honesty from the first ETA shown (lobby included): 90% within {} · median ratio {} ({} buyers)",
        honesty.first_shown_p90_abs_error_s.map_or("n/a".into(), |v| format!("{v:.1} s")),
        honesty.first_shown_median_ratio.map_or("n/a".into(), |v| format!("{v:.2}")),
        honesty.first_shown_buyers
    );
    let _ = writeln!(out, "\n  audit: {}", if report.audit.passed { "PASSED" } else { "FAILED" });
    for check in &report.audit.checks {
        let _ = writeln!(out, "    [{}] {}: {}", if check.passed { "ok" } else { "FAIL" }, check.name, check.detail);
    }
    out
}
