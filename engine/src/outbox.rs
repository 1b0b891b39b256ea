//! An outbox: side effects (a refund to a payment provider; next, email)
//! that must leave the process at least once. An entry is recorded in the log
//! before it is attempted, each attempt's outcome is recorded after it, and
//! an entry carries a stable idempotency key, so an attempt repeated after a
//! crash is recognised by the receiving side. Failed attempts are retried with
//! exponential backoff, then the entry is failed for good and left to an
//! operator. Generic: an entry is a `kind` and payload bytes; what they mean
//! is the caller's. The state changes only through [`Outbox::apply`], live and
//! on replay.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::commit::{ApplyError, Receipt};
use crate::limits::{
    MAX_OUTBOX_ENTRIES, MAX_OUTBOX_PAYLOAD_BYTES, OUTBOX_FIRST_RETRY_S, OUTBOX_MAX_ATTEMPTS, OUTBOX_MAX_RETRY_S,
};
use crate::time::UnixTimeMs;

/// An entry's number in its outbox, in the order entries were queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutboxEntryId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxState {
    /// Still to be sent: its next attempt is due at `next_attempt_at`.
    Pending,
    Done {
        at: UnixTimeMs,
    },
    /// Given up after `OUTBOX_MAX_ATTEMPTS`, or refused for good by the other side.
    Failed {
        at: UnixTimeMs,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: OutboxEntryId,
    pub kind: Box<str>,
    /// Sent with every attempt, so the receiver performs the effect once.
    pub idempotency_key: Box<str>,
    pub payload: Vec<u8>,
    pub queued_at: UnixTimeMs,
    pub attempts: u32,
    pub next_attempt_at: UnixTimeMs,
    pub last_error: Option<Box<str>>,
    pub state: OutboxState,
    /// The log position of its `Queued` record, until that is durable: an
    /// entry is not attempted before, so no effect leaves for an entry a
    /// crash could still take back. Not in snapshots: whatever a snapshot
    /// holds is durable.
    #[serde(skip)]
    pub queued_receipt: Receipt,
}

/// What an attempt came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    Done,
    /// Failed; tried again at `next_attempt_at`.
    Retry {
        next_attempt_at: UnixTimeMs,
        error: Box<str>,
    },
    /// Failed for good.
    GaveUp {
        error: Box<str>,
    },
}

/// Every change to an outbox, as written to the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxRecord {
    Queued { id: OutboxEntryId, kind: Box<str>, idempotency_key: Box<str>, payload: Vec<u8>, at: UnixTimeMs },
    Attempted { id: OutboxEntryId, at: UnixTimeMs, outcome: AttemptOutcome },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    #[error("the outbox holds as many unfinished entries as it can ({MAX_OUTBOX_ENTRIES})")]
    Full,
    #[error("an outbox payload is at most {MAX_OUTBOX_PAYLOAD_BYTES} bytes")]
    PayloadTooLarge,
}

impl OutboxError {
    pub fn code(&self) -> &'static str {
        match self {
            OutboxError::Full => "outbox_full",
            OutboxError::PayloadTooLarge => "outbox_payload_too_large",
        }
    }
}

/// How many entries are in each state (for metrics), and the oldest pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    /// Pending entries that failed at least once.
    pub retrying: u64,
    pub done: u64,
    pub failed: u64,
    pub oldest_pending_at: Option<UnixTimeMs>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    entries: BTreeMap<OutboxEntryId, OutboxEntry>,
    #[serde(skip)]
    by_key: HashMap<Box<str>, OutboxEntryId>,
    /// The pending entries: the workers' look for due ones (every second,
    /// under the lock confirmations queue email under) skips the done ones,
    /// which the outbox keeps by the hundred thousand.
    #[serde(skip)]
    pending: BTreeSet<OutboxEntryId>,
    next_id: u64,
}

impl Outbox {
    /// The record that queues an effect, or `None` when an entry with this
    /// idempotency key is already there (queued once, whatever asks again).
    pub fn queue(
        &self,
        kind: &str,
        idempotency_key: &str,
        payload: Vec<u8>,
        at: UnixTimeMs,
    ) -> Result<Option<OutboxRecord>, OutboxError> {
        if self.by_key.contains_key(idempotency_key) {
            return Ok(None);
        }
        if payload.len() > MAX_OUTBOX_PAYLOAD_BYTES {
            return Err(OutboxError::PayloadTooLarge);
        }
        if self.entries.len() >= MAX_OUTBOX_ENTRIES && self.oldest_done().is_none() {
            return Err(OutboxError::Full);
        }
        let id = OutboxEntryId(self.next_id);
        Ok(Some(OutboxRecord::Queued { id, kind: kind.into(), idempotency_key: idempotency_key.into(), payload, at }))
    }

    /// The record of an attempt of `id` at `at`: done, or failed with the
    /// backoff's next time (or for good after the last attempt).
    pub fn attempted(&self, id: OutboxEntryId, at: UnixTimeMs, result: Result<(), String>) -> Option<OutboxRecord> {
        let entry = self.entries.get(&id).filter(|e| e.state == OutboxState::Pending)?;
        let outcome = match result {
            Ok(()) => AttemptOutcome::Done,
            Err(error) if entry.attempts + 1 >= OUTBOX_MAX_ATTEMPTS => AttemptOutcome::GaveUp { error: error.into() },
            Err(error) => {
                AttemptOutcome::Retry { next_attempt_at: at.plus_s(retry_delay_s(entry.attempts)), error: error.into() }
            }
        };
        Some(OutboxRecord::Attempted { id, at, outcome })
    }

    /// The record of an entry the other side refused for good (no retry).
    pub fn refused(&self, id: OutboxEntryId, at: UnixTimeMs, error: String) -> Option<OutboxRecord> {
        self.entries.get(&id).filter(|e| e.state == OutboxState::Pending)?;
        Some(OutboxRecord::Attempted { id, at, outcome: AttemptOutcome::GaveUp { error: error.into() } })
    }

    /// The one function that changes an outbox, live and on replay.
    pub fn apply(&mut self, record: &OutboxRecord) -> Result<(), ApplyError> {
        match record {
            OutboxRecord::Queued { id, kind, idempotency_key, payload, at } => {
                if self.entries.contains_key(id) || self.by_key.contains_key(idempotency_key) {
                    return Err(ApplyError(format!("outbox entry {} or key {idempotency_key:?} exists", id.0)));
                }
                if self.entries.len() >= MAX_OUTBOX_ENTRIES {
                    let oldest = self.oldest_done().ok_or_else(|| ApplyError("the outbox is full".into()))?;
                    self.forget(oldest);
                }
                let entry = OutboxEntry {
                    id: *id,
                    kind: kind.clone(),
                    idempotency_key: idempotency_key.clone(),
                    payload: payload.clone(),
                    queued_at: *at,
                    attempts: 0,
                    next_attempt_at: *at,
                    last_error: None,
                    state: OutboxState::Pending,
                    queued_receipt: Receipt::NONE,
                };
                self.next_id = self.next_id.max(id.0 + 1);
                self.by_key.insert(idempotency_key.clone(), *id);
                self.pending.insert(*id);
                self.entries.insert(*id, entry);
            }
            OutboxRecord::Attempted { id, at, outcome } => {
                let entry = self.entries.get_mut(id).filter(|e| e.state == OutboxState::Pending);
                let entry = entry.ok_or_else(|| ApplyError(format!("outbox entry {} is not pending", id.0)))?;
                entry.attempts += 1;
                match outcome {
                    AttemptOutcome::Done => {
                        entry.state = OutboxState::Done { at: *at };
                        self.pending.remove(id);
                    }
                    AttemptOutcome::Retry { next_attempt_at, error } => {
                        entry.next_attempt_at = *next_attempt_at;
                        entry.last_error = Some(error.clone());
                    }
                    AttemptOutcome::GaveUp { error } => {
                        entry.state = OutboxState::Failed { at: *at };
                        entry.last_error = Some(error.clone());
                        self.pending.remove(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Remembers where `id`'s `Queued` record is in the log (live traffic
    /// only: a replayed record is durable already).
    pub fn note_queued_at(&mut self, id: OutboxEntryId, receipt: Receipt) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.queued_receipt = receipt;
        }
    }

    /// Pending entries of `kind` due at `now` whose `Queued` record is
    /// durable (at or before `durable`), oldest first, at most `max`.
    pub fn due(&self, kind: &str, now: UnixTimeMs, durable: Receipt, max: usize) -> Vec<OutboxEntry> {
        let pending = self.pending.iter().filter_map(|id| self.entries.get(id));
        let due = pending.filter(|e| &*e.kind == kind && e.next_attempt_at <= now && e.queued_receipt <= durable);
        due.take(max).cloned().collect()
    }

    /// Every entry of `kind`, whatever its state, oldest first.
    pub fn all_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a OutboxEntry> + 'a {
        self.entries.values().filter(move |e| &*e.kind == kind)
    }

    pub fn get(&self, id: OutboxEntryId) -> Option<&OutboxEntry> {
        self.entries.get(&id)
    }

    pub fn by_key(&self, idempotency_key: &str) -> Option<&OutboxEntry> {
        self.by_key.get(idempotency_key).and_then(|id| self.entries.get(id))
    }

    pub fn counts(&self) -> OutboxCounts {
        Self::count(self.entries.values())
    }

    /// The counts of the entries of `kind` alone.
    pub fn counts_of(&self, kind: &str) -> OutboxCounts {
        Self::count(self.all_of(kind))
    }

    fn count<'a>(entries: impl Iterator<Item = &'a OutboxEntry>) -> OutboxCounts {
        let mut counts = OutboxCounts::default();
        for entry in entries {
            match entry.state {
                OutboxState::Pending => {
                    counts.pending += 1;
                    counts.retrying += u64::from(entry.attempts > 0);
                    let oldest = counts.oldest_pending_at.get_or_insert(entry.queued_at);
                    *oldest = (*oldest).min(entry.queued_at);
                }
                OutboxState::Done { .. } => counts.done += 1,
                OutboxState::Failed { .. } => counts.failed += 1,
            }
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Rebuilds what snapshots leave out (the index by key).
    pub fn restored(mut self) -> Self {
        self.by_key = self.entries.values().map(|e| (e.idempotency_key.clone(), e.id)).collect();
        self.pending = self.entries.values().filter(|e| e.state == OutboxState::Pending).map(|e| e.id).collect();
        self
    }

    fn oldest_done(&self) -> Option<OutboxEntryId> {
        self.entries.values().find(|e| matches!(e.state, OutboxState::Done { .. })).map(|e| e.id)
    }

    fn forget(&mut self, id: OutboxEntryId) {
        if let Some(entry) = self.entries.remove(&id) {
            self.by_key.remove(&entry.idempotency_key);
            self.pending.remove(&id);
        }
    }
}

/// The wait before the next attempt, after `failed_before` failed ones:
/// `OUTBOX_FIRST_RETRY_S` doubled each time, at most `OUTBOX_MAX_RETRY_S`.
pub fn retry_delay_s(failed_before: u32) -> u32 {
    let doubled = u64::from(OUTBOX_FIRST_RETRY_S) << failed_before.min(31);
    doubled.min(u64::from(OUTBOX_MAX_RETRY_S)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(outbox: &mut Outbox, key: &str, at: u64) -> OutboxEntryId {
        let record = outbox.queue("refund", key, b"{}".to_vec(), UnixTimeMs(at)).unwrap().unwrap();
        outbox.apply(&record).unwrap();
        match record {
            OutboxRecord::Queued { id, .. } => id,
            _ => unreachable!(),
        }
    }

    #[test]
    fn an_entry_is_queued_once_per_key_and_due_at_once() {
        let mut outbox = Outbox::default();
        let id = queued(&mut outbox, "refund-1", 1_000);
        assert_eq!(outbox.queue("refund", "refund-1", vec![], UnixTimeMs(2_000)), Ok(None));
        assert_eq!(outbox.due("refund", UnixTimeMs(1_000), Receipt::NONE, 10).len(), 1);
        assert!(outbox.due("email", UnixTimeMs(1_000), Receipt::NONE, 10).is_empty(), "by kind");
        assert_eq!(outbox.by_key("refund-1").map(|e| e.id), Some(id));
    }

    #[test]
    fn failed_attempts_back_off_then_give_up() {
        let mut outbox = Outbox::default();
        let id = queued(&mut outbox, "k", 0);
        let mut now = UnixTimeMs(0);
        for attempt in 0..OUTBOX_MAX_ATTEMPTS {
            let record = outbox.attempted(id, now, Err("503".into())).unwrap();
            outbox.apply(&record).unwrap();
            let entry = outbox.by_key("k").unwrap().clone();
            if attempt + 1 < OUTBOX_MAX_ATTEMPTS {
                assert_eq!(entry.next_attempt_at, now.plus_s(retry_delay_s(attempt)));
                assert!(outbox.due("refund", now, Receipt::NONE, 10).is_empty(), "not before its time");
                now = entry.next_attempt_at;
            } else {
                assert_eq!(entry.state, OutboxState::Failed { at: now });
            }
        }
        assert_eq!(retry_delay_s(0), 2);
        assert_eq!(retry_delay_s(1), 4);
        assert_eq!(retry_delay_s(30), OUTBOX_MAX_RETRY_S);
        assert_eq!(outbox.counts().failed, 1);
        assert_eq!(outbox.attempted(id, now, Ok(())), None, "a failed entry is not attempted again");
    }

    #[test]
    fn an_entry_is_not_due_before_its_queued_record_is_durable() {
        let mut outbox = Outbox::default();
        let id = queued(&mut outbox, "k", 0);
        outbox.note_queued_at(id, Receipt(7));
        assert!(outbox.due("refund", UnixTimeMs(0), Receipt(6), 10).is_empty(), "record 7 is not durable yet");
        assert_eq!(outbox.due("refund", UnixTimeMs(0), Receipt(7), 10).len(), 1);
    }

    #[test]
    fn a_done_entry_stays_done_and_survives_a_snapshot() {
        let mut outbox = Outbox::default();
        let id = queued(&mut outbox, "k", 0);
        outbox.apply(&outbox.attempted(id, UnixTimeMs(5), Ok(())).unwrap()).unwrap();
        let bytes = crate::codec::encode(&outbox).unwrap();
        let restored = crate::codec::decode::<Outbox>(&bytes).unwrap().restored();
        assert_eq!(restored, outbox);
        assert_eq!(restored.by_key("k").unwrap().state, OutboxState::Done { at: UnixTimeMs(5) });
        assert_eq!(restored.queue("refund", "k", vec![], UnixTimeMs(9)), Ok(None), "the key is still known");
        assert!(restored.due("refund", UnixTimeMs(9), Receipt::NONE, 10).is_empty(), "done: never due again");
    }
}
