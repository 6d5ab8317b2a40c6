//! Embedding wnet, the way libnetwork's README embeds libnetwork:
//!
//! ```go
//! controller, _ := libnetwork.New()
//! network, _ := controller.NewNetwork("bridge", "network1", "")
//! ep, _ := network.CreateEndpoint("Endpoint1")
//! sbx, _ := controller.NewSandbox("container1")
//! ep.Join(sbx)
//! ```
//!
//! Here every driver is a WebAssembly component loaded by the runtime. Run it with
//! `cargo run --release -p wnet-example-embedding`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use wnet_core::{
    Config, Controller, EndpointOptions, JoinOptions, MemoryStore, NetworkOptions, SandboxOptions,
};
use wnet_runtime::{Runtime, RuntimeConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // One store for the controller's records and the drivers' kv.
    let store = Arc::new(MemoryStore::new());
    let cache_dir = std::env::temp_dir().join("wnet-example-cache");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.clone()),
        store: store.clone(),
        ..RuntimeConfig::default()
    })?;
    let controller = Controller::new(Config {
        store,
        ..Config::default()
    })?;

    let started = Instant::now();
    let drivers = wnet_drivers::load_all(&runtime)
        .await
        .context("loading the built-in drivers")?;
    for d in &drivers {
        d.register(&controller)?;
        let m = d.manifest();
        println!(
            "driver   {:<8} {:<8} {}",
            m.name,
            m.kind.to_string(),
            m.description
        );
    }
    println!(
        "loaded {} drivers in {:.1} ms (compiled code cached in {})",
        drivers.len(),
        started.elapsed().as_secs_f64() * 1e3,
        cache_dir.display()
    );

    let network = controller
        .new_network("null", "network1", NetworkOptions::default())
        .await?;
    let info = network.info()?;
    let pool = &info.ipv4[0];
    println!(
        "network  {} id {} driver {} pool {} gateway {}",
        network.name(),
        &network.id()[..12],
        info.driver,
        pool.pool,
        pool.gateway.map(|g| g.to_string()).unwrap_or_default()
    );

    let ep = network
        .create_endpoint("Endpoint1", EndpointOptions::default())
        .await?;
    let ep_info = ep.info()?;
    println!(
        "endpoint {} id {} address {}",
        ep.name(),
        &ep.id()[..12],
        ep_info.address.map(|a| a.to_string()).unwrap_or_default()
    );

    let sandbox = controller
        .new_sandbox("container1", SandboxOptions::default())
        .await?;
    println!("sandbox  {} key {}", sandbox.id(), sandbox.info()?.key);

    ep.join(&sandbox, JoinOptions::default()).await?;
    let join = ep
        .info()?
        .join
        .context("joined endpoint has a join record")?;
    println!(
        "joined   {} to {} (interface in sandbox: {})",
        ep.name(),
        join.sandbox_id,
        join.interface
            .as_ref()
            .map_or("none, loopback only", |i| i.dst_name.as_str())
    );

    ep.leave(&sandbox).await?;
    println!("left     {} from {}", ep.name(), sandbox.id());
    ep.delete(false).await?;
    sandbox.delete().await?;
    network.delete().await?;
    println!(
        "deleted  endpoint, sandbox and network; networks left: {}",
        controller.networks().len()
    );
    Ok(())
}
