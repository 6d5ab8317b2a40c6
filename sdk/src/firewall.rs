//! The `firewall` capability: intents for the driver's own networks, which the host
//! realises in its nftables table, removes with the network and restores at start. A
//! driver never writes a rule. The host refuses (`forbidden`) rules for a bridge the
//! driver did not create or adopt, and masquerading a subnet that holds no address of
//! the bridge; a host that runs without a firewall answers `unavailable`.
//!
//! In native tests the fake host of [`crate::testing`] keeps the rules by network id
//! ([`crate::testing::firewall`]).

use crate::{IpNet, Result};

/// What a network asks of the firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The network's bridge: a link this driver created or adopted.
    pub bridge: String,
    /// The network's subnets (an address with its prefix length will do).
    pub subnets: Vec<IpNet>,
    /// Masquerade the subnets leaving through any interface but a wnet bridge.
    pub masquerade: bool,
    /// Nothing forwarded into or out of the bridge.
    pub internal: bool,
    /// Inter-container traffic on the bridge allowed.
    pub icc: bool,
}

/// Sets the rules of network `network_id`, replacing any it had.
pub fn set_network(network_id: &str, rules: &NetworkRules) -> Result<()> {
    imp::set_network(network_id, rules)
}

/// Removes the rules of network `network_id`; none is not an error.
pub fn clear_network(network_id: &str) -> Result<()> {
    imp::clear_network(network_id)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::NetworkRules;
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
        };
        firewall::set_network(network_id, &rules).map_err(from_wit::error)
    }

    pub(super) fn clear_network(network_id: &str) -> Result<()> {
        firewall::clear_network(network_id).map_err(from_wit::error)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::NetworkRules;
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
}
