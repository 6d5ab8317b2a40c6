//! The generated bindings of the two worlds. Driver authors do not use these directly:
//! the traits and macros of this crate wrap them.
#![allow(missing_docs, unsafe_code, unused_qualifications, clippy::all)]

/// World `wnet:driver/network`.
pub mod network {
    wit_bindgen::generate!({
        path: "../wit",
        world: "network",
        pub_export_macro: true,
        export_macro_name: "export_network_world",
        default_bindings_module: "wnet_sdk::bindings::network",
    });
}

/// World `wnet:driver/ipam`. Shares the types and imports of the network world, so a
/// driver of either kind sees one `kv` and one `log`.
pub mod ipam {
    wit_bindgen::generate!({
        path: "../wit",
        world: "ipam",
        with: {
            "wnet:driver/types@0.1.0": crate::bindings::network::wnet::driver::types,
            "wnet:driver/log@0.1.0": crate::bindings::network::wnet::driver::log,
            "wnet:driver/kv@0.1.0": crate::bindings::network::wnet::driver::kv,
        },
        pub_export_macro: true,
        export_macro_name: "export_ipam_world",
        default_bindings_module: "wnet_sdk::bindings::ipam",
    });
}

pub(crate) mod convert {
    pub(crate) use super::ipam::exports::wnet::driver::ipam_driver as i;
    pub(crate) use super::network::exports::wnet::driver::network_driver as n;
    pub(crate) use super::network::wnet::driver::types as t;
    wnet_types::wit_conversions!();
}
