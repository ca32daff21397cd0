//! The SQLite writer: the store's one writing connection, on a thread of its own. Jobs
//! (closures over the connection) run there one at a time, in the order sent, with their
//! statements prepared once and cached and their rows bound directly, so a batch of a
//! thousand rows is one hand-off between threads and no JSON in between. Acceptances queued
//! back to back are one transaction (the group commit), answered once the WAL sync thread has
//! made it durable; meanwhile the writer goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::accept;
use super::wal_sync::WalSyncer;
use crate::store::StoreError;
use crate::store::batch::{AcceptedWork, Accepting};
use crate::store::group_commit::Reply;

/// Statements kept prepared on the writer connection.
const STATEMENT_CACHE: usize = 64;
/// Acceptances committed per transaction at most (a single larger batch is committed whole).
const MAX_GROUP: usize = 512;

/// Whether a job's commit must reach the disk before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Durability {
    /// Answered once the WAL holding the commit is fsynced ([`WalSyncer`]): survives a power
    /// loss (acceptances and everything else).
    Full,
    /// Answered at once: survives a killed process; lost with the machine only the writes
    /// whose loss is harmless (leases, attempt records: the delivery runs again).
    Relaxed,
}

/// A closure run on the connection by itself.
type Alone = Box<dyn FnOnce(&mut Connection, &WalSyncer) + Send>;

/// One unit of work for the thread.
enum Job {
    /// Run by itself.
    Alone(Alone),
    /// Acceptances: committed in one transaction with the others queued behind them.
    Accept(Vec<Accepting>, oneshot::Sender<Reply<AcceptedWork>>),
}

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
        // Commits are written to the WAL without an fsync; durable ones wait for the syncer.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(StoreError::sqlite(op))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let syncer = WalSyncer::start(path)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut conn = conn;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || work_through(&queue, &mut conn, &syncer))
            .map_err(|e| StoreError::Corrupt {
                what: "writer thread",
                detail: format!("starting it: {e}"),
            })?;
        Ok(Self { jobs })
    }

    /// Runs `work` on the writer connection and returns what it returns, with
    /// [`Durability::Full`] once what it committed is on disk. A job that panics answers
    /// [`StoreError::Closed`] and the thread goes on.
    pub(super) async fn run<T, F>(&self, durability: Durability, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Alone = Box::new(move |conn: &mut Connection, syncer: &WalSyncer| {
            let Ok(result) = catch_unwind(AssertUnwindSafe(|| work(conn))) else {
                return;
            };
            match result {
                Ok(done) if durability == Durability::Full => {
                    syncer.after_sync(Box::new(move |synced| {
                        let _ = answer.send(synced.map(|()| done));
                    }));
                }
                result => {
                    let _ = answer.send(result);
                }
            }
        });
        self.jobs
            .send(Job::Alone(job))
            .map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores `batch` (see [`accept::commit_group`]) in the next group commit and answers once
    /// it is on disk.
    pub(super) async fn accept(
        &self,
        batch: Vec<Accepting>,
    ) -> Result<Vec<AcceptedWork>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job::Accept(batch, answer))
            .map_err(|_| StoreError::Closed)?;
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

/// The thread's loop: jobs in the order sent, until every handle is dropped. Acceptances queued
/// back to back are committed together, up to [`MAX_GROUP`] items: while one group commits the
/// next one gathers, so the busier the writer, the larger its transactions.
fn work_through(queue: &mpsc::Receiver<Job>, conn: &mut Connection, syncer: &WalSyncer) {
    let mut next = queue.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Alone(job) => job(conn, syncer),
            Job::Accept(batch, answer) => {
                let mut size = batch.len();
                let mut group = vec![(batch, answer)];
                while size < MAX_GROUP {
                    match queue.try_recv() {
                        Ok(Job::Accept(batch, answer)) => {
                            size += batch.len();
                            group.push((batch, answer));
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                // A panic drops the group's answers: each caller gets StoreError::Closed.
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    accept::commit_group(conn, syncer, group, size);
                }));
            }
        }
        if next.is_none() {
            next = queue.recv().ok();
        }
    }
}
