//! libnetwork's host driver: a container on the host network shares the host's own
//! network namespace, so there is no interface to make and no address to assign (the
//! controller skips IPAM for this driver and lets only a sandbox in the host's
//! namespace join). As in libnetwork, one host network exists at most.
//!
//! State in `kv`: `network` holds the id of the host network, `endpoint/<id>` one key
//! per endpoint, so the driver answers for them after a restart and refuses the rest.

use wnet_sdk::{
    EndpointInterface, EndpointRequest, Error, JoinInfo, JoinRequest, NetworkDriver,
    NetworkRequest, Result, kv,
};

/// The host driver. Holds nothing in memory: everything is in `kv`.
#[derive(Default)]
pub struct Host;

const NETWORK: &str = "network";

fn ours(network_id: &str) -> Result<()> {
    let current = kv::get(NETWORK)?;
    if current.as_deref() == Some(network_id.as_bytes()) {
        Ok(())
    } else {
        Err(Error::not_found(format!(
            "network {network_id} is not the host network"
        )))
    }
}

fn endpoint(endpoint_id: &str) -> String {
    format!("endpoint/{endpoint_id}")
}

fn known_endpoint(network_id: &str, endpoint_id: &str) -> Result<()> {
    ours(network_id)?;
    if kv::get(&endpoint(endpoint_id))?.is_none() {
        return Err(Error::not_found(format!(
            "endpoint {endpoint_id} does not exist on the host network"
        )));
    }
    Ok(())
}

impl NetworkDriver for Host {
    fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
        request.options.deny_unknown(&[])?;
        if let Some(existing) = kv::get(NETWORK)? {
            return Err(Error::conflict(format!(
                "only one host network may exist, and network {} is it; connect to that one",
                String::from_utf8_lossy(&existing)
            )));
        }
        kv::set(NETWORK, request.network_id.as_bytes())
    }

    fn delete_network(&mut self, network_id: &str) -> Result<()> {
        ours(network_id)?;
        if !kv::list("endpoint/")?.is_empty() {
            return Err(Error::forbidden(format!(
                "host network {network_id} still has endpoints"
            )));
        }
        kv::delete(NETWORK)?;
        Ok(())
    }

    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
        ours(&request.network_id)?;
        request.options.deny_unknown(&[])?;
        kv::set(&endpoint(&request.endpoint_id), b"")?;
        // No interface: the container uses the host's.
        Ok(EndpointInterface::default())
    }

    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        known_endpoint(network_id, endpoint_id)?;
        kv::delete(&endpoint(endpoint_id))?;
        Ok(())
    }

    fn join(&mut self, request: JoinRequest) -> Result<JoinInfo> {
        known_endpoint(&request.network_id, &request.endpoint_id)?;
        // The host's own routes already apply: no gateway to offer.
        Ok(JoinInfo {
            disable_gateway_service: true,
            ..JoinInfo::default()
        })
    }

    fn leave(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        known_endpoint(network_id, endpoint_id)
    }
}

wnet_sdk::export_network_driver!(Host);

#[cfg(test)]
mod tests {
    use wnet_sdk::testing::Harness;
    use wnet_sdk::{ErrorKind, NetworkDriver, NetworkRequest};

    use super::*;

    fn network(id: &str) -> NetworkRequest {
        NetworkRequest {
            network_id: id.into(),
            name: "host".into(),
            ..Default::default()
        }
    }

    fn endpoint_request(eid: &str) -> EndpointRequest {
        EndpointRequest {
            network_id: "n1".into(),
            endpoint_id: eid.into(),
            endpoint_name: eid.into(),
            ..Default::default()
        }
    }

    #[test]
    fn one_host_network_at_most() {
        let mut h = Harness::<Host>::new();
        h.create_network(network("n1")).unwrap();
        let err = h.create_network(network("n2")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(err.message.contains("n1"), "names the existing one: {err}");
        h.delete_network("n1").unwrap();
        h.create_network(network("n2")).unwrap();
    }

    #[test]
    fn endpoints_have_no_interface_and_survive_a_restart() {
        let mut h = Harness::<Host>::new();
        h.create_network(network("n1")).unwrap();
        let iface = h.create_endpoint(endpoint_request("e1")).unwrap();
        assert_eq!(iface, EndpointInterface::default());
        h.restart();
        let info = h
            .join(JoinRequest {
                network_id: "n1".into(),
                endpoint_id: "e1".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(info.interface_name, None, "the host's interfaces are used");
        assert!(info.disable_gateway_service);
        assert_eq!(
            h.delete_network("n1").unwrap_err().kind,
            ErrorKind::Forbidden,
            "refused while an endpoint exists"
        );
        h.leave("n1", "e1").unwrap();
        h.delete_endpoint("n1", "e1").unwrap();
        h.delete_network("n1").unwrap();
        assert!(h.kv().is_empty(), "nothing left behind: {:?}", h.kv());
    }

    #[test]
    fn refuses_unknown_objects_and_options() {
        let mut h = Harness::<Host>::new();
        assert_eq!(
            h.delete_network("n1").unwrap_err().kind,
            ErrorKind::NotFound
        );
        h.create_network(network("n1")).unwrap();
        assert_eq!(h.leave("n1", "nope").unwrap_err().kind, ErrorKind::NotFound);
        let mut req = network("n9");
        req.options.insert("mtu", "1500");
        h.delete_network("n1").unwrap();
        let err = h.create_network(req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
    }
}
