//! One long-lived instance per driver, in its own `Store` (a trap poisons the whole
//! store), re-created after any failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use wasmtime::{Engine, Store, Trap};
use wnet_core::{DriverError, Fault};

use crate::answer::Answer;
use crate::bindings;
use crate::engine::TICK;
use crate::host::kernel::DriverKernel;
use crate::host::{DriverContext, HostState, stdio};
use crate::manifest::Manifest;

/// Resource limits of a driver instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// The deadline of one call.
    pub call_timeout: Duration,
    /// The most entries of any list or map in one answer (routes, options).
    pub answer_items: usize,
    /// The most bytes of any string in one answer; an error message longer than this
    /// is cut, anything else longer is refused.
    pub answer_bytes: usize,
}

/// A world's pre-instantiated component, from which instances are made.
pub(crate) trait World: Sized + Send + 'static {
    type Pre: Send + Sync + 'static;
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
}

impl World for bindings::network::Network {
    type Pre = bindings::network::NetworkPre<HostState>;
    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

impl World for bindings::ipam::Ipam {
    type Pre = bindings::ipam::IpamPre<HostState>;
    async fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        pre.instantiate_async(store).await
    }
}

/// A live instance: its store and its exports.
pub(crate) struct Live<W> {
    pub(crate) store: Store<HostState>,
    pub(crate) bindings: W,
}

/// Counters of a driver's life.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that ended in a fault (trap, deadline, memory).
    pub faults: AtomicU64,
    /// Instances created.
    pub instances: AtomicU64,
}

pub(crate) struct Instance<W: World> {
    engine: Engine,
    pre: W::Pre,
    limits: Limits,
    ctx: Arc<DriverContext>,
    slot: Mutex<Option<Live<W>>>,
    pub(crate) stats: Stats,
}

impl<W: World> Instance<W> {
    pub(crate) fn new(
        engine: Engine,
        pre: W::Pre,
        limits: Limits,
        manifest: &Manifest,
        store: Arc<dyn wnet_core::Store>,
        kernel: Option<Arc<DriverKernel>>,
    ) -> Self {
        Instance {
            engine,
            pre,
            limits,
            ctx: Arc::new(DriverContext {
                name: manifest.name.as_str().into(),
                store,
                kv_table: wnet_core::store::driver_table(&manifest.name),
                stderr_tail: stdio::Tail::default(),
                kernel,
            }),
            slot: Mutex::new(None),
            stats: Stats::default(),
        }
    }

    /// The driver's kernel access, if the host lends it.
    pub(crate) fn kernel(&self) -> Option<&Arc<DriverKernel>> {
        self.ctx.kernel.as_ref()
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes the live instance out of its slot for one call, creating it if there is
    /// none, with a fresh deadline. If the call's future is dropped midway the instance
    /// goes with it, as it must: a store left mid-call cannot be entered again.
    pub(crate) async fn take(
        &self,
    ) -> Result<(MutexGuard<'_, Option<Live<W>>>, Live<W>), DriverError> {
        let mut slot = self.slot.lock().await;
        let mut live = match slot.take() {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        live.store.data_mut().limiter.hit = false;
        live.store.set_epoch_deadline(self.deadline_ticks());
        Ok((slot, live))
    }

    /// The call deadline in epoch ticks: whole ticks, rounded up, plus one for the tick
    /// already under way.
    fn deadline_ticks(&self) -> u64 {
        self.limits
            .call_timeout
            .as_micros()
            .div_ceil(TICK.as_micros()) as u64
            + 1
    }

    async fn instantiate(&self) -> Result<Live<W>, DriverError> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.ctx.clone(), self.limits.memory_bytes),
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks());
        let bindings = W::instantiate(&self.pre, &mut store).await.map_err(|e| {
            DriverError::Fault(Fault::Instantiate {
                message: format!("{e:#}"),
            })
        })?;
        self.stats.instances.fetch_add(1, Ordering::Relaxed);
        Ok(Live { store, bindings })
    }

    /// Counts and logs an answer the host refuses, and makes it the call's error.
    pub(crate) fn refuse(&self, call: &'static str, fault: Fault) -> DriverError {
        self.stats.faults.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(driver = %self.ctx.name, call, error = %fault, "driver answer refused");
        DriverError::Fault(fault)
    }

    /// Puts the instance back after a successful call, or discards it after a failed
    /// one and says how it failed. An answer over the size limits is a fault too,
    /// though the instance that gave it is kept: it is not broken, only refused.
    pub(crate) fn settle<T: Answer>(
        &self,
        mut slot: MutexGuard<'_, Option<Live<W>>>,
        live: Live<W>,
        call: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, DriverError> {
        match result {
            Ok(mut v) => {
                *slot = Some(live);
                v.fit(&self.limits)
                    .map_err(|fault| self.refuse(call, fault))?;
                Ok(v)
            }
            Err(e) => {
                self.stats.faults.fetch_add(1, Ordering::Relaxed);
                let fault = if live.store.data().limiter.hit {
                    Fault::OutOfMemory {
                        limit_bytes: self.limits.memory_bytes as u64,
                    }
                } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                    Fault::Deadline {
                        limit: self.limits.call_timeout,
                    }
                } else {
                    let trap = e
                        .downcast_ref::<Trap>()
                        .map_or_else(|| e.to_string(), ToString::to_string);
                    let stderr = self.ctx.stderr_tail.take();
                    Fault::Trap {
                        message: if stderr.is_empty() {
                            trap
                        } else {
                            format!("{trap}; its last words: {stderr}")
                        },
                    }
                };
                tracing::warn!(driver = %self.ctx.name, call, error = %fault, "driver call failed; instance discarded");
                drop(live);
                Err(DriverError::Fault(fault))
            }
        }
    }
}

/// One call into a driver: take its instance, call the export, settle the instance;
/// and, unless `raw`, turn the driver's own error answer into `DriverError::Refused`.
///
/// `driver_call!(self.wnet_driver_network_driver, "leave", call_leave(nid, eid))`
macro_rules! driver_call {
    (raw $self:ident . $accessor:ident, $name:literal, $method:ident($($arg:expr),*)) => {{
        let (slot, mut live) = $self.inst.take().await?;
        let result = live
            .bindings
            .$accessor()
            .$method(&mut live.store, $($arg),*)
            .await;
        $self.inst.settle(slot, live, $name, result)
    }};
    ($self:ident . $accessor:ident, $name:literal, $method:ident($($arg:expr),*)) => {
        $crate::instance::driver_call!(raw $self.$accessor, $name, $method($($arg),*))?.map_err(|e| {
            wnet_core::DriverError::Refused($crate::bindings::convert::from_wit::error(e))
        })
    };
}
pub(crate) use driver_call;

/// Lifts a driver's answer that failed the checks of `from_wit` (a prefix length out
/// of range): the driver is not trusted to send valid data.
pub(crate) fn lift<T>(r: wnet_types::Result<T>) -> Result<T, DriverError> {
    r.map_err(|e| {
        DriverError::Refused(wnet_types::Error::internal(format!(
            "the driver's answer is invalid: {}",
            e.message
        )))
    })
}
