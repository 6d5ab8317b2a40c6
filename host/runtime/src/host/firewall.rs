//! `wnet:driver/firewall`: a driver's firewall intents for its networks, realised by
//! the host in its nftables table (`wnet_netlink::firewall`). A driver sets rules only
//! for a bridge it created or adopted, masquerades only subnets that hold an address
//! of that bridge, and sees its rules removed with the network. The rules are kept in
//! the store's `firewall` table (`<driver>/<network id>`), committed with the
//! operation that set them, and written again at start-up ([`restore`]).

use std::sync::Arc;
use std::time::Instant;

use wnet_core::Store;
use wnet_netlink::firewall::{Firewall, NetworkRules, PortMapping, Protocol};

use super::kernel::{DriverKernel, kernel_error};
use crate::bindings::convert::from_wit;
use crate::bindings::network::wnet::driver::firewall;
use crate::bindings::network::wnet::driver::types::Error;
use crate::host::HostState;

/// The store table of the rules.
const TABLE: &str = "firewall";
/// The store table of published ports, `<driver>/<network id>/<endpoint id>`.
const PORTS: &str = "ports";

fn key(driver: &str, network_id: &str) -> String {
    format!("{driver}/{network_id}")
}

fn store_failed(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("the host's store failed: {e}"))
}

/// A record of the host's, `what` naming it in an error.
fn decode<T: serde::de::DeserializeOwned>(what: &str, key: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("{what} {key}: {e}")))
}

fn read<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    table: &str,
    what: &str,
    key: &str,
) -> Result<Option<T>, Error> {
    store
        .get(table, key)
        .map_err(store_failed)?
        .map(|bytes| decode(what, key, &bytes))
        .transpose()
}

/// Records `value` under `key`, or removes the key when there is none.
fn write<T: serde::Serialize + ?Sized>(
    store: &dyn Store,
    table: &str,
    key: &str,
    value: Option<&T>,
) -> Result<(), Error> {
    match value {
        Some(v) => {
            let bytes = serde_json::to_vec(v).map_err(store_failed)?;
            store.put(table, key, &bytes).map_err(store_failed)
        }
        None => store.delete(table, key).map(drop).map_err(store_failed),
    }
}

fn load(store: &dyn Store, key: &str) -> Result<Option<NetworkRules>, Error> {
    read(store, TABLE, "firewall record", key)
}

/// The host's firewall, or why there is none.
fn lent(k: &DriverKernel) -> Result<Firewall, Error> {
    k.kernel.firewall.clone().ok_or_else(|| {
        Error::Unavailable(
            "this host runs no firewall (`firewall = false` in its config): no rules were set"
                .to_owned(),
        )
    })
}

/// Applies `old` → `new` for a driver's network, audited, then records `new`.
async fn change(
    k: &DriverKernel,
    store: &dyn Store,
    network_id: &str,
    old: Option<&NetworkRules>,
    new: Option<&NetworkRules>,
) -> Result<(), Error> {
    let fw = lent(k)?;
    let started = Instant::now();
    let result = fw.change(old, new).await;
    let bridge = new.or(old).map_or("", |r| r.bridge.as_str());
    super::audit::audit(
        k.driver(),
        &k.audit,
        if new.is_some() {
            "firewall-set"
        } else {
            "firewall-clear"
        },
        &"host",
        &format_args!("network {network_id} bridge {bridge}"),
        result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
        started,
    );
    result.map_err(|e| kernel_error(&e))?;
    write(store, TABLE, &key(k.driver(), network_id), new)
}

fn ports_key(driver: &str, network_id: &str, endpoint_id: &str) -> String {
    format!("{driver}/{network_id}/{endpoint_id}")
}

fn load_ports(store: &dyn Store, key: &str) -> Result<Vec<PortMapping>, Error> {
    read(store, PORTS, "published ports", key).map(Option::unwrap_or_default)
}

/// Every published port, by its record's key.
fn all_ports(store: &dyn Store) -> Result<Vec<(String, PortMapping)>, Error> {
    let rows = store.scan(PORTS, "").map_err(store_failed)?;
    let mut out = Vec::new();
    for (key, bytes) in rows {
        let ports: Vec<PortMapping> = decode("published ports", &key, &bytes)?;
        out.extend(ports.into_iter().map(|p| (key.clone(), p)));
    }
    Ok(out)
}

/// Whether two published ports take the same host port: one family, one protocol, one
/// port, and the same host address or either on any.
fn clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.container_ip.is_ipv6() == b.container_ip.is_ipv6()
        && a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

/// Replaces an endpoint's published ports, audited, then records them.
async fn change_ports(
    k: &DriverKernel,
    store: &dyn Store,
    key: &str,
    old: &[PortMapping],
    new: &[PortMapping],
) -> Result<(), Error> {
    let fw = lent(k)?;
    let started = Instant::now();
    let result = fw.publish(old, new).await;
    super::audit::audit(
        k.driver(),
        &k.audit,
        "firewall-publish",
        &"host",
        &format_args!("{key}: {} ports", new.len()),
        result.as_ref().err().map(|e| e as &dyn std::fmt::Display),
        started,
    );
    result.map_err(|e| kernel_error(&e))?;
    write(store, PORTS, key, Some(new).filter(|n| !n.is_empty()))
}

/// The host ports of `wanted` resolved (the first free port of each range), checked
/// against the network's subnets and every port published by other endpoints.
fn resolve(
    k: &DriverKernel,
    store: &dyn Store,
    key: &str,
    rules: &NetworkRules,
    wanted: Vec<firewall::PortMapping>,
) -> Result<Vec<PortMapping>, Error> {
    let taken: Vec<(String, PortMapping)> = all_ports(store)?
        .into_iter()
        .filter(|(owner, _)| owner != key)
        .collect();
    let mut out: Vec<PortMapping> = Vec::new();
    for w in wanted {
        let container_ip = from_wit::ip(w.container_ip);
        if !rules.subnets.iter().any(|s| s.contains(&container_ip)) {
            return Err(k.refuse(format!(
                "container address {container_ip} is in none of the network's subnets: a driver publishes ports only to its own endpoints"
            )));
        }
        let end = if w.host_port_end == 0 {
            w.host_port
        } else {
            w.host_port_end
        };
        if w.host_port == 0 || end < w.host_port || w.container_port == 0 {
            return Err(Error::InvalidParameter(format!(
                "port range {}-{end} to {}: ports are 1 to 65535, a range low to high",
                w.host_port, w.container_port
            )));
        }
        let protocol = match w.protocol {
            firewall::Protocol::Tcp => Protocol::Tcp,
            firewall::Protocol::Udp => Protocol::Udp,
            firewall::Protocol::Sctp => Protocol::Sctp,
        };
        let host_ip = w.host_ip.map(from_wit::ip);
        if let Some(ip) = host_ip.filter(|ip| ip.is_ipv6() != container_ip.is_ipv6()) {
            return Err(Error::InvalidParameter(format!(
                "published port {ip}:{} leads to {container_ip}: the host address and the container's must be of one family",
                w.host_port
            )));
        }
        let candidate = |host_port| PortMapping {
            protocol,
            host_ip,
            host_port,
            host_port_end: host_port,
            container_ip,
            container_port: w.container_port,
        };
        let free = (w.host_port..=end)
            .map(candidate)
            .find(|c| !taken.iter().any(|(_, t)| clash(t, c)) && !out.iter().any(|o| clash(o, c)));
        match free {
            Some(p) => out.push(p),
            None => {
                let by = taken
                    .iter()
                    .find(|(_, t)| clash(t, &candidate(w.host_port)))
                    .map_or("this request".to_owned(), |(owner, _)| {
                        format!("endpoint {}", owner.rsplit('/').next().unwrap_or(owner))
                    });
                let what = if end == w.host_port {
                    format!("host port {}/{protocol}", w.host_port)
                } else {
                    format!("every host port of {}-{end}/{protocol}", w.host_port)
                };
                return Err(Error::Conflict(format!(
                    "{what}{} is already published (by {by}): choose another host port",
                    host_ip.map(|ip| format!(" on {ip}")).unwrap_or_default()
                )));
            }
        }
    }
    Ok(out)
}

/// Unpublishes an endpoint's ports, if any: when the driver asks, and after its
/// delete-endpoint, so that a driver that forgets leaves no port behind.
pub(crate) async fn unpublish(
    k: &DriverKernel,
    store: &dyn Store,
    network_id: &str,
    endpoint_id: &str,
) -> Result<(), Error> {
    let key = ports_key(k.driver(), network_id, endpoint_id);
    let old = load_ports(store, &key)?;
    if old.is_empty() {
        return Ok(());
    }
    change_ports(k, store, &key, &old, &[]).await
}

impl firewall::Host for HostState {
    async fn publish(
        &mut self,
        network_id: String,
        endpoint_id: String,
        ports: Vec<firewall::PortMapping>,
    ) -> Result<Vec<firewall::PortMapping>, Error> {
        let k: Arc<DriverKernel> = self.kernel()?.clone();
        let store = self.ctx.store.clone();
        let Some(rules) = load(store.as_ref(), &key(k.driver(), &network_id))? else {
            return Err(Error::NotFound(format!(
                "network {network_id} has no firewall rules: set them (set-network) before publishing its ports"
            )));
        };
        if rules.internal {
            return Err(Error::InvalidParameter(format!(
                "network {network_id} is internal: nothing is published from it"
            )));
        }
        if endpoint_id.is_empty() || endpoint_id.len() > 128 || endpoint_id.contains('/') {
            return Err(Error::InvalidParameter(format!(
                "endpoint id `{endpoint_id}`: 1 to 128 bytes without `/`"
            )));
        }
        let pkey = ports_key(k.driver(), &network_id, &endpoint_id);
        let new = resolve(&k, store.as_ref(), &pkey, &rules, ports)?;
        let old = load_ports(store.as_ref(), &pkey)?;
        if old != new {
            change_ports(&k, store.as_ref(), &pkey, &old, &new).await?;
        }
        Ok(new
            .iter()
            .map(|p| firewall::PortMapping {
                protocol: match p.protocol {
                    Protocol::Tcp => firewall::Protocol::Tcp,
                    Protocol::Udp => firewall::Protocol::Udp,
                    Protocol::Sctp => firewall::Protocol::Sctp,
                },
                host_ip: p.host_ip.map(crate::bindings::convert::to_wit::ip),
                host_port: p.host_port,
                host_port_end: p.host_port,
                container_ip: crate::bindings::convert::to_wit::ip(p.container_ip),
                container_port: p.container_port,
            })
            .collect())
    }

    async fn unpublish(&mut self, network_id: String, endpoint_id: String) -> Result<(), Error> {
        let k: Arc<DriverKernel> = self.kernel()?.clone();
        let store = self.ctx.store.clone();
        unpublish(&k, store.as_ref(), &network_id, &endpoint_id).await
    }

    async fn set_network(
        &mut self,
        network_id: String,
        rules: firewall::NetworkRules,
    ) -> Result<(), Error> {
        let k: Arc<DriverKernel> = self.kernel()?.clone();
        let store = self.ctx.store.clone();
        if network_id.is_empty() || network_id.len() > 128 || network_id.contains('/') {
            return Err(Error::InvalidParameter(format!(
                "network id `{network_id}`: 1 to 128 bytes without `/`"
            )));
        }
        if !k.holds(&format!("host/{}", rules.bridge)) {
            return Err(k.refuse(format!(
                "bridge `{}` was not created or adopted by this driver: it may not set firewall rules for it",
                rules.bridge
            )));
        }
        let subnets = rules
            .subnets
            .into_iter()
            .map(|p| from_wit::prefix(p).map(|n| n.trunc()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidParameter(e.message))?;
        let snat_ipv4 = rules.snat_ipv4.map(from_wit::ipv4);
        if rules.masquerade && !rules.internal {
            // Only its own network's subnets: each must hold an address of the bridge.
            let nl = &k.kernel.netlink;
            let host = &k.kernel.host;
            let link = nl
                .link_by_name(host, &rules.bridge)
                .await
                .map_err(|e| kernel_error(&e))?
                .ok_or_else(|| Error::NotFound(format!("no link {}", rules.bridge)))?;
            let present: Vec<_> = nl
                .addrs(host)
                .await
                .map_err(|e| kernel_error(&e))?
                .into_iter()
                .filter(|a| a.index == link.index)
                .map(|a| a.address.addr())
                .collect();
            // A source address is one of the host's own.
            if let Some(to) = snat_ipv4 {
                let local = nl
                    .addrs(host)
                    .await
                    .map_err(|e| kernel_error(&e))?
                    .iter()
                    .any(|a| a.address.addr() == std::net::IpAddr::V4(to));
                if !local {
                    return Err(k.refuse(format!(
                        "SNAT address {to} is no address of the host: traffic may leave only from the host's own addresses"
                    )));
                }
            }
            if let Some(s) = subnets
                .iter()
                .find(|s| !present.iter().any(|a| s.contains(a)))
            {
                return Err(k.refuse(format!(
                    "subnet {s} holds no address of bridge `{}`: it may masquerade only its networks' subnets",
                    rules.bridge
                )));
            }
        }
        let new = NetworkRules {
            bridge: rules.bridge,
            subnets,
            masquerade: rules.masquerade,
            internal: rules.internal,
            icc: rules.icc,
            snat_ipv4,
        };
        let old = load(store.as_ref(), &key(k.driver(), &network_id))?;
        if old.as_ref() == Some(&new) {
            return Ok(());
        }
        change(&k, store.as_ref(), &network_id, old.as_ref(), Some(&new)).await
    }

    async fn clear_network(&mut self, network_id: String) -> Result<(), Error> {
        let k: Arc<DriverKernel> = self.kernel()?.clone();
        let store = self.ctx.store.clone();
        forget(&k, store.as_ref(), &network_id).await
    }
}

/// Removes the rules a driver set for a network, and its endpoints' published ports,
/// if any: when it clears them, and after its delete-network, so that a driver that
/// forgets leaves nothing behind.
pub(crate) async fn forget(
    k: &DriverKernel,
    store: &dyn Store,
    network_id: &str,
) -> Result<(), Error> {
    let prefix = format!("{}/{network_id}/", k.driver());
    let endpoints: Vec<String> = store
        .scan(PORTS, &prefix)
        .map_err(store_failed)?
        .into_iter()
        .map(|(key, _)| key[prefix.len()..].to_owned())
        .collect();
    for endpoint in endpoints {
        unpublish(k, store, network_id, &endpoint).await?;
    }
    match load(store, &key(k.driver(), network_id))? {
        Some(old) => change(k, store, network_id, Some(&old), None).await,
        None => Ok(()),
    }
}

/// Writes wnet's table afresh with every rule the store holds: at start-up, since a
/// reboot or an operator may have emptied it. Does nothing when there are none.
pub(crate) async fn restore(fw: &Firewall, store: &dyn Store) -> Result<usize, String> {
    let all: Vec<NetworkRules> = store
        .scan(TABLE, "")
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(k, v)| match serde_json::from_slice(&v) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(key = %k, error = %e, "dropping a corrupt firewall record");
                None
            }
        })
        .collect();
    let ports: Vec<PortMapping> = all_ports(store)
        .map_err(|e| format!("{e:?}"))?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if all.is_empty() && ports.is_empty() {
        return Ok(0);
    }
    fw.reset(&all, &ports).await.map_err(|e| e.to_string())?;
    Ok(all.len())
}
