//! What a network asks of the host's firewall: the data of the `firewall` capability,
//! shared by the host that realises it and the SDK that drivers ask through.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::IpNet;

/// What a network asks of the firewall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRules {
    /// The network's bridge: a link the driver created or adopted.
    pub bridge: String,
    /// The network's subnets (an address with its prefix length will do).
    pub subnets: Vec<IpNet>,
    /// Masquerade the subnets leaving through any interface but a wnet bridge.
    pub masquerade: bool,
    /// Nothing forwarded into or out of the bridge.
    pub internal: bool,
    /// Inter-container traffic on the bridge allowed (Docker's `enable_icc`).
    pub icc: bool,
    /// With `masquerade`: the source address of its IPv4 traffic leaving, instead of
    /// the outgoing interface's (Docker's `com.docker.network.host_ipv4`), an address
    /// of the host; none to masquerade.
    #[serde(default)]
    pub snat_ipv4: Option<Ipv4Addr>,
}
