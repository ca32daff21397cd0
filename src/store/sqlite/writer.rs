//! The SQLite writer: the store's one writing connection, on a thread of its own. Jobs
//! (closures over the connection) run there one at a time, in the order sent, with their
//! statements prepared once and cached and their rows bound directly, so a batch of a
//! thousand rows is one hand-off between threads and no JSON in between.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Statements kept prepared on the writer connection.
const STATEMENT_CACHE: usize = 64;

/// Whether a job's commit must reach the disk before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Durability {
    /// `synchronous=FULL`: survives a power loss (acceptances and everything else).
    Full,
    /// `synchronous=NORMAL`: survives a killed process; lost with the machine only the
    /// writes whose loss is harmless (leases, attempt records: the delivery runs again).
    Relaxed,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "PRAGMA synchronous = FULL",
            Durability::Relaxed => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// The connection as jobs see it, with the durability the thread last set on it.
struct Writing {
    conn: Connection,
    /// None until set, or after setting it failed.
    durability: Option<Durability>,
}

/// One unit of work for the thread.
type Job = Box<dyn FnOnce(&mut Writing) + Send>;

/// Handle of the writer thread; the thread (and its connection) ends when this is dropped.
pub(super) struct WriterThread {
    jobs: mpsc::Sender<Job>,
}

impl WriterThread {
    /// Opens the database file at `path` (already created and migrated) for writing and
    /// starts the thread.
    pub(super) fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let op = "opening the SQLite writer connection";
        let conn = Connection::open(path).map_err(StoreError::sqlite(op))?;
        conn.busy_timeout(busy_timeout)
            .map_err(StoreError::sqlite(op))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(StoreError::sqlite(op))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut writing = Writing {
            conn,
            durability: None,
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                for job in queue {
                    job(&mut writing);
                }
            })
            .map_err(|e| StoreError::Corrupt {
                what: "writer thread",
                detail: format!("starting it: {}", crate::error_chain::chain(&e)),
            })?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the writer connection with the given durability and returns what it
    /// returns. A job that panics answers [`StoreError::Closed`] and the thread goes on.
    pub(super) async fn run<T, F>(&self, durability: Durability, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |writing: &mut Writing| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                writing.set(durability)?;
                work(&mut writing.conn)
            }));
            if let Ok(result) = result {
                let _ = answer.send(result);
            }
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` in one `BEGIN IMMEDIATE … COMMIT` transaction (rolled back when it fails).
    pub(super) async fn transaction<T, F>(
        &self,
        durability: Durability,
        op: &'static str,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(durability, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::sqlite(op))?;
            let done = work(&tx)?;
            tx.commit().map_err(StoreError::sqlite(op))?;
            Ok(done)
        })
        .await
    }
}

impl Writing {
    /// Puts the connection in `durability` unless it is already.
    fn set(&mut self, durability: Durability) -> Result<(), StoreError> {
        if self.durability == Some(durability) {
            return Ok(());
        }
        self.durability = None;
        self.conn
            .execute_batch(durability.pragma())
            .map_err(StoreError::sqlite("setting the synchronous pragma"))?;
        self.durability = Some(durability);
        Ok(())
    }
}
