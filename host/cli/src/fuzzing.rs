//! The property the `config` fuzz target (`fuzz/`) checks, here so that its seeds are
//! replayed by `cargo test` (tests/fuzz_corpus.rs). Panics when the property does not
//! hold, and only then.

use std::path::Path;

use crate::config::{File, Overrides, Settings};

/// The config file, as an operator may write it: any bytes are refused or accepted,
/// never a panic, and accepted settings hold what [`Settings::from_file`] promises to
/// have checked: every default limit within its ceiling and above zero, every default
/// address pool's subnets inside its base.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = toml::from_str::<File>(text) else {
        return;
    };
    let Ok(s) = Settings::from_file(file, Overrides::default(), Path::new("fuzz.toml")) else {
        return;
    };
    let (d, c) = (&s.default_limits, &s.ceilings);
    for l in [d, c] {
        assert!(l.memory_bytes > 0 && !l.call_timeout.is_zero() && !l.operation_timeout.is_zero());
        assert!(l.answer_items >= 16 && l.answer_bytes >= 256 && l.host_calls >= 16);
        assert!(l.log_lines_per_second >= 1);
    }
    assert!(d.memory_bytes <= c.memory_bytes, "{d:?} {c:?}");
    assert!(d.call_timeout <= c.call_timeout && d.operation_timeout <= c.operation_timeout);
    assert!(d.answer_items <= c.answer_items && d.answer_bytes <= c.answer_bytes);
    assert!(d.host_calls <= c.host_calls && d.log_lines_per_second <= c.log_lines_per_second);
    for p in &s.default_address_pools {
        assert!(
            p.size >= p.base.prefix_len() && p.size <= p.base.max_prefix_len(),
            "{p:?}"
        );
    }
}
