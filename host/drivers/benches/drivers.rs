//! Benchmarks of the built-in drivers through the WASM runtime:
//!
//! - `call/*`: one driver call, host → WASM → host (and through a host import and back);
//! - `ipam/exhaust-slash16`: `request-address` until a /16 is exhausted (65 534 calls);
//! - `start/*`: compiling the built-ins cold, against deserializing them from the cache,
//!   and a whole warm start (load, instantiate and ask the capabilities of every built-in);
//! - `controller/*`: an attach and a detach on the null driver (controller and WASM,
//!   no kernel work), the overhead wnet adds on top of netlink.
//!
//! Run: `cargo bench -p wnet-drivers`.
#![allow(clippy::unwrap_used, missing_docs, reason = "a benchmark")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wnet_core::{
    Config, Controller, EndpointOptions, IpamDriver, JoinOptions, MemoryStore, NetworkDriver,
    NetworkOptions, SandboxOptions,
};
use wnet_drivers::BUILTINS;
use wnet_runtime::{LoadedDriver, Runtime, RuntimeConfig};
use wnet_types::{AddressRequest, EndpointRequest, NetworkRequest, PoolRequest};

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cache() -> std::path::PathBuf {
    std::env::temp_dir().join("wnet-bench-cache")
}

fn runtime(store: Arc<MemoryStore>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache()),
        store,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn builtin(rt: &Runtime, name: &str, kind: &str) -> LoadedDriver {
    let b = BUILTINS
        .iter()
        .find(|b| {
            let m = b.manifest().unwrap();
            m.name == name && m.kind.to_string() == kind
        })
        .unwrap();
    rt.load(b.wasm, b.manifest().unwrap()).await.unwrap()
}

fn calls(c: &mut Criterion) {
    let tk = tokio();
    let rt = runtime(Arc::new(MemoryStore::new()));
    let (ipam, null) = tk.block_on(async {
        let LoadedDriver::Ipam(ipam) = builtin(&rt, "default", "ipam").await else {
            unreachable!()
        };
        let LoadedDriver::Network(null) = builtin(&rt, "null", "network").await else {
            unreachable!()
        };
        null.create_network(&NetworkRequest {
            network_id: "n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        null.create_endpoint(&EndpointRequest {
            network_id: "n".into(),
            endpoint_id: "e".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        (ipam, null)
    });
    let mut g = c.benchmark_group("call");
    g.bench_function("ipam-default-address-spaces", |b| {
        b.iter_custom(|n| {
            tk.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    ipam.default_address_spaces().await.unwrap();
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("null-leave-with-kv-import", |b| {
        b.iter_custom(|n| {
            tk.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    null.leave("n", "e").await.unwrap();
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

fn exhaust(c: &mut Criterion) {
    let tk = tokio();
    let mut g = c.benchmark_group("ipam");
    g.sample_size(10);
    g.bench_function("exhaust-slash16", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                total += tk.block_on(async {
                    let rt = runtime(Arc::new(MemoryStore::new()));
                    let LoadedDriver::Ipam(ipam) = builtin(&rt, "default", "ipam").await else {
                        unreachable!()
                    };
                    let t = Instant::now();
                    let pool = ipam
                        .request_pool(&PoolRequest {
                            address_space: "LocalDefault".into(),
                            pool: Some("10.0.0.0/16".parse().unwrap()),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    let req = AddressRequest {
                        pool_id: pool.pool_id,
                        ..Default::default()
                    };
                    let mut got = 0u32;
                    while ipam.request_address(&req).await.is_ok() {
                        got += 1;
                    }
                    let elapsed = t.elapsed();
                    assert_eq!(got, 65_534);
                    elapsed
                });
            }
            total
        })
    });
    g.finish();
}

fn start(c: &mut Criterion) {
    let tk = tokio();
    let mut g = c.benchmark_group("start");
    g.sample_size(10);
    let cold = Runtime::new(RuntimeConfig::default()).unwrap();
    g.bench_function("compile-builtins-cold", |b| {
        b.iter(|| {
            for d in BUILTINS {
                cold.compile(d.package, d.wasm).unwrap();
            }
        })
    });
    let warm = runtime(Arc::new(MemoryStore::new()));
    for d in BUILTINS {
        warm.compile(d.package, d.wasm).unwrap();
    }
    g.bench_function("compile-builtins-cached", |b| {
        b.iter(|| {
            for d in BUILTINS {
                warm.compile(d.package, d.wasm).unwrap();
            }
        })
    });
    g.bench_function("warm-start-builtins", |b| {
        b.iter(|| {
            tk.block_on(async {
                let rt = runtime(Arc::new(MemoryStore::new()));
                wnet_drivers::load_all(&rt).await.unwrap()
            })
        })
    });
    g.finish();
}

fn controller(c: &mut Criterion) {
    let tk = tokio();
    let store = Arc::new(MemoryStore::new());
    let rt = runtime(store.clone());
    let ctrl = Controller::new(Config {
        store,
        ..Config::default()
    })
    .unwrap();
    let net = tk.block_on(async {
        for d in wnet_drivers::load_all(&rt).await.unwrap() {
            d.register(&ctrl).unwrap();
        }
        let opts = NetworkOptions::default()
            .with_subnet(wnet_core::IpamConfig::subnet("10.0.0.0/8".parse().unwrap()));
        ctrl.new_network("null", "bench", opts).await.unwrap()
    });
    let mut g = c.benchmark_group("controller");
    let mut i = 0u64;
    g.bench_function("attach-detach-null", |b| {
        b.iter_custom(|n| {
            tk.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    i += 1;
                    let ep = net
                        .create_endpoint(&format!("e{i}"), EndpointOptions::default())
                        .await
                        .unwrap();
                    let sb = ctrl
                        .new_sandbox(&format!("s{i}"), SandboxOptions::default())
                        .await
                        .unwrap();
                    ep.join(&sb, JoinOptions::default()).await.unwrap();
                    sb.delete().await.unwrap();
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, calls, exhaust, start, controller);
criterion_main!(benches);
