//! Durability: restart, replay determinism, snapshots, and faults injected
//! through the storage interface (torn writes, lost unsynced writes, bit
//! flips, failing fsyncs).
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{HoldRequest, KeyedHold, Receipt, Requester};
use guichet_engine::store::recovery::RecoveryError;
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::wal::reader::{segments, ScanError};
use guichet_engine::wal::storage::{MemoryStorage, Storage};
use guichet_engine::wal::WalOptions;

fn small_segments() -> EngineOptions {
    EngineOptions {
        wal: WalOptions { segment_bytes: 1024, max_batch_bytes: 512, ..WalOptions::default() },
        ..EngineOptions::default()
    }
}

fn open(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Result<Engine, RecoveryError> {
    Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).map(|(engine, _)| engine)
}

/// Creates the small event and runs `rounds` acknowledged hold+purchase pairs.
fn busy_engine(storage: &MemoryStorage, clock: &Arc<ManualClock>, rounds: u64) -> Engine {
    let engine = open(storage, clock).unwrap();
    let (event, receipt) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    engine.wait_durable(receipt).unwrap();
    for round in 0..rounds {
        let buyer = BuyerId(round);
        let section = if round % 2 == 0 { "GA" } else { "A" };
        let Ok(placed) = event.inventory.hold(buyer, &best_in(section, 1)) else { continue };
        engine.wait_durable(placed.receipt).unwrap();
        let bought = event.inventory.purchase(placed.hold.id, Requester::Buyer(buyer), "k", "p").unwrap();
        engine.wait_durable(bought.receipt).unwrap();
    }
    engine
}

fn digest(engine: &Engine) -> String {
    engine.event("test-event").expect("the event was recovered").inventory.digest()
}

#[test]
fn a_restart_on_disk_keeps_events_holds_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (before, order_id, hold_id) = {
        let (engine, report) = Engine::open_dir(dir.path(), EngineOptions::default(), clock.clone()).unwrap();
        assert_eq!(report.records_replayed, 0);
        let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
        let bought = event.inventory.hold(BuyerId(1), &best_in("A", 2)).unwrap();
        let order = event.inventory.purchase(bought.hold.id, Requester::Buyer(BuyerId(1)), "k", "p").unwrap();
        let held = event.inventory.hold(BuyerId(2), &best_in("GA", 3)).unwrap();
        engine.wait_durable(held.receipt).unwrap();
        (event.inventory.digest(), order.order.id, held.hold.id)
    };
    let (engine, report) = Engine::open_dir(dir.path(), EngineOptions::default(), clock.clone()).unwrap();
    assert_eq!(report.records_replayed, 4);
    let event = engine.event("test-event").unwrap();
    assert_eq!(event.inventory.digest(), before);
    assert!(event.inventory.order(order_id).is_some());
    assert!(event.inventory.hold_info(hold_id).unwrap().is_live(T0));
    let replay =
        event.inventory.purchase(event.inventory.order(order_id).unwrap().hold, Requester::Buyer(BuyerId(1)), "k", "p");
    assert_eq!(replay.unwrap().order.id, order_id, "the idempotency key survives the restart");
    event.inventory.check_invariants().unwrap();
}

#[test]
fn replay_is_deterministic_and_matches_the_live_state() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let live = busy_engine(&storage, &clock, 30);
    let live_digest = digest(&live);
    let crashed = storage.crash(0);
    drop(live);
    let first = digest(&open(&crashed, &clock).unwrap());
    let second = digest(&open(&crashed.crash(0), &clock).unwrap());
    assert_eq!(first, live_digest);
    assert_eq!(second, live_digest);
}

#[test]
fn holds_that_expired_while_down_are_expired_at_recovery() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&storage, &clock).unwrap();
    let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    let placed = event.inventory.hold(BuyerId(1), &best_in("A", 2)).unwrap();
    engine.wait_durable(placed.receipt).unwrap();
    let crashed = storage.crash(0);
    clock.advance_ms(60_000);
    let (recovered, report) = Engine::open(Arc::new(crashed), small_segments(), clock.clone()).unwrap();
    assert_eq!(report.holds_expired, 1);
    let event = recovered.event("test-event").unwrap();
    assert_eq!(event.inventory.availability().total.held, 0);
}

#[test]
fn snapshots_shorten_recovery_and_prune_the_log() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = busy_engine(&storage, &clock, 20);
    let segments_before = segments(&storage).unwrap().len();
    assert!(segments_before > 2, "small segments roll over");
    let report = engine.snapshot().unwrap();
    assert!(report.segments_removed >= segments_before - 2, "{report:?}");
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BuyerId(900), &best_in("B", 1)).unwrap();
    engine.wait_durable(placed.receipt).unwrap();
    let expected = digest(&engine);
    let (recovered, recovery) = Engine::open(Arc::new(storage.crash(0)), small_segments(), clock.clone()).unwrap();
    assert_eq!(recovery.snapshot.map(|s| s.1), Some(report.covered));
    assert_eq!(recovery.records_replayed, 1, "only what came after the snapshot is replayed");
    assert_eq!(digest(&recovered), expected);
    // A second snapshot replaces the first.
    recovered.snapshot().unwrap();
    let snapshots: Vec<String> = storage.list().unwrap().into_iter().filter(|n| n.ends_with(".snapshot")).collect();
    assert_eq!(snapshots.len(), 1);
}

#[test]
fn lost_unsynced_writes_lose_nothing_acknowledged() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = busy_engine(&storage, &clock, 12);
    let acknowledged = digest(&engine);
    // The next sync fails: the batch is written but never synced, and never acknowledged.
    storage.fail_syncs_after(0);
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BuyerId(77), &best_in("GA", 2)).unwrap();
    assert!(engine.wait_durable(placed.receipt).is_err());
    let recovered = open(&storage.crash(0), &clock).unwrap();
    assert_eq!(digest(&recovered), acknowledged);
}

#[test]
fn a_torn_last_write_is_cut_off_at_any_byte() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = busy_engine(&storage, &clock, 6);
    let acknowledged = digest(&engine);
    storage.fail_syncs_after(0);
    let event = engine.event("test-event").unwrap();
    let placed =
        event.inventory.hold(BuyerId(77), &HoldRequest::BestInTier { tier: "loge".into(), quantity: 3 }).unwrap();
    assert!(engine.wait_durable(placed.receipt).is_err());
    let unsynced_bytes = 200; // more than the one unsynced record's frame
    for torn in 0..unsynced_bytes {
        let crashed = storage.crash(torn);
        let (recovered, report) = Engine::open(Arc::new(crashed.clone()), small_segments(), clock.clone())
            .unwrap_or_else(|error| panic!("torn write of {torn} bytes: {error}"));
        let recovered_event = recovered.event("test-event").unwrap();
        recovered_event.inventory.check_invariants().unwrap();
        let kept_the_hold = recovered_event.inventory.hold_info(placed.hold.id).is_some();
        if !kept_the_hold {
            assert_eq!(digest(&recovered), acknowledged, "torn at {torn}");
        }
        if torn > 0 && !kept_the_hold {
            assert!(report.torn_tail.is_some(), "torn at {torn}: the tail was reported");
        }
        // The recovered log takes new records after the cut, and recovers again.
        let more = recovered_event.inventory.hold(BuyerId(78), &best_in("B", 1)).unwrap();
        recovered.wait_durable(more.receipt).unwrap();
        let again = digest(&recovered);
        drop(recovered);
        assert_eq!(digest(&open(&crashed.crash(0), &clock).unwrap()), again, "torn at {torn}");
    }
}

#[test]
fn a_bit_flip_in_the_middle_of_the_log_refuses_recovery_naming_file_and_offset() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    drop(busy_engine(&storage, &clock, 4));
    let first = segments(&storage).unwrap()[0].name.clone();
    let bytes = storage.contents(&first).unwrap();
    let data_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    // Every bit of the first record (the event's creation), followed by valid batches.
    let first_record_bytes = 32 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    assert!(first_record_bytes < data_end);
    for offset in 0..first_record_bytes {
        let damaged = storage.crash(0);
        damaged.flip_bit(&first, offset, (offset % 8) as u8);
        match open(&damaged, &clock) {
            Err(RecoveryError::Log(ScanError::Corrupt { file, offset: at, .. })) => {
                assert_eq!((file.as_str(), at), (format!("memory:{first}").as_str(), 0));
            }
            other => panic!("flip at byte {offset}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn after_an_fsync_error_nothing_more_is_acknowledged() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = busy_engine(&storage, &clock, 2);
    storage.fail_syncs_after(0);
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BuyerId(50), &best_in("GA", 1)).unwrap();
    assert!(engine.wait_durable(placed.receipt).is_err(), "the failed batch is not acknowledged");
    assert!(engine.wal().is_poisoned());
    for buyer in 51..60 {
        let error = event.inventory.hold(BuyerId(buyer), &best_in("GA", 1)).unwrap_err();
        assert_eq!(error.code(), "log_failed", "no change is taken once the log failed");
    }
    assert!(engine
        .create_event(&spec_from({
            let mut json = small_spec_json();
            json["id"] = "other".into();
            json
        }))
        .is_err());
}

#[test]
fn async_waiters_are_woken_when_their_batch_is_synced_or_the_log_fails() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Arc::new(open(&storage, &clock).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let waiters: Vec<_> = (0..200)
        .map(|i| {
            let engine = engine.clone();
            runtime.spawn(async move {
                let receipt = engine.wal().submit(vec![i as u8; 64]).unwrap();
                engine.durable(receipt).await
            })
        })
        .collect();
    for waiter in waiters {
        runtime.block_on(waiter).unwrap().unwrap();
    }
    storage.fail_syncs_after(0);
    let doomed: Vec<_> = (0..50)
        .map(|i| {
            let engine = engine.clone();
            runtime.spawn(async move {
                match engine.wal().submit(vec![i as u8; 64]) {
                    Ok(receipt) => engine.durable(receipt).await.is_ok(),
                    Err(_) => false,
                }
            })
        })
        .collect();
    for waiter in doomed {
        assert!(!runtime.block_on(waiter).unwrap(), "nothing is acknowledged after a failed sync");
    }
}

#[test]
fn maintenance_sweeps_expired_holds_and_snapshots_as_the_log_grows() {
    use guichet_engine::maintenance::{Maintenance, MaintenanceOptions};
    use std::time::{Duration, Instant};
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Arc::new(busy_engine(&storage, &clock, 10));
    let event = engine.event("test-event").unwrap();
    event.inventory.hold(BuyerId(500), &best_in("B", 2)).unwrap();
    clock.advance_ms(60_000);
    let options = MaintenanceOptions {
        tick_interval: Duration::from_millis(5),
        sweep_interval: Duration::from_millis(5),
        snapshot_every_records: 10,
    };
    let maintenance = Maintenance::start(engine.clone(), options).unwrap();
    for buyer in 600..612 {
        let placed = event.inventory.hold(BuyerId(buyer), &best_in("GA", 1)).unwrap();
        event.inventory.release(placed.hold.id, Requester::Admin).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let snapshot_taken = || storage.list().unwrap().iter().any(|name| name.ends_with(".snapshot"));
    while (event.inventory.availability().total.held > 0 || !snapshot_taken()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    maintenance.stop();
    assert_eq!(event.inventory.availability().total.held, 0, "the sweeper ended the expired hold");
    assert!(snapshot_taken(), "a snapshot was taken once the log grew");
    let report = engine.shutdown().unwrap();
    let (_, recovery) = Engine::open(Arc::new(storage.crash(0)), small_segments(), clock.clone()).unwrap();
    assert_eq!(recovery.snapshot.map(|s| s.1), Some(report.covered));
    assert_eq!(recovery.records_replayed, 0, "after a clean shutdown nothing is replayed");
}

#[test]
fn a_record_over_the_size_limit_is_refused_and_the_log_carries_on() {
    use guichet_engine::inventory::SinkError;
    use guichet_engine::wal::frame::MAX_PAYLOAD_BYTES;
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&storage, &clock).unwrap();
    // No valid spec is this large (the spec's own limits come first), so the
    // log's limit is checked where it is enforced: at submit.
    let refused = engine.wal().submit(vec![0; MAX_PAYLOAD_BYTES + 1]).unwrap_err();
    assert!(matches!(refused, SinkError::TooLarge { .. }), "{refused}");
    assert!(refused.to_string().contains("over the log's limit"), "{refused}");
    let (_, receipt) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    engine.wait_durable(receipt).unwrap();
    assert!(!engine.wal().is_poisoned());
}

#[test]
fn a_restart_keeps_every_place_in_line_and_every_admission() {
    use guichet_engine::room::{BuyerState, SettingsPatch};
    use guichet_engine::time::UnixTimeMs;
    let on_sale = UnixTimeMs::parse_rfc3339("2026-12-01T15:00:00Z").unwrap();
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(UnixTimeMs(on_sale.0 - 600_000)));
    let engine = open(&storage, &clock).unwrap();
    // A lawn large enough that admission is held back by the rate, not by the places left.
    let mut spec = small_spec_json();
    spec["sections"][2]["capacity"] = 1_000.into();
    let (event, _) = engine.create_event(&spec_from(spec)).unwrap();
    let patch = SettingsPatch { admit_per_minute: Some(1_200), max_active: Some(10_000), paused: None };
    event.room.update_settings(patch).unwrap();
    let mut buyers = Vec::new();
    for _ in 0..5_000 {
        buyers.push(event.room.join().unwrap().0);
    }
    event.room.leave(buyers[17]).unwrap();
    clock.set(on_sale);
    event.tick().unwrap();
    let mut last = Receipt::NONE;
    for _ in 0..5_000 {
        let (buyer, receipt) = event.room.join().unwrap();
        buyers.push(buyer);
        last = receipt;
    }
    for _ in 0..50 {
        clock.advance_ms(100);
        last = event.tick().unwrap().receipt.max(last);
    }
    event.room.leave(buyers[7_000]).unwrap();
    let admitted_buyer =
        *buyers.iter().find(|b| event.room.peek(**b, event.supply()).unwrap().state == BuyerState::Admitted).unwrap();
    let KeyedHold::Placed(placed) = event.hold(admitted_buyer, &best_in("GA", 1), None).unwrap() else {
        panic!("no key, so a new hold")
    };
    let bought = event.purchase(placed.hold.id, Requester::Buyer(admitted_buyer), "k", "p").unwrap();
    engine.wait_durable(bought.receipt.max(last)).unwrap();
    let picture = |engine: &Engine, buyers: &[BuyerId]| {
        let event = engine.event("test-event").unwrap();
        let places: Vec<_> = buyers
            .iter()
            .map(|b| event.room.peek(*b, event.supply()).map(|s| (s.state, s.position, s.access_expires_at)))
            .collect();
        (places, event.room.stats(), event.room.lobby_order())
    };
    let before = picture(&engine, &buyers);
    assert_eq!(before.1.admitted_total, 100, "five seconds at 1,200 a minute");
    let crashed = storage.crash(0);
    let recovered = open(&crashed, &clock).unwrap();
    assert_eq!(picture(&recovered, &buyers), before, "every place and admission is back");
    // Nobody polled for ten minutes, but after a restart everyone counts as just seen.
    clock.advance_ms(100);
    let event_after = recovered.event("test-event").unwrap();
    assert_eq!(event_after.tick().unwrap().dropped, 0, "a restart costs no one a place");
    // Again through a snapshot, then more changes after it.
    recovered.snapshot().unwrap();
    let event = recovered.event("test-event").unwrap();
    let (late, receipt) = event.room.join().unwrap();
    buyers.push(late);
    recovered.wait_durable(receipt).unwrap();
    let before = picture(&recovered, &buyers);
    let again = open(&crashed.crash(0), &clock).unwrap();
    assert_eq!(picture(&again, &buyers), before);
}

/// What the room says of each buyer, and its figures: what holds and
/// purchases change in the room, live and on replay alike.
fn room_picture(engine: &Engine, buyers: &[BuyerId]) -> impl PartialEq + std::fmt::Debug {
    let event = engine.event("test-event").unwrap();
    let places: Vec<_> = buyers
        .iter()
        .map(|b| {
            let status = event.room.peek(*b, event.supply()).unwrap();
            (status.state, status.position, status.access_expires_at, status.reason, event.room.may_shop(*b))
        })
        .collect();
    (places, event.room.stats())
}

#[test]
fn holds_and_purchases_weigh_on_the_room_alike_live_and_after_a_restart() {
    use guichet_engine::room::{BuyerState, SettingsPatch};
    use guichet_engine::time::UnixTimeMs;
    let on_sale = UnixTimeMs::parse_rfc3339("2026-12-01T15:00:00Z").unwrap();
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(UnixTimeMs(on_sale.0 - 10_000)));
    let engine = open(&storage, &clock).unwrap();
    let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    let patch = SettingsPatch { admit_per_minute: Some(6_000), max_active: Some(100), paused: None };
    event.room.update_settings(patch).unwrap();
    let buyers: Vec<BuyerId> = (0..20).map(|_| event.room.join().unwrap().0).collect();
    clock.set(on_sale);
    for _ in 0..5 {
        event.tick().unwrap();
        clock.advance_ms(100);
    }
    // 23 places, two tickets an order assumed: the supply gate stops at 10 shoppers.
    let admitted: Vec<BuyerId> = buyers
        .iter()
        .copied()
        .filter(|b| event.room.peek(*b, event.supply()).unwrap().state == BuyerState::Admitted)
        .collect();
    assert_eq!(admitted.len(), 10);
    // Holds take their buyers out of those still looking; a purchase frees a place.
    let mut holds = Vec::new();
    for (index, buyer) in admitted[..4].iter().enumerate() {
        let key = format!("hold-{index}");
        match event.hold(*buyer, &best_in("GA", 1), (index % 2 == 0).then_some(key.as_str())).unwrap() {
            KeyedHold::Placed(placed) => holds.push(placed.hold.id),
            KeyedHold::Replayed { .. } => panic!("a new key makes a new hold"),
        }
    }
    let bought = event.purchase(holds[0], Requester::Buyer(admitted[0]), "k", "p").unwrap();
    engine.wait_durable(engine.after_everything_logged(bought.receipt)).unwrap();
    let live = room_picture(&engine, &buyers);
    let recovered = open(&storage.crash(0), &clock).unwrap();
    assert_eq!(room_picture(&recovered, &buyers), live, "the room after replay is the room before");
    // And both admit alike from there: holds and the purchase weigh on the supply gate.
    clock.advance_ms(100);
    let live_tick = event.tick().unwrap().admitted;
    let replayed_tick = recovered.event("test-event").unwrap().tick().unwrap().admitted;
    assert!(live_tick > 0, "the holds and the purchase leave room for more shoppers");
    assert_eq!(replayed_tick, live_tick);
    assert_eq!(room_picture(&recovered, &buyers), room_picture(&engine, &buyers));
}

#[test]
fn tokens_bind_a_buyer_to_one_event_and_survive_a_restart() {
    use guichet_engine::tokens::{TokenError, TokenKind};
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&storage, &clock).unwrap();
    let mut early = small_spec_json();
    early["starts_at"] = "2027-06-01T20:00:00Z".into();
    let (event, _) = engine.create_event(&spec_from(early.clone())).unwrap();
    early["id"] = "other".into();
    let (other, receipt) = engine.create_event(&spec_from(early)).unwrap();
    engine.wait_durable(receipt).unwrap();
    let (buyer, receipt) = event.room.join().unwrap();
    engine.wait_durable(receipt).unwrap();
    let queue_token = engine.queue_token(&event, buyer);
    assert_eq!(engine.verify_token(&queue_token, TokenKind::Queue, &event), Ok(buyer));
    assert_eq!(engine.verify_token(&queue_token, TokenKind::Queue, &other), Err(TokenError::OtherEvent));
    assert_eq!(engine.verify_token(&queue_token, TokenKind::Access, &event), Err(TokenError::WrongKind));
    let status = event.room.peek(buyer, event.supply()).unwrap();
    assert!(engine.access_token(&event, buyer, &status).is_none(), "no access before admission");
    let recovered = open(&storage.crash(0), &clock).unwrap();
    let event = recovered.event("test-event").unwrap();
    assert_eq!(recovered.verify_token(&queue_token, TokenKind::Queue, &event), Ok(buyer), "keys persist");
}

#[test]
fn an_order_token_reads_until_a_week_after_the_show_and_survives_a_restart() {
    use guichet_engine::limits::ORDER_TOKEN_VALID_AFTER_SHOW_S;
    use guichet_engine::time::UnixTimeMs;
    use guichet_engine::tokens::TokenError;
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = open(&storage, &clock).unwrap();
    let mut later = small_spec_json();
    later["starts_at"] = "2027-06-01T20:00:00Z".into();
    let (event, _) = engine.create_event(&spec_from(later)).unwrap();
    let request = HoldRequest::BestInSection { section: "GA".into(), quantity: 2 };
    let hold = event.inventory.hold(BuyerId(3), &request).unwrap().hold.id;
    let purchase = event.purchase(hold, Requester::Buyer(BuyerId(3)), "key", "pay").unwrap();
    engine.wait_durable(purchase.receipt).unwrap();
    let token = engine.order_token(&event, &purchase.order);
    clock.advance_ms(60_000);
    assert_eq!(engine.order_token(&event, &purchase.order), token, "the same link on every answer");
    let claims = engine.verify_order_token(&token).unwrap();
    assert_eq!((claims.event, claims.order, claims.buyer), (event.number.0, purchase.order.id, BuyerId(3)));

    let recovered = open(&storage.crash(0), &clock).unwrap();
    assert_eq!(recovered.verify_order_token(&token), Ok(claims), "keys persist");
    let expiry = event.valid.starts_at.plus_s(ORDER_TOKEN_VALID_AFTER_SHOW_S);
    assert_eq!(claims.expires_at, expiry);
    clock.set(UnixTimeMs(expiry.0 - 1));
    assert_eq!(recovered.verify_order_token(&token), Ok(claims), "readable for a week after the show");
    clock.set(expiry);
    assert_eq!(recovered.verify_order_token(&token), Err(TokenError::Expired));
}
