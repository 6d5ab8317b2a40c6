//! End to end: the controller driving real WASM components through the runtime.
#![allow(
    clippy::unwrap_used,
    reason = "a test helper that fails fails its test"
)]

mod contract;
mod durable;
mod errors;
mod faults;
mod gateway;
mod host_network;
mod ipam;
mod lifecycle;
mod rollback;
mod third_party;

use std::net::IpAddr;

use wnet_core::Endpoint;

/// The endpoint's IPv4 address, as text with its prefix length.
fn v4(ep: &Endpoint) -> String {
    ep.info()
        .unwrap()
        .address
        .map(|a| a.to_string())
        .unwrap_or_default()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
