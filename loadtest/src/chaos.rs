//! `--chaos`: faults played at a chosen second of the run against the
//! servers the tool started (one alone, or a cluster), and what each one
//! did, for the audit's excuses and the report's charts. Between faults the
//! tool keeps a cluster's nodes running as a service manager would.

use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::sync::Notify;

use crate::cluster::Cluster;
use crate::spawn::Started;

/// How long a cluster has to elect a new primary before the run says it did not.
const TAKEOVER_PATIENCE: Duration = Duration::from_secs(30);
/// How often a cluster's nodes are checked for one that exited.
const SUPERVISION_PERIOD: Duration = Duration::from_millis(250);

/// One fault and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChaosAction {
    pub at_s: u64,
    pub fault: Fault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `kill:S`: the server alone, SIGKILL, started again at once.
    Kill,
    /// `kill-primary:S`: the cluster's primary, SIGKILL, started again at once (it rejoins as a standby).
    KillPrimary,
    /// `stop-primary:S,D`: the primary frozen with SIGSTOP for D seconds, then SIGCONT.
    StopPrimary { for_s: u64 },
    /// `kill-nats:S`: one NATS server, SIGKILL, left down for the rest of the run.
    KillNats,
    /// `lose-machine:S`: the primary's machine: its node and the NATS server
    /// beside it killed, both data directories deleted, both started again empty.
    LoseMachine,
}

impl Fault {
    pub fn needs_cluster(self) -> bool {
        !matches!(self, Fault::Kill)
    }

    /// As spelled on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillPrimary => "kill-primary",
            Fault::StopPrimary { .. } => "stop-primary",
            Fault::KillNats => "kill-nats",
            Fault::LoseMachine => "lose-machine",
        }
    }
}

/// The kind of a [`ChaosEvent`] the tool did not play: a node that exited on its own.
pub const NODE_EXITED: &str = "node-exited";

impl FromStr for ChaosAction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const SPELLING: &str =
            "kill:S, kill-primary:S, stop-primary:S,D or kill-nats:S (S: the second of the run, D: seconds)";
        let (name, when) = text.split_once(':').ok_or_else(|| format!("{text:?}: a chaos action is {SPELLING}"))?;
        let seconds = |field: &str| -> Result<u64, String> {
            field.trim().parse().map_err(|_| format!("{text:?}: {field:?} is not a whole number of seconds"))
        };
        let (at_s, fault) = match name {
            "kill" => (seconds(when)?, Fault::Kill),
            "kill-primary" => (seconds(when)?, Fault::KillPrimary),
            "kill-nats" => (seconds(when)?, Fault::KillNats),
            "lose-machine" => (seconds(when)?, Fault::LoseMachine),
            "stop-primary" => {
                let (at, for_s) = when.split_once(',').ok_or_else(|| format!("{text:?}: stop-primary is S,D"))?;
                (seconds(at)?, Fault::StopPrimary { for_s: seconds(for_s)? })
            }
            _ => return Err(format!("{text:?}: unknown chaos action {name:?}; one of {SPELLING}")),
        };
        Ok(ChaosAction { at_s, fault })
    }
}

/// What a fault did.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosEvent {
    /// Seconds into the run.
    pub at_s: f64,
    /// The fault's name, or [`NODE_EXITED`].
    pub kind: &'static str,
    pub what: String,
    pub outcome: String,
    /// From `at_s`, how long the service was out (a restart, a takeover); what the audit excuses.
    pub out_s: f64,
}

/// Plays `actions` in order of time, each at its second after `start`, and
/// supervises a cluster until `done` is notified; answers what happened.
pub async fn play(
    started: Option<&mut Started>,
    actions: &[ChaosAction],
    start: Instant,
    done: &Notify,
) -> Result<Vec<ChaosEvent>, String> {
    let Some(started) = started else { return Ok(Vec::new()) };
    let mut actions = actions.to_vec();
    actions.sort_by_key(|action| action.at_s);
    let mut events = Vec::new();
    let mut pending = actions.into_iter().peekable();
    let finished = done.notified();
    tokio::pin!(finished);
    loop {
        let next = pending.peek().map(|action| start + Duration::from_secs(action.at_s));
        tokio::select! {
            _ = &mut finished => break,
            _ = tokio::time::sleep_until(next.unwrap_or(start + Duration::from_secs(u64::from(u32::MAX))).into()), if next.is_some() => {
                if let Some(action) = pending.next() {
                    events.push(perform(started, action.fault, start).await?);
                }
            }
            _ = tokio::time::sleep(SUPERVISION_PERIOD) => {
                if let Started::Cluster(cluster) = started {
                    cluster.supervise().await.map_err(|e| format!("restarting a node: {e}"))?;
                }
            }
        }
    }
    if let Started::Cluster(cluster) = started {
        events.extend(cluster.supervision.drain(..).map(|(at, what)| ChaosEvent {
            at_s: at.saturating_duration_since(start).as_secs_f64(),
            kind: NODE_EXITED,
            what,
            outcome: String::new(),
            out_s: 0.0,
        }));
        events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    }
    Ok(events)
}

async fn perform(started: &mut Started, fault: Fault, start: Instant) -> Result<ChaosEvent, String> {
    let at_s = start.elapsed().as_secs_f64();
    eprintln!("guichet-loadtest: chaos at {at_s:.1} s: {}", fault.name());
    let (what, outcome, out) = match (started, fault) {
        (Started::Alone(server), Fault::Kill) => {
            server.kill_and_restart().await.map_err(|e| format!("chaos restart: {e}"))?;
            let back = server.restarts.last().copied().unwrap_or_default();
            ("server killed (SIGKILL)".to_owned(), format!("listening again after {:.2} s", back.as_secs_f64()), back)
        }
        (Started::Cluster(cluster), Fault::KillPrimary) => kill_primary(cluster, false).await?,
        (Started::Cluster(cluster), Fault::LoseMachine) => kill_primary(cluster, true).await?,
        (Started::Cluster(cluster), Fault::StopPrimary { for_s }) => stop_primary(cluster, for_s).await,
        (Started::Cluster(cluster), Fault::KillNats) => match cluster.kill_nats().await {
            Some(index) => (format!("NATS server n{index} killed (SIGKILL), left down"), String::new(), Duration::ZERO),
            None => ("no NATS server left to kill".to_owned(), String::new(), Duration::ZERO),
        },
        (_, fault) => return Err(format!("{} cannot be played on these servers", fault.name())),
    };
    Ok(ChaosEvent { at_s, kind: fault.name(), what, outcome, out_s: out.as_secs_f64() })
}

/// SIGKILL to the primary (with `whole_machine`, to the NATS server beside
/// it too, both data directories deleted), started again at once; waits
/// for the takeover.
async fn kill_primary(cluster: &mut Cluster, whole_machine: bool) -> Result<(String, String, Duration), String> {
    let Some(primary) = cluster.primary().await else {
        return Ok(("no primary to kill".to_owned(), String::new(), Duration::ZERO));
    };
    let killed = Instant::now();
    let node = cluster.node_id(primary).to_owned();
    let what = if whole_machine {
        cluster.lose_machine(primary).await.map_err(|e| format!("chaos: losing a machine: {e}"))?;
        format!(
            "machine of primary {node} lost (node and NATS server n{primary} killed, both data directories deleted), both started again empty"
        )
    } else {
        cluster.kill_and_restart_node(primary).await.map_err(|e| format!("chaos restart: {e}"))?;
        format!("primary {node} killed (SIGKILL), started again as a standby")
    };
    let patience = TAKEOVER_PATIENCE.saturating_sub(killed.elapsed());
    let Some(index) = cluster.wait_new_primary(None, patience).await else {
        return Ok((what, format!("no primary within {TAKEOVER_PATIENCE:?}"), TAKEOVER_PATIENCE));
    };
    let taken = killed.elapsed();
    let routed = cluster.wait_routed(TAKEOVER_PATIENCE.saturating_sub(killed.elapsed())).await;
    let outcome = match routed {
        Some(at) => format!(
            "{}, reachable through HAProxy after {:.2} s",
            took_over(cluster, index, taken),
            (at - killed).as_secs_f64()
        ),
        None => took_over(cluster, index, taken),
    };
    Ok((what, outcome, routed.map_or(taken, |at| at - killed)))
}

/// SIGSTOP to the primary for `for_s`, then SIGCONT; a standby should take over meanwhile.
async fn stop_primary(cluster: &mut Cluster, for_s: u64) -> (String, String, Duration) {
    let Some(primary) = cluster.primary().await else {
        return ("no primary to stop".to_owned(), String::new(), Duration::ZERO);
    };
    let stopped = Instant::now();
    let frozen = Duration::from_secs(for_s);
    cluster.signal_node(primary, Signal::SIGSTOP);
    let what = format!("primary {} stopped (SIGSTOP) for {for_s} s", cluster.node_id(primary));
    let taken = cluster.wait_new_primary(Some(primary), frozen).await.map(|index| (index, stopped.elapsed()));
    tokio::time::sleep(frozen.saturating_sub(stopped.elapsed())).await;
    cluster.signal_node(primary, Signal::SIGCONT);
    match taken {
        Some((index, after)) => (what, took_over(cluster, index, after), after),
        None => (what, "no takeover while it was stopped".to_owned(), frozen),
    }
}

/// Nodes that exited on their own beyond one per `stop-primary` (a frozen
/// primary, woken, finds itself deposed and exits): a takeover no fault
/// explains, or a crash.
pub fn unexplained_exits(events: &[ChaosEvent]) -> u64 {
    let count = |kind: &str| events.iter().filter(|event| event.kind == kind).count() as u64;
    count(NODE_EXITED).saturating_sub(count(Fault::StopPrimary { for_s: 0 }.name()))
}

fn took_over(cluster: &Cluster, index: usize, after: Duration) -> String {
    format!("{} primary after {:.2} s", cluster.node_id(index), after.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_actions_are_spelled_with_their_second() {
        assert_eq!("kill:12".parse(), Ok(ChaosAction { at_s: 12, fault: Fault::Kill }));
        assert_eq!("kill-primary:8".parse(), Ok(ChaosAction { at_s: 8, fault: Fault::KillPrimary }));
        assert_eq!("stop-primary:5,4".parse(), Ok(ChaosAction { at_s: 5, fault: Fault::StopPrimary { for_s: 4 } }));
        assert_eq!("kill-nats:3".parse(), Ok(ChaosAction { at_s: 3, fault: Fault::KillNats }));
        assert_eq!("lose-machine:9".parse(), Ok(ChaosAction { at_s: 9, fault: Fault::LoseMachine }));
        let unknown = "pause:3".parse::<ChaosAction>().unwrap_err();
        assert!(unknown.contains("unknown chaos action \"pause\""), "{unknown}");
        assert!("kill:soon".parse::<ChaosAction>().unwrap_err().contains("\"soon\" is not a whole number"));
        assert!("stop-primary:5".parse::<ChaosAction>().unwrap_err().contains("S,D"));
        assert!(Fault::KillNats.needs_cluster() && !Fault::Kill.needs_cluster());
    }

    #[test]
    fn only_a_frozen_primary_explains_a_node_that_exits() {
        let event = |kind| ChaosEvent { at_s: 1.0, kind, what: String::new(), outcome: String::new(), out_s: 0.0 };
        assert_eq!(unexplained_exits(&[event("kill-nats"), event(NODE_EXITED)]), 1);
        assert_eq!(unexplained_exits(&[event("stop-primary"), event(NODE_EXITED)]), 0);
        assert_eq!(unexplained_exits(&[event("stop-primary"), event(NODE_EXITED), event(NODE_EXITED)]), 1);
        assert_eq!(unexplained_exits(&[event("kill-primary")]), 0);
    }
}
