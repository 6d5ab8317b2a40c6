//! libnetwork's null IPAM: address space `null`, every pool request answered with
//! `0.0.0.0/0` (or `::/0`), no addresses. The controller treats such a pool as
//! unaddressed: no gateway, no endpoint addresses.

use std::net::IpAddr;

use wnet_sdk::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, Error, IpNet, IpamDriver,
    Options, PoolRequest, Result,
};

/// The null IPAM: stateless.
#[derive(Default)]
pub struct NullIpam;

const SPACE: &str = "null";

impl IpamDriver for NullIpam {
    fn default_address_spaces(&mut self) -> Result<AddressSpaces> {
        Ok(AddressSpaces {
            local: SPACE.to_owned(),
            global: SPACE.to_owned(),
        })
    }

    fn request_pool(&mut self, request: PoolRequest) -> Result<AllocatedPool> {
        if request.address_space != SPACE {
            return Err(Error::invalid_parameter(format!(
                "address space `{}` is not the null IPAM's (`{SPACE}`)",
                request.address_space
            )));
        }
        if request.pool.is_some_and(|p| p.prefix_len() != 0) || request.sub_pool.is_some() {
            return Err(Error::invalid_parameter(
                "the null IPAM manages no subnets: use another IPAM driver to give one",
            ));
        }
        let pool: IpNet = if request.v6 { "::/0" } else { "0.0.0.0/0" }
            .parse()
            .map_err(|_| Error::internal("constant pool"))?;
        Ok(AllocatedPool {
            pool_id: format!("{SPACE}/{pool}"),
            pool,
            meta: Options::new(),
        })
    }

    fn release_pool(&mut self, _pool_id: &str) -> Result<()> {
        Ok(())
    }

    fn request_address(&mut self, _request: AddressRequest) -> Result<AllocatedAddress> {
        Err(Error::unavailable("the null IPAM hands out no addresses"))
    }

    fn release_address(&mut self, _pool_id: &str, _address: IpAddr) -> Result<()> {
        Ok(())
    }
}

wnet_sdk::export_ipam_driver!(NullIpam);

#[cfg(test)]
mod tests {
    use wnet_sdk::testing::Harness;

    use super::*;

    #[test]
    fn every_pool_is_the_whole_space_of_its_family() {
        let mut h = Harness::<NullIpam>::new();
        let space = h.default_address_spaces().unwrap().local;
        for (v6, want) in [(false, "0.0.0.0/0"), (true, "::/0")] {
            let p = h
                .request_pool(PoolRequest {
                    address_space: space.clone(),
                    v6,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(p.pool.to_string(), want);
        }
        let err = h
            .request_pool(PoolRequest {
                address_space: space,
                pool: Some("10.0.0.0/8".parse().unwrap()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.kind, wnet_sdk::ErrorKind::InvalidParameter);
    }
}
