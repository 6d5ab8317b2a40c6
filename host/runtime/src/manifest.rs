//! Driver manifests: `NAME.toml` beside `NAME.wasm` (built-ins carry theirs). What the
//! driver is and what it may use; unknown keys are errors, so a typo cannot silently
//! grant or drop anything.

use std::fmt;

use serde::Deserialize;
use wnet_types::Scope;

/// A driver's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// The driver's name, as `--driver` and `--ipam-driver` take it.
    pub name: String,
    /// Network or IPAM driver.
    pub kind: DriverKind,
    /// The driver's data scope; a network driver must report the same.
    #[serde(default)]
    pub scope: Scope,
    /// One line for `wnet driver ls`.
    #[serde(default)]
    pub description: String,
    /// The host capabilities the driver may import.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Limits, within the host's ceilings.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// What the `links` capability allows.
    #[serde(default)]
    pub links: LinksGrant,
    /// What the `sysctl` capability allows.
    #[serde(default)]
    pub sysctl: SysctlGrant,
}

/// The links a driver may create: kinds and name prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinksGrant {
    /// Name prefixes of the links it creates (`br-`, `veth`).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Kinds it creates: `bridge`, `veth`, `macvlan`, `vxlan`.
    #[serde(default)]
    pub kinds: Vec<LinkKindGrant>,
    /// Kinds of existing links (within `prefixes`) it may adopt; none by default.
    #[serde(default)]
    pub adopt: Vec<LinkKindGrant>,
}

/// A link kind a driver may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKindGrant {
    /// Linux bridges.
    Bridge,
    /// veth pairs.
    Veth,
    /// macvlan links.
    Macvlan,
    /// VXLAN devices.
    Vxlan,
}

impl fmt::Display for LinkKindGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKindGrant::Bridge => "bridge",
            LinkKindGrant::Veth => "veth",
            LinkKindGrant::Macvlan => "macvlan",
            LinkKindGrant::Vxlan => "vxlan",
        })
    }
}

/// The sysctl keys a driver may read and set: dotted, `*` standing for one component
/// (`net.ipv4.conf.*.forwarding`). Always within the host's own allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SysctlGrant {
    /// The key patterns.
    #[serde(default)]
    pub keys: Vec<String>,
}

impl SysctlGrant {
    /// Whether `key` matches one of the patterns.
    pub fn allows(&self, key: &str) -> bool {
        self.keys.iter().any(|pattern| {
            let (p, k): (Vec<&str>, Vec<&str>) =
                (pattern.split('.').collect(), key.split('.').collect());
            p.len() == k.len() && p.iter().zip(&k).all(|(p, k)| *p == "*" || p == k)
        })
    }
}

/// The two kinds of driver, each a WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// Exports `wnet:driver/network-driver`.
    Network,
    /// Exports `wnet:driver/ipam-driver`.
    Ipam,
}

impl DriverKind {
    /// The interface a driver of this kind exports, without its version.
    pub fn export_interface(self) -> &'static str {
        match self {
            DriverKind::Network => "wnet:driver/network-driver",
            DriverKind::Ipam => "wnet:driver/ipam-driver",
        }
    }

    /// The WIT world of this kind.
    pub fn world(self) -> &'static str {
        match self {
            DriverKind::Network => "wnet:driver/network",
            DriverKind::Ipam => "wnet:driver/ipam",
        }
    }
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Network => "network",
            DriverKind::Ipam => "ipam",
        })
    }
}

/// A host capability a driver may be granted: one WIT interface each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `wnet:driver/log`: structured logging.
    Log,
    /// `wnet:driver/kv`: the driver's persistent keys.
    Kv,
    /// `wnet:driver/links`: create and change links (see `[links]`).
    Links,
    /// `wnet:driver/addresses`: addresses on its links.
    Addresses,
    /// `wnet:driver/routes`: routes through its links.
    Routes,
    /// `wnet:driver/neighbours`: ARP/NDP and forwarding entries on its links.
    Neighbours,
    /// `wnet:driver/sysctl`: the keys of `[sysctl]`.
    Sysctl,
    /// `wnet:driver/firewall`: firewall intents for its networks' bridges.
    Firewall,
}

impl Capability {
    /// The capability's interface, without its version.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Log => "wnet:driver/log",
            Capability::Kv => "wnet:driver/kv",
            Capability::Links => "wnet:driver/links",
            Capability::Addresses => "wnet:driver/addresses",
            Capability::Routes => "wnet:driver/routes",
            Capability::Neighbours => "wnet:driver/neighbours",
            Capability::Sysctl => "wnet:driver/sysctl",
            Capability::Firewall => "wnet:driver/firewall",
        }
    }

    /// Every capability, in manifest spelling.
    pub const ALL: [Capability; 8] = [
        Capability::Log,
        Capability::Kv,
        Capability::Links,
        Capability::Addresses,
        Capability::Routes,
        Capability::Neighbours,
        Capability::Sysctl,
        Capability::Firewall,
    ];
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Log => "log",
            Capability::Kv => "kv",
            Capability::Links => "links",
            Capability::Addresses => "addresses",
            Capability::Routes => "routes",
            Capability::Neighbours => "neighbours",
            Capability::Sysctl => "sysctl",
            Capability::Firewall => "firewall",
        })
    }
}

/// Per-driver limits from the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestLimits {
    /// Linear memory, in MiB.
    pub memory_mib: Option<u64>,
    /// Deadline of one call, in milliseconds.
    pub call_timeout_ms: Option<u64>,
    /// The most time of the driver's calls during one controller operation, in
    /// milliseconds.
    pub operation_timeout_ms: Option<u64>,
    /// The most entries of a list or map in one answer.
    pub answer_items: Option<u64>,
    /// The most bytes of a string in one answer.
    pub answer_bytes: Option<u64>,
    /// The most host calls in one driver call.
    pub host_calls: Option<u64>,
    /// The most log lines per second.
    pub log_lines_per_second: Option<u64>,
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML of the manifest's shape.
    #[error("invalid driver manifest: {0}")]
    Parse(String),
    /// A field with a value that is not allowed.
    #[error("invalid driver manifest for `{name}`: {reason}")]
    Invalid {
        /// The driver's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |reason: String| ManifestError::Invalid {
            name: self.name.clone(),
            reason,
        };
        let mut chars = self.name.chars();
        let ok = self.name.len() <= 64
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !ok {
            return Err(invalid(format!(
                "name `{}` must be 1 to 64 of a-z, 0-9, `-`, `_`, `.`, starting with a letter or digit",
                self.name
            )));
        }
        if self.limits.memory_mib == Some(0) {
            return Err(invalid("limits.memory-mib must be at least 1".to_owned()));
        }
        if self.limits.call_timeout_ms == Some(0) {
            return Err(invalid(
                "limits.call-timeout-ms must be at least 1".to_owned(),
            ));
        }
        if self.limits.operation_timeout_ms == Some(0) {
            return Err(invalid(
                "limits.operation-timeout-ms must be at least 1".to_owned(),
            ));
        }
        // Below these, an ordinary answer (a join's routes, an interface name, an
        // error message) would not fit.
        if self.limits.answer_items.is_some_and(|n| n < 16) {
            return Err(invalid(
                "limits.answer-items must be at least 16".to_owned(),
            ));
        }
        if self.limits.answer_bytes.is_some_and(|n| n < 256) {
            return Err(invalid(
                "limits.answer-bytes must be at least 256".to_owned(),
            ));
        }
        if self.limits.host_calls.is_some_and(|n| n < 16) {
            return Err(invalid("limits.host-calls must be at least 16".to_owned()));
        }
        if self.limits.log_lines_per_second == Some(0) {
            return Err(invalid(
                "limits.log-lines-per-second must be at least 1".to_owned(),
            ));
        }
        if self.grants(Capability::Links)
            && (self.links.prefixes.is_empty() || self.links.kinds.is_empty())
        {
            return Err(invalid(
                "the links capability needs [links] prefixes and kinds: the names and kinds of links the driver creates".to_owned(),
            ));
        }
        if let Some(p) = self
            .links
            .prefixes
            .iter()
            .find(|p| p.is_empty() || p.len() > 12 || p.contains('/'))
        {
            return Err(invalid(format!(
                "links prefix `{p}` must be 1 to 12 characters without `/`"
            )));
        }
        if self.grants(Capability::Sysctl) && self.sysctl.keys.is_empty() {
            return Err(invalid(
                "the sysctl capability needs [sysctl] keys".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether the manifest grants `capability`.
    pub fn grants(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(
            r#"
            name = "bridge"
            kind = "network"
            scope = "local"
            description = "Linux bridge"
            capabilities = ["log", "kv"]
            [limits]
            memory-mib = 32
            call-timeout-ms = 500
            "#,
        )
        .unwrap();
        assert_eq!(m.kind, DriverKind::Network);
        assert!(m.grants(Capability::Kv));
        assert_eq!(m.limits.memory_mib, Some(32));
    }

    #[test]
    fn unknown_keys_and_capabilities_are_errors() {
        let typo =
            Manifest::parse("name = \"x\"\nkind = \"ipam\"\ncapabilites = [\"kv\"]").unwrap_err();
        assert!(typo.to_string().contains("capabilites"), "{typo}");
        let unknown =
            Manifest::parse("name = \"x\"\nkind = \"ipam\"\ncapabilities = [\"netlink\"]")
                .unwrap_err();
        assert!(unknown.to_string().contains("netlink"), "{unknown}");
        let kind = Manifest::parse("name = \"x\"\nkind = \"router\"").unwrap_err();
        assert!(kind.to_string().contains("router"), "{kind}");
    }

    #[test]
    fn names_and_limits_are_checked() {
        let name = Manifest::parse("name = \"My Driver\"\nkind = \"network\"").unwrap_err();
        assert!(name.to_string().contains("`My Driver`"), "{name}");
        let zero = Manifest::parse("name = \"x\"\nkind = \"network\"\n[limits]\nmemory-mib = 0")
            .unwrap_err();
        assert!(zero.to_string().contains("memory-mib"), "{zero}");
    }

    #[test]
    fn kernel_grants_are_checked_and_matched() {
        let bare = Manifest::parse("name = \"x\"\nkind = \"network\"\ncapabilities = [\"links\"]")
            .unwrap_err();
        assert!(
            bare.to_string().contains("[links] prefixes and kinds"),
            "{bare}"
        );
        let m = Manifest::parse(
            "name = \"x\"\nkind = \"network\"\ncapabilities = [\"links\", \"sysctl\"]\n\
             [links]\nprefixes = [\"br-\", \"veth\"]\nkinds = [\"bridge\", \"veth\"]\n\
             [sysctl]\nkeys = [\"net.ipv4.ip_forward\", \"net.ipv4.conf.*.forwarding\"]",
        )
        .unwrap();
        assert_eq!(m.links.kinds, [LinkKindGrant::Bridge, LinkKindGrant::Veth]);
        assert!(m.sysctl.allows("net.ipv4.conf.br-1.forwarding"));
        assert!(!m.sysctl.allows("net.ipv4.conf.br-1.rp_filter"));
        assert!(!m.sysctl.allows("net.ipv4.conf.forwarding"));
        let kind =
            Manifest::parse("name = \"x\"\nkind = \"network\"\n[links]\nkinds = [\"wireguard\"]")
                .unwrap_err();
        assert!(kind.to_string().contains("wireguard"), "{kind}");
    }
}
