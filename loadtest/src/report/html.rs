//! `report.html`: one self-contained page (inline SVG charts, no script, no
//! outside resource) with the run's figures, charts and the audit's verdicts.

use std::fmt::Write as _;

use super::chart::{chart, escape, series, Series};
use super::model::Report;
use super::summary::summary;
use crate::api::Endpoint;
use crate::sampler::Sample;

/// The whole page.
pub fn html(report: &Report) -> String {
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
    markers.extend(report.chaos.iter().map(|event| (event.at_s, "#d62728")));
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
        let latencies: String = e.latencies_ms().iter().map(|ms| format!("<td>{ms:.2}</td>")).collect();
        let statuses = escape(&statuses.join(", "));
        let _ = write!(out, "<tr><td>{}</td><td>{}</td>{latencies}<td>{statuses}</td></tr>", e.endpoint, e.calls);
    }
    out.push_str("</table>");
    out
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
