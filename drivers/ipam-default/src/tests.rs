//! The IPAM rules, natively through the SDK's fake host.

use std::net::IpAddr;

use wnet_sdk::testing::Harness;
use wnet_sdk::{AddressRequest, ErrorKind, IpNet, IpamDriver, Options, PoolRequest, keys};

use crate::{DefaultIpam, GLOBAL_SPACE, LOCAL_SPACE};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pool(
    h: &mut Harness<DefaultIpam>,
    space: &str,
    pool: Option<&str>,
    sub: Option<&str>,
) -> wnet_sdk::Result<(String, IpNet)> {
    let v6 = pool.or(sub).is_some_and(|p| p.contains(':'));
    h.request_pool(PoolRequest {
        address_space: space.into(),
        pool: pool.map(net),
        sub_pool: sub.map(net),
        v6,
        ..Default::default()
    })
    .map(|p| (p.pool_id, p.pool))
}

fn dynamic(h: &mut Harness<DefaultIpam>, space: &str, v6: bool, exclude: &[&str]) -> IpNet {
    h.request_pool(PoolRequest {
        address_space: space.into(),
        v6,
        exclude: exclude.iter().map(|e| net(e)).collect(),
        ..Default::default()
    })
    .unwrap()
    .pool
}

fn addr(
    h: &mut Harness<DefaultIpam>,
    id: &str,
    preferred: Option<&str>,
    serial: bool,
) -> wnet_sdk::Result<String> {
    let mut options = Options::new();
    if serial {
        options.insert(keys::IPAM_SERIAL, "true");
    }
    h.request_address(AddressRequest {
        pool_id: id.into(),
        preferred: preferred.map(ip),
        options,
    })
    .map(|a| a.address.to_string())
}

#[test]
fn default_address_spaces_are_libnetworks() {
    let mut h = Harness::<DefaultIpam>::new();
    let s = h.default_address_spaces().unwrap();
    assert_eq!(
        (s.local.as_str(), s.global.as_str()),
        ("LocalDefault", "GlobalDefault")
    );
}

#[test]
fn predefined_local_pools_come_lowest_first() {
    let mut h = Harness::<DefaultIpam>::new();
    let got: Vec<String> = (0..6)
        .map(|_| dynamic(&mut h, LOCAL_SPACE, false, &[]).to_string())
        .collect();
    assert_eq!(
        got,
        [
            "172.17.0.0/16",
            "172.18.0.0/16",
            "172.19.0.0/16",
            "172.20.0.0/16",
            "172.21.0.0/16",
            "172.22.0.0/16"
        ]
    );
}

#[test]
fn after_the_172_pools_come_192_168_slash_20s_then_exhaustion() {
    let mut h = Harness::<DefaultIpam>::new();
    for _ in 0..15 {
        assert!(
            dynamic(&mut h, LOCAL_SPACE, false, &[])
                .to_string()
                .starts_with("172.")
        );
    }
    assert_eq!(
        dynamic(&mut h, LOCAL_SPACE, false, &[]),
        net("192.168.0.0/20")
    );
    assert_eq!(
        dynamic(&mut h, LOCAL_SPACE, false, &[]),
        net("192.168.16.0/20")
    );
    for _ in 2..16 {
        dynamic(&mut h, LOCAL_SPACE, false, &[]);
    }
    let err = h
        .request_pool(PoolRequest {
            address_space: LOCAL_SPACE.into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
}

#[test]
fn global_pools_are_slash_24s_of_10_0_0_0_slash_8() {
    let mut h = Harness::<DefaultIpam>::new();
    assert_eq!(
        dynamic(&mut h, GLOBAL_SPACE, false, &[]),
        net("10.0.0.0/24")
    );
    assert_eq!(
        dynamic(&mut h, GLOBAL_SPACE, false, &[]),
        net("10.0.1.0/24")
    );
}

#[test]
fn a_sized_request_and_exclusions_are_honoured() {
    let mut h = Harness::<DefaultIpam>::new();
    let sized = h
        .request_pool(PoolRequest {
            address_space: LOCAL_SPACE.into(),
            pool: Some(net("0.0.0.0/24")),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(sized.pool, net("172.17.0.0/24"));
    assert_eq!(
        dynamic(&mut h, LOCAL_SPACE, false, &["172.18.0.0/16"]),
        net("172.19.0.0/16")
    );
    let err = h
        .request_pool(PoolRequest {
            address_space: LOCAL_SPACE.into(),
            pool: Some(net("0.0.0.0/8")),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::InvalidParameter,
        "no base can hold a /8: {err}"
    );
}

#[test]
fn static_pools_are_overlap_checked_both_ways_and_skipped_by_dynamic_ones() {
    let mut h = Harness::<DefaultIpam>::new();
    pool(&mut h, LOCAL_SPACE, Some("172.17.0.0/16"), None).unwrap();
    assert_eq!(
        dynamic(&mut h, LOCAL_SPACE, false, &[]),
        net("172.18.0.0/16")
    );
    pool(&mut h, LOCAL_SPACE, Some("10.10.0.0/16"), None).unwrap();
    for overlapping in ["10.10.5.0/24", "10.0.0.0/8", "10.10.0.0/16"] {
        let err = pool(&mut h, LOCAL_SPACE, Some(overlapping), None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Forbidden, "{overlapping}: {err}");
    }
    // Another address space is another world.
    pool(&mut h, GLOBAL_SPACE, Some("10.10.0.0/16"), None).unwrap();
    let err = pool(&mut h, "Nowhere", Some("10.20.0.0/16"), None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidParameter);
    let err = pool(&mut h, LOCAL_SPACE, Some("10.30.0.1/16"), None).unwrap_err();
    assert!(
        err.message.contains("10.30.0.0/16"),
        "suggests the right prefix: {err}"
    );
}

#[test]
fn network_and_broadcast_addresses_are_reserved_except_on_31_and_32() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/30"), None).unwrap();
    assert_eq!(addr(&mut h, &id, None, false).unwrap(), "10.0.0.1/30");
    assert_eq!(addr(&mut h, &id, None, false).unwrap(), "10.0.0.2/30");
    assert_eq!(
        addr(&mut h, &id, None, false).unwrap_err().kind,
        ErrorKind::Unavailable
    );
    assert_eq!(
        addr(&mut h, &id, Some("10.0.0.3"), false).unwrap_err().kind,
        ErrorKind::Forbidden
    );
    let (p31, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.1.0/31"), None).unwrap();
    assert_eq!(addr(&mut h, &p31, None, false).unwrap(), "10.0.1.0/31");
    assert_eq!(addr(&mut h, &p31, None, false).unwrap(), "10.0.1.1/31");
    let (p32, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.2.7/32"), None).unwrap();
    assert_eq!(addr(&mut h, &p32, None, false).unwrap(), "10.0.2.7/32");
}

#[test]
fn lowest_free_address_is_reused_after_release() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/24"), None).unwrap();
    for want in ["10.0.0.1/24", "10.0.0.2/24", "10.0.0.3/24"] {
        assert_eq!(addr(&mut h, &id, None, false).unwrap(), want);
    }
    h.release_address(&id, ip("10.0.0.2")).unwrap();
    assert_eq!(addr(&mut h, &id, None, false).unwrap(), "10.0.0.2/24");
    // Releasing a free address is fine; one outside the pool is not.
    h.release_address(&id, ip("10.0.0.200")).unwrap();
    assert_eq!(
        h.release_address(&id, ip("10.9.0.1")).unwrap_err().kind,
        ErrorKind::InvalidParameter
    );
}

#[test]
fn serial_allocation_moves_on_and_wraps_round() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/29"), None).unwrap();
    for want in 1..=3 {
        assert_eq!(
            addr(&mut h, &id, None, true).unwrap(),
            format!("10.0.0.{want}/29")
        );
    }
    h.release_address(&id, ip("10.0.0.2")).unwrap();
    assert_eq!(
        addr(&mut h, &id, None, true).unwrap(),
        "10.0.0.4/29",
        "serial does not go back"
    );
    assert_eq!(addr(&mut h, &id, None, true).unwrap(), "10.0.0.5/29");
    assert_eq!(addr(&mut h, &id, None, true).unwrap(), "10.0.0.6/29");
    assert_eq!(
        addr(&mut h, &id, None, true).unwrap(),
        "10.0.0.2/29",
        "wraps round to the freed one"
    );
    assert_eq!(
        addr(&mut h, &id, None, true).unwrap_err().kind,
        ErrorKind::Unavailable
    );
}

#[test]
fn preferred_addresses_are_checked() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/24"), None).unwrap();
    assert_eq!(
        addr(&mut h, &id, Some("10.0.0.42"), false).unwrap(),
        "10.0.0.42/24"
    );
    assert_eq!(
        addr(&mut h, &id, Some("10.0.0.42"), false)
            .unwrap_err()
            .kind,
        ErrorKind::Forbidden
    );
    assert_eq!(
        addr(&mut h, &id, Some("10.0.1.1"), false).unwrap_err().kind,
        ErrorKind::InvalidParameter
    );
    assert_eq!(
        addr(&mut h, "LocalDefault/10.9.0.0/24", None, false)
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
}

#[test]
fn sub_pools_allocate_inside_their_range_and_share_the_parent() {
    let mut h = Harness::<DefaultIpam>::new();
    let (a, parent) = pool(
        &mut h,
        LOCAL_SPACE,
        Some("10.1.0.0/16"),
        Some("10.1.2.0/24"),
    )
    .unwrap();
    assert_eq!(parent, net("10.1.0.0/16"));
    assert_eq!(a, "LocalDefault/10.1.0.0/16/10.1.2.0/24");
    assert_eq!(addr(&mut h, &a, None, false).unwrap(), "10.1.2.0/16");
    // A preferred address may lie anywhere in the parent (a gateway outside the range).
    assert_eq!(
        addr(&mut h, &a, Some("10.1.0.1"), false).unwrap(),
        "10.1.0.1/16"
    );
    let (b, _) = pool(
        &mut h,
        LOCAL_SPACE,
        Some("10.1.0.0/16"),
        Some("10.1.3.0/24"),
    )
    .unwrap();
    assert_eq!(addr(&mut h, &b, None, false).unwrap(), "10.1.3.0/16");
    assert_eq!(
        pool(
            &mut h,
            LOCAL_SPACE,
            Some("10.1.0.0/16"),
            Some("10.1.2.0/24")
        )
        .unwrap_err()
        .kind,
        ErrorKind::Forbidden,
        "the same sub-pool twice"
    );
    assert_eq!(
        pool(
            &mut h,
            LOCAL_SPACE,
            Some("10.1.0.0/16"),
            Some("10.2.0.0/24")
        )
        .unwrap_err()
        .kind,
        ErrorKind::InvalidParameter,
        "a sub-pool outside its pool"
    );
    // The parent goes with its last child.
    h.release_pool(&a).unwrap();
    assert_eq!(addr(&mut h, &b, None, false).unwrap(), "10.1.3.1/16");
    h.release_pool(&b).unwrap();
    assert!(
        h.kv().is_empty(),
        "nothing left: {:?}",
        h.kv().keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_range_is_exhausted_on_its_own() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(
        &mut h,
        LOCAL_SPACE,
        Some("10.1.0.0/24"),
        Some("10.1.0.8/30"),
    )
    .unwrap();
    let got: Vec<String> = (0..4)
        .map(|_| addr(&mut h, &id, None, false).unwrap())
        .collect();
    assert_eq!(
        got,
        ["10.1.0.8/24", "10.1.0.9/24", "10.1.0.10/24", "10.1.0.11/24"]
    );
    assert_eq!(
        addr(&mut h, &id, None, false).unwrap_err().kind,
        ErrorKind::Unavailable
    );
}

#[test]
fn releasing_a_pool_twice_fails_and_a_released_pool_is_handed_out_again() {
    let mut h = Harness::<DefaultIpam>::new();
    let first = h
        .request_pool(PoolRequest {
            address_space: LOCAL_SPACE.into(),
            ..Default::default()
        })
        .unwrap();
    h.release_pool(&first.pool_id).unwrap();
    assert_eq!(
        h.release_pool(&first.pool_id).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(dynamic(&mut h, LOCAL_SPACE, false, &[]), first.pool);
}

#[test]
fn ipv6_pools_come_from_the_ula_and_reserve_the_anycast_address() {
    let mut h = Harness::<DefaultIpam>::new();
    let p = h
        .request_pool(PoolRequest {
            address_space: LOCAL_SPACE.into(),
            v6: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.pool, net("fd42:776e:6574::/64"));
    assert_eq!(
        dynamic(&mut h, LOCAL_SPACE, true, &[]),
        net("fd42:776e:6574:1::/64")
    );
    assert_eq!(
        addr(&mut h, &p.pool_id, None, false).unwrap(),
        "fd42:776e:6574::1/64"
    );
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("2001:db8::/126"), None).unwrap();
    let got: Vec<String> = (0..3)
        .map(|_| addr(&mut h, &id, None, false).unwrap())
        .collect();
    assert_eq!(
        got,
        ["2001:db8::1/126", "2001:db8::2/126", "2001:db8::3/126"],
        "no broadcast in IPv6"
    );
}

#[test]
fn state_survives_a_restart_of_the_instance() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/24"), None).unwrap();
    addr(&mut h, &id, None, false).unwrap();
    addr(&mut h, &id, Some("10.0.0.9"), false).unwrap();
    h.restart();
    assert_eq!(
        addr(&mut h, &id, None, false).unwrap(),
        "10.0.0.2/24",
        "no address handed out twice"
    );
    assert_eq!(
        addr(&mut h, &id, Some("10.0.0.9"), false).unwrap_err().kind,
        ErrorKind::Forbidden
    );
    assert_eq!(
        pool(&mut h, LOCAL_SPACE, Some("10.0.0.0/16"), None)
            .unwrap_err()
            .kind,
        ErrorKind::Forbidden
    );
}

#[test]
fn a_slash_8_costs_no_memory_per_address() {
    let mut h = Harness::<DefaultIpam>::new();
    let (id, _) = pool(&mut h, GLOBAL_SPACE, Some("10.0.0.0/8"), None).unwrap();
    for _ in 0..10 {
        addr(&mut h, &id, None, false).unwrap();
    }
    let kv = h.kv();
    let bytes: usize = kv.values().map(Vec::len).sum();
    // The pool record, the first chunk and the broadcast's chunk: not 2^24 bits.
    assert_eq!(kv.len(), 3, "{:?}", kv.keys().collect::<Vec<_>>());
    assert!(bytes < 2 * 1024, "{bytes} bytes");
    assert_eq!(h.state.as_ref().unwrap().in_use(&id), 12);
}
