//! Where the controller keeps its records and each driver's `kv` namespace.
//!
//! The store is a set of named tables of byte values, so a transactional embedded
//! database or a distributed one can stand behind the same trait. [`MemoryStore`] keeps
//! everything in memory; [`RedbStore`] in one file on disk.
//!
//! Each controller operation is one [`operation`]: a durable store collects the keys
//! written during it — the controller's records and the drivers' `kv` alike — and
//! commits them together when it ends, so an IPAM's thousands of small writes cost one
//! commit, and a crash never leaves half an operation in the file.

mod durable;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use durable::{RedbStore, SCHEMA_VERSION};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The table of network records.
pub const NETWORKS: &str = "networks";
/// The table of endpoint records.
pub const ENDPOINTS: &str = "endpoints";
/// The table of sandbox records.
pub const SANDBOXES: &str = "sandboxes";

/// The table holding a driver's own `kv` keys.
pub fn driver_table(driver: &str) -> String {
    format!("driver/{driver}")
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file was written by a newer wnet, whose layout this one does not know.
    #[error(
        "store {path} has layout version {found}, newer than this wnet understands ({supported}): run a newer wnet; the file was left unchanged"
    )]
    TooNew {
        /// The file.
        path: String,
        /// Its layout version.
        found: u64,
        /// The newest this binary knows.
        supported: u64,
    },
    /// The backend failed.
    #[error("store: {0}")]
    Backend(String),
    /// A record could not be encoded or decoded.
    #[error("store: record `{table}/{key}` is corrupt: {reason}")]
    Corrupt {
        /// The table.
        table: String,
        /// The key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// Named tables of byte values.
pub trait Store: Send + Sync {
    /// The value of `key` in `table`.
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` in `table`.
    fn put(&self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` from `table`; returns whether it existed.
    fn delete(&self, table: &str, key: &str) -> Result<bool, StoreError>;
    /// Every key of `table` starting with `prefix`, with its value, in key order.
    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Keys as `(table, key)`.
pub(crate) type Keys = BTreeSet<(String, String)>;

/// A store that defers writes to the end of an operation commits them here.
pub(crate) trait Committer: Send + Sync {
    /// Writes the current values of `keys` (absent ones as deletions) in one
    /// transaction.
    fn commit(&self, keys: &Keys) -> Result<(), StoreError>;
}

/// The keys written during the current operation, per store; and the time each
/// driver has spent in calls during it, for the drivers' per-operation limit.
#[derive(Default)]
struct Pending {
    stores: Vec<(Arc<dyn Committer>, Keys)>,
    driver_time: Vec<(String, Duration)>,
}

tokio::task_local! {
    static PENDING: RefCell<Pending>;
}

/// Records that `key` of `table` was written in `committer`'s store during the current
/// operation; false when no operation is running (the store then writes at once).
pub(crate) fn defer(committer: &Arc<dyn Committer>, table: &str, key: &str) -> bool {
    PENDING
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i = match p.stores.iter().position(|(c, _)| Arc::ptr_eq(c, committer)) {
                Some(i) => i,
                None => {
                    p.stores.push((committer.clone(), BTreeSet::new()));
                    p.stores.len() - 1
                }
            };
            p.stores[i].1.insert((table.to_owned(), key.to_owned()));
        })
        .is_ok()
}

/// The time `driver` has spent in calls during the current operation; `None` outside
/// an operation (start-up, reconcile), where no per-operation limit applies.
pub fn driver_time(driver: &str) -> Option<Duration> {
    PENDING
        .try_with(|p| {
            p.borrow()
                .driver_time
                .iter()
                .find(|(d, _)| d == driver)
                .map_or(Duration::ZERO, |(_, t)| *t)
        })
        .ok()
}

/// Adds `spent` to the time `driver` has spent during the current operation.
pub fn add_driver_time(driver: &str, spent: Duration) {
    let _ = PENDING.try_with(|p| {
        let mut p = p.borrow_mut();
        match p.driver_time.iter_mut().find(|(d, _)| d == driver) {
            Some((_, t)) => *t += spent,
            None => p.driver_time.push((driver.to_owned(), spent)),
        }
    });
}

/// Runs `op` as one operation: the writes it makes to durable stores are committed
/// together when it ends, whether it succeeded or not (a failed operation has undone
/// its steps, and what its undo wrote is the truth). An operation inside another joins
/// it. A failed commit is the operation's error.
///
/// `op` is boxed: an `async fn` holds its argument future and the future it awaits
/// side by side, so every nested operation would otherwise triple the size of its
/// callers' futures (a sandbox delete was 100 KB, moved by memcpy at every poll).
pub fn operation<T, E: From<StoreError>>(
    op: impl Future<Output = Result<T, E>>,
) -> impl Future<Output = Result<T, E>> {
    let op = Box::pin(op);
    async move {
        if PENDING.try_with(|_| ()).is_ok() {
            return op.await;
        }
        scoped(op).await
    }
}

async fn scoped<T, E: From<StoreError>>(
    op: std::pin::Pin<Box<impl Future<Output = Result<T, E>>>>,
) -> Result<T, E> {
    PENDING
        .scope(RefCell::default(), async { commit_pending(op.await) })
        .await
}

/// [`operation`] for synchronous work outside the async world (a controller's start).
pub(crate) fn batch<T, E: From<StoreError>>(op: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if PENDING.try_with(|_| ()).is_ok() {
        return op();
    }
    PENDING.sync_scope(RefCell::default(), || commit_pending(op()))
}

/// Commits what the operation that ended with `result` wrote, inside its scope.
fn commit_pending<T, E: From<StoreError>>(result: Result<T, E>) -> Result<T, E> {
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for (store, keys) in &pending.stores {
        if let Err(e) = store.commit(keys) {
            tracing::error!(error = %e, keys = keys.len(), "committing an operation failed");
            return result.and(Err(E::from(e)));
        }
    }
    result
}

/// Typed access to records stored as JSON.
pub(crate) trait StoreExt: Store {
    fn put_record<T: Serialize>(
        &self,
        table: &str,
        key: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            table: table.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.put(table, key, &bytes)
    }

    fn get_record<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(table, key)?
            .map(|bytes| decode(table, key, &bytes))
            .transpose()
    }

    /// The records of `table` by key.
    fn scan_keyed_records<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<BTreeMap<String, T>, StoreError> {
        self.scan(table, prefix)?
            .into_iter()
            .map(|(key, bytes)| {
                let record = decode(table, &key, &bytes)?;
                Ok((key, record))
            })
            .collect()
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// A store in memory: nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, BTreeMap<String, Vec<u8>>>) -> R) -> R {
        // A panic while holding the lock cannot leave a map half-updated: every update
        // below is a single insert or remove.
        let mut tables = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut tables)
    }
}

impl Store for MemoryStore {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|t| t.get(table).and_then(|t| t.get(key)).cloned()))
    }

    fn put(&self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|t| {
            // Rewriting a key in place is the hot path (a driver's kv): no allocation.
            if let Some(existing) = t.get_mut(table).and_then(|t| t.get_mut(key)) {
                existing.clear();
                existing.extend_from_slice(value);
                return;
            }
            t.entry(table.to_owned())
                .or_default()
                .insert(key.to_owned(), value.to_vec());
        });
        Ok(())
    }

    fn delete(&self, table: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.with(|t| t.get_mut(table).and_then(|t| t.remove(key)).is_some()))
    }

    fn scan(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self.with(|t| {
            t.get(table)
                .map(|t| {
                    t.range(prefix.to_owned()..)
                        .take_while(|(k, _)| k.starts_with(prefix))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_returns_only_the_prefix_in_key_order() {
        let s = MemoryStore::new();
        for k in ["b/2", "a/1", "b/1", "c", "b"] {
            s.put("t", k, k.as_bytes()).unwrap();
        }
        let keys: Vec<_> = s
            .scan("t", "b/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["b/1", "b/2"]);
        assert!(s.scan("other", "").unwrap().is_empty());
    }

    #[test]
    fn delete_reports_whether_the_key_existed() {
        let s = MemoryStore::new();
        s.put("t", "k", b"v").unwrap();
        assert!(s.delete("t", "k").unwrap());
        assert!(!s.delete("t", "k").unwrap());
        assert_eq!(s.get("t", "k").unwrap(), None);
    }
}
