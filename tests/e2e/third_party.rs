//! The example third-party driver, built on wnet-sdk alone, loaded like any driver.

use wnet_core::{EndpointOptions, NetworkOptions};
use wnet_tests::{Host, IPMAC_DRIVER};

#[tokio::test]
async fn the_example_driver_loads_and_works() {
    let host = Host::new().await;
    host.load(IPMAC_DRIVER).await;
    let net = host
        .controller
        .new_network("ipmac", "legacy", NetworkOptions::default())
        .await
        .unwrap();
    let ep = net
        .create_endpoint("web", EndpointOptions::default())
        .await
        .unwrap();
    let info = ep.info().unwrap();
    assert_eq!(info.address.unwrap().to_string(), "172.17.0.2/16");
    assert_eq!(info.mac_address.unwrap().to_string(), "02:42:ac:11:00:02");
    assert_eq!(
        ep.oper_info().await.unwrap().get("mac"),
        Some("02:42:ac:11:00:02")
    );
}
