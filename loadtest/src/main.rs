//! `guichet-loadtest`: replays an on-sale spike against a Guichet server over
//! real HTTP (open-loop virtual buyers on one shared hyper client), then
//! audits what was sold and writes a report. The exit status is non-zero when
//! the audit finds anything wrong.

mod api;
mod audit;
mod buyer;
mod plan;
mod report;
mod sampler;
mod scenario;
mod spawn;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use guichet_engine::clock::{Clock, SystemClock};
use hyper::Method;
use serde_json::Value;

use crate::api::{Api, Call, Endpoint, Recorder};
use crate::buyer::{BuyerRecord, Context, Tally, Venue};
use crate::scenario::Scenario;
use crate::spawn::Spawned;

/// Time between creating the event and the first arrival.
const SETUP_MARGIN: Duration = Duration::from_secs(1);
/// How long admin calls at the end (orders, stats) may keep retrying.
const ADMIN_PATIENCE: Duration = Duration::from_secs(60);
/// Orders fetched per page (the contract's maximum).
const ORDERS_PAGE: u32 = 1000;

#[derive(Parser)]
#[command(version, about = "On-sale spike scenarios against a Guichet server, with an audit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario, audits the result, writes the report.
    Run(RunArgs),
    /// Prints a preset's scenario (a starting point for your own).
    Preset {
        /// smoke, celine-2016 or stress
        name: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A scenario file (TOML); or use --preset.
    #[arg(required_unless_present = "preset", conflicts_with = "preset")]
    scenario: Option<PathBuf>,
    /// A scenario shipped with the tool: smoke (seconds), celine-2016 (the
    /// 2016 on-sale: 9,000 places, 45,000 buyers), stress (60,000 places,
    /// 200,000 buyers).
    #[arg(long)]
    preset: Option<String>,
    /// The server to test, e.g. http://127.0.0.1:8080 (needs its admin token).
    #[arg(long, required_unless_present = "spawn", conflicts_with = "spawn")]
    target: Option<String>,
    /// Start a `guichet` server on a temporary data directory for the run.
    #[arg(long)]
    spawn: bool,
    /// The `guichet` binary for --spawn (default: beside this tool, else on the PATH).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The target's admin token.
    #[arg(long, env = "GUICHET_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Where to write report.json and report.html (default: ./loadtest-reports/EVENT_ID).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Let every buyer straight in (the room admits at its maximum), to see
    /// what the waiting room saves.
    #[arg(long)]
    no_queue: bool,
    /// With --spawn: `kill:SECONDS` kills the server with SIGKILL that many
    /// seconds into the run and starts it again.
    #[arg(long, value_parser = parse_chaos)]
    chaos: Option<u64>,
    /// Overrides the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
}

fn parse_chaos(text: &str) -> Result<u64, String> {
    let seconds = text.strip_prefix("kill:").ok_or("the only chaos is kill:SECONDS")?;
    seconds.parse().map_err(|_| format!("kill:{seconds}: SECONDS must be a whole number"))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Preset { name } => match scenario::PRESETS.iter().find(|(preset, _)| *preset == name) {
            Some((_, text)) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => fail(&scenario::ScenarioError::UnknownPreset(name).to_string()),
        },
        Command::Run(args) => run(args),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("guichet-loadtest: {message}");
    ExitCode::from(2)
}

fn run(args: RunArgs) -> ExitCode {
    let loaded = match (&args.scenario, &args.preset) {
        (Some(path), _) => Scenario::load(path),
        (None, Some(name)) => Scenario::preset(name),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let mut scenario = match loaded {
        Ok(scenario) => scenario,
        Err(error) => return fail(&error.to_string()),
    };
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if args.chaos.is_some() && !args.spawn {
        return fail("--chaos needs --spawn (the tool can only kill a server it started)");
    }
    // Tens of thousands of buyers need as many sockets; the spawned server inherits the limit.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("guichet-loadtest: could not raise the open-file limit: {error}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    // Ctrl-C drops the run, and with it a spawned server (killed on drop).
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = run_scenario(&args, &scenario) => outcome,
            _ = tokio::signal::ctrl_c() => Err("interrupted; no audit".to_owned()),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => fail(&message),
    }
}

/// Runs, audits, reports; `Ok(passed)`.
async fn run_scenario(args: &RunArgs, scenario: &Scenario) -> Result<bool, String> {
    let (mut spawned, target, admin_token) = if args.spawn {
        let token = format!("loadtest-{:032x}", SystemClock::new().now().0 as u128 * 2_654_435_761);
        let binary = spawn::find_server_binary(args.server_bin.as_deref());
        let server = Spawned::start(binary, &token).await.map_err(|e| e.to_string())?;
        let url = server.url();
        (Some(server), url, token)
    } else {
        let token = args
            .admin_token
            .clone()
            .ok_or("--target needs the server's admin token (--admin-token or GUICHET_ADMIN_TOKEN)")?;
        (None, args.target.clone().unwrap_or_default(), token)
    };
    let max_duration = Duration::from_secs(scenario.run.max_duration_s);
    let created = Instant::now();
    let start = created + SETUP_MARGIN;
    let api = Api::new(&target, scenario.run.max_in_flight, Recorder::new(start, max_duration + SETUP_MARGIN));
    let spec = event_spec(scenario, args.no_queue);
    create_event(&api, &admin_token, &spec).await?;
    let seed_sha256_before =
        admin_get(&api, &admin_token, &format!("/v1/events/{}/stats", spec["id"].as_str().unwrap_or(""))).await?
            ["lottery"]["seed_sha256"]
            .as_str()
            .map(str::to_owned);
    let event_id = spec["id"].as_str().unwrap_or_default().to_owned();
    let context = Arc::new(Context {
        api: api.clone(),
        event_id: event_id.clone(),
        run_tag: event_id.clone(),
        start,
        deadline: start + max_duration,
        venue: venue(scenario),
        sold_out_patience: Duration::from_secs(scenario.buyers.sold_out_patience_s),
        tally: Tally::default(),
    });

    eprintln!(
        "guichet-loadtest: {} with {} buyers against {target}, event {event_id}, on sale in {} s{}",
        scenario.name,
        scenario.total_buyers(),
        scenario.arrivals.lobby_s + SETUP_MARGIN.as_secs(),
        if args.no_queue { " (no queue)" } else { "" }
    );
    let capacity = scenario.capacity();
    let stop_sampling = Arc::new(tokio::sync::Notify::new());
    let sampler = tokio::spawn(sampler::sample(
        context.clone(),
        admin_token.clone(),
        capacity,
        scenario.total_buyers(),
        stop_sampling.clone(),
    ));
    let buyers: Vec<_> =
        plan::plans(scenario).into_iter().map(|plan| tokio::spawn(buyer::visit(context.clone(), plan))).collect();
    let chaos = async {
        if let (Some(at_s), Some(server)) = (args.chaos, spawned.as_mut()) {
            tokio::time::sleep_until((start + Duration::from_secs(at_s)).into()).await;
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
    let duration_s = start.elapsed().as_secs_f64();
    stop_sampling.notify_one();
    let timeline = sampler.await.unwrap_or_default();

    let (orders, stats) = settled_orders_and_stats(&api, &admin_token, &event_id).await?;
    let venue_spec = scenario.spec();
    let restarts = spawned.as_ref().map_or_else(Vec::new, |s| s.restarts.clone());
    let (unexpected_5xx, no_answer_outside_restart, endpoints, latency_windows, calls_per_s, errors_per_s) = {
        let recorder = api.recorder.lock();
        (
            recorder.unexpected_5xx,
            outside_restart(&recorder.no_answer_per_s, args.chaos, restarts.first().copied()),
            report::endpoint_summaries(&recorder),
            report::latency_windows(&recorder),
            trim_trailing_zeros(&recorder.calls_per_s),
            trim_trailing_zeros(&recorder.errors_per_s),
        )
    };
    let sold_out_at_s = timeline.iter().find(|s| s.available == 0 && s.held == 0 && s.sold > 0).map(|s| s.at_s);
    let sold_99_percent_at_s = timeline.iter().find(|s| s.sold * 100 >= capacity * 99).map(|s| s.at_s);
    let audit = audit::audit(&audit::Evidence {
        spec: &venue_spec,
        records: &records,
        orders: &orders,
        stats: &stats,
        seed_sha256_before,
        unexpected_5xx,
        admitted_without_token: context.tally.admitted_without_token.load(std::sync::atomic::Ordering::Relaxed),
        no_answer_outside_restart,
        min_rank_correlation: scenario.audit.min_rank_correlation,
        judge_fairness: !args.no_queue,
        sold_out_at: sold_out_at_s.map(Duration::from_secs_f64),
    });
    let report = report::Report {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        queue: !args.no_queue,
        target,
        event_id: event_id.clone(),
        duration_s,
        buyers: scenario.total_buyers(),
        capacity,
        tickets_sold: audit.tickets_sold,
        sold_out_at_s,
        sold_99_percent_at_s,
        no_seats_while_available: report::no_seats_while_available(&records, &timeline),
        on_sale_at_s: plan::on_sale_offset(scenario).as_secs_f64(),
        ends: report::ends(&records),
        hold_conflicts: records.iter().map(|r| u64::from(r.conflicts)).sum(),
        holds_too_few_left: records.iter().map(|r| u64::from(r.too_few_left)).sum(),
        chaos_kill_at_s: args.chaos,
        restarts_s: restarts.iter().map(Duration::as_secs_f64).collect(),
        endpoints,
        latency_windows,
        calls_per_s,
        errors_per_s,
        timeline,
        audit,
    };
    if let Some(server) = spawned.take() {
        server.stop().await;
    }
    print!("{}", report::summary(&report));
    let dir = args.report.clone().unwrap_or_else(|| PathBuf::from("loadtest-reports").join(&event_id));
    report::write(&report, &records, &dir).map_err(|e| format!("writing the report to {}: {e}", dir.display()))?;
    println!("\n  report: {}", dir.join("report.html").display());
    Ok(report.audit.passed)
}

/// Seconds a restart may disturb: from the kill until this long after the
/// server listens again (buyers back off up to 2 s; requests in flight at the
/// kill fail at once).
const RESTART_GRACE_S: u64 = 10;

/// Requests without an answer in the seconds no restart explains.
fn outside_restart(no_answer_per_s: &[u32], kill_at_s: Option<u64>, restart: Option<Duration>) -> u64 {
    let window = kill_at_s.map(|at| at..=at + restart.unwrap_or_default().as_secs() + RESTART_GRACE_S);
    no_answer_per_s
        .iter()
        .enumerate()
        .filter(|(second, _)| !window.as_ref().is_some_and(|w| w.contains(&(*second as u64))))
        .map(|(_, &n)| u64::from(n))
        .sum()
}

fn trim_trailing_zeros(values: &[u32]) -> Vec<u32> {
    let end = values.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
    values[..end].to_vec()
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

async fn create_event(api: &Api, admin_token: &str, spec: &Value) -> Result<(), String> {
    let call = Call::new(Endpoint::Admin, Method::POST, "/v1/events").token(admin_token).json(spec);
    let reply = api.send(call).await.map_err(|e| format!("creating the event at {}: {e}", api.base()))?;
    match reply.status {
        201 => Ok(()),
        status => Err(format!("creating the event: {status} {}", String::from_utf8_lossy(&reply.body))),
    }
}

/// An admin GET, retried while the server is restarting or busy.
async fn admin_get(api: &Api, admin_token: &str, path: &str) -> Result<Value, String> {
    let give_up = Instant::now() + ADMIN_PATIENCE;
    loop {
        let reply = api.send(Call::new(Endpoint::Admin, Method::GET, path).token(admin_token)).await;
        match reply {
            Ok(reply) if reply.status == 200 => return Ok(reply.json()),
            Ok(reply) if reply.status != 503 && reply.status != 429 => {
                return Err(format!("GET {path}: {} {}", reply.status, String::from_utf8_lossy(&reply.body)))
            }
            _ if Instant::now() >= give_up => return Err(format!("GET {path}: no answer within {ADMIN_PATIENCE:?}")),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Orders and stats read when they agree: a purchase a buyer gave up waiting
/// for may still land, so read stats, orders, stats until nothing moved.
async fn settled_orders_and_stats(api: &Api, admin_token: &str, event_id: &str) -> Result<(Vec<Value>, Value), String> {
    let stats_path = format!("/v1/events/{event_id}/stats");
    let mut before = admin_get(api, admin_token, &stats_path).await?;
    for _ in 0..5 {
        let orders = all_orders(api, admin_token, event_id).await?;
        let after = admin_get(api, admin_token, &stats_path).await?;
        if after["orders"] == before["orders"] && after["inventory"]["total"] == before["inventory"]["total"] {
            return Ok((orders, after));
        }
        before = after;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err("the event's orders kept changing after the run; nothing to audit against".into())
}

async fn all_orders(api: &Api, admin_token: &str, event_id: &str) -> Result<Vec<Value>, String> {
    let mut orders = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/events/{event_id}/orders?limit={ORDERS_PAGE}");
        if let Some(cursor) = &after {
            path.push_str("&after=");
            path.extend(form_urlencoded::byte_serialize(cursor.as_bytes()));
        }
        let page = admin_get(api, admin_token, &path).await?;
        let listed = page["orders"].as_array().cloned().unwrap_or_default();
        let empty = listed.is_empty();
        orders.extend(listed);
        match page["next"].as_str() {
            Some(next) if !empty && after.as_deref() != Some(next) => after = Some(next.to_owned()),
            Some(next) if after.as_deref() == Some(next) => {
                return Err(format!("order paging: the server gave the cursor {next:?} twice"))
            }
            _ => return Ok(orders),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_restart_excuses_requests_without_an_answer() {
        let per_s = [0, 2, 0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(outside_restart(&per_s, None, None), 13);
        // Killed at 3 s, listening again 1 s later: 3..=14 is excused.
        assert_eq!(outside_restart(&per_s, Some(3), Some(Duration::from_millis(1500))), 3);
    }

    #[test]
    fn chaos_is_spelled_kill_seconds() {
        assert_eq!(parse_chaos("kill:12"), Ok(12));
        assert!(parse_chaos("kill:soon").is_err());
        assert!(parse_chaos("pause:3").is_err());
    }

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
