//! The job of `shared/bench/peers`, through wnet's controller and its WASM bridge
//! driver: one bridge network 10.88.0.0/16, N fresh namespaces attached (veth, `eth0`,
//! address, default route), then detached and the network deleted.
//!
//! As in the peers' harness, the N namespaces exist before timing (made by the
//! controller's `new_sandbox`, untimed). **attach** (timed) = create the network, then
//! per container create its endpoint for its sandbox (the veth's other end is made in
//! place) and join. **detach** (timed) = per container leave and delete the endpoint
//! (the driver deletes the veth), then delete the network. An untimed check follows
//! each phase.
//!
//! Variants (`VARIANTS`, default `wnet_lib,wnet_fw`): `wnet_lib` without a firewall,
//! `wnet_fw` with wnet's nftables firewall (the network masqueraded and isolated),
//! `wnet_fw_pub` with it and one published port per container.
//!
//! Run: `cargo bench -p wnet-tests --bench attach [-- N…]` (default 1 10 100 500;
//! `REPS=3`). Needs root and Debian's nftables; everything happens in namespaces the
//! process makes first.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark binary"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wnet_core::{
    Config, Controller, EndpointOptions, IpamConfig, JoinOptions, MemoryStore, NetworkOptions,
    SandboxOptions,
};
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{Namespace, Netlink, RtNetlink};
use wnet_runtime::{Kernel, Runtime, RuntimeConfig};
use wnet_tests::bench::{self, Rep};

async fn rep(n: usize, tag: &str, variant: &str) -> Rep {
    let firewall = variant != "wnet_lib";
    let publish = variant == "wnet_fw_pub";
    let host = Namespace::create(Path::new("/run/wnet-bench/hosts"), tag).unwrap();
    let nl = Arc::new(RtNetlink::new());
    let store = Arc::new(MemoryStore::new());
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(wnet_tests::cache_dir()),
        store: store.clone(),
        kernel: Some(Kernel {
            netlink: nl.clone(),
            host: host.clone(),
            firewall: firewall.then(|| wnet_netlink::firewall::Firewall::new(host.clone())),
        }),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let controller = Controller::new(Config {
        store,
        os: Arc::new(KernelSandboxes::new(
            nl.clone(),
            host.clone(),
            &Path::new("/run/wnet-bench").join(tag),
        )),
        ..Config::default()
    })
    .unwrap();
    for d in wnet_drivers::load_all(&runtime).await.unwrap() {
        d.register(&controller).unwrap();
    }
    let mut sandboxes = Vec::with_capacity(n);
    for i in 1..=n {
        sandboxes.push(
            controller
                .new_sandbox(&format!("c{i}"), SandboxOptions::default())
                .await
                .unwrap(),
        );
    }
    // Experiment: WNET_BENCH_NO_IPV6=1 disables IPv6 everywhere first (untimed), to see
    // what the kernel's IPv6 autoconfiguration costs as ports are added.
    if std::env::var("WNET_BENCH_NO_IPV6").is_ok() {
        let off = |ns: &Namespace| {
            for key in [
                "net.ipv6.conf.all.disable_ipv6",
                "net.ipv6.conf.default.disable_ipv6",
            ] {
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                ns.run(move || std::fs::write(path, "1").unwrap()).unwrap();
            }
        };
        off(&host);
        for sb in &sandboxes {
            off(&Namespace::adopt(Path::new(&sb.info().unwrap().key)).unwrap());
        }
    }

    let t = Instant::now();
    let opts = NetworkOptions {
        options: [("com.docker.network.bridge.name", "wnet0")]
            .into_iter()
            .collect(),
        ..NetworkOptions::default().with_subnet(IpamConfig::subnet("10.88.0.0/16".parse().unwrap()))
    };
    let net = controller
        .new_network("bridge", "bench", opts)
        .await
        .unwrap();
    let mut endpoints = Vec::with_capacity(n);
    for (i, sb) in sandboxes.iter().enumerate() {
        let mut options = wnet_types::Options::new();
        if publish {
            let port = wnet_types::PortBinding::parse(&format!("{}:80", 20000 + i)).unwrap();
            options.insert(
                wnet_types::keys::PORT_MAP,
                serde_json::to_string(&[port]).unwrap(),
            );
        }
        let ep = net
            .create_endpoint(
                &format!("e-{}", sb.id()),
                EndpointOptions {
                    sandbox: Some(sb.id().to_owned()),
                    options,
                    ..EndpointOptions::default()
                },
            )
            .await
            .unwrap();
        ep.join(sb, JoinOptions::default()).await.unwrap();
        endpoints.push((ep, sb.clone()));
    }
    let attach_ms = t.elapsed().as_secs_f64() * 1e3;

    // Untimed check: the bridge has N ports and the gateway; the first and last
    // containers are configured.
    let bridge = nl.link_by_name(&host, "wnet0").await.unwrap().unwrap();
    let ports = nl
        .links(&host)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.master == Some(bridge.index))
        .count();
    assert_eq!(ports, n);
    for sb in [&sandboxes[0], &sandboxes[n - 1]] {
        let ns = Namespace::adopt(Path::new(&sb.info().unwrap().key)).unwrap();
        let eth0 = nl.link_by_name(&ns, "eth0").await.unwrap().unwrap();
        assert!(eth0.up);
        assert!(
            nl.routes(&ns)
                .await
                .unwrap()
                .iter()
                .any(|r| r.destination.prefix_len() == 0)
        );
    }

    let t = Instant::now();
    for (ep, sb) in &endpoints {
        ep.leave(sb).await.unwrap();
        ep.delete(false).await.unwrap();
    }
    net.delete().await.unwrap();
    let detach_ms = t.elapsed().as_secs_f64() * 1e3;

    // Untimed check: nothing left in the host namespace but lo; no eth0 in cN.
    let left: Vec<String> = nl
        .links(&host)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(left, ["lo"]);
    let last = Namespace::adopt(Path::new(&sandboxes[n - 1].info().unwrap().key)).unwrap();
    assert!(nl.link_by_name(&last, "eth0").await.unwrap().is_none());
    for sb in sandboxes {
        sb.delete().await.unwrap();
    }
    host.remove().unwrap();
    Rep {
        attach_ms,
        detach_ms,
    }
}

fn main() {
    let Some((sizes, reps)) = bench::plan("attach", &[1, 10, 100, 500]) else {
        return;
    };
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("attach bench: {e}");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{}", bench::header());
    let variants = std::env::var("VARIANTS").unwrap_or_else(|_| "wnet_lib,wnet_fw".to_owned());
    for (n, variant) in sizes
        .iter()
        .flat_map(|n| variants.split(',').map(move |v| (*n, v)))
    {
        let runs: Vec<Rep> = (0..reps)
            .map(|r| rt.block_on(rep(n, &format!("n{n}-r{r}-{variant}"), variant)))
            .collect();
        println!("{}", bench::row(variant, n, &runs));
    }
}
