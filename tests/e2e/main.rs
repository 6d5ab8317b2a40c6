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
use std::path::{Path, PathBuf};

use wnet_core::Endpoint;

/// A directory of the test's own under the temporary directory, removed when the test
/// ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wnet-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
