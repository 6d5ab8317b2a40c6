//! The `host` driver: containers share the host's namespace; no interface, no IPAM,
//! and the host namespace joins nothing else.

use std::net::Ipv4Addr;

use wnet_core::{EndpointOptions, Error, JoinOptions, NetworkOptions, SandboxOptions};
use wnet_tests::Host;

fn host_sandbox() -> SandboxOptions {
    SandboxOptions {
        host_namespace: true,
        ..SandboxOptions::default()
    }
}

#[tokio::test]
async fn a_host_network_container_uses_the_host_namespace_without_ipam() {
    let host = Host::new().await;
    let c = &host.controller;
    let net = c
        .new_network("host", "host", NetworkOptions::default())
        .await
        .unwrap();
    let info = net.info().unwrap();
    assert!(
        info.ipv4.is_empty() && info.ipv6.is_empty(),
        "no pools: {info:?}"
    );
    assert!(
        host.kv_keys("default").is_empty(),
        "the IPAM driver was not asked for a pool: {:?}",
        host.kv_keys("default")
    );

    let ep = net
        .create_endpoint("c1", EndpointOptions::default())
        .await
        .unwrap();
    let rec = ep.info().unwrap();
    assert_eq!((rec.address, rec.address_ipv6), (None, None));

    let sb = c.new_sandbox("c1", host_sandbox()).await.unwrap();
    let sb_info = sb.info().unwrap();
    assert!(sb_info.host_namespace && !sb_info.owned, "{sb_info:?}");
    ep.join(&sb, JoinOptions::default()).await.unwrap();
    let join = ep.info().unwrap().join.unwrap();
    assert_eq!(
        join.interface, None,
        "the container uses the host's interfaces"
    );
    assert!(
        !join.ipv4_gateway,
        "no gateway endpoint on the host network"
    );

    sb.delete().await.unwrap();
    assert!(c.sandboxes().unwrap().is_empty());
    assert!(
        net.endpoints().unwrap().is_empty(),
        "deleting the sandbox took its endpoint"
    );
    net.delete().await.unwrap();
    assert!(
        host.kv_keys("host").is_empty(),
        "the driver kept nothing: {:?}",
        host.kv_keys("host")
    );
}

#[tokio::test]
async fn the_host_namespace_and_host_networks_join_only_each_other() {
    let host = Host::new().await;
    let c = &host.controller;
    let hostnet = c
        .new_network("host", "host", NetworkOptions::default())
        .await
        .unwrap();
    let other = c
        .new_network("null", "other", NetworkOptions::default())
        .await
        .unwrap();
    let own_ns = c
        .new_sandbox("own", SandboxOptions::default())
        .await
        .unwrap();
    let host_ns = c.new_sandbox("shared", host_sandbox()).await.unwrap();

    let ep = hostnet
        .create_endpoint("e1", EndpointOptions::default())
        .await
        .unwrap();
    let err = ep.join(&own_ns, JoinOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert!(
        err.to_string().contains("`own`") && err.to_string().contains("host's namespace"),
        "{err}"
    );

    let ep2 = other
        .create_endpoint("e2", EndpointOptions::default())
        .await
        .unwrap();
    let err = ep2
        .join(&host_ns, JoinOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`shared`") && err.to_string().contains("driver `null`"),
        "{err}"
    );
    assert!(ep.info().unwrap().join.is_none() && ep2.info().unwrap().join.is_none());
    assert!(host_ns.endpoints().unwrap().is_empty() && own_ns.endpoints().unwrap().is_empty());
}

#[tokio::test]
async fn ipam_settings_and_a_second_host_network_are_refused() {
    let host = Host::new().await;
    let c = &host.controller;
    let with_subnet = NetworkOptions::default().with_subnet(wnet_core::IpamConfig::subnet(
        "10.9.0.0/24".parse().unwrap(),
    ));
    let err = c
        .new_network("host", "host", with_subnet)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("remove --subnet"), "{err}");
    let err = c
        .new_network(
            "host",
            "host",
            NetworkOptions {
                ipam_driver: Some("null".into()),
                ..NetworkOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("remove --ipam-driver"), "{err}");
    assert!(c.networks().is_empty());

    let net = c
        .new_network("host", "host", NetworkOptions::default())
        .await
        .unwrap();
    let err = c
        .new_network("host", "host2", NetworkOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only one host network") && err.to_string().contains(net.id()),
        "{err}"
    );
    assert_eq!(c.networks().len(), 1);

    let err = net
        .create_endpoint(
            "e1",
            EndpointOptions {
                ipv4_address: Some(Ipv4Addr::new(10, 0, 0, 5)),
                ..EndpointOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("host's own addresses"), "{err}");
    assert!(net.endpoints().unwrap().is_empty());

    let err = c
        .new_sandbox(
            "both",
            SandboxOptions {
                key: Some("/proc/1/ns/net".into()),
                host_namespace: true,
                ..SandboxOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("one or the other"), "{err}");
    assert!(c.sandboxes().unwrap().is_empty());
}
