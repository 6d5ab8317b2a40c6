//! The host's kernel side: everything wnet asks of netlink, behind the [`Netlink`]
//! trait, with an rtnetlink implementation ([`RtNetlink`]) and an in-memory one for
//! tests that need no privileges ([`fake::FakeNetlink`]); network namespaces
//! ([`Namespace`]), sysctl ([`sysctl`]) and wnet's nftables table ([`firewall`]).
//!
//! Every call names the namespace it works in. A netlink socket for a namespace is
//! opened by a thread that enters the namespace, creates the socket and goes back in
//! the same synchronous call (nothing else runs on the thread meanwhile; a thread that
//! cannot go back stops the process) — never by forking.

pub mod fake;
pub mod firewall;
mod netns;
mod nfnl;
pub mod osl;
mod rt;
pub mod sysctl;

use std::net::IpAddr;

use async_trait::async_trait;
pub use netns::{Namespace, isolate_process};
pub use rt::RtNetlink;
use wnet_types::{IpNet, MacAddress};

/// A netlink or namespace failure, naming the operation and the object.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request.
    #[error("{op}: {message} ({name})")]
    Kernel {
        /// What was asked, and of which object.
        op: String,
        /// The errno.
        errno: i32,
        /// The errno's name (`EEXIST`).
        name: String,
        /// The errno's description.
        message: String,
    },
    /// An object that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A namespace could not be created, adopted, entered or removed.
    #[error("network namespace {path}: {reason}")]
    Namespace {
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Anything else (a socket that could not be opened, a reply that could not be read).
    #[error("{op}: {reason}")]
    Other {
        /// What was asked.
        op: String,
        /// Why it failed.
        reason: String,
    },
}

impl NetlinkError {
    /// The errno of a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub(crate) fn kernel(op: impl Into<String>, errno: i32) -> Self {
        let e = nix::errno::Errno::from_raw(errno);
        NetlinkError::Kernel {
            op: op.into(),
            errno,
            name: format!("{e:?}"),
            message: e.desc().to_owned(),
        }
    }
}

/// A result of a netlink operation.
pub type Result<T, E = NetlinkError> = std::result::Result<T, E>;

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
#[derive(Debug, Clone)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// A veth pair; the peer is created in `peer_ns` (the link's own namespace if none)
    /// under `peer_name`, with `peer_mac` if given.
    Veth {
        /// The peer's name.
        peer_name: String,
        /// Where the peer is created.
        peer_ns: Option<Namespace>,
        /// The peer's MAC address.
        peer_mac: Option<MacAddress>,
    },
    /// A macvlan on `parent` (an ifindex in the link's namespace).
    Macvlan {
        /// The parent's ifindex.
        parent: u32,
        /// The mode.
        mode: MacvlanMode,
    },
    /// A VXLAN tunnel end (the overlay's).
    Vxlan(Vxlan),
}

/// A VXLAN device's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vxlan {
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
    /// The underlay link it sends through (an ifindex), when pinned to one.
    pub parent: Option<u32>,
    /// The local tunnel address.
    pub local: Option<IpAddr>,
    /// Where frames for unknown destinations go: a remote tunnel end or a multicast
    /// group; none when forwarding entries say where each MAC is.
    pub remote: Option<IpAddr>,
    /// The UDP port; the IANA port 4789 when none (the kernel's own default is 8472).
    pub port: Option<u16>,
    /// Learn remote MACs from the traffic received (an overlay that programs its
    /// forwarding entries turns this off).
    pub learning: bool,
}

/// A neighbour entry on a link: an ARP/NDP entry (`ip` answers to `mac`), or with
/// `fdb` a forwarding-database entry of the link itself (`bridge fdb add … self`),
/// whose `ip`, on a VXLAN, is the remote tunnel end behind `mac`. Entries wnet adds
/// are permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// The link's ifindex.
    pub index: u32,
    /// The MAC address.
    pub mac: MacAddress,
    /// The IP address (required for an ARP/NDP entry).
    pub ip: Option<IpAddr>,
    /// A forwarding-database entry rather than an ARP/NDP one.
    pub fdb: bool,
}

/// A link to create.
#[derive(Debug, Clone)]
pub struct NewLink {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: LinkKind,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its MAC address.
    pub mac: Option<MacAddress>,
    /// The bridge it is a port of.
    pub master: Option<u32>,
    /// Bring it up at once.
    pub up: bool,
    /// Let the kernel give it an IPv6 link-local address (and with it DAD, router
    /// solicitations and multicast reports). Off for bridge ports and IPv4-only
    /// interfaces: on a bridge with hundreds of ports that chatter is flooded to every
    /// port and makes each attach cost more than the one before.
    pub ipv6_autoconf: bool,
    /// Its device group (`ip link … group N`); 0, the kernel's default, for none.
    /// wnet marks the links it creates with its store's group (0x776e in the high
    /// half, [`WNET_GROUP`] for stores made before groups were per store), for the
    /// kernel's own record of what is wnet's.
    pub group: u32,
}

/// The device group of the links wnet created for a driver before each store had a
/// group of its own (`ip link show group 2003727732`; the number spells "wnet" in
/// ASCII); stores that hold such links keep it. A store's group is set in the creating
/// request itself, so it costs nothing, and it lets a restart find links a crash left
/// behind before their record was written.
pub const WNET_GROUP: u32 = 0x776e_6574;

impl NewLink {
    /// A link of `kind` named `name`, down, with the kernel's defaults.
    pub fn new(name: impl Into<String>, kind: LinkKind) -> Self {
        NewLink {
            name: name.into(),
            kind,
            mtu: None,
            mac: None,
            master: None,
            up: false,
            ipv6_autoconf: true,
            group: 0,
        }
    }
}

/// Changes to a link, applied in one request where the kernel allows it.
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    /// Bring it up or down.
    pub up: Option<bool>,
    /// Attach to a bridge (`Some(Some(i))`) or detach (`Some(None)`).
    pub master: Option<Option<u32>>,
    /// A new MTU.
    pub mtu: Option<u32>,
    /// A new MAC address.
    pub mac: Option<MacAddress>,
    /// A new name.
    pub name: Option<String>,
    /// Move to another namespace (≈20 ms on this kernel: keep off hot paths).
    pub netns: Option<Namespace>,
    /// Turn the kernel's IPv6 link-local autoconfiguration on or off (see
    /// [`NewLink::ipv6_autoconf`]).
    pub ipv6_autoconf: Option<bool>,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its ifindex.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind (`bridge`, `veth`, `macvlan`…), when it has one.
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// The bridge it is a port of.
    pub master: Option<u32>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its MAC address.
    pub mac: Option<MacAddress>,
    /// Its device group.
    pub group: u32,
}

/// An address on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The link's ifindex.
    pub index: u32,
    /// The address with its prefix length.
    pub address: IpNet,
}

/// A route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination; `0.0.0.0/0` or `::/0` for a default route.
    pub destination: IpNet,
    /// The next hop.
    pub gateway: Option<IpAddr>,
    /// The output link.
    pub oif: Option<u32>,
    /// The routing table (254 is `main`).
    pub table: u32,
}

/// The main routing table.
pub const MAIN_TABLE: u32 = 254;

impl Route {
    /// A route in the main table.
    pub fn new(destination: IpNet) -> Self {
        Route {
            destination,
            gateway: None,
            oif: None,
            table: MAIN_TABLE,
        }
    }
}

/// What the host asks of the kernel's networking, per namespace.
#[async_trait]
pub trait Netlink: Send + Sync {
    /// Creates a link; returns its ifindex.
    async fn link_add(&self, ns: &Namespace, link: NewLink) -> Result<u32>;
    /// Deletes a link (both ends, for a veth).
    async fn link_del(&self, ns: &Namespace, index: u32) -> Result<()>;
    /// Changes a link.
    async fn link_set(&self, ns: &Namespace, index: u32, change: LinkChange) -> Result<()>;
    /// Every link of the namespace.
    async fn links(&self, ns: &Namespace) -> Result<Vec<Link>>;
    /// The link named `name`, if any.
    async fn link_by_name(&self, ns: &Namespace, name: &str) -> Result<Option<Link>>;
    /// Adds an address to a link.
    async fn addr_add(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()>;
    /// Removes an address from a link.
    async fn addr_del(&self, ns: &Namespace, index: u32, address: IpNet) -> Result<()>;
    /// Every address of the namespace.
    async fn addrs(&self, ns: &Namespace) -> Result<Vec<Address>>;
    /// Adds a route.
    async fn route_add(&self, ns: &Namespace, route: Route) -> Result<()>;
    /// Removes a route.
    async fn route_del(&self, ns: &Namespace, route: Route) -> Result<()>;
    /// Every route of the namespace's main table, both families.
    async fn routes(&self, ns: &Namespace) -> Result<Vec<Route>>;
    /// Adds a permanent neighbour or forwarding entry.
    async fn neigh_add(&self, ns: &Namespace, entry: Neighbour) -> Result<()>;
    /// Removes a neighbour or forwarding entry.
    async fn neigh_del(&self, ns: &Namespace, entry: Neighbour) -> Result<()>;
    /// The permanent neighbour and forwarding entries of a link (none of those the
    /// kernel learned or keeps by itself).
    async fn neighbours(&self, ns: &Namespace, index: u32) -> Result<Vec<Neighbour>>;
    /// Forgets what is cached for a namespace that is going away.
    fn forget(&self, ns: &Namespace);
}
