//! The sync runtime: one task that keeps every SyncSchedule's timer (an unchanged schedule
//! keeps its timer across reloads), starts runs when due, on a manual trigger or for
//! hand-created SyncJobs, applies the concurrency policy and history limits, and on
//! becoming leader resumes (or fails) runs a crash interrupted. It acts only while leader.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::actor::Actor;
use super::deps::SyncDeps;
use super::desired::DesiredSyncs;
use super::job_event::JobEvent;

/// The sync runtime's handle: takes desired state, runs until cancelled.
pub struct Syncs {
    deps: Arc<SyncDeps>,
    desired: watch::Sender<Option<Arc<DesiredSyncs>>>,
    events: broadcast::Sender<JobEvent>,
}

impl Syncs {
    /// A runtime with nothing to run yet.
    pub fn new(deps: SyncDeps) -> Self {
        Self {
            deps: Arc::new(deps),
            desired: watch::channel(None).0,
            events: broadcast::channel(256).0,
        }
    }

    /// Replaces the desired state (the running task picks it up).
    pub fn apply(&self, desired: DesiredSyncs) {
        self.desired.send_replace(Some(Arc::new(desired)));
    }

    /// Job changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Runs schedules and jobs while `leader` is true, until `cancel`. Runs in flight when
    /// cancelled (or when leadership is lost) stop where they are, checkpointed, and are
    /// resumed by the next leader.
    pub async fn run(&self, mut leader: watch::Receiver<bool>, cancel: CancellationToken) {
        let mut desired_rx = self.desired.subscribe();
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            d = desired_rx.wait_for(Option::is_some) => d.ok().and_then(|d| d.clone()),
        };
        let Some(first) = first else { return };
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut actor = Actor {
            deps: self.deps.clone(),
            events: self.events.clone(),
            desired: first,
            schedules: BTreeMap::new(),
            jobs: BTreeMap::new(),
            done: done_tx,
            shutdown: cancel.child_token(),
            state_lock: super::state::StateLock::default(),
            tombstones: BTreeMap::new(),
        };
        let mut leader_open = true;
        loop {
            while !*leader.borrow_and_update() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = leader.changed() => if r.is_err() { return },
                }
            }
            actor.shutdown = cancel.child_token();
            actor.recover().await;
            loop {
                actor.reconcile().await;
                let wake = actor.next_wake();
                let clock = self.deps.clock.clone();
                tokio::select! {
                    _ = cancel.cancelled() => {
                        actor.shutdown.cancel();
                        return;
                    }
                    r = leader.changed(), if leader_open => {
                        if r.is_err() {
                            leader_open = false;
                        } else if !*leader.borrow() {
                            actor.release_runs();
                            break;
                        }
                    }
                    r = desired_rx.changed() => {
                        if r.is_err() { return; }
                        if let Some(d) = desired_rx.borrow_and_update().clone() {
                            actor.desired = d;
                        }
                    }
                    Some(outcome) = done_rx.recv() => actor.finished(outcome).await,
                    _ = async move {
                        match wake {
                            Some(t) => clock.sleep_until(t).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
            }
        }
    }
}
