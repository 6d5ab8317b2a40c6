//! `wnet:driver/firewall`: a driver's firewall intents for its networks, realised by
//! the host in its nftables table (`wnet_netlink::firewall`). A driver sets rules only
//! for a bridge it created or adopted, masquerades only subnets that hold an address
//! of that bridge, and sees its rules removed with the network. The rules are kept in
//! the store's `firewall` table (`<driver>/<network id>`), committed with the
//! operation that set them, and written again at start-up ([`restore`]).

use std::sync::Arc;
use std::time::Instant;

use wnet_core::Store;
use wnet_netlink::firewall::{Firewall, NetworkRules};

use super::kernel::{DriverKernel, kernel_error};
use crate::bindings::convert::from_wit;
use crate::bindings::network::wnet::driver::firewall;
use crate::bindings::network::wnet::driver::types::Error;
use crate::host::HostState;

/// The store table of the rules.
const TABLE: &str = "firewall";

fn key(driver: &str, network_id: &str) -> String {
    format!("{driver}/{network_id}")
}

fn load(store: &dyn Store, key: &str) -> Result<Option<NetworkRules>, Error> {
    match store.get(TABLE, key) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("firewall record {key}: {e}"))),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::Internal(format!("the host's store failed: {e}"))),
    }
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
    let key = key(k.driver(), network_id);
    let stored = match new {
        Some(n) => serde_json::to_vec(n)
            .map_err(|e| Error::Internal(e.to_string()))
            .and_then(|v| {
                store
                    .put(TABLE, &key, &v)
                    .map_err(|e| Error::Internal(e.to_string()))
            }),
        None => store
            .delete(TABLE, &key)
            .map(drop)
            .map_err(|e| Error::Internal(e.to_string())),
    };
    stored.map_err(|e| match e {
        Error::Internal(m) => Error::Internal(format!("the host's store failed: {m}")),
        other => other,
    })
}

impl firewall::Host for HostState {
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

/// Removes the rules a driver set for a network, if any: when it clears them, and
/// after its delete-network, so that a driver that forgets leaves nothing behind.
pub(crate) async fn forget(
    k: &DriverKernel,
    store: &dyn Store,
    network_id: &str,
) -> Result<(), Error> {
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
    if all.is_empty() {
        return Ok(0);
    }
    fw.reset(&all).await.map_err(|e| e.to_string())?;
    Ok(all.len())
}
