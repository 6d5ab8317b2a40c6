//! What a driver's `Store` holds, and the host capabilities, one module each.

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
}

/// The data of one driver instance's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) ctx: Arc<DriverContext>,
    /// Namespace handles given to this instance: handle `i + 1` is entry `i`, with its
    /// ledger key prefix (handle 0 is the host's namespace).
    pub(crate) namespaces: Vec<(String, wnet_netlink::Namespace)>,
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
            ))
            .stderr(stdio::LogStream::new(
                ctx.name.clone(),
                stdio::Which::Stderr,
                Some(ctx.stderr_tail.clone()),
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
