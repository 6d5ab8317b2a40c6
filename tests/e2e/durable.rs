//! The store on disk: what a restart finds, and one commit per operation.

use std::sync::Arc;

use wnet_core::{EndpointOptions, JoinOptions, NetworkOptions, RedbStore, SandboxOptions};
use wnet_tests::Host;

use crate::{TempDir, v4};

#[tokio::test]
async fn networks_endpoints_sandboxes_and_driver_state_survive_a_restart() {
    let tmp = TempDir::new("restart");
    let path = tmp.path().join("wnet.db");
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
        assert!(c.networks().is_empty() && c.sandboxes().unwrap().is_empty());
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
}

/// A store from before the controller kept its indexes (endpoint names per network,
/// sandboxes per namespace): the controller builds them at start, so lookups by name
/// and by namespace path still find what the file holds.
#[tokio::test]
async fn a_store_without_indexes_is_indexed_at_start() {
    use wnet_core::Store;

    let tmp = TempDir::new("indexes");
    let path = tmp.path().join("wnet.db");
    let key = {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let host = Host::with_store(store.clone()).await;
        let c = &host.controller;
        let net = c
            .new_network("null", "net1", NetworkOptions::default())
            .await
            .unwrap();
        let sb = c
            .new_sandbox("c1", SandboxOptions::default())
            .await
            .unwrap();
        for name in ["ep1", "ep2"] {
            let ep = net
                .create_endpoint(name, EndpointOptions::default())
                .await
                .unwrap();
            if name == "ep1" {
                ep.join(&sb, JoinOptions::default()).await.unwrap();
            }
        }
        // What a wnet of layout 1 wrote: the records, no index.
        let mut removed = 0;
        for table in ["index/endpoint-names", "index/sandbox-keys", "index/meta"] {
            for (k, _) in store.scan(table, "").unwrap() {
                assert!(store.delete(table, &k).unwrap());
                removed += 1;
            }
        }
        assert_eq!(removed, 4, "two endpoint names, one namespace, the marker");
        sb.info().unwrap().key
    };

    let store = Arc::new(RedbStore::open(&path).unwrap());
    let host = Host::with_store(store).await;
    let c = &host.controller;
    let net = c.network("net1").unwrap();
    assert_eq!(net.endpoint("ep2").unwrap().name(), "ep2");
    let names: Vec<_> = net
        .endpoints()
        .unwrap()
        .iter()
        .map(|e| e.name().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["ep1", "ep2"]);
    let err = net
        .create_endpoint("ep1", EndpointOptions::default())
        .await
        .expect_err("a second ep1 is refused");
    assert!(err.to_string().contains("ep1"), "{err}");
    assert_eq!(c.sandbox_by_key(&key).unwrap().unwrap().id(), "c1");
    // Removing keeps the indexes in step: the name is free again, the path unknown.
    let sb = c.sandbox("c1").unwrap();
    sb.delete().await.unwrap();
    assert!(c.sandbox_by_key(&key).unwrap().is_none());
    assert!(net.endpoint("ep1").is_err());
    net.create_endpoint("ep1", EndpointOptions::default())
        .await
        .unwrap();
}

/// An IPAM driver that keeps its allocations in memory only, and so asks for
/// libnetwork's request replay at start.
#[derive(Default)]
struct ForgetfulIpam {
    taken: std::sync::Mutex<std::collections::BTreeSet<std::net::IpAddr>>,
}

#[async_trait::async_trait]
impl wnet_core::IpamDriver for ForgetfulIpam {
    fn capability(&self) -> wnet_core::types::IpamCapability {
        wnet_core::types::IpamCapability {
            requires_mac_address: false,
            requires_request_replay: true,
        }
    }

    async fn default_address_spaces(
        &self,
    ) -> Result<wnet_core::types::AddressSpaces, wnet_core::DriverError> {
        Ok(wnet_core::types::AddressSpaces {
            local: "mem".to_owned(),
            global: "mem".to_owned(),
        })
    }

    async fn request_pool(
        &self,
        request: &wnet_core::types::PoolRequest,
    ) -> Result<wnet_core::types::AllocatedPool, wnet_core::DriverError> {
        let pool = request.pool.ok_or_else(|| {
            wnet_core::types::Error::new(
                wnet_core::types::ErrorKind::InvalidParameter,
                "give --subnet",
            )
        })?;
        Ok(wnet_core::types::AllocatedPool {
            pool_id: pool.to_string(),
            pool,
            meta: Default::default(),
        })
    }

    async fn release_pool(&self, _pool_id: &str) -> Result<(), wnet_core::DriverError> {
        Ok(())
    }

    async fn request_address(
        &self,
        request: &wnet_core::types::AddressRequest,
    ) -> Result<wnet_core::types::AllocatedAddress, wnet_core::DriverError> {
        let pool: wnet_core::types::IpNet = request.pool_id.parse().unwrap();
        let mut taken = self.taken.lock().unwrap();
        let address = match request.preferred {
            Some(a) if taken.contains(&a) => {
                return Err(wnet_core::types::Error::new(
                    wnet_core::types::ErrorKind::Conflict,
                    format!("{a} is taken"),
                )
                .into());
            }
            Some(a) => a,
            None => pool.hosts().find(|a| !taken.contains(a)).ok_or_else(|| {
                wnet_core::types::Error::new(wnet_core::types::ErrorKind::Unavailable, "full")
            })?,
        };
        taken.insert(address);
        Ok(wnet_core::types::AllocatedAddress {
            address: wnet_core::types::IpNet::new(address, pool.prefix_len()).unwrap(),
            meta: Default::default(),
        })
    }

    async fn release_address(
        &self,
        _pool_id: &str,
        address: std::net::IpAddr,
    ) -> Result<(), wnet_core::DriverError> {
        self.taken.lock().unwrap().remove(&address);
        Ok(())
    }
}

#[tokio::test]
async fn a_stateless_ipam_driver_is_given_its_requests_again_at_start() {
    let tmp = TempDir::new("replay");
    let path = tmp.path().join("wnet.db");
    let options = || {
        NetworkOptions {
            ipam_driver: Some("mem".to_owned()),
            ..NetworkOptions::default()
        }
        .with_subnet(wnet_core::IpamConfig::subnet(
            "10.9.0.0/24".parse().unwrap(),
        ))
    };
    {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let host = Host::with_store(store).await;
        let c = &host.controller;
        c.register_ipam_driver("mem", Arc::new(ForgetfulIpam::default()))
            .unwrap();
        let net = c.new_network("null", "net1", options()).await.unwrap();
        for name in ["ep1", "ep2"] {
            net.create_endpoint(name, EndpointOptions::default())
                .await
                .unwrap();
        }
        assert_eq!(v4(&net.endpoint("ep2").unwrap()), "10.9.0.3/24");
    }
    let store = Arc::new(RedbStore::open(&path).unwrap());
    let host = Host::with_store(store).await;
    let c = &host.controller;
    c.register_ipam_driver("mem", Arc::new(ForgetfulIpam::default()))
        .unwrap();
    let replayed = c.replay_ipam().await.unwrap();
    assert_eq!(
        replayed,
        ["IPAM driver `mem`: replayed 4 requests"],
        "the pool, the gateway and two addresses"
    );
    let net = c.network("net1").unwrap();
    let ep3 = net
        .create_endpoint("ep3", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(
        v4(&ep3),
        "10.9.0.4/24",
        "the forgetful driver now knows .1 to .3 are taken"
    );
    let err = net
        .create_endpoint(
            "ep4",
            EndpointOptions {
                ipv4_address: Some("10.9.0.2".parse().unwrap()),
                ..EndpointOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("10.9.0.2"), "{err}");
}
