//! The network driver trait and the glue that exports it as the `network-driver` interface.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::convert::{from_wit, to_wit};
use crate::bindings::network::exports::wnet::driver::network_driver as wit;
use crate::bindings::network::wnet::driver::types as t;
use crate::{
    Capability, EndpointInterface, EndpointRequest, Error, ExternalConnectivityRequest, JoinInfo,
    JoinRequest, NetworkRequest, Options, Result,
};

/// A network driver: libnetwork's `driverapi.Driver`, in Rust types.
///
/// One value of the type lives as long as the driver's instance, created with
/// [`Default`] at the first call. It is lost when the instance is discarded (after a
/// trap or a deadline) and on host restarts, so keep what must last in [`crate::kv`].
///
/// The methods with a default body are optional, as in libnetwork: the external
/// connectivity pair and the cluster allocation pair answer `not-implemented`, which
/// the host accepts.
pub trait NetworkDriver: Default + 'static {
    /// The driver's scopes. Default: local data and connectivity.
    fn capability(&self) -> Capability {
        Capability::default()
    }

    /// Creates a network's resources. The host calls it again, with the same request,
    /// for a network the driver already knows (in `kv`) when at start it finds the
    /// driver's links gone: treat a known id as a restore of what is missing.
    fn create_network(&mut self, request: NetworkRequest) -> Result<()>;

    /// Deletes a network's resources.
    fn delete_network(&mut self, network_id: &str) -> Result<()>;

    /// Creates an endpoint; returns what the driver set on its interface
    /// (`EndpointInterface::default()` sets nothing).
    fn create_endpoint(&mut self, request: EndpointRequest) -> Result<EndpointInterface>;

    /// Deletes an endpoint.
    fn delete_endpoint(&mut self, network_id: &str, endpoint_id: &str) -> Result<()>;

    /// Operational data about an endpoint. Default: none.
    fn endpoint_oper_info(&mut self, network_id: &str, endpoint_id: &str) -> Result<Options> {
        let _ = (network_id, endpoint_id);
        Ok(Options::new())
    }

    /// Attaches an endpoint to a sandbox.
    fn join(&mut self, request: JoinRequest) -> Result<JoinInfo>;

    /// Detaches an endpoint from its sandbox.
    fn leave(&mut self, network_id: &str, endpoint_id: &str) -> Result<()>;

    /// Sets up external connectivity. Default: not implemented.
    fn program_external_connectivity(
        &mut self,
        request: ExternalConnectivityRequest,
    ) -> Result<()> {
        let _ = request;
        Err(Error::not_implemented("program-external-connectivity"))
    }

    /// Removes external connectivity. Default: not implemented.
    fn revoke_external_connectivity(&mut self, network_id: &str, endpoint_id: &str) -> Result<()> {
        let _ = (network_id, endpoint_id);
        Err(Error::not_implemented("revoke-external-connectivity"))
    }

    /// Cluster-wide allocation of a global-scope network. Default: not implemented.
    fn network_allocate(&mut self, request: NetworkRequest) -> Result<Options> {
        let _ = request;
        Err(Error::not_implemented("network-allocate"))
    }

    /// Frees a cluster-wide allocation. Default: not implemented.
    fn network_free(&mut self, network_id: &str) -> Result<()> {
        let _ = network_id;
        Err(Error::not_implemented("network-free"))
    }
}

thread_local! {
    static DRIVER: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with<D: NetworkDriver, R>(f: impl FnOnce(&mut D) -> R) -> R {
    DRIVER.with(|slot| {
        let mut slot = slot.borrow_mut();
        let driver = slot.get_or_insert_with(|| Box::new(D::default()));
        match driver.downcast_mut::<D>() {
            Some(d) => f(d),
            // One component exports one driver type, so the slot holds that type.
            None => unreachable!("a second network driver type in one component"),
        }
    })
}

fn answer<T, U>(r: Result<T>, to: impl FnOnce(&T) -> U) -> Result<U, t::Error> {
    r.map(|v| to(&v)).map_err(|e| to_wit::error(&e))
}

/// The export glue between [`NetworkDriver`] and the generated bindings; used by
/// [`crate::export_network_driver!`].
#[doc(hidden)]
pub struct NetworkExport<D>(PhantomData<D>);

impl<D: NetworkDriver> wit::Guest for NetworkExport<D> {
    fn capabilities() -> wit::Capability {
        with(|d: &mut D| to_wit::capability(&d.capability()))
    }

    fn network_allocate(network: wit::NetworkRequest) -> Result<Vec<(String, String)>, t::Error> {
        let r = from_wit::network_request(network)
            .and_then(|r| with(|d: &mut D| d.network_allocate(r)));
        answer(r, to_wit::options)
    }

    fn network_free(network_id: String) -> Result<(), t::Error> {
        answer(with(|d: &mut D| d.network_free(&network_id)), |_| ())
    }

    fn create_network(network: wit::NetworkRequest) -> Result<(), t::Error> {
        let r =
            from_wit::network_request(network).and_then(|r| with(|d: &mut D| d.create_network(r)));
        answer(r, |_| ())
    }

    fn delete_network(network_id: String) -> Result<(), t::Error> {
        answer(with(|d: &mut D| d.delete_network(&network_id)), |_| ())
    }

    fn create_endpoint(endpoint: wit::EndpointRequest) -> Result<wit::EndpointInterface, t::Error> {
        let r = from_wit::endpoint_request(endpoint)
            .and_then(|r| with(|d: &mut D| d.create_endpoint(r)));
        answer(r, to_wit::endpoint_interface)
    }

    fn delete_endpoint(network_id: String, endpoint_id: String) -> Result<(), t::Error> {
        answer(
            with(|d: &mut D| d.delete_endpoint(&network_id, &endpoint_id)),
            |_| (),
        )
    }

    fn endpoint_oper_info(
        network_id: String,
        endpoint_id: String,
    ) -> Result<Vec<(String, String)>, t::Error> {
        answer(
            with(|d: &mut D| d.endpoint_oper_info(&network_id, &endpoint_id)),
            to_wit::options,
        )
    }

    fn join(request: wit::JoinRequest) -> Result<wit::JoinInfo, t::Error> {
        let r = from_wit::join_request(request);
        answer(with(|d: &mut D| d.join(r)), to_wit::join_info)
    }

    fn leave(network_id: String, endpoint_id: String) -> Result<(), t::Error> {
        answer(with(|d: &mut D| d.leave(&network_id, &endpoint_id)), |_| ())
    }

    fn program_external_connectivity(
        request: wit::ExternalConnectivityRequest,
    ) -> Result<(), t::Error> {
        let r = from_wit::external_connectivity_request(request);
        answer(with(|d: &mut D| d.program_external_connectivity(r)), |_| ())
    }

    fn revoke_external_connectivity(
        network_id: String,
        endpoint_id: String,
    ) -> Result<(), t::Error> {
        answer(
            with(|d: &mut D| d.revoke_external_connectivity(&network_id, &endpoint_id)),
            |_| (),
        )
    }
}

/// Exports a [`NetworkDriver`] as the component's `wnet:driver/network-driver`
/// interface. Call it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
///
/// ```ignore
/// #[derive(Default)]
/// struct MyDriver;
/// impl wnet_sdk::NetworkDriver for MyDriver { /* … */ }
/// wnet_sdk::export_network_driver!(MyDriver);
/// ```
#[macro_export]
macro_rules! export_network_driver {
    ($driver:ty) => {
        // Only a wasm32 build is a component; a native build (the driver's unit tests)
        // exports nothing, as the export names are not valid native symbols.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __WnetNetworkExport = $crate::NetworkExport<$driver>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::network::export_network_world!(
            __WnetNetworkExport with_types_in $crate::bindings::network
        );
    };
}
