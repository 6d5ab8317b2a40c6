//! IPAM orchestration, as libnetwork's `ipamAllocate` / `assignAddress` /
//! `ipamRelease`: pools per family, gateway reservation, aux addresses, release order.
//! Every answer from the driver is checked before it is used.

use std::net::IpAddr;
use std::sync::Arc;

use wnet_types::{AddressRequest, ErrorKind, IpNet, Options, PoolRequest, keys};

use crate::driver::{DriverError, IpamDriver};
use crate::error::Error;
use crate::model::{NetworkRecord, PoolRecord};
use crate::network::IpamConfig;
use crate::rollback::Rollback;

/// An IPAM driver with its name, for error messages.
#[derive(Clone)]
pub(crate) struct Ipam {
    pub(crate) name: String,
    pub(crate) driver: Arc<dyn IpamDriver>,
}

impl Ipam {
    pub(crate) fn fail(&self, call: &'static str, source: DriverError) -> Error {
        Error::Driver {
            kind: "IPAM",
            driver: self.name.clone(),
            call,
            source,
        }
    }

    fn invalid(&self, call: &'static str, reason: String) -> Error {
        Error::InvalidAnswer {
            kind: "IPAM",
            driver: self.name.clone(),
            call,
            reason,
        }
    }

    /// Reserves the pools of one family, with their gateways and aux addresses. Each
    /// reservation pushes its undo on `rb`.
    pub(crate) async fn allocate_pools(
        &self,
        network: &NetworkRecord,
        configs: &[IpamConfig],
        v6: bool,
        rb: &mut Rollback,
    ) -> Result<Vec<PoolRecord>, Error> {
        let mut pools = Vec::with_capacity(configs.len());
        for conf in configs {
            let request = PoolRequest {
                address_space: network.address_space.clone(),
                pool: conf.subnet,
                sub_pool: conf.ip_range,
                options: network.ipam_options.clone(),
                exclude: Vec::new(),
                v6,
            };
            let pool =
                self.driver
                    .request_pool(&request)
                    .await
                    .map_err(|e| match (&e, conf.subnet) {
                        (DriverError::Refused(r), Some(subnet))
                            if matches!(r.kind, ErrorKind::Forbidden | ErrorKind::Conflict) =>
                        {
                            Error::PoolOverlap {
                                pool: subnet.to_string(),
                                address_space: network.address_space.clone(),
                                driver: self.name.clone(),
                                message: r.message.clone(),
                            }
                        }
                        (DriverError::Refused(r), None) if r.kind == ErrorKind::Unavailable => {
                            Error::PoolExhausted {
                                what: if v6 { "IPv6 pool" } else { "IPv4 pool" },
                                network: network.name.clone(),
                                detail: format!("IPAM driver `{}`: {}", self.name, r.message),
                            }
                        }
                        _ => self.fail("request-pool", e),
                    })?;
            {
                let this = self.clone();
                let id = pool.pool_id.clone();
                rb.push(format!("release pool {}", pool.pool), async move {
                    this.driver.release_pool(&id).await
                });
            }
            if pool.pool.addr().is_ipv6() != v6 {
                return Err(self.invalid(
                    "request-pool",
                    format!(
                        "asked for an IPv{} pool, got {}",
                        if v6 { 6 } else { 4 },
                        pool.pool
                    ),
                ));
            }
            if conf.subnet.is_some_and(|s| s != pool.pool) {
                return Err(self.invalid(
                    "request-pool",
                    format!("asked for pool {:?}, got {}", conf.subnet, pool.pool),
                ));
            }
            let pool_net = pool.pool.trunc();
            let mut record = PoolRecord {
                pool_id: pool.pool_id,
                pool: pool_net,
                sub_pool: conf.ip_range,
                gateway: None,
                gateway_reserved: false,
                aux_addresses: Vec::new(),
                meta: pool.meta,
            };
            if record.is_unaddressed() {
                pools.push(record);
                continue;
            }
            // The gateway: the operator's, else the pool's own, else the first free one.
            let meta_gateway = record.meta.get(keys::GATEWAY).map(str::to_owned);
            let mut gateway_opts = network.ipam_options.clone();
            gateway_opts.insert(keys::REQUEST_ADDRESS_TYPE, keys::GATEWAY);
            let gateway = match (conf.gateway, meta_gateway) {
                (Some(gw), _) => Some(
                    self.reserve(network, &record, Some(gw), gateway_opts, rb)
                        .await?,
                ),
                (None, Some(meta)) => Some(
                    parse_meta_gateway(&meta, pool_net)
                        .map_err(|reason| self.invalid("request-pool", reason))?,
                ),
                (None, None) => Some(
                    self.reserve(network, &record, None, gateway_opts, rb)
                        .await?,
                ),
            };
            record.gateway_reserved =
                conf.gateway.is_some() || !record.meta.contains(keys::GATEWAY);
            record.gateway = gateway;
            for (name, ip) in &conf.aux_addresses {
                let addr = self
                    .reserve(
                        network,
                        &record,
                        Some(*ip),
                        network.ipam_options.clone(),
                        rb,
                    )
                    .await?;
                record.aux_addresses.push((name.clone(), addr));
            }
            pools.push(record);
        }
        Ok(pools)
    }

    /// Reserves one address from `pool` and checks the answer; pushes its release.
    async fn reserve(
        &self,
        network: &NetworkRecord,
        pool: &PoolRecord,
        preferred: Option<IpAddr>,
        options: Options,
        rb: &mut Rollback,
    ) -> Result<IpNet, Error> {
        let address = self
            .request_address(network, pool, preferred, options)
            .await?;
        let this = self.clone();
        let id = pool.pool_id.clone();
        rb.push(format!("release address {address}"), async move {
            this.driver.release_address(&id, address.addr()).await
        });
        Ok(address)
    }

    /// Asks for one address and checks it: inside the pool, the preferred one if one was
    /// asked for, with the pool's prefix length.
    pub(crate) async fn request_address(
        &self,
        network: &NetworkRecord,
        pool: &PoolRecord,
        preferred: Option<IpAddr>,
        options: Options,
    ) -> Result<IpNet, Error> {
        let request = AddressRequest {
            pool_id: pool.pool_id.clone(),
            preferred,
            options,
        };
        let answer =
            self.driver
                .request_address(&request)
                .await
                .map_err(|e| match (&e, preferred) {
                    (DriverError::Refused(r), Some(ip))
                        if matches!(r.kind, ErrorKind::Forbidden | ErrorKind::Conflict) =>
                    {
                        Error::AddressInUse {
                            address: ip.to_string(),
                            network: network.name.clone(),
                        }
                    }
                    (DriverError::Refused(r), None) if r.kind == ErrorKind::Unavailable => {
                        Error::PoolExhausted {
                            what: if pool.pool.addr().is_ipv6() {
                                "IPv6 address"
                            } else {
                                "IPv4 address"
                            },
                            network: network.name.clone(),
                            detail: format!("pool {}: {}", pool.pool, r.message),
                        }
                    }
                    _ => self.fail("request-address", e),
                })?;
        let addr = answer.address.addr();
        let wrong = if !pool.pool.contains(&addr) {
            Some(format!("address {addr} is outside pool {}", pool.pool))
        } else {
            preferred
                .filter(|p| *p != addr)
                .map(|p| format!("asked for {p}, got {addr}"))
        };
        if let Some(reason) = wrong {
            // The driver believes it handed the address out: it gets it back, so that
            // its books match ours.
            if let Err(e) = self.driver.release_address(&pool.pool_id, addr).await {
                tracing::warn!(ipam = %self.name, %addr, error = %e, "releasing a refused address failed");
            }
            return Err(self.invalid("request-address", reason));
        }
        // In range for the pool's prefix length, since the pool contains `addr`.
        IpNet::new(addr, pool.pool.prefix_len())
            .map_err(|e| self.invalid("request-address", e.to_string()))
    }

    /// Releases a network's gateways, aux addresses and pools, in libnetwork's order.
    /// Every step runs; failures are logged and the first one returned.
    pub(crate) async fn release_pools(&self, pools: &[PoolRecord]) -> Result<(), Error> {
        let mut first = None;
        for pool in pools {
            let mut addresses: Vec<IpNet> = Vec::new();
            if pool.gateway_reserved {
                addresses.extend(pool.gateway);
            }
            addresses.extend(pool.aux_addresses.iter().map(|(_, a)| *a));
            for a in addresses {
                if let Err(e) = self.driver.release_address(&pool.pool_id, a.addr()).await {
                    tracing::warn!(driver = %self.name, pool = %pool.pool, address = %a, error = %e, "releasing an address failed");
                    first.get_or_insert(self.fail("release-address", e));
                }
            }
            if let Err(e) = self.driver.release_pool(&pool.pool_id).await {
                tracing::warn!(driver = %self.name, pool = %pool.pool, error = %e, "releasing a pool failed");
                first.get_or_insert(self.fail("release-pool", e));
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Gives an endpoint an address of one family (libnetwork's `assignAddressVersion`):
    /// the preferred address from the pool that contains it, or the first free one,
    /// moving to the next pool only when one is exhausted.
    pub(crate) async fn assign_address(
        &self,
        network: &NetworkRecord,
        v6: bool,
        preferred: Option<IpAddr>,
        options: &Options,
    ) -> Result<Option<(IpNet, String)>, Error> {
        let pools: Vec<&PoolRecord> = network
            .pools(v6)
            .iter()
            .filter(|p| !p.is_unaddressed())
            .collect();
        if pools.is_empty() {
            return match preferred {
                Some(ip) => Err(Error::AddressOutsidePools {
                    address: ip.to_string(),
                    network: network.name.clone(),
                    subnets: "none".to_owned(),
                }),
                None => Ok(None),
            };
        }
        if let Some(ip) = preferred {
            let pool = pools.iter().find(|p| p.pool.contains(&ip)).ok_or_else(|| {
                Error::AddressOutsidePools {
                    address: ip.to_string(),
                    network: network.name.clone(),
                    subnets: pools
                        .iter()
                        .map(|p| p.pool.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            let addr = self
                .request_address(network, pool, Some(ip), options.clone())
                .await?;
            return Ok(Some((addr, pool.pool_id.clone())));
        }
        let mut last = None;
        for pool in pools {
            match self
                .request_address(network, pool, None, options.clone())
                .await
            {
                Ok(addr) => return Ok(Some((addr, pool.pool_id.clone()))),
                Err(e @ Error::PoolExhausted { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidConfig("no pools".to_owned())))
    }

    /// Releases an endpoint's address.
    pub(crate) async fn release_address(
        &self,
        pool_id: &str,
        address: IpAddr,
    ) -> Result<(), Error> {
        self.driver
            .release_address(pool_id, address)
            .await
            .map_err(|e| self.fail("release-address", e))
    }
}

/// A pool-provided gateway (`com.docker.network.gateway` in the pool's metadata), as a
/// CIDR or a bare address, which must lie in the pool.
fn parse_meta_gateway(value: &str, pool: IpNet) -> Result<IpNet, String> {
    let addr: IpAddr = match value.parse::<IpNet>() {
        Ok(net) => net.addr(),
        Err(_) => value.parse().map_err(|_| {
            format!(
                "pool metadata `{}`=`{value}` is not an address",
                keys::GATEWAY
            )
        })?,
    };
    if !pool.contains(&addr) {
        return Err(format!("pool gateway {addr} is outside pool {pool}"));
    }
    IpNet::new(addr, pool.prefix_len()).map_err(|e| e.to_string())
}
