//! The driver's own persistent keys: the `kv` host capability.
//!
//! What a driver keeps here survives a restart of the host and the re-creation of its
//! instance after a trap; what it keeps only in memory does not. Keys are private to
//! the driver. In native tests (`cargo test` on the host target) these functions use
//! the fake host of [`crate::testing`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The value stored under `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    imp::get(key)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    imp::set(key, value)
}

/// Removes `key`; returns whether it existed.
pub fn delete(key: &str) -> Result<bool> {
    imp::delete(key)
}

/// Every key starting with `prefix`, with its value, in key order.
pub fn list(prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    imp::list(prefix)
}

/// The value under `key`, decoded from JSON.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get(key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("kv key `{key}` holds invalid JSON: {e}")))
        })
        .transpose()
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("kv key `{key}`: cannot encode value: {e}")))?;
    set(key, &bytes)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::Result;
    use crate::bindings::convert::from_wit;
    use crate::bindings::network::wnet::driver::kv as host;

    pub(super) fn get(key: &str) -> Result<Option<Vec<u8>>> {
        host::get(key).map_err(from_wit::error)
    }
    pub(super) fn set(key: &str, value: &[u8]) -> Result<()> {
        host::set(key, value).map_err(from_wit::error)
    }
    pub(super) fn delete(key: &str) -> Result<bool> {
        host::delete(key).map_err(from_wit::error)
    }
    pub(super) fn list(prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        host::list(prefix).map_err(from_wit::error)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::Result;
    use crate::testing::with_host;

    pub(super) fn get(key: &str) -> Result<Option<Vec<u8>>> {
        Ok(with_host(|h| h.kv.get(key).cloned()))
    }
    pub(super) fn set(key: &str, value: &[u8]) -> Result<()> {
        with_host(|h| h.kv.insert(key.to_owned(), value.to_vec()));
        Ok(())
    }
    pub(super) fn delete(key: &str) -> Result<bool> {
        Ok(with_host(|h| h.kv.remove(key).is_some()))
    }
    pub(super) fn list(prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(with_host(|h| {
            h.kv.range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }
}
