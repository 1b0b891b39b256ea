//! Snapshots taken: each event's cut (under its locks), the engine-wide
//! parts' named sections (each under its part's lock), written once the log
//! is durable past them; then the segments and older snapshots they make
//! unnecessary are removed.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    Coverage, Engine, EngineSnapshot, EventSnapshot, KeySection, NamedSection, NamedSections, SnapshotError,
    SnapshotReport, CREDENTIALS_SECTION,
};
use crate::codec;
use crate::commit::Receipt;
use crate::wal::reader;
use crate::wal::snapshot::{snapshots, write_snapshot};
use crate::wal::Wal;

/// The names of the engine-wide parts' snapshot sections.
pub(crate) const PAYMENTS_SECTION: &str = "payments";
pub(crate) const OUTBOX_SECTION: &str = "outbox";
pub(crate) const PERSONAL_SECTION: &str = "personal";
/// The check-ins' section.
pub(crate) const CHECKINS_SECTION: &str = "checkins";
/// Tickets let in again by a door without network.
pub(crate) const SECOND_ENTRIES_SECTION: &str = "second_entries";

impl Engine {
    /// Writes a snapshot of everything, then deletes the segments and older
    /// snapshots it makes unnecessary. Traffic stops only while each event's
    /// state is copied, one event at a time.
    pub fn snapshot(&self) -> Result<SnapshotReport, SnapshotError> {
        let started = Instant::now();
        let _one_at_a_time = self.snapshot_running.lock();
        let wal = self.wal();
        let (events, events_covered) = {
            let ordered = self.ordered.lock();
            (ordered.clone(), wal.last_assigned_sequence())
        };
        let mut saved = Vec::with_capacity(events.len());
        let mut longest_copy = Duration::ZERO;
        for event in &events {
            let copy_started = Instant::now();
            let (inventory, inventory_covered) = event.inventory.snapshot(|| wal.last_assigned_sequence());
            longest_copy = longest_copy.max(copy_started.elapsed());
            let (room, room_covered) = event.room.snapshot(|| wal.last_assigned_sequence());
            saved.push(EventSnapshot {
                number: event.number,
                spec_json: serde_json::to_string(&event.valid.spec).expect("an event spec serialises"),
                created_at: event.created_at,
                lottery_seed: event.lottery_seed(),
                coverage: Coverage { inventory: inventory_covered, room: room_covered },
                inventory,
                room,
            });
        }
        let sections = self.snapshot_sections(wal)?;
        let newest_section = sections.0.values().map(|section| section.covered).max();
        let newest_cut = saved.iter().map(|e| e.coverage.inventory.max(e.coverage.room)).chain(newest_section).max();
        let covered = newest_cut.unwrap_or(events_covered).max(events_covered);
        // A snapshot never holds a change the log could still lose.
        wal.wait_durable(Receipt(covered))?;
        let keys = KeySection {
            events: saved
                .iter_mut()
                .map(|e| (std::mem::take(&mut e.inventory.hold_keys), std::mem::take(&mut e.room.join_keys)))
                .collect(),
        };
        // Values one after the other: version 1's payload, the key section, the named sections.
        let payload = codec::encode(&(EngineSnapshot { events_covered, events: saved }, keys, sections))?;
        let file = write_snapshot(&*self.storage, covered, &payload)?;
        self.snapshot_covered.store(covered, Ordering::Relaxed);
        let segments_removed = self.prune(events_covered, covered)?;
        Ok(SnapshotReport {
            file,
            covered,
            bytes: payload.len(),
            segments_removed,
            longest_copy,
            elapsed: started.elapsed(),
        })
    }

    /// The engine-wide parts' cuts, each taken under that part's lock with the
    /// log sequence read there. A part with nothing to keep writes no section
    /// (so a snapshot without payments still loads in an older build).
    fn snapshot_sections(&self, wal: &Wal) -> Result<NamedSections, SnapshotError> {
        let mut sections = BTreeMap::new();
        if let Some((bytes, covered)) = self.credentials.snapshot(|| wal.last_assigned_sequence()) {
            sections.insert(CREDENTIALS_SECTION.into(), NamedSection { covered, bytes });
        }
        // Copied under each part's lock, encoded after it: checkouts and
        // webhooks wait for the copy only.
        let payments = {
            let book = self.payments.lock();
            (!book.is_empty()).then(|| (book.snapshot(), wal.last_assigned_sequence()))
        };
        if let Some((book, covered)) = payments {
            sections.insert(PAYMENTS_SECTION.into(), NamedSection { covered, bytes: codec::encode(&book)? });
        }
        let outbox = {
            let outbox = self.outbox.lock();
            (!outbox.is_empty()).then(|| (outbox.clone(), wal.last_assigned_sequence()))
        };
        if let Some((outbox, covered)) = outbox {
            sections.insert(OUTBOX_SECTION.into(), NamedSection { covered, bytes: codec::encode(&outbox)? });
        }
        let (checkins, second_entries) = {
            let book = self.checkins.lock();
            let covered = wal.last_assigned_sequence();
            let checkins = (!book.is_empty()).then(|| book.snapshot());
            (
                checkins.map(|r| (r, covered)),
                book.has_second_entries().then(|| (book.second_entries_snapshot(), covered)),
            )
        };
        if let Some((records, covered)) = checkins {
            sections.insert(CHECKINS_SECTION.into(), NamedSection { covered, bytes: codec::encode(&records)? });
        }
        if let Some((records, covered)) = second_entries {
            sections.insert(SECOND_ENTRIES_SECTION.into(), NamedSection { covered, bytes: codec::encode(&records)? });
        }
        {
            // Sealed bytes and key ids only: the keys stay in the key table.
            let personal = self.personal.lock();
            if !personal.is_empty() {
                let covered = wal.last_assigned_sequence();
                let bytes = codec::encode(&personal.snapshot())?;
                sections.insert(PERSONAL_SECTION.into(), NamedSection { covered, bytes });
            }
        }
        Ok(NamedSections(sections))
    }

    /// Removes snapshots older than `newest` and segments whose records are all
    /// at or before `events_covered`. The last segment always stays.
    fn prune(&self, events_covered: u64, newest: u64) -> Result<usize, std::io::Error> {
        for (sequence, name) in snapshots(&*self.storage)? {
            if sequence < newest {
                self.storage.remove(&name)?;
            }
        }
        let segments = reader::segments(&*self.storage)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            if pair[1].first_sequence <= events_covered + 1 {
                self.storage.remove(&pair[0].name)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
