//! The controller run inside the `wnet` process (no daemon): the store under the data
//! directory, sandboxes under the run directory, the built-in drivers, and a lock so
//! that concurrent invocations take turns.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use wnet_core::{Config, Controller, RedbStore};
use wnet_drivers::DriverSet;
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{Namespace, RtNetlink};

use crate::config::Settings;
use wnet_runtime::{Ahead, DriverKind, EngineParts, Kernel, Manifest, Runtime, RuntimeConfig};

/// The WASM engine and linker, being made on a thread of their own since the process
/// started: they take about as long as everything else a command does before it
/// needs them (parsing its arguments, opening the store, reading the records), so a
/// one-shot `wnet` makes them beside that work rather than after it. The thread then
/// takes from the compile cache the drivers it is told of ([`EngineStart::ahead`]),
/// helped by the thread that waits for it ([`EngineStart::join`]), hands the parts
/// over and stays on as the runtime's epoch clock; dropped unfinished (the command
/// went to a daemon), it stops there.
pub struct EngineStart {
    parts: std::sync::mpsc::Receiver<Result<EngineParts, wnet_runtime::LoadError>>,
    ahead: std::sync::mpsc::Sender<(PathBuf, Vec<&'static str>)>,
    /// The compile-ahead work, once the engine is made and the thread told of it.
    work: std::sync::mpsc::Receiver<Ahead>,
}

impl EngineStart {
    /// Starts making the engine now.
    pub fn spawn() -> EngineStart {
        let (ahead, wanted) = std::sync::mpsc::channel::<(PathBuf, Vec<&'static str>)>();
        let (share, work) = std::sync::mpsc::channel();
        let (done, parts) = std::sync::mpsc::channel();
        // Handed over through a channel, not the thread's end: the thread goes on as
        // the clock, and waiting for a thread to end costs its unmapping besides.
        spawn_beside(move || {
            reserve_arena();
            let mut made = EngineParts::new();
            let clock = made.as_mut().ok().map(EngineParts::clock_here);
            if let Ok(parts) = &made
                && let Ok((cache_dir, digests)) = wanted.recv()
            {
                let ahead = parts.ahead(&cache_dir, &digests);
                let _ = share.send(ahead.clone());
                ahead.work();
            }
            if done.send(made).is_ok()
                && let Some(clock) = clock
            {
                unpin();
                clock.run();
            }
        });
        EngineStart { parts, ahead, work }
    }

    /// Has the thread take the components of these digests from the compile cache
    /// in `cache_dir` once the engine is made.
    fn ahead(&self, cache_dir: PathBuf, digests: Vec<&'static str>) {
        // The receiver is gone only if making the engine failed: the join says how.
        let _ = self.ahead.send((cache_dir, digests));
    }

    /// The engine and linker, with what the thread was told to take from the cache:
    /// this thread takes its share of that first.
    fn join(self) -> anyhow::Result<EngineParts> {
        drop(self.ahead);
        // None if the thread was never told, or failed: the join says how.
        let helped = self.work.recv().ok();
        if let Some(ahead) = &helped {
            ahead.work();
        }
        let mut parts = self
            .parts
            .recv()
            .map_err(|_| anyhow::anyhow!("making the WASM engine panicked"))??;
        if let Some(ahead) = &helped {
            parts.adopt(ahead);
        }
        Ok(parts)
    }
}

/// Makes the calling thread's malloc arena writable a megabyte at a time. glibc makes
/// a new thread's arena writable only as far as it has allocated, with an `mprotect`
/// for each page it grows by — about 55 of them for the engine and two components,
/// each taking the process's memory map lock that the other thread's page faults
/// wait on. A few large blocks, freed at once, take the arena that far in 8 calls;
/// glibc keeps it writable after freeing them (only their pages go back).
fn reserve_arena() {
    // Below glibc's mmap threshold (128 KiB), so they come from the arena; never
    // written, so nothing is faulted in.
    let blocks: Vec<Vec<u8>> = (0..8).map(|_| Vec::with_capacity(120 << 10)).collect();
    drop(std::hint::black_box(blocks));
}

/// Spawns a thread on a CPU other than this thread's, when the process may use
/// another. Linux queues a new thread on its parent's CPU, and while the parent keeps
/// running an idle CPU beside it may leave the thread waiting: measured on a 2-CPU
/// VM, 0.4–2 ms before it ran, as long as the work it was spawned to do beside the
/// parent. The thread stays on those CPUs (so do threads it spawns) until it calls
/// [`unpin`].
fn spawn_beside<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let thread = std::thread::spawn(f);
    pin_elsewhere(&thread);
    thread
}

/// Restricts `thread` to the CPUs this process may use but the one this thread runs
/// on; nothing when there is no other (or the kernel says no: the thread then runs
/// where the kernel puts it, only later).
#[expect(
    unsafe_code,
    reason = "sched_getaffinity and pthread_setaffinity_np have no safe wrapper taking a JoinHandle"
)]
fn pin_elsewhere<T>(thread: &std::thread::JoinHandle<T>) {
    use std::os::unix::thread::JoinHandleExt;
    let size = size_of::<libc::cpu_set_t>();
    // SAFETY: a zeroed cpu_set_t is the empty set; the pointers are to locals of the
    // size given, and the pthread_t is of a thread that has not been joined (the
    // handle is borrowed), so it is valid.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return;
        }
        let Ok(here) = usize::try_from(libc::sched_getcpu()) else {
            return;
        };
        libc::CPU_CLR(here, &mut set);
        if libc::CPU_COUNT(&set) == 0 {
            return;
        }
        libc::pthread_setaffinity_np(thread.as_pthread_t(), size, &set);
    }
}

/// Lets the calling thread run on every CPU the process may use again (those of its
/// main thread, which [`pin_elsewhere`] leaves alone).
#[expect(
    unsafe_code,
    reason = "sched_getaffinity and sched_setaffinity have no safe wrapper"
)]
fn unpin() {
    let size = size_of::<libc::cpu_set_t>();
    // SAFETY: the set is a local of the size given; the process id names the main
    // thread, 0 the calling one.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(libc::getpid(), size, &mut set) == 0 {
            libc::sched_setaffinity(0, size, &set);
        }
    }
}

/// An in-process wnet, holding the data directory's lock until dropped.
pub struct Local {
    /// The controller.
    pub controller: Controller,
    /// Its drivers.
    pub drivers: Arc<DriverSet>,
    marker: CleanMarker,
    runtime: Runtime,
    _lock: File,
}

/// `<data-dir>/wnet.clean`, holding the kernel's boot id: written when a wnet that
/// had the store open ends without crashing, removed when the next one opens it.
/// Missing, or from another boot, the kernel may no longer match the records (a
/// SIGKILL, a crash, a reboot), and the next wnet reconciles before anything else.
struct CleanMarker {
    path: PathBuf,
    boot_id: String,
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl CleanMarker {
    /// Takes the marker away; whether the wnet before ended cleanly in this boot.
    fn take(data_dir: &Path) -> (CleanMarker, bool) {
        let path = data_dir.join("wnet.clean");
        let boot_id = boot_id();
        let clean = !boot_id.is_empty()
            && std::fs::read_to_string(&path).is_ok_and(|id| id.trim() == boot_id);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the clean-exit marker: a crash of this wnet would go unnoticed by the next");
        }
        (CleanMarker { path, boot_id }, clean)
    }

    /// Records a clean end. No fsync: a marker lost to a power cut only costs the
    /// next wnet a reconcile, which a reboot needs anyway.
    fn put(&self) {
        if let Err(e) = std::fs::write(&self.path, &self.boot_id) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the clean-exit marker: the next wnet will reconcile");
        }
    }
}

/// The data directory's lock file, created if need be.
fn lock_file(settings: &Settings) -> anyhow::Result<(File, PathBuf)> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (choose another with --data-dir)",
            settings.data_dir.display()
        )
    })?;
    let lock_path = settings.data_dir.join("wnet.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    Ok((lock, lock_path))
}

/// The data directory's lock if nobody holds it; `None` while another `wnet` (a
/// daemon, or another command) does.
pub fn try_lock(settings: &Settings) -> anyhow::Result<Option<File>> {
    let (lock, path) = lock_file(settings)?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// The data directory's lock, waiting for whoever holds it.
pub fn wait_lock(settings: &Settings) -> anyhow::Result<File> {
    let (lock, path) = lock_file(settings)?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(lock)
}

impl Local {
    /// Opens the store under the data directory whose lock `lock` is (held until the
    /// returned value drops) and loads the drivers (built-in or from the drivers
    /// folder) that the store's networks use and `named` names — all of them when
    /// `named` is `None` (the daemon), or holds a name no driver has (so that the
    /// error lists them). `engine` is the engine started early, if the caller did.
    pub async fn open(
        settings: &Settings,
        lock: File,
        named: Option<&[(DriverKind, String)]>,
        engine: Option<EngineStart>,
    ) -> anyhow::Result<Local> {
        let engine = engine.unwrap_or_else(EngineStart::spawn);
        // The engine's thread takes from the compile cache the drivers the command
        // will most likely load — those it names, else `bridge` and the IPAM
        // `default`, the defaults of `network create` (every driver, for the daemon) —
        // while this one opens the store and reads the records. Any other is read at
        // its load as before.
        let ahead: Vec<&'static str> = wnet_drivers::digests(|kind, name| match named {
            None => true,
            Some(named) if !named.is_empty() => named.iter().any(|(k, n)| *k == kind && n == name),
            Some(_) => {
                matches!(
                    (kind, name),
                    (DriverKind::Network, "bridge") | (DriverKind::Ipam, "default")
                )
            }
        });
        engine.ahead(settings.cache_dir.clone(), ahead);
        let store = Arc::new(RedbStore::open(&settings.data_dir.join("wnet.db"))?);
        let (marker, clean) = CleanMarker::take(&settings.data_dir);
        // A store made just now recorded nothing, so there is nothing to reconcile.
        let fresh = store.created();
        let recovered = !fresh && (store.recovered() || !clean);
        if recovered && named.is_some() {
            tracing::info!(
                "the wnet before did not end cleanly in this boot: reconciling with the kernel"
            );
        }
        let nl = Arc::new(RtNetlink::new());
        let host = Namespace::current().context("cannot open this process's network namespace")?;
        let controller = Controller::new(Config {
            store: store.clone(),
            os: Arc::new(KernelSandboxes::new(
                nl.clone(),
                host.clone(),
                &settings.run_dir,
            )),
            default_address_pools: settings.default_address_pools.clone(),
            ..Config::default()
        })?;
        // Networks Docker made through the remote plugin protocol record the pools and
        // addresses Docker assigned; this IPAM is what they name.
        controller
            .register_ipam_driver(wnet_core::ASSIGNED_IPAM, Arc::new(wnet_core::AssignedIpam))?;
        let runtime = Runtime::with_engine(
            engine.join()?,
            RuntimeConfig {
                cache_dir: Some(settings.cache_dir.clone()),
                store: store.clone(),
                kernel: Some(Kernel {
                    netlink: nl,
                    host: host.clone(),
                    firewall: settings
                        .firewall
                        .then(|| wnet_netlink::firewall::Firewall::new(host.clone())),
                }),
                default_limits: settings.default_limits,
                ceilings: settings.ceilings,
            },
        )?;
        let drivers = Arc::new(DriverSet::new(
            runtime.clone(),
            controller.clone(),
            Some(settings.drivers_dir.clone()),
        ));
        let mut wanted: BTreeSet<String> = named
            .into_iter()
            .flatten()
            .map(|(_, n)| n.clone())
            .collect();
        for n in controller.networks() {
            let r = n.info()?;
            wanted.insert(r.driver);
            wanted.insert(r.ipam_driver);
        }
        let exists = |kind: DriverKind, name: &str| {
            wnet_drivers::is_builtin(Some(kind), name)
                || std::fs::read_to_string(settings.drivers_dir.join(format!("{name}.toml")))
                    .ok()
                    .and_then(|t| Manifest::parse(&t).ok())
                    .is_some_and(|m| m.kind == kind)
        };
        // A driver that is nowhere (or of the other kind) loads everything, so that
        // the error lists what there is.
        let all = named.is_none_or(|n| n.iter().any(|(kind, name)| !exists(*kind, name)));
        drivers
            .load_builtins(|_, name| all || wanted.contains(name))
            .await
            .context("loading the built-in drivers")?;
        drivers.load_folder(|n| all || wanted.contains(n)).await;
        // The daemon reconciles at every start; a command only when the wnet before
        // did not end cleanly in this boot, since checking every sandbox and link
        // costs more than most commands. Neither on a store made just now.
        if !fresh && (named.is_none() || recovered) {
            for repair in drivers.reconcile().await {
                tracing::info!("reconcile: {repair}");
            }
        }
        Ok(Local {
            controller,
            drivers,
            marker,
            runtime,
            _lock: lock,
        })
    }
}

impl Local {
    /// Ends this wnet cleanly, just before its process exits: records the clean end
    /// and leaves the engine, the drivers and the store to the process's exit.
    /// Everything is durable already (each operation committed), and freeing it all
    /// piece by piece, with redb's clean close, took longer than the kernel does.
    pub fn finish(self) {
        // First, so that the clock's thread is gone by the exit.
        self.runtime.stop_clock();
        self.marker.put();
        std::mem::forget(self);
    }

    /// The API's shared state over this controller.
    pub fn api(&self) -> crate::api::Api {
        crate::api::Api {
            controller: self.controller.clone(),
            drivers: self.drivers.clone(),
        }
    }
}
