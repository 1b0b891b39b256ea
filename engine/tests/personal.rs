//! Buyers' personal data in the engine: sealed per payment with a key kept
//! in the key table (never in the log or a snapshot), read back for the
//! payment's order after replay and snapshots, erased by deleting the key
//! (by staff, or by the retention limit), and never on disk in clear.
mod common;
use std::sync::Arc;

use common::*;
use guichet_engine::clock::ManualClock;
use guichet_engine::credentials::CredentialId;
use guichet_engine::ids::{BuyerId, OrderId};
use guichet_engine::limits::{PERSONAL_DATA_KEPT_AFTER_SHOW_S, SPARE_PERSONAL_KEYS};
use guichet_engine::personal::{BuyerContact, ErasedBy, PersonalData};
use guichet_engine::store::personal::{PersonalDataState, KEY_TABLE_DIR};
use guichet_engine::store::{ConfirmOutcome, Confirmation, Engine, EngineOptions};
use guichet_engine::wal::storage::{MemoryStorage, Storage};
use guichet_engine::wal::WalOptions;

const BUYER: BuyerId = BuyerId(3);
const EMAIL: &str = "ana.levesque@example.org";

/// Small segments: each test's disk is copied at every crash.
fn options() -> EngineOptions {
    EngineOptions { wal: WalOptions { segment_bytes: 1 << 20, ..WalOptions::default() }, ..EngineOptions::default() }
}

fn paid_engine(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
    let (engine, _) = Engine::open(Arc::new(storage.clone()), options(), clock.clone()).unwrap();
    let mut json = small_spec_json();
    json["payment"] = serde_json::json!({ "provider": "stripe" });
    let (_, receipt) = engine.create_event(&spec_from(json)).unwrap();
    engine.wait_durable(receipt).unwrap();
    engine
}

/// The engine back after a crash, and the disk it now runs on.
fn reopen(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> (Engine, MemoryStorage) {
    let disk = storage.crash(0);
    (Engine::open(Arc::new(disk.clone()), options(), clock.clone()).unwrap().0, disk)
}

fn contact() -> BuyerContact {
    BuyerContact { email: EMAIL.into(), name: Some("Ana Lévesque".into()) }
}

/// A checkout that gives the buyer's email and name, confirmed: the order.
fn bought_with_contact(engine: &Engine) -> OrderId {
    let event = engine.event("test-event").unwrap();
    let placed = event.inventory.hold(BUYER, &best_in("A", 2)).unwrap();
    let (payment, receipt) = engine.start_payment(&event, placed.hold.id, BUYER).unwrap();
    let data = PersonalData::checked(Some(EMAIL.into()), Some("Ana Lévesque".into())).unwrap().unwrap();
    let kept = engine.keep_personal_data(&payment, &data).unwrap();
    engine.wait_durable(receipt.max(kept)).unwrap();
    let again = engine.keep_personal_data(&payment, &PersonalData::checked(Some("x@y".into()), None).unwrap().unwrap());
    assert_eq!(again.unwrap(), guichet_engine::commit::Receipt::NONE, "given once per payment");
    let confirmation = Confirmation { payment: payment.id.as_str(), provider_event: Some("evt_1"), provider_ref: None };
    let ConfirmOutcome::Ordered { order, receipt, .. } = engine.confirm_payment(confirmation).unwrap() else {
        panic!("the confirmation makes the order")
    };
    engine.wait_durable(receipt).unwrap();
    order.id
}

fn state(engine: &Engine, order: OrderId) -> PersonalDataState {
    let event = engine.event("test-event").unwrap();
    engine.personal_data_state(&event, &event.inventory.order(order).unwrap())
}

fn contact_of(engine: &Engine, order: OrderId) -> Option<BuyerContact> {
    engine.buyer_contact(&engine.event("test-event").unwrap(), order)
}

/// Whether any file (log segments, snapshots, keys) holds `needle`.
fn on_disk(storage: &MemoryStorage, needle: &[u8]) -> Vec<String> {
    let files = storage.all_files().into_iter();
    files.filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle)).map(|(name, _)| name).collect()
}

fn key_files(storage: &MemoryStorage) -> Vec<String> {
    storage.subdirectory(KEY_TABLE_DIR).unwrap().list().unwrap()
}

#[test]
fn a_buyers_contact_is_read_back_after_replay_and_snapshots_and_never_kept_in_clear() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let order = bought_with_contact(&engine);
    assert_eq!(contact_of(&engine, order), Some(contact()));
    assert_eq!(state(&engine, order), PersonalDataState::Kept);
    assert_eq!(key_files(&storage).len(), 1, "one key, in the key table");
    let (replayed, disk) = reopen(&storage, &clock);
    assert_eq!(contact_of(&replayed, order), Some(contact()), "replay reads it back");
    replayed.snapshot().unwrap();
    replayed.close();
    let (from_snapshot, disk) = reopen(&disk, &clock);
    assert!(disk.all_files().iter().any(|(name, _)| name.ends_with(".snapshot")));
    assert_eq!(contact_of(&from_snapshot, order), Some(contact()), "a snapshot keeps it");
    for disk in [&storage, &disk] {
        assert_eq!(on_disk(disk, EMAIL.as_bytes()), Vec::<String>::new(), "the address is nowhere on disk in clear");
        assert_eq!(on_disk(disk, "Lévesque".as_bytes()), Vec::<String>::new(), "nor the name");
    }
}

#[test]
fn erasure_deletes_the_key_once_and_leaves_the_order() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let order = bought_with_contact(&engine);
    let key_name = key_files(&storage)[0].clone();
    let key = storage.subdirectory(KEY_TABLE_DIR).unwrap().read(&key_name).unwrap();
    let event = engine.event("test-event").unwrap();
    let by = ErasedBy::Staff(CredentialId(0));
    let (after, receipt) = engine.erase_personal_data(&event, order, by).unwrap().unwrap();
    engine.wait_durable(receipt).unwrap();
    assert_eq!(after, PersonalDataState::Erased);
    assert_eq!(contact_of(&engine, order), None);
    assert!(key_files(&storage).is_empty(), "the key is deleted");
    assert!(on_disk(&storage, &key).is_empty(), "the key's bytes are on disk nowhere");
    let (again, _) = engine.erase_personal_data(&event, order, by).unwrap().unwrap();
    assert_eq!(again, PersonalDataState::Erased, "erasing twice changes nothing");
    let restored_backup = storage.subdirectory(KEY_TABLE_DIR).unwrap();
    restored_backup.write_atomically(&key_name, &key).unwrap();
    assert!(engine.erase_personal_data(&event, OrderId(999_999), by).unwrap().is_none(), "no such order");
    let (replayed, disk) = reopen(&storage, &clock);
    assert_eq!(state(&replayed, order), PersonalDataState::Erased);
    assert_eq!(contact_of(&replayed, order), None);
    assert!(on_disk(&disk, &key).is_empty(), "an erased key restored from a backup is removed at start");
    replayed.snapshot().unwrap();
    replayed.close();
    let (from_snapshot, disk) = reopen(&disk, &clock);
    assert_eq!(state(&from_snapshot, order), PersonalDataState::Erased);
    assert!(from_snapshot.event("test-event").unwrap().inventory.order(order).is_some(), "the order stands");
    assert!(on_disk(&disk, EMAIL.as_bytes()).is_empty() && on_disk(&disk, &key).is_empty());
}

#[test]
fn a_lost_key_leaves_the_order_without_a_contact_and_a_stray_key_is_removed() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let order = bought_with_contact(&engine);
    engine.close();
    let keys = storage.subdirectory(KEY_TABLE_DIR).unwrap();
    keys.remove(&key_files(&storage)[0]).unwrap();
    keys.write_atomically("00112233445566778899aabbccddeeff.key", &[9; 32]).unwrap();
    let (reopened, disk) = reopen(&storage, &clock);
    assert_eq!(contact_of(&reopened, order), None, "no key, no contact");
    assert!(reopened.event("test-event").unwrap().inventory.order(order).is_some(), "the order is intact");
    assert_eq!(state(&reopened, order), PersonalDataState::Kept, "as the log says");
    let stray: Vec<String> = disk.all_files().into_iter().map(|(name, _)| name).collect();
    assert!(!stray.iter().any(|name| name.contains("00112233")), "a key no record needs is removed at open");
}

#[test]
fn personal_data_is_erased_when_its_retention_ends() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    let order = bought_with_contact(&engine);
    assert_eq!(engine.erase_expired_personal_data().unwrap(), 0, "kept while the show is recent");
    let starts_at = engine.event("test-event").unwrap().valid.starts_at;
    clock.set(starts_at.plus_s(PERSONAL_DATA_KEPT_AFTER_SHOW_S - 1));
    assert_eq!(engine.erase_expired_personal_data().unwrap(), 0);
    clock.set(starts_at.plus_s(PERSONAL_DATA_KEPT_AFTER_SHOW_S));
    assert_eq!(engine.erase_expired_personal_data().unwrap(), 1);
    assert_eq!(state(&engine, order), PersonalDataState::Erased);
    assert!(key_files(&storage).is_empty());
    assert_eq!(engine.erase_expired_personal_data().unwrap(), 0, "once");
}

#[test]
fn the_sweeper_erases_personal_data_past_its_retention() {
    use guichet_engine::maintenance::{Maintenance, MaintenanceOptions};
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = Arc::new(paid_engine(&storage, &clock));
    let order = bought_with_contact(&engine);
    let options = MaintenanceOptions { sweep_interval: std::time::Duration::from_millis(10), ..Default::default() };
    let maintenance = Maintenance::start(engine.clone(), options).unwrap();
    let starts_at = engine.event("test-event").unwrap().valid.starts_at;
    clock.set(starts_at.plus_s(PERSONAL_DATA_KEPT_AFTER_SHOW_S));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while state(&engine, order) != PersonalDataState::Erased {
        assert!(std::time::Instant::now() < deadline, "the sweeper erased the data in time");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    maintenance.stop();
    assert_eq!(contact_of(&engine, order), None);
}

#[test]
fn a_checkout_takes_a_spare_key_written_ahead_and_unused_spares_go_at_open() {
    let (storage, clock) = (MemoryStorage::new(), Arc::new(ManualClock::new(T0)));
    let engine = paid_engine(&storage, &clock);
    assert_eq!(engine.make_spare_personal_keys(0).unwrap(), 0, "none asked, none made");
    assert_eq!(engine.make_spare_personal_keys(3).unwrap(), 3);
    assert_eq!(engine.make_spare_personal_keys(SPARE_PERSONAL_KEYS).unwrap(), SPARE_PERSONAL_KEYS - 3);
    assert_eq!(engine.make_spare_personal_keys(1).unwrap(), 0, "never more than the limit");
    let written_ahead = key_files(&storage);
    assert_eq!(written_ahead.len(), SPARE_PERSONAL_KEYS);
    let order = bought_with_contact(&engine);
    assert_eq!(key_files(&storage), written_ahead, "the checkout wrote no key of its own");
    assert_eq!(contact_of(&engine, order), Some(contact()));
    assert_eq!(engine.make_spare_personal_keys(1).unwrap(), 0, "made again only once half are taken");
    let (reopened, disk) = reopen(&storage, &clock);
    assert_eq!(contact_of(&reopened, order), Some(contact()), "the spare key it took was durable");
    let left = disk.subdirectory(KEY_TABLE_DIR).unwrap().list().unwrap();
    assert_eq!(left.len(), 1, "the spares nobody took are removed at open: {left:?}");
    assert!(written_ahead.contains(&left[0]));
    assert_eq!(on_disk(&disk, EMAIL.as_bytes()), Vec::<String>::new());
}
