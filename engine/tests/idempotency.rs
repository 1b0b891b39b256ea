//! Idempotency keys on joins and holds: a retry whose first answer was lost
//! gets the same answer (the same place in line, the same hold), live, after
//! a restart from the log, and after a restart from a snapshot; join keys
//! must carry 128 bits and are kept at least ten minutes.
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::{HoldStatus, InventoryError, KeyedHold, Receipt, Requester};
use guichet_engine::limits::{JOIN_KEY_KEPT_S, MAX_HOLD_KEYS_PER_BUYER};
use guichet_engine::room::{BadJoinKey, JoinKey, RoomError};
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::time::UnixTimeMs;
use guichet_engine::wal::storage::{MemoryStorage, Storage};
use guichet_engine::wal::WalOptions;

/// 16 bytes in base64url: the shortest key a join accepts.
const KEY: &str = "q1w2e3r4t5y6u7i8o9p0Aa";
const OTHER_KEY: &str = "Zz0Yy1Xx2Ww3Vv4Uu5Tt6S";

fn on_sale() -> UnixTimeMs {
    UnixTimeMs::parse_rfc3339("2026-12-01T15:00:00Z").unwrap()
}

fn open(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
    let options = EngineOptions {
        wal: WalOptions { segment_bytes: 64 * 1024, ..WalOptions::default() },
        ..EngineOptions::default()
    };
    Engine::open(Arc::new(storage.clone()), options, clock.clone()).unwrap().0
}

/// An engine with the small event, ten minutes before its on-sale.
fn engine_with_event(storage: &MemoryStorage) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(UnixTimeMs(on_sale().0 - 600_000)));
    let engine = open(storage, &clock);
    let (_, receipt) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    engine.wait_durable(receipt).unwrap();
    (engine, clock)
}

fn join_key(text: &str) -> JoinKey {
    JoinKey::parse(text).unwrap()
}

fn placed(outcome: KeyedHold) -> (guichet_engine::inventory::Hold, Receipt) {
    match outcome {
        KeyedHold::Placed(placed) => (placed.hold, placed.receipt),
        KeyedHold::Replayed { hold, .. } => panic!("expected a new hold, got a replay of {}", hold.id),
    }
}

fn replayed(outcome: KeyedHold) -> guichet_engine::inventory::Hold {
    match outcome {
        KeyedHold::Replayed { hold, .. } => hold,
        KeyedHold::Placed(placed) => panic!("expected a replay, got a new hold {}", placed.hold.id),
    }
}

#[test]
fn a_join_key_must_carry_128_bits() {
    assert_eq!(JoinKey::parse("q1w2e3r4t5y6u7i8o9p0A"), Err(BadJoinKey::Alphabet), "21 characters: 126 bits");
    assert_eq!(JoinKey::parse("short"), Err(BadJoinKey::Alphabet));
    assert_eq!(JoinKey::parse("q1w2e3r4t5y6u7i8o9p0A="), Err(BadJoinKey::Alphabet), "padding is not base64url");
    assert_eq!(JoinKey::parse(&"a".repeat(129)), Err(BadJoinKey::Alphabet), "over 128 characters");
    assert_eq!(JoinKey::parse(&"0123456789abcdef".repeat(2)[..31]), Err(BadJoinKey::ShortHex), "31 hex digits");
    assert_eq!(JoinKey::parse("9f1c2b7e-4a3d-4e8f-9b2a-1c3d5e7f9a0b"), Err(BadJoinKey::Uuid), "122 random bits");
    assert!(JoinKey::parse(KEY).is_ok(), "22 base64url characters");
    assert!(JoinKey::parse(&"0123456789abcdef".repeat(2)).is_ok(), "32 hex digits");
    assert_ne!(join_key(KEY), join_key(OTHER_KEY));
    let refused = RoomError::from(BadJoinKey::Alphabet);
    assert_eq!(refused.code(), "bad_idempotency_key");
    assert!(refused.to_string().contains("22 to 128 characters"), "the message states the rule: {refused}");
}

#[test]
fn the_same_join_key_twice_makes_one_place_in_line() {
    let (engine, _clock) = engine_with_event(&MemoryStorage::new());
    let event = engine.event("test-event").unwrap();
    let first = event.room.join_with_key(join_key(KEY)).unwrap();
    assert!(first.created);
    let logged = engine.wal().last_assigned_sequence();
    let again = event.room.join_with_key(join_key(KEY)).unwrap();
    assert_eq!((again.buyer, again.created), (first.buyer, false));
    assert_eq!(engine.wal().last_assigned_sequence(), logged, "a replay logs nothing");
    let other = event.room.join_with_key(join_key(OTHER_KEY)).unwrap();
    assert_ne!(other.buyer, first.buyer);
    assert_eq!(event.room.stats().lobby, 2, "no ghost in the lobby");
    // A replay after the buyer left tells the buyer so: the same buyer, its current state.
    event.room.leave(first.buyer).unwrap();
    assert_eq!(event.room.join_with_key(join_key(KEY)).unwrap().buyer, first.buyer);
}

#[test]
fn a_join_key_is_kept_ten_minutes_then_forgotten() {
    let (engine, clock) = engine_with_event(&MemoryStorage::new());
    let event = engine.event("test-event").unwrap();
    let first = event.room.join_with_key(join_key(KEY)).unwrap();
    clock.advance_ms(u64::from(JOIN_KEY_KEPT_S) * 1000 - 1_000);
    assert_eq!(event.room.forget_old_join_keys(), 0);
    assert_eq!(event.room.join_with_key(join_key(KEY)).unwrap().buyer, first.buyer, "kept for ten minutes");
    clock.advance_ms(2_000);
    assert_eq!(event.room.forget_old_join_keys(), 1, "the sweep forgets it");
    assert_eq!(event.room.join_keys_held().0, 0);
    let later = event.room.join_with_key(join_key(KEY)).unwrap();
    assert!(later.created && later.buyer != first.buyer, "a forgotten key joins anew");
}

#[test]
fn join_keys_survive_a_restart_from_the_log_and_from_a_snapshot() {
    let storage = MemoryStorage::new();
    let (engine, clock) = engine_with_event(&storage);
    let event = engine.event("test-event").unwrap();
    let first = event.room.join_with_key(join_key(KEY)).unwrap();
    engine.wait_durable(first.receipt).unwrap();
    // kill -9 after the log write, before the answer: the retry finds the place.
    let crashed = storage.crash(0);
    let from_log = open(&crashed, &clock);
    let event = from_log.event("test-event").unwrap();
    let retried = event.room.join_with_key(join_key(KEY)).unwrap();
    assert_eq!((retried.buyer, retried.created), (first.buyer, false));
    from_log.snapshot().unwrap();
    let second = event.room.join_with_key(join_key(OTHER_KEY)).unwrap();
    from_log.wait_durable(second.receipt).unwrap();
    let from_snapshot = open(&crashed.crash(0), &clock);
    assert!(from_snapshot.snapshot_covered() > 0);
    let event = from_snapshot.event("test-event").unwrap();
    assert_eq!(event.room.join_with_key(join_key(KEY)).unwrap().buyer, first.buyer, "from the snapshot");
    assert_eq!(event.room.join_with_key(join_key(OTHER_KEY)).unwrap().buyer, second.buyer, "from the log after it");
    assert_eq!(event.room.stats().lobby, 2);
}

#[test]
fn the_same_hold_key_twice_makes_one_hold_and_another_request_is_refused() {
    let (engine, _clock) = engine_with_event(&MemoryStorage::new());
    let event = engine.event("test-event").unwrap();
    let buyer = BuyerId(3);
    let (hold, _) = placed(event.inventory.hold_with_key(buyer, &best_in("A", 2), "k1").unwrap());
    let logged = engine.wal().last_assigned_sequence();
    let again = replayed(event.inventory.hold_with_key(buyer, &best_in("A", 2), "k1").unwrap());
    assert_eq!(again, hold);
    assert_eq!(engine.wal().last_assigned_sequence(), logged, "a replay logs nothing");
    assert_eq!(event.inventory.availability().total.held, 2, "one hold, not two");
    let reused = event.inventory.hold_with_key(buyer, &best_in("A", 1), "k1");
    assert_eq!(reused, Err(InventoryError::IdempotencyKeyReused));
    // Keys are per buyer: another buyer's "k1" is another key.
    placed(event.inventory.hold_with_key(BuyerId(4), &best_in("A", 2), "k1").unwrap());
    // Released, the hold is still what its key answers, with its current status.
    event.inventory.release(hold.id, Requester::Buyer(buyer)).unwrap();
    let after = replayed(event.inventory.hold_with_key(buyer, &best_in("A", 2), "k1").unwrap());
    assert_eq!(after.id, hold.id);
    assert!(matches!(after.status, HoldStatus::Released { .. }), "{:?}", after.status);
    assert_eq!(event.inventory.hold_with_key(buyer, &best_in("A", 1), ""), Err(InventoryError::BadIdempotencyKey));
}

#[test]
fn a_keyed_hold_is_remembered_past_the_ended_holds_a_buyer_keeps() {
    let (engine, _clock) = engine_with_event(&MemoryStorage::new());
    let event = engine.event("test-event").unwrap();
    let buyer = BuyerId(5);
    let (first, _) = placed(event.inventory.hold_with_key(buyer, &best_in("GA", 1), "key-0").unwrap());
    event.inventory.release(first.id, Requester::Buyer(buyer)).unwrap();
    for round in 1..MAX_HOLD_KEYS_PER_BUYER {
        let (hold, _) =
            placed(event.inventory.hold_with_key(buyer, &best_in("GA", 1), &format!("key-{round}")).unwrap());
        event.inventory.release(hold.id, Requester::Buyer(buyer)).unwrap();
    }
    assert_eq!(replayed(event.inventory.hold_with_key(buyer, &best_in("GA", 1), "key-0").unwrap()).id, first.id);
    let over = event.inventory.hold_with_key(buyer, &best_in("GA", 1), "one-too-many");
    assert_eq!(over, Err(InventoryError::TooManyHoldKeys { max: MAX_HOLD_KEYS_PER_BUYER }));
}

#[test]
fn hold_keys_survive_a_restart_from_the_log_and_from_a_snapshot() {
    let storage = MemoryStorage::new();
    let (engine, clock) = engine_with_event(&storage);
    let event = engine.event("test-event").unwrap();
    let buyer = BuyerId(7);
    let (hold, receipt) = placed(event.inventory.hold_with_key(buyer, &best_in("B", 1), "retry-me").unwrap());
    engine.wait_durable(receipt).unwrap();
    let crashed = storage.crash(0);
    let from_log = open(&crashed, &clock);
    let event = from_log.event("test-event").unwrap();
    assert_eq!(replayed(event.inventory.hold_with_key(buyer, &best_in("B", 1), "retry-me").unwrap()), hold);
    from_log.snapshot().unwrap();
    // The hold expires after the snapshot: the replay shows it expired.
    clock.advance_ms(61_000);
    from_log.wait_durable(Receipt(from_log.wal().last_assigned_sequence())).unwrap();
    event.inventory.expire_holds().unwrap();
    from_log.wait_durable(Receipt(from_log.wal().last_assigned_sequence())).unwrap();
    let digest = event.inventory.digest();
    let from_snapshot = open(&crashed.crash(0), &clock);
    assert!(from_snapshot.snapshot_covered() > 0);
    let event = from_snapshot.event("test-event").unwrap();
    assert_eq!(event.inventory.digest(), digest, "keys and holds as they were");
    let again = replayed(event.inventory.hold_with_key(buyer, &best_in("B", 1), "retry-me").unwrap());
    assert_eq!(again.id, hold.id);
    assert!(matches!(again.status, HoldStatus::Expired { .. }), "{:?}", again.status);
    let reused = event.inventory.hold_with_key(buyer, &best_in("B", 2), "retry-me");
    assert_eq!(reused, Err(InventoryError::IdempotencyKeyReused), "the request's digest survives too");
}

/// A snapshot written before keys existed (format version 1: no key section)
/// still loads.
#[test]
fn a_version_1_snapshot_still_loads() {
    let storage = MemoryStorage::new();
    let (engine, clock) = engine_with_event(&storage);
    let event = engine.event("test-event").unwrap();
    let (joined, _) = event.room.join().unwrap();
    let report = engine.snapshot().unwrap();
    let name = format!("{:020}.snapshot", report.covered);
    let bytes = storage.contents(&name).unwrap();
    // Version 3 = version 1's payload, then the key section and the named
    // sections: 32 bytes with no section (no credential, payment or outbox
    // entry: none writes one).
    let payload = &bytes[28..bytes.len() - 32];
    let mut old = Vec::new();
    old.extend_from_slice(b"GCHS");
    old.extend_from_slice(&1u16.to_le_bytes());
    old.extend_from_slice(&[0, 0]);
    old.extend_from_slice(&report.covered.to_le_bytes());
    old.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&old), payload);
    old.extend_from_slice(&crc.to_le_bytes());
    old.extend_from_slice(payload);
    let crashed = storage.crash(0);
    crashed.write_atomically(&name, &old).unwrap();
    let recovered = open(&crashed, &clock);
    let event = recovered.event("test-event").unwrap();
    assert!(event.room.peek(joined, event.supply()).is_ok());
    assert_eq!(event.room.join_keys_held().0, 0);
}

#[derive(Debug)]
struct NoLog;

impl guichet_engine::room::RoomSink for NoLog {
    fn submit(
        &self,
        _record: &guichet_engine::room::RoomRecord,
    ) -> Result<Receipt, guichet_engine::inventory::SinkError> {
        Ok(Receipt::NONE)
    }
}

/// The cost of a join with a key, on top of the waiting buyer's own, while
/// the key is kept: a 16-byte digest and the buyer's number in a hash table,
/// the digest again in the queue that forgets keys oldest first.
#[test]
fn a_join_key_costs_at_most_80_bytes_while_it_is_kept() {
    use guichet_engine::room::{RoomConfig, RoomSettings, WaitingRoom};
    const JOINS: u64 = 100_000;
    let clock = Arc::new(ManualClock::new(T0));
    let config = RoomConfig {
        on_sale_at: T0,
        closes_at: UnixTimeMs(T0.0 + 86_400_000),
        access_ttl_s: 600,
        heartbeat_grace_s: 60,
        poll_tolerance_percent: 90,
        seed: [7; 32],
    };
    let settings = RoomSettings { admit_per_minute: 60, max_active: 10, paused: false };
    let room = WaitingRoom::new(config, settings, T0, clock.clone(), Arc::new(NoLog));
    for index in 0..JOINS {
        room.join_with_key(join_key(&format!("{index:032x}"))).unwrap();
    }
    let (kept, bytes) = room.join_keys_held();
    assert_eq!(kept, JOINS as usize);
    let per_key = bytes as f64 / JOINS as f64;
    println!("{per_key:.1} bytes per join key ({JOINS} keys)");
    assert!((40.0..=80.0).contains(&per_key), "{per_key:.1} bytes per join key");
    clock.advance_ms(u64::from(JOIN_KEY_KEPT_S) * 1000 + 1000);
    assert_eq!(room.forget_old_join_keys(), JOINS as usize, "all forgotten after ten minutes");
}
