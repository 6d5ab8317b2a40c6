//! The CNM lifecycle on the null driver with the default IPAM, all in WASM.

use std::collections::HashSet;

use wnet_core::{EndpointOptions, JoinOptions, NetworkOptions, SandboxOptions};
use wnet_tests::Host;

use crate::v4;

#[tokio::test]
async fn null_driver_with_default_ipam_full_lifecycle() {
    let host = Host::new().await;
    let c = &host.controller;
    let net = c
        .new_network("null", "net1", NetworkOptions::default())
        .await
        .unwrap();
    let info = net.info().unwrap();
    assert_eq!(info.ipv4.len(), 1);
    assert_eq!(info.ipv4[0].pool.to_string(), "172.17.0.0/16");
    assert_eq!(info.ipv4[0].gateway.unwrap().to_string(), "172.17.0.1/16");
    assert_eq!(info.address_space, "LocalDefault");

    let ep1 = net
        .create_endpoint("ep1", EndpointOptions::default())
        .await
        .unwrap();
    let ep2 = net
        .create_endpoint("ep2", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&ep1), "172.17.0.2/16");
    assert_eq!(v4(&ep2), "172.17.0.3/16");

    let sb = c
        .new_sandbox("c1", SandboxOptions::default())
        .await
        .unwrap();
    ep1.join(&sb, JoinOptions::default()).await.unwrap();
    let joined = ep1.info().unwrap().join.unwrap();
    assert_eq!(joined.sandbox_id, "c1");
    assert_eq!(
        joined.interface, None,
        "the null driver gives the sandbox no interface"
    );
    assert_eq!(sb.endpoints().unwrap().len(), 1);
    assert_eq!(sb.info().unwrap().key, "/run/wnet/netns/c1");

    ep1.leave(&sb).await.unwrap();
    assert!(ep1.info().unwrap().join.is_none());
    assert!(sb.endpoints().unwrap().is_empty());

    // Released addresses are handed out again, lowest first.
    ep1.delete(false).await.unwrap();
    let ep3 = net
        .create_endpoint("ep3", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&ep3), "172.17.0.2/16");

    ep2.delete(false).await.unwrap();
    ep3.delete(false).await.unwrap();
    sb.delete().await.unwrap();
    net.delete().await.unwrap();
    assert!(c.networks().is_empty());
    assert!(c.sandboxes().unwrap().is_empty());
    // Nothing is left in either driver's kv, and the pool is free again.
    assert!(
        host.kv_keys("default").is_empty(),
        "{:?}",
        host.kv_keys("default")
    );
    assert!(
        host.kv_keys("null").is_empty(),
        "{:?}",
        host.kv_keys("null")
    );
    let again = c
        .new_network("null", "net2", NetworkOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again.info().unwrap().ipv4[0].pool.to_string(),
        "172.17.0.0/16"
    );
}

#[tokio::test]
async fn lookups_by_name_id_and_prefix() {
    let host = Host::new().await;
    let c = &host.controller;
    let net = c
        .new_network("null", "lookup", NetworkOptions::default())
        .await
        .unwrap();
    assert_eq!(c.network_by_name("lookup").unwrap().id(), net.id());
    assert_eq!(c.network_by_id(net.id()).unwrap().name(), "lookup");
    assert_eq!(c.network(&net.id()[..12]).unwrap().name(), "lookup");
    assert_eq!(c.network("lookup").unwrap().id(), net.id());
    let ep = net
        .create_endpoint("web", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(net.endpoint("web").unwrap().id(), ep.id());
    assert_eq!(net.endpoint(ep.id()).unwrap().name(), "web");
    assert_eq!(net.endpoints().unwrap().len(), 1);
    assert_eq!(c.networks().len(), 1);
}

#[tokio::test]
async fn deleting_a_sandbox_leaves_and_deletes_its_endpoints() {
    let host = Host::new().await;
    let c = &host.controller;
    let a = c
        .new_network("null", "a", NetworkOptions::default())
        .await
        .unwrap();
    let b = c
        .new_network("null", "b", NetworkOptions::default())
        .await
        .unwrap();
    let sb = c
        .new_sandbox("box", SandboxOptions::default())
        .await
        .unwrap();
    for net in [&a, &b] {
        let ep = net
            .create_endpoint("ep", EndpointOptions::default())
            .await
            .unwrap();
        ep.join(&sb, JoinOptions::default()).await.unwrap();
    }
    assert_eq!(sb.endpoints().unwrap().len(), 2);
    sb.delete().await.unwrap();
    assert!(a.endpoints().unwrap().is_empty() && b.endpoints().unwrap().is_empty());
    assert!(c.sandbox("box").is_err());
    a.delete().await.unwrap();
    b.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_operations_in_flight_across_networks() {
    let host = Host::new().await;
    let c = host.controller.clone();
    let mut nets = Vec::new();
    for i in 0..5 {
        nets.push(
            c.new_network("null", &format!("n{i}"), NetworkOptions::default())
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        for j in 0..20 {
            let (net, c) = (net.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                let ep = net
                    .create_endpoint(&format!("e{j}"), EndpointOptions::default())
                    .await?;
                let sb = c
                    .new_sandbox(&format!("s{i}-{j}"), SandboxOptions::default())
                    .await?;
                ep.join(&sb, JoinOptions::default()).await?;
                Ok::<_, wnet_core::Error>(ep)
            }));
        }
    }
    let mut per_network: Vec<HashSet<String>> = vec![HashSet::new(); nets.len()];
    for t in tasks {
        let ep = t.await.unwrap().unwrap();
        let idx = nets.iter().position(|n| n.id() == ep.network_id()).unwrap();
        assert!(per_network[idx].insert(v4(&ep)), "address handed out twice");
    }
    assert!(per_network.iter().all(|s| s.len() == 20));
}
