//! The IPAM driver trait and the glue that exports it as the `ipam-driver` interface.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::net::IpAddr;

use crate::bindings::convert::{from_wit, to_wit};
use crate::bindings::ipam::exports::wnet::driver::ipam_driver as wit;
use crate::bindings::network::wnet::driver::types as t;
use crate::{
    AddressRequest, AddressSpaces, AllocatedAddress, AllocatedPool, IpamCapability, PoolRequest,
    Result,
};

/// An IPAM driver: libnetwork's `ipamapi.Ipam`, in Rust types.
///
/// As with [`crate::NetworkDriver`], one value lives as long as the instance; keep what
/// must outlive it in [`crate::kv`].
pub trait IpamDriver: Default + 'static {
    /// The driver's requirements. Default: none.
    fn capability(&self) -> IpamCapability {
        IpamCapability::default()
    }

    /// The default local and global address spaces.
    fn default_address_spaces(&mut self) -> Result<AddressSpaces>;

    /// Reserves a pool.
    fn request_pool(&mut self, request: PoolRequest) -> Result<AllocatedPool>;

    /// Releases a pool.
    fn release_pool(&mut self, pool_id: &str) -> Result<()>;

    /// Reserves an address.
    fn request_address(&mut self, request: AddressRequest) -> Result<AllocatedAddress>;

    /// Releases an address; releasing one not reserved is not an error.
    fn release_address(&mut self, pool_id: &str, address: IpAddr) -> Result<()>;
}

thread_local! {
    static DRIVER: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with<D: IpamDriver, R>(f: impl FnOnce(&mut D) -> R) -> R {
    DRIVER.with(|slot| {
        let mut slot = slot.borrow_mut();
        let driver = slot.get_or_insert_with(|| Box::new(D::default()));
        match driver.downcast_mut::<D>() {
            Some(d) => f(d),
            None => unreachable!("a second IPAM driver type in one component"),
        }
    })
}

fn answer<T, U>(r: Result<T>, to: impl FnOnce(&T) -> U) -> Result<U, t::Error> {
    r.map(|v| to(&v)).map_err(|e| to_wit::error(&e))
}

/// The export glue between [`IpamDriver`] and the generated bindings; used by
/// [`crate::export_ipam_driver!`].
#[doc(hidden)]
pub struct IpamExport<D>(PhantomData<D>);

impl<D: IpamDriver> wit::Guest for IpamExport<D> {
    fn capabilities() -> wit::Capability {
        with(|d: &mut D| to_wit::ipam_capability(&d.capability()))
    }

    fn get_default_address_spaces() -> Result<wit::AddressSpaces, t::Error> {
        answer(
            with(|d: &mut D| d.default_address_spaces()),
            to_wit::address_spaces,
        )
    }

    fn request_pool(request: wit::PoolRequest) -> Result<wit::AllocatedPool, t::Error> {
        let r = from_wit::pool_request(request).and_then(|r| with(|d: &mut D| d.request_pool(r)));
        answer(r, to_wit::allocated_pool)
    }

    fn release_pool(pool_id: String) -> Result<(), t::Error> {
        answer(with(|d: &mut D| d.release_pool(&pool_id)), |_| ())
    }

    fn request_address(request: wit::AddressRequest) -> Result<wit::AllocatedAddress, t::Error> {
        let r = from_wit::address_request(request);
        answer(
            with(|d: &mut D| d.request_address(r)),
            to_wit::allocated_address,
        )
    }

    fn release_address(pool_id: String, address: t::IpAddress) -> Result<(), t::Error> {
        let address = from_wit::ip(address);
        answer(
            with(|d: &mut D| d.release_address(&pool_id, address)),
            |_| (),
        )
    }
}

/// Exports an [`IpamDriver`] as the component's `wnet:driver/ipam-driver` interface.
/// Call it once, at the crate root of a `cdylib` built for `wasm32-wasip2`.
#[macro_export]
macro_rules! export_ipam_driver {
    ($driver:ty) => {
        // Only a wasm32 build is a component; a native build (the driver's unit tests)
        // exports nothing, as the export names are not valid native symbols.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __WnetIpamExport = $crate::IpamExport<$driver>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::ipam::export_ipam_world!(
            __WnetIpamExport with_types_in $crate::bindings::ipam
        );
    };
}
