//! `guichet-loadtest`: replays an on-sale spike against a Guichet server over
//! real HTTP (open-loop virtual buyers on one shared hyper client), then
//! audits what was sold and writes a report. The exit status is non-zero when
//! the audit finds anything wrong.

mod admin;
mod api;
mod audit;
mod buyer;
mod chaos;
mod cluster;
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

use crate::chaos::ChaosAction;
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
    Run(Box<RunArgs>),
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
    /// With --spawn: start a cluster instead (three NATS servers, three
    /// nodes with --cluster, HAProxy in front with docs/haproxy.cfg); the
    /// buyers go through HAProxy.
    #[arg(long)]
    cluster: bool,
    /// The `guichet` binary for --spawn (default: beside this tool, else on the PATH).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The `nats-server` binary for --cluster (2.15 or newer; default: on the PATH).
    #[arg(long, requires = "cluster")]
    nats_server_bin: Option<PathBuf>,
    /// The `haproxy` binary for --cluster (default: on the PATH, else /usr/sbin/haproxy).
    #[arg(long, requires = "cluster")]
    haproxy_bin: Option<PathBuf>,
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
    /// With --spawn, a fault at a second of the run (repeat for several):
    /// `kill:S` kills the server with SIGKILL and starts it again; with
    /// --cluster, `kill-primary:S` kills the primary (started again as a
    /// standby), `stop-primary:S,D` freezes it with SIGSTOP for D seconds,
    /// `kill-nats:S` kills one NATS server for good, `lose-machine:S` kills
    /// the primary and the NATS server beside it, deletes both data
    /// directories and starts both again empty.
    #[arg(long)]
    chaos: Vec<ChaosAction>,
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

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Preset { name } => match scenario::PRESETS.iter().find(|(preset, _)| *preset == name) {
            Some((_, text)) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => fail(&scenario::ScenarioError::UnknownPreset(name).to_string()),
        },
        Command::Run(args) => run(*args),
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
    if let Err(message) = chaos_fits(&args) {
        return fail(&message);
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
    let driven = drive::drive(&mut stage, scenario, &args.chaos).await?;
    let rules = judge::Rules { no_queue: args.no_queue };
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

/// `--cluster` and each chaos action need servers the tool started, of the right kind.
fn chaos_fits(args: &RunArgs) -> Result<(), String> {
    if args.cluster && !args.spawn {
        return Err("--cluster needs --spawn (the tool starts the cluster it tests)".into());
    }
    for action in &args.chaos {
        if !args.spawn {
            return Err("--chaos needs --spawn (the tool can only harm servers it started)".into());
        }
        if action.fault.needs_cluster() != args.cluster {
            let needs = if args.cluster { "a server alone (without --cluster)" } else { "--cluster" };
            return Err(format!("--chaos {:?} needs {needs}", action.fault));
        }
    }
    Ok(())
}

/// `--spawn` (`--cluster`), or `--target` with its admin token.
fn server_to_test(args: &RunArgs) -> Result<Server<'_>, String> {
    match (args.spawn, &args.admin_token) {
        (true, _) if args.cluster => Ok(Server::SpawnCluster {
            server_bin: args.server_bin.as_deref(),
            nats_server_bin: args.nats_server_bin.as_deref(),
            haproxy_bin: args.haproxy_bin.as_deref(),
        }),
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

    fn run_args(line: &str) -> Result<RunArgs, String> {
        let words = ["guichet-loadtest", "run", "--preset", "smoke"].into_iter().chain(line.split_whitespace());
        match Cli::try_parse_from(words).map_err(|e| e.to_string())?.command {
            Command::Run(args) => Ok(*args),
            Command::Preset { .. } => Err("not a run".into()),
        }
    }

    #[test]
    fn each_chaos_action_needs_the_servers_it_harms() {
        assert!(chaos_fits(&run_args("--spawn --chaos kill:8").unwrap()).is_ok());
        let cluster =
            run_args("--spawn --cluster --chaos kill-primary:8 --chaos stop-primary:20,5 --chaos kill-nats:3");
        assert!(chaos_fits(&cluster.unwrap()).is_ok());
        let alone = chaos_fits(&run_args("--spawn --chaos kill-primary:8").unwrap()).unwrap_err();
        assert!(alone.contains("needs --cluster"), "{alone}");
        let in_cluster = chaos_fits(&run_args("--spawn --cluster --chaos kill:8").unwrap()).unwrap_err();
        assert!(in_cluster.contains("without --cluster"), "{in_cluster}");
        let reached = run_args("--target http://127.0.0.1:1 --admin-token t --chaos kill:8").unwrap();
        assert!(chaos_fits(&reached).unwrap_err().contains("needs --spawn"));
        let reached_cluster = run_args("--target http://127.0.0.1:1 --cluster").unwrap();
        assert!(chaos_fits(&reached_cluster).unwrap_err().contains("--cluster needs --spawn"));
        assert!(run_args("--spawn --nats-server-bin /bin/true").is_err(), "--nats-server-bin goes with --cluster");
        let misspelled = run_args("--spawn --chaos pause:3").err().unwrap_or_default();
        assert!(misspelled.contains("unknown chaos action"), "{misspelled}");
    }
}
