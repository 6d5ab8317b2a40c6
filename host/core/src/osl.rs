//! The host's side of a sandbox — libnetwork's `osl`: its network namespace, and the
//! configuration of the interfaces joined to it. The controller, not the driver, puts
//! an endpoint's interface into the sandbox, names it, addresses it, brings it up and
//! routes through it; `leave` undoes exactly that.

use std::net::{Ipv4Addr, Ipv6Addr};

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use wnet_types::{Ipv4Net, Ipv6Net, MacAddress, StaticRoute};

/// A sandbox's namespace as the host holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsSandbox {
    /// The sandbox key: its namespace's path.
    pub key: String,
    /// wnet created the namespace (and removes it with the sandbox); an adopted one
    /// is never removed.
    pub owned: bool,
    /// The sandbox is the host's own namespace (libnetwork's default sandbox): never
    /// removed, and no interface is ever configured in it.
    pub host: bool,
    /// The namespace's inode when the sandbox was made: a path that names another
    /// namespace later (a reused PID under /proc) is not taken for the sandbox's.
    pub inode: Option<u64>,
}

/// One interface to configure in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name where the driver created it.
    pub src_name: String,
    /// Its name in the sandbox.
    pub dst_name: String,
    /// The driver created it inside the sandbox already (no move needed).
    pub in_sandbox: bool,
    /// Its MAC address.
    pub mac: Option<MacAddress>,
    /// Its IPv4 address.
    pub ipv4: Option<Ipv4Net>,
    /// Its IPv6 address.
    pub ipv6: Option<Ipv6Net>,
    /// The IPv4 default gateway through it, when it is the sandbox's way out.
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 default gateway through it.
    pub gateway_ipv6: Option<Ipv6Addr>,
    /// Static routes through it.
    pub routes: Vec<StaticRoute>,
}

/// Why the host could not do its part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OsError(pub String);

/// What the host does to sandboxes' namespaces.
#[async_trait]
pub trait SandboxOs: Send + Sync {
    /// Creates the namespace of sandbox `id`, or adopts `key` when one is given.
    async fn create(&self, id: &str, key: Option<&str>) -> Result<OsSandbox, OsError>;
    /// The host's own namespace, as the sandbox of containers on the `host` network.
    fn host(&self) -> OsSandbox;
    /// Removes a sandbox's namespace if wnet created it; the kernel takes its links.
    async fn remove(&self, sandbox: &OsSandbox) -> Result<(), OsError>;
    /// Puts an interface into the sandbox and configures it.
    async fn attach(&self, sandbox: &OsSandbox, iface: &Interface) -> Result<(), OsError>;
    /// Undoes [`SandboxOs::attach`]: routes, addresses, name, and the move if there was one.
    async fn detach(&self, sandbox: &OsSandbox, iface: &Interface) -> Result<(), OsError>;
    /// Adds the default routes through an attached interface that has become the
    /// sandbox's gateway (after the previous gateway endpoint left).
    async fn add_default_routes(
        &self,
        sandbox: &OsSandbox,
        iface: &Interface,
    ) -> Result<(), OsError>;
    /// Whether the sandbox's namespace is still there: after a reboot wnet's are gone,
    /// and an adopted one goes with the last process in it.
    async fn alive(&self, _sandbox: &OsSandbox) -> bool {
        true
    }
    /// Whether an attached interface is still in the sandbox under its name (a crash
    /// in the middle of a disconnect can leave the record without it).
    async fn interface_present(&self, _sandbox: &OsSandbox, _iface: &Interface) -> bool {
        true
    }
    /// Removes the namespaces wnet made that none of `known` is (a crash between
    /// making one and recording it leaves one behind); returns their paths.
    async fn remove_orphans(&self, _known: &[OsSandbox]) -> Vec<String> {
        Vec::new()
    }
}

/// Sandboxes as records only: no namespace is made and no interface configured. For
/// embedders that manage namespaces themselves, and for tests without privileges.
#[derive(Debug, Clone)]
pub struct RecordsOnly {
    /// Sandbox keys are `<run_dir>/netns/<id>`.
    pub run_dir: PathBuf,
}

impl Default for RecordsOnly {
    fn default() -> Self {
        RecordsOnly {
            run_dir: PathBuf::from("/run/wnet"),
        }
    }
}

#[async_trait]
impl SandboxOs for RecordsOnly {
    async fn create(&self, id: &str, key: Option<&str>) -> Result<OsSandbox, OsError> {
        Ok(OsSandbox {
            key: key.map_or_else(
                || self.run_dir.join("netns").join(id).display().to_string(),
                str::to_owned,
            ),
            owned: key.is_none(),
            host: false,
            inode: None,
        })
    }

    fn host(&self) -> OsSandbox {
        OsSandbox {
            key: "/proc/self/ns/net".to_owned(),
            owned: false,
            host: true,
            inode: None,
        }
    }

    async fn remove(&self, _sandbox: &OsSandbox) -> Result<(), OsError> {
        Ok(())
    }

    async fn attach(&self, _sandbox: &OsSandbox, _iface: &Interface) -> Result<(), OsError> {
        Ok(())
    }

    async fn detach(&self, _sandbox: &OsSandbox, _iface: &Interface) -> Result<(), OsError> {
        Ok(())
    }

    async fn add_default_routes(
        &self,
        _sandbox: &OsSandbox,
        _iface: &Interface,
    ) -> Result<(), OsError> {
        Ok(())
    }
}
