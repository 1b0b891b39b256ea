//! `guichet-loadtest`: replays an on-sale spike against a Guichet server over
//! real HTTP (open-loop virtual buyers on one shared hyper client), then
//! audits what was sold and writes a report. The exit status is non-zero when
//! the audit finds anything wrong.

mod admin;
mod api;
mod audit;
mod buyer;
mod drive;
mod judge;
mod plan;
mod report;
mod sampler;
mod scenario;
mod setup;
mod spawn;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::scenario::Scenario;
use crate::setup::{Server, SETUP_MARGIN};

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
        /// smoke, paid-smoke, celine-2016 or stress
        name: String,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A scenario file (TOML); or use --preset.
    #[arg(required_unless_present = "preset", conflicts_with = "preset")]
    scenario: Option<PathBuf>,
    /// A scenario shipped with the tool: smoke (seconds), paid-smoke (smoke,
    /// paid through the test provider), celine-2016 (the
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
    /// Sells the scenario's event through the test provider (checkout, then
    /// the test page's confirmation), whatever the scenario says.
    #[arg(long)]
    paid: bool,
    /// With a paid event: every buyer gives an email address at checkout,
    /// so each order queues its confirmation email.
    #[arg(long)]
    buyer_email: bool,
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
    if args.paid {
        scenario.event.payment = Some("test".into());
    }
    if args.buyer_email {
        scenario.event.buyer_email = Some(true);
    }
    if scenario.event.buyer_email == Some(true) && scenario.event.payment.is_none() {
        return fail("--buyer-email (buyer_email) needs a paid event: the address is given at checkout");
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

/// Sets up, drives, judges; writes the report; `Ok(passed)`.
async fn run_scenario(args: &RunArgs, scenario: &Scenario) -> Result<bool, String> {
    let mut stage = setup::set_up(server_to_test(args)?, scenario, args.no_queue).await?;
    eprintln!(
        "guichet-loadtest: {} with {} buyers against {}, event {}, on sale in {} s{}",
        scenario.name,
        scenario.total_buyers(),
        stage.target,
        stage.context.event_id,
        scenario.arrivals.lobby_s + SETUP_MARGIN.as_secs(),
        if args.no_queue { " (no queue)" } else { "" }
    );
    let driven = drive::drive(&mut stage, scenario, args.chaos).await?;
    let rules = judge::Rules { no_queue: args.no_queue, chaos_kill_at_s: args.chaos };
    let (report, records) = judge::judge(&stage, scenario, driven, rules).await?;
    if let Some(server) = stage.spawned.take() {
        server.stop().await;
    }
    print!("{}", report::summary(&report));
    let dir = args.report.clone().unwrap_or_else(|| PathBuf::from("loadtest-reports").join(&report.event_id));
    report::write(&report, &records, &dir).map_err(|e| format!("writing the report to {}: {e}", dir.display()))?;
    println!("\n  report: {}", dir.join("report.html").display());
    Ok(report.audit.passed)
}

/// `--spawn`, or `--target` with its admin token.
fn server_to_test(args: &RunArgs) -> Result<Server<'_>, String> {
    match (args.spawn, &args.admin_token) {
        (true, _) => Ok(Server::Spawn { server_bin: args.server_bin.as_deref() }),
        (false, Some(admin_token)) => {
            Ok(Server::Reach { target: args.target.as_deref().unwrap_or_default(), admin_token })
        }
        (false, None) => Err("--target needs the server's admin token (--admin-token or GUICHET_ADMIN_TOKEN)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_is_spelled_kill_seconds() {
        assert_eq!(parse_chaos("kill:12"), Ok(12));
        assert!(parse_chaos("kill:soon").is_err());
        assert!(parse_chaos("pause:3").is_err());
    }
}
