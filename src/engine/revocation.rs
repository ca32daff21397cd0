//! RFC 7009 revocation when an Integration goes away: a deleted Integration (gone from the
//! manifests standalone; deleted, or being deleted, in a cluster) whose running piece held an
//! authorization-code connection has its tokens revoked at the provider where it publishes a
//! revocation endpoint, then forgotten (the store's row; in a cluster the token Secret).
//! Best effort, in the background, bounded by [`REVOKE_TIMEOUT`]: deleting an Integration
//! never waits on a provider. A connection is not revoked when its Integration is merely
//! changed or failing (its piece, or its last good version, keeps running).

use std::time::Duration;

use crate::error_chain::render;

use super::integrations::IntegrationPiece;
use super::piece::Pieces;

/// How long revoking one deleted Integration's tokens may take.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Revokes, in the background, the connections of the pieces of `before` that `after` no
/// longer has.
pub fn revoke_removed(before: &Pieces<IntegrationPiece>, after: &Pieces<IntegrationPiece>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for (key, piece) in before {
        if after.contains_key(key) {
            continue;
        }
        let Some(connection) = piece.client.authenticator().connection().cloned() else {
            continue;
        };
        let key = key.clone();
        handle.spawn(async move {
            match tokio::time::timeout(REVOKE_TIMEOUT, connection.revoke()).await {
                Ok(Ok(())) => tracing::info!(integration = %key,
                    "Integration deleted: its connection's tokens were revoked and forgotten"),
                Ok(Err(e)) => tracing::warn!(integration = %key, error = %render(&e),
                    "Integration deleted: its connection's tokens could not be forgotten"),
                Err(_) => tracing::warn!(integration = %key, timeout = ?REVOKE_TIMEOUT,
                    "Integration deleted: revoking its connection's tokens timed out"),
            }
        });
    }
}
