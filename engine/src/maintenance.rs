//! Background upkeep of an [`Engine`]: the waiting rooms' admission tick, the
//! hold sweeper (so availability counts do not wait for the next buyer), the
//! personal data's retention (erased `PERSONAL_DATA_KEPT_AFTER_SHOW_S` after
//! the show) and its spare keys (written ahead of the checkouts that take
//! them), and periodic snapshots (so recovery replays a bounded log).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::limits::SPARE_PERSONAL_KEYS_PER_TICK;
use crate::store::Engine;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaintenanceOptions {
    /// How often every waiting room ticks (opens its lobby, admits).
    pub tick_interval: Duration,
    /// How often expired holds are ended, silent buyers dropped from the
    /// lines, and join keys past their time forgotten.
    pub sweep_interval: Duration,
    /// A snapshot is taken once the log has grown by this many records since the last one.
    pub snapshot_every_records: u64,
}

impl Default for MaintenanceOptions {
    fn default() -> Self {
        Self {
            tick_interval: Duration::from_millis(100),
            sweep_interval: Duration::from_secs(1),
            snapshot_every_records: 1_000_000,
        }
    }
}

/// The running upkeep thread; stops when told or dropped.
pub struct Maintenance {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub fn start(engine: Arc<Engine>, options: MaintenanceOptions) -> std::io::Result<Maintenance> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("guichet-maintenance".into())
            .spawn(move || run(&engine, options, &signal))?;
        Ok(Maintenance { stop, thread: Some(thread) })
    }

    /// Stops the thread and waits for it (a snapshot in progress completes).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// After a failed snapshot, wait this long before trying again (each try
/// pauses every event briefly).
const SNAPSHOT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A key table that cannot be written is said at most this often.
const KEY_TABLE_WARN_EVERY: Duration = Duration::from_secs(60);

fn run(engine: &Engine, options: MaintenanceOptions, stop: &(Mutex<bool>, Condvar)) {
    let (stopped, wake) = stop;
    let mut next_sweep = Instant::now();
    let mut next_snapshot_try = Instant::now();
    let mut key_table_warned: Option<Instant> = None;
    loop {
        {
            let guard = stopped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (guard, _) = wake
                .wait_timeout_while(guard, options.tick_interval, |stopped| !*stopped)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *guard {
                return;
            }
        }
        if !engine.wal().is_open() {
            continue; // nothing can be logged; readiness reports a failed log
        }
        for event in engine.events() {
            if let Err(error) = event.tick() {
                tracing::error!(event = event.id(), "waiting room tick: {error}");
            }
        }
        match engine.make_spare_personal_keys(SPARE_PERSONAL_KEYS_PER_TICK) {
            Err(error) if key_table_warned.is_none_or(|at| at.elapsed() >= KEY_TABLE_WARN_EVERY) => {
                tracing::warn!("spare personal-data keys: {error}; checkouts write their own");
                key_table_warned = Some(Instant::now());
            }
            _ => {}
        }
        if Instant::now() < next_sweep {
            continue;
        }
        next_sweep = Instant::now() + options.sweep_interval;
        if let Err(error) = engine.expire_holds() {
            tracing::error!("hold sweeper: {error}");
        }
        match engine.erase_expired_personal_data() {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "erased the personal data past its retention"),
            Err(error) => tracing::error!("personal-data retention: {error}"),
        }
        if let Err(error) = engine.sweep_payments() {
            tracing::error!("payment sweeper: {error}");
        }
        for event in engine.events() {
            if let Err(error) = event.room.drop_silent() {
                tracing::error!(event = event.id(), "silent-buyer sweep: {error}");
            }
            event.room.forget_old_join_keys();
        }
        let grown = engine.wal().last_assigned_sequence() >= engine.snapshot_covered() + options.snapshot_every_records;
        if grown && Instant::now() >= next_snapshot_try {
            match engine.snapshot() {
                Ok(report) => tracing::info!(
                    file = %report.file,
                    covered = report.covered,
                    bytes = report.bytes,
                    segments_removed = report.segments_removed,
                    longest_copy_ms = report.longest_copy.as_secs_f64() * 1000.0,
                    "snapshot taken"
                ),
                Err(error) => {
                    tracing::error!("periodic snapshot failed (next try in {SNAPSHOT_RETRY_AFTER:?}): {error}");
                    next_snapshot_try = Instant::now() + SNAPSHOT_RETRY_AFTER;
                }
            }
        }
    }
}
