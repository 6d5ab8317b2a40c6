//! Where a `wnet` command's API calls go: to a running daemon over its socket, or to
//! the same API in this process over a controller of its own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tower::ServiceExt;

use crate::config::Settings;
use crate::local::{EngineStart, Local};

/// How often a command waiting for the data directory looks for a daemon's socket.
const POLL: Duration = Duration::from_millis(20);

/// The API, here or in a daemon.
pub enum Backend {
    /// In this process; holds the data directory's lock.
    Local {
        /// The API's routes over the local controller.
        api: Router,
        /// The controller itself.
        local: Local,
    },
    /// A daemon's socket.
    Remote(PathBuf),
}

/// What `--host` names: `unix:///path`.
pub fn socket_of(host: &str) -> anyhow::Result<PathBuf> {
    host.strip_prefix("unix://")
        .map(PathBuf::from)
        .with_context(|| format!("--host {host}: only unix:///PATH sockets are supported"))
}

impl Backend {
    /// The daemon at `host` if one is given (it must answer), else the daemon at the
    /// default socket if it answers, else a controller in this process with the
    /// drivers the store's networks use and those `named`, on `engine` if it was
    /// started early.
    pub async fn open(
        host: Option<&str>,
        settings: &Settings,
        named: Option<&[(wnet_runtime::DriverKind, String)]>,
        engine: Option<EngineStart>,
    ) -> anyhow::Result<Backend> {
        let default_socket = &settings.socket;
        if let Some(host) = host {
            let path = socket_of(host)?;
            tokio::net::UnixStream::connect(&path).await.with_context(|| {
                format!(
                    "the wnet daemon at {host} does not answer: start `wnet daemon --socket {}`, or drop --host (and WNET_HOST) to run without one",
                    path.display()
                )
            })?;
            return Ok(Backend::Remote(path));
        }
        // The lock is held by a daemon (maybe still starting, its socket not yet
        // there) or by another command: keep looking for the socket until one of the
        // two is free.
        let mut waited = Duration::ZERO;
        let lock = loop {
            if tokio::net::UnixStream::connect(default_socket)
                .await
                .is_ok()
            {
                return Ok(Backend::Remote(default_socket.to_owned()));
            }
            if let Some(lock) = crate::local::try_lock(settings)? {
                break lock;
            }
            if waited == Duration::from_secs(2) {
                eprintln!(
                    "wnet: waiting for the wnet that holds {} (a daemon starting, or another command)",
                    settings.data_dir.join("wnet.lock").display()
                );
            }
            tokio::time::sleep(POLL).await;
            waited += POLL;
        };
        let local = Local::open(settings, lock, named, engine).await?;
        Ok(Backend::Local {
            api: crate::api::router(local.api()),
            local,
        })
    }

    /// Ends the command: an in-process controller records its clean end (see
    /// [`Local::finish`]).
    pub fn finish(self) {
        if let Backend::Local { local, .. } = self {
            local.finish();
        }
    }

    /// Calls the API; a status of 400 or more is an error carrying the API's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let (status, answer) = match self {
            Backend::Local { api, .. } => {
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("content-type", "application/json")
                    .body(Body::from(bytes))?;
                let response = api.clone().oneshot(request).await?;
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                (status, body)
            }
            Backend::Remote(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .with_context(|| {
                        format!("the wnet daemon at {} stopped answering", socket.display())
                    })?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                let request = Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", "wnet")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(bytes)))?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                (status, body)
            }
        };
        let value: Value = if answer.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer).with_context(|| {
                format!("the API answered {status} with a body that is not JSON")
            })?
        };
        if status.as_u16() >= 400 {
            let message = value["message"].as_str().unwrap_or("no message");
            // The API's message is already one line naming the value and the fix.
            return Err(anyhow!("{message}"));
        }
        Ok(value)
    }
}
