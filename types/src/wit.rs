//! Conversions between these types and the Rust types a WIT bindings generator makes
//! for the contract. The host (wasmtime's `bindgen!`) and the SDK (wit-bindgen's
//! `generate!`) each get their own copy of the generated types, with the same names and
//! shapes; this macro writes the conversions once for both.

/// Writes modules `to_wit` and `from_wit` with one function per contract type.
///
/// Invoke it in a module where `t`, `n` and `i` name the generated modules of the
/// interfaces `types`, `network-driver` and `ipam-driver`:
///
/// ```ignore
/// mod convert {
///     use crate::bindings::wnet::driver::types as t;
///     use crate::bindings::exports::wnet::driver::network_driver as n;
///     use crate::bindings::exports::wnet::driver::ipam_driver as i;
///     wnet_types::wit_conversions!();
/// }
/// ```
///
/// `to_wit` functions take a reference and cannot fail; `from_wit` functions take the
/// generated value and fail with `invalid-parameter` on a prefix length out of range,
/// since a value coming from the other side of the boundary is not trusted.
#[macro_export]
macro_rules! wit_conversions {
    () => {
        /// Contract types into the generated WIT types.
        #[allow(dead_code, clippy::all, unused_qualifications, missing_docs)]
        pub(crate) mod to_wit {
            use super::{i, n, t};
            use ::std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            use $crate::{IpNet, Ipv4Net, Ipv6Net, MacAddress, Options};

            pub fn ipv4(a: Ipv4Addr) -> t::Ipv4Address {
                let [x, y, z, w] = a.octets();
                (x, y, z, w)
            }
            pub fn ipv6(a: Ipv6Addr) -> t::Ipv6Address {
                let [a, b, c, d, e, f, g, h] = a.segments();
                (a, b, c, d, e, f, g, h)
            }
            pub fn ip(a: IpAddr) -> t::IpAddress {
                match a {
                    IpAddr::V4(a) => t::IpAddress::Ipv4(ipv4(a)),
                    IpAddr::V6(a) => t::IpAddress::Ipv6(ipv6(a)),
                }
            }
            pub fn prefix4(p: Ipv4Net) -> t::Ipv4Prefix {
                t::Ipv4Prefix {
                    address: ipv4(p.addr()),
                    prefix_len: p.prefix_len(),
                }
            }
            pub fn prefix6(p: Ipv6Net) -> t::Ipv6Prefix {
                t::Ipv6Prefix {
                    address: ipv6(p.addr()),
                    prefix_len: p.prefix_len(),
                }
            }
            pub fn prefix(p: IpNet) -> t::IpPrefix {
                match p {
                    IpNet::V4(p) => t::IpPrefix::Ipv4(prefix4(p)),
                    IpNet::V6(p) => t::IpPrefix::Ipv6(prefix6(p)),
                }
            }
            pub fn mac(m: MacAddress) -> t::MacAddress {
                let [a, b, c, d, e, f] = m.octets();
                (a, b, c, d, e, f)
            }
            pub fn options(o: &Options) -> ::std::vec::Vec<(String, String)> {
                o.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            }
            pub fn scope(s: $crate::Scope) -> t::Scope {
                match s {
                    $crate::Scope::Local => t::Scope::Local,
                    $crate::Scope::Global => t::Scope::Global,
                }
            }
            pub fn error(e: &$crate::Error) -> t::Error {
                use $crate::ErrorKind as K;
                let m = e.message.clone();
                match e.kind {
                    K::InvalidParameter => t::Error::InvalidParameter(m),
                    K::NotFound => t::Error::NotFound(m),
                    K::Forbidden => t::Error::Forbidden(m),
                    K::Conflict => t::Error::Conflict(m),
                    K::NotImplemented => t::Error::NotImplemented(m),
                    K::Unavailable => t::Error::Unavailable(m),
                    K::Internal => t::Error::Internal(m),
                }
            }
            pub fn ipam_data(d: &$crate::IpamData) -> t::IpamData {
                t::IpamData {
                    address_space: d.address_space.clone(),
                    pool: prefix(d.pool),
                    gateway: d.gateway.map(prefix),
                    aux_addresses: d
                        .aux_addresses
                        .iter()
                        .map(|(k, p)| (k.clone(), prefix(*p)))
                        .collect(),
                }
            }
            pub fn capability(c: &$crate::Capability) -> n::Capability {
                n::Capability {
                    data_scope: scope(c.data_scope),
                    connectivity_scope: scope(c.connectivity_scope),
                }
            }
            pub fn network_request(r: &$crate::NetworkRequest) -> n::NetworkRequest {
                n::NetworkRequest {
                    network_id: r.network_id.clone(),
                    name: r.name.clone(),
                    options: options(&r.options),
                    labels: options(&r.labels),
                    internal: r.internal,
                    enable_ipv4: r.enable_ipv4,
                    enable_ipv6: r.enable_ipv6,
                    ipv4_data: r.ipv4_data.iter().map(ipam_data).collect(),
                    ipv6_data: r.ipv6_data.iter().map(ipam_data).collect(),
                }
            }
            pub fn sandbox_info(s: &$crate::SandboxInfo) -> n::SandboxInfo {
                n::SandboxInfo {
                    id: s.id.clone(),
                    key: s.key.clone(),
                    options: options(&s.options),
                }
            }
            pub fn interface_info(i: &$crate::InterfaceInfo) -> n::InterfaceInfo {
                n::InterfaceInfo {
                    mac_address: i.mac_address.map(mac),
                    address: i.address.map(prefix4),
                    address_ipv6: i.address_ipv6.map(prefix6),
                }
            }
            pub fn endpoint_request(r: &$crate::EndpointRequest) -> n::EndpointRequest {
                n::EndpointRequest {
                    network_id: r.network_id.clone(),
                    endpoint_id: r.endpoint_id.clone(),
                    endpoint_name: r.endpoint_name.clone(),
                    options: options(&r.options),
                    interface: interface_info(&r.interface),
                    sandbox: r.sandbox.as_ref().map(sandbox_info),
                }
            }
            pub fn endpoint_interface(e: &$crate::EndpointInterface) -> n::EndpointInterface {
                n::EndpointInterface {
                    mac_address: e.mac_address.map(mac),
                    address: e.address.map(prefix4),
                    address_ipv6: e.address_ipv6.map(prefix6),
                    created_in_sandbox: e.created_in_sandbox,
                }
            }
            pub fn join_request(r: &$crate::JoinRequest) -> n::JoinRequest {
                n::JoinRequest {
                    network_id: r.network_id.clone(),
                    endpoint_id: r.endpoint_id.clone(),
                    endpoint_name: r.endpoint_name.clone(),
                    sandbox: sandbox_info(&r.sandbox),
                    options: options(&r.options),
                }
            }
            pub fn static_route(r: &$crate::StaticRoute) -> n::StaticRoute {
                n::StaticRoute {
                    destination: prefix(r.destination),
                    route_type: match r.route_type {
                        $crate::RouteType::NextHop => n::RouteType::NextHop,
                        $crate::RouteType::Connected => n::RouteType::Connected,
                    },
                    next_hop: r.next_hop.map(ip),
                }
            }
            pub fn join_info(j: &$crate::JoinInfo) -> n::JoinInfo {
                n::JoinInfo {
                    interface_name: j.interface_name.as_ref().map(|i| n::InterfaceName {
                        src_name: i.src_name.clone(),
                        dst_prefix: i.dst_prefix.clone(),
                        dst_name: i.dst_name.clone(),
                    }),
                    gateway: j.gateway.map(ipv4),
                    gateway_ipv6: j.gateway_ipv6.map(ipv6),
                    static_routes: j.static_routes.iter().map(static_route).collect(),
                    disable_gateway_service: j.disable_gateway_service,
                }
            }
            pub fn external_connectivity_request(
                r: &$crate::ExternalConnectivityRequest,
            ) -> n::ExternalConnectivityRequest {
                n::ExternalConnectivityRequest {
                    network_id: r.network_id.clone(),
                    endpoint_id: r.endpoint_id.clone(),
                    options: options(&r.options),
                    ipv4_gateway: r.ipv4_gateway,
                    ipv6_gateway: r.ipv6_gateway,
                }
            }
            pub fn ipam_capability(c: &$crate::IpamCapability) -> i::Capability {
                i::Capability {
                    requires_mac_address: c.requires_mac_address,
                    requires_request_replay: c.requires_request_replay,
                }
            }
            pub fn address_spaces(s: &$crate::AddressSpaces) -> i::AddressSpaces {
                i::AddressSpaces {
                    local: s.local.clone(),
                    global: s.global.clone(),
                }
            }
            pub fn pool_request(r: &$crate::PoolRequest) -> i::PoolRequest {
                i::PoolRequest {
                    address_space: r.address_space.clone(),
                    pool: r.pool.map(prefix),
                    sub_pool: r.sub_pool.map(prefix),
                    options: options(&r.options),
                    exclude: r.exclude.iter().copied().map(prefix).collect(),
                    v6: r.v6,
                }
            }
            pub fn allocated_pool(p: &$crate::AllocatedPool) -> i::AllocatedPool {
                i::AllocatedPool {
                    pool_id: p.pool_id.clone(),
                    pool: prefix(p.pool),
                    meta: options(&p.meta),
                }
            }
            pub fn address_request(r: &$crate::AddressRequest) -> i::AddressRequest {
                i::AddressRequest {
                    pool_id: r.pool_id.clone(),
                    preferred: r.preferred.map(ip),
                    options: options(&r.options),
                }
            }
            pub fn allocated_address(a: &$crate::AllocatedAddress) -> i::AllocatedAddress {
                i::AllocatedAddress {
                    address: prefix(a.address),
                    meta: options(&a.meta),
                }
            }
        }

        /// Generated WIT types into contract types, checking what the types cannot.
        #[allow(dead_code, clippy::all, unused_qualifications, missing_docs)]
        pub(crate) mod from_wit {
            use super::{i, n, t};
            use ::std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            use $crate::{Error, IpNet, Ipv4Net, Ipv6Net, MacAddress, Options, Result};

            pub fn ipv4(a: t::Ipv4Address) -> Ipv4Addr {
                Ipv4Addr::new(a.0, a.1, a.2, a.3)
            }
            pub fn ipv6(a: t::Ipv6Address) -> Ipv6Addr {
                Ipv6Addr::new(a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7)
            }
            pub fn ip(a: t::IpAddress) -> IpAddr {
                match a {
                    t::IpAddress::Ipv4(a) => IpAddr::V4(ipv4(a)),
                    t::IpAddress::Ipv6(a) => IpAddr::V6(ipv6(a)),
                }
            }
            pub fn prefix4(p: t::Ipv4Prefix) -> Result<Ipv4Net> {
                let addr = ipv4(p.address);
                Ipv4Net::new(addr, p.prefix_len).map_err(|_| {
                    Error::invalid_parameter(format!(
                        "prefix length {} of {addr} is out of range 0..=32",
                        p.prefix_len
                    ))
                })
            }
            pub fn prefix6(p: t::Ipv6Prefix) -> Result<Ipv6Net> {
                let addr = ipv6(p.address);
                Ipv6Net::new(addr, p.prefix_len).map_err(|_| {
                    Error::invalid_parameter(format!(
                        "prefix length {} of {addr} is out of range 0..=128",
                        p.prefix_len
                    ))
                })
            }
            pub fn prefix(p: t::IpPrefix) -> Result<IpNet> {
                Ok(match p {
                    t::IpPrefix::Ipv4(p) => IpNet::V4(prefix4(p)?),
                    t::IpPrefix::Ipv6(p) => IpNet::V6(prefix6(p)?),
                })
            }
            pub fn mac(m: t::MacAddress) -> MacAddress {
                MacAddress([m.0, m.1, m.2, m.3, m.4, m.5])
            }
            pub fn options(o: ::std::vec::Vec<(String, String)>) -> Options {
                Options::from(o)
            }
            pub fn scope(s: t::Scope) -> $crate::Scope {
                match s {
                    t::Scope::Local => $crate::Scope::Local,
                    t::Scope::Global => $crate::Scope::Global,
                }
            }
            pub fn error(e: t::Error) -> Error {
                match e {
                    t::Error::InvalidParameter(m) => Error::invalid_parameter(m),
                    t::Error::NotFound(m) => Error::not_found(m),
                    t::Error::Forbidden(m) => Error::forbidden(m),
                    t::Error::Conflict(m) => Error::conflict(m),
                    t::Error::NotImplemented(m) => Error::not_implemented(m),
                    t::Error::Unavailable(m) => Error::unavailable(m),
                    t::Error::Internal(m) => Error::internal(m),
                }
            }
            pub fn ipam_data(d: t::IpamData) -> Result<$crate::IpamData> {
                Ok($crate::IpamData {
                    address_space: d.address_space,
                    pool: prefix(d.pool)?,
                    gateway: d.gateway.map(prefix).transpose()?,
                    aux_addresses: d
                        .aux_addresses
                        .into_iter()
                        .map(|(k, p)| Ok((k, prefix(p)?)))
                        .collect::<Result<_>>()?,
                })
            }
            pub fn capability(c: n::Capability) -> $crate::Capability {
                $crate::Capability {
                    data_scope: scope(c.data_scope),
                    connectivity_scope: scope(c.connectivity_scope),
                }
            }
            pub fn network_request(r: n::NetworkRequest) -> Result<$crate::NetworkRequest> {
                Ok($crate::NetworkRequest {
                    network_id: r.network_id,
                    name: r.name,
                    options: options(r.options),
                    labels: options(r.labels),
                    internal: r.internal,
                    enable_ipv4: r.enable_ipv4,
                    enable_ipv6: r.enable_ipv6,
                    ipv4_data: r
                        .ipv4_data
                        .into_iter()
                        .map(ipam_data)
                        .collect::<Result<_>>()?,
                    ipv6_data: r
                        .ipv6_data
                        .into_iter()
                        .map(ipam_data)
                        .collect::<Result<_>>()?,
                })
            }
            pub fn sandbox_info(s: n::SandboxInfo) -> $crate::SandboxInfo {
                $crate::SandboxInfo {
                    id: s.id,
                    key: s.key,
                    options: options(s.options),
                }
            }
            pub fn interface_info(i: n::InterfaceInfo) -> Result<$crate::InterfaceInfo> {
                Ok($crate::InterfaceInfo {
                    mac_address: i.mac_address.map(mac),
                    address: i.address.map(prefix4).transpose()?,
                    address_ipv6: i.address_ipv6.map(prefix6).transpose()?,
                })
            }
            pub fn endpoint_request(r: n::EndpointRequest) -> Result<$crate::EndpointRequest> {
                Ok($crate::EndpointRequest {
                    network_id: r.network_id,
                    endpoint_id: r.endpoint_id,
                    endpoint_name: r.endpoint_name,
                    options: options(r.options),
                    interface: interface_info(r.interface)?,
                    sandbox: r.sandbox.map(sandbox_info),
                })
            }
            pub fn endpoint_interface(
                e: n::EndpointInterface,
            ) -> Result<$crate::EndpointInterface> {
                Ok($crate::EndpointInterface {
                    mac_address: e.mac_address.map(mac),
                    address: e.address.map(prefix4).transpose()?,
                    address_ipv6: e.address_ipv6.map(prefix6).transpose()?,
                    created_in_sandbox: e.created_in_sandbox,
                })
            }
            pub fn join_request(r: n::JoinRequest) -> $crate::JoinRequest {
                $crate::JoinRequest {
                    network_id: r.network_id,
                    endpoint_id: r.endpoint_id,
                    endpoint_name: r.endpoint_name,
                    sandbox: sandbox_info(r.sandbox),
                    options: options(r.options),
                }
            }
            pub fn static_route(r: n::StaticRoute) -> Result<$crate::StaticRoute> {
                Ok($crate::StaticRoute {
                    destination: prefix(r.destination)?,
                    route_type: match r.route_type {
                        n::RouteType::NextHop => $crate::RouteType::NextHop,
                        n::RouteType::Connected => $crate::RouteType::Connected,
                    },
                    next_hop: r.next_hop.map(ip),
                })
            }
            pub fn join_info(j: n::JoinInfo) -> Result<$crate::JoinInfo> {
                Ok($crate::JoinInfo {
                    interface_name: j.interface_name.map(|i| $crate::InterfaceName {
                        src_name: i.src_name,
                        dst_prefix: i.dst_prefix,
                        dst_name: i.dst_name,
                    }),
                    gateway: j.gateway.map(ipv4),
                    gateway_ipv6: j.gateway_ipv6.map(ipv6),
                    static_routes: j
                        .static_routes
                        .into_iter()
                        .map(static_route)
                        .collect::<Result<_>>()?,
                    disable_gateway_service: j.disable_gateway_service,
                })
            }
            pub fn external_connectivity_request(
                r: n::ExternalConnectivityRequest,
            ) -> $crate::ExternalConnectivityRequest {
                $crate::ExternalConnectivityRequest {
                    network_id: r.network_id,
                    endpoint_id: r.endpoint_id,
                    options: options(r.options),
                    ipv4_gateway: r.ipv4_gateway,
                    ipv6_gateway: r.ipv6_gateway,
                }
            }
            pub fn ipam_capability(c: i::Capability) -> $crate::IpamCapability {
                $crate::IpamCapability {
                    requires_mac_address: c.requires_mac_address,
                    requires_request_replay: c.requires_request_replay,
                }
            }
            pub fn address_spaces(s: i::AddressSpaces) -> $crate::AddressSpaces {
                $crate::AddressSpaces {
                    local: s.local,
                    global: s.global,
                }
            }
            pub fn pool_request(r: i::PoolRequest) -> Result<$crate::PoolRequest> {
                Ok($crate::PoolRequest {
                    address_space: r.address_space,
                    pool: r.pool.map(prefix).transpose()?,
                    sub_pool: r.sub_pool.map(prefix).transpose()?,
                    options: options(r.options),
                    exclude: r.exclude.into_iter().map(prefix).collect::<Result<_>>()?,
                    v6: r.v6,
                })
            }
            pub fn allocated_pool(p: i::AllocatedPool) -> Result<$crate::AllocatedPool> {
                Ok($crate::AllocatedPool {
                    pool_id: p.pool_id,
                    pool: prefix(p.pool)?,
                    meta: options(p.meta),
                })
            }
            pub fn address_request(r: i::AddressRequest) -> $crate::AddressRequest {
                $crate::AddressRequest {
                    pool_id: r.pool_id,
                    preferred: r.preferred.map(ip),
                    options: options(r.options),
                }
            }
            pub fn allocated_address(a: i::AllocatedAddress) -> Result<$crate::AllocatedAddress> {
                Ok($crate::AllocatedAddress {
                    address: prefix(a.address)?,
                    meta: options(a.meta),
                })
            }
        }
    };
}
