//! wnet's controller: the Container Network Model of Docker's libnetwork.
//!
//! A [`Controller`] owns networks, endpoints and sandboxes, drives IPAM the way
//! libnetwork does, calls network drivers in CNM's lifecycle order and undoes every
//! multi-step operation in reverse order when a step fails. It knows drivers only through
//! the [`NetworkDriver`] and [`IpamDriver`] traits (the WASM runtime implements them) and
//! keeps its records behind the [`Store`] trait. It touches neither wasmtime nor netlink.
//!
//! ```no_run
//! # async fn demo(controller: wnet_core::Controller) -> Result<(), wnet_core::Error> {
//! use wnet_core::{EndpointOptions, JoinOptions, NetworkOptions, SandboxOptions};
//! let network = controller.new_network("null", "net1", NetworkOptions::default()).await?;
//! let endpoint = network.create_endpoint("ep1", EndpointOptions::default()).await?;
//! let sandbox = controller.new_sandbox("container1", SandboxOptions::default()).await?;
//! endpoint.join(&sandbox, JoinOptions::default()).await?;
//! endpoint.leave(&sandbox).await?;
//! endpoint.delete(false).await?;
//! network.delete().await?;
//! # Ok(()) }
//! ```

mod assigned;
mod controller;
mod driver;
mod endpoint;
mod error;
mod ids;
mod ipam;
mod model;
mod network;
pub mod osl;
mod reconcile;
mod rollback;
mod sandbox;
pub mod store;

pub use assigned::{ASSIGNED_IPAM, AssignedIpam};
pub use controller::{AddressPool, Config, Controller};
pub use driver::{DriverError, Fault, IpamDriver, NetworkDriver};
pub use endpoint::{Endpoint, EndpointOptions, JoinOptions, check_join_info};
pub use error::Error;
pub use ids::{valid_ifname, valid_name};
pub use model::{EndpointRecord, JoinRecord, NetworkRecord, PoolRecord, SandboxRecord};
pub use network::{IpamConfig, Network, NetworkOptions};
pub use osl::{Interface, OsError, OsSandbox, RecordsOnly, SandboxOs};
pub use sandbox::{Sandbox, SandboxOptions};
pub use store::{MemoryStore, RedbStore, Store, StoreError};
pub use wnet_types as types;
