//! Allocator throughput on the demo venue (9,000 places), with a clock that
//! does not move and no write-ahead log: the engine's own cost per operation.
//!
//! Goals: 5 M named-seat hold+release pairs/s on one thread (and scaling on
//! two), 1 M best-available pairs/s, 5 M general-admission pairs/s.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use guichet_bench::{
    buyers, demo_inventory, hold_release_loop, inventory_of, seat_pair_requests, sell_out, DEMO_PLACES, DEMO_TIERS,
};
use guichet_engine::demo::demo_event;
use guichet_engine::inventory::HoldRequest;

/// Buyers each benchmark thread cycles through: the demo waiting room's
/// `max_active`, the buyers on the sale page at once. A buyer's hold is
/// released before the buyer comes round again, so the per-buyer limit never
/// bites; their ended holds (`ENDED_HOLDS_KEPT_PER_BUYER` each) are the realistic working set.
const BUYERS_PER_THREAD: u64 = 1_000;

fn explicit_hold_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("explicit_hold_release_2_seats");

    let (inventory, _clock) = demo_inventory();
    let requests = seat_pair_requests(&inventory, &guichet_bench::DEMO_RESERVED_SECTIONS);
    let buyers_1 = buyers(1, BUYERS_PER_THREAD);
    let mut cursor = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("1_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            hold_release_loop(&inventory, &requests, &buyers_1, iters, &mut cursor);
            start.elapsed()
        })
    });

    // Two threads, each with its own sections and buyers; one iteration is one
    // pair on each thread, so the figure is total pairs/s over both.
    let (inventory, _clock) = demo_inventory();
    let plans = [
        (seat_pair_requests(&inventory, &["L1", "L2", "101", "102", "103"]), buyers(1, BUYERS_PER_THREAD)),
        (seat_pair_requests(&inventory, &["L3", "L4", "104", "105", "106"]), buyers(1_000_001, BUYERS_PER_THREAD)),
    ];
    let mut cursors = [0usize; 2];
    group.throughput(Throughput::Elements(2));
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(plans.len());
            std::thread::scope(|scope| {
                let workers: Vec<_> = plans
                    .iter()
                    .zip(cursors.iter_mut())
                    .map(|((requests, buyers), cursor)| {
                        let (inventory, barrier) = (&inventory, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let start = Instant::now();
                            hold_release_loop(inventory, requests, buyers, iters, cursor);
                            start.elapsed()
                        })
                    })
                    .collect();
                // The slower thread's time: both threads' pairs were done within it.
                workers.into_iter().map(|w| w.join().expect("worker thread")).max().unwrap_or(Duration::ZERO)
            })
        })
    });
    group.finish();
}

fn best_available(c: &mut Criterion) {
    let mut group = c.benchmark_group("best_available_2");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("section", HoldRequest::BestInSection { section: "103".into(), quantity: 2 }),
        ("tier", HoldRequest::BestInTier { tier: "parterre".into(), quantity: 2 }),
    ];
    for (name, request) in cases {
        let (inventory, _clock) = demo_inventory();
        let buyers = buyers(1, BUYERS_PER_THREAD);
        let mut cursor = 0;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                hold_release_loop(&inventory, std::slice::from_ref(&request), &buyers, iters, &mut cursor);
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn ga_hold_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("ga_hold_release");
    group.throughput(Throughput::Elements(1));
    let (inventory, _clock) = demo_inventory();
    let request = HoldRequest::BestInSection { section: "PELOUSE".into(), quantity: 2 };
    let buyers = buyers(1, BUYERS_PER_THREAD);
    let mut cursor = 0;
    group.bench_function("best_in_section_2", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            hold_release_loop(&inventory, std::slice::from_ref(&request), &buyers, iters, &mut cursor);
            start.elapsed()
        })
    });
    group.finish();
}

fn fill_the_venue(c: &mut Criterion) {
    let event = demo_event();
    // Once untimed, to check the plan sells every place and keeps the invariants.
    let (inventory, _clock) = inventory_of(&event);
    assert_eq!(sell_out(&inventory, &DEMO_TIERS), DEMO_PLACES);
    inventory.check_invariants().expect("invariants hold after the sell-out");
    assert_eq!(inventory.availability().total.sold, DEMO_PLACES);

    let mut group = c.benchmark_group("fill_the_venue");
    // About 10 ms a sell-out: 30 linear samples need more than the default 5 s.
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(DEMO_PLACES));
    group.bench_function("best_available_2_and_buy", |b| {
        b.iter_batched(
            || inventory_of(&event),
            |(inventory, clock)| {
                let sold = sell_out(&inventory, &DEMO_TIERS);
                debug_assert_eq!(sold, DEMO_PLACES);
                black_box(sold);
                // Dropped after the timing stops.
                (inventory, clock)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1)).sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = explicit_hold_release, best_available, ga_hold_release, fill_the_venue
}
criterion_main!(benches);
