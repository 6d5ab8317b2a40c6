//! [`RedbStore`]: the store on disk, one `redb` file. A value is read from the file the
//! first time it is asked for and kept in memory from then on, with every value written;
//! so a one-shot `wnet` reads the few keys it needs, not the whole file, and a daemon
//! soon reads only memory. Writes made during an [`operation`](super::operation) reach
//! the file together, in one transaction, when it ends; writes outside one are committed
//! at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{Committer, Keys, Store, StoreError, defer};

/// Every value, keyed by `<table>\0<key>` (table names hold no NUL).
const DATA: TableDefinition<&str, &[u8]> = TableDefinition::new("data");
/// `schema`: the layout version of the file.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The layout this binary writes and reads. A file of a higher version is refused; one
/// of a lower version is upgraded when opened.
///
/// 1: every value in `data`. 2: the controller also keeps indexes of endpoint names and
/// sandbox namespaces there, which a wnet of layout 1 would not update; the controller
/// builds them for a file that lacks them.
///
/// The version is also kept beside the file, in its [layout marker](layout_marker), which
/// is what lets a newer file be refused without being opened (see [`RedbStore::open`]).
pub const SCHEMA_VERSION: u64 = 2;

/// The layout marker of the store at `path`: `<path>.layout`, holding the file's layout
/// version in decimal. A wnet writes it, durably, before it creates a file or changes
/// its layout, so the marker is never older than the file. Files without one were made
/// before markers existed, by wnets of layout 2 at most.
pub fn layout_marker(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".layout");
    PathBuf::from(name)
}

/// The version the marker at `marker` holds, `None` if there is none.
fn read_marker(marker: &Path) -> Result<Option<u64>, StoreError> {
    let fail = backend(marker, "cannot read the store's layout marker");
    match std::fs::read_to_string(marker) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            fail(format!(
                "`{}` is not a layout version; wnet writes this file: restore it, or remove it \
                 if the store beside it was made by this wnet or an older one",
                text.trim()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Writes `version` to the marker at `marker` so that it survives a crash: a temporary
/// file, synced, renamed over the marker, and the directory synced.
fn write_marker(marker: &Path, version: u64) -> Result<(), StoreError> {
    use std::io::Write;
    let fail = backend(marker, "cannot write the store's layout marker");
    let mut tmp = marker.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| fail(e.to_string()))?;
    writeln!(f, "{version}").map_err(|e| fail(e.to_string()))?;
    f.sync_all().map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&tmp, marker).map_err(|e| fail(e.to_string()))?;
    let dir = marker
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(e.to_string()))
}

/// The store in one `redb` file (see the module's documentation).
pub struct RedbStore {
    disk: Arc<Disk>,
    recovered: bool,
    created: bool,
}

struct Disk {
    db: Database,
    path: PathBuf,
    /// Per table, every key read from the file or written since it was opened, `None`
    /// where the key is absent (deleted, or looked for and not there). A key missing
    /// here was never written by this process, so the file's value is the truth.
    cache: Mutex<Cache>,
    commits: AtomicU64,
}

fn backend(path: &Path, what: &str) -> impl Fn(String) -> StoreError {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |reason| StoreError::Backend(format!("{path}: {what}: {reason}"))
}

/// The file's layout version, if it has one yet.
fn schema(
    db: &impl ReadableDatabase,
    fail: &impl Fn(String) -> StoreError,
) -> Result<Option<u64>, StoreError> {
    let read = db.begin_read().map_err(|e| fail(e.to_string()))?;
    match read.open_table(META) {
        Ok(t) => Ok(t
            .get("schema")
            .map_err(|e| fail(e.to_string()))?
            .map(|v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(fail(e.to_string())),
    }
}

fn composite(table: &str, key: &str) -> String {
    format!("{table}\0{key}")
}

/// Per table, per key: a value, or `None` for a key known to be absent.
type Cache = BTreeMap<String, BTreeMap<String, Option<Vec<u8>>>>;

impl Disk {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        // Every update under this lock is a single insert: a panic elsewhere cannot
        // leave it half done.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file's table of values, as of now.
    fn data(&self) -> Result<redb::ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        let fail = backend(&self.path, "read");
        let read = self.db.begin_read().map_err(|e| fail(e.to_string()))?;
        read.open_table(DATA).map_err(|e| fail(e.to_string()))
    }

    /// The value of `key`, from memory or else the file. The caller holds the cache's
    /// lock across the read, so a write cannot slip in between it and its caching.
    fn get(
        &self,
        cache: &mut Cache,
        table: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = cache.get(table).and_then(|t| t.get(key)) {
            return Ok(v.clone());
        }
        let fail = backend(&self.path, "read");
        let value = self
            .data()?
            .get(composite(table, key).as_str())
            .map_err(|e| fail(e.to_string()))?
            .map(|v| v.value().to_vec());
        cache
            .entry(table.to_owned())
            .or_default()
            .insert(key.to_owned(), value.clone());
        Ok(value)
    }

    /// The keys of `table` starting with `prefix`: the file's, overlaid with memory's.
    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let fail = backend(&self.path, "read");
        let cache = self.cache();
        let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let data = self.data()?;
        let start = composite(table, prefix);
        for entry in data
            .range(start.as_str()..)
            .map_err(|e| fail(e.to_string()))?
        {
            let (k, v) = entry.map_err(|e| fail(e.to_string()))?;
            let Some(key) = k.value().strip_prefix(start.as_str()) else {
                break;
            };
            found.insert(format!("{prefix}{key}"), v.value().to_vec());
        }
        if let Some(t) = cache.get(table) {
            for (k, v) in t
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                match v {
                    Some(v) => found.insert(k.clone(), v.clone()),
                    None => found.remove(k),
                };
            }
        }
        Ok(found.into_iter().collect())
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating it (and its directory) if absent. A file
    /// written by a newer wnet is refused and left untouched: its [layout
    /// marker](layout_marker) says so before the file is opened (opening a `redb` file
    /// for writing rewrites its header even when nothing is written, and a file whose
    /// process died with it open cannot be opened read-only).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| backend(dir, "cannot create the directory")(e.to_string()))?;
        }
        let fail = backend(path, "cannot open the store");
        let too_new = |found| StoreError::TooNew {
            path: path.display().to_string(),
            found,
            supported: SCHEMA_VERSION,
        };
        let marker = layout_marker(path);
        let marked = read_marker(&marker)?;
        if let Some(v) = marked.filter(|v| *v > SCHEMA_VERSION) {
            return Err(too_new(v));
        }
        // redb repairs a file that was open for writing when its process died; that
        // is how a restart learns the previous wnet crashed.
        let repaired = Arc::new(AtomicBool::new(false));
        let flag = repaired.clone();
        let db = Database::builder()
            .set_repair_callback(move |_| flag.store(true, Ordering::Relaxed))
            .create(path)
            .map_err(|e| fail(e.to_string()))?;
        let found = schema(&db, &fail)?;
        // Only a file whose marker was removed gets this far when it is newer; its
        // header was rewritten by the open, its contents were not.
        if let Some(v) = found.filter(|v| *v > SCHEMA_VERSION) {
            return Err(too_new(v));
        }
        // The marker first: a crash between the two leaves a marker newer than the
        // file, which an older wnet refuses and this one upgrades again.
        if marked != Some(SCHEMA_VERSION) {
            write_marker(&marker, SCHEMA_VERSION)?;
        }
        if found != Some(SCHEMA_VERSION) {
            let w = db.begin_write().map_err(|e| fail(e.to_string()))?;
            {
                let mut meta = w.open_table(META).map_err(|e| fail(e.to_string()))?;
                meta.insert("schema", SCHEMA_VERSION)
                    .map_err(|e| fail(e.to_string()))?;
                w.open_table(DATA).map_err(|e| fail(e.to_string()))?;
            }
            w.commit().map_err(|e| fail(e.to_string()))?;
        }
        let created = found.is_none();
        Ok(RedbStore {
            recovered: repaired.load(Ordering::Relaxed),
            created,
            disk: Arc::new(Disk {
                db,
                path: path.to_owned(),
                cache: Mutex::default(),
                commits: AtomicU64::new(0),
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.disk.path
    }

    /// The file had to be repaired when it was opened: its last commit did not
    /// record the allocator state (a file written by an older wnet, whose process
    /// died with it open). Commits record that state now, so a crash is no longer
    /// seen here; `wnet` keeps a clean-exit marker of its own for that.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The file was made by this open: nothing was ever recorded in it, so nothing in
    /// the kernel can be this store's to repair or remove.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Transactions committed to the file since it was opened.
    pub fn commits(&self) -> u64 {
        self.disk.commits.load(Ordering::Relaxed)
    }

    /// Writes `key` now unless an operation is collecting its writes.
    fn write(&self, table: &str, key: &str) -> Result<(), StoreError> {
        let committer: Arc<dyn Committer> = self.disk.clone();
        if defer(&committer, table, key) {
            return Ok(());
        }
        let mut one = Keys::new();
        one.insert((table.to_owned(), key.to_owned()));
        self.disk.commit(&one)
    }
}

impl Committer for Disk {
    fn commit(&self, keys: &Keys) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let fail = backend(&self.path, "commit");
        let mut w = self.db.begin_write().map_err(|e| fail(e.to_string()))?;
        // Every commit records redb's allocator state (two-phase): the file is then
        // ready for the next open however this process ends, so a one-shot `wnet`
        // may exit without redb's clean close (four more fsyncs), and an open after a
        // crash loads that state instead of walking the whole file.
        w.set_quick_repair(true);
        {
            let mut data = w.open_table(DATA).map_err(|e| fail(e.to_string()))?;
            let cache = self.cache();
            for (table, key) in keys {
                let k = composite(table, key);
                // The value now, which is the last one written (a written key is in
                // memory).
                match cache
                    .get(table)
                    .and_then(|t| t.get(key))
                    .and_then(Option::as_ref)
                {
                    Some(v) => {
                        data.insert(k.as_str(), v.as_slice())
                            .map_err(|e| fail(e.to_string()))?;
                    }
                    None => {
                        data.remove(k.as_str()).map_err(|e| fail(e.to_string()))?;
                    }
                }
            }
        }
        w.commit().map_err(|e| fail(e.to_string()))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Store for RedbStore {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cache = self.disk.cache();
        self.disk.get(&mut cache, table, key)
    }

    fn put(&self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        {
            let mut cache = self.disk.cache();
            // Rewriting a key in place is the hot path (a driver's kv): no allocation.
            match cache.get_mut(table).and_then(|t| t.get_mut(key)) {
                Some(Some(existing)) => {
                    existing.clear();
                    existing.extend_from_slice(value);
                }
                Some(slot) => *slot = Some(value.to_vec()),
                None => {
                    cache
                        .entry(table.to_owned())
                        .or_default()
                        .insert(key.to_owned(), Some(value.to_vec()));
                }
            }
        }
        self.write(table, key)
    }

    fn delete(&self, table: &str, key: &str) -> Result<bool, StoreError> {
        let existed = {
            let mut cache = self.disk.cache();
            let existed = self.disk.get(&mut cache, table, key)?.is_some();
            // `get` left the key in memory.
            if existed && let Some(slot) = cache.get_mut(table).and_then(|t| t.get_mut(key)) {
                *slot = None;
            }
            existed
        };
        if existed {
            self.write(table, key)?;
        }
        Ok(existed)
    }

    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.disk.scan(table, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::operation;

    /// A store path in a directory of its own, removed when the test ends, pass or fail.
    struct Tmp(PathBuf);

    impl Drop for Tmp {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn tmp(name: &str) -> Tmp {
        let dir = std::env::temp_dir().join(format!("wnet-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Tmp(dir.join("wnet.db"))
    }

    #[test]
    fn what_is_written_is_there_after_reopening() {
        let tmp = tmp("reopen");
        let path = tmp.0.clone();
        {
            let s = RedbStore::open(&path).unwrap();
            assert!(s.created());
            assert_eq!(
                read_marker(&layout_marker(&path)).unwrap(),
                Some(SCHEMA_VERSION),
                "a new file is marked"
            );
            s.put("networks", "n1", b"one").unwrap();
            s.put("driver/default", "pool/a", b"bits").unwrap();
            s.put("networks", "n2", b"two").unwrap();
            assert!(s.delete("networks", "n2").unwrap());
        }
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(
            s.get("networks", "n1").unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(s.get("networks", "n2").unwrap(), None);
        assert_eq!(s.scan("driver/default", "").unwrap().len(), 1);
    }

    #[test]
    fn reads_see_the_file_overlaid_with_what_this_process_wrote() {
        let tmp = tmp("overlay");
        let path = tmp.0.clone();
        {
            let s = RedbStore::open(&path).unwrap();
            for k in ["a/1", "a/2", "a/3", "b/1"] {
                s.put("t", k, k.as_bytes()).unwrap();
            }
            s.put("u", "a/9", b"other table").unwrap();
        }
        let s = RedbStore::open(&path).unwrap();
        // Nothing was read yet: a delete must still find the file's key.
        assert!(s.delete("t", "a/2").unwrap());
        assert!(!s.delete("t", "a/2").unwrap());
        s.put("t", "a/4", b"new").unwrap();
        s.put("t", "a/1", b"changed").unwrap();
        let scanned: Vec<_> = s
            .scan("t", "a/")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            scanned,
            [
                ("a/1".to_owned(), "changed".to_owned()),
                ("a/3".to_owned(), "a/3".to_owned()),
                ("a/4".to_owned(), "new".to_owned()),
            ]
        );
        assert_eq!(s.scan("t", "").unwrap().len(), 4);
        assert_eq!(s.get("t", "b/1").unwrap().as_deref(), Some(&b"b/1"[..]));
        assert_eq!(s.get("t", "a/2").unwrap(), None);
        drop(s);
        let s = RedbStore::open(&path).unwrap();
        let keys: Vec<_> = s
            .scan("t", "")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            ["a/1", "a/3", "a/4", "b/1"],
            "the changes reached the file"
        );
    }

    /// A file holding `networks/n1` = `one`, of layout `version`, as the wnet of that
    /// layout leaves it: a newer one marks it first; an older one knew no markers.
    /// `left_open`: the file as it is on disk while that wnet still has it open, which
    /// is how every one-shot wnet and daemon leaves it (neither closes `redb` cleanly).
    fn file_of_layout(path: &Path, version: u64, left_open: bool) {
        let s = RedbStore::open(path).unwrap();
        if version > SCHEMA_VERSION {
            write_marker(&layout_marker(path), version).unwrap();
        } else {
            std::fs::remove_file(layout_marker(path)).unwrap();
        }
        s.put("networks", "n1", b"one").unwrap();
        let mut w = s.disk.db.begin_write().unwrap();
        w.set_quick_repair(true);
        w.open_table(META)
            .unwrap()
            .insert("schema", version)
            .unwrap();
        w.commit().unwrap();
        if left_open {
            let copy = path.with_extension("copy");
            std::fs::copy(path, &copy).unwrap();
            drop(s);
            std::fs::rename(&copy, path).unwrap();
        }
    }

    fn refused_as_newer(path: &Path) {
        let before = std::fs::read(path).unwrap();
        let err = RedbStore::open(path).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains(&format!("version {}", SCHEMA_VERSION + 1))
                && msg.contains("newer wnet"),
            "{msg}"
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            before,
            "the file was not rewritten"
        );
    }

    #[test]
    fn a_file_from_a_newer_wnet_is_refused_and_left_alone() {
        let tmp = tmp("newer");
        let path = tmp.0.clone();
        file_of_layout(&path, SCHEMA_VERSION + 1, false);
        refused_as_newer(&path);
    }

    #[test]
    fn a_file_a_newer_wnet_left_open_is_refused_and_left_alone() {
        let tmp = tmp("newer-open");
        let path = tmp.0.clone();
        file_of_layout(&path, SCHEMA_VERSION + 1, true);
        assert!(
            redb::ReadOnlyDatabase::open(&path).is_err(),
            "such a file cannot be looked at without opening it for writing"
        );
        refused_as_newer(&path);
    }

    #[test]
    fn a_marker_that_is_not_a_version_is_refused_naming_it() {
        let tmp = tmp("marker");
        let path = tmp.0.clone();
        drop(RedbStore::open(&path).unwrap());
        let marker = layout_marker(&path);
        std::fs::write(&marker, "two\n").unwrap();
        let msg = RedbStore::open(&path).err().unwrap().to_string();
        assert!(
            msg.contains(&marker.display().to_string()) && msg.contains("`two`"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_of_an_older_layout_is_upgraded() {
        let tmp = tmp("older");
        let path = tmp.0.clone();
        file_of_layout(&path, SCHEMA_VERSION - 1, true);
        let s = RedbStore::open(&path).unwrap();
        assert!(!s.created(), "an upgraded file is not a new one");
        assert_eq!(
            read_marker(&layout_marker(&path)).unwrap(),
            Some(SCHEMA_VERSION),
            "marked before it was upgraded"
        );
        assert_eq!(
            schema(&s.disk.db, &|e| StoreError::Backend(e)).unwrap(),
            Some(SCHEMA_VERSION)
        );
        assert_eq!(
            s.get("networks", "n1").unwrap().as_deref(),
            Some(&b"one"[..])
        );
    }

    #[test]
    fn an_operation_commits_its_writes_once_at_its_end() {
        let tmp = tmp("operation");
        let path = tmp.0.clone();
        let s = Arc::new(RedbStore::open(&path).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let before = s.commits();
        let s2 = s.clone();
        let result: Result<(), StoreError> = rt.block_on(operation(async move {
            for i in 0..1000 {
                s2.put("driver/default", &format!("k{i}"), b"v")?;
            }
            s2.delete("driver/default", "k7")?;
            // Nothing reached the file yet.
            assert_eq!(s2.commits(), before);
            // An operation inside another joins it.
            operation(async { s2.put("networks", "n", b"x") }).await?;
            assert_eq!(s2.commits(), before);
            Ok(())
        }));
        result.unwrap();
        assert_eq!(
            s.commits(),
            before + 1,
            "one commit for the whole operation"
        );
        drop(s);
        let s = RedbStore::open(&path).unwrap();
        assert_eq!(s.scan("driver/default", "").unwrap().len(), 999);
        assert!(s.get("networks", "n").unwrap().is_some());
    }
}
