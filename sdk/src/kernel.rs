//! The kernel capabilities: namespaces, links, addresses, routes and sysctl, as the
//! host lends them. Each call is checked by the host against the driver's manifest
//! (link kinds and name prefixes, sysctl keys) and its ledger (a driver changes only
//! links it created or adopted); a refusal comes back as a `forbidden` [`crate::Error`]
//! naming the rule.
//!
//! In native tests these functions work on the fake host of [`crate::testing`], which
//! keeps links, addresses, routes and sysctls in memory and enforces no policy but one:
//! an adopted link cannot be deleted.

use std::net::IpAddr;

use crate::{IpNet, MacAddress, Result};

/// A network namespace the host gave this driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Namespace(pub(crate) u32);

/// The host's namespace.
pub fn host() -> Namespace {
    Namespace(imp::host())
}

/// The namespace of sandbox `sandbox_id`: allowed only while an endpoint of this
/// driver is being created in it or is joined to it. The handle is valid until the
/// current driver call returns; ask again in the next one.
pub fn sandbox(sandbox_id: &str) -> Result<Namespace> {
    imp::sandbox(sandbox_id).map(Namespace)
}

/// macvlan modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    /// Endpoints on one parent reach each other directly.
    Bridge,
    /// No traffic between endpoints on one parent.
    Private,
    /// Traffic between endpoints goes through the external switch.
    Vepa,
    /// One endpoint owns the parent.
    Passthru,
}

/// The kind of a link to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// A veth pair.
    Veth {
        /// The other end's name.
        peer: String,
        /// Where the other end is created; the link's namespace if none.
        namespace: Option<Namespace>,
        /// The other end's MAC address.
        mac: Option<MacAddress>,
    },
    /// A macvlan on `parent`.
    Macvlan {
        /// The parent link's name.
        parent: String,
        /// The mode.
        mode: MacvlanMode,
    },
    /// A VXLAN tunnel end.
    Vxlan(Vxlan),
}

/// A VXLAN device's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vxlan {
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
    /// The underlay link it sends through, by name.
    pub parent: Option<String>,
    /// The local tunnel address.
    pub local: Option<IpAddr>,
    /// Where frames for unknown destinations go (a remote tunnel end or a multicast
    /// group); none when forwarding entries say where each MAC is.
    pub remote: Option<IpAddr>,
    /// The UDP port; 4789 when none.
    pub port: Option<u16>,
    /// Learn remote MACs from received traffic.
    pub learning: bool,
}

/// A neighbour entry on a link of this driver: an ARP/NDP entry (`ip` answers to
/// `mac`), or with `fdb` a forwarding entry of the link itself, whose `ip` on a VXLAN
/// is the remote tunnel end behind `mac`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The link.
    pub link: String,
    /// The MAC address.
    pub mac: MacAddress,
    /// The IP address (required for an ARP/NDP entry).
    pub ip: Option<IpAddr>,
    /// A forwarding-database entry rather than an ARP/NDP one.
    pub fdb: bool,
}

/// A link to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    /// Its name: within the manifest's prefixes in the host namespace, any valid name
    /// in a sandbox.
    pub name: String,
    /// Its kind (within the manifest's kinds).
    pub kind: LinkKind,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its MAC address.
    pub mac: Option<MacAddress>,
    /// The bridge (of this driver) it becomes a port of.
    pub master: Option<String>,
    /// Bring it up at once.
    pub up: bool,
}

impl NewLink {
    /// A link named `name` of `kind`, down, with the kernel's defaults.
    pub fn new(name: impl Into<String>, kind: LinkKind) -> Self {
        NewLink {
            name: name.into(),
            kind,
            mtu: None,
            mac: None,
            master: None,
            up: false,
        }
    }
}

/// Changes to a link of this driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    /// Up or down.
    pub up: Option<bool>,
    /// Attach to this bridge.
    pub master: Option<String>,
    /// Detach from its bridge.
    pub no_master: bool,
    /// A new MTU.
    pub mtu: Option<u32>,
    /// A new MAC address.
    pub mac: Option<MacAddress>,
    /// A new name.
    pub name: Option<String>,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its ifindex.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// The ifindex of its bridge.
    pub master: Option<u32>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its MAC address.
    pub mac: Option<MacAddress>,
}

/// A route through a link of this driver, in the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination.
    pub destination: IpNet,
    /// The next hop; none for a connected destination.
    pub gateway: Option<IpAddr>,
    /// The output link.
    pub link: String,
}

/// Links: create, delete, change, look up.
pub mod links {
    use super::{Link, LinkChange, Namespace, NewLink, imp};
    use crate::Result;

    /// Creates a link; returns its ifindex.
    pub fn create(ns: Namespace, link: &NewLink) -> Result<u32> {
        imp::link_create(ns.0, link)
    }
    /// Deletes a link this driver created.
    pub fn delete(ns: Namespace, name: &str) -> Result<()> {
        imp::link_delete(ns.0, name)
    }
    /// Changes a link this driver created.
    pub fn set(ns: Namespace, name: &str, change: &LinkChange) -> Result<()> {
        imp::link_set(ns.0, name, change)
    }
    /// The link named `name`.
    pub fn get(ns: Namespace, name: &str) -> Result<Option<Link>> {
        imp::link_get(ns.0, name)
    }
    /// Every link of the namespace.
    pub fn list(ns: Namespace) -> Result<Vec<Link>> {
        imp::link_list(ns.0)
    }
    /// Takes an existing link of the host namespace into this driver's use: it may
    /// then attach ports to it, address it, route through it and bring it up or down,
    /// but not delete, rename or move it. Only a link of a kind and a name prefix the
    /// manifest grants, and not one another driver holds. Returns its ifindex.
    pub fn adopt(ns: Namespace, name: &str) -> Result<u32> {
        imp::link_adopt(ns.0, name)
    }
    /// Gives back a link taken with [`adopt`]; the link itself stays.
    pub fn release(ns: Namespace, name: &str) -> Result<()> {
        imp::link_release(ns.0, name)
    }
}

/// Neighbour and forwarding entries on links of this driver (the overlay's ARP and
/// VXLAN forwarding tables). Entries are permanent and go with their link.
pub mod neighbours {
    use super::{Namespace, Neighbour, imp};
    use crate::Result;

    /// Adds an entry.
    pub fn add(ns: Namespace, entry: &Neighbour) -> Result<()> {
        imp::neigh_add(ns.0, entry)
    }
    /// Removes an entry.
    pub fn delete(ns: Namespace, entry: &Neighbour) -> Result<()> {
        imp::neigh_delete(ns.0, entry)
    }
    /// The permanent entries of a link.
    pub fn list(ns: Namespace, link: &str) -> Result<Vec<Neighbour>> {
        imp::neigh_list(ns.0, link)
    }
}

/// Addresses on links of this driver.
pub mod addresses {
    use super::{Namespace, imp};
    use crate::{IpNet, Result};

    /// Adds an address.
    pub fn add(ns: Namespace, link: &str, address: IpNet) -> Result<()> {
        imp::addr_add(ns.0, link, address)
    }
    /// Removes an address.
    pub fn delete(ns: Namespace, link: &str, address: IpNet) -> Result<()> {
        imp::addr_delete(ns.0, link, address)
    }
    /// A link's addresses.
    pub fn list(ns: Namespace, link: &str) -> Result<Vec<IpNet>> {
        imp::addr_list(ns.0, link)
    }
}

/// Routes through links of this driver.
pub mod routes {
    use super::{Namespace, Route, imp};
    use crate::Result;

    /// Adds a route.
    pub fn add(ns: Namespace, route: &Route) -> Result<()> {
        imp::route_add(ns.0, route)
    }
    /// Removes a route.
    pub fn delete(ns: Namespace, route: &Route) -> Result<()> {
        imp::route_delete(ns.0, route)
    }
}

/// sysctl keys the manifest grants.
pub mod sysctl {
    use super::{Namespace, imp};
    use crate::Result;

    /// Reads a key.
    pub fn get(ns: Namespace, key: &str) -> Result<String> {
        imp::sysctl_get(ns.0, key)
    }
    /// Sets a key.
    pub fn set(ns: Namespace, key: &str, value: &str) -> Result<()> {
        imp::sysctl_set(ns.0, key, value)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Link, LinkChange, LinkKind, MacvlanMode, Neighbour, NewLink, Route};
    use crate::bindings::convert::{from_wit, to_wit};
    use crate::bindings::network::wnet::driver::{
        addresses, links, neighbours, netns, routes, sysctl,
    };
    use crate::{IpNet, Result};

    pub(super) fn host() -> u32 {
        netns::host()
    }
    pub(super) fn sandbox(id: &str) -> Result<u32> {
        netns::sandbox(id).map_err(from_wit::error)
    }
    pub(super) fn link_create(ns: u32, link: &NewLink) -> Result<u32> {
        let kind = match &link.kind {
            // Its own host function (added to the contract after `create`).
            LinkKind::Vxlan(v) => {
                let settings = links::Vxlan {
                    vni: v.vni,
                    parent: v.parent.clone(),
                    local: v.local.map(to_wit::ip),
                    remote: v.remote.map(to_wit::ip),
                    port: v.port,
                    learning: v.learning,
                };
                let index = links::create_vxlan(
                    ns,
                    &link.name,
                    &settings,
                    link.master.as_deref(),
                    link.mtu,
                    link.up,
                )
                .map_err(from_wit::error)?;
                if let Some(mac) = link.mac {
                    let change = LinkChange {
                        mac: Some(mac),
                        ..LinkChange::default()
                    };
                    link_set(ns, &link.name, &change)?;
                }
                return Ok(index);
            }
            LinkKind::Bridge => links::LinkKind::Bridge,
            LinkKind::Veth {
                peer,
                namespace,
                mac,
            } => links::LinkKind::Veth(links::VethPeer {
                name: peer.clone(),
                namespace: namespace.map(|n| n.0),
                mac: mac.map(to_wit::mac),
            }),
            LinkKind::Macvlan { parent, mode } => links::LinkKind::Macvlan(links::Macvlan {
                parent: parent.clone(),
                mode: match mode {
                    MacvlanMode::Bridge => links::MacvlanMode::Bridge,
                    MacvlanMode::Private => links::MacvlanMode::Private,
                    MacvlanMode::Vepa => links::MacvlanMode::Vepa,
                    MacvlanMode::Passthru => links::MacvlanMode::Passthru,
                },
            }),
        };
        let wit = links::NewLink {
            name: link.name.clone(),
            kind,
            mtu: link.mtu,
            mac: link.mac.map(to_wit::mac),
            master: link.master.clone(),
            up: link.up,
        };
        links::create(ns, &wit).map_err(from_wit::error)
    }
    pub(super) fn link_delete(ns: u32, name: &str) -> Result<()> {
        links::delete(ns, name).map_err(from_wit::error)
    }
    pub(super) fn link_adopt(ns: u32, name: &str) -> Result<u32> {
        links::adopt(ns, name).map_err(from_wit::error)
    }
    pub(super) fn link_release(ns: u32, name: &str) -> Result<()> {
        links::release(ns, name).map_err(from_wit::error)
    }
    pub(super) fn link_set(ns: u32, name: &str, c: &LinkChange) -> Result<()> {
        let wit = links::LinkChange {
            up: c.up,
            master: c.master.clone(),
            no_master: c.no_master,
            mtu: c.mtu,
            mac: c.mac.map(to_wit::mac),
            name: c.name.clone(),
        };
        links::set(ns, name, &wit).map_err(from_wit::error)
    }
    fn link(l: links::Link) -> Link {
        Link {
            index: l.index,
            name: l.name,
            kind: l.kind,
            up: l.up,
            master: l.master,
            mtu: l.mtu,
            mac: l.mac.map(from_wit::mac),
        }
    }
    pub(super) fn link_get(ns: u32, name: &str) -> Result<Option<Link>> {
        links::get(ns, name)
            .map(|l| l.map(link))
            .map_err(from_wit::error)
    }
    pub(super) fn link_list(ns: u32) -> Result<Vec<Link>> {
        links::list(ns)
            .map(|ls| ls.into_iter().map(link).collect())
            .map_err(from_wit::error)
    }
    pub(super) fn addr_add(ns: u32, link: &str, a: IpNet) -> Result<()> {
        addresses::add(ns, link, to_wit::prefix(a)).map_err(from_wit::error)
    }
    pub(super) fn addr_delete(ns: u32, link: &str, a: IpNet) -> Result<()> {
        addresses::delete(ns, link, to_wit::prefix(a)).map_err(from_wit::error)
    }
    pub(super) fn addr_list(ns: u32, link: &str) -> Result<Vec<IpNet>> {
        addresses::list(ns, link)
            .map_err(from_wit::error)?
            .into_iter()
            .map(from_wit::prefix)
            .collect()
    }
    fn route(r: &Route) -> routes::Route {
        routes::Route {
            destination: to_wit::prefix(r.destination),
            gateway: r.gateway.map(to_wit::ip),
            link: r.link.clone(),
        }
    }
    pub(super) fn route_add(ns: u32, r: &Route) -> Result<()> {
        routes::add(ns, &route(r)).map_err(from_wit::error)
    }
    pub(super) fn route_delete(ns: u32, r: &Route) -> Result<()> {
        routes::delete(ns, &route(r)).map_err(from_wit::error)
    }
    pub(super) fn sysctl_get(ns: u32, key: &str) -> Result<String> {
        sysctl::get(ns, key).map_err(from_wit::error)
    }
    fn neighbour(n: &Neighbour) -> neighbours::Neighbour {
        neighbours::Neighbour {
            link: n.link.clone(),
            mac: to_wit::mac(n.mac),
            ip: n.ip.map(to_wit::ip),
            fdb: n.fdb,
        }
    }
    pub(super) fn neigh_add(ns: u32, n: &Neighbour) -> Result<()> {
        neighbours::add(ns, &neighbour(n)).map_err(from_wit::error)
    }
    pub(super) fn neigh_delete(ns: u32, n: &Neighbour) -> Result<()> {
        neighbours::delete(ns, &neighbour(n)).map_err(from_wit::error)
    }
    pub(super) fn neigh_list(ns: u32, link: &str) -> Result<Vec<Neighbour>> {
        Ok(neighbours::list(ns, link)
            .map_err(from_wit::error)?
            .into_iter()
            .map(|n| Neighbour {
                link: n.link,
                mac: from_wit::mac(n.mac),
                ip: n.ip.map(from_wit::ip),
                fdb: n.fdb,
            })
            .collect())
    }
    pub(super) fn sysctl_set(ns: u32, key: &str, value: &str) -> Result<()> {
        sysctl::set(ns, key, value).map_err(from_wit::error)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Link, LinkChange, LinkKind, Neighbour, NewLink, Route};
    use crate::testing::with_host;
    use crate::{Error, IpNet, Result};

    pub(super) fn host() -> u32 {
        0
    }
    pub(super) fn sandbox(id: &str) -> Result<u32> {
        Ok(with_host(|h| h.kernel.namespace(id)))
    }
    pub(super) fn link_create(ns: u32, link: &NewLink) -> Result<u32> {
        with_host(|h| {
            let k = &mut h.kernel;
            if k.find(ns, &link.name).is_some() {
                return Err(Error::conflict(format!("link {} exists", link.name)));
            }
            if let LinkKind::Veth {
                peer, namespace, ..
            } = &link.kind
                && k.find(namespace.map_or(ns, |n| n.0), peer).is_some()
            {
                return Err(Error::conflict(format!("link {peer} exists")));
            }
            let master = match &link.master {
                Some(m) => Some(
                    k.find(ns, m)
                        .ok_or_else(|| Error::not_found(format!("no link {m}")))?
                        .index,
                ),
                None => None,
            };
            let index = k.add(
                ns,
                &link.name,
                kind_name(&link.kind),
                link.mac,
                link.mtu,
                master,
                link.up,
            );
            if let LinkKind::Veth {
                peer,
                namespace,
                mac,
            } = &link.kind
            {
                let peer_ns = namespace.map_or(ns, |n| n.0);
                k.add(peer_ns, peer, "veth", *mac, link.mtu, None, false);
            }
            Ok(index)
        })
    }
    fn kind_name(kind: &LinkKind) -> &'static str {
        match kind {
            LinkKind::Bridge => "bridge",
            LinkKind::Veth { .. } => "veth",
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Vxlan(_) => "vxlan",
        }
    }
    pub(super) fn neigh_add(ns: u32, n: &Neighbour) -> Result<()> {
        with_host(|h| {
            if h.kernel.find(ns, &n.link).is_none() {
                return Err(Error::not_found(format!("no link {}", n.link)));
            }
            if !n.fdb && n.ip.is_none() {
                return Err(Error::invalid_parameter(
                    "an ARP/NDP entry needs the IP address it answers to",
                ));
            }
            if h.kernel.neighbours.iter().any(|(s, e)| *s == ns && e == n) {
                return Err(Error::conflict(format!("neighbour {} exists", n.mac)));
            }
            h.kernel.neighbours.push((ns, n.clone()));
            Ok(())
        })
    }
    pub(super) fn neigh_delete(ns: u32, n: &Neighbour) -> Result<()> {
        with_host(|h| {
            let before = h.kernel.neighbours.len();
            h.kernel.neighbours.retain(|(s, e)| !(*s == ns && e == n));
            if h.kernel.neighbours.len() == before {
                return Err(Error::not_found(format!("no neighbour {}", n.mac)));
            }
            Ok(())
        })
    }
    pub(super) fn neigh_list(ns: u32, link: &str) -> Result<Vec<Neighbour>> {
        Ok(with_host(|h| {
            h.kernel
                .neighbours
                .iter()
                .filter(|(s, e)| *s == ns && e.link == link)
                .map(|(_, e)| e.clone())
                .collect()
        }))
    }
    pub(super) fn link_adopt(ns: u32, name: &str) -> Result<u32> {
        with_host(|h| {
            let index = h
                .kernel
                .find(ns, name)
                .ok_or_else(|| Error::not_found(format!("link `{name}` does not exist")))?
                .index;
            h.kernel.adopted.insert((ns, name.to_owned()));
            Ok(index)
        })
    }
    pub(super) fn link_release(ns: u32, name: &str) -> Result<()> {
        with_host(|h| {
            if h.kernel.adopted.remove(&(ns, name.to_owned())) {
                Ok(())
            } else {
                Err(Error::forbidden(format!(
                    "link `{name}` was not adopted by this driver"
                )))
            }
        })
    }
    pub(super) fn link_delete(ns: u32, name: &str) -> Result<()> {
        with_host(|h| {
            // The one rule the fake keeps: the host never lets a driver delete a link
            // it adopted, and a driver that tries is wrong however it is tested.
            if h.kernel.adopted.contains(&(ns, name.to_owned())) {
                return Err(Error::forbidden(format!(
                    "link `{name}` was adopted, not created, by this driver"
                )));
            }
            let before = h.kernel.links.len();
            h.kernel
                .links
                .retain(|(n, l)| !(*n == ns && l.name == name));
            if h.kernel.links.len() == before {
                return Err(Error::not_found(format!("no link {name}")));
            }
            h.kernel
                .neighbours
                .retain(|(n, e)| !(*n == ns && e.link == name));
            Ok(())
        })
    }
    pub(super) fn link_set(ns: u32, name: &str, c: &LinkChange) -> Result<()> {
        with_host(|h| {
            let k = &mut h.kernel;
            let master = match &c.master {
                Some(m) => Some(
                    k.find(ns, m)
                        .ok_or_else(|| Error::not_found(format!("no link {m}")))?
                        .index,
                ),
                None => None,
            };
            let link = k
                .links
                .iter_mut()
                .find(|(n, l)| *n == ns && l.name == name)
                .map(|(_, l)| l)
                .ok_or_else(|| Error::not_found(format!("no link {name}")))?;
            if let Some(up) = c.up {
                link.up = up;
            }
            if master.is_some() {
                link.master = master;
            }
            if c.no_master {
                link.master = None;
            }
            if c.mtu.is_some() {
                link.mtu = c.mtu;
            }
            if c.mac.is_some() {
                link.mac = c.mac;
            }
            if let Some(new) = &c.name {
                link.name = new.clone();
            }
            Ok(())
        })
    }
    pub(super) fn link_get(ns: u32, name: &str) -> Result<Option<Link>> {
        Ok(with_host(|h| h.kernel.find(ns, name).cloned()))
    }
    pub(super) fn link_list(ns: u32) -> Result<Vec<Link>> {
        Ok(with_host(|h| {
            h.kernel
                .links
                .iter()
                .filter(|(n, _)| *n == ns)
                .map(|(_, l)| l.clone())
                .collect()
        }))
    }
    pub(super) fn addr_add(ns: u32, link: &str, a: IpNet) -> Result<()> {
        with_host(|h| {
            h.kernel
                .find(ns, link)
                .ok_or_else(|| Error::not_found(format!("no link {link}")))?;
            h.kernel.addresses.push((ns, link.to_owned(), a));
            Ok(())
        })
    }
    pub(super) fn addr_delete(ns: u32, link: &str, a: IpNet) -> Result<()> {
        with_host(|h| {
            h.kernel
                .addresses
                .retain(|(n, l, x)| !(*n == ns && l == link && *x == a));
            Ok(())
        })
    }
    pub(super) fn addr_list(ns: u32, link: &str) -> Result<Vec<IpNet>> {
        Ok(with_host(|h| {
            h.kernel
                .addresses
                .iter()
                .filter(|(n, l, _)| *n == ns && l == link)
                .map(|(_, _, a)| *a)
                .collect()
        }))
    }
    pub(super) fn route_add(ns: u32, r: &Route) -> Result<()> {
        with_host(|h| {
            h.kernel.routes.push((ns, r.clone()));
            Ok(())
        })
    }
    pub(super) fn route_delete(ns: u32, r: &Route) -> Result<()> {
        with_host(|h| {
            h.kernel.routes.retain(|(n, x)| !(*n == ns && x == r));
            Ok(())
        })
    }
    pub(super) fn sysctl_get(ns: u32, key: &str) -> Result<String> {
        Ok(with_host(|h| {
            h.kernel
                .sysctls
                .get(&(ns, key.to_owned()))
                .cloned()
                .unwrap_or_default()
        }))
    }
    pub(super) fn sysctl_set(ns: u32, key: &str, value: &str) -> Result<()> {
        with_host(|h| {
            h.kernel
                .sysctls
                .insert((ns, key.to_owned()), value.to_owned());
            Ok(())
        })
    }
}
