//! The two kinds of driver the controller calls, as traits. The WASM runtime implements
//! them over components; tests may implement them natively.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use wnet_types::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, Capability, EndpointInterface,
    EndpointRequest, ErrorKind, ExternalConnectivityRequest, IpamCapability, JoinInfo, JoinRequest,
    NetworkRequest, Options, PoolRequest,
};

/// Why a call into a driver failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The driver answered with an error of its own.
    #[error(transparent)]
    Refused(#[from] wnet_types::Error),
    /// The driver's instance failed (trap, deadline, memory); it was discarded and will be
    /// re-created from its persisted state for the next call.
    #[error("{0}")]
    Fault(Fault),
}

impl DriverError {
    /// The error class: the driver's own, or `unavailable` for a fault.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DriverError::Refused(e) => e.kind,
            DriverError::Fault(_) => ErrorKind::Unavailable,
        }
    }

    /// The driver said it does not implement the call.
    pub fn is_not_implemented(&self) -> bool {
        self.kind() == ErrorKind::NotImplemented && matches!(self, DriverError::Refused(_))
    }
}

/// How a driver instance failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The instance trapped (a panic, an abort, an invalid operation).
    #[error(
        "the driver trapped ({message}); its instance was discarded and is re-created for the next call"
    )]
    Trap {
        /// The trap's description.
        message: String,
    },
    /// The call ran past its deadline.
    #[error("the call exceeded its deadline of {}ms; the driver's instance was discarded and is re-created for the next call", .limit.as_millis())]
    Deadline {
        /// The deadline.
        limit: Duration,
    },
    /// The driver's calls during one controller operation together ran past its limit:
    /// the call under way was stopped, or the next one refused.
    #[error("the driver spent more than {}ms in calls during this operation (limits.operation-timeout-ms in its manifest); the call was stopped", .limit.as_millis())]
    OperationDeadline {
        /// The limit.
        limit: Duration,
    },
    /// The instance tried to grow its memory past its limit.
    #[error("the driver exceeded its memory limit of {} MiB; its instance was discarded and is re-created for the next call", .limit_bytes >> 20)]
    OutOfMemory {
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// The driver made more calls into the host in one call than its limit.
    #[error(
        "the driver made more than {limit} host calls in one call (limits.host-calls in its manifest); its instance was discarded and is re-created for the next call"
    )]
    HostCalls {
        /// The limit.
        limit: u32,
    },
    /// The driver's answer was larger than its limits allow; it was not used.
    #[error(
        "the driver's answer is too large: {what} is {size}, its limit {limit} (limits.answer-items and answer-bytes in its manifest); the answer was not used"
    )]
    Oversized {
        /// What in the answer: `"static-routes"`, `"an option value"`.
        what: String,
        /// Its size: entries or bytes.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The driver failed several calls in a row and waits before its next instance.
    #[error("the driver failed its last {faults} calls; it is restarted after a pause, in {} ms (last failure: {last})", .retry_in.as_millis())]
    BackingOff {
        /// Failures in a row.
        faults: u32,
        /// How long until the next attempt.
        retry_in: Duration,
        /// The last failure.
        last: String,
    },
    /// The driver failed too many calls in a row and no longer runs.
    #[error(
        "the driver is quarantined after {faults} failed calls in a row (last failure: {last}); fix or replace it, then `wnet driver enable {driver}`"
    )]
    Quarantined {
        /// The driver's name, for the command that clears it.
        driver: String,
        /// Failures in a row.
        faults: u32,
        /// The last failure.
        last: String,
    },
    /// The driver could not be instantiated.
    #[error("the driver could not be instantiated: {message}")]
    Instantiate {
        /// Why.
        message: String,
    },
}

/// A network driver: libnetwork's `driverapi.Driver`, with its optional parts.
#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// What the driver is.
    fn capability(&self) -> Capability;
    /// Why the driver takes no calls now (quarantined, or pausing after failures);
    /// `None` when it does.
    fn unavailable(&self) -> Option<Fault> {
        None
    }
    /// libnetwork's `NetworkAllocate` (global scope, cluster manager side).
    async fn network_allocate(&self, request: &NetworkRequest) -> Result<Options, DriverError>;
    /// libnetwork's `NetworkFree`.
    async fn network_free(&self, network_id: &str) -> Result<(), DriverError>;
    /// Creates a network's resources.
    async fn create_network(&self, request: &NetworkRequest) -> Result<(), DriverError>;
    /// Deletes a network's resources.
    async fn delete_network(&self, network_id: &str) -> Result<(), DriverError>;
    /// Creates an endpoint; returns what the driver set on its interface.
    async fn create_endpoint(
        &self,
        request: &EndpointRequest,
    ) -> Result<EndpointInterface, DriverError>;
    /// Deletes an endpoint.
    async fn delete_endpoint(&self, network_id: &str, endpoint_id: &str)
    -> Result<(), DriverError>;
    /// Operational data about an endpoint.
    async fn endpoint_oper_info(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<Options, DriverError>;
    /// Attaches an endpoint to a sandbox.
    async fn join(&self, request: &JoinRequest) -> Result<JoinInfo, DriverError>;
    /// Detaches an endpoint from its sandbox.
    async fn leave(&self, network_id: &str, endpoint_id: &str) -> Result<(), DriverError>;
    /// Sets up an endpoint's external connectivity.
    async fn program_external_connectivity(
        &self,
        request: &ExternalConnectivityRequest,
    ) -> Result<(), DriverError>;
    /// Removes an endpoint's external connectivity.
    async fn revoke_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<(), DriverError>;
}

/// An IPAM driver: libnetwork's `ipamapi.Ipam`.
#[async_trait]
pub trait IpamDriver: Send + Sync {
    /// The driver's requirements.
    fn capability(&self) -> IpamCapability;
    /// Why the driver takes no calls now; `None` when it does.
    fn unavailable(&self) -> Option<Fault> {
        None
    }
    /// The default local and global address spaces.
    async fn default_address_spaces(&self) -> Result<AddressSpaces, DriverError>;
    /// Reserves a pool.
    async fn request_pool(&self, request: &PoolRequest) -> Result<AllocatedPool, DriverError>;
    /// Releases a pool.
    async fn release_pool(&self, pool_id: &str) -> Result<(), DriverError>;
    /// Reserves an address.
    async fn request_address(
        &self,
        request: &AddressRequest,
    ) -> Result<AllocatedAddress, DriverError>;
    /// Releases an address.
    async fn release_address(&self, pool_id: &str, address: IpAddr) -> Result<(), DriverError>;
}
