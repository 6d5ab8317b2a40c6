//! `wnet:driver/log`: driver log lines into the host's log, with the driver's name.

use crate::bindings::network::wnet::driver::log::{Host, Level};
use crate::host::HostState;

/// Longer messages are cut: a driver may not make the host log megabytes per line.
const MAX_MESSAGE: usize = 4096;
/// At most this many fields per line are kept.
const MAX_FIELDS: usize = 32;

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        if !self.ctx.log_budget.admit() {
            return;
        }
        let driver = &*self.ctx.name;
        let message = cut(&message, MAX_MESSAGE);
        let fields: Vec<String> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", cut(k, 64), cut(v, 256)))
            .collect();
        let fields = fields.join(" ");
        match level {
            Level::Trace => tracing::trace!(driver, %fields, "{message}"),
            Level::Debug => tracing::debug!(driver, %fields, "{message}"),
            Level::Info => tracing::info!(driver, %fields, "{message}"),
            Level::Warn => tracing::warn!(driver, %fields, "{message}"),
            Level::Error => tracing::error!(driver, %fields, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cutting_respects_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("hello", 10), "hello");
    }
}
