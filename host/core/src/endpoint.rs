//! Endpoints: creation with addresses from IPAM, join and leave of sandboxes, deletion.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wnet_types::{
    EndpointRequest, ErrorKind, ExternalConnectivityRequest, InterfaceInfo, IpNet, JoinInfo,
    JoinRequest, MacAddress, Options, RouteType, SandboxInfo, keys,
};

use crate::controller::Controller;
use crate::driver::{DriverError, NetworkDriver};
use crate::error::Error;
use crate::ids::{self, valid_ifname};
use crate::ipam::Ipam;
use crate::model::{EndpointRecord, JoinRecord, NetworkRecord, SandboxRecord};
use crate::network::{HOST_DRIVER, skips_ipam};
use crate::osl::Interface;
use crate::rollback::Rollback;
use crate::sandbox::Sandbox;
use crate::store;

/// How to create an endpoint (`docker network connect`'s `--ip`, `--ip6`, MAC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOptions {
    /// The endpoint's id: none for a new one; an engine that names its endpoints itself
    /// (Docker's remote-driver protocol) gives its own, 64 hex digits.
    pub id: Option<String>,
    /// A preferred IPv4 address.
    pub ipv4_address: Option<Ipv4Addr>,
    /// A preferred IPv6 address.
    pub ipv6_address: Option<Ipv6Addr>,
    /// A MAC address.
    pub mac_address: Option<MacAddress>,
    /// Endpoint options for the driver.
    pub options: Options,
    /// The sandbox the endpoint is created for. Its driver may then create the
    /// interface inside it directly; the endpoint can join only that sandbox.
    pub sandbox: Option<String>,
    /// Other names the container has on this network (Docker's `--alias`), recorded
    /// for name resolution.
    pub aliases: Vec<String>,
}

/// How to join a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinOptions {
    /// Endpoint options given at join; they override those given at create.
    pub options: Options,
}

/// An endpoint (a handle: cheap to clone, reads the controller's current record).
#[derive(Clone)]
pub struct Endpoint {
    ctrl: Controller,
    id: String,
    name: String,
    network_id: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("network_id", &self.network_id)
            .finish()
    }
}

fn net_err<'a>(driver: &'a str, call: &'static str) -> impl FnOnce(DriverError) -> Error + 'a {
    move |source| Error::Driver {
        kind: "network",
        driver: driver.to_owned(),
        call,
        source,
    }
}

fn invalid(driver: &str, call: &'static str, reason: String) -> Error {
    Error::InvalidAnswer {
        kind: "network",
        driver: driver.to_owned(),
        call,
        reason,
    }
}

impl Endpoint {
    pub(crate) fn handle(ctrl: &Controller, rec: &EndpointRecord) -> Self {
        Endpoint {
            ctrl: ctrl.clone(),
            id: rec.id.clone(),
            name: rec.name.clone(),
            network_id: rec.network_id.clone(),
        }
    }

    /// The endpoint's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the endpoint's network.
    pub fn network_id(&self) -> &str {
        &self.network_id
    }

    /// The endpoint's current record.
    pub fn info(&self) -> Result<EndpointRecord, Error> {
        self.ctrl
            .state()
            .endpoint(&self.id)?
            .cloned()
            .ok_or_else(|| self.not_found())
    }

    fn not_found(&self) -> Error {
        Error::EndpointNotFound {
            endpoint: self.name.clone(),
            network: self.network_id.clone(),
        }
    }

    /// Operational data from the driver (`endpoint-oper-info`).
    pub async fn oper_info(&self) -> Result<Options, Error> {
        let network = self.network()?;
        let driver = self.ctrl.driver(&network.driver)?;
        driver
            .endpoint_oper_info(&self.network_id, &self.id)
            .await
            .map_err(net_err(&network.driver, "endpoint-oper-info"))
    }

    /// The endpoint's, its network's and `sandbox`'s current records.
    fn records(
        &self,
        sandbox: &Sandbox,
    ) -> Result<(EndpointRecord, NetworkRecord, SandboxRecord), Error> {
        let mut state = self.ctrl.state();
        let ep = state
            .endpoint(&self.id)?
            .cloned()
            .ok_or_else(|| self.not_found())?;
        let network = state
            .networks
            .get(&self.network_id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound(self.network_id.clone()))?;
        let sb = state
            .sandbox(sandbox.id())?
            .cloned()
            .ok_or_else(|| Error::SandboxNotFound(sandbox.id().to_owned()))?;
        Ok((ep, network, sb))
    }

    fn network(&self) -> Result<NetworkRecord, Error> {
        self.ctrl
            .state()
            .networks
            .get(&self.network_id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound(self.network_id.clone()))
    }

    /// Joins the endpoint to `sandbox` (libnetwork's `Endpoint.Join`): the driver's
    /// `join`, then the sandbox side, then external connectivity when this endpoint
    /// becomes the sandbox's gateway. Undone on failure.
    pub async fn join(&self, sandbox: &Sandbox, options: JoinOptions) -> Result<(), Error> {
        store::operation(self.join_op(sandbox, options)).await
    }

    async fn join_op(&self, sandbox: &Sandbox, options: JoinOptions) -> Result<(), Error> {
        let _sb = self.ctrl.sandbox_lock(sandbox.id()).await;
        let _net = self.ctrl.network_lock(&self.network_id).await;
        let (mut ep, network, sb) = self.records(sandbox)?;
        if let Some(join) = &ep.join {
            return Err(Error::EndpointAlreadyJoined {
                endpoint: ep.name,
                sandbox: join.sandbox_id.clone(),
            });
        }
        if let Some(home) = ep
            .created_in_sandbox
            .as_ref()
            .filter(|home| **home != sb.id)
        {
            return Err(Error::InvalidConfig(format!(
                "endpoint `{}` was created inside sandbox `{home}` and can join only that sandbox",
                ep.name
            )));
        }
        let host_network = network.driver == HOST_DRIVER;
        if host_network && !sb.host_namespace {
            return Err(Error::InvalidConfig(format!(
                "sandbox `{}` has a namespace of its own; network `{}` (driver `{HOST_DRIVER}`) can be joined only by a sandbox created in the host's namespace",
                sb.id, network.name
            )));
        }
        if sb.host_namespace && !host_network {
            return Err(Error::InvalidConfig(format!(
                "sandbox `{}` is the host's own namespace and joins only networks of driver `{HOST_DRIVER}`; network `{}` has driver `{}`, whose interface would land among the host's",
                sb.id, network.name, network.driver
            )));
        }
        let driver = self.ctrl.driver(&network.driver)?;
        let mut joined_options = ep.options.clone();
        for (k, v) in &options.options {
            joined_options.insert(k, v);
        }
        let mut rb = Rollback::new();
        let result = self
            .join_steps(&driver, &mut ep, &network, sb, joined_options, &mut rb)
            .await;
        if let Err(e) = &result {
            rb.run(e).await;
        }
        result
    }

    async fn join_steps(
        &self,
        driver: &std::sync::Arc<dyn NetworkDriver>,
        ep: &mut EndpointRecord,
        network: &NetworkRecord,
        mut sb: SandboxRecord,
        options: Options,
        rb: &mut Rollback,
    ) -> Result<(), Error> {
        let request = JoinRequest {
            network_id: network.id.clone(),
            endpoint_id: ep.id.clone(),
            endpoint_name: ep.name.clone(),
            sandbox: SandboxInfo {
                id: sb.id.clone(),
                key: sb.key.clone(),
                options: sb.options.clone(),
            },
            options: options.clone(),
        };
        let mut info = driver
            .join(&request)
            .await
            .map_err(net_err(&network.driver, "join"))?;
        {
            let driver = driver.clone();
            let (nid, eid) = (network.id.clone(), ep.id.clone());
            rb.push(
                "driver leave",
                async move { driver.leave(&nid, &eid).await },
            );
        }
        check_join_info(&info).map_err(|r| invalid(&network.driver, "join", r))?;
        if let Some(names) = info.interface_name.as_ref().filter(|_| sb.host_namespace) {
            return Err(invalid(
                &network.driver,
                "join",
                format!(
                    "it named interface `{}` for sandbox `{}`, which is the host's own namespace: no interface is configured there",
                    names.src_name, sb.id
                ),
            ));
        }
        if ep.address_ipv6.is_none() {
            // libnetwork: an IPv6 gateway is meaningless without an IPv6 address.
            info.gateway_ipv6 = None;
        }
        let mut others: Vec<EndpointRecord> = Vec::new();
        {
            let mut state = self.ctrl.state();
            for (_, eid) in &sb.endpoints {
                others.extend(state.endpoint(eid)?.cloned());
            }
        }
        let offers_gateway = !network.internal && !info.disable_gateway_service;
        let taken = |v6: bool| {
            others.iter().any(|o| {
                o.join
                    .as_ref()
                    .is_some_and(|j| if v6 { j.ipv6_gateway } else { j.ipv4_gateway })
            })
        };
        let ipv4_gateway = offers_gateway && info.gateway.is_some() && !taken(false);
        let ipv6_gateway = offers_gateway && info.gateway_ipv6.is_some() && !taken(true);
        let in_sandbox = ep.created_in_sandbox.as_deref() == Some(sb.id.as_str());
        let interface = match &info.interface_name {
            // The engine moves and configures it when it has made the namespace.
            None => None,
            Some(_) if sb.external_key => None,
            Some(names) => Some(Interface {
                src_name: names.src_name.clone(),
                dst_name: sandbox_ifname(
                    names.dst_name.as_deref(),
                    &names.dst_prefix,
                    Some(names.src_name.as_str()).filter(|_| in_sandbox),
                    &others,
                )
                .map_err(|reason| Error::InvalidConfig(format!("sandbox `{}`: {reason}", sb.id)))?,
                in_sandbox,
                mac: ep.mac_address,
                ipv4: ep.address,
                ipv6: ep.address_ipv6,
                gateway: info.gateway.filter(|_| ipv4_gateway),
                gateway_ipv6: info.gateway_ipv6.filter(|_| ipv6_gateway),
                routes: info.static_routes.clone(),
            }),
        };
        if let Some(iface) = &interface {
            let os = self.ctrl.inner.config.os.clone();
            // Undo is registered first: an attach that fails half-way (renamed, not
            // yet addressed) is undone too, and detach skips what was never done.
            {
                let (os, sandbox, iface) = (os.clone(), sb.os(), iface.clone());
                rb.push("detach the interface", async move {
                    os.detach(&sandbox, &iface).await
                });
            }
            os.attach(&sb.os(), iface)
                .await
                .map_err(|source| Error::Sandbox {
                    sandbox: sb.id.clone(),
                    op: "configure the endpoint's interface",
                    source,
                })?;
        }
        let mut join = JoinRecord {
            sandbox_id: sb.id.clone(),
            ipv4_gateway,
            ipv6_gateway,
            info,
            interface,
            options,
            external_connectivity: false,
        };
        if !network.internal {
            join.external_connectivity = program(driver, network, &ep.id, &sb, &join).await?;
            if join.external_connectivity {
                let driver = driver.clone();
                let (nid, eid) = (network.id.clone(), ep.id.clone());
                rb.push("driver revoke-external-connectivity", async move {
                    driver.revoke_external_connectivity(&nid, &eid).await
                });
            }
        }
        ep.join = Some(join);
        sb.endpoints.push((network.id.clone(), ep.id.clone()));
        self.ctrl.save_endpoint(ep)?;
        self.ctrl.save_sandbox(&sb)?;
        tracing::info!(endpoint = %ep.name, network = %network.name, sandbox = %sb.id, "endpoint joined");
        Ok(())
    }

    /// Detaches the endpoint from `sandbox` (libnetwork's `Endpoint.Leave`). The
    /// driver's errors are logged, not returned: the endpoint leaves regardless. If it
    /// was the sandbox's gateway, the next endpoint that can be takes over.
    pub async fn leave(&self, sandbox: &Sandbox) -> Result<(), Error> {
        store::operation(self.leave_op(sandbox)).await
    }

    async fn leave_op(&self, sandbox: &Sandbox) -> Result<(), Error> {
        let _sb = self.ctrl.sandbox_lock(sandbox.id()).await;
        let _net = self.ctrl.network_lock(&self.network_id).await;
        let (mut ep, network, mut sb) = self.records(sandbox)?;
        let Some(join) = ep.join.take().filter(|j| j.sandbox_id == sb.id) else {
            return Err(Error::EndpointNotJoined {
                endpoint: ep.name,
                sandbox: sb.id,
            });
        };
        let driver = self.ctrl.driver(&network.driver)?;
        if join.external_connectivity
            && let Err(e) = driver
                .revoke_external_connectivity(&network.id, &ep.id)
                .await
            && !e.is_not_implemented()
        {
            tracing::warn!(endpoint = %ep.name, driver = %network.driver, error = %e, "revoke-external-connectivity failed");
        }
        if let Err(e) = driver.leave(&network.id, &ep.id).await {
            tracing::warn!(endpoint = %ep.name, driver = %network.driver, error = %e, "leave failed");
        }
        if let Some(iface) = &join.interface
            && let Err(e) = self.ctrl.inner.config.os.detach(&sb.os(), iface).await
        {
            tracing::warn!(endpoint = %ep.name, sandbox = %sb.id, error = %e, "removing the interface from the sandbox failed");
        }
        sb.endpoints.retain(|(_, eid)| *eid != ep.id);
        self.ctrl.save_endpoint(&ep)?;
        self.ctrl.save_sandbox(&sb)?;
        if join.ipv4_gateway || join.ipv6_gateway {
            self.hand_over_gateway(&sb, join.ipv4_gateway, join.ipv6_gateway)
                .await?;
        }
        tracing::info!(endpoint = %ep.name, network = %network.name, sandbox = %sb.id, "endpoint left");
        Ok(())
    }

    /// Gives the gateway role the leaving endpoint had to the first remaining endpoint
    /// that can take it, and reprograms its external connectivity.
    async fn hand_over_gateway(&self, sb: &SandboxRecord, v4: bool, v6: bool) -> Result<(), Error> {
        let mut candidates: Vec<(EndpointRecord, NetworkRecord)> = Vec::new();
        {
            let mut state = self.ctrl.state();
            for (nid, eid) in &sb.endpoints {
                let Some(network) = state.networks.get(nid).cloned() else {
                    continue;
                };
                if let Some(ep) = state.endpoint(eid)? {
                    candidates.push((ep.clone(), network));
                }
            }
        }
        let (mut need4, mut need6) = (v4, v6);
        for (mut ep, network) in candidates {
            let Some(join) = ep.join.as_mut() else {
                continue;
            };
            if network.internal || join.info.disable_gateway_service {
                continue;
            }
            let take4 = need4 && join.info.gateway.is_some();
            let take6 = need6 && join.info.gateway_ipv6.is_some();
            if !take4 && !take6 {
                continue;
            }
            join.ipv4_gateway |= take4;
            join.ipv6_gateway |= take6;
            if let Some(iface) = join.interface.as_mut() {
                if take4 {
                    iface.gateway = join.info.gateway;
                }
                if take6 {
                    iface.gateway_ipv6 = join.info.gateway_ipv6;
                }
                let os = &self.ctrl.inner.config.os;
                if let Err(e) = os.add_default_routes(&sb.os(), iface).await {
                    tracing::warn!(sandbox = %sb.id, interface = %iface.dst_name, error = %e, "routing through the new gateway endpoint failed");
                }
            }
            need4 &= !take4;
            need6 &= !take6;
            let driver = self.ctrl.driver(&network.driver)?;
            let join_copy = join.clone();
            join.external_connectivity = program(&driver, &network, &ep.id, sb, &join_copy).await?;
            self.ctrl.save_endpoint(&ep)?;
            if !need4 && !need6 {
                break;
            }
        }
        Ok(())
    }

    /// Deletes the endpoint: the driver's part, then its addresses. A joined endpoint
    /// is refused unless `force`, which leaves its sandbox first; with `force` a driver
    /// error is logged and the endpoint removed anyway.
    pub async fn delete(&self, force: bool) -> Result<(), Error> {
        store::operation(self.delete_op(force)).await
    }

    async fn delete_op(&self, force: bool) -> Result<(), Error> {
        let joined = self.info()?.join.map(|j| j.sandbox_id);
        if let Some(sandbox_id) = joined {
            if !force {
                return Err(Error::EndpointInUse {
                    endpoint: self.name.clone(),
                    sandbox: sandbox_id,
                });
            }
            let sandbox = self.ctrl.sandbox(&sandbox_id)?;
            self.leave(&sandbox).await?;
        }
        let _net = self.ctrl.network_lock(&self.network_id).await;
        let ep = self.info()?;
        if let Some(join) = &ep.join {
            return Err(Error::EndpointInUse {
                endpoint: ep.name,
                sandbox: join.sandbox_id.clone(),
            });
        }
        let network = self.network()?;
        let driver = self.ctrl.driver(&network.driver)?;
        match driver.delete_endpoint(&network.id, &ep.id).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound || force => {
                tracing::warn!(endpoint = %ep.name, driver = %network.driver, error = %e, "delete-endpoint failed; removing the endpoint anyway");
            }
            Err(e) => return Err(net_err(&network.driver, "delete-endpoint")(e)),
        }
        let ipam = Ipam {
            driver: self.ctrl.ipam(&network.ipam_driver)?,
            name: network.ipam_driver.clone(),
        };
        let addresses = [
            (
                ep.address_pool.as_ref(),
                ep.address.map(|a| IpAddr::V4(a.addr())),
            ),
            (
                ep.address_ipv6_pool.as_ref(),
                ep.address_ipv6.map(|a| IpAddr::V6(a.addr())),
            ),
        ];
        for (pool, address) in addresses {
            if let (Some(pool), Some(address)) = (pool, address)
                && let Err(e) = ipam.release_address(pool, address).await
            {
                tracing::warn!(endpoint = %ep.name, %address, error = %e, "releasing an address failed");
            }
        }
        self.ctrl.remove_endpoint(&ep.id)?;
        tracing::info!(endpoint = %ep.name, network = %network.name, "endpoint deleted");
        Ok(())
    }
}

/// Calls `program-external-connectivity`; `Ok(false)` when the driver does not
/// implement it (libnetwork tolerates that, as it tolerates a remote plugin's 404).
async fn program(
    driver: &std::sync::Arc<dyn NetworkDriver>,
    network: &NetworkRecord,
    endpoint_id: &str,
    sb: &SandboxRecord,
    join: &JoinRecord,
) -> Result<bool, Error> {
    let request = ExternalConnectivityRequest {
        network_id: network.id.clone(),
        endpoint_id: endpoint_id.to_owned(),
        options: sb.options.clone(),
        ipv4_gateway: join.ipv4_gateway,
        ipv6_gateway: join.ipv6_gateway,
    };
    match driver.program_external_connectivity(&request).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_implemented() => Ok(false),
        Err(e) => Err(net_err(&network.driver, "program-external-connectivity")(e)),
    }
}

/// Creates an endpoint (libnetwork's `Network.CreateEndpoint`).
pub(crate) async fn create(
    ctrl: &Controller,
    network_id: &str,
    name: &str,
    options: EndpointOptions,
) -> Result<Endpoint, Error> {
    if !ids::valid_name(name) {
        return Err(Error::InvalidName {
            object: "endpoint",
            name: name.to_owned(),
        });
    }
    if let Some(bad) = options.aliases.iter().find(|a| !ids::valid_name(a)) {
        return Err(Error::InvalidName {
            object: "alias",
            name: bad.clone(),
        });
    }
    if let Some(id) = options.id.as_deref().filter(|id| !ids::valid_id(id)) {
        return Err(Error::InvalidConfig(format!(
            "endpoint id `{id}`: an id is 64 lowercase hexadecimal digits"
        )));
    }
    let _op = ctrl.network_lock(network_id).await;
    let (network, sandbox) = {
        let mut state = ctrl.state();
        let network = state
            .networks
            .get(network_id)
            .cloned()
            .ok_or_else(|| Error::NetworkNotFound(network_id.to_owned()))?;
        let taken = match &options.id {
            Some(id) => state.endpoint(id)?.is_some(),
            None => false,
        };
        if taken || state.endpoint_named(network_id, name)?.is_some() {
            return Err(Error::DuplicateEndpointName {
                name: options.id.clone().unwrap_or_else(|| name.to_owned()),
                network: network.name,
            });
        }
        let sandbox = match &options.sandbox {
            None => None,
            Some(id) => Some(
                state
                    .sandbox(id)?
                    .cloned()
                    .ok_or_else(|| Error::SandboxNotFound(id.clone()))?,
            ),
        };
        if let Some(sb) = sandbox.as_ref().filter(|sb| sb.external_key) {
            return Err(Error::InvalidConfig(format!(
                "sandbox `{}`: its engine makes its namespace later, so no endpoint can be created inside it; create the endpoint without a sandbox and join it",
                sb.id
            )));
        }
        (network, sandbox)
    };
    if skips_ipam(&network.driver)
        && (options.ipv4_address.is_some() || options.ipv6_address.is_some())
    {
        return Err(Error::InvalidConfig(format!(
            "network `{}` (driver `{}`) uses the host's own addresses: an endpoint address cannot be given",
            network.name, network.driver
        )));
    }
    if !network.enable_ipv4 && options.ipv4_address.is_some() {
        return Err(Error::InvalidConfig(format!(
            "network `{}` has IPv4 disabled: an IPv4 address cannot be given",
            network.name
        )));
    }
    if !network.enable_ipv6 && options.ipv6_address.is_some() {
        return Err(Error::InvalidConfig(format!(
            "network `{}` has IPv6 disabled: an IPv6 address cannot be given",
            network.name
        )));
    }
    let driver = ctrl.driver(&network.driver)?;
    let ipam = Ipam {
        driver: ctrl.ipam(&network.ipam_driver)?,
        name: network.ipam_driver.clone(),
    };
    let mut mac = options.mac_address;
    if mac.is_none() && ipam.driver.capability().requires_mac_address {
        mac = Some(ids::random_mac());
    }
    // The network's IPAM options (serial allocation, say) apply to its addresses too.
    let mut ipam_options = network.ipam_options.clone();
    ipam_options.insert(keys::ENDPOINT_NAME, name);
    if let Some(mac) = mac {
        ipam_options.insert(keys::MAC_ADDRESS, mac.to_string());
    }
    let mut ep = EndpointRecord {
        id: options.id.clone().unwrap_or_else(ids::new_id),
        name: name.to_owned(),
        network_id: network.id.clone(),
        mac_address: mac,
        address: None,
        address_pool: None,
        address_ipv6: None,
        address_ipv6_pool: None,
        options: options.options.clone(),
        created_in_sandbox: None,
        join: None,
        aliases: options.aliases.clone(),
    };
    let mut rb = Rollback::new();
    let result = create_steps(
        ctrl,
        &driver,
        &ipam,
        &network,
        &mut ep,
        &options,
        &ipam_options,
        sandbox,
        &mut rb,
    )
    .await;
    match result {
        Ok(()) => {
            tracing::info!(endpoint = %ep.name, network = %network.name, "endpoint created");
            Ok(Endpoint::handle(ctrl, &ep))
        }
        Err(e) => {
            rb.run(&e).await;
            Err(e)
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one step of `create`, sharing its locals"
)]
async fn create_steps(
    ctrl: &Controller,
    driver: &std::sync::Arc<dyn NetworkDriver>,
    ipam: &Ipam,
    network: &NetworkRecord,
    ep: &mut EndpointRecord,
    options: &EndpointOptions,
    ipam_options: &Options,
    sandbox: Option<SandboxRecord>,
    rb: &mut Rollback,
) -> Result<(), Error> {
    for v6 in [false, true] {
        let enabled = if v6 {
            network.enable_ipv6
        } else {
            network.enable_ipv4
        };
        if !enabled {
            continue;
        }
        let preferred = if v6 {
            options.ipv6_address.map(IpAddr::V6)
        } else {
            options.ipv4_address.map(IpAddr::V4)
        };
        let Some((address, pool)) = ipam
            .assign_address(network, v6, preferred, ipam_options)
            .await?
        else {
            continue;
        };
        {
            let ipam = ipam.clone();
            let pool = pool.clone();
            rb.push(format!("release address {address}"), async move {
                ipam.release_address(&pool, address.addr()).await
            });
        }
        match address {
            IpNet::V4(a) => (ep.address, ep.address_pool) = (Some(a), Some(pool)),
            IpNet::V6(a) => (ep.address_ipv6, ep.address_ipv6_pool) = (Some(a), Some(pool)),
        }
    }
    let request = EndpointRequest {
        network_id: network.id.clone(),
        endpoint_id: ep.id.clone(),
        endpoint_name: ep.name.clone(),
        options: ep.options.clone(),
        interface: InterfaceInfo {
            mac_address: ep.mac_address,
            address: ep.address,
            address_ipv6: ep.address_ipv6,
        },
        sandbox: sandbox.as_ref().map(|s| SandboxInfo {
            id: s.id.clone(),
            key: s.key.clone(),
            options: s.options.clone(),
        }),
    };
    let answer = driver
        .create_endpoint(&request)
        .await
        .map_err(net_err(&network.driver, "create-endpoint"))?;
    {
        let driver = driver.clone();
        let (nid, eid) = (network.id.clone(), ep.id.clone());
        rb.push("driver delete-endpoint", async move {
            driver.delete_endpoint(&nid, &eid).await
        });
    }
    let bad = |reason: String| invalid(&network.driver, "create-endpoint", reason);
    if let Some(mac) = answer.mac_address {
        if mac.is_multicast() || mac.is_zero() {
            return Err(bad(format!("MAC address {mac} is not a unicast address")));
        }
        if ep.mac_address.is_some_and(|m| m != mac) {
            return Err(bad(format!(
                "it set MAC address {mac}, but the endpoint already has {}",
                ep.mac_address.map(|m| m.to_string()).unwrap_or_default()
            )));
        }
        ep.mac_address = Some(mac);
    }
    if let Some(a) = answer.address {
        if ep.address.is_some_and(|x| x != a) {
            return Err(bad(format!(
                "it set IPv4 address {a}, but IPAM already gave the endpoint one"
            )));
        }
        if !usable_unicast(IpAddr::V4(a.addr())) {
            return Err(bad(format!(
                "IPv4 address {a} is not a usable unicast address"
            )));
        }
        ep.address = Some(a);
    }
    if let Some(a) = answer.address_ipv6 {
        if ep.address_ipv6.is_some_and(|x| x != a) {
            return Err(bad(format!(
                "it set IPv6 address {a}, but IPAM already gave the endpoint one"
            )));
        }
        if !usable_unicast(IpAddr::V6(a.addr())) {
            return Err(bad(format!(
                "IPv6 address {a} is not a usable unicast address"
            )));
        }
        ep.address_ipv6 = Some(a);
    }
    if answer.created_in_sandbox {
        let Some(sb) = &sandbox else {
            return Err(bad(
                "it says it created the interface in a sandbox, but none was given".to_owned(),
            ));
        };
        ep.created_in_sandbox = Some(sb.id.clone());
    }
    ctrl.save_endpoint(ep)
}

fn usable_unicast(ip: IpAddr) -> bool {
    !(ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip == IpAddr::V4(Ipv4Addr::BROADCAST))
}

/// Checks a join answer before anything is done with it: interface names the kernel
/// takes, usable gateways, routes whose next hop fits their type and family.
pub fn check_join_info(info: &JoinInfo) -> Result<(), String> {
    if let Some(names) = &info.interface_name {
        if !valid_ifname(&names.src_name) {
            return Err(format!(
                "source interface name `{}` is not a valid Linux interface name",
                names.src_name
            ));
        }
        if let Some(dst) = &names.dst_name
            && !valid_ifname(dst)
        {
            return Err(format!(
                "destination interface name `{dst}` is not a valid Linux interface name"
            ));
        }
        // The prefix gets an index appended, so it must leave room for one.
        if names.dst_name.is_none()
            && !names.dst_prefix.is_empty()
            && !valid_ifname(&format!("{}0", names.dst_prefix))
        {
            return Err(format!(
                "destination prefix `{}` cannot form a valid Linux interface name",
                names.dst_prefix
            ));
        }
    }
    if let Some(gw) = info.gateway
        && !usable_unicast(IpAddr::V4(gw))
    {
        return Err(format!("gateway {gw} is not a usable unicast address"));
    }
    if let Some(gw) = info.gateway_ipv6
        && !usable_unicast(IpAddr::V6(gw))
    {
        return Err(format!("IPv6 gateway {gw} is not a usable unicast address"));
    }
    for r in &info.static_routes {
        match (r.route_type, r.next_hop) {
            (RouteType::NextHop, None) => {
                return Err(format!(
                    "route to {} is of type next-hop but has no next hop",
                    r.destination
                ));
            }
            (RouteType::Connected, Some(hop)) => {
                return Err(format!(
                    "route to {} is connected but has next hop {hop}",
                    r.destination
                ));
            }
            (RouteType::NextHop, Some(hop)) if hop.is_ipv6() != r.destination.addr().is_ipv6() => {
                return Err(format!(
                    "route to {} has next hop {hop} of the other family",
                    r.destination
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The interface's name in the sandbox: the exact name, or the prefix (default `eth`)
/// with the lowest index no other interface in the sandbox uses.
fn sandbox_ifname(
    dst_name: Option<&str>,
    dst_prefix: &str,
    made_as: Option<&str>,
    others: &[EndpointRecord],
) -> Result<String, String> {
    let used: Vec<&str> = others
        .iter()
        .filter_map(|o| Some(o.join.as_ref()?.interface.as_ref()?.dst_name.as_str()))
        .collect();
    if let Some(name) = dst_name {
        if used.contains(&name) {
            return Err(format!("interface name `{name}` is already used"));
        }
        return Ok(name.to_owned());
    }
    let prefix = if dst_prefix.is_empty() {
        "eth"
    } else {
        dst_prefix
    };
    // An interface its driver made in the sandbox as `<prefix><n>`, a name no other
    // endpoint there has, keeps it: a rename waits for an RCU grace period in the
    // kernel (0.2–0.6 ms).
    if let Some(name) = made_as.filter(|n| {
        n.strip_prefix(prefix)
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            && !used.contains(n)
    }) {
        return Ok(name.to_owned());
    }
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|candidate| !used.contains(&candidate.as_str()))
        .ok_or_else(|| "no free interface index".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_linux_rules() {
        assert!(valid_ifname("eth0"));
        assert!(valid_ifname("veth1234567abcd"));
        for bad in ["", ".", "..", "a/b", "a b", "a:b", "sixteen-bytes-xx"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
    }

    fn joined(ifname: &str) -> EndpointRecord {
        EndpointRecord {
            id: ifname.to_owned(),
            name: ifname.to_owned(),
            network_id: "n".to_owned(),
            mac_address: None,
            address: None,
            address_pool: None,
            address_ipv6: None,
            address_ipv6_pool: None,
            options: Options::new(),
            created_in_sandbox: None,
            aliases: Vec::new(),
            join: Some(JoinRecord {
                sandbox_id: "s".to_owned(),
                info: JoinInfo::default(),
                interface: Some(Interface {
                    src_name: "veth0".to_owned(),
                    dst_name: ifname.to_owned(),
                    in_sandbox: true,
                    mac: None,
                    ipv4: None,
                    ipv6: None,
                    gateway: None,
                    gateway_ipv6: None,
                    routes: Vec::new(),
                }),
                options: Options::new(),
                ipv4_gateway: false,
                ipv6_gateway: false,
                external_connectivity: false,
            }),
        }
    }

    #[test]
    fn sandbox_names_take_the_lowest_free_index() {
        let others = [joined("eth0"), joined("eth2")];
        assert_eq!(sandbox_ifname(None, "", None, &others).unwrap(), "eth1");
        assert_eq!(sandbox_ifname(None, "net", None, &others).unwrap(), "net0");
        assert_eq!(
            sandbox_ifname(Some("data"), "eth", None, &others).unwrap(),
            "data"
        );
        assert!(sandbox_ifname(Some("eth2"), "eth", None, &others).is_err());
    }

    #[test]
    fn an_interface_made_in_the_sandbox_keeps_a_free_name_of_the_prefix() {
        let others = [joined("eth0")];
        let name = |made: &str| sandbox_ifname(None, "eth", Some(made), &others).unwrap();
        assert_eq!(name("eth3"), "eth3");
        // Taken by another endpoint, or not of the prefix: the lowest free index.
        for renamed in ["eth0", "veth1234567s", "eth", "ethx1", "net1"] {
            assert_eq!(name(renamed), "eth1", "{renamed}");
        }
        // An exact name asked for wins.
        assert_eq!(
            sandbox_ifname(Some("web0"), "eth", Some("eth3"), &others).unwrap(),
            "web0"
        );
    }
}
