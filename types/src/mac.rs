use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ethernet hardware address, written `02:42:ac:11:00:02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// The address's octets.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// A multicast (group) address: the low bit of the first octet is set. Such an
    /// address cannot be an interface's own.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// A locally administered address, as generated ones must be.
    pub fn is_local(self) -> bool {
        self.0[0] & 2 == 2
    }

    /// The all-zero address, which no interface may have.
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }

    /// A locally administered unicast address made from six arbitrary bytes: what
    /// libnetwork's `GenerateRandomMAC` produces from random ones.
    pub fn local_unicast_from(mut bytes: [u8; 6]) -> Self {
        bytes[0] = (bytes[0] & 0xfe) | 0x02;
        MacAddress(bytes)
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a MAC address: expected six hexadecimal octets such as 02:42:ac:11:00:02")]
pub struct ParseMacError(pub String);

impl FromStr for MacAddress {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseMacError(s.to_owned());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(out))
    }
}

impl Serialize for MacAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_colon_and_dash_forms() {
        let mac: MacAddress = "02:42:AC:11:00:02".parse().unwrap();
        assert_eq!(mac.octets(), [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(mac.to_string(), "02:42:ac:11:00:02");
        assert_eq!("02-42-ac-11-00-02".parse::<MacAddress>().unwrap(), mac);
    }

    #[test]
    fn rejects_malformed_addresses_naming_the_value() {
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "zz:42:ac:11:00:02",
        ] {
            let err = bad.parse::<MacAddress>().unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn generated_addresses_are_local_unicast() {
        let mac = MacAddress::local_unicast_from([0xff; 6]);
        assert!(mac.is_local());
        assert!(!mac.is_multicast());
    }
}
