//! wnet's WASM runtime: loads network and IPAM driver components into wasmtime and
//! puts them behind the controller's driver traits.
//!
//! - One [`Runtime`] (one `Engine` with epoch interruption, one linker holding WASI and
//!   the host capabilities), and a compile cache on disk keyed by the component's hash
//!   and the engine's compatibility, so a second start deserializes instead of compiling.
//! - Each driver has its [`Manifest`]; a component is checked against it (contract
//!   version, export, granted imports) before anything of it runs.
//! - Each driver lives in one long-lived instance in its own `Store`, with a memory
//!   limit, a per-call deadline and a locked-down WASI context. A trap, deadline or
//!   out-of-memory becomes a [`wnet_core::Fault`] naming what happened; the instance is
//!   discarded and the next call makes a new one, which finds the driver's `kv` intact.

mod answer;
mod bindings;
mod check;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod host;
mod instance;
mod ipam;
pub mod manifest;
mod network;

pub use check::{CONTRACT_VERSION, ComponentReport, check};
pub use engine::{Ahead, Clock, CompileSource, EngineParts, LoadedDriver, Runtime, RuntimeConfig};
pub use error::LoadError;
pub use host::kernel::Kernel;
pub use instance::{Limits, QUARANTINE_AFTER, State, Stats, Status};
pub use ipam::WasmIpamDriver;
pub use manifest::{Capability, DriverKind, Manifest};
pub use network::WasmNetworkDriver;
