//! Checking a ticket in: its code verified against the ticket key, its
//! order looked up (cancelled ones are refused), and the check-in logged
//! once per ticket under the book's lock, so two doors scanning the same
//! ticket at once let it in once. Every answer that rests on a check-in
//! waits for that check-in to be durable (the caller awaits the receipt).

use super::Engine;
use crate::checkins::{
    check_request, CheckIn, CheckInBook, CheckInCounts, CheckInRecord, CheckInRefusal, SecondEntry, SecondEntryRecord,
};
use crate::commit::{Receipt, SinkError};
use crate::event::{Event, WalRecordRef};
use crate::ids::OrderId;
use crate::inventory::{Order, OrderStatus};
use crate::limits::MAX_TICKET_CODE_BYTES;
use crate::tickets::verify_code;
use crate::time::UnixTimeMs;

/// A ticket and its check-in.
#[derive(Clone, Debug)]
pub struct TicketCheckIn {
    pub order: Order,
    pub index: u16,
    pub check_in: CheckIn,
}

/// One scan of a ticket at a door.
#[derive(Clone, Copy, Debug)]
pub struct Scan<'a> {
    pub code: &'a str,
    pub door: &'a str,
    /// The scanner's id for this scan: sent again, it is answered the same.
    pub scan_id: &'a str,
}

/// What a scan found.
#[derive(Clone, Debug)]
pub enum CheckInOutcome {
    /// Let in by this scan (now, or the same scan id before).
    LetIn(TicketCheckIn),
    /// Let in before by another scan: when, and at which door; and whether
    /// this scan, which a door without network let in, is kept as a second
    /// entry (both doors are shown it).
    AlreadyUsed { first: TicketCheckIn, second_entry: bool },
    /// The ticket's order was cancelled at `at`.
    Cancelled { order: Order, index: u16, at: UnixTimeMs },
}

#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    /// Not a ticket of this event: forged, altered, or another event's.
    #[error("{0}")]
    InvalidTicket(String),
    #[error(transparent)]
    Request(#[from] CheckInRefusal),
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl Engine {
    /// Checks ticket `code` in at `door` of `event`, as scan `scan_id`;
    /// answers what the scan found and the receipt to await before saying so.
    /// `let_in_offline_at`: the door let the ticket in then, without the
    /// server: if this scan is the first, that is when the ticket was let in
    /// (never later than now, nor before the order); if another scan let it
    /// in first, this second entry is kept.
    pub fn check_in(
        &self,
        event: &Event,
        scan: &Scan<'_>,
        let_in_offline_at: Option<UnixTimeMs>,
    ) -> Result<(CheckInOutcome, Receipt), CheckInError> {
        let Scan { code, door, scan_id } = *scan;
        let now = self.clock.now();
        let let_in_offline_at = let_in_offline_at.map(|at| at.min(now));
        check_request(door, scan_id)?;
        let (order, index) = self.ticket_of(event, code)?;
        // The order is read again under the book's lock, which cancellations
        // take too: a ticket is never let in after its order was cancelled.
        let mut book = self.checkins.lock();
        let order = event.inventory.order(order.id).unwrap_or(order);
        if order.status == OrderStatus::Cancelled {
            let at = order.cancelled_at.unwrap_or(order.created_at);
            let receipt = order.cancel_receipt;
            return Ok((CheckInOutcome::Cancelled { order, index, at }, receipt));
        }
        if let Some(first) = book.get(event.number.0, order.id, index).cloned() {
            let receipt = first.receipt;
            let ticket = TicketCheckIn { order, index, check_in: first };
            if ticket.check_in.scan_id == scan_id {
                return Ok((CheckInOutcome::LetIn(ticket), receipt));
            }
            let second = match let_in_offline_at {
                Some(at) => self.second_entry(&mut book, event, &ticket, scan, at)?,
                None => None,
            };
            let outcome = CheckInOutcome::AlreadyUsed { first: ticket, second_entry: second.is_some() };
            return Ok((outcome, second.unwrap_or(receipt).max(receipt)));
        }
        book.door_allowed(event.number.0, door)?;
        let record = CheckInRecord {
            event: event.number.0,
            order: order.id,
            index,
            at: let_in_offline_at.map_or(now, |at| at.max(order.created_at)),
            door: door.to_owned(),
            scan_id: scan_id.to_owned(),
            section: section_of(event, &order, index),
        };
        let receipt = self.log_check_in(&mut book, &record)?;
        let check_in = book.get(event.number.0, order.id, index).cloned().expect("just applied");
        Ok((CheckInOutcome::LetIn(TicketCheckIn { order, index, check_in }), receipt))
    }

    /// Keeps a second entry of `first`'s ticket by `scan` (once per scan id,
    /// within the event's bound): the receipt to await, or `None` past the bound.
    fn second_entry(
        &self,
        book: &mut CheckInBook,
        event: &Event,
        first: &TicketCheckIn,
        scan: &Scan<'_>,
        let_in_at: UnixTimeMs,
    ) -> Result<Option<Receipt>, CheckInError> {
        let (number, order, index) = (event.number.0, first.order.id, first.index);
        if let Some(kept) = book.second_entry(number, order, index, scan.scan_id) {
            return Ok(Some(kept.receipt));
        }
        if !book.second_entry_allowed(number) {
            return Ok(None);
        }
        let record = SecondEntryRecord {
            event: number,
            order,
            index,
            let_in_at,
            door: scan.door.to_owned(),
            scan_id: scan.scan_id.to_owned(),
        };
        let receipt = self.log.submit(&WalRecordRef::SecondEntry { record: &record })?;
        if let Err(error) = book.apply_second_entry(&record, receipt) {
            panic!("apply refused a second entry the engine had checked ({error})");
        }
        Ok(Some(receipt))
    }

    /// What a door needs to judge tickets offline: the cancelled orders, and
    /// every ticket let in so far (order, index, check-in).
    pub fn door_list(&self, event: &Event) -> (Vec<OrderId>, Vec<(OrderId, u16, CheckIn)>) {
        (event.inventory.cancelled_order_ids(), self.checkins.lock().of_event(event.number.0))
    }

    /// Tickets let in twice at `event`: order, index, the first check-in,
    /// and the second entry.
    pub fn second_entries(&self, event: &Event) -> Vec<(OrderId, u16, CheckIn, SecondEntry)> {
        self.checkins.lock().second_entries_of(event.number.0)
    }

    /// Tickets let in at `event`, in all, by door and by section.
    pub fn check_in_counts(&self, event: &Event) -> CheckInCounts {
        self.checkins.lock().counts(event.number.0)
    }

    /// The order and ticket index a code names, if it is this event's.
    fn ticket_of(&self, event: &Event, code: &str) -> Result<(Order, u16), CheckInError> {
        let invalid = |why: &str| CheckInError::InvalidTicket(why.to_owned());
        if code.len() > MAX_TICKET_CODE_BYTES {
            return Err(invalid("not a ticket code (too long)"));
        }
        let claims = verify_code(code.trim(), &self.ticket_public_key())
            .map_err(|error| CheckInError::InvalidTicket(format!("{error}")))?;
        if claims.event != event.number.0 {
            return Err(invalid("a ticket for another event"));
        }
        let order = event.inventory.order(claims.order).ok_or_else(|| invalid("no such order at this event"))?;
        if u32::from(claims.index) >= order.tickets.0 {
            return Err(invalid("no such ticket in its order"));
        }
        Ok((order, claims.index))
    }

    fn log_check_in(&self, book: &mut CheckInBook, record: &CheckInRecord) -> Result<Receipt, SinkError> {
        let receipt = self.log.submit(&WalRecordRef::CheckIn { record })?;
        if let Err(error) = book.apply(record, receipt) {
            panic!("apply refused a check-in the engine had checked ({error})");
        }
        Ok(receipt)
    }

    pub(crate) fn replay_check_in(&self, record: &CheckInRecord, sequence: u64) -> Result<(), String> {
        self.checkins.lock().apply(record, Receipt(sequence)).map_err(|e| e.0)
    }

    pub(crate) fn replay_second_entry(&self, record: &SecondEntryRecord, sequence: u64) -> Result<(), String> {
        self.checkins.lock().apply_second_entry(record, Receipt(sequence)).map_err(|e| e.0)
    }

    pub(crate) fn restore_second_entries(&self, bytes: &[u8]) -> Result<(), String> {
        let records: Vec<SecondEntryRecord> =
            crate::codec::decode(bytes).map_err(|e| format!("second_entries section: {e}"))?;
        let mut book = self.checkins.lock();
        for record in &records {
            book.apply_second_entry(record, Receipt::NONE).map_err(|e| format!("second_entries section: {}", e.0))?;
        }
        Ok(())
    }

    pub(crate) fn restore_check_ins(&self, bytes: &[u8]) -> Result<(), String> {
        let records: Vec<CheckInRecord> = crate::codec::decode(bytes).map_err(|e| format!("checkins section: {e}"))?;
        *self.checkins.lock() = CheckInBook::restore(&records).map_err(|e| format!("checkins section: {e}"))?;
        Ok(())
    }
}

/// The section id of ticket `index` of `order` (tickets are numbered over
/// the order's places in turn, as its codes are).
fn section_of(event: &Event, order: &Order, index: u16) -> String {
    let mut first = 0u32;
    for place in &order.places {
        if u32::from(index) < first + place.tickets() {
            return event.inventory.describe(place).section.to_owned();
        }
        first += place.tickets();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::demo::demo_event;
    use crate::ids::BuyerId;
    use crate::inventory::{HoldRequest, KeyedHold, Requester};
    use crate::store::EngineOptions;
    use crate::wal::storage::MemoryStorage;

    const ON_SALE: UnixTimeMs = UnixTimeMs(1_796_482_800_000); // the demo's

    fn opened(storage: &MemoryStorage, clock: &Arc<ManualClock>) -> Engine {
        Engine::open(Arc::new(storage.clone()), EngineOptions::default(), clock.clone()).unwrap().0
    }

    /// The demo event with one order of two tickets (a buyer's hold bought).
    fn sold(engine: &Engine, clock: &ManualClock) -> (Arc<Event>, Order) {
        let (event, _) = engine.create_event(&demo_event().spec).unwrap();
        let buyers: Vec<BuyerId> = (0..5).map(|_| event.room.join().unwrap().0).collect();
        clock.set(ON_SALE);
        for _ in 0..30 {
            event.tick().unwrap();
            clock.advance_ms(100);
        }
        let buyer = *buyers.iter().find(|b| event.room.may_shop(**b)).expect("an admitted buyer");
        let request = HoldRequest::BestInSection { section: "L1".into(), quantity: 2 };
        let Ok(KeyedHold::Placed(placed)) = event.hold(buyer, &request, None) else { panic!("a hold") };
        let purchase = event.purchase(placed.hold.id, Requester::Buyer(buyer), "k", "p").unwrap();
        engine.wait_durable(purchase.receipt).unwrap();
        (event, purchase.order)
    }

    fn scan(engine: &Engine, event: &Event, code: &str, door: &str, scan_id: &str) -> CheckInOutcome {
        scan_offline(engine, event, Scan { code, door, scan_id }, None)
    }

    /// A scan sent by a door that let the ticket in at `let_in_at` without network.
    fn scan_offline(engine: &Engine, event: &Event, scan: Scan<'_>, let_in_at: Option<UnixTimeMs>) -> CheckInOutcome {
        let (outcome, receipt) = engine.check_in(event, &scan, let_in_at).unwrap();
        engine.wait_durable(receipt).unwrap();
        outcome
    }

    fn check(
        engine: &Engine,
        event: &Event,
        code: &str,
        door: &str,
        scan_id: &str,
    ) -> Result<CheckInOutcome, CheckInError> {
        engine.check_in(event, &Scan { code, door, scan_id }, None).map(|(outcome, _)| outcome)
    }

    #[test]
    fn a_ticket_is_let_in_once_its_own_scan_again_answers_the_same_and_it_holds_across_a_restart() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = MemoryStorage::new();
        let engine = opened(&storage, &clock);
        let (event, order) = sold(&engine, &clock);
        let first = engine.ticket_code(&event, &order, 0);
        let second = engine.ticket_code(&event, &order, 1);

        let CheckInOutcome::LetIn(let_in) = scan(&engine, &event, &first, "North", "scan-1") else { panic!("let in") };
        assert_eq!((let_in.index, let_in.check_in.door.as_str()), (0, "North"));
        let CheckInOutcome::LetIn(again) = scan(&engine, &event, &first, "North", "scan-1") else {
            panic!("the same scan, sent again, answers as the first time")
        };
        assert_eq!(again.check_in, let_in.check_in);
        let CheckInOutcome::AlreadyUsed { first: used, second_entry: false } =
            scan(&engine, &event, &first, "South", "scan-2")
        else {
            panic!("another scan of a used ticket")
        };
        assert_eq!((used.check_in.door.as_str(), used.check_in.at), ("North", let_in.check_in.at));
        assert!(matches!(scan(&engine, &event, &second, "South", "scan-3"), CheckInOutcome::LetIn(_)));
        let counts = engine.check_in_counts(&event);
        assert_eq!((counts.total, counts.by_door.get("South"), counts.by_section.get("L1")), (2, Some(&1), Some(&2)));
        engine.close();

        let restarted = opened(&storage.crash(0), &clock);
        let event = restarted.event(&demo_event().spec.id).unwrap();
        assert!(matches!(scan(&restarted, &event, &first, "East", "scan-4"), CheckInOutcome::AlreadyUsed { .. }));
        restarted.snapshot().unwrap();
        restarted.close();
        let from_snapshot = opened(&storage, &clock);
        let event = from_snapshot.event(&demo_event().spec.id).unwrap();
        let CheckInOutcome::AlreadyUsed { first: used, .. } = scan(&from_snapshot, &event, &second, "East", "scan-5")
        else {
            panic!("a check-in is in the snapshot")
        };
        assert_eq!(used.check_in.door, "South");
        assert_eq!(from_snapshot.check_in_counts(&event), counts);
    }

    #[test]
    fn a_cancelled_a_forged_and_another_events_ticket_are_refused_by_what_they_are() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let engine = opened(&MemoryStorage::new(), &clock);
        let (event, order) = sold(&engine, &clock);
        let code = engine.ticket_code(&event, &order, 0);
        let altered = if code.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{}{altered}", &code[..code.len() - 1]);
        let refused = check(&engine, &event, &forged, "North", "s-1").unwrap_err();
        assert!(matches!(refused, CheckInError::InvalidTicket(_)), "{refused}");
        let mut other = demo_event().spec;
        other.id = "another".into();
        let (other, _) = engine.create_event(&other).unwrap();
        let refused = check(&engine, &other, &code, "North", "s-2").unwrap_err();
        assert_eq!(refused.to_string(), "a ticket for another event");
        let refused = check(&engine, &event, &code, "", "s-3").unwrap_err();
        assert!(matches!(refused, CheckInError::Request(CheckInRefusal::Door)), "{refused}");

        let (_, cancelled) = engine.cancel_order(&event, order.id, Requester::Admin).unwrap();
        engine.wait_durable(cancelled).unwrap();
        let CheckInOutcome::Cancelled { at, .. } = scan(&engine, &event, &code, "North", "s-4") else {
            panic!("a cancelled ticket")
        };
        assert_eq!(Some(at), event.inventory.order(order.id).unwrap().cancelled_at);
        assert_eq!(engine.check_in_counts(&event).total, 0);
    }

    #[test]
    fn a_ticket_let_in_again_by_a_door_without_network_is_kept_once_per_scan_across_a_restart_and_a_snapshot() {
        let clock = Arc::new(ManualClock::new(UnixTimeMs(ON_SALE.0 - 10_000)));
        let storage = MemoryStorage::new();
        let engine = opened(&storage, &clock);
        let (event, order) = sold(&engine, &clock);
        let code = engine.ticket_code(&event, &order, 0);
        assert!(matches!(scan(&engine, &event, &code, "North", "n-1"), CheckInOutcome::LetIn(_)));
        let offline = Scan { code: &code, door: "South", scan_id: "s-1" };
        let let_in_at = Some(UnixTimeMs(ON_SALE.0 + 2_000));
        for _ in 0..2 {
            let outcome = scan_offline(&engine, &event, offline, let_in_at);
            assert!(matches!(outcome, CheckInOutcome::AlreadyUsed { second_entry: true, .. }), "{outcome:?}");
        }
        // The door that let it in first is not a second entry of its own.
        assert!(matches!(
            scan_offline(&engine, &event, Scan { code: &code, door: "North", scan_id: "n-1" }, let_in_at),
            CheckInOutcome::LetIn(_)
        ));
        let entries = engine.second_entries(&event);
        assert_eq!(entries.len(), 1, "a scan sent again is one second entry");
        let (_, index, first, second) = &entries[0];
        assert_eq!(
            (*index, first.door.as_str(), second.door.as_str(), second.let_in_at),
            (0, "North", "South", UnixTimeMs(ON_SALE.0 + 2_000))
        );
        engine.close();

        let restarted = opened(&storage.crash(0), &clock);
        let event = restarted.event(&demo_event().spec.id).unwrap();
        assert_eq!(restarted.second_entries(&event).len(), 1, "replayed from the log");
        restarted.snapshot().unwrap();
        restarted.close();
        let from_snapshot = opened(&storage, &clock);
        let event = from_snapshot.event(&demo_event().spec.id).unwrap();
        let kept = from_snapshot.second_entries(&event);
        assert_eq!((kept.len(), kept[0].3.scan_id.as_str()), (1, "s-1"), "in the snapshot");
        let again = scan_offline(&from_snapshot, &event, offline, let_in_at);
        assert!(matches!(again, CheckInOutcome::AlreadyUsed { second_entry: true, .. }));
        assert_eq!(from_snapshot.second_entries(&event).len(), 1);
    }
}
