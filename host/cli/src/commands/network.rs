//! `wnet network …`, after `docker network …`: each command one or more API calls.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, bail};
use axum::http::Method;
use serde_json::{Value, json};
use wnet_core::types::IpNet;

use crate::api::{self, CreateNetwork, Ipam, IpamEntry};
use crate::backend::Backend;

/// `network create`'s flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The network driver.
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// A subnet in CIDR form (repeatable; IPv6 ones enable IPv6).
    #[arg(long, value_parser = api::cidr)]
    pub subnet: Vec<IpNet>,
    /// The part of a subnet endpoints get addresses from (repeatable).
    #[arg(long, value_parser = api::cidr)]
    pub ip_range: Vec<IpNet>,
    /// The gateway of a subnet (repeatable).
    #[arg(long)]
    pub gateway: Vec<IpAddr>,
    /// An address IPAM must not hand out, as name=IP (repeatable).
    #[arg(long, value_parser = key_value)]
    pub aux_address: Vec<(String, String)>,
    /// The IPAM driver.
    #[arg(long)]
    pub ipam_driver: Option<String>,
    /// An IPAM driver option, key=value (repeatable).
    #[arg(long, value_parser = key_value)]
    pub ipam_opt: Vec<(String, String)>,
    /// A driver option, key=value (repeatable).
    #[arg(short = 'o', long = "opt", value_parser = key_value)]
    pub opt: Vec<(String, String)>,
    /// A label, key=value (repeatable).
    #[arg(long, value_parser = key_value)]
    pub label: Vec<(String, String)>,
    /// No external connectivity.
    #[arg(long)]
    pub internal: bool,
    /// Enable IPv6.
    #[arg(long)]
    pub ipv6: bool,
    /// The network's name.
    pub name: String,
}

/// `key=value`, as Docker's repeatable options take it.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not key=value")),
    }
}

/// The subnet entry that holds `ip`.
fn entry_for<'a>(
    entries: &'a mut [(IpNet, IpamEntry)],
    ip: IpAddr,
    what: &str,
) -> anyhow::Result<&'a mut IpamEntry> {
    entries
        .iter_mut()
        .find(|(s, _)| s.contains(&ip))
        .map(|(_, e)| e)
        .with_context(|| format!("{what} {ip} is in none of the subnets given with --subnet"))
}

/// The API request `network create` builds from its flags (as Docker's CLI, each
/// --ip-range, --gateway and --aux-address goes with the --subnet that holds it).
pub fn request(args: &CreateArgs) -> anyhow::Result<CreateNetwork> {
    let mut entries: Vec<(IpNet, IpamEntry)> = args
        .subnet
        .iter()
        .map(|s| {
            (
                *s,
                IpamEntry {
                    subnet: Some(s.to_string()),
                    ..IpamEntry::default()
                },
            )
        })
        .collect();
    for range in &args.ip_range {
        let e = entry_for(&mut entries, range.addr(), "--ip-range")?;
        if e.ip_range.is_some() {
            bail!("--ip-range {range}: its subnet already has a range");
        }
        e.ip_range = Some(range.to_string());
    }
    for gw in &args.gateway {
        let e = entry_for(&mut entries, *gw, "--gateway")?;
        if e.gateway.is_some() {
            bail!("--gateway {gw}: its subnet already has a gateway");
        }
        e.gateway = Some(gw.to_string());
    }
    for (name, ip) in &args.aux_address {
        let addr: IpAddr = ip
            .parse()
            .with_context(|| format!("--aux-address {name}={ip}: `{ip}` is not an IP address"))?;
        entry_for(&mut entries, addr, "--aux-address")?
            .auxiliary_addresses
            .insert(name.clone(), ip.clone());
    }
    Ok(CreateNetwork {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        ipam: Some(Ipam {
            driver: args.ipam_driver.clone(),
            config: entries.into_iter().map(|(_, e)| e).collect(),
            options: args.ipam_opt.iter().cloned().collect(),
        }),
        options: args.opt.iter().cloned().collect(),
        labels: args.label.iter().cloned().collect(),
        internal: args.internal,
        enable_ipv6: args.ipv6,
    })
}

/// `network create`: prints the new network's id.
pub async fn create(b: &Backend, args: &CreateArgs) -> anyhow::Result<()> {
    let body = serde_json::to_value(request(args)?)?;
    let answer = b
        .call(Method::POST, "/networks/create", Some(&body))
        .await?;
    println!("{}", answer["Id"].as_str().unwrap_or_default());
    Ok(())
}

/// `network ls`'s flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only the ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Whole ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Keep networks matching: driver=, name=, id= (a prefix), label=KEY[=VALUE],
    /// scope=, type=custom|builtin, dangling=true|false (repeatable: values of one
    /// filter are alternatives, different filters must all match, as Docker's).
    #[arg(short, long, value_parser = key_value)]
    pub filter: Vec<(String, String)>,
    /// table (default) or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// JSON, for scripts.
    Json,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// `network ls`.
pub async fn ls(b: &Backend, args: &LsArgs) -> anyhow::Result<()> {
    let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &args.filter {
        filters.entry(k.as_str()).or_default().push(v.as_str());
    }
    let query: String =
        form_urlencoded::byte_serialize(serde_json::to_string(&filters)?.as_bytes()).collect();
    let nets = b
        .call(Method::GET, &format!("/networks?filters={query}"), None)
        .await?;
    let nets = nets.as_array().cloned().unwrap_or_default();
    let id = |n: &Value| {
        let id = str_of(n, "Id");
        if args.no_trunc {
            id
        } else {
            &id[..12.min(id.len())]
        }
        .to_owned()
    };
    if args.quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Ok(());
    }
    match args.format {
        Format::Json => {
            let rows: Vec<Value> = nets
                .iter()
                .map(|n| json!({"ID": id(n), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"]}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Table => {
            let w = nets
                .iter()
                .map(|n| str_of(n, "Name").len())
                .max()
                .unwrap_or(0)
                .max(4);
            let wid = if args.no_trunc { 64 } else { 12 };
            println!(
                "{:<wid$}   {:<w$}   {:<8}   SCOPE",
                "NETWORK ID", "NAME", "DRIVER"
            );
            for n in &nets {
                println!(
                    "{:<wid$}   {:<w$}   {:<8}   {}",
                    id(n),
                    str_of(n, "Name"),
                    str_of(n, "Driver"),
                    str_of(n, "Scope")
                );
            }
        }
    }
    Ok(())
}

/// `network inspect`: a JSON array.
pub async fn inspect(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::inspect_each(b, "/networks", names).await
}

/// `network rm`.
pub async fn rm(b: &Backend, names: &[String]) -> anyhow::Result<()> {
    super::remove_each(b, "/networks", "networks", names).await
}

/// `network prune`: removes every network without endpoints.
pub async fn prune(b: &Backend) -> anyhow::Result<()> {
    let answer = b.call(Method::POST, "/networks/prune", None).await?;
    for name in answer["NetworksDeleted"].as_array().into_iter().flatten() {
        println!("{}", name.as_str().unwrap_or_default());
    }
    Ok(())
}

/// `network connect`'s flags.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The IPv4 address to give the sandbox.
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// The IPv6 address.
    #[arg(long)]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Another name for the sandbox on this network (repeatable).
    #[arg(long)]
    pub alias: Vec<String>,
    /// Publish a port, as `docker run -p`: [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[/PROTO]
    /// with PROTO tcp (default), udp or sctp (repeatable). Needs the firewall.
    #[arg(short, long, value_parser = parse_publish)]
    pub publish: Vec<String>,
    /// An endpoint option for the driver, key=value (repeatable), as Docker's:
    /// `com.docker.network.endpoint.ifname=NAME` names the interface in the sandbox.
    #[arg(long, value_parser = key_value)]
    pub driver_opt: Vec<(String, String)>,
    /// The network.
    pub network: String,
    /// A wnet sandbox, or the path of a network namespace to adopt
    /// (`/proc/PID/ns/net`, `/run/netns/NAME`).
    pub sandbox: String,
}

/// Checks a `--publish` value before anything is sent.
fn parse_publish(s: &str) -> Result<String, String> {
    wnet_core::types::PortBinding::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.message)
}

/// `network connect`: an endpoint named after the sandbox, made for it and joined.
pub async fn connect(b: &Backend, args: &ConnectArgs) -> anyhow::Result<()> {
    let body = serde_json::to_value(api::Connect {
        container: args.sandbox.clone(),
        endpoint_config: Some(api::EndpointConfig {
            ipam_config: Some(api::EndpointIpam {
                ipv4_address: args.ip.map(|a| a.to_string()),
                ipv6_address: args.ip6.map(|a| a.to_string()),
            }),
            aliases: args.alias.clone(),
            publish: args.publish.clone(),
            driver_opts: args.driver_opt.iter().cloned().collect(),
            mac_address: None,
        }),
    })?;
    b.call(
        Method::POST,
        &format!("/networks/{}/connect", args.network),
        Some(&body),
    )
    .await?;
    Ok(())
}

/// `network disconnect`'s flags.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Remove the endpoint even if its driver fails.
    #[arg(short, long)]
    pub force: bool,
    /// The network.
    pub network: String,
    /// The sandbox (id or namespace path).
    pub sandbox: String,
}

/// `network disconnect`: the sandbox leaves and its endpoint is deleted.
pub async fn disconnect(b: &Backend, args: &DisconnectArgs) -> anyhow::Result<()> {
    let body = serde_json::to_value(api::Disconnect {
        container: args.sandbox.clone(),
        force: args.force,
    })?;
    b.call(
        Method::POST,
        &format!("/networks/{}/disconnect", args.network),
        Some(&body),
    )
    .await?;
    Ok(())
}
