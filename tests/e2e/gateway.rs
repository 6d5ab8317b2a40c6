//! Which endpoint is a sandbox's gateway, and what happens when it leaves.

use wnet_core::{EndpointOptions, JoinOptions, NetworkOptions, SandboxOptions};
use wnet_tests::{FIXTURE_HOSTILE, Host};

#[tokio::test]
async fn the_first_capable_endpoint_is_the_gateway_and_hands_over_when_it_leaves() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let c = &host.controller;
    let internal = NetworkOptions {
        internal: true,
        ..NetworkOptions::default()
    };
    let private = c.new_network("hostile", "private", internal).await.unwrap();
    let front = c
        .new_network("hostile", "front", NetworkOptions::default())
        .await
        .unwrap();
    let back = c
        .new_network("hostile", "back", NetworkOptions::default())
        .await
        .unwrap();
    let sb = c
        .new_sandbox("c1", SandboxOptions::default())
        .await
        .unwrap();
    let p = private
        .create_endpoint("p", EndpointOptions::default())
        .await
        .unwrap();
    let f = front
        .create_endpoint("f", EndpointOptions::default())
        .await
        .unwrap();
    let b = back
        .create_endpoint("b", EndpointOptions::default())
        .await
        .unwrap();
    for ep in [&p, &f, &b] {
        ep.join(&sb, JoinOptions::default()).await.unwrap();
    }
    let join = |ep: &wnet_core::Endpoint| ep.info().unwrap().join.unwrap();
    assert!(
        !join(&p).ipv4_gateway,
        "an internal network is never the way out"
    );
    assert!(
        !join(&p).external_connectivity,
        "nor asked for external connectivity"
    );
    assert!(
        join(&f).ipv4_gateway,
        "the first endpoint with a gateway is the sandbox's"
    );
    assert!(!join(&b).ipv4_gateway);

    f.leave(&sb).await.unwrap();
    assert!(join(&b).ipv4_gateway, "the next endpoint takes over");
    assert!(join(&b).external_connectivity);
    assert!(!join(&p).ipv4_gateway);
    let keys = host.kv_keys("hostile");
    assert!(
        !keys.contains(&format!("external/{}", f.id())),
        "revoked for the leaver: {keys:?}"
    );
    assert!(
        keys.contains(&format!("external/{}", b.id())),
        "programmed for the new gateway: {keys:?}"
    );
}
