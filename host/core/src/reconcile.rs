//! After a restart: bring the drivers and the kernel in line with the records
//! (libnetwork's sandbox cleanup, IPAM request replay and driver restore).

use std::net::IpAddr;

use wnet_types::keys;

use crate::controller::Controller;
use crate::error::Error;
use crate::ipam::Ipam;
use crate::network::skips_ipam;
use crate::osl::OsSandbox;
use crate::store;

impl Controller {
    /// Removes the sandboxes whose namespace is gone (after a reboot, or an adopted
    /// namespace whose processes all exited) with their endpoints and addresses, and
    /// the namespaces wnet made that no sandbox record names (a crash between making
    /// one and recording it). Returns what it repaired, one line each, also logged.
    pub async fn reconcile_sandboxes(&self) -> Vec<String> {
        store::operation(async {
            let mut repairs = Vec::new();
            let os = self.inner.config.os.clone();
            for sandbox in self.sandboxes()? {
                let Ok(record) = sandbox.info() else { continue };
                // Its engine makes and removes the namespace and says when the
                // endpoints go (Docker's Leave and DeleteEndpoint).
                if record.external_key {
                    continue;
                }
                if os.alive(&record.os()).await {
                    repairs.extend(self.drop_broken_endpoints(&sandbox).await);
                    continue;
                }
                repairs.extend(self.remove_vanished(&sandbox, &record).await);
            }
            let known: Vec<OsSandbox> = self
                .state()
                .sandboxes()?
                .values()
                .map(crate::SandboxRecord::os)
                .collect();
            for path in os.remove_orphans(&known).await {
                repairs.push(format!(
                    "namespace {path}: made by wnet but no sandbox's; removed"
                ));
            }
            for r in &repairs {
                tracing::warn!("repaired: {r}");
            }
            Ok::<_, Error>(repairs)
        })
        .await
        .unwrap_or_else(|e| vec![format!("recording the sandbox repairs failed: {e}")])
    }

    /// Removes `sandbox`, whose namespace is gone, with its endpoints and their
    /// addresses. Returns the repair when the record went.
    pub(crate) async fn remove_vanished(
        &self,
        sandbox: &crate::Sandbox,
        record: &crate::SandboxRecord,
    ) -> Option<String> {
        for ep in sandbox.endpoints().unwrap_or_default() {
            // Each step tolerates what the vanished namespace took with it.
            if let Err(e) = ep.leave(sandbox).await {
                tracing::warn!(sandbox = %record.id, endpoint = %ep.name(), error = %e, "leave of a vanished sandbox's endpoint failed");
            }
            if let Err(e) = ep.delete(true).await {
                tracing::warn!(sandbox = %record.id, endpoint = %ep.name(), error = %e, "deleting a vanished sandbox's endpoint failed");
            }
        }
        let _ = self.inner.config.os.remove(&record.os()).await;
        if self.remove_sandbox(&record.id).is_err() {
            return None;
        }
        self.drop_sandbox_lock(&record.id);
        Some(format!(
            "sandbox {}: its namespace {} is gone; removed it and its endpoints",
            record.id, record.key
        ))
    }

    /// Disconnects the endpoints of a live sandbox whose interface is gone from it.
    async fn drop_broken_endpoints(&self, sandbox: &crate::Sandbox) -> Vec<String> {
        let mut repairs = Vec::new();
        let Ok(record) = sandbox.info() else {
            return repairs;
        };
        for ep in sandbox.endpoints().unwrap_or_default() {
            let Some(iface) = ep
                .info()
                .ok()
                .and_then(|e| e.join)
                .and_then(|j| j.interface)
            else {
                continue;
            };
            if self
                .inner
                .config
                .os
                .interface_present(&record.os(), &iface)
                .await
            {
                continue;
            }
            let _ = ep.leave(sandbox).await;
            match ep.delete(true).await {
                Ok(()) => repairs.push(format!(
                    "endpoint {} of sandbox {}: its interface {} is gone; disconnected it",
                    ep.name(),
                    record.id,
                    iface.dst_name
                )),
                Err(e) => repairs.push(format!(
                    "endpoint {} of sandbox {}: its interface {} is gone, and removing it failed: {e}",
                    ep.name(),
                    record.id,
                    iface.dst_name
                )),
            }
        }
        repairs
    }

    /// Asks network driver `driver` to restore each of its networks — `create-network`
    /// again with the recorded request, which a driver treats as a restore of a
    /// network it knows — after a restart found kernel objects of that driver gone.
    pub async fn restore_networks(&self, driver: &str) -> Vec<String> {
        let Ok(d) = self.driver(driver) else {
            return vec![format!(
                "network driver `{driver}` is not loaded: its networks cannot be restored"
            )];
        };
        let networks: Vec<_> = self
            .state()
            .networks
            .values()
            .filter(|n| n.driver == driver)
            .cloned()
            .collect();
        let mut repairs = Vec::new();
        for n in networks {
            let _op = self.network_lock(&n.id).await;
            let line = match store::operation(async {
                d.create_network(&n.request())
                    .await
                    .map_err(|source| Error::Driver {
                        kind: "network",
                        driver: driver.to_owned(),
                        call: "create-network (restore)",
                        source,
                    })
            })
            .await
            {
                Ok(()) => format!("network {}: restored by driver `{driver}`", n.name),
                Err(e) => format!("network {}: restore failed: {e}", n.name),
            };
            tracing::warn!("repaired: {line}");
            repairs.push(line);
        }
        repairs
    }

    /// Replays every pool and address request of the networks and endpoints of the
    /// IPAM drivers that keep no state (`requires-request-replay`), so that what they
    /// hand out next is free. Returns one line per driver replayed, also logged.
    pub async fn replay_ipam(&self) -> Result<Vec<String>, Error> {
        let mut done = Vec::new();
        for name in self.ipam_drivers() {
            let driver = self.ipam(&name)?;
            if !driver.capability().requires_request_replay {
                continue;
            }
            let ipam = Ipam {
                driver,
                name: name.clone(),
            };
            let count = store::operation(self.replay_one(&ipam)).await?;
            let line = format!("IPAM driver `{name}`: replayed {count} requests");
            tracing::info!("{line}");
            done.push(line);
        }
        Ok(done)
    }

    async fn replay_one(&self, ipam: &Ipam) -> Result<usize, Error> {
        let networks: Vec<_> = self
            .state()
            .networks
            .values()
            .filter(|n| n.ipam_driver == ipam.name && !skips_ipam(&n.driver))
            .cloned()
            .collect();
        let mut count = 0;
        for mut network in networks {
            let _op = self.network_lock(&network.id).await;
            let endpoints = self.state().endpoints_of(&network.id)?;
            let mut renamed = Vec::new();
            for v6 in [false, true] {
                let mut pools = network.pools(v6).to_vec();
                for pool in &mut pools {
                    let request = wnet_types::PoolRequest {
                        address_space: network.address_space.clone(),
                        pool: Some(pool.pool),
                        sub_pool: pool.sub_pool,
                        options: network.ipam_options.clone(),
                        exclude: Vec::new(),
                        v6,
                    };
                    let answer = ipam
                        .driver
                        .request_pool(&request)
                        .await
                        .map_err(|e| ipam.fail("request-pool (replay)", e))?;
                    count += 1;
                    if answer.pool_id != pool.pool_id {
                        renamed.push((pool.pool_id.clone(), answer.pool_id.clone()));
                        pool.pool_id = answer.pool_id;
                    }
                    let mut addresses: Vec<(IpAddr, bool)> = Vec::new();
                    if pool.gateway_reserved
                        && let Some(gw) = pool.gateway
                    {
                        addresses.push((gw.addr(), true));
                    }
                    addresses.extend(pool.aux_addresses.iter().map(|(_, a)| (a.addr(), false)));
                    for ep in &endpoints {
                        let mine = |p: &Option<String>| {
                            p.as_deref().is_some_and(|p| {
                                p == pool.pool_id
                                    || renamed
                                        .iter()
                                        .any(|(old, new)| p == old && *new == pool.pool_id)
                            })
                        };
                        if let (Some(a), true) = (ep.address, mine(&ep.address_pool)) {
                            addresses.push((IpAddr::V4(a.addr()), false));
                        }
                        if let (Some(a), true) = (ep.address_ipv6, mine(&ep.address_ipv6_pool)) {
                            addresses.push((IpAddr::V6(a.addr()), false));
                        }
                    }
                    for (address, gateway) in addresses {
                        let mut options = network.ipam_options.clone();
                        if gateway {
                            options.insert(keys::REQUEST_ADDRESS_TYPE, keys::GATEWAY);
                        }
                        ipam.request_address(&network, pool, Some(address), options)
                            .await?;
                        count += 1;
                    }
                }
                if v6 {
                    network.ipv6 = pools;
                } else {
                    network.ipv4 = pools;
                }
            }
            if !renamed.is_empty() {
                self.save_network(&network)?;
                for mut ep in endpoints {
                    for (old, new) in &renamed {
                        for p in [&mut ep.address_pool, &mut ep.address_ipv6_pool] {
                            if p.as_deref() == Some(old.as_str()) {
                                *p = Some(new.clone());
                            }
                        }
                    }
                    self.save_endpoint(&ep)?;
                }
            }
        }
        Ok(count)
    }
}
