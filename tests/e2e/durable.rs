//! The store on disk: what a restart finds, and one commit per operation.

use std::path::PathBuf;
use std::sync::Arc;

use wnet_core::{EndpointOptions, JoinOptions, NetworkOptions, RedbStore, SandboxOptions};
use wnet_tests::Host;

use crate::v4;

fn db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wnet-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("wnet.db")
}

#[tokio::test]
async fn networks_endpoints_sandboxes_and_driver_state_survive_a_restart() {
    let path = db("restart");
    let (net_id, ep1_id) = {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let host = Host::with_store(store.clone()).await;
        let c = &host.controller;
        let net = c
            .new_network("null", "net1", NetworkOptions::default())
            .await
            .unwrap();
        let before = store.commits();
        let ep1 = net
            .create_endpoint("ep1", EndpointOptions::default())
            .await
            .unwrap();
        assert_eq!(
            store.commits(),
            before + 1,
            "creating an endpoint (IPAM address, driver state, record) is one commit"
        );
        let sb = c
            .new_sandbox("c1", SandboxOptions::default())
            .await
            .unwrap();
        let before = store.commits();
        ep1.join(&sb, JoinOptions::default()).await.unwrap();
        assert_eq!(store.commits(), before + 1, "a join is one commit");
        (net.id().to_owned(), ep1.id().to_owned())
    };

    // A new process: a fresh store handle, runtime and controller over the same file.
    {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let host = Host::with_store(store).await;
        let c = &host.controller;
        let net = c.network("net1").unwrap();
        assert_eq!(net.id(), net_id);
        let ep1 = net.endpoint("ep1").unwrap();
        assert_eq!(ep1.id(), ep1_id);
        assert_eq!(v4(&ep1), "172.17.0.2/16");
        assert_eq!(ep1.info().unwrap().join.unwrap().sandbox_id, "c1");
        // The IPAM's state came back too: the next address is the next one.
        let ep2 = net
            .create_endpoint("ep2", EndpointOptions::default())
            .await
            .unwrap();
        assert_eq!(v4(&ep2), "172.17.0.3/16");
        // And the null driver knows its objects: the whole lifecycle winds down cleanly.
        c.sandbox("c1").unwrap().delete().await.unwrap();
        ep2.delete(false).await.unwrap();
        net.delete().await.unwrap();
        assert!(c.networks().is_empty() && c.sandboxes().is_empty());
    }
    // The handles above held the file open; with them gone, a third process.
    let store = Arc::new(RedbStore::open(&path).unwrap());
    let host = Host::with_store(store).await;
    assert!(host.controller.networks().is_empty());
    assert!(
        host.kv_keys("default").is_empty(),
        "the IPAM released everything: {:?}",
        host.kv_keys("default")
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
