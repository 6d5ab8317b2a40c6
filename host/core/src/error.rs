//! The controller's errors: each names the object, the value and, where there is one,
//! the fix.

use wnet_types::ErrorKind;

use crate::driver::DriverError;
use crate::store::StoreError;

/// An error from a controller operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that is not allowed.
    #[error(
        "invalid {object} name `{name}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"
    )]
    InvalidName {
        /// `network`, `endpoint` or `sandbox`.
        object: &'static str,
        /// The name given.
        name: String,
    },
    /// A network with this name exists.
    #[error(
        "network with name `{name}` already exists (id {id}): choose another name or remove that network first"
    )]
    DuplicateNetworkName {
        /// The name.
        name: String,
        /// The existing network's id.
        id: String,
    },
    /// A network with this id exists (an engine gave the id of one it made before).
    #[error("a network with id `{id}` exists already (`{name}`)")]
    DuplicateNetworkId {
        /// The id.
        id: String,
        /// The existing network's name.
        name: String,
    },
    /// An endpoint with this name exists in the network.
    #[error(
        "endpoint with name `{name}` already exists in network `{network}`: choose another name"
    )]
    DuplicateEndpointName {
        /// The name.
        name: String,
        /// The network's name.
        network: String,
    },
    /// A sandbox with this id exists.
    #[error("sandbox `{id}` already exists")]
    DuplicateSandbox {
        /// The id.
        id: String,
    },
    /// No network driver of this name is loaded.
    #[error("unknown network driver `{name}`: loaded drivers are {available}")]
    UnknownDriver {
        /// The name asked for.
        name: String,
        /// The names loaded.
        available: String,
    },
    /// No IPAM driver of this name is loaded.
    #[error("unknown IPAM driver `{name}`: loaded IPAM drivers are {available}")]
    UnknownIpamDriver {
        /// The name asked for.
        name: String,
        /// The names loaded.
        available: String,
    },
    /// A driver of this name is already registered.
    #[error("a {kind} driver named `{name}` is already registered")]
    DuplicateDriver {
        /// `network` or `IPAM`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A subnet that cannot be used.
    #[error("invalid subnet `{value}`: {reason}")]
    InvalidSubnet {
        /// The subnet as given.
        value: String,
        /// Why, and what to write instead.
        reason: String,
    },
    /// An IP range (`--ip-range`) that cannot be used.
    #[error("invalid IP range `{value}`: {reason}")]
    InvalidIpRange {
        /// The range as given.
        value: String,
        /// Why.
        reason: String,
    },
    /// A gateway outside its subnet.
    #[error("gateway {gateway} is outside subnet {subnet}: choose an address inside the subnet")]
    GatewayOutsideSubnet {
        /// The gateway.
        gateway: String,
        /// The subnet.
        subnet: String,
    },
    /// An auxiliary address outside its subnet.
    #[error(
        "auxiliary address `{name}`={address} is outside subnet {subnet}: choose an address inside the subnet"
    )]
    AuxAddressOutsideSubnet {
        /// The aux address's name.
        name: String,
        /// The address.
        address: String,
        /// The subnet.
        subnet: String,
    },
    /// An IPAM or network configuration that does not hold together.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A requested pool overlaps one in use.
    #[error(
        "pool {pool} overlaps a pool in use in address space `{address_space}`: choose another subnet (IPAM driver `{driver}`: {message})"
    )]
    PoolOverlap {
        /// The pool asked for.
        pool: String,
        /// Its address space.
        address_space: String,
        /// The IPAM driver.
        driver: String,
        /// The driver's message.
        message: String,
    },
    /// No free pool or no free address.
    #[error(
        "no available {what} in network `{network}` ({detail}): remove unused endpoints or add a subnet"
    )]
    PoolExhausted {
        /// `IPv4 address`, `IPv6 address` or `pool`.
        what: &'static str,
        /// The network's name.
        network: String,
        /// The pools tried, and the driver's message.
        detail: String,
    },
    /// A preferred address is taken.
    #[error(
        "address {address} is already in use in network `{network}`: choose another address or omit it"
    )]
    AddressInUse {
        /// The address.
        address: String,
        /// The network's name.
        network: String,
    },
    /// A preferred address outside the network's pools.
    #[error("address {address} is not in any subnet of network `{network}` ({subnets})")]
    AddressOutsidePools {
        /// The address.
        address: String,
        /// The network's name.
        network: String,
        /// The network's subnets.
        subnets: String,
    },
    /// The endpoint is already joined to a sandbox.
    #[error("endpoint `{endpoint}` is already joined to sandbox `{sandbox}`: leave it first")]
    EndpointAlreadyJoined {
        /// The endpoint's name.
        endpoint: String,
        /// The sandbox's id.
        sandbox: String,
    },
    /// The endpoint is not joined to this sandbox.
    #[error("endpoint `{endpoint}` is not joined to sandbox `{sandbox}`")]
    EndpointNotJoined {
        /// The endpoint's name.
        endpoint: String,
        /// The sandbox's id.
        sandbox: String,
    },
    /// The endpoint is joined, so it cannot be deleted without force.
    #[error(
        "endpoint `{endpoint}` is joined to sandbox `{sandbox}`: leave it first, or delete with force"
    )]
    EndpointInUse {
        /// The endpoint's name.
        endpoint: String,
        /// The sandbox's id.
        sandbox: String,
    },
    /// The network still has endpoints.
    #[error(
        "network `{network}` has active endpoints ({endpoints}): disconnect and remove them first"
    )]
    ActiveEndpoints {
        /// The network's name.
        network: String,
        /// The endpoints' names.
        endpoints: String,
    },
    /// A driver cannot go while networks use it.
    #[error("{kind} driver `{name}` is used by networks {networks}: remove those networks first")]
    DriverInUse {
        /// `network` or `IPAM`.
        kind: &'static str,
        /// The driver's name.
        name: String,
        /// The networks' names.
        networks: String,
    },
    /// No such network.
    #[error("network `{0}` not found")]
    NetworkNotFound(String),
    /// No such endpoint.
    #[error("endpoint `{endpoint}` not found in network `{network}`")]
    EndpointNotFound {
        /// The endpoint's name or id.
        endpoint: String,
        /// The network's name.
        network: String,
    },
    /// No such sandbox.
    #[error("sandbox `{0}` not found")]
    SandboxNotFound(String),
    /// A driver call failed.
    #[error("{kind} driver `{driver}` failed in {call}: {source}")]
    Driver {
        /// `network` or `IPAM`.
        kind: &'static str,
        /// The driver's name.
        driver: String,
        /// The call, in WIT's spelling.
        call: &'static str,
        /// What the driver said, or how its instance failed.
        #[source]
        source: DriverError,
    },
    /// A driver's answer that the controller refuses to use.
    #[error("{kind} driver `{driver}` gave an invalid answer to {call}: {reason}")]
    InvalidAnswer {
        /// `network` or `IPAM`.
        kind: &'static str,
        /// The driver's name.
        driver: String,
        /// The call.
        call: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The host could not do its part in a sandbox (its namespace, an interface).
    #[error("sandbox `{sandbox}`: {op}: {source}")]
    Sandbox {
        /// The sandbox's id.
        sandbox: String,
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: crate::osl::OsError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The error's class, for mapping to API status codes.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            InvalidName { .. }
            | InvalidSubnet { .. }
            | InvalidIpRange { .. }
            | GatewayOutsideSubnet { .. }
            | AuxAddressOutsideSubnet { .. }
            | InvalidConfig(_)
            | AddressOutsidePools { .. } => ErrorKind::InvalidParameter,
            UnknownDriver { .. } | UnknownIpamDriver { .. } => ErrorKind::NotFound,
            NetworkNotFound(_) | EndpointNotFound { .. } | SandboxNotFound(_) => {
                ErrorKind::NotFound
            }
            DuplicateNetworkName { .. }
            | DuplicateNetworkId { .. }
            | DuplicateEndpointName { .. }
            | DuplicateSandbox { .. }
            | DuplicateDriver { .. }
            | PoolOverlap { .. }
            | AddressInUse { .. }
            | EndpointAlreadyJoined { .. }
            | EndpointInUse { .. }
            | ActiveEndpoints { .. }
            | DriverInUse { .. } => ErrorKind::Conflict,
            EndpointNotJoined { .. } => ErrorKind::InvalidParameter,
            PoolExhausted { .. } => ErrorKind::Unavailable,
            Driver { source, .. } => source.kind(),
            InvalidAnswer { .. } | Store(_) | Sandbox { .. } => ErrorKind::Internal,
        }
    }
}
