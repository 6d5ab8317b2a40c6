//! The bridge network driver, compatible with Docker's bridge options: one Linux
//! bridge per network holding the network's gateway addresses, one veth pair per
//! endpoint with its host end on the bridge. When the controller knows the sandbox at
//! create-endpoint (connecting a container), the sandbox end is created straight in
//! the sandbox's namespace; the host then names it (`eth0`…), addresses it and routes
//! through it.
//!
//! A bridge that already exists under the network's bridge name is adopted, as Docker
//! reuses it: the network adds its gateway addresses and ports, and at delete takes
//! away exactly those (and brings it down again if it was down) but keeps the bridge.
//! Its MTU is left as it is. One bridge serves one network.
//!
//! Options (`-o`): `com.docker.network.bridge.name` (default `br-` + 12 characters of
//! the network id), `com.docker.network.driver.mtu`,
//! `com.docker.network.bridge.inhibit_ipv4`, `com.docker.network.container_iface_prefix`,
//! `com.docker.network.bridge.enable_icc` and
//! `com.docker.network.bridge.enable_ip_masquerade` (both default true), applied through
//! the host's firewall with `--internal`, and `com.docker.network.bridge.host_binding_ipv4`
//! (recorded for published ports).
//!
//! The firewall: each network asks the host to masquerade its subnets leaving through
//! other interfaces, to keep it apart from other bridges, to keep an internal network
//! in, and, with ICC off, to drop traffic between its containers. A network that is not
//! internal turns IP forwarding on (`net.ipv4.ip_forward`, and IPv6's when it has IPv6
//! subnets), as Docker does. On a host without a firewall (`firewall = false`) none of
//! this is done, and a warning says so.

use serde::{Deserialize, Serialize};
use wnet_sdk::kernel::{self, LinkChange, LinkKind, NewLink, addresses, links, sysctl};
use wnet_sdk::{
    EndpointInterface, EndpointRequest, Error, ExternalConnectivityRequest, InterfaceName, IpNet,
    JoinInfo, JoinRequest, MacAddress, NetworkDriver, NetworkRequest, Options, PortBinding, Result,
    firewall, keys, kv, log,
};

/// Option keys, Docker's spellings.
pub mod opt {
    /// The bridge's name.
    pub const NAME: &str = "com.docker.network.bridge.name";
    /// Inter-container traffic (firewall).
    pub const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
    /// Masquerade traffic leaving the network (firewall).
    pub const ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
    /// Default host IP of published ports (firewall).
    pub const HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";
    /// The source address of traffic leaving, instead of masquerade (firewall).
    pub const HOST_IPV4: &str = "com.docker.network.host_ipv4";
    /// Do not put the IPv4 gateway address on the bridge.
    pub const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";
    /// Every key the driver knows.
    pub const KNOWN: [&str; 8] = [
        NAME,
        HOST_IPV4,
        ENABLE_ICC,
        ENABLE_IP_MASQUERADE,
        HOST_BINDING_IPV4,
        INHIBIT_IPV4,
        wnet_sdk::keys::MTU,
        wnet_sdk::keys::CONTAINER_IFACE_PREFIX,
    ];
}

/// What the driver keeps of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// The bridge's name.
    pub bridge: String,
    /// The MTU of the bridge and the veths.
    pub mtu: Option<u32>,
    /// The gateway addresses this driver put on the bridge (an adopted bridge may have
    /// had some already; those stay with it).
    pub addresses: Vec<IpNet>,
    /// The bridge existed before the network and was adopted: it is kept at delete.
    #[serde(default)]
    pub adopted: bool,
    /// The adopted bridge was down: it is brought down again at delete.
    #[serde(default)]
    pub was_down: bool,
    /// The IPv4 gateway endpoints use.
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The IPv6 gateway.
    pub gateway_ipv6: Option<std::net::Ipv6Addr>,
    /// The interface name prefix in sandboxes.
    pub iface_prefix: String,
    /// No way out.
    pub internal: bool,
    /// Recorded for the firewall.
    pub enable_icc: bool,
    /// Recorded for the firewall.
    pub enable_ip_masquerade: bool,
    /// Recorded for the firewall.
    pub host_binding_ipv4: Option<std::net::Ipv4Addr>,
    /// The network's subnets, for the firewall.
    #[serde(default)]
    pub subnets: Vec<IpNet>,
    /// The source address of its traffic leaving, instead of masquerade.
    #[serde(default)]
    pub host_ipv4: Option<std::net::Ipv4Addr>,
}

/// What the driver keeps of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The veth end on the bridge.
    pub host_end: String,
    /// The end that goes into the sandbox.
    pub sandbox_end: String,
    /// The MAC of the sandbox end.
    pub mac: Option<MacAddress>,
    /// Its IPv4 address, which published ports lead to.
    #[serde(default)]
    pub address: Option<std::net::Ipv4Addr>,
    /// Its IPv6 address, which published ports lead to as well.
    #[serde(default)]
    pub address_ipv6: Option<std::net::Ipv6Addr>,
    /// The ports asked for (`com.docker.network.portmap` of the endpoint).
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// The ports published while it has external connectivity.
    #[serde(default)]
    pub published: Vec<PortBinding>,
}

/// The host's published ports for an endpoint's bindings, as Docker makes them: a
/// binding without host port takes a free one of Docker's ephemeral range; a host
/// address leads to the container's address of its family; without one, IPv4 takes
/// the network's `host_binding_ipv4` (any when that is unset or 0.0.0.0), and when
/// that is any, IPv6 is published too if the endpoint has an IPv6 address.
fn port_mappings(
    net: &Network,
    ep: &Endpoint,
    bindings: &[PortBinding],
) -> Result<Vec<firewall::PortMapping>> {
    use std::net::IpAddr;
    let mut out = Vec::new();
    for b in bindings {
        let protocol = b.protocol()?;
        let (host_port, host_port_end) = match b.host_port {
            0 => (49153, 60999),
            p => (p, b.host_port_end.max(p)),
        };
        // (host address, container address) pairs this binding publishes.
        let mut targets: Vec<(Option<IpAddr>, IpAddr)> = Vec::new();
        if b.host_ip.is_empty() {
            let default = net.host_binding_ipv4.filter(|ip| !ip.is_unspecified());
            if let Some(a) = ep.address {
                targets.push((default.map(IpAddr::V4), IpAddr::V4(a)));
            }
            if let (Some(a), None) = (ep.address_ipv6, default) {
                targets.push((None, IpAddr::V6(a)));
            }
        } else {
            let ip: IpAddr = b.host_ip.parse().map_err(|_| {
                Error::invalid_parameter(format!(
                    "published port {b}: `{}` is not an IP address",
                    b.host_ip
                ))
            })?;
            let to = match ip {
                IpAddr::V4(_) => ep.address.map(IpAddr::V4),
                IpAddr::V6(_) => ep.address_ipv6.map(IpAddr::V6),
            };
            targets.extend(to.map(|to| (Some(ip).filter(|ip| !ip.is_unspecified()), to)));
        }
        if targets.is_empty() {
            let family = if b.host_ip.contains(':') { "IPv6 " } else { "" };
            return Err(Error::invalid_parameter(format!(
                "published port {b}: the endpoint has no {family}address to lead it to"
            )));
        }
        out.extend(
            targets
                .into_iter()
                .map(|(host_ip, container_ip)| firewall::PortMapping {
                    protocol,
                    host_ip,
                    host_port,
                    host_port_end,
                    container_ip,
                    container_port: b.port,
                }),
        );
    }
    Ok(out)
}

fn network_key(id: &str) -> String {
    format!("network/{id}")
}

fn endpoint_key(network_id: &str, endpoint_id: &str) -> String {
    format!("endpoint/{network_id}/{endpoint_id}")
}

fn load_network(id: &str) -> Result<Network> {
    kv::get_json(&network_key(id))?
        .ok_or_else(|| Error::not_found(format!("network {id} is not a bridge network")))
}

/// Makes the veth with its sandbox end already named as the sandbox will keep it: the
/// endpoint's `ifname` option, else the first free `<prefix><n>` there. The join then
/// need not rename it, and every rename waits for an RCU grace period in the kernel.
/// Returns that name.
fn create_in_sandbox(
    sandbox: kernel::Namespace,
    prefix: &str,
    explicit: Option<&str>,
    veth: impl Fn(&str) -> NewLink,
) -> Result<String> {
    if let Some(name) = explicit {
        links::create(kernel::host(), &veth(name))?;
        return Ok(name.to_owned());
    }
    let prefix = if prefix.is_empty() { "eth" } else { prefix };
    // A new sandbox has no `<prefix>0` yet: try it before listing. A name taken
    // meanwhile (another endpoint made at the same moment) is a conflict: the next
    // free one is tried.
    let mut name = format!("{prefix}0");
    let mut tries = 0;
    loop {
        match links::create(kernel::host(), &veth(&name)) {
            Err(e) if e.kind == wnet_sdk::ErrorKind::Conflict && tries < 3 => {
                tries += 1;
                let taken: Vec<String> =
                    links::list(sandbox)?.into_iter().map(|l| l.name).collect();
                let Some(free) = (0..64)
                    .map(|i| format!("{prefix}{i}"))
                    .find(|n| !taken.contains(n))
                else {
                    return Err(e);
                };
                if free == name {
                    // Free in the sandbox: the conflict was the host end's.
                    return Err(e);
                }
                name = free;
            }
            Err(e) => return Err(e),
            Ok(_) => return Ok(name),
        }
    }
}

/// The first `n` characters of an id, for interface names.
fn short(id: &str, n: usize) -> &str {
    &id[..id.len().min(n)]
}

/// Docker's MAC for an IPv4 address: `02:42` and the address's four octets.
pub fn mac_for(ip: std::net::Ipv4Addr) -> MacAddress {
    let [a, b, c, d] = ip.octets();
    MacAddress([0x02, 0x42, a, b, c, d])
}

/// Parses a network's options into what the driver keeps.
pub fn parse(request: &NetworkRequest) -> Result<Network> {
    let o: &Options = &request.options;
    o.deny_unknown(&opt::KNOWN)?;
    let bridge = match o.get(opt::NAME) {
        Some(name) => name.to_owned(),
        None => format!("br-{}", short(&request.network_id, 12)),
    };
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ', ':']) {
        return Err(Error::invalid_parameter(format!(
            "option `{}`: `{bridge}` is not a valid Linux interface name (1 to 15 characters, no `/`, `:` or spaces)",
            opt::NAME
        )));
    }
    let mtu = o.parse::<u32>(keys::MTU)?;
    if let Some(mtu) = mtu
        && !(68..=65535).contains(&mtu)
    {
        return Err(Error::invalid_parameter(format!(
            "option `{}`: MTU {mtu} is outside 68..=65535",
            keys::MTU
        )));
    }
    let inhibit_ipv4 = o.bool(opt::INHIBIT_IPV4)?.unwrap_or(false);
    let mut addresses = Vec::new();
    let mut gateway = None;
    for d in &request.ipv4_data {
        if let Some(IpNet::V4(gw)) = d.gateway {
            gateway.get_or_insert(gw.addr());
            if !inhibit_ipv4 {
                addresses.push(IpNet::V4(gw));
            }
        }
    }
    let mut gateway_ipv6 = None;
    for d in &request.ipv6_data {
        if let Some(IpNet::V6(gw)) = d.gateway {
            gateway_ipv6.get_or_insert(gw.addr());
            addresses.push(IpNet::V6(gw));
        }
    }
    Ok(Network {
        bridge,
        mtu,
        addresses,
        adopted: false,
        was_down: false,
        gateway,
        gateway_ipv6,
        iface_prefix: o
            .get(keys::CONTAINER_IFACE_PREFIX)
            .unwrap_or("eth")
            .to_owned(),
        internal: request.internal,
        enable_icc: o.bool(opt::ENABLE_ICC)?.unwrap_or(true),
        enable_ip_masquerade: o.bool(opt::ENABLE_IP_MASQUERADE)?.unwrap_or(true),
        host_binding_ipv4: o.parse(opt::HOST_BINDING_IPV4)?,
        host_ipv4: o.parse(opt::HOST_IPV4)?,
        // The null IPAM's 0.0.0.0/0 is no subnet.
        subnets: request
            .ipv4_data
            .iter()
            .chain(&request.ipv6_data)
            .map(|d| d.pool)
            .filter(|p| p.prefix_len() > 0)
            .collect(),
    })
}

/// What the network asks of the host's firewall.
fn rules(net: &Network) -> firewall::NetworkRules {
    firewall::NetworkRules {
        bridge: net.bridge.clone(),
        subnets: net.subnets.clone(),
        masquerade: net.enable_ip_masquerade,
        internal: net.internal,
        icc: net.enable_icc,
        snat_ipv4: net.host_ipv4,
    }
}

/// Sets the network's firewall rules and, unless it is internal, turns forwarding on.
/// A host without a firewall is not an error: the network works, unfiltered.
fn apply_firewall(network_id: &str, net: &Network) -> Result<()> {
    match firewall::set_network(network_id, &rules(net)) {
        Ok(()) => {}
        Err(e) if e.kind == wnet_sdk::ErrorKind::Unavailable => {
            log::log(
                log::Level::Warn,
                "no firewall on this host: the network is not masqueraded, isolated or filtered",
                &[("bridge", &net.bridge), ("reason", &e.message)],
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if net.internal {
        return Ok(());
    }
    let mut keys = Vec::new();
    if net.subnets.iter().any(|s| matches!(s, IpNet::V4(_))) {
        keys.push("net.ipv4.ip_forward");
    }
    if net.subnets.iter().any(|s| matches!(s, IpNet::V6(_))) {
        keys.push("net.ipv6.conf.all.forwarding");
    }
    let host = kernel::host();
    for key in keys {
        if sysctl::get(host, key)? != "1" {
            sysctl::set(host, key, "1")?;
        }
    }
    Ok(())
}

/// Removes the network's firewall rules; a host without a firewall had none.
fn clear_firewall(network_id: &str) -> Result<()> {
    match firewall::clear_network(network_id) {
        Err(e) if e.kind == wnet_sdk::ErrorKind::Unavailable => Ok(()),
        other => other,
    }
}

/// The network of this driver that uses bridge `name`, if any.
fn network_using(name: &str) -> Result<Option<String>> {
    for (key, value) in kv::list("network/")? {
        let net: Network = serde_json::from_slice(&value)
            .map_err(|e| Error::internal(format!("kv key `{key}`: {e}")))?;
        if net.bridge == name {
            return Ok(Some(key.trim_start_matches("network/").to_owned()));
        }
    }
    Ok(None)
}

/// Brings a link of the host namespace up or down.
fn set_up(name: &str, up: bool) -> Result<()> {
    let change = LinkChange {
        up: Some(up),
        ..LinkChange::default()
    };
    links::set(kernel::host(), name, &change)
}

/// Undoes a failed create-network: the bridge goes if this network made it; an
/// adopted one loses only the `added` addresses and is given back.
fn undo_bridge(net: &Network, added: &[IpNet]) {
    let host = kernel::host();
    if net.adopted {
        for a in added {
            let _ = addresses::delete(host, &net.bridge, *a);
        }
        if net.was_down {
            let _ = set_up(&net.bridge, false);
        }
        let _ = links::release(host, &net.bridge);
    } else {
        let _ = links::delete(host, &net.bridge);
    }
}

/// `create-network` of a network this driver knows: the host restoring it after a
/// restart found kernel objects gone (libnetwork's bridge driver does the same when it
/// re-creates its networks at start). Re-creates a missing bridge, puts back missing
/// gateway addresses and re-attaches the endpoints' veths that survived.
fn restore(network_id: &str, mut net: Network) -> Result<()> {
    let host = kernel::host();
    if links::get(host, &net.bridge)?.is_none() {
        let mut bridge = NewLink::new(&net.bridge, LinkKind::Bridge);
        bridge.mtu = net.mtu;
        bridge.up = true;
        links::create(host, &bridge)?;
        if net.adopted {
            // The bridge it had adopted is gone: the new one is its own.
            net.adopted = false;
            net.was_down = false;
            kv::set_json(&network_key(network_id), &net)?;
        }
        log::log(
            log::Level::Warn,
            "bridge was missing: re-created",
            &[("bridge", &net.bridge), ("network", network_id)],
        );
    }
    let present = addresses::list(host, &net.bridge)?;
    for a in net.addresses.iter().filter(|a| !present.contains(a)) {
        addresses::add(host, &net.bridge, *a)?;
    }
    apply_firewall(network_id, &net)?;
    let attach = LinkChange {
        master: Some(net.bridge.clone()),
        up: Some(true),
        ..LinkChange::default()
    };
    for (_, value) in kv::list(&format!("endpoint/{network_id}/"))? {
        let ep: Endpoint = serde_json::from_slice(&value)
            .map_err(|e| Error::internal(format!("endpoint record: {e}")))?;
        if links::get(host, &ep.host_end)?.is_some_and(|l| l.master.is_none()) {
            links::set(host, &ep.host_end, &attach)?;
        }
    }
    Ok(())
}

/// The bridge driver. Everything it knows is in `kv`.
#[derive(Default)]
pub struct Bridge;

impl NetworkDriver for Bridge {
    fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
        if let Some(known) = kv::get_json::<Network>(&network_key(&request.network_id))? {
            return restore(&request.network_id, known);
        }
        let mut net = parse(&request)?;
        let host = kernel::host();
        if let Some(other) = network_using(&net.bridge)? {
            return Err(Error::conflict(format!(
                "bridge `{}` already serves network {other}: choose another bridge name with -o {}",
                net.bridge,
                opt::NAME
            )));
        }
        match links::get(host, &net.bridge)? {
            // Docker's bridge reuses a bridge of that name that is already there.
            Some(existing) if existing.kind.as_deref() == Some("bridge") => {
                links::adopt(host, &net.bridge)?;
                net.adopted = true;
                net.was_down = !existing.up;
                let present = addresses::list(host, &net.bridge)?;
                net.addresses.retain(|a| !present.contains(a));
                if net.was_down
                    && let Err(e) = set_up(&net.bridge, true)
                {
                    let _ = links::release(host, &net.bridge);
                    return Err(e);
                }
            }
            Some(existing) => {
                return Err(Error::conflict(format!(
                    "a link named `{}` already exists and is a {}, not a bridge: choose another bridge name with -o {}",
                    net.bridge,
                    existing.kind.as_deref().unwrap_or("link of unknown kind"),
                    opt::NAME
                )));
            }
            None => {
                let mut bridge = NewLink::new(&net.bridge, LinkKind::Bridge);
                bridge.mtu = net.mtu;
                bridge.up = true;
                links::create(host, &bridge)?;
            }
        }
        for (i, a) in net.addresses.iter().enumerate() {
            if let Err(e) = addresses::add(host, &net.bridge, *a) {
                // Nothing half-made: undo what this network did to the bridge.
                undo_bridge(&net, &net.addresses[..i]);
                return Err(e);
            }
        }
        if let Err(e) = apply_firewall(&request.network_id, &net) {
            let _ = clear_firewall(&request.network_id);
            undo_bridge(&net, &net.addresses);
            return Err(e);
        }
        if let Err(e) = kv::set_json(&network_key(&request.network_id), &net) {
            let _ = clear_firewall(&request.network_id);
            undo_bridge(&net, &net.addresses);
            return Err(e);
        }
        log::log(
            log::Level::Info,
            if net.adopted {
                "existing bridge adopted"
            } else {
                "bridge created"
            },
            &[("bridge", &net.bridge), ("network", &request.name)],
        );
        Ok(())
    }

    fn delete_network(&mut self, network_id: &str) -> Result<()> {
        let net = load_network(network_id)?;
        clear_firewall(network_id)?;
        let gone = |r: Result<()>| match r {
            // Gone already (deleted by hand): what was asked is done.
            Err(e) if e.kind == wnet_sdk::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        let host = kernel::host();
        if net.adopted {
            for a in &net.addresses {
                gone(addresses::delete(host, &net.bridge, *a))?;
            }
            if net.was_down {
                gone(set_up(&net.bridge, false))?;
            }
            links::release(host, &net.bridge)?;
        } else {
            gone(links::delete(host, &net.bridge))?;
        }
        kv::delete(&network_key(network_id))?;
        Ok(())
    }

    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
        let net = load_network(&request.network_id)?;
        let host_end = format!("veth{}", short(&request.endpoint_id, 7));
        let derived = match (request.interface.mac_address, request.interface.address) {
            (None, Some(a)) => Some(mac_for(a.addr())),
            _ => None,
        };
        let mac = request.interface.mac_address.or(derived);
        // Checked now, so that a typo fails the connect rather than its publishing.
        let ports = wnet_sdk::ports::from_options(&request.options)?;
        for b in &ports {
            b.protocol()?;
        }
        let namespace = match &request.sandbox {
            Some(sb) => Some(kernel::sandbox(&sb.id)?),
            None => None,
        };
        let veth = |peer: &str| {
            let mut veth = NewLink::new(
                &host_end,
                LinkKind::Veth {
                    peer: peer.to_owned(),
                    namespace,
                    mac,
                },
            );
            veth.mtu = net.mtu;
            veth.master = Some(net.bridge.clone());
            veth.up = true;
            veth
        };
        let sandbox_end = match namespace {
            None => {
                let name = format!("veth{}s", short(&request.endpoint_id, 7));
                links::create(kernel::host(), &veth(&name))?;
                name
            }
            Some(sandbox) => {
                let explicit = request.options.get(keys::ENDPOINT_IFNAME);
                create_in_sandbox(sandbox, &net.iface_prefix, explicit, veth)?
            }
        };
        let ep = Endpoint {
            host_end: host_end.clone(),
            sandbox_end,
            mac,
            address: request.interface.address.map(|a| a.addr()),
            address_ipv6: request.interface.address_ipv6.map(|a| a.addr()),
            ports,
            published: Vec::new(),
        };
        if let Err(e) = kv::set_json(
            &endpoint_key(&request.network_id, &request.endpoint_id),
            &ep,
        ) {
            let _ = links::delete(kernel::host(), &host_end);
            return Err(e);
        }
        Ok(EndpointInterface {
            mac_address: derived,
            created_in_sandbox: namespace.is_some(),
            ..EndpointInterface::default()
        })
    }

    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        let key = endpoint_key(network_id, endpoint_id);
        let ep: Endpoint = kv::get_json(&key)?.ok_or_else(|| {
            Error::not_found(format!("endpoint {endpoint_id} is not a bridge endpoint"))
        })?;
        // Deleting the host end takes the other end too, wherever it is; after its
        // sandbox went, the pair is gone already.
        match links::delete(kernel::host(), &ep.host_end) {
            Ok(()) => {}
            Err(e) if e.kind == wnet_sdk::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        kv::delete(&key)?;
        Ok(())
    }

    fn endpoint_oper_info(&mut self, network_id: &str, endpoint_id: &str) -> Result<Options> {
        let ep: Endpoint = kv::get_json(&endpoint_key(network_id, endpoint_id))?
            .ok_or_else(|| Error::not_found(format!("endpoint {endpoint_id}")))?;
        let mut info: Options = [("host-interface", ep.host_end)].into_iter().collect();
        if let Some(mac) = ep.mac {
            info.insert(keys::MAC_ADDRESS, mac.to_string());
        }
        if !ep.published.is_empty() {
            let json =
                serde_json::to_string(&ep.published).map_err(|e| Error::internal(e.to_string()))?;
            info.insert(keys::PORT_MAP, json);
        }
        Ok(info)
    }

    fn join(&mut self, request: JoinRequest) -> Result<JoinInfo> {
        let net = load_network(&request.network_id)?;
        let ep: Endpoint = kv::get_json(&endpoint_key(&request.network_id, &request.endpoint_id))?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "endpoint {} is not a bridge endpoint",
                    request.endpoint_id
                ))
            })?;
        Ok(JoinInfo {
            interface_name: Some(InterfaceName {
                src_name: ep.sandbox_end,
                dst_prefix: net.iface_prefix.clone(),
                dst_name: request
                    .options
                    .get(keys::ENDPOINT_IFNAME)
                    .map(str::to_owned),
            }),
            gateway: net.gateway.filter(|_| !net.internal),
            gateway_ipv6: net.gateway_ipv6.filter(|_| !net.internal),
            static_routes: Vec::new(),
            disable_gateway_service: net.internal,
        })
    }

    fn leave(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        kv::get(&endpoint_key(network_id, endpoint_id))?
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("endpoint {endpoint_id}")))
    }

    /// Publishes the endpoint's ports (its own `com.docker.network.portmap`, else the
    /// sandbox's, as Docker passes them) through the host's firewall. The sandbox's are
    /// the container's, published once per family: through the endpoint that is its
    /// gateway of that family, as libnetwork programs external connectivity only there.
    fn program_external_connectivity(
        &mut self,
        request: ExternalConnectivityRequest,
    ) -> Result<()> {
        let key = endpoint_key(&request.network_id, &request.endpoint_id);
        let mut ep: Endpoint = kv::get_json(&key)?
            .ok_or_else(|| Error::not_found(format!("endpoint {}", request.endpoint_id)))?;
        let own = !ep.ports.is_empty();
        let bindings = if own {
            ep.ports.clone()
        } else if request.ipv4_gateway || request.ipv6_gateway {
            wnet_sdk::ports::from_options(&request.options)?
        } else {
            Vec::new()
        };
        if bindings.is_empty() {
            return Ok(());
        }
        let net = load_network(&request.network_id)?;
        let mut wanted = port_mappings(&net, &ep, &bindings)?;
        if !own {
            // The container's ports: each family through the endpoint that is the
            // sandbox's gateway of that family.
            wanted.retain(|m| {
                if m.container_ip.is_ipv4() {
                    request.ipv4_gateway
                } else {
                    request.ipv6_gateway
                }
            });
            if wanted.is_empty() {
                return Ok(());
            }
        }
        let published = firewall::publish(&request.network_id, &request.endpoint_id, &wanted)
            .map_err(|e| {
                if e.kind == wnet_sdk::ErrorKind::Unavailable {
                    Error::unavailable(format!("cannot publish ports: {}", e.message))
                } else {
                    e
                }
            })?;
        ep.published = published
            .iter()
            .map(|p| PortBinding {
                proto: p.protocol.number(),
                ip: p.container_ip.to_string(),
                port: p.container_port,
                host_ip: p.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                host_port: p.host_port,
                host_port_end: p.host_port,
            })
            .collect();
        if let Err(e) = kv::set_json(&key, &ep) {
            let _ = firewall::unpublish(&request.network_id, &request.endpoint_id);
            return Err(e);
        }
        Ok(())
    }

    fn revoke_external_connectivity(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        let key = endpoint_key(network_id, endpoint_id);
        let Some(mut ep) = kv::get_json::<Endpoint>(&key)? else {
            return Ok(());
        };
        match firewall::unpublish(network_id, endpoint_id) {
            Err(e) if e.kind != wnet_sdk::ErrorKind::Unavailable => return Err(e),
            _ => {}
        }
        if !ep.published.is_empty() {
            ep.published.clear();
            kv::set_json(&key, &ep)?;
        }
        Ok(())
    }
}

wnet_sdk::export_network_driver!(Bridge);

#[cfg(test)]
mod tests {
    use wnet_sdk::testing::{Harness, existing_link, kernel};
    use wnet_sdk::{InterfaceInfo, IpamData, SandboxInfo};

    use super::*;

    fn request(id: &str, options: &[(&str, &str)]) -> NetworkRequest {
        NetworkRequest {
            network_id: id.into(),
            name: "n".into(),
            options: options.iter().copied().collect(),
            enable_ipv4: true,
            ipv4_data: vec![IpamData {
                address_space: "LocalDefault".into(),
                pool: "10.88.0.0/16".parse().unwrap(),
                gateway: Some("10.88.0.1/16".parse().unwrap()),
                aux_addresses: vec![],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_network_is_a_bridge_with_its_gateway_and_goes_with_it() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("0123456789abcdef", &[])).unwrap();
        let br = kernel(|k| k.find(0, "br-0123456789ab").cloned()).unwrap();
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert!(br.up);
        assert_eq!(
            kernel(|k| k.addresses.clone()),
            [(
                0,
                "br-0123456789ab".to_owned(),
                "10.88.0.1/16".parse().unwrap()
            )]
        );
        h.restart();
        h.delete_network("0123456789abcdef").unwrap();
        assert!(kernel(|k| k.links.is_empty()));
        assert!(h.kv().is_empty());
    }

    #[test]
    fn the_firewall_is_asked_for_masquerade_isolation_and_forwarding() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[(opt::ENABLE_ICC, "false")]))
            .unwrap();
        let rules = wnet_sdk::testing::firewall()["net1"].clone();
        assert_eq!(rules.bridge, "br-net1");
        assert_eq!(rules.subnets, ["10.88.0.0/16".parse().unwrap()]);
        assert!(rules.masquerade && !rules.internal && !rules.icc);
        let forward = || {
            kernel(|k| {
                k.sysctls
                    .get(&(0, "net.ipv4.ip_forward".to_owned()))
                    .cloned()
            })
        };
        assert_eq!(forward().as_deref(), Some("1"));
        h.delete_network("net1").unwrap();
        assert!(wnet_sdk::testing::firewall().is_empty());

        // An internal network is kept in, and turns no forwarding on.
        wnet_sdk::testing::reset();
        let mut internal = request("net2", &[(opt::ENABLE_IP_MASQUERADE, "false")]);
        internal.internal = true;
        h.create_network(internal).unwrap();
        let rules = wnet_sdk::testing::firewall()["net2"].clone();
        assert!(rules.internal && !rules.masquerade && rules.icc);
        assert_eq!(forward(), None);
    }

    #[test]
    fn ports_are_published_with_external_connectivity_and_shown() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[(opt::HOST_BINDING_IPV4, "198.51.100.1")]))
            .unwrap();
        let ports = [
            PortBinding::parse("8080:80").unwrap(),
            PortBinding::parse("0.0.0.0:5353:53/udp").unwrap(),
        ];
        let ep = EndpointRequest {
            network_id: "net1".into(),
            endpoint_id: "e1".into(),
            interface: InterfaceInfo {
                address: Some("10.88.0.2/16".parse().unwrap()),
                ..Default::default()
            },
            options: [(keys::PORT_MAP, serde_json::to_string(&ports).unwrap())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        h.create_endpoint(ep).unwrap();
        assert!(
            wnet_sdk::testing::published().is_empty(),
            "not before connectivity"
        );
        h.program_external_connectivity(ExternalConnectivityRequest {
            network_id: "net1".into(),
            endpoint_id: "e1".into(),
            ..Default::default()
        })
        .unwrap();
        let published = &wnet_sdk::testing::published()[&("net1".to_owned(), "e1".to_owned())];
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        assert_eq!(
            published
                .iter()
                .map(|p| (p.host_ip, p.host_port, p.container_ip, p.container_port))
                .collect::<Vec<_>>(),
            [
                (ip("198.51.100.1"), 8080, ip("10.88.0.2").unwrap(), 80),
                (None, 5353, ip("10.88.0.2").unwrap(), 53),
            ],
            "host_binding_ipv4 by default, 0.0.0.0 for any"
        );
        let info = h.endpoint_oper_info("net1", "e1").unwrap();
        let shown: Vec<PortBinding> =
            serde_json::from_str(info.get(keys::PORT_MAP).unwrap()).unwrap();
        assert_eq!(shown[0].to_string(), "198.51.100.1:8080:80/tcp");
        h.revoke_external_connectivity("net1", "e1").unwrap();
        assert!(wnet_sdk::testing::published().is_empty());
        assert!(
            !h.endpoint_oper_info("net1", "e1")
                .unwrap()
                .contains(keys::PORT_MAP)
        );

        // A typo in the ports fails the endpoint, not its publishing later.
        let bad = EndpointRequest {
            network_id: "net1".into(),
            endpoint_id: "e2".into(),
            options: [(keys::PORT_MAP, "[{\"Proto\":1,\"Port\":80}]")]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let e = h.create_endpoint(bad).unwrap_err();
        assert!(e.message.contains("protocol number 1"), "{e}");
    }

    #[test]
    fn a_dual_stack_endpoint_publishes_to_both_families() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[])).unwrap();
        let endpoint = |id: &str, v6: bool, ports: &[&str]| {
            let ports: Vec<PortBinding> = ports
                .iter()
                .map(|p| PortBinding::parse(p).unwrap())
                .collect();
            EndpointRequest {
                network_id: "net1".into(),
                endpoint_id: id.into(),
                interface: InterfaceInfo {
                    address: Some("10.88.0.2/16".parse().unwrap()),
                    address_ipv6: v6.then(|| "fd00:88::2/64".parse().unwrap()),
                    ..Default::default()
                },
                options: [(keys::PORT_MAP, serde_json::to_string(&ports).unwrap())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            }
        };
        let connect = |h: &mut Harness<Bridge>, id: &str| {
            h.program_external_connectivity(ExternalConnectivityRequest {
                network_id: "net1".into(),
                endpoint_id: id.into(),
                ..Default::default()
            })
        };
        h.create_endpoint(endpoint(
            "e1",
            true,
            &["8080:80", "[2001:db8::1]:8443:443", "0.0.0.0:5353:53/udp"],
        ))
        .unwrap();
        connect(&mut h, "e1").unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let published = &wnet_sdk::testing::published()[&("net1".to_owned(), "e1".to_owned())];
        assert_eq!(
            published
                .iter()
                .map(|p| (p.host_ip, p.host_port, p.container_ip, p.container_port))
                .collect::<Vec<_>>(),
            [
                (None, 8080, ip("10.88.0.2"), 80),
                (None, 8080, ip("fd00:88::2"), 80),
                (Some(ip("2001:db8::1")), 8443, ip("fd00:88::2"), 443),
                (None, 5353, ip("10.88.0.2"), 53),
            ],
            "no host address: both families; a host address: its own family only"
        );
        let info = h.endpoint_oper_info("net1", "e1").unwrap();
        let shown: Vec<PortBinding> =
            serde_json::from_str(info.get(keys::PORT_MAP).unwrap()).unwrap();
        assert_eq!(
            shown.iter().map(|p| p.ip.as_str()).collect::<Vec<_>>(),
            ["10.88.0.2", "fd00:88::2", "fd00:88::2", "10.88.0.2"]
        );

        // An IPv6 host address for an endpoint without IPv6 is refused, naming it.
        h.create_endpoint(endpoint("e2", false, &["[2001:db8::1]:9443:443"]))
            .unwrap();
        let e = connect(&mut h, "e2").unwrap_err();
        assert!(
            e.message.contains("[2001:db8::1]:9443:443") && e.message.contains("no IPv6 address"),
            "{e}"
        );
    }

    #[test]
    fn a_container_s_ports_go_through_its_gateway_endpoint_of_each_family() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[])).unwrap();
        let ports = [PortBinding::parse("8080:80").unwrap()];
        let sandbox_ports: wnet_sdk::Options =
            [(keys::PORT_MAP, serde_json::to_string(&ports).unwrap())]
                .into_iter()
                .collect();
        for id in ["e1", "e2"] {
            h.create_endpoint(EndpointRequest {
                network_id: "net1".into(),
                endpoint_id: id.into(),
                interface: InterfaceInfo {
                    address: Some("10.88.0.2/16".parse().unwrap()),
                    address_ipv6: Some("fd00:88::2/64".parse().unwrap()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .unwrap();
        }
        let connect = |h: &mut Harness<Bridge>, id: &str, gw4: bool, gw6: bool| {
            h.program_external_connectivity(ExternalConnectivityRequest {
                network_id: "net1".into(),
                endpoint_id: id.into(),
                options: sandbox_ports.clone(),
                ipv4_gateway: gw4,
                ipv6_gateway: gw6,
            })
            .unwrap();
            wnet_sdk::testing::published()
                .get(&("net1".to_owned(), id.to_owned()))
                .map(|p| p.iter().map(|m| m.container_ip).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(
            connect(&mut h, "e1", false, false).is_empty(),
            "not a gateway: none"
        );
        assert_eq!(connect(&mut h, "e1", true, false), [ip("10.88.0.2")]);
        assert_eq!(connect(&mut h, "e2", false, true), [ip("fd00:88::2")]);
    }

    #[test]
    fn options_are_docker_s_and_typos_are_errors() {
        let net = parse(&request(
            "n1",
            &[
                (opt::NAME, "wnet0"),
                (keys::MTU, "1400"),
                (opt::INHIBIT_IPV4, "true"),
            ],
        ))
        .unwrap();
        assert_eq!((net.bridge.as_str(), net.mtu), ("wnet0", Some(1400)));
        assert!(
            net.addresses.is_empty(),
            "inhibit_ipv4 keeps the gateway off the bridge"
        );
        assert_eq!(net.gateway, Some("10.88.0.1".parse().unwrap()));
        for (bad, what) in [
            ((keys::MTU, "12"), "68..=65535"),
            (
                (opt::NAME, "a-name-far-too-long"),
                "not a valid Linux interface name",
            ),
            (
                ("com.docker.network.bridge.enable_icq", "true"),
                "unknown option",
            ),
            ((opt::ENABLE_ICC, "maybe"), "true or false"),
        ] {
            let err = parse(&request("n1", &[bad])).unwrap_err();
            assert!(err.message.contains(what), "{bad:?}: {err}");
        }
    }

    #[test]
    fn endpoints_are_veths_made_in_the_sandbox_with_docker_s_mac() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[])).unwrap();
        let ep = EndpointRequest {
            network_id: "net1".into(),
            endpoint_id: "abcdef123456".into(),
            endpoint_name: "web".into(),
            interface: InterfaceInfo {
                address: Some("10.88.0.2/16".parse().unwrap()),
                ..Default::default()
            },
            sandbox: Some(SandboxInfo {
                id: "c1".into(),
                key: "/run/wnet/netns/c1".into(),
                options: Options::new(),
            }),
            ..Default::default()
        };
        let set = h.create_endpoint(ep).unwrap();
        assert!(set.created_in_sandbox);
        assert_eq!(set.mac_address.unwrap().to_string(), "02:42:0a:58:00:02");
        // The sandbox end is named as the sandbox keeps it: no rename at the join.
        let (host_end, peer) = kernel(|k| {
            (
                k.find(0, "vethabcdef1").cloned(),
                k.find(1, "eth0").cloned(),
            )
        });
        assert!(
            host_end.unwrap().master.is_some(),
            "the host end is on the bridge"
        );
        assert_eq!(
            peer.unwrap().mac,
            set.mac_address,
            "the sandbox end is in the sandbox"
        );
        let join = h
            .join(JoinRequest {
                network_id: "net1".into(),
                endpoint_id: "abcdef123456".into(),
                ..Default::default()
            })
            .unwrap();
        let names = join.interface_name.unwrap();
        assert_eq!(
            (names.src_name.as_str(), names.dst_prefix.as_str()),
            ("eth0", "eth")
        );
        assert_eq!(join.gateway, Some("10.88.0.1".parse().unwrap()));

        // A second endpoint in that sandbox takes the next free name; one with the
        // `ifname` option takes that name.
        let in_c1 = |id: &str, options: &[(&str, &str)]| EndpointRequest {
            network_id: "net1".into(),
            endpoint_id: id.into(),
            endpoint_name: id.into(),
            sandbox: Some(SandboxInfo {
                id: "c1".into(),
                key: "/run/wnet/netns/c1".into(),
                options: Options::new(),
            }),
            options: options.iter().copied().collect(),
            ..Default::default()
        };
        h.create_endpoint(in_c1("bbbbbb123456", &[])).unwrap();
        h.create_endpoint(in_c1("cccccc123456", &[(keys::ENDPOINT_IFNAME, "web0")]))
            .unwrap();
        let mut join_names = |id: &str| {
            h.join(JoinRequest {
                network_id: "net1".into(),
                endpoint_id: id.into(),
                options: [(keys::ENDPOINT_IFNAME, "web0")]
                    .into_iter()
                    .filter(|_| id.starts_with('c'))
                    .collect(),
                ..Default::default()
            })
            .unwrap()
            .interface_name
            .unwrap()
        };
        let second = join_names("bbbbbb123456");
        assert_eq!(second.src_name, "eth1");
        let third = join_names("cccccc123456");
        assert_eq!(
            (third.src_name.as_str(), third.dst_name.as_deref()),
            ("web0", Some("web0"))
        );
        assert!(kernel(
            |k| k.find(1, "eth1").is_some() && k.find(1, "web0").is_some()
        ));

        h.leave("net1", "abcdef123456").unwrap();
        h.delete_endpoint("net1", "abcdef123456").unwrap();
        assert!(kernel(|k| k.find(0, "vethabcdef1").is_none()));
    }

    #[test]
    fn an_existing_link_of_the_same_name_is_not_taken_over() {
        let mut h = Harness::<Bridge>::new();
        h.create_network(request("net1", &[(opt::NAME, "wnet0")]))
            .unwrap();
        let err = h
            .create_network(request("net2", &[(opt::NAME, "wnet0")]))
            .unwrap_err();
        assert_eq!(err.kind, wnet_sdk::ErrorKind::Conflict);
        assert!(
            err.message.contains("wnet0") && err.message.contains("net1"),
            "{err}"
        );
    }

    #[test]
    fn an_existing_bridge_is_adopted_and_kept() {
        let mut h = Harness::<Bridge>::new();
        let index = existing_link("wnet-ops", "bridge");
        h.create_network(request("net1", &[(opt::NAME, "wnet-ops")]))
            .unwrap();
        assert!(kernel(|k| k.adopted.contains(&(0, "wnet-ops".to_owned()))));
        let gw: IpNet = "10.88.0.1/16".parse().unwrap();
        let on_bridge = |gw| kernel(|k| k.addresses.contains(&(0, "wnet-ops".to_owned(), gw)));
        assert!(on_bridge(gw), "the gateway is on the adopted bridge");
        h.delete_network("net1").unwrap();
        let br = kernel(|k| k.find(0, "wnet-ops").cloned()).expect("the bridge is kept");
        assert_eq!(br.index, index);
        assert!(!on_bridge(gw), "the gateway it added is gone");
        assert!(kernel(|k| k.adopted.is_empty()), "released");
        assert!(h.kv().is_empty());
    }

    #[test]
    fn an_existing_link_that_is_not_a_bridge_is_refused() {
        let mut h = Harness::<Bridge>::new();
        existing_link("wnet-veth", "veth");
        let err = h
            .create_network(request("net1", &[(opt::NAME, "wnet-veth")]))
            .unwrap_err();
        assert_eq!(err.kind, wnet_sdk::ErrorKind::Conflict);
        assert!(err.message.contains("is a veth, not a bridge"), "{err}");
        assert!(kernel(|k| k.adopted.is_empty()) && h.kv().is_empty());
    }
}
