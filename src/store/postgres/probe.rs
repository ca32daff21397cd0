//! The health probe of a PostgreSQL store: `SELECT 1` on a connection of its own (outside the
//! pool, so a busy pool never reads as an outage), bounded by a timeout. A connection that
//! failed or timed out is dropped and a new one is made at the next probe.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, PgPool};
use tokio::sync::Mutex;

use crate::store::StoreError;

/// How long one probe (connecting included) may take.
const PING_TIMEOUT: Duration = Duration::from_millis(500);

/// A probe connection, made on first use.
pub(super) struct Probe {
    options: PgConnectOptions,
    conn: Mutex<Option<PgConnection>>,
}

impl Probe {
    /// A probe connecting like `pool`'s connections.
    pub(super) fn new(pool: &PgPool) -> Self {
        Self {
            options: (*pool.connect_options()).clone(),
            conn: Mutex::new(None),
        }
    }

    /// One round trip; the connection is dropped when it fails or takes too long.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let mut slot = self.conn.lock().await;
        let result = tokio::time::timeout(PING_TIMEOUT, round_trip(&self.options, &mut slot)).await;
        let result = result.unwrap_or(Err(StoreError::Timeout {
            op: "pinging PostgreSQL",
            after: PING_TIMEOUT,
        }));
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

async fn round_trip(
    options: &PgConnectOptions,
    slot: &mut Option<PgConnection>,
) -> Result<(), StoreError> {
    let conn = match slot {
        Some(conn) => conn,
        None => slot.insert(
            options
                .connect()
                .await
                .map_err(StoreError::db("connecting to PostgreSQL"))?,
        ),
    };
    sqlx::query("SELECT 1")
        .execute(conn)
        .await
        .map(drop)
        .map_err(StoreError::db("pinging PostgreSQL"))
}
