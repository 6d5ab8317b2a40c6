//! # wnet-sdk: write wnet drivers in Rust
//!
//! A wnet driver is a WebAssembly component that the wnet host loads and calls in CNM's
//! lifecycle order, the way Docker's libnetwork calls its drivers. This crate is all a
//! Rust driver needs: implement [`NetworkDriver`] (or [`IpamDriver`]) with typed
//! arguments, export it with one macro, build for `wasm32-wasip2`.
//!
//! ## A complete driver
//!
//! `Cargo.toml`:
//! ```toml
//! [package]
//! name = "my-driver"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]   # cdylib for the component, rlib for native tests
//!
//! [dependencies]
//! wnet-sdk = "0.1"
//! ```
//!
//! `src/lib.rs`: a driver that gives every endpoint a fixed MAC prefix and remembers its
//! endpoints across restarts.
//! ```
//! use wnet_sdk::{EndpointInterface, EndpointRequest, JoinInfo, JoinRequest, MacAddress,
//!                NetworkDriver, NetworkRequest, Result, kv, log};
//!
//! #[derive(Default)]
//! pub struct MyDriver;
//!
//! impl NetworkDriver for MyDriver {
//!     fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
//!         request.options.deny_unknown(&[])?;   // a typo in `-o` is an error
//!         log::info(&format!("network {} created", request.name));
//!         Ok(())
//!     }
//!     fn delete_network(&mut self, _network_id: &str) -> Result<()> {
//!         Ok(())
//!     }
//!     fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
//!         kv::set(&format!("ep/{}", request.endpoint_id), request.endpoint_name.as_bytes())?;
//!         let mac = request.interface.mac_address.is_none().then(|| MacAddress([0x02, 0, 0, 0, 0, 1]));
//!         Ok(EndpointInterface { mac_address: mac, ..Default::default() })
//!     }
//!     fn delete_endpoint(&mut self, _network_id: &str, endpoint_id: &str) -> Result<()> {
//!         kv::delete(&format!("ep/{endpoint_id}"))?;
//!         Ok(())
//!     }
//!     fn join(&mut self, _request: JoinRequest) -> Result<JoinInfo> {
//!         Ok(JoinInfo::default())   // no interface: the sandbox keeps loopback only
//!     }
//!     fn leave(&mut self, _network_id: &str, _endpoint_id: &str) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! wnet_sdk::export_network_driver!(MyDriver);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm` under
//! `target/wasm32-wasip2/release/` is the component. Beside it goes a manifest,
//! `my-driver.toml`, that names the driver and what it may use:
//! ```toml
//! name = "my-driver"
//! kind = "network"
//! scope = "local"
//! capabilities = ["log", "kv"]
//! ```
//! `wnet driver check my_driver.wasm --manifest my-driver.toml` loads it and reports
//! what it exports and imports, or exactly what is wrong.
//!
//! ## Rules of the road
//! - Return errors as values: [`Error::invalid_parameter`] and its siblings carry
//!   libnetwork's error classes to the host, which shows the message to the operator.
//!   A panic also ends the call, but as a trap: the host discards the instance.
//! - Keep what must last in [`kv`]; the driver value is re-created from
//!   [`Default`] after a trap, a deadline or a restart.
//! - Log with [`log`], not `eprintln!` (which costs a host call per fragment).
//! - Unit-test the logic natively with [`testing::Harness`] (`cargo test`, no WASM).

#[doc(hidden)]
pub mod bindings;
pub mod firewall;
mod ipam;
pub mod kernel;
pub mod kv;
pub mod log;
mod network;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use ipam::IpamDriver;
#[doc(hidden)]
pub use ipam::IpamExport;
pub use network::NetworkDriver;
#[doc(hidden)]
pub use network::NetworkExport;
/// The `ipnet` crate, whose prefix types the contract uses.
pub use wnet_types::ipnet;
pub use wnet_types::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, Capability, EndpointInterface,
    EndpointRequest, Error, ErrorKind, ExternalConnectivityRequest, InterfaceInfo, InterfaceName,
    IpNet, IpamCapability, IpamData, Ipv4Net, Ipv6Net, JoinInfo, JoinRequest, MacAddress,
    NetworkRequest, Options, PoolRequest, PortBinding, Result, RouteType, SandboxInfo, Scope,
    StaticRoute, keys, ports,
};
