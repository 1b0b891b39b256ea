//! The run's report: a summary on the terminal, `report.json`, and
//! `report.html`, one self-contained page (inline SVG charts, no script, no
//! outside resource) that can be mailed or attached to a ticket.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::api::{Endpoint, Recorder};
use crate::audit::Audit;
use crate::buyer::BuyerRecord;
use crate::sampler::Sample;

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
    pub chaos_kill_at_s: Option<u64>,
    pub restarts_s: Vec<f64>,
    pub endpoints: Vec<EndpointSummary>,
    pub latency_windows: Vec<LatencyWindow>,
    pub calls_per_s: Vec<u32>,
    pub errors_per_s: Vec<u32>,
    pub timeline: Vec<Sample>,
    pub audit: Audit,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn endpoint_summaries(recorder: &Recorder) -> Vec<EndpointSummary> {
    recorder
        .figures
        .iter()
        .filter(|(_, f)| !f.latency_us.is_empty() || f.transport_errors > 0)
        .map(|(endpoint, f)| EndpointSummary {
            endpoint: endpoint.name(),
            calls: f.latency_us.len() + f.transport_errors,
            transport_errors: f.transport_errors,
            statuses: f.statuses.clone(),
            p50_ms: ms(f.latency_us.value_at_quantile(0.5)),
            p90_ms: ms(f.latency_us.value_at_quantile(0.9)),
            p99_ms: ms(f.latency_us.value_at_quantile(0.99)),
            p999_ms: ms(f.latency_us.value_at_quantile(0.999)),
            max_ms: ms(f.latency_us.max()),
        })
        .collect()
}

pub fn latency_windows(recorder: &Recorder) -> Vec<LatencyWindow> {
    let window_s = recorder.window.as_secs();
    let mut windows = Vec::new();
    for (endpoint, figures) in &recorder.figures {
        for (index, histogram) in figures.windows.iter().enumerate() {
            let Some(histogram) = histogram else { continue };
            windows.push(LatencyWindow {
                endpoint: endpoint.name(),
                from_s: index as u64 * window_s,
                calls: histogram.len(),
                p50_ms: ms(histogram.value_at_quantile(0.5)),
                p99_ms: ms(histogram.value_at_quantile(0.99)),
            });
        }
    }
    windows
}

/// Buyers who gave up finding places while the venue, by the nearest
/// sample, had at least as many available as they wanted.
pub fn no_seats_while_available(records: &[BuyerRecord], timeline: &[Sample]) -> u64 {
    let available_at = |at_s: f64| {
        let next = timeline.partition_point(|s| s.at_s < at_s);
        [next.checked_sub(1), Some(next)]
            .into_iter()
            .flatten()
            .filter_map(|i| timeline.get(i))
            .min_by(|a, b| (a.at_s - at_s).abs().total_cmp(&(b.at_s - at_s).abs()))
            .map_or(0, |s| s.available)
    };
    records
        .iter()
        .filter_map(|r| Some((r.gave_up_at?, r.plan.tickets)))
        .filter(|(at, tickets)| available_at(at.as_secs_f64()) >= u64::from(*tickets))
        .count() as u64
}

pub fn ends(records: &[BuyerRecord]) -> BTreeMap<&'static str, u64> {
    let mut ends = BTreeMap::new();
    for record in records {
        *ends.entry(record.end.name()).or_default() += 1;
    }
    ends
}

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
    if let Some(at) = report.chaos_kill_at_s {
        let restarts: Vec<String> = report.restarts_s.iter().map(|s| format!("{s:.2} s")).collect();
        let _ = writeln!(out, "  chaos: server killed (SIGKILL) at {at} s, back in {}", restarts.join(", "));
    }
    let _ = writeln!(
        out,
        "\n  {:<9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}  statuses",
        "endpoint", "calls", "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms"
    );
    for e in &report.endpoints {
        let statuses: Vec<String> = e.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        let errors = if e.transport_errors > 0 { format!(" no-answer:{}", e.transport_errors) } else { String::new() };
        let _ = writeln!(
            out,
            "  {:<9} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2}  {}{errors}",
            e.endpoint,
            e.calls,
            e.p50_ms,
            e.p90_ms,
            e.p99_ms,
            e.p999_ms,
            e.max_ms,
            statuses.join(" ")
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

pub fn write(report: &Report, records: &[BuyerRecord], dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("buyers.csv"), buyers_csv(records))?;
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(dir.join("report.html"), html(report))
}

/// One line per virtual buyer, for digging into a run with any spreadsheet.
fn buyers_csv(records: &[BuyerRecord]) -> String {
    let millis = |d: Option<std::time::Duration>| d.map_or(String::new(), |d| d.as_millis().to_string());
    let mut out = String::from(
        "buyer,phase,arrival_ms,tickets,choice,server_buyer_number,in_lobby,joined_ms,eta_at_join_s,first_eta_ms,first_eta_s,warned_ms,admitted_ms,hold_conflicts,holds_too_few_left,end,order_id\n",
    );
    for r in records {
        let _ = writeln!(
            out,
            "{},{:?},{},{},{:?},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.plan.index,
            r.plan.phase,
            r.plan.arrival.as_millis(),
            r.plan.tickets,
            r.plan.choice,
            r.buyer_number.map_or(String::new(), |n| n.to_string()),
            r.in_lobby,
            millis(r.joined_at),
            r.eta_at_join_s.map_or(String::new(), |n| n.to_string()),
            millis(r.first_eta.map(|f| f.0)),
            r.first_eta.map_or(String::new(), |f| f.1.to_string()),
            millis(r.warned_at),
            millis(r.admitted_at),
            r.conflicts,
            r.too_few_left,
            r.end.name(),
            r.order.as_ref().map_or("", |o| o.order_id.as_str()),
        );
    }
    out
}

const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/// One chart's line.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

fn html(report: &Report) -> String {
    let mut page = String::new();
    let title = format!("Guichet load test: {}", report.scenario);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(page, "<h1>{}</h1><pre>{}</pre>", escape(&title), escape(&summary(report)));
    page.push_str(&tables(report));
    let mut markers = vec![(report.on_sale_at_s, "#999")];
    if let Some(at) = report.chaos_kill_at_s {
        markers.push((at as f64, "#d62728"));
    }
    let on_sale = markers.as_slice();
    let t = &report.timeline;
    page.push_str(&chart(
        "Queue length",
        "buyers",
        on_sale,
        &[
            series("lobby + waiting", t.iter().map(|s| (s.at_s, (s.lobby + s.waiting) as f64))),
            series("active (admitted, shopping)", t.iter().map(|s| (s.at_s, s.active as f64))),
        ],
    ));
    page.push_str(&chart(
        "Admissions per second against the setting",
        "admissions/s",
        on_sale,
        &[
            series("admitted", admissions_per_s(t).into_iter()),
            series("setting", t.iter().map(|s| (s.at_s, s.admit_per_minute as f64 / 60.0))),
        ],
    ));
    page.push_str(&chart(
        "Tickets over time",
        "places",
        on_sale,
        &[
            series("sold", t.iter().map(|s| (s.at_s, s.sold as f64))),
            series("held", t.iter().map(|s| (s.at_s, s.held as f64))),
            series("available", t.iter().map(|s| (s.at_s, s.available as f64))),
        ],
    ));
    for (quantile, label) in [(false, "p50"), (true, "p99")] {
        let lines: Vec<Series> = Endpoint::ALL
            .iter()
            .map(|e| {
                series(
                    e.name(),
                    report
                        .latency_windows
                        .iter()
                        .filter(|w| w.endpoint == e.name())
                        .map(|w| (w.from_s as f64, if quantile { w.p99_ms } else { w.p50_ms })),
                )
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        page.push_str(&chart(&format!("Latency {label} per endpoint"), "ms", on_sale, &lines));
    }
    page.push_str(&chart(
        "Requests per second",
        "requests/s",
        on_sale,
        &[
            series("sent", report.calls_per_s.iter().enumerate().map(|(s, &n)| (s as f64, f64::from(n)))),
            series("no answer or 5xx", report.errors_per_s.iter().enumerate().map(|(s, &n)| (s as f64, f64::from(n)))),
        ],
    ));
    page.push_str(
        "<p class=\"note\">Time in seconds from the start of the run; the grey dashed line is the on-sale, the red one (if any) the moment the server was killed. \
                   Latency is measured from the moment a buyer meant to send the request.</p></body></html>",
    );
    page
}

/// The audit and the latency table, as HTML tables.
fn tables(report: &Report) -> String {
    let mut out = String::from("<h2>Audit</h2><table><tr><th>check</th><th>result</th><th>detail</th></tr>");
    for check in &report.audit.checks {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(check.name),
            if check.passed { "ok" } else { "fail" },
            if check.passed { "ok" } else { "FAIL" },
            escape(&check.detail)
        );
    }
    out.push_str(
        "</table><h2>Latency by endpoint (ms)</h2><table><tr><th>endpoint</th><th>calls</th><th>p50</th>\
         <th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>statuses</th></tr>",
    );
    for e in &report.endpoints {
        let mut statuses: Vec<String> = e.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        if e.transport_errors > 0 {
            statuses.push(format!("no answer: {}", e.transport_errors));
        }
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            e.endpoint,
            e.calls,
            e.p50_ms,
            e.p90_ms,
            e.p99_ms,
            e.p999_ms,
            e.max_ms,
            escape(&statuses.join(", "))
        );
    }
    out.push_str("</table>");
    out
}

fn series(name: &str, points: impl Iterator<Item = (f64, f64)>) -> Series {
    Series { name: name.into(), points: points.collect() }
}

fn admissions_per_s(samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter(|pair| pair[1].at_s > pair[0].at_s)
        .map(|pair| {
            let admitted = pair[1].admitted_total.saturating_sub(pair[0].admitted_total) as f64;
            (pair[1].at_s, admitted / (pair[1].at_s - pair[0].at_s))
        })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:1em auto;padding:0 1em;color:#222}\
pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:13px}figure{margin:1.5em 0}\
figcaption{font-weight:600;margin-bottom:.3em}svg{width:100%;height:auto;background:#fff;border:1px solid #ddd}\
.legend span{display:inline-block;margin-right:1em;font-size:13px}\
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}\
td.ok{color:#2ca02c}td.fail{color:#d62728;font-weight:700}.note{color:#555;font-size:13px}";

/// A line chart as inline SVG: x in seconds of the run.
/// `markers`: vertical dashed lines (the on-sale, the kill), each with its colour.
fn chart(title: &str, y_label: &str, markers: &[(f64, &str)], lines: &[Series]) -> String {
    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 260.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 10.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 30.0;
    let points = lines.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).chain(markers.iter().map(|m| m.0)).fold(1.0, f64::max);
    let y_max = nice_ceiling(points.map(|p| p.1).filter(|y| y.is_finite()).fold(0.0, f64::max));
    let x_of = |x: f64| LEFT + (x / x_max) * (WIDTH - LEFT - RIGHT);
    let y_of = |y: f64| TOP + (1.0 - y / y_max) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(title)
    );
    for step in 0..=4 {
        let y = y_max * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{right}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#eee\"/>\
             <text x=\"{label_x}\" y=\"{label_y:.1}\" font-size=\"11\" text-anchor=\"end\">{label}</text>",
            right = WIDTH - RIGHT,
            at = y_of(y),
            label_x = LEFT - 4.0,
            label_y = y_of(y) + 4.0,
            label = short(y)
        );
    }
    for step in 0..=6 {
        let x = x_max * f64::from(step) / 6.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:.0} s</text>",
            x_of(x),
            HEIGHT - 10.0,
            x
        );
    }
    for &(x, colour) in markers {
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/>",
            at = x_of(x),
            bottom = HEIGHT - BOTTOM,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{middle}\" font-size=\"11\" transform=\"rotate(-90 12 {middle})\" text-anchor=\"middle\">{}</text>",
        escape(y_label),
        middle = HEIGHT / 2.0,
    );
    let mut legend = String::from("<div class=\"legend\">");
    for (index, line) in lines.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = line
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = write!(legend, "<span style=\"color:{colour}\">&#9632; {}</span>", escape(&line.name));
    }
    svg.push_str("</svg>");
    legend.push_str("</div>");
    format!("{svg}{legend}</figure>")
}

fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&v| v >= value).unwrap_or(10.0 * magnitude)
}

fn short(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 1_000.0 {
        format!("{:.1}k", value / 1_000.0)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_to_their_data_and_escape_text() {
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        let svg = chart("a <b>", "ms", &[(5.0, "#999")], &[series("x&y", [(0.0, 1.0), (10.0, 2.0)].into_iter())]);
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("x&amp;y"));
        assert!(svg.contains("<polyline"));
        assert!(!svg.contains("NaN"));
    }
}
