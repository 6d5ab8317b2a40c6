//! The kernel capabilities: `netns`, `links`, `addresses`, `routes`, `neighbours`,
//! `sysctl`.
//!
//! Policy is data checked inside every call: a driver reaches the host's namespace,
//! and a sandbox's only while one of its endpoints is being created in it or is joined
//! to it; it creates links only of the kinds and with the name prefixes its manifest
//! grants; it changes, deletes, addresses, routes through and adds neighbours to
//! only links it created or adopted (the ledger, kept in the store); it reads and sets only the sysctl keys it is
//! granted. A refusal is a `forbidden` error naming the rule, a warning in the log,
//! and nothing changed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use wnet_core::Store;
use wnet_netlink::{
    LinkChange, LinkKind as NlKind, MacvlanMode as NlMode, Namespace, Netlink, NetlinkError,
    NewLink, Route,
};
use wnet_types::{IpNet, SandboxInfo};

use crate::bindings::convert::{from_wit, to_wit};
use crate::bindings::network::wnet::driver::types::{Error, IpPrefix};
use crate::bindings::network::wnet::driver::{addresses, links, neighbours, netns, routes, sysctl};
use crate::engine::lock;
use crate::host::HostState;
use crate::manifest::{LinkKindGrant, LinksGrant, SysctlGrant};

/// The host's kernel, as the runtime lends it to drivers.
#[derive(Clone)]
pub struct Kernel {
    /// Netlink.
    pub netlink: Arc<dyn Netlink>,
    /// The host's namespace.
    pub host: Namespace,
    /// wnet's nftables table in the host's namespace, for the `firewall` capability;
    /// none to run without a firewall (its calls then answer `unavailable`).
    pub firewall: Option<wnet_netlink::firewall::Firewall>,
}

/// One driver's standing with the kernel: its grants, the sandboxes it may reach now,
/// and the links it created.
pub(crate) struct DriverKernel {
    pub(crate) kernel: Kernel,
    links: LinksGrant,
    sysctl: SysctlGrant,
    /// Endpoint id → the sandbox it is being created in or is joined to.
    sandboxes: Mutex<HashMap<String, SandboxInfo>>,
    /// Sandbox namespaces opened for the driver, by sandbox id.
    opened: Mutex<HashMap<String, Namespace>>,
    ledger: Arc<Ledger>,
    driver: String,
    /// Requests refused by the grants.
    refusals: std::sync::atomic::AtomicU64,
    /// Requests made for it, and failed by the kernel.
    pub(crate) audit: Arc<super::audit::KernelCounters>,
}

impl DriverKernel {
    /// A request its grants refuse: counted, logged with the driver's name, and
    /// returned as `forbidden` naming the rule.
    pub(crate) fn refuse(&self, rule: String) -> Error {
        self.refusals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(driver = %self.driver, %rule, "refused");
        Error::Forbidden(rule)
    }

    /// The driver's name.
    pub(crate) fn driver(&self) -> &str {
        &self.driver
    }

    /// Whether this driver created or adopted the link of ledger key `key`.
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.ledger.owns(&self.driver, key)
    }

    /// Whether this driver created the link `name` (not adopted it), in the host's
    /// namespace or in sandbox `sandbox_id`'s: the only links the host moves into a
    /// sandbox and configures there for the driver's join.
    pub(crate) fn created(&self, name: &str, sandbox_id: &str) -> bool {
        [
            format!("host/{name}"),
            format!("sandbox/{sandbox_id}/{name}"),
        ]
        .iter()
        .any(|k| {
            self.ledger
                .get(k)
                .is_some_and(|e| e.driver == self.driver && !e.adopted)
        })
    }

    /// Requests its grants refused so far.
    pub(crate) fn refusals(&self) -> u64 {
        self.refusals.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn new(
        kernel: Kernel,
        links: LinksGrant,
        sysctl: SysctlGrant,
        ledger: Arc<Ledger>,
        driver: &str,
    ) -> Self {
        // The driver's requests go through an audited netlink: logged and counted.
        let audited = super::audit::Audited::new(kernel.netlink.clone(), driver);
        let audit = audited.counters.clone();
        let kernel = Kernel {
            netlink: Arc::new(audited),
            host: kernel.host,
            firewall: kernel.firewall,
        };
        DriverKernel {
            audit,
            kernel,
            links,
            sysctl,
            sandboxes: Mutex::default(),
            opened: Mutex::default(),
            ledger,
            driver: driver.to_owned(),
            refusals: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Lets the driver reach `sandbox` for `endpoint` (create-endpoint in it, or join).
    pub(crate) fn grant(&self, endpoint: &str, sandbox: &SandboxInfo) {
        lock(&self.sandboxes).insert(endpoint.to_owned(), sandbox.clone());
    }

    /// Ends what [`DriverKernel::grant`] allowed for `endpoint` (after leave or delete).
    pub(crate) fn revoke(&self, endpoint: &str) {
        let gone = lock(&self.sandboxes).remove(endpoint);
        if let Some(sb) = gone
            && !lock(&self.sandboxes).values().any(|s| s.id == sb.id)
        {
            lock(&self.opened).remove(&sb.id);
        }
    }
}

/// One link in the ledger: the driver that holds it and how.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Entry {
    /// The driver that created or adopted it.
    driver: String,
    /// A veth's other end, by ledger key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
    /// The link existed before and was adopted: never deleted, renamed or moved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    adopted: bool,
}

/// Every link drivers created or adopted, by `<namespace key>/<name>`. One for all
/// drivers of a runtime, so no driver can take another's link; kept in the store's
/// `ledger` table so it survives restarts, and read from there as asked for (the
/// store keeps what it read): a one-shot `wnet` does not decode every container's
/// links at start.
pub(crate) struct Ledger {
    store: Arc<dyn Store>,
    /// The device group of the links created for this store's drivers.
    group: u32,
}

const LEDGER: &str = "ledger";

/// The table and key of the store's link group: in the ledger's table, which a
/// command reads anyway (a table of its own cost each one-shot connect 4 more reads
/// of the file), under a key no link's can be (those start with `host/` or
/// `sandbox/`).
const GROUP: (&str, &str) = (LEDGER, "#link-group");

impl Ledger {
    /// The ledger of `store`, without a link group of its own (a runtime that makes
    /// no links).
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Ledger {
            store,
            group: wnet_netlink::WNET_GROUP,
        }
    }

    /// The ledger of `store`, with the device group of its links: the one the store
    /// records, else one chosen now and recorded. Each store has its own, so that
    /// reconcile never takes the links of another data directory on the host for
    /// orphans of its own. A store whose ledger already names links keeps
    /// [`wnet_netlink::WNET_GROUP`], which every link got before there were groups per
    /// store.
    pub(crate) fn open(store: Arc<dyn Store>) -> Self {
        let mut ledger = Ledger::new(store);
        ledger.group = ledger.recorded_group();
        ledger
    }

    fn recorded_group(&self) -> u32 {
        let (table, key) = GROUP;
        match self.store.get(table, key) {
            Ok(Some(v)) => {
                if let Some(g) = std::str::from_utf8(&v)
                    .ok()
                    .and_then(|t| t.parse::<u32>().ok())
                    .filter(|g| *g != 0)
                {
                    return g;
                }
                tracing::error!(
                    value = %String::from_utf8_lossy(&v),
                    "the store's link group `{table}/{key}` is corrupt: links made now carry wnet's shared group, and reconcile leaves out the links made before"
                );
                return wnet_netlink::WNET_GROUP;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the store's link group: links made now carry wnet's shared group");
                return wnet_netlink::WNET_GROUP;
            }
        }
        let group = if self.entries().is_empty() {
            fresh_group()
        } else {
            wnet_netlink::WNET_GROUP
        };
        if let Err(e) = self.store.put(table, key, group.to_string().as_bytes()) {
            tracing::error!(error = %e, "cannot record the store's link group: links made now carry wnet's shared group");
            return wnet_netlink::WNET_GROUP;
        }
        tracing::info!(group, "this store's links carry device group {group}");
        group
    }

    /// The device group of the links created for this store's drivers.
    pub(crate) fn group(&self) -> u32 {
        self.group
    }

    /// The entry of `key`; none when it cannot be read (logged), so that a driver
    /// is refused the link rather than given it.
    fn get(&self, key: &str) -> Option<Entry> {
        match self.store.get(LEDGER, key) {
            Ok(v) => v.and_then(|v| decode(key, &v)),
            Err(e) => {
                tracing::error!(key, error = %e, "cannot read the host's ledger");
                None
            }
        }
    }

    pub(crate) fn owns(&self, driver: &str, key: &str) -> bool {
        self.get(key).is_some_and(|e| e.driver == driver)
    }

    fn add(&self, key: &str, entry: &Entry) -> Result<(), Error> {
        let failed = |e: String| Error::Internal(format!("the host's ledger failed: {e}"));
        let value = serde_json::to_vec(entry).map_err(|e| failed(e.to_string()))?;
        self.store
            .put(LEDGER, key, &value)
            .map_err(|e| failed(e.to_string()))
    }

    /// Forgets a link, and its veth peer.
    fn remove(&self, key: &str) {
        let peer = self.get(key).and_then(|e| e.peer);
        let _ = self.store.delete(LEDGER, key);
        if let Some(peer) = peer {
            let _ = self.store.delete(LEDGER, &peer);
        }
    }

    /// Every entry: key, owning driver, adopted.
    pub(crate) fn entries(&self) -> Vec<(String, String, bool)> {
        let all = self.store.scan(LEDGER, "").unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the host's ledger");
            Vec::new()
        });
        all.into_iter()
            // Not a link's, and no entry: decoding it would log it as corrupt.
            .filter(|(k, _)| k != GROUP.1)
            .filter_map(|(k, v)| decode(&k, &v).map(|e| (k, e.driver, e.adopted)))
            .collect()
    }

    /// Forgets one entry only (not its peer's).
    pub(crate) fn forget(&self, key: &str) {
        let _ = self.store.delete(LEDGER, key);
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        let Some(entry) = self.get(from) else {
            return Ok(());
        };
        let _ = self.store.delete(LEDGER, from);
        self.add(to, &entry)
    }
}

/// A device group for a new store: `0x776e` ("wn") and 16 random bits, neither
/// [`wnet_netlink::WNET_GROUP`] nor 0x776e0000, so `ip -d link show` still tells
/// wnet's links apart; two stores on one host share one by a chance of 1 in 65,534.
fn fresh_group() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let legacy = wnet_netlink::WNET_GROUP & 0xffff;
    // RandomState's keys are random per process: no dependency for 16 bits.
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // One of 0xfffe values, 1 and up, stepping over the legacy one.
    let mut low = (bits % 0xfffe) as u32 + 1;
    if low >= legacy {
        low += 1;
    }
    (wnet_netlink::WNET_GROUP & 0xffff_0000) | low
}

/// A ledger entry's value; a corrupt one is logged and skipped.
fn decode(key: &str, value: &[u8]) -> Option<Entry> {
    serde_json::from_slice(value)
        .map_err(|e| tracing::error!(key, error = %e, "skipping a corrupt ledger entry"))
        .ok()
}

pub(crate) fn kernel_error(e: &NetlinkError) -> Error {
    let msg = e.to_string();
    match e.errno() {
        Some(libc::EEXIST) => Error::Conflict(msg),
        Some(libc::ENODEV | libc::ENOENT | libc::ESRCH) => Error::NotFound(msg),
        Some(libc::EPERM | libc::EACCES) => Error::Forbidden(msg),
        Some(libc::EINVAL | libc::ERANGE) => Error::InvalidParameter(msg),
        _ => Error::Internal(msg),
    }
}

impl HostState {
    pub(crate) fn kernel(&self) -> Result<&Arc<DriverKernel>, Error> {
        self.ctx.kernel.as_ref().ok_or_else(|| {
            Error::Unavailable("this host lends no kernel access to drivers".to_owned())
        })
    }

    /// Every refusal comes after the kernel was found lent: the error is the grant's.
    fn refuse(&self, rule: String) -> Error {
        match self.kernel() {
            Ok(k) => k.refuse(rule),
            Err(e) => e,
        }
    }

    /// The namespace behind a handle, with its ledger key prefix.
    fn namespace(&self, handle: u32) -> Result<(String, Namespace), Error> {
        if handle == 0 {
            return Ok(("host".to_owned(), self.kernel()?.kernel.host.clone()));
        }
        self.namespaces
            .get(handle as usize - 1)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "namespace handle {handle} was not given to this driver"
                ))
            })
    }

    /// Refuses a kind of link the manifest does not grant.
    fn may_create(&self, grant: LinkKindGrant) -> Result<(), Error> {
        if self.kernel()?.links.kinds.contains(&grant) {
            Ok(())
        } else {
            Err(self.refuse(format!("this driver may not create {grant} links")))
        }
    }

    /// The ledger key of a link, refusing names outside the driver's prefixes. In a
    /// sandbox lent to the driver any valid name goes: the prefixes keep drivers off
    /// the host's own interfaces, while a sandbox's are its endpoints', which a driver
    /// makes under the names they keep there (`eth0`) to spare the kernel a rename.
    fn own_name(&self, nskey: &str, name: &str) -> Result<String, Error> {
        let host = self.kernel()?.kernel.host.inode();
        let sandbox = self
            .namespaces
            .iter()
            .any(|(key, ns)| key == nskey && ns.inode() != host);
        // The empty prefix, which every name has.
        let anything = [String::new()];
        let prefixes = if sandbox {
            &anything[..]
        } else {
            &self.kernel()?.links.prefixes[..]
        };
        match link_name(name, prefixes) {
            Ok(()) => Ok(format!("{nskey}/{name}")),
            Err(NameError::Invalid(m)) => Err(Error::InvalidParameter(m)),
            Err(NameError::Outside(m)) => Err(self.refuse(m)),
        }
    }
}

/// Why a driver may not give a link a name.
pub(crate) enum NameError {
    /// Not a name the kernel takes.
    Invalid(String),
    /// Outside the driver's prefixes: a refusal by its grants.
    Outside(String),
}

/// Checks a link name a driver asks for against Linux's rule and its prefixes.
pub(crate) fn link_name(name: &str, prefixes: &[String]) -> Result<(), NameError> {
    if !wnet_core::valid_ifname(name) {
        return Err(NameError::Invalid(format!(
            "`{name}` is not a valid Linux interface name"
        )));
    }
    if !prefixes.iter().any(|p| name.starts_with(p.as_str())) {
        return Err(NameError::Outside(format!(
            "link name `{name}` is outside this driver's prefixes ({})",
            prefixes.join(", ")
        )));
    }
    Ok(())
}

/// The index of a link this driver created, refusing any other. Free of `HostState`
/// (not `Sync`) so the call's future stays `Send` across the netlink await.
async fn owned_link(
    k: &DriverKernel,
    nskey: &str,
    ns: &Namespace,
    name: &str,
    what: &str,
) -> Result<u32, Error> {
    if !k.ledger.owns(&k.driver, &format!("{nskey}/{name}")) {
        return Err(k.refuse(format!(
            "link `{name}` was not created by this driver: it may not {what} it"
        )));
    }
    match k.kernel.netlink.link_by_name(ns, name).await {
        Ok(Some(l)) => Ok(l.index),
        Ok(None) => Err(Error::NotFound(format!("link `{name}` does not exist"))),
        Err(e) => Err(kernel_error(&e)),
    }
}

/// The ifindex of the bridge a link is to be a port of: one of this driver's.
async fn master_index(
    k: &DriverKernel,
    nskey: &str,
    space: &Namespace,
    master: Option<&str>,
) -> Result<Option<u32>, Error> {
    match master {
        Some(m) => owned_link(k, nskey, space, m, "attach ports to")
            .await
            .map(Some),
        None => Ok(None),
    }
}

impl netns::Host for HostState {
    fn host(&mut self) -> u32 {
        0
    }

    fn sandbox(&mut self, sandbox_id: String) -> Result<u32, Error> {
        let k = self.kernel()?.clone();
        let info = lock(&k.sandboxes)
            .values()
            .find(|s| s.id == sandbox_id)
            .cloned();
        let Some(info) = info else {
            return Err(self.refuse(format!(
                "sandbox `{sandbox_id}` is not open to this driver: only while one of its endpoints is created in it or joined to it"
            )));
        };
        let key = format!("sandbox/{sandbox_id}");
        if let Some(i) = self.namespaces.iter().position(|(k, _)| *k == key) {
            return Ok(i as u32 + 1);
        }
        let cached = lock(&k.opened).get(&sandbox_id).cloned();
        let ns = match cached {
            Some(ns) => ns,
            None => {
                let ns = Namespace::adopt(Path::new(&info.key))
                    .map_err(|e| Error::Unavailable(e.to_string()))?;
                lock(&k.opened).insert(sandbox_id, ns.clone());
                ns
            }
        };
        self.namespaces.push((key, ns));
        Ok(self.namespaces.len() as u32)
    }
}

impl links::Host for HostState {
    async fn create(&mut self, ns: u32, link: links::NewLink) -> Result<u32, Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let (grant, kind) = match &link.kind {
            links::LinkKind::Bridge => (LinkKindGrant::Bridge, None),
            links::LinkKind::Veth(peer) => (LinkKindGrant::Veth, Some(peer)),
            links::LinkKind::Macvlan(_) => (LinkKindGrant::Macvlan, None),
        };
        self.may_create(grant)?;
        let key = self.own_name(&nskey, &link.name)?;
        let mut peer_key = None;
        let nl_kind = match &link.kind {
            links::LinkKind::Bridge => NlKind::Bridge,
            links::LinkKind::Veth(peer) => {
                let (peer_nskey, peer_ns) = match peer.namespace {
                    Some(h) => {
                        let (k, n) = self.namespace(h)?;
                        (k, Some(n))
                    }
                    None => (nskey.clone(), None),
                };
                peer_key = Some(self.own_name(&peer_nskey, &peer.name)?);
                NlKind::Veth {
                    peer_name: peer.name.clone(),
                    peer_ns,
                    peer_mac: peer.mac.map(from_wit::mac),
                }
            }
            links::LinkKind::Macvlan(m) => {
                let parent = match k.kernel.netlink.link_by_name(&space, &m.parent).await {
                    Ok(Some(p)) => p.index,
                    Ok(None) => {
                        return Err(Error::NotFound(format!(
                            "macvlan parent `{}` does not exist",
                            m.parent
                        )));
                    }
                    Err(e) => return Err(kernel_error(&e)),
                };
                NlKind::Macvlan {
                    parent,
                    mode: match m.mode {
                        links::MacvlanMode::Bridge => NlMode::Bridge,
                        links::MacvlanMode::Private => NlMode::Private,
                        links::MacvlanMode::Vepa => NlMode::Vepa,
                        links::MacvlanMode::Passthru => NlMode::Passthru,
                    },
                }
            }
        };
        let _ = kind;
        let master = master_index(&k, &nskey, &space, link.master.as_deref()).await?;
        let new = NewLink {
            name: link.name.clone(),
            kind: nl_kind,
            mtu: link.mtu,
            mac: link.mac.map(from_wit::mac),
            master,
            up: link.up,
            // A bridge port carries no address of its own: no IPv6 autoconfiguration,
            // whose chatter a busy bridge would flood to every port.
            ipv6_autoconf: master.is_none(),
            group: k.ledger.group(),
        };
        let index = k
            .kernel
            .netlink
            .link_add(&space, new)
            .await
            .map_err(|e| kernel_error(&e))?;
        let entry = |peer| Entry {
            driver: k.driver.clone(),
            peer,
            adopted: false,
        };
        k.ledger.add(&key, &entry(peer_key.clone()))?;
        if let Some(peer) = peer_key {
            k.ledger.add(&peer, &entry(Some(key)))?;
        }
        tracing::debug!(driver = %self.ctx.name, link = %link.name, ns = %nskey, "link created");
        Ok(index)
    }

    async fn create_vxlan(
        &mut self,
        ns: u32,
        name: String,
        settings: links::Vxlan,
        master: Option<String>,
        mtu: Option<u32>,
        up: bool,
    ) -> Result<u32, Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        self.may_create(LinkKindGrant::Vxlan)?;
        let key = self.own_name(&nskey, &name)?;
        if settings.vni >= 1 << 24 {
            return Err(Error::InvalidParameter(format!(
                "VXLAN id {} does not fit in 24 bits",
                settings.vni
            )));
        }
        // The underlay is only named, not changed: any link may carry the tunnel.
        let parent = match &settings.parent {
            Some(p) => match k.kernel.netlink.link_by_name(&space, p).await {
                Ok(Some(l)) => Some(l.index),
                Ok(None) => {
                    return Err(Error::NotFound(format!(
                        "VXLAN underlay link `{p}` does not exist"
                    )));
                }
                Err(e) => return Err(kernel_error(&e)),
            },
            None => None,
        };
        let master = master_index(&k, &nskey, &space, master.as_deref()).await?;
        let mut new = NewLink::new(
            name.clone(),
            NlKind::Vxlan(wnet_netlink::Vxlan {
                vni: settings.vni,
                parent,
                local: settings.local.map(from_wit::ip),
                remote: settings.remote.map(from_wit::ip),
                port: settings.port,
                learning: settings.learning,
            }),
        );
        new.mtu = mtu;
        new.master = master;
        new.up = up;
        new.ipv6_autoconf = master.is_none();
        new.group = k.ledger.group();
        let index = k
            .kernel
            .netlink
            .link_add(&space, new)
            .await
            .map_err(|e| kernel_error(&e))?;
        k.ledger.add(
            &key,
            &Entry {
                driver: k.driver.clone(),
                peer: None,
                adopted: false,
            },
        )?;
        tracing::debug!(driver = %self.ctx.name, link = %name, ns = %nskey, "vxlan created");
        Ok(index)
    }

    async fn delete(&mut self, ns: u32, name: String) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let index = match owned_link(&k, &nskey, &space, &name, "delete").await {
            Ok(index) => index,
            // Gone already (by hand, or with its namespace): its record goes too.
            Err(Error::NotFound(why)) => {
                if !k
                    .ledger
                    .get(&format!("{nskey}/{name}"))
                    .is_some_and(|e| e.adopted)
                {
                    k.ledger.remove(&format!("{nskey}/{name}"));
                }
                return Err(Error::NotFound(why));
            }
            Err(e) => return Err(e),
        };
        if k.ledger
            .get(&format!("{nskey}/{name}"))
            .is_some_and(|e| e.adopted)
        {
            return Err(self.refuse(format!(
                "link `{name}` was adopted, not created, by this driver: it may not delete it (release it instead)"
            )));
        }
        k.kernel
            .netlink
            .link_del(&space, index)
            .await
            .map_err(|e| kernel_error(&e))?;
        k.ledger.remove(&format!("{nskey}/{name}"));
        Ok(())
    }

    async fn set(&mut self, ns: u32, name: String, change: links::LinkChange) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let index = owned_link(&k, &nskey, &space, &name, "change").await?;
        let reshapes = change.name.is_some()
            || change.mac.is_some()
            || change.mtu.is_some()
            || change.master.is_some()
            || change.no_master;
        if reshapes
            && k.ledger
                .get(&format!("{nskey}/{name}"))
                .is_some_and(|e| e.adopted)
        {
            return Err(self.refuse(format!(
                "link `{name}` was adopted by this driver: it may only bring it up or down"
            )));
        }
        let new_key = match &change.name {
            Some(n) => Some(self.own_name(&nskey, n)?),
            None => None,
        };
        let master = match (&change.master, change.no_master) {
            (Some(m), _) => Some(master_index(&k, &nskey, &space, Some(m)).await?),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let nl_change = LinkChange {
            up: change.up,
            master,
            mtu: change.mtu,
            mac: change.mac.map(from_wit::mac),
            name: change.name.clone(),
            netns: None,
            ipv6_autoconf: None,
        };
        k.kernel
            .netlink
            .link_set(&space, index, nl_change)
            .await
            .map_err(|e| kernel_error(&e))?;
        if let Some(new_key) = new_key {
            k.ledger.rename(&format!("{nskey}/{name}"), &new_key)?;
        }
        Ok(())
    }

    async fn get(&mut self, ns: u32, name: String) -> Result<Option<links::Link>, Error> {
        let k = self.kernel()?.clone();
        let (_, space) = self.namespace(ns)?;
        let link = k
            .kernel
            .netlink
            .link_by_name(&space, &name)
            .await
            .map_err(|e| kernel_error(&e))?;
        Ok(link.map(|l| to_wit_link(&l)))
    }

    async fn list(&mut self, ns: u32) -> Result<Vec<links::Link>, Error> {
        let k = self.kernel()?.clone();
        let (_, space) = self.namespace(ns)?;
        let all = k
            .kernel
            .netlink
            .links(&space)
            .await
            .map_err(|e| kernel_error(&e))?;
        Ok(all.iter().map(to_wit_link).collect())
    }

    async fn adopt(&mut self, ns: u32, name: String) -> Result<u32, Error> {
        let k = self.kernel()?.clone();
        if ns != 0 {
            return Err(self.refuse(format!(
                "link `{name}`: only links of the host namespace may be adopted"
            )));
        }
        let (nskey, space) = self.namespace(ns)?;
        let key = self.own_name(&nskey, &name)?;
        let held = k.ledger.get(&key);
        if let Some(e) = held.as_ref().filter(|e| e.driver != k.driver) {
            return Err(self.refuse(format!(
                "link `{name}` is held by driver `{}`: it may not be adopted",
                e.driver
            )));
        }
        let link = match k.kernel.netlink.link_by_name(&space, &name).await {
            Ok(Some(l)) => l,
            Ok(None) => return Err(Error::NotFound(format!("link `{name}` does not exist"))),
            Err(e) => return Err(kernel_error(&e)),
        };
        let kind = link.kind.as_deref().unwrap_or("unknown");
        if !k.links.adopt.iter().any(|g| g.to_string() == kind) {
            return Err(self.refuse(format!(
                "link `{name}` is of kind {kind}, which this driver's manifest does not let it adopt ([links] adopt)"
            )));
        }
        if held.is_none() {
            k.ledger.add(
                &key,
                &Entry {
                    driver: k.driver.clone(),
                    peer: None,
                    adopted: true,
                },
            )?;
            tracing::info!(driver = %self.ctx.name, link = %name, "link adopted");
        }
        Ok(link.index)
    }

    async fn release(&mut self, ns: u32, name: String) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, _) = self.namespace(ns)?;
        let key = format!("{nskey}/{name}");
        match k.ledger.get(&key) {
            Some(e) if e.driver == k.driver && e.adopted => {
                k.ledger.remove(&key);
                tracing::info!(driver = %self.ctx.name, link = %name, "adopted link released");
                Ok(())
            }
            Some(e) if e.driver == k.driver => Err(self.refuse(format!(
                "link `{name}` was created by this driver, not adopted: delete it instead"
            ))),
            _ => Err(self.refuse(format!(
                "link `{name}` was not adopted by this driver: it may not release it"
            ))),
        }
    }
}

fn to_wit_link(l: &wnet_netlink::Link) -> links::Link {
    links::Link {
        index: l.index,
        name: l.name.clone(),
        kind: l.kind.clone(),
        up: l.up,
        master: l.master,
        mtu: l.mtu,
        mac: l.mac.map(to_wit::mac),
    }
}

fn prefix(p: IpPrefix) -> Result<IpNet, Error> {
    from_wit::prefix(p).map_err(|e| Error::InvalidParameter(e.message))
}

impl addresses::Host for HostState {
    async fn add(&mut self, ns: u32, link: String, address: IpPrefix) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let index = owned_link(&k, &nskey, &space, &link, "address").await?;
        let address = prefix(address)?;
        k.kernel
            .netlink
            .addr_add(&space, index, address)
            .await
            .map_err(|e| kernel_error(&e))
    }

    async fn delete(&mut self, ns: u32, link: String, address: IpPrefix) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let index = owned_link(&k, &nskey, &space, &link, "address").await?;
        let address = prefix(address)?;
        k.kernel
            .netlink
            .addr_del(&space, index, address)
            .await
            .map_err(|e| kernel_error(&e))
    }

    async fn list(&mut self, ns: u32, link: String) -> Result<Vec<IpPrefix>, Error> {
        let k = self.kernel()?.clone();
        let (_, space) = self.namespace(ns)?;
        let Some(l) = k
            .kernel
            .netlink
            .link_by_name(&space, &link)
            .await
            .map_err(|e| kernel_error(&e))?
        else {
            return Err(Error::NotFound(format!("link `{link}` does not exist")));
        };
        let all = k
            .kernel
            .netlink
            .addrs(&space)
            .await
            .map_err(|e| kernel_error(&e))?;
        Ok(all
            .iter()
            .filter(|a| a.index == l.index)
            .map(|a| to_wit::prefix(a.address))
            .collect())
    }
}

/// A route through a link of this driver, checked.
async fn checked_route(
    k: &DriverKernel,
    nskey: &str,
    space: &Namespace,
    route: &routes::Route,
) -> Result<Route, Error> {
    let index = owned_link(k, nskey, space, &route.link, "route through").await?;
    let mut r = Route::new(prefix(route.destination)?);
    r.gateway = route.gateway.map(from_wit::ip);
    r.oif = Some(index);
    if r.gateway
        .is_some_and(|g: IpAddr| g.is_ipv6() != r.destination.addr().is_ipv6())
    {
        return Err(Error::InvalidParameter(format!(
            "route to {} has a gateway of the other family",
            r.destination
        )));
    }
    Ok(r)
}

impl routes::Host for HostState {
    async fn add(&mut self, ns: u32, route: routes::Route) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let r = checked_route(&k, &nskey, &space, &route).await?;
        k.kernel
            .netlink
            .route_add(&space, r)
            .await
            .map_err(|e| kernel_error(&e))
    }

    async fn delete(&mut self, ns: u32, route: routes::Route) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let r = checked_route(&k, &nskey, &space, &route).await?;
        k.kernel
            .netlink
            .route_del(&space, r)
            .await
            .map_err(|e| kernel_error(&e))
    }
}

/// A neighbour entry on a link of this driver, checked.
async fn checked_neighbour(
    k: &DriverKernel,
    nskey: &str,
    space: &Namespace,
    entry: &neighbours::Neighbour,
) -> Result<wnet_netlink::Neighbour, Error> {
    let index = owned_link(k, nskey, space, &entry.link, "add neighbours to").await?;
    let mac = from_wit::mac(entry.mac);
    if !entry.fdb && entry.ip.is_none() {
        return Err(Error::InvalidParameter(format!(
            "neighbour {mac} on `{}`: an ARP/NDP entry needs the IP address it answers to",
            entry.link
        )));
    }
    Ok(wnet_netlink::Neighbour {
        index,
        mac,
        ip: entry.ip.map(from_wit::ip),
        fdb: entry.fdb,
    })
}

impl neighbours::Host for HostState {
    async fn add(&mut self, ns: u32, entry: neighbours::Neighbour) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let n = checked_neighbour(&k, &nskey, &space, &entry).await?;
        k.kernel
            .netlink
            .neigh_add(&space, n)
            .await
            .map_err(|e| kernel_error(&e))
    }

    async fn delete(&mut self, ns: u32, entry: neighbours::Neighbour) -> Result<(), Error> {
        let k = self.kernel()?.clone();
        let (nskey, space) = self.namespace(ns)?;
        let n = checked_neighbour(&k, &nskey, &space, &entry).await?;
        k.kernel
            .netlink
            .neigh_del(&space, n)
            .await
            .map_err(|e| kernel_error(&e))
    }

    async fn list(&mut self, ns: u32, link: String) -> Result<Vec<neighbours::Neighbour>, Error> {
        let k = self.kernel()?.clone();
        let (_, space) = self.namespace(ns)?;
        let Some(l) = k
            .kernel
            .netlink
            .link_by_name(&space, &link)
            .await
            .map_err(|e| kernel_error(&e))?
        else {
            return Err(Error::NotFound(format!("link `{link}` does not exist")));
        };
        let all = k
            .kernel
            .netlink
            .neighbours(&space, l.index)
            .await
            .map_err(|e| kernel_error(&e))?;
        Ok(all
            .iter()
            .map(|n| neighbours::Neighbour {
                link: link.clone(),
                mac: to_wit::mac(n.mac),
                ip: n.ip.map(to_wit::ip),
                fdb: n.fdb,
            })
            .collect())
    }
}

impl HostState {
    fn sysctl_key(&self, key: &str) -> Result<(), Error> {
        let k = self.kernel()?;
        if !k.sysctl.allows(key) || !wnet_netlink::sysctl::allowed(key) {
            return Err(self.refuse(format!("sysctl `{key}` is not granted to this driver")));
        }
        Ok(())
    }
}

impl sysctl::Host for HostState {
    fn get(&mut self, ns: u32, key: String) -> Result<String, Error> {
        self.sysctl_key(&key)?;
        let (_, space) = self.namespace(ns)?;
        wnet_netlink::sysctl::get(&space, &key).map_err(|e| Error::Internal(e.to_string()))
    }

    fn set(&mut self, ns: u32, key: String, value: String) -> Result<(), Error> {
        self.sysctl_key(&key)?;
        let (nskey, space) = self.namespace(ns)?;
        let started = std::time::Instant::now();
        let result = wnet_netlink::sysctl::set(&space, &key, &value);
        let k = self.kernel()?;
        super::audit::audit(
            &k.driver,
            &k.audit,
            "sysctl-set",
            &nskey,
            &format_args!("{key}={value}"),
            result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
            started,
        );
        result.map_err(|e| Error::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wnet_core::store::MemoryStore;
    use wnet_netlink::WNET_GROUP;

    #[test]
    fn a_new_store_gets_a_group_of_its_own_and_keeps_it() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let group = Ledger::open(store.clone()).group();
        assert_eq!(
            group >> 16,
            WNET_GROUP >> 16,
            "{group:#x}: wnet's high half"
        );
        assert_ne!(
            group, WNET_GROUP,
            "not the group older wnets gave every link"
        );
        assert_ne!(group & 0xffff, 0);
        assert_eq!(
            Ledger::open(store).group(),
            group,
            "the same at the next start"
        );
        let others: std::collections::BTreeSet<u32> = (0..8)
            .map(|_| Ledger::open(Arc::new(MemoryStore::new())).group())
            .collect();
        assert!(others.len() > 1, "stores get different groups: {others:?}");
    }

    #[test]
    fn a_store_with_links_from_before_keeps_the_shared_group() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Ledger::new(store.clone())
            .add(
                "host/wnet-br0",
                &Entry {
                    driver: "bridge".to_owned(),
                    peer: None,
                    adopted: false,
                },
            )
            .unwrap();
        assert_eq!(Ledger::open(store.clone()).group(), WNET_GROUP);
        let (table, key) = GROUP;
        assert_eq!(
            store.get(table, key).unwrap().as_deref(),
            Some(WNET_GROUP.to_string().as_bytes()),
            "recorded, so that a ledger emptied later keeps it"
        );
    }
}
