//! Starting and stopping what the engine runs, in the spirit of Vector's `RunningTopology`:
//! [`Engine::start`] spawns the engine's own tasks (delivery dispatcher, sync schedules, the
//! retention purge) and returns a [`Running`] handle that owns them, and the front-end's tasks
//! (servers, manifest watcher, controller) once it hands them over; [`Running::stop`] cancels
//! them all and waits for them by one deadline. A front-end then holds no task wiring.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::runtime::Engine;

/// What the running engine owns: its tasks and the token that stops them.
pub struct Running {
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    ended_tx: mpsc::UnboundedSender<Ended>,
    ended: mpsc::UnboundedReceiver<Ended>,
}

/// A critical task that ended on its own (the engine should stop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The task's name.
    pub task: &'static str,
    /// Its error, if it failed.
    pub error: Option<String>,
}

/// Why [`Running::wait`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT.
    Signal,
    /// A critical task ended on its own.
    TaskEnded(Ended),
}

/// How a stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Tasks still running when the deadline passed (empty: everything drained).
    pub unfinished: Vec<&'static str>,
}

impl Stopped {
    /// True when every task finished before the deadline.
    pub fn drained(&self) -> bool {
        self.unfinished.is_empty()
    }
}

impl Engine {
    /// Starts the engine's own tasks: the delivery dispatcher, the sync schedules (which run
    /// only while `leader` says true), the store's health probe and the retention purge.
    pub fn start(self: &Arc<Self>, leader: watch::Receiver<bool>) -> Running {
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let mut running = Running {
            engine: self.clone(),
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
            ended_tx,
            ended,
        };
        let cancel = running.shutdown.clone();
        let deliveries = self.deliveries().clone();
        running.spawn("delivery dispatcher", deliveries.run(cancel.clone()));
        let engine = self.clone();
        let sync_cancel = cancel.clone();
        running.spawn("sync schedules", async move {
            engine.syncs().run(leader, sync_cancel).await
        });
        let probe = self
            .store_health()
            .clone()
            .probe(self.store().clone(), cancel.clone());
        running.spawn("store health probe", probe);
        running.spawn(
            "lifecycle events",
            self.clone().run_lifecycle(cancel.clone()),
        );
        running.spawn("retention purge", purge(self.clone(), cancel));
        running
    }
}

impl Running {
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Cancelled when the engine stops: tasks handed over with [`Running::spawn`] end on it.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Hands a task over: it is awaited (up to the deadline) when the engine stops.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push((name, tokio::spawn(task)));
    }

    /// Hands over a task the engine cannot run without: when it ends, [`Running::wait`]
    /// returns, so the front-end stops the engine.
    pub fn spawn_critical<E: std::error::Error>(
        &mut self,
        name: &'static str,
        task: impl Future<Output = Result<(), E>> + Send + 'static,
    ) {
        let ended = self.ended_tx.clone();
        self.spawn(name, async move {
            let error = task.await.err().map(|e| crate::error_chain::render(&e));
            let _ = ended.send(Ended { task: name, error });
        });
    }

    /// Waits for SIGTERM or SIGINT, or for a critical task to end.
    pub async fn wait(&mut self) -> StopReason {
        tokio::select! {
            _ = signal() => StopReason::Signal,
            Some(ended) = self.ended.recv() => StopReason::TaskEnded(ended),
        }
    }

    /// Stops everything: cancels the shutdown token, then waits for every task up to
    /// `deadline` (the configured shutdown timeout when None). Tasks still running then are
    /// aborted and named in the result.
    pub async fn stop(self, deadline: Option<Duration>) -> Stopped {
        let deadline = deadline.unwrap_or(self.engine.config().shutdown_timeout);
        self.shutdown.cancel();
        let until = tokio::time::Instant::now() + deadline;
        let mut unfinished = Vec::new();
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(until, &mut task).await.is_err() {
                task.abort();
                unfinished.push(name);
            }
        }
        Stopped { unfinished }
    }
}

/// Removes delivered and dead records older than the retention, every `purge_every`.
async fn purge(engine: Arc<Engine>, cancel: CancellationToken) {
    let config = engine.config();
    let mut tick = tokio::time::interval(config.purge_every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let retention = chrono::Duration::from_std(config.retention)
            .unwrap_or_else(|_| chrono::Duration::days(7));
        match engine.store().purge(chrono::Utc::now() - retention).await {
            Ok(purged) => tracing::debug!(?purged, "purged old records"),
            Err(e) => tracing::warn!(error = %crate::error_chain::chain(&e), "purging old records"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                let error = crate::error_chain::chain(&e);
                tracing::warn!(%error, "no SIGTERM handler; stopping on SIGINT only");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A leader signal that always says "leader" (standalone, or leader election turned off).
pub fn always_leader() -> watch::Receiver<bool> {
    watch::channel(true).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;

    async fn engine() -> Arc<Engine> {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        Engine::new(store, EngineConfig::default())
    }

    #[tokio::test]
    async fn stop_waits_for_handed_over_tasks_and_names_the_stuck_ones() {
        let engine = engine().await;
        let mut running = engine.start(always_leader());
        let token = running.shutdown();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        running.spawn("polite", async move {
            token.cancelled().await;
            let _ = done_tx.send(());
        });
        running.spawn("stuck", std::future::pending());
        let stopped = running.stop(Some(Duration::from_millis(200))).await;
        assert_eq!(stopped.unfinished, vec!["stuck"]);
        assert!(!stopped.drained());
        done_rx
            .await
            .expect("the polite task saw the shutdown and finished");
    }

    #[tokio::test]
    async fn a_critical_task_ending_wakes_wait_with_its_error() {
        let engine = engine().await;
        let mut running = engine.start(always_leader());
        let failure = std::io::Error::other("watch failed");
        running.spawn_critical("front-end", async { Err::<(), _>(failure) });
        let reason = running.wait().await;
        assert_eq!(
            reason,
            StopReason::TaskEnded(Ended {
                task: "front-end",
                error: Some("watch failed".into())
            })
        );
        assert!(running.stop(None).await.drained());
    }
}
