//! The worker's data store: task results by the scheduler's task key, spilled to local disk
//! when they outgrow memory.
//!
//! This is Dask's worker memory `target`: a worker keeps the results it made (or fetched) so
//! that dependent tasks and the client can read them, and once those values hold more than
//! `target` bytes of memory, the least recently used ones are written to files in a private
//! spill directory and dropped from memory. Reading a spilled value brings it back into memory
//! (Dask's *unspill*), which may in turn push older values out. Values are opaque bytes (the
//! binary value encoding); the store never looks inside them.
//!
//! The lock is held only for bookkeeping: files are written, read and deleted with it released,
//! so a worker thread reading one large spilled value never stalls the others. While a value is
//! being written it stays readable from memory. Every spill writes a file with a fresh name
//! (`<key>-<id>.bin`), so a write that lost a race (its value was replaced, removed or read back
//! meanwhile) can only ever delete its own file, never a newer one.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Results this worker made (or fetched), by the scheduler's task key, in the binary value
/// encoding.
pub(crate) struct Store {
    /// Bytes kept in memory before the least recently used values spill to disk.
    target: u64,
    inner: Mutex<Inner>,
}

/// Counts for heartbeats, the dashboard and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoreStats {
    /// Bytes of the values held in memory, including those being written to disk right now
    /// (they are still in memory until the write finishes).
    pub(crate) memory_bytes: u64,
    /// How many values are held in memory (same rule as `memory_bytes`).
    pub(crate) memory_keys: u64,
    /// Bytes of the values on disk.
    pub(crate) spilled_bytes: u64,
    /// How many values are on disk.
    pub(crate) spilled_keys: u64,
    /// Values written to disk so far (cumulative).
    pub(crate) spills: u64,
    /// Values read back from disk so far (cumulative).
    pub(crate) unspills: u64,
}

/// Everything behind the lock.
struct Inner {
    values: HashMap<u64, Slot>,
    /// The values in [`Slot::Memory`], least recently used first: tick → key. A `BTreeMap`
    /// rather than a linked list keeps every operation O(log n) without unsafe code.
    lru: BTreeMap<u64, u64>,
    /// Source of LRU ticks and spill file ids; both only need to be unique and increasing.
    next_id: u64,
    /// Bytes of the values in [`Slot::Memory`]: what spilling brings down to `target`. Values
    /// being written are not counted, so two threads spilling at once never pick more than
    /// needed.
    resident: u64,
    stats: StoreStats,
    /// Where the spill directory goes (`None`: the system's temporary directory).
    base: Option<PathBuf>,
    /// The spill directory, made on the first spill (a worker that never spills never touches
    /// the disk) and removed with the store.
    dir: Option<TempDir>,
    /// Whether the last spill failed: the first failure is a warning, repeats while the disk
    /// stays full are debug messages, so a full disk does not flood the log.
    failing: bool,
}

/// Where one value is.
enum Slot {
    /// In memory, listed in [`Inner::lru`] under `tick`.
    Memory { value: Bytes, tick: u64 },
    /// Being written to file `file`; still in memory and readable. `tick` is its place in the
    /// LRU order, given back if the write fails.
    Spilling { value: Bytes, tick: u64, file: u64 },
    /// On disk in file `file`, `len` bytes.
    Disk { len: u64, file: u64 },
}

/// A value to write to disk, outside the lock.
struct Spill {
    key: u64,
    file: u64,
    value: Bytes,
    path: PathBuf,
}

impl Store {
    /// `target`: bytes kept in memory before the least recently used values spill to disk.
    /// The spill directory is made on the first spill, under `dir` (or the system's temporary
    /// directory when `None`), with a unique name per store (`wasmdask-spill-…`), and removed
    /// with everything in it when the store is dropped.
    pub(crate) fn new(target: u64, dir: Option<PathBuf>) -> Self {
        Self {
            target,
            inner: Mutex::new(Inner {
                values: HashMap::new(),
                lru: BTreeMap::new(),
                next_id: 0,
                resident: 0,
                stats: StoreStats::default(),
                base: dir,
                dir: None,
                failing: false,
            }),
        }
    }

    /// Keeps `value` under `key` (replacing any older value), as the most recently used, then
    /// spills least recently used values until the values in memory hold at most `target`
    /// bytes.
    ///
    /// A value larger than `target` alone goes straight to disk and is never kept in memory:
    /// keeping it would push every other value out, and then it would not fit anyway. If a
    /// spill fails (say the disk is full), the value stays in memory, memory stays above
    /// `target` and the next `put` tries again: nothing is lost.
    pub(crate) fn put(&self, key: u64, value: Bytes) {
        let (old, spill) = {
            let mut inner = self.inner.lock();
            let old = inner.take_file(key);
            let spill = if value.len() as u64 > self.target {
                let tick = inner.id();
                inner.begin_spill(key, value, tick)
            } else {
                inner.hold(key, value);
                None
            };
            (old, spill)
        };
        if let Some(old) = old {
            delete(&old);
        }
        match spill {
            Some(spill) => {
                self.write(spill);
            }
            None => self.spill_to_target(),
        }
    }

    /// The value under `key`, or `None` when the key is unknown; the value becomes the most
    /// recently used.
    ///
    /// A spilled value is read back from disk and counts as in memory again (Dask's unspill),
    /// which may spill older values; one larger than `target` is read but stays on disk. A
    /// read error is an `Err` naming the file; the value then stays on disk, so a later `get`
    /// may try again.
    pub(crate) fn get(&self, key: u64) -> Option<io::Result<Bytes>> {
        // Another thread may replace, remove or read back the value while this one reads its
        // file; then the bookkeeping has moved on and the lookup starts over.
        loop {
            let (file, path) = {
                let mut inner = self.inner.lock();
                match inner.values.get(&key)? {
                    Slot::Memory { value, tick } => {
                        let (value, tick) = (value.clone(), *tick);
                        inner.touch(key, tick);
                        return Some(Ok(value));
                    }
                    Slot::Spilling { value, .. } if value.len() as u64 > self.target => {
                        return Some(Ok(value.clone()));
                    }
                    Slot::Spilling { value, .. } => {
                        // Wanted again before it reached the disk: it stays in memory as the
                        // most recently used, and the write, when it ends, deletes its file.
                        let value = value.clone();
                        inner.hold(key, value.clone());
                        drop(inner);
                        self.spill_to_target();
                        return Some(Ok(value));
                    }
                    &Slot::Disk { file, .. } => (file, inner.path(key, file)),
                }
            };
            let read = fs::read(&path);
            let mut inner = self.inner.lock();
            let Some(&Slot::Disk { len, file: current }) = inner.values.get(&key) else {
                continue;
            };
            if current != file {
                continue;
            }
            let value = match read {
                Ok(value) => Bytes::from(value),
                Err(error) => {
                    return Some(Err(io::Error::new(
                        error.kind(),
                        format!("reading spilled value {}: {error}", path.display()),
                    )));
                }
            };
            inner.stats.unspills += 1;
            if len > self.target {
                return Some(Ok(value));
            }
            inner.hold(key, value.clone());
            drop(inner);
            delete(&path);
            self.spill_to_target();
            return Some(Ok(value));
        }
    }

    /// Whether the key is held (in memory or on disk).
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.inner.lock().values.contains_key(&key)
    }

    /// Drops the values of `keys`, in memory and on disk; unknown keys are ignored.
    pub(crate) fn remove(&self, keys: &[u64]) {
        let files: Vec<PathBuf> = {
            let mut inner = self.inner.lock();
            keys.iter()
                .filter_map(|&key| inner.take_file(key))
                .collect()
        };
        for file in &files {
            delete(file);
        }
    }

    /// Drops every value, in memory and on disk. The cumulative counts (`spills`, `unspills`)
    /// stay: `/metrics` exports them as counters, which must never go down.
    pub(crate) fn clear(&self) {
        let files: Vec<PathBuf> = {
            let mut inner = self.inner.lock();
            let keys: Vec<u64> = inner.values.keys().copied().collect();
            keys.into_iter()
                .filter_map(|key| inner.take_file(key))
                .collect()
        };
        for file in &files {
            delete(file);
        }
    }

    /// Counts for heartbeats, the dashboard and `/metrics`.
    pub(crate) fn stats(&self) -> StoreStats {
        self.inner.lock().stats
    }

    /// Spills least recently used values until those in memory hold at most `target` bytes,
    /// or a spill fails.
    fn spill_to_target(&self) {
        loop {
            let spill = {
                let mut inner = self.inner.lock();
                if inner.resident <= self.target {
                    return;
                }
                let Some((&tick, &key)) = inner.lru.first_key_value() else {
                    return;
                };
                let Some(Slot::Memory { value, .. }) = inner.take(key) else {
                    unreachable!("the LRU order lists only values in memory")
                };
                match inner.begin_spill(key, value, tick) {
                    Some(spill) => spill,
                    None => return,
                }
            };
            if !self.write(spill) {
                return;
            }
        }
    }

    /// Writes a value [`Inner::begin_spill`] marked, then records the outcome; whether the
    /// write succeeded.
    fn write(&self, spill: Spill) -> bool {
        let result = fs::write(&spill.path, &spill.value);
        let mut inner = self.inner.lock();
        let current = matches!(
            inner.values.get(&spill.key),
            Some(&Slot::Spilling { file, .. }) if file == spill.file
        );
        match &result {
            Ok(()) => {
                if inner.failing {
                    tracing::info!(path = %spill.path.display(), "spilling to disk works again");
                    inner.failing = false;
                }
                if current {
                    inner.take(spill.key);
                    let len = spill.value.len() as u64;
                    let file = spill.file;
                    inner.insert(spill.key, Slot::Disk { len, file });
                    inner.stats.spills += 1;
                    return true;
                }
            }
            Err(error) => {
                inner.failed(&spill.path, error);
                if current {
                    let Some(Slot::Spilling { value, tick, .. }) = inner.take(spill.key) else {
                        unreachable!("the slot was just matched")
                    };
                    inner.insert(spill.key, Slot::Memory { value, tick });
                }
            }
        }
        // The value was replaced, removed or read back meanwhile, or the write failed part way:
        // the file is nobody's.
        drop(inner);
        delete(&spill.path);
        result.is_ok()
    }
}

impl Inner {
    /// A fresh LRU tick or file id.
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a value (the key must be free) and counts it.
    fn insert(&mut self, key: u64, slot: Slot) {
        let stats = &mut self.stats;
        match &slot {
            Slot::Memory { value, tick } => {
                let len = value.len() as u64;
                self.resident += len;
                stats.memory_bytes += len;
                stats.memory_keys += 1;
                self.lru.insert(*tick, key);
            }
            Slot::Spilling { value, .. } => {
                stats.memory_bytes += value.len() as u64;
                stats.memory_keys += 1;
            }
            Slot::Disk { len, .. } => {
                stats.spilled_bytes += len;
                stats.spilled_keys += 1;
            }
        }
        let old = self.values.insert(key, slot);
        debug_assert!(old.is_none(), "key {key} was already held");
    }

    /// Takes a value out and uncounts it; a spilled value's file stays.
    fn take(&mut self, key: u64) -> Option<Slot> {
        let slot = self.values.remove(&key)?;
        let stats = &mut self.stats;
        match &slot {
            Slot::Memory { value, tick } => {
                let len = value.len() as u64;
                self.resident -= len;
                stats.memory_bytes -= len;
                stats.memory_keys -= 1;
                self.lru.remove(tick);
            }
            Slot::Spilling { value, .. } => {
                stats.memory_bytes -= value.len() as u64;
                stats.memory_keys -= 1;
            }
            Slot::Disk { len, .. } => {
                stats.spilled_bytes -= len;
                stats.spilled_keys -= 1;
            }
        }
        Some(slot)
    }

    /// Takes a value out; the file to delete, if it was on disk. (A value being written is
    /// deleted by its writer.)
    fn take_file(&mut self, key: u64) -> Option<PathBuf> {
        match self.take(key)? {
            Slot::Disk { file, .. } => Some(self.path(key, file)),
            Slot::Memory { .. } | Slot::Spilling { .. } => None,
        }
    }

    /// Holds `value` under `key` in memory as the most recently used, in place of whatever was
    /// there (the caller deletes the file of a value that was on disk).
    fn hold(&mut self, key: u64, value: Bytes) {
        self.take(key);
        let tick = self.id();
        self.insert(key, Slot::Memory { value, tick });
    }

    /// Makes the value in memory under `key` (at `tick`) the most recently used.
    fn touch(&mut self, key: u64, tick: u64) {
        self.lru.remove(&tick);
        let now = self.id();
        self.lru.insert(now, key);
        if let Some(Slot::Memory { tick, .. }) = self.values.get_mut(&key) {
            *tick = now;
        }
    }

    /// Marks `value` (not held under `key` right now) as being written to a new file. When
    /// there is no spill directory and none can be made, it is kept in memory at `tick`
    /// instead.
    fn begin_spill(&mut self, key: u64, value: Bytes, tick: u64) -> Option<Spill> {
        let file = self.id();
        match self.dir() {
            Ok(dir) => {
                let path = spill_path(dir, key, file);
                let spill = Spill {
                    key,
                    file,
                    value: value.clone(),
                    path,
                };
                self.insert(key, Slot::Spilling { value, tick, file });
                Some(spill)
            }
            Err(error) => {
                let base = self.base.clone().unwrap_or_else(std::env::temp_dir);
                self.failed(&base, &error);
                self.insert(key, Slot::Memory { value, tick });
                None
            }
        }
    }

    /// The spill directory, made on first use.
    fn dir(&mut self) -> io::Result<&Path> {
        let dir = match &mut self.dir {
            Some(dir) => dir,
            none => {
                let base = self.base.clone().unwrap_or_else(std::env::temp_dir);
                let dir = tempfile::Builder::new()
                    .prefix("wasmdask-spill-")
                    .tempdir_in(&base)?;
                none.insert(dir)
            }
        };
        Ok(dir.path())
    }

    /// The file of a value on disk.
    fn path(&self, key: u64, file: u64) -> PathBuf {
        let dir = self
            .dir
            .as_ref()
            .expect("a value is on disk only once the spill directory exists");
        spill_path(dir.path(), key, file)
    }

    /// Reports a failed spill at `path`: a warning the first time, then quieter until a spill
    /// works again.
    fn failed(&mut self, path: &Path, error: &io::Error) {
        if self.failing {
            tracing::debug!(path = %path.display(), %error, "cannot spill a value to disk; keeping it in memory");
        } else {
            tracing::warn!(path = %path.display(), %error, "cannot spill a value to disk; keeping it in memory");
            self.failing = true;
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Store")
            .field("target", &self.target)
            .field("dir", &inner.dir.as_ref().map(TempDir::path))
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

/// The file of the value under `key` written as spill `file`.
fn spill_path(dir: &Path, key: u64, file: u64) -> PathBuf {
    dir.join(format!("{key}-{file}.bin"))
}

/// Deletes a spill file; one already gone is fine, and a file that cannot be deleted only
/// costs disk space until the store (and its directory) is dropped.
fn delete(path: &Path) {
    if let Err(error) = fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::debug!(path = %path.display(), %error, "cannot delete a spill file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// A value whose bytes tell which key and length it was made for.
    fn value(key: u64, len: usize) -> Bytes {
        (0..len)
            .map(|i| (key as usize).wrapping_mul(31).wrapping_add(i) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// A store spilling into a fresh directory of its own, and that directory.
    fn new_store(target: u64) -> (Store, TempDir) {
        let base = tempfile::tempdir().unwrap();
        (Store::new(target, Some(base.path().to_path_buf())), base)
    }

    /// The spill directories under `base`.
    fn spill_dirs(base: &Path) -> Vec<PathBuf> {
        fs::read_dir(base)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    /// The names of the spill files.
    fn spill_files(store: &Store) -> HashSet<String> {
        let Some(dir) = store
            .inner
            .lock()
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
        else {
            return HashSet::new();
        };
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    impl Store {
        /// Whether the value under `key` is on disk.
        fn on_disk(&self, key: u64) -> bool {
            matches!(self.inner.lock().values.get(&key), Some(Slot::Disk { .. }))
        }

        /// Recounts everything from scratch, checks it against the running counts and the
        /// files on disk, and returns the stats.
        fn audit(&self) -> StoreStats {
            let files = spill_files(self);
            let inner = self.inner.lock();
            let mut counted = StoreStats {
                spills: inner.stats.spills,
                unspills: inner.stats.unspills,
                ..StoreStats::default()
            };
            let mut resident = 0;
            let mut expected_files = HashSet::new();
            for (&key, slot) in &inner.values {
                match slot {
                    Slot::Memory { value, tick } => {
                        counted.memory_bytes += value.len() as u64;
                        counted.memory_keys += 1;
                        resident += value.len() as u64;
                        assert_eq!(inner.lru.get(tick), Some(&key), "LRU entry of {key}");
                    }
                    Slot::Spilling { .. } => panic!("{key} is still being written"),
                    Slot::Disk { len, file } => {
                        counted.spilled_bytes += len;
                        counted.spilled_keys += 1;
                        let name = format!("{key}-{file}.bin");
                        let path = inner.path(key, *file);
                        assert_eq!(fs::metadata(&path).unwrap().len(), *len, "{name}");
                        expected_files.insert(name);
                    }
                }
            }
            assert_eq!(inner.lru.len() as u64, counted.memory_keys, "LRU length");
            assert_eq!(inner.resident, resident, "resident bytes");
            assert_eq!(inner.stats, counted, "running counts");
            assert_eq!(files, expected_files, "files on disk");
            counted
        }
    }

    #[test]
    fn puts_gets_and_removes() {
        let (store, _base) = new_store(1 << 20);
        store.put(1, value(1, 10));
        store.put(2, value(2, 20));
        store.put(3, Bytes::new());
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 10));
        assert_eq!(store.get(2).unwrap().unwrap(), value(2, 20));
        assert_eq!(store.get(3).unwrap().unwrap(), Bytes::new());
        assert!(store.get(4).is_none());
        assert!(store.contains(1) && store.contains(3) && !store.contains(4));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 30,
                memory_keys: 3,
                ..StoreStats::default()
            }
        );

        store.remove(&[1, 3, 4, 1]);
        assert!(store.get(1).is_none() && store.get(3).is_none());
        assert!(!store.contains(1) && store.contains(2));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 20,
                memory_keys: 1,
                ..StoreStats::default()
            }
        );
        assert!(store.inner.lock().dir.is_none(), "no spill, no directory");
    }

    #[test]
    fn spills_least_recently_used_first() {
        let (store, _base) = new_store(100);
        for key in 1..=3 {
            store.put(key, value(key, 40));
        }
        // 120 bytes > 100: the oldest goes.
        assert!(store.on_disk(1) && !store.on_disk(2) && !store.on_disk(3));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 80,
                memory_keys: 2,
                spilled_bytes: 40,
                spilled_keys: 1,
                spills: 1,
                unspills: 0,
            }
        );

        // Reading 2 makes 3 the least recently used.
        assert_eq!(store.get(2).unwrap().unwrap(), value(2, 40));
        store.put(4, value(4, 40));
        assert!(store.on_disk(1) && !store.on_disk(2) && store.on_disk(3) && !store.on_disk(4));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 80,
                memory_keys: 2,
                spilled_bytes: 80,
                spilled_keys: 2,
                spills: 2,
                unspills: 0,
            }
        );

        // A put spills as many as it takes.
        store.put(5, value(5, 100));
        assert!(!store.on_disk(5));
        assert!((1..=4).all(|key| store.on_disk(key)));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 100,
                memory_keys: 1,
                spilled_bytes: 160,
                spilled_keys: 4,
                spills: 4,
                unspills: 0,
            }
        );
        for key in 1..=4 {
            assert!(store.contains(key));
        }
    }

    #[test]
    fn get_unspills() {
        let (store, _base) = new_store(100);
        for key in 1..=3 {
            store.put(key, value(key, 40));
        }
        assert!(store.on_disk(1));
        let file = spill_files(&store);
        assert_eq!(file.len(), 1);

        // 1 comes back and pushes out 2, now the least recently used; its file is gone.
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 40));
        assert!(!store.on_disk(1) && store.on_disk(2) && !store.on_disk(3));
        assert!(spill_files(&store).is_disjoint(&file));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 80,
                memory_keys: 2,
                spilled_bytes: 40,
                spilled_keys: 1,
                spills: 2,
                unspills: 1,
            }
        );

        // And reads from memory after that.
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 40));
        assert_eq!(store.audit().unspills, 1);
        assert_eq!(store.get(2).unwrap().unwrap(), value(2, 40));
        assert!(store.on_disk(3));
        assert_eq!(store.audit().unspills, 2);
    }

    #[test]
    fn value_larger_than_target_goes_straight_to_disk() {
        let (store, _base) = new_store(100);
        store.put(1, value(1, 60));
        store.put(2, value(2, 101));
        assert!(
            !store.on_disk(1) && store.on_disk(2),
            "only the large one spills"
        );
        let stats = StoreStats {
            memory_bytes: 60,
            memory_keys: 1,
            spilled_bytes: 101,
            spilled_keys: 1,
            spills: 1,
            unspills: 0,
        };
        assert_eq!(store.audit(), stats);

        // Read back, but kept on disk: it would not fit.
        assert_eq!(store.get(2).unwrap().unwrap(), value(2, 101));
        assert!(!store.on_disk(1) && store.on_disk(2));
        assert_eq!(
            store.audit(),
            StoreStats {
                unspills: 1,
                ..stats
            }
        );

        // With no memory at all, every non-empty value spills.
        let (store, _base) = new_store(0);
        store.put(1, value(1, 1));
        store.put(2, Bytes::new());
        assert!(store.on_disk(1) && !store.on_disk(2));
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 1));
        assert!(store.on_disk(1));
    }

    #[test]
    fn put_replaces() {
        let (store, _base) = new_store(100);
        store.put(1, value(1, 10));
        store.put(1, value(2, 30));
        assert_eq!(store.get(1).unwrap().unwrap(), value(2, 30));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 30,
                memory_keys: 1,
                ..StoreStats::default()
            }
        );

        // A spilled value replaced by one in memory: its file goes.
        store.put(2, value(2, 80));
        assert!(store.on_disk(1));
        assert_eq!(spill_files(&store).len(), 1);
        store.put(1, value(3, 5));
        assert!(!store.on_disk(1));
        assert!(spill_files(&store).is_empty());
        assert_eq!(store.get(1).unwrap().unwrap(), value(3, 5));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 85,
                memory_keys: 2,
                spills: 1,
                ..StoreStats::default()
            }
        );

        // A value in memory replaced by a large one, then a large one by another.
        store.put(1, value(4, 200));
        assert!(store.on_disk(1) && !store.on_disk(2));
        store.put(1, value(5, 300));
        assert_eq!(spill_files(&store).len(), 1);
        assert_eq!(store.get(1).unwrap().unwrap(), value(5, 300));
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 80,
                memory_keys: 1,
                spilled_bytes: 300,
                spilled_keys: 1,
                spills: 3,
                unspills: 1,
            }
        );
    }

    #[test]
    fn remove_deletes_the_spill_file() {
        let (store, _base) = new_store(10);
        store.put(1, value(1, 8));
        store.put(2, value(2, 8));
        assert!(store.on_disk(1));
        assert_eq!(spill_files(&store).len(), 1);
        store.remove(&[1]);
        assert!(!store.contains(1));
        assert!(store.get(1).is_none());
        assert!(spill_files(&store).is_empty());
        store.remove(&[2]);
        assert_eq!(
            store.audit(),
            StoreStats {
                spills: 1,
                ..StoreStats::default()
            }
        );
    }

    #[test]
    fn spill_directory_is_made_lazily_and_removed_on_drop() {
        let (store, base) = new_store(10);
        store.put(1, value(1, 10));
        assert!(spill_dirs(base.path()).is_empty());
        store.put(2, value(2, 10));
        let dirs = spill_dirs(base.path());
        assert_eq!(dirs.len(), 1);
        let name = dirs[0].file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("wasmdask-spill-"), "{name}");
        assert!(
            dirs[0]
                .join(spill_files(&store).iter().next().unwrap())
                .is_file()
        );

        // A second store gets a directory of its own.
        let other = Store::new(0, Some(base.path().to_path_buf()));
        other.put(1, value(1, 1));
        assert_eq!(spill_dirs(base.path()).len(), 2);

        drop(store);
        assert_eq!(spill_dirs(base.path()).len(), 1);
        drop(other);
        assert!(spill_dirs(base.path()).is_empty());
    }

    #[test]
    fn spill_failure_keeps_values_in_memory() {
        // The spill directory cannot be made: its parent is a file.
        let base = tempfile::NamedTempFile::new().unwrap();
        let store = Store::new(10, Some(base.path().to_path_buf()));
        for key in 1..=5 {
            store.put(key, value(key, 8));
        }
        store.put(6, value(6, 100));
        for key in 1..=5 {
            assert_eq!(store.get(key).unwrap().unwrap(), value(key, 8));
        }
        assert_eq!(store.get(6).unwrap().unwrap(), value(6, 100));
        assert!(store.inner.lock().failing);
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 140,
                memory_keys: 6,
                ..StoreStats::default()
            }
        );

        // The spill directory disappears under the store: writes fail, and reading what was
        // on disk is an error naming the file.
        let (store, base) = new_store(10);
        store.put(1, value(1, 8));
        store.put(2, value(2, 8));
        assert!(store.on_disk(1));
        let dir = spill_dirs(base.path()).pop().unwrap();
        fs::remove_dir_all(&dir).unwrap();
        store.put(3, value(3, 8));
        store.put(4, value(4, 8));
        assert!(store.inner.lock().failing);
        let error = store.get(1).unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains(dir.to_str().unwrap()), "{error}");
        assert!(
            store.contains(1) && store.on_disk(1),
            "a failed read loses nothing"
        );
        for key in 2..=4 {
            assert_eq!(store.get(key).unwrap().unwrap(), value(key, 8));
        }
        assert_eq!(
            store.stats(),
            StoreStats {
                memory_bytes: 24,
                memory_keys: 3,
                spilled_bytes: 8,
                spilled_keys: 1,
                spills: 1,
                unspills: 0,
            }
        );

        // Once the disk works again, so does spilling.
        fs::create_dir(&dir).unwrap();
        store.put(5, value(5, 8));
        assert!(!store.inner.lock().failing);
        store.remove(&[1]);
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 8,
                memory_keys: 1,
                spilled_bytes: 24,
                spilled_keys: 3,
                spills: 4,
                unspills: 0,
            }
        );
    }

    /// Marks the value under `key` (in memory) as being written, as `spill_to_target` does,
    /// and hands back the write to finish.
    fn begin(store: &Store, key: u64) -> Spill {
        let mut inner = store.inner.lock();
        let Some(Slot::Memory { value, tick }) = inner.take(key) else {
            panic!("{key} is not in memory")
        };
        inner.begin_spill(key, value, tick).unwrap()
    }

    #[test]
    fn writes_that_lose_a_race_delete_their_file() {
        let (store, _base) = new_store(100);

        // Read while being written: it stays in memory, the write counts for nothing.
        store.put(1, value(1, 10));
        let spill = begin(&store, 1);
        assert_eq!(
            store.stats().memory_keys,
            1,
            "still in memory while written"
        );
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 10));
        assert!(store.write(spill));
        assert!(!store.on_disk(1));
        assert!(spill_files(&store).is_empty());
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 10,
                memory_keys: 1,
                ..StoreStats::default()
            }
        );

        // Replaced while being written.
        let spill = begin(&store, 1);
        store.put(1, value(2, 20));
        assert!(store.write(spill));
        assert_eq!(store.get(1).unwrap().unwrap(), value(2, 20));
        assert!(spill_files(&store).is_empty());
        assert_eq!(store.audit().memory_bytes, 20);

        // Removed while being written.
        let spill = begin(&store, 1);
        store.remove(&[1]);
        assert!(store.write(spill));
        assert!(!store.contains(1));
        assert!(spill_files(&store).is_empty());
        assert_eq!(store.audit(), StoreStats::default());

        // Not disturbed: it lands on disk.
        store.put(1, value(3, 30));
        let spill = begin(&store, 1);
        assert!(store.write(spill));
        assert!(store.on_disk(1));
        assert_eq!(
            store.audit(),
            StoreStats {
                spilled_bytes: 30,
                spilled_keys: 1,
                spills: 1,
                ..StoreStats::default()
            }
        );
    }

    #[test]
    fn clear_drops_everything_but_the_cumulative_counts() {
        let (store, base) = new_store(100);
        for key in 1..=4 {
            store.put(key, value(key, 40));
        }
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 40));
        let spill = begin(&store, 4);
        let before = store.stats();
        assert!(
            before.spilled_keys > 0 && before.memory_keys > 0,
            "{before:?}"
        );
        store.clear();
        assert!(
            store.write(spill),
            "the write of a cleared value ends quietly"
        );
        assert!((1..=4).all(|key| !store.contains(key) && store.get(key).is_none()));
        assert!(spill_files(&store).is_empty());
        assert_eq!(
            spill_dirs(base.path()).len(),
            1,
            "the directory stays, empty"
        );
        assert_eq!(
            store.audit(),
            StoreStats {
                spills: before.spills,
                unspills: before.unspills,
                ..StoreStats::default()
            }
        );
        store.put(1, value(1, 40));
        assert_eq!(store.get(1).unwrap().unwrap(), value(1, 40));
    }

    #[test]
    fn many_tiny_values() {
        const N: u64 = 100_000;
        const KEPT: u64 = 90_000;
        let (store, _base) = new_store(8 * KEPT);
        for key in 0..N {
            store.put(key, value(key, 8));
        }
        assert_eq!(
            store.audit(),
            StoreStats {
                memory_bytes: 8 * KEPT,
                memory_keys: KEPT,
                spilled_bytes: 8 * (N - KEPT),
                spilled_keys: N - KEPT,
                spills: N - KEPT,
                unspills: 0,
            }
        );
        assert!((0..N - KEPT).all(|key| store.on_disk(key)));
        assert!((N - KEPT..N).all(|key| !store.on_disk(key)));
        for key in (0..N).rev() {
            assert_eq!(store.get(key).unwrap().unwrap(), value(key, 8));
        }
        store.remove(&(0..N).collect::<Vec<_>>());
        assert_eq!(store.audit().memory_keys + store.audit().spilled_keys, 0);
    }

    #[test]
    fn concurrent_puts_and_gets() {
        const THREADS: u64 = 4;
        const KEYS: u64 = 1_000;
        let (store, _base) = new_store(16 << 10);
        let store = Arc::new(store);
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let len = |key: u64| (key % 200) as usize;
                    let keys = (0..KEYS).map(|i| i * THREADS + thread);
                    for key in keys.clone() {
                        store.put(key, value(key, len(key)));
                        // Its own earlier values, and whatever the others have put so far.
                        for other in [key / 2, key.saturating_sub(7), key ^ 1] {
                            if let Some(got) = store.get(other) {
                                assert_eq!(got.unwrap(), value(other, len(other)), "{other}");
                            }
                        }
                        if key % 5 == 0 {
                            store.remove(&[key]);
                        }
                        // Replace some values with themselves: same bytes, new file.
                        if key % 7 == 0 {
                            store.put(key / 3, value(key / 3, len(key / 3)));
                            store.remove(&[key / 3]);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let stats = store.audit();
        assert!(stats.memory_bytes <= 16 << 10, "{stats:?}");
        assert!(stats.spills > 0 && stats.unspills > 0, "{stats:?}");
        let mut held = 0;
        for key in 0..KEYS * THREADS {
            if let Some(got) = store.get(key) {
                assert_eq!(got.unwrap(), value(key, (key % 200) as usize), "{key}");
                assert!(key % 5 != 0, "{key} was removed");
                held += 1;
            }
        }
        assert!(held > 0);
        let stats = store.audit();
        assert_eq!(stats.memory_keys + stats.spilled_keys, held);
    }
}
