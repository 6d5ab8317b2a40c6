//! `wnet:driver/kv`: the driver's own table in the controller's store. A driver can
//! reach only its table: the table name is fixed by the host, not by the driver.

use crate::bindings::network::wnet::driver::kv::Host;
use crate::bindings::network::wnet::driver::types::Error;
use crate::host::HostState;

/// The longest key a driver may use.
pub(crate) const MAX_KEY: usize = 1024;
/// The largest value a driver may store under one key.
pub(crate) const MAX_VALUE: usize = 1 << 20;

/// Checks a key a driver sends; its table is fixed by the host, so only its size matters.
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(Error::InvalidParameter(format!(
            "kv key of {} bytes: keys must be 1 to {MAX_KEY} bytes",
            key.len()
        )));
    }
    Ok(())
}

impl HostState {
    fn store_error(&self, e: impl std::fmt::Display) -> Error {
        tracing::error!(driver = %self.ctx.name, error = %e, "kv store failed");
        Error::Internal(format!("the host's store failed: {e}"))
    }
}

impl Host for HostState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        check_key(&key)?;
        self.ctx
            .store
            .get(&self.ctx.kv_table, &key)
            .map_err(|e| self.store_error(e))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        check_key(&key)?;
        if value.len() > MAX_VALUE {
            return Err(Error::InvalidParameter(format!(
                "kv value of {} bytes under `{key}`: values are at most {MAX_VALUE} bytes",
                value.len()
            )));
        }
        self.ctx
            .store
            .put(&self.ctx.kv_table, &key, &value)
            .map_err(|e| self.store_error(e))
    }

    fn delete(&mut self, key: String) -> Result<bool, Error> {
        check_key(&key)?;
        self.ctx
            .store
            .delete(&self.ctx.kv_table, &key)
            .map_err(|e| self.store_error(e))
    }

    fn list(&mut self, prefix: String) -> Result<Vec<(String, Vec<u8>)>, Error> {
        if prefix.len() > MAX_KEY {
            return Err(Error::InvalidParameter(format!(
                "kv prefix of {} bytes: at most {MAX_KEY}",
                prefix.len()
            )));
        }
        self.ctx
            .store
            .scan(&self.ctx.kv_table, &prefix)
            .map_err(|e| self.store_error(e))
    }
}
