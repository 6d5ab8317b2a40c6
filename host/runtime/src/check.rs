//! What a component exports and imports, checked against its manifest before anything
//! of it runs.

use std::fmt;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::LoadError;
use crate::manifest::{Capability, DriverKind, Manifest};

/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = wnet_types::CONTRACT_VERSION;
/// The package's interfaces that drivers may import without a grant.
const UNGRANTED: [&str; 2] = ["wnet:driver/types", "wnet:driver/netns"];

/// A component's interface names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentReport {
    /// Export names (`wnet:driver/network-driver@0.1.0`).
    pub exports: Vec<String>,
    /// Import names (`wnet:driver/kv@0.1.0`, `wasi:io/streams@0.2.6`).
    pub imports: Vec<String>,
}

impl ComponentReport {
    pub(crate) fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        ComponentReport {
            exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
            imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
        }
    }

    /// The kind of driver the component is, from the contract interface it exports.
    pub fn kind(&self) -> Option<DriverKind> {
        [DriverKind::Network, DriverKind::Ipam]
            .into_iter()
            .find(|k| {
                self.exports
                    .iter()
                    .any(|e| split(e).0 == k.export_interface())
            })
    }

    /// The contract version the component targets, from its contract export.
    pub fn version(&self) -> Option<&str> {
        self.exports
            .iter()
            .map(|e| split(e))
            .find(|(iface, _)| iface.starts_with("wnet:driver/"))
            .and_then(|(_, v)| v)
    }

    /// The capabilities the component imports.
    pub fn capabilities(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.imports.iter().any(|i| split(i).0 == c.interface()))
            .collect()
    }
}

impl fmt::Display for ComponentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {e}")?;
        }
        writeln!(f, "imports:")?;
        for i in &self.imports {
            writeln!(f, "  {i}")?;
        }
        Ok(())
    }
}

/// `iface@version` into its parts.
fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((iface, v)) => (iface, Some(v)),
        None => (name, None),
    }
}

/// Whether `version` is semver-compatible with the host's contract: same major, and
/// for 0.x the same minor.
fn compatible(version: Option<&str>) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (version.and_then(parse), parse(CONTRACT_VERSION)) {
        (Some((maj, min)), Some((hmaj, hmin))) => maj == hmaj && (maj != 0 || min == hmin),
        _ => false,
    }
}

fn accepted() -> String {
    let mut parts = CONTRACT_VERSION.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x"),
        _ => CONTRACT_VERSION.to_owned(),
    }
}

/// Checks a component's exports and imports against its manifest.
pub fn check(report: &ComponentReport, manifest: &Manifest) -> Result<(), LoadError> {
    let driver = || manifest.name.clone();
    let want = manifest.kind.export_interface();
    let ours: Vec<&String> = report
        .exports
        .iter()
        .filter(|e| e.starts_with("wnet:"))
        .collect();
    match ours.iter().find(|e| split(e).0 == want) {
        Some(export) => {
            let (_, version) = split(export);
            if !compatible(version) {
                return Err(LoadError::WrongVersion {
                    driver: driver(),
                    item: format!("export {export}"),
                    found: version.unwrap_or("(no version)").to_owned(),
                    accepted: accepted(),
                });
            }
        }
        None => {
            let found = if report.exports.is_empty() {
                "nothing".to_owned()
            } else {
                report.exports.join(", ")
            };
            return Err(LoadError::MissingExport {
                driver: driver(),
                kind: manifest.kind,
                expected: format!("{want}@{CONTRACT_VERSION}"),
                found,
            });
        }
    }
    for import in &report.imports {
        let (iface, version) = split(import);
        if iface.starts_with("wasi:") {
            // Satisfied by the locked-down WASI context; the linker rejects any it lacks.
            continue;
        }
        let provided = || {
            UNGRANTED
                .iter()
                .copied()
                .chain(Capability::ALL.iter().map(|c| c.interface()))
                .map(|i| format!("{i}@{CONTRACT_VERSION}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !iface.starts_with("wnet:driver/") {
            return Err(LoadError::UnknownImport {
                driver: driver(),
                import: import.clone(),
                provided: provided(),
            });
        }
        if !compatible(version) {
            return Err(LoadError::WrongVersion {
                driver: driver(),
                item: format!("import {import}"),
                found: version.unwrap_or("(no version)").to_owned(),
                accepted: accepted(),
            });
        }
        if UNGRANTED.contains(&iface) {
            continue;
        }
        match Capability::ALL.into_iter().find(|c| c.interface() == iface) {
            Some(c) if manifest.grants(c) => {}
            Some(c) => {
                return Err(LoadError::NotGranted {
                    driver: driver(),
                    import: import.clone(),
                    capability: c,
                });
            }
            None => {
                return Err(LoadError::UnknownImport {
                    driver: driver(),
                    import: import.clone(),
                    provided: provided(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(kind: &str, caps: &str) -> Manifest {
        Manifest::parse(&format!(
            "name = \"d\"\nkind = \"{kind}\"\ncapabilities = [{caps}]"
        ))
        .unwrap()
    }

    fn report(exports: &[&str], imports: &[&str]) -> ComponentReport {
        ComponentReport {
            exports: exports.iter().map(|s| s.to_string()).collect(),
            imports: imports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_matching_component_passes() {
        let r = report(
            &["wnet:driver/network-driver@0.1.0"],
            &[
                "wnet:driver/types@0.1.0",
                "wnet:driver/kv@0.1.0",
                "wasi:io/streams@0.2.6",
            ],
        );
        check(&r, &manifest("network", "\"kv\"")).unwrap();
        assert_eq!(r.kind(), Some(DriverKind::Network));
        assert_eq!(r.version(), Some("0.1.0"));
        assert_eq!(r.capabilities(), [Capability::Kv]);
        // A later patch release of the contract is compatible.
        check(
            &report(&["wnet:driver/network-driver@0.1.7"], &[]),
            &manifest("network", ""),
        )
        .unwrap();
    }

    #[test]
    fn another_version_is_refused_with_both_versions_named() {
        let err = check(
            &report(&["wnet:driver/network-driver@0.2.0"], &[]),
            &manifest("network", ""),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("wnet:driver@0.2.0") && msg.contains("0.1.x"),
            "{msg}"
        );
    }

    #[test]
    fn the_wrong_kind_names_what_it_exports() {
        let err = check(
            &report(&["wnet:driver/ipam-driver@0.1.0"], &[]),
            &manifest("network", ""),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("wnet:driver/network-driver@0.1.0") && msg.contains("ipam-driver"),
            "{msg}"
        );
    }

    #[test]
    fn ungranted_and_unknown_imports_are_refused() {
        let exports = ["wnet:driver/ipam-driver@0.1.0"];
        let err = check(
            &report(&exports, &["wnet:driver/kv@0.1.0"]),
            &manifest("ipam", "\"log\""),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::NotGranted {
                    capability: Capability::Kv,
                    ..
                }
            ),
            "{err}"
        );
        let err = check(
            &report(&exports, &["wnet:driver/teleport@0.1.0"]),
            &manifest("ipam", ""),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("wnet:driver/teleport@0.1.0"),
            "{err}"
        );
        let err = check(
            &report(&exports, &["acme:evil/root@1.0.0"]),
            &manifest("ipam", ""),
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::UnknownImport { .. }), "{err}");
    }
}
