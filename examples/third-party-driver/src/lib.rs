//! An example third-party wnet network driver, built on `wnet-sdk` alone.
//!
//! Endpoints get the MAC address Docker gave containers for years: `02:42` followed by
//! the four octets of the endpoint's IPv4 address (`172.17.0.2` → `02:42:ac:11:00:02`),
//! unless the operator chose one. Like the null driver it makes no interface. It
//! remembers each endpoint's MAC in `kv` and reports it in `endpoint-oper-info`.
//!
//! Build: `cargo build --target wasm32-wasip2 --release`, then
//! `wnet driver check target/wasm32-wasip2/release/ipmac_driver.wasm --manifest manifest.toml`.

use wnet_sdk::{
    EndpointInterface, EndpointRequest, Error, JoinInfo, JoinRequest, MacAddress, NetworkDriver,
    NetworkRequest, Options, Result, kv, log,
};

/// The driver. Stateless in memory; its endpoints are in `kv`.
#[derive(Default)]
pub struct IpMac;

/// Docker's old rule: `02:42` and the IPv4 address.
pub fn mac_for(ip: std::net::Ipv4Addr) -> MacAddress {
    let [a, b, c, d] = ip.octets();
    MacAddress([0x02, 0x42, a, b, c, d])
}

fn key(network_id: &str, endpoint_id: &str) -> String {
    format!("mac/{network_id}/{endpoint_id}")
}

impl NetworkDriver for IpMac {
    fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
        request.options.deny_unknown(&[])?;
        if !request.enable_ipv4 {
            return Err(Error::invalid_parameter(
                "the ipmac driver derives MACs from IPv4 addresses: IPv4 must be enabled",
            ));
        }
        log::log(
            log::Level::Info,
            "network created",
            &[("network", &request.name)],
        );
        Ok(())
    }

    fn delete_network(&mut self, _network_id: &str) -> Result<()> {
        Ok(())
    }

    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
        let chosen = request.interface.mac_address;
        let mac = match (chosen, request.interface.address) {
            (Some(mac), _) => mac,
            (None, Some(addr)) => mac_for(addr.addr()),
            (None, None) => {
                return Err(Error::invalid_parameter(format!(
                    "endpoint {} has no IPv4 address to derive a MAC from",
                    request.endpoint_name
                )));
            }
        };
        kv::set(
            &key(&request.network_id, &request.endpoint_id),
            mac.to_string().as_bytes(),
        )?;
        Ok(EndpointInterface {
            // Only a MAC the controller did not set may be set by the driver.
            mac_address: chosen.is_none().then_some(mac),
            ..Default::default()
        })
    }

    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        kv::delete(&key(network_id, endpoint_id))?;
        Ok(())
    }

    fn endpoint_oper_info(&mut self, network_id: &str, endpoint_id: &str) -> Result<Options> {
        let mac = kv::get(&key(network_id, endpoint_id))?
            .ok_or_else(|| Error::not_found(format!("endpoint {endpoint_id}")))?;
        Ok([("mac", String::from_utf8_lossy(&mac).into_owned())]
            .into_iter()
            .collect())
    }

    fn join(&mut self, _request: JoinRequest) -> Result<JoinInfo> {
        Ok(JoinInfo::default())
    }

    fn leave(&mut self, _network_id: &str, _endpoint_id: &str) -> Result<()> {
        Ok(())
    }
}

wnet_sdk::export_network_driver!(IpMac);

#[cfg(test)]
mod tests {
    use wnet_sdk::testing::Harness;

    use super::*;

    #[test]
    fn derives_dockers_old_mac_and_remembers_it() {
        let mut h = Harness::<IpMac>::new();
        let ep = EndpointRequest {
            network_id: "n".into(),
            endpoint_id: "e".into(),
            endpoint_name: "web".into(),
            interface: wnet_sdk::InterfaceInfo {
                address: Some("172.17.0.2/16".parse().unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        let set = h.create_endpoint(ep).unwrap();
        assert_eq!(set.mac_address.unwrap().to_string(), "02:42:ac:11:00:02");
        h.restart();
        assert_eq!(
            h.endpoint_oper_info("n", "e").unwrap().get("mac"),
            Some("02:42:ac:11:00:02")
        );
    }
}
