//! The waiting room under a crowd of 1,000,000: status polls (the heartbeat)
//! on one and two threads, and the admission tick; the memory a waiting
//! buyer costs is printed at the start.
//!
//! Goals: status at least 5 M/s, the tick for 1,000,000 waiting buyers well under 1 ms.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{Receipt, SinkError};
use guichet_engine::room::{RoomConfig, RoomRecord, RoomSettings, RoomSink, Supply, WaitingRoom};
use guichet_engine::time::UnixTimeMs;

const CROWD: u64 = 1_000_000;
const T0: UnixTimeMs = UnixTimeMs(1_800_000_000_000);
/// More places than the benchmark admits buyers (2,000 ticks of 100 at most):
/// admission is never held back by the supply, so each tick admits its full share.
const SUPPLY: Supply = Supply { remaining: 1_000_000, available: 1_000_000, tickets_per_order: 2.0 };

#[derive(Debug)]
struct NoLog;

impl RoomSink for NoLog {
    fn submit(&self, _record: &RoomRecord) -> Result<Receipt, SinkError> {
        Ok(Receipt::NONE)
    }
}

/// An open room with `CROWD` buyers waiting (half of them from the lobby's lottery).
fn crowd(admit_per_minute: u32) -> (WaitingRoom, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = RoomConfig {
        on_sale_at: T0.plus_s(1),
        closes_at: T0.plus_s(86_400),
        access_ttl_s: 900,
        heartbeat_grace_s: 86_400,
        poll_tolerance_percent: 90,
        seed: [9; 32],
    };
    let settings = RoomSettings { admit_per_minute, max_active: 1_000_000, paused: false };
    let room = WaitingRoom::new(config, settings, T0, clock.clone(), Arc::new(NoLog));
    for _ in 0..CROWD / 2 {
        room.join().expect("room has space");
    }
    clock.set(T0.plus_s(1));
    room.tick(SUPPLY).expect("the lobby opens");
    for _ in 0..CROWD / 2 {
        room.join().expect("room has space");
    }
    (room, clock)
}

/// Polls buyers `first, first + stride, ...` in turn; the clock moves a minute
/// every pass over the crowd, so every poll is a real one (never "too early").
fn poll_loop(room: &WaitingRoom, clock: &ManualClock, first: u64, stride: u64, iters: u64, cursor: &mut u64) {
    for _ in 0..iters {
        let buyer = first + *cursor * stride;
        black_box(room.status(BuyerId(buyer), SUPPLY).expect("a real poll"));
        *cursor += 1;
        if first + *cursor * stride >= CROWD {
            *cursor = 0;
            clock.advance_ms(60_000);
        }
    }
}

fn status(c: &mut Criterion) {
    let (room, clock) = crowd(600);
    let per_buyer = room.memory_bytes() as f64 / CROWD as f64;
    println!("memory: {:.1} bytes per waiting buyer ({} MiB for {CROWD})", per_buyer, room.memory_bytes() >> 20);
    let mut group = c.benchmark_group("status");
    group.throughput(Throughput::Elements(1));
    let mut cursor = 0;
    group.bench_function("1_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            poll_loop(&room, &clock, 0, 1, iters, &mut cursor);
            start.elapsed()
        })
    });
    // Two threads on alternate buyers; one iteration is one poll on each. The
    // clock moves on first, so buyers just polled above may poll again.
    clock.advance_ms(60_000);
    let mut cursors = [0u64; 2];
    group.throughput(Throughput::Elements(2));
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(2);
            std::thread::scope(|scope| {
                let workers: Vec<_> = cursors
                    .iter_mut()
                    .enumerate()
                    .map(|(first, cursor)| {
                        let (room, clock, barrier) = (&room, &*clock, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            poll_loop(room, clock, first as u64, 2, iters, cursor);
                            start.elapsed()
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().expect("poller")).max().unwrap_or(Duration::ZERO)
            })
        })
    });
    group.finish();
}

/// One tick every 100 ms of simulated time on a line of 1,000,000, timed one
/// by one (criterion would scale its iterations by the timed work alone and
/// drain the line): 2,000 ticks, the line never below 800,000. Prints the
/// median, p99 and worst tick.
fn tick(_c: &mut Criterion) {
    const TICKS: usize = 2_000;
    for admit_per_minute in [600u32, 60_000] {
        let (room, clock) = crowd(admit_per_minute);
        let mut nanos: Vec<u64> = Vec::with_capacity(TICKS);
        let mut admitted = 0;
        for _ in 0..TICKS {
            clock.advance_ms(100);
            let started = Instant::now();
            let report = black_box(room.tick(SUPPLY).expect("tick"));
            nanos.push(started.elapsed().as_nanos() as u64);
            admitted += report.admitted;
        }
        nanos.sort_unstable();
        println!(
            "tick, 1,000,000 waiting, {admit_per_minute}/min ({} per tick): median {:.1} µs, p99 {:.1} µs, worst {:.1} µs",
            admitted / TICKS,
            nanos[TICKS / 2] as f64 / 1000.0,
            nanos[TICKS * 99 / 100] as f64 / 1000.0,
            nanos[TICKS - 1] as f64 / 1000.0
        );
        assert!(room.stats().waiting >= 800_000);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(30);
    targets = status, tick
}
criterion_main!(benches);
