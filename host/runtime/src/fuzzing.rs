//! The properties the fuzz targets (`fuzz/`) check, here so that their seeds (and
//! every finding, once fixed) are replayed by `cargo test` (tests/fuzz_corpus.rs)
//! against the same checks. Each
//! function panics when the property does not hold, and only then.

use crate::manifest::{Capability, Manifest, SysctlGrant};

/// A driver's manifest, as a third-party author may write it: any bytes are refused
/// or accepted, never a panic, and an accepted manifest holds what
/// [`Manifest::parse`] promises to have checked.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Manifest::parse(text) else {
        return;
    };
    assert!(!m.name.is_empty() && m.name.len() <= 64, "{:?}", m.name);
    assert!(m.limits.memory_mib != Some(0));
    assert!(m.limits.call_timeout_ms != Some(0));
    if m.grants(Capability::Links) {
        assert!(!m.links.prefixes.is_empty() && !m.links.kinds.is_empty());
    }
    for p in &m.links.prefixes {
        assert!(!p.is_empty() && p.len() <= 12 && !p.contains('/'), "{p:?}");
    }
    if m.grants(Capability::Sysctl) {
        assert!(!m.sysctl.keys.is_empty());
    }
}

/// The check a driver's `sysctl.set` passes: its grant's pattern and the host's
/// allow-list. Whatever key a driver sends, one that passes both names a file under
/// /proc/sys/net and nowhere else: no `/`, no NUL, no empty or `..` component.
/// `data` is `pattern NUL key` (a key alone is checked against a usual grant).
pub fn sysctl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, key) = text
        .split_once('\0')
        .unwrap_or(("net.ipv4.conf.*.rp_filter", text));
    let grant = SysctlGrant {
        keys: vec![pattern.to_owned()],
    };
    if grant.allows(key) && wnet_netlink::sysctl::allowed(key) {
        assert!(key.starts_with("net."), "{key:?}");
        assert!(!key.contains('/') && !key.contains('\0'), "{key:?}");
        assert!(
            key.split('.').all(|c| !c.is_empty() && c != ".."),
            "{key:?}"
        );
    }
}
