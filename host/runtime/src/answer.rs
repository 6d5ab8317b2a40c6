//! The size limits of a driver's answers (`limits.answer-items`, `answer-bytes`),
//! checked as soon as wasmtime has lifted an answer and before anything uses it. The
//! linear memory limit already bounds what can be lifted; these bound what the host
//! then stores, logs and acts on: ten million routes or a megabyte-long interface name
//! are refused, an overlong error message is cut.

use wnet_core::Fault;

use crate::bindings::convert::{i, n, t};
use crate::instance::Limits;

/// An answer whose lists and strings can be held to the limits.
pub(crate) trait Answer {
    /// Refuses the answer if a list or string is over its limit; cuts an error
    /// message to fit instead, so that the driver's own explanation still arrives.
    /// By default nothing to check: an answer of fixed size.
    fn fit(&mut self, _limits: &Limits) -> Result<(), Fault> {
        Ok(())
    }
}

fn items(what: &str, n: usize, limits: &Limits) -> Result<(), Fault> {
    if n > limits.answer_items {
        return Err(Fault::Oversized {
            what: format!("{what} (entries)"),
            size: n,
            limit: limits.answer_items,
        });
    }
    Ok(())
}

fn bytes(what: &str, s: &str, limits: &Limits) -> Result<(), Fault> {
    if s.len() > limits.answer_bytes {
        return Err(Fault::Oversized {
            what: format!("{what} (bytes)"),
            size: s.len(),
            limit: limits.answer_bytes,
        });
    }
    Ok(())
}

fn options(what: &str, o: &[(String, String)], limits: &Limits) -> Result<(), Fault> {
    items(what, o.len(), limits)?;
    o.iter().try_for_each(|(k, v)| {
        bytes(&format!("{what}: a key"), k, limits)?;
        bytes(&format!("{what}: the value of `{}`", short(k)), v, limits)
    })
}

/// The start of a string that may be long, for a message.
fn short(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cuts `m` to `max` bytes (at a character boundary), saying how much went.
fn cut(m: &mut String, max: usize) {
    if m.len() <= max {
        return;
    }
    let mut end = max;
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    let gone = m.len() - end;
    m.truncate(end);
    m.push_str(&format!("… ({gone} more bytes cut by wnet)"));
}

impl Answer for () {}

impl<T: Answer> Answer for Result<T, t::Error> {
    fn fit(&mut self, limits: &Limits) -> Result<(), Fault> {
        match self {
            Ok(v) => v.fit(limits),
            Err(
                t::Error::InvalidParameter(m)
                | t::Error::NotFound(m)
                | t::Error::Forbidden(m)
                | t::Error::Conflict(m)
                | t::Error::NotImplemented(m)
                | t::Error::Unavailable(m)
                | t::Error::Internal(m),
            ) => {
                cut(m, limits.answer_bytes);
                Ok(())
            }
        }
    }
}

impl Answer for Vec<(String, String)> {
    fn fit(&mut self, limits: &Limits) -> Result<(), Fault> {
        options("options", self, limits)
    }
}

impl Answer for n::Capability {}

impl Answer for n::EndpointInterface {}

impl Answer for n::JoinInfo {
    fn fit(&mut self, limits: &Limits) -> Result<(), Fault> {
        items("static-routes", self.static_routes.len(), limits)?;
        if let Some(name) = &self.interface_name {
            bytes("interface-name src-name", &name.src_name, limits)?;
            bytes("interface-name dst-prefix", &name.dst_prefix, limits)?;
            if let Some(dst) = &name.dst_name {
                bytes("interface-name dst-name", dst, limits)?;
            }
        }
        Ok(())
    }
}

impl Answer for i::Capability {}

impl Answer for i::AddressSpaces {
    fn fit(&mut self, limits: &Limits) -> Result<(), Fault> {
        bytes("local address space", &self.local, limits)?;
        bytes("global address space", &self.global, limits)
    }
}

// An allocation refused for its size must be given back, which needs the answer: the
// IPAM wrapper checks these two itself (`pool`, `address`) and releases what it refuses.
impl Answer for i::AllocatedPool {}

impl Answer for i::AllocatedAddress {}

/// The size check of a pool allocation.
pub(crate) fn pool(p: &i::AllocatedPool, limits: &Limits) -> Result<(), Fault> {
    bytes("pool-id", &p.pool_id, limits)?;
    options("pool meta", &p.meta, limits)
}

/// The size check of an address allocation.
pub(crate) fn address(a: &i::AllocatedAddress, limits: &Limits) -> Result<(), Fault> {
    options("address meta", &a.meta, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_message_is_cut_at_a_character_boundary() {
        let limits = Limits::least();
        let mut e: Result<(), t::Error> = Err(t::Error::Internal("é".repeat(1000)));
        e.fit(&limits).unwrap();
        let Err(t::Error::Internal(m)) = e else {
            panic!("still an internal error")
        };
        assert!(m.starts_with(&"é".repeat(128)), "{m}");
        assert!(m.ends_with("… (1744 more bytes cut by wnet)"), "{m}");
        let mut o: Vec<(String, String)> =
            (0..17).map(|i| (i.to_string(), String::new())).collect();
        assert!(matches!(
            o.fit(&limits),
            Err(Fault::Oversized {
                size: 17,
                limit: 16,
                ..
            })
        ));
    }
}
