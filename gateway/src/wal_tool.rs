//! `guichet wal verify|dump DIR`: read a data directory's log and snapshots
//! without changing them, for checks and post-mortems.

use std::collections::BTreeMap;
use std::process::ExitCode;

use guichet_engine::store::WalRecord;
use guichet_engine::wal::reader::{before_first_record, scan, segments};
use guichet_engine::wal::snapshot::{read_snapshot, snapshots};
use guichet_engine::wal::storage::{DiskStorage, Storage};

#[derive(clap::Subcommand)]
pub enum WalCommand {
    /// Checks every record and snapshot; exits 1 if the log would not recover.
    Verify {
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// Prints every record, one per line: sequence, then the record.
    Dump {
        /// The data directory.
        dir: std::path::PathBuf,
        /// Print records from this sequence on.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

pub fn run(command: &WalCommand) -> ExitCode {
    let (dir, from, print) = match command {
        WalCommand::Verify { dir } => (dir, 0, false),
        WalCommand::Dump { dir, from } => (dir, *from, true),
    };
    if !dir.is_dir() {
        eprintln!("{}: not a directory", dir.display());
        return ExitCode::FAILURE;
    }
    match read_log(dir, from, print) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Checks a data directory as `guichet wal verify` does (what it found, on stderr).
pub fn verify(dir: &std::path::Path) -> Result<(), String> {
    read_log(dir, 0, false)
}

fn read_log(dir: &std::path::Path, from: u64, print: bool) -> Result<(), String> {
    let storage = DiskStorage::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    report_snapshots(&storage)?;
    let files = segments(&storage).map_err(|e| e.to_string())?;
    eprintln!("{} segment file(s)", files.len());
    let start = before_first_record(&storage).map_err(|e| e.to_string())?;
    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    let outcome = scan(&storage, start, |sequence, payload| {
        let record = WalRecord::decode(payload).map_err(|e| format!("undecodable payload: {e}"))?;
        *kinds.entry(kind(&record)).or_default() += 1;
        if print && sequence >= from {
            println!("{sequence}\t{record:?}");
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    eprintln!("records {}..={}: {}", start + 1, outcome.last_sequence, outcome.records_visited);
    for (kind, count) in &kinds {
        eprintln!("  {kind:<16} {count}");
    }
    if let Some(torn) = outcome.torn_tail {
        eprintln!(
            "torn write at the end of {} offset {} ({} bytes, {}): it will be cut off at the next start; nothing \
             acknowledged is in it",
            storage.describe(&torn.segment),
            torn.offset,
            torn.bytes,
            torn.reason
        );
    }
    eprintln!("log OK");
    Ok(())
}

fn report_snapshots(storage: &DiskStorage) -> Result<(), String> {
    for (sequence, name) in snapshots(storage).map_err(|e| e.to_string())? {
        match read_snapshot(storage, &name) {
            Ok((_, payload)) => eprintln!("snapshot {name}: covers the log to {sequence}, {} bytes, OK", payload.len()),
            Err(error) => return Err(format!("snapshot {error}")),
        }
    }
    Ok(())
}

fn kind(record: &WalRecord) -> &'static str {
    use guichet_engine::inventory::InventoryRecord::*;
    match record {
        WalRecord::EventCreated { .. } | WalRecord::EventCreatedBy { .. } => "event_created",
        WalRecord::Credential { record } => {
            use guichet_engine::credentials::CredentialRecord::*;
            match record {
                Created { .. } => "token_created",
                Revoked { .. } => "token_revoked",
                EventOwned { .. } => "event_owned",
            }
        }
        WalRecord::StaffRequest { .. } => "staff_request",
        WalRecord::Term { .. } => "term",
        WalRecord::CheckIn { .. } => "checked_in",
        WalRecord::SecondEntry { .. } => "second_entry",
        WalRecord::Inventory { record, .. } => match record {
            ExpiredReclaimed { .. } => "expired_reclaimed",
            HoldPlaced { .. } => "hold_placed",
            HoldEnded { .. } => "hold_ended",
            HoldPurchased { .. } => "hold_purchased",
            OrderCancelled { .. } => "order_cancelled",
            PlacesBlocked { .. } => "places_blocked",
            PlacesUnblocked { .. } => "places_unblocked",
            HoldPlacedWithKey { .. } => "hold_placed_with_key",
            HoldExtended { .. } => "hold_extended",
        },
        WalRecord::Room { record, .. } => {
            use guichet_engine::room::RoomRecord::*;
            match record {
                Joined { .. } => "room_joined",
                Opened { .. } => "room_opened",
                Admitted { .. } => "room_admitted",
                Dropped { .. } => "room_dropped",
                Left { .. } => "room_left",
                SettingsChanged { .. } => "room_settings",
                JoinedWithKey { .. } => "room_joined_with_key",
            }
        }
        WalRecord::Payment { record } => {
            use guichet_engine::payments::PaymentRecord::*;
            match record {
                Started { .. } => "payment_started",
                Confirmed { .. } => "payment_confirmed",
                Failed { .. } => "payment_failed",
                RefundQueued { .. } => "payment_refund_queued",
                EventSeen { .. } => "payment_event_seen",
                Declined { .. } => "payment_declined",
                Expired { .. } => "payment_expired",
                ProviderRefNamed { .. } => "payment_provider_ref",
                Forgotten { .. } => "payments_forgotten",
            }
        }
        WalRecord::Outbox { record } => match record {
            guichet_engine::outbox::OutboxRecord::Queued { .. } => "outbox_queued",
            guichet_engine::outbox::OutboxRecord::Attempted { .. } => "outbox_attempted",
        },
        WalRecord::Personal { record } => match record {
            guichet_engine::personal::PersonalRecord::Kept { .. } => "personal_data_kept",
            guichet_engine::personal::PersonalRecord::Erased { .. } => "personal_data_erased",
        },
    }
}
