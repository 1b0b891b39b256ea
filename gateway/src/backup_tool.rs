//! `guichet backup DATA_DIR DEST`: a copy of a data directory that recovers
//! to a consistent state, taken while the server runs (operations.md,
//! "Backup", done by the machine): the newest snapshot first, then the log's
//! segments in name order, again until no new one appears, starting over
//! if one disappears (a newer snapshot pruned it); then the key files and
//! the key table, after the log; every file synced; then the copy is
//! verified as `guichet wal verify` does.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Copies started over (a segment pruned under the copy) before giving up.
const MAX_BACKUP_ATTEMPTS: u32 = 5;
/// Passes over the segments before the copy is called done: each copies
/// the segments that appeared during the one before.
const MAX_SEGMENT_PASSES: u32 = 100;
/// The directory of per-buyer keys, copied after the log.
const KEY_TABLE_DIR: &str = "personal-keys";

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The server's data directory (running or stopped).
    pub data_dir: PathBuf,
    /// Where the copy goes: a new or empty directory.
    pub to: PathBuf,
}

/// Why one attempt stopped.
enum Stop {
    /// A segment was pruned under the copy: start over.
    Again(String),
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(error: io::Error) -> Self {
        Stop::Failed(error.to_string())
    }
}

pub fn run(args: &BackupArgs) -> ExitCode {
    match backup(&args.data_dir, &args.to) {
        Ok(files) => {
            eprintln!("backup of {} in {}: {files} files, verified", args.data_dir.display(), args.to.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("backup failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Copies `from` into `to` and verifies the copy; the number of files copied.
pub fn backup(from: &Path, to: &Path) -> Result<usize, String> {
    if !from.is_dir() {
        return Err(format!("{}: not a directory", from.display()));
    }
    if to.exists() && fs::read_dir(to).map_err(|e| format!("{}: {e}", to.display()))?.next().is_some() {
        return Err(format!("{}: not empty; give a new or empty directory", to.display()));
    }
    for attempt in 1..=MAX_BACKUP_ATTEMPTS {
        empty_dir(to).map_err(|e| format!("{}: {e}", to.display()))?;
        match copy_once(from, to) {
            Ok(files) => {
                crate::wal_tool::verify(to)?;
                return Ok(files);
            }
            Err(Stop::Again(why)) => eprintln!("backup: attempt {attempt} starts over: {why}"),
            Err(Stop::Failed(why)) => return Err(why),
        }
    }
    Err(format!("segments kept being pruned under the copy ({MAX_BACKUP_ATTEMPTS} attempts); retry later"))
}

fn empty_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)
}

fn copy_once(from: &Path, to: &Path) -> Result<usize, Stop> {
    let mut files = 0;
    if let Some(snapshot) = names(from, ".snapshot")?.pop() {
        copy_file(&from.join(&snapshot), &to.join(&snapshot)).map_err(|e| pruned(&snapshot, e))?;
        files += 1;
    }
    let mut copied: Vec<String> = Vec::new();
    for _ in 0..MAX_SEGMENT_PASSES {
        let listed = names(from, ".wal")?;
        if let Some(gone) = copied.iter().find(|name| !listed.contains(name)) {
            return Err(Stop::Again(format!("segment {gone} was pruned")));
        }
        let new: Vec<String> = listed.into_iter().filter(|name| !copied.contains(name)).collect();
        if new.is_empty() {
            files += copied.len();
            return Ok(files + copy_keys(from, to)?);
        }
        for name in new {
            copy_file(&from.join(&name), &to.join(&name)).map_err(|e| pruned(&name, e))?;
            copied.push(name);
        }
    }
    Err(Stop::Failed(format!("new segments kept appearing ({MAX_SEGMENT_PASSES} passes)")))
}

/// The key files (`*.json`) and the key table, after the log.
fn copy_keys(from: &Path, to: &Path) -> Result<usize, Stop> {
    let mut files = 0;
    for name in names(from, ".json")? {
        copy_file(&from.join(&name), &to.join(&name))?;
        files += 1;
    }
    let table = from.join(KEY_TABLE_DIR);
    if table.is_dir() {
        fs::create_dir_all(to.join(KEY_TABLE_DIR))?;
        for entry in fs::read_dir(&table)? {
            let entry = entry?;
            // A key deleted during the copy (an erasure) is simply not copied.
            match copy_file(&entry.path(), &to.join(KEY_TABLE_DIR).join(entry.file_name())) {
                Ok(()) => files += 1,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        fs::File::open(to.join(KEY_TABLE_DIR))?.sync_all()?;
    }
    fs::File::open(to)?.sync_all()?;
    Ok(files)
}

/// The names in `dir` ending with `suffix`, in name order (for segments and
/// snapshots, sequence order).
fn names(dir: &Path, suffix: &str) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    Ok(names)
}

fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    fs::copy(from, to)?;
    fs::File::open(to)?.sync_all()
}

fn pruned(name: &str, error: io::Error) -> Stop {
    if error.kind() == io::ErrorKind::NotFound {
        Stop::Again(format!("{name} was pruned"))
    } else {
        Stop::Failed(format!("{name}: {error}"))
    }
}
