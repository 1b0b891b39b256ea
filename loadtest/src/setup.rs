//! Set-up of a run: reach the server (or spawn one), create the run's event
//! on it, read the lottery's digest published before the on-sale, and build
//! the context every virtual buyer shares.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_engine::clock::{Clock, SystemClock};
use serde_json::Value;

use crate::admin;
use crate::api::{Api, Recorder};
use crate::buyer::{Context, Tally, Venue};
use crate::cluster::{find_binary, Cluster, ClusterBinaries};
use crate::plan;
use crate::scenario::Scenario;
use crate::spawn::{self, Spawned, Started};

/// Time between creating the event and the first arrival.
pub const SETUP_MARGIN: Duration = Duration::from_secs(1);

/// The server to test.
pub enum Server<'a> {
    /// Start a `guichet` on a temporary data directory: `server_bin`, else the
    /// one beside this tool or on the PATH.
    Spawn { server_bin: Option<&'a Path> },
    /// Start a cluster (NATS, three nodes, HAProxy) on temporary directories.
    SpawnCluster { server_bin: Option<&'a Path>, nats_server_bin: Option<&'a Path>, haproxy_bin: Option<&'a Path> },
    /// One already running, with its admin token.
    Reach { target: &'a str, admin_token: &'a str },
}

/// A server ready for the run, with the run's event on it.
pub struct Stage {
    /// The servers the run started, if it did (killed on drop).
    pub spawned: Option<Started>,
    pub target: String,
    pub admin_token: String,
    /// `lottery.seed_sha256` as published before the on-sale.
    pub seed_sha256_before: Option<String>,
    pub context: Arc<Context>,
}

pub async fn set_up(server: Server<'_>, scenario: &Scenario, no_queue: bool) -> Result<Stage, String> {
    let (spawned, target, admin_token) = reach(server).await?;
    let max_duration = Duration::from_secs(scenario.run.max_duration_s);
    let start = Instant::now() + SETUP_MARGIN;
    let api = Api::new(&target, scenario.run.max_in_flight, Recorder::new(start, max_duration + SETUP_MARGIN));
    let spec = event_spec(scenario, no_queue);
    let event_id = spec["id"].as_str().unwrap_or_default().to_owned();
    admin::create_event(&api, &admin_token, &spec).await?;
    let stats = admin::admin_get(&api, &admin_token, &format!("/v1/events/{event_id}/stats")).await?;
    let seed_sha256_before = stats["lottery"]["seed_sha256"].as_str().map(str::to_owned);
    let context = Arc::new(Context {
        api,
        event_id: event_id.clone(),
        run_tag: event_id,
        start,
        deadline: start + max_duration,
        venue: venue(scenario),
        sold_out_patience: Duration::from_secs(scenario.buyers.sold_out_patience_s),
        tally: Tally::default(),
        paid_through_test_provider: scenario.event.payment.is_some(),
        buyer_email: scenario.event.buyer_email.unwrap_or(false),
    });
    Ok(Stage { spawned, target, admin_token, seed_sha256_before, context })
}

/// The server's handle if spawned, its URL and its admin token.
async fn reach(server: Server<'_>) -> Result<(Option<Started>, String, String), String> {
    let token = format!("loadtest-{:032x}", SystemClock::new().now().0 as u128 * 2_654_435_761);
    let started = match server {
        Server::Spawn { server_bin } => {
            let binary = spawn::find_server_binary(server_bin);
            Started::Alone(Box::new(Spawned::start(binary, &token).await.map_err(|e| e.to_string())?))
        }
        Server::SpawnCluster { server_bin, nats_server_bin, haproxy_bin } => {
            let binaries = ClusterBinaries {
                guichet: spawn::find_server_binary(server_bin),
                nats_server: find_binary(nats_server_bin, "nats-server", &[]),
                haproxy: find_binary(haproxy_bin, "haproxy", &["/usr/sbin/haproxy"]),
            };
            Started::Cluster(Box::new(
                Cluster::start(binaries, &token).await.map_err(|e| format!("starting the cluster: {e}"))?,
            ))
        }
        Server::Reach { target, admin_token } => return Ok((None, target.to_owned(), admin_token.to_owned())),
    };
    let url = started.url();
    Ok((Some(started), url, token))
}

/// The event for this run: the scenario's venue and settings, a fresh id, on
/// sale once the lobby phase is over.
fn event_spec(scenario: &Scenario, no_queue: bool) -> Value {
    let now = SystemClock::new().now();
    let mut spec = scenario.spec();
    spec.id = format!("{}-{}", scenario.name, now.0);
    spec.name = format!("{} (load test {})", spec.name, scenario.name);
    let on_sale = now.plus_ms((SETUP_MARGIN + plan::on_sale_offset(scenario)).as_millis() as u64);
    spec.on_sale_at = on_sale.to_rfc3339();
    spec.starts_at = on_sale.plus_s(30 * 86_400).to_rfc3339();
    spec.refund_until = None;
    if no_queue {
        spec.room.admit_per_minute = guichet_engine::limits::MAX_ADMIT_PER_MINUTE;
        spec.room.max_active = guichet_engine::limits::MAX_MAX_ACTIVE;
    }
    serde_json::to_value(&spec).unwrap_or(Value::Null)
}

fn venue(scenario: &Scenario) -> Venue {
    let spec = scenario.spec();
    Venue {
        reserved_sections: spec.sections.iter().filter(|s| s.rows.is_some()).map(|s| s.id.clone()).collect(),
        ga_sections: spec.sections.iter().filter(|s| s.capacity.is_some()).map(|s| s.id.clone()).collect(),
        tiers: spec.tiers.iter().map(|t| t.id.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_event_opens_after_the_lobby_and_admits_everyone_without_a_queue() {
        let scenario = Scenario::preset("smoke").unwrap();
        let queued = event_spec(&scenario, false);
        assert_eq!(queued["room"]["admit_per_minute"], 1200);
        let open = event_spec(&scenario, true);
        assert_eq!(open["room"]["admit_per_minute"], guichet_engine::limits::MAX_ADMIT_PER_MINUTE);
        assert!(open["id"].as_str().unwrap().starts_with("smoke-"));
        assert_eq!(scenario.capacity(), 300);
    }
}
