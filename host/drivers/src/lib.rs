//! wnet's built-in drivers: `bridge`, `macvlan`, `host` and `null` (network), `default`
//! and `null` (IPAM), compiled to
//! WebAssembly components from `drivers/` when this crate builds, and embedded with
//! their manifests.

mod set;

pub use set::{DriverInfo, DriverSet, Reload, SetError, Source};
use wnet_runtime::{DriverKind, LoadError, LoadedDriver, Manifest, Runtime};

/// A built-in driver: its component and its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The cargo package it was built from.
    pub package: &'static str,
    /// Its manifest's `name`, read when it was built.
    pub name: &'static str,
    /// Its manifest's `kind`, read when it was built.
    pub kind: DriverKind,
    /// The component.
    pub wasm: &'static [u8],
    /// Its SHA-256 in hex, computed when it was built.
    pub digest: &'static str,
    /// Its manifest (TOML).
    pub manifest: &'static str,
}

impl Builtin {
    /// The parsed manifest, parsed once per process and only when asked for: a
    /// short-lived `wnet` picks the built-ins it loads by [`Builtin::name`] and
    /// [`Builtin::kind`], and parses those alone.
    pub fn manifest(&self) -> Result<Manifest, LoadError> {
        match BUILTINS
            .iter()
            .position(|b| b.package == self.package && b.manifest == self.manifest)
            .and_then(|i| {
                PARSED[i]
                    .get_or_init(|| Manifest::parse(self.manifest).ok())
                    .clone()
            }) {
            Some(m) => Ok(m),
            // Parsed again for its error (a broken build), or not one of BUILTINS.
            None => Ok(Manifest::parse(self.manifest)?),
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Loads every built-in driver into `runtime`.
pub async fn load_all(runtime: &Runtime) -> Result<Vec<LoadedDriver>, LoadError> {
    Ok(load_some(runtime, |_, _| true)
        .await?
        .into_iter()
        .map(|(_, d)| d)
        .collect())
}

/// Loads the built-in drivers `wanted` accepts by kind and name (a short-lived
/// process loads only those its work needs), each with the built-in it came from.
pub async fn load_some(
    runtime: &Runtime,
    wanted: impl Fn(DriverKind, &str) -> bool,
) -> Result<Vec<(&'static Builtin, LoadedDriver)>, LoadError> {
    let mut loaded = Vec::with_capacity(BUILTINS.len());
    for b in BUILTINS.iter().filter(|b| wanted(b.kind, b.name)) {
        let manifest = b.manifest()?;
        loaded.push((b, runtime.load_digested(b.wasm, b.digest, manifest).await?));
    }
    Ok(loaded)
}

/// The digests of the built-ins `wanted` accepts (by kind and name), for
/// [`wnet_runtime::EngineParts::compile_ahead`].
pub fn digests(wanted: impl Fn(DriverKind, &str) -> bool) -> Vec<&'static str> {
    BUILTINS
        .iter()
        .filter(|b| wanted(b.kind, b.name))
        .map(|b| b.digest)
        .collect()
}

/// Whether a built-in of this kind (any kind when `None`) has this name.
pub fn is_builtin(kind: Option<DriverKind>, name: &str) -> bool {
    BUILTINS
        .iter()
        .any(|b| b.name == name && kind.is_none_or(|k| k == b.kind))
}

/// Each of [`BUILTINS`]' manifests once parsed (`None` where it does not parse).
static PARSED: [std::sync::OnceLock<Option<Manifest>>; BUILTINS.len()] =
    [const { std::sync::OnceLock::new() }; BUILTINS.len()];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_digest_is_its_component_s_sha256() {
        use sha2::{Digest, Sha256};
        for b in BUILTINS {
            let hex: String = Sha256::digest(b.wasm)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            assert_eq!(b.digest, hex, "{}", b.package);
        }
    }

    #[test]
    fn every_builtin_is_a_component_with_a_valid_manifest() {
        let mut names: Vec<String> = BUILTINS
            .iter()
            .map(|b| {
                assert!(
                    b.wasm.starts_with(b"\0asm"),
                    "{} is not WebAssembly",
                    b.package
                );
                let m = b.manifest().unwrap();
                // What the build read is what the manifest says.
                assert_eq!((b.name, b.kind), (m.name.as_str(), m.kind), "{}", b.package);
                format!("{}:{}", m.kind, m.name)
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ipam:default",
                "ipam:null",
                "network:bridge",
                "network:host",
                "network:macvlan",
                "network:null"
            ]
        );
    }
}
