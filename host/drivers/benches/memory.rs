//! Memory: the resident size of a process with the runtime and the built-in drivers
//! loaded, and what each further Rust driver instance adds.
//!
//! Run: `cargo bench -p wnet-drivers --bench memory`. Prints figures; asserts nothing.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "a benchmark"
)]

use std::sync::Arc;

use wnet_core::{MemoryStore, NetworkDriver};
use wnet_drivers::BUILTINS;
use wnet_runtime::{LoadedDriver, Manifest, Runtime, RuntimeConfig};
use wnet_types::NetworkRequest;

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that excludes this bench skips it.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"memory".contains(a.as_str()))
    {
        return;
    }
    let tk = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = rss();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("wnet-bench-cache")),
        store: Arc::new(MemoryStore::new()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let builtins = tk.block_on(wnet_drivers::load_all(&runtime)).unwrap();
    let with_builtins = rss();
    println!(
        "process RSS: {:.1} MiB at start, {:.1} MiB with the runtime and {} built-in drivers loaded",
        mib(start),
        mib(with_builtins),
        builtins.len()
    );

    let null = BUILTINS
        .iter()
        .find(|b| b.package == "wnet-driver-null")
        .unwrap();
    const N: usize = 50;
    let mut drivers = Vec::with_capacity(N);
    let before = rss();
    for i in 0..N {
        let mut manifest: Manifest = Manifest::parse(null.manifest).unwrap();
        manifest.name = format!("null-{i}");
        let LoadedDriver::Network(d) = tk.block_on(runtime.load(null.wasm, manifest)).unwrap()
        else {
            unreachable!()
        };
        // A call that touches the driver's kv, so the instance is really in use.
        let request = NetworkRequest {
            network_id: format!("n{i}"),
            ..Default::default()
        };
        tk.block_on(d.create_network(&request)).unwrap();
        drivers.push(d);
    }
    let after = rss();
    println!(
        "per Rust driver instance (null driver, {N} instances): {:.2} MiB",
        mib(after.saturating_sub(before)) / N as f64
    );
}
