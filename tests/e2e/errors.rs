//! Each controller error, with the object, the value and the fix in its message.

use wnet_core::{EndpointOptions, Error, IpamConfig, JoinOptions, NetworkOptions, SandboxOptions};
use wnet_tests::Host;

use crate::ip;

fn with_subnet(conf: IpamConfig) -> NetworkOptions {
    NetworkOptions::default().with_subnet(conf)
}

#[tokio::test]
async fn duplicate_network_name() {
    let host = Host::new().await;
    let c = &host.controller;
    let first = c
        .new_network("null", "dup", NetworkOptions::default())
        .await
        .unwrap();
    let err = c
        .new_network("null", "dup", NetworkOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateNetworkName { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`dup`") && msg.contains(first.id()), "{msg}");
    assert_eq!(c.networks().len(), 1, "nothing half-made");
}

#[tokio::test]
async fn unknown_drivers_list_the_loaded_ones() {
    let host = Host::new().await;
    let err = host
        .controller
        .new_network("bridgee", "n", NetworkOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownDriver { .. }), "{err}");
    assert!(
        err.to_string().contains("`bridgee`") && err.to_string().contains("null"),
        "{err}"
    );
    let opts = NetworkOptions {
        ipam_driver: Some("dhcp".into()),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("null", "n", opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownIpamDriver { .. }), "{err}");
    assert!(err.to_string().contains("default"), "{err}");
}

#[tokio::test]
async fn invalid_subnets_ranges_and_gateways() {
    let host = Host::new().await;
    let c = &host.controller;
    let err = c
        .new_network(
            "null",
            "n",
            with_subnet(IpamConfig::subnet("10.1.2.3/16".parse().unwrap())),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSubnet { .. }), "{err}");
    assert!(
        err.to_string().contains("did you mean 10.1.0.0/16"),
        "{err}"
    );

    let gw = IpamConfig {
        gateway: Some(ip("10.9.0.1")),
        ..IpamConfig::subnet("10.1.0.0/16".parse().unwrap())
    };
    let err = c
        .new_network("null", "n", with_subnet(gw))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GatewayOutsideSubnet { .. }), "{err}");
    assert!(
        err.to_string().contains("10.9.0.1") && err.to_string().contains("10.1.0.0/16"),
        "{err}"
    );

    let range = IpamConfig {
        ip_range: Some("10.2.0.0/24".parse().unwrap()),
        ..IpamConfig::subnet("10.1.0.0/16".parse().unwrap())
    };
    let err = c
        .new_network("null", "n", with_subnet(range))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidIpRange { .. }), "{err}");

    let aux = IpamConfig {
        aux_addresses: vec![("nas".into(), ip("192.168.1.1"))],
        ..IpamConfig::subnet("10.1.0.0/16".parse().unwrap())
    };
    let err = c
        .new_network("null", "n", with_subnet(aux))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AuxAddressOutsideSubnet { .. }),
        "{err}"
    );

    let v6 = NetworkOptions {
        ipv6: vec![IpamConfig::subnet("2001:db8::/64".parse().unwrap())],
        ..NetworkOptions::default()
    };
    let err = c.new_network("null", "n", v6).await.unwrap_err();
    assert!(
        err.to_string().contains("--ipv6"),
        "says how to fix it: {err}"
    );

    let err = c
        .new_network("null", "bad name", NetworkOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
    assert!(c.networks().is_empty());
    assert!(
        host.kv_keys("default").is_empty(),
        "no pool left behind: {:?}",
        host.kv_keys("default")
    );
}

#[tokio::test]
async fn join_twice_delete_joined_and_delete_busy_network() {
    let host = Host::new().await;
    let c = &host.controller;
    let net = c
        .new_network("null", "busy", NetworkOptions::default())
        .await
        .unwrap();
    let ep = net
        .create_endpoint("web", EndpointOptions::default())
        .await
        .unwrap();
    let sb = c
        .new_sandbox("c1", SandboxOptions::default())
        .await
        .unwrap();
    let other = c
        .new_sandbox("c2", SandboxOptions::default())
        .await
        .unwrap();
    ep.join(&sb, JoinOptions::default()).await.unwrap();

    let err = ep.join(&other, JoinOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::EndpointAlreadyJoined { .. }), "{err}");
    assert!(
        err.to_string().contains("`web`") && err.to_string().contains("`c1`"),
        "{err}"
    );

    let err = ep.leave(&other).await.unwrap_err();
    assert!(matches!(err, Error::EndpointNotJoined { .. }), "{err}");

    let err = ep.delete(false).await.unwrap_err();
    assert!(matches!(err, Error::EndpointInUse { .. }), "{err}");

    let err = net.delete().await.unwrap_err();
    assert!(matches!(err, Error::ActiveEndpoints { .. }), "{err}");
    assert!(
        err.to_string().contains("web"),
        "names the endpoints: {err}"
    );

    let err = net
        .create_endpoint("web", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEndpointName { .. }), "{err}");

    let err = c
        .new_sandbox("c1", SandboxOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateSandbox { .. }), "{err}");

    // With force, a joined endpoint leaves first and is deleted.
    ep.delete(true).await.unwrap();
    assert!(sb.endpoints().unwrap().is_empty());
    net.delete().await.unwrap();
}
