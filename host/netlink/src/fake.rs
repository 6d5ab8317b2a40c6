//! An in-memory [`Netlink`] for tests that need no privileges: links, addresses and
//! routes per namespace, with the kernel's basic refusals (duplicate names, unknown
//! indexes, duplicate addresses and routes).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use wnet_types::IpNet;

use crate::{
    Address, Link, LinkChange, LinkKind, Namespace, Neighbour, Netlink, NetlinkError, NewLink,
    Result, Route,
};

struct Space {
    links: Vec<Link>,
    addrs: Vec<Address>,
    routes: Vec<Route>,
    neighbours: Vec<Neighbour>,
    next_index: u32,
}

/// A fresh namespace holds only `lo`, as ifindex 1.
impl Default for Space {
    fn default() -> Self {
        Space {
            links: vec![Link {
                index: 1,
                name: "lo".to_owned(),
                kind: None,
                up: false,
                master: None,
                mtu: Some(65536),
                mac: None,
                group: 0,
            }],
            addrs: Vec::new(),
            routes: Vec::new(),
            neighbours: Vec::new(),
            next_index: 2,
        }
    }
}

/// The fake kernel. Namespaces are told apart by their inode, as the real ones.
#[derive(Default)]
pub struct FakeNetlink {
    spaces: Mutex<HashMap<u64, Space>>,
}

impl FakeNetlink {
    /// An empty fake kernel.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, ns: &Namespace, f: impl FnOnce(&mut Space) -> R) -> R {
        let mut spaces = self.spaces.lock().unwrap_or_else(PoisonError::into_inner);
        f(spaces.entry(ns.inode()).or_default())
    }
}

fn exists(op: String) -> NetlinkError {
    NetlinkError::kernel(op, libc::EEXIST)
}

fn no_device(op: String) -> NetlinkError {
    NetlinkError::kernel(op, libc::ENODEV)
}

#[async_trait]
impl Netlink for FakeNetlink {
    async fn link_add(&self, ns: &Namespace, link: NewLink) -> Result<u32> {
        if let LinkKind::Veth {
            peer_name,
            peer_ns: Some(peer_ns),
            peer_mac,
        } = &link.kind
            && peer_ns != ns
        {
            self.with(peer_ns, |s| {
                if s.links.iter().any(|l| l.name == *peer_name) {
                    return Err(exists(format!("create link {peer_name}")));
                }
                let index = s.next_index;
                s.next_index += 1;
                s.links.push(Link {
                    index,
                    name: peer_name.clone(),
                    kind: Some("veth".to_owned()),
                    up: false,
                    master: None,
                    mtu: link.mtu,
                    mac: *peer_mac,
                    group: link.group,
                });
                Ok(())
            })?;
        }
        self.with(ns, |s| {
            if s.links.iter().any(|l| l.name == link.name) {
                return Err(exists(format!("create link {}", link.name)));
            }
            let kind = match &link.kind {
                LinkKind::Bridge => "bridge",
                LinkKind::Veth { .. } => "veth",
                LinkKind::Macvlan { parent, .. } => {
                    if !s.links.iter().any(|l| l.index == *parent) {
                        return Err(no_device(format!(
                            "create link {}: parent {parent}",
                            link.name
                        )));
                    }
                    "macvlan"
                }
                LinkKind::Vxlan(v) => {
                    if v.parent
                        .is_some_and(|p| !s.links.iter().any(|l| l.index == p))
                    {
                        return Err(no_device(format!("create link {}: parent", link.name)));
                    }
                    "vxlan"
                }
            };
            let index = s.next_index;
            s.next_index += 1;
            s.links.push(Link {
                index,
                name: link.name.clone(),
                kind: Some(kind.to_owned()),
                up: link.up,
                master: link.master,
                mtu: link.mtu,
                mac: link.mac,
                group: link.group,
            });
            Ok(index)
        })
    }

    async fn link_del(&self, ns: &Namespace, index: u32) -> Result<()> {
        self.with(ns, |s| {
            let before = s.links.len();
            s.links.retain(|l| l.index != index);
            if s.links.len() == before {
                return Err(no_device(format!("delete link {index}")));
            }
            s.addrs.retain(|a| a.index != index);
            s.routes.retain(|r| r.oif != Some(index));
            s.neighbours.retain(|n| n.index != index);
            Ok(())
        })
    }

    async fn link_set(&self, ns: &Namespace, index: u32, change: LinkChange) -> Result<()> {
        let moved = self.with(ns, |s| {
            if let Some(name) = &change.name
                && s.links.iter().any(|l| l.name == *name && l.index != index)
            {
                return Err(exists(format!("rename link {index} to {name}")));
            }
            let link = s
                .links
                .iter_mut()
                .find(|l| l.index == index)
                .ok_or_else(|| no_device(format!("change link {index}")))?;
            if let Some(up) = change.up {
                link.up = up;
            }
            if let Some(master) = change.master {
                link.master = master;
            }
            if change.mtu.is_some() {
                link.mtu = change.mtu;
            }
            if change.mac.is_some() {
                link.mac = change.mac;
            }
            if let Some(name) = &change.name {
                link.name = name.clone();
            }
            match &change.netns {
                Some(target) if target != ns => {
                    let link = link.clone();
                    s.links.retain(|l| l.index != index);
                    s.addrs.retain(|a| a.index != index);
                    Ok(Some((target.clone(), link)))
                }
                _ => Ok(None),
            }
        })?;
        if let Some((target, mut link)) = moved {
            self.with(&target, |s| {
                link.index = s.next_index;
                s.next_index += 1;
                link.master = None;
                s.links.push(link);
            });
        }
        Ok(())
    }

    async fn links(&self, ns: &Namespace) -> Result<Vec<Link>> {
        Ok(self.with(ns, |s| s.links.clone()))
    }

    async fn link_by_name(&self, ns: &Namespace, name: &str) -> Result<Option<Link>> {
        Ok(self.with(ns, |s| s.links.iter().find(|l| l.name == name).cloned()))
    }

    async fn addr_add(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        self.with(ns, |s| {
            if !s.links.iter().any(|l| l.index == index) {
                return Err(no_device(format!("add address {address} to link {index}")));
            }
            if s.addrs
                .iter()
                .any(|a| a.index == index && a.address == address)
            {
                return Err(exists(format!("add address {address} to link {index}")));
            }
            s.addrs.push(Address { index, address });
            Ok(())
        })
    }

    async fn addr_del(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        self.with(ns, |s| {
            let before = s.addrs.len();
            s.addrs
                .retain(|a| !(a.index == index && a.address == address));
            if s.addrs.len() == before {
                return Err(NetlinkError::NotFound(format!(
                    "address {address} on link {index}"
                )));
            }
            Ok(())
        })
    }

    async fn addrs(&self, ns: &Namespace) -> Result<Vec<Address>> {
        Ok(self.with(ns, |s| s.addrs.clone()))
    }

    async fn route_add(&self, ns: &Namespace, route: Route) -> Result<()> {
        self.with(ns, |s| {
            if s.routes
                .iter()
                .any(|r| r.destination == route.destination && r.table == route.table)
            {
                return Err(exists(format!("add route to {}", route.destination)));
            }
            s.routes.push(route);
            Ok(())
        })
    }

    async fn route_del(&self, ns: &Namespace, route: Route) -> Result<()> {
        self.with(ns, |s| {
            let before = s.routes.len();
            s.routes
                .retain(|r| !(r.destination == route.destination && r.table == route.table));
            if s.routes.len() == before {
                return Err(NetlinkError::kernel(
                    format!("delete route to {}", route.destination),
                    libc::ESRCH,
                ));
            }
            Ok(())
        })
    }

    async fn routes(&self, ns: &Namespace) -> Result<Vec<Route>> {
        Ok(self.with(ns, |s| s.routes.clone()))
    }

    async fn neigh_add(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        self.with(ns, |s| {
            let op = || format!("add neighbour {} on link {}", entry.mac, entry.index);
            if !s.links.iter().any(|l| l.index == entry.index) {
                return Err(no_device(op()));
            }
            if !entry.fdb && entry.ip.is_none() {
                return Err(NetlinkError::kernel(op(), libc::EINVAL));
            }
            if s.neighbours.contains(&entry) {
                return Err(exists(op()));
            }
            s.neighbours.push(entry);
            Ok(())
        })
    }

    async fn neigh_del(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        self.with(ns, |s| {
            let before = s.neighbours.len();
            s.neighbours.retain(|n| *n != entry);
            if s.neighbours.len() == before {
                return Err(NetlinkError::NotFound(format!(
                    "neighbour {} on link {}",
                    entry.mac, entry.index
                )));
            }
            Ok(())
        })
    }

    async fn neighbours(&self, ns: &Namespace, index: u32) -> Result<Vec<Neighbour>> {
        Ok(self.with(ns, |s| {
            s.neighbours
                .iter()
                .filter(|n| n.index == index)
                .copied()
                .collect()
        }))
    }

    fn forget(&self, ns: &Namespace) {
        self.spaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&ns.inode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        run(async {
            let nl = FakeNetlink::new();
            let ns = Namespace::current().unwrap();
            let br = nl
                .link_add(&ns, NewLink::new("br0", LinkKind::Bridge))
                .await
                .unwrap();
            let dup = nl
                .link_add(&ns, NewLink::new("br0", LinkKind::Bridge))
                .await
                .unwrap_err();
            assert_eq!(dup.errno(), Some(libc::EEXIST));
            let net: IpNet = "10.0.0.1/24".parse().unwrap();
            nl.addr_add(&ns, br, net).await.unwrap();
            assert_eq!(
                nl.addr_add(&ns, br, net).await.unwrap_err().errno(),
                Some(libc::EEXIST)
            );
            assert_eq!(
                nl.link_del(&ns, 99).await.unwrap_err().errno(),
                Some(libc::ENODEV)
            );
            nl.link_del(&ns, br).await.unwrap();
            assert!(
                nl.addrs(&ns).await.unwrap().is_empty(),
                "addresses go with their link"
            );
            let lo = nl.link_by_name(&ns, "lo").await.unwrap().unwrap();
            assert_eq!(lo.index, 1);
        });
    }
}
