//! The drivers a controller runs: the built-ins and those in a drivers folder
//! (`NAME.wasm` with its manifest `NAME.toml`), which can be rescanned (`SIGHUP`),
//! installed into and removed from while the controller runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use sha2::{Digest, Sha256};
use wnet_core::Controller;
use wnet_runtime::manifest::ManifestError;
use wnet_runtime::{DriverKind, LoadError, LoadedDriver, Manifest, Runtime};

/// Why a driver could not be installed, removed or found.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// No driver of that name is loaded.
    #[error("no driver named `{0}` is loaded: `wnet driver ls` lists them")]
    NotFound(String),
    /// Built-ins are part of the binary.
    #[error("`{0}` is a built-in driver: it cannot be replaced or removed")]
    Builtin(String),
    /// The name is taken.
    #[error(
        "a driver named `{0}` is installed already: remove it first (`wnet driver rm {0}`), or install under another --name"
    )]
    Exists(String),
    /// Installing needs a folder.
    #[error("no drivers folder is configured: give --drivers-dir")]
    NoFolder,
    /// No manifest was given and none lies beside the component.
    #[error("no manifest for {0}: give --manifest FILE.toml")]
    NoManifest(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The component or its manifest was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The controller refused (a driver in use).
    #[error(transparent)]
    Controller(#[from] wnet_core::Error),
}

impl SetError {
    /// The error's kind, for an API status.
    pub fn kind(&self) -> wnet_core::types::ErrorKind {
        use wnet_core::types::ErrorKind;
        match self {
            SetError::NotFound(_) => ErrorKind::NotFound,
            SetError::Builtin(_) => ErrorKind::Forbidden,
            SetError::Exists(_) => ErrorKind::Conflict,
            SetError::NoFolder | SetError::NoManifest(_) | SetError::Load(_) => {
                ErrorKind::InvalidParameter
            }
            SetError::Io { .. } => ErrorKind::Internal,
            SetError::Controller(e) => e.kind(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SetError + '_ {
    move |source| SetError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where a loaded driver came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into this binary.
    Builtin,
    /// A component in the drivers folder.
    Folder(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builtin => f.write_str("built-in"),
            Source::Folder(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A loaded driver, as `wnet driver ls` and `inspect` show it.
#[derive(Clone)]
pub struct DriverInfo {
    /// The driver itself (manifest, limits, counters).
    pub driver: LoadedDriver,
    /// Where it came from.
    pub source: Source,
    /// The component's SHA-256, hex.
    pub digest: String,
    /// The networks that use it.
    pub networks: Vec<String>,
}

/// What a rescan of the folder did.
#[derive(Debug, Default)]
pub struct Reload {
    /// Drivers loaded for the first time.
    pub loaded: Vec<String>,
    /// Drivers whose component or manifest changed, now running the new one.
    pub replaced: Vec<String>,
    /// Drivers whose files went, now unloaded.
    pub removed: Vec<String>,
    /// Drivers whose files went but that networks still use: kept loaded, with why.
    pub kept: Vec<(String, String)>,
    /// Folder entries that could not be loaded, with why.
    pub failed: Vec<(String, String)>,
}

struct Entry {
    driver: LoadedDriver,
    source: Source,
    digest: String,
    manifest_text: String,
}

/// A folder driver read from disk, ready to load.
struct Found {
    wasm_path: PathBuf,
    wasm: Vec<u8>,
    digest: String,
    manifest: Manifest,
    manifest_text: String,
}

/// The drivers of one controller. Changes are serialized.
pub struct DriverSet {
    runtime: Runtime,
    controller: Controller,
    folder: Option<PathBuf>,
    entries: tokio::sync::Mutex<BTreeMap<(String, DriverKind), Entry>>,
    /// The folder's entries the last scan could not load, with why.
    failed: std::sync::Mutex<BTreeMap<String, String>>,
}

fn builtin_name(name: &str) -> bool {
    crate::is_builtin(None, name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn register(controller: &Controller, d: &LoadedDriver) {
    match d {
        LoadedDriver::Network(n) => controller.replace_driver(&n.manifest().name, n.clone()),
        LoadedDriver::Ipam(i) => controller.replace_ipam_driver(&i.manifest().name, i.clone()),
    }
}

async fn unregister(controller: &Controller, d: &LoadedDriver) -> Result<(), wnet_core::Error> {
    match d {
        LoadedDriver::Network(n) => controller.unregister_driver(&n.manifest().name).await,
        LoadedDriver::Ipam(i) => controller.unregister_ipam_driver(&i.manifest().name).await,
    }
}

impl DriverSet {
    /// An empty set for `controller`, with drivers from `runtime` and, if given, the
    /// folder `folder` (which need not exist until something is installed).
    pub fn new(runtime: Runtime, controller: Controller, folder: Option<PathBuf>) -> Self {
        DriverSet {
            runtime,
            controller,
            folder,
            entries: tokio::sync::Mutex::default(),
            failed: std::sync::Mutex::default(),
        }
    }

    /// The drivers folder.
    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// Loads and registers the built-ins `wanted` accepts by kind and name (once each).
    pub async fn load_builtins(
        &self,
        wanted: impl Fn(DriverKind, &str) -> bool,
    ) -> Result<(), LoadError> {
        let mut entries = self.entries.lock().await;
        let loaded = crate::load_some(&self.runtime, |kind, name| {
            wanted(kind, name) && !entries.contains_key(&(name.to_owned(), kind))
        })
        .await?;
        for (b, driver) in loaded {
            register(&self.controller, &driver);
            let m = driver.manifest();
            entries.insert(
                (m.name.clone(), m.kind),
                Entry {
                    driver,
                    source: Source::Builtin,
                    digest: b.digest.to_owned(),
                    manifest_text: b.manifest.to_owned(),
                },
            );
        }
        Ok(())
    }

    /// Loads the folder's drivers whose name `wanted` accepts; what cannot be loaded
    /// is logged and returned, and the rest still loads.
    pub async fn load_folder(&self, wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        let mut entries = self.entries.lock().await;
        for (name, found) in self.scan(&mut failed) {
            if !wanted(&name) {
                continue;
            }
            match self.start(found).await {
                Ok(entry) => {
                    register(&self.controller, &entry.driver);
                    let kind = entry.driver.manifest().kind;
                    entries.insert((name, kind), entry);
                }
                Err(e) => failed.push((name, e.to_string())),
            }
        }
        for (name, why) in &failed {
            tracing::error!(driver = %name, "driver in the drivers folder not loaded: {why}");
        }
        self.set_failed(&failed);
        failed
    }

    fn set_failed(&self, failed: &[(String, String)]) {
        *self.failed.lock().unwrap_or_else(PoisonError::into_inner) =
            failed.iter().cloned().collect();
    }

    /// The folder's drivers the last scan could not load, with why.
    pub fn failed(&self) -> Vec<(String, String)> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(n, why)| (n.clone(), why.clone()))
            .collect()
    }

    /// Rescans the folder: loads new drivers, replaces changed ones, unloads those
    /// whose files went (unless networks use them). Logs every change.
    pub async fn reload(&self) -> Reload {
        let mut report = Reload::default();
        let mut entries = self.entries.lock().await;
        let found = self.scan(&mut report.failed);
        let gone: Vec<(String, DriverKind)> = entries
            .iter()
            .filter(|((name, _), e)| {
                matches!(e.source, Source::Folder(_)) && !found.contains_key(name)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            match unregister(&self.controller, &entries[&key].driver).await {
                Ok(()) => {
                    entries.remove(&key);
                    report.removed.push(key.0);
                }
                Err(e) => report.kept.push((key.0, e.to_string())),
            }
        }
        for (name, f) in found {
            let current = entries
                .iter()
                .find(|((n, _), e)| *n == name && matches!(e.source, Source::Folder(_)))
                .map(|(k, e)| {
                    (
                        k.clone(),
                        e.digest == f.digest && e.manifest_text == f.manifest_text,
                    )
                });
            if let Some((_, true)) = current {
                continue;
            }
            if let Some((key, false)) = &current
                && key.1 != f.manifest.kind
                && !self
                    .controller
                    .networks_using(key.1 == DriverKind::Ipam, &name)
                    .is_empty()
            {
                report.failed.push((
                    name,
                    format!(
                        "its kind changed from {} to {} while networks use it",
                        key.1, f.manifest.kind
                    ),
                ));
                continue;
            }
            match self.start(f).await {
                Ok(entry) => {
                    if let Some((key, _)) = &current {
                        if let Some(old) = entries.remove(key)
                            && key.1 != entry.driver.manifest().kind
                        {
                            let _ = unregister(&self.controller, &old.driver).await;
                        }
                        report.replaced.push(name.clone());
                    } else {
                        report.loaded.push(name.clone());
                    }
                    register(&self.controller, &entry.driver);
                    let kind = entry.driver.manifest().kind;
                    entries.insert((name, kind), entry);
                }
                Err(e) => report.failed.push((name, e.to_string())),
            }
        }
        for n in &report.loaded {
            tracing::info!(driver = %n, "driver loaded from the drivers folder");
        }
        for n in &report.replaced {
            tracing::info!(driver = %n, "driver replaced by the folder's new version");
        }
        for n in &report.removed {
            tracing::info!(driver = %n, "driver unloaded: its files are gone");
        }
        for (n, why) in &report.kept {
            tracing::warn!(driver = %n, "driver's files are gone but it stays loaded: {why}");
        }
        for (n, why) in &report.failed {
            tracing::error!(driver = %n, "driver in the drivers folder not loaded: {why}");
        }
        self.set_failed(&report.failed);
        report
    }

    /// Validates a component with its manifest by loading it, copies both into the
    /// folder as `NAME.wasm` and `NAME.toml` (the manifest's name, or `name`), and
    /// registers it. Returns the name.
    pub async fn install(
        &self,
        wasm_path: &Path,
        manifest_path: Option<&Path>,
        name: Option<&str>,
    ) -> Result<String, SetError> {
        let folder = self.folder.clone().ok_or(SetError::NoFolder)?;
        let wasm = std::fs::read(wasm_path).map_err(io(wasm_path))?;
        let manifest_path = match manifest_path {
            Some(p) => p.to_owned(),
            None => {
                let beside = wasm_path.with_extension("toml");
                if !beside.exists() {
                    return Err(SetError::NoManifest(wasm_path.display().to_string()));
                }
                beside
            }
        };
        let mut manifest_text =
            std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
        let mut manifest = Manifest::parse(&manifest_text).map_err(LoadError::from)?;
        if let Some(name) = name
            && name != manifest.name
        {
            // It parsed as a manifest, so it is a TOML table.
            let mut table: toml::Table = manifest_text.parse().map_err(|e: toml::de::Error| {
                LoadError::from(ManifestError::Parse(e.to_string()))
            })?;
            table.insert("name".to_owned(), toml::Value::String(name.to_owned()));
            manifest_text = table.to_string();
            // Parsed again, so that the new name is checked as any manifest's is.
            manifest = Manifest::parse(&manifest_text).map_err(LoadError::from)?;
        }
        let name = manifest.name.clone();
        if builtin_name(&name) {
            return Err(SetError::Exists(name));
        }
        let mut entries = self.entries.lock().await;
        let target = folder.join(format!("{name}.wasm"));
        if entries.keys().any(|(n, _)| *n == name) || target.exists() {
            return Err(SetError::Exists(name));
        }
        let entry = self
            .start(Found {
                wasm_path: target.clone(),
                digest: sha256_hex(&wasm),
                wasm: wasm.clone(),
                manifest,
                manifest_text,
            })
            .await?;
        std::fs::create_dir_all(&folder).map_err(io(&folder))?;
        // The manifest first: a rescan keys on `.wasm` files, so it never sees a
        // component without its manifest. Each lands whole, by rename.
        let toml_path = folder.join(format!("{name}.toml"));
        write_whole(&toml_path, entry.manifest_text.as_bytes())?;
        if let Err(e) = write_whole(&target, &wasm) {
            let _ = std::fs::remove_file(&toml_path);
            return Err(e);
        }
        register(&self.controller, &entry.driver);
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name);
        tracing::info!(driver = %name, path = %target.display(), "driver installed");
        let kind = entry.driver.manifest().kind;
        entries.insert((name.clone(), kind), entry);
        Ok(name)
    }

    /// Unloads a folder driver and deletes its files; refused for built-ins and while
    /// networks use it.
    pub async fn remove(&self, name: &str) -> Result<(), SetError> {
        let mut entries = self.entries.lock().await;
        let key = entries
            .keys()
            .find(|(n, _)| n == name)
            .cloned()
            .ok_or_else(|| SetError::NotFound(name.to_owned()))?;
        let Source::Folder(wasm_path) = entries[&key].source.clone() else {
            return Err(SetError::Builtin(name.to_owned()));
        };
        unregister(&self.controller, &entries[&key].driver).await?;
        if let Err(e) = std::fs::remove_file(&wasm_path).map_err(io(&wasm_path)) {
            register(&self.controller, &entries[&key].driver);
            return Err(e);
        }
        let _ = std::fs::remove_file(wasm_path.with_extension("toml"));
        entries.remove(&key);
        tracing::info!(driver = %name, "driver removed");
        Ok(())
    }

    /// Lets a quarantined driver (every kind of that name) run again; whether any was
    /// quarantined.
    pub async fn enable(&self, name: &str) -> Result<bool, SetError> {
        let entries = self.entries.lock().await;
        let mut found = false;
        let mut was = false;
        for ((n, _), e) in entries.iter() {
            if n == name {
                found = true;
                was |= e.driver.enable();
            }
        }
        if !found {
            return Err(SetError::NotFound(name.to_owned()));
        }
        tracing::info!(driver = %name, was_quarantined = was, "driver enabled");
        Ok(was)
    }

    /// After a restart, once the drivers are loaded: replays IPAM requests for the
    /// IPAM drivers that keep no state, removes sandboxes whose namespace is gone and
    /// namespaces no sandbox owns, deletes links a crash left unrecorded, and asks the
    /// drivers whose links went missing (a bridge deleted by hand) to restore their
    /// networks. One commit. Returns every repair, one line each; each is logged.
    pub async fn reconcile(&self) -> Vec<String> {
        let result = wnet_core::store::operation(async {
            let mut repairs = match self.controller.replay_ipam().await {
                Ok(r) => r,
                Err(e) => vec![format!("IPAM replay failed: {e}")],
            };
            repairs.extend(self.controller.reconcile_sandboxes().await);
            let sandboxes: Vec<String> = self
                .controller
                .sandboxes()?
                .iter()
                .map(|s| s.id().to_owned())
                .collect();
            let (links, missing) = self.runtime.reconcile_links(&sandboxes).await;
            repairs.extend(links);
            repairs.extend(self.runtime.reconcile_firewall().await);
            for driver in missing {
                repairs.extend(self.controller.restore_networks(&driver).await);
            }
            Ok::<_, wnet_core::Error>(repairs)
        })
        .await;
        result.unwrap_or_else(|e| vec![format!("recording the repairs failed: {e}")])
    }

    /// Every loaded driver, by name.
    pub async fn list(&self) -> Vec<DriverInfo> {
        let entries = self.entries.lock().await;
        entries
            .iter()
            .map(|((name, kind), e)| DriverInfo {
                driver: e.driver.clone(),
                source: e.source.clone(),
                digest: e.digest.clone(),
                networks: self
                    .controller
                    .networks_using(*kind == DriverKind::Ipam, name),
            })
            .collect()
    }

    /// The folder's drivers that read whole, by name; what does not goes to `failed`.
    fn scan(&self, failed: &mut Vec<(String, String)>) -> BTreeMap<String, Found> {
        let mut found = BTreeMap::new();
        let Some(folder) = &self.folder else {
            return found;
        };
        let dir = match std::fs::read_dir(folder) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return found,
            Err(e) => {
                failed.push((folder.display().to_string(), e.to_string()));
                return found;
            }
        };
        for path in dir.filter_map(Result::ok).map(|e| e.path()) {
            if path.extension().is_none_or(|e| e != "wasm") {
                continue;
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read_found(&path, &name) {
                Ok(f) => {
                    found.insert(name, f);
                }
                Err(why) => failed.push((name, why)),
            }
        }
        found
    }

    async fn start(&self, f: Found) -> Result<Entry, LoadError> {
        let driver = self
            .runtime
            .load_digested(&f.wasm, &f.digest, f.manifest)
            .await?;
        Ok(Entry {
            driver,
            source: Source::Folder(f.wasm_path),
            digest: f.digest,
            manifest_text: f.manifest_text,
        })
    }
}

fn read_found(path: &Path, name: &str) -> Result<Found, String> {
    let toml_path = path.with_extension("toml");
    let manifest_text = std::fs::read_to_string(&toml_path).map_err(|e| {
        format!(
            "{}: {e} (each NAME.wasm needs its NAME.toml)",
            toml_path.display()
        )
    })?;
    let manifest =
        Manifest::parse(&manifest_text).map_err(|e| format!("{}: {e}", toml_path.display()))?;
    if manifest.name != name {
        return Err(format!(
            "{} names the driver `{}`, but its file is {name}.wasm: the two must agree",
            toml_path.display(),
            manifest.name
        ));
    }
    if builtin_name(name) {
        return Err(format!(
            "`{name}` is the name of a built-in driver: install it under another name"
        ));
    }
    let wasm = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Found {
        wasm_path: path.to_owned(),
        digest: sha256_hex(&wasm),
        wasm,
        manifest,
        manifest_text,
    })
}

/// Writes `path` whole or not at all: into a temporary file beside it, then renamed.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), SetError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path)(e)
    })
}
