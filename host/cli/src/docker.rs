//! Docker's remote plugin protocol (libnetwork's `drivers/remote` and `ipams/remote`):
//! `wnet daemon --docker-plugin NAME` serves it on `<dir>/NAME.sock`, where dockerd
//! finds plugins, so that `docker network create -d NAME` makes a wnet network.
//!
//! - Networks and endpoints are wnet objects with Docker's ids, so they survive a wnet
//!   restart (Docker never replays them) and show in `wnet network ls`. Their pools and
//!   addresses are those Docker reserved, recorded through the [`ASSIGNED_IPAM`].
//! - `-o wnet.driver=D` picks the wnet driver (default: the daemon's
//!   `docker-plugin-driver`); `-o wnet.name=N` names the wnet network (default
//!   `docker-<id prefix>`); the other `-o` options are the driver's.
//! - Join records the container as a sandbox `docker-<key>` whose namespace Docker makes
//!   later (an external key, as libnetwork's own): the driver's interface stays in the
//!   host's namespace and dockerd moves it in, names it and sets its addresses, gateway
//!   and routes from the answer. wnet programs the rest (bridge port, firewall,
//!   published ports); `DisableGatewayService` keeps dockerd from adding its
//!   `docker_gwbridge`.
//! - `/IpamDriver.*` is wnet's IPAM: the `default` driver, or the one `--ipam-opt
//!   wnet.ipam=D` names; a pool id is `D/<the driver's id>`.
//! - Errors: NetworkDriver calls answer 200 with `{"Err"}`; IPAM calls answer 500 with
//!   `{"Err"}` (and `"Error"`), which is what dockerd reads as an IPAM failure.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use wnet_core::types::{AddressRequest, IpNet, MacAddress, Options, PoolRequest, RouteType, keys};
use wnet_core::{
    ASSIGNED_IPAM, Controller, DriverError, EndpointOptions, IpamConfig, IpamDriver, JoinOptions,
    NetworkOptions, SandboxOptions,
};

use crate::api::{options_json, to_options};
use crate::config::cidr;

/// The driver option naming the wnet network driver of a Docker network.
pub const DRIVER_OPTION: &str = "wnet.driver";
/// The driver option naming the wnet network of a Docker network.
pub const NAME_OPTION: &str = "wnet.name";
/// The IPAM option naming the wnet IPAM driver that serves a Docker pool.
pub const IPAM_OPTION: &str = "wnet.ipam";
/// The sandbox option marking a sandbox the plugin adopted for Docker (removed when its
/// last endpoint leaves).
const SANDBOX_MARK: &str = "wnet.docker-plugin";

/// Options dockerd sends with every endpoint that are the container's: its published
/// and exposed ports.
const CONTAINER_KEYS: [&str; 2] = [keys::PORT_MAP, "com.docker.network.endpoint.exposedports"];

/// What the plugin's handlers share.
pub struct Plugin {
    /// The controller.
    pub controller: Controller,
    /// The plugin's name, as Docker knows it (`docker network create -d NAME`).
    pub name: String,
    /// The wnet driver of networks whose options name none.
    pub default_driver: String,
}

/// The plugin's routes: every call is `POST /<Interface>.<Method>`.
pub fn router(plugin: Plugin) -> Router {
    Router::new()
        .route("/{call}", post(call))
        .with_state(Arc::new(plugin))
}

/// A failed call: the one-line message dockerd shows after `remote: `.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

type Answer = Result<Value, Failure>;

async fn call(State(p): State<Arc<Plugin>>, Path(call): Path<String>, body: Bytes) -> Response {
    tracing::debug!(%call, body = %String::from_utf8_lossy(&body), "docker plugin call");
    let content_type = [("content-type", "application/vnd.docker.plugins.v1+json")];
    let Some(answer) = p.dispatch(&call, &body).await else {
        // libnetwork reads 404 as "not implemented", and tolerates it for the optional
        // calls.
        tracing::info!(%call, "docker plugin: unknown call, answered 404");
        return (
            StatusCode::NOT_FOUND,
            content_type,
            axum::Json(json!({ "Err": format!("wnet does not implement {call}") })),
        )
            .into_response();
    };
    match answer {
        Ok(value) => {
            tracing::info!(%call, "docker plugin call answered");
            tracing::debug!(%call, answer = %value, "docker plugin answer");
            (content_type, axum::Json(value)).into_response()
        }
        Err(Failure(message)) => {
            tracing::info!(%call, error = %message, "docker plugin call refused");
            // dockerd reads an IPAM call's error only from a status other than 200, a
            // network driver call's from `Err` in a 200.
            let status = if call.starts_with("IpamDriver.") {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            (
                status,
                content_type,
                axum::Json(json!({ "Err": message, "Error": message })),
            )
                .into_response()
        }
    }
}

/// A request body; an empty one is `{}` (dockerd sends none to some calls).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| Failure(format!("malformed request: {e}")))
}

/// Docker's options are JSON values; wnet's are strings: a string stays itself, anything
/// else becomes its JSON text (a port map is its JSON list, as wnet's drivers read it).
fn json_options(map: &Map<String, Value>) -> Options {
    let mut options = Options::new();
    for (k, v) in map {
        match v {
            Value::String(s) => options.insert(k, s),
            Value::Null => continue,
            other => options.insert(k, other.to_string()),
        }
    }
    options
}

/// A boolean option as Docker sends it: a JSON bool, or its text.
fn flag(map: &Map<String, Value>, key: &str) -> Option<bool> {
    match map.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamData {
    #[serde(default)]
    address_space: String,
    pool: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    aux_addresses: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct CreateNetwork {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "Options", default)]
    options: Option<Map<String, Value>>,
    #[serde(rename = "IPv4Data", default)]
    ipv4: Option<Vec<IpamData>>,
    #[serde(rename = "IPv6Data", default)]
    ipv6: Option<Vec<IpamData>>,
}

#[derive(Deserialize)]
struct NetworkId {
    #[serde(rename = "NetworkID")]
    network_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Interface {
    #[serde(default)]
    address: String,
    #[serde(default, rename = "AddressIPv6")]
    address_ipv6: String,
    #[serde(default)]
    mac_address: String,
}

#[derive(Deserialize)]
struct CreateEndpoint {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "Options", default)]
    options: Option<Map<String, Value>>,
    #[serde(rename = "Interface", default)]
    interface: Option<Interface>,
}

#[derive(Deserialize)]
struct EndpointId {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
}

#[derive(Deserialize)]
struct Join {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "SandboxKey")]
    sandbox_key: String,
    #[serde(rename = "Options", default)]
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RequestPool {
    #[serde(default)]
    address_space: String,
    #[serde(default)]
    pool: String,
    #[serde(default)]
    sub_pool: String,
    #[serde(default)]
    options: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, rename = "V6")]
    v6: bool,
}

#[derive(Deserialize)]
struct PoolId {
    #[serde(rename = "PoolID")]
    pool_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RequestAddress {
    #[serde(rename = "PoolID")]
    pool_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    options: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReleaseAddress {
    #[serde(rename = "PoolID")]
    pool_id: String,
    address: String,
}

/// `what` `value` in CIDR form, or why not.
fn prefix(what: &str, value: &str) -> Result<IpNet, Failure> {
    cidr(value).map_err(|e| Failure(format!("{what}: {e}")))
}

/// [`prefix`], or none for the empty string dockerd sends for "not given".
fn optional_prefix(what: &str, value: &str) -> Result<Option<IpNet>, Failure> {
    match value {
        "" => Ok(None),
        v => prefix(what, v).map(Some),
    }
}

/// One family's subnets as Docker reserved them.
fn configs(data: &[IpamData]) -> Result<Vec<IpamConfig>, Failure> {
    data.iter()
        .map(|d| {
            let mut aux = Vec::new();
            for (name, v) in d.aux_addresses.iter().flatten() {
                let text = v.as_str().unwrap_or_default();
                aux.push((name.clone(), prefix("aux address", text)?.addr()));
            }
            Ok(IpamConfig {
                subnet: Some(prefix("pool", &d.pool)?.trunc()),
                ip_range: None,
                gateway: optional_prefix("gateway", &d.gateway)?.map(|g| g.addr()),
                aux_addresses: aux,
            })
        })
        .collect()
}

impl Plugin {
    /// Answers one call; `None` for a call wnet does not know.
    async fn dispatch(&self, call: &str, body: &[u8]) -> Option<Answer> {
        Some(match call {
            "Plugin.Activate" => Ok(json!({ "Implements": ["NetworkDriver", "IpamDriver"] })),
            "NetworkDriver.GetCapabilities" => {
                Ok(json!({ "Scope": "local", "ConnectivityScope": "local" }))
            }
            "NetworkDriver.CreateNetwork" => self.create_network(body).await,
            "NetworkDriver.DeleteNetwork" => self.delete_network(body).await,
            "NetworkDriver.CreateEndpoint" => self.create_endpoint(body).await,
            "NetworkDriver.DeleteEndpoint" => self.delete_endpoint(body).await,
            "NetworkDriver.EndpointOperInfo" => self.oper_info(body).await,
            "NetworkDriver.Join" => self.join(body).await,
            "NetworkDriver.Leave" => self.leave(body).await,
            // External connectivity (published ports, masquerade) is set up by wnet's
            // own join and removed by its leave.
            "NetworkDriver.ProgramExternalConnectivity"
            | "NetworkDriver.RevokeExternalConnectivity"
            | "NetworkDriver.DiscoverNew"
            | "NetworkDriver.DiscoverDelete"
            | "NetworkDriver.FreeNetwork" => Ok(json!({})),
            // Swarm's manager-side allocation, for global-scope drivers: wnet's networks
            // are local and need none.
            "NetworkDriver.AllocateNetwork" => Ok(json!({ "Options": {} })),
            "IpamDriver.GetCapabilities" => Ok(json!({
                "RequiresMACAddress": false,
                "RequiresRequestReplay": false,
            })),
            "IpamDriver.GetDefaultAddressSpaces" => self.address_spaces().await,
            "IpamDriver.RequestPool" => self.request_pool(body).await,
            "IpamDriver.ReleasePool" => self.release_pool(body).await,
            "IpamDriver.RequestAddress" => self.request_address(body).await,
            "IpamDriver.ReleaseAddress" => self.release_address(body).await,
            _ => return None,
        })
    }

    async fn create_network(&self, body: &[u8]) -> Answer {
        let req: CreateNetwork = parse(body)?;
        if let Ok(existing) = self.controller.network_by_id(&req.network_id) {
            // dockerd retried a call whose answer it lost: the network is there.
            tracing::info!(network = %existing.name(), "docker plugin: CreateNetwork for a network wnet has");
            return Ok(json!({}));
        }
        let options = req.options.unwrap_or_default();
        let mut generic = match options.get("com.docker.network.generic") {
            Some(Value::Object(m)) => json_options(m),
            _ => Options::new(),
        };
        let driver = generic
            .remove(DRIVER_OPTION)
            .unwrap_or_else(|| self.default_driver.clone());
        let name = generic.remove(NAME_OPTION).unwrap_or_else(|| {
            format!(
                "docker-{}",
                req.network_id.get(..12).unwrap_or(&req.network_id)
            )
        });
        let ipv4 = configs(req.ipv4.as_deref().unwrap_or_default())?;
        let ipv6 = configs(req.ipv6.as_deref().unwrap_or_default())?;
        let address_space = req
            .ipv4
            .iter()
            .chain(&req.ipv6)
            .flatten()
            .map(|d| d.address_space.clone())
            .find(|s| !s.is_empty());
        let network = NetworkOptions {
            id: Some(req.network_id.clone()),
            ipam_driver: Some(ASSIGNED_IPAM.to_owned()),
            address_space,
            ipam_options: Options::new(),
            enable_ipv4: !ipv4.is_empty(),
            enable_ipv6: !ipv6.is_empty()
                && flag(&options, "com.docker.network.enable_ipv6").unwrap_or(true),
            ipv4,
            ipv6,
            internal: flag(&options, "com.docker.network.internal").unwrap_or(false),
            labels: Options::new(),
            options: generic,
        };
        let network = self.controller.new_network(&driver, &name, network).await?;
        tracing::info!(network = %network.name(), id = %network.id(), %driver, "docker plugin: network created");
        Ok(json!({}))
    }

    async fn delete_network(&self, body: &[u8]) -> Answer {
        let req: NetworkId = parse(body)?;
        match self.controller.network_by_id(&req.network_id) {
            Ok(network) => network.delete().await?,
            // Deleting what is not there leaves it not there: dockerd may retry.
            Err(_) => {
                tracing::info!(id = %req.network_id, "docker plugin: DeleteNetwork for a network wnet does not have");
            }
        }
        Ok(json!({}))
    }

    async fn create_endpoint(&self, body: &[u8]) -> Answer {
        let req: CreateEndpoint = parse(body)?;
        let network = self.controller.network_by_id(&req.network_id)?;
        if network.endpoint(&req.endpoint_id).is_ok() {
            return Ok(json!({}));
        }
        let iface = req.interface.unwrap_or_default();
        let ipv4_address = match optional_prefix("address", &iface.address)? {
            Some(IpNet::V4(a)) => Some(a.addr()),
            Some(IpNet::V6(_)) => {
                return Err(Failure(format!("address `{}` is not IPv4", iface.address)));
            }
            None => None,
        };
        let ipv6_address = match optional_prefix("IPv6 address", &iface.address_ipv6)? {
            Some(IpNet::V6(a)) => Some(a.addr()),
            Some(IpNet::V4(_)) => {
                return Err(Failure(format!(
                    "IPv6 address `{}` is not IPv6",
                    iface.address_ipv6
                )));
            }
            None => None,
        };
        let mac_address: Option<MacAddress> = match iface.mac_address.as_str() {
            "" => None,
            m => Some(
                m.parse()
                    .map_err(|_| Failure(format!("MAC address `{m}` is not one")))?,
            ),
        };
        let name = req.endpoint_id.get(..12).unwrap_or(&req.endpoint_id);
        // dockerd gives every endpoint the container's published and exposed ports; they
        // are the container's, published once through its gateway endpoint, and come
        // again with the join as the sandbox's.
        let mut endpoint_options = json_options(&req.options.unwrap_or_default());
        for key in CONTAINER_KEYS {
            endpoint_options.remove(key);
        }
        let endpoint = network
            .create_endpoint(
                name,
                EndpointOptions {
                    id: Some(req.endpoint_id.clone()),
                    ipv4_address,
                    ipv6_address,
                    mac_address,
                    options: endpoint_options,
                    ..EndpointOptions::default()
                },
            )
            .await?;
        // dockerd refuses an answer that restates what it sent; only what it left to
        // the driver is told back.
        Ok(match (mac_address, endpoint.info()?.mac_address) {
            (None, Some(mac)) => json!({ "Interface": { "MacAddress": mac.to_string() } }),
            _ => json!({}),
        })
    }

    async fn delete_endpoint(&self, body: &[u8]) -> Answer {
        let req: EndpointId = parse(body)?;
        let Ok(network) = self.controller.network_by_id(&req.network_id) else {
            return Ok(json!({}));
        };
        match network.endpoint(&req.endpoint_id) {
            Ok(endpoint) => endpoint.delete(false).await?,
            Err(_) => {
                tracing::info!(endpoint = %req.endpoint_id, "docker plugin: DeleteEndpoint for an endpoint wnet does not have");
            }
        }
        Ok(json!({}))
    }

    async fn oper_info(&self, body: &[u8]) -> Answer {
        let req: EndpointId = parse(body)?;
        let network = self.controller.network_by_id(&req.network_id)?;
        let info = network.endpoint(&req.endpoint_id)?.oper_info().await?;
        // Values that are JSON lists or objects (a port map) go back as JSON, as
        // dockerd's own drivers give them.
        let value: Map<String, Value> = info
            .iter()
            .map(|(k, v)| {
                let parsed = serde_json::from_str::<Value>(v)
                    .ok()
                    .filter(|j| j.is_array() || j.is_object());
                (k.to_owned(), parsed.unwrap_or_else(|| json!(v)))
            })
            .collect();
        Ok(json!({ "Value": value }))
    }

    /// The sandbox of namespace `key`: the one wnet has, or a new one. Docker makes the
    /// namespace only when the container starts, after the joins, and moves each
    /// interface into it itself: the sandbox has an external key.
    async fn sandbox(
        &self,
        key: &str,
        mut options: Options,
    ) -> Result<(wnet_core::Sandbox, bool), Failure> {
        if let Some(sb) = self.controller.sandbox_by_key(key)? {
            return Ok((sb, false));
        }
        let base = std::path::Path::new(key)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| wnet_core::valid_name(n))
            .ok_or_else(|| {
                Failure(format!(
                    "sandbox key `{key}` does not end in a namespace name"
                ))
            })?;
        options.insert(SANDBOX_MARK, &self.name);
        let sb = self
            .controller
            .new_sandbox(
                &format!("docker-{base}"),
                SandboxOptions {
                    key: Some(key.to_owned()),
                    options,
                    external_key: true,
                    ..SandboxOptions::default()
                },
            )
            .await?;
        Ok((sb, true))
    }

    async fn join(&self, body: &[u8]) -> Answer {
        let req: Join = parse(body)?;
        let network = self.controller.network_by_id(&req.network_id)?;
        let endpoint = network.endpoint(&req.endpoint_id)?;
        let mut options = json_options(&req.options.unwrap_or_default());
        let mut container = Options::new();
        for key in CONTAINER_KEYS {
            if let Some(v) = options.remove(key) {
                container.insert(key, v);
            }
        }
        let (sandbox, made) = self.sandbox(&req.sandbox_key, container).await?;
        let joined = endpoint.join(&sandbox, JoinOptions { options }).await;
        if let Err(e) = joined {
            if made && let Err(undo) = sandbox.delete().await {
                tracing::warn!(sandbox = %sandbox.id(), error = %undo, "removing the sandbox of a failed join failed");
            }
            return Err(e.into());
        }
        let info = endpoint.info()?.join.map(|j| j.info).unwrap_or_default();
        let mut answer = Map::new();
        if let Some(names) = &info.interface_name {
            let mut name = Map::new();
            name.insert("SrcName".to_owned(), json!(names.src_name));
            name.insert("DstPrefix".to_owned(), json!(names.dst_prefix));
            if let Some(dst) = &names.dst_name {
                name.insert("DstName".to_owned(), json!(dst));
            }
            answer.insert("InterfaceName".to_owned(), Value::Object(name));
        }
        if let Some(gw) = info.gateway {
            answer.insert("Gateway".to_owned(), json!(gw.to_string()));
        }
        if let Some(gw) = info.gateway_ipv6 {
            answer.insert("GatewayIPv6".to_owned(), json!(gw.to_string()));
        }
        let routes: Vec<Value> = info
            .static_routes
            .iter()
            .map(|r| {
                json!({
                    "Destination": r.destination.to_string(),
                    "RouteType": match r.route_type {
                        RouteType::NextHop => 0,
                        RouteType::Connected => 1,
                    },
                    "NextHop": r.next_hop.map(|h| h.to_string()).unwrap_or_default(),
                })
            })
            .collect();
        if !routes.is_empty() {
            answer.insert("StaticRoutes".to_owned(), Value::Array(routes));
        }
        // A network without a gateway must not make dockerd add its docker_gwbridge:
        // wnet decides a network's external connectivity (internal or not).
        answer.insert("DisableGatewayService".to_owned(), json!(true));
        Ok(Value::Object(answer))
    }

    async fn leave(&self, body: &[u8]) -> Answer {
        let req: EndpointId = parse(body)?;
        // A leave of what wnet does not have joined is done already: dockerd leaves
        // its stale endpoints again when it restarts.
        let Some(endpoint) = self
            .controller
            .network_by_id(&req.network_id)
            .and_then(|n| n.endpoint(&req.endpoint_id))
            .ok()
        else {
            tracing::info!(endpoint = %req.endpoint_id, "docker plugin: Leave for an endpoint wnet does not have");
            return Ok(json!({}));
        };
        let Some(join) = endpoint.info()?.join else {
            return Ok(json!({}));
        };
        let sandbox = self.controller.sandbox(&join.sandbox_id)?;
        endpoint.leave(&sandbox).await?;
        let record = sandbox.info()?;
        if record.endpoints.is_empty() && record.options.contains(SANDBOX_MARK) {
            sandbox.delete().await?;
        }
        Ok(json!({}))
    }

    /// The IPAM driver a pool request names, and the request without that option.
    fn ipam_driver(&self, options: &mut Options) -> Result<(String, Arc<dyn IpamDriver>), Failure> {
        let name = options
            .remove(IPAM_OPTION)
            .unwrap_or_else(|| self.controller.config().default_ipam_driver.clone());
        if name == ASSIGNED_IPAM {
            return Err(Failure(format!(
                "IPAM driver `{name}` records what Docker's IPAM assigned and serves no pools itself: name another with --ipam-opt {IPAM_OPTION}=NAME"
            )));
        }
        let driver = self.controller.ipam(&name)?;
        if driver.capability().requires_request_replay {
            return Err(Failure(format!(
                "IPAM driver `{name}` keeps no state and needs its requests replayed at start, which Docker never does: name another with --ipam-opt {IPAM_OPTION}=NAME"
            )));
        }
        Ok((name, driver))
    }

    /// The driver and its pool id in a pool id this plugin gave out.
    fn pool(&self, pool_id: &str) -> Result<(String, Arc<dyn IpamDriver>, String), Failure> {
        let (name, id) = pool_id.split_once('/').ok_or_else(|| {
            Failure(format!(
                "pool id `{pool_id}` is not one wnet gave out (DRIVER/ID)"
            ))
        })?;
        Ok((name.to_owned(), self.controller.ipam(name)?, id.to_owned()))
    }

    async fn address_spaces(&self) -> Answer {
        let name = self.controller.config().default_ipam_driver.clone();
        let spaces = self
            .controller
            .ipam(&name)?
            .default_address_spaces()
            .await
            .map_err(|e| ipam_error(&name, "get-default-address-spaces", e))?;
        Ok(json!({
            "LocalDefaultAddressSpace": spaces.local,
            "GlobalDefaultAddressSpace": spaces.global,
        }))
    }

    async fn request_pool(&self, body: &[u8]) -> Answer {
        let req: RequestPool = parse(body)?;
        let mut options = req.options.as_ref().map(to_options).unwrap_or_default();
        let (name, driver) = self.ipam_driver(&mut options)?;
        let request = PoolRequest {
            address_space: req.address_space,
            pool: optional_prefix("pool", &req.pool)?,
            sub_pool: optional_prefix("sub-pool", &req.sub_pool)?,
            options,
            exclude: Vec::new(),
            v6: req.v6,
        };
        let pool = wnet_core::store::operation(async {
            driver
                .request_pool(&request)
                .await
                .map_err(|e| ipam_error(&name, "request-pool", e))
        })
        .await?;
        Ok(json!({
            "PoolID": format!("{name}/{}", pool.pool_id),
            "Pool": pool.pool.to_string(),
            "Data": options_json(&pool.meta),
        }))
    }

    async fn release_pool(&self, body: &[u8]) -> Answer {
        let req: PoolId = parse(body)?;
        let (name, driver, id) = self.pool(&req.pool_id)?;
        wnet_core::store::operation(async {
            driver
                .release_pool(&id)
                .await
                .map_err(|e| ipam_error(&name, "release-pool", e))
        })
        .await?;
        Ok(json!({}))
    }

    async fn request_address(&self, body: &[u8]) -> Answer {
        let req: RequestAddress = parse(body)?;
        let (name, driver, pool_id) = self.pool(&req.pool_id)?;
        let preferred: Option<IpAddr> = match req.address.as_str() {
            "" => None,
            a => Some(
                a.parse()
                    .map_err(|_| Failure(format!("address `{a}` is not an IP address")))?,
            ),
        };
        let request = AddressRequest {
            pool_id,
            preferred,
            options: req.options.as_ref().map(to_options).unwrap_or_default(),
        };
        let address = wnet_core::store::operation(async {
            driver
                .request_address(&request)
                .await
                .map_err(|e| ipam_error(&name, "request-address", e))
        })
        .await?;
        Ok(json!({
            "Address": address.address.to_string(),
            "Data": options_json(&address.meta),
        }))
    }

    async fn release_address(&self, body: &[u8]) -> Answer {
        let req: ReleaseAddress = parse(body)?;
        let (name, driver, pool_id) = self.pool(&req.pool_id)?;
        let address: IpAddr = req
            .address
            .parse()
            .map_err(|_| Failure(format!("address `{}` is not an IP address", req.address)))?;
        wnet_core::store::operation(async {
            driver
                .release_address(&pool_id, address)
                .await
                .map_err(|e| ipam_error(&name, "release-address", e))
        })
        .await?;
        Ok(json!({}))
    }
}

fn ipam_error(name: &str, call: &'static str, source: DriverError) -> wnet_core::Error {
    wnet_core::Error::Driver {
        kind: "IPAM",
        driver: name.to_owned(),
        call,
        source,
    }
}
