//! Driving a run: the open-loop virtual buyers, each on its own task at its
//! planned arrival, the once-a-second sampler, and the chaos actions
//! against the servers the tool started; ends when every buyer is done.

use std::sync::Arc;

use crate::buyer::{self, BuyerRecord};
use crate::chaos::{self, ChaosAction, ChaosEvent};
use crate::plan;
use crate::sampler::{self, Sample};
use crate::scenario::Scenario;
use crate::setup::Stage;

/// What the run saw, for the judge.
pub struct Driven {
    pub records: Vec<BuyerRecord>,
    /// From the first planned arrival until the last buyer was done.
    pub duration_s: f64,
    pub timeline: Vec<Sample>,
    pub chaos: Vec<ChaosEvent>,
}

/// Runs every buyer of the scenario, and plays the chaos `actions` meanwhile.
pub async fn drive(stage: &mut Stage, scenario: &Scenario, actions: &[ChaosAction]) -> Result<Driven, String> {
    let context = stage.context.clone();
    let stop_sampling = Arc::new(tokio::sync::Notify::new());
    let sampler = tokio::spawn(sampler::sample(
        context.clone(),
        stage.admin_token.clone(),
        scenario.capacity(),
        scenario.total_buyers(),
        stop_sampling.clone(),
    ));
    let buyers: Vec<_> =
        plan::plans(scenario).into_iter().map(|plan| tokio::spawn(buyer::visit(context.clone(), plan))).collect();
    let buyers_done = tokio::sync::Notify::new();
    let chaos = chaos::play(stage.spawned.as_mut(), actions, context.start, &buyers_done);
    let collect = async {
        let mut records = Vec::with_capacity(buyers.len());
        for handle in buyers {
            records.push(handle.await.map_err(|e| format!("a buyer task failed: {e}")));
        }
        buyers_done.notify_one();
        records.into_iter().collect::<Result<Vec<BuyerRecord>, String>>()
    };
    let (chaos, records) = tokio::join!(chaos, collect);
    let chaos = chaos?;
    let records = records?;
    let duration_s = context.start.elapsed().as_secs_f64();
    stop_sampling.notify_one();
    let timeline = sampler.await.unwrap_or_default();
    Ok(Driven { records, duration_s, timeline, chaos })
}
