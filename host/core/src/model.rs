//! The records the controller stores: what `inspect` shows and what a restart restores.

use serde::{Deserialize, Serialize};

use crate::osl::{Interface, OsSandbox};
use wnet_types::{
    Capability, IpNet, IpamData, Ipv4Net, Ipv6Net, JoinInfo, MacAddress, Options, Scope,
};

/// A network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The network's id (64 hex digits).
    pub id: String,
    /// The operator's name.
    pub name: String,
    /// The network driver.
    pub driver: String,
    /// The network's scope, from its driver.
    pub scope: Scope,
    /// When it was created (RFC 3339, UTC).
    #[serde(default)]
    pub created: String,
    /// The IPAM driver.
    pub ipam_driver: String,
    /// The IPAM address space.
    pub address_space: String,
    /// IPAM driver options.
    pub ipam_options: Options,
    /// Driver options.
    pub options: Options,
    /// Labels.
    pub labels: Options,
    /// No external connectivity.
    pub internal: bool,
    /// IPv4 is enabled.
    pub enable_ipv4: bool,
    /// IPv6 is enabled.
    pub enable_ipv6: bool,
    /// The IPv4 pools.
    pub ipv4: Vec<PoolRecord>,
    /// The IPv6 pools.
    pub ipv6: Vec<PoolRecord>,
}

impl NetworkRecord {
    /// What its driver's `create-network` is given: at creation, and again to restore
    /// the network after a restart found its kernel objects gone.
    pub fn request(&self) -> wnet_types::NetworkRequest {
        wnet_types::NetworkRequest {
            network_id: self.id.clone(),
            name: self.name.clone(),
            options: self.options.clone(),
            labels: self.labels.clone(),
            internal: self.internal,
            enable_ipv4: self.enable_ipv4,
            enable_ipv6: self.enable_ipv6,
            ipv4_data: self.ipam_data(false),
            ipv6_data: self.ipam_data(true),
        }
    }

    /// The pools of one family.
    pub fn pools(&self, v6: bool) -> &[PoolRecord] {
        if v6 { &self.ipv6 } else { &self.ipv4 }
    }

    /// The IPAM data the driver receives for one family.
    pub fn ipam_data(&self, v6: bool) -> Vec<IpamData> {
        self.pools(v6)
            .iter()
            .map(|p| IpamData {
                address_space: self.address_space.clone(),
                pool: p.pool,
                gateway: p.gateway,
                aux_addresses: p.aux_addresses.clone(),
            })
            .collect()
    }

    /// The capability the network's driver had when the network was made.
    pub fn capability(&self) -> Capability {
        Capability {
            data_scope: self.scope,
            connectivity_scope: self.scope,
        }
    }
}

/// One IPAM pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// The IPAM driver's id for the pool.
    pub pool_id: String,
    /// The pool.
    pub pool: IpNet,
    /// The range addresses are allocated from (`--ip-range`).
    pub sub_pool: Option<IpNet>,
    /// The gateway, with the pool's prefix length.
    pub gateway: Option<IpNet>,
    /// The gateway was reserved from IPAM (not given by the pool's metadata), so it is
    /// released with the network.
    pub gateway_reserved: bool,
    /// Auxiliary addresses, reserved from IPAM.
    pub aux_addresses: Vec<(String, IpNet)>,
    /// The pool's metadata from IPAM.
    pub meta: Options,
}

impl PoolRecord {
    /// The pool hands out no addresses: the null IPAM's `0.0.0.0/0` and `::/0`.
    pub fn is_unaddressed(&self) -> bool {
        self.pool.prefix_len() == 0
    }
}

/// An endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The endpoint's id.
    pub id: String,
    /// The operator's name, unique in its network.
    pub name: String,
    /// The network's id.
    pub network_id: String,
    /// The MAC address.
    pub mac_address: Option<MacAddress>,
    /// The IPv4 address, with the pool's prefix length.
    pub address: Option<Ipv4Net>,
    /// The pool the IPv4 address came from (none when the driver chose it).
    pub address_pool: Option<String>,
    /// The IPv6 address.
    pub address_ipv6: Option<Ipv6Net>,
    /// The pool the IPv6 address came from.
    pub address_ipv6_pool: Option<String>,
    /// Endpoint options.
    pub options: Options,
    /// The driver created the interface inside this sandbox at create time.
    pub created_in_sandbox: Option<String>,
    /// The join, while the endpoint is joined to a sandbox.
    pub join: Option<JoinRecord>,
    /// Other names of the container on this network (`--alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// An endpoint's join to a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRecord {
    /// The sandbox's id.
    pub sandbox_id: String,
    /// The driver's answer.
    pub info: JoinInfo,
    /// The interface configured in the sandbox, when the driver gave one.
    pub interface: Option<Interface>,
    /// Join options.
    pub options: Options,
    /// The endpoint is the sandbox's IPv4 gateway endpoint.
    pub ipv4_gateway: bool,
    /// The endpoint is the sandbox's IPv6 gateway endpoint.
    pub ipv6_gateway: bool,
    /// The driver accepted `program-external-connectivity` (it did not say not-implemented).
    pub external_connectivity: bool,
}

/// A sandbox: a container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The sandbox's id (a container id).
    pub id: String,
    /// The sandbox key: its network namespace's path.
    pub key: String,
    /// wnet created the namespace, and removes it with the sandbox.
    pub owned: bool,
    /// The sandbox is the host's own namespace (for the `host` network).
    #[serde(default)]
    pub host_namespace: bool,
    /// Options and labels.
    pub options: Options,
    /// The endpoints joined, in join order, as `(network id, endpoint id)`.
    pub endpoints: Vec<(String, String)>,
    /// The namespace's inode when the sandbox was made (none for records made before
    /// wnet recorded it, or without a kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// The engine makes the namespace and configures the interfaces
    /// ([`crate::SandboxOptions::external_key`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external_key: bool,
}

impl SandboxRecord {
    /// The sandbox as the OS layer knows it.
    pub fn os(&self) -> OsSandbox {
        OsSandbox {
            key: self.key.clone(),
            owned: self.owned,
            host: self.host_namespace,
            inode: self.inode,
        }
    }
}
