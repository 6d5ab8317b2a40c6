//! The default IPAM, with the semantics of libnetwork's `defaultipam`:
//!
//! - address spaces `LocalDefault` and `GlobalDefault`, each with IPv4 and IPv6 pools;
//! - predefined pools handed out lowest free first: local 172.17.0.0/16, 172.18.0.0/16,
//!   172.19.0.0/16, 172.20.0.0/14, 172.24.0.0/14, 172.28.0.0/14 split into /16s and
//!   192.168.0.0/16 split into /20s; global 10.0.0.0/8 split into /24s; IPv6 from the
//!   ULA `fd42:776e:6574::/48` split into /64s; `0.0.0.0/N` asks for any free /N;
//! - static pools with overlap detection; sub-pools (`--ip-range`) sharing their parent;
//! - the network address and (IPv4) the broadcast address reserved, except on /31, /32
//!   (and IPv6 /127, /128);
//! - the lowest free address, or serial (round-robin) allocation with
//!   `com.docker.network.ipam.serial=true`; preferred addresses; release.
//!
//! State lives in `kv`: one JSON record per pool and its bitmap in 1024-bit chunks, so an
//! allocation writes one small chunk and a restart (or a re-created instance) finds
//! every pool and address where it was.

mod bitmap;
mod pools;

use std::net::IpAddr;

use wnet_sdk::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, IpamCapability, IpamDriver,
    PoolRequest, Result,
};

pub use pools::{GLOBAL_SPACE, LOCAL_SPACE};

/// The default IPAM driver. Its state is loaded from `kv` at the first call.
#[derive(Default)]
pub struct DefaultIpam {
    state: Option<pools::State>,
}

impl DefaultIpam {
    fn state(&mut self) -> Result<&mut pools::State> {
        if self.state.is_none() {
            self.state = Some(pools::State::load()?);
        }
        // Just filled in above.
        self.state
            .as_mut()
            .ok_or_else(|| wnet_sdk::Error::internal("IPAM state not loaded"))
    }
}

impl IpamDriver for DefaultIpam {
    fn capability(&self) -> IpamCapability {
        // Unlike libnetwork's in-memory default IPAM, this one keeps its state in kv, so
        // the controller need not replay requests at start.
        IpamCapability::default()
    }

    fn default_address_spaces(&mut self) -> Result<AddressSpaces> {
        Ok(AddressSpaces {
            local: LOCAL_SPACE.to_owned(),
            global: GLOBAL_SPACE.to_owned(),
        })
    }

    fn request_pool(&mut self, request: PoolRequest) -> Result<AllocatedPool> {
        self.state()?.request_pool(&request)
    }

    fn release_pool(&mut self, pool_id: &str) -> Result<()> {
        self.state()?.release_pool(pool_id)
    }

    fn request_address(&mut self, request: AddressRequest) -> Result<AllocatedAddress> {
        self.state()?.request_address(&request)
    }

    fn release_address(&mut self, pool_id: &str, address: IpAddr) -> Result<()> {
        self.state()?.release_address(pool_id, address)
    }
}

wnet_sdk::export_ipam_driver!(DefaultIpam);

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
