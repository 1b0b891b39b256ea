//! Honesty towards buyers: the ETA shown against the real wait, and whether
//! those who came away with nothing were told in time that it was selling out.

use std::time::Duration;

use serde::Serialize;

use super::statistics::quantile;
use crate::buyer::{BuyerRecord, End};

#[derive(Debug, Default, Serialize)]
pub struct Honesty {
    /// Buyers admitted after being shown an ETA at join.
    pub buyers: usize,
    /// Real wait minus the ETA shown, in seconds: median, and the 90th
    /// percentile of its absolute value.
    pub median_error_s: Option<f64>,
    pub p90_abs_error_s: Option<f64>,
    /// Real wait over the ETA shown, median.
    pub median_ratio: Option<f64>,
    /// The same against the first ETA each admitted buyer was shown (at the
    /// join, or for the lobby at the first poll after the draw), from then.
    pub first_shown_buyers: usize,
    pub first_shown_p90_abs_error_s: Option<f64>,
    pub first_shown_median_ratio: Option<f64>,
}

/// What buyers came away with, and whether those who got nothing were told in time.
#[derive(Debug, Default, Serialize)]
pub struct Outcomes {
    /// Buyers let in to shop.
    pub admitted: usize,
    /// Admitted buyers who found no places to hold.
    pub no_seats_found: usize,
    pub no_seats_found_share_of_admitted: Option<f64>,
    /// Buyers who end without tickets, not counting those who walked away
    /// of their own accord (left the queue, abandoned at checkout).
    pub ended_with_nothing: usize,
    /// Of those, the ones shown `sold_out_likely` or `sold_out` before the
    /// venue sold out (or, for those who joined after it, at once).
    pub warned_before_sell_out: usize,
    pub warned_share: Option<f64>,
}

pub fn honesty(records: &[BuyerRecord]) -> Honesty {
    let at_join = records.iter().filter_map(|r| Some((r.joined_at?, r.eta_at_join_s?, r.admitted_at?)));
    let (buyers, p90_abs_error_s, median_error_s, median_ratio) = eta_errors(at_join);
    let first_shown = records.iter().filter_map(|r| Some((r.first_eta?.0, r.first_eta?.1, r.admitted_at?)));
    let (first_shown_buyers, first_shown_p90_abs_error_s, _, first_shown_median_ratio) = eta_errors(first_shown);
    Honesty {
        buyers,
        median_error_s,
        p90_abs_error_s,
        median_ratio,
        first_shown_buyers,
        first_shown_p90_abs_error_s,
        first_shown_median_ratio,
    }
}

/// From (shown at, ETA shown, admitted at): how many, the 90th percentile of
/// the absolute error, the median error (real wait minus ETA) and the median ratio.
fn eta_errors(
    shown: impl Iterator<Item = (Duration, u64, Duration)>,
) -> (usize, Option<f64>, Option<f64>, Option<f64>) {
    let mut errors = Vec::new();
    let mut ratios = Vec::new();
    for (shown_at, eta, admitted) in shown {
        let waited = admitted.saturating_sub(shown_at).as_secs_f64();
        errors.push(waited - eta as f64);
        if eta > 0 {
            ratios.push(waited / eta as f64);
        }
    }
    let mut absolute: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    (errors.len(), quantile(&mut absolute, 0.9), quantile(&mut errors, 0.5), quantile(&mut ratios, 0.5))
}

pub fn outcomes(records: &[BuyerRecord], sold_out_at: Option<Duration>) -> Outcomes {
    let admitted = records.iter().filter(|r| r.admitted_at.is_some()).count();
    let no_seats_found = records.iter().filter(|r| r.end == End::NoSeatsFound).count();
    let nothing: Vec<&BuyerRecord> = records
        .iter()
        .filter(|r| r.joined_at.is_some())
        .filter(|r| !matches!(r.end, End::Bought | End::LeftQueue | End::AbandonedAtCheckout))
        .collect();
    let in_time = |r: &&&BuyerRecord| match (r.warned_at, sold_out_at) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(warned), Some(sold_out)) => warned <= sold_out.max(r.joined_at.unwrap_or_default()),
    };
    let warned_before_sell_out = nothing.iter().filter(in_time).count();
    let share = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
    Outcomes {
        admitted,
        no_seats_found,
        no_seats_found_share_of_admitted: share(no_seats_found, admitted),
        ended_with_nothing: nothing.len(),
        warned_before_sell_out,
        warned_share: share(warned_before_sell_out, nothing.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::fixtures::record;

    #[test]
    fn outcomes_count_who_was_told_before_the_sell_out() {
        let at = |s: u64| Some(Duration::from_secs(s));
        let mut records: Vec<BuyerRecord> = (0..5).map(|i| record(i, None, None)).collect();
        records[0].end = End::Bought;
        records[1].end = End::NoSeatsFound; // admitted, never warned
        records[2].end = End::SoldOut;
        records[2].warned_at = at(50); // warned before the sell-out at 100 s
        records[3].end = End::SoldOut;
        records[3].warned_at = at(150); // only once it was over
        records[4].end = End::SoldOut;
        records[4].admitted_at = None;
        (records[4].joined_at, records[4].warned_at) = (at(200), at(200)); // joined after it: told at once
        let outcomes = outcomes(&records, at(100));
        assert_eq!((outcomes.admitted, outcomes.no_seats_found), (4, 1));
        assert_eq!((outcomes.ended_with_nothing, outcomes.warned_before_sell_out), (4, 2));
        assert_eq!(outcomes.warned_share, Some(0.5));
        // Those who walked away of their own accord are not counted.
        records[1].end = End::AbandonedAtCheckout;
        assert_eq!(super::outcomes(&records, at(100)).ended_with_nothing, 3);
    }
}
