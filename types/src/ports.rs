//! Published ports as Docker writes them: libnetwork's `types.PortBinding`, carried in
//! the option `com.docker.network.portmap` as a JSON list, and the `-p`/`--publish`
//! syntax `[HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[/PROTO]`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Every protocol wnet publishes.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Its IP protocol number, as libnetwork's `Proto` and the kernel's `inet_proto`.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// A published port as a driver asks the host's firewall for it, and as the host
/// publishes it: traffic to `host_ip` (any local address when none) on `host_port` goes
/// to `container_ip`:`container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The protocol.
    pub protocol: Protocol,
    /// The host address; any local address when none.
    pub host_ip: Option<IpAddr>,
    /// The host port, or the first of a range to take a free one from.
    pub host_port: u16,
    /// The last port of that range; 0 or `host_port` for one port (published ports
    /// have it equal to `host_port`).
    #[serde(default)]
    pub host_port_end: u16,
    /// The container's address.
    pub container_ip: IpAddr,
    /// The container's port.
    pub container_port: u16,
}

/// One published port, in libnetwork's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// The IP protocol number: 6 TCP, 17 UDP, 132 SCTP.
    #[serde(rename = "Proto")]
    pub proto: u8,
    /// The container's address (set by the driver when published; empty when asked).
    #[serde(rename = "IP", default)]
    pub ip: String,
    /// The container's port.
    #[serde(rename = "Port")]
    pub port: u16,
    /// The host address; empty for any.
    #[serde(rename = "HostIP", default)]
    pub host_ip: String,
    /// The host port; 0 for any free one.
    #[serde(rename = "HostPort", default)]
    pub host_port: u16,
    /// The last host port of a range to take a free one from; 0 or `host_port` for one.
    #[serde(rename = "HostPortEnd", default)]
    pub host_port_end: u16,
}

impl PortBinding {
    /// The protocol, or an error naming the number.
    pub fn protocol(&self) -> Result<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.number() == self.proto)
            .ok_or_else(|| {
                Error::invalid_parameter(format!(
                    "port {}: protocol number {} is not tcp (6), udp (17) or sctp (132)",
                    self.port, self.proto
                ))
            })
    }

    /// Parses `[HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[/PROTO]` (Docker's `-p`, with
    /// a host port: wnet publishes nothing on a port the operator did not name).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid_parameter(format!(
                "--publish `{s}`: {why}; the form is [HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[/tcp|udp|sctp], as 8080:80 or 127.0.0.1:5353:53/udp"
            ))
        };
        let (rest, proto) = match s.rsplit_once('/') {
            Some((rest, p)) => (
                rest,
                Protocol::ALL
                    .into_iter()
                    .find(|known| known.to_string() == p)
                    .map(Protocol::number)
                    .ok_or_else(|| bad(&format!("protocol `{p}` is not tcp, udp or sctp")))?,
            ),
            None => (s, 6),
        };
        let (host, container) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("no container port"))?;
        let port = |p: &str| -> Result<u16> {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(&format!("`{p}` is not a port (1 to 65535)")))
        };
        let container_port = port(container)?;
        // An IPv6 host address comes in brackets: [::1]:8080:80.
        let (host_ip, ports) = match host.rsplit_once(':') {
            Some((ip, ports)) => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| bad(&format!("`{ip}` is not an IP address")))?;
                (ip.to_string(), ports)
            }
            None => (String::new(), host),
        };
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(ports)?, port(ports)?),
        };
        if last < first {
            return Err(bad(&format!(
                "host port range {first}-{last} runs backwards"
            )));
        }
        Ok(PortBinding {
            proto,
            ip: String::new(),
            port: container_port,
            host_ip,
            host_port: first,
            host_port_end: last,
        })
    }
}

impl std::fmt::Display for PortBinding {
    /// Docker's form: `8080:80/tcp`, `127.0.0.1:8080-8090:80/tcp`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.host_ip.is_empty() {
            match self.host_ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => write!(f, "[{}]:", self.host_ip)?,
                _ => write!(f, "{}:", self.host_ip)?,
            }
        }
        write!(f, "{}", self.host_port)?;
        if self.host_port_end > self.host_port {
            write!(f, "-{}", self.host_port_end)?;
        }
        write!(f, ":{}/", self.port)?;
        match self.protocol() {
            Ok(p) => write!(f, "{p}"),
            Err(_) => f.write_str("?"),
        }
    }
}

/// Reads the option `com.docker.network.portmap`: a JSON list of [`PortBinding`].
pub fn from_options(options: &crate::Options) -> Result<Vec<PortBinding>> {
    match options.get(crate::keys::PORT_MAP) {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| {
            Error::invalid_parameter(format!(
                "option `{}`: {e}: a JSON list of {{\"Proto\":6,\"Port\":80,\"HostPort\":8080}}",
                crate::keys::PORT_MAP
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_s_publish_forms_parse_and_print_back() {
        for (text, proto, host_ip, first, last, port) in [
            ("8080:80", 6, "", 8080, 8080, 80),
            ("127.0.0.1:5353:53/udp", 17, "127.0.0.1", 5353, 5353, 53),
            ("8000-8010:80/tcp", 6, "", 8000, 8010, 80),
            ("[::1]:9000:90/sctp", 132, "::1", 9000, 9000, 90),
        ] {
            let b = PortBinding::parse(text).unwrap();
            assert_eq!(
                (
                    b.proto,
                    b.host_ip.as_str(),
                    b.host_port,
                    b.host_port_end,
                    b.port
                ),
                (proto, host_ip, first, last, port),
                "{text}"
            );
            assert_eq!(PortBinding::parse(&b.to_string()).unwrap(), b, "{text}");
        }
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        for (text, why) in [
            ("80", "no container port"),
            ("8080:0", "not a port"),
            ("8080:80/icmp", "protocol `icmp`"),
            ("host:8080:80", "not an IP address"),
            ("9000-8000:80", "runs backwards"),
            ("70000:80", "not a port"),
        ] {
            let e = PortBinding::parse(text).unwrap_err();
            assert!(e.message.contains(why), "{text}: {e}");
        }
    }
}
