//! The audit at the end of every run: what the server says it sold, checked
//! against itself, against its own figures and against what each virtual
//! buyer was told. Nothing sold twice, nothing acknowledged lost, nothing
//! invented; then fairness (arrival and lottery order against admission order)
//! and honesty (the ETA shown at join against the real wait).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use guichet_engine::spec::EventSpec;
use serde::Serialize;
use serde_json::Value;

use crate::buyer::{BuyerRecord, End, Seat};

mod lottery;

use lottery::{hex, lottery_order, parse_seed, seed_digest};

/// Fewer buyers than this in a group: its rank correlation is not judged.
const MIN_BUYERS_FOR_CORRELATION: usize = 10;

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

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
    pub min_rank_correlation: f64,
    /// With the room effectively open, admission order says nothing.
    pub judge_fairness: bool,
    /// When the event first had nothing available or held, from the start of the run.
    pub sold_out_at: Option<Duration>,
}

pub fn audit(evidence: &Evidence<'_>) -> Audit {
    let confirmed: Vec<&Value> = evidence.orders.iter().filter(|o| o["status"] == "confirmed").collect();
    let tickets_sold: u64 = confirmed.iter().map(|o| tickets(o).len() as u64).sum();
    let fairness = fairness(evidence);
    let mut checks = vec![
        no_seat_sold_twice(evidence.spec, &confirmed),
        sold_matches_stats(&confirmed, tickets_sold, evidence.stats),
        nothing_lost(evidence.records, evidence.orders),
        nothing_invented(evidence.records, evidence.orders),
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
            name: "every request answered (but while the server restarts)",
            passed: evidence.no_answer_outside_restart == 0,
            detail: format!(
                "{} requests without an answer (refused, reset, timed out) outside a restart",
                evidence.no_answer_outside_restart
            ),
        },
    ];
    if evidence.judge_fairness {
        checks.extend(fairness_checks(&fairness, evidence.min_rank_correlation));
    }
    Audit {
        passed: checks.iter().all(|c| c.passed),
        checks,
        orders: confirmed.len(),
        tickets_sold,
        fairness,
        honesty: honesty(evidence.records),
        outcomes: outcomes(evidence.records, evidence.sold_out_at),
    }
}

fn tickets(order: &Value) -> &[Value] {
    order["tickets"].as_array().map_or(&[], Vec::as_slice)
}

fn no_seat_sold_twice(spec: &EventSpec, confirmed: &[&Value]) -> Check {
    let mut seats: HashMap<Seat, usize> = HashMap::new();
    let mut ga: BTreeMap<String, u64> = BTreeMap::new();
    let mut ticket_ids: HashSet<&str> = HashSet::new();
    let mut problems = Vec::new();
    for order in confirmed {
        for ticket in tickets(order) {
            let seat = Seat::from_ticket(ticket);
            if let Some(id) = ticket["ticket_id"].as_str() {
                if !ticket_ids.insert(id) {
                    problems.push(format!("ticket {id} in two orders"));
                }
            }
            if seat.number.is_some() {
                let count = seats.entry(seat.clone()).or_default();
                *count += 1;
                if *count == 2 {
                    problems.push(format!("seat {seat:?} sold twice"));
                }
            } else {
                *ga.entry(seat.section).or_default() += 1;
            }
        }
    }
    for (section, sold) in &ga {
        let capacity = spec.sections.iter().find(|s| &s.id == section).and_then(|s| s.capacity).map_or(0, u64::from);
        if *sold > capacity {
            problems.push(format!("general admission {section}: {sold} sold for {capacity} places"));
        }
    }
    Check {
        name: "no seat sold twice",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{} reserved seats and {} GA places, each sold once", seats.len(), ga.values().sum::<u64>())
        } else {
            summarise(&problems)
        },
    }
}

fn sold_matches_stats(confirmed: &[&Value], tickets_sold: u64, stats: &Value) -> Check {
    let stats_sold = stats["inventory"]["total"]["sold"].as_u64();
    let stats_orders = stats["orders"].as_u64();
    let passed = stats_sold == Some(tickets_sold) && stats_orders == Some(confirmed.len() as u64);
    Check {
        name: "sold counts equal the event's stats",
        passed,
        detail: format!(
            "orders list {} orders, {tickets_sold} tickets; stats say {} orders, {} sold",
            confirmed.len(),
            stats_orders.map_or("?".into(), |n| n.to_string()),
            stats_sold.map_or("?".into(), |n| n.to_string()),
        ),
    }
}

fn nothing_lost(records: &[BuyerRecord], orders: &[Value]) -> Check {
    let by_id: HashMap<&str, &Value> = orders.iter().filter_map(|o| Some((o["order_id"].as_str()?, o))).collect();
    let mut problems = Vec::new();
    let mut acknowledged = 0;
    for order in records.iter().filter_map(|r| r.order.as_ref()) {
        acknowledged += 1;
        match by_id.get(order.order_id.as_str()) {
            None => problems.push(format!("order {} acknowledged but missing", order.order_id)),
            Some(stored) if stored["status"] != "confirmed" => {
                problems.push(format!("order {} acknowledged but {}", order.order_id, stored["status"]))
            }
            Some(stored) => {
                // The same tickets, in whatever order each list gives them.
                let mut ids: Vec<&str> = tickets(stored).iter().filter_map(|t| t["ticket_id"].as_str()).collect();
                let mut seats: Vec<Seat> = tickets(stored).iter().map(Seat::from_ticket).collect();
                let mut acknowledged_ids: Vec<&str> = order.ticket_ids.iter().map(String::as_str).collect();
                let mut acknowledged_seats = order.seats.clone();
                ids.sort_unstable();
                seats.sort();
                acknowledged_ids.sort_unstable();
                acknowledged_seats.sort();
                if ids != acknowledged_ids || seats != acknowledged_seats {
                    problems.push(format!("order {} has other tickets than acknowledged", order.order_id));
                }
            }
        }
    }
    Check {
        name: "every acknowledged purchase is there",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{acknowledged} orders acknowledged to buyers, all present and confirmed")
        } else {
            summarise(&problems)
        },
    }
}

fn nothing_invented(records: &[BuyerRecord], orders: &[Value]) -> Check {
    let attempted: HashSet<&str> = records.iter().filter_map(|r| r.purchase_attempted.as_deref()).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut problems = Vec::new();
    for order in orders {
        let id = order["order_id"].as_str().unwrap_or("?");
        match order["payment_ref"].as_str() {
            Some(reference) if attempted.contains(reference) => {
                if !seen.insert(reference) {
                    problems.push(format!("payment {reference} made two orders"));
                }
            }
            other => problems.push(format!("order {id} with payment {other:?} that no buyer attempted")),
        }
    }
    Check {
        name: "no order that no buyer attempted",
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("{} orders, each from one purchase a buyer attempted ({} attempted)", orders.len(), attempted.len())
        } else {
            summarise(&problems)
        },
    }
}

fn fairness(evidence: &Evidence<'_>) -> Fairness {
    let admitted: Vec<&BuyerRecord> = evidence.records.iter().filter(|r| r.admitted_at.is_some()).collect();
    let lobby_size = evidence.stats["lottery"]["lobby_size"].as_u64().unwrap_or(0);
    let after: Vec<&BuyerRecord> =
        admitted.iter().copied().filter(|r| r.buyer_number.is_some_and(|n| n >= lobby_size)).collect();
    // Join order as the server numbered it: a join retried after a 429 or a
    // restart arrives later than planned, and that is not the room's doing.
    let after_pairs: Vec<(f64, f64)> =
        after.iter().filter_map(|r| Some((r.buyer_number? as f64, r.admitted_at?.as_secs_f64()))).collect();
    let lottery = &evidence.stats["lottery"];
    let seed = lottery["seed"].as_str().map(str::to_owned);
    // Nobody can be in the lottery who joined after the last buyer we saw join.
    let entries = evidence.records.iter().filter_map(|r| r.buyer_number).max().map_or(0, |n| n + 1);
    let lobby_size = lottery["lobby_size"].as_u64().filter(|&n| n <= entries).and_then(|n| u32::try_from(n).ok());
    let lobby_pairs = seed
        .as_deref()
        .and_then(parse_seed)
        .zip(lobby_size)
        .map(|(seed, lobby_size)| lobby_pairs(evidence.records, &seed, lobby_size));
    Fairness {
        after_on_sale_buyers: after_pairs.len(),
        after_on_sale_rank_correlation: (after_pairs.len() >= MIN_BUYERS_FOR_CORRELATION)
            .then(|| spearman(&after_pairs)),
        lobby_buyers: lobby_pairs.as_ref().map_or(0, Vec::len),
        lobby_rank_correlation: lobby_pairs
            .as_ref()
            .filter(|pairs| pairs.len() >= MIN_BUYERS_FOR_CORRELATION)
            .map(|pairs| spearman(pairs)),
        seed_sha256_published: evidence.seed_sha256_before.clone(),
        seed,
        lobby_size: lottery["lobby_size"].as_u64(),
        joins_unnumbered: evidence.records.iter().filter(|r| r.joined_at.is_some() && r.buyer_number.is_none()).count(),
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

fn fairness_checks(fairness: &Fairness, min: f64) -> Vec<Check> {
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

fn honesty(records: &[BuyerRecord]) -> Honesty {
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

fn outcomes(records: &[BuyerRecord], sold_out_at: Option<Duration>) -> Outcomes {
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

/// Nearest-rank quantile; sorts in place.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let index = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    Some(values[index])
}

/// Spearman's rank correlation (ties take their average rank).
pub fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let xs = ranks(pairs.iter().map(|p| p.0).collect());
    let ys = ranks(pairs.iter().map(|p| p.1).collect());
    let n = xs.len() as f64;
    let (mean_x, mean_y) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let mut covariance = 0.0;
    let (mut var_x, mut var_y) = (0.0, 0.0);
    for (x, y) in xs.iter().zip(&ys) {
        covariance += (x - mean_x) * (y - mean_y);
        var_x += (x - mean_x).powi(2);
        var_y += (y - mean_y).powi(2);
    }
    if var_x == 0.0 || var_y == 0.0 {
        return 0.0;
    }
    covariance / (var_x * var_y).sqrt()
}

fn ranks(values: Vec<f64>) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0 + 1.0;
        for &index in &order[start..=end] {
            ranks[index] = average;
        }
        start = end + 1;
    }
    ranks
}

fn summarise(problems: &[String]) -> String {
    let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    let more = problems.len().saturating_sub(shown.len());
    let mut text = shown.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buyer::Acknowledged;
    use crate::plan::{BuyerPlan, Choice, Phase};
    use serde_json::json;

    type Tickets<'a> = &'a [(&'a str, &'a str, u64)];

    fn record(index: u32, order: Option<(&str, Tickets<'_>)>, attempted: Option<&str>) -> BuyerRecord {
        BuyerRecord {
            plan: BuyerPlan {
                index,
                phase: Phase::Spike,
                arrival: Duration::from_millis(u64::from(index)),
                tickets: 1,
                choice: Choice::BestAvailable,
                abandon_in_queue_after: None,
                abandon_at_checkout: false,
                think_before_hold: Duration::ZERO,
                think_before_purchase: Duration::ZERO,
                seed: 0,
            },
            joined_at: Some(Duration::ZERO),
            buyer_number: Some(u64::from(index)),
            in_lobby: false,
            eta_at_join_s: Some(1),
            first_eta: Some((Duration::ZERO, 1)),
            warned_at: None,
            admitted_at: Some(Duration::from_secs(u64::from(index))),
            gave_up_at: None,
            conflicts: 0,
            too_few_left: 0,
            purchase_attempted: attempted.map(str::to_owned),
            order: order.map(|(id, tickets)| Acknowledged {
                order_id: id.into(),
                ticket_ids: tickets.iter().map(|t| t.0.to_owned()).collect(),
                seats: tickets
                    .iter()
                    .map(|t| Seat { section: "A".into(), row: Some(t.1.into()), number: Some(t.2) })
                    .collect(),
            }),
            end: End::Bought,
        }
    }

    fn order(id: &str, payment: &str, tickets: Tickets<'_>) -> Value {
        let tickets: Vec<Value> = tickets
            .iter()
            .map(|(ticket, row, number)| json!({"ticket_id": ticket, "section": "A", "row": row, "number": number}))
            .collect();
        json!({"order_id": id, "status": "confirmed", "payment_ref": payment, "tickets": tickets})
    }

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

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_reversed() {
        let same: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i), f64::from(i * i))).collect();
        assert!((spearman(&same) - 1.0).abs() < 1e-12);
        let reversed: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i), f64::from(-i))).collect();
        assert!((spearman(&reversed) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(vec![3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
    }

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
