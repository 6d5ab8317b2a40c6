//! The runtime: one wasmtime `Engine` with epoch interruption, one linker with every
//! host capability, a compile cache on disk, and the loading of drivers.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};
use wnet_core::{MemoryStore, Store};

use crate::bindings;
use crate::check::{self, CONTRACT_VERSION, ComponentReport};
use crate::error::LoadError;
use crate::host::HostState;
use crate::host::kernel::{DriverKernel, Kernel, Ledger};
use crate::instance::{Instance, Limits, Stats, World};
use crate::ipam::WasmIpamDriver;
use crate::manifest::{Capability, DriverKind, Manifest};
use crate::network::WasmNetworkDriver;

/// How often the engine's epoch advances: the resolution of call deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// How a runtime is set up.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Where compiled drivers are cached; none to compile on every load.
    pub cache_dir: Option<PathBuf>,
    /// Where drivers' `kv` keys live (the controller's store).
    pub store: Arc<dyn Store>,
    /// Limits of drivers whose manifest sets none.
    pub default_limits: Limits,
    /// The most a manifest may ask for.
    pub ceilings: Limits,
    /// The kernel drivers reach through their `links`, `addresses`, `routes` and
    /// `sysctl` capabilities; none for a host that lends no kernel access (those calls
    /// then answer `unavailable`).
    pub kernel: Option<Kernel>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            store: Arc::new(MemoryStore::new()),
            default_limits: Limits {
                memory_bytes: 64 << 20,
                call_timeout: Duration::from_secs(1),
                operation_timeout: Duration::from_secs(10),
                answer_items: 1024,
                answer_bytes: 64 << 10,
                host_calls: 4096,
                log_lines_per_second: 1000,
            },
            ceilings: Limits {
                memory_bytes: 1 << 30,
                call_timeout: Duration::from_secs(60),
                operation_timeout: Duration::from_secs(600),
                answer_items: 1 << 20,
                answer_bytes: 16 << 20,
                host_calls: 1 << 24,
                log_lines_per_second: 1 << 20,
            },
            kernel: None,
        }
    }
}

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Compiled now with Cranelift.
    Compiled,
    /// Compiled now and written to the cache.
    CompiledAndCached,
    /// Deserialized from the cache.
    Cache,
}

/// A loaded driver of either kind.
#[derive(Clone)]
pub enum LoadedDriver {
    /// A network driver.
    Network(Arc<WasmNetworkDriver>),
    /// An IPAM driver.
    Ipam(Arc<WasmIpamDriver>),
}

impl LoadedDriver {
    /// The driver's manifest.
    pub fn manifest(&self) -> &Manifest {
        match self {
            LoadedDriver::Network(d) => d.manifest(),
            LoadedDriver::Ipam(d) => d.manifest(),
        }
    }

    /// Its limits, as granted.
    pub fn limits(&self) -> Limits {
        match self {
            LoadedDriver::Network(d) => d.limits(),
            LoadedDriver::Ipam(d) => d.limits(),
        }
    }

    /// Its call counters.
    pub fn stats(&self) -> &Stats {
        match self {
            LoadedDriver::Network(d) => d.stats(),
            LoadedDriver::Ipam(d) => d.stats(),
        }
    }

    /// Its health and what it did: state, last failure, refusals, kernel requests.
    pub fn status(&self) -> crate::instance::Status {
        match self {
            LoadedDriver::Network(d) => d.status(),
            LoadedDriver::Ipam(d) => d.status(),
        }
    }

    /// Lets it run again after a quarantine; whether it was quarantined.
    pub fn enable(&self) -> bool {
        match self {
            LoadedDriver::Network(d) => d.enable(),
            LoadedDriver::Ipam(d) => d.enable(),
        }
    }

    /// Registers the driver with a controller under its manifest's name.
    pub fn register(&self, controller: &wnet_core::Controller) -> Result<(), wnet_core::Error> {
        match self {
            LoadedDriver::Network(d) => controller.register_driver(&d.manifest().name, d.clone()),
            LoadedDriver::Ipam(d) => controller.register_ipam_driver(&d.manifest().name, d.clone()),
        }
    }
}

/// The WASM runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    /// Identifies the engine's compilation settings in cache file names.
    engine_key: String,
    ticker: Arc<Ticker>,
    /// Components taken from the cache ahead of their load ([`EngineParts::compile_ahead`]).
    ahead: Mutex<HashMap<String, Component>>,
    /// The links drivers created or adopted, shared by all of them.
    ledger: Arc<Ledger>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// A runtime's engine and its linker, which hold nothing of the host's: a short-lived
/// process makes them on another thread while it opens its store
/// ([`Runtime::with_engine`]), since they take about a millisecond.
pub struct EngineParts {
    engine: Engine,
    linker: Linker<HostState>,
    /// The engine's compilation settings, as they name cache files.
    key: String,
    /// Components taken from the compile cache ahead of their load, by digest.
    ahead: HashMap<String, Component>,
    /// The epoch clock, when a thread of the caller's runs it ([`EngineParts::clock_here`]).
    ticker: Option<Arc<Ticker>>,
}

impl EngineParts {
    /// The engine (epoch interruption on) and a linker with WASI and every host
    /// interface of the contract.
    pub fn new() -> Result<Self, LoadError> {
        let mut wasm_config = Config::new();
        wasm_config.epoch_interruption(true);
        let engine = Engine::new(&wasm_config).map_err(|e| LoadError::Start {
            driver: "(engine)".to_owned(),
            reason: e.to_string(),
        })?;
        let mut linker = Linker::<HostState>::new(&engine);
        let link = |r: wasmtime::Result<()>| {
            r.map_err(|e| LoadError::Start {
                driver: "(linker)".to_owned(),
                reason: e.to_string(),
            })
        };
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(bindings::network::wnet::driver::types::add_to_linker::<
            _,
            HasSelf<HostState>,
        >(&mut linker, |s| s))?;
        link(bindings::network::wnet::driver::log::add_to_linker::<
            _,
            HasSelf<HostState>,
        >(&mut linker, |s| s))?;
        link(bindings::network::wnet::driver::kv::add_to_linker::<
            _,
            HasSelf<HostState>,
        >(&mut linker, |s| s))?;
        {
            use bindings::network::wnet::driver::{
                addresses, firewall, links, neighbours, netns, routes, sysctl,
            };
            link(netns::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(links::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(addresses::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(routes::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(sysctl::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(neighbours::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
            link(firewall::add_to_linker::<_, HasSelf<HostState>>(
                &mut linker,
                |s| s,
            ))?;
        }
        Ok(EngineParts {
            key: engine_key(&engine),
            engine,
            linker,
            ahead: HashMap::new(),
            ticker: None,
        })
    }

    /// Makes the calling thread the epoch clock of the runtime these parts will make,
    /// instead of a thread of the runtime's own: the thread that made the engine has
    /// nothing else to do once it hands the parts over, and a one-shot `wnet` then
    /// starts one thread fewer. Run the returned [`Clock`] on this thread after that.
    pub fn clock_here(&mut self) -> Clock {
        let ticker = Arc::new(Ticker::default());
        // Set before the parts leave this thread, so every call's wake finds it.
        let _ = ticker.thread.set(std::thread::current());
        self.ticker = Some(ticker.clone());
        Clock {
            ticker,
            engine: self.engine.weak(),
        }
    }

    /// Takes the components of these digests (SHA-256, hex) from the compile cache in
    /// `cache_dir` now, on the thread making the engine, so that loading them later
    /// finds them ready; one not in the cache is left to its load.
    pub fn compile_ahead(&mut self, cache_dir: &Path, digests: &[&str]) {
        let ahead = self.ahead(cache_dir, digests);
        ahead.work();
        self.adopt(&ahead);
    }

    /// The work of [`EngineParts::compile_ahead`], for several threads to share: each
    /// runs [`Ahead::work`] on a clone; once they all have, [`EngineParts::adopt`]
    /// takes what they read.
    pub fn ahead(&self, cache_dir: &Path, digests: &[&str]) -> Ahead {
        Ahead {
            engine: self.engine.clone(),
            todo: Arc::new(Mutex::new(
                digests
                    .iter()
                    .map(|d| ((*d).to_owned(), cache_file(cache_dir, d, &self.key)))
                    .collect(),
            )),
            done: Arc::default(),
        }
    }

    /// Takes the components `ahead`'s workers read; call once none is working.
    pub fn adopt(&mut self, ahead: &Ahead) {
        self.ahead.extend(lock(&ahead.done).drain());
    }
}

/// The epoch clock of a runtime, run by the thread that called [`EngineParts::clock_here`].
pub struct Clock {
    ticker: Arc<Ticker>,
    engine: wasmtime::EngineWeak,
}

impl Clock {
    /// Advances the engine's epoch while driver calls run, until the runtime goes.
    pub fn run(self) {
        tick(&self.ticker, &self.engine);
    }
}

/// The clock's loop. It holds only a weak reference to the engine so the engine goes
/// when the runtime does.
fn tick(clock: &Ticker, engine: &wasmtime::EngineWeak) {
    while !clock.stop.load(Ordering::Relaxed) {
        // Nothing to time: sleep until a call starts (or the runtime goes). A spurious
        // wake only loops.
        if clock.busy.load(Ordering::SeqCst) == 0 {
            // `idle` before the second look: a call that starts after that look sees
            // it and wakes this thread ([`Ticker::hold`]).
            clock.idle.store(true, Ordering::SeqCst);
            if clock.busy.load(Ordering::SeqCst) == 0 && !clock.stop.load(Ordering::Relaxed) {
                std::thread::park();
            }
            clock.idle.store(false, Ordering::SeqCst);
            continue;
        }
        // Parked rather than asleep, so that a stop ends the wait; a wake before the
        // tick is up (the stop, or spurious) waits for the rest.
        let tick = std::time::Instant::now() + TICK;
        while !clock.stop.load(Ordering::Relaxed) {
            match tick.checked_duration_since(std::time::Instant::now()) {
                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                _ => break,
            }
        }
        if clock.stop.load(Ordering::Relaxed) {
            break;
        }
        match engine.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => break,
        }
    }
}

/// Components to take from the compile cache, shared by the threads that do
/// ([`EngineParts::ahead`]). Reading one (about 0.3 ms: the file's metadata decoded,
/// its code made executable) is the longest step of a one-shot `wnet`'s start.
#[derive(Clone)]
pub struct Ahead {
    engine: Engine,
    todo: Arc<Mutex<Vec<(String, PathBuf)>>>,
    done: Arc<Mutex<HashMap<String, Component>>>,
}

impl Ahead {
    /// Reads components until none is left to start; one not in the cache is left to
    /// its load.
    pub fn work(&self) {
        loop {
            let Some((digest, path)) = lock(&self.todo).pop() else {
                return;
            };
            if let Some(Ok(c)) = read_cached(&self.engine, &path) {
                lock(&self.done).insert(digest, c);
            }
        }
    }
}

/// The compile cache's file for the component of `digest`.
fn cache_file(dir: &Path, digest: &str, engine_key: &str) -> PathBuf {
    dir.join(format!("{digest}-{engine_key}.cwasm"))
}

/// The compiled component in the cache file `path`; `None` when there is no such file.
fn read_cached(engine: &Engine, path: &Path) -> Option<wasmtime::Result<Component>> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the file was written by `precompile_component` of an engine with the same
    // compatibility hash (its name says so), into the cache directory the operator gave
    // the host, which only the host writes.
    #[expect(unsafe_code, reason = "wasmtime trusts precompiled artifacts")]
    Some(unsafe { Component::deserialize_file(engine, path) })
}

/// The engine's compilation settings, as they name cache files.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl Runtime {
    /// A runtime with its engine, linker and epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        Self::with_engine(EngineParts::new()?, config)
    }

    /// [`Runtime::new`] with an engine and linker made beforehand, and their epoch clock
    /// when a thread of the caller's runs it ([`EngineParts::clock_here`]).
    pub fn with_engine(parts: EngineParts, config: RuntimeConfig) -> Result<Self, LoadError> {
        let EngineParts {
            engine,
            linker,
            key: engine_key,
            ahead,
            ticker,
        } = parts;
        // Deadlines are counted in epochs, advanced by a thread of the caller's or one
        // of our own.
        let ticker = match ticker {
            Some(ticker) => ticker,
            None => {
                let ticker = Arc::new(Ticker::default());
                let weak = engine.weak();
                let clock = ticker.clone();
                let thread = std::thread::Builder::new()
                    .name("wnet-epoch".to_owned())
                    .spawn(move || tick(&clock, &weak))
                    .map_err(|e| LoadError::Start {
                        driver: "(epoch thread)".to_owned(),
                        reason: e.to_string(),
                    })?;
                let _ = ticker.thread.set(thread.thread().clone());
                ticker
            }
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                // Only a runtime that makes links needs their group in the store.
                ledger: Arc::new(if config.kernel.is_some() {
                    Ledger::open(config.store.clone())
                } else {
                    Ledger::new(config.store.clone())
                }),
                config,
                engine_key,
                ticker,
                ahead: Mutex::new(ahead),
            }),
        })
    }

    /// Ends the epoch clock's thread now rather than when the runtime goes, for a
    /// process about to exit that leaves its runtime to the exit: the thread then ends
    /// beside the process's last steps, and the exit finds one thread (which tears
    /// the process down on its own CPU and wakes the parent there, instead of the
    /// clock's thread doing so from the other). Driver calls made after it run
    /// without a deadline.
    pub fn stop_clock(&self) {
        self.inner.ticker.stop();
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles a component, or loads its compiled form from the cache.
    pub fn compile(
        &self,
        driver: &str,
        wasm: &[u8],
    ) -> Result<(Component, CompileSource), LoadError> {
        self.compile_digested(driver, wasm, None)
    }

    /// [`Runtime::compile`], with the component's SHA-256 (hex) when it is known.
    fn compile_digested(
        &self,
        driver: &str,
        wasm: &[u8],
        digest: Option<&str>,
    ) -> Result<(Component, CompileSource), LoadError> {
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm {
                driver: driver.to_owned(),
            });
        }
        if wasm.starts_with(b"\0asm\x01\0\0\0") {
            return Err(LoadError::NotAComponent {
                driver: driver.to_owned(),
            });
        }
        let Some(dir) = &self.inner.config.cache_dir else {
            return self
                .compile_now(driver, wasm)
                .map(|c| (c, CompileSource::Compiled));
        };
        let digest = digest.map_or_else(|| hex(&Sha256::digest(wasm)), str::to_owned);
        let ready = lock(&self.inner.ahead).remove(&digest);
        if let Some(c) = ready {
            return Ok((c, CompileSource::Cache));
        }
        let path = cache_file(dir, &digest, &self.inner.engine_key);
        match read_cached(&self.inner.engine, &path) {
            Some(Ok(c)) => return Ok((c, CompileSource::Cache)),
            Some(Err(e)) => {
                tracing::warn!(driver, path = %path.display(), error = %e, "unusable compile cache entry; recompiling");
            }
            None => {}
        }
        let compiled = self
            .inner
            .engine
            .precompile_component(wasm)
            .map_err(|e| compile_error(driver, &e))?;
        write_atomically(dir, &path, &compiled)?;
        // SAFETY: the bytes were just produced by this engine's `precompile_component`.
        #[expect(unsafe_code, reason = "wasmtime trusts precompiled artifacts")]
        let component = unsafe { Component::deserialize(&self.inner.engine, &compiled) }
            .map_err(|e| compile_error(driver, &e))?;
        Ok((component, CompileSource::CompiledAndCached))
    }

    fn compile_now(&self, driver: &str, wasm: &[u8]) -> Result<Component, LoadError> {
        Component::new(&self.inner.engine, wasm).map_err(|e| compile_error(driver, &e))
    }

    /// Writes wnet's firewall table afresh from the rules drivers set (a reboot or an
    /// operator may have emptied it). Returns the repair, if there was anything to do.
    pub async fn reconcile_firewall(&self) -> Option<String> {
        let fw = self.inner.config.kernel.as_ref()?.firewall.as_ref()?;
        match crate::host::firewall::restore(fw, self.inner.config.store.as_ref()).await {
            Ok(0) => None,
            Ok(n) => Some(format!("firewall: the rules of {n} networks written again")),
            Err(e) => Some(format!("firewall: restoring the rules failed: {e}")),
        }
    }

    /// Brings the links ledger in line with the host's namespace after a restart:
    /// deletes links created for this store's drivers (they carry its device group)
    /// that no ledger entry names — a crash between creating one and recording it — forgets
    /// entries whose link is gone, and those of sandboxes not in `sandboxes`. Returns
    /// the repairs, one line each, and the drivers whose links in the host namespace
    /// went missing (their networks need restoring).
    pub async fn reconcile_links(
        &self,
        sandboxes: &[String],
    ) -> (Vec<String>, std::collections::BTreeSet<String>) {
        let mut repairs = Vec::new();
        let mut missing = std::collections::BTreeSet::new();
        let Some(kernel) = &self.inner.config.kernel else {
            return (repairs, missing);
        };
        let links = match kernel.netlink.links(&kernel.host).await {
            Ok(l) => l,
            Err(e) => {
                repairs.push(format!(
                    "cannot list the host's links to reconcile them: {e}"
                ));
                return (repairs, missing);
            }
        };
        let ledger = &self.inner.ledger;
        let entries = ledger.entries();
        for l in &links {
            let key = format!("host/{}", l.name);
            if l.group != ledger.group() || entries.iter().any(|(k, _, _)| *k == key) {
                continue;
            }
            match kernel.netlink.link_del(&kernel.host, l.index).await {
                Ok(()) => repairs.push(format!(
                    "link {}: created by wnet but recorded nowhere (a crash mid-operation); deleted",
                    l.name
                )),
                Err(e) => repairs.push(format!("link {}: orphan, but deleting it failed: {e}", l.name)),
            }
        }
        for (key, driver, _adopted) in entries {
            if let Some(name) = key.strip_prefix("host/") {
                if !links.iter().any(|l| l.name == name) {
                    ledger.forget(&key);
                    repairs.push(format!(
                        "link {name} of driver `{driver}`: gone from the host; forgotten"
                    ));
                    missing.insert(driver);
                }
            } else if let Some(rest) = key.strip_prefix("sandbox/") {
                let sandbox = rest.split('/').next().unwrap_or_default();
                if !sandboxes.iter().any(|s| s == sandbox) {
                    ledger.forget(&key);
                    repairs.push(format!(
                        "link {key} of driver `{driver}`: its sandbox is gone; forgotten"
                    ));
                }
            }
        }
        for r in &repairs {
            tracing::warn!("repaired: {r}");
        }
        (repairs, missing)
    }

    /// What a component exports and imports, without a manifest (`wnet driver check`).
    pub fn inspect(&self, name: &str, wasm: &[u8]) -> Result<ComponentReport, LoadError> {
        let (component, _) = self.compile(name, wasm)?;
        Ok(ComponentReport::of(&self.inner.engine, &component))
    }

    /// Loads a driver: compiles (or takes from the cache), checks it against its
    /// manifest, links it, starts its first instance and asks its capabilities.
    pub async fn load(&self, wasm: &[u8], manifest: Manifest) -> Result<LoadedDriver, LoadError> {
        self.load_inner(wasm, None, manifest).await
    }

    /// [`Runtime::load`] for a component whose SHA-256 (hex) is known already — the
    /// built-ins', computed when they were built — so it is not hashed again. The
    /// digest keys the compile cache: it must be the component's.
    pub async fn load_digested(
        &self,
        wasm: &[u8],
        digest: &str,
        manifest: Manifest,
    ) -> Result<LoadedDriver, LoadError> {
        self.load_inner(wasm, Some(digest), manifest).await
    }

    async fn load_inner(
        &self,
        wasm: &[u8],
        digest: Option<&str>,
        manifest: Manifest,
    ) -> Result<LoadedDriver, LoadError> {
        let (component, source) = self.compile_digested(&manifest.name, wasm, digest)?;
        let report = ComponentReport::of(&self.inner.engine, &component);
        check::check(&report, &manifest)?;
        let limits = self.limits(&manifest)?;
        let contract = |e: wasmtime::Error| LoadError::Contract {
            driver: manifest.name.clone(),
            version: CONTRACT_VERSION,
            reason: format!("{e:#}"),
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(contract)?;
        tracing::debug!(driver = %manifest.name, ?source, "driver compiled");
        let driver = match manifest.kind {
            DriverKind::Network => {
                let pre = bindings::network::NetworkPre::new(pre).map_err(contract)?;
                let inst = self.instance(pre, limits, &manifest);
                LoadedDriver::Network(Arc::new(WasmNetworkDriver::start(inst, manifest).await?))
            }
            DriverKind::Ipam => {
                let pre = bindings::ipam::IpamPre::new(pre).map_err(contract)?;
                let inst = self.instance(pre, limits, &manifest);
                LoadedDriver::Ipam(Arc::new(WasmIpamDriver::start(inst, manifest).await?))
            }
        };
        tracing::info!(driver = %driver.manifest().name, kind = %driver.manifest().kind, "driver loaded");
        Ok(driver)
    }

    fn instance<W: World>(&self, pre: W::Pre, limits: Limits, manifest: &Manifest) -> Instance<W> {
        let wants_kernel = [
            Capability::Links,
            Capability::Addresses,
            Capability::Routes,
            Capability::Neighbours,
            Capability::Sysctl,
            Capability::Firewall,
        ]
        .into_iter()
        .any(|c| manifest.grants(c));
        let kernel = match (&self.inner.config.kernel, wants_kernel) {
            (Some(kernel), true) => Some(Arc::new(DriverKernel::new(
                kernel.clone(),
                manifest.links.clone(),
                manifest.sysctl.clone(),
                self.inner.ledger.clone(),
                &manifest.name,
            ))),
            (None, true) => {
                tracing::warn!(driver = %manifest.name, "the driver is granted kernel capabilities but this host lends no kernel access: those calls will answer unavailable");
                None
            }
            (_, false) => None,
        };
        Instance::new(
            self.inner.engine.clone(),
            self.inner.ticker.clone(),
            pre,
            limits,
            manifest,
            self.inner.config.store.clone(),
            kernel,
        )
    }

    /// Loads a driver from `NAME.wasm` and the `NAME.toml` beside it (or `manifest`).
    pub async fn load_file(
        &self,
        wasm: &Path,
        manifest: Option<&Path>,
    ) -> Result<LoadedDriver, LoadError> {
        let manifest_path = match manifest {
            Some(p) => p.to_owned(),
            None => wasm.with_extension("toml"),
        };
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| LoadError::Start {
                driver: p.display().to_string(),
                reason: format!("cannot read {}: {e}", p.display()),
            })
        };
        let text = String::from_utf8_lossy(&read(&manifest_path)?).into_owned();
        let manifest = Manifest::parse(&text)?;
        let bytes = read(wasm)?;
        self.load(&bytes, manifest).await
    }

    fn limits(&self, manifest: &Manifest) -> Result<Limits, LoadError> {
        let defaults = &self.inner.config.default_limits;
        let ceilings = &self.inner.config.ceilings;
        let m = &manifest.limits;
        // The manifest's value, in the manifest's unit, within the ceiling; the default
        // where it sets none.
        let pick = |limit: &'static str, value: Option<u64>, default: u64, ceiling: u64| match value
        {
            None => Ok(default),
            Some(value) if value > ceiling => Err(LoadError::Limit {
                driver: manifest.name.clone(),
                limit,
                value,
                ceiling,
            }),
            Some(value) => Ok(value),
        };
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let count = |n: usize| n as u64;
        Ok(Limits {
            memory_bytes: (pick(
                "limits.memory-mib",
                m.memory_mib,
                count(defaults.memory_bytes >> 20),
                count(ceilings.memory_bytes >> 20),
            )? as usize)
                << 20,
            call_timeout: Duration::from_millis(pick(
                "limits.call-timeout-ms",
                m.call_timeout_ms,
                ms(defaults.call_timeout),
                ms(ceilings.call_timeout),
            )?),
            operation_timeout: Duration::from_millis(pick(
                "limits.operation-timeout-ms",
                m.operation_timeout_ms,
                ms(defaults.operation_timeout),
                ms(ceilings.operation_timeout),
            )?),
            answer_items: pick(
                "limits.answer-items",
                m.answer_items,
                count(defaults.answer_items),
                count(ceilings.answer_items),
            )? as usize,
            answer_bytes: pick(
                "limits.answer-bytes",
                m.answer_bytes,
                count(defaults.answer_bytes),
                count(ceilings.answer_bytes),
            )? as usize,
            host_calls: pick(
                "limits.host-calls",
                m.host_calls,
                defaults.host_calls.into(),
                ceilings.host_calls.into(),
            )? as u32,
            log_lines_per_second: pick(
                "limits.log-lines-per-second",
                m.log_lines_per_second,
                defaults.log_lines_per_second.into(),
                ceilings.log_lines_per_second.into(),
            )? as u32,
        })
    }
}

fn compile_error(driver: &str, e: &wasmtime::Error) -> LoadError {
    LoadError::Compile {
        driver: driver.to_owned(),
        reason: format!("{e:#}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never
/// sees half a file.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let err = |p: &Path, e: std::io::Error| LoadError::Cache {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    // Native code: nobody but wnet may write there (or read what it runs).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|e| err(dir, e))?;
    // Unique per writer: threads of one process may compile the same driver at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, bytes).map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))
}

/// A lock that a panicked holder did not poison: the maps the runtime guards stay
/// consistent (one insert or removal at a time).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The engine's epoch clock: its thread advances the epoch every [`TICK`] while a driver
/// call is running and sleeps while none is, so an idle daemon is not woken 200 times
/// a second. A call's deadline counts ticks from the call's start; the epoch standing
/// still between calls changes none.
#[derive(Default)]
pub(crate) struct Ticker {
    /// Driver calls running, each holding a [`Ticking`].
    busy: std::sync::atomic::AtomicUsize,
    /// The clock waits for a call with nothing to time. Only then does a call's start
    /// wake it: back-to-back calls (an IPAM handing out thousands of addresses) would
    /// otherwise each cost a futex wake and a switch on the clock's CPU.
    idle: AtomicBool,
    stop: AtomicBool,
    /// The clock's thread, to wake.
    thread: std::sync::OnceLock<std::thread::Thread>,
}

impl Ticker {
    /// Ends the clock's loop, and so its thread.
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// Keeps the clock running until the returned guard drops.
    pub(crate) fn hold(self: &Arc<Self>) -> Ticking {
        if self.busy.fetch_add(1, Ordering::SeqCst) == 0
            && self.idle.load(Ordering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
        Ticking(self.clone())
    }
}

/// A running driver call's hold on the [`Ticker`].
pub(crate) struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}
