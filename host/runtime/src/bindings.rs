//! The host side of the contract: one `bindgen!` per world. The IPAM world reuses the
//! network world's interfaces, so `types`, `log` and `kv` each have one host
//! implementation serving both kinds of driver.
//!
//! Exports are async (calls run on a fiber, so a deadline can interrupt them and a
//! host capability may await). Imports are sync unless listed: `log` and `kv` never
//! wait, and a sync host function costs less per call than an async one; the kernel
//! capabilities (`links`, `addresses`, `routes`, `neighbours`) await netlink, and
//! `firewall` awaits `nft`.
#![allow(missing_docs, unused_qualifications, clippy::all)]

/// World `wnet:driver/network`.
pub mod network {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "network",
        imports: {
            "wnet:driver/links": async,
            "wnet:driver/addresses": async,
            "wnet:driver/routes": async,
            "wnet:driver/neighbours": async,
            "wnet:driver/firewall": async,
        },
        exports: { default: async },
    });
}

/// World `wnet:driver/ipam`.
pub mod ipam {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "ipam",
        exports: { default: async },
        with: {
            "wnet:driver/types": super::network::wnet::driver::types,
            "wnet:driver/log": super::network::wnet::driver::log,
            "wnet:driver/kv": super::network::wnet::driver::kv,
        },
    });
}

pub(crate) mod convert {
    pub(crate) use super::ipam::exports::wnet::driver::ipam_driver as i;
    pub(crate) use super::network::exports::wnet::driver::network_driver as n;
    pub(crate) use super::network::wnet::driver::types as t;
    wnet_types::wit_conversions!();
}
