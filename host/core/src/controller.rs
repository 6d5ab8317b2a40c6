//! The controller: drivers, records and the locks that keep operations consistent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::OwnedMutexGuard;

use wnet_types::IpNet;

use crate::driver::{IpamDriver, NetworkDriver};
use crate::error::Error;
use crate::model::{EndpointRecord, NetworkRecord, SandboxRecord};
use crate::osl::{RecordsOnly, SandboxOs};
use crate::store::{self, MemoryStore, Store, StoreExt};

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

/// The records in memory, written through to the store on every change.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) networks: BTreeMap<String, NetworkRecord>,
    pub(crate) endpoints: BTreeMap<String, EndpointRecord>,
    pub(crate) sandboxes: BTreeMap<String, SandboxRecord>,
}

impl State {
    pub(crate) fn network_by_name(&self, name: &str) -> Option<&NetworkRecord> {
        self.networks.values().find(|n| n.name == name)
    }

    pub(crate) fn endpoints_of<'a>(
        &'a self,
        network_id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .values()
            .filter(move |e| e.network_id == network_id)
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
    /// are loaded.
    pub fn new(config: Config) -> Result<Self, Error> {
        let mut state = State::default();
        for n in config
            .store
            .scan_records::<NetworkRecord>(store::NETWORKS, "")?
        {
            state.networks.insert(n.id.clone(), n);
        }
        for e in config
            .store
            .scan_records::<EndpointRecord>(store::ENDPOINTS, "")?
        {
            state.endpoints.insert(e.id.clone(), e);
        }
        for s in config
            .store
            .scan_records::<SandboxRecord>(store::SANDBOXES, "")?
        {
            state.sandboxes.insert(s.id.clone(), s);
        }
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
        self.inner
            .config
            .store
            .put_record(store::ENDPOINTS, &e.id, e)?;
        self.state().endpoints.insert(e.id.clone(), e.clone());
        Ok(())
    }

    pub(crate) fn remove_endpoint(&self, id: &str) -> Result<(), Error> {
        self.inner.config.store.delete(store::ENDPOINTS, id)?;
        self.state().endpoints.remove(id);
        Ok(())
    }

    pub(crate) fn save_sandbox(&self, s: &SandboxRecord) -> Result<(), Error> {
        self.inner
            .config
            .store
            .put_record(store::SANDBOXES, &s.id, s)?;
        self.state().sandboxes.insert(s.id.clone(), s.clone());
        Ok(())
    }

    pub(crate) fn remove_sandbox(&self, id: &str) -> Result<(), Error> {
        self.inner.config.store.delete(store::SANDBOXES, id)?;
        self.state().sandboxes.remove(id);
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
