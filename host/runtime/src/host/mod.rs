//! What a driver's `Store` holds, and the host capabilities, one module each.

pub(crate) mod audit;
pub(crate) mod firewall;
pub(crate) mod kernel;
pub(crate) mod kv;
pub(crate) mod log;
pub(crate) mod stdio;

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wnet_core::Store;

use crate::bindings::network::wnet::driver::types;

/// Per-driver facts every host call may need.
pub(crate) struct DriverContext {
    /// The driver's name, for logs and errors.
    pub(crate) name: Arc<str>,
    /// The store behind `kv`.
    pub(crate) store: Arc<dyn Store>,
    /// The driver's own table in the store.
    pub(crate) kv_table: String,
    /// The last line the driver wrote to stderr (a panic message, usually).
    pub(crate) stderr_tail: stdio::Tail,
    /// The driver\'s access to the kernel, when the host lends it.
    pub(crate) kernel: Option<Arc<kernel::DriverKernel>>,
    /// Its log lines this second, shared by every instance and stream.
    pub(crate) log_budget: Arc<LogBudget>,
}

/// A driver's log lines per second: past the limit lines are dropped, counted, and
/// said to be dropped once the second is over.
pub(crate) struct LogBudget {
    driver: Arc<str>,
    per_second: u32,
    window: std::sync::Mutex<(std::time::Instant, u32, u64)>,
    /// Lines dropped so far.
    pub(crate) dropped: std::sync::atomic::AtomicU64,
}

impl LogBudget {
    pub(crate) fn new(driver: &str, per_second: u32) -> Self {
        LogBudget {
            driver: driver.into(),
            per_second,
            window: std::sync::Mutex::new((std::time::Instant::now(), 0, 0)),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether one more line may go to the log now.
    pub(crate) fn admit(&self) -> bool {
        let mut w = crate::engine::lock(&self.window);
        let now = std::time::Instant::now();
        if now.duration_since(w.0) >= std::time::Duration::from_secs(1) {
            if w.2 > 0 {
                tracing::warn!(driver = %self.driver, dropped = w.2, limit = self.per_second, "driver log lines dropped: over its limit of lines per second (limits.log-lines-per-second)");
            }
            *w = (now, 0, 0);
        }
        if w.1 < self.per_second {
            w.1 += 1;
            return true;
        }
        w.2 += 1;
        self.dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        false
    }
}

/// The data of one driver instance's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) ctx: Arc<DriverContext>,
    /// Namespace handles given to this instance during the current call: handle `i + 1`
    /// is entry `i`, with its ledger key prefix (handle 0 is the host's namespace).
    /// Emptied when the call ends.
    pub(crate) namespaces: Vec<(String, wnet_netlink::Namespace)>,
    /// Calls into the host during the current driver call.
    pub(crate) host_calls: u32,
}

impl HostState {
    /// A locked-down WASI context: no files, no sockets, no environment, no arguments;
    /// stdout and stderr go to the log with the driver's name.
    pub(crate) fn new(ctx: Arc<DriverContext>, memory_limit: usize) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(stdio::LogStream::new(
                ctx.name.clone(),
                stdio::Which::Stdout,
                None,
                ctx.log_budget.clone(),
            ))
            .stderr(stdio::LogStream::new(
                ctx.name.clone(),
                stdio::Which::Stderr,
                Some(ctx.stderr_tail.clone()),
                ctx.log_budget.clone(),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_limit),
            ctx,
            namespaces: Vec::new(),
            host_calls: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

/// Caps a driver's linear memory and remembers that it tried to go past the cap, so a
/// trap that follows is reported as out-of-memory rather than a bare `unreachable`.
pub(crate) struct Limiter {
    memory_limit: usize,
    pub(crate) hit: bool,
}

impl Limiter {
    fn new(memory_limit: usize) -> Self {
        Limiter {
            memory_limit,
            hit: false,
        }
    }
}

/// Table elements a driver may have: generous for any real program, a stop for a bomb.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
