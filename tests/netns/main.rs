//! End to end with the real kernel: the controller, the WASM drivers and netlink,
//! inside network and mount namespaces this process makes for itself first (needs
//! root), so the machine's own interfaces are never seen or touched. Traffic between
//! sandboxes is checked with TCP.
//!
//! A plain `main` because the process must leave the machine's namespaces before any
//! thread exists.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a test binary"
)]

use std::future::Future;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wnet_core::{
    Config, Controller, EndpointOptions, IpamConfig, JoinOptions, MemoryStore, Network,
    NetworkOptions, Sandbox, SandboxOptions,
};
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{Namespace, Netlink, RtNetlink};
use wnet_runtime::{Kernel, Runtime, RuntimeConfig};

type Test = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// A wnet host whose "host namespace" is one made for the test.
struct Host {
    controller: Controller,
    runtime: Runtime,
    nl: Arc<RtNetlink>,
    ns: Namespace,
    run_dir: PathBuf,
    store: Arc<MemoryStore>,
}

async fn host(name: &str) -> Host {
    host_over(name, None).await
}

/// A host whose wnet reaches the kernel through `wnet_nl` (the test still reads the
/// kernel's state directly).
async fn host_over(name: &str, wnet_nl: Option<Arc<dyn Netlink>>) -> Host {
    let ns = Namespace::create(Path::new("/run/wnet-e2e/hosts"), name).unwrap();
    let nl = Arc::new(RtNetlink::new());
    let wnet_nl = wnet_nl.unwrap_or_else(|| nl.clone());
    let store = Arc::new(MemoryStore::new());
    let run_dir = PathBuf::from("/run/wnet-e2e").join(name);
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(wnet_tests::cache_dir()),
        store: store.clone(),
        kernel: Some(Kernel {
            netlink: wnet_nl.clone(),
            host: ns.clone(),
            firewall: Some(wnet_netlink::firewall::Firewall::new(ns.clone())),
        }),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let controller = Controller::new(Config {
        store: store.clone(),
        os: Arc::new(KernelSandboxes::new(wnet_nl, ns.clone(), &run_dir)),
        ..Config::default()
    })
    .unwrap();
    for d in wnet_drivers::load_all(&runtime).await.unwrap() {
        d.register(&controller).unwrap();
    }
    Host {
        controller,
        runtime,
        nl,
        ns,
        run_dir,
        store,
    }
}

async fn bridge(h: &Host, name: &str, subnet: &str) -> Network {
    let opts = NetworkOptions::default().with_subnet(IpamConfig::subnet(subnet.parse().unwrap()));
    h.controller
        .new_network("bridge", name, opts)
        .await
        .unwrap()
}

/// A sandbox attached to `net` the fast way: the endpoint is created for the sandbox,
/// so its interface is made inside it.
async fn attach(h: &Host, net: &Network, sandbox: &Sandbox, ep: &str) -> wnet_core::Endpoint {
    let opts = EndpointOptions {
        sandbox: Some(sandbox.id().to_owned()),
        ..EndpointOptions::default()
    };
    let e = net.create_endpoint(ep, opts).await.unwrap();
    e.join(sandbox, JoinOptions::default()).await.unwrap();
    let _ = h;
    e
}

/// A veth pair that is not wnet's, `name` and `<name>-peer`, down, in `ns`: the
/// machine's or a container's own interface.
async fn foreign_veth(h: &Host, ns: &Namespace, name: &str) {
    let link = wnet_netlink::NewLink::new(
        name,
        wnet_netlink::LinkKind::Veth {
            peer_name: format!("{name}-peer"),
            peer_ns: None,
            peer_mac: None,
        },
    );
    h.nl.link_add(ns, link).await.unwrap();
}

fn ns_of(sandbox: &Sandbox) -> Namespace {
    Namespace::adopt(Path::new(&sandbox.info().unwrap().key)).unwrap()
}

fn v4(ep: &wnet_core::Endpoint) -> String {
    ep.info().unwrap().address.unwrap().addr().to_string()
}

use wnet_tests::tcp;

/// Whether `addr` answers at all from `from` (a refused connection is an answer).
fn reaches(from: &Namespace, addr: &str) -> bool {
    let addr: SocketAddr = format!("{addr}:9").parse().unwrap();
    from.run(
        move || match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionRefused,
        },
    )
    .unwrap()
}

/// Links (name, kind, up), addresses and routes of a namespace, sorted. IPv6
/// link-local addresses and the link-local and multicast routes the kernel adds by
/// itself, a moment after a link comes up, are left out: they are not wnet's doing.
async fn state(nl: &RtNetlink, ns: &Namespace) -> Vec<String> {
    let kernel_own = |net: &wnet_types::IpNet| match net {
        wnet_types::IpNet::V6(n) => {
            let first = n.addr().segments()[0];
            first & 0xffc0 == 0xfe80 || first & 0xff00 == 0xff00
        }
        wnet_types::IpNet::V4(_) => false,
    };
    let mut out: Vec<String> = nl
        .links(ns)
        .await
        .unwrap()
        .iter()
        .map(|l| format!("link {} {:?} {}", l.name, l.kind, l.up))
        .collect();
    out.extend(
        nl.addrs(ns)
            .await
            .unwrap()
            .iter()
            .filter(|a| !kernel_own(&a.address))
            .map(|a| format!("addr {}", a.address)),
    );
    out.extend(
        nl.routes(ns)
            .await
            .unwrap()
            .iter()
            .filter(|r| !kernel_own(&r.destination))
            .map(|r| format!("route {r:?}")),
    );
    out.sort();
    out
}

fn two_sandboxes_on_a_bridge_talk_both_ways_and_reach_the_gateway()
-> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("talk").await;
        let net = bridge(&h, "front", "10.88.0.0/16").await;
        let a = h
            .controller
            .new_sandbox("a", SandboxOptions::default())
            .await
            .unwrap();
        let b = h
            .controller
            .new_sandbox("b", SandboxOptions::default())
            .await
            .unwrap();
        let ea = attach(&h, &net, &a, "ea").await;
        let eb = attach(&h, &net, &b, "eb").await;
        assert_eq!(
            (v4(&ea).as_str(), v4(&eb).as_str()),
            ("10.88.0.2", "10.88.0.3")
        );
        assert!(
            ea.info().unwrap().created_in_sandbox.is_some(),
            "made in place, not moved"
        );

        let (na, nb) = (ns_of(&a), ns_of(&b));
        let eth0 = h.nl.link_by_name(&na, "eth0").await.unwrap().unwrap();
        assert!(eth0.up);
        assert_eq!(eth0.mac.unwrap().to_string(), "02:42:0a:58:00:02");
        let routes = h.nl.routes(&na).await.unwrap();
        assert!(
            routes.iter().any(|r| r.destination.prefix_len() == 0
                && r.gateway == Some("10.88.0.1".parse().unwrap())),
            "{routes:?}"
        );
        let bridge_name = format!("br-{}", &net.id()[..12]);
        assert!(
            h.nl.link_by_name(&h.ns, &bridge_name)
                .await
                .unwrap()
                .is_some()
        );

        // An IPv4-only network: no IPv6 link-local chatter from the sandbox's interface
        // or from the bridge's ports.
        let link_local = |a: &wnet_netlink::Address| matches!(a.address, wnet_types::IpNet::V6(n) if n.addr().segments()[0] == 0xfe80);
        assert!(!h.nl.addrs(&na).await.unwrap().iter().any(link_local));
        let ports: Vec<u32> =
            h.nl.links(&h.ns)
                .await
                .unwrap()
                .iter()
                .filter(|l| l.kind.as_deref() == Some("veth"))
                .map(|l| l.index)
                .collect();
        assert_eq!(ports.len(), 2);
        assert!(
            !h.nl
                .addrs(&h.ns)
                .await
                .unwrap()
                .iter()
                .any(|a| ports.contains(&a.index) && link_local(a))
        );

        tcp(&na, &nb, "10.88.0.3");
        tcp(&nb, &na, "10.88.0.2");
        assert!(reaches(&na, "10.88.0.1"), "the gateway answers");
    })
}

fn a_sandbox_on_two_networks_and_networks_kept_apart() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("two").await;
        let front = bridge(&h, "front", "10.88.0.0/16").await;
        let back = bridge(&h, "back", "10.99.0.0/16").await;
        let app = h
            .controller
            .new_sandbox("app", SandboxOptions::default())
            .await
            .unwrap();
        let web = h
            .controller
            .new_sandbox("web", SandboxOptions::default())
            .await
            .unwrap();
        let db = h
            .controller
            .new_sandbox("db", SandboxOptions::default())
            .await
            .unwrap();
        attach(&h, &front, &app, "app-front").await;
        attach(&h, &back, &app, "app-back").await;
        attach(&h, &front, &web, "web").await;
        attach(&h, &back, &db, "db").await;

        let napp = ns_of(&app);
        let eth0 = h.nl.link_by_name(&napp, "eth0").await.unwrap().unwrap();
        let eth1 = h.nl.link_by_name(&napp, "eth1").await.unwrap().unwrap();
        let addrs = h.nl.addrs(&napp).await.unwrap();
        assert!(
            addrs
                .iter()
                .any(|a| a.index == eth0.index && a.address.to_string() == "10.88.0.2/16"),
            "{addrs:?}"
        );
        assert!(
            addrs
                .iter()
                .any(|a| a.index == eth1.index && a.address.to_string() == "10.99.0.2/16"),
            "{addrs:?}"
        );
        let defaults: Vec<_> =
            h.nl.routes(&napp)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.destination.prefix_len() == 0 && r.destination.addr().is_ipv4())
                .collect();
        assert_eq!(
            defaults.len(),
            1,
            "one default route, through the first network: {defaults:?}"
        );
        assert_eq!(defaults[0].oif, Some(eth0.index));

        tcp(&napp, &ns_of(&web), "10.88.0.3");
        tcp(&napp, &ns_of(&db), "10.99.0.3");
        tcp(&ns_of(&db), &napp, "10.99.0.2");
        assert!(
            !reaches(&ns_of(&web), "10.99.0.3"),
            "web has no way into the back network"
        );
    })
}

fn an_endpoint_made_before_its_sandbox_is_moved_in() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("moved").await;
        let net = bridge(&h, "late", "10.77.0.0/24").await;
        let a = h
            .controller
            .new_sandbox("a", SandboxOptions::default())
            .await
            .unwrap();
        let b = h
            .controller
            .new_sandbox("b", SandboxOptions::default())
            .await
            .unwrap();
        // Created without a sandbox: the veth is made in the host namespace and the
        // host moves its end in at join (the slow path).
        let ea = net
            .create_endpoint("ea", EndpointOptions::default())
            .await
            .unwrap();
        ea.join(&a, JoinOptions::default()).await.unwrap();
        assert!(ea.info().unwrap().created_in_sandbox.is_none());
        attach(&h, &net, &b, "eb").await;
        tcp(&ns_of(&a), &ns_of(&b), "10.77.0.3");
        // Leave moves it back out; the driver then deletes the pair.
        ea.leave(&a).await.unwrap();
        assert!(
            h.nl.link_by_name(&ns_of(&a), "eth0")
                .await
                .unwrap()
                .is_none()
        );
        ea.delete(false).await.unwrap();
        let left: Vec<String> =
            h.nl.links(&h.ns)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.name)
                .collect();
        assert_eq!(
            left.iter().filter(|n| n.starts_with("veth")).count(),
            1,
            "only b's veth remains: {left:?}"
        );
    })
}

/// The host namespace's state once it equals `expected`, or after two seconds: the
/// kernel tears down a removed namespace's links asynchronously.
async fn settled_state(h: &Host, expected: &[String]) -> Vec<String> {
    let mut now = state(&h.nl, &h.ns).await;
    for _ in 0..100 {
        if now == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        now = state(&h.nl, &h.ns).await;
    }
    now
}

fn a_host_network_sandbox_is_the_host_namespace_and_changes_nothing()
-> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("hostnet").await;
        let before = state(&h.nl, &h.ns).await;
        let hostnet = h
            .controller
            .new_network("host", "host", NetworkOptions::default())
            .await
            .unwrap();
        let web = h
            .controller
            .new_sandbox(
                "web",
                SandboxOptions {
                    host_namespace: true,
                    ..SandboxOptions::default()
                },
            )
            .await
            .unwrap();
        let ep = hostnet
            .create_endpoint("web", EndpointOptions::default())
            .await
            .unwrap();
        ep.join(&web, JoinOptions::default()).await.unwrap();
        let web_ns = ns_of(&web);
        assert!(web_ns == h.ns, "the sandbox key names the host namespace");
        assert_eq!(state(&h.nl, &h.ns).await, before, "joining changed nothing");

        // A container on a bridge reaches the host-network container at the bridge's
        // gateway address: the two share the host's stack.
        let net = bridge(&h, "b", "10.55.0.0/24").await;
        let client = h
            .controller
            .new_sandbox("client", SandboxOptions::default())
            .await
            .unwrap();
        attach(&h, &net, &client, "client").await;
        tcp(&ns_of(&client), &web_ns, "10.55.0.1");

        client.delete().await.unwrap();
        net.delete().await.unwrap();
        web.delete().await.unwrap();
        hostnet.delete().await.unwrap();
        assert!(h.ns.path().exists(), "the host namespace is never removed");
        let after = settled_state(&h, &before).await;
        assert_eq!(after, before, "the host namespace is as it was");
    })
}

fn an_existing_bridge_is_adopted_used_and_left_as_it_was() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("adopt").await;
        // The operator's bridge: down, with an address of its own.
        let ops = wnet_netlink::NewLink::new("wnet-ops", wnet_netlink::LinkKind::Bridge);
        let index = h.nl.link_add(&h.ns, ops).await.unwrap();
        h.nl.addr_add(&h.ns, index, "192.0.2.1/24".parse().unwrap())
            .await
            .unwrap();
        let before = state(&h.nl, &h.ns).await;

        let opts = NetworkOptions {
            options: [("com.docker.network.bridge.name", "wnet-ops")]
                .into_iter()
                .collect(),
            ..NetworkOptions::default()
        }
        .with_subnet(IpamConfig::subnet("10.44.0.0/24".parse().unwrap()));
        let net = h
            .controller
            .new_network("bridge", "ops", opts)
            .await
            .unwrap();
        let err = h
            .controller
            .new_network(
                "bridge",
                "ops2",
                NetworkOptions {
                    options: [("com.docker.network.bridge.name", "wnet-ops")]
                        .into_iter()
                        .collect(),
                    ..NetworkOptions::default()
                },
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already serves network"), "{err}");
        let (a, b) = (
            h.controller
                .new_sandbox("a", SandboxOptions::default())
                .await
                .unwrap(),
            h.controller
                .new_sandbox("b", SandboxOptions::default())
                .await
                .unwrap(),
        );
        let (ea, eb) = (
            attach(&h, &net, &a, "ea").await,
            attach(&h, &net, &b, "eb").await,
        );
        let link = h.nl.link_by_name(&h.ns, "wnet-ops").await.unwrap().unwrap();
        assert_eq!(link.index, index, "the operator's bridge, not a new one");
        tcp(&ns_of(&a), &ns_of(&b), &v4(&eb));
        tcp(&ns_of(&b), &ns_of(&a), &v4(&ea));
        tcp(&ns_of(&a), &h.ns, "10.44.0.1");

        a.delete().await.unwrap();
        b.delete().await.unwrap();
        net.delete().await.unwrap();
        let after = settled_state(&h, &before).await;
        assert_eq!(
            after, before,
            "the bridge is kept, down, with only its own address"
        );
    })
}

/// Runs `$op` with a failure injected at its first, second, … kernel request until it
/// runs untouched by one; after each failure, `$check` must find nothing left behind.
/// A run that survived its injected failure (a tolerated read, say) is undone with
/// `$undo` and the next request tried. Gives the result and the requests tried.
macro_rules! at_every_step {
    ($faulty:expr, $what:expr, $op:expr, |$failed:ident, $err:ident| $check:block, |$done:ident| $undo:block) => {{
        let mut n = 0usize;
        loop {
            n += 1;
            $faulty.arm(n);
            let result = $op.await;
            let fired = $faulty.failed();
            $faulty.arm(0);
            match (result, fired) {
                (Ok(done), None) => break (done, n - 1),
                (Ok($done), Some(_)) => $undo,
                (Err(e), None) => panic!("{}: failed with no fault injected: {e}", $what),
                (Err($err), Some($failed)) => $check,
            }
        }
    }};
}

fn a_failure_at_any_kernel_step_leaves_nothing_behind() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let faulty = Arc::new(wnet_tests::faults::FaultyNetlink::new(Arc::new(
            RtNetlink::new(),
        )));
        let h = host_over("faults", Some(faulty.clone())).await;
        let c = &h.controller;
        // The links on record; the table also holds the store's link group
        // (`#link-group`), which no link's key can be.
        let ledger = || {
            wnet_core::Store::scan(&*h.store, "ledger", "")
                .unwrap()
                .iter()
                .filter(|(k, _)| !k.starts_with('#'))
                .count()
        };
        let netns_files = || std::fs::read_dir(h.run_dir.join("netns")).map_or(0, Iterator::count);
        let host_before = state(&h.nl, &h.ns).await;

        let opts = || {
            NetworkOptions::default()
                .with_subnet(IpamConfig::subnet("10.33.0.0/24".parse().unwrap()))
        };
        let (net, tried_net) = at_every_step!(
            faulty,
            "create-network",
            c.new_network("bridge", "n", opts()),
            |failed, e| {
                assert_eq!(state(&h.nl, &h.ns).await, host_before, "{failed}: {e}");
                assert!(c.networks().is_empty(), "{failed}: {e}");
                assert_eq!(ledger(), 0, "{failed}: {e}");
            },
            |net| {
                net.delete().await.unwrap();
            }
        );
        let host_with_net = state(&h.nl, &h.ns).await;

        let (sb, tried_sb) = at_every_step!(
            faulty,
            "new-sandbox",
            c.new_sandbox("s", SandboxOptions::default()),
            |failed, e| {
                assert!(c.sandboxes().unwrap().is_empty(), "{failed}: {e}");
                assert_eq!(netns_files(), 0, "{failed}: a namespace file is left: {e}");
            },
            |sb| {
                sb.delete().await.unwrap();
            }
        );
        let sb_before = state(&h.nl, &ns_of(&sb)).await;

        let in_sb = || EndpointOptions {
            sandbox: Some("s".to_owned()),
            ..EndpointOptions::default()
        };
        let (ep, tried_ep) = at_every_step!(
            faulty,
            "create-endpoint",
            net.create_endpoint("e", in_sb()),
            |failed, e| {
                assert_eq!(state(&h.nl, &h.ns).await, host_with_net, "{failed}: {e}");
                assert_eq!(state(&h.nl, &ns_of(&sb)).await, sb_before, "{failed}: {e}");
                assert!(net.endpoints().unwrap().is_empty(), "{failed}: {e}");
                assert_eq!(ledger(), 1, "{failed}: only the bridge is held: {e}");
            },
            |ep| {
                ep.delete(false).await.unwrap();
            }
        );
        let host_with_ep = state(&h.nl, &h.ns).await;
        let sb_with_ep = state(&h.nl, &ns_of(&sb)).await;

        let ((), tried_join) = at_every_step!(
            faulty,
            "join",
            ep.join(&sb, JoinOptions::default()),
            |failed, e| {
                assert_eq!(state(&h.nl, &h.ns).await, host_with_ep, "{failed}: {e}");
                assert_eq!(state(&h.nl, &ns_of(&sb)).await, sb_with_ep, "{failed}: {e}");
                assert!(ep.info().unwrap().join.is_none(), "{failed}: {e}");
                assert!(sb.endpoints().unwrap().is_empty(), "{failed}: {e}");
            },
            |_joined| {
                ep.leave(&sb).await.unwrap();
            }
        );
        println!(
            "  failures injected: create-network {tried_net}, new-sandbox {tried_sb}, create-endpoint {tried_ep}, join {tried_join}"
        );
        assert!(tried_net >= 2 && tried_ep >= 1 && tried_join >= 3);

        // What survived every failure works, with the first address: none leaked.
        assert_eq!(v4(&ep), "10.33.0.2");
        tcp(&ns_of(&sb), &h.ns, "10.33.0.1");
        sb.delete().await.unwrap();
        net.delete().await.unwrap();
        assert_eq!(settled_state(&h, &host_before).await, host_before);
        assert_eq!((ledger(), netns_files()), (0, 0));
    })
}

fn dual_stack_and_internal_bridge_networks() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("dual").await;
        let before = state(&h.nl, &h.ns).await;
        let dual = NetworkOptions::default()
            .with_subnet(IpamConfig::subnet("10.66.0.0/24".parse().unwrap()))
            .with_subnet(IpamConfig::subnet("fd00:66::/64".parse().unwrap()));
        let net = h
            .controller
            .new_network("bridge", "dual", dual)
            .await
            .unwrap();
        let mut sandboxes = Vec::new();
        for name in ["a", "b"] {
            let sb = h
                .controller
                .new_sandbox(name, SandboxOptions::default())
                .await
                .unwrap();
            let ep = attach(&h, &net, &sb, name).await;
            let v6 = ep.info().unwrap().address_ipv6.unwrap();
            sandboxes.push((sb, ep, v6.addr()));
        }
        let (a, b) = (&sandboxes[0], &sandboxes[1]);
        let v6_routes = |sb: &Sandbox| {
            let ns = ns_of(sb);
            let nl = h.nl.clone();
            async move { nl.routes(&ns).await.unwrap() }
        };
        let routes = v6_routes(&a.0).await;
        assert!(
            routes.iter().any(|r| r.destination.to_string() == "::/0"
                && r.gateway == Some("fd00:66::1".parse().unwrap())),
            "an IPv6 default route through the gateway: {routes:?}"
        );
        tcp(&ns_of(&a.0), &ns_of(&b.0), &format!("[{}]", b.2));
        tcp(&ns_of(&b.0), &ns_of(&a.0), &format!("[{}]", a.2));
        tcp(&ns_of(&a.0), &ns_of(&b.0), &v4(&b.1));
        tcp(&ns_of(&a.0), &h.ns, "[fd00:66::1]");

        // An internal network: its containers reach each other, and have no way out.
        let internal = NetworkOptions {
            internal: true,
            ..NetworkOptions::default()
        }
        .with_subnet(IpamConfig::subnet("10.67.0.0/24".parse().unwrap()));
        let inet = h
            .controller
            .new_network("bridge", "inside", internal)
            .await
            .unwrap();
        let c = h
            .controller
            .new_sandbox("c", SandboxOptions::default())
            .await
            .unwrap();
        let ec = attach(&h, &inet, &c, "c").await;
        let ea = attach(&h, &inet, &a.0, "a-inside").await;
        let routes = h.nl.routes(&ns_of(&c)).await.unwrap();
        assert!(
            routes.iter().all(|r| r.destination.prefix_len() != 0),
            "no default route on an internal network: {routes:?}"
        );
        tcp(&ns_of(&a.0), &ns_of(&c), &v4(&ec));
        tcp(&ns_of(&c), &ns_of(&a.0), &v4(&ea));
        // The container on both keeps its way out through the non-internal network.
        assert!(
            v6_routes(&a.0)
                .await
                .iter()
                .any(|r| r.destination.to_string() == "0.0.0.0/0")
        );

        c.delete().await.unwrap();
        for (sb, _, _) in &sandboxes {
            sb.delete().await.unwrap();
        }
        inet.delete().await.unwrap();
        net.delete().await.unwrap();
        assert_eq!(settled_state(&h, &before).await, before);
    })
}

fn nothing_remains_after_leave_delete_and_sandbox_removal() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("clean").await;
        let before = state(&h.nl, &h.ns).await;
        let net = bridge(&h, "temp", "10.66.0.0/24").await;
        let mut sandboxes = Vec::new();
        for i in 0..3 {
            let sb = h
                .controller
                .new_sandbox(&format!("s{i}"), SandboxOptions::default())
                .await
                .unwrap();
            attach(&h, &net, &sb, &format!("e{i}")).await;
            sandboxes.push(sb);
        }
        let keys: Vec<String> = sandboxes.iter().map(|s| s.info().unwrap().key).collect();
        // One endpoint leaves and is deleted while its sandbox lives on.
        let e0 = net.endpoint("e0").unwrap();
        e0.leave(&sandboxes[0]).await.unwrap();
        // Its interface, made there as `eth0`, stays until the endpoint goes: down,
        // with no address or route of the network's.
        let left = state(&h.nl, &ns_of(&sandboxes[0])).await;
        assert_eq!(
            left,
            [
                "addr 127.0.0.1/8",
                "addr ::1/128",
                "link eth0 Some(\"veth\") false",
                "link lo None true"
            ],
        );
        e0.delete(false).await.unwrap();
        for sb in &sandboxes {
            sb.delete().await.unwrap();
        }
        net.delete().await.unwrap();
        for key in &keys {
            assert!(!Path::new(key).exists(), "namespace file {key} left behind");
        }
        let after = settled_state(&h, &before).await;
        assert_eq!(after, before, "the host namespace is as it was");
        assert!(
            std::fs::read_dir(h.run_dir.join("netns"))
                .unwrap()
                .next()
                .is_none()
        );
    })
}

/// After a restart, an adopted namespace path that now names another namespace (a
/// process gone and its PID reused, say) is not taken for the sandbox's: reconcile
/// removes the sandbox, its endpoint and its address, and leaves the new namespace be.
/// A namespace adopted with an `eth0` of its own (a container on another network):
/// wnet's interface is made there as `eth1` and `eth0` is left as it was, through the
/// join and the leave.
fn an_adopted_namespace_keeps_its_own_eth0() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("owneth0").await;
        let net = bridge(&h, "own", "10.66.0.0/24").await;
        let theirs = Namespace::create(Path::new("/run/wnet-e2e/owneth0-outside"), "c").unwrap();
        foreign_veth(&h, &theirs, "eth0").await;
        let before = h.nl.link_by_name(&theirs, "eth0").await.unwrap().unwrap();
        let sb = h
            .controller
            .new_sandbox(
                "theirs",
                SandboxOptions {
                    key: Some(theirs.path().display().to_string()),
                    ..SandboxOptions::default()
                },
            )
            .await
            .unwrap();
        let ep = attach(&h, &net, &sb, "ep").await;
        let eth1 = h.nl.link_by_name(&theirs, "eth1").await.unwrap().unwrap();
        assert_eq!(eth1.kind.as_deref(), Some("veth"));
        let addrs = h.nl.addrs(&theirs).await.unwrap();
        assert!(
            addrs
                .iter()
                .any(|a| a.index == eth1.index && a.address.to_string() == "10.66.0.2/24"),
            "{addrs:?}"
        );
        let other = h
            .controller
            .new_sandbox("other", SandboxOptions::default())
            .await
            .unwrap();
        attach(&h, &net, &other, "other").await;
        tcp(&theirs, &ns_of(&other), "10.66.0.3");
        let eth0_now = |l: Option<wnet_netlink::Link>| l.map(|l| (l.index, l.up, l.master));
        assert_eq!(
            eth0_now(h.nl.link_by_name(&theirs, "eth0").await.unwrap()),
            eth0_now(Some(before.clone())),
            "their eth0 untouched"
        );

        ep.leave(&sb).await.unwrap();
        ep.delete(false).await.unwrap();
        sb.delete().await.unwrap();
        assert!(h.nl.link_by_name(&theirs, "eth1").await.unwrap().is_none());
        assert_eq!(
            eth0_now(h.nl.link_by_name(&theirs, "eth0").await.unwrap()),
            eth0_now(Some(before)),
            "their eth0 kept after the leave"
        );
        other.delete().await.unwrap();
        theirs.remove().unwrap();
    })
}

fn a_sandbox_whose_namespace_was_replaced_is_reconciled_away() -> Pin<Box<dyn Future<Output = ()>>>
{
    Box::pin(async {
        let h = host("replaced").await;
        let net = bridge(&h, "rep", "10.67.0.0/24").await;
        let dir = Path::new("/run/wnet-e2e/replaced-outside");
        let first = Namespace::create(dir, "c").unwrap();
        let key = first.path().display().to_string();
        let sb = h
            .controller
            .new_sandbox(
                "adopted",
                SandboxOptions {
                    key: Some(key.clone()),
                    ..SandboxOptions::default()
                },
            )
            .await
            .unwrap();
        let ep = attach(&h, &net, &sb, "ep").await;
        assert_eq!(v4(&ep), "10.67.0.2");
        drop((sb, ep));
        // The process that owned the namespace is gone; another one is at its path.
        first.remove().unwrap();
        drop(first);
        let second = Namespace::create(dir, "c").unwrap();

        // A restart: a controller with nothing open, over the same records.
        let controller = Controller::new(Config {
            store: h.store.clone(),
            os: Arc::new(KernelSandboxes::new(h.nl.clone(), h.ns.clone(), &h.run_dir)),
            ..Config::default()
        })
        .unwrap();
        for d in wnet_drivers::load_all(&h.runtime).await.unwrap() {
            d.register(&controller).unwrap();
        }
        let repairs = controller.reconcile_sandboxes().await;
        assert!(
            repairs
                .iter()
                .any(|r| r.starts_with("sandbox adopted: its namespace")),
            "{repairs:?}"
        );
        assert!(
            controller.sandbox("adopted").is_err(),
            "the sandbox is gone"
        );
        let net = controller.network("rep").unwrap();
        assert!(net.endpoints().unwrap().is_empty(), "and its endpoint");
        let sb = controller
            .new_sandbox("next", SandboxOptions::default())
            .await
            .unwrap();
        let ep = attach(&h, &net, &sb, "next").await;
        assert_eq!(v4(&ep), "10.67.0.2", "its address was given back");
        assert!(
            Path::new(&key).exists(),
            "the namespace now at the path is not wnet's to remove"
        );
        sb.delete().await.unwrap();
        net.delete().await.unwrap();
        second.remove().unwrap();
    })
}

fn a_driver_is_refused_what_its_manifest_and_ledger_do_not_allow()
-> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("policy").await;
        let hostile = h
            .runtime
            .load(
                wnet_tests::FIXTURE_HOSTILE.wasm,
                wnet_tests::FIXTURE_HOSTILE.manifest(),
            )
            .await
            .unwrap();
        hostile.register(&h.controller).unwrap();
        // Something to reach for: the "machine's" eth0, another driver's bridge, a sandbox.
        foreign_veth(&h, &h.ns, "eth0").await;
        // A link of the operator's within the hostile driver's prefix: it may adopt it,
        // but not delete or rename it.
        foreign_veth(&h, &h.ns, "hxops").await;
        let hxbr = wnet_netlink::NewLink::new("hxbr0", wnet_netlink::LinkKind::Bridge);
        h.nl.link_add(&h.ns, hxbr).await.unwrap();
        let net = bridge(&h, "front", "10.88.0.0/16").await;
        let a = h
            .controller
            .new_sandbox("a", SandboxOptions::default())
            .await
            .unwrap();
        attach(&h, &net, &a, "ea").await;
        let theirs = format!("br-{}", &net.id()[..12]);
        let before = state(&h.nl, &h.ns).await;
        let sandbox_before = state(&h.nl, &ns_of(&a)).await;

        let cases = [
            ("down:eth0".to_owned(), "was not created by this driver"),
            ("delete:eth0".to_owned(), "was not created by this driver"),
            ("rename:lo".to_owned(), "was not created by this driver"),
            ("delete:lo".to_owned(), "was not created by this driver"),
            ("address:eth0".to_owned(), "was not created by this driver"),
            ("route:eth0".to_owned(), "was not created by this driver"),
            (format!("delete:{theirs}"), "was not created by this driver"),
            (
                format!("enslave:{theirs}"),
                "was not created by this driver",
            ),
            ("create:evil0".to_owned(), "outside this driver's prefixes"),
            ("bridge".to_owned(), "may not create bridge links"),
            ("sysctl:net.ipv4.ip_forward".to_owned(), "is not granted"),
            ("sandbox:a".to_owned(), "is not open to this driver"),
            ("adopt:eth0".to_owned(), "outside this driver's prefixes"),
            // A kind it may create but not adopt: its manifest adopts only veths.
            ("adopt:hxbr0".to_owned(), "does not let it adopt"),
            ("neigh:eth0".to_owned(), "was not created by this driver"),
            (format!("neigh:{theirs}"), "was not created by this driver"),
            ("vxlan:hxvx0".to_owned(), "may not create vxlan links"),
            ("adopt-delete:hxops".to_owned(), "adopted, not created"),
            (
                "adopt-rename:hxops".to_owned(),
                "may only bring it up or down",
            ),
        ];
        for (i, (act, rule)) in cases.iter().enumerate() {
            let opts = NetworkOptions {
                options: [("hostile.create-network", act.as_str())]
                    .into_iter()
                    .collect(),
                ..NetworkOptions::default()
            };
            let err = h
                .controller
                .new_network("hostile", &format!("h{i}"), opts)
                .await
                .unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("forbidden") && msg.contains(rule) && msg.contains("`hostile`"),
                "{act}: {msg}"
            );
            assert_eq!(
                state(&h.nl, &h.ns).await,
                before,
                "{act}: the host namespace changed"
            );
        }
        assert_eq!(
            hostile.status().refusals,
            cases.len() as u64,
            "each refusal counted, for `wnet driver inspect`"
        );
        // A join answer naming a link it did not create — the machine's eth0, an
        // operator's link in its prefix, another driver's bridge, one that does not
        // exist — which the host would move into the sandbox.
        let net = h
            .controller
            .new_network("hostile", "joins", NetworkOptions::default())
            .await
            .unwrap();
        for (i, name) in ["eth0", "hxops", theirs.as_str(), "hxghost"]
            .iter()
            .enumerate()
        {
            let opts = EndpointOptions {
                options: [("hostile.join", format!("ifname:{name}"))]
                    .into_iter()
                    .collect(),
                ..EndpointOptions::default()
            };
            let ep = net.create_endpoint(&format!("j{i}"), opts).await.unwrap();
            let err = ep.join(&a, JoinOptions::default()).await.unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("`hostile`") && msg.contains("did not create") && msg.contains(name),
                "{name}: {msg}"
            );
            assert!(ep.info().unwrap().join.is_none(), "{name}: not joined");
            ep.delete(false).await.unwrap();
            assert_eq!(
                state(&h.nl, &h.ns).await,
                before,
                "{name}: the host namespace changed"
            );
            assert_eq!(
                state(&h.nl, &ns_of(&a)).await,
                sandbox_before,
                "{name}: the sandbox changed"
            );
        }
        net.delete().await.unwrap();
        assert_eq!(hostile.status().refusals, cases.len() as u64 + 4);
        // A driver granted bridges under `br-` still cannot take the bridge driver's.
        let mut rival = wnet_tests::FIXTURE_HOSTILE.manifest();
        rival.name = "rival".into();
        rival.links.prefixes = vec!["br-".into()];
        rival.links.kinds = vec![wnet_runtime::manifest::LinkKindGrant::Bridge];
        rival.links.adopt = vec![wnet_runtime::manifest::LinkKindGrant::Bridge];
        h.runtime
            .load(wnet_tests::FIXTURE_HOSTILE.wasm, rival)
            .await
            .unwrap()
            .register(&h.controller)
            .unwrap();
        let opts = NetworkOptions {
            options: [("hostile.create-network", format!("adopt:{theirs}").as_str())]
                .into_iter()
                .collect(),
            ..NetworkOptions::default()
        };
        let err = h
            .controller
            .new_network("rival", "r", opts)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is held by driver `bridge`"),
            "{err}"
        );
        assert_eq!(state(&h.nl, &h.ns).await, before);
        assert_eq!(
            state(&h.nl, &ns_of(&a)).await,
            sandbox_before,
            "the sandbox changed"
        );
        tcp(&ns_of(&a), &ns_of(&a), "10.88.0.2");

        // Granted the kind, the same driver makes a VXLAN and programs its neighbours.
        let mut tunnel = wnet_tests::FIXTURE_HOSTILE.manifest();
        tunnel.name = "tunnel".into();
        tunnel.links.kinds = vec![wnet_runtime::manifest::LinkKindGrant::Vxlan];
        let tunnel = h
            .runtime
            .load(wnet_tests::FIXTURE_HOSTILE.wasm, tunnel)
            .await
            .unwrap();
        tunnel.register(&h.controller).unwrap();
        let opts = NetworkOptions {
            options: [("hostile.create-network", "vxlan:hxvx0")]
                .into_iter()
                .collect(),
            ..NetworkOptions::default()
        };
        h.controller.new_network("tunnel", "t", opts).await.unwrap();
        let vx = h.nl.link_by_name(&h.ns, "hxvx0").await.unwrap().unwrap();
        // Its requests were made and counted: the link, its neighbour and forwarding
        // entries, and the lookups before them.
        let status = tunnel.status();
        assert!(
            status.kernel_requests >= 3 && status.kernel_requests_failed == 0,
            "{status:?}"
        );
        assert_eq!(status.refusals, 0);
        assert_eq!(vx.kind.as_deref(), Some("vxlan"));
        let entries = h.nl.neighbours(&h.ns, vx.index).await.unwrap();
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        assert!(
            entries.iter().any(|n| !n.fdb && n.ip == ip("10.42.0.2"))
                && entries.iter().any(|n| n.fdb && n.ip == ip("192.168.77.2")),
            "{entries:?}"
        );
        h.nl.link_del(&h.ns, vx.index).await.unwrap();
        assert_eq!(state(&h.nl, &h.ns).await, before);
    })
}

fn macvlan_sandboxes_on_a_veth_parent_talk_to_each_other() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let h = host("macvlan").await;
        // A veth pair, both ends up, stands in for a physical parent.
        let mut parent = wnet_netlink::NewLink::new(
            "uplink0",
            wnet_netlink::LinkKind::Veth {
                peer_name: "uplink0-sw".into(),
                peer_ns: None,
                peer_mac: None,
            },
        );
        parent.up = true;
        h.nl.link_add(&h.ns, parent).await.unwrap();
        let sw =
            h.nl.link_by_name(&h.ns, "uplink0-sw")
                .await
                .unwrap()
                .unwrap();
        let up = wnet_netlink::LinkChange {
            up: Some(true),
            ..Default::default()
        };
        h.nl.link_set(&h.ns, sw.index, up).await.unwrap();
        let before = state(&h.nl, &h.ns).await;

        let missing = NetworkOptions {
            options: [("parent", "eth7")].into_iter().collect(),
            ..NetworkOptions::default()
        };
        let err = h
            .controller
            .new_network("macvlan", "bad", missing)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`eth7` does not exist"), "{err}");

        let opts = NetworkOptions {
            options: [("parent", "uplink0")].into_iter().collect(),
            ..NetworkOptions::default()
                .with_subnet(IpamConfig::subnet("192.0.2.0/24".parse().unwrap()))
        };
        let net = h
            .controller
            .new_network("macvlan", "lan", opts)
            .await
            .unwrap();
        let a = h
            .controller
            .new_sandbox("a", SandboxOptions::default())
            .await
            .unwrap();
        let b = h
            .controller
            .new_sandbox("b", SandboxOptions::default())
            .await
            .unwrap();
        let ea = attach(&h, &net, &a, "ea").await;
        let eb = attach(&h, &net, &b, "eb").await;
        let eth0 =
            h.nl.link_by_name(&ns_of(&a), "eth0")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(eth0.kind.as_deref(), Some("macvlan"));
        assert_eq!(eth0.mac.unwrap().to_string(), "02:42:c0:00:02:02");
        tcp(&ns_of(&a), &ns_of(&b), "192.0.2.3");
        tcp(&ns_of(&b), &ns_of(&a), "192.0.2.2");
        for (ep, sb) in [(ea, &a), (eb, &b)] {
            ep.leave(sb).await.unwrap();
            ep.delete(false).await.unwrap();
        }
        net.delete().await.unwrap();
        assert_eq!(state(&h.nl, &h.ns).await, before, "no macvlan left behind");
    })
}

fn main() {
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("netns tests: {e}");
        std::process::exit(1);
    }
    let tests: [(&str, Test); 14] = [
        (
            "an_adopted_namespace_keeps_its_own_eth0",
            an_adopted_namespace_keeps_its_own_eth0,
        ),
        (
            "bridge_networks_behind_the_firewall",
            bridge_networks_behind_the_firewall,
        ),
        ("ipv6_behind_the_firewall", ipv6_behind_the_firewall),
        (
            "dual_stack_and_internal_bridge_networks",
            dual_stack_and_internal_bridge_networks,
        ),
        (
            "a_failure_at_any_kernel_step_leaves_nothing_behind",
            a_failure_at_any_kernel_step_leaves_nothing_behind,
        ),
        (
            "an_existing_bridge_is_adopted_used_and_left_as_it_was",
            an_existing_bridge_is_adopted_used_and_left_as_it_was,
        ),
        (
            "a_host_network_sandbox_is_the_host_namespace_and_changes_nothing",
            a_host_network_sandbox_is_the_host_namespace_and_changes_nothing,
        ),
        (
            "macvlan_sandboxes_on_a_veth_parent_talk_to_each_other",
            macvlan_sandboxes_on_a_veth_parent_talk_to_each_other,
        ),
        (
            "a_driver_is_refused_what_its_manifest_and_ledger_do_not_allow",
            a_driver_is_refused_what_its_manifest_and_ledger_do_not_allow,
        ),
        (
            "two_sandboxes_on_a_bridge_talk_both_ways_and_reach_the_gateway",
            two_sandboxes_on_a_bridge_talk_both_ways_and_reach_the_gateway,
        ),
        (
            "a_sandbox_on_two_networks_and_networks_kept_apart",
            a_sandbox_on_two_networks_and_networks_kept_apart,
        ),
        (
            "an_endpoint_made_before_its_sandbox_is_moved_in",
            an_endpoint_made_before_its_sandbox_is_moved_in,
        ),
        (
            "nothing_remains_after_leave_delete_and_sandbox_removal",
            nothing_remains_after_leave_delete_and_sandbox_removal,
        ),
        (
            "a_sandbox_whose_namespace_was_replaced_is_reconciled_away",
            a_sandbox_whose_namespace_was_replaced_is_reconciled_away,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let ok =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(test()))).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

/// Options of an endpoint for `sandbox` that publishes `ports` (as `docker run -p`).
fn publishing(sandbox: &Sandbox, ports: &[&str]) -> EndpointOptions {
    let ports: Vec<wnet_types::PortBinding> = ports
        .iter()
        .map(|p| wnet_types::PortBinding::parse(p).unwrap())
        .collect();
    EndpointOptions {
        sandbox: Some(sandbox.id().to_owned()),
        options: [(
            wnet_types::keys::PORT_MAP,
            serde_json::to_string(&ports).unwrap(),
        )]
        .into_iter()
        .collect(),
        ..EndpointOptions::default()
    }
}

/// An "outside" namespace standing in for the internet, routed through the test's host
/// namespace: a veth `uplink` with `host_addrs` on the host's end and `gateway` on the
/// other (`eth0` outside), `far` on the outside's loopback, and in the host a route to
/// `far`'s /24 (IPv4) or /64 (IPv6) through `gateway`. No route leads back to the
/// containers' subnets. Link-local addresses are on: IPv6 neighbour discovery between
/// the two ends needs them.
async fn outside(h: &Host, name: &str, host_addrs: &[&str], gateway: &str, far: &str) -> Namespace {
    let out = Namespace::create(Path::new("/run/wnet-e2e/hosts"), name).unwrap();
    let mut uplink = wnet_netlink::NewLink::new(
        "uplink",
        wnet_netlink::LinkKind::Veth {
            peer_name: "eth0".into(),
            peer_ns: Some(out.clone()),
            peer_mac: None,
        },
    );
    uplink.ipv6_autoconf = true;
    uplink.up = true;
    let up = h.nl.link_add(&h.ns, uplink).await.unwrap();
    for a in host_addrs {
        h.nl.addr_add(&h.ns, up, a.parse().unwrap()).await.unwrap();
    }
    let eth0 = h.nl.link_by_name(&out, "eth0").await.unwrap().unwrap();
    let gateway: wnet_types::IpNet = gateway.parse().unwrap();
    h.nl.addr_add(&out, eth0.index, gateway).await.unwrap();
    for index in [eth0.index, 1] {
        let change = wnet_netlink::LinkChange {
            up: Some(true),
            ..Default::default()
        };
        h.nl.link_set(&out, index, change).await.unwrap();
    }
    let far: wnet_types::IpNet = far.parse().unwrap();
    h.nl.addr_add(&out, 1, far).await.unwrap();
    let far_net = wnet_types::IpNet::new(far.addr(), if far.addr().is_ipv4() { 24 } else { 64 })
        .unwrap()
        .trunc();
    let mut to_out = wnet_netlink::Route::new(far_net);
    to_out.gateway = Some(gateway.addr());
    h.nl.route_add(&h.ns, to_out).await.unwrap();
    out
}

/// IPv6 behind the firewall, by traffic to an "outside" namespace routed through the
/// test's host namespace: a dual-stack sandbox reaches the outside with the host's
/// IPv6 address (masquerade), and a port published without a host address is reached
/// over IPv6 from outside with the source kept; both leave nothing in wnet's table.
fn ipv6_behind_the_firewall() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        use wnet_tests::{nft, peer_seen, peer_via};
        let h = host("firewall6").await;
        let out = outside(
            &h,
            "fw6-outside",
            &["2001:db8:1::1/64"],
            "2001:db8:1::2/64",
            "2001:db8:ff::10/128",
        )
        .await;

        let dual = NetworkOptions::default()
            .with_subnet(IpamConfig::subnet("10.94.0.0/24".parse().unwrap()))
            .with_subnet(IpamConfig::subnet("fd00:94::/64".parse().unwrap()));
        let net = h
            .controller
            .new_network("bridge", "front6", dual)
            .await
            .unwrap();
        let s = h
            .controller
            .new_sandbox("fw6a", SandboxOptions::default())
            .await
            .unwrap();
        let ep = net
            .create_endpoint("fw6e", publishing(&s, &["8081:7001"]))
            .await
            .unwrap();
        ep.join(&s, JoinOptions::default()).await.unwrap();
        let sb = ns_of(&s);
        let v6 = ep.info().unwrap().address_ipv6.unwrap().addr();
        assert_eq!(
            wnet_netlink::sysctl::get(&h.ns, "net.ipv6.conf.all.forwarding").unwrap(),
            "1",
            "IPv6 forwarding on for a network that is not internal"
        );

        // The two ends' link-local addresses pass DAD before they talk: wait for the
        // outside to answer the host itself (test setup, not wnet).
        assert!(
            (0..20).any(|_| peer_seen(&h.ns, &out, "[2001:db8:ff::10]").is_some()),
            "the outside answers the host over IPv6"
        );
        let host6: std::net::IpAddr = "2001:db8:1::1".parse().unwrap();
        assert_eq!(
            peer_seen(&sb, &out, "[2001:db8:ff::10]"),
            Some(host6),
            "masqueraded over IPv6"
        );
        let outside6: std::net::IpAddr = "2001:db8:1::2".parse().unwrap();
        assert_eq!(
            peer_via(&out, &sb, &format!("[{v6}]:7001"), "[2001:db8:1::1]:8081"),
            Some(outside6),
            "published over IPv6"
        );

        ep.delete(true).await.unwrap();
        // Disconnected, the port is gone: the host's own listener on 8081 answers.
        let host_port = "[2001:db8:1::1]:8081";
        assert_eq!(
            peer_via(&out, &h.ns, host_port, host_port),
            Some(outside6),
            "unpublished with its endpoint"
        );
        s.delete().await.unwrap();
        net.delete().await.unwrap();
        let table = nft(&h.ns, &["list", "table", "inet", "wnet"], None);
        assert!(
            !table.contains("elements"),
            "nothing left in wnet's table: {table}"
        );
    })
}

/// Bridge networks behind wnet's firewall, proven by traffic to an "outside" namespace
/// routed through the test's host namespace: masquerade (the outside sees the host's
/// address), networks kept apart, an internal network that reaches neither outside
/// nor other networks, ICC off between two sandboxes but not to their gateway. After
/// the networks go, wnet's table holds nothing and another table is as it was.
fn bridge_networks_behind_the_firewall() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        use wnet_tests::{nft, peer_seen, peer_via};
        let h = host("firewall").await;
        let foreign = "table ip other {\n\tchain c {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr 192.0.2.1 counter drop\n\t}\n}\n";
        nft(&h.ns, &["-f", "-"], Some(foreign));
        let before = nft(&h.ns, &["list", "ruleset"], None);

        // The outside: 203.0.113.10 behind 198.51.100.2, with no route back to 10.x.
        let out = outside(
            &h,
            "fw-outside",
            &["198.51.100.1/24", "198.51.100.3/24"],
            "198.51.100.2/24",
            "203.0.113.10/32",
        )
        .await;

        let with = |subnet: &str, internal: bool, opts: &[(&str, &str)]| NetworkOptions {
            internal,
            options: opts.iter().copied().collect(),
            ..NetworkOptions::default().with_subnet(IpamConfig::subnet(subnet.parse().unwrap()))
        };
        let mut nets = Vec::new();
        for (name, opts) in [
            ("front", with("10.88.0.0/16", false, &[])),
            ("back", with("10.89.0.0/16", false, &[])),
            ("inner", with("10.90.0.0/16", true, &[])),
            (
                "quiet",
                with(
                    "10.91.0.0/16",
                    false,
                    &[("com.docker.network.bridge.enable_icc", "false")],
                ),
            ),
            (
                "snat",
                with(
                    "10.92.0.0/16",
                    false,
                    &[("com.docker.network.host_ipv4", "198.51.100.3")],
                ),
            ),
        ] {
            nets.push(
                h.controller
                    .new_network("bridge", name, opts)
                    .await
                    .unwrap(),
            );
        }
        let mut sb = Vec::new();
        let mut sandboxes = Vec::new();
        for (i, net) in [0, 0, 1, 2, 3, 3, 4].into_iter().enumerate() {
            let s = h
                .controller
                .new_sandbox(&format!("fw{i}"), SandboxOptions::default())
                .await
                .unwrap();
            if i == 0 {
                // The first publishes its port 7000 as the host's 8080.
                let ep = nets[net]
                    .create_endpoint("fwe0", publishing(&s, &["8080:7000"]))
                    .await
                    .unwrap();
                ep.join(&s, JoinOptions::default()).await.unwrap();
            } else {
                attach(&h, &nets[net], &s, &format!("fwe{i}")).await;
            }
            sb.push(ns_of(&s));
            sandboxes.push(s);
        }
        assert_eq!(
            wnet_netlink::sysctl::get(&h.ns, "net.ipv4.ip_forward").unwrap(),
            "1",
            "forwarding on for networks that are not internal"
        );
        let internet = "203.0.113.10";
        let host_ip: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            peer_seen(&sb[0], &out, internet),
            Some(host_ip),
            "masqueraded"
        );
        assert_eq!(peer_seen(&sb[2], &out, internet), Some(host_ip));
        assert!(
            peer_seen(&sb[0], &sb[1], "10.88.0.3").is_some(),
            "ICC on by default"
        );
        assert_eq!(
            peer_seen(&sb[0], &sb[2], "10.89.0.2"),
            None,
            "networks apart"
        );
        assert_eq!(
            peer_seen(&sb[2], &sb[0], "10.88.0.2"),
            None,
            "networks apart"
        );
        assert_eq!(
            peer_seen(&sb[3], &out, internet),
            None,
            "internal: no way out"
        );
        assert_eq!(
            peer_seen(&sb[0], &sb[3], "10.90.0.2"),
            None,
            "internal: no way in"
        );
        assert_eq!(peer_seen(&sb[4], &sb[5], "10.91.0.3"), None, "ICC off");
        assert!(
            peer_seen(&sb[4], &h.ns, "10.91.0.1").is_some(),
            "ICC off: the gateway answers"
        );
        assert_eq!(peer_seen(&sb[4], &out, internet), Some(host_ip));
        assert_eq!(
            peer_seen(&sb[6], &out, internet),
            Some("198.51.100.3".parse().unwrap()),
            "SNAT to com.docker.network.host_ipv4"
        );
        // A source address the host does not have is refused.
        let stranger = with(
            "10.93.0.0/16",
            false,
            &[("com.docker.network.host_ipv4", "192.0.2.55")],
        );
        let err = h
            .controller
            .new_network("bridge", "stranger", stranger)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no address of the host"), "{err}");

        // The published port: from outside (the source kept), from the host, from the
        // same network (hairpin), from another network.
        let c0 = "10.88.0.2:7000";
        let outside: std::net::IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(
            peer_via(&out, &sb[0], c0, "198.51.100.1:8080"),
            Some(outside),
            "published"
        );
        assert!(
            peer_via(&h.ns, &sb[0], c0, "198.51.100.1:8080").is_some(),
            "from the host"
        );
        // A machine's loopback is up (a namespace's starts down).
        let lo_up = wnet_netlink::LinkChange {
            up: Some(true),
            ..Default::default()
        };
        h.nl.link_set(&h.ns, 1, lo_up).await.unwrap();
        assert!(
            peer_via(&h.ns, &sb[0], c0, "127.0.0.1:8080").is_some(),
            "from the host through 127.0.0.1"
        );
        // With its bridge routing loopback, a container must still not reach the
        // host's loopback services (CVE-2020-8558): one that routes 127.0.0.0/8 to its
        // gateway (it has CAP_NET_ADMIN in its namespace) gets nothing through.
        let key = sandboxes[1].info().unwrap().key;
        let script = "ip addr del 127.0.0.1/8 dev lo && \
             echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && \
             ip route add 127.0.0.0/8 via 10.88.0.1";
        let done = std::process::Command::new("nsenter")
            .args([&format!("--net={key}"), "sh", "-c", script])
            .status()
            .unwrap();
        assert!(done.success(), "the container's loopback routed out");
        let lo_service = "127.0.0.1:7100";
        assert_eq!(
            peer_via(&sb[1], &h.ns, lo_service, lo_service),
            None,
            "the host's loopback is not reachable from a container"
        );
        assert!(
            peer_via(&sb[1], &sb[0], c0, "10.88.0.1:8080").is_some(),
            "from its network"
        );
        assert!(
            peer_via(&sb[2], &sb[0], c0, "198.51.100.1:8080").is_some(),
            "from another"
        );
        // The same host port again is refused, naming the port and its holder.
        let s = h
            .controller
            .new_sandbox("fw-taken", SandboxOptions::default())
            .await
            .unwrap();
        let ep = nets[1]
            .create_endpoint("fw-taken", publishing(&s, &["8080:80"]))
            .await
            .unwrap();
        let err = ep.join(&s, JoinOptions::default()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("host port 8080/tcp is already published"),
            "{err}"
        );
        assert_eq!(err.kind(), wnet_types::ErrorKind::Conflict, "{err}");
        ep.delete(true).await.unwrap();
        s.delete().await.unwrap();
        let published = nets[0]
            .endpoints()
            .unwrap()
            .into_iter()
            .find(|e| e.name() == "fwe0")
            .unwrap();
        published.delete(true).await.unwrap();
        // Disconnected, the port is gone: the host's own listener on 8080 answers.
        let host_port = "198.51.100.1:8080";
        assert_eq!(
            peer_via(&out, &h.ns, host_port, host_port),
            Some(outside),
            "unpublished"
        );

        for net in &nets {
            for ep in net.endpoints().unwrap() {
                ep.delete(true).await.unwrap();
            }
            net.delete().await.unwrap();
        }
        let table = nft(&h.ns, &["list", "table", "inet", "wnet"], None);
        assert!(
            !table.contains("elements"),
            "nothing left in wnet's table: {table}"
        );
        let after = nft(&h.ns, &["list", "ruleset"], None);
        assert_eq!(
            after.replace(&table, ""),
            before,
            "only wnet's table was added"
        );
        for s in h.controller.sandboxes().unwrap() {
            s.delete().await.unwrap();
        }
        out.remove().unwrap();
    })
}
