//! Crash tests with the real process: a child process holds and buys as fast
//! as it can on a data directory and reports every acknowledged change; the
//! parent kills it with SIGKILL at a random moment, recovers the directory,
//! and checks that nothing acknowledged was lost, nothing appeared that
//! nobody asked for, and no seat was sold twice. 100 cycles; 10,000 with
//! `RUN_SLOW_TESTS=1`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_engine::clock::SystemClock;
use guichet_engine::ids::{BuyerId, HoldId, OrderId};
use guichet_engine::inventory::{HoldRequest, OrderStatus, Requester};
use guichet_engine::spec::EventSpec;
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::wal::WalOptions;

const DIR_VARIABLE: &str = "GUICHET_CRASH_CHILD_DIR";
const SEED_VARIABLE: &str = "GUICHET_CRASH_CHILD_SEED";

fn options() -> EngineOptions {
    // Small segments, so crashes also land on segment rolls.
    EngineOptions { wal: WalOptions { segment_bytes: 256 * 1024, ..WalOptions::default() }, ..EngineOptions::default() }
}

fn crash_spec() -> EventSpec {
    serde_json::from_value(serde_json::json!({
        "id": "crash", "name": "Crash test", "venue": "Nowhere",
        "starts_at": "2099-01-01T20:00:00Z", "on_sale_at": "2020-01-01T00:00:00Z", "currency": "CAD",
        "tiers": [{"id": "t", "name": "T", "price_cents": 1000}],
        "sections": [
            {"id": "A", "name": "A", "tier": "t", "rows": (1..=40).map(|r| serde_json::json!({"id": r.to_string(), "seats": 50})).collect::<Vec<_>>()},
            {"id": "GA", "name": "GA", "tier": "t", "capacity": 1_000_000}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 3600,
        "room": {"admit_per_minute": 60, "max_active": 10, "access_ttl_s": 60}
    }))
    .unwrap()
}

/// Not a test of its own: the child process's body, run when the parent sets
/// the environment variable; otherwise it returns at once.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(DIR_VARIABLE) else { return };
    let seed: u64 = std::env::var(SEED_VARIABLE).unwrap().parse().unwrap();
    let (engine, _) = Engine::open_dir(&dir, options(), Arc::new(SystemClock::new())).unwrap();
    let engine = Arc::new(engine);
    if engine.event("crash").is_none() {
        let (_, receipt) = engine.create_event(&crash_spec()).unwrap();
        engine.wait_durable(receipt).unwrap();
    }
    println!("READY");
    let counter = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (engine, counter) = (engine.clone(), counter.clone());
            std::thread::spawn(move || child_worker(&engine, seed, worker, &counter))
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

fn child_worker(engine: &Engine, seed: u64, worker: u64, counter: &AtomicU64) {
    let event = engine.event("crash").unwrap();
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let buyer = BuyerId((seed << 32) | n);
        let request = if n % 3 == 0 {
            HoldRequest::BestInSection { section: "A".into(), quantity: 1 + (n % 2) as u32 }
        } else {
            HoldRequest::BestInSection { section: "GA".into(), quantity: 2 }
        };
        let Ok(placed) = event.inventory.hold(buyer, &request) else { continue };
        engine.wait_durable(placed.receipt).unwrap();
        println!("HOLD {} {}", placed.hold.id, buyer.0);
        if n % 5 == 4 {
            event.inventory.release(placed.hold.id, Requester::Buyer(buyer)).unwrap();
            continue;
        }
        let key = format!("key-{seed}-{worker}-{n}");
        println!("TRY {} {key}", buyer.0);
        let bought = event.inventory.purchase(placed.hold.id, Requester::Buyer(buyer), &key, "pay").unwrap();
        engine.wait_durable(bought.receipt).unwrap();
        println!("BOUGHT {} {}", bought.order.id, placed.hold.id);
        if n % 997 == 0 {
            engine.snapshot().unwrap();
        }
    }
}

/// What the children reported, over all cycles.
#[derive(Default)]
struct Acknowledged {
    holds: HashSet<HoldId>,
    orders: HashMap<OrderId, HoldId>,
    tried_keys: HashMap<u64, HashSet<String>>,
}

impl Acknowledged {
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["HOLD", hold, _] => {
                self.holds.insert(hold.parse().unwrap());
            }
            ["TRY", buyer, key] => {
                self.tried_keys.entry(buyer.parse().unwrap()).or_default().insert((*key).into());
            }
            ["BOUGHT", order, hold] => {
                self.orders.insert(order.parse().unwrap(), hold.parse().unwrap());
            }
            _ => {}
        }
    }
}

fn spawn_child(dir: &std::path::Path, seed: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(DIR_VARIABLE, dir)
        .env(SEED_VARIABLE, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Runs the child until a random moment after it is ready, kills it, and
/// collects what it acknowledged.
fn run_and_kill(dir: &std::path::Path, seed: u64, acknowledged: &mut Acknowledged) {
    let mut child = spawn_child(dir, seed);
    let stdout = child.stdout.take().unwrap();
    let run_for = Duration::from_millis(5 + seed * 7919 % 60);
    let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    let started = Instant::now();
    std::thread::sleep(run_for);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert!(lines.iter().any(|l| l == "READY") || started.elapsed() < Duration::from_secs(5), "the child started");
    for line in &lines {
        acknowledged.read(line);
    }
}

fn check_recovered(dir: &std::path::Path, acknowledged: &Acknowledged, cycle: u64) {
    let (engine, _) = Engine::open_dir(dir, options(), Arc::new(SystemClock::new()))
        .unwrap_or_else(|error| panic!("cycle {cycle}: recovery failed: {error}"));
    let Some(event) = engine.event("crash") else {
        assert!(acknowledged.holds.is_empty(), "cycle {cycle}: the event was lost");
        return;
    };
    let inventory = &event.inventory;
    inventory.check_invariants().unwrap_or_else(|v| panic!("cycle {cycle}: {v}"));
    for hold in &acknowledged.holds {
        assert!(inventory.hold_info(*hold).is_some(), "cycle {cycle}: acknowledged hold {hold} lost");
    }
    for (order, hold) in &acknowledged.orders {
        let found = inventory.order(*order).unwrap_or_else(|| panic!("cycle {cycle}: acknowledged order {order} lost"));
        assert_eq!((found.hold, found.status), (*hold, OrderStatus::Confirmed), "cycle {cycle}");
    }
    let mut tickets = 0u64;
    for order in inventory.orders_page(None, usize::MAX, guichet_engine::inventory::Receipt(u64::MAX)) {
        let asked =
            acknowledged.tried_keys.get(&order.buyer.0).is_some_and(|keys| keys.contains(&*order.idempotency_key));
        assert!(asked, "cycle {cycle}: order {} appeared that nobody asked for", order.id);
        tickets += u64::from(order.tickets.0);
    }
    assert_eq!(inventory.availability().total.sold, tickets, "cycle {cycle}: sold places balance with orders");
}

#[test]
fn killed_at_random_moments_nothing_acknowledged_is_lost() {
    if std::env::var_os(DIR_VARIABLE).is_some() {
        return; // inside a child
    }
    let cycles = if std::env::var_os("RUN_SLOW_TESTS").is_some() { 10_000 } else { 100 };
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Acknowledged::default();
    for cycle in 1..=cycles {
        run_and_kill(dir.path(), cycle, &mut acknowledged);
        check_recovered(dir.path(), &acknowledged, cycle);
    }
    eprintln!(
        "{cycles} kills: {} holds and {} orders acknowledged, none lost",
        acknowledged.holds.len(),
        acknowledged.orders.len()
    );
    assert!(acknowledged.orders.len() as u64 > cycles, "the children got work done");
}
