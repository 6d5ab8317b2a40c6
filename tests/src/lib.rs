//! Shared set-up of the end-to-end tests: the fixture components and a controller with
//! the built-in drivers loaded through the WASM runtime.

pub mod bench;
pub mod faults;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wnet_core::{Config, Controller, MemoryStore, Store};
use wnet_netlink::Namespace;
use wnet_runtime::{LoadedDriver, Manifest, Runtime, RuntimeConfig};

/// A component built for the tests, with its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// The component.
    pub wasm: &'static [u8],
    /// Its manifest.
    pub manifest: &'static str,
}

impl Fixture {
    /// The parsed manifest.
    pub fn manifest(&self) -> Manifest {
        Manifest::parse(self.manifest).expect("fixture manifests are valid")
    }
}

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// A controller, its runtime and their shared store.
pub struct Host {
    /// The controller, with the built-in drivers registered.
    pub controller: Controller,
    /// The runtime the drivers run in.
    pub runtime: Runtime,
    /// The store holding the controller's records and the drivers' `kv`.
    pub store: Arc<dyn Store>,
    /// The built-in drivers.
    pub builtins: Vec<LoadedDriver>,
}

/// Where compiled drivers are cached between test runs: compiling every driver for
/// every test would dominate the suite's time.
pub fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("wnet-test-cache")
}

impl Host {
    /// A fresh controller and runtime with the built-in drivers.
    pub async fn new() -> Host {
        Host::with_store(Arc::new(MemoryStore::new())).await
    }

    /// A controller and runtime over an existing store: what a restart finds.
    pub async fn with_store(store: Arc<dyn Store>) -> Host {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache_dir()),
            store: store.clone(),
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let controller = Controller::new(Config {
            store: store.clone(),
            ..Config::default()
        })
        .expect("controller");
        let builtins = wnet_drivers::load_all(&runtime)
            .await
            .expect("built-in drivers load");
        for d in &builtins {
            d.register(&controller).expect("register");
        }
        Host {
            controller,
            runtime,
            store,
            builtins,
        }
    }

    /// Loads and registers a fixture.
    pub async fn load(&self, fixture: Fixture) -> LoadedDriver {
        let driver = self
            .runtime
            .load(fixture.wasm, fixture.manifest())
            .await
            .expect("fixture loads");
        driver.register(&self.controller).expect("register");
        driver
    }

    /// The keys a driver holds in its `kv`.
    pub fn kv_keys(&self, driver: &str) -> Vec<String> {
        self.store
            .scan(&wnet_core::store::driver_table(driver), "")
            .expect("scan")
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}

/// `ping` over TCP from namespace `from` to a listener in `to` at `to_addr` (an IPv4
/// address or a bracketed IPv6 one), `pong` back; panics if either does not arrive.
pub fn tcp(from: &Namespace, to: &Namespace, to_addr: &str) {
    let addr: SocketAddr = format!("{to_addr}:7777").parse().expect("an address");
    let listener = to
        .run(move || TcpListener::bind(addr).expect("listen"))
        .expect("enter the listener's namespace");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).expect("read ping");
        s.write_all(b"pong").expect("write pong");
        buf
    });
    let reply = from
        .run(move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
            s.write_all(b"ping").expect("write ping");
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).expect("read pong");
            buf
        })
        .expect("enter the client's namespace");
    assert_eq!(&server.join().expect("the server"), b"ping");
    assert_eq!(&reply, b"pong");
}

/// The peer address a TCP listener at `addr` (port 7000) in `to` sees for a
/// connection from `from`; `None` when no connection is made within a second (dropped
/// on the way, or no way back).
pub fn peer_seen(from: &Namespace, to: &Namespace, addr: &str) -> Option<std::net::IpAddr> {
    peer_via(from, to, &format!("{addr}:7000"), &format!("{addr}:7000"))
}

/// The peer address a TCP listener at `listen` in `to` sees for a connection from
/// `from` to `connect` (a published port leading to the listener); `None` when no
/// connection is made within a second.
pub fn peer_via(
    from: &Namespace,
    to: &Namespace,
    listen: &str,
    connect: &str,
) -> Option<std::net::IpAddr> {
    let listen: SocketAddr = listen.parse().expect("an address");
    let addr: SocketAddr = connect.parse().expect("an address");
    let listener = to
        .run(move || TcpListener::bind(listen).expect("listen"))
        .expect("enter the listener's namespace");
    listener.set_nonblocking(true).expect("non-blocking");
    let connected = from
        .run(move || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
        .expect("enter the client's namespace");
    if !connected {
        return None;
    }
    for _ in 0..100 {
        if let Ok((_, peer)) = listener.accept() {
            return Some(peer.ip());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Runs `nft` with `args` (and `stdin`, if any) inside `ns`; its stdout. Panics if it
/// fails.
pub fn nft(ns: &Namespace, args: &[&str], stdin: Option<&str>) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    ns.run(move || {
        let mut child = std::process::Command::new("nft")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("nft runs (Debian's nftables)");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("write to nft");
        }
        drop(pipe);
        let out = child.wait_with_output().expect("nft ends");
        assert!(out.status.success(), "nft {args:?} failed");
        String::from_utf8(out.stdout).expect("nft prints text")
    })
    .expect("enter the namespace")
}
