//! Well-known option keys, with Docker's spellings (libnetwork's `netlabel` and `ipamapi`).

/// Serial (round-robin) address allocation when `"true"`.
pub const IPAM_SERIAL: &str = "com.docker.network.ipam.serial";
/// The option key telling IPAM what an address request is for.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
/// The gateway: the value of [`REQUEST_ADDRESS_TYPE`] for a gateway, and the pool
/// metadata key of a pool-provided gateway.
pub const GATEWAY: &str = "com.docker.network.gateway";
/// An endpoint's MAC address.
pub const MAC_ADDRESS: &str = "com.docker.network.endpoint.macaddress";
/// An endpoint's name, passed to IPAM.
pub const ENDPOINT_NAME: &str = "com.docker.network.endpoint.name";
/// A custom interface name in the sandbox.
pub const ENDPOINT_IFNAME: &str = "com.docker.network.endpoint.ifname";
/// Published ports: a JSON list of [`crate::PortBinding`] (libnetwork's `netlabel.PortMap`).
pub const PORT_MAP: &str = "com.docker.network.portmap";
/// The MTU of a network's interfaces.
pub const MTU: &str = "com.docker.network.driver.mtu";
/// The interface name prefix in the sandbox (default `eth`).
pub const CONTAINER_IFACE_PREFIX: &str = "com.docker.network.container_iface_prefix";
