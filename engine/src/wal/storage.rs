//! The log's view of the disk, as a trait, so tests can inject faults: torn
//! writes, lost unsynced writes, bit flips, failing fsyncs.
//!
//! [`DiskStorage`] is the real thing (a directory); [`MemoryStorage`] keeps
//! files in memory, remembers what was synced, and can "crash".

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// A directory of files, as the log uses it.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens a file for writing at offsets, creating it (its directory entry
    /// made durable) and preallocating `preallocate_bytes` if it is new.
    fn open_for_writing(&self, name: &str, preallocate_bytes: u64) -> io::Result<Box<dyn StorageFile>>;
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Replaces a whole file atomically: temp file, sync, rename, directory sync.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Writes new files (none may exist yet), each synced, then the
    /// directory once: cheaper than one `write_atomically` each, for files
    /// nothing uses before this returns (spare keys). A crash before then
    /// may leave some of them, torn; their user must expect it.
    fn write_new_files(&self, files: &[(String, Vec<u8>)]) -> io::Result<()>;
    /// Where the files are, for messages.
    fn describe(&self, name: &str) -> String;
    /// A directory of its own inside this one (made durably if new), for
    /// files the log never lists (the personal-data key table).
    fn subdirectory(&self, name: &str) -> io::Result<Arc<dyn Storage>>;
}

/// A file open for positioned writes.
pub trait StorageFile: Send {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes written data durable (fdatasync).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// A real directory.
///
/// New files are zero-filled, not just fallocated: writing into fallocated
/// ("unwritten") extents makes every fdatasync also commit extent
/// conversions, which measured 2-5x slower here. So that a segment roll does
/// not stall the log writer while 64 MiB of zeros are written, the next file
/// is prepared ahead, in the background, as `spare.segment`.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    dir: PathBuf,
    spare: Arc<Mutex<Spare>>,
}

/// The zero-filled file prepared for the next `open_for_writing`.
#[derive(Debug, Default)]
struct Spare {
    /// Size of the prepared spare file, once it is complete and synced.
    ready_bytes: Option<u64>,
    preparing: bool,
}

const SPARE_NAME: &str = "spare.segment";

impl DiskStorage {
    /// Opens (creating if needed) the data directory.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        fs::create_dir_all(dir.as_ref())?;
        // A spare left by an earlier process is never trusted (it may be half
        // written): only one this process prepared is used, and preparing
        // rewrites the file from scratch.
        Ok(Self { dir: dir.as_ref().to_path_buf(), spare: Arc::default() })
    }

    /// Moves the prepared spare into place as `path`, if one of the right
    /// size is ready; `false` (make the file the slow way) otherwise.
    fn take_spare(&self, path: &Path, bytes: u64) -> bool {
        let mut spare = self.spare.lock();
        if spare.ready_bytes != Some(bytes) {
            return false;
        }
        spare.ready_bytes = None;
        fs::rename(self.dir.join(SPARE_NAME), path).is_ok()
    }

    /// Starts preparing the next spare in the background, unless one is on its way.
    fn prepare_spare(&self, bytes: u64) {
        {
            let mut spare = self.spare.lock();
            if spare.preparing || spare.ready_bytes.is_some() || bytes == 0 {
                return;
            }
            spare.preparing = true;
        }
        let (dir, spare) = (self.dir.clone(), self.spare.clone());
        let started = std::thread::Builder::new().name("guichet-spare-segment".into()).spawn(move || {
            let prepared = write_zero_file(&dir.join(SPARE_NAME), bytes, Zeroing::Paced).is_ok();
            let mut spare = spare.lock();
            spare.preparing = false;
            spare.ready_bytes = prepared.then_some(bytes);
        });
        if started.is_err() {
            self.spare.lock().preparing = false;
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

impl Storage for DiskStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn open_for_writing(&self, name: &str, preallocate_bytes: u64) -> io::Result<Box<dyn StorageFile>> {
        let path = self.dir.join(name);
        if !path.exists() {
            if !self.take_spare(&path, preallocate_bytes) {
                write_zero_file(&path, preallocate_bytes, Zeroing::AtOnce)?;
            }
            self.sync_dir()?;
            self.prepare_spare(preallocate_bytes);
        }
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(Box::new(DiskFile(file)))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.dir.join(name))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))?;
        self.sync_dir()
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let temporary = self.dir.join(format!("{name}.tmp"));
        // Owner-only: these files hold buyers' data and the token signing keys.
        let file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
        file.write_all_at(bytes, 0)?;
        file.sync_all()?;
        fs::rename(&temporary, self.dir.join(name))?;
        self.sync_dir()
    }

    fn write_new_files(&self, files: &[(String, Vec<u8>)]) -> io::Result<()> {
        let mut written = Vec::with_capacity(files.len());
        for (name, bytes) in files {
            // Owner-only, as `write_atomically`'s.
            let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(self.dir.join(name))?;
            file.write_all_at(bytes, 0)?;
            written.push(file);
        }
        // Synced after all are written: the first sync commits every file's
        // creation at once, the others find little left to do.
        written.iter().try_for_each(File::sync_all)?;
        self.sync_dir()
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn subdirectory(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let path = self.dir.join(name);
        if !path.exists() {
            fs::create_dir(&path)?;
            self.sync_dir()?;
        }
        Ok(Arc::new(DiskStorage::open(path)?))
    }
}

/// How a new file's zeros reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zeroing {
    /// Written whole, then synced once: the log writer is waiting for the file.
    AtOnce,
    /// Synced every `SPARE_ZEROING_CHUNK_BYTES`: the spare is made while the
    /// log syncs, and one flush of 64 MiB would hold the disk's single queue
    /// for tens of milliseconds, stalling every log sync queued behind it.
    Paced,
}

/// Zeros written between two syncs of a spare segment being prepared.
const SPARE_ZEROING_CHUNK_BYTES: u64 = 256 * 1024;

/// Creates `path` holding `bytes` zeros, synced: appends then never change
/// the file's size or extents, so fdatasync flushes data only.
fn write_zero_file(path: &Path, bytes: u64, zeroing: Zeroing) -> io::Result<()> {
    const CHUNK_BYTES: u64 = 1024 * 1024;
    let chunk_bytes = if zeroing == Zeroing::Paced { SPARE_ZEROING_CHUNK_BYTES } else { CHUNK_BYTES };
    let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    let zeros = vec![0; chunk_bytes.min(bytes) as usize];
    let mut offset = 0;
    while offset < bytes {
        let length = chunk_bytes.min(bytes - offset) as usize;
        file.write_all_at(&zeros[..length], offset)?;
        offset += length as u64;
        if zeroing == Zeroing::Paced {
            file.sync_data()?;
        }
    }
    file.sync_all()
}

struct DiskFile(File);

impl StorageFile for DiskFile {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all_at(bytes, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// Files in memory that remember what was synced; for fault-injection tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    disk: Arc<Mutex<MemoryDisk>>,
    /// A subdirectory's files are the disk's with this prefix (`name/`).
    prefix: String,
    /// While set, syncs wait: a test can act while a change is logged but not yet durable.
    syncs_held: Arc<(Mutex<bool>, Condvar)>,
}

#[derive(Debug, Default)]
struct MemoryDisk {
    files: BTreeMap<String, MemoryFile>,
    /// Syncs that will still succeed; `None` for no limit.
    syncs_left: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct MemoryFile {
    synced: Vec<u8>,
    current: Vec<u8>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// The disk as a crash would leave it: only synced data survives, plus the
    /// first `torn_bytes` of each file's unsynced writes (a torn write).
    pub fn crash(&self, torn_bytes: usize) -> MemoryStorage {
        let disk = self.disk.lock();
        let files = disk
            .files
            .iter()
            .map(|(name, file)| {
                let mut survived = file.synced.clone();
                let first_difference = (0..file.current.len())
                    .find(|&i| survived.get(i) != Some(&file.current[i]))
                    .unwrap_or(file.current.len());
                let torn_end = (first_difference + torn_bytes).min(file.current.len());
                if survived.len() < torn_end {
                    survived.resize(torn_end, 0);
                }
                survived[first_difference..torn_end].copy_from_slice(&file.current[first_difference..torn_end]);
                (name.clone(), MemoryFile { synced: survived.clone(), current: survived })
            })
            .collect();
        MemoryStorage { disk: Arc::new(Mutex::new(MemoryDisk { files, syncs_left: None })), ..Self::default() }
    }

    /// Makes every sync wait until [`release_syncs`](Self::release_syncs).
    pub fn hold_syncs(&self) {
        *self.syncs_held.0.lock() = true;
    }

    pub fn release_syncs(&self) {
        *self.syncs_held.0.lock() = false;
        self.syncs_held.1.notify_all();
    }

    /// After `successes` more syncs, every sync fails.
    pub fn fail_syncs_after(&self, successes: u64) {
        self.disk.lock().syncs_left = Some(successes);
    }

    /// Flips one bit of a file, as bad media would (synced and unsynced alike).
    pub fn flip_bit(&self, name: &str, offset: usize, bit: u8) {
        let mut disk = self.disk.lock();
        let file = disk.files.get_mut(name).expect("flip_bit: no such file");
        file.current[offset] ^= 1 << bit;
        file.synced[offset] ^= 1 << bit;
    }

    /// A file's current contents.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        self.disk.lock().files.get(&self.path(name)).map(|f| f.current.clone())
    }

    /// Every file's name and contents, subdirectories' too (`dir/name`).
    pub fn all_files(&self) -> Vec<(String, Vec<u8>)> {
        self.disk.lock().files.iter().map(|(name, f)| (name.clone(), f.current.clone())).collect()
    }

    /// The disk's name of a file of this directory.
    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

impl Storage for MemoryStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let disk = self.disk.lock();
        let names = disk.files.keys().filter_map(|name| name.strip_prefix(&self.prefix));
        Ok(names.filter(|name| !name.contains('/')).map(str::to_owned).collect())
    }

    fn open_for_writing(&self, name: &str, preallocate_bytes: u64) -> io::Result<Box<dyn StorageFile>> {
        let name = self.path(name);
        let mut disk = self.disk.lock();
        disk.files.entry(name.clone()).or_insert_with(|| {
            let zeros = vec![0; preallocate_bytes as usize];
            MemoryFile { synced: zeros.clone(), current: zeros }
        });
        Ok(Box::new(MemoryFileHandle { disk: self.disk.clone(), syncs_held: self.syncs_held.clone(), name }))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let disk = self.disk.lock();
        disk.files
            .get(&self.path(name))
            .map(|f| f.current.clone())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.disk
            .lock()
            .files
            .remove(&self.path(name))
            .map(drop)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn write_atomically(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let file = MemoryFile { synced: bytes.to_vec(), current: bytes.to_vec() };
        self.disk.lock().files.insert(self.path(name), file);
        Ok(())
    }

    fn write_new_files(&self, files: &[(String, Vec<u8>)]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        if let Some((name, _)) = files.iter().find(|(name, _)| disk.files.contains_key(&self.path(name))) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, name.clone()));
        }
        for (name, bytes) in files {
            disk.files.insert(self.path(name), MemoryFile { synced: bytes.clone(), current: bytes.clone() });
        }
        Ok(())
    }

    fn describe(&self, name: &str) -> String {
        format!("memory:{}", self.path(name))
    }

    fn subdirectory(&self, name: &str) -> io::Result<Arc<dyn Storage>> {
        let prefix = format!("{}{name}/", self.prefix);
        Ok(Arc::new(MemoryStorage { prefix, ..self.clone() }))
    }
}

struct MemoryFileHandle {
    disk: Arc<Mutex<MemoryDisk>>,
    syncs_held: Arc<(Mutex<bool>, Condvar)>,
    name: String,
}

impl StorageFile for MemoryFileHandle {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let file = disk.files.get_mut(&self.name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let end = offset as usize + bytes.len();
        if file.current.len() < end {
            file.current.resize(end, 0);
        }
        file.current[offset as usize..end].copy_from_slice(bytes);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let (held, released) = &*self.syncs_held;
        let mut held = held.lock();
        while *held {
            released.wait(&mut held);
        }
        drop(held);
        let mut disk = self.disk.lock();
        match &mut disk.syncs_left {
            Some(0) => return Err(io::Error::other("injected fsync failure")),
            Some(left) => *left -= 1,
            None => {}
        }
        let file = disk.files.get_mut(&self.name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        file.synced = file.current.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{write_zero_file, DiskStorage, MemoryStorage, Storage, Zeroing, SPARE_ZEROING_CHUNK_BYTES};

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![("a.key".to_owned(), vec![1; 32]), ("b.key".to_owned(), vec![2; 32])]
    }

    #[test]
    fn new_files_are_written_owner_only_and_never_over_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let storage = DiskStorage::open(dir.path()).unwrap();
        storage.write_new_files(&files()).unwrap();
        assert_eq!(storage.read("b.key").unwrap(), vec![2; 32]);
        let mode = std::fs::metadata(dir.path().join("a.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = storage.write_new_files(&[("a.key".to_owned(), vec![9; 32])]);
        assert_eq!(again.map_err(|e| e.kind()), Err(std::io::ErrorKind::AlreadyExists));
        assert_eq!(storage.read("a.key").unwrap(), vec![1; 32], "left as it was");
        let memory = MemoryStorage::new();
        memory.write_new_files(&files()).unwrap();
        assert!(memory.write_new_files(&files()).is_err(), "the memory disk refuses alike");
    }

    #[test]
    fn a_file_zeroed_in_paced_steps_is_as_long_and_as_blank_as_one_zeroed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // Not a whole number of steps: the last one is short.
        let bytes = 3 * SPARE_ZEROING_CHUNK_BYTES + 4_097;
        for (name, zeroing) in [("paced", Zeroing::Paced), ("at-once", Zeroing::AtOnce)] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![7u8; 10]).unwrap();
            write_zero_file(&path, bytes, zeroing).unwrap();
            let written = std::fs::read(&path).unwrap();
            assert_eq!(written.len() as u64, bytes, "{name}");
            assert!(written.iter().all(|&b| b == 0), "{name}: whatever was there before is gone");
        }
    }
}
