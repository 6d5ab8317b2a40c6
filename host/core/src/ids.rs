//! Identifiers and generated values.

use wnet_types::MacAddress;

/// A new object id: 64 hexadecimal digits, as Docker's.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 32];
    fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of the ids wnet makes: 64 lowercase hexadecimal digits
/// (an engine that names its objects, as Docker does, must give ids of that shape).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A random locally administered unicast MAC (libnetwork's `GenerateRandomMAC`).
pub(crate) fn random_mac() -> MacAddress {
    let mut bytes = [0u8; 6];
    fill(&mut bytes);
    MacAddress::local_unicast_from(bytes)
}

fn fill(bytes: &mut [u8]) {
    // The kernel's random source does not fail once the system is up; if it ever did, a
    // process that cannot make unique ids must not go on making objects.
    #[expect(clippy::expect_used, reason = "no id without randomness")]
    getrandom::fill(bytes).expect("the kernel's random source failed");
}

/// Whether `name` is a valid object name: Docker's `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Linux's rule for interface names (the kernel's `dev_valid_name`): 1 to 15 bytes, no
/// `/`, `:` or whitespace, not `.` or `..`.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["net1", "my_net.v2-a", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-net", ".net", "my net", "a/b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
