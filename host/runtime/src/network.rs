//! A network driver component behind `wnet_core::NetworkDriver`.

use async_trait::async_trait;
use wnet_core::{DriverError, NetworkDriver};
use wnet_types::{
    Capability, EndpointInterface, EndpointRequest, ExternalConnectivityRequest, JoinInfo,
    JoinRequest, NetworkRequest, Options,
};

use crate::bindings::convert::{from_wit, to_wit};
use crate::bindings::network::Network;
use crate::error::LoadError;
use crate::instance::{Instance, Limits, Stats, Status, driver_call, lift};
use crate::manifest::Manifest;

/// A loaded network driver.
pub struct WasmNetworkDriver {
    inst: Instance<Network>,
    manifest: Manifest,
    capability: Capability,
}

impl WasmNetworkDriver {
    pub(crate) async fn start(
        inst: Instance<Network>,
        manifest: Manifest,
    ) -> Result<Self, LoadError> {
        let mut driver = WasmNetworkDriver {
            inst,
            manifest,
            capability: Capability::default(),
        };
        let reported = driver.capabilities().await.map_err(|e| LoadError::Start {
            driver: driver.manifest.name.clone(),
            reason: e.to_string(),
        })?;
        if reported.data_scope != driver.manifest.scope {
            return Err(LoadError::Mismatch {
                driver: driver.manifest.name.clone(),
                reason: format!(
                    "its manifest says scope = \"{}\" but the driver reports data scope {}",
                    driver.manifest.scope, reported.data_scope
                ),
            });
        }
        driver.capability = reported;
        Ok(driver)
    }

    async fn capabilities(&self) -> Result<Capability, DriverError> {
        let answer =
            driver_call!(raw self.wnet_driver_network_driver, "capabilities", call_capabilities())?;
        Ok(from_wit::capability(answer))
    }

    fn grant(&self, endpoint: &str, sandbox: &wnet_types::SandboxInfo) {
        if let Some(k) = self.inst.kernel() {
            k.grant(endpoint, sandbox);
        }
    }

    fn revoke(&self, endpoint: &str) {
        if let Some(k) = self.inst.kernel() {
            k.revoke(endpoint);
        }
    }

    /// Refuses a join answer naming an interface the driver did not create: the host
    /// would move it into the sandbox (the host's `eth0`, another driver's link).
    fn own_interface(
        &self,
        request: &JoinRequest,
        info: JoinInfo,
    ) -> Result<JoinInfo, DriverError> {
        if let (Some(k), Some(names)) = (self.inst.kernel(), &info.interface_name)
            && !k.created(&names.src_name, &request.sandbox.id)
        {
            let e = k.refuse(format!(
                "its join answer names interface `{}`, which it did not create: the host moves and configures only interfaces the driver created",
                names.src_name
            ));
            return Err(DriverError::Refused(from_wit::error(e)));
        }
        Ok(info)
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

/// The driver did what it was asked and answered, though the host may refuse the
/// answer (too large, or invalid once lifted): then the host asks it to undo.
fn answered<T>(answer: &Result<T, DriverError>) -> bool {
    matches!(
        answer,
        Ok(_) | Err(DriverError::Fault(wnet_core::Fault::Oversized { .. }))
    )
}

#[async_trait]
impl NetworkDriver for WasmNetworkDriver {
    fn capability(&self) -> Capability {
        self.capability
    }

    fn unavailable(&self) -> Option<wnet_core::Fault> {
        self.inst.unavailable()
    }

    async fn network_allocate(&self, request: &NetworkRequest) -> Result<Options, DriverError> {
        let req = to_wit::network_request(request);
        driver_call!(
            self.wnet_driver_network_driver,
            "network-allocate",
            call_network_allocate(&req)
        )
        .map(from_wit::options)
    }

    async fn network_free(&self, network_id: &str) -> Result<(), DriverError> {
        driver_call!(
            self.wnet_driver_network_driver,
            "network-free",
            call_network_free(network_id)
        )
    }

    async fn create_network(&self, request: &NetworkRequest) -> Result<(), DriverError> {
        let req = to_wit::network_request(request);
        driver_call!(
            self.wnet_driver_network_driver,
            "create-network",
            call_create_network(&req)
        )
    }

    async fn delete_network(&self, network_id: &str) -> Result<(), DriverError> {
        driver_call!(
            self.wnet_driver_network_driver,
            "delete-network",
            call_delete_network(network_id)
        )?;
        // Firewall rules go with the network, whether or not the driver cleared them.
        if let Some(k) = self.inst.kernel()
            && let Err(e) =
                crate::host::firewall::forget(k, self.inst.store().as_ref(), network_id).await
        {
            tracing::warn!(driver = %self.manifest.name, network = network_id, error = ?e, "removing the firewall rules of a deleted network failed");
        }
        Ok(())
    }

    async fn create_endpoint(
        &self,
        request: &EndpointRequest,
    ) -> Result<EndpointInterface, DriverError> {
        let req = to_wit::endpoint_request(request);
        // The driver may reach the sandbox to create the interface in place.
        if let Some(sb) = &request.sandbox {
            self.grant(&request.endpoint_id, sb);
        }
        let answer = driver_call!(
            self.wnet_driver_network_driver,
            "create-endpoint",
            call_create_endpoint(&req)
        );
        let answered = answered(&answer);
        let interface = answer.and_then(|a| lift(from_wit::endpoint_interface(a)));
        if interface.is_err() {
            // The driver made an endpoint the host will not use: it deletes it.
            if answered
                && let Err(e) = self
                    .delete_endpoint(&request.network_id, &request.endpoint_id)
                    .await
            {
                tracing::warn!(driver = %self.manifest.name, endpoint = %request.endpoint_id, error = %e, "deleting a refused endpoint failed");
            }
            self.revoke(&request.endpoint_id);
        }
        interface
    }

    async fn delete_endpoint(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<(), DriverError> {
        let result = driver_call!(
            self.wnet_driver_network_driver,
            "delete-endpoint",
            call_delete_endpoint(network_id, endpoint_id)
        );
        self.revoke(endpoint_id);
        // Its published ports go with it, whether or not the driver unpublished them.
        if result.is_ok()
            && let Some(k) = self.inst.kernel()
            && let Err(e) = crate::host::firewall::unpublish(
                k,
                self.inst.store().as_ref(),
                network_id,
                endpoint_id,
            )
            .await
        {
            tracing::warn!(driver = %self.manifest.name, endpoint = endpoint_id, error = ?e, "unpublishing the ports of a deleted endpoint failed");
        }
        result
    }

    async fn endpoint_oper_info(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<Options, DriverError> {
        driver_call!(
            self.wnet_driver_network_driver,
            "endpoint-oper-info",
            call_endpoint_oper_info(network_id, endpoint_id)
        )
        .map(from_wit::options)
    }

    async fn join(&self, request: &JoinRequest) -> Result<JoinInfo, DriverError> {
        let req = to_wit::join_request(request);
        // From join until leave, the driver may reach the sandbox.
        self.grant(&request.endpoint_id, &request.sandbox);
        let answer = driver_call!(self.wnet_driver_network_driver, "join", call_join(&req));
        let answered = answered(&answer);
        let info = answer
            .and_then(|a| lift(from_wit::join_info(a)))
            .and_then(|info| self.own_interface(request, info));
        if info.is_err() {
            // The driver joined, but the host will not use its answer: it leaves again,
            // while it still may reach the sandbox.
            if answered && let Err(e) = self.leave(&request.network_id, &request.endpoint_id).await
            {
                tracing::warn!(driver = %self.manifest.name, endpoint = %request.endpoint_id, error = %e, "leaving after a refused join failed");
            }
            self.revoke(&request.endpoint_id);
        }
        info
    }

    async fn leave(&self, network_id: &str, endpoint_id: &str) -> Result<(), DriverError> {
        let result = driver_call!(
            self.wnet_driver_network_driver,
            "leave",
            call_leave(network_id, endpoint_id)
        );
        self.revoke(endpoint_id);
        result
    }

    async fn program_external_connectivity(
        &self,
        request: &ExternalConnectivityRequest,
    ) -> Result<(), DriverError> {
        let req = to_wit::external_connectivity_request(request);
        driver_call!(
            self.wnet_driver_network_driver,
            "program-external-connectivity",
            call_program_external_connectivity(&req)
        )
    }

    async fn revoke_external_connectivity(
        &self,
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<(), DriverError> {
        driver_call!(
            self.wnet_driver_network_driver,
            "revoke-external-connectivity",
            call_revoke_external_connectivity(network_id, endpoint_id)
        )
    }
}
