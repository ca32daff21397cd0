//! Where a connection's tokens are kept between processes. Standalone, in the store (the
//! SQLite file is 0600 in a 0700 directory); a cluster front-end may bring its own.

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::Store;

use super::stored::StoredConnection;

/// The kind under which the store keeps connections ([`Store::put_object`]).
pub const CONNECTION_KIND: &str = "OAuthConnection";

/// The vault could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the connection's tokens could not be read or written")]
pub struct VaultError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Keeps connections by Integration.
#[async_trait]
pub trait TokenVault: Send + Sync + std::fmt::Debug {
    /// The connection of Integration `namespace`/`name`, if one was made.
    async fn load(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, VaultError>;
    /// Replaces it, durably, before returning.
    async fn save(
        &self,
        namespace: &str,
        name: &str,
        connection: &StoredConnection,
    ) -> Result<(), VaultError>;
    /// Forgets it; false when there was none.
    async fn remove(&self, namespace: &str, name: &str) -> Result<bool, VaultError>;
    /// Takes the right to refresh the connection for `ttl`, so that processes sharing the
    /// vault refresh it one at a time; false while another process holds it. By default
    /// always granted (one process per vault).
    async fn claim_refresh(
        &self,
        _namespace: &str,
        _name: &str,
        _ttl: std::time::Duration,
    ) -> Result<bool, VaultError> {
        Ok(true)
    }
    /// Gives that right back (after the refreshed tokens are saved).
    async fn release_refresh(&self, _namespace: &str, _name: &str) -> Result<(), VaultError> {
        Ok(())
    }
}

/// The store as a vault.
#[derive(Clone)]
pub struct StoreVault(pub Arc<dyn Store>);

impl std::fmt::Debug for StoreVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreVault")
    }
}

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> VaultError {
    VaultError(Box::new(e))
}

#[async_trait]
impl TokenVault for StoreVault {
    async fn load(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, VaultError> {
        let all = self
            .0
            .list_objects(CONNECTION_KIND, Some(namespace))
            .await
            .map_err(boxed)?;
        for mut value in all {
            if value.get("integration").and_then(|v| v.as_str()) == Some(name) {
                let conn = value
                    .get_mut("connection")
                    .map(serde_json::Value::take)
                    .unwrap_or_default();
                return serde_json::from_value(conn).map(Some).map_err(boxed);
            }
        }
        Ok(None)
    }

    async fn save(
        &self,
        namespace: &str,
        name: &str,
        connection: &StoredConnection,
    ) -> Result<(), VaultError> {
        let value = serde_json::json!({"integration": name, "connection": connection});
        self.0
            .put_object(CONNECTION_KIND, namespace, name, &value)
            .await
            .map_err(boxed)
    }

    async fn remove(&self, namespace: &str, name: &str) -> Result<bool, VaultError> {
        self.0
            .delete_object(CONNECTION_KIND, namespace, name)
            .await
            .map_err(boxed)
    }
}

/// Keeps connections in this process's memory only (tests; nothing survives a restart).
#[derive(Debug, Default)]
pub struct MemoryVault(
    std::sync::Mutex<std::collections::HashMap<(String, String), StoredConnection>>,
);

#[async_trait]
impl TokenVault for MemoryVault {
    async fn load(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<StoredConnection>, VaultError> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(&(namespace.to_owned(), name.to_owned())).cloned())
    }

    async fn save(
        &self,
        namespace: &str,
        name: &str,
        connection: &StoredConnection,
    ) -> Result<(), VaultError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((namespace.to_owned(), name.to_owned()), connection.clone());
        Ok(())
    }

    async fn remove(&self, namespace: &str, name: &str) -> Result<bool, VaultError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .remove(&(namespace.to_owned(), name.to_owned()))
            .is_some())
    }
}
