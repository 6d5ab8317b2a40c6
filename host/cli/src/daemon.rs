//! `wnet daemon`: the API on a Unix socket, over one controller with every built-in
//! driver and the drivers folder's loaded; SIGHUP rescans the drivers folder; SIGTERM
//! or SIGINT stops taking connections, lets the requests in flight finish, and exits.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Settings;
use crate::local::{EngineStart, Local};

/// Serves until told to stop, on `engine` if it was started early.
pub fn run(
    settings: &Settings,
    socket: &Path,
    engine: Option<EngineStart>,
) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(settings, socket, engine))
}

async fn serve(
    settings: &Settings,
    socket: &Path,
    engine: Option<EngineStart>,
) -> anyhow::Result<ExitCode> {
    if tokio::net::UnixStream::connect(socket).await.is_ok() {
        bail!(
            "a wnet daemon already answers on {}: stop it first, or give another --socket",
            socket.display()
        );
    }
    let lock = crate::local::wait_lock(settings)?;
    let local = Local::open(settings, lock, None, engine).await?;
    let listener = bind(socket)?;
    tracing::info!(socket = %socket.display(), "wnet daemon serving");
    let mut hup = signal(SignalKind::hangup())?;
    let drivers = local.drivers.clone();
    let reloads = tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: rescanning the drivers folder");
            drivers.reload().await;
        }
    });
    let plugin = match &settings.docker_plugin.name {
        Some(name) => Some(docker_listener(settings, name)?),
        None => None,
    };
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let stop = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: finishing the requests in flight");
        let _ = stopping.send(true);
    };
    let signalled = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api = axum::serve(listener, crate::api::router(local.api()))
        .with_graceful_shutdown(signalled(stopped.clone()));
    let docker = async {
        let Some((listener, path, name)) = plugin else {
            return Ok(());
        };
        let router = crate::docker::router(crate::docker::Plugin {
            controller: local.controller.clone(),
            name: name.clone(),
            default_driver: settings.docker_plugin.driver.clone(),
        });
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(signalled(stopped.clone()))
            .await;
        // A socket left behind costs dockerd ~15 s of retries per call; gone, dockerd
        // says at once that the plugin is not there.
        let _ = std::fs::remove_file(&path);
        served.with_context(|| format!("serving Docker plugin `{name}`"))
    };
    let (api, docker, ()) = tokio::join!(api, docker, stop);
    api.context("serving the API")?;
    docker?;
    reloads.abort();
    let _ = std::fs::remove_file(socket);
    local.finish();
    Ok(ExitCode::SUCCESS)
}

/// The Docker plugin's socket, `<dir>/NAME.sock`, listening.
fn docker_listener(
    settings: &Settings,
    name: &str,
) -> anyhow::Result<(UnixListener, std::path::PathBuf, String)> {
    if !wnet_core::valid_name(name) {
        bail!(
            "Docker plugin name `{name}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, as `wnet`"
        );
    }
    let path = settings.docker_plugin.dir.join(format!("{name}.sock"));
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        bail!(
            "something already answers on {}: another plugin named `{name}`; stop it, or give another --docker-plugin",
            path.display()
        );
    }
    let listener = bind(&path)?;
    tracing::info!(socket = %path.display(), plugin = name, "serving Docker's remote plugin protocol");
    Ok((listener, path, name.to_owned()))
}

/// A listener on the Unix socket `path`, its folder made. The caller has found that
/// nothing answers there, so a socket file left at `path` is a dead daemon's, and goes.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))
}
