//! The data of wnet's driver contract (`wit/`, package `wnet:driver@0.1.0`) as Rust types.
//!
//! The host (`wnet-core`, `wnet-runtime`) and the guest SDK (`wnet-sdk`) both speak in
//! these types, so a driver author and the controller see the same names and shapes.
//! Addresses are `std::net` and `ipnet` types, never strings; each side converts to and
//! from its own generated bindings at the WASM boundary.

mod error;
pub mod firewall;
pub mod keys;
mod mac;
mod options;
pub mod ports;
mod wit;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use error::{Error, ErrorKind, Result};
pub use ipnet::{self, IpNet, Ipv4Net, Ipv6Net};
pub use mac::{MacAddress, ParseMacError};
pub use options::Options;
pub use ports::PortBinding;
use serde::{Deserialize, Serialize};

/// The version of the WIT package this crate mirrors.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// libnetwork's scopes: `local` to one host, `global` across a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Data and connectivity stay on this host.
    #[default]
    Local,
    /// Data or connectivity span a cluster.
    Global,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Local => "local",
            Scope::Global => "global",
        })
    }
}

impl std::str::FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "local" => Ok(Scope::Local),
            "global" => Ok(Scope::Global),
            other => Err(Error::invalid_parameter(format!(
                "scope `{other}` is not one of `local`, `global`"
            ))),
        }
    }
}

/// What a network driver is: libnetwork's `driverapi.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capability {
    /// Where the driver's data lives.
    pub data_scope: Scope,
    /// Where the driver's connectivity reaches.
    pub connectivity_scope: Scope,
}

/// The IPAM data of one pool of a network (libnetwork's `IPAMData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamData {
    /// The address space the pool was taken from.
    pub address_space: String,
    /// The pool, host bits zero.
    pub pool: IpNet,
    /// The gateway with the pool's prefix length, when one was reserved.
    pub gateway: Option<IpNet>,
    /// Auxiliary addresses reserved in the pool, by name.
    pub aux_addresses: Vec<(String, IpNet)>,
}

/// A network as the controller hands it to its driver.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// The network's id.
    pub network_id: String,
    /// The operator's name for the network.
    pub name: String,
    /// Driver options (`-o key=value`).
    pub options: Options,
    /// Labels (`--label key=value`).
    pub labels: Options,
    /// No external connectivity (`--internal`).
    pub internal: bool,
    /// The network has IPv4.
    pub enable_ipv4: bool,
    /// The network has IPv6.
    pub enable_ipv6: bool,
    /// IPv4 pools with their gateways.
    pub ipv4_data: Vec<IpamData>,
    /// IPv6 pools with their gateways.
    pub ipv6_data: Vec<IpamData>,
}

/// A sandbox (a container's network namespace) as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxInfo {
    /// The sandbox's id.
    pub id: String,
    /// The sandbox key: the path of its network namespace, for information.
    pub key: String,
    /// The sandbox's options and labels.
    pub options: Options,
}

/// An endpoint's interface as the controller filled it in (libnetwork's `InterfaceInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InterfaceInfo {
    /// The MAC address, when the operator or the controller chose one.
    pub mac_address: Option<MacAddress>,
    /// The IPv4 address from IPAM, with the pool's prefix length.
    pub address: Option<Ipv4Net>,
    /// The IPv6 address from IPAM.
    pub address_ipv6: Option<Ipv6Net>,
}

/// A request to create an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointRequest {
    /// The endpoint's network.
    pub network_id: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// The operator's name for the endpoint.
    pub endpoint_name: String,
    /// Endpoint options.
    pub options: Options,
    /// What the controller already set on the interface.
    pub interface: InterfaceInfo,
    /// The sandbox the endpoint is created for, when already known.
    pub sandbox: Option<SandboxInfo>,
}

/// What a driver set on an endpoint's interface in `create-endpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointInterface {
    /// A MAC address the driver chose.
    pub mac_address: Option<MacAddress>,
    /// An IPv4 address the driver chose.
    pub address: Option<Ipv4Net>,
    /// An IPv6 address the driver chose.
    pub address_ipv6: Option<Ipv6Net>,
    /// The driver created the interface inside the request's sandbox.
    pub created_in_sandbox: bool,
}

/// A request to join an endpoint to a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The endpoint's network.
    pub network_id: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// The operator's name for the endpoint.
    pub endpoint_name: String,
    /// The sandbox joined.
    pub sandbox: SandboxInfo,
    /// Endpoint options, as given at create and join.
    pub options: Options,
}

/// Which interface goes into the sandbox and under which name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InterfaceName {
    /// The interface's name where the driver created it.
    pub src_name: String,
    /// The name prefix in the sandbox; the host appends the next free index.
    pub dst_prefix: String,
    /// An exact name in the sandbox; wins over `dst_prefix`.
    pub dst_name: Option<String>,
}

/// libnetwork's route types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteType {
    /// Reached through a next hop.
    NextHop,
    /// Directly connected to the interface.
    Connected,
}

/// A static route the host adds in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    /// The destination prefix.
    pub destination: IpNet,
    /// How it is reached.
    pub route_type: RouteType,
    /// The next hop of a `NextHop` route.
    pub next_hop: Option<IpAddr>,
}

/// A driver's answer to `join` (libnetwork's `JoinInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JoinInfo {
    /// The interface to configure in the sandbox; none for drivers without one.
    pub interface_name: Option<InterfaceName>,
    /// The IPv4 default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 default gateway.
    pub gateway_ipv6: Option<Ipv6Addr>,
    /// Static routes to add in the sandbox.
    pub static_routes: Vec<StaticRoute>,
    /// Do not give this sandbox a default route through a gateway network.
    pub disable_gateway_service: bool,
}

/// A request to program (or revoke) an endpoint's external connectivity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExternalConnectivityRequest {
    /// The endpoint's network.
    pub network_id: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// The sandbox's options (exposed and published ports).
    pub options: Options,
    /// The endpoint is the sandbox's IPv4 gateway endpoint.
    pub ipv4_gateway: bool,
    /// The endpoint is the sandbox's IPv6 gateway endpoint.
    pub ipv6_gateway: bool,
}

/// An IPAM driver's requirements: libnetwork's `ipamapi.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpamCapability {
    /// Endpoints need a MAC address before their IP address is requested.
    pub requires_mac_address: bool,
    /// The controller replays every pool and address request at start.
    pub requires_request_replay: bool,
}

/// The default address spaces, by network scope.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressSpaces {
    /// For local-scope networks.
    pub local: String,
    /// For global-scope networks.
    pub global: String,
}

/// A request for a pool (libnetwork's `PoolRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PoolRequest {
    /// The address space.
    pub address_space: String,
    /// The pool wanted; none for any free pool; an all-zero address (`0.0.0.0/24`) for
    /// any free pool of that size.
    pub pool: Option<IpNet>,
    /// A range inside `pool` to allocate addresses from.
    pub sub_pool: Option<IpNet>,
    /// Driver options (`--ipam-opt`).
    pub options: Options,
    /// Prefixes a dynamically chosen pool must not overlap.
    pub exclude: Vec<IpNet>,
    /// Allocate an IPv6 pool.
    pub v6: bool,
}

/// A pool an IPAM driver reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedPool {
    /// The driver's id for the pool.
    pub pool_id: String,
    /// The pool.
    pub pool: IpNet,
    /// Extra data; [`keys::GATEWAY`] gives the pool's gateway.
    pub meta: Options,
}

/// A request for one address from a pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressRequest {
    /// The pool.
    pub pool_id: String,
    /// The address wanted; none for any free address.
    pub preferred: Option<IpAddr>,
    /// Options such as [`keys::IPAM_SERIAL`] or [`keys::REQUEST_ADDRESS_TYPE`].
    pub options: Options,
}

/// An address an IPAM driver reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedAddress {
    /// The address with the pool's prefix length.
    pub address: IpNet,
    /// Extra data.
    pub meta: Options,
}
