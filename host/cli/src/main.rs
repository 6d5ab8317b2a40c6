//! `wnet`: container networking with sandboxed WebAssembly drivers.

mod api;
mod backend;
mod commands;
mod daemon;
mod docker;
mod local;

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{CommandFactory, Parser, Subcommand};
use wnet_cli::config;
use wnet_runtime::DriverKind;

/// wnet's version line: the binary, the driver contract and the WASM engine.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (driver contract wnet:driver@0.1.0, wasmtime 48.0.8)"
);

#[derive(Parser)]
#[command(name = "wnet", version = VERSION, about = "Container networking with sandboxed WebAssembly drivers")]
struct Cli {
    /// The config file (TOML); default /etc/wnet/wnet.toml when it exists. Flags and
    /// environment override what it sets.
    #[arg(long, global = true, env = "WNET_CONFIG")]
    config: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace (or a RUST_LOG-style filter);
    /// default warn.
    #[arg(long, global = true, env = "WNET_LOG")]
    log_level: Option<String>,

    /// Where wnet keeps its store; default /var/lib/wnet.
    #[arg(long, global = true, env = "WNET_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Where wnet keeps drivers compiled to native code (made at a driver's first
    /// use, shared by every data directory); default /var/cache/wnet.
    #[arg(long, global = true, env = "WNET_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Where wnet puts sandboxes' namespace files (`<run-dir>/netns/NAME`) and the
    /// daemon's socket (`<run-dir>/wnet.sock`); default /run/wnet.
    #[arg(long, global = true, env = "WNET_RUN_DIR")]
    run_dir: Option<PathBuf>,

    /// The folder of installed drivers (`NAME.wasm` with `NAME.toml`), loaded beside
    /// the built-ins; default /etc/wnet/drivers.
    #[arg(long, global = true, env = "WNET_DRIVERS_DIR")]
    drivers_dir: Option<PathBuf>,

    /// The daemon to use, as unix:///PATH. Without it, the daemon at
    /// `<run-dir>/wnet.sock` if one answers, else wnet runs in this process.
    #[arg(long, global = true, env = "WNET_HOST")]
    host: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage networks (as `docker network`).
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Manage sandboxes: network namespaces, for people without a container engine.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Manage drivers.
    Driver {
        #[command(subcommand)]
        command: DriverCommand,
    },
    /// Serve the API on a Unix socket, with the built-in drivers and the drivers
    /// folder's loaded; SIGHUP rescans the folder, SIGTERM stops after the requests in
    /// flight. Reconciles the kernel with its records at start.
    Daemon {
        /// The socket; default the config file's `socket`, else `<run-dir>/wnet.sock`.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Also serve Docker's remote network and IPAM plugin protocol as plugin NAME
        /// (`docker network create -d NAME --ipam-driver NAME`), on
        /// `<docker-plugin-dir>/NAME.sock`; default the config's `[docker-plugin] name`.
        #[arg(long, value_name = "NAME")]
        docker_plugin: Option<String>,
        /// Where dockerd looks for plugins' sockets; default /run/docker/plugins.
        #[arg(long, value_name = "DIR")]
        docker_plugin_dir: Option<PathBuf>,
        /// The wnet driver of Docker networks that name none with `-o wnet.driver=`;
        /// default bridge.
        #[arg(long, value_name = "DRIVER")]
        docker_plugin_driver: Option<String>,
    },
    /// Print a shell completion script (source it, or put it where your shell looks).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from this command's definition.
    Man,
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Create a network; prints its id.
    Create(commands::network::CreateArgs),
    /// List networks.
    Ls(commands::network::LsArgs),
    /// Show networks in detail, as JSON.
    Inspect {
        /// Names or ids.
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks (refused while they have endpoints).
    Rm {
        /// Names or ids.
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove every network without endpoints.
    Prune {
        /// Do not ask (wnet never asks; accepted for Docker's sake).
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a sandbox to a network.
    Connect(commands::network::ConnectArgs),
    /// Disconnect a sandbox from a network.
    Disconnect(commands::network::DisconnectArgs),
}

impl NetworkCommand {
    /// The drivers the command names (beyond those of existing networks).
    fn drivers(&self) -> Vec<(DriverKind, String)> {
        match self {
            NetworkCommand::Create(a) => vec![
                (DriverKind::Network, a.driver.clone()),
                (
                    DriverKind::Ipam,
                    a.ipam_driver
                        .clone()
                        .unwrap_or_else(|| "default".to_owned()),
                ),
            ],
            _ => Vec::new(),
        }
    }
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Create a sandbox (a new network namespace); prints its path.
    Create {
        /// Its name.
        name: String,
    },
    /// List sandboxes.
    Ls {
        /// Only the names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show sandboxes in detail, as JSON.
    Inspect {
        /// Names.
        #[arg(required = true)]
        sandboxes: Vec<String>,
    },
    /// Remove sandboxes: their endpoints leave and go, and their namespaces if wnet
    /// made them.
    Rm {
        /// Names.
        #[arg(required = true)]
        sandboxes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DriverCommand {
    /// Load a driver component and report its world, contract version, exports and
    /// imports, or exactly what is wrong with it.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Its manifest; default: the `.toml` beside the component, if there is one.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    #[command(flatten)]
    Api(DriverApiCommand),
}

/// The driver commands that go through the API.
#[derive(Subcommand)]
enum DriverApiCommand {
    /// List the loaded drivers: the built-ins and those of the drivers folder.
    Ls(commands::driver::LsArgs),
    /// Show drivers in detail, as JSON: manifest, limits, call counters, networks.
    Inspect {
        /// Names.
        #[arg(required = true)]
        drivers: Vec<String>,
    },
    /// Validate a driver, copy it into the drivers folder and load it (the daemon
    /// loads it without a restart).
    Install(commands::driver::InstallArgs),
    /// Unload drivers and delete them from the drivers folder (refused while a network
    /// uses one).
    Rm {
        /// Names.
        #[arg(required = true)]
        drivers: Vec<String>,
    },
    /// Let quarantined drivers run again (a driver is quarantined after 5 failed
    /// calls in a row).
    Enable {
        /// Names.
        #[arg(required = true)]
        drivers: Vec<String>,
    },
}

/// Runs `f` against the API: the daemon's if one answers (or `--host` names one),
/// else a controller in this process with the drivers the store's networks use and
/// those `named` (every driver when `named` is `None`).
fn with_backend<F, Fut>(
    g: &Globals,
    named: Option<&[(DriverKind, String)]>,
    f: F,
) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Rc<backend::Backend>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    on_backend(g, named, f).map(|()| ExitCode::SUCCESS)
}

/// [`with_backend`], handing back what `f` answers.
fn on_backend<T, F, Fut>(
    g: &Globals,
    named: Option<&[(DriverKind, String)]>,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Rc<backend::Backend>) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let b = Rc::new(
            backend::Backend::open(g.host.as_deref(), &g.settings, named, g.engine.take()).await?,
        );
        // A failed command has rolled its steps back: it too ends cleanly.
        let result = f(b.clone()).await;
        if let Ok(b) = Rc::try_unwrap(b) {
            b.finish();
        }
        result
    })
}

/// The options every command shares.
struct Globals {
    settings: config::Settings,
    host: Option<String>,
    /// The WASM engine, started with the process; taken by the command that opens a
    /// controller here.
    engine: std::cell::Cell<Option<local::EngineStart>>,
}

fn main() -> ExitCode {
    // A CNI runtime runs its plugin with no arguments and CNI_COMMAND set.
    if std::env::args_os().len() == 1 && std::env::var_os("CNI_COMMAND").is_some() {
        return cni_main();
    }
    // Most commands need the engine unless a daemon answers; making it beside the
    // argument parsing and the store's opening takes it off their path. Not when a
    // daemon is named: there the thread would only take a CPU from the daemon.
    let named_host = std::env::var_os("WNET_HOST").is_some()
        || std::env::args_os().any(|a| a == "--host" || a.to_string_lossy().starts_with("--host="));
    let engine = (!named_host).then(local::EngineStart::spawn);
    let cli = Cli::parse();
    let settings = match config::Settings::resolve(config::Overrides {
        config: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        cache_dir: cli.cache_dir.clone(),
        run_dir: cli.run_dir.clone(),
        drivers_dir: cli.drivers_dir.clone(),
        log_level: cli.log_level.clone(),
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wnet: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&settings.log_level);
    let g = Globals {
        settings,
        host: cli.host.clone(),
        engine: std::cell::Cell::new(engine),
    };
    let result = match cli.command {
        Command::Network { command } => {
            with_backend(&g, Some(&command.drivers()), |c| async move {
                use commands::network as n;
                match command {
                    NetworkCommand::Create(a) => n::create(&c, &a).await,
                    NetworkCommand::Ls(a) => n::ls(&c, &a).await,
                    NetworkCommand::Inspect { networks } => n::inspect(&c, &networks).await,
                    NetworkCommand::Rm { networks } => n::rm(&c, &networks).await,
                    NetworkCommand::Prune { force: _ } => n::prune(&c).await,
                    NetworkCommand::Connect(a) => n::connect(&c, &a).await,
                    NetworkCommand::Disconnect(a) => n::disconnect(&c, &a).await,
                }
            })
        }
        Command::Sandbox { command } => with_backend(&g, Some(&[]), |c| async move {
            use commands::sandbox as s;
            match command {
                SandboxCommand::Create { name } => s::create(&c, &name).await,
                SandboxCommand::Ls { quiet } => s::ls(&c, quiet).await,
                SandboxCommand::Inspect { sandboxes } => s::inspect(&c, &sandboxes).await,
                SandboxCommand::Rm { sandboxes } => s::rm(&c, &sandboxes).await,
            }
        }),
        Command::Daemon {
            socket,
            docker_plugin,
            docker_plugin_dir,
            docker_plugin_driver,
        } => {
            let socket = socket.unwrap_or_else(|| g.settings.socket.clone());
            let mut settings = g.settings;
            let plugin = &mut settings.docker_plugin;
            plugin.name = docker_plugin.or(plugin.name.take());
            if let Some(dir) = docker_plugin_dir {
                plugin.dir = dir;
            }
            if let Some(driver) = docker_plugin_driver {
                plugin.driver = driver;
            }
            daemon::run(&settings, &socket, g.engine.take())
        }
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wnet", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                // `wnet man | head` closes the pipe early: not a failure.
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(e.into()),
            }
        }
        Command::Driver { command } => match command {
            DriverCommand::Check { file, manifest } => {
                commands::driver_check::run(&file, manifest.as_deref())
            }
            DriverCommand::Api(command) => with_backend(&g, None, |c| async move {
                use commands::driver as d;
                match command {
                    DriverApiCommand::Ls(a) => d::ls(&c, &a).await,
                    DriverApiCommand::Inspect { drivers } => d::inspect(&c, &drivers).await,
                    DriverApiCommand::Install(a) => d::install(&c, &a).await,
                    DriverApiCommand::Rm { drivers } => d::rm(&c, &drivers).await,
                    DriverApiCommand::Enable { drivers } => d::enable(&c, &drivers).await,
                }
            }),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `wnet` as a CNI plugin: settings from the network configuration, else the `WNET_*`
/// environment (a runtime passes no flags); the result or a CNI error object on
/// stdout.
fn cni_main() -> ExitCode {
    use commands::cni;
    let env = cni::Env::from_process();
    let print = |v: &serde_json::Value| println!("{v}");
    if env.command == "VERSION" {
        print(&cni::version_json());
        return ExitCode::SUCCESS;
    }
    let engine = local::EngineStart::spawn();
    let fail = |e: cni::CniError, version: &str| {
        print(&e.to_json(version));
        ExitCode::FAILURE
    };
    let conf = match cni::stdin_conf().and_then(|t| cni::parse_conf(&t)) {
        Ok(c) => c,
        Err(e) => return fail(e, "1.1.0"),
    };
    // The network configuration first, then the environment: a runtime may call its
    // plugins with an environment of its own.
    let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let settings = match config::Settings::resolve(config::Overrides {
        config: conf.config.clone().or_else(|| var("WNET_CONFIG")),
        data_dir: conf.data_dir.clone().or_else(|| var("WNET_DATA_DIR")),
        run_dir: conf.run_dir.clone().or_else(|| var("WNET_RUN_DIR")),
        cache_dir: conf.cache_dir.clone().or_else(|| var("WNET_CACHE_DIR")),
        drivers_dir: conf.drivers_dir.clone().or_else(|| var("WNET_DRIVERS_DIR")),
        log_level: std::env::var("WNET_LOG").ok(),
    }) {
        Ok(s) => s,
        Err(e) => {
            return fail(cni::CniError::wnet(&e), &conf.cni_version);
        }
    };
    init_logging(&settings.log_level);
    let named = [
        (
            DriverKind::Network,
            conf.driver.clone().unwrap_or_else(|| "bridge".to_owned()),
        ),
        (DriverKind::Ipam, "default".to_owned()),
    ];
    let g = Globals {
        settings,
        host: conf
            .host
            .clone()
            .or_else(|| std::env::var("WNET_HOST").ok()),
        engine: std::cell::Cell::new(Some(engine)),
    };
    let (env, conf) = (&env, &conf);
    let outcome = on_backend(&g, Some(&named), |b| async move {
        Ok(cni::run(&b, env, conf).await)
    });
    match outcome {
        Ok(Ok(Some(result))) => {
            print(&result);
            ExitCode::SUCCESS
        }
        Ok(Ok(None)) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(e, &conf.cni_version),
        Err(e) => fail(cni::CniError::wnet(&e), &conf.cni_version),
    }
}

/// Logs to stderr at `level` (a tracing filter; `warn` when it does not parse).
fn init_logging(level: &str) {
    let fmt = tracing_subscriber::fmt().with_writer(std::io::stderr);
    // A plain level needs no filter directives, whose parsing is a tenth of a
    // millisecond of every one-shot `wnet`.
    if let Ok(level) = level.parse::<tracing_subscriber::filter::LevelFilter>() {
        fmt.with_max_level(level).init();
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    fmt.with_env_filter(filter).init();
}
