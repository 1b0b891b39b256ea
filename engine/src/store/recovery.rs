//! Recovery: how an engine comes back from its data directory. The newest
//! valid snapshot is loaded, then the log's records after it are replayed
//! (from a [`RecordSource`]: the segments on disk, or a replicated stream),
//! each at the log position its source states and through the same `apply`
//! as live traffic; a torn tail is cut, the writer restarted after the last
//! record, and the holds that ran out while the process was down expired.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::personal::KEY_TABLE_DIR;
use super::snapshot::{CHECKINS_SECTION, OUTBOX_SECTION, PAYMENTS_SECTION, PERSONAL_SECTION, SECOND_ENTRIES_SECTION};
use super::{Coverage, Engine, EngineOptions, EngineSnapshot, KeySection, NamedSections, CREDENTIALS_SECTION};
use crate::clock::Clock;
use crate::codec;
use crate::commit::Receipt;
use crate::credentials::CredentialRecord;
use crate::event::{Event, EventNumber, WalRecord};
use crate::inventory::InventoryError;
use crate::tickets::TicketSigner;
use crate::time::UnixTimeMs;
use crate::tokens::KeyRing;
use crate::wal::reader::{RecordSource, ScanError, TornTail};
use crate::wal::snapshot::{read_snapshot_versioned, snapshots};
use crate::wal::storage::{DiskStorage, Storage};
use crate::wal::WalError;

/// The data directory's file of signing keys (secret: written with mode 0600).
const SIGNING_KEYS_FILE: &str = "signing-keys.json";

/// The e-ticket signing key (secret, likewise).
const TICKET_KEY_FILE: &str = "ticket-key.json";

/// The data directory's signing keys, which every node of a cluster must
/// share for tokens and tickets to stay valid across a failover.
pub const SIGNING_KEY_FILES: [&str; 2] = [SIGNING_KEYS_FILE, TICKET_KEY_FILE];

/// What recovery found and did.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The snapshot loaded, if any: its file and the sequence it covers.
    pub snapshot: Option<(String, u64)>,
    /// Records applied from the disk by the recovery itself.
    pub records_replayed: u64,
    /// Records a standby's engine had applied as they came, before it was
    /// promoted (0 for a recovery from the disk alone).
    pub records_followed: u64,
    pub last_sequence: u64,
    pub torn_tail: Option<TornTail>,
    pub holds_expired: usize,
    pub events: usize,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Log(#[from] ScanError),
    #[error("snapshot {file}: {why}")]
    Snapshot { file: String, why: String },
    #[error("opening the data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("expiring holds after recovery: {0}")]
    Expiry(InventoryError),
    #[error("signing keys {file}: {why}")]
    Keys { file: String, why: String },
    #[error(
        "the log ends at record {log_end} but the snapshot covers up to {snapshot}: synced records were lost. Move \
         the segments after the snapshot aside to start from the snapshot alone, or restore a backup"
    )]
    LogBehindSnapshot { log_end: u64, snapshot: u64 },
    #[error("queueing the refunds of cancelled orders: {0}")]
    Refunds(String),
    #[error("queueing the emails a crash cut off: {0}")]
    Emails(String),
    #[error("record {sequence} cannot be applied: {reason}")]
    Apply { sequence: u64, reason: String },
}

/// Events during recovery, each with what its snapshot covers, and where
/// in the log replay stands.
#[derive(Default)]
pub(super) struct Replay {
    events: Vec<(Arc<Event>, Coverage)>,
    pub(super) position: LogPosition,
    sections: SectionCuts,
}

/// The log sequences the engine-wide parts' sections cover: replay skips
/// each part's records at or before its cut.
#[derive(Clone, Copy, Debug, Default)]
struct SectionCuts {
    credentials: u64,
    payments: u64,
    outbox: u64,
    personal: u64,
    checkins: u64,
    second_entries: u64,
}

/// Replay's place in the log: the last record applied (at first, the
/// position the snapshot's events are complete at), and how many were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LogPosition {
    pub(super) last: u64,
    pub(super) records: u64,
}

impl LogPosition {
    /// Moves to the record a source says comes next: refused when it is at or
    /// before the position (the snapshot or replay holds it already), or
    /// skips records, so no source can leave a gap or apply a record twice.
    pub(super) fn advance_to(&mut self, sequence: u64) -> Result<(), String> {
        if sequence <= self.last {
            return Err(format!("record {sequence} is at or before log position {}, already applied", self.last));
        }
        if sequence != self.last + 1 {
            return Err(format!("record {sequence} follows record {}: the records between are missing", self.last));
        }
        self.last = sequence;
        self.records += 1;
        Ok(())
    }
}

impl Engine {
    /// Opens a data directory (creating it if needed) and recovers.
    pub fn open_dir(
        dir: impl AsRef<std::path::Path>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, RecoveryReport), RecoveryError> {
        Self::open(Arc::new(DiskStorage::open(dir)?), options, clock)
    }

    /// Recovers from `storage`: newest valid snapshot, then the log after it.
    pub fn open(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, RecoveryReport), RecoveryError> {
        Engine::follow(storage, options, clock)?.finish()
    }

    /// An engine with its keys (made on first start) and no events, its log not yet started.
    pub(super) fn unstarted(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, RecoveryError> {
        let (keys, tickets) = signing_keys(&*storage, &options)?;
        let personal_keys = personal_key_table(&storage, &options)?;
        Ok(Engine::with_keys(storage, options, clock, keys, tickets, personal_keys))
    }

    /// Loads the newest snapshot: its events with what each covers, and the
    /// log position replay starts after (every event created up to it is in).
    pub(super) fn load_snapshot(&self, report: &mut RecoveryReport) -> Result<Replay, RecoveryError> {
        let mut replay = Replay::default();
        let Some((_, name)) = snapshots(&**self.storage())?.into_iter().next() else { return Ok(replay) };
        let file = self.storage().describe(&name);
        let broken = |why: String| RecoveryError::Snapshot { file: file.clone(), why };
        let (sequence, version, payload) =
            read_snapshot_versioned(&**self.storage(), &name).map_err(|e| broken(e.to_string()))?;
        let (snapshot, keys, sections) = decode_snapshot(version, &payload).map_err(|e| broken(e.to_string()))?;
        replay.sections = self.restore_sections(sections).map_err(broken)?;
        if !keys.events.is_empty() && keys.events.len() != snapshot.events.len() {
            return Err(broken("the key section does not match the events".into()));
        }
        let mut keys = keys.events.into_iter();
        for mut saved in snapshot.events {
            if let Some((hold_keys, join_keys)) = keys.next() {
                saved.inventory.hold_keys = hold_keys;
                saved.room.join_keys = join_keys;
            }
            let event = self
                .add_event(saved.number, &saved.spec_json, saved.created_at, saved.lottery_seed)
                .map_err(|e| broken(e.0))?;
            event.inventory.restore(saved.inventory).map_err(|e| broken(e.0))?;
            event.room.restore(saved.room).map_err(|e| broken(e.0))?;
            replay.events.push((event, saved.coverage));
        }
        report.snapshot = Some((name, sequence));
        self.note_snapshot_loaded(sequence);
        replay.position = LogPosition { last: snapshot.events_covered, records: 0 };
        Ok(replay)
    }

    /// Gives each engine-wide part its section; any other name is one a
    /// newer build wrote. Returns the cut each part's section covers.
    fn restore_sections(&self, sections: NamedSections) -> Result<SectionCuts, String> {
        let mut cuts = SectionCuts::default();
        // After the check-ins, which every second entry names.
        let mut second_entries = None;
        for (name, section) in sections.0 {
            match name.as_str() {
                PAYMENTS_SECTION => {
                    self.restore_payments(&section.bytes)?;
                    cuts.payments = section.covered;
                }
                OUTBOX_SECTION => {
                    self.restore_outbox(&section.bytes)?;
                    cuts.outbox = section.covered;
                }
                PERSONAL_SECTION => {
                    self.restore_personal(&section.bytes)?;
                    cuts.personal = section.covered;
                }
                CHECKINS_SECTION => {
                    self.restore_check_ins(&section.bytes)?;
                    cuts.checkins = section.covered;
                }
                SECOND_ENTRIES_SECTION => {
                    second_entries = Some(section);
                }
                CREDENTIALS_SECTION => {
                    self.credentials.restore(&section.bytes)?;
                    cuts.credentials = section.covered;
                }
                _ => return Err(format!("section {name:?} is not one this build knows (written by a newer build?)")),
            }
        }
        if let Some(section) = second_entries {
            self.restore_second_entries(&section.bytes)?;
            cuts.second_entries = section.covered;
        }
        Ok(cuts)
    }

    /// Applies every record `source` holds after replay's position, each at
    /// the log position the source states, through the same `apply` as live
    /// traffic.
    pub(super) fn replay_from(&self, source: &mut dyn RecordSource, replay: &mut Replay) -> Result<(), RecoveryError> {
        let after = replay.position.last;
        source.read_after(after, &mut |sequence, payload| {
            replay.position.advance_to(sequence)?;
            self.replay(sequence, payload, replay)
        })?;
        Ok(())
    }

    /// Applies one record from the log, unless the snapshot already holds it.
    pub(super) fn replay(&self, sequence: u64, payload: &[u8], replay: &mut Replay) -> Result<(), String> {
        let target = |replay: &Replay, event: EventNumber| {
            let found = replay.events.get(event.0 as usize).cloned();
            found.ok_or_else(|| format!("names event number {}, which was never created", event.0))
        };
        match WalRecord::decode(payload).map_err(|e| e.to_string())? {
            WalRecord::EventCreated { event, at, lottery_seed, spec_json } => {
                self.replay_creation(event, &spec_json, at, lottery_seed, replay)
            }
            WalRecord::EventCreatedBy { event, at, lottery_seed, spec_json, created_by } => {
                if sequence > replay.sections.credentials {
                    let owned = CredentialRecord::EventOwned { id: created_by, event: event_id(&spec_json)? };
                    self.credentials.apply(&owned).map_err(|e| e.0)?;
                }
                self.replay_creation(event, &spec_json, at, lottery_seed, replay)
            }
            WalRecord::Credential { record } => {
                if sequence > replay.sections.credentials {
                    self.credentials.apply(&record).map_err(|e| e.0)?;
                }
                Ok(())
            }
            WalRecord::StaffRequest { .. } | WalRecord::Term { .. } => Ok(()),
            WalRecord::Inventory { event, record } => {
                let (target, covered) = target(replay, event)?;
                target
                    .replay_inventory_record(&record, Receipt(sequence), sequence <= covered.inventory)
                    .map_err(|e| e.0)
            }
            WalRecord::Room { event, record } => {
                let (target, covered) = target(replay, event)?;
                if sequence > covered.room {
                    target.room.apply(&record).map_err(|e| e.0)?;
                }
                Ok(())
            }
            WalRecord::Payment { record } if sequence > replay.sections.payments => self.replay_payment(&record),
            WalRecord::Outbox { record } if sequence > replay.sections.outbox => self.replay_outbox(&record),
            WalRecord::Personal { record } if sequence > replay.sections.personal => self.replay_personal(&record),
            WalRecord::CheckIn { record } if sequence > replay.sections.checkins => {
                self.replay_check_in(&record, sequence)
            }
            WalRecord::SecondEntry { record } if sequence > replay.sections.second_entries => {
                self.replay_second_entry(&record, sequence)
            }
            WalRecord::Payment { .. }
            | WalRecord::Outbox { .. }
            | WalRecord::Personal { .. }
            | WalRecord::CheckIn { .. }
            | WalRecord::SecondEntry { .. } => Ok(()),
        }
    }

    /// An event's creation, unless the snapshot holds the event.
    fn replay_creation(
        &self,
        event: EventNumber,
        spec_json: &str,
        at: UnixTimeMs,
        lottery_seed: [u8; 32],
        replay: &mut Replay,
    ) -> Result<(), String> {
        if (event.0 as usize) < replay.events.len() {
            return Ok(());
        }
        let created = self.add_event(event, spec_json, at, lottery_seed).map_err(|e| e.0)?;
        replay.events.push((created, Coverage::default()));
        Ok(())
    }

    /// What the time the process was down changes: nobody loses a place in
    /// line for it (heartbeats are not logged), and the holds that ran out in
    /// it are expired (now logged). Returns how many holds.
    pub(super) fn resume_after_downtime(&self) -> Result<usize, RecoveryError> {
        let mut holds_expired = 0;
        for event in self.events() {
            event.room.mark_all_seen();
            holds_expired += event.inventory.expire_holds().map_err(RecoveryError::Expiry)?;
        }
        Ok(holds_expired)
    }
}

/// The record replay starts after when recovery loads snapshot file `name`:
/// the log must hold every record after it (a snapshot covers some parts
/// further, up to the sequence it is named by, but not all).
pub fn snapshot_replay_start(storage: &dyn Storage, name: &str) -> Result<u64, RecoveryError> {
    let broken = |why: String| RecoveryError::Snapshot { file: storage.describe(name), why };
    let (_, version, payload) = read_snapshot_versioned(storage, name).map_err(|e| broken(e.to_string()))?;
    let (snapshot, _, _) = decode_snapshot(version, &payload).map_err(|e| broken(e.to_string()))?;
    Ok(snapshot.events_covered)
}

/// The id of the event a logged spec describes.
fn event_id(spec_json: &str) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let spec: IdOnly = serde_json::from_str(spec_json).map_err(|e| format!("event spec: {e}"))?;
    Ok(spec.id)
}

/// A snapshot's payload: version 1 has no key section.
fn decode_snapshot(
    version: u16,
    payload: &[u8],
) -> Result<(EngineSnapshot, KeySection, NamedSections), codec::CodecError> {
    match version {
        1 => Ok((codec::decode(payload)?, KeySection::default(), NamedSections::default())),
        2 => {
            let (snapshot, keys) = codec::decode(payload)?;
            Ok((snapshot, keys, NamedSections::default()))
        }
        _ => codec::decode(payload),
    }
}

/// The token and ticket signing keys in `storage` (made on first start).
pub(super) fn signing_keys(
    storage: &dyn Storage,
    options: &EngineOptions,
) -> Result<(KeyRing, TicketSigner), RecoveryError> {
    let keys = load_or_create(storage, SIGNING_KEYS_FILE, || KeyRing::generate(&*options.entropy))?;
    let tickets = load_or_create(storage, TICKET_KEY_FILE, || TicketSigner::generate(&*options.entropy))?;
    Ok((keys, tickets))
}

/// The personal-data key table: the data directory's, wrapped as the
/// options say (a cluster keeps every key in its bucket too).
pub(super) fn personal_key_table(
    storage: &Arc<dyn Storage>,
    options: &EngineOptions,
) -> Result<Arc<dyn Storage>, RecoveryError> {
    let local = storage.subdirectory(KEY_TABLE_DIR)?;
    Ok(match &options.personal_key_table {
        Some(wrap) => wrap(local),
        None => local,
    })
}

/// Reads a key file, or makes and keeps a new key on first start.
fn load_or_create<T: Serialize + serde::de::DeserializeOwned>(
    storage: &dyn Storage,
    file: &str,
    generate: impl FnOnce() -> T,
) -> Result<T, RecoveryError> {
    let broken = |why: String| RecoveryError::Keys { file: storage.describe(file), why };
    match storage.read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| broken(e.to_string())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = generate();
            let bytes = serde_json::to_vec(&key).map_err(|e| broken(e.to_string()))?;
            storage.write_atomically(file, &bytes).map_err(|e| broken(e.to_string()))?;
            Ok(key)
        }
        Err(error) => Err(broken(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::demo::demo_event;
    use crate::ids::BuyerId;
    use crate::inventory::{HoldRequest, KeyedHold, Requester};
    use crate::room::QueueStatus;
    use crate::store::Follower;
    use crate::time::UnixTimeMs;
    use crate::wal::reader::{DiskRecords, RecordVisitor};
    use crate::wal::storage::MemoryStorage;
    use crate::wal::{Wal, WalOptions};

    /// Records held in memory, as another holder of the log (a replicated
    /// stream) would hand them over.
    struct RecordList(Vec<(u64, Vec<u8>)>);

    impl RecordSource for RecordList {
        fn read_after(&mut self, after_sequence: u64, visit: &mut RecordVisitor<'_>) -> Result<(), ScanError> {
            for (sequence, payload) in self.0.iter().filter(|(sequence, _)| *sequence > after_sequence) {
                visit(*sequence, payload).map_err(|reason| ScanError::Record {
                    file: "a list of records".into(),
                    offset: 0,
                    sequence: *sequence,
                    reason,
                })?;
            }
            Ok(())
        }
    }

    fn small_segments() -> EngineOptions {
        let wal = WalOptions { segment_bytes: 1 << 20, ..WalOptions::default() };
        EngineOptions { wal, ..EngineOptions::default() }
    }

    const ON_SALE: UnixTimeMs = UnixTimeMs(1_796_482_800_000); // 2026-12-05T15:00:00Z, the demo's

    /// A log with the demo event, buyers admitted, holds, and purchases.
    fn busy_log(clock: &Arc<ManualClock>) -> MemoryStorage {
        let storage = MemoryStorage::new();
        let (engine, _) = Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap();
        let (event, _) = engine.create_event(&demo_event().spec).unwrap();
        let buyers: Vec<BuyerId> = (0..30).map(|_| event.room.join().unwrap().0).collect();
        clock.set(ON_SALE);
        for _ in 0..30 {
            event.tick().unwrap();
            clock.advance_ms(100);
        }
        let request = HoldRequest::BestInSection { section: "L1".into(), quantity: 2 };
        for (index, buyer) in buyers.iter().enumerate().filter(|(_, b)| event.room.may_shop(**b)).take(6) {
            let Ok(KeyedHold::Placed(placed)) = event.hold(*buyer, &request, None) else { panic!("a hold") };
            if index % 2 == 0 {
                event.purchase(placed.hold.id, Requester::Buyer(*buyer), "k", "p").unwrap();
            }
        }
        engine.wait_durable(engine.after_everything_logged(Receipt::NONE)).unwrap();
        engine.close();
        storage
    }

    fn logged_records(storage: &MemoryStorage) -> Vec<(u64, Vec<u8>)> {
        let mut records = Vec::new();
        let mut disk = DiskRecords::new(storage);
        disk.read_after(0, &mut |sequence, payload| {
            records.push((sequence, payload.to_vec()));
            Ok(())
        })
        .unwrap();
        records
    }

    /// An engine replayed from `source` alone (no snapshot), its log not started.
    fn replayed(source: &mut dyn RecordSource, clock: &Arc<ManualClock>) -> Result<Engine, RecoveryError> {
        let storage = Arc::new(MemoryStorage::new());
        let engine = Engine::unstarted(storage, small_segments(), clock.clone())?;
        let mut replay = engine.load_snapshot(&mut RecoveryReport::default())?;
        engine.replay_from(source, &mut replay)?;
        Ok(engine)
    }

    /// What replay rebuilds: each event's inventory and its room, buyer by buyer.
    fn state(engine: &Engine) -> Vec<(String, crate::room::RoomStats, Vec<Option<QueueStatus>>)> {
        let events = engine.events();
        let picture = |event: &Arc<Event>| {
            let buyers = (0..event.room.stats().admitted_total + 40).map(BuyerId);
            let statuses = buyers.map(|b| event.room.peek(b, event.supply()).ok()).collect();
            (event.inventory.digest(), event.room.stats(), statuses)
        };
        events.iter().map(picture).collect()
    }

    #[test]
    fn records_from_any_source_replay_into_the_state_the_disk_replays_into() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = busy_log(&clock);
        let (from_disk, report) = Engine::open(Arc::new(storage.crash(0)), small_segments(), clock.clone()).unwrap();
        let records = logged_records(&storage);
        assert_eq!(report.records_replayed, records.len() as u64);
        let from_list = replayed(&mut RecordList(records), &clock).unwrap();
        assert_eq!(state(&from_list), state(&from_disk));
        assert!(from_disk.event(&demo_event().spec.id).unwrap().inventory.confirmed_orders() > 0);
    }

    /// A standby's log in `storage`: every record of `records` copied into
    /// it (as the stream hands them over) and applied by a follower.
    fn follower_copying(storage: &MemoryStorage, records: &[(u64, Vec<u8>)], clock: &Arc<ManualClock>) -> Follower {
        let copy = Wal::resume(Arc::new(storage.clone()), small_segments().wal).unwrap();
        let mut follower = Engine::follow(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap();
        assert_eq!(follower.read_disk().unwrap(), 0, "an empty log");
        for (sequence, payload) in records {
            assert_eq!(copy.submit(payload.clone()).unwrap(), Receipt(*sequence));
            follower.apply(*sequence, payload).unwrap();
        }
        copy.wait_durable(Receipt(records.len() as u64)).unwrap();
        copy.close();
        follower
    }

    #[test]
    fn a_follower_promoted_serves_the_state_recovery_would_without_replaying_and_its_log_carries_on() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let primary = busy_log(&clock);
        let records = logged_records(&primary);
        let (from_disk, _) = Engine::open(Arc::new(primary.crash(0)), small_segments(), clock.clone()).unwrap();

        let standby = MemoryStorage::new();
        let follower = follower_copying(&standby, &records, &clock);
        assert_eq!(follower.last_applied(), records.len() as u64);
        let (promoted, report) = follower.promote(small_segments()).unwrap();
        assert_eq!((report.records_replayed, report.records_followed), (0, records.len() as u64));
        assert_eq!(state(&promoted), state(&from_disk));

        let event = promoted.event(&demo_event().spec.id).unwrap();
        let (buyer, _) = event.room.join().unwrap();
        let receipt = promoted.after_everything_logged(Receipt::NONE);
        assert_eq!(receipt, Receipt(records.len() as u64 + 1), "the log goes on after the last record copied");
        promoted.wait_durable(receipt).unwrap();
        let after = state(&promoted);
        promoted.close();
        assert_eq!(state(&reopened(&standby, &clock)), after);
        assert!(after[0].2.get(buyer.0 as usize).is_some());
    }

    #[test]
    fn a_follower_refuses_a_record_out_of_order_naming_it_and_recovery_from_disk_still_works() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let records = logged_records(&busy_log(&clock));
        let standby = MemoryStorage::new();
        let mut follower = follower_copying(&standby, &records[..4], &clock);
        let refused = follower.apply(records[5].0, &records[5].1).unwrap_err().to_string();
        assert!(
            refused.contains("record 6 cannot be applied") && refused.contains("records between are missing"),
            "{refused}"
        );
        drop(follower);
        let (engine, report) = Engine::open(Arc::new(standby), small_segments(), clock).unwrap();
        assert_eq!((report.records_replayed, report.last_sequence), (4, 4));
        assert_eq!(engine.after_everything_logged(Receipt::NONE), Receipt(4));
    }

    #[test]
    fn a_source_that_skips_or_repeats_a_record_is_refused() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let records = logged_records(&busy_log(&clock));
        let mut skipping = records.clone();
        skipping.remove(5);
        let refused = replayed(&mut RecordList(skipping), &clock).unwrap_err().to_string();
        assert!(refused.contains("record 7 follows record 5"), "{refused}");
        let mut repeating = records;
        repeating.insert(5, repeating[4].clone());
        let refused = replayed(&mut RecordList(repeating), &clock).unwrap_err().to_string();
        assert!(refused.contains("record 5 is at or before log position 5"), "{refused}");
    }

    /// The newest snapshot of `storage`, rewritten by `rewrite(version, payload)`.
    fn rewrite_snapshot(storage: &MemoryStorage, rewrite: impl FnOnce(u16, Vec<u8>) -> (u16, Vec<u8>)) {
        let (sequence, name) = snapshots(storage).unwrap().into_iter().next().expect("a snapshot");
        let (_, version, payload) = read_snapshot_versioned(storage, &name).unwrap();
        let (version, payload) = rewrite(version, payload);
        crate::wal::snapshot::write_snapshot_as(storage, version, sequence, &payload).unwrap();
    }

    fn snapshotted_log(clock: &Arc<ManualClock>) -> MemoryStorage {
        let storage = busy_log(clock);
        let (engine, _) = Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap();
        engine.snapshot().unwrap();
        engine.close();
        storage
    }

    #[test]
    fn a_version_2_snapshot_still_loads() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = snapshotted_log(&clock);
        let (expected, _) = Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap();
        rewrite_snapshot(&storage, |version, payload| {
            assert_eq!(version, 3);
            let (snapshot, keys, sections): (EngineSnapshot, KeySection, NamedSections) =
                codec::decode(&payload).unwrap();
            assert!(sections.0.is_empty(), "no credentials, payments or outbox: no section at all");
            (2, codec::encode(&(snapshot, keys)).unwrap())
        });
        let (loaded, report) = Engine::open(Arc::new(storage), small_segments(), clock.clone()).unwrap();
        assert!(report.snapshot.is_some());
        assert_eq!(state(&loaded), state(&expected));
    }

    #[test]
    fn a_snapshot_section_this_build_does_not_know_is_refused_by_name() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = snapshotted_log(&clock);
        rewrite_snapshot(&storage, |version, payload| {
            let (snapshot, keys, mut sections): (EngineSnapshot, KeySection, NamedSections) =
                codec::decode(&payload).unwrap();
            sections.0.insert("from-the-future".into(), super::super::NamedSection { covered: 1, bytes: vec![7] });
            (version, codec::encode(&(snapshot, keys, sections)).unwrap())
        });
        let refused = Engine::open(Arc::new(storage), small_segments(), clock).unwrap_err().to_string();
        assert!(refused.contains("\"from-the-future\" is not one this build knows"), "{refused}");
    }

    fn reopened(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
        Engine::open(Arc::new(storage.clone()), small_segments(), clock.clone()).unwrap().0
    }

    #[test]
    fn credentials_and_owned_events_come_back_from_the_log_and_from_a_snapshot() {
        use crate::credentials::{CredentialId, NewCredential, Role};
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = MemoryStorage::new();
        let engine = reopened(&storage, &clock);
        let new = |role, events: &[&str]| NewCredential {
            role,
            events: events.iter().map(|e| e.to_string()).collect(),
            label: "desk".into(),
            expires_at: None,
        };
        let (promoter, _) = engine.create_credential(new(Role::Promoter, &[]), CredentialId::ENV_ADMIN).unwrap();
        let mut spec = demo_event().spec;
        engine.create_event_by(&spec, promoter.credential.id).unwrap();
        let (viewer, _) = engine.create_credential(new(Role::Viewer, &[&spec.id]), promoter.credential.id).unwrap();
        let receipt = engine.revoke_credential(viewer.credential.id, CredentialId::ENV_ADMIN).unwrap();
        engine.wait_durable(receipt).unwrap();
        let before = engine.credentials().list();
        assert_eq!(before[0].events, vec![spec.id.clone()], "the promoter owns what it created");
        engine.close();

        let replayed = reopened(&storage, &clock);
        assert_eq!(replayed.credentials().list(), before);
        assert_eq!(replayed.credentials().verify(&promoter.token, clock.now()).unwrap().events, vec![spec.id.clone()]);
        replayed.snapshot().unwrap();
        // After the snapshot's cut: replayed on top of the section, not twice.
        spec.id = "second".into();
        let (_, receipt) = replayed.create_event_by(&spec, promoter.credential.id).unwrap();
        replayed.wait_durable(receipt).unwrap();
        let after = replayed.credentials().list();
        replayed.close();

        let restored = reopened(&storage, &clock);
        assert_eq!(restored.credentials().list(), after);
        assert_eq!(after[0].events.len(), 2);
        assert!(restored.credentials().verify(&viewer.token, clock.now()).is_err());
    }

    #[test]
    fn an_event_logged_by_an_older_build_replays_as_created_by_the_environment_admin() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let spec_json = serde_json::to_string(&demo_event().spec).unwrap();
        let record = crate::event::WalRecordRef::EventCreated {
            event: EventNumber(0),
            at: clock.now(),
            lottery_seed: [7; 32],
            spec_json: &spec_json,
        };
        let engine = replayed(&mut RecordList(vec![(1, codec::encode(&record).unwrap())]), &clock).unwrap();
        assert_eq!(engine.events().len(), 1);
        assert!(engine.credentials().list().is_empty(), "no credential owns it: it is t0's");
    }
}
