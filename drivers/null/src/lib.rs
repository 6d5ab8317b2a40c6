//! libnetwork's null driver: networks and endpoints exist, but no interface is made;
//! a sandbox joined to a null network keeps only its loopback. Networks and endpoints
//! are remembered in `kv`, so the driver answers for them after a restart and refuses
//! calls about objects it never created.

use wnet_sdk::{
    EndpointInterface, EndpointRequest, Error, JoinInfo, JoinRequest, NetworkDriver,
    NetworkRequest, Result, kv,
};

/// The null driver. Holds nothing in memory: everything is in `kv`.
#[derive(Default)]
pub struct Null;

fn network_key(network_id: &str) -> String {
    format!("network/{network_id}")
}

fn endpoint_key(network_id: &str, endpoint_id: &str) -> String {
    format!("endpoint/{network_id}/{endpoint_id}")
}

fn require_network(network_id: &str) -> Result<()> {
    match kv::get(&network_key(network_id))? {
        Some(_) => Ok(()),
        None => Err(Error::not_found(format!(
            "network {network_id} is not a null network"
        ))),
    }
}

fn require_endpoint(network_id: &str, endpoint_id: &str) -> Result<()> {
    match kv::get(&endpoint_key(network_id, endpoint_id))? {
        Some(_) => Ok(()),
        None => Err(Error::not_found(format!(
            "endpoint {endpoint_id} does not exist in null network {network_id}"
        ))),
    }
}

impl NetworkDriver for Null {
    fn create_network(&mut self, request: NetworkRequest) -> Result<()> {
        request.options.deny_unknown(&[])?;
        if kv::get(&network_key(&request.network_id))?.is_some() {
            return Err(Error::conflict(format!(
                "network {} already exists",
                request.network_id
            )));
        }
        kv::set(&network_key(&request.network_id), request.name.as_bytes())
    }

    fn delete_network(&mut self, network_id: &str) -> Result<()> {
        require_network(network_id)?;
        if !kv::list(&format!("endpoint/{network_id}/"))?.is_empty() {
            return Err(Error::forbidden(format!(
                "network {network_id} still has endpoints"
            )));
        }
        kv::delete(&network_key(network_id))?;
        Ok(())
    }

    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface> {
        require_network(&request.network_id)?;
        let key = endpoint_key(&request.network_id, &request.endpoint_id);
        if kv::get(&key)?.is_some() {
            return Err(Error::conflict(format!(
                "endpoint {} already exists",
                request.endpoint_id
            )));
        }
        kv::set(&key, request.endpoint_name.as_bytes())?;
        Ok(EndpointInterface::default())
    }

    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        require_endpoint(network_id, endpoint_id)?;
        kv::delete(&endpoint_key(network_id, endpoint_id))?;
        Ok(())
    }

    fn join(&mut self, request: JoinRequest) -> Result<JoinInfo> {
        require_endpoint(&request.network_id, &request.endpoint_id)?;
        // No interface and no gateway: the sandbox keeps its loopback only.
        Ok(JoinInfo {
            disable_gateway_service: true,
            ..JoinInfo::default()
        })
    }

    fn leave(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        require_endpoint(network_id, endpoint_id)
    }
}

wnet_sdk::export_network_driver!(Null);

#[cfg(test)]
mod tests {
    use wnet_sdk::testing::Harness;
    use wnet_sdk::{ErrorKind, NetworkDriver, NetworkRequest};

    use super::*;

    fn network(id: &str) -> NetworkRequest {
        NetworkRequest {
            network_id: id.into(),
            name: format!("net-{id}"),
            ..Default::default()
        }
    }

    fn endpoint(nid: &str, eid: &str) -> EndpointRequest {
        EndpointRequest {
            network_id: nid.into(),
            endpoint_id: eid.into(),
            endpoint_name: eid.into(),
            ..Default::default()
        }
    }

    #[test]
    fn remembers_its_objects_across_a_restart() {
        let mut h = Harness::<Null>::new();
        h.create_network(network("n1")).unwrap();
        h.create_endpoint(endpoint("n1", "e1")).unwrap();
        h.restart();
        let info = h
            .join(JoinRequest {
                network_id: "n1".into(),
                endpoint_id: "e1".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(info.interface_name, None, "null makes no interface");
        h.leave("n1", "e1").unwrap();
        h.delete_endpoint("n1", "e1").unwrap();
        h.delete_network("n1").unwrap();
        assert!(h.kv().is_empty(), "nothing left behind: {:?}", h.kv());
    }

    #[test]
    fn refuses_unknown_objects_and_options() {
        let mut h = Harness::<Null>::new();
        assert_eq!(
            h.delete_network("nope").unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            h.create_endpoint(endpoint("nope", "e")).unwrap_err().kind,
            ErrorKind::NotFound
        );
        let mut req = network("n2");
        req.options.insert("mtu", "1500");
        let err = h.create_network(req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        assert!(err.message.contains("`mtu`"), "{err}");
    }
}
