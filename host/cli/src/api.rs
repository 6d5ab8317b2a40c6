//! The JSON API, shaped after the Docker Engine's network API: served by `wnet daemon`
//! on a Unix socket, and called in-process by the `wnet` command when no daemon runs,
//! so both paths give the same answers by construction.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use wnet_core::types::{ErrorKind, Options};
use wnet_core::{
    Controller, EndpointOptions, IpamConfig, JoinOptions, Network, NetworkOptions, SandboxOptions,
};
use wnet_drivers::{DriverInfo, DriverSet, SetError};

pub use crate::config::cidr;

/// An API error: a status and a one-line message.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, naming the value and what to do.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

impl From<wnet_core::Error> for ApiError {
    fn from(e: wnet_core::Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<wnet_core::StoreError> for ApiError {
    fn from(e: wnet_core::StoreError) -> Self {
        wnet_core::Error::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "message": self.message }))).into_response()
    }
}

type ApiResult = Result<axum::Json<Value>, ApiError>;

/// What the handlers share: the controller and its drivers.
#[derive(Clone)]
pub struct Api {
    /// The controller.
    pub controller: Controller,
    /// Its drivers.
    pub drivers: Arc<DriverSet>,
}

impl FromRef<Api> for Controller {
    fn from_ref(api: &Api) -> Controller {
        api.controller.clone()
    }
}

impl FromRef<Api> for Arc<DriverSet> {
    fn from_ref(api: &Api) -> Arc<DriverSet> {
        api.drivers.clone()
    }
}

impl From<SetError> for ApiError {
    fn from(e: SetError) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// The API's routes over a controller and its drivers.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/networks", get(list_networks))
        .route("/networks/create", post(create_network))
        .route("/networks/prune", post(prune_networks))
        .route(
            "/networks/{id}",
            get(inspect_network).delete(delete_network),
        )
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
        .route("/sandboxes", get(list_sandboxes))
        .route("/sandboxes/create", post(create_sandbox))
        .route("/sandboxes/{id}", get(inspect_sandbox))
        .route("/sandboxes/{id}", delete(delete_sandbox))
        .route("/drivers", get(list_drivers))
        .route("/drivers/install", post(install_driver))
        .route("/drivers/reload", post(reload_drivers))
        .route("/drivers/{name}", get(inspect_driver).delete(remove_driver))
        .route("/drivers/{name}/enable", post(enable_driver))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "no such API path: see wnet's README for the routes".to_owned(),
            }
        })
        .with_state(api)
}

fn ip(what: &str, s: &str) -> Result<IpAddr, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{what} `{s}` is not an IP address")))
}

/// `POST /networks/create`'s body (Docker's).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// The driver; `bridge` when absent.
    #[serde(default)]
    pub driver: Option<String>,
    /// IPAM settings.
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// Driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// No external connectivity.
    #[serde(default)]
    pub internal: bool,
    /// IPv6.
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: bool,
}

/// The IPAM part of a create request.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ipam {
    /// The IPAM driver.
    #[serde(default)]
    pub driver: Option<String>,
    /// One entry per subnet.
    #[serde(default)]
    pub config: Vec<IpamEntry>,
    /// IPAM driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// One subnet of a create request.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpamEntry {
    /// The subnet.
    #[serde(default)]
    pub subnet: Option<String>,
    /// The range addresses come from.
    #[serde(default, rename = "IPRange")]
    pub ip_range: Option<String>,
    /// The gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Addresses kept out of allocation.
    #[serde(default)]
    pub auxiliary_addresses: BTreeMap<String, String>,
}

fn network_options(req: &CreateNetwork) -> Result<NetworkOptions, ApiError> {
    let ipam = req.ipam.as_ref();
    let mut options = NetworkOptions {
        ipam_driver: ipam.and_then(|i| i.driver.clone()),
        ipam_options: ipam.map(|i| to_options(&i.options)).unwrap_or_default(),
        options: to_options(&req.options),
        labels: to_options(&req.labels),
        internal: req.internal,
        enable_ipv6: req.enable_ipv6,
        ..NetworkOptions::default()
    };
    for e in ipam.map(|i| i.config.as_slice()).unwrap_or_default() {
        let mut c = IpamConfig {
            subnet: e
                .subnet
                .as_deref()
                .map(cidr)
                .transpose()
                .map_err(ApiError::bad)?,
            ..IpamConfig::default()
        };
        c.ip_range = e
            .ip_range
            .as_deref()
            .map(cidr)
            .transpose()
            .map_err(ApiError::bad)?;
        c.gateway = e.gateway.as_deref().map(|g| ip("gateway", g)).transpose()?;
        for (name, a) in &e.auxiliary_addresses {
            c.aux_addresses
                .push((name.clone(), ip("auxiliary address", a)?));
        }
        options = options.with_subnet(c);
    }
    Ok(options)
}

/// Options as the API's JSON gives them.
pub(crate) fn to_options(m: &BTreeMap<String, String>) -> Options {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Options as the API's JSON shows them.
pub(crate) fn options_json(o: &Options) -> Value {
    Value::Object(
        o.iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect(),
    )
}

/// A network as `docker network inspect` shows it.
fn network_json(net: &Network) -> Result<Value, ApiError> {
    let r = net.info()?;
    let config: Vec<Value> = r
        .ipv4
        .iter()
        .chain(&r.ipv6)
        .filter(|p| !p.is_unaddressed())
        .map(|p| {
            let mut o = json!({"Subnet": p.pool.to_string()});
            if let Some(range) = p.sub_pool {
                o["IPRange"] = json!(range.to_string());
            }
            if let Some(gw) = p.gateway {
                o["Gateway"] = json!(gw.addr().to_string());
            }
            if !p.aux_addresses.is_empty() {
                o["AuxiliaryAddresses"] = Value::Object(
                    p.aux_addresses
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v.addr().to_string())))
                        .collect(),
                );
            }
            o
        })
        .collect();
    let mut containers = BTreeMap::new();
    for ep in net.endpoints()? {
        let e = ep.info()?;
        let Some(join) = &e.join else { continue };
        containers.insert(
            join.sandbox_id.clone(),
            endpoint_json(&e, [("Name", json!(e.name))]),
        );
    }
    Ok(json!({
        "Name": r.name,
        "Id": r.id,
        "Created": r.created,
        "Scope": r.scope.to_string(),
        "Driver": r.driver,
        "EnableIPv4": r.enable_ipv4,
        "EnableIPv6": r.enable_ipv6,
        "IPAM": {
            "Driver": r.ipam_driver,
            "Options": options_json(&r.ipam_options),
            "Config": config,
        },
        "Internal": r.internal,
        "Containers": containers,
        "Options": options_json(&r.options),
        "Labels": options_json(&r.labels),
        // Not Docker's: whether its drivers take calls, and if not why and the way out.
        "DriverStatus": match net.unavailable_drivers()?.as_slice() {
            [] => "available".to_owned(),
            down => down
                .iter()
                .map(|(driver, why)| format!("driver `{driver}` unavailable: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        },
    }))
}

/// `GET /networks` query: `filters` as Docker encodes them, a JSON object of lists
/// (`{"driver":["bridge"],"label":["tier=db"]}`).
#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    filters: Option<String>,
}

/// Docker's rule: the values of one filter are alternatives, the filters must all hold.
fn matches(n: &Value, filters: &BTreeMap<String, Vec<String>>) -> Result<bool, ApiError> {
    for (k, values) in filters {
        let mut any = false;
        for v in values {
            let s = |f: &str| n[f].as_str().unwrap_or_default().to_owned();
            let bool_value = |v: &str| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::bad(format!("filter {k}={v}: give true or false"))),
            };
            any |= match k.as_str() {
                "driver" => s("Driver") == *v,
                "name" => s("Name").contains(v.as_str()),
                "id" => s("Id").starts_with(v.as_str()),
                "scope" => s("Scope") == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => n["Labels"][lk].as_str() == Some(lv),
                    None => n["Labels"].get(v).is_some(),
                },
                // No endpoint joined to it.
                "dangling" => {
                    let empty = n["Containers"]
                        .as_object()
                        .is_none_or(serde_json::Map::is_empty);
                    empty == bool_value(v)?
                }
                // wnet makes no networks of its own: every network is the operator's.
                "type" => match v.as_str() {
                    "custom" => true,
                    "builtin" => false,
                    _ => {
                        return Err(ApiError::bad(format!(
                            "filter type={v}: give custom or builtin"
                        )));
                    }
                },
                other => {
                    return Err(ApiError::bad(format!(
                        "unknown filter `{other}`: use driver, name, id, label, scope, type or dangling"
                    )));
                }
            };
        }
        if !any && !values.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn list_networks(State(c): State<Controller>, Query(q): Query<ListQuery>) -> ApiResult {
    let filters: BTreeMap<String, Vec<String>> = match &q.filters {
        Some(f) => {
            serde_json::from_str(f).map_err(|e| ApiError::bad(format!("filters `{f}`: {e}")))?
        }
        None => BTreeMap::new(),
    };
    let mut out = Vec::new();
    for n in c.networks() {
        let j = network_json(&n)?;
        if matches(&j, &filters)? {
            out.push(j);
        }
    }
    out.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    Ok(axum::Json(Value::Array(out)))
}

async fn inspect_network(State(c): State<Controller>, Path(id): Path<String>) -> ApiResult {
    Ok(axum::Json(network_json(&c.network(&id)?)?))
}

async fn create_network(
    State(c): State<Controller>,
    axum::Json(req): axum::Json<CreateNetwork>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let options = network_options(&req)?;
    let driver = req.driver.as_deref().unwrap_or("bridge");
    let net = c.new_network(driver, &req.name, options).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "Id": net.id() }))))
}

async fn delete_network(
    State(c): State<Controller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    c.network(&id)?.delete().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune_networks(State(c): State<Controller>) -> ApiResult {
    let mut deleted = Vec::new();
    for n in c.networks() {
        if n.endpoints()?.is_empty() {
            n.delete().await?;
            deleted.push(n.name().to_owned());
        }
    }
    Ok(axum::Json(json!({ "NetworksDeleted": deleted })))
}

/// `POST /networks/{id}/connect`'s body.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Connect {
    /// A sandbox id, or a namespace path to adopt.
    pub container: String,
    /// Addresses.
    #[serde(default)]
    pub endpoint_config: Option<EndpointConfig>,
}

/// An endpoint's settings in a connect request.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EndpointConfig {
    /// The addresses asked for.
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpam>,
    /// Other names of the container on the network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Ports to publish, as `docker run -p` writes them:
    /// `[HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[/PROTO]` (not Docker's: its connect
    /// takes none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<String>,
    /// Endpoint options for the driver, as Docker's `DriverOpts`
    /// (`com.docker.network.endpoint.ifname` names the interface in the sandbox).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// The interface's MAC address, as Docker's `MacAddress`; the driver's choice
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// The addresses asked for in a connect request.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointIpam {
    /// IPv4.
    #[serde(default, rename = "IPv4Address")]
    pub ipv4_address: Option<String>,
    /// IPv6.
    #[serde(default, rename = "IPv6Address")]
    pub ipv6_address: Option<String>,
}

/// The sandbox a request names: by id, by key, or a new one adopting that path.
async fn sandbox_for(c: &Controller, arg: &str) -> Result<wnet_core::Sandbox, ApiError> {
    if let Ok(sb) = c.sandbox(arg) {
        return Ok(sb);
    }
    if !arg.starts_with('/') {
        return Ok(c.sandbox(arg)?);
    }
    if let Some(sb) = c.live_sandbox_by_key(arg).await? {
        return Ok(sb);
    }
    // Named after the path: /run/netns/web → web, /proc/42/ns/net → proc-42-ns-net.
    let id = match arg.strip_prefix("/run/netns/") {
        Some(name) if !name.contains('/') => name.to_owned(),
        _ => arg.trim_start_matches('/').replace('/', "-"),
    };
    let options = SandboxOptions {
        key: Some(arg.to_owned()),
        ..SandboxOptions::default()
    };
    Ok(c.new_sandbox(&id, options).await?)
}

async fn connect(
    State(c): State<Controller>,
    Path(id): Path<String>,
    axum::Json(req): axum::Json<Connect>,
) -> Result<StatusCode, ApiError> {
    let net = c.network(&id)?;
    let aliases = req
        .endpoint_config
        .as_ref()
        .map(|e| e.aliases.clone())
        .unwrap_or_default();
    if let Some(bad) = aliases.iter().find(|a| !wnet_core::valid_name(a)) {
        return Err(wnet_core::Error::InvalidName {
            object: "alias",
            name: bad.clone(),
        }
        .into());
    }
    let ports = req
        .endpoint_config
        .as_ref()
        .map(|e| e.publish.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| wnet_core::types::PortBinding::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad(e.message))?;
    let mut options = Options::new();
    for (k, v) in req
        .endpoint_config
        .as_ref()
        .map(|e| &e.driver_opts)
        .into_iter()
        .flatten()
    {
        if k == wnet_core::types::keys::PORT_MAP {
            return Err(ApiError::bad(format!(
                "driver option `{k}`: give ports to publish in EndpointConfig.Publish (--publish)"
            )));
        }
        options.insert(k, v);
    }
    if !ports.is_empty() {
        let json = serde_json::to_string(&ports).map_err(|e| ApiError::bad(e.to_string()))?;
        options.insert(wnet_core::types::keys::PORT_MAP, json);
    }
    let mac_address = match req
        .endpoint_config
        .as_ref()
        .and_then(|e| e.mac_address.as_deref())
    {
        Some(m) => Some(m.parse().map_err(|_| {
            ApiError::bad(format!(
                "MAC address `{m}` is not one: six hex bytes, as 02:42:0a:00:00:02"
            ))
        })?),
        None => None,
    };
    let addrs = req.endpoint_config.and_then(|e| e.ipam_config);
    let ipv4 = match addrs.as_ref().and_then(|a| a.ipv4_address.as_deref()) {
        Some(a) => Some(
            a.parse()
                .map_err(|_| ApiError::bad(format!("IPv4 address `{a}` is not one")))?,
        ),
        None => None,
    };
    let ipv6 = match addrs.as_ref().and_then(|a| a.ipv6_address.as_deref()) {
        Some(a) => Some(
            a.parse()
                .map_err(|_| ApiError::bad(format!("IPv6 address `{a}` is not one")))?,
        ),
        None => None,
    };
    // One operation, one commit: a connect that dies half-way leaves no endpoint on
    // record (and the next start deletes the links it made).
    let wanted = EndpointOptions {
        ipv4_address: ipv4,
        ipv6_address: ipv6,
        mac_address,
        aliases,
        options,
        ..EndpointOptions::default()
    };
    wnet_core::store::operation(connect_op(&c, &net, &req.container, wanted)).await?;
    Ok(StatusCode::OK)
}

async fn connect_op(
    c: &Controller,
    net: &Network,
    container: &str,
    wanted: EndpointOptions,
) -> Result<(), ApiError> {
    let sb = sandbox_for(c, container).await?;
    if sb.endpoints()?.iter().any(|e| e.network_id() == net.id()) {
        return Err(ApiError::conflict(format!(
            "sandbox {} is already connected to network {}",
            sb.id(),
            net.name()
        )));
    }
    let ep = net
        .create_endpoint(
            sb.id(),
            EndpointOptions {
                sandbox: Some(sb.id().to_owned()),
                ..wanted
            },
        )
        .await?;
    if let Err(e) = ep.join(&sb, JoinOptions::default()).await {
        if let Err(undo) = ep.delete(true).await {
            tracing::error!(endpoint = %ep.name(), error = %undo, "removing the endpoint of a failed connect");
        }
        return Err(e.into());
    }
    Ok(())
}

/// `POST /networks/{id}/disconnect`'s body.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Disconnect {
    /// The sandbox (id or namespace path).
    pub container: String,
    /// Remove the endpoint even if its driver fails.
    #[serde(default)]
    pub force: bool,
}

async fn disconnect(
    State(c): State<Controller>,
    Path(id): Path<String>,
    axum::Json(req): axum::Json<Disconnect>,
) -> Result<StatusCode, ApiError> {
    let net = c.network(&id)?;
    let sb = match c.sandbox(&req.container) {
        Ok(sb) => sb,
        Err(e) => c.sandbox_by_key(&req.container)?.ok_or(e)?,
    };
    let Some(ep) = sb
        .endpoints()?
        .into_iter()
        .find(|e| e.network_id() == net.id())
    else {
        return Err(ApiError::bad(format!(
            "sandbox {} is not connected to network {}",
            sb.id(),
            net.name()
        )));
    };
    wnet_core::store::operation(async {
        if let Err(e) = ep.leave(&sb).await {
            if !req.force {
                return Err(ApiError::from(e));
            }
            tracing::warn!(error = %e, "leave failed; removing the endpoint anyway");
        }
        ep.delete(req.force).await?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::OK)
}

/// An endpoint as `network inspect` (under `Containers`) and `sandbox inspect` (under
/// `Endpoints`) show it: its id, MAC, addresses and aliases, with `extra` fields.
fn endpoint_json<const N: usize>(
    e: &wnet_core::EndpointRecord,
    extra: [(&str, Value); N],
) -> Value {
    let mut v = json!({
        "EndpointID": e.id,
        "MacAddress": text(e.mac_address),
        "IPv4Address": text(e.address),
        "IPv6Address": text(e.address_ipv6),
        "Aliases": e.aliases,
    });
    // The ports asked for at connect (the driver's endpoint info has them as bound).
    if let Ok(ports) = wnet_core::types::ports::from_options(&e.options)
        && !ports.is_empty()
    {
        v["Ports"] = json!(ports.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    for (k, x) in extra {
        v[k] = x;
    }
    v
}

/// A value as JSON text; `""` when there is none.
fn text(v: Option<impl ToString>) -> Value {
    json!(v.map(|v| v.to_string()).unwrap_or_default())
}

fn sandbox_json(c: &Controller, sb: &wnet_core::Sandbox) -> Result<Value, ApiError> {
    let info = sb.info()?;
    let mut endpoints = Vec::new();
    for ep in sb.endpoints()? {
        let e = ep.info()?;
        let iface = e.join.as_ref().and_then(|j| j.interface.as_ref());
        endpoints.push(endpoint_json(
            &e,
            [
                ("Network", json!(c.network(&e.network_id)?.name())),
                (
                    "Interface",
                    json!(iface.map(|i| i.dst_name.clone()).unwrap_or_default()),
                ),
                ("Gateway", text(iface.and_then(|i| i.gateway))),
                ("IPv6Gateway", text(iface.and_then(|i| i.gateway_ipv6))),
            ],
        ));
    }
    Ok(json!({
        "Id": info.id,
        "Key": info.key,
        "Owned": info.owned,
        "HostNamespace": info.host_namespace,
        "Endpoints": endpoints,
    }))
}

async fn list_sandboxes(State(c): State<Controller>) -> ApiResult {
    let mut out = Vec::new();
    for sb in c.sandboxes()? {
        out.push(sandbox_json(&c, &sb)?);
    }
    Ok(axum::Json(Value::Array(out)))
}

async fn inspect_sandbox(State(c): State<Controller>, Path(id): Path<String>) -> ApiResult {
    Ok(axum::Json(sandbox_json(&c, &c.sandbox(&id)?)?))
}

/// `POST /sandboxes/create`'s body.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSandbox {
    /// Its name.
    pub name: String,
    /// An existing network namespace to adopt (`/proc/PID/ns/net`, `/run/netns/NAME`):
    /// wnet configures it and never removes it. None: wnet makes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

async fn create_sandbox(
    State(c): State<Controller>,
    axum::Json(req): axum::Json<CreateSandbox>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let options = SandboxOptions {
        key: req.key,
        ..SandboxOptions::default()
    };
    let sb = c.new_sandbox(&req.name, options).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "Id": sb.id(), "Key": sb.info()?.key })),
    ))
}

async fn delete_sandbox(
    State(c): State<Controller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    c.sandbox(&id)?.delete().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn driver_json(d: &DriverInfo) -> Value {
    let m = d.driver.manifest();
    let limits = d.driver.limits();
    let stats = d.driver.stats();
    let status = d.driver.status();
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    json!({
        "Name": m.name,
        "Kind": m.kind.to_string(),
        "Scope": m.scope.to_string(),
        "Description": m.description,
        "Source": d.source.to_string(),
        "Digest": d.digest,
        "Capabilities": m.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "Limits": {
            "MemoryMiB": limits.memory_bytes >> 20,
            "CallTimeoutMs": u64::try_from(limits.call_timeout.as_millis()).unwrap_or(u64::MAX),
            "OperationTimeoutMs": u64::try_from(limits.operation_timeout.as_millis()).unwrap_or(u64::MAX),
            "AnswerItems": limits.answer_items,
            "AnswerBytes": limits.answer_bytes,
            "HostCalls": limits.host_calls,
            "LogLinesPerSecond": limits.log_lines_per_second,
        },
        "State": match status.state {
            wnet_runtime::State::Ok => json!("ok"),
            wnet_runtime::State::BackingOff { faults, retry_in } => json!({
                "BackingOff": { "Faults": faults, "RetryInMs": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX) }
            }),
            wnet_runtime::State::Quarantined { faults } => json!({
                "Quarantined": { "Faults": faults }
            }),
        },
        "Stats": {
            "Calls": count(&stats.calls),
            "Faults": count(&stats.faults),
            "Instances": count(&stats.instances),
            "Restarts": count(&stats.instances).saturating_sub(1),
            "KernelRequests": status.kernel_requests,
            "KernelRequestsFailed": status.kernel_requests_failed,
            "Refusals": status.refusals,
            "RefusedCalls": count(&stats.refused_calls),
            "LogLinesDropped": status.log_lines_dropped,
            "LastError": status.last_error,
        },
        "Networks": d.networks,
        "Status": "loaded",
    })
}

/// The loaded drivers, then the folder's entries that could not be loaded
/// (`"Status": "failed"` with the `Error`).
async fn list_drivers(State(set): State<Arc<DriverSet>>) -> ApiResult {
    let mut all: Vec<Value> = set.list().await.iter().map(driver_json).collect();
    for (name, why) in set.failed() {
        all.push(json!({ "Name": name, "Status": "failed", "Error": why }));
    }
    Ok(axum::Json(Value::Array(all)))
}

/// A name may be both a network and an IPAM driver's (`null`): both are answered.
async fn inspect_driver(State(set): State<Arc<DriverSet>>, Path(name): Path<String>) -> ApiResult {
    let found: Vec<Value> = set
        .list()
        .await
        .iter()
        .filter(|d| d.driver.manifest().name == name)
        .map(driver_json)
        .collect();
    if found.is_empty() {
        return Err(SetError::NotFound(name).into());
    }
    Ok(axum::Json(Value::Array(found)))
}

/// `POST /drivers/install`'s body: files on the daemon's machine.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct InstallDriver {
    /// The component's path.
    pub component: String,
    /// The manifest's path; default: the `.toml` beside the component.
    #[serde(default)]
    pub manifest: Option<String>,
    /// The name to install it under; default: the manifest's.
    #[serde(default)]
    pub name: Option<String>,
}

async fn install_driver(
    State(set): State<Arc<DriverSet>>,
    axum::Json(req): axum::Json<InstallDriver>,
) -> ApiResult {
    let name = set
        .install(
            std::path::Path::new(&req.component),
            req.manifest.as_deref().map(std::path::Path::new),
            req.name.as_deref(),
        )
        .await?;
    Ok(axum::Json(json!({ "Name": name })))
}

async fn enable_driver(State(set): State<Arc<DriverSet>>, Path(name): Path<String>) -> ApiResult {
    let was = set.enable(&name).await?;
    Ok(axum::Json(json!({ "Name": name, "WasQuarantined": was })))
}

async fn remove_driver(State(set): State<Arc<DriverSet>>, Path(name): Path<String>) -> ApiResult {
    set.remove(&name).await?;
    Ok(axum::Json(Value::Null))
}

async fn reload_drivers(State(set): State<Arc<DriverSet>>) -> ApiResult {
    let r = set.reload().await;
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(n, why)| json!({ "Name": n, "Reason": why }))
            .collect::<Vec<_>>()
    };
    Ok(axum::Json(json!({
        "Loaded": r.loaded,
        "Replaced": r.replaced,
        "Removed": r.removed,
        "Kept": pairs(&r.kept),
        "Failed": pairs(&r.failed),
    })))
}
