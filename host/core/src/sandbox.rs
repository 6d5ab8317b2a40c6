//! Sandboxes: a container's network namespace, as a record here (the namespace itself
//! is made by the host's netlink layer).

use wnet_types::Options;

use crate::controller::Controller;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ids;
use crate::model::SandboxRecord;

/// How to create a sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxOptions {
    /// The sandbox key (its namespace's path); none for `<run_dir>/netns/<id>`.
    pub key: Option<String>,
    /// Options and labels, passed to drivers at join (exposed and published ports).
    pub options: Options,
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
            .sandboxes
            .get(&self.id)
            .cloned()
            .ok_or_else(|| Error::SandboxNotFound(self.id.clone()))
    }

    /// The endpoints joined to the sandbox, in join order.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, Error> {
        let info = self.info()?;
        let state = self.ctrl.state();
        Ok(info
            .endpoints
            .iter()
            .filter_map(|(_, eid)| state.endpoints.get(eid))
            .map(|e| Endpoint::handle(&self.ctrl, e))
            .collect())
    }

    /// Deletes the sandbox (libnetwork's `Sandbox.Delete`): each joined endpoint leaves
    /// and is deleted, then the record goes. Every endpoint is tried; the first error is
    /// returned and the sandbox kept if any failed.
    pub async fn delete(&self) -> Result<(), Error> {
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
        self.ctrl.remove_sandbox(&self.id)?;
        self.ctrl.drop_sandbox_lock(&self.id);
        tracing::info!(sandbox = %self.id, "sandbox deleted");
        Ok(())
    }
}

impl Controller {
    /// Creates a sandbox record for container `id`.
    pub async fn new_sandbox(&self, id: &str, options: SandboxOptions) -> Result<Sandbox, Error> {
        if !ids::valid_name(id) {
            return Err(Error::InvalidName {
                object: "sandbox",
                name: id.to_owned(),
            });
        }
        let _sb = self.sandbox_lock(id).await;
        if self.state().sandboxes.contains_key(id) {
            return Err(Error::DuplicateSandbox { id: id.to_owned() });
        }
        let key = options.key.unwrap_or_else(|| {
            self.inner
                .config
                .run_dir
                .join("netns")
                .join(id)
                .display()
                .to_string()
        });
        self.save_sandbox(&SandboxRecord {
            id: id.to_owned(),
            key,
            options: options.options,
            endpoints: Vec::new(),
        })?;
        Ok(Sandbox {
            ctrl: self.clone(),
            id: id.to_owned(),
        })
    }

    /// The sandbox with id `id`.
    pub fn sandbox(&self, id: &str) -> Result<Sandbox, Error> {
        if self.state().sandboxes.contains_key(id) {
            Ok(Sandbox {
                ctrl: self.clone(),
                id: id.to_owned(),
            })
        } else {
            Err(Error::SandboxNotFound(id.to_owned()))
        }
    }

    /// Every sandbox, by id.
    pub fn sandboxes(&self) -> Vec<Sandbox> {
        let state = self.state();
        state
            .sandboxes
            .keys()
            .map(|id| Sandbox {
                ctrl: self.clone(),
                id: id.clone(),
            })
            .collect()
    }
}
