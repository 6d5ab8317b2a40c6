//! wnet's firewall: one nftables table of its own, `inet wnet`, whose rules never
//! change; networks are elements in its sets. Adding or removing a network is one
//! `nft -f -` run, one kernel transaction: all of it or none. wnet never inserts into
//! another table nor lists the whole ruleset.
//!
//! The layout follows `shared/reference/nftables-notes.md`, verified here by traffic:
//! - masquerade: a network's subnets leaving through any interface but a wnet bridge;
//! - isolation: nothing forwarded from one wnet bridge to another;
//! - internal: nothing forwarded into or out of an internal network's bridge;
//! - ICC off: nothing forwarded between two ports of one bridge. Bridged frames reach
//!   the `inet` hooks only with `br_netfilter` on (`net.bridge.bridge-nf-call-iptables`,
//!   as Docker's ICC needs it too); without it inter-container traffic is not stopped;
//! - published ports: a map from (host address,) protocol and port to a container's
//!   address and port, looked up for traffic to any local address (from outside, and
//!   from the host itself); the published traffic passes ICC and isolation, and is
//!   masqueraded when it comes back into its own bridge (hairpin), so that a container
//!   reaches another's published port on the same network;
//! - the host reaching a published port through 127.0.0.1, as Docker without its
//!   userland proxy: the bridge of an IPv4 network routes loopback sources
//!   (`route_localnet`), that traffic is masqueraded to the bridge's address, and a
//!   packet from any wnet bridge to 127.0.0.0/8 is dropped before routing (so a
//!   container cannot reach the host's loopback services, CVE-2020-8558).
//!
//! Not done: a container reaching its own published port (needs hairpin mode on its
//! bridge port), and ::1 (IPv6 has no `route_localnet`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use wnet_types::IpNet;

use crate::{Namespace, NetlinkError, Result};

/// The table wnet owns.
pub const TABLE: &str = "wnet";

pub use wnet_types::firewall::NetworkRules;
pub use wnet_types::ports::{PortMapping, Protocol};

/// The table's sets and chains, and its rules. Sent with every batch: sets and chains
/// that exist are left as they are (their elements kept), and the chains' rules are
/// flushed and written again in the same transaction, so a wnet that changed its rules
/// replaces the old ones and none is ever doubled.
fn skeleton() -> String {
    format!(
        "table inet {TABLE} {{
  set bridges {{ type ifname; }}
  set internal {{ type ifname; }}
  set self_pairs {{ type ifname . ifname; }}
  set noicc_pairs {{ type ifname . ifname; }}
  set masq4 {{ type ipv4_addr; flags interval; }}
  map snat4 {{ type ipv4_addr : ipv4_addr; flags interval; }}
  set masq6 {{ type ipv6_addr; flags interval; }}
  set net_self4 {{ type ipv4_addr . ifname; flags interval; }}
  set net_self6 {{ type ipv6_addr . ifname; flags interval; }}
  map pub4 {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub4ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
  map pub6 {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
  map pub6ip {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
  chain forward {{ type filter hook forward priority filter; policy accept; }}
  chain guard {{ type filter hook prerouting priority raw; policy accept; }}
}}
flush chain inet {TABLE} prerouting
flush chain inet {TABLE} output
flush chain inet {TABLE} postrouting
flush chain inet {TABLE} forward
flush chain inet {TABLE} guard
{dnat}
add rule inet {TABLE} guard iifname @bridges ip daddr 127.0.0.0/8 drop
add rule inet {TABLE} postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridges masquerade
add rule inet {TABLE} postrouting ct status dnat ip saddr . oifname @net_self4 masquerade
add rule inet {TABLE} postrouting ct status dnat ip6 saddr . oifname @net_self6 masquerade
add rule inet {TABLE} postrouting oifname != @bridges snat ip to ip saddr map @snat4
add rule inet {TABLE} postrouting ip saddr @masq4 oifname != @bridges masquerade
add rule inet {TABLE} postrouting ip6 saddr @masq6 oifname != @bridges masquerade
add rule inet {TABLE} forward iifname @internal iifname . oifname != @self_pairs drop
add rule inet {TABLE} forward oifname @internal iifname . oifname != @self_pairs drop
add rule inet {TABLE} forward ct status dnat accept
add rule inet {TABLE} forward iifname . oifname @noicc_pairs drop
add rule inet {TABLE} forward iifname @bridges oifname @bridges iifname . oifname != @self_pairs drop
",
        dnat = dnat_rules()
    )
}

/// Published ports, for traffic from outside (prerouting) and from the host
/// (output): an address-specific mapping first, then one for any local address.
fn dnat_rules() -> String {
    let mut out = String::new();
    for chain in ["prerouting", "output"] {
        for (family, map) in [("ip", "pub4"), ("ip6", "pub6")] {
            let match_ = format!(
                "add rule inet {TABLE} {chain} meta nfproto {} fib daddr type local meta l4proto {{ tcp, udp, sctp }}",
                if family == "ip" { "ipv4" } else { "ipv6" }
            );
            let _ = writeln!(
                out,
                "{match_} dnat {family} to {family} daddr . meta l4proto . th dport map @{map}ip"
            );
            let _ = writeln!(
                out,
                "{match_} dnat {family} to meta l4proto . th dport map @{map}"
            );
        }
    }
    out
}

/// The element commands of published ports: `verb` is `add` or `delete`.
fn port_elements(verb: &str, ports: &[PortMapping]) -> String {
    let mut out = String::new();
    for p in ports {
        let v6 = p.container_ip.is_ipv6();
        let map = match (v6, p.host_ip.is_some()) {
            (false, false) => "pub4",
            (false, true) => "pub4ip",
            (true, false) => "pub6",
            (true, true) => "pub6ip",
        };
        let host = p.host_ip.map(|ip| format!("{ip} . ")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{verb} element inet {TABLE} {map} {{ {host}{} . {} : {} . {} }}",
            p.protocol, p.host_port, p.container_ip, p.container_port
        );
    }
    out
}

/// The map and the kernel's layout of a published port's element: every field of the
/// concatenation padded to 4 bytes (`ipv4_addr . inet_proto . inet_service`).
fn port_element(p: &PortMapping) -> (&'static str, crate::nfnl::Element) {
    fn push(buf: &mut Vec<u8>, field: &[u8]) {
        buf.extend_from_slice(field);
        buf.resize(buf.len().next_multiple_of(4), 0);
    }
    fn ip(buf: &mut Vec<u8>, a: std::net::IpAddr) {
        match a {
            std::net::IpAddr::V4(a) => push(buf, &a.octets()),
            std::net::IpAddr::V6(a) => push(buf, &a.octets()),
        }
    }
    let proto = p.protocol.number();
    let mut key = Vec::new();
    if let Some(h) = p.host_ip {
        ip(&mut key, h);
    }
    push(&mut key, &[proto]);
    push(&mut key, &p.host_port.to_be_bytes());
    let mut data = Vec::new();
    ip(&mut data, p.container_ip);
    push(&mut data, &p.container_port.to_be_bytes());
    let map = match (p.container_ip.is_ipv6(), p.host_ip.is_some()) {
        (false, false) => "pub4",
        (false, true) => "pub4ip",
        (true, false) => "pub6",
        (true, true) => "pub6ip",
    };
    (map, (key, Some(data)))
}

/// Checks published ports: a host address of the container's family.
fn check_ports(ports: &[PortMapping]) -> Result<()> {
    for p in ports {
        if p.host_ip
            .is_some_and(|h| h.is_ipv6() != p.container_ip.is_ipv6())
        {
            return Err(NetlinkError::Other {
                op: "firewall".to_owned(),
                reason: format!(
                    "port {}/{}: host address {:?} and container address {} are of different families",
                    p.host_port, p.protocol, p.host_ip, p.container_ip
                ),
            });
        }
    }
    Ok(())
}

/// The element commands of a network: `verb` is `add` or `delete`.
fn elements(verb: &str, n: &NetworkRules) -> String {
    let mut out = String::new();
    let b = &n.bridge;
    let mut line = |set: &str, elem: &str| {
        let _ = writeln!(out, "{verb} element inet {TABLE} {set} {{ {elem} }}");
    };
    line("bridges", &format!("\"{b}\""));
    line("self_pairs", &format!("\"{b}\" . \"{b}\""));
    if n.internal {
        line("internal", &format!("\"{b}\""));
    }
    if !n.icc {
        line("noicc_pairs", &format!("\"{b}\" . \"{b}\""));
    }
    if !n.internal {
        for s in &n.subnets {
            let set = if matches!(s, IpNet::V4(_)) {
                "net_self4"
            } else {
                "net_self6"
            };
            line(set, &format!("{} . \"{b}\"", s.trunc()));
        }
    }
    if n.masquerade && !n.internal {
        for s in &n.subnets {
            match (s, n.snat_ipv4) {
                (IpNet::V4(_), Some(to)) => line("snat4", &format!("{} : {to}", s.trunc())),
                (IpNet::V4(_), None) => line("masq4", &s.trunc().to_string()),
                (IpNet::V6(_), _) => line("masq6", &s.trunc().to_string()),
            }
        }
    }
    out
}

/// Checks what goes into the ruleset's text: a bridge name the kernel takes and that
/// cannot break out of its quotes.
fn check(n: &NetworkRules) -> Result<()> {
    if !wnet_core::valid_ifname(&n.bridge) || n.bridge.contains(['"', '\\', ';', '{', '}']) {
        return Err(NetlinkError::Other {
            op: "firewall".to_owned(),
            reason: format!("`{}` is not a bridge name the firewall takes", n.bridge),
        });
    }
    Ok(())
}

/// The firewall of one namespace (the host's).
#[derive(Debug, Clone)]
pub struct Firewall {
    ns: Namespace,
    program: String,
    /// The nfnetlink socket published ports go through, once opened.
    nfnl: std::sync::Arc<std::sync::Mutex<Option<std::os::fd::OwnedFd>>>,
}

impl Firewall {
    /// The firewall of `ns`, through Debian's `nft`.
    pub fn new(ns: Namespace) -> Self {
        Firewall {
            ns,
            program: "nft".to_owned(),
            nfnl: std::sync::Arc::default(),
        }
    }

    /// The port changes as one nfnetlink batch on the firewall's socket: a request
    /// costs two system calls and no thread.
    fn publish_direct(&self, old: &[PortMapping], new: &[PortMapping]) -> std::io::Result<()> {
        use crate::nfnl::{Element, Op};
        let mut groups: Vec<(Op, &'static str, Vec<Element>)> = Vec::new();
        for (op, ports) in [(Op::Delete, old), (Op::Add, new)] {
            for p in ports {
                let (map, elem) = port_element(p);
                match groups.iter_mut().find(|(o, m, _)| *o == op && *m == map) {
                    Some((_, _, v)) => v.push(elem),
                    None => groups.push((op, map, vec![elem])),
                }
            }
        }
        let requests: Vec<crate::nfnl::Request<'_>> = groups
            .iter()
            .map(|(op, map, elems)| (*op, *map, elems.as_slice()))
            .collect();
        self.over_nfnl(|fd| crate::nfnl::set_elements(fd, TABLE, &requests))
    }

    /// Whether wnet's table is in the namespace, asked over nfnetlink.
    pub fn table_present(&self) -> std::io::Result<bool> {
        self.over_nfnl(|fd| crate::nfnl::table_exists(fd, TABLE))
    }

    /// Runs `f` on the firewall's nfnetlink socket, opened in its namespace the first
    /// time and kept (it stays in the namespace it was made in). A socket that failed
    /// is dropped, so that the next call opens a fresh one.
    fn over_nfnl<R>(
        &self,
        f: impl FnOnce(&std::os::fd::OwnedFd) -> std::io::Result<R>,
    ) -> std::io::Result<R> {
        let mut socket = self
            .nfnl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fd = match socket.take() {
            Some(fd) => fd,
            None => self
                .ns
                .run(crate::nfnl::socket)
                .map_err(|e| std::io::Error::other(e.to_string()))??,
        };
        let result = f(&fd);
        if result.is_ok() {
            *socket = Some(fd);
        }
        result
    }

    /// Whether `nft` can be run here (Debian's nftables is installed).
    pub fn installed() -> bool {
        Command::new("nft")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Adds a network's rules.
    pub async fn add_network(&self, n: &NetworkRules) -> Result<()> {
        self.change(None, Some(n)).await
    }

    /// Removes a network's rules (the same `n` that added them).
    pub async fn remove_network(&self, n: &NetworkRules) -> Result<()> {
        self.change(Some(n), None).await
    }

    /// Replaces a network's rules `old` by `new` in one transaction; either may be
    /// none.
    pub async fn change(
        &self,
        old: Option<&NetworkRules>,
        new: Option<&NetworkRules>,
    ) -> Result<()> {
        let mut batch = String::new();
        let mut bridge = "";
        if let Some(o) = old {
            check(o)?;
            batch += &elements("delete", o);
            bridge = &o.bridge;
        }
        if let Some(n) = new {
            check(n)?;
            batch += &elements("add", n);
            bridge = &n.bridge;
        }
        self.apply_elements(format!("firewall rules of bridge {bridge}"), batch)
            .await?;
        match (old, new) {
            (_, Some(n)) => self.localnet(n, true),
            // Best effort: the bridge is usually gone with its network.
            (Some(o), None) => {
                let _ = self.localnet(o, false);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// Lets the bridge of a network that is reachable from the host route loopback
    /// sources (`route_localnet`), for published ports through 127.0.0.1; off again
    /// when its rules go.
    fn localnet(&self, n: &NetworkRules, on: bool) -> Result<()> {
        let wanted = on && !n.internal && n.subnets.iter().any(|s| matches!(s, IpNet::V4(_)));
        let key = format!("net.ipv4.conf.{}.route_localnet", n.bridge);
        let value = if wanted { "1" } else { "0" };
        if crate::sysctl::get(&self.ns, &key)? != value {
            crate::sysctl::set(&self.ns, &key, value)?;
        }
        Ok(())
    }

    /// Replaces an endpoint's published ports `old` by `new` in one transaction: over
    /// nfnetlink (tens of microseconds), or through `nft` when that fails (no table
    /// yet: the skeleton comes with it).
    pub async fn publish(&self, old: &[PortMapping], new: &[PortMapping]) -> Result<()> {
        check_ports(new)?;
        match self.publish_direct(old, new) {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "published ports over nfnetlink failed; through nft");
            }
        }
        let batch = port_elements("delete", old) + &port_elements("add", new);
        self.apply_elements(
            format!("published ports ({} → {})", old.len(), new.len()),
            batch,
        )
        .await
    }

    /// Writes the table afresh holding exactly `networks` and `ports`: what a start-up
    /// restores.
    pub async fn reset(&self, networks: &[NetworkRules], ports: &[PortMapping]) -> Result<()> {
        let mut batch =
            format!("add table inet {TABLE}\ndelete table inet {TABLE}\n") + &skeleton();
        for n in networks {
            check(n)?;
            batch += &elements("add", n);
        }
        check_ports(ports)?;
        batch += &port_elements("add", ports);
        self.apply("restore the firewall table".to_owned(), batch)
            .await?;
        for n in networks {
            self.localnet(n, true)?;
        }
        Ok(())
    }

    /// Removes wnet's table, if there is one.
    pub async fn remove_table(&self) -> Result<()> {
        let batch = format!("add table inet {TABLE}\ndelete table inet {TABLE}\n");
        self.apply("remove the firewall table".to_owned(), batch)
            .await
    }

    /// The table as `nft list table` prints it; empty when there is none.
    pub async fn list(&self) -> Result<String> {
        let out = self
            .nft(
                "list the firewall table".to_owned(),
                vec!["list".into(), "table".into(), "inet".into(), TABLE.into()],
                None,
            )
            .await;
        match out {
            Ok(text) => Ok(text),
            Err(NetlinkError::Other { reason, .. }) if reason.contains("No such file") => {
                Ok(String::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Element changes alone first: the table's sets and rules are there as long as
    /// wnet's table is, and writing them costs most of an `nft` run (≈17 of 21 ms
    /// here). When that fails (no table yet, a table of an older wnet lacking a set, or
    /// a bad element) the same changes go again behind the skeleton, which settles the
    /// first two and fails the third.
    ///
    /// On a host with no table yet (the first network) the elements-alone run is not
    /// tried: nfnetlink says so in tens of microseconds, where that run took one `nft`
    /// start (≈4 ms) to fail.
    async fn apply_elements(&self, op: String, elements: String) -> Result<()> {
        let no_table = matches!(self.table_present(), Ok(false));
        if !no_table && self.apply(op.clone(), elements.clone()).await.is_ok() {
            return Ok(());
        }
        self.apply(op, skeleton() + &elements).await
    }

    async fn apply(&self, op: String, batch: String) -> Result<()> {
        self.nft(op, vec!["-f".into(), "-".into()], Some(batch))
            .await
            .map(drop)
    }

    /// Runs `nft` inside the namespace (a child forked from a thread that entered it),
    /// off the async runtime's threads.
    async fn nft(&self, op: String, args: Vec<String>, stdin: Option<String>) -> Result<String> {
        let ns = self.ns.clone();
        let program = self.program.clone();
        let what = op.clone();
        let run = move || {
            ns.run(move || -> std::io::Result<std::process::Output> {
                let mut child = Command::new(&program)
                    .args(&args)
                    .stdin(if stdin.is_some() {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?;
                if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
                    pipe.write_all(text.as_bytes())?;
                }
                child.wait_with_output()
            })
        };
        let output = tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| NetlinkError::Other {
                op: what.clone(),
                reason: e.to_string(),
            })??
            .map_err(|e| NetlinkError::Other {
                op: what.clone(),
                reason: if e.kind() == std::io::ErrorKind::NotFound {
                    "`nft` is not installed: install Debian's nftables package".to_owned()
                } else {
                    format!("cannot run nft: {e}")
                },
            })?;
        if !output.status.success() {
            return Err(NetlinkError::Other {
                op,
                reason: format!(
                    "nft failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(internal: bool, icc: bool) -> NetworkRules {
        NetworkRules {
            bridge: "br-1".into(),
            subnets: vec![
                "10.88.0.1/16".parse().unwrap(),
                "fd00::1/64".parse().unwrap(),
            ],
            masquerade: true,
            internal,
            icc,
            snat_ipv4: None,
        }
    }

    #[test]
    fn a_network_is_elements_only() {
        let add = elements("add", &rules(false, true));
        assert!(
            add.contains("add element inet wnet masq4 { 10.88.0.0/16 }"),
            "{add}"
        );
        assert!(
            add.contains("add element inet wnet masq6 { fd00::/64 }"),
            "{add}"
        );
        assert!(!add.contains("internal") && !add.contains("noicc"), "{add}");
        let internal = elements("delete", &rules(true, false));
        assert!(internal.contains("delete element inet wnet internal { \"br-1\" }"));
        assert!(internal.contains("noicc_pairs { \"br-1\" . \"br-1\" }"));
        assert!(
            !internal.contains("masq"),
            "an internal network goes nowhere: {internal}"
        );
    }

    #[test]
    fn a_name_that_could_break_out_of_its_quotes_is_refused() {
        for bad in ["br\"x", "br;x", "", "sixteen-chars-xx"] {
            let n = NetworkRules {
                bridge: bad.into(),
                ..rules(false, true)
            };
            assert!(check(&n).is_err(), "{bad}");
        }
    }
}
