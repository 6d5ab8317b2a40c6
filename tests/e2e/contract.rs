//! Components that do not fit the contract are refused before they run, with a message
//! that says exactly what is wrong.

use wnet_runtime::{CompileSource, EngineParts, LoadError, Manifest, Runtime, RuntimeConfig};
use wnet_tests::{FIXTURE_ALIEN_IMPORT, FIXTURE_WRONG_SHAPE, FIXTURE_WRONG_VERSION, Fixture};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

async fn refuse(wasm: &[u8], manifest: &str) -> LoadError {
    match runtime()
        .load(wasm, Manifest::parse(manifest).unwrap())
        .await
    {
        Ok(_) => panic!("loaded a component that should be refused"),
        Err(e) => e,
    }
}

fn builtin(name: &str, kind: &str) -> &'static [u8] {
    wnet_drivers::BUILTINS
        .iter()
        .find(|b| {
            let m = b.manifest().unwrap();
            m.name == name && m.kind.to_string() == kind
        })
        .unwrap()
        .wasm
}

#[tokio::test]
async fn another_contract_version_is_refused() {
    let Fixture { wasm, manifest } = FIXTURE_WRONG_VERSION;
    let err = refuse(wasm, manifest).await;
    assert!(matches!(err, LoadError::WrongVersion { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("wnet:driver@0.2.0") && msg.contains("0.1.x"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_component_of_the_wrong_world_is_refused() {
    let ipam = builtin("default", "ipam");
    let err = refuse(
        ipam,
        "name = \"default\"\nkind = \"network\"\ncapabilities = [\"log\", \"kv\"]",
    )
    .await;
    assert!(matches!(err, LoadError::MissingExport { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("wnet:driver/network-driver@0.1.0")
            && msg.contains("wnet:driver/ipam-driver@0.1.0"),
        "{msg}"
    );
}

#[tokio::test]
async fn imports_the_host_does_not_provide_or_grant_are_refused() {
    let Fixture { wasm, manifest } = FIXTURE_ALIEN_IMPORT;
    let err = refuse(wasm, manifest).await;
    assert!(matches!(err, LoadError::UnknownImport { .. }), "{err}");
    assert!(
        err.to_string().contains("wnet:driver/teleport@0.1.0"),
        "{err}"
    );

    let null = builtin("null", "network");
    let err = refuse(
        null,
        "name = \"null\"\nkind = \"network\"\ncapabilities = [\"log\"]",
    )
    .await;
    assert!(matches!(err, LoadError::NotGranted { .. }), "{err}");
    assert!(err.to_string().contains("add \"kv\""), "{err}");
}

#[tokio::test]
async fn functions_of_the_wrong_type_are_refused() {
    let Fixture { wasm, manifest } = FIXTURE_WRONG_SHAPE;
    let err = refuse(wasm, manifest).await;
    assert!(matches!(err, LoadError::Contract { .. }), "{err}");
    assert!(err.to_string().contains("wrong-shape"), "{err}");
}

#[tokio::test]
async fn core_modules_and_garbage_are_refused() {
    let manifest = "name = \"x\"\nkind = \"network\"";
    let err = refuse(b"\0asm\x01\0\0\0", manifest).await;
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
    let err = refuse(b"#!/bin/sh\nrm -rf /\n", manifest).await;
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");
    // A component header followed by garbage.
    let err = refuse(b"\0asm\x0d\0\x01\0\xff\xff\xff", manifest).await;
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
}

#[tokio::test]
async fn a_second_start_takes_the_compiled_driver_from_the_cache() {
    let tmp = crate::TempDir::new("cache");
    let dir = tmp.path();
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm = builtin("null", "network");
    let (_, first) = Runtime::new(config.clone())
        .unwrap()
        .compile("null", wasm)
        .unwrap();
    let (_, second) = Runtime::new(config).unwrap().compile("null", wasm).unwrap();
    assert_eq!(
        (first, second),
        (CompileSource::CompiledAndCached, CompileSource::Cache)
    );
    // A corrupt cache entry is recompiled, not trusted.
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    };
    let (_, third) = Runtime::new(config).unwrap().compile("null", wasm).unwrap();
    assert_eq!(third, CompileSource::CompiledAndCached);
}

#[tokio::test]
async fn code_taken_from_the_cache_ahead_is_what_the_load_uses() {
    let tmp = crate::TempDir::new("ahead");
    let dir = tmp.path();
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm = builtin("null", "network");
    Runtime::new(config.clone())
        .unwrap()
        .compile("null", wasm)
        .unwrap();
    let digests = wnet_drivers::digests(|kind, name| {
        kind == wnet_runtime::DriverKind::Network && name == "null"
    });
    assert_eq!(digests.len(), 1);
    let mut parts = EngineParts::new().unwrap();
    parts.compile_ahead(dir, &digests);
    // With the cache emptied, only the code taken ahead can make the load a cache hit.
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let runtime = Runtime::with_engine(parts, config).unwrap();
    let (_, first) = runtime.compile("null", wasm).unwrap();
    assert_eq!(first, CompileSource::Cache);
    // Taken once: the next load compiles (and caches) again.
    let (_, second) = runtime.compile("null", wasm).unwrap();
    assert_eq!(second, CompileSource::CompiledAndCached);
}

#[tokio::test]
async fn code_taken_ahead_by_two_threads_at_once_is_all_used() {
    let tmp = crate::TempDir::new("ahead-shared");
    let dir = tmp.path();
    let config = RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    };
    let drivers = [
        ("null", "network"),
        ("host", "network"),
        ("default", "ipam"),
    ];
    let warm = Runtime::new(config.clone()).unwrap();
    for (name, kind) in drivers {
        warm.compile(name, builtin(name, kind)).unwrap();
    }
    let digests = wnet_drivers::digests(|kind, name| {
        drivers
            .iter()
            .any(|(n, k)| *n == name && *k == kind.to_string())
    });
    assert_eq!(digests.len(), drivers.len());
    let mut parts = EngineParts::new().unwrap();
    let ahead = parts.ahead(dir, &digests);
    let helper = {
        let ahead = ahead.clone();
        std::thread::spawn(move || ahead.work())
    };
    ahead.work();
    helper.join().unwrap();
    parts.adopt(&ahead);
    // With the cache emptied, only the code the two threads took can make the loads
    // cache hits: every component was taken once, by one of them.
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let runtime = Runtime::with_engine(parts, config).unwrap();
    for (name, kind) in drivers {
        let (_, source) = runtime.compile(name, builtin(name, kind)).unwrap();
        assert_eq!(source, CompileSource::Cache, "{name}");
    }
}

#[tokio::test]
async fn limits_above_the_hosts_ceilings_are_refused() {
    let null = builtin("null", "network");
    let manifest = "name = \"null\"\nkind = \"network\"\ncapabilities = [\"log\", \"kv\"]\n[limits]\nmemory-mib = 4096";
    let err = refuse(null, manifest).await;
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    assert!(
        err.to_string().contains("limits.memory-mib = 4096") && err.to_string().contains("1024"),
        "{err}"
    );
}
