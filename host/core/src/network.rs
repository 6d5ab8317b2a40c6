//! Networks: creation with IPAM and the driver, deletion, and their endpoints.

use std::net::IpAddr;

use wnet_types::{IpNet, Options, Scope};

use crate::controller::{AddressPool, Controller};
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::error::Error;
use crate::ids;
use crate::ipam::Ipam;
use crate::model::{NetworkRecord, PoolRecord};
use crate::rollback::Rollback;
use crate::store;

/// One subnet of a network, as `docker network create` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamConfig {
    /// `--subnet`: the pool; none for any free pool.
    pub subnet: Option<IpNet>,
    /// `--ip-range`: the part of the subnet endpoints get addresses from.
    pub ip_range: Option<IpNet>,
    /// `--gateway`: the gateway address; none for the first free address.
    pub gateway: Option<IpAddr>,
    /// `--aux-address name=IP`: addresses to keep out of allocation.
    pub aux_addresses: Vec<(String, IpAddr)>,
}

impl IpamConfig {
    /// A config for `subnet`.
    pub fn subnet(subnet: IpNet) -> Self {
        IpamConfig {
            subnet: Some(subnet),
            ..Self::default()
        }
    }
}

/// How to create a network: `docker network create`'s flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// The network's id: none for a new one; an engine that names its networks itself
    /// (Docker, through its remote-driver protocol) gives its own, 64 hex digits.
    pub id: Option<String>,
    /// `--ipam-driver`; none for the controller's default.
    pub ipam_driver: Option<String>,
    /// The IPAM address space; none for the driver's default for the network's scope.
    pub address_space: Option<String>,
    /// `--ipam-opt`.
    pub ipam_options: Options,
    /// IPv4 subnets; empty for one free pool.
    pub ipv4: Vec<IpamConfig>,
    /// IPv6 subnets; empty for one free pool when IPv6 is enabled.
    pub ipv6: Vec<IpamConfig>,
    /// IPv4 is enabled. Default true.
    pub enable_ipv4: bool,
    /// `--ipv6`.
    pub enable_ipv6: bool,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: Options,
    /// `-o`/`--opt`: driver options.
    pub options: Options,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            id: None,
            ipam_driver: None,
            address_space: None,
            ipam_options: Options::new(),
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            enable_ipv4: true,
            enable_ipv6: false,
            internal: false,
            labels: Options::new(),
            options: Options::new(),
        }
    }
}

impl NetworkOptions {
    /// Adds a subnet of its family, enabling IPv6 for an IPv6 one.
    pub fn with_subnet(mut self, config: IpamConfig) -> Self {
        if config.subnet.is_some_and(|s| s.addr().is_ipv6()) {
            self.enable_ipv6 = true;
            self.ipv6.push(config);
        } else {
            self.ipv4.push(config);
        }
        self
    }
}

/// A network (a handle: cheap to clone, reads the controller's current record).
#[derive(Clone)]
pub struct Network {
    ctrl: Controller,
    id: String,
    name: String,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl Network {
    /// The network's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network's current record.
    pub fn info(&self) -> Result<NetworkRecord, Error> {
        self.ctrl
            .state()
            .networks
            .get(&self.id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound(self.name.clone()))
    }

    /// The drivers of the network (its network driver, then its IPAM driver) that take
    /// no calls now, each with why: operations on the network fail while any does.
    pub fn unavailable_drivers(&self) -> Result<Vec<(String, String)>, Error> {
        let r = self.info()?;
        let network = self
            .ctrl
            .driver(&r.driver)
            .map(|d| d.unavailable().map(|f| f.to_string()));
        let ipam = self
            .ctrl
            .ipam(&r.ipam_driver)
            .map(|d| d.unavailable().map(|f| f.to_string()));
        Ok([(r.driver, network), (r.ipam_driver, ipam)]
            .into_iter()
            .filter_map(|(name, why)| match why {
                Ok(None) => None,
                Ok(Some(why)) => Some((name, why)),
                Err(e) => Some((name, e.to_string())),
            })
            .collect())
    }

    /// The network's endpoints, in id order.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        let endpoints = self.ctrl.state().endpoints_of(&self.id)?;
        Ok(endpoints
            .iter()
            .map(|e| Endpoint::handle(&self.ctrl, e))
            .collect())
    }

    /// The endpoint named `name` (or with id `name`).
    pub fn endpoint(&self, name: &str) -> Result<Endpoint, Error> {
        let mut state = self.ctrl.state();
        let found = match state.endpoint_named(&self.id, name)? {
            Some(e) => Some(Endpoint::handle(&self.ctrl, e)),
            None => state
                .endpoint(name)?
                .filter(|e| e.network_id == self.id)
                .map(|e| Endpoint::handle(&self.ctrl, e)),
        };
        found.ok_or_else(|| Error::EndpointNotFound {
            endpoint: name.to_owned(),
            network: self.name.clone(),
        })
    }

    /// Creates an endpoint on this network.
    pub async fn create_endpoint(
        &self,
        name: &str,
        options: EndpointOptions,
    ) -> Result<Endpoint, Error> {
        store::operation(crate::endpoint::create(&self.ctrl, &self.id, name, options)).await
    }

    /// Deletes the network: its driver's resources, then its pools. Refused while it
    /// has endpoints.
    pub async fn delete(&self) -> Result<(), Error> {
        store::operation(self.delete_op()).await
    }

    async fn delete_op(&self) -> Result<(), Error> {
        let _networks = self.ctrl.inner.networks_lock.clone().lock_owned().await;
        let _op = self.ctrl.network_lock(&self.id).await;
        let network = self.info()?;
        let endpoints: Vec<String> = {
            let endpoints = self.ctrl.state().endpoints_of(&self.id)?;
            endpoints.into_iter().map(|e| e.name).collect()
        };
        if !endpoints.is_empty() {
            return Err(Error::ActiveEndpoints {
                network: network.name,
                endpoints: endpoints.join(", "),
            });
        }
        let driver = self.ctrl.driver(&network.driver)?;
        match driver.delete_network(&network.id).await {
            Ok(()) => {}
            // Already gone: nothing of the driver's is left to remove.
            Err(e) if e.kind() == wnet_types::ErrorKind::NotFound => {
                tracing::warn!(network = %network.name, driver = %network.driver, error = %e, "driver did not know the network it was asked to delete");
            }
            Err(source) => {
                return Err(Error::Driver {
                    kind: "network",
                    driver: network.driver.clone(),
                    call: "delete-network",
                    source,
                });
            }
        }
        let ipam = Ipam {
            driver: self.ctrl.ipam(&network.ipam_driver)?,
            name: network.ipam_driver.clone(),
        };
        let released_v4 = ipam.release_pools(&network.ipv4).await;
        let released_v6 = ipam.release_pools(&network.ipv6).await;
        self.ctrl.remove_network(&network.id)?;
        self.ctrl.drop_network_lock(&network.id);
        tracing::info!(network = %network.name, id = %network.id, "network deleted");
        // The network is gone either way; a pool the driver failed to release is
        // reported, not kept.
        released_v4.and(released_v6)
    }
}

impl Controller {
    /// Creates a network with driver `driver` (libnetwork's `NewNetwork`): validates the
    /// options, reserves its pools, asks the driver to create it and records it. On any
    /// failure every step already done is undone.
    pub async fn new_network(
        &self,
        driver: &str,
        name: &str,
        options: NetworkOptions,
    ) -> Result<Network, Error> {
        store::operation(self.new_network_op(driver, name, options)).await
    }

    async fn new_network_op(
        &self,
        driver: &str,
        name: &str,
        options: NetworkOptions,
    ) -> Result<Network, Error> {
        if !ids::valid_name(name) {
            return Err(Error::InvalidName {
                object: "network",
                name: name.to_owned(),
            });
        }
        validate(&options)?;
        if skips_ipam(driver) {
            validate_without_ipam(driver, name, &options)?;
        }
        if let Some(id) = options.id.as_deref().filter(|id| !ids::valid_id(id)) {
            return Err(Error::InvalidConfig(format!(
                "network id `{id}`: an id is 64 lowercase hexadecimal digits"
            )));
        }
        let _networks = self.inner.networks_lock.clone().lock_owned().await;
        if let Some(existing) = self.state().network_by_name(name) {
            return Err(Error::DuplicateNetworkName {
                name: name.to_owned(),
                id: existing.id.clone(),
            });
        }
        if let Some(id) = options.id.as_deref()
            && let Some(existing) = self.state().networks.get(id)
        {
            return Err(Error::DuplicateNetworkId {
                id: id.to_owned(),
                name: existing.name.clone(),
            });
        }
        let network_driver = self.driver(driver)?;
        let ipam_name = options
            .ipam_driver
            .clone()
            .unwrap_or_else(|| self.inner.config.default_ipam_driver.clone());
        let ipam = Ipam {
            driver: self.ipam(&ipam_name)?,
            name: ipam_name.clone(),
        };
        let capability = network_driver.capability();
        let address_space = match &options.address_space {
            Some(space) => space.clone(),
            None => {
                let spaces = ipam
                    .driver
                    .default_address_spaces()
                    .await
                    .map_err(|source| Error::Driver {
                        kind: "IPAM",
                        driver: ipam_name.clone(),
                        call: "get-default-address-spaces",
                        source,
                    })?;
                match capability.data_scope {
                    Scope::Local => spaces.local,
                    Scope::Global => spaces.global,
                }
            }
        };
        let mut record = NetworkRecord {
            id: options.id.clone().unwrap_or_else(ids::new_id),
            name: name.to_owned(),
            driver: driver.to_owned(),
            scope: capability.data_scope,
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ipam_driver: ipam_name,
            address_space,
            ipam_options: options.ipam_options,
            options: options.options,
            labels: options.labels,
            internal: options.internal,
            enable_ipv4: options.enable_ipv4,
            enable_ipv6: options.enable_ipv6,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        };
        let mut rb = Rollback::new();
        match self
            .create_network_steps(&mut record, &options.ipv4, &options.ipv6, &ipam, &mut rb)
            .await
        {
            Ok(()) => {
                tracing::info!(network = %record.name, id = %record.id, driver = %record.driver, "network created");
                Ok(Network {
                    ctrl: self.clone(),
                    id: record.id,
                    name: record.name,
                })
            }
            Err(e) => {
                rb.run(&e).await;
                Err(e)
            }
        }
    }

    async fn create_network_steps(
        &self,
        record: &mut NetworkRecord,
        ipv4: &[IpamConfig],
        ipv6: &[IpamConfig],
        ipam: &Ipam,
        rb: &mut Rollback,
    ) -> Result<(), Error> {
        // libnetwork: IPv4 gets one dynamic pool when none is given; IPv6 only if enabled.
        let addressed = !skips_ipam(&record.driver);
        if addressed && record.enable_ipv4 {
            record.ipv4 = if ipv4.is_empty() {
                self.allocate_default(record, ipam, false, rb).await?
            } else {
                ipam.allocate_pools(record, ipv4, false, rb).await?
            };
        }
        if addressed && record.enable_ipv6 {
            record.ipv6 = if ipv6.is_empty() {
                self.allocate_default(record, ipam, true, rb).await?
            } else {
                ipam.allocate_pools(record, ipv6, true, rb).await?
            };
        }
        let driver = self.driver(&record.driver)?;
        driver
            .create_network(&record.request())
            .await
            .map_err(|source| Error::Driver {
                kind: "network",
                driver: record.driver.clone(),
                call: "create-network",
                source,
            })?;
        {
            let driver = driver.clone();
            let id = record.id.clone();
            rb.push("driver delete-network", async move {
                driver.delete_network(&id).await
            });
        }
        self.save_network(record)
    }

    /// One pool for a network that gave no subnet: the lowest subnet of the configured
    /// default address pools that no network of its address space overlaps, when the
    /// IPAM is the built-in `default` and pools of the family are configured; else
    /// whatever the IPAM driver chooses.
    async fn allocate_default(
        &self,
        record: &NetworkRecord,
        ipam: &Ipam,
        v6: bool,
        rb: &mut Rollback,
    ) -> Result<Vec<PoolRecord>, Error> {
        let pools: Vec<AddressPool> = self
            .inner
            .config
            .default_address_pools
            .iter()
            .filter(|p| p.base.addr().is_ipv6() == v6)
            .copied()
            .collect();
        if ipam.name != "default" || pools.is_empty() {
            return ipam
                .allocate_pools(record, &[IpamConfig::default()], v6, rb)
                .await;
        }
        let taken: Vec<IpNet> = self
            .state()
            .networks
            .values()
            .filter(|n| n.address_space == record.address_space)
            .flat_map(|n| n.ipv4.iter().chain(&n.ipv6).map(|p| p.pool))
            .collect();
        for pool in &pools {
            let Ok(subnets) = pool.base.subnets(pool.size) else {
                continue;
            };
            for subnet in subnets {
                if taken
                    .iter()
                    .any(|t| t.contains(&subnet) || subnet.contains(t))
                {
                    continue;
                }
                match ipam
                    .allocate_pools(record, &[IpamConfig::subnet(subnet)], v6, rb)
                    .await
                {
                    // Taken outside wnet's records (another address space's driver
                    // state, say): the next one.
                    Err(Error::PoolOverlap { .. }) => continue,
                    other => return other,
                }
            }
        }
        Err(Error::PoolExhausted {
            what: if v6 { "IPv6 pool" } else { "IPv4 pool" },
            network: record.name.clone(),
            detail: format!(
                "every subnet of the default address pools ({}) is in use; add a pool to default-address-pools in the config, or give --subnet",
                pools
                    .iter()
                    .map(|p| format!("{} split /{}", p.base, p.size))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// The network with this id, or this name, or whose id starts with this prefix
    /// (as `docker network inspect` resolves them).
    pub fn network(&self, id_or_name: &str) -> Result<Network, Error> {
        let state = self.state();
        let found = state
            .networks
            .get(id_or_name)
            .or_else(|| state.network_by_name(id_or_name))
            .or_else(|| {
                let mut prefixed = state
                    .networks
                    .values()
                    .filter(|n| !id_or_name.is_empty() && n.id.starts_with(id_or_name));
                match (prefixed.next(), prefixed.next()) {
                    (Some(n), None) => Some(n),
                    _ => None,
                }
            });
        found
            .map(|n| Network {
                ctrl: self.clone(),
                id: n.id.clone(),
                name: n.name.clone(),
            })
            .ok_or_else(|| Error::NetworkNotFound(id_or_name.to_owned()))
    }

    /// The network named `name`.
    pub fn network_by_name(&self, name: &str) -> Result<Network, Error> {
        let state = self.state();
        state
            .network_by_name(name)
            .map(|n| Network {
                ctrl: self.clone(),
                id: n.id.clone(),
                name: n.name.clone(),
            })
            .ok_or_else(|| Error::NetworkNotFound(name.to_owned()))
    }

    /// The network with id `id`.
    pub fn network_by_id(&self, id: &str) -> Result<Network, Error> {
        let state = self.state();
        state
            .networks
            .get(id)
            .map(|n| Network {
                ctrl: self.clone(),
                id: n.id.clone(),
                name: n.name.clone(),
            })
            .ok_or_else(|| Error::NetworkNotFound(id.to_owned()))
    }

    /// Every network, by name.
    pub fn networks(&self) -> Vec<Network> {
        let state = self.state();
        let mut out: Vec<Network> = state
            .networks
            .values()
            .map(|n| Network {
                ctrl: self.clone(),
                id: n.id.clone(),
                name: n.name.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// Checks the options the way `docker network create` does, before anything is reserved.
/// Networks of these drivers take no IPAM at all (libnetwork's `hasSpecialDriver`):
/// their endpoints use the host's own addresses.
pub(crate) fn skips_ipam(driver: &str) -> bool {
    driver == HOST_DRIVER
}

/// The driver whose networks put containers in the host's own namespace.
pub(crate) const HOST_DRIVER: &str = "host";

fn validate_without_ipam(driver: &str, name: &str, options: &NetworkOptions) -> Result<(), Error> {
    let given = [
        (
            !options.ipv4.is_empty() || !options.ipv6.is_empty(),
            "--subnet",
        ),
        (options.ipam_driver.is_some(), "--ipam-driver"),
        (!options.ipam_options.is_empty(), "--ipam-opt"),
    ];
    match given.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(Error::InvalidConfig(format!(
            "network `{name}`: driver `{driver}` uses the host's own addresses and takes no IPAM configuration; remove {flag}"
        ))),
        None => Ok(()),
    }
}

fn validate(options: &NetworkOptions) -> Result<(), Error> {
    if !options.enable_ipv4 && !options.ipv4.is_empty() {
        return Err(Error::InvalidConfig(
            "IPv4 subnets were given but IPv4 is disabled".to_owned(),
        ));
    }
    if !options.enable_ipv6 && !options.ipv6.is_empty() {
        return Err(Error::InvalidConfig(
            "IPv6 subnets were given but IPv6 is not enabled: add --ipv6".to_owned(),
        ));
    }
    for (v6, configs) in [(false, &options.ipv4), (true, &options.ipv6)] {
        for conf in configs {
            validate_config(conf, v6)?;
        }
    }
    Ok(())
}

fn validate_config(conf: &IpamConfig, v6: bool) -> Result<(), Error> {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let Some(subnet) = conf.subnet else {
        if conf.ip_range.is_some() || conf.gateway.is_some() || !conf.aux_addresses.is_empty() {
            return Err(Error::InvalidConfig(
                "--ip-range, --gateway and --aux-address need a --subnet".to_owned(),
            ));
        }
        return Ok(());
    };
    if subnet.addr().is_ipv6() != v6 {
        return Err(Error::InvalidSubnet {
            value: subnet.to_string(),
            reason: format!("not an {family} subnet"),
        });
    }
    if subnet.trunc() != subnet {
        return Err(Error::InvalidSubnet {
            value: subnet.to_string(),
            reason: format!("host bits are set: did you mean {}?", subnet.trunc()),
        });
    }
    if let Some(range) = conf.ip_range {
        if range.trunc() != range {
            return Err(Error::InvalidIpRange {
                value: range.to_string(),
                reason: format!("host bits are set: did you mean {}?", range.trunc()),
            });
        }
        if !subnet.contains(&range) {
            return Err(Error::InvalidIpRange {
                value: range.to_string(),
                reason: format!("it is not inside subnet {subnet}"),
            });
        }
    }
    if let Some(gw) = conf.gateway
        && !subnet.contains(&gw)
    {
        return Err(Error::GatewayOutsideSubnet {
            gateway: gw.to_string(),
            subnet: subnet.to_string(),
        });
    }
    for (name, ip) in &conf.aux_addresses {
        if !subnet.contains(ip) {
            return Err(Error::AuxAddressOutsideSubnet {
                name: name.clone(),
                address: ip.to_string(),
                subnet: subnet.to_string(),
            });
        }
    }
    Ok(())
}
