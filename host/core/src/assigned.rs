//! The IPAM of networks whose addresses an engine assigned before wnet saw them:
//! Docker, driving wnet through its remote network-driver protocol, reserves pools,
//! gateways and endpoint addresses with its own IPAM (or wnet's, through the remote IPAM
//! protocol) and then hands them over. Those networks record the pools as given and
//! their endpoints the addresses as given; the books of what is free are the engine's.

use std::net::IpAddr;

use async_trait::async_trait;
use wnet_types::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, IpNet, IpamCapability, Options,
    PoolRequest,
};

use crate::driver::{DriverError, IpamDriver};

/// The name the assigned IPAM is registered under.
pub const ASSIGNED_IPAM: &str = "docker";

/// Takes the pool and the addresses it is asked for, and hands out nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct AssignedIpam;

fn refused(message: String) -> DriverError {
    DriverError::Refused(wnet_types::Error::invalid_parameter(message))
}

#[async_trait]
impl IpamDriver for AssignedIpam {
    fn capability(&self) -> IpamCapability {
        IpamCapability::default()
    }

    async fn default_address_spaces(&self) -> Result<AddressSpaces, DriverError> {
        Ok(AddressSpaces {
            local: ASSIGNED_IPAM.to_owned(),
            global: ASSIGNED_IPAM.to_owned(),
        })
    }

    async fn request_pool(&self, request: &PoolRequest) -> Result<AllocatedPool, DriverError> {
        let pool = request.pool.ok_or_else(|| {
            refused(format!(
                "IPAM driver `{ASSIGNED_IPAM}` records the subnets Docker assigned and chooses none: give the subnet (--subnet), or use another IPAM driver"
            ))
        })?;
        Ok(AllocatedPool {
            // The pool is its own id: a network holds each of its subnets once.
            pool_id: pool.to_string(),
            pool,
            meta: Options::new(),
        })
    }

    async fn release_pool(&self, _pool_id: &str) -> Result<(), DriverError> {
        Ok(())
    }

    async fn request_address(
        &self,
        request: &AddressRequest,
    ) -> Result<AllocatedAddress, DriverError> {
        let address = request.preferred.ok_or_else(|| {
            refused(format!(
                "IPAM driver `{ASSIGNED_IPAM}` records the addresses Docker assigned and chooses none: give the address (--gateway for a network's gateway, --ip or --ip6 for a container's)"
            ))
        })?;
        let prefix: IpNet = request.pool_id.parse().map_err(|_| {
            refused(format!(
                "pool `{}` is not one of IPAM driver `{ASSIGNED_IPAM}`",
                request.pool_id
            ))
        })?;
        Ok(AllocatedAddress {
            address: IpNet::new(address, prefix.prefix_len())
                .map_err(|e| refused(e.to_string()))?,
            meta: Options::new(),
        })
    }

    async fn release_address(&self, _pool_id: &str, _address: IpAddr) -> Result<(), DriverError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn it_takes_what_it_is_given_and_chooses_nothing() {
        let ipam = AssignedIpam;
        let pool = block(ipam.request_pool(&PoolRequest {
            pool: Some("10.7.0.0/24".parse().unwrap()),
            ..PoolRequest::default()
        }))
        .unwrap();
        assert_eq!(pool.pool_id, "10.7.0.0/24");
        let address = block(ipam.request_address(&AddressRequest {
            pool_id: pool.pool_id.clone(),
            preferred: Some("10.7.0.9".parse().unwrap()),
            options: Options::new(),
        }))
        .unwrap();
        assert_eq!(address.address.to_string(), "10.7.0.9/24");

        let e = block(ipam.request_pool(&PoolRequest::default())).unwrap_err();
        assert!(e.to_string().contains("--subnet"), "{e}");
        let e = block(ipam.request_address(&AddressRequest {
            pool_id: pool.pool_id,
            preferred: None,
            options: Options::new(),
        }))
        .unwrap_err();
        assert!(e.to_string().contains("--gateway"), "{e}");
    }
}
