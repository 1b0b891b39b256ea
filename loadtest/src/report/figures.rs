//! The report's figures, computed from what the run recorded: latency per
//! endpoint and per window, how buyers' visits ended, and buyers who found no
//! seats while the venue still had some.

use std::collections::BTreeMap;

use super::model::{EndpointSummary, LatencyWindow};
use crate::api::Recorder;
use crate::buyer::BuyerRecord;
use crate::sampler::Sample;

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
