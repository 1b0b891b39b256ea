//! Check-ins at the door: which tickets were let in, when, at which door
//! and by which scan. A ticket is let in once; the scan that let it in,
//! sent again (a scanner that lost the answer), is answered as the first
//! time, and any other scan of it is told when and where it was used.
//!
//! [`CheckInBook`] is plain state, changed only by [`CheckInBook::apply`],
//! live and on replay, with counts by door and by section kept beside it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::commit::{ApplyError, Receipt};
use crate::ids::OrderId;
use crate::limits::{MAX_DOORS_PER_EVENT, MAX_DOOR_BYTES, MAX_SCAN_ID_BYTES};
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

    /// Tickets let in at `event`: in all, by door and by section.
    pub fn counts(&self, event: u32) -> CheckInCounts {
        let of_event = |map: &BTreeMap<(u32, String), u64>| -> BTreeMap<String, u64> {
            let from = (event, String::new());
            map.range(from..).take_while(|((e, _), _)| *e == event).map(|((_, name), n)| (name.clone(), *n)).collect()
        };
        let by_door = of_event(&self.by_door);
        CheckInCounts { total: by_door.values().sum(), by_door, by_section: of_event(&self.by_section) }
    }

    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
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
