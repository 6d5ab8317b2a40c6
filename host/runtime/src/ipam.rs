//! An IPAM driver component behind `wnet_core::IpamDriver`.

use std::net::IpAddr;

use async_trait::async_trait;
use wnet_core::{DriverError, IpamDriver};
use wnet_types::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, IpamCapability, PoolRequest,
};

use crate::bindings::convert::{from_wit, to_wit};
use crate::bindings::ipam::Ipam;
use crate::error::LoadError;
use crate::instance::{Instance, Limits, Stats, Status, driver_call, lift};
use crate::manifest::Manifest;

/// A loaded IPAM driver.
pub struct WasmIpamDriver {
    inst: Instance<Ipam>,
    manifest: Manifest,
    capability: IpamCapability,
}

impl WasmIpamDriver {
    pub(crate) async fn start(inst: Instance<Ipam>, manifest: Manifest) -> Result<Self, LoadError> {
        let mut driver = WasmIpamDriver {
            inst,
            manifest,
            capability: IpamCapability::default(),
        };
        let capability = driver.capabilities().await.map_err(|e| LoadError::Start {
            driver: driver.manifest.name.clone(),
            reason: e.to_string(),
        })?;
        driver.capability = from_wit::ipam_capability(capability);
        Ok(driver)
    }

    async fn capabilities(
        &self,
    ) -> Result<crate::bindings::ipam::exports::wnet::driver::ipam_driver::Capability, DriverError>
    {
        driver_call!(raw self.wnet_driver_ipam_driver, "capabilities", call_capabilities())
    }

    /// The driver's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The driver's effective limits.
    pub fn limits(&self) -> Limits {
        self.inst.limits()
    }

    /// Counters of calls, faults and instances.
    pub fn stats(&self) -> &Stats {
        &self.inst.stats
    }

    /// Its health and what it did: state, last failure, refusals, kernel requests.
    pub fn status(&self) -> Status {
        self.inst.status()
    }

    /// Lets it run again after a quarantine; whether it was quarantined.
    pub fn enable(&self) -> bool {
        self.inst.enable()
    }
}

#[async_trait]
impl IpamDriver for WasmIpamDriver {
    fn capability(&self) -> IpamCapability {
        self.capability
    }

    fn unavailable(&self) -> Option<wnet_core::Fault> {
        self.inst.unavailable()
    }

    async fn default_address_spaces(&self) -> Result<AddressSpaces, DriverError> {
        driver_call!(
            self.wnet_driver_ipam_driver,
            "get-default-address-spaces",
            call_get_default_address_spaces()
        )
        .map(from_wit::address_spaces)
    }

    async fn request_pool(&self, request: &PoolRequest) -> Result<AllocatedPool, DriverError> {
        let req = to_wit::pool_request(request);
        let answer = driver_call!(
            self.wnet_driver_ipam_driver,
            "request-pool",
            call_request_pool(&req)
        )?;
        let limits = self.inst.limits();
        let pool_id = answer.pool_id.clone();
        let pool = crate::answer::pool(&answer, &limits)
            .map_err(|f| self.inst.refuse("request-pool", f))
            .and_then(|()| lift(from_wit::allocated_pool(answer)));
        // The driver holds a pool the host will not use: it gets it back (unless its
        // id is itself what was too long to pass around).
        if pool.is_err()
            && pool_id.len() <= limits.answer_bytes
            && let Err(e) = self.release_pool(&pool_id).await
        {
            tracing::warn!(driver = %self.manifest.name, pool = %pool_id, error = %e, "releasing a refused pool failed");
        }
        pool
    }

    async fn release_pool(&self, pool_id: &str) -> Result<(), DriverError> {
        driver_call!(
            self.wnet_driver_ipam_driver,
            "release-pool",
            call_release_pool(pool_id)
        )
    }

    async fn request_address(
        &self,
        request: &AddressRequest,
    ) -> Result<AllocatedAddress, DriverError> {
        let req = to_wit::address_request(request);
        let answer = driver_call!(
            self.wnet_driver_ipam_driver,
            "request-address",
            call_request_address(&req)
        )?;
        let limits = self.inst.limits();
        if let Err(f) = crate::answer::address(&answer, &limits) {
            let refused = self.inst.refuse("request-address", f);
            // Given back, so that the address is not lost to a refused answer.
            if let Ok(net) = from_wit::prefix(answer.address)
                && let Err(e) = self.release_address(&request.pool_id, net.addr()).await
            {
                tracing::warn!(driver = %self.manifest.name, address = %net.addr(), error = %e, "releasing a refused address failed");
            }
            return Err(refused);
        }
        lift(from_wit::allocated_address(answer))
    }

    async fn release_address(&self, pool_id: &str, address: IpAddr) -> Result<(), DriverError> {
        let address = to_wit::ip(address);
        driver_call!(
            self.wnet_driver_ipam_driver,
            "release-address",
            call_release_address(pool_id, address)
        )
    }
}
