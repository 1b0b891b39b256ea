//! A standby's engine, hot: the state of a log whose records are made
//! elsewhere (the primary's, copied from the replicated stream into this
//! node's log), kept current record by record through the same replay as
//! recovery, and promoted into a serving engine without replaying the log
//! again. Recovery from the disk alone is the same path: follow from the
//! newest snapshot, then finish with the records on disk.

use std::sync::Arc;
use std::time::Instant;

use super::recovery::{personal_key_table, signing_keys, RecoveryError, RecoveryReport, Replay};
use super::{Engine, EngineOptions};
use crate::clock::Clock;
use crate::commit::Receipt;
use crate::wal::reader::{DiskRecords, ScanOutcome};
use crate::wal::storage::Storage;
use crate::wal::Wal;

/// An engine that applies records and serves nothing: its log is not
/// started. After an error it is of no use (its state may hold half a
/// record): drop it, and recover from the disk instead.
pub struct Follower {
    engine: Engine,
    replay: Replay,
    report: RecoveryReport,
    started: Instant,
}

impl Engine {
    /// An engine from the newest snapshot in `storage`, before any record
    /// after it: [`Follower::read_disk`] and [`Follower::apply`] bring it on.
    pub fn follow(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Follower, RecoveryError> {
        let started = Instant::now();
        let engine = Engine::unstarted(storage, options, clock)?;
        let mut report = RecoveryReport::default();
        let replay = engine.load_snapshot(&mut report)?;
        Ok(Follower { engine, replay, report, started })
    }
}

impl Follower {
    /// The last record applied (or the snapshot's cut).
    pub fn last_applied(&self) -> u64 {
        self.replay.position.last
    }

    /// Applies the records on disk after the last applied; answers how many.
    pub fn read_disk(&mut self) -> Result<u64, RecoveryError> {
        let before = self.replay.position.records;
        self.scan_disk()?;
        Ok(self.replay.position.records - before)
    }

    fn scan_disk(&mut self) -> Result<ScanOutcome, RecoveryError> {
        let mut disk = DiskRecords::new(&**self.engine.storage());
        self.engine.replay_from(&mut disk, &mut self.replay)?;
        Ok(disk.outcome())
    }

    /// Applies the record after the last applied, as recovery would.
    pub fn apply(&mut self, sequence: u64, payload: &[u8]) -> Result<(), RecoveryError> {
        let refused = |reason: String| RecoveryError::Apply { sequence, reason };
        self.replay.position.advance_to(sequence).map_err(refused)?;
        self.engine.replay(sequence, payload, &mut self.replay).map_err(refused)
    }

    /// Becomes a serving engine on the same data directory (whatever wrote
    /// its log there closed): the records on disk not applied yet are, the
    /// log starts after the last, and `options`' replication and key table
    /// are the engine's. The signing keys are read again: a cluster's may
    /// have replaced this node's since it began to follow. Every other
    /// option stays as it was when following began.
    pub fn promote(mut self, options: EngineOptions) -> Result<(Engine, RecoveryReport), RecoveryError> {
        let storage = self.engine.storage().clone();
        (self.engine.keys, self.engine.tickets) = signing_keys(&*storage, &options)?;
        self.engine.personal_keys = personal_key_table(&storage, &options)?;
        self.engine.options.replication = options.replication;
        self.engine.options.personal_key_table = options.personal_key_table;
        self.engine.options.wal = options.wal;
        self.finish()
    }

    /// Reads the rest of the log, starts it after its last record, and
    /// settles what the time nobody served changed.
    pub(super) fn finish(mut self) -> Result<(Engine, RecoveryReport), RecoveryError> {
        let followed = self.replay.position.records;
        let outcome = self.scan_disk()?;
        let Follower { engine, replay, mut report, started } = self;
        debug_assert_eq!(outcome.last_sequence, replay.position.last);
        if let Some(torn) = &outcome.torn_tail {
            crate::wal::cut_torn_tail(&**engine.storage(), torn)?;
        }
        let snapshot_sequence = report.snapshot.as_ref().map_or(0, |s| s.1);
        if outcome.last_sequence < snapshot_sequence {
            // Only possible if synced records were lost (durability `none`, or a
            // damaged disk): appending after them would leave a gap for good.
            return Err(RecoveryError::LogBehindSnapshot {
                log_end: outcome.last_sequence,
                snapshot: snapshot_sequence,
            });
        }
        let replication = engine.options.replication.clone();
        let wal = Wal::start(
            engine.storage().clone(),
            engine.options.wal,
            outcome.last_sequence,
            outcome.append,
            replication,
        )?;
        engine.start_log(wal);
        report.holds_expired = engine.resume_after_downtime()?;
        settle_after_downtime(&engine)?;
        report.records_followed = followed;
        report.records_replayed = replay.position.records - followed;
        report.last_sequence = replay.position.last;
        report.torn_tail = outcome.torn_tail;
        report.events = engine.events().len();
        report.elapsed = started.elapsed();
        tracing::info!(
            snapshot = ?report.snapshot,
            records_replayed = report.records_replayed,
            records_followed = report.records_followed,
            last_sequence = report.last_sequence,
            holds_expired = report.holds_expired,
            events = report.events,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "recovered"
        );
        Ok((engine, report))
    }
}

/// Queues what a crash cut short (refunds, emails) and removes the
/// personal-data keys no record needs, before the engine serves.
fn settle_after_downtime(engine: &Engine) -> Result<(), RecoveryError> {
    let refunds_queued = engine.queue_missing_refunds().map_err(|e| RecoveryError::Refunds(e.to_string()))?;
    if refunds_queued > 0 {
        tracing::warn!(refunds_queued, "queued the refunds of cancellations a crash cut short");
    }
    let emails_queued = engine.queue_missing_emails().map_err(|e| RecoveryError::Emails(e.to_string()))?;
    if emails_queued > 0 {
        tracing::warn!(emails_queued, "queued the emails of changes a crash cut short");
    }
    if refunds_queued + emails_queued > 0 {
        // Settled before the engine serves: outboxes hand out only durable entries.
        engine.wait_durable(engine.after_everything_logged(Receipt::NONE))?;
    }
    let unused_keys = engine.remove_unused_personal_keys()?;
    if unused_keys > 0 {
        tracing::warn!(
            unused_keys,
            "removed personal-data keys no record needs (spares a crash left, or a checkout it cut short)"
        );
    }
    Ok(())
}
