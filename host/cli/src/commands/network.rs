//! `wnet network …`, after `docker network …`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use wnet_core::types::{IpNet, Options};
use wnet_core::{
    Controller, EndpointOptions, IpamConfig, JoinOptions, Network, NetworkOptions, NetworkRecord,
    SandboxOptions,
};

/// `network create`'s flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The network driver.
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// A subnet in CIDR form (repeatable; IPv6 ones enable IPv6).
    #[arg(long, value_parser = cidr)]
    pub subnet: Vec<IpNet>,
    /// The part of a subnet endpoints get addresses from (repeatable).
    #[arg(long, value_parser = cidr)]
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

/// A prefix in CIDR form, with a message that says what is wrong with it.
pub fn cidr(s: &str) -> Result<IpNet, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err(format!(
            "{s}: not in CIDR form ADDRESS/LENGTH, as 10.1.0.0/16"
        ));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s}: `{addr}` is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("{s}: prefix length must be 0–{max}"))?;
    IpNet::new(addr, len).map_err(|e| format!("{s}: {e}"))
}

/// `key=value`, as Docker's repeatable options take it.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not key=value")),
    }
}

/// The subnet of `configs` that holds `ip`.
fn config_for<'a>(
    configs: &'a mut [IpamConfig],
    ip: IpAddr,
    what: &str,
) -> anyhow::Result<&'a mut IpamConfig> {
    configs
        .iter_mut()
        .find(|c| c.subnet.is_some_and(|s| s.contains(&ip)))
        .with_context(|| format!("{what} {ip} is in none of the subnets given with --subnet"))
}

/// The options `network create` builds from its flags (Docker pairs each --ip-range,
/// --gateway and --aux-address with the --subnet that holds it).
pub fn options(args: &CreateArgs) -> anyhow::Result<NetworkOptions> {
    let mut configs: Vec<IpamConfig> = args.subnet.iter().map(|s| IpamConfig::subnet(*s)).collect();
    for range in &args.ip_range {
        let c = config_for(&mut configs, range.addr(), "--ip-range")?;
        if c.ip_range.is_some() {
            bail!("--ip-range {range}: its subnet already has a range");
        }
        c.ip_range = Some(*range);
    }
    for gw in &args.gateway {
        let c = config_for(&mut configs, *gw, "--gateway")?;
        if c.gateway.is_some() {
            bail!("--gateway {gw}: its subnet already has a gateway");
        }
        c.gateway = Some(*gw);
    }
    for (name, ip) in &args.aux_address {
        let ip: IpAddr = ip
            .parse()
            .with_context(|| format!("--aux-address {name}={ip}: `{ip}` is not an IP address"))?;
        config_for(&mut configs, ip, "--aux-address")?
            .aux_addresses
            .push((name.clone(), ip));
    }
    let mut options = NetworkOptions {
        ipam_driver: args.ipam_driver.clone(),
        ipam_options: args.ipam_opt.iter().cloned().collect(),
        options: args.opt.iter().cloned().collect(),
        labels: args.label.iter().cloned().collect(),
        internal: args.internal,
        enable_ipv6: args.ipv6,
        ..NetworkOptions::default()
    };
    for c in configs {
        options = options.with_subnet(c);
    }
    Ok(options)
}

/// `network create`: prints the new network's id.
pub async fn create(c: &Controller, args: &CreateArgs) -> anyhow::Result<()> {
    let net = c
        .new_network(&args.driver, &args.name, options(args)?)
        .await?;
    println!("{}", net.id());
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
    /// Keep networks matching: driver=, name=, id= (a prefix) or label=KEY[=VALUE]
    /// (repeatable; all must match).
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

fn matches(n: &NetworkRecord, filters: &[(String, String)]) -> anyhow::Result<bool> {
    for (k, v) in filters {
        let ok = match k.as_str() {
            "driver" => n.driver == *v,
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk) == Some(lv),
                None => n.labels.get(v).is_some(),
            },
            other => bail!("unknown filter `{other}`: use driver=, name=, id= or label="),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `network ls`.
pub fn ls(c: &Controller, args: &LsArgs) -> anyhow::Result<()> {
    let mut nets = Vec::new();
    for n in c.networks() {
        let r = n.info()?;
        if matches(&r, &args.filter)? {
            nets.push(r);
        }
    }
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let id = |r: &NetworkRecord| {
        if args.no_trunc {
            r.id.clone()
        } else {
            r.id[..12].to_owned()
        }
    };
    if args.quiet {
        for r in &nets {
            println!("{}", id(r));
        }
        return Ok(());
    }
    match args.format {
        Format::Json => {
            let rows: Vec<Value> = nets
                .iter()
                .map(|r| json!({"ID": id(r), "Name": r.name, "Driver": r.driver, "Scope": r.scope.to_string()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Table => {
            let w = nets.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
            let wid = if args.no_trunc { 64 } else { 12 };
            println!(
                "{:<wid$}   {:<w$}   {:<8}   SCOPE",
                "NETWORK ID", "NAME", "DRIVER"
            );
            for r in &nets {
                println!(
                    "{:<wid$}   {:<w$}   {:<8}   {}",
                    id(r),
                    r.name,
                    r.driver,
                    r.scope
                );
            }
        }
    }
    Ok(())
}

fn options_json(o: &Options) -> Value {
    Value::Object(
        o.iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect(),
    )
}

/// A network as `docker network inspect` shows it.
fn inspect_one(c: &Controller, net: &Network) -> anyhow::Result<Value> {
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
    for ep in net.endpoints() {
        let e = ep.info()?;
        let Some(join) = &e.join else { continue };
        containers.insert(
            join.sandbox_id.clone(),
            json!({
                "Name": e.name,
                "EndpointID": e.id,
                "MacAddress": e.mac_address.map(|m| m.to_string()).unwrap_or_default(),
                "IPv4Address": e.address.map(|a| a.to_string()).unwrap_or_default(),
                "IPv6Address": e.address_ipv6.map(|a| a.to_string()).unwrap_or_default(),
            }),
        );
    }
    let _ = c;
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
    }))
}

/// `network inspect`: a JSON array; fails if any name is unknown (after printing the
/// ones found, as Docker does).
pub fn inspect(c: &Controller, names: &[String]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut missing = None;
    for name in names {
        match c.network(name) {
            Ok(n) => out.push(inspect_one(c, &n)?),
            Err(e) => {
                missing.get_or_insert(e);
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    match missing {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// `network rm`: every name is tried; any failure fails the command.
pub async fn rm(c: &Controller, names: &[String]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for name in names {
        let result = match c.network(name) {
            Ok(n) => n.delete().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => failed.push(e),
        }
    }
    match failed.len() {
        0 => Ok(()),
        // One failure is the error itself, on one line.
        1 if names.len() == 1 => Err(failed.remove(0).into()),
        n => {
            for e in &failed {
                eprintln!("wnet: {e}");
            }
            bail!("{n} of {} networks were not removed", names.len())
        }
    }
}

/// `network prune`: removes every network without endpoints.
pub async fn prune(c: &Controller) -> anyhow::Result<()> {
    for n in c.networks() {
        if n.endpoints().is_empty() {
            n.delete().await?;
            println!("{}", n.name());
        }
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
    /// The network.
    pub network: String,
    /// A wnet sandbox, or the path of a network namespace to adopt
    /// (`/proc/PID/ns/net`, `/run/netns/NAME`).
    pub sandbox: String,
}

/// The sandbox a `connect` argument names: an existing one by id or key, or a new one
/// adopting the namespace at that path.
async fn sandbox_for(c: &Controller, arg: &str) -> anyhow::Result<wnet_core::Sandbox> {
    if let Ok(sb) = c.sandbox(arg) {
        return Ok(sb);
    }
    if !arg.starts_with('/') {
        return Ok(c.sandbox(arg)?);
    }
    for sb in c.sandboxes() {
        if sb.info()?.key == arg {
            return Ok(sb);
        }
    }
    // Named after the path: /run/netns/web → web, /proc/42/ns/net → proc-42-ns-net.
    let id = match arg.strip_prefix("/run/netns/") {
        Some(name) if !name.contains('/') => name.to_owned(),
        _ => arg.trim_start_matches('/').replace('/', "-"),
    };
    let sb = c
        .new_sandbox(
            &id,
            SandboxOptions {
                key: Some(arg.to_owned()),
                ..SandboxOptions::default()
            },
        )
        .await?;
    Ok(sb)
}

/// `network connect`: an endpoint named after the sandbox, made for it and joined.
pub async fn connect(c: &Controller, args: &ConnectArgs) -> anyhow::Result<()> {
    let net = c.network(&args.network)?;
    let sb = sandbox_for(c, &args.sandbox).await?;
    if sb.endpoints()?.iter().any(|e| e.network_id() == net.id()) {
        bail!(
            "sandbox {} is already connected to network {}",
            sb.id(),
            net.name()
        );
    }
    let ep = net
        .create_endpoint(
            sb.id(),
            EndpointOptions {
                ipv4_address: args.ip,
                ipv6_address: args.ip6,
                sandbox: Some(sb.id().to_owned()),
                ..EndpointOptions::default()
            },
        )
        .await?;
    if let Err(e) = ep.join(&sb, JoinOptions::default()).await {
        if let Err(undo) = ep.delete(true).await {
            eprintln!("wnet: removing the endpoint of a failed connect: {undo}");
        }
        return Err(e.into());
    }
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
pub async fn disconnect(c: &Controller, args: &DisconnectArgs) -> anyhow::Result<()> {
    let net = c.network(&args.network)?;
    let sb = match c.sandbox(&args.sandbox) {
        Ok(sb) => sb,
        Err(e) => c
            .sandboxes()
            .into_iter()
            .find(|s| s.info().is_ok_and(|i| i.key == args.sandbox))
            .ok_or(e)?,
    };
    let Some(ep) = sb
        .endpoints()?
        .into_iter()
        .find(|e| e.network_id() == net.id())
    else {
        bail!(
            "sandbox {} is not connected to network {}",
            sb.id(),
            net.name()
        );
    };
    if let Err(e) = ep.leave(&sb).await {
        if !args.force {
            return Err(e.into());
        }
        eprintln!("wnet: leave failed, removing the endpoint anyway: {e}");
    }
    ep.delete(args.force).await?;
    Ok(())
}
