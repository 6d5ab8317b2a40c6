//! The controller's [`SandboxOs`] on the kernel: sandboxes are network namespaces,
//! and joined interfaces are put in, named, addressed, brought up and routed through
//! with netlink. An interface without an IPv6 address gets no IPv6 autoconfiguration
//! either (as Docker disables IPv6 on IPv4-only networks). An interface the driver created inside the sandbox is configured in
//! place; only one created elsewhere is moved (≈20 ms on this kernel).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use wnet_core::osl::{Interface, OsError, OsSandbox, SandboxOs};
use wnet_types::{IpNet, RouteType};

use crate::{LinkChange, Namespace, Netlink, NetlinkError, Route};

/// Sandboxes as network namespaces under `<run_dir>/netns`.
pub struct KernelSandboxes {
    nl: Arc<dyn Netlink>,
    host: Namespace,
    dir: PathBuf,
    open: Mutex<HashMap<String, Namespace>>,
}

#[expect(clippy::needless_pass_by_value, reason = "the shape map_err wants")]
fn os(e: NetlinkError) -> OsError {
    OsError(e.to_string())
}

impl KernelSandboxes {
    /// Sandboxes made under `run_dir/netns`; interfaces not created in a sandbox are
    /// found in `host`.
    pub fn new(nl: Arc<dyn Netlink>, host: Namespace, run_dir: &Path) -> Self {
        KernelSandboxes {
            nl,
            host,
            dir: run_dir.join("netns"),
            open: Mutex::default(),
        }
    }

    fn namespace(&self, sandbox: &OsSandbox) -> Result<Namespace, OsError> {
        if sandbox.host {
            // The controller never configures interfaces among the host's own; this
            // keeps a mistake there from renaming or routing through them.
            return Err(OsError(
                "the sandbox is the host's own namespace: wnet configures no interface in it"
                    .to_owned(),
            ));
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ns) = open.get(&sandbox.key) {
            return Ok(ns.clone());
        }
        let path = Path::new(&sandbox.key);
        let ns = if sandbox.owned {
            Namespace::reopen_owned(path)
        } else {
            Namespace::adopt(path)
        }
        .map_err(os)?;
        if let Some(inode) = sandbox.inode.filter(|i| *i != ns.inode()) {
            return Err(OsError(format!(
                "{} names another namespace than the sandbox's (inode {} instead of {inode}): the sandbox's namespace is gone",
                sandbox.key,
                ns.inode()
            )));
        }
        open.insert(sandbox.key.clone(), ns.clone());
        Ok(ns)
    }

    /// The routes `attach` adds for an interface at `index`.
    fn routes(iface: &Interface, index: u32, defaults: bool) -> Vec<Route> {
        let mut out = Vec::new();
        if defaults {
            let gateways = [
                iface.gateway.map(|g| (IpAddr::V4(g), "0.0.0.0/0")),
                iface.gateway_ipv6.map(|g| (IpAddr::V6(g), "::/0")),
            ];
            for (gw, default) in gateways.into_iter().flatten() {
                if let Ok(destination) = default.parse::<IpNet>() {
                    let mut r = Route::new(destination);
                    r.gateway = Some(gw);
                    r.oif = Some(index);
                    out.push(r);
                }
            }
        }
        for s in &iface.routes {
            let mut r = Route::new(s.destination);
            r.oif = Some(index);
            if s.route_type == RouteType::NextHop {
                r.gateway = s.next_hop;
            }
            out.push(r);
        }
        out
    }
}

#[async_trait]
impl SandboxOs for KernelSandboxes {
    async fn create(&self, id: &str, key: Option<&str>) -> Result<OsSandbox, OsError> {
        let ns = match key {
            Some(key) => Namespace::adopt(Path::new(key)),
            None => Namespace::create(&self.dir, id),
        }
        .map_err(os)?;
        // A sandbox's loopback is up from the start (libnetwork's osl does the same),
        // so a sandbox with no interface still reaches itself.
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        if let Err(e) = self.nl.link_set(&ns, 1, up).await {
            if ns.is_owned() {
                let _ = ns.remove();
            }
            return Err(os(e));
        }
        let sandbox = OsSandbox {
            key: ns.path().display().to_string(),
            owned: ns.is_owned(),
            host: false,
            inode: Some(ns.inode()),
        };
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sandbox.key.clone(), ns);
        Ok(sandbox)
    }

    fn host(&self) -> OsSandbox {
        // A path that names the host namespace from outside this thread too.
        let path = self.host.path();
        let key = if path.starts_with("/proc/thread-self") || path.starts_with("/proc/self") {
            format!("/proc/{}/ns/net", std::process::id())
        } else {
            path.display().to_string()
        };
        OsSandbox {
            key,
            owned: false,
            host: true,
            inode: None,
        }
    }

    async fn remove(&self, sandbox: &OsSandbox) -> Result<(), OsError> {
        if sandbox.host {
            return Ok(());
        }
        let ns = match self.namespace(sandbox) {
            Ok(ns) => ns,
            // Gone already (a reboot emptied the run directory, say): what is left of
            // the file wnet made goes.
            Err(_) if sandbox.owned => {
                return Namespace::remove_at(Path::new(&sandbox.key)).map_err(os);
            }
            Err(_) => return Ok(()),
        };
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sandbox.key);
        self.nl.forget(&ns);
        if sandbox.owned {
            ns.remove().map_err(os)?;
        }
        Ok(())
    }

    async fn alive(&self, sandbox: &OsSandbox) -> bool {
        if sandbox.host {
            return true;
        }
        // The path, opened afresh: a namespace this process still holds open lives on
        // after its file or its last process is gone.
        let Ok(now) = Namespace::adopt(Path::new(&sandbox.key)) else {
            return false;
        };
        if sandbox.inode.is_some_and(|inode| inode != now.inode()) {
            return false;
        }
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&sandbox.key)
            .is_none_or(|held| held.inode() == now.inode())
    }

    async fn interface_present(&self, sandbox: &OsSandbox, iface: &Interface) -> bool {
        let Ok(ns) = self.namespace(sandbox) else {
            return false;
        };
        // A failure to ask is not proof of absence: only a clear "no such link" is.
        !matches!(self.nl.link_by_name(&ns, &iface.dst_name).await, Ok(None))
    }

    async fn remove_orphans(&self, known: &[OsSandbox]) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for path in dir.filter_map(Result::ok).map(|e| e.path()) {
            let key = path.display().to_string();
            if known.iter().any(|k| k.key == key) {
                continue;
            }
            match Namespace::remove_at(&path) {
                Ok(()) => removed.push(key),
                Err(e) => {
                    tracing::warn!(path = %key, error = %e, "cannot remove an orphan namespace")
                }
            }
        }
        removed
    }

    async fn attach(&self, sandbox: &OsSandbox, iface: &Interface) -> Result<(), OsError> {
        let ns = self.namespace(sandbox)?;
        let nl = &self.nl;
        let missing = |where_: &str| {
            OsError(format!(
                "interface `{}` named by the driver does not exist in {where_}",
                iface.src_name
            ))
        };
        let index = if iface.in_sandbox {
            let link = nl
                .link_by_name(&ns, &iface.src_name)
                .await
                .map_err(os)?
                .ok_or_else(|| missing("the sandbox"))?;
            // Name, MAC and IPv6 autoconfiguration in one request, before the link is up.
            let change = LinkChange {
                name: Some(iface.dst_name.clone()).filter(|n| *n != iface.src_name),
                mac: iface.mac.filter(|m| Some(*m) != link.mac),
                ipv6_autoconf: Some(iface.ipv6.is_some()),
                ..LinkChange::default()
            };
            nl.link_set(&ns, link.index, change).await.map_err(os)?;
            link.index
        } else {
            let link = nl
                .link_by_name(&self.host, &iface.src_name)
                .await
                .map_err(os)?
                .ok_or_else(|| missing("the host namespace"))?;
            // Move, rename and set the MAC in one request: the kernel applies the move first.
            let change = LinkChange {
                netns: Some(ns.clone()),
                name: Some(iface.dst_name.clone()),
                mac: iface.mac,
                ipv6_autoconf: Some(iface.ipv6.is_some()),
                ..LinkChange::default()
            };
            nl.link_set(&self.host, link.index, change)
                .await
                .map_err(os)?;
            nl.link_by_name(&ns, &iface.dst_name)
                .await
                .map_err(os)?
                .ok_or_else(|| missing("the sandbox after the move"))?
                .index
        };
        for address in [iface.ipv4.map(IpNet::V4), iface.ipv6.map(IpNet::V6)]
            .into_iter()
            .flatten()
        {
            nl.addr_add(&ns, index, address).await.map_err(os)?;
        }
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        // Routes need the address and the link up first.
        nl.link_set(&ns, index, up).await.map_err(os)?;
        for route in Self::routes(iface, index, true) {
            nl.route_add(&ns, route).await.map_err(os)?;
        }
        Ok(())
    }

    async fn detach(&self, sandbox: &OsSandbox, iface: &Interface) -> Result<(), OsError> {
        let ns = self.namespace(sandbox)?;
        let nl = &self.nl;
        let Some(link) = nl.link_by_name(&ns, &iface.dst_name).await.map_err(os)? else {
            // Gone already (its namespace or its driver took it): nothing to undo.
            return Ok(());
        };
        // Down first: the kernel then drops the interface's routes and IPv6 addresses
        // by itself; one request also renames it back and, for one that was moved in,
        // moves it out (which drops its addresses too).
        let mut change = LinkChange {
            up: Some(false),
            name: Some(iface.src_name.clone()).filter(|n| *n != iface.dst_name),
            // Back to the kernel's default, which attach turned off for IPv4-only use.
            ipv6_autoconf: Some(true).filter(|_| iface.ipv6.is_none()),
            ..LinkChange::default()
        };
        if !iface.in_sandbox {
            change.netns = Some(self.host.clone());
        }
        nl.link_set(&ns, link.index, change).await.map_err(os)?;
        if iface.in_sandbox
            && let Some(v4) = iface.ipv4
        {
            match nl.addr_del(&ns, link.index, IpNet::V4(v4)).await {
                Ok(()) | Err(NetlinkError::NotFound(_)) => {}
                Err(e) => return Err(os(e)),
            }
        }
        Ok(())
    }

    async fn add_default_routes(
        &self,
        sandbox: &OsSandbox,
        iface: &Interface,
    ) -> Result<(), OsError> {
        let ns = self.namespace(sandbox)?;
        let Some(link) = self
            .nl
            .link_by_name(&ns, &iface.dst_name)
            .await
            .map_err(os)?
        else {
            return Err(OsError(format!(
                "interface `{}` is not in the sandbox",
                iface.dst_name
            )));
        };
        let only_defaults = Interface {
            routes: Vec::new(),
            ..iface.clone()
        };
        for route in Self::routes(&only_defaults, link.index, true) {
            self.nl.route_add(&ns, route).await.map_err(os)?;
        }
        Ok(())
    }
}
