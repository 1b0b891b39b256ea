//! The run's report: a summary on the terminal, `report.json`, and
//! `report.html`, one self-contained page (inline SVG charts, no script, no
//! outside resource) that can be mailed or attached to a ticket.
//!
//! The report's shape is `model`; its figures are computed in `figures`; the
//! terminal `summary`, the `html` page (with its `chart`s) and the files are
//! written from it.

use std::fmt::Write as _;
use std::path::Path;

use crate::buyer::BuyerRecord;

mod chart;
mod figures;
mod html;
mod model;
mod summary;

pub use figures::{endpoint_summaries, ends, latency_windows, no_seats_while_available};
pub use model::Report;
pub use summary::summary;

/// Writes `report.json`, `report.html` and `buyers.csv` into `dir`.
pub fn write(report: &Report, records: &[BuyerRecord], dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("buyers.csv"), buyers_csv(records))?;
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(dir.join("report.html"), html::html(report))
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
