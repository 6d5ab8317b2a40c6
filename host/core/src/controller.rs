//! The controller: drivers, records and the locks that keep operations consistent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde::de::DeserializeOwned;
use tokio::sync::OwnedMutexGuard;

use wnet_types::IpNet;

use crate::driver::{IpamDriver, NetworkDriver};
use crate::error::Error;
use crate::model::{EndpointRecord, NetworkRecord, SandboxRecord};
use crate::osl::{RecordsOnly, SandboxOs};
use crate::store::{self, MemoryStore, Store, StoreError, StoreExt};

/// How a controller is set up.
#[derive(Clone)]
pub struct Config {
    /// Where the records live. Default: in memory.
    pub store: Arc<dyn Store>,
    /// What makes sandboxes' namespaces and configures interfaces in them. Default:
    /// records only ([`crate::RecordsOnly`]).
    pub os: Arc<dyn SandboxOs>,
    /// The IPAM driver of networks that name none. Default `default`.
    pub default_ipam_driver: String,
    /// Where networks of the built-in `default` IPAM that give no subnet take theirs
    /// (Docker's `default-address-pools`); empty for the IPAM driver's own choice.
    pub default_address_pools: Vec<AddressPool>,
}

/// A range split into subnets of one size, handed out lowest free first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    /// The range.
    pub base: IpNet,
    /// The prefix length of each subnet taken from it.
    pub size: u8,
}

impl AddressPool {
    /// A pool, checked: `size` must be no shorter than the base's prefix and fit the
    /// family.
    pub fn new(base: IpNet, size: u8) -> Result<Self, Error> {
        if size < base.prefix_len() || size > base.max_prefix_len() {
            return Err(Error::InvalidConfig(format!(
                "default address pool {base} cannot be split into /{size} subnets: the size must be {}–{}",
                base.prefix_len(),
                base.max_prefix_len()
            )));
        }
        Ok(AddressPool {
            base: base.trunc(),
            size,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: Arc::new(MemoryStore::new()),
            os: Arc::new(RecordsOnly::default()),
            default_ipam_driver: "default".to_owned(),
            default_address_pools: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("default_ipam_driver", &self.default_ipam_driver)
            .field("default_address_pools", &self.default_address_pools)
            .finish_non_exhaustive()
    }
}

/// The entry point: owns networks, endpoints and sandboxes and the drivers behind them.
/// Cheap to clone; clones share everything. `Send + Sync`: operations on different
/// networks and sandboxes run concurrently.
#[derive(Clone)]
pub struct Controller {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    drivers: RwLock<BTreeMap<String, Arc<dyn NetworkDriver>>>,
    ipams: RwLock<BTreeMap<String, Arc<dyn IpamDriver>>>,
    state: Mutex<State>,
    /// Serialises network creation and deletion, so name checks and pool choices do not
    /// race; endpoint and sandbox work is not held up by it.
    pub(crate) networks_lock: Arc<tokio::sync::Mutex<()>>,
    op_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The records in memory, written through to the store on every change. Networks are
/// few and all loaded at start; endpoints and sandboxes are loaded from the store when
/// first asked for (by id, or through the name and key indexes), so a one-shot `wnet`
/// that touches one sandbox decodes its records, not the host's hundreds.
pub(crate) struct State {
    store: Arc<dyn Store>,
    pub(crate) networks: BTreeMap<String, NetworkRecord>,
    endpoints: Records<EndpointRecord>,
    sandboxes: Records<SandboxRecord>,
}

/// The records of one table read so far; `all` once every one has been.
struct Records<T> {
    table: &'static str,
    loaded: BTreeMap<String, T>,
    all: bool,
}

impl<T: DeserializeOwned> Records<T> {
    fn new(table: &'static str) -> Self {
        Records {
            table,
            loaded: BTreeMap::new(),
            all: false,
        }
    }

    fn get(&mut self, store: &dyn Store, id: &str) -> Result<Option<&T>, Error> {
        if !self.all
            && !self.loaded.contains_key(id)
            && let Some(record) = store.get_record(self.table, id)?
        {
            self.loaded.insert(id.to_owned(), record);
        }
        Ok(self.loaded.get(id))
    }

    fn all(&mut self, store: &dyn Store) -> Result<&BTreeMap<String, T>, Error> {
        if !self.all {
            // Whatever was loaded or written since is what the store holds too.
            self.loaded = store.scan_keyed_records(self.table, "")?;
            self.all = true;
        }
        Ok(&self.loaded)
    }
}

/// `<network id>/<endpoint name>` → endpoint id: an endpoint's name is unique in its
/// network, and neither changes.
const ENDPOINT_NAMES: &str = "index/endpoint-names";
/// `<namespace path>\0<sandbox id>` → nothing: the sandboxes in each namespace (several
/// may share the host's).
const SANDBOX_KEYS: &str = "index/sandbox-keys";
/// `version` is present once the indexes above are complete.
const INDEXES: &str = "index/meta";

fn endpoint_name_key(network_id: &str, name: &str) -> String {
    format!("{network_id}/{name}")
}

fn sandbox_key_key(key: &str, id: &str) -> String {
    format!("{key}\0{id}")
}

/// Writes endpoint `e`'s entry in the name index.
fn index_endpoint(store: &dyn Store, e: &EndpointRecord) -> Result<(), StoreError> {
    store.put(
        ENDPOINT_NAMES,
        &endpoint_name_key(&e.network_id, &e.name),
        e.id.as_bytes(),
    )
}

/// Writes sandbox `s`'s entry in the namespace index.
fn index_sandbox(store: &dyn Store, s: &SandboxRecord) -> Result<(), StoreError> {
    store.put(SANDBOX_KEYS, &sandbox_key_key(&s.key, &s.id), b"")
}

impl State {
    fn new(store: Arc<dyn Store>) -> Result<Self, Error> {
        let networks = store.scan_keyed_records(store::NETWORKS, "")?;
        let mut state = State {
            store,
            networks,
            endpoints: Records::new(store::ENDPOINTS),
            sandboxes: Records::new(store::SANDBOXES),
        };
        if state.store.get(INDEXES, "version")?.is_none() {
            state.build_indexes()?;
        }
        Ok(state)
    }

    /// Indexes a store written before they existed (or whose indexing was cut short).
    fn build_indexes(&mut self) -> Result<(), Error> {
        let store = self.store.clone();
        store::batch(|| {
            for e in self.endpoints.all(&*store)?.values() {
                index_endpoint(&*store, e)?;
            }
            for s in self.sandboxes.all(&*store)?.values() {
                index_sandbox(&*store, s)?;
            }
            store.put(INDEXES, "version", b"1")?;
            Ok(())
        })
    }

    pub(crate) fn network_by_name(&self, name: &str) -> Option<&NetworkRecord> {
        self.networks.values().find(|n| n.name == name)
    }

    /// The endpoint `id`, if it exists.
    pub(crate) fn endpoint(&mut self, id: &str) -> Result<Option<&EndpointRecord>, Error> {
        self.endpoints.get(&*self.store, id)
    }

    /// The sandbox `id`, if it exists.
    pub(crate) fn sandbox(&mut self, id: &str) -> Result<Option<&SandboxRecord>, Error> {
        self.sandboxes.get(&*self.store, id)
    }

    /// Every sandbox, by id.
    pub(crate) fn sandboxes(&mut self) -> Result<&BTreeMap<String, SandboxRecord>, Error> {
        self.sandboxes.all(&*self.store)
    }

    /// The endpoints of network `network_id`, in id order.
    pub(crate) fn endpoints_of(&mut self, network_id: &str) -> Result<Vec<EndpointRecord>, Error> {
        if self.endpoints.all {
            return Ok(self
                .endpoints
                .loaded
                .values()
                .filter(|e| e.network_id == network_id)
                .cloned()
                .collect());
        }
        let mut found = BTreeMap::new();
        for (_, id) in self.store.scan(ENDPOINT_NAMES, &format!("{network_id}/"))? {
            let id = String::from_utf8_lossy(&id).into_owned();
            // An index entry may outlive its record by a crash between the two writes.
            if let Some(e) = self.endpoint(&id)?.filter(|e| e.network_id == network_id) {
                found.insert(id, e.clone());
            }
        }
        Ok(found.into_values().collect())
    }

    /// The endpoint of network `network_id` named `name`, if any.
    pub(crate) fn endpoint_named(
        &mut self,
        network_id: &str,
        name: &str,
    ) -> Result<Option<&EndpointRecord>, Error> {
        let id = match self
            .store
            .get(ENDPOINT_NAMES, &endpoint_name_key(network_id, name))?
        {
            Some(id) => String::from_utf8_lossy(&id).into_owned(),
            None => return Ok(None),
        };
        Ok(self
            .endpoint(&id)?
            .filter(|e| e.network_id == network_id && e.name == name))
    }

    /// The id of a sandbox whose namespace is at `key`, if any.
    pub(crate) fn sandbox_at(&mut self, key: &str) -> Result<Option<String>, Error> {
        let prefix = format!("{key}\0");
        for (k, _) in self.store.scan(SANDBOX_KEYS, &prefix)? {
            let id = &k[prefix.len()..];
            if self.sandbox(id)?.is_some_and(|s| s.key == key) {
                return Ok(Some(id.to_owned()));
            }
        }
        Ok(None)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Updates under these locks are single map operations, complete or not done, so a
    // panic elsewhere cannot leave them inconsistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Controller {
    /// A controller with no drivers; register them with [`Controller::register_driver`]
    /// and [`Controller::register_ipam_driver`]. Records already in the configured store
    /// are found there: networks are loaded now, endpoints and sandboxes when first asked
    /// for.
    pub fn new(config: Config) -> Result<Self, Error> {
        let state = State::new(config.store.clone())?;
        Ok(Controller {
            inner: Arc::new(Inner {
                config,
                drivers: RwLock::default(),
                ipams: RwLock::default(),
                state: Mutex::new(state),
                networks_lock: Arc::default(),
                op_locks: Mutex::default(),
            }),
        })
    }

    /// The controller's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Registers a network driver under `name`.
    pub fn register_driver(&self, name: &str, driver: Arc<dyn NetworkDriver>) -> Result<(), Error> {
        let mut drivers = self
            .inner
            .drivers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if drivers.contains_key(name) {
            return Err(Error::DuplicateDriver {
                kind: "network",
                name: name.to_owned(),
            });
        }
        drivers.insert(name.to_owned(), driver);
        Ok(())
    }

    /// Registers an IPAM driver under `name`.
    pub fn register_ipam_driver(
        &self,
        name: &str,
        driver: Arc<dyn IpamDriver>,
    ) -> Result<(), Error> {
        let mut ipams = self
            .inner
            .ipams
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if ipams.contains_key(name) {
            return Err(Error::DuplicateDriver {
                kind: "IPAM",
                name: name.to_owned(),
            });
        }
        ipams.insert(name.to_owned(), driver);
        Ok(())
    }

    /// Replaces the network driver registered as `name` (or registers it): a reloaded
    /// version takes over the networks of the old one.
    pub fn replace_driver(&self, name: &str, driver: Arc<dyn NetworkDriver>) {
        self.inner
            .drivers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), driver);
    }

    /// Replaces the IPAM driver registered as `name` (or registers it).
    pub fn replace_ipam_driver(&self, name: &str, driver: Arc<dyn IpamDriver>) {
        self.inner
            .ipams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), driver);
    }

    /// Unregisters the network driver `name`; refused while a network uses it. Holds
    /// the network-creation lock so that no network can start using it meanwhile.
    pub async fn unregister_driver(&self, name: &str) -> Result<(), Error> {
        let _networks = self.inner.networks_lock.clone().lock_owned().await;
        self.refuse_if_used(false, name)?;
        self.inner
            .drivers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        Ok(())
    }

    /// Unregisters the IPAM driver `name`; refused while a network uses it.
    pub async fn unregister_ipam_driver(&self, name: &str) -> Result<(), Error> {
        let _networks = self.inner.networks_lock.clone().lock_owned().await;
        self.refuse_if_used(true, name)?;
        self.inner
            .ipams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        Ok(())
    }

    /// The names of the networks whose network driver (or IPAM driver, if `ipam`) is
    /// `name`.
    pub fn networks_using(&self, ipam: bool, name: &str) -> Vec<String> {
        self.state()
            .networks
            .values()
            .filter(|n| {
                if ipam {
                    n.ipam_driver == name && !crate::network::skips_ipam(&n.driver)
                } else {
                    n.driver == name
                }
            })
            .map(|n| n.name.clone())
            .collect()
    }

    fn refuse_if_used(&self, ipam: bool, name: &str) -> Result<(), Error> {
        let networks = self.networks_using(ipam, name);
        if networks.is_empty() {
            return Ok(());
        }
        Err(Error::DriverInUse {
            kind: if ipam { "IPAM" } else { "network" },
            name: name.to_owned(),
            networks: networks.join(", "),
        })
    }

    /// The names of the registered network drivers.
    pub fn drivers(&self) -> Vec<String> {
        let drivers = self
            .inner
            .drivers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        drivers.keys().cloned().collect()
    }

    /// The names of the registered IPAM drivers.
    pub fn ipam_drivers(&self) -> Vec<String> {
        let ipams = self
            .inner
            .ipams
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        ipams.keys().cloned().collect()
    }

    pub(crate) fn driver(&self, name: &str) -> Result<Arc<dyn NetworkDriver>, Error> {
        let drivers = self
            .inner
            .drivers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        drivers
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownDriver {
                name: name.to_owned(),
                available: list(drivers.keys()),
            })
    }

    /// The IPAM driver registered as `name`: for engines that reach IPAM directly (Docker's
    /// remote IPAM protocol); call it inside [`crate::store::operation`] so that what it
    /// writes to its `kv` commits.
    pub fn ipam(&self, name: &str) -> Result<Arc<dyn IpamDriver>, Error> {
        let ipams = self
            .inner
            .ipams
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        ipams
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownIpamDriver {
                name: name.to_owned(),
                available: list(ipams.keys()),
            })
    }

    /// Reads the in-memory records.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// Takes the operation lock of a network, held across its driver calls.
    pub(crate) async fn network_lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.op_lock(LockKey::Network(id)).await
    }

    /// Takes the operation lock of a sandbox. Taken before a network's when both are.
    pub(crate) async fn sandbox_lock(&self, id: &str) -> OwnedMutexGuard<()> {
        self.op_lock(LockKey::Sandbox(id)).await
    }

    async fn op_lock(&self, key: LockKey<'_>) -> OwnedMutexGuard<()> {
        let m = lock(&self.inner.op_locks)
            .entry(key.to_string())
            .or_default()
            .clone();
        m.lock_owned().await
    }

    /// Forgets the lock of a deleted network.
    pub(crate) fn drop_network_lock(&self, id: &str) {
        lock(&self.inner.op_locks).remove(&LockKey::Network(id).to_string());
    }

    /// Forgets the lock of a deleted sandbox.
    pub(crate) fn drop_sandbox_lock(&self, id: &str) {
        lock(&self.inner.op_locks).remove(&LockKey::Sandbox(id).to_string());
    }

    pub(crate) fn save_network(&self, n: &NetworkRecord) -> Result<(), Error> {
        self.inner
            .config
            .store
            .put_record(store::NETWORKS, &n.id, n)?;
        self.state().networks.insert(n.id.clone(), n.clone());
        Ok(())
    }

    pub(crate) fn remove_network(&self, id: &str) -> Result<(), Error> {
        self.inner.config.store.delete(store::NETWORKS, id)?;
        self.state().networks.remove(id);
        Ok(())
    }

    pub(crate) fn save_endpoint(&self, e: &EndpointRecord) -> Result<(), Error> {
        let store = &self.inner.config.store;
        // The index first: an entry whose record is missing is skipped by its readers,
        // a record missing from the index would be invisible to them.
        index_endpoint(&**store, e)?;
        store.put_record(store::ENDPOINTS, &e.id, e)?;
        self.state()
            .endpoints
            .loaded
            .insert(e.id.clone(), e.clone());
        Ok(())
    }

    pub(crate) fn remove_endpoint(&self, id: &str) -> Result<(), Error> {
        let store = &self.inner.config.store;
        let record = self.state().endpoint(id)?.cloned();
        store.delete(store::ENDPOINTS, id)?;
        if let Some(e) = record {
            store.delete(ENDPOINT_NAMES, &endpoint_name_key(&e.network_id, &e.name))?;
        }
        self.state().endpoints.loaded.remove(id);
        Ok(())
    }

    pub(crate) fn save_sandbox(&self, s: &SandboxRecord) -> Result<(), Error> {
        let store = &self.inner.config.store;
        // The index first, as for endpoints.
        index_sandbox(&**store, s)?;
        store.put_record(store::SANDBOXES, &s.id, s)?;
        self.state()
            .sandboxes
            .loaded
            .insert(s.id.clone(), s.clone());
        Ok(())
    }

    pub(crate) fn remove_sandbox(&self, id: &str) -> Result<(), Error> {
        let store = &self.inner.config.store;
        let record = self.state().sandbox(id)?.cloned();
        store.delete(store::SANDBOXES, id)?;
        if let Some(s) = record {
            store.delete(SANDBOX_KEYS, &sandbox_key_key(&s.key, &s.id))?;
        }
        self.state().sandboxes.loaded.remove(id);
        Ok(())
    }
}

/// Whose operation lock: networks and sandboxes are named apart, so a sandbox whose id
/// happens to equal a network's does not share (and deadlock on) its lock.
enum LockKey<'a> {
    Network(&'a str),
    Sandbox(&'a str),
}

impl std::fmt::Display for LockKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockKey::Network(id) => write!(f, "network/{id}"),
            LockKey::Sandbox(id) => write!(f, "sandbox/{id}"),
        }
    }
}

/// `a, b, c`, or `none`.
pub(crate) fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
