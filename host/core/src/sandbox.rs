//! Sandboxes: a container's network namespace, as a record here (the namespace itself
//! is made by the host's netlink layer).

use wnet_types::Options;

use crate::controller::Controller;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ids;
use crate::model::SandboxRecord;
use crate::store;

/// How to create a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxOptions {
    /// An existing namespace to adopt (`/proc/PID/ns/net`, `/run/netns/NAME`); none for a
    /// new one, which wnet creates and removes.
    pub key: Option<String>,
    /// The sandbox is the host's own namespace (libnetwork's `OptionUseDefaultSandbox`,
    /// Docker's `--network host`): it joins only `host` networks, and is never removed.
    pub host_namespace: bool,
    /// Options and labels, passed to drivers at join (exposed and published ports).
    pub options: Options,
    /// The engine makes the namespace `key` names only after the joins, and moves and
    /// configures each interface itself (libnetwork's `OptionUseExternalKey`, Docker's
    /// way): wnet records the joins and leaves its drivers' interfaces in the host's
    /// namespace for the engine to take. Needs `key`.
    pub external_key: bool,
}

/// A sandbox (a handle: cheap to clone, reads the controller's current record).
#[derive(Clone)]
pub struct Sandbox {
    ctrl: Controller,
    id: String,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("id", &self.id).finish()
    }
}

impl Sandbox {
    /// The sandbox's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The sandbox's current record.
    pub fn info(&self) -> Result<SandboxRecord, Error> {
        self.ctrl
            .state()
            .sandbox(&self.id)?
            .cloned()
            .ok_or_else(|| Error::SandboxNotFound(self.id.clone()))
    }

    /// The endpoints joined to the sandbox, in join order.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        let info = self.info()?;
        let mut state = self.ctrl.state();
        let mut endpoints = Vec::with_capacity(info.endpoints.len());
        for (_, eid) in &info.endpoints {
            if let Some(e) = state.endpoint(eid)? {
                endpoints.push(Endpoint::handle(&self.ctrl, e));
            }
        }
        Ok(endpoints)
    }

    /// Deletes the sandbox (libnetwork's `Sandbox.Delete`): each joined endpoint leaves
    /// and is deleted, then its namespace (if wnet created it) and the record go. Every endpoint is tried; the first error is
    /// returned and the sandbox kept if any failed.
    pub async fn delete(&self) -> Result<(), Error> {
        store::operation(self.delete_op()).await
    }

    async fn delete_op(&self) -> Result<(), Error> {
        let mut first = None;
        for ep in self.endpoints()? {
            let result = match ep.leave(self).await {
                Ok(()) => ep.delete(false).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(sandbox = %self.id, endpoint = %ep.name(), error = %e, "removing an endpoint of a deleted sandbox failed");
                first.get_or_insert(e);
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
        let _sb = self.ctrl.sandbox_lock(&self.id).await;
        let record = self.info()?;
        self.ctrl
            .inner
            .config
            .os
            .remove(&record.os())
            .await
            .map_err(|source| Error::Sandbox {
                sandbox: self.id.clone(),
                op: "remove its namespace",
                source,
            })?;
        self.ctrl.remove_sandbox(&self.id)?;
        self.ctrl.drop_sandbox_lock(&self.id);
        tracing::info!(sandbox = %self.id, "sandbox deleted");
        Ok(())
    }
}

impl Controller {
    /// Creates sandbox `id`: a new network namespace, or the one `options.key` names.
    pub async fn new_sandbox(&self, id: &str, options: SandboxOptions) -> Result<Sandbox, Error> {
        store::operation(self.new_sandbox_op(id, options)).await
    }

    async fn new_sandbox_op(&self, id: &str, options: SandboxOptions) -> Result<Sandbox, Error> {
        if !ids::valid_name(id) {
            return Err(Error::InvalidName {
                object: "sandbox",
                name: id.to_owned(),
            });
        }
        let _sb = self.sandbox_lock(id).await;
        if self.state().sandbox(id)?.is_some() {
            return Err(Error::DuplicateSandbox { id: id.to_owned() });
        }
        let os = if options.external_key {
            let Some(key) = options.key.as_ref().filter(|_| !options.host_namespace) else {
                return Err(Error::InvalidConfig(format!(
                    "sandbox `{id}`: a sandbox whose namespace the engine makes needs that namespace's path, and cannot be the host's namespace"
                )));
            };
            crate::osl::OsSandbox {
                key: key.clone(),
                owned: false,
                host: false,
                inode: None,
            }
        } else if options.host_namespace {
            if let Some(key) = &options.key {
                return Err(Error::InvalidConfig(format!(
                    "sandbox `{id}`: a sandbox in the host's namespace cannot also adopt namespace `{key}`; give one or the other"
                )));
            }
            self.inner.config.os.host()
        } else {
            self.inner
                .config
                .os
                .create(id, options.key.as_deref())
                .await
                .map_err(|source| Error::Sandbox {
                    sandbox: id.to_owned(),
                    op: "create its namespace",
                    source,
                })?
        };
        let record = SandboxRecord {
            id: id.to_owned(),
            key: os.key.clone(),
            owned: os.owned,
            host_namespace: os.host,
            options: options.options,
            endpoints: Vec::new(),
            inode: os.inode,
            external_key: options.external_key,
        };
        if let Err(e) = self.save_sandbox(&record) {
            if let Err(undo) = self.inner.config.os.remove(&os).await {
                tracing::error!(sandbox = id, error = %undo, "removing the namespace of a sandbox that could not be recorded failed");
            }
            return Err(e);
        }
        tracing::info!(sandbox = id, key = %record.key, owned = record.owned, "sandbox created");
        Ok(Sandbox {
            ctrl: self.clone(),
            id: id.to_owned(),
        })
    }

    /// The sandbox with id `id`.
    pub fn sandbox(&self, id: &str) -> Result<Sandbox, Error> {
        if self.state().sandbox(id)?.is_some() {
            Ok(Sandbox {
                ctrl: self.clone(),
                id: id.to_owned(),
            })
        } else {
            Err(Error::SandboxNotFound(id.to_owned()))
        }
    }

    /// The sandbox whose namespace is at `key` (a path it adopted or made), if any.
    pub fn sandbox_by_key(&self, key: &str) -> Result<Option<Sandbox>, Error> {
        Ok(self.state().sandbox_at(key)?.map(|id| Sandbox {
            ctrl: self.clone(),
            id,
        }))
    }

    /// Like [`Controller::sandbox_by_key`], for a caller about to adopt the namespace
    /// at `key`: a sandbox recorded there whose namespace is gone (the path now names
    /// another namespace, or none) is removed first, with its endpoints, as a
    /// reconcile would, and not returned. A sandbox whose engine makes its namespace
    /// later (an external key) is returned as it is.
    pub async fn live_sandbox_by_key(&self, key: &str) -> Result<Option<Sandbox>, Error> {
        let Some(sandbox) = self.sandbox_by_key(key)? else {
            return Ok(None);
        };
        let record = sandbox.info()?;
        if record.external_key || self.inner.config.os.alive(&record.os()).await {
            return Ok(Some(sandbox));
        }
        store::operation(async {
            if let Some(repair) = self.remove_vanished(&sandbox, &record).await {
                tracing::warn!("repaired: {repair}");
            }
            Ok::<_, Error>(())
        })
        .await?;
        Ok(None)
    }

    /// Every sandbox, by id.
    pub fn sandboxes(&self) -> Result<Vec<Sandbox>, Error> {
        let mut state = self.state();
        Ok(state
            .sandboxes()?
            .keys()
            .map(|id| Sandbox {
                ctrl: self.clone(),
                id: id.clone(),
            })
            .collect())
    }
}
