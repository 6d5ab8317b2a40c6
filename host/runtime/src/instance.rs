//! One long-lived instance per driver, in its own `Store` (a trap poisons the whole
//! store), re-created after any failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, MutexGuard};
use wasmtime::{CallHook, Engine, Store, Trap};
use wnet_core::{DriverError, Fault};

use crate::answer::Answer;
use crate::bindings;
use crate::engine::{TICK, Ticker, Ticking, lock};
use crate::host::kernel::DriverKernel;
use crate::host::{DriverContext, HostState, LogBudget, stdio};
use crate::manifest::Manifest;

/// The call hook's error when a driver call makes too many host calls.
const HOST_CALLS_HIT: &str = "too many host calls in one driver call";

/// Resource limits of a driver instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// The deadline of one call.
    pub call_timeout: Duration,
    /// The most time the driver's calls may take together during one controller
    /// operation (a connect calls create-endpoint, join, program-external-connectivity).
    pub operation_timeout: Duration,
    /// The most entries of any list or map in one answer (routes, options).
    pub answer_items: usize,
    /// The most bytes of any string in one answer; an error message longer than this
    /// is cut, anything else longer is refused.
    pub answer_bytes: usize,
    /// The most calls into the host (its capabilities and WASI) during one driver call.
    pub host_calls: u32,
    /// The most log lines (the `log` capability, stdout and stderr) per second; more
    /// are dropped and counted.
    pub log_lines_per_second: u32,
}

/// A deadline in epoch ticks: whole ticks, rounded up, plus one for the tick already
/// under way.
fn ticks(deadline: Duration) -> u64 {
    deadline.as_micros().div_ceil(TICK.as_micros()) as u64 + 1
}

impl Limits {
    /// The smallest limits a driver may be given, for checks of what they refuse.
    pub(crate) fn least() -> Limits {
        Limits {
            memory_bytes: 1 << 20,
            call_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
            answer_items: 16,
            answer_bytes: 256,
            host_calls: 16,
            log_lines_per_second: 1,
        }
    }
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
    /// The current call's clock.
    pub(crate) call: CallClock,
}

/// When the current call started and how long it may run.
#[derive(Clone, Copy)]
pub(crate) struct CallClock {
    started: Instant,
    /// The call's deadline: its own, or what is left of the operation's time when
    /// that is less.
    pub(crate) deadline: Duration,
    /// Whether the operation's time, not the call's, set the deadline.
    by_operation: bool,
}

/// Failures in a row after which a driver is quarantined.
pub const QUARANTINE_AFTER: u32 = 5;
/// The pause before the instance after the second failure in a row; it doubles with
/// each further one.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// Whether a driver may run: after a failure it is re-created at once; after further
/// failures in a row, only after a pause that doubles each time; after
/// [`QUARANTINE_AFTER`] in a row, not until an operator enables it again.
#[derive(Debug, Default)]
struct Health {
    in_a_row: u32,
    not_before: Option<Instant>,
    quarantined: bool,
    last: Option<String>,
}

impl Health {
    /// What is left of the pause after failures in a row, if any.
    fn pause(&self) -> Option<Duration> {
        self.not_before
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
    }
}

/// What `wnet driver inspect` shows of a driver's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Running normally.
    Ok,
    /// Failed its last calls; the next waits until the pause is over.
    BackingOff {
        /// Failures in a row.
        faults: u32,
        /// Until the next attempt.
        retry_in: Duration,
    },
    /// Does not run until enabled.
    Quarantined {
        /// Failures in a row.
        faults: u32,
    },
}

/// A driver's health and what it did, for `wnet driver inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether it runs, pauses after failures, or is quarantined.
    pub state: State,
    /// Its last failure.
    pub last_error: Option<String>,
    /// Host requests its grants refused.
    pub refusals: u64,
    /// Kernel requests the host made for it.
    pub kernel_requests: u64,
    /// Of those, the ones the kernel failed.
    pub kernel_requests_failed: u64,
    /// Log lines dropped for going over its rate.
    pub log_lines_dropped: u64,
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
    /// Calls refused at once, without running the driver (backing off or quarantined).
    pub refused_calls: AtomicU64,
}

pub(crate) struct Instance<W: World> {
    engine: Engine,
    ticker: Arc<Ticker>,
    pre: W::Pre,
    limits: Limits,
    ctx: Arc<DriverContext>,
    slot: Mutex<Option<Live<W>>>,
    pub(crate) stats: Stats,
    health: std::sync::Mutex<Health>,
}

impl<W: World> Instance<W> {
    pub(crate) fn new(
        engine: Engine,
        ticker: Arc<Ticker>,
        pre: W::Pre,
        limits: Limits,
        manifest: &Manifest,
        store: Arc<dyn wnet_core::Store>,
        kernel: Option<Arc<DriverKernel>>,
    ) -> Self {
        Instance {
            engine,
            ticker,
            pre,
            limits,
            ctx: Arc::new(DriverContext {
                name: manifest.name.as_str().into(),
                store,
                kv_table: wnet_core::store::driver_table(&manifest.name),
                stderr_tail: stdio::Tail::default(),
                kernel,
                log_budget: Arc::new(LogBudget::new(
                    manifest.name.as_str(),
                    limits.log_lines_per_second,
                )),
            }),
            slot: Mutex::new(None),
            stats: Stats::default(),
            health: std::sync::Mutex::default(),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        lock(&self.health)
    }

    /// The driver's health now.
    pub(crate) fn state(&self) -> State {
        let h = self.health();
        if h.quarantined {
            return State::Quarantined { faults: h.in_a_row };
        }
        match h.pause() {
            Some(retry_in) => State::BackingOff {
                faults: h.in_a_row,
                retry_in,
            },
            None => State::Ok,
        }
    }

    /// A snapshot of the driver's health and counters beyond [`Stats`].
    pub(crate) fn status(&self) -> Status {
        let kernel = self.ctx.kernel.as_ref();
        Status {
            state: self.state(),
            last_error: self.health().last.clone(),
            refusals: kernel.map_or(0, |k| k.refusals()),
            kernel_requests: kernel.map_or(0, |k| k.audit.requests.load(Ordering::Relaxed)),
            kernel_requests_failed: kernel.map_or(0, |k| k.audit.failed.load(Ordering::Relaxed)),
            log_lines_dropped: self.ctx.log_budget.dropped.load(Ordering::Relaxed),
        }
    }

    /// Lets a quarantined or backing-off driver run again, its count of failures in a
    /// row cleared. Returns whether it was quarantined.
    pub(crate) fn enable(&self) -> bool {
        let mut h = self.health();
        let was = h.quarantined;
        h.quarantined = false;
        h.in_a_row = 0;
        h.not_before = None;
        was
    }

    /// Refuses the call at once if the driver is quarantined or pausing.
    fn admit(&self) -> Result<(), DriverError> {
        match self.unavailable() {
            Some(fault) => {
                self.stats.refused_calls.fetch_add(1, Ordering::Relaxed);
                Err(DriverError::Fault(fault))
            }
            None => Ok(()),
        }
    }

    /// Why the driver takes no calls now: quarantined, or pausing after failures.
    pub(crate) fn unavailable(&self) -> Option<Fault> {
        let h = self.health();
        let last = || h.last.clone().unwrap_or_default();
        if h.quarantined {
            Some(Fault::Quarantined {
                driver: self.ctx.name.to_string(),
                faults: h.in_a_row,
                last: last(),
            })
        } else {
            h.pause().map(|retry_in| Fault::BackingOff {
                faults: h.in_a_row,
                retry_in,
                last: last(),
            })
        }
    }

    /// Records a call that ended well or badly.
    fn record(&self, failure: Option<&Fault>) {
        let mut h = self.health();
        let Some(fault) = failure else {
            h.in_a_row = 0;
            h.not_before = None;
            return;
        };
        h.in_a_row += 1;
        h.last = Some(fault.to_string());
        if h.in_a_row >= QUARANTINE_AFTER {
            if !h.quarantined {
                tracing::error!(driver = %self.ctx.name, faults = h.in_a_row, last = %fault, "driver quarantined: its calls fail until `wnet driver enable {}`", self.ctx.name);
            }
            h.quarantined = true;
        } else if h.in_a_row >= 2 {
            let pause = BACKOFF_FIRST * 2u32.pow(h.in_a_row - 2);
            h.not_before = Some(Instant::now() + pause);
        }
    }

    /// The driver's kernel access, if the host lends it.
    pub(crate) fn kernel(&self) -> Option<&Arc<DriverKernel>> {
        self.ctx.kernel.as_ref()
    }

    /// The store behind its `kv` and the host's records of it.
    pub(crate) fn store(&self) -> &Arc<dyn wnet_core::Store> {
        &self.ctx.store
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Keeps the epoch advancing for a call (its instantiation included) until the
    /// guard drops.
    pub(crate) fn ticking(&self) -> Ticking {
        self.ticker.hold()
    }

    /// Takes the live instance out of its slot for one call, creating it if there is
    /// none, with a fresh deadline. If the call's future is dropped midway the instance
    /// goes with it, as it must: a store left mid-call cannot be entered again.
    pub(crate) async fn take(
        &self,
        call: &'static str,
    ) -> Result<(MutexGuard<'_, Option<Live<W>>>, Live<W>), DriverError> {
        self.admit()?;
        let mut slot = self.slot.lock().await;
        let mut live = match slot.take() {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        // Time waited for the slot or spent instantiating is the host's, not the call's.
        live.call = self.clock(call)?;
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        live.store.data_mut().limiter.hit = false;
        live.store.data_mut().host_calls = 0;
        live.store.set_epoch_deadline(ticks(live.call.deadline));
        Ok((slot, live))
    }

    /// The clock of a call starting now; refused when the driver's calls have used up
    /// its time in the current operation. A call that undoes or releases is never cut
    /// short by the operation's time, only by its own deadline: refusing it would leave
    /// the driver holding what the operation is rolling back.
    fn clock(&self, call: &'static str) -> Result<CallClock, DriverError> {
        const UNDO: [&str; 7] = [
            "leave",
            "delete-endpoint",
            "delete-network",
            "revoke-external-connectivity",
            "network-free",
            "release-address",
            "release-pool",
        ];
        let limits = &self.limits;
        let left = wnet_core::store::driver_time(&self.ctx.name)
            .filter(|_| !UNDO.contains(&call))
            .map(|spent| limits.operation_timeout.saturating_sub(spent));
        if left == Some(Duration::ZERO) {
            self.stats.refused_calls.fetch_add(1, Ordering::Relaxed);
            return Err(DriverError::Fault(Fault::OperationDeadline {
                limit: limits.operation_timeout,
            }));
        }
        let by_operation = left.is_some_and(|left| left < limits.call_timeout);
        Ok(CallClock {
            started: Instant::now(),
            deadline: left.map_or(limits.call_timeout, |l| l.min(limits.call_timeout)),
            by_operation,
        })
    }

    async fn instantiate(&self) -> Result<Live<W>, DriverError> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.ctx.clone(), self.limits.memory_bytes),
        );
        store.limiter(|s| &mut s.limiter);
        // Every call into the host is counted; past the limit the driver call traps.
        let host_calls = self.limits.host_calls;
        store.call_hook(move |mut cx, hook| {
            if matches!(hook, CallHook::CallingHost) {
                let s = cx.data_mut();
                s.host_calls = s.host_calls.saturating_add(1);
                if s.host_calls > host_calls {
                    return Err(wasmtime::Error::msg(HOST_CALLS_HIT));
                }
            }
            Ok(())
        });
        store.set_epoch_deadline(ticks(self.limits.call_timeout));
        let bindings = W::instantiate(&self.pre, &mut store).await.map_err(|e| {
            let fault = Fault::Instantiate {
                message: format!("{e:#}"),
            };
            self.record(Some(&fault));
            DriverError::Fault(fault)
        })?;
        self.stats.instances.fetch_add(1, Ordering::Relaxed);
        Ok(Live {
            store,
            bindings,
            call: CallClock {
                started: Instant::now(),
                deadline: self.limits.call_timeout,
                by_operation: false,
            },
        })
    }

    /// Counts and logs an answer the host refuses, and makes it the call's error.
    pub(crate) fn refuse(&self, call: &'static str, fault: Fault) -> DriverError {
        self.failed(call, fault, "driver answer refused")
    }

    /// Counts, logs and records a failed call; its error.
    fn failed(&self, call: &'static str, fault: Fault, what: &'static str) -> DriverError {
        self.stats.faults.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(driver = %self.ctx.name, call, error = %fault, "{what}");
        self.record(Some(&fault));
        DriverError::Fault(fault)
    }

    /// Puts the instance back after a successful call, or discards it after a failed
    /// one and says how it failed. An answer over the size limits is a fault too,
    /// though the instance that gave it is kept: it is not broken, only refused.
    pub(crate) fn settle<T: Answer>(
        &self,
        mut slot: MutexGuard<'_, Option<Live<W>>>,
        mut live: Live<W>,
        call: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, DriverError> {
        wnet_core::store::add_driver_time(&self.ctx.name, live.call.started.elapsed());
        match result {
            Ok(mut v) => {
                // Sandbox namespace handles last one call: a later call asks again, and
                // is refused once its endpoint has left; and an idle instance keeps
                // no removed container's namespace alive.
                live.store.data_mut().namespaces.clear();
                *slot = Some(live);
                v.fit(&self.limits)
                    .map_err(|fault| self.refuse(call, fault))?;
                self.record(None);
                Ok(v)
            }
            Err(e) => {
                let fault = if live.store.data().limiter.hit {
                    Fault::OutOfMemory {
                        limit_bytes: self.limits.memory_bytes as u64,
                    }
                } else if live.store.data().host_calls > self.limits.host_calls {
                    Fault::HostCalls {
                        limit: self.limits.host_calls,
                    }
                } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                    if live.call.by_operation {
                        Fault::OperationDeadline {
                            limit: self.limits.operation_timeout,
                        }
                    } else {
                        Fault::Deadline {
                            limit: self.limits.call_timeout,
                        }
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
                drop(live);
                Err(self.failed(call, fault, "driver call failed; instance discarded"))
            }
        }
    }
}

/// One call into a driver: take its instance, call the export, settle the instance;
/// and, unless `raw`, turn the driver's own error answer into `DriverError::Refused`.
/// Never returns early from the caller: a fault is its value too, so that what the
/// caller does after the call (revoking a sandbox grant) happens on every outcome.
///
/// `driver_call!(self.wnet_driver_network_driver, "leave", call_leave(nid, eid))`
macro_rules! driver_call {
    (raw $self:ident . $accessor:ident, $name:literal, $method:ident($($arg:expr),*)) => {
        async {
            let _ticking = $self.inst.ticking();
            let (slot, mut live) = $self.inst.take($name).await?;
            // The epoch stops wasm that runs too long; this stops a call blocked in the
            // host past its deadline (a WASI sleep), dropping it midway like a trap.
            let wall = live.call.deadline + 2 * $crate::engine::TICK;
            let call = live.bindings.$accessor().$method(&mut live.store, $($arg),*);
            let result = match tokio::time::timeout(wall, call).await {
                Ok(result) => result,
                Err(_) => Err(wasmtime::Trap::Interrupt.into()),
            };
            $self.inst.settle(slot, live, $name, result)
        }
        .await
    };
    ($self:ident . $accessor:ident, $name:literal, $method:ident($($arg:expr),*)) => {
        $crate::instance::driver_call!(raw $self.$accessor, $name, $method($($arg),*)).and_then(
            |answer| {
                answer.map_err(|e| {
                    wnet_core::DriverError::Refused($crate::bindings::convert::from_wit::error(e))
                })
            },
        )
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
