//! loom models of the allocator's concurrent core (run with `--cfg loom`; see
//! `.ci/run`). Each model is two or three threads on a tiny venue; loom tries
//! every interleaving of their locks and atomics.
#![cfg(loom)]

use std::sync::Arc;

use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{DiscardSink, HoldRequest, Inventory, Requester, SeatRequest, SeatState};
use guichet_engine::spec::EventSpec;
use guichet_engine::time::UnixTimeMs;
use guichet_engine::wal::reader::scan;
use guichet_engine::wal::storage::MemoryStorage;
use guichet_engine::wal::{Wal, WalOptions};
use loom::thread;

const T0: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

/// Two rows of two seats, and a GA pool of two places.
fn tiny_inventory() -> (Arc<Inventory>, Arc<ManualClock>) {
    let spec: EventSpec = serde_json::from_value(serde_json::json!({
        "id": "loom", "name": "Loom", "venue": "Model",
        "starts_at": "2027-06-01T20:00:00Z", "on_sale_at": "2026-12-01T15:00:00Z", "currency": "CAD",
        "tiers": [{"id": "t", "name": "T", "price_cents": 100}],
        "sections": [
            {"id": "A", "name": "A", "tier": "t", "rows": [{"id": "1", "seats": 2}, {"id": "2", "seats": 2}]},
            {"id": "GA", "name": "GA", "tier": "t", "capacity": 2}
        ],
        "per_buyer_limit": 4, "hold_ttl_s": 60,
        "room": {"admit_per_minute": 60, "max_active": 10, "access_ttl_s": 60}
    }))
    .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let inventory = Inventory::new(&spec.validate().unwrap(), clock.clone(), Arc::new(DiscardSink));
    (Arc::new(inventory), clock)
}

fn seats(list: &[(&str, u32)]) -> HoldRequest {
    HoldRequest::Seats(
        list.iter()
            .map(|(row, number)| SeatRequest { section: "A".into(), row: (*row).into(), number: *number })
            .collect(),
    )
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn two_holds_on_one_seat_exactly_one_wins() {
    model(|| {
        let (inventory, _) = tiny_inventory();
        let other = inventory.clone();
        let racer = thread::spawn(move || other.hold(BuyerId(2), &seats(&[("1", 1)])).is_ok());
        let mine = inventory.hold(BuyerId(1), &seats(&[("1", 1)])).is_ok();
        let theirs = racer.join().unwrap();
        assert!(mine ^ theirs, "exactly one hold wins the seat");
        inventory.check_invariants().unwrap();
    });
}

#[test]
fn two_ga_holds_never_oversell_the_pool() {
    model(|| {
        let (inventory, _) = tiny_inventory();
        let other = inventory.clone();
        let ga = || HoldRequest::BestInSection { section: "GA".into(), quantity: 2 };
        let racer = thread::spawn(move || other.hold(BuyerId(2), &ga()).is_ok());
        let mine = inventory.hold(BuyerId(1), &ga()).is_ok();
        assert!(mine ^ racer.join().unwrap());
        inventory.check_invariants().unwrap();
    });
}

#[test]
fn holds_over_two_rows_in_opposite_order_do_not_deadlock() {
    model(|| {
        let (inventory, _) = tiny_inventory();
        let other = inventory.clone();
        let racer = thread::spawn(move || other.hold(BuyerId(2), &seats(&[("2", 1), ("1", 1)])).is_ok());
        let mine = inventory.hold(BuyerId(1), &seats(&[("1", 2), ("2", 2)])).is_ok();
        assert!(mine && racer.join().unwrap(), "disjoint seats: both holds succeed");
        inventory.check_invariants().unwrap();
    });
}

#[test]
fn an_expired_hold_races_a_new_buyer_and_the_sweeper() {
    model(|| {
        let (inventory, clock) = tiny_inventory();
        let old = inventory.hold(BuyerId(1), &seats(&[("1", 1), ("2", 1)])).unwrap();
        clock.set(T0.plus_s(60));
        let sweeper = {
            let inventory = inventory.clone();
            thread::spawn(move || inventory.expire_holds().unwrap())
        };
        let late_purchase = {
            let inventory = inventory.clone();
            thread::spawn(move || inventory.purchase(old.hold.id, Requester::Buyer(BuyerId(1)), "k", "p").is_ok())
        };
        let newcomer = inventory.hold(BuyerId(2), &seats(&[("2", 1)])).unwrap();
        sweeper.join().unwrap();
        assert!(!late_purchase.join().unwrap(), "an expired hold is never sold");
        let row2 = inventory.layout().row_shard(inventory.layout().section_index("A").unwrap(), "2").unwrap();
        assert_eq!(inventory.seat_state(row2, 0), SeatState::Held(newcomer.hold.id));
        inventory.check_invariants().unwrap();
    });
}

#[test]
fn purchase_and_release_of_one_hold_agree() {
    model(|| {
        let (inventory, _) = tiny_inventory();
        let placed = inventory.hold(BuyerId(1), &seats(&[("1", 1)])).unwrap();
        let releaser = {
            let inventory = inventory.clone();
            thread::spawn(move || inventory.release(placed.hold.id, Requester::Buyer(BuyerId(1))).is_ok())
        };
        let bought = inventory.purchase(placed.hold.id, Requester::Buyer(BuyerId(1)), "k", "p").is_ok();
        let released = releaser.join().unwrap();
        let sold = inventory.availability().total.sold;
        // Released first: the purchase fails. Bought first: the release is refused.
        assert!(bought != released, "bought {bought}, released {released}");
        assert_eq!(sold, u64::from(bought));
        inventory.check_invariants().unwrap();
    });
}

/// Whether the record numbered `sequence` would survive a crash now.
fn synced(storage: &MemoryStorage, sequence: u64) -> bool {
    let mut found = false;
    scan(&storage.crash(0), 0, |s, _| {
        found |= s == sequence;
        Ok(())
    })
    .unwrap();
    found
}

#[test]
fn no_caller_is_told_durable_before_its_batch_is_synced() {
    model(|| {
        let storage = MemoryStorage::new();
        let options = WalOptions { segment_bytes: 4096, max_pending_records: 8, ..WalOptions::default() };
        let wal = Arc::new(Wal::create(Arc::new(storage.clone()), options).unwrap());
        let caller = {
            let (wal, storage) = (wal.clone(), storage.clone());
            thread::spawn(move || {
                let receipt = wal.submit(b"first".to_vec()).unwrap();
                wal.wait_durable(receipt).unwrap();
                assert!(synced(&storage, receipt.0), "told durable before the sync");
            })
        };
        let receipt = wal.submit(b"second".to_vec()).unwrap();
        wal.wait_durable(receipt).unwrap();
        assert!(synced(&storage, receipt.0), "told durable before the sync");
        caller.join().unwrap();
        wal.close();
    });
}

#[test]
fn a_failed_sync_acknowledges_nothing_after_it() {
    model(|| {
        let storage = MemoryStorage::new();
        storage.fail_syncs_after(0);
        let wal = Arc::new(
            Wal::create(Arc::new(storage.clone()), WalOptions { segment_bytes: 4096, ..WalOptions::default() })
                .unwrap(),
        );
        let caller = {
            let wal = wal.clone();
            thread::spawn(move || match wal.submit(b"first".to_vec()) {
                Ok(receipt) => wal.wait_durable(receipt).is_ok(),
                Err(_) => false,
            })
        };
        let mine = wal.submit(b"second".to_vec()).map(|r| wal.wait_durable(r).is_ok()).unwrap_or(false);
        assert!(!mine && !caller.join().unwrap(), "nothing is acknowledged once a sync failed");
        wal.close();
    });
}

mod room_models {
    use super::*;
    use guichet_engine::inventory::{Receipt, SinkError};
    use guichet_engine::room::{BuyerState, RoomConfig, RoomRecord, RoomSettings, RoomSink, Supply, WaitingRoom};

    #[derive(Debug)]
    struct NoLog;

    impl RoomSink for NoLog {
        fn submit(&self, _record: &RoomRecord) -> Result<Receipt, SinkError> {
            Ok(Receipt::NONE)
        }
    }

    const PLENTY: Supply = Supply { remaining: 100, available: 100, tickets_per_order: 1.0 };

    /// An open room with two buyers in line, admitting at most one at a time.
    fn open_room() -> (Arc<WaitingRoom>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        let config = RoomConfig {
            on_sale_at: T0,
            closes_at: T0.plus_s(86_400),
            access_ttl_s: 600,
            heartbeat_grace_s: 600,
            poll_tolerance_percent: 90,
            seed: [3; 32],
        };
        let settings = RoomSettings { admit_per_minute: 60_000, max_active: 1, paused: false };
        let room = Arc::new(WaitingRoom::new(config, settings, T0, clock.clone(), Arc::new(NoLog)));
        room.tick(PLENTY).unwrap();
        room.join().unwrap();
        room.join().unwrap();
        clock.advance_ms(1_000);
        (room, clock)
    }

    #[test]
    fn status_polls_racing_an_admission_see_a_consistent_place() {
        model(|| {
            let (room, _) = open_room();
            let pollers: Vec<_> = (0..2u64)
                .map(|buyer| {
                    let room = room.clone();
                    thread::spawn(move || {
                        let status = room.status(BuyerId(buyer), PLENTY).unwrap();
                        match status.state {
                            BuyerState::Waiting => assert!(matches!(status.position, Some(1 | 2))),
                            BuyerState::Admitted => {
                                assert!(status.access_expires_at.is_some() && status.position.is_none())
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    })
                })
                .collect();
            let report = room.tick(PLENTY).unwrap();
            for poller in pollers {
                poller.join().unwrap();
            }
            assert_eq!(report.admitted, 1, "the cap admits exactly one");
            let stats = room.stats();
            assert_eq!((stats.active, stats.waiting), (1, 1));
            assert_eq!(room.peek(BuyerId(1), PLENTY).unwrap().position, Some(1), "the other moved up");
        });
    }

    #[test]
    fn a_buyer_leaving_during_an_admission_keeps_the_counts_right() {
        model(|| {
            let (room, _) = open_room();
            let leaver = {
                let room = room.clone();
                thread::spawn(move || room.leave(BuyerId(0)).unwrap())
            };
            room.tick(PLENTY).unwrap();
            leaver.join().unwrap();
            let first = room.peek(BuyerId(0), PLENTY).unwrap().state;
            let second = room.peek(BuyerId(1), PLENTY).unwrap().state;
            // Either the leaver was admitted first and then left, or left and the next was admitted.
            assert_eq!(first, BuyerState::Left);
            assert!(matches!(second, BuyerState::Admitted | BuyerState::Waiting));
            assert!(room.stats().active <= 1);
        });
    }
}
