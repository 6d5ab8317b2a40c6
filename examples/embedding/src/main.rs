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
//!
//! As root it does real networking: it first moves itself into network and mount
//! namespaces of its own (so the machine's interfaces are never touched), then
//! connects two containers to a `bridge` network and sends TCP from one to the other.
//! Without root, sandboxes are records only and the `null` driver stands in.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use wnet_core::{
    Config, Controller, EndpointOptions, JoinOptions, MemoryStore, NetworkOptions, SandboxOptions,
};
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{Namespace, RtNetlink};
use wnet_runtime::{Kernel, Runtime, RuntimeConfig};

fn main() -> anyhow::Result<()> {
    // Before any thread exists: the namespaces of our own, or records only.
    let real = match wnet_netlink::isolate_process() {
        Ok(()) => {
            println!(
                "mode     real namespaces (private network and mount namespaces of this process)"
            );
            true
        }
        Err(e) => {
            println!("mode     records only ({e}); run as root for real networking");
            false
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(real))
}

async fn run(real: bool) -> anyhow::Result<()> {
    // One store for the controller's records and the drivers' kv.
    let store = Arc::new(MemoryStore::new());
    let cache_dir = std::env::temp_dir().join("wnet-example-cache");
    let mut runtime_config = RuntimeConfig {
        cache_dir: Some(cache_dir.clone()),
        store: store.clone(),
        ..RuntimeConfig::default()
    };
    let mut config = Config {
        store,
        ..Config::default()
    };
    if real {
        let nl = Arc::new(RtNetlink::new());
        let host = Namespace::current()?;
        runtime_config.kernel = Some(Kernel {
            netlink: nl.clone(),
            host: host.clone(),
            // Without Debian's nftables the bridge network runs unfiltered (and says so).
            firewall: wnet_netlink::firewall::Firewall::installed()
                .then(|| wnet_netlink::firewall::Firewall::new(host.clone())),
        });
        config.os = Arc::new(KernelSandboxes::new(nl, host, Path::new("/run/wnet")));
    }
    let runtime = Runtime::new(runtime_config)?;
    let controller = Controller::new(config)?;

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

    let driver = if real { "bridge" } else { "null" };
    let network = controller
        .new_network(driver, "network1", NetworkOptions::default())
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

    let mut containers = Vec::new();
    for i in 1..=2 {
        let attach = Instant::now();
        let sandbox = controller
            .new_sandbox(&format!("container{i}"), SandboxOptions::default())
            .await?;
        // Made for its sandbox, so the bridge driver creates the veth's end inside it.
        let ep = network
            .create_endpoint(
                &format!("Endpoint{i}"),
                EndpointOptions {
                    sandbox: Some(sandbox.id().to_owned()),
                    ..EndpointOptions::default()
                },
            )
            .await?;
        ep.join(&sandbox, JoinOptions::default()).await?;
        let ep_info = ep.info()?;
        let join = ep_info.join.context("joined endpoint has a join record")?;
        println!(
            "joined   {} ({}) to {} key {}, interface in sandbox: {} [{:.2} ms]",
            ep.name(),
            ep_info.address.map(|a| a.to_string()).unwrap_or_default(),
            join.sandbox_id,
            sandbox.info()?.key,
            join.interface
                .as_ref()
                .map_or("none, loopback only", |i| i.dst_name.as_str()),
            attach.elapsed().as_secs_f64() * 1e3
        );
        containers.push((sandbox, ep));
    }

    if real {
        let [(a, _), (b, eb)] = &containers[..] else {
            unreachable!("two containers")
        };
        let to = eb
            .info()?
            .address
            .context("Endpoint2 has an address")?
            .addr();
        let reply = tcp_echo(&a.info()?.key, &b.info()?.key, SocketAddr::from((to, 8080)))?;
        println!(
            "traffic  {} -> {} ({to}:8080) over TCP: sent \"hello\", got \"{reply}\" back",
            a.id(),
            b.id()
        );
    }

    for (sandbox, ep) in &containers {
        ep.leave(sandbox).await?;
        println!("left     {} from {}", ep.name(), sandbox.id());
        ep.delete(false).await?;
        sandbox.delete().await?;
    }
    network.delete().await?;
    println!(
        "deleted  endpoints, sandboxes and network; networks left: {}",
        controller.networks().len()
    );
    Ok(())
}

/// Listens in sandbox `server` at `addr`, connects from sandbox `client`, and returns
/// what the server echoed back.
fn tcp_echo(client: &str, server: &str, addr: SocketAddr) -> anyhow::Result<String> {
    let listener = Namespace::adopt(Path::new(server))?.run(move || TcpListener::bind(addr))??;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf)?;
        conn.write_all(&buf)
    });
    let reply =
        Namespace::adopt(Path::new(client))?.run(move || -> std::io::Result<String> {
            let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            conn.write_all(b"hello")?;
            let mut buf = String::new();
            conn.read_to_string(&mut buf)?;
            Ok(buf)
        })??;
    echo.join()
        .map_err(|_| anyhow::anyhow!("the echo server panicked"))??;
    Ok(reply)
}
