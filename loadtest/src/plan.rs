//! Each virtual buyer's plan, drawn from the scenario's seed before the run:
//! when the buyer arrives and what the buyer will do. The same seed gives the
//! same plans, so a run can be repeated exactly on the client's side.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::scenario::{Scenario, SpikeShape};

/// A seeded stream of random draws.
pub struct Draws(ChaCha20Rng);

impl Draws {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&stream.to_le_bytes());
        Self(ChaCha20Rng::from_seed(key))
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high]`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        low + (self.unit() * (high - low + 1) as f64) as u64
    }

    /// `N` random bytes (the randomness of an idempotency key).
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        self.0.fill_bytes(&mut out);
        out
    }

    pub fn percent(&mut self, percent: u32) -> bool {
        self.unit() * 100.0 < f64::from(percent)
    }

    /// An index chosen with the given weights (not all zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        debug_assert!(total > 0);
        let mut pick = self.between(0, total - 1);
        for (index, &weight) in weights.iter().enumerate() {
            if pick < u64::from(weight) {
                return index;
            }
            pick -= u64::from(weight);
        }
        weights.len() - 1
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Explicit,
    BestAvailable,
    GeneralAdmission,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Lobby,
    Spike,
    Tail,
}

/// What one buyer will do.
#[derive(Clone, Debug)]
pub struct BuyerPlan {
    pub index: u32,
    pub phase: Phase,
    /// Arrival, from the start of the run.
    pub arrival: Duration,
    pub tickets: u32,
    pub choice: Choice,
    /// Gives up after this long in the queue, if set.
    pub abandon_in_queue_after: Option<Duration>,
    pub abandon_at_checkout: bool,
    pub think_before_hold: Duration,
    pub think_before_purchase: Duration,
    /// Draws the buyer makes during the run (seats, sections).
    pub seed: u64,
}

/// The on-sale instant, from the start of the run: the lobby phase before it.
pub fn on_sale_offset(scenario: &Scenario) -> Duration {
    Duration::from_secs(scenario.arrivals.lobby_s)
}

/// Every buyer's plan, in arrival order.
pub fn plans(scenario: &Scenario) -> Vec<BuyerPlan> {
    let arrivals = &scenario.arrivals;
    let mut draws = Draws::new(scenario.seed, 0);
    let on_sale_ms = arrivals.lobby_s * 1000;
    let mut times: Vec<(u64, Phase)> = Vec::with_capacity(scenario.total_buyers() as usize);
    // The lobby closes a little before the on-sale so every lobby join lands in it.
    let lobby_ms = on_sale_ms.saturating_sub(500).max(1);
    times.extend((0..arrivals.lobby_buyers).map(|_| ((draws.unit() * lobby_ms as f64) as u64, Phase::Lobby)));
    let spike_ms = arrivals.spike_s * 1000;
    times.extend(
        (0..arrivals.spike_buyers)
            .map(|_| (on_sale_ms + spike_offset_ms(arrivals.spike_shape, spike_ms, &mut draws), Phase::Spike)),
    );
    let tail_start_ms = on_sale_ms + spike_ms;
    let tail_ms = arrivals.tail_s * 1000;
    times.extend(
        (0..arrivals.tail_buyers).map(|_| (tail_start_ms + (draws.unit() * tail_ms as f64) as u64, Phase::Tail)),
    );
    times.sort_by_key(|&(ms, _)| ms);
    times.into_iter().enumerate().map(|(index, (ms, phase))| plan_one(scenario, &mut draws, index, ms, phase)).collect()
}

fn spike_offset_ms(shape: SpikeShape, spike_ms: u64, draws: &mut Draws) -> u64 {
    let fraction = match shape {
        SpikeShape::Uniform => draws.unit(),
        // Exponential with mean a fifth of the spike, folded back into it.
        SpikeShape::Decay => (-(1.0 - draws.unit()).ln() / 5.0) % 1.0,
        SpikeShape::Ramp => (draws.unit() + draws.unit()) / 2.0,
    };
    ((fraction * spike_ms as f64) as u64).min(spike_ms.saturating_sub(1))
}

fn plan_one(scenario: &Scenario, draws: &mut Draws, index: usize, arrival_ms: u64, phase: Phase) -> BuyerPlan {
    let behaviour = &scenario.buyers;
    let weights: Vec<u32> = behaviour.tickets_per_order.iter().map(|w| w.weight).collect();
    let tickets = behaviour.tickets_per_order[draws.weighted(&weights)].tickets;
    let choice_weights =
        [behaviour.choice.explicit, behaviour.choice.best_available, behaviour.choice.general_admission];
    let choice = [Choice::Explicit, Choice::BestAvailable, Choice::GeneralAdmission][draws.weighted(&choice_weights)];
    let abandon_in_queue_after =
        draws.percent(behaviour.abandon_in_queue_percent).then(|| Duration::from_millis(draws.between(1_000, 60_000)));
    let [hold_low, hold_high] = behaviour.think_before_hold_ms;
    let [buy_low, buy_high] = behaviour.think_before_purchase_ms;
    BuyerPlan {
        index: u32::try_from(index).expect("scenarios have at most a million buyers"),
        phase,
        arrival: Duration::from_millis(arrival_ms),
        tickets,
        choice,
        abandon_in_queue_after,
        abandon_at_checkout: draws.percent(behaviour.abandon_at_checkout_percent),
        think_before_hold: Duration::from_millis(draws.between(hold_low, hold_high)),
        think_before_purchase: Duration::from_millis(draws.between(buy_low, buy_high)),
        seed: draws.0.next_u64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_the_scenario_and_repeat_from_the_seed() {
        let scenario = Scenario::preset("smoke").unwrap();
        let first = plans(&scenario);
        let again = plans(&scenario);
        assert_eq!(first.len() as u64, scenario.total_buyers());
        assert!(first.iter().zip(&again).all(|(a, b)| a.arrival == b.arrival && a.tickets == b.tickets));
        assert!(first.windows(2).all(|w| w[0].arrival <= w[1].arrival));
        let on_sale = on_sale_offset(&scenario);
        for plan in &first {
            assert_eq!(plan.phase == Phase::Lobby, plan.arrival < on_sale, "{plan:?}");
            assert!(plan.tickets >= 1 && plan.tickets <= 6);
        }
        let lobby = first.iter().filter(|p| p.phase == Phase::Lobby).count() as u64;
        assert_eq!(lobby, scenario.arrivals.lobby_buyers);
    }

    #[test]
    fn a_decaying_spike_front_loads_arrivals() {
        let mut draws = Draws::new(1, 1);
        let offsets: Vec<u64> = (0..10_000).map(|_| spike_offset_ms(SpikeShape::Decay, 100_000, &mut draws)).collect();
        let first_fifth = offsets.iter().filter(|&&ms| ms < 20_000).count();
        // An exponential with mean 1/5 puts 1 - e^-1 (63%) in the first fifth.
        assert!((6_000..6_600).contains(&first_fifth), "{first_fifth}");
        assert!(offsets.iter().all(|&ms| ms < 100_000));
    }

    #[test]
    fn weights_are_honoured() {
        let mut draws = Draws::new(3, 0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[draws.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_500..10_500).contains(&counts[0]), "{counts:?}");
    }
}
