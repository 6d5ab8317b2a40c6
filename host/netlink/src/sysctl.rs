//! sysctl inside a namespace, limited to the network keys wnet and its drivers need.

use std::path::PathBuf;

use crate::{Namespace, NetlinkError, Result};

/// Whether `key` (dotted, `net.ipv4.ip_forward`) is one wnet may set: forwarding, and
/// the per-interface IPv4/IPv6 settings.
pub fn allowed(key: &str) -> bool {
    const EXACT: [&str; 3] = [
        "net.ipv4.ip_forward",
        "net.ipv6.conf.all.forwarding",
        "net.ipv6.conf.default.forwarding",
    ];
    if EXACT.contains(&key) {
        return true;
    }
    let per_interface = |prefix: &str| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(iface, setting)| valid_component(iface) && valid_component(setting))
    };
    per_interface("net.ipv4.conf.")
        || per_interface("net.ipv6.conf.")
        || per_interface("net.ipv4.neigh.")
        || per_interface("net.ipv6.neigh.")
}

/// One dotted component of a key: an interface name or a setting, no separators.
fn valid_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@'))
}

fn path(key: &str) -> Result<PathBuf> {
    if !allowed(key) {
        return Err(NetlinkError::Other {
            op: format!("sysctl {key}"),
            reason: "not an allowed key: only forwarding and net.ipv4/ipv6.conf|neigh.IFACE.* may be set".to_owned(),
        });
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

/// Reads `key` inside `ns`.
pub fn get(ns: &Namespace, key: &str) -> Result<String> {
    let p = path(key)?;
    let key = key.to_owned();
    ns.run(move || std::fs::read_to_string(&p))?
        .map(|v| v.trim().to_owned())
        .map_err(|e| NetlinkError::Other {
            op: format!("read sysctl {key}"),
            reason: e.to_string(),
        })
}

/// Sets `key` to `value` inside `ns`.
pub fn set(ns: &Namespace, key: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 64 || value.contains('\n') {
        return Err(NetlinkError::Other {
            op: format!("sysctl {key}"),
            reason: format!("value `{value}` is not a single short line"),
        });
    }
    let p = path(key)?;
    let (key, value) = (key.to_owned(), value.to_owned());
    ns.run(move || std::fs::write(&p, &value))?
        .map_err(|e| NetlinkError::Other {
            op: format!("write sysctl {key}"),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_network_keys_are_allowed() {
        for ok in [
            "net.ipv4.ip_forward",
            "net.ipv4.conf.eth0.rp_filter",
            "net.ipv6.conf.br-1.disable_ipv6",
            "net.ipv4.conf.all.route_localnet",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for bad in [
            "kernel.core_pattern",
            "net.ipv4.conf.eth0",
            "net.ipv4.conf.../rp_filter",
            "net.ipv4.conf.eth0.rp_filter/../../x",
            "vm.overcommit_memory",
            "net.core.somaxconn",
        ] {
            assert!(!allowed(bad), "{bad}");
        }
    }
}
