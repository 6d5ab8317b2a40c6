//! `wnet sandbox …`: network namespaces for people without a container engine.

use anyhow::Context;
use serde_json::json;
use wnet_core::{Controller, SandboxOptions};

/// `sandbox create`: prints the namespace's path.
pub async fn create(c: &Controller, name: &str) -> anyhow::Result<()> {
    let sb = c.new_sandbox(name, SandboxOptions::default()).await?;
    println!("{}", sb.info()?.key);
    Ok(())
}

/// `sandbox ls`.
pub fn ls(c: &Controller, quiet: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for sb in c.sandboxes() {
        let info = sb.info()?;
        let mut networks = Vec::new();
        for ep in sb.endpoints()? {
            networks.push(c.network(ep.network_id())?.name().to_owned());
        }
        rows.push((info.id, info.key, networks.join(",")));
    }
    if quiet {
        for (id, _, _) in &rows {
            println!("{id}");
        }
        return Ok(());
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(7);
    let k = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
    println!("{:<w$}   {:<k$}   NETWORKS", "SANDBOX", "KEY");
    for (id, key, nets) in rows {
        println!("{id:<w$}   {key:<k$}   {nets}");
    }
    Ok(())
}

/// `sandbox inspect`: a JSON array.
pub fn inspect(c: &Controller, names: &[String]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for name in names {
        let sb = c.sandbox(name)?;
        let info = sb.info()?;
        let mut endpoints = Vec::new();
        for ep in sb.endpoints()? {
            let e = ep.info()?;
            let iface = e.join.as_ref().and_then(|j| j.interface.as_ref());
            endpoints.push(json!({
                "Network": c.network(&e.network_id)?.name(),
                "EndpointID": e.id,
                "Interface": iface.map(|i| i.dst_name.clone()).unwrap_or_default(),
                "MacAddress": e.mac_address.map(|m| m.to_string()).unwrap_or_default(),
                "IPv4Address": e.address.map(|a| a.to_string()).unwrap_or_default(),
                "IPv6Address": e.address_ipv6.map(|a| a.to_string()).unwrap_or_default(),
            }));
        }
        out.push(json!({
            "Id": info.id,
            "Key": info.key,
            "Owned": info.owned,
            "HostNamespace": info.host_namespace,
            "Endpoints": endpoints,
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&out).context("encoding the sandboxes")?
    );
    Ok(())
}

/// `sandbox rm`: its endpoints leave and go, then its namespace (if wnet made it).
pub async fn rm(c: &Controller, names: &[String]) -> anyhow::Result<()> {
    for name in names {
        c.sandbox(name)?.delete().await?;
        println!("{name}");
    }
    Ok(())
}
