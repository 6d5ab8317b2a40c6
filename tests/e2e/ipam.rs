//! The default IPAM's rules, through the controller and the WASM component.

use wnet_core::{Controller, EndpointOptions, Error, IpamConfig, Network, NetworkOptions};
use wnet_tests::Host;
use wnet_types::{Options, keys};

use crate::{ip, v4};

fn subnet(s: &str) -> IpamConfig {
    IpamConfig::subnet(s.parse().unwrap())
}

/// A null-driver network on `s`, with the default IPAM.
async fn on_subnet(c: &Controller, name: &str, s: &str) -> Network {
    c.new_network(
        "null",
        name,
        NetworkOptions::default().with_subnet(subnet(s)),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn predefined_pools_are_handed_out_lowest_first() {
    let host = Host::new().await;
    let mut got = Vec::new();
    for i in 0..3 {
        let n = host
            .controller
            .new_network("null", &format!("n{i}"), NetworkOptions::default())
            .await
            .unwrap();
        got.push(n.info().unwrap().ipv4[0].pool.to_string());
    }
    assert_eq!(got, ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]);
}

#[tokio::test]
async fn static_subnet_with_range_gateway_and_aux_addresses() {
    let host = Host::new().await;
    let conf = IpamConfig {
        ip_range: Some("10.10.5.0/24".parse().unwrap()),
        gateway: Some(ip("10.10.0.254")),
        aux_addresses: vec![
            ("router".into(), ip("10.10.5.0")),
            ("printer".into(), ip("10.10.9.9")),
        ],
        ..subnet("10.10.0.0/16")
    };
    let net = host
        .controller
        .new_network(
            "null",
            "static",
            NetworkOptions::default().with_subnet(conf),
        )
        .await
        .unwrap();
    let pool = &net.info().unwrap().ipv4[0];
    assert_eq!(pool.gateway.unwrap().to_string(), "10.10.0.254/16");
    assert_eq!(pool.sub_pool.unwrap().to_string(), "10.10.5.0/24");
    assert_eq!(pool.aux_addresses.len(), 2);
    // The range's first address is an aux address, so endpoints start after it.
    let ep = net
        .create_endpoint("a", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&ep), "10.10.5.1/16");
    // A preferred address may be anywhere in the subnet, but not a reserved one.
    let pinned = EndpointOptions {
        ipv4_address: Some("10.10.200.7".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(
        v4(&net.create_endpoint("b", pinned).await.unwrap()),
        "10.10.200.7/16"
    );
    let taken = EndpointOptions {
        ipv4_address: Some("10.10.9.9".parse().unwrap()),
        ..Default::default()
    };
    let err = net.create_endpoint("c", taken).await.unwrap_err();
    assert!(matches!(err, Error::AddressInUse { .. }), "{err}");
    assert!(err.to_string().contains("10.10.9.9"), "{err}");
    let outside = EndpointOptions {
        ipv4_address: Some("10.11.0.1".parse().unwrap()),
        ..Default::default()
    };
    let err = net.create_endpoint("d", outside).await.unwrap_err();
    assert!(matches!(err, Error::AddressOutsidePools { .. }), "{err}");
    assert!(
        err.to_string().contains("10.10.0.0/16"),
        "names the subnets: {err}"
    );
}

#[tokio::test]
async fn overlapping_subnets_are_refused_both_ways() {
    let host = Host::new().await;
    let c = &host.controller;
    on_subnet(c, "wide", "10.20.0.0/16").await;
    for (name, s) in [("narrow", "10.20.30.0/24"), ("wider", "10.0.0.0/8")] {
        let err = c
            .new_network(
                "null",
                name,
                NetworkOptions::default().with_subnet(subnet(s)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PoolOverlap { .. }), "{err}");
        assert!(err.to_string().contains(s), "names the pool: {err}");
    }
    // Dynamic pools step around the static one.
    let dynamic = c
        .new_network("null", "dyn", NetworkOptions::default())
        .await
        .unwrap();
    assert_eq!(
        dynamic.info().unwrap().ipv4[0].pool.to_string(),
        "172.17.0.0/16"
    );
}

#[tokio::test]
async fn network_and_broadcast_are_reserved_and_exhaustion_is_reported() {
    let host = Host::new().await;
    let net = on_subnet(&host.controller, "tiny", "10.30.0.0/29").await;
    assert_eq!(
        net.info().unwrap().ipv4[0].gateway.unwrap().to_string(),
        "10.30.0.1/29"
    );
    let mut got = Vec::new();
    for i in 0..5 {
        got.push(v4(&net
            .create_endpoint(&format!("e{i}"), EndpointOptions::default())
            .await
            .unwrap()));
    }
    assert_eq!(
        got,
        [
            "10.30.0.2/29",
            "10.30.0.3/29",
            "10.30.0.4/29",
            "10.30.0.5/29",
            "10.30.0.6/29"
        ]
    );
    let err = net
        .create_endpoint("one-too-many", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PoolExhausted { .. }), "{err}");
    assert!(
        err.to_string().contains("tiny") && err.to_string().contains("10.30.0.0/29"),
        "{err}"
    );
}

#[tokio::test]
async fn serial_allocation_does_not_reuse_at_once() {
    let host = Host::new().await;
    let opts = NetworkOptions {
        ipam_options: [(keys::IPAM_SERIAL, "true")]
            .into_iter()
            .collect::<Options>(),
        ..NetworkOptions::default().with_subnet(subnet("10.40.0.0/24"))
    };
    let net = host
        .controller
        .new_network("null", "serial", opts)
        .await
        .unwrap();
    let a = net
        .create_endpoint("a", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&a), "10.40.0.2/24");
    a.delete(false).await.unwrap();
    let b = net
        .create_endpoint("b", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(
        v4(&b),
        "10.40.0.3/24",
        "serial allocation moves on past a released address"
    );
}

#[tokio::test]
async fn dual_stack_networks_get_a_pool_of_each_family() {
    let host = Host::new().await;
    let opts = NetworkOptions {
        enable_ipv6: true,
        ..NetworkOptions::default()
    };
    let net = host
        .controller
        .new_network("null", "dual", opts)
        .await
        .unwrap();
    let info = net.info().unwrap();
    assert_eq!(info.ipv6[0].pool.to_string(), "fd42:776e:6574::/64");
    assert_eq!(
        info.ipv6[0].gateway.unwrap().to_string(),
        "fd42:776e:6574::1/64"
    );
    let ep = net
        .create_endpoint("e", EndpointOptions::default())
        .await
        .unwrap()
        .info()
        .unwrap();
    assert_eq!(ep.address.unwrap().to_string(), "172.17.0.2/16");
    assert_eq!(ep.address_ipv6.unwrap().to_string(), "fd42:776e:6574::2/64");
    let v6_only = NetworkOptions {
        enable_ipv4: false,
        ..NetworkOptions::default().with_subnet(subnet("2001:db8:1::/64"))
    };
    let net = host
        .controller
        .new_network("null", "v6only", v6_only)
        .await
        .unwrap();
    let ep = net
        .create_endpoint("e", EndpointOptions::default())
        .await
        .unwrap()
        .info()
        .unwrap();
    assert_eq!(ep.address, None);
    assert_eq!(ep.address_ipv6.unwrap().to_string(), "2001:db8:1::2/64");
}

#[tokio::test]
async fn the_null_ipam_gives_no_addresses() {
    let host = Host::new().await;
    let opts = NetworkOptions {
        ipam_driver: Some("null".into()),
        ..NetworkOptions::default()
    };
    let net = host
        .controller
        .new_network("null", "bare", opts)
        .await
        .unwrap();
    let pool = &net.info().unwrap().ipv4[0];
    assert_eq!(pool.pool.to_string(), "0.0.0.0/0");
    assert_eq!(pool.gateway, None);
    let ep = net
        .create_endpoint("e", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(ep.info().unwrap().address, None);
    ep.delete(false).await.unwrap();
    net.delete().await.unwrap();
}

#[tokio::test]
async fn global_space_and_point_to_point_prefixes() {
    let host = Host::new().await;
    let c = &host.controller;
    let global = NetworkOptions {
        address_space: Some("GlobalDefault".into()),
        ..NetworkOptions::default()
    };
    let net = c.new_network("null", "global", global).await.unwrap();
    assert_eq!(net.info().unwrap().ipv4[0].pool.to_string(), "10.0.0.0/24");

    // A /31 has no network or broadcast address: the gateway takes .0, the endpoint .1.
    let p2p = on_subnet(c, "p2p", "10.50.0.0/31").await;
    assert_eq!(
        p2p.info().unwrap().ipv4[0].gateway.unwrap().to_string(),
        "10.50.0.0/31"
    );
    assert_eq!(
        v4(&p2p
            .create_endpoint("e", EndpointOptions::default())
            .await
            .unwrap()),
        "10.50.0.1/31"
    );

    // A /32 holds one address, which the gateway takes.
    let host32 = on_subnet(c, "host32", "10.60.0.7/32").await;
    assert_eq!(
        host32.info().unwrap().ipv4[0].gateway.unwrap().to_string(),
        "10.60.0.7/32"
    );
    let err = host32
        .create_endpoint("e", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PoolExhausted { .. }), "{err}");
}

#[tokio::test]
async fn a_slash_8_costs_no_memory_per_address() {
    let host = Host::new().await;
    let net = on_subnet(&host.controller, "huge", "10.0.0.0/8").await;
    for i in 0..100 {
        net.create_endpoint(&format!("e{i}"), EndpointOptions::default())
            .await
            .unwrap();
    }
    // The pool's record and two small bitmap chunks (its first addresses and its
    // broadcast address), not 2^24 bits.
    let keys = host.kv_keys("default");
    assert_eq!(keys.len(), 3, "{keys:?}");
}

#[tokio::test]
async fn ipam_state_survives_a_restart_of_host_and_drivers() {
    let first = Host::new().await;
    let net = first
        .controller
        .new_network("null", "kept", NetworkOptions::default())
        .await
        .unwrap();
    net.create_endpoint("a", EndpointOptions::default())
        .await
        .unwrap();
    // A new runtime and controller over the same store: the drivers' instances and the
    // controller's memory are new; the records and the drivers' kv are not.
    let second = Host::with_store(first.store.clone()).await;
    let net = second.controller.network("kept").unwrap();
    let b = net
        .create_endpoint("b", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&b), "172.17.0.3/16", "no address handed out twice");
    let other = second
        .controller
        .new_network("null", "next", NetworkOptions::default())
        .await
        .unwrap();
    assert_eq!(
        other.info().unwrap().ipv4[0].pool.to_string(),
        "172.18.0.0/16"
    );
}
