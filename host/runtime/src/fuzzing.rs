//! The properties the fuzz targets (`fuzz/`) check, here so that their seeds (and
//! every finding, once fixed) are replayed by `cargo test` (tests/fuzz_corpus.rs)
//! against the same checks. Each
//! function panics when the property does not hold, and only then.

use crate::manifest::{Capability, Manifest, SysctlGrant};

/// A driver's manifest, as a third-party author may write it: any bytes are refused
/// or accepted, never a panic, and an accepted manifest holds what
/// [`Manifest::parse`] promises to have checked.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Manifest::parse(text) else {
        return;
    };
    assert!(!m.name.is_empty() && m.name.len() <= 64, "{:?}", m.name);
    assert!(m.limits.memory_mib != Some(0));
    assert!(m.limits.call_timeout_ms != Some(0));
    if m.grants(Capability::Links) {
        assert!(!m.links.prefixes.is_empty() && !m.links.kinds.is_empty());
    }
    for p in &m.links.prefixes {
        assert!(!p.is_empty() && p.len() <= 12 && !p.contains('/'), "{p:?}");
    }
    if m.grants(Capability::Sysctl) {
        assert!(!m.sysctl.keys.is_empty());
    }
}

/// The check a driver's `sysctl.set` passes: its grant's pattern and the host's
/// allow-list. Whatever key a driver sends, one that passes both names a file under
/// /proc/sys/net and nowhere else: no `/`, no NUL, no empty or `..` component.
/// `data` is `pattern NUL key` (a key alone is checked against a usual grant).
pub fn sysctl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, key) = text
        .split_once('\0')
        .unwrap_or(("net.ipv4.conf.*.rp_filter", text));
    let grant = SysctlGrant {
        keys: vec![pattern.to_owned()],
    };
    if grant.allows(key) && wnet_netlink::sysctl::allowed(key) {
        assert!(key.starts_with("net."), "{key:?}");
        assert!(!key.contains('/') && !key.contains('\0'), "{key:?}");
        assert!(
            key.split('.').all(|c| !c.is_empty() && c != ".."),
            "{key:?}"
        );
    }
}

/// The checks of a driver's arguments to the host besides sysctl keys: a link name it
/// asks for (`links.create`, `set`'s new name) and a `kv` key. `data` is a selector
/// byte, then `prefix NUL name` for a link (a name alone is checked against `hx`) or
/// the key. A name that passes is one the kernel takes (1 to 15 bytes; no `/`, `:`,
/// whitespace or NUL; not `.` or `..`) within the driver's prefix, and its ledger key
/// `<namespace>/<name>` splits back into the two; a key that passes is 1 to 1024 bytes.
pub fn host_args(data: &[u8]) {
    use crate::host::{kernel, kv};
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        let (prefix, name) = text.split_once('\0').unwrap_or(("hx", text));
        if kernel::link_name(name, &[prefix.to_owned()]).is_ok() {
            assert!(name.starts_with(prefix), "{name:?} {prefix:?}");
            assert!(!name.is_empty() && name.len() <= 15, "{name:?}");
            assert!(name != "." && name != "..");
            assert!(
                !name
                    .bytes()
                    .any(|b| matches!(b, b'/' | b':' | 0) || b.is_ascii_whitespace()),
                "{name:?}"
            );
            let key = format!("host/{name}");
            assert_eq!(key.rsplit_once('/'), Some(("host", name)));
        }
    } else if kv::check_key(text).is_ok() {
        assert!(!text.is_empty() && text.len() <= kv::MAX_KEY);
    }
}

/// A driver's answer to `join`, built from the fuzz bytes and taken as the host takes
/// it: held to the answer limits (small ones here, 16 entries and 256 bytes, so that
/// oversize is reached), lifted into the contract's types, checked by the controller.
/// Never a panic; refused for size only when something is over a limit; and an answer
/// that passes all three has at most 16 routes, names the kernel takes, usable
/// gateways, and next hops that fit their route's type and family.
pub fn join_answer(data: &[u8]) {
    use crate::answer::Answer;
    use crate::bindings::convert::from_wit;
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(mut answer) = join_info(&mut u) else {
        return;
    };
    let limits = crate::instance::Limits::least();
    let strings: Vec<usize> = answer
        .interface_name
        .iter()
        .flat_map(|n| [Some(&n.src_name), Some(&n.dst_prefix), n.dst_name.as_ref()])
        .flatten()
        .map(String::len)
        .collect();
    let over = answer.static_routes.len() > 16 || strings.iter().any(|&n| n > 256);
    if answer.fit(&limits).is_err() {
        assert!(over, "refused for size though within the limits");
        return;
    }
    assert!(!over, "over a limit, not refused");
    let Ok(info) = from_wit::join_info(answer) else {
        return;
    };
    if wnet_core::check_join_info(&info).is_err() {
        return;
    }
    if let Some(n) = &info.interface_name {
        assert!(wnet_core::valid_ifname(&n.src_name), "{n:?}");
        assert!(
            n.dst_name.as_deref().is_none_or(wnet_core::valid_ifname),
            "{n:?}"
        );
    }
    let usable =
        |ip: std::net::IpAddr| !(ip.is_unspecified() || ip.is_multicast() || ip.is_loopback());
    assert!(info.gateway.is_none_or(|g| usable(g.into())));
    assert!(info.gateway_ipv6.is_none_or(|g| usable(g.into())));
    for r in &info.static_routes {
        match r.route_type {
            wnet_types::RouteType::Connected => assert!(r.next_hop.is_none(), "{r:?}"),
            wnet_types::RouteType::NextHop => assert!(
                r.next_hop
                    .is_some_and(|h| h.is_ipv6() == r.destination.addr().is_ipv6()),
                "{r:?}"
            ),
        }
    }
}

/// A join answer of any shape: strings and route lists of any length the bytes give.
fn join_info(
    u: &mut arbitrary::Unstructured<'_>,
) -> arbitrary::Result<crate::bindings::convert::n::JoinInfo> {
    use crate::bindings::convert::{n, t};
    let ip = |u: &mut arbitrary::Unstructured<'_>| -> arbitrary::Result<t::IpAddress> {
        Ok(if u.arbitrary()? {
            t::IpAddress::Ipv6(u.arbitrary()?)
        } else {
            t::IpAddress::Ipv4(u.arbitrary()?)
        })
    };
    let interface_name = if u.arbitrary()? {
        Some(n::InterfaceName {
            src_name: u.arbitrary()?,
            dst_prefix: u.arbitrary()?,
            dst_name: u.arbitrary()?,
        })
    } else {
        None
    };
    let gateway = if u.arbitrary()? {
        Some(u.arbitrary()?)
    } else {
        None
    };
    let gateway_ipv6 = if u.arbitrary()? {
        Some(u.arbitrary()?)
    } else {
        None
    };
    let mut static_routes = Vec::new();
    for _ in 0..u.arbitrary_len::<[u8; 8]>()? {
        let destination = if u.arbitrary()? {
            t::IpPrefix::Ipv6(t::Ipv6Prefix {
                address: u.arbitrary()?,
                prefix_len: u.arbitrary()?,
            })
        } else {
            t::IpPrefix::Ipv4(t::Ipv4Prefix {
                address: u.arbitrary()?,
                prefix_len: u.arbitrary()?,
            })
        };
        static_routes.push(n::StaticRoute {
            destination,
            route_type: if u.arbitrary()? {
                n::RouteType::NextHop
            } else {
                n::RouteType::Connected
            },
            next_hop: if u.arbitrary()? { Some(ip(u)?) } else { None },
        });
    }
    Ok(n::JoinInfo {
        interface_name,
        gateway,
        gateway_ipv6,
        static_routes,
        disable_gateway_service: u.arbitrary()?,
    })
}
