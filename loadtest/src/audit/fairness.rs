//! Fairness: the lottery's seed against the digest published before the
//! on-sale, the lobby admitted in the lottery's order (recomputed here), and
//! later buyers admitted in the order they joined.

use serde::Serialize;
use serde_json::Value;

use super::check::Check;
use super::lottery::{hex, lottery_order, parse_seed, seed_digest};
use super::statistics::spearman;
use crate::buyer::BuyerRecord;

/// Fewer buyers than this in a group: its rank correlation is not judged.
const MIN_BUYERS_FOR_CORRELATION: usize = 10;

#[derive(Debug, Default, Serialize)]
pub struct Fairness {
    /// Buyers who arrived after the on-sale and were admitted.
    pub after_on_sale_buyers: usize,
    /// Spearman rank correlation of their join (as the server numbered them) and admission orders.
    pub after_on_sale_rank_correlation: Option<f64>,
    pub lobby_buyers: usize,
    /// Spearman rank correlation of the lottery's order (recomputed from the
    /// published seed) and the lobby's admission order.
    pub lobby_rank_correlation: Option<f64>,
    pub seed_sha256_published: Option<String>,
    pub seed: Option<String>,
    pub lobby_size: Option<u64>,
    /// Joins whose queue token did not yield the buyer's number.
    pub joins_unnumbered: usize,
    /// The published lobby size is no larger than the joins seen.
    pub lobby_size_plausible: bool,
}

/// Fairness as recomputed from the buyers' records and the event's stats
/// after the run (`lottery.seed`, `lobby_size`).
pub fn fairness(records: &[BuyerRecord], stats: &Value, seed_sha256_before: Option<String>) -> Fairness {
    let admitted: Vec<&BuyerRecord> = records.iter().filter(|r| r.admitted_at.is_some()).collect();
    let lobby_size = stats["lottery"]["lobby_size"].as_u64().unwrap_or(0);
    let after: Vec<&BuyerRecord> =
        admitted.iter().copied().filter(|r| r.buyer_number.is_some_and(|n| n >= lobby_size)).collect();
    // Join order as the server numbered it: a join retried after a 429 or a
    // restart arrives later than planned, and that is not the room's doing.
    let after_pairs: Vec<(f64, f64)> =
        after.iter().filter_map(|r| Some((r.buyer_number? as f64, r.admitted_at?.as_secs_f64()))).collect();
    let lottery = &stats["lottery"];
    let seed = lottery["seed"].as_str().map(str::to_owned);
    // Nobody can be in the lottery who joined after the last buyer we saw join.
    let entries = records.iter().filter_map(|r| r.buyer_number).max().map_or(0, |n| n + 1);
    let lobby_size = lottery["lobby_size"].as_u64().filter(|&n| n <= entries).and_then(|n| u32::try_from(n).ok());
    let lobby_pairs = seed
        .as_deref()
        .and_then(parse_seed)
        .zip(lobby_size)
        .map(|(seed, lobby_size)| lobby_pairs(records, &seed, lobby_size));
    Fairness {
        after_on_sale_buyers: after_pairs.len(),
        after_on_sale_rank_correlation: (after_pairs.len() >= MIN_BUYERS_FOR_CORRELATION)
            .then(|| spearman(&after_pairs)),
        lobby_buyers: lobby_pairs.as_ref().map_or(0, Vec::len),
        lobby_rank_correlation: lobby_pairs
            .as_ref()
            .filter(|pairs| pairs.len() >= MIN_BUYERS_FOR_CORRELATION)
            .map(|pairs| spearman(pairs)),
        seed_sha256_published: seed_sha256_before,
        seed,
        lobby_size: lottery["lobby_size"].as_u64(),
        joins_unnumbered: records.iter().filter(|r| r.joined_at.is_some() && r.buyer_number.is_none()).count(),
        lobby_size_plausible: lobby_size.is_some() || lottery["lobby_size"].is_null(),
    }
}

/// (lottery rank, admission time) for each admitted buyer the lottery placed:
/// those numbered below `lobby_size` in join order, as the server publishes it
/// (not what each join answered: a join that waited for the disk across the
/// draw already answers `waiting`).
fn lobby_pairs(records: &[BuyerRecord], seed: &[u8; 32], lobby_size: u32) -> Vec<(f64, f64)> {
    let order = lottery_order(seed, lobby_size);
    let mut rank_of = vec![0u32; order.len()];
    for (rank, &buyer) in order.iter().enumerate() {
        rank_of[buyer as usize] = rank as u32;
    }
    records
        .iter()
        .filter_map(|r| {
            let rank = rank_of.get(usize::try_from(r.buyer_number?).ok()?)?;
            Some((f64::from(*rank), r.admitted_at?.as_secs_f64()))
        })
        .collect()
}

pub fn fairness_checks(fairness: &Fairness, min: f64) -> Vec<Check> {
    let seed_matches = match (&fairness.seed_sha256_published, &fairness.seed) {
        (Some(published), Some(seed)) => parse_seed(seed).map(|seed| hex(&seed_digest(&seed)) == *published),
        _ => None,
    };
    let correlation_check = |name: &'static str, value: Option<f64>, buyers: usize| Check {
        name,
        passed: value.is_none_or(|v| v >= min),
        detail: match value {
            Some(v) => format!("Spearman {v:.3} over {buyers} admitted buyers (at least {min} required)"),
            None => format!("{buyers} admitted buyers: too few to judge"),
        },
    };
    vec![
        Check {
            name: "the lottery seed matches its published digest",
            passed: seed_matches == Some(true) && fairness.lobby_size_plausible,
            detail: match seed_matches {
                Some(true) if fairness.lobby_size_plausible => {
                    "SHA-256 of the revealed seed equals the digest published before the on-sale".into()
                }
                Some(true) => format!("lobby_size {:?} is more than the buyers who joined", fairness.lobby_size),
                Some(false) => "the revealed seed does not hash to the published digest".into(),
                None => "no digest before the on-sale, or no (readable) seed after it".into(),
            },
        },
        Check {
            name: "every join's number is readable",
            passed: fairness.joins_unnumbered == 0,
            detail: format!("{} queue tokens without a readable buyer number", fairness.joins_unnumbered),
        },
        correlation_check(
            "the lobby is admitted in lottery order",
            fairness.lobby_rank_correlation,
            fairness.lobby_buyers,
        ),
        correlation_check(
            "later buyers are admitted in join order",
            fairness.after_on_sale_rank_correlation,
            fairness.after_on_sale_buyers,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::audit::fixtures::record;

    #[test]
    fn the_lobby_is_checked_against_the_recomputed_lottery() {
        let seed = [7u8; 32];
        let order = lottery_order(&seed, 30);
        let mut records: Vec<BuyerRecord> = (0..30u32).map(|i| record(i, None, None)).collect();
        for record in &mut records {
            record.in_lobby = true;
            let rank = order.iter().position(|&b| u64::from(b) == record.buyer_number.unwrap()).unwrap();
            record.admitted_at = Some(Duration::from_secs(rank as u64));
        }
        let pairs = lobby_pairs(&records, &seed, 30);
        assert_eq!(pairs.len(), 30);
        assert!((spearman(&pairs) - 1.0).abs() < 1e-12);
        let other = lobby_pairs(&records, &[8u8; 32], 30);
        assert!(spearman(&other) < 0.9);
    }

    #[test]
    fn fairness_cannot_pass_unjudged() {
        let mut fairness = Fairness {
            seed_sha256_published: Some("ab".repeat(32)),
            lobby_size_plausible: true,
            ..Fairness::default()
        };
        let failed = |f: &Fairness| -> Vec<&'static str> {
            fairness_checks(f, 0.9).into_iter().filter(|c| !c.passed).map(|c| c.name).collect()
        };
        // A digest was published but no seed came back.
        assert_eq!(failed(&fairness), ["the lottery seed matches its published digest"]);
        let seed = [5u8; 32];
        fairness.seed = Some(hex(&seed));
        fairness.seed_sha256_published = Some(hex(&seed_digest(&seed)));
        assert!(failed(&fairness).is_empty());
        fairness.joins_unnumbered = 3;
        assert_eq!(failed(&fairness), ["every join's number is readable"]);
        fairness.joins_unnumbered = 0;
        fairness.lobby_size_plausible = false;
        assert_eq!(failed(&fairness), ["the lottery seed matches its published digest"]);
    }
}
