//! `wnet`: container networking with sandboxed WebAssembly drivers.

mod api;
mod backend;
mod commands;
mod daemon;
mod local;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// wnet's version line: the binary, the driver contract and the WASM engine.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (driver contract wnet:driver@0.1.0, wasmtime 48.0.8)"
);

#[derive(Parser)]
#[command(name = "wnet", version = VERSION, about = "Container networking with sandboxed WebAssembly drivers")]
struct Cli {
    /// Log level: error, warn, info, debug or trace (or a RUST_LOG-style filter).
    #[arg(long, global = true, default_value = "warn", env = "WNET_LOG")]
    log_level: String,

    /// Where wnet keeps its store and compiled drivers.
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/wnet",
        env = "WNET_DATA_DIR"
    )]
    data_dir: PathBuf,

    /// Where wnet puts sandboxes' namespace files (`<run-dir>/netns/NAME`) and the
    /// daemon's socket (`<run-dir>/wnet.sock`).
    #[arg(long, global = true, default_value = "/run/wnet", env = "WNET_RUN_DIR")]
    run_dir: PathBuf,

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
    /// Serve the API on a Unix socket, with the built-in drivers loaded.
    Daemon {
        /// The socket; default `<run-dir>/wnet.sock`.
        #[arg(long)]
        socket: Option<PathBuf>,
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
    fn drivers(&self) -> Vec<String> {
        match self {
            NetworkCommand::Create(a) => vec![
                a.driver.clone(),
                a.ipam_driver
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
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
    /// List the built-in drivers and those in a drivers folder.
    Ls {
        /// A folder of `NAME.wasm` drivers with their `NAME.toml` manifests.
        #[arg(long)]
        drivers_dir: Option<PathBuf>,
    },
    /// Load a driver component and report its world, contract version, exports and
    /// imports, or exactly what is wrong with it.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Its manifest; default: the `.toml` beside the component, if there is one.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

/// Runs `f` against the API: the daemon's if one answers (or `--host` names one),
/// else a controller in this process with the drivers the store's networks use and
/// those `named`.
fn with_backend<F, Fut>(cli: &Globals, named: &[String], f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(backend::Backend) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let b = backend::Backend::open(cli.host.as_deref(), &cli.socket, &cli.dirs, named).await?;
        f(b).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The options every command shares.
struct Globals {
    dirs: local::Dirs,
    host: Option<String>,
    socket: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let g = Globals {
        dirs: local::Dirs {
            data: cli.data_dir.clone(),
            run: cli.run_dir.clone(),
        },
        host: cli.host.clone(),
        socket: cli.run_dir.join("wnet.sock"),
    };
    let result = match cli.command {
        Command::Network { command } => with_backend(&g, &command.drivers(), |c| async move {
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
        }),
        Command::Sandbox { command } => with_backend(&g, &[], |c| async move {
            use commands::sandbox as s;
            match command {
                SandboxCommand::Create { name } => s::create(&c, &name).await,
                SandboxCommand::Ls { quiet } => s::ls(&c, quiet).await,
                SandboxCommand::Inspect { sandboxes } => s::inspect(&c, &sandboxes).await,
                SandboxCommand::Rm { sandboxes } => s::rm(&c, &sandboxes).await,
            }
        }),
        Command::Daemon { socket } => {
            let socket = socket.unwrap_or_else(|| g.socket.clone());
            daemon::run(&g.dirs, &socket)
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
            DriverCommand::Ls { drivers_dir } => commands::driver_ls::run(drivers_dir.as_deref()),
            DriverCommand::Check { file, manifest } => {
                commands::driver_check::run(&file, manifest.as_deref())
            }
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
