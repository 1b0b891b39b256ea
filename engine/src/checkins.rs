//! Check-ins at the door: which tickets were let in, when, at which door
//! and by which scan. A ticket is let in once; the scan that let it in,
//! sent again (a scanner that lost the answer), is answered as the first
//! time, and any other scan of it is told when and where it was used.
//!
//! A door without network lets in what its list vouches for and sends the
//! scan later, saying so; if another scan let the ticket in first, that
//! second entry is kept too, so that both doors are shown it.
//!
//! [`CheckInBook`] is plain state, changed only by [`CheckInBook::apply`]
//! and [`CheckInBook::apply_second_entry`], live and on replay, with counts
//! by door and by section kept beside it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::commit::{ApplyError, Receipt};
use crate::ids::OrderId;
use crate::limits::{MAX_DOORS_PER_EVENT, MAX_DOOR_BYTES, MAX_SCAN_ID_BYTES, MAX_SECOND_ENTRIES_PER_EVENT};
use crate::time::UnixTimeMs;

/// One ticket let in, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInRecord {
    /// The event's number (its place in creation order).
    pub event: u32,
    pub order: OrderId,
    /// The ticket's place in its order (as its code names it).
    pub index: u16,
    pub at: UnixTimeMs,
    pub door: String,
    pub scan_id: String,
    /// The ticket's section id (for the counts by section).
    pub section: String,
}

/// A ticket let in a second time, as logged: a door without network let it
/// in at `let_in_at` (its list vouched for it), after another scan had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondEntryRecord {
    pub event: u32,
    pub order: OrderId,
    pub index: u16,
    pub let_in_at: UnixTimeMs,
    pub door: String,
    pub scan_id: String,
}

/// A second entry, as the book keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondEntry {
    pub let_in_at: UnixTimeMs,
    pub door: String,
    pub scan_id: String,
    pub receipt: Receipt,
}

/// A ticket's check-in, as the book keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    pub at: UnixTimeMs,
    pub door: String,
    pub scan_id: String,
    pub section: String,
    /// The log position of the check-in: an answer that depends on it
    /// waits for it to be durable.
    pub receipt: Receipt,
}

/// Why a check-in cannot be recorded (the request's fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckInRefusal {
    #[error("door: give 1 to {MAX_DOOR_BYTES} bytes naming the door")]
    Door,
    #[error("scan_id: give 1 to {MAX_SCAN_ID_BYTES} bytes, unique per scan")]
    ScanId,
    #[error("this event has {MAX_DOORS_PER_EVENT} doors already: use one of their names")]
    TooManyDoors,
}

/// Every check-in, by event and ticket.
#[derive(Debug, Default)]
pub struct CheckInBook {
    tickets: HashMap<(u32, OrderId, u16), CheckIn>,
    by_door: BTreeMap<(u32, String), u64>,
    by_section: BTreeMap<(u32, String), u64>,
    /// By ticket; at most `MAX_SECOND_ENTRIES_PER_EVENT` per event.
    second_entries: BTreeMap<(u32, OrderId, u16), Vec<SecondEntry>>,
    second_entries_by_event: HashMap<u32, usize>,
}

/// Checks a request's door and scan id.
pub fn check_request(door: &str, scan_id: &str) -> Result<(), CheckInRefusal> {
    if door.trim().is_empty() || door.len() > MAX_DOOR_BYTES {
        return Err(CheckInRefusal::Door);
    }
    if scan_id.is_empty() || scan_id.len() > MAX_SCAN_ID_BYTES {
        return Err(CheckInRefusal::ScanId);
    }
    Ok(())
}

impl CheckInBook {
    /// The ticket's check-in, if it was let in.
    pub fn get(&self, event: u32, order: OrderId, index: u16) -> Option<&CheckIn> {
        self.tickets.get(&(event, order, index))
    }

    /// Every ticket let in at `event`: order, index and check-in.
    pub fn of_event(&self, event: u32) -> Vec<(OrderId, u16, CheckIn)> {
        let mut found: Vec<_> = self
            .tickets
            .iter()
            .filter(|((e, _, _), _)| *e == event)
            .map(|(&(_, order, index), check_in)| (order, index, check_in.clone()))
            .collect();
        found.sort_by_key(|(order, index, _)| (order.0, *index));
        found
    }

    /// Whether a check-in at `door` fits the event's limit on doors.
    pub fn door_allowed(&self, event: u32, door: &str) -> Result<(), CheckInRefusal> {
        let known = self.by_door.contains_key(&(event, door.to_owned()));
        let doors = self.by_door.range((event, String::new())..).take_while(|((e, _), _)| *e == event).count();
        if known || doors < MAX_DOORS_PER_EVENT {
            Ok(())
        } else {
            Err(CheckInRefusal::TooManyDoors)
        }
    }

    /// The one way check-ins change, live and on replay.
    pub fn apply(&mut self, record: &CheckInRecord, receipt: Receipt) -> Result<(), ApplyError> {
        let key = (record.event, record.order, record.index);
        if self.tickets.contains_key(&key) {
            return Err(ApplyError(format!("ticket {}/{} was let in already", record.order.0, record.index)));
        }
        let check_in = CheckIn {
            at: record.at,
            door: record.door.clone(),
            scan_id: record.scan_id.clone(),
            section: record.section.clone(),
            receipt,
        };
        self.tickets.insert(key, check_in);
        *self.by_door.entry((record.event, record.door.clone())).or_default() += 1;
        *self.by_section.entry((record.event, record.section.clone())).or_default() += 1;
        Ok(())
    }

    /// The second entry scan `scan_id` recorded for this ticket, if any.
    pub fn second_entry(&self, event: u32, order: OrderId, index: u16, scan_id: &str) -> Option<&SecondEntry> {
        self.second_entries.get(&(event, order, index))?.iter().find(|entry| entry.scan_id == scan_id)
    }

    /// Whether `event` may record another second entry.
    pub fn second_entry_allowed(&self, event: u32) -> bool {
        self.second_entries_by_event.get(&event).copied().unwrap_or(0) < MAX_SECOND_ENTRIES_PER_EVENT
    }

    /// Records a second entry, live and on replay: the ticket was let in
    /// before, and this scan was not recorded yet.
    pub fn apply_second_entry(&mut self, record: &SecondEntryRecord, receipt: Receipt) -> Result<(), ApplyError> {
        let key = (record.event, record.order, record.index);
        let ticket = format!("ticket {}/{}", record.order.0, record.index);
        if !self.tickets.contains_key(&key) {
            return Err(ApplyError(format!("a second entry of {ticket}, which was never let in")));
        }
        if self.second_entry(record.event, record.order, record.index, &record.scan_id).is_some() {
            return Err(ApplyError(format!("scan {:?} of {ticket} was recorded already", record.scan_id)));
        }
        let entry = SecondEntry {
            let_in_at: record.let_in_at,
            door: record.door.clone(),
            scan_id: record.scan_id.clone(),
            receipt,
        };
        self.second_entries.entry(key).or_default().push(entry);
        *self.second_entries_by_event.entry(record.event).or_default() += 1;
        Ok(())
    }

    /// Every second entry at `event`, by ticket: order, index, the first
    /// check-in and the entry.
    pub fn second_entries_of(&self, event: u32) -> Vec<(OrderId, u16, CheckIn, SecondEntry)> {
        let from = (event, OrderId(0), 0);
        self.second_entries
            .range(from..)
            .take_while(|((e, _, _), _)| *e == event)
            .flat_map(|(&(_, order, index), entries)| {
                let first = self.tickets.get(&(event, order, index)).cloned();
                entries.iter().filter_map(move |entry| Some((order, index, first.clone()?, entry.clone())))
            })
            .collect()
    }

    /// Every second entry, as records (a snapshot's section).
    pub fn second_entries_snapshot(&self) -> Vec<SecondEntryRecord> {
        self.second_entries
            .iter()
            .flat_map(|(&(event, order, index), entries)| {
                entries.iter().map(move |entry| SecondEntryRecord {
                    event,
                    order,
                    index,
                    let_in_at: entry.let_in_at,
                    door: entry.door.clone(),
                    scan_id: entry.scan_id.clone(),
                })
            })
            .collect()
    }

    /// Tickets let in at `event`: in all, by door and by section.
    pub fn counts(&self, event: u32) -> CheckInCounts {
        let of_event = |map: &BTreeMap<(u32, String), u64>| -> BTreeMap<String, u64> {
            let from = (event, String::new());
            map.range(from..).take_while(|((e, _), _)| *e == event).map(|((_, name), n)| (name.clone(), *n)).collect()
        };
        let by_door = of_event(&self.by_door);
        let second_entries = self.second_entries_by_event.get(&event).copied().unwrap_or(0) as u64;
        CheckInCounts { total: by_door.values().sum(), by_door, by_section: of_event(&self.by_section), second_entries }
    }

    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    pub fn has_second_entries(&self) -> bool {
        !self.second_entries.is_empty()
    }

    /// Every check-in, as records (a snapshot's section).
    pub fn snapshot(&self) -> Vec<CheckInRecord> {
        let mut records: Vec<CheckInRecord> = self
            .tickets
            .iter()
            .map(|(&(event, order, index), c)| CheckInRecord {
                event,
                order,
                index,
                at: c.at,
                door: c.door.clone(),
                scan_id: c.scan_id.clone(),
                section: c.section.clone(),
            })
            .collect();
        records.sort_by_key(|r| (r.event, r.order.0, r.index));
        records
    }

    /// The book a snapshot's records describe (all durable).
    pub fn restore(records: &[CheckInRecord]) -> Result<CheckInBook, ApplyError> {
        let mut book = CheckInBook::default();
        for record in records {
            book.apply(record, Receipt::NONE)?;
        }
        Ok(book)
    }
}

/// Tickets let in at one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckInCounts {
    pub total: u64,
    pub by_door: BTreeMap<String, u64>,
    pub by_section: BTreeMap<String, u64>,
    /// Tickets a door without network let in again.
    pub second_entries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(order: u64, index: u16, door: &str, section: &str) -> CheckInRecord {
        CheckInRecord {
            event: 2,
            order: OrderId(order),
            index,
            at: UnixTimeMs(1_000),
            door: door.into(),
            scan_id: format!("scan-{order}-{index}"),
            section: section.into(),
        }
    }

    fn second(order: u64, index: u16, door: &str, scan: &str) -> SecondEntryRecord {
        SecondEntryRecord {
            event: 2,
            order: OrderId(order),
            index,
            let_in_at: UnixTimeMs(900),
            door: door.into(),
            scan_id: scan.into(),
        }
    }

    #[test]
    fn a_second_entry_is_kept_once_per_scan_and_only_for_a_ticket_let_in() {
        let mut book = CheckInBook::default();
        assert!(book.apply_second_entry(&second(7, 0, "south", "s1"), Receipt(2)).is_err(), "never let in");
        book.apply(&record(7, 0, "north", "A"), Receipt(3)).unwrap();
        book.apply_second_entry(&second(7, 0, "south", "s1"), Receipt(4)).unwrap();
        assert!(book.apply_second_entry(&second(7, 0, "south", "s1"), Receipt(5)).is_err(), "the same scan once");
        book.apply_second_entry(&second(7, 0, "east", "s2"), Receipt(6)).unwrap();
        let entries = book.second_entries_of(2);
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].2.door.as_str(), entries[0].3.door.as_str()), ("north", "south"));
        assert_eq!(book.second_entry(2, OrderId(7), 0, "s2").map(|e| e.receipt), Some(Receipt(6)));
        assert!(book.second_entries_of(3).is_empty());
        let records = book.second_entries_snapshot();
        let mut restored = CheckInBook::restore(&book.snapshot()).unwrap();
        for record in &records {
            restored.apply_second_entry(record, Receipt::NONE).unwrap();
        }
        assert_eq!(restored.second_entries_snapshot(), records);
    }

    #[test]
    fn a_ticket_is_let_in_once_and_counted_by_door_and_section() {
        let mut book = CheckInBook::default();
        book.apply(&record(7, 0, "north", "A"), Receipt(3)).unwrap();
        book.apply(&record(7, 1, "south", "A"), Receipt(4)).unwrap();
        book.apply(&record(9, 0, "north", "GA"), Receipt(5)).unwrap();
        assert!(book.apply(&record(7, 0, "south", "A"), Receipt(6)).is_err(), "never twice");
        let counts = book.counts(2);
        assert_eq!(counts.total, 3);
        assert_eq!(counts.by_door, BTreeMap::from([("north".into(), 2), ("south".into(), 1)]));
        assert_eq!(counts.by_section, BTreeMap::from([("A".into(), 2), ("GA".into(), 1)]));
        assert_eq!(book.counts(3), CheckInCounts::default(), "another event's are its own");
        assert_eq!(book.get(2, OrderId(7), 1).map(|c| c.door.as_str()), Some("south"));

        let restored = CheckInBook::restore(&book.snapshot()).unwrap();
        assert_eq!(restored.counts(2), counts);
        assert_eq!(restored.snapshot(), book.snapshot());
    }

    #[test]
    fn doors_and_scan_ids_have_limits_that_name_themselves() {
        assert_eq!(check_request(" ", "s"), Err(CheckInRefusal::Door));
        assert_eq!(check_request(&"d".repeat(MAX_DOOR_BYTES + 1), "s"), Err(CheckInRefusal::Door));
        assert_eq!(check_request("north", ""), Err(CheckInRefusal::ScanId));
        assert_eq!(check_request("north", "s-1"), Ok(()));
        let mut book = CheckInBook::default();
        for door in 0..MAX_DOORS_PER_EVENT {
            book.apply(&record(door as u64, 0, &format!("door-{door}"), "A"), Receipt(1)).unwrap();
        }
        assert_eq!(book.door_allowed(2, "door-3"), Ok(()), "a known door");
        assert_eq!(book.door_allowed(2, "one-more"), Err(CheckInRefusal::TooManyDoors));
        assert_eq!(book.door_allowed(5, "one-more"), Ok(()), "per event");
    }
}
