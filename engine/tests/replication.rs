//! The log with a replication behind it: a synced batch counts as durable
//! only once the replicas confirm it, a refusal (a fenced node) fails the
//! log for good, and what was shipped is the records themselves, in order.
mod common;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::ids::BuyerId;
use guichet_engine::inventory::Requester;
use guichet_engine::store::{Engine, EngineOptions};
use guichet_engine::wal::frame::read_frame;
use guichet_engine::wal::storage::MemoryStorage;
use guichet_engine::wal::{ReplicaAnswer, Replication, SyncedBatch};
use parking_lot::Mutex;

/// Keeps every shipped batch and its answer until the test decides.
#[derive(Default)]
struct HeldBack {
    shipped: Mutex<Vec<(SyncedBatch, Option<ReplicaAnswer>)>>,
}

impl Replication for HeldBack {
    fn ship(&self, batch: SyncedBatch, answer: ReplicaAnswer) {
        self.shipped.lock().push((batch, Some(answer)));
    }
}

impl HeldBack {
    fn answers(&self) -> Vec<ReplicaAnswer> {
        self.shipped.lock().iter_mut().filter_map(|(_, answer)| answer.take()).collect()
    }

    /// Every record shipped so far: (sequence, payload), checked frame by frame.
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        let mut records = Vec::new();
        for (batch, _) in self.shipped.lock().iter() {
            let mut rest = &batch.frames[..];
            while !rest.is_empty() {
                let (frame, used) = read_frame(rest).expect("a shipped frame reads back");
                records.push((frame.sequence, frame.payload.to_vec()));
                rest = &rest[used..];
            }
            assert_eq!(records.first().map(|r| r.0), Some(1), "shipping starts at the first record");
            assert_eq!(records.last().map(|r| r.0), Some(batch.last_sequence));
        }
        records
    }
}

fn replicated_engine(replication: &Arc<HeldBack>) -> (Engine, MemoryStorage) {
    let storage = MemoryStorage::new();
    let options = EngineOptions { replication: Some(replication.clone()), ..EngineOptions::default() };
    let clock = Arc::new(ManualClock::new(T0));
    let (engine, _) = Engine::open(Arc::new(storage.clone()), options, clock).unwrap();
    (engine, storage)
}

/// Waits (a little) for the writer thread to ship what it synced.
fn shipped_up_to(replication: &HeldBack, sequence: u64) {
    for _ in 0..2_000 {
        if replication.shipped.lock().last().is_some_and(|(batch, _)| batch.last_sequence >= sequence) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the writer never shipped record {sequence}");
}

#[test]
fn a_synced_change_is_durable_only_once_the_replicas_confirm_it() {
    let replication = Arc::new(HeldBack::default());
    let (engine, _) = replicated_engine(&replication);
    let (event, created) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    let held = event.inventory.hold(BuyerId(1), &best_in("A", 2)).unwrap();
    shipped_up_to(&replication, held.receipt.0);
    assert!(engine.durable_so_far() < created, "synced locally, but no replica has confirmed it");

    let answers = replication.answers();
    let last = answers.last().map(ReplicaAnswer::last_sequence).unwrap();
    assert_eq!(last, held.receipt.0);
    answers.into_iter().rev().for_each(ReplicaAnswer::confirm);
    assert_eq!(engine.durable_so_far(), held.receipt, "a late answer for an earlier batch never moves durability back");
    engine.wait_durable(held.receipt).unwrap();

    let shipped = replication.records();
    assert_eq!(shipped.iter().map(|r| r.0).collect::<Vec<_>>(), (1..=held.receipt.0).collect::<Vec<_>>());
}

#[test]
fn a_refused_batch_fails_the_log_and_nothing_after_it_is_acknowledged() {
    let replication = Arc::new(HeldBack::default());
    let (engine, _) = replicated_engine(&replication);
    let (event, created) = engine.create_event(&spec_from(small_spec_json())).unwrap();
    shipped_up_to(&replication, created.0);
    replication.answers().into_iter().for_each(ReplicaAnswer::confirm);
    engine.wait_durable(created).unwrap();

    let held = event.inventory.hold(BuyerId(1), &best_in("A", 2)).unwrap();
    shipped_up_to(&replication, held.receipt.0);
    for answer in replication.answers() {
        answer.refuse("another node appended first".into());
    }
    let failure = engine.wait_durable(held.receipt).unwrap_err().to_string();
    assert!(failure.contains("another node appended first"), "{failure}");
    assert!(event.inventory.hold(BuyerId(2), &best_in("A", 1)).is_err(), "a fenced log takes no more changes");
    assert_eq!(engine.durable_so_far(), created, "what was confirmed stays durable");
}

#[test]
fn a_log_pruned_behind_a_snapshot_resumes_after_its_last_record() {
    let storage = MemoryStorage::new();
    let clock = Arc::new(ManualClock::new(T0));
    let options = || EngineOptions {
        wal: guichet_engine::wal::WalOptions { segment_bytes: 1024, max_batch_bytes: 512, ..Default::default() },
        ..EngineOptions::default()
    };
    let last = {
        let (engine, _) = Engine::open(Arc::new(storage.clone()), options(), clock.clone()).unwrap();
        let (event, _) = engine.create_event(&spec_from(small_spec_json())).unwrap();
        for buyer in 0..20 {
            let placed = event.inventory.hold(BuyerId(buyer), &best_in("GA", 1)).unwrap();
            let released = event.inventory.release(placed.hold.id, Requester::Buyer(BuyerId(buyer))).unwrap();
            engine.wait_durable(released).unwrap();
        }
        engine.snapshot().unwrap();
        let placed = event.inventory.hold(BuyerId(99), &best_in("GA", 1)).unwrap();
        engine.wait_durable(placed.receipt).unwrap();
        engine.shutdown().unwrap();
        engine.durable_so_far().0
    };
    let oldest = guichet_engine::wal::reader::segments(&storage).unwrap()[0].first_sequence;
    assert!(oldest > 1, "the snapshot pruned the first segments");

    let wal = guichet_engine::wal::Wal::resume(Arc::new(storage.clone()), options().wal).unwrap();
    assert_eq!(wal.last_assigned_sequence(), last);
    let next = wal.submit(b"a record made elsewhere".to_vec()).unwrap();
    assert_eq!(next.0, last + 1, "a copy numbers on from the log's last record");
    wal.wait_durable(next).unwrap();
}
