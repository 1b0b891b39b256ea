//! The write-ahead log under load: durable records per second and commit
//! latency (p50/p99) against the number of requests in flight, with fsync on a
//! real disk; then recovery speed after millions of records, with and without
//! a snapshot. Prints a table; `WAL_BENCH_SECONDS` (default 3) sets the time
//! per level, `WAL_BENCH_WORKERS` (default 1: the other core is the writer's)
//! the tokio worker threads, `RECOVERY_RECORDS` (default 10,000,000; 0 skips) the log to recover.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet_engine::clock::SystemClock;
use guichet_engine::demo::demo_event;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{HoldRequest, Requester};
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::wal::storage::DiskStorage;
use guichet_engine::wal::{Durability, Wal, WalOptions};
use hdrhistogram::Histogram;

const RECORD_BYTES: usize = 128;
const IN_FLIGHT_LEVELS: [usize; 5] = [1, 16, 256, 1_024, 4_096];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let seconds = env_number("WAL_BENCH_SECONDS", 3);
    println!("commit latency, fsync per batch, {RECORD_BYTES}-byte records, {seconds} s per level");
    println!(
        "{:>9} {:>12} {:>9} {:>9} {:>11} {:>10}",
        "in flight", "records/s", "p50 µs", "p99 µs", "batch mean", "fsync µs"
    );
    for in_flight in IN_FLIGHT_LEVELS {
        commit_level(in_flight, Duration::from_secs(seconds));
    }
    durable_joins(Duration::from_secs(1));
    let records = env_number("RECOVERY_RECORDS", 10_000_000);
    if records > 0 {
        recovery(records);
    }
}

/// `in_flight` tasks each submit a record and await its durability, again and again.
fn commit_level(in_flight: usize, duration: Duration) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let storage = Arc::new(DiskStorage::open(dir.path()).unwrap());
    let options = WalOptions { max_pending_records: 65_536, ..WalOptions::default() };
    let wal = Arc::new(Wal::create(storage, options).unwrap());
    let workers = env_number("WAL_BENCH_WORKERS", 1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (wal, stop) = (wal.clone(), stop.clone());
            runtime.spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let submitted = Instant::now();
                    let receipt = wal.submit(vec![7; RECORD_BYTES]).expect("the queue is sized for the load");
                    wal.durable(receipt).await.unwrap();
                    latencies.record(submitted.elapsed().as_micros() as u64).unwrap();
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        latencies.add(runtime.block_on(task).unwrap()).unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = wal.stats();
    let batches = stats.batches.load(Ordering::Relaxed).max(1);
    let records = stats.records.load(Ordering::Relaxed);
    println!(
        "{:>9} {:>12.0} {:>9} {:>9} {:>11.1} {:>10.0}",
        in_flight,
        records as f64 / elapsed,
        latencies.value_at_quantile(0.5),
        latencies.value_at_quantile(0.99),
        records as f64 / batches as f64,
        stats.sync_nanos_total.load(Ordering::Relaxed) as f64 / batches as f64 / 1000.0
    );
    wal.close();
}

/// Buyers joining the demo event's waiting room, each join durable before it
/// counts: 1,024 tasks join again and again.
fn durable_joins(duration: Duration) {
    const IN_FLIGHT: usize = 1_024;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (engine, _) = Engine::open_dir(dir.path(), EngineOptions::default(), Arc::new(SystemClock::new())).unwrap();
    let engine = Arc::new(engine);
    let (event, _) = engine.create_event(&demo_event().spec).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (engine, event, stop) = (engine.clone(), event.clone(), stop.clone());
            runtime.spawn(async move {
                let mut joined = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((_, receipt)) = event.room.join() else { break }; // the room's limit
                    engine.durable(receipt).await.unwrap();
                    joined += 1;
                }
                joined
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let joined: u64 = tasks.into_iter().map(|t| runtime.block_on(t).unwrap()).sum();
    println!(
        "\ndurable joins, {IN_FLIGHT} in flight: {:.0} joins/s ({joined} in {:.1} s)",
        joined as f64 / started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    engine.close();
}

/// Fills a log with `records` inventory records (holds and releases on the
/// demo venue), then times recovery with no snapshot and with one.
fn recovery(records: u64) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let unsafe_fast = EngineOptions {
        wal: WalOptions { durability: Durability::None, ..WalOptions::default() },
        ..EngineOptions::default()
    };
    let clock = Arc::new(SystemClock::new());
    let started = Instant::now();
    {
        let (engine, _) = Engine::open_dir(dir.path(), unsafe_fast, clock.clone()).unwrap();
        let (event, _) = engine.create_event(&demo_event().spec).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..2u64 {
                let event = &event;
                scope.spawn(move || {
                    for pair in 0..records / 4 {
                        let buyer = BuyerId((thread << 40) | (pair % 100_000));
                        let request = HoldRequest::BestInSection { section: "PELOUSE".into(), quantity: 2 };
                        let placed = loop {
                            match event.inventory.hold(buyer, &request) {
                                Ok(placed) => break placed,
                                Err(_) => std::thread::yield_now(), // the log's queue is full: let it drain
                            }
                        };
                        while event.inventory.release(placed.hold.id, Requester::Buyer(buyer)).is_err() {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        engine.close();
    }
    let log_bytes: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!(
        "\nrecovery: wrote {records} records ({:.0} MiB of segments) in {:.1} s",
        log_bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let (engine, report) = Engine::open_dir(dir.path(), EngineOptions::default(), clock.clone()).expect("recovers");
    println!(
        "  no snapshot:   replayed {} records in {:.2} s = {:.2} M records/s",
        report.records_replayed,
        report.elapsed.as_secs_f64(),
        report.records_replayed as f64 / report.elapsed.as_secs_f64() / 1e6
    );
    let snapshot = engine.snapshot().expect("snapshot");
    engine.close();
    drop(engine);
    let (_, report) =
        Engine::open_dir(dir.path(), EngineOptions::default(), clock).expect("recovers from the snapshot");
    println!(
        "  with snapshot: restarted in {:.3} s (snapshot of {} KiB, {} records replayed after it)",
        report.elapsed.as_secs_f64(),
        snapshot.bytes / 1024,
        report.records_replayed
    );
    println!(
        "  the snapshot paused the event for {:.1} ms while copying its state ({:.2} s in all)",
        snapshot.longest_copy.as_secs_f64() * 1000.0,
        snapshot.elapsed.as_secs_f64()
    );
}
