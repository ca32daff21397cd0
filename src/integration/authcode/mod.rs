//! OAuth2 authorization code with PKCE: a person approves a connection once, Switchboard
//! keeps the tokens (through a [`TokenVault`]: the store standalone) and refreshes them ahead
//! of expiry, writing a rotated refresh token back before the new access token is used. Knows
//! nothing of HTTP routes or Kubernetes: the engine starts and completes connections, the
//! integration client takes access tokens from a [`Connection`].

pub mod config;
pub mod connection;
pub mod endpoint;
pub mod pending;
pub mod stored;
pub mod vault;

pub use config::AuthCodeConfig;
pub use connection::{Connection, ConnectionError, ConnectionView};
pub use endpoint::GrantError;
pub use pending::{Pending, PendingError, STATE_LIFETIME};
pub use stored::StoredConnection;
pub use vault::{MemoryVault, StoreVault, TokenVault, VaultError};
