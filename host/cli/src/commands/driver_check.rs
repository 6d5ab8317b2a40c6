//! `wnet driver check FILE.wasm [--manifest FILE.toml]`: what a component is and
//! whether this host will load it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use wnet_core::NetworkDriver as _;
use wnet_runtime::{
    CONTRACT_VERSION, Capability, DriverKind, LoadedDriver, Manifest, Runtime, RuntimeConfig,
};

/// Reports on a component; with a manifest, loads it for real (check, link, first
/// instance, `capabilities`). Fails when the host would refuse it.
pub fn run(file: &Path, manifest: Option<&Path>) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let manifest_path = manifest
        .map(Path::to_path_buf)
        .or_else(|| Some(file.with_extension("toml")).filter(|p| p.exists()));
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!(
        "component:    {} ({} KiB)",
        file.display(),
        wasm.len().div_ceil(1024)
    );
    let report = match runtime.inspect(&name, &wasm) {
        Ok(r) => r,
        Err(e) => {
            println!("result:       REFUSED: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match report.kind() {
        Some(kind) => println!("world:        {} (a {kind} driver)", kind.world()),
        None => println!("world:        none of wnet's: it exports no wnet:driver interface"),
    }
    match report.version() {
        Some(v) => println!("contract:     wnet:driver@{v} (this host speaks {CONTRACT_VERSION})"),
        None => println!("contract:     none"),
    }
    println!("exports:      {}", list(&report.exports));
    println!("imports:      {}", list(&report.imports));
    let caps: Vec<String> = report
        .capabilities()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "capabilities: {}",
        if caps.is_empty() {
            "none".to_owned()
        } else {
            caps.join(", ")
        }
    );
    let Some(manifest_path) = manifest_path else {
        println!(
            "manifest:     none given (and no {}): pass --manifest to check its grants and start it",
            file.with_extension("toml").display()
        );
        // Still check what needs no manifest: the contract version and a known world,
        // as if the manifest granted everything the component asks for.
        let assumed = Manifest {
            name,
            kind: report.kind().unwrap_or(DriverKind::Network),
            scope: Default::default(),
            description: String::new(),
            capabilities: Capability::ALL.to_vec(),
            limits: Default::default(),
            links: Default::default(),
            sysctl: Default::default(),
        };
        return Ok(match wnet_runtime::check(&report, &assumed) {
            Ok(()) => {
                println!("result:       OK as far as the component goes");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("result:       REFUSED: {e}");
                ExitCode::FAILURE
            }
        });
    };
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read manifest {}", manifest_path.display()))?;
    let manifest = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            println!("manifest:     {}", manifest_path.display());
            println!("result:       REFUSED: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "manifest:     {}: name {}, kind {}, scope {}, grants {}",
        manifest_path.display(),
        manifest.name,
        manifest.kind,
        manifest.scope,
        if manifest.capabilities.is_empty() {
            "nothing".to_owned()
        } else {
            manifest
                .capabilities
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match tokio.block_on(runtime.load(&wasm, manifest)) {
        Ok(LoadedDriver::Network(d)) => {
            let cap = d.capability();
            println!(
                "result:       OK: loads, links and answers as a network driver (data scope {}, connectivity scope {}; limits {} MiB, {} ms per call)",
                cap.data_scope,
                cap.connectivity_scope,
                d.limits().memory_bytes >> 20,
                d.limits().call_timeout.as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(LoadedDriver::Ipam(d)) => {
            println!(
                "result:       OK: loads, links and answers as an IPAM driver (limits {} MiB, {} ms per call)",
                d.limits().memory_bytes >> 20,
                d.limits().call_timeout.as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("result:       REFUSED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
