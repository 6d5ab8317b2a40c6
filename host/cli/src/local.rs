//! The controller run inside the `wnet` process (no daemon): the store under the data
//! directory, sandboxes under the run directory, the built-in drivers, and a lock so
//! that concurrent invocations take turns.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use wnet_core::{Config, Controller, RedbStore};
use wnet_netlink::osl::KernelSandboxes;
use wnet_netlink::{Namespace, RtNetlink};
use wnet_runtime::{Kernel, LoadedDriver, Runtime, RuntimeConfig};

/// Where wnet keeps its state and its namespaces.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The store and the compiled-driver cache.
    pub data: PathBuf,
    /// Sandboxes' namespace files (`<run>/netns/NAME`).
    pub run: PathBuf,
}

/// An in-process wnet, holding the data directory's lock until dropped.
pub struct Local {
    /// The controller.
    pub controller: Controller,
    _drivers: Vec<LoadedDriver>,
    _runtime: Runtime,
    _lock: File,
}

impl Local {
    /// Takes the data directory's lock (waiting for another `wnet` to finish), opens
    /// the store and loads the built-in drivers that the store's networks use and
    /// `named` names — all of them when `named` is `None` (the daemon), or holds a name
    /// no built-in has (so that the error lists them).
    pub async fn open(dirs: &Dirs, named: Option<&[String]>) -> anyhow::Result<Local> {
        std::fs::create_dir_all(&dirs.data).with_context(|| {
            format!(
                "cannot create the data directory {} (choose another with --data-dir)",
                dirs.data.display()
            )
        })?;
        let lock_path = dirs.data.join("wnet.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let store = Arc::new(RedbStore::open(&dirs.data.join("wnet.db"))?);
        let nl = Arc::new(RtNetlink::new());
        let host = Namespace::current().context("cannot open this process's network namespace")?;
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(dirs.data.join("cache")),
            store: store.clone(),
            kernel: Some(Kernel {
                netlink: nl.clone(),
                host: host.clone(),
            }),
            ..RuntimeConfig::default()
        })?;
        let controller = Controller::new(Config {
            store,
            os: Arc::new(KernelSandboxes::new(nl, host, &dirs.run)),
            ..Config::default()
        })?;
        let mut wanted: BTreeSet<String> = named.into_iter().flatten().cloned().collect();
        for n in controller.networks() {
            let r = n.info()?;
            wanted.insert(r.driver);
            wanted.insert(r.ipam_driver);
        }
        let builtins: BTreeSet<String> = wnet_drivers::BUILTINS
            .iter()
            .filter_map(|b| b.manifest().ok().map(|m| m.name))
            .collect();
        let all = named.is_none_or(|n| n.iter().any(|n| !builtins.contains(n)));
        let drivers = wnet_drivers::load_some(&runtime, |m| all || wanted.contains(&m.name))
            .await
            .context("loading the built-in drivers")?;
        for d in &drivers {
            d.register(&controller)?;
        }
        Ok(Local {
            controller,
            _drivers: drivers,
            _runtime: runtime,
            _lock: lock,
        })
    }
}
