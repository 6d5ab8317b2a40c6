//! wnet's settings: built-in defaults, overridden by the config file (TOML, `--config`,
//! default `/etc/wnet/wnet.toml` when it exists), overridden by flags and environment.
//! Unknown keys in the file are errors, so that a typo is never silently ignored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use wnet_core::AddressPool;
use wnet_core::types::IpNet;
use wnet_runtime::{Limits, RuntimeConfig};

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/wnet/wnet.toml";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/wnet";
/// The default compile cache: drivers' native code, made from their components at
/// first use and kept across data directories (it is derived, never state).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/wnet";
/// The default run directory.
pub const DEFAULT_RUN_DIR: &str = "/run/wnet";
/// The default drivers folder.
pub const DEFAULT_DRIVERS_DIR: &str = "/etc/wnet/drivers";

/// The config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct File {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--run-dir`.
    pub run_dir: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// The daemon's socket (`wnet daemon --socket`); default `<run-dir>/wnet.sock`.
    pub socket: Option<PathBuf>,
    /// `--drivers-dir`.
    pub drivers_dir: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// Whether drivers get the firewall (wnet's nftables table); default true, as
    /// Docker's `iptables`.
    pub firewall: Option<bool>,
    /// Docker's `default-address-pools`: where networks without `--subnet` take theirs.
    #[serde(default)]
    pub default_address_pools: Vec<PoolEntry>,
    /// Docker's remote plugin protocol (`wnet daemon --docker-plugin`).
    #[serde(default)]
    pub docker_plugin: DockerPluginEntry,
    /// Limits of drivers whose manifest sets none.
    #[serde(default)]
    pub limits: LimitsEntry,
    /// The most a driver's manifest may ask for.
    #[serde(default)]
    pub ceilings: LimitsEntry,
}

/// The `[docker-plugin]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DockerPluginEntry {
    /// `--docker-plugin`: the plugin's name; none serves no plugin.
    pub name: Option<String>,
    /// `--docker-plugin-dir`.
    pub dir: Option<PathBuf>,
    /// `--docker-plugin-driver`.
    pub driver: Option<String>,
}

/// Where dockerd looks for plugins' sockets.
pub const DEFAULT_DOCKER_PLUGIN_DIR: &str = "/run/docker/plugins";
/// The wnet driver of Docker networks that name none (`-o wnet.driver=`).
pub const DEFAULT_DOCKER_PLUGIN_DRIVER: &str = "bridge";

/// How the daemon serves Docker's remote plugin protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPlugin {
    /// The plugin's name: `docker network create -d NAME`; its socket is `<dir>/NAME.sock`.
    pub name: Option<String>,
    /// Where dockerd finds plugins' sockets.
    pub dir: PathBuf,
    /// The wnet driver of Docker networks whose options name none.
    pub driver: String,
}

/// One `[[default-address-pools]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolEntry {
    /// The range, in CIDR form.
    pub base: String,
    /// The prefix length of each network's subnet.
    pub size: u8,
}

/// A `[limits]` or `[ceilings]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsEntry {
    /// Linear memory, MiB.
    pub memory_mib: Option<u64>,
    /// The deadline of one driver call, milliseconds.
    pub call_timeout_ms: Option<u64>,
    /// The most time a driver's calls take during one operation, milliseconds.
    pub operation_timeout_ms: Option<u64>,
    /// The most entries of a list or map in one driver answer.
    pub answer_items: Option<u64>,
    /// The most bytes of a string in one driver answer.
    pub answer_bytes: Option<u64>,
    /// The most host calls in one driver call.
    pub host_calls: Option<u64>,
    /// The most log lines a driver writes per second.
    pub log_lines_per_second: Option<u64>,
}

/// A count limit from the file: at least `least` (less would refuse ordinary driver
/// answers or calls), and within what the limit's type holds.
fn at_least<T: TryFrom<u64>>(key: &str, n: u64, least: u64) -> anyhow::Result<T> {
    if n < least {
        bail!("{key} = {n}: too small for an ordinary driver; give {least} or more");
    }
    T::try_from(n)
        .ok()
        .with_context(|| format!("{key} = {n} is too large"))
}

impl LimitsEntry {
    fn apply(&self, mut limits: Limits) -> anyhow::Result<Limits> {
        if let Some(mib) = self.memory_mib {
            limits.memory_bytes = usize::try_from(mib)
                .ok()
                .and_then(|m| m.checked_mul(1 << 20))
                .with_context(|| format!("memory-mib = {mib} is too large"))?;
        }
        if let Some(ms) = self.call_timeout_ms {
            if ms == 0 {
                bail!("call-timeout-ms = 0: a driver call needs some time; give 1 or more");
            }
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.operation_timeout_ms {
            if ms == 0 {
                bail!("operation-timeout-ms = 0: a driver's calls need some time; give 1 or more");
            }
            limits.operation_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = self.answer_items {
            limits.answer_items = at_least("answer-items", n, 16)?;
        }
        if let Some(n) = self.answer_bytes {
            limits.answer_bytes = at_least("answer-bytes", n, 256)?;
        }
        if let Some(n) = self.host_calls {
            limits.host_calls = at_least("host-calls", n, 16)?;
        }
        if let Some(n) = self.log_lines_per_second {
            limits.log_lines_per_second = at_least("log-lines-per-second", n, 1)?;
        }
        Ok(limits)
    }
}

/// Everything a command needs to know of where and how wnet runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The store.
    pub data_dir: PathBuf,
    /// Drivers compiled to native code, keyed by component and engine.
    pub cache_dir: PathBuf,
    /// Sandboxes' namespace files (`<run>/netns/NAME`).
    pub run_dir: PathBuf,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// Drivers installed beside the built-ins: `NAME.wasm` with `NAME.toml`.
    pub drivers_dir: PathBuf,
    /// The tracing filter.
    pub log_level: String,
    /// Docker's `default-address-pools`.
    pub default_address_pools: Vec<AddressPool>,
    /// Drivers get the firewall capability.
    pub firewall: bool,
    /// Docker's remote plugin protocol.
    pub docker_plugin: DockerPlugin,
    /// Limits of drivers whose manifest sets none.
    pub default_limits: Limits,
    /// The most a manifest may ask for.
    pub ceilings: Limits,
}

/// What flags and environment gave; `None` where they are silent.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--config`: the file must exist.
    pub config: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--run-dir`.
    pub run_dir: Option<PathBuf>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--drivers-dir`.
    pub drivers_dir: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

impl Settings {
    /// Flags over the config file over the defaults.
    pub fn resolve(o: Overrides) -> anyhow::Result<Settings> {
        let file = match &o.config {
            Some(path) => read(path)?,
            None if Path::new(DEFAULT_CONFIG).exists() => read(Path::new(DEFAULT_CONFIG))?,
            None => File::default(),
        };
        let origin = o
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        Self::from_file(file, o, &origin)
    }

    /// Flags over `file` (the config file at `origin`, named in errors) over the
    /// defaults; every value checked.
    pub fn from_file(file: File, o: Overrides, origin: &Path) -> anyhow::Result<Settings> {
        let run_dir = o
            .run_dir
            .or(file.run_dir)
            .unwrap_or_else(|| DEFAULT_RUN_DIR.into());
        let mut default_address_pools = Vec::new();
        for p in &file.default_address_pools {
            let base = cidr(&p.base).map_err(|e| {
                anyhow::anyhow!("{}: default-address-pools base {e}", origin.display())
            })?;
            default_address_pools.push(
                AddressPool::new(base, p.size).with_context(|| format!("{}", origin.display()))?,
            );
        }
        let defaults = RuntimeConfig::default();
        let default_limits = file
            .limits
            .apply(defaults.default_limits)
            .with_context(|| format!("{}: [limits]", origin.display()))?;
        let ceilings = file
            .ceilings
            .apply(defaults.ceilings)
            .with_context(|| format!("{}: [ceilings]", origin.display()))?;
        let (d, c) = (&default_limits, &ceilings);
        let over: Vec<String> = [
            (
                "memory-mib",
                (d.memory_bytes >> 20) as u128,
                (c.memory_bytes >> 20) as u128,
            ),
            (
                "call-timeout-ms",
                d.call_timeout.as_millis(),
                c.call_timeout.as_millis(),
            ),
            (
                "operation-timeout-ms",
                d.operation_timeout.as_millis(),
                c.operation_timeout.as_millis(),
            ),
            (
                "answer-items",
                d.answer_items as u128,
                c.answer_items as u128,
            ),
            (
                "answer-bytes",
                d.answer_bytes as u128,
                c.answer_bytes as u128,
            ),
            ("host-calls", d.host_calls.into(), c.host_calls.into()),
            (
                "log-lines-per-second",
                d.log_lines_per_second.into(),
                c.log_lines_per_second.into(),
            ),
        ]
        .into_iter()
        .filter(|(_, limit, ceiling)| limit > ceiling)
        .map(|(key, limit, ceiling)| format!("{key} = {limit} (ceiling {ceiling})"))
        .collect();
        if !over.is_empty() {
            bail!(
                "{}: the default [limits] exceed the [ceilings]: {}: lower the limits or raise the ceilings",
                origin.display(),
                over.join(", ")
            );
        }
        Ok(Settings {
            data_dir: o
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            cache_dir: o
                .cache_dir
                .or(file.cache_dir)
                .unwrap_or_else(|| DEFAULT_CACHE_DIR.into()),
            socket: file.socket.unwrap_or_else(|| run_dir.join("wnet.sock")),
            run_dir,
            drivers_dir: o
                .drivers_dir
                .or(file.drivers_dir)
                .unwrap_or_else(|| DEFAULT_DRIVERS_DIR.into()),
            log_level: o
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "warn".to_owned()),
            default_address_pools,
            firewall: file.firewall.unwrap_or(true),
            docker_plugin: DockerPlugin {
                name: file.docker_plugin.name,
                dir: file
                    .docker_plugin
                    .dir
                    .unwrap_or_else(|| DEFAULT_DOCKER_PLUGIN_DIR.into()),
                driver: file
                    .docker_plugin
                    .driver
                    .unwrap_or_else(|| DEFAULT_DOCKER_PLUGIN_DRIVER.into()),
            },
            default_limits,
            ceilings,
        })
    }
}

/// A prefix in CIDR form, with a message that says what is wrong with it.
pub fn cidr(s: &str) -> Result<IpNet, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return Err(format!(
            "{s}: not in CIDR form ADDRESS/LENGTH, as 10.1.0.0/16"
        ));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s}: `{addr}` is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("{s}: prefix length must be 0–{max}"))?;
    IpNet::new(addr, len).map_err(|e| format!("{s}: {e}"))
}

fn read(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "config file {}: {}",
            path.display(),
            e.to_string().trim_end()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Settings> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("wnet-config-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text)?;
        let s = Settings::resolve(Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        });
        let _ = std::fs::remove_file(&path);
        s
    }

    #[test]
    fn a_typo_is_an_error_that_names_the_key() {
        let e = parse("data-dri = \"/x\"\n").unwrap_err().to_string();
        assert!(e.contains("data-dri"), "{e}");
    }

    #[test]
    fn the_file_sets_and_flags_win() {
        let s = parse(
            "data-dir = \"/d\"\ncache-dir = \"/c\"\nrun-dir = \"/r\"\nlog-level = \"info\"\n\
             [[default-address-pools]]\nbase = \"10.200.0.0/16\"\nsize = 24\n\
             [limits]\nmemory-mib = 32\ncall-timeout-ms = 500\noperation-timeout-ms = 2000\n",
        )
        .unwrap();
        assert_eq!(s.data_dir, Path::new("/d"));
        assert_eq!(s.cache_dir, Path::new("/c"));
        assert_eq!(s.socket, Path::new("/r/wnet.sock"));
        assert_eq!(s.log_level, "info");
        assert_eq!(s.default_address_pools[0].size, 24);
        assert_eq!(s.default_limits.memory_bytes, 32 << 20);
        assert_eq!(s.default_limits.call_timeout, Duration::from_millis(500));
        assert_eq!(
            s.default_limits.operation_timeout,
            Duration::from_millis(2000)
        );
    }

    #[test]
    fn the_docker_plugin_is_off_unless_named_and_its_table_is_checked() {
        let s = parse("").unwrap();
        assert_eq!(
            s.docker_plugin,
            DockerPlugin {
                name: None,
                dir: DEFAULT_DOCKER_PLUGIN_DIR.into(),
                driver: DEFAULT_DOCKER_PLUGIN_DRIVER.into(),
            }
        );
        let s = parse("[docker-plugin]\nname = \"wnet\"\ndir = \"/p\"\ndriver = \"macvlan\"\n")
            .unwrap();
        assert_eq!(
            s.docker_plugin,
            DockerPlugin {
                name: Some("wnet".into()),
                dir: "/p".into(),
                driver: "macvlan".into(),
            }
        );
        let e = parse("[docker-plugin]\nnmae = \"wnet\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nmae"), "{e}");
    }

    #[test]
    fn the_compile_cache_is_its_own_folder_by_default() {
        let s = parse("data-dir = \"/d\"\n").unwrap();
        assert_eq!(s.cache_dir, Path::new(DEFAULT_CACHE_DIR));
    }

    #[test]
    fn bad_values_are_refused_with_the_value() {
        let e =
            parse("[[default-address-pools]]\nbase = \"10.200.0.0/16\"\nsize = 8\n").unwrap_err();
        assert!(format!("{e:#}").contains("/8"), "{e:#}");
        let e =
            parse("[[default-address-pools]]\nbase = \"10.200.0/16\"\nsize = 24\n").unwrap_err();
        assert!(format!("{e:#}").contains("10.200.0/16"), "{e:#}");
        let e = parse("[limits]\nmemory-mib = 4096\n").unwrap_err();
        assert!(format!("{e:#}").contains("ceilings"), "{e:#}");
        assert!(
            format!("{e:#}").contains("memory-mib = 4096 (ceiling 1024)"),
            "names the limit over its ceiling: {e:#}"
        );
        let e = parse("[limits]\noperation-timeout-ms = 700000\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("operation-timeout-ms = 700000 (ceiling 600000)"),
            "{e:#}"
        );
        let e = parse("[limits]\nanswer-items = 3\n").unwrap_err();
        assert!(format!("{e:#}").contains("answer-items = 3"), "{e:#}");
        let e = parse("[ceilings]\nanswer-bytes = 1000\n").unwrap_err();
        assert!(format!("{e:#}").contains("ceilings"), "{e:#}");
        let s = parse("[limits]\nanswer-items = 64\nanswer-bytes = 4096\n").unwrap();
        assert_eq!(
            (s.default_limits.answer_items, s.default_limits.answer_bytes),
            (64, 4096)
        );
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        let e = Settings::resolve(Overrides {
            config: Some("/nonexistent/wnet.toml".into()),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/wnet.toml"));
    }
}
