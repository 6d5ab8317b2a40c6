//! A failure at any step undoes the steps before it: no pool, address, driver object
//! or record is left behind. Failures are injected with the hostile fixture driver.

use wnet_core::{EndpointOptions, Error, JoinOptions, NetworkOptions, SandboxOptions};
use wnet_tests::{FIXTURE_HOSTILE, Host};
use wnet_types::Options;

use crate::v4;

fn hostile(call: &str, how: &str) -> Options {
    [(format!("hostile.{call}"), how.to_owned())]
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_failed_create_network_releases_its_pool() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let opts = NetworkOptions {
        options: hostile("create-network", "error"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "n", opts)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Driver {
                call: "create-network",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("hostile"), "{err}");
    assert!(host.controller.networks().is_empty());
    assert!(
        host.kv_keys("default").is_empty(),
        "pool left behind: {:?}",
        host.kv_keys("default")
    );
    let next = host
        .controller
        .new_network("null", "n", NetworkOptions::default())
        .await
        .unwrap();
    assert_eq!(
        next.info().unwrap().ipv4[0].pool.to_string(),
        "172.17.0.0/16"
    );
}

#[tokio::test]
async fn a_failed_create_endpoint_releases_its_address() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let net = host
        .controller
        .new_network("hostile", "n", NetworkOptions::default())
        .await
        .unwrap();
    let failing = EndpointOptions {
        options: hostile("create-endpoint", "error"),
        ..Default::default()
    };
    let err = net.create_endpoint("bad", failing).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Driver {
                call: "create-endpoint",
                ..
            }
        ),
        "{err}"
    );
    assert!(net.endpoints().unwrap().is_empty());
    let ok = net
        .create_endpoint("good", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(
        v4(&ok),
        "172.17.0.2/16",
        "the failed endpoint's address was released"
    );
}

#[tokio::test]
async fn an_invalid_create_endpoint_answer_deletes_the_drivers_endpoint() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let net = host
        .controller
        .new_network("hostile", "n", NetworkOptions::default())
        .await
        .unwrap();
    for lie in ["bad-mac", "foreign-address"] {
        let opts = EndpointOptions {
            options: hostile("create-endpoint", lie),
            ..Default::default()
        };
        let err = net.create_endpoint("liar", opts).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidAnswer {
                    call: "create-endpoint",
                    ..
                }
            ),
            "{lie}: {err}"
        );
        assert!(
            !host.kv_keys("hostile").iter().any(|k| k.starts_with("ep/")),
            "{lie}: the driver's endpoint was not deleted: {:?}",
            host.kv_keys("hostile")
        );
    }
    assert!(net.endpoints().unwrap().is_empty());
    let ok = net
        .create_endpoint("good", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(v4(&ok), "172.17.0.2/16");
}

#[tokio::test]
async fn failed_joins_leave_the_endpoint_unjoined_and_the_driver_told() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let net = host
        .controller
        .new_network("hostile", "n", NetworkOptions::default())
        .await
        .unwrap();
    let sb = host
        .controller
        .new_sandbox("c1", SandboxOptions::default())
        .await
        .unwrap();
    for (call, how, expect_answer_error) in [
        ("join", "error", false),
        ("join", "bad-ifname", true),
        ("program-external-connectivity", "error", false),
    ] {
        let name = format!("{how}-{}", call.len());
        let ep = net
            .create_endpoint(
                &name,
                EndpointOptions {
                    options: hostile(call, how),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let err = ep.join(&sb, JoinOptions::default()).await.unwrap_err();
        if expect_answer_error {
            assert!(
                matches!(err, Error::InvalidAnswer { call: "join", .. }),
                "{err}"
            );
            assert!(err.to_string().contains("../../etc/passwd"), "{err}");
        } else {
            assert!(matches!(err, Error::Driver { .. }), "{err}");
        }
        assert!(
            ep.info().unwrap().join.is_none(),
            "{call}={how}: still joined"
        );
        assert!(sb.endpoints().unwrap().is_empty());
        let keys = host.kv_keys("hostile");
        assert!(
            !keys
                .iter()
                .any(|k| k.starts_with("joined/") || k.starts_with("external/")),
            "{call}={how}: {keys:?}"
        );
    }
    // A well-behaved endpoint on the same network joins and gets external connectivity.
    let ep = net
        .create_endpoint("fine", EndpointOptions::default())
        .await
        .unwrap();
    ep.join(&sb, JoinOptions::default()).await.unwrap();
    let join = ep.info().unwrap().join.unwrap();
    assert!(join.ipv4_gateway && join.external_connectivity);
    ep.leave(&sb).await.unwrap();
    assert!(
        !host
            .kv_keys("hostile")
            .iter()
            .any(|k| k.starts_with("external/")),
        "revoked on leave"
    );
}
