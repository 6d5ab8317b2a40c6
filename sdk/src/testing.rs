//! A fake host for unit tests of a driver's logic on the host target, without building
//! WASM: `cargo test` in the driver's crate.
//!
//! [`crate::kv`] and [`crate::log`] talk to a per-thread fake here (each `#[test]` runs on
//! its own thread, so tests do not see each other's keys). [`Harness`] holds a driver
//! and can "restart" it the way the host re-creates an instance: a fresh value of the
//! driver type over the same `kv`.
//!
//! ```
//! use wnet_sdk::testing::Harness;
//!
//! #[derive(Default)]
//! struct Counter { cached: Option<u64> }
//! impl Counter {
//!     fn bump(&mut self) -> u64 {
//!         let n = wnet_sdk::kv::get_json::<u64>("n").unwrap().unwrap_or(0) + 1;
//!         wnet_sdk::kv::set_json("n", &n).unwrap();
//!         self.cached = Some(n);
//!         n
//!     }
//! }
//!
//! let mut h = Harness::<Counter>::new();
//! assert_eq!(h.bump(), 1);
//! h.restart(); // the in-memory value is gone, the kv is not
//! assert_eq!(h.cached, None);
//! assert_eq!(h.bump(), 2);
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};

use crate::kernel::{Link, Route};
use crate::log::Level;
use crate::{IpNet, MacAddress};

/// One line a driver logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its message.
    pub message: String,
    /// Its fields.
    pub fields: Vec<(String, String)>,
}

#[derive(Default)]
pub(crate) struct FakeHost {
    pub(crate) kv: BTreeMap<String, Vec<u8>>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) kernel: FakeKernel,
    pub(crate) firewall: BTreeMap<String, crate::firewall::NetworkRules>,
    pub(crate) ports: BTreeMap<(String, String), Vec<crate::firewall::PortMapping>>,
}

/// The fake kernel: links, addresses, routes and sysctls per namespace handle
/// (0 is the host's), with no policy.
#[derive(Default)]
pub struct FakeKernel {
    /// Links, with their namespace handle.
    pub links: Vec<(u32, Link)>,
    /// Addresses, with their namespace handle and link name.
    pub addresses: Vec<(u32, String, IpNet)>,
    /// Routes, with their namespace handle.
    pub routes: Vec<(u32, Route)>,
    /// sysctls, by namespace handle and key.
    pub sysctls: BTreeMap<(u32, String), String>,
    /// Neighbour entries, with their namespace handle.
    pub neighbours: Vec<(u32, crate::kernel::Neighbour)>,
    /// Links the driver adopted, by namespace handle and name.
    pub adopted: BTreeSet<(u32, String)>,
    sandboxes: Vec<String>,
    next_index: u32,
}

impl FakeKernel {
    /// The handle of sandbox `id`'s namespace (made on first use).
    pub(crate) fn namespace(&mut self, id: &str) -> u32 {
        match self.sandboxes.iter().position(|s| s == id) {
            Some(i) => i as u32 + 1,
            None => {
                self.sandboxes.push(id.to_owned());
                self.sandboxes.len() as u32
            }
        }
    }

    /// The link named `name` in namespace `ns`.
    pub fn find(&self, ns: u32, name: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|(n, l)| *n == ns && l.name == name)
            .map(|(_, l)| l)
    }

    #[expect(clippy::too_many_arguments, reason = "a link's fields")]
    pub(crate) fn add(
        &mut self,
        ns: u32,
        name: &str,
        kind: &str,
        mac: Option<MacAddress>,
        mtu: Option<u32>,
        master: Option<u32>,
        up: bool,
    ) -> u32 {
        self.next_index += 1;
        let index = self.next_index + 1;
        self.links.push((
            ns,
            Link {
                index,
                name: name.to_owned(),
                kind: Some(kind.to_owned()),
                up,
                master,
                mtu,
                mac,
            },
        ));
        index
    }
}

/// Puts a link in this thread's fake host namespace that exists before the driver
/// runs (made by the operator, say); returns its ifindex.
pub fn existing_link(name: &str, kind: &str) -> u32 {
    with_host(|h| h.kernel.add(0, name, kind, None, None, None, true))
}

/// Reads this thread's fake kernel.
pub fn kernel<R>(f: impl FnOnce(&FakeKernel) -> R) -> R {
    with_host(|h| f(&h.kernel))
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::default();
}

pub(crate) fn with_host<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// Empties this thread's fake `kv` and log.
pub fn reset() {
    with_host(|h| *h = FakeHost::default());
}

/// The firewall rules the driver set on this thread's fake host, by network id.
pub fn firewall() -> BTreeMap<String, crate::firewall::NetworkRules> {
    with_host(|h| h.firewall.clone())
}

/// The ports the driver published on this thread's fake host, by network and endpoint.
pub fn published() -> BTreeMap<(String, String), Vec<crate::firewall::PortMapping>> {
    with_host(|h| h.ports.clone())
}

/// This thread's fake `kv`, as it is now.
pub fn kv() -> BTreeMap<String, Vec<u8>> {
    with_host(|h| h.kv.clone())
}

/// The lines logged on this thread so far.
pub fn logs() -> Vec<LogLine> {
    with_host(|h| h.logs.clone())
}

/// A driver under test, over a fresh fake host.
pub struct Harness<D> {
    driver: D,
}

impl<D: Default> Default for Harness<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Default> Harness<D> {
    /// A new driver over an empty fake host.
    pub fn new() -> Self {
        reset();
        Harness {
            driver: D::default(),
        }
    }

    /// Replaces the driver with a fresh value, keeping the `kv`: what the host does when
    /// it re-creates an instance or restarts.
    pub fn restart(&mut self) {
        self.driver = D::default();
    }

    /// The fake `kv`.
    pub fn kv(&self) -> BTreeMap<String, Vec<u8>> {
        kv()
    }

    /// The lines logged.
    pub fn logs(&self) -> Vec<LogLine> {
        logs()
    }
}

impl<D> Deref for Harness<D> {
    type Target = D;
    fn deref(&self) -> &D {
        &self.driver
    }
}

impl<D> DerefMut for Harness<D> {
    fn deref_mut(&mut self) -> &mut D {
        &mut self.driver
    }
}
