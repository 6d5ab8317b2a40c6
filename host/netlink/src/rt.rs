//! [`Netlink`] over rtnetlink: one connection per namespace, its socket opened inside
//! the namespace ([`Namespace::run`]) and kept while the namespace is in use.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage, MacVlanMode as RtMacvlanMode,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteScope};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{Socket, TokioSocket, protocols::NETLINK_ROUTE};
use rtnetlink::{
    Handle, LinkBridge, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan,
    RouteMessageBuilder,
};
use wnet_types::{IpNet, MacAddress};

use crate::{
    Address, Link, LinkChange, LinkKind, MacvlanMode, Namespace, Neighbour, Netlink, NetlinkError,
    NewLink, Result, Route,
};

/// The kernel, through rtnetlink. Needs a tokio runtime (its connections run as tasks).
#[derive(Default)]
pub struct RtNetlink {
    handles: Mutex<HashMap<u64, Handle>>,
}

impl RtNetlink {
    /// No connection yet; each namespace gets one at its first use.
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(&self, ns: &Namespace) -> Result<Handle> {
        let mut handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = handles.get(&ns.inode()) {
            return Ok(h.clone());
        }
        // The socket is made inside the namespace and stays there after the thread exits.
        let socket = ns
            .run(|| Socket::new(NETLINK_ROUTE))?
            .map_err(|e| NetlinkError::Other {
                op: format!("open a netlink socket in {}", ns.path().display()),
                reason: e.to_string(),
            })?;
        // SAFETY: the descriptor comes from `into_raw_fd` of a socket we own, so the
        // new owner is its only owner.
        #[expect(unsafe_code, reason = "netlink-sys offers only FromRawFd")]
        let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, handle, _) = rtnetlink::from_socket(socket);
        tokio::spawn(connection);
        handles.insert(ns.inode(), handle.clone());
        Ok(handle)
    }
}

fn err(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let op = op.into();
    move |e| match e {
        rtnetlink::Error::NetlinkError(m) => NetlinkError::kernel(op, -m.raw_code()),
        other => NetlinkError::Other {
            op,
            reason: other.to_string(),
        },
    }
}

fn with_common<T>(mut b: LinkMessageBuilder<T>, link: &NewLink) -> LinkMessage {
    if let Some(mtu) = link.mtu {
        b = b.mtu(mtu);
    }
    if let Some(mac) = link.mac {
        b = b.address(mac.octets().to_vec());
    }
    if let Some(master) = link.master {
        b = b.controller(master);
    }
    if link.group != 0 {
        b = b.append_extra_attribute(LinkAttribute::Group(link.group));
    }
    // A link without IPv6 autoconfiguration comes up only after that is set: the
    // kernel takes the setting in a SETLINK, not in the NEWLINK.
    if link.up && link.ipv6_autoconf {
        b = b.up();
    }
    b.build()
}

/// One transmit and one receive queue for a veth end. Without them the kernel
/// allocates one queue per CPU and then cuts the device down to one in use, and that
/// cut waits for an expedited RCU grace period under the RTNL lock: 0.1–0.6 ms per end
/// measured here, twice per pair. One queue is what a veth uses by default anyway
/// (`ip link add … numtxqueues 1 numrxqueues 1` does the same).
fn one_queue() -> [LinkAttribute; 2] {
    [LinkAttribute::NumTxQueues(1), LinkAttribute::NumRxQueues(1)]
}

/// `addrgenmode none`: no IPv6 link-local address, so no DAD, RS or MLD chatter.
fn no_ipv6_autoconf() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::None,
    )])])
}

/// `addrgenmode eui64`: the kernel's default.
fn ipv6_autoconf() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::Eui64,
    )])])
}

fn parse_link(m: &LinkMessage) -> Option<Link> {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        up: m.header.flags.contains(LinkFlags::Up),
        master: None,
        mtu: None,
        mac: None,
        group: 0,
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::Group(g) => link.group = *g,
            LinkAttribute::Controller(c) => link.master = Some(*c),
            LinkAttribute::Address(a) if a.len() == 6 => {
                link.mac = Some(MacAddress([a[0], a[1], a[2], a[3], a[4], a[5]]));
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    (!link.name.is_empty()).then_some(link)
}

fn route_message(route: &Route) -> Result<RouteMessage> {
    let bad = |e: String| NetlinkError::Other {
        op: format!("route to {}", route.destination),
        reason: e,
    };
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.destination.addr(), route.destination.prefix_len())
        .map_err(|e| bad(e.to_string()))?;
    if let Some(gw) = route.gateway {
        b = b.gateway(gw).map_err(|e| bad(e.to_string()))?;
    } else {
        // No next hop: a route to a directly connected destination.
        b = b.scope(RouteScope::Link);
    }
    if let Some(oif) = route.oif {
        b = b.output_interface(oif);
    }
    Ok(b.table_id(route.table).build())
}

fn parse_route(m: &RouteMessage) -> Option<Route> {
    let mut table = u32::from(m.header.table);
    let (mut dst, mut gateway, mut oif) = (None, None, None);
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = addr(a),
            RouteAttribute::Gateway(a) => gateway = addr(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    let dst = match dst {
        Some(d) => d,
        None if m.header.address_family == AddressFamily::Inet6 => {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        }
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    Some(Route {
        destination: IpNet::new(dst, m.header.destination_prefix_length).ok()?,
        gateway,
        oif,
        table,
    })
}

/// The IANA VXLAN port (the kernel's default, 8472, predates it).
const VXLAN_PORT: u16 = 4789;

/// A permanent entry, and for the forwarding database one of the link itself (`self`,
/// not the entries a bridge keeps for its ports).
fn parse_neighbour(m: &NeighbourMessage) -> Option<Neighbour> {
    if m.header.state != NeighbourState::Permanent {
        return None;
    }
    let fdb = m.header.family == AddressFamily::Bridge;
    if fdb && !m.header.flags.contains(NeighbourFlags::Own) {
        return None;
    }
    let mut mac = None;
    let mut ip = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                mac = Some(MacAddress([l[0], l[1], l[2], l[3], l[4], l[5]]));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                ip = Some(IpAddr::V4(*v4));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                ip = Some(IpAddr::V6(*v6));
            }
            // A forwarding entry's remote end comes undecoded (its family is AF_BRIDGE).
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                ip = match b.len() {
                    4 => Some(IpAddr::from([b[0], b[1], b[2], b[3]])),
                    16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                    _ => None,
                };
            }
            _ => {}
        }
    }
    Some(Neighbour {
        index: m.header.ifindex,
        mac: mac?,
        ip,
        fdb,
    })
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn parse_address(m: &AddressMessage) -> Option<Address> {
    let ip = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    })?;
    Some(Address {
        index: m.header.index,
        address: IpNet::new(ip, m.header.prefix_len).ok()?,
    })
}

#[async_trait]
impl Netlink for RtNetlink {
    async fn link_add(&self, ns: &Namespace, link: NewLink) -> Result<u32> {
        let mut h = self.handle(ns)?;
        let message = match &link.kind {
            LinkKind::Bridge => with_common(LinkBridge::new(&link.name), &link),
            LinkKind::Veth {
                peer_name,
                peer_ns,
                peer_mac,
            } => {
                let mut peer = LinkUnspec::new_with_name(peer_name);
                if let Some(peer_ns) = peer_ns {
                    peer = peer.setns_by_fd(peer_ns.fd().as_raw_fd());
                }
                if let Some(mac) = peer_mac {
                    peer = peer.address(mac.octets().to_vec());
                }
                if let Some(mtu) = link.mtu {
                    peer = peer.mtu(mtu);
                }
                if link.group != 0 {
                    peer = peer.append_extra_attribute(LinkAttribute::Group(link.group));
                }
                for q in one_queue() {
                    peer = peer.append_extra_attribute(q);
                }
                let mut b = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                    .name(link.name.clone())
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
                for q in one_queue() {
                    b = b.append_extra_attribute(q);
                }
                with_common(b, &link)
            }
            LinkKind::Macvlan { parent, mode } => {
                let mode = match mode {
                    MacvlanMode::Bridge => RtMacvlanMode::Bridge,
                    MacvlanMode::Private => RtMacvlanMode::Private,
                    MacvlanMode::Vepa => RtMacvlanMode::Vepa,
                    MacvlanMode::Passthru => RtMacvlanMode::Passthrough,
                };
                with_common(LinkMacVlan::new(&link.name, *parent, mode), &link)
            }
            LinkKind::Vxlan(v) => {
                let mut b = LinkVxlan::new(&link.name, v.vni)
                    .port(v.port.unwrap_or(VXLAN_PORT))
                    .learning(v.learning);
                if let Some(parent) = v.parent {
                    b = b.dev(parent);
                }
                b = match v.local {
                    Some(IpAddr::V4(a)) => b.local(a),
                    Some(IpAddr::V6(a)) => b.local6(a),
                    None => b,
                };
                b = match v.remote {
                    Some(IpAddr::V4(a)) if a.is_multicast() => b.group(a),
                    Some(IpAddr::V4(a)) => b.remote(a),
                    Some(IpAddr::V6(a)) if a.is_multicast() => b.group6(a),
                    Some(IpAddr::V6(a)) => b.remote6(a),
                    None => b,
                };
                with_common(b, &link)
            }
        };
        let op = format!("create link {} in {}", link.name, ns.path().display());
        // NLM_F_ECHO: the kernel (6.2 and later) answers with the new link, so its index
        // costs no second request; an older one does not, and it is looked up by name.
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewLink(message));
        request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO;
        let mut answers = h.request(request).map_err(err(op.clone()))?;
        let mut echoed = None;
        while let Some(answer) = answers.next().await {
            match answer.payload {
                NetlinkPayload::Error(e) => {
                    return Err(err(op.clone())(rtnetlink::Error::NetlinkError(e)));
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    echoed = parse_link(&m)
                        .filter(|l| l.name == link.name)
                        .map(|l| l.index);
                }
                _ => {}
            }
        }
        let index = match echoed {
            Some(index) => index,
            None => match self.link_by_name(ns, &link.name).await? {
                Some(l) => l.index,
                None => {
                    return Err(NetlinkError::NotFound(format!(
                        "{op}: created but not found"
                    )));
                }
            },
        };
        if !link.ipv6_autoconf {
            let change = LinkChange {
                ipv6_autoconf: Some(false),
                up: link.up.then_some(true),
                ..LinkChange::default()
            };
            self.link_set(ns, index, change).await?;
        }
        Ok(index)
    }

    async fn link_del(&self, ns: &Namespace, index: u32) -> Result<()> {
        let h = self.handle(ns)?;
        h.link().del(index).execute().await.map_err(err(format!(
            "delete link {index} in {}",
            ns.path().display()
        )))
    }

    async fn link_set(&self, ns: &Namespace, index: u32, change: LinkChange) -> Result<()> {
        let h = self.handle(ns)?;
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(target) = &change.netns {
            b = b.setns_by_fd(target.fd().as_raw_fd());
        }
        if let Some(mac) = change.mac {
            b = b.address(mac.octets().to_vec());
        }
        if let Some(mtu) = change.mtu {
            b = b.mtu(mtu);
        }
        if let Some(name) = &change.name {
            b = b.name(name.clone());
        }
        match change.master {
            Some(Some(m)) => b = b.controller(m),
            Some(None) => b = b.nocontroller(),
            None => {}
        }
        match change.up {
            Some(true) => b = b.up(),
            Some(false) => b = b.down(),
            None => {}
        }
        match change.ipv6_autoconf {
            Some(false) => b = b.append_extra_attribute(no_ipv6_autoconf()),
            Some(true) => b = b.append_extra_attribute(ipv6_autoconf()),
            None => {}
        }
        h.link().set(b.build()).execute().await.map_err(err(format!(
            "change link {index} in {}",
            ns.path().display()
        )))
    }

    async fn links(&self, ns: &Namespace) -> Result<Vec<Link>> {
        let h = self.handle(ns)?;
        let messages: Vec<LinkMessage> = h
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(err(format!("list links in {}", ns.path().display())))?;
        Ok(messages.iter().filter_map(parse_link).collect())
    }

    async fn link_by_name(&self, ns: &Namespace, name: &str) -> Result<Option<Link>> {
        let h = self.handle(ns)?;
        match h
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await
        {
            Ok(m) => Ok(m.as_ref().and_then(parse_link)),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::ENODEV => Ok(None),
            Err(e) => Err(err(format!("find link {name} in {}", ns.path().display()))(
                e,
            )),
        }
    }

    async fn addr_add(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        let h = self.handle(ns)?;
        let mut req = h.address().add(index, address.addr(), address.prefix_len());
        if address.addr().is_ipv6() {
            // Without it the address stays tentative for a second or two (DAD).
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute().await.map_err(err(format!(
            "add address {address} to link {index} in {}",
            ns.path().display()
        )))
    }

    async fn addr_del(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()> {
        let h = self.handle(ns)?;
        let op = format!(
            "delete address {address} from link {index} in {}",
            ns.path().display()
        );
        // The kernel finds the address by link, family, prefix and local address: no
        // dump needed to name it.
        let mut m = AddressMessage::default();
        m.header.family = match address {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        };
        m.header.prefix_len = address.prefix_len();
        m.header.index = index;
        m.attributes.push(AddressAttribute::Address(address.addr()));
        if address.addr().is_ipv4() {
            m.attributes.push(AddressAttribute::Local(address.addr()));
        }
        match h.address().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e))
                if matches!(
                    -e.raw_code(),
                    libc::EADDRNOTAVAIL | libc::ENOENT | libc::ENODEV
                ) =>
            {
                Err(NetlinkError::NotFound(format!("{op}: no such address")))
            }
            Err(e) => Err(err(op)(e)),
        }
    }

    async fn addrs(&self, ns: &Namespace) -> Result<Vec<Address>> {
        let h = self.handle(ns)?;
        let messages: Vec<AddressMessage> = h
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(err(format!("list addresses in {}", ns.path().display())))?;
        Ok(messages.iter().filter_map(parse_address).collect())
    }

    async fn route_add(&self, ns: &Namespace, route: Route) -> Result<()> {
        let h = self.handle(ns)?;
        h.route()
            .add(route_message(&route)?)
            .execute()
            .await
            .map_err(err(format!(
                "add route to {} in {}",
                route.destination,
                ns.path().display()
            )))
    }

    async fn route_del(&self, ns: &Namespace, route: Route) -> Result<()> {
        let h = self.handle(ns)?;
        h.route()
            .del(route_message(&route)?)
            .execute()
            .await
            .map_err(err(format!(
                "delete route to {} in {}",
                route.destination,
                ns.path().display()
            )))
    }

    async fn routes(&self, ns: &Namespace) -> Result<Vec<Route>> {
        let h = self.handle(ns)?;
        let mut out = Vec::new();
        for query in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let messages: Vec<RouteMessage> = h
                .route()
                .get(query)
                .execute()
                .try_collect()
                .await
                .map_err(err(format!("list routes in {}", ns.path().display())))?;
            out.extend(
                messages
                    .iter()
                    .filter_map(parse_route)
                    .filter(|r| r.table == crate::MAIN_TABLE),
            );
        }
        Ok(out)
    }

    async fn neigh_add(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        let h = self.handle(ns)?;
        let op = format!(
            "add neighbour {} on link {} in {}",
            entry.mac,
            entry.index,
            ns.path().display()
        );
        let request = if entry.fdb {
            let mut r = h
                .neighbours()
                .add_bridge(entry.index, &entry.mac.octets())
                .flags(NeighbourFlags::Own);
            if let Some(ip) = entry.ip {
                r = r.destination(ip);
            }
            r
        } else {
            let Some(ip) = entry.ip else {
                return Err(NetlinkError::kernel(op, libc::EINVAL));
            };
            h.neighbours()
                .add(entry.index, ip)
                .link_layer_address(&entry.mac.octets())
        };
        request.execute().await.map_err(err(op))
    }

    async fn neigh_del(&self, ns: &Namespace, entry: Neighbour) -> Result<()> {
        let h = self.handle(ns)?;
        let mut m = NeighbourMessage::default();
        m.header.ifindex = entry.index;
        m.header.family = match (entry.fdb, entry.ip) {
            (true, _) => AddressFamily::Bridge,
            (false, Some(IpAddr::V6(_))) => AddressFamily::Inet6,
            (false, _) => AddressFamily::Inet,
        };
        if entry.fdb {
            m.header.flags = NeighbourFlags::Own;
        }
        m.attributes.push(NeighbourAttribute::LinkLayerAddress(
            entry.mac.octets().to_vec(),
        ));
        if let Some(ip) = entry.ip {
            m.attributes.push(NeighbourAttribute::Destination(match ip {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        }
        h.neighbours().del(m).execute().await.map_err(err(format!(
            "delete neighbour {} on link {} in {}",
            entry.mac,
            entry.index,
            ns.path().display()
        )))
    }

    async fn neighbours(&self, ns: &Namespace, index: u32) -> Result<Vec<Neighbour>> {
        let h = self.handle(ns)?;
        let mut out = Vec::new();
        // ARP and NDP tables in one dump; the forwarding database is its own family.
        for family in [AddressFamily::Unspec, AddressFamily::Bridge] {
            let messages: Vec<NeighbourMessage> = h
                .neighbours()
                .get()
                .set_address_family(family)
                .execute()
                .try_collect()
                .await
                .map_err(err(format!("list neighbours in {}", ns.path().display())))?;
            out.extend(
                messages
                    .iter()
                    .filter(|m| m.header.ifindex == index)
                    .filter_map(parse_neighbour),
            );
        }
        Ok(out)
    }

    fn forget(&self, ns: &Namespace) {
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&ns.inode());
    }
}
