//! Why a driver could not be loaded.

use crate::manifest::{Capability, DriverKind, ManifestError};

/// A driver that cannot be loaded, and exactly why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The file is a core WebAssembly module, not a component.
    #[error(
        "driver `{driver}`: the file is a core WebAssembly module, not a component: build it for the wasm32-wasip2 target (which emits components) or wrap it with `wasm-tools component new`"
    )]
    NotAComponent {
        /// The driver.
        driver: String,
    },
    /// The bytes are not WebAssembly at all.
    #[error(
        "driver `{driver}`: the file is not WebAssembly (it does not start with `\\0asm`): give the `.wasm` component built for wasm32-wasip2"
    )]
    NotWasm {
        /// The driver.
        driver: String,
    },
    /// The bytes do not compile.
    #[error("driver `{driver}`: not a valid WebAssembly component: {reason}")]
    Compile {
        /// The driver.
        driver: String,
        /// The compiler's message.
        reason: String,
    },
    /// The component targets a version of the contract the host does not accept.
    #[error(
        "driver `{driver}`: {item} targets wnet:driver@{found}, but this host accepts wnet:driver@{accepted}: rebuild the driver against wnet-sdk {accepted}"
    )]
    WrongVersion {
        /// The driver.
        driver: String,
        /// The import or export naming the version.
        item: String,
        /// The version found.
        found: String,
        /// The versions accepted.
        accepted: String,
    },
    /// The component does not export what its manifest's kind requires.
    #[error(
        "driver `{driver}`: its manifest says kind = \"{kind}\", so it must export {expected}, but it exports {found}"
    )]
    MissingExport {
        /// The driver.
        driver: String,
        /// The manifest's kind.
        kind: DriverKind,
        /// The export required.
        expected: String,
        /// What it exports instead.
        found: String,
    },
    /// The component imports a capability its manifest does not grant.
    #[error(
        "driver `{driver}` imports {import}, but its manifest does not grant `{capability}`: add \"{capability}\" to its capabilities"
    )]
    NotGranted {
        /// The driver.
        driver: String,
        /// The import.
        import: String,
        /// The capability it needs.
        capability: Capability,
    },
    /// The component imports something the host does not provide.
    #[error(
        "driver `{driver}` imports {import}, which this host does not provide (it provides {provided} and WASI 0.2)"
    )]
    UnknownImport {
        /// The driver.
        driver: String,
        /// The import.
        import: String,
        /// What the host provides.
        provided: String,
    },
    /// The component's functions do not have the contract's types.
    #[error("driver `{driver}` does not match the wnet:driver@{version} contract: {reason}")]
    Contract {
        /// The driver.
        driver: String,
        /// The contract version.
        version: &'static str,
        /// wasmtime's message.
        reason: String,
    },
    /// The driver's own description disagrees with its manifest.
    #[error("driver `{driver}`: {reason}")]
    Mismatch {
        /// The driver.
        driver: String,
        /// What disagrees.
        reason: String,
    },
    /// A manifest limit is above the host's ceiling.
    #[error(
        "driver `{driver}`: {limit} = {value} exceeds the host's ceiling of {ceiling}: lower it in the manifest or raise the ceiling in the host's configuration"
    )]
    Limit {
        /// The driver.
        driver: String,
        /// The limit's manifest key.
        limit: &'static str,
        /// The manifest's value.
        value: u64,
        /// The ceiling.
        ceiling: u64,
    },
    /// The first instance could not be created or answered with a trap.
    #[error("driver `{driver}` could not be started: {reason}")]
    Start {
        /// The driver.
        driver: String,
        /// Why.
        reason: String,
    },
    /// The compile cache failed.
    #[error("compile cache {path}: {reason}")]
    Cache {
        /// The cache file or directory.
        path: String,
        /// Why.
        reason: String,
    },
}
