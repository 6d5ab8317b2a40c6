//! The real kernel, inside network and mount namespaces this process makes for itself
//! (needs root): namespaces, bridge and veth with the peer created in a sandbox,
//! addresses, routes, macvlan, moves, sysctl, errors, and TCP between sandboxes.
//!
//! A plain `main` (no libtest harness) because the process must leave the machine's
//! namespaces before any thread exists.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a test binary"
)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use std::sync::Arc;

use wnet_core::osl::{Interface, SandboxOs};
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{
    LinkChange, LinkKind, MacvlanMode, Namespace, Neighbour, Netlink, NewLink, Route, RtNetlink,
    Vxlan, sysctl,
};
use wnet_types::{IpNet, MacAddress, RouteType, StaticRoute};

const DIR: &str = "/run/wnet-test/netns";

type Test = fn() -> Pin<Box<dyn Future<Output = ()>>>;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ns(name: &str) -> Namespace {
    Namespace::create(Path::new(DIR), name).unwrap()
}

/// Brings up a sandbox's end of a veth: created in place as `tmp`, renamed `eth0`,
/// addressed, up, with `lo` up and a default route.
async fn configure_sandbox(nl: &RtNetlink, sb: &Namespace, tmp: &str, addr: &str, gw: &str) {
    let peer = nl.link_by_name(sb, tmp).await.unwrap().unwrap();
    let change = LinkChange {
        name: Some("eth0".into()),
        ..LinkChange::default()
    };
    nl.link_set(sb, peer.index, change).await.unwrap();
    nl.addr_add(sb, peer.index, net(addr)).await.unwrap();
    for index in [peer.index, 1] {
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        nl.link_set(sb, index, up).await.unwrap();
    }
    let mut default = Route::new(net("0.0.0.0/0"));
    default.gateway = Some(gw.parse().unwrap());
    nl.route_add(sb, default).await.unwrap();
}

/// A bridge `br0` with 10.89.0.1/24 in `host`, and `n` sandboxes attached to it.
async fn bridge_with_sandboxes(
    nl: &RtNetlink,
    host: &Namespace,
    prefix: &str,
    n: usize,
) -> Vec<Namespace> {
    bridge_network(nl, host, "br0", 89, prefix, n).await
}

/// A bridge `name` with 10.`octet`.0.1/24 in `host`, and `n` sandboxes attached to it
/// at .2, .3 …
async fn bridge_network(
    nl: &RtNetlink,
    host: &Namespace,
    name: &str,
    octet: u8,
    prefix: &str,
    n: usize,
) -> Vec<Namespace> {
    let mut bridge = NewLink::new(name, LinkKind::Bridge);
    bridge.up = true;
    let br = nl.link_add(host, bridge).await.unwrap();
    nl.addr_add(host, br, net(&format!("10.{octet}.0.1/24")))
        .await
        .unwrap();
    let mut sandboxes = Vec::new();
    for i in 0..n {
        let sb = ns(&format!("{prefix}-sb{i}"));
        let mut veth = NewLink::new(
            format!("veth{prefix}{i}"),
            LinkKind::Veth {
                peer_name: "tmp0".into(),
                peer_ns: Some(sb.clone()),
                peer_mac: Some(MacAddress([0x02, 0x42, 10, octet, 0, 2 + i as u8])),
            },
        );
        veth.master = Some(br);
        veth.up = true;
        nl.link_add(host, veth).await.unwrap();
        configure_sandbox(
            nl,
            &sb,
            "tmp0",
            &format!("10.{octet}.0.{}/24", 2 + i),
            &format!("10.{octet}.0.1"),
        )
        .await;
        sandboxes.push(sb);
    }
    sandboxes
}

/// Sends `ping` from `from` to a listener in `to` and expects `pong` back.
/// A link's transmit and receive queue counts, as `ip -details` reports them.
fn queues(space: &Namespace, name: &str) -> (u32, u32) {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", space.path().display()))
        .args(["ip", "-details", "link", "show", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |key: &str| -> u32 {
        let mut words = text.split_whitespace();
        words.find(|w| *w == key);
        words
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    (count("numtxqueues"), count("numrxqueues"))
}

fn tcp_exchange(from: &Namespace, to: &Namespace, to_addr: &str) {
    let addr: SocketAddr = format!("{to_addr}:7777").parse().unwrap();
    let listener = to.run(move || TcpListener::bind(addr).unwrap()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").unwrap();
    });
    let reply = from
        .run(move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            s.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            buf
        })
        .unwrap();
    server.join().unwrap();
    assert_eq!(&reply, b"pong");
}

fn namespaces() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let a = ns("names-a");
        assert!(a.is_owned());
        assert!(Path::new(DIR).join("names-a").exists());
        let err = Namespace::create(Path::new(DIR), "names-a").unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = Namespace::create(Path::new(DIR), "../escape").unwrap_err();
        assert!(
            err.to_string().contains("not a valid namespace name"),
            "{err}"
        );
        // Adopting by path finds the same namespace, and is never removed by wnet.
        let adopted = Namespace::adopt(&Path::new(DIR).join("names-a")).unwrap();
        assert_eq!(adopted, a);
        assert!(!adopted.is_owned());
        adopted.remove().unwrap();
        assert!(Path::new(DIR).join("names-a").exists());
        let err = Namespace::adopt(Path::new("/etc/hostname")).unwrap_err();
        assert!(err.to_string().contains("not a network namespace"), "{err}");
        // A namespace file of another kind is refused too.
        let err = Namespace::adopt(Path::new("/proc/self/ns/uts")).unwrap_err();
        assert!(err.to_string().contains("not a network namespace"), "{err}");
        // Work run inside sees the namespace; the calling thread is back in its own
        // right after, also when that work panicked.
        let own = || std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let before = own();
        let inside = a.run(own).unwrap();
        assert_eq!(inside.to_string_lossy(), format!("net:[{}]", a.inode()));
        assert_eq!(own(), before);
        assert_ne!(Namespace::current().unwrap(), a);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
        let panicked =
            std::panic::catch_unwind(|| a.run(|| -> () { panic!("inside the namespace") }));
        std::panic::set_hook(hook);
        assert!(panicked.is_err());
        assert_eq!(
            own(),
            before,
            "a panic inside left the thread in the namespace"
        );
        a.remove().unwrap();
        assert!(!Path::new(DIR).join("names-a").exists());
    })
}

fn bridge_veth_in_place_and_traffic() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let nl = RtNetlink::new();
        let host = ns("traffic-host");
        let sbs = bridge_with_sandboxes(&nl, &host, "t", 2).await;

        // The sandbox side as configured.
        let links = nl.links(&sbs[0]).await.unwrap();
        let eth0 = links.iter().find(|l| l.name == "eth0").unwrap();
        assert_eq!(eth0.kind.as_deref(), Some("veth"));
        assert!(eth0.up);
        assert_eq!(eth0.mac, Some(MacAddress([0x02, 0x42, 10, 89, 0, 2])));
        let addrs = nl.addrs(&sbs[0]).await.unwrap();
        assert!(
            addrs
                .iter()
                .any(|a| a.index == eth0.index && a.address == net("10.89.0.2/24")),
            "{addrs:?}"
        );
        let routes = nl.routes(&sbs[0]).await.unwrap();
        assert!(
            routes.iter().any(|r| r.destination == net("0.0.0.0/0")
                && r.gateway == Some("10.89.0.1".parse::<IpAddr>().unwrap())),
            "{routes:?}"
        );
        // The host side: both veth ends on the bridge.
        let host_links = nl.links(&host).await.unwrap();
        let br = host_links.iter().find(|l| l.name == "br0").unwrap();
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert_eq!(
            host_links
                .iter()
                .filter(|l| l.master == Some(br.index))
                .count(),
            2
        );

        // Each end made with one queue, not one per CPU cut down afterwards.
        let veth = host_links
            .iter()
            .find(|l| l.kind.as_deref() == Some("veth"))
            .unwrap();
        for (space, name) in [(&sbs[0], "eth0"), (&host, veth.name.as_str())] {
            assert_eq!(queues(space, name), (1, 1), "{name}");
        }

        tcp_exchange(&sbs[0], &sbs[1], "10.89.0.3");
        tcp_exchange(&sbs[1], &sbs[0], "10.89.0.2");

        // Removing a sandbox's namespace takes its veth with it.
        for sb in &sbs {
            nl.forget(sb);
            sb.remove().unwrap();
        }
        drop(sbs);
        let mut gone = false;
        for _ in 0..100 {
            let left = nl.links(&host).await.unwrap();
            if !left.iter().any(|l| l.kind.as_deref() == Some("veth")) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the host ends went with the sandboxes");
    })
}

fn ipv6_and_routes() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let nl = RtNetlink::new();
        let host = ns("v6-host");
        let sbs = bridge_with_sandboxes(&nl, &host, "s", 2).await;
        let br = nl.link_by_name(&host, "br0").await.unwrap().unwrap();
        nl.addr_add(&host, br.index, net("fd00:89::1/64"))
            .await
            .unwrap();
        for (i, sb) in sbs.iter().enumerate() {
            let eth0 = nl.link_by_name(sb, "eth0").await.unwrap().unwrap();
            nl.addr_add(sb, eth0.index, net(&format!("fd00:89::{}/64", i + 2)))
                .await
                .unwrap();
            let mut r = Route::new(net("198.51.100.0/24"));
            r.gateway = Some("10.89.0.1".parse().unwrap());
            nl.route_add(sb, r).await.unwrap();
            // The same route twice is refused, by errno.
            assert_eq!(
                nl.route_add(sb, r).await.unwrap_err().errno(),
                Some(libc::EEXIST)
            );
            nl.route_del(sb, r).await.unwrap();
            assert!(
                !nl.routes(sb)
                    .await
                    .unwrap()
                    .iter()
                    .any(|x| x.destination == r.destination)
            );
        }
        tcp_exchange(&sbs[0], &sbs[1], "[fd00:89::3]");
        let eth0 = nl.link_by_name(&sbs[0], "eth0").await.unwrap().unwrap();
        nl.addr_del(&sbs[0], eth0.index, net("fd00:89::2/64"))
            .await
            .unwrap();
        assert!(
            !nl.addrs(&sbs[0])
                .await
                .unwrap()
                .iter()
                .any(|a| a.address == net("fd00:89::2/64"))
        );
    })
}

fn macvlan_moves_and_errors() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let nl = RtNetlink::new();
        let host = ns("mv-host");
        // A veth pair stands in for a physical parent.
        let mut parent = NewLink::new(
            "parent0",
            LinkKind::Veth {
                peer_name: "parent0-peer".into(),
                peer_ns: None,
                peer_mac: None,
            },
        );
        parent.up = true;
        let p = nl.link_add(&host, parent).await.unwrap();
        // Both ends up, or the parent has no carrier and its macvlans stay down.
        let peer = nl
            .link_by_name(&host, "parent0-peer")
            .await
            .unwrap()
            .unwrap();
        let up = LinkChange {
            up: Some(true),
            ..LinkChange::default()
        };
        nl.link_set(&host, peer.index, up).await.unwrap();
        let sbs = [ns("mv-a"), ns("mv-b")];
        for (i, sb) in sbs.iter().enumerate() {
            let name = format!("mv{i}");
            let mv = NewLink::new(
                &name,
                LinkKind::Macvlan {
                    parent: p,
                    mode: MacvlanMode::Bridge,
                },
            );
            let index = nl.link_add(&host, mv).await.unwrap();
            // Moved into the sandbox (the slow path) and renamed in the same request.
            let change = LinkChange {
                netns: Some(sb.clone()),
                name: Some("tmp0".into()),
                ..LinkChange::default()
            };
            nl.link_set(&host, index, change).await.unwrap();
            assert!(nl.link_by_name(&host, &name).await.unwrap().is_none());
            configure_sandbox(
                &nl,
                sb,
                "tmp0",
                &format!("10.90.0.{}/24", 2 + i),
                "10.90.0.1",
            )
            .await;
            let eth0 = nl.link_by_name(sb, "eth0").await.unwrap().unwrap();
            assert_eq!(eth0.kind.as_deref(), Some("macvlan"));
        }
        tcp_exchange(&sbs[0], &sbs[1], "10.90.0.3");

        let dup = NewLink::new("parent0", LinkKind::Bridge);
        let err = nl.link_add(&host, dup).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
        assert!(err.to_string().contains("parent0"), "names the link: {err}");
        assert_eq!(
            nl.link_del(&host, 999_999).await.unwrap_err().errno(),
            Some(libc::ENODEV)
        );
        nl.link_del(&host, p).await.unwrap();
        assert!(
            nl.link_by_name(&host, "parent0-peer")
                .await
                .unwrap()
                .is_none(),
            "both ends go"
        );
    })
}

/// The peer address a TCP listener at `addr` in `to` sees for a connection from
/// `from`; `None` when no connection is made within a second (dropped on the way).
fn peer_seen(from: &Namespace, to: &Namespace, addr: &str) -> Option<IpAddr> {
    peer_via(from, to, &format!("{addr}:7000"), &format!("{addr}:7000"))
}

/// The peer address a TCP listener at `listen` in `to` sees for a connection from
/// `from` to `connect` (a published port leading to the listener); `None` when no
/// connection is made within a second.
fn peer_via(from: &Namespace, to: &Namespace, listen: &str, connect: &str) -> Option<IpAddr> {
    let listen: SocketAddr = listen.parse().unwrap();
    let addr: SocketAddr = connect.parse().unwrap();
    let listener = to.run(move || TcpListener::bind(listen).unwrap()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let connected = from
        .run(move || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
        .unwrap();
    if !connected {
        return None;
    }
    for _ in 0..100 {
        if let Ok((_, peer)) = listener.accept() {
            return Some(peer.ip());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// wnet's nftables table, by traffic: an "outside" namespace routed through the test's
/// host namespace stands in for the internet. Masquerade, isolation between bridges,
/// internal networks, ICC off (not to the gateway); removing the networks empties
/// the table's sets, removing the table leaves another table as it was.
fn firewall_by_traffic() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        use wnet_netlink::firewall::{Firewall, NetworkRules};
        let nl = RtNetlink::new();
        let host = ns("fw-host");
        let out = ns("fw-out");
        let mut uplink = NewLink::new(
            "ho0",
            LinkKind::Veth {
                peer_name: "out0".into(),
                peer_ns: Some(out.clone()),
                peer_mac: None,
            },
        );
        uplink.up = true;
        let ho0 = nl.link_add(&host, uplink).await.unwrap();
        nl.addr_add(&host, ho0, net("198.51.100.1/24"))
            .await
            .unwrap();
        configure_sandbox(&nl, &out, "out0", "198.51.100.2/24", "198.51.100.1").await;
        // The outside's "internet" address; the outside has no route to 10.x but its
        // default back to the host, which must not be used for 10.x replies: take it
        // away, so that only masqueraded traffic comes back.
        let lo = nl.link_by_name(&out, "lo").await.unwrap().unwrap();
        nl.addr_add(&out, lo.index, net("203.0.113.10/32"))
            .await
            .unwrap();
        let mut default = Route::new(net("0.0.0.0/0"));
        default.gateway = Some("198.51.100.1".parse().unwrap());
        nl.route_del(&out, default).await.unwrap();
        let mut to_out = Route::new(net("203.0.113.0/24"));
        to_out.gateway = Some("198.51.100.2".parse().unwrap());
        nl.route_add(&host, to_out).await.unwrap();
        sysctl::set(&host, "net.ipv4.ip_forward", "1").unwrap();

        let front = bridge_network(&nl, &host, "wfront", 88, "fwa", 2).await;
        let back = bridge_network(&nl, &host, "wback", 87, "fwb", 1).await;
        let inner = bridge_network(&nl, &host, "winner", 86, "fwc", 1).await;
        let internet = "203.0.113.10";
        assert_eq!(
            peer_seen(&front[0], &out, internet),
            None,
            "no way back yet"
        );

        let fw = Firewall::new(host.clone());
        // Another table of the machine's, which wnet must leave alone.
        let foreign = "table ip other {
	chain c {
		type filter hook input priority filter; policy accept;
		ip saddr 192.0.2.1 counter drop
	}
}";
        host.run({
            let foreign = foreign.to_owned();
            move || {
                let mut child = std::process::Command::new("nft")
                    .args(["-f", "-"])
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(foreign.as_bytes())
                    .unwrap();
                assert!(child.wait().unwrap().success());
            }
        })
        .unwrap();
        let ruleset = |ns: &Namespace| {
            ns.run(|| {
                let o = std::process::Command::new("nft")
                    .args(["list", "ruleset"])
                    .output()
                    .unwrap();
                String::from_utf8(o.stdout).unwrap()
            })
            .unwrap()
        };
        let before = ruleset(&host);

        let rules = |bridge: &str, octet: u8, internal: bool, icc: bool| NetworkRules {
            bridge: bridge.into(),
            subnets: vec![net(&format!("10.{octet}.0.1/24"))],
            masquerade: true,
            internal,
            icc,
            snat_ipv4: None,
        };
        let nets = [
            rules("wfront", 88, false, true),
            rules("wback", 87, false, true),
            rules("winner", 86, true, true),
        ];
        // Another table's presence is not wnet's: nfnetlink tells the two apart.
        assert!(!fw.table_present().unwrap(), "no wnet table yet");
        for n in &nets {
            fw.add_network(n).await.unwrap();
        }
        assert!(
            fw.table_present().unwrap(),
            "wnet's table made with the first network"
        );
        let host_ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            peer_seen(&front[0], &out, internet),
            Some(host_ip),
            "masqueraded"
        );
        assert_eq!(peer_seen(&back[0], &out, internet), Some(host_ip));
        assert_eq!(
            peer_seen(&front[0], &back[0], "10.87.0.2"),
            None,
            "isolated"
        );
        assert_eq!(
            peer_seen(&back[0], &front[0], "10.88.0.2"),
            None,
            "isolated"
        );
        assert_eq!(
            peer_seen(&inner[0], &out, internet),
            None,
            "internal: no way out"
        );
        assert_eq!(
            peer_seen(&front[0], &inner[0], "10.86.0.2"),
            None,
            "internal: no way in"
        );
        assert!(
            peer_seen(&front[0], &front[1], "10.88.0.3").is_some(),
            "ICC on"
        );

        // ICC off: not between the sandboxes, still to their gateway and outside.
        fw.remove_network(&nets[0]).await.unwrap();
        let no_icc = rules("wfront", 88, false, false);
        fw.add_network(&no_icc).await.unwrap();
        assert_eq!(
            peer_seen(&front[0], &front[1], "10.88.0.3"),
            None,
            "ICC off"
        );
        assert!(
            peer_seen(&front[0], &host, "10.88.0.1").is_some(),
            "the gateway"
        );
        assert_eq!(peer_seen(&front[0], &out, internet), Some(host_ip));

        // Published ports: from outside (the source kept), from the host, from the
        // same bridge (hairpin: masqueraded to the gateway), from another network.
        use wnet_netlink::firewall::{PortMapping, Protocol};
        let port = |host_ip: Option<&str>, host_port| PortMapping {
            protocol: Protocol::Tcp,
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
            host_port,
            host_port_end: host_port,
            container_ip: "10.88.0.2".parse().unwrap(),
            container_port: 7000,
        };
        let ports = [port(None, 8080), port(Some("198.51.100.1"), 8081)];
        fw.publish(&[], &ports).await.unwrap();
        let outside: IpAddr = "198.51.100.2".parse().unwrap();
        let c1 = "10.88.0.2:7000";
        assert_eq!(
            peer_via(&out, &front[0], c1, "198.51.100.1:8080"),
            Some(outside)
        );
        assert_eq!(
            peer_via(&out, &front[0], c1, "198.51.100.1:8081"),
            Some(outside)
        );
        assert!(
            peer_via(&host, &front[0], c1, "198.51.100.1:8080").is_some(),
            "from the host"
        );
        assert_eq!(
            peer_via(&front[1], &front[0], c1, "198.51.100.1:8080"),
            Some("10.88.0.1".parse().unwrap()),
            "hairpin, past ICC off"
        );
        assert!(
            peer_via(&back[0], &front[0], c1, "10.88.0.1:8080").is_some(),
            "from another network"
        );
        assert_eq!(
            peer_via(&back[0], &front[0], c1, "10.88.0.1:8081"),
            None,
            "8081 only on 198.51.100.1"
        );
        assert_eq!(
            peer_via(&inner[0], &front[0], c1, "10.86.0.1:8080"),
            None,
            "not from an internal network"
        );

        // A start-up restore writes the same table again.
        let listed = fw.list().await.unwrap();
        fw.reset(&[no_icc.clone(), nets[1].clone(), nets[2].clone()], &ports)
            .await
            .unwrap();
        // The same elements, maybe listed in another order.
        let tokens = |t: &str| {
            let mut v: Vec<String> = t
                .split_whitespace()
                .map(|w| w.trim_end_matches(',').to_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(tokens(&fw.list().await.unwrap()), tokens(&listed));
        fw.publish(&ports, &[]).await.unwrap();
        assert_eq!(
            peer_via(&out, &front[0], c1, "198.51.100.1:8080"),
            None,
            "unpublished"
        );

        for n in [&no_icc, &nets[1], &nets[2]] {
            fw.remove_network(n).await.unwrap();
        }
        let emptied = fw.list().await.unwrap();
        assert!(!emptied.contains("elements"), "no element left: {emptied}");
        assert!(
            peer_seen(&front[0], &back[0], "10.87.0.2").is_some(),
            "no rules apply"
        );
        fw.remove_table().await.unwrap();
        assert_eq!(fw.list().await.unwrap(), "");
        assert_eq!(
            ruleset(&host),
            before,
            "only wnet's table went, the other as it was"
        );
    })
}

fn sysctl_is_scoped_to_its_namespace_and_allow_list() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let host = ns("sysctl-host");
        let sb = ns("sysctl-sb");
        sysctl::set(&sb, "net.ipv4.ip_forward", "1").unwrap();
        assert_eq!(sysctl::get(&sb, "net.ipv4.ip_forward").unwrap(), "1");
        assert_eq!(sysctl::get(&host, "net.ipv4.ip_forward").unwrap(), "0");
        sysctl::set(&sb, "net.ipv4.conf.lo.rp_filter", "2").unwrap();
        assert_eq!(sysctl::get(&sb, "net.ipv4.conf.lo.rp_filter").unwrap(), "2");
        let err = sysctl::set(&sb, "kernel.core_pattern", "|/evil").unwrap_err();
        assert!(err.to_string().contains("not an allowed key"), "{err}");
    })
}

/// Whether the kernel adds this prefix by itself (IPv6 link-local and multicast),
/// a moment after a link comes up: not something a comparison should wait on.
fn kernel_own(net: &IpNet) -> bool {
    match net {
        IpNet::V6(n) => {
            let first = n.addr().segments()[0];
            first & 0xffc0 == 0xfe80 || first & 0xff00 == 0xff00
        }
        IpNet::V4(_) => false,
    }
}

/// Links (name, up), addresses and routes of a namespace, sorted: what a before/after
/// comparison needs.
async fn state(nl: &RtNetlink, ns: &Namespace) -> (Vec<(String, bool)>, Vec<String>, Vec<String>) {
    let mut links: Vec<(String, bool)> = nl
        .links(ns)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.up))
        .collect();
    let mut addrs: Vec<String> = nl
        .addrs(ns)
        .await
        .unwrap()
        .iter()
        .filter(|a| !kernel_own(&a.address))
        .map(|a| format!("{}@{}", a.address, a.index))
        .collect();
    let mut routes: Vec<String> = nl
        .routes(ns)
        .await
        .unwrap()
        .iter()
        .filter(|r| !kernel_own(&r.destination))
        .map(|r| format!("{r:?}"))
        .collect();
    links.sort();
    addrs.sort();
    routes.sort();
    (links, addrs, routes)
}

fn sandboxes_configured_by_the_host_and_undone_exactly() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let nl = Arc::new(RtNetlink::new());
        let host = ns("osl-host");
        let os = KernelSandboxes::new(nl.clone(), host.clone(), Path::new("/run/wnet-osl"));
        let mut bridge = NewLink::new("br0", LinkKind::Bridge);
        bridge.up = true;
        let br = nl.link_add(&host, bridge).await.unwrap();
        nl.addr_add(&host, br, net("10.89.0.1/24")).await.unwrap();

        let mut sandboxes = Vec::new();
        for i in 0..2u8 {
            let sb = os.create(&format!("c{i}"), None).await.unwrap();
            assert!(sb.owned && Path::new(&sb.key).exists(), "{sb:?}");
            let sb_ns = Namespace::adopt(Path::new(&sb.key)).unwrap();
            // The driver's part: a veth whose peer is created inside the sandbox.
            let mut veth = NewLink::new(
                format!("vosl{i}"),
                LinkKind::Veth {
                    peer_name: format!("tmp{i}"),
                    peer_ns: Some(sb_ns.clone()),
                    peer_mac: None,
                },
            );
            veth.master = Some(br);
            veth.up = true;
            nl.link_add(&host, veth).await.unwrap();
            let before = state(&nl, &sb_ns).await;
            let iface = Interface {
                src_name: format!("tmp{i}"),
                dst_name: "eth0".into(),
                in_sandbox: true,
                mac: Some(MacAddress([0x02, 0x42, 10, 89, 0, 2 + i])),
                ipv4: Some(format!("10.89.0.{}/24", 2 + i).parse().unwrap()),
                ipv6: None,
                gateway: Some("10.89.0.1".parse().unwrap()),
                gateway_ipv6: None,
                routes: vec![StaticRoute {
                    destination: net("198.51.100.0/24"),
                    route_type: RouteType::NextHop,
                    next_hop: Some("10.89.0.1".parse().unwrap()),
                }],
            };
            os.attach(&sb, &iface).await.unwrap();
            let eth0 = nl.link_by_name(&sb_ns, "eth0").await.unwrap().unwrap();
            assert!(eth0.up);
            assert_eq!(eth0.mac, iface.mac);
            let routes = nl.routes(&sb_ns).await.unwrap();
            assert!(
                routes.iter().any(|r| r.destination == net("0.0.0.0/0")),
                "{routes:?}"
            );
            assert!(
                routes
                    .iter()
                    .any(|r| r.destination == net("198.51.100.0/24")),
                "{routes:?}"
            );
            sandboxes.push((sb, sb_ns, iface, before));
        }
        tcp_exchange(&sandboxes[0].1, &sandboxes[1].1, "10.89.0.3");

        // An interface created in the host namespace is moved in, and moved back out.
        let (sb, sb_ns, _, _) = &sandboxes[0];
        let mv = NewLink::new(
            "macmove",
            LinkKind::Macvlan {
                parent: br,
                mode: MacvlanMode::Bridge,
            },
        );
        nl.link_add(&host, mv).await.unwrap();
        let moved = Interface {
            src_name: "macmove".into(),
            dst_name: "eth1".into(),
            in_sandbox: false,
            mac: None,
            ipv4: Some("10.89.0.9/24".parse().unwrap()),
            ipv6: None,
            gateway: None,
            gateway_ipv6: None,
            routes: Vec::new(),
        };
        os.attach(sb, &moved).await.unwrap();
        assert!(nl.link_by_name(&host, "macmove").await.unwrap().is_none());
        assert!(nl.link_by_name(sb_ns, "eth1").await.unwrap().is_some());
        os.detach(sb, &moved).await.unwrap();
        assert!(nl.link_by_name(sb_ns, "eth1").await.unwrap().is_none());
        assert!(
            nl.link_by_name(&host, "macmove").await.unwrap().is_some(),
            "back in the host namespace"
        );

        // Detach undoes exactly what attach did.
        for (sb, sb_ns, iface, before) in &sandboxes {
            os.detach(sb, iface).await.unwrap();
            assert_eq!(&state(&nl, sb_ns).await, before);
        }
        // Removing a sandbox wnet made removes its namespace; an adopted one stays.
        let adopted_ns = ns("osl-adopted");
        let adopted = os
            .create("adopted", Some(&adopted_ns.path().display().to_string()))
            .await
            .unwrap();
        assert!(!adopted.owned);
        os.remove(&adopted).await.unwrap();
        assert!(adopted_ns.path().exists());
        for (sb, _, _, _) in sandboxes {
            os.remove(&sb).await.unwrap();
            assert!(!Path::new(&sb.key).exists());
        }
    })
}

/// Two tunnel ends over a veth underlay, with learning off and no flooding: traffic
/// crosses only because of the ARP and forwarding entries programmed, so it shows
/// that VXLAN devices and both kinds of neighbour entry work.
fn vxlan_with_programmed_neighbours_carries_traffic() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {
        let nl = RtNetlink::new();
        let ends = [ns("vtep-a"), ns("vtep-b")];
        let underlay = NewLink::new(
            "under",
            LinkKind::Veth {
                peer_name: "under".into(),
                peer_ns: Some(ends[1].clone()),
                peer_mac: None,
            },
        );
        nl.link_add(&ends[0], underlay).await.unwrap();
        let mut vx = Vec::new();
        for (i, end) in ends.iter().enumerate() {
            let under = nl.link_by_name(end, "under").await.unwrap().unwrap().index;
            nl.addr_add(end, under, net(&format!("192.168.77.{}/24", i + 1)))
                .await
                .unwrap();
            let up = LinkChange {
                up: Some(true),
                ..LinkChange::default()
            };
            nl.link_set(end, under, up.clone()).await.unwrap();
            let mut v = NewLink::new(
                "vx42",
                LinkKind::Vxlan(Vxlan {
                    vni: 42,
                    parent: Some(under),
                    local: Some(format!("192.168.77.{}", i + 1).parse().unwrap()),
                    remote: None,
                    port: None,
                    learning: false,
                }),
            );
            v.up = true;
            let index = nl.link_add(end, v).await.unwrap();
            let link = nl.link_by_name(end, "vx42").await.unwrap().unwrap();
            assert_eq!(link.kind.as_deref(), Some("vxlan"));
            nl.addr_add(end, index, net(&format!("10.42.0.{}/24", i + 1)))
                .await
                .unwrap();
            nl.link_set(end, 1, up).await.unwrap();
            vx.push((index, link.mac.unwrap()));
        }
        let mut programmed = Vec::new();
        for (i, end) in ends.iter().enumerate() {
            let other = 1 - i;
            let arp = Neighbour {
                index: vx[i].0,
                mac: vx[other].1,
                ip: Some(format!("10.42.0.{}", other + 1).parse().unwrap()),
                fdb: false,
            };
            let fdb = Neighbour {
                index: vx[i].0,
                mac: vx[other].1,
                ip: Some(format!("192.168.77.{}", other + 1).parse().unwrap()),
                fdb: true,
            };
            nl.neigh_add(end, arp).await.unwrap();
            nl.neigh_add(end, fdb).await.unwrap();
            let err = nl.neigh_add(end, arp).await.unwrap_err();
            assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
            let listed = nl.neighbours(end, vx[i].0).await.unwrap();
            assert!(listed.contains(&arp) && listed.contains(&fdb), "{listed:?}");
            programmed.push((arp, fdb));
        }
        tcp_exchange(&ends[0], &ends[1], "10.42.0.2");
        tcp_exchange(&ends[1], &ends[0], "10.42.0.1");

        for (end, (arp, fdb)) in ends.iter().zip(programmed) {
            nl.neigh_del(end, arp).await.unwrap();
            nl.neigh_del(end, fdb).await.unwrap();
            let left = nl.neighbours(end, arp.index).await.unwrap();
            assert!(!left.contains(&arp) && !left.contains(&fdb), "{left:?}");
        }
        // An ARP entry needs the address it is for.
        let bad = Neighbour {
            index: vx[0].0,
            mac: vx[1].1,
            ip: None,
            fdb: false,
        };
        assert!(nl.neigh_add(&ends[0], bad).await.is_err());
        for end in ends {
            end.remove().unwrap();
        }
    })
}

fn main() {
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("kernel tests: {e}");
        std::process::exit(1);
    }
    let tests: [(&str, Test); 8] = [
        ("firewall_by_traffic", firewall_by_traffic),
        (
            "vxlan_with_programmed_neighbours_carries_traffic",
            vxlan_with_programmed_neighbours_carries_traffic,
        ),
        (
            "sandboxes_configured_by_the_host_and_undone_exactly",
            sandboxes_configured_by_the_host_and_undone_exactly,
        ),
        ("namespaces", namespaces),
        (
            "bridge_veth_in_place_and_traffic",
            bridge_veth_in_place_and_traffic,
        ),
        ("ipv6_and_routes", ipv6_and_routes),
        ("macvlan_moves_and_errors", macvlan_moves_and_errors),
        (
            "sysctl_is_scoped_to_its_namespace_and_allow_list",
            sysctl_is_scoped_to_its_namespace_and_allow_list,
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
