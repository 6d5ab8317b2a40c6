//! `wnet` as a CNI plugin (spec 1.0, and the 0.3/0.4 results older runtimes ask for).
//! A runtime runs `<CNI_PATH>/wnet` with no arguments, `CNI_COMMAND` and the others in
//! the environment and the network's configuration on stdin:
//!
//! ```json
//! {"cniVersion":"1.0.0","name":"web","type":"wnet","driver":"bridge",
//!  "options":{"com.docker.network.bridge.name":"wnweb0"},
//!  "ipam":{"subnet":"10.10.0.0/24","gateway":"10.10.0.1"}}
//! ```
//!
//! The network is a wnet network of that name (made at the first ADD); the container
//! is a wnet sandbox `cni-<CNI_CONTAINERID>` adopting `CNI_NETNS`, connected with the
//! interface named `CNI_IFNAME`. The calls go to the daemon when one answers, else to
//! the controller in this process, as every `wnet` command's.

use std::collections::BTreeMap;
use std::io::Read;

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api;
use crate::backend::Backend;

/// The versions whose configurations this plugin reads and whose results it writes.
pub const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A CNI error: its code (the spec's well-known ones below 100) and message.
#[derive(Debug)]
pub struct CniError {
    /// The spec's code.
    pub code: u32,
    /// What went wrong.
    pub msg: String,
    /// More, for the curious.
    pub details: String,
}

impl CniError {
    fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// What wnet refused or failed at, with its message.
    pub fn wnet(e: &anyhow::Error) -> Self {
        CniError::new(WNET_FAILED, format!("{e:#}"))
    }

    /// The error object the spec asks for on stdout.
    pub fn to_json(&self, version: &str) -> Value {
        json!({ "cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details })
    }
}

/// Incompatible CNI version.
const INCOMPATIBLE_VERSION: u32 = 1;
/// Invalid necessary environment variables.
const INVALID_ENV: u32 = 4;
/// Failed to decode content.
const DECODE: u32 = 6;
/// Invalid network config.
const INVALID_CONFIG: u32 = 7;
/// The operation failed in wnet (plugin-specific codes start at 100).
const WNET_FAILED: u32 = 100;

/// The network configuration a runtime gives on stdin (the fields wnet reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    /// The spec version of the configuration and the result.
    pub cni_version: String,
    /// The network's name: the wnet network's.
    pub name: String,
    /// The wnet network driver; `bridge` when absent.
    #[serde(default)]
    pub driver: Option<String>,
    /// The driver's options (`-o` of `wnet network create`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The subnet and gateway.
    #[serde(default)]
    pub ipam: Ipam,
    /// What the runtime fills in for the capabilities the plugin declares.
    #[serde(default)]
    pub runtime_config: RuntimeConfig,
    /// `--data-dir` (else `WNET_DATA_DIR`, else the default). A runtime may run its
    /// plugins with an environment of its own (Podman's cleanup after a container
    /// exits has none of the caller's), so the configuration is where they belong.
    #[serde(default)]
    pub data_dir: Option<std::path::PathBuf>,
    /// `--run-dir`.
    #[serde(default)]
    pub run_dir: Option<std::path::PathBuf>,
    /// `--cache-dir`.
    #[serde(default)]
    pub cache_dir: Option<std::path::PathBuf>,
    /// `--drivers-dir`.
    #[serde(default)]
    pub drivers_dir: Option<std::path::PathBuf>,
    /// `--config`: wnet's own config file.
    #[serde(default)]
    pub config: Option<std::path::PathBuf>,
    /// `--host`: the daemon, as unix:///PATH.
    #[serde(default)]
    pub host: Option<String>,
    /// GC (spec 1.1): the attachments the runtime still has; wnet's others on this
    /// network go.
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Vec<Attachment>,
}

/// One entry of `cni.dev/valid-attachments`.
#[derive(Debug, Deserialize)]
pub struct Attachment {
    /// The container.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Its interface.
    pub ifname: String,
}

/// The `ipam` section.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipam {
    /// The network's subnet; the IPAM's default pools when absent.
    #[serde(default)]
    pub subnet: Option<String>,
    /// Its gateway.
    #[serde(default)]
    pub gateway: Option<String>,
}

/// `runtimeConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// The `portMappings` capability.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
}

/// One entry of `runtimeConfig.portMappings`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The host's port.
    pub host_port: u16,
    /// The container's.
    pub container_port: u16,
    /// tcp, udp or sctp; tcp when absent.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The host address; any when absent or empty.
    #[serde(default, rename = "hostIP")]
    pub host_ip: Option<String>,
}

/// The environment of one call.
#[derive(Debug, Default)]
pub struct Env {
    /// `CNI_COMMAND`.
    pub command: String,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS` (may be empty for DEL).
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`: `K=V;K=V`.
    pub args: BTreeMap<String, String>,
}

impl Env {
    /// Reads the `CNI_*` variables.
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Env {
            command: var("CNI_COMMAND"),
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS"),
            ifname: var("CNI_IFNAME"),
            args: var("CNI_ARGS")
                .split(';')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    fn need(&self, name: &str, value: &str) -> Result<(), CniError> {
        if value.is_empty() {
            return Err(CniError::new(
                INVALID_ENV,
                format!(
                    "{name} is not set: the runtime must give it for {}",
                    self.command
                ),
            ));
        }
        Ok(())
    }

    /// The wnet sandbox of the container.
    fn sandbox(&self) -> String {
        format!("cni-{}", self.container_id)
    }
}

/// What `VERSION` prints.
pub fn version_json() -> Value {
    json!({ "cniVersion": "1.1.0", "supportedVersions": SUPPORTED_VERSIONS })
}

/// Parses and checks stdin's configuration.
pub fn parse_conf(text: &str) -> Result<NetConf, CniError> {
    let conf: NetConf = serde_json::from_str(text).map_err(|e| {
        CniError::new(
            DECODE,
            format!("the network configuration is not one wnet reads: {e}"),
        )
    })?;
    if !SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        return Err(CniError::new(
            INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {} is not one wnet speaks ({})",
                conf.cni_version,
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    if !wnet_core::valid_name(&conf.name) {
        return Err(CniError::new(
            INVALID_CONFIG,
            format!(
                "network name `{}`: letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                conf.name
            ),
        ));
    }
    Ok(conf)
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "it serves as `map_err(failed)`"
)]
fn failed(e: anyhow::Error) -> CniError {
    CniError::wnet(&e)
}

/// Runs one command against `b`; the result to print, if any.
pub async fn run(b: &Backend, env: &Env, conf: &NetConf) -> Result<Option<Value>, CniError> {
    match env.command.as_str() {
        "ADD" => add(b, env, conf).await.map(Some),
        "DEL" => del(b, env, conf).await.map(|()| None),
        "CHECK" => check(b, env, conf).await.map(|()| None),
        "GC" => gc(b, conf).await.map(|()| None),
        "STATUS" => Ok(None),
        other => Err(CniError::new(
            INVALID_ENV,
            format!("CNI_COMMAND `{other}`: wnet answers ADD, DEL, CHECK, GC, STATUS and VERSION"),
        )),
    }
}

async fn add(b: &Backend, env: &Env, conf: &NetConf) -> Result<Value, CniError> {
    env.need("CNI_CONTAINERID", &env.container_id)?;
    env.need("CNI_NETNS", &env.netns)?;
    env.need("CNI_IFNAME", &env.ifname)?;
    if b.call(Method::GET, &format!("/networks/{}", conf.name), None)
        .await
        .is_err()
    {
        let create = api::CreateNetwork {
            name: conf.name.clone(),
            driver: conf.driver.clone(),
            ipam: Some(api::Ipam {
                config: vec![api::IpamEntry {
                    subnet: conf.ipam.subnet.clone(),
                    gateway: conf.ipam.gateway.clone(),
                    ..api::IpamEntry::default()
                }],
                ..api::Ipam::default()
            })
            .filter(|_| conf.ipam.subnet.is_some()),
            options: conf.options.clone(),
            ..api::CreateNetwork::default()
        };
        let body = serde_json::to_value(create).map_err(|e| failed(e.into()))?;
        if let Err(e) = b.call(Method::POST, "/networks/create", Some(&body)).await {
            // Another ADD may have made it meanwhile: then that one is used. Asked
            // again rather than read from the error, whose words are not a contract.
            let made_meanwhile = b
                .call(Method::GET, &format!("/networks/{}", conf.name), None)
                .await
                .is_ok();
            if !made_meanwhile {
                return Err(CniError::new(
                    INVALID_CONFIG,
                    format!("network {}: {e:#}", conf.name),
                ));
            }
        }
    }
    let sandbox = env.sandbox();
    let made = b
        .call(Method::GET, &format!("/sandboxes/{sandbox}"), None)
        .await
        .is_err();
    if made {
        let create = api::CreateSandbox {
            name: sandbox.clone(),
            key: Some(env.netns.clone()),
        };
        let body = serde_json::to_value(create).map_err(|e| failed(e.into()))?;
        b.call(Method::POST, "/sandboxes/create", Some(&body))
            .await
            .map_err(failed)?;
    }
    let mut driver_opts = BTreeMap::new();
    driver_opts.insert(
        wnet_core::types::keys::ENDPOINT_IFNAME.to_owned(),
        env.ifname.clone(),
    );
    let publish = conf
        .runtime_config
        .port_mappings
        .iter()
        .map(|p| {
            let host = p
                .host_ip
                .as_deref()
                .filter(|ip| !ip.is_empty())
                .map(|ip| {
                    if ip.contains(':') {
                        format!("[{ip}]:")
                    } else {
                        format!("{ip}:")
                    }
                })
                .unwrap_or_default();
            let proto = p.protocol.as_deref().unwrap_or("tcp").to_lowercase();
            format!("{host}{}:{}/{proto}", p.host_port, p.container_port)
        })
        .collect();
    let ip = env.args.get("IP").cloned();
    let connect = api::Connect {
        container: sandbox.clone(),
        endpoint_config: Some(api::EndpointConfig {
            ipam_config: Some(api::EndpointIpam {
                ipv4_address: ip.clone().filter(|a| !a.contains(':')),
                ipv6_address: ip.filter(|a| a.contains(':')),
            }),
            publish,
            driver_opts,
            mac_address: env.args.get("MAC").cloned(),
            ..api::EndpointConfig::default()
        }),
    };
    let body = serde_json::to_value(connect).map_err(|e| failed(e.into()))?;
    if let Err(e) = b
        .call(
            Method::POST,
            &format!("/networks/{}/connect", conf.name),
            Some(&body),
        )
        .await
    {
        // A failed ADD leaves nothing: the sandbox it made goes (the namespace stays).
        if made {
            let _ = b
                .call(Method::DELETE, &format!("/sandboxes/{sandbox}"), None)
                .await;
        }
        return Err(failed(e));
    }
    let endpoint = endpoint_of(b, env, conf)
        .await
        .ok_or_else(|| CniError::new(WNET_FAILED, "connected, but the endpoint is not found"))?;
    Ok(result(&conf.cni_version, env, &endpoint))
}

/// The container's endpoint on the network, as the sandbox's inspect shows it.
async fn endpoint_of(b: &Backend, env: &Env, conf: &NetConf) -> Option<Value> {
    let sb = b
        .call(Method::GET, &format!("/sandboxes/{}", env.sandbox()), None)
        .await
        .ok()?;
    on_network(&sb, conf).cloned()
}

/// A sandbox's endpoint (in its inspect) on the configuration's network.
fn on_network<'a>(sb: &'a Value, conf: &NetConf) -> Option<&'a Value> {
    sb["Endpoints"]
        .as_array()?
        .iter()
        .find(|e| e["Network"] == conf.name.as_str())
}

/// The spec's result for an endpoint: its interface, addresses, default routes.
fn result(version: &str, env: &Env, e: &Value) -> Value {
    let legacy = version.starts_with("0.");
    let mut ips = Vec::new();
    let mut routes = Vec::new();
    for (address, gateway, family, default) in [
        ("IPv4Address", "Gateway", "4", "0.0.0.0/0"),
        ("IPv6Address", "IPv6Gateway", "6", "::/0"),
    ] {
        let Some(addr) = e[address].as_str().filter(|a| !a.is_empty()) else {
            continue;
        };
        let gw = e[gateway].as_str().filter(|g| !g.is_empty());
        let mut ip = json!({ "address": addr, "interface": 0 });
        if let Some(gw) = gw {
            ip["gateway"] = json!(gw);
            routes.push(json!({ "dst": default, "gw": gw }));
        }
        if legacy {
            ip["version"] = json!(family);
        }
        ips.push(ip);
    }
    json!({
        "cniVersion": version,
        "interfaces": [{
            "name": env.ifname,
            "mac": e["MacAddress"],
            "sandbox": env.netns,
        }],
        "ips": ips,
        "routes": routes,
        "dns": {},
    })
}

/// DEL: whatever is already gone is not an error (the spec requires DEL to succeed
/// again, and when the namespace went first).
async fn del(b: &Backend, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    env.need("CNI_CONTAINERID", &env.container_id)?;
    if endpoint_of(b, env, conf).await.is_some() {
        let body = json!({ "Container": env.sandbox(), "Force": true });
        b.call(
            Method::POST,
            &format!("/networks/{}/disconnect", conf.name),
            Some(&body),
        )
        .await
        .map_err(failed)?;
    }
    // The sandbox goes with its last network (an adopted namespace itself is kept).
    if let Ok(sb) = b
        .call(Method::GET, &format!("/sandboxes/{}", env.sandbox()), None)
        .await
        && sb["Endpoints"].as_array().is_none_or(Vec::is_empty)
    {
        b.call(
            Method::DELETE,
            &format!("/sandboxes/{}", env.sandbox()),
            None,
        )
        .await
        .map_err(failed)?;
    }
    Ok(())
}

/// GC: every container wnet connected to this network through CNI that the runtime
/// no longer lists is disconnected, as its DEL would have.
async fn gc(b: &Backend, conf: &NetConf) -> Result<(), CniError> {
    let sandboxes = b
        .call(Method::GET, "/sandboxes", None)
        .await
        .map_err(failed)?;
    for sb in sandboxes.as_array().into_iter().flatten() {
        let Some(container_id) = sb["Id"].as_str().and_then(|id| id.strip_prefix("cni-")) else {
            continue;
        };
        let Some(e) = on_network(sb, conf) else {
            continue;
        };
        let valid = conf
            .valid_attachments
            .iter()
            .any(|a| a.container_id == container_id && e["Interface"] == a.ifname.as_str());
        if !valid {
            let env = Env {
                command: "GC".to_owned(),
                container_id: container_id.to_owned(),
                ..Env::default()
            };
            del(b, &env, conf).await?;
        }
    }
    Ok(())
}

/// CHECK: the container is connected, with the interface the runtime named.
async fn check(b: &Backend, env: &Env, conf: &NetConf) -> Result<(), CniError> {
    env.need("CNI_CONTAINERID", &env.container_id)?;
    let Some(e) = endpoint_of(b, env, conf).await else {
        return Err(CniError::new(
            WNET_FAILED,
            format!(
                "container {} is not connected to network {}",
                env.container_id, conf.name
            ),
        ));
    };
    if e["Interface"] != env.ifname.as_str() {
        return Err(CniError::new(
            WNET_FAILED,
            format!(
                "container {}: its interface on {} is `{}`, not `{}`",
                env.container_id,
                conf.name,
                e["Interface"].as_str().unwrap_or(""),
                env.ifname
            ),
        ));
    }
    env.need("CNI_NETNS", &env.netns)?;
    in_namespace(env, &e).await.map_err(|why| {
        CniError::new(
            WNET_FAILED,
            format!("container {}: {why}", env.container_id),
        )
    })
}

/// What wnet recorded for the endpoint is what the container's namespace has: the
/// interface, up, with its MAC address and addresses.
async fn in_namespace(env: &Env, e: &Value) -> Result<(), String> {
    use wnet_netlink::Netlink;
    let ns = wnet_netlink::Namespace::adopt(std::path::Path::new(&env.netns))
        .map_err(|err| format!("namespace {}: {err}", env.netns))?;
    let nl = wnet_netlink::RtNetlink::new();
    let ifname = &env.ifname;
    let link = nl
        .link_by_name(&ns, ifname)
        .await
        .map_err(|err| format!("reading {ifname} in {}: {err}", env.netns))?
        .ok_or_else(|| format!("interface {ifname} is gone from {}", env.netns))?;
    if !link.up {
        return Err(format!("interface {ifname} in {} is down", env.netns));
    }
    if let Some(mac) = e["MacAddress"].as_str().filter(|m| !m.is_empty())
        && link.mac.map(|m| m.to_string()).as_deref() != Some(mac)
    {
        return Err(format!(
            "interface {ifname} has MAC address {}, not {mac}",
            link.mac.map(|m| m.to_string()).unwrap_or_default()
        ));
    }
    let addrs = nl
        .addrs(&ns)
        .await
        .map_err(|err| format!("reading addresses in {}: {err}", env.netns))?;
    for key in ["IPv4Address", "IPv6Address"] {
        let Some(want) = e[key].as_str().filter(|a| !a.is_empty()) else {
            continue;
        };
        if !addrs
            .iter()
            .any(|a| a.index == link.index && a.address.to_string() == want)
        {
            return Err(format!("interface {ifname} lacks its address {want}"));
        }
    }
    Ok(())
}

/// Reads the configuration from stdin (all of it).
pub fn stdin_conf() -> Result<String, CniError> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        CniError::new(
            DECODE,
            format!("cannot read the configuration on stdin: {e}"),
        )
    })?;
    Ok(text)
}
