//! `wnet`: container networking with sandboxed WebAssembly drivers.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage drivers.
    Driver {
        #[command(subcommand)]
        command: DriverCommand,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
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
