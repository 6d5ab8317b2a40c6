//! `wnet daemon`: the API on a Unix socket, over one controller with every built-in
//! driver and the drivers folder's loaded; SIGHUP rescans the drivers folder; SIGTERM
//! or SIGINT stops taking connections, lets the requests in flight finish, and exits.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Settings;
use crate::local::Local;

/// Serves until told to stop.
pub fn run(settings: &Settings, socket: &Path) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(settings, socket))
}

async fn serve(settings: &Settings, socket: &Path) -> anyhow::Result<ExitCode> {
    if tokio::net::UnixStream::connect(socket).await.is_ok() {
        bail!(
            "a wnet daemon already answers on {}: stop it first, or give another --socket",
            socket.display()
        );
    }
    let lock = crate::local::wait_lock(settings)?;
    let local = Local::open(settings, lock, None).await?;
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A socket file nobody answers on is left over from a daemon that died.
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "wnet daemon serving");
    let mut hup = signal(SignalKind::hangup())?;
    let drivers = local.drivers.clone();
    let reloads = tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: rescanning the drivers folder");
            drivers.reload().await;
        }
    });
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: finishing the requests in flight");
    };
    axum::serve(listener, crate::api::router(local.api()))
        .with_graceful_shutdown(stop)
        .await
        .context("serving the API")?;
    reloads.abort();
    let _ = std::fs::remove_file(socket);
    local.finish();
    Ok(ExitCode::SUCCESS)
}
