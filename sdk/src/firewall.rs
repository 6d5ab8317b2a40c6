//! The `firewall` capability: intents for the driver's own networks, which the host
//! realises in its nftables table, removes with the network and restores at start. A
//! driver never writes a rule. The host refuses (`forbidden`) rules for a bridge the
//! driver did not create or adopt, and masquerading a subnet that holds no address of
//! the bridge; a host that runs without a firewall answers `unavailable`.
//!
//! In native tests the fake host of [`crate::testing`] keeps the rules by network id
//! ([`crate::testing::firewall`]).

use crate::Result;

pub use wnet_types::firewall::NetworkRules;
pub use wnet_types::ports::{PortMapping, Protocol};

/// Sets the rules of network `network_id`, replacing any it had.
pub fn set_network(network_id: &str, rules: &NetworkRules) -> Result<()> {
    imp::set_network(network_id, rules)
}

/// Removes the rules of network `network_id`; none is not an error.
pub fn clear_network(network_id: &str) -> Result<()> {
    imp::clear_network(network_id)
}

/// Publishes an endpoint's ports, replacing those it had; returns them as published
/// (the host port taken from each range). A host port another endpoint publishes is a
/// `conflict`.
pub fn publish(
    network_id: &str,
    endpoint_id: &str,
    ports: &[PortMapping],
) -> Result<Vec<PortMapping>> {
    imp::publish(network_id, endpoint_id, ports)
}

/// Unpublishes an endpoint's ports; none is not an error.
pub fn unpublish(network_id: &str, endpoint_id: &str) -> Result<()> {
    imp::unpublish(network_id, endpoint_id)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{NetworkRules, PortMapping, Protocol};
    use crate::Result;
    use crate::bindings::convert::{from_wit, to_wit};
    use crate::bindings::network::wnet::driver::firewall;

    pub(super) fn set_network(network_id: &str, r: &NetworkRules) -> Result<()> {
        let rules = firewall::NetworkRules {
            bridge: r.bridge.clone(),
            subnets: r.subnets.iter().map(|s| to_wit::prefix(*s)).collect(),
            masquerade: r.masquerade,
            internal: r.internal,
            icc: r.icc,
            snat_ipv4: r.snat_ipv4.map(to_wit::ipv4),
        };
        firewall::set_network(network_id, &rules).map_err(from_wit::error)
    }

    pub(super) fn clear_network(network_id: &str) -> Result<()> {
        firewall::clear_network(network_id).map_err(from_wit::error)
    }

    pub(super) fn publish(
        network_id: &str,
        endpoint_id: &str,
        ports: &[PortMapping],
    ) -> Result<Vec<PortMapping>> {
        let wit: Vec<firewall::PortMapping> = ports
            .iter()
            .map(|p| firewall::PortMapping {
                protocol: match p.protocol {
                    Protocol::Tcp => firewall::Protocol::Tcp,
                    Protocol::Udp => firewall::Protocol::Udp,
                    Protocol::Sctp => firewall::Protocol::Sctp,
                },
                host_ip: p.host_ip.map(to_wit::ip),
                host_port: p.host_port,
                host_port_end: p.host_port_end,
                container_ip: to_wit::ip(p.container_ip),
                container_port: p.container_port,
            })
            .collect();
        Ok(firewall::publish(network_id, endpoint_id, &wit)
            .map_err(from_wit::error)?
            .into_iter()
            .map(|p| PortMapping {
                protocol: match p.protocol {
                    firewall::Protocol::Tcp => Protocol::Tcp,
                    firewall::Protocol::Udp => Protocol::Udp,
                    firewall::Protocol::Sctp => Protocol::Sctp,
                },
                host_ip: p.host_ip.map(from_wit::ip),
                host_port: p.host_port,
                host_port_end: p.host_port_end,
                container_ip: from_wit::ip(p.container_ip),
                container_port: p.container_port,
            })
            .collect())
    }

    pub(super) fn unpublish(network_id: &str, endpoint_id: &str) -> Result<()> {
        firewall::unpublish(network_id, endpoint_id).map_err(from_wit::error)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{NetworkRules, PortMapping};
    use crate::Result;
    use crate::testing::with_host;

    pub(super) fn set_network(network_id: &str, r: &NetworkRules) -> Result<()> {
        with_host(|h| {
            h.firewall.insert(network_id.to_owned(), r.clone());
        });
        Ok(())
    }

    pub(super) fn clear_network(network_id: &str) -> Result<()> {
        with_host(|h| {
            h.firewall.remove(network_id);
        });
        Ok(())
    }

    /// The fake publishes as asked, each range at its first port, with no checks.
    pub(super) fn publish(
        network_id: &str,
        endpoint_id: &str,
        ports: &[PortMapping],
    ) -> Result<Vec<PortMapping>> {
        let published: Vec<PortMapping> = ports
            .iter()
            .map(|p| PortMapping {
                host_port_end: p.host_port,
                ..p.clone()
            })
            .collect();
        with_host(|h| {
            h.ports.insert(
                (network_id.to_owned(), endpoint_id.to_owned()),
                published.clone(),
            );
        });
        Ok(published)
    }

    pub(super) fn unpublish(network_id: &str, endpoint_id: &str) -> Result<()> {
        with_host(|h| {
            h.ports
                .remove(&(network_id.to_owned(), endpoint_id.to_owned()));
        });
        Ok(())
    }
}
