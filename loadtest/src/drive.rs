//! Driving a run: the open-loop virtual buyers, each on its own task at its
//! planned arrival, the once-a-second sampler, and the chaos kill of a
//! spawned server; ends when every buyer is done.

use std::sync::Arc;
use std::time::Duration;

use crate::buyer::{self, BuyerRecord};
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
}

/// Runs every buyer of the scenario; with `chaos_kill_at_s`, kills the spawned
/// server with SIGKILL that many seconds in and starts it again.
pub async fn drive(stage: &mut Stage, scenario: &Scenario, chaos_kill_at_s: Option<u64>) -> Result<Driven, String> {
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
    let spawned = &mut stage.spawned;
    let chaos = async {
        if let (Some(at_s), Some(server)) = (chaos_kill_at_s, spawned.as_mut()) {
            tokio::time::sleep_until((context.start + Duration::from_secs(at_s)).into()).await;
            eprintln!("guichet-loadtest: chaos: killing the server (SIGKILL) at {at_s} s and starting it again");
            server.kill_and_restart().await.map_err(|e| format!("chaos restart: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let collect = async {
        let mut records = Vec::with_capacity(buyers.len());
        for handle in buyers {
            records.push(handle.await.map_err(|e| format!("a buyer task failed: {e}"))?);
        }
        Ok::<Vec<BuyerRecord>, String>(records)
    };
    let (chaos, records) = tokio::join!(chaos, collect);
    chaos?;
    let records = records?;
    let duration_s = context.start.elapsed().as_secs_f64();
    stop_sampling.notify_one();
    let timeline = sampler.await.unwrap_or_default();
    Ok(Driven { records, duration_s, timeline })
}
