//! The macvlan network driver (Docker's `macvlan`): each endpoint is a macvlan on the
//! network's parent interface, so containers sit on the parent's segment with their
//! own MAC addresses; the gateway is the one IPAM reserved (a router on that segment).
//!
//! Options: `parent` (required: an interface of the host), `macvlan_mode` (`bridge`
//! by default, `private`, `vepa`, `passthru`). The macvlan is made in the host's
//! namespace and moved into the sandbox at join; the kernel cannot take a macvlan's
//! parent from another namespace in one step.

use serde::{Deserialize, Serialize};
use wnet_sdk::kernel::{self, LinkKind, MacvlanMode, NewLink, links};
use wnet_sdk::{
    EndpointInterface, EndpointRequest, Error, InterfaceName, IpNet, JoinInfo, JoinRequest,
    MacAddress, NetworkDriver, NetworkRequest, Result, keys, kv,
};

/// The parent interface option.
pub const PARENT: &str = "parent";
/// The mode option.
pub const MODE: &str = "macvlan_mode";

/// What the driver keeps of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// The parent interface.
    pub parent: String,
    /// The mode, as given.
    pub mode: String,
    /// The IPv4 gateway from IPAM.
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The IPv6 gateway from IPAM.
    pub gateway_ipv6: Option<std::net::Ipv6Addr>,
    /// No way out.
    pub internal: bool,
}

fn mode(name: &str) -> Result<MacvlanMode> {
    match name {
        "bridge" => Ok(MacvlanMode::Bridge),
        "private" => Ok(MacvlanMode::Private),
        "vepa" => Ok(MacvlanMode::Vepa),
        "passthru" => Ok(MacvlanMode::Passthru),
        other => Err(Error::invalid_parameter(format!(
            "option `{MODE}`: `{other}` is not one of bridge, private, vepa, passthru"
        ))),
    }
}

fn network_key(id: &str) -> String {
    format!("network/{id}")
}

fn endpoint_key(network_id: &str, endpoint_id: &str) -> String {
    format!("endpoint/{network_id}/{endpoint_id}")
}

fn link_name(endpoint_id: &str) -> String {
    format!("mv{}", &endpoint_id[..endpoint_id.len().min(11)])
}

fn load(id: &str) -> Result<Network> {
    kv::get_json(&network_key(id))?
        .ok_or_else(|| Error::not_found(format!("network {id} is not a macvlan network")))
}

/// The macvlan driver. Everything it knows is in `kv`.
#[derive(Default)]
pub struct Macvlan;

impl NetworkDriver for Macvlan {
    fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
        request.options.deny_unknown(&[PARENT, MODE])?;
        let parent = request.options.get(PARENT).ok_or_else(|| {
            Error::invalid_parameter(format!(
                "the macvlan driver needs a parent interface: -o {PARENT}=IFACE (an interface of the host)"
            ))
        })?;
        let mode_name = request.options.get(MODE).unwrap_or("bridge");
        mode(mode_name)?;
        if links::get(kernel::host(), parent)?.is_none() {
            return Err(Error::invalid_parameter(format!(
                "option `{PARENT}`: interface `{parent}` does not exist in the host namespace"
            )));
        }
        let gateway = request.ipv4_data.iter().find_map(|d| match d.gateway {
            Some(IpNet::V4(g)) => Some(g.addr()),
            _ => None,
        });
        let gateway_ipv6 = request.ipv6_data.iter().find_map(|d| match d.gateway {
            Some(IpNet::V6(g)) => Some(g.addr()),
            _ => None,
        });
        let net = Network {
            parent: parent.to_owned(),
            mode: mode_name.to_owned(),
            gateway,
            gateway_ipv6,
            internal: request.internal,
        };
        kv::set_json(&network_key(&request.network_id), &net)
    }

    fn delete_network(&mut self, network_id: &str) -> Result<()> {
        load(network_id)?;
        kv::delete(&network_key(network_id))?;
        Ok(())
    }

    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
        let net = load(&request.network_id)?;
        let name = link_name(&request.endpoint_id);
        // Docker's MAC for the address when none was chosen: stable across restarts.
        let derived = match (request.interface.mac_address, request.interface.address) {
            (None, Some(a)) => {
                let [a0, a1, a2, a3] = a.addr().octets();
                Some(MacAddress([0x02, 0x42, a0, a1, a2, a3]))
            }
            _ => None,
        };
        let link = NewLink {
            mac: request.interface.mac_address.or(derived),
            ..NewLink::new(
                &name,
                LinkKind::Macvlan {
                    parent: net.parent.clone(),
                    mode: mode(&net.mode)?,
                },
            )
        };
        links::create(kernel::host(), &link)?;
        if let Err(e) = kv::set(
            &endpoint_key(&request.network_id, &request.endpoint_id),
            name.as_bytes(),
        ) {
            let _ = links::delete(kernel::host(), &name);
            return Err(e);
        }
        Ok(EndpointInterface {
            mac_address: derived,
            ..EndpointInterface::default()
        })
    }

    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        let key = endpoint_key(network_id, endpoint_id);
        let Some(name) = kv::get(&key)? else {
            return Err(Error::not_found(format!(
                "endpoint {endpoint_id} is not a macvlan endpoint"
            )));
        };
        match links::delete(kernel::host(), &String::from_utf8_lossy(&name)) {
            Ok(()) => {}
            // Went with its sandbox's namespace.
            Err(e) if e.kind == wnet_sdk::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        kv::delete(&key)?;
        Ok(())
    }

    fn join(&mut self, request: JoinRequest) -> Result<JoinInfo> {
        let net = load(&request.network_id)?;
        let name = kv::get(&endpoint_key(&request.network_id, &request.endpoint_id))?
            .ok_or_else(|| Error::not_found(format!("endpoint {}", request.endpoint_id)))?;
        Ok(JoinInfo {
            interface_name: Some(InterfaceName {
                src_name: String::from_utf8_lossy(&name).into_owned(),
                dst_prefix: "eth".to_owned(),
                dst_name: request
                    .options
                    .get(keys::ENDPOINT_IFNAME)
                    .map(str::to_owned),
            }),
            gateway: net.gateway.filter(|_| !net.internal),
            gateway_ipv6: net.gateway_ipv6.filter(|_| !net.internal),
            static_routes: Vec::new(),
            disable_gateway_service: true,
        })
    }

    fn leave(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        kv::get(&endpoint_key(network_id, endpoint_id))?
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("endpoint {endpoint_id}")))
    }
}

wnet_sdk::export_network_driver!(Macvlan);

#[cfg(test)]
mod tests {
    use wnet_sdk::kernel::{LinkKind as Kind, NewLink as New};
    use wnet_sdk::testing::{Harness, kernel};
    use wnet_sdk::{ErrorKind, IpamData, Options};

    use super::*;

    fn request(options: &[(&str, &str)]) -> NetworkRequest {
        NetworkRequest {
            network_id: "n1".into(),
            options: options.iter().copied().collect::<Options>(),
            enable_ipv4: true,
            ipv4_data: vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: "192.0.2.0/24".parse().unwrap(),
                gateway: Some("192.0.2.1/24".parse().unwrap()),
                aux_addresses: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_parent_is_required_and_must_exist() {
        let mut h = Harness::<Macvlan>::new();
        let err = h.create_network(request(&[])).unwrap_err();
        assert!(err.message.contains("-o parent=IFACE"), "{err}");
        let err = h.create_network(request(&[(PARENT, "eth9")])).unwrap_err();
        assert!(err.message.contains("`eth9` does not exist"), "{err}");
        links::create(kernel::host(), &New::new("eth9", Kind::Bridge)).unwrap();
        let err = h
            .create_network(request(&[(PARENT, "eth9"), (MODE, "l3")]))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        h.create_network(request(&[(PARENT, "eth9"), (MODE, "private")]))
            .unwrap();
    }

    #[test]
    fn endpoints_are_macvlans_on_the_parent_with_the_ipam_gateway() {
        let mut h = Harness::<Macvlan>::new();
        links::create(kernel::host(), &New::new("eth9", Kind::Bridge)).unwrap();
        h.create_network(request(&[(PARENT, "eth9")])).unwrap();
        let ep = EndpointRequest {
            network_id: "n1".into(),
            endpoint_id: "0123456789abcdef".into(),
            interface: wnet_sdk::InterfaceInfo {
                address: Some("192.0.2.7/24".parse().unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        let set = h.create_endpoint(ep).unwrap();
        assert_eq!(set.mac_address.unwrap().to_string(), "02:42:c0:00:02:07");
        let mv = kernel(|k| k.find(0, "mv0123456789a").cloned()).unwrap();
        assert_eq!(mv.kind.as_deref(), Some("macvlan"));
        let join = h
            .join(JoinRequest {
                network_id: "n1".into(),
                endpoint_id: "0123456789abcdef".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(join.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(join.interface_name.unwrap().src_name, "mv0123456789a");
        h.delete_endpoint("n1", "0123456789abcdef").unwrap();
        assert!(kernel(|k| k.find(0, "mv0123456789a").is_none()));
    }
}
