//! The async entry point: evaluations run on tokio's blocking threads, at most a fixed
//! number at a time, so CPU-bound jq never stalls the async runtime; the slots are shared
//! fairly between namespaces (tenants), and between the resources of one namespace.
//!
//! # Scheduling
//!
//! An evaluation that finds a free slot, its namespace under its cap and nobody of its
//! namespace waiting runs at once. Otherwise it waits in its namespace's queue, which holds one
//! FIFO queue per resource (endpoint, subscription, …). Whenever a slot frees, it goes to the
//! next namespace in round-robin order that has waiters and runs fewer than its cap, and
//! within it to the next resource in round-robin order. A namespace's cap is all slots but
//! one (at least one), so a tenant flooding the pool with runaway programs (each bounded by
//! its time budget) leaves a slot for everyone else, and its own waiters queue behind each
//! other rather than ahead of other tenants.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::meta::Meta;
use super::program::{Output, Program, TransformError};

/// Why a pooled evaluation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The evaluation task was cancelled or panicked.
    #[error("evaluation task failed")]
    Join(#[source] tokio::task::JoinError),
    /// The pool was closed.
    #[error("evaluation pool is closed")]
    Closed,
}

/// Whom an evaluation is for: the unit of fair sharing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenant<'a> {
    /// The namespace of the resource whose program runs.
    pub namespace: &'a str,
    /// The kind of that resource (`endpoint`, `subscription`, `filters`).
    pub kind: &'static str,
    /// Its name.
    pub name: &'a str,
}

/// Runs synchronous evaluations on blocking threads, at most `concurrency` at once, shared
/// fairly between tenants (see the module's header). Each evaluation ends within its time
/// budget, so a slot is never held for longer.
#[derive(Clone, Debug)]
pub struct EvalPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Slots one namespace may hold at once.
    cap: usize,
    state: Mutex<State>,
}

/// A resource's queue: who it is and its waiters, first come first served.
type SourceQueue = ((&'static str, Box<str>), VecDeque<oneshot::Sender<Slot>>);

#[derive(Debug, Default)]
struct State {
    free: usize,
    /// Slots held per namespace (namespaces holding none are absent).
    running: HashMap<Box<str>, usize>,
    /// Per namespace with waiters: its resources with waiters, in round-robin order.
    waiting: HashMap<Box<str>, VecDeque<SourceQueue>>,
    /// Namespaces with waiters, in round-robin order.
    order: VecDeque<Box<str>>,
}

/// One slot of the pool, given back when dropped.
#[derive(Debug)]
struct Slot {
    /// The pool to give it back to (`None` once given back).
    inner: Option<Arc<Inner>>,
    namespace: Box<str>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.lock();
            state.release(&self.namespace);
            state.grant(&inner);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn running(&self, namespace: &str) -> usize {
        self.running.get(namespace).copied().unwrap_or(0)
    }

    fn take(&mut self, namespace: &str) {
        self.free -= 1;
        match self.running.get_mut(namespace) {
            Some(n) => *n += 1,
            None => {
                self.running.insert(namespace.into(), 1);
            }
        }
    }

    fn release(&mut self, namespace: &str) {
        self.free += 1;
        if let Some(n) = self.running.get_mut(namespace) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(namespace);
            }
        }
    }

    fn enqueue(&mut self, tenant: Tenant<'_>, waiter: oneshot::Sender<Slot>) {
        let sources = match self.waiting.get_mut(tenant.namespace) {
            Some(sources) => sources,
            None => {
                self.order.push_back(tenant.namespace.into());
                self.waiting.entry(tenant.namespace.into()).or_default()
            }
        };
        let key = (tenant.kind, tenant.name);
        match sources.iter_mut().find(|((k, n), _)| (*k, &**n) == key) {
            Some((_, waiters)) => waiters.push_back(waiter),
            None => sources.push_back(((tenant.kind, tenant.name.into()), [waiter].into())),
        }
    }

    /// Hands free slots to waiters: namespaces in turn (skipping those at their cap), and
    /// within one, its resources in turn.
    fn grant(&mut self, inner: &Arc<Inner>) {
        while self.free > 0 {
            let Some(at) = self
                .order
                .iter()
                .position(|ns| self.running(ns) < inner.cap)
            else {
                return;
            };
            let Some(namespace) = self.order.remove(at) else {
                return;
            };
            let Some(sources) = self.waiting.get_mut(&namespace) else {
                continue;
            };
            let Some((source, mut waiters)) = sources.pop_front() else {
                self.waiting.remove(&namespace);
                continue;
            };
            let waiter = waiters.pop_front();
            if !waiters.is_empty() {
                sources.push_back((source, waiters));
            }
            if sources.is_empty() {
                self.waiting.remove(&namespace);
            } else {
                self.order.push_back(namespace.clone());
            }
            let Some(waiter) = waiter else { continue };
            self.take(&namespace);
            let slot = Slot {
                inner: Some(inner.clone()),
                namespace,
            };
            if let Err(mut slot) = waiter.send(slot) {
                // The waiter is gone: take the slot back here (its drop would lock again).
                slot.inner = None;
                self.release(&slot.namespace);
            }
        }
    }
}

impl EvalPool {
    /// A pool running at most `concurrency` evaluations at a time (at least one), at most all
    /// but one of them (at least one) for one namespace.
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            inner: Arc::new(Inner {
                cap: (concurrency - 1).max(1),
                state: Mutex::new(State {
                    free: concurrency,
                    ..State::default()
                }),
            }),
        }
    }

    /// Runs `work` for `tenant` on a blocking thread once the scheduler gives it a slot.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: Tenant<'_>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let slot = self.slot(tenant).await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(PoolError::Join)
    }

    /// A slot for `tenant`: at once when it may run now, else when the scheduler grants one.
    async fn slot(&self, tenant: Tenant<'_>) -> Result<Slot, PoolError> {
        let waiting = {
            let mut state = self.inner.lock();
            let queued = state.waiting.contains_key(tenant.namespace);
            if state.free > 0 && !queued && state.running(tenant.namespace) < self.inner.cap {
                state.take(tenant.namespace);
                None
            } else {
                let (tx, rx) = oneshot::channel();
                state.enqueue(tenant, tx);
                state.grant(&self.inner);
                Some(rx)
            }
        };
        match waiting {
            None => Ok(Slot {
                inner: Some(self.inner.clone()),
                namespace: tenant.namespace.into(),
            }),
            Some(rx) => rx.await.map_err(|_| PoolError::Closed),
        }
    }

    /// Runs a transformation on a raw payload.
    pub async fn transform(
        &self,
        tenant: Tenant<'_>,
        program: Arc<Program>,
        raw: Vec<u8>,
        meta: Meta,
    ) -> Result<Result<Output, TransformError>, PoolError> {
        self.run(tenant, move || program.run(&raw, &meta)).await
    }

    /// How many evaluations wait for a slot (for tests and diagnostics).
    pub fn waiting(&self) -> usize {
        let state = self.inner.lock();
        state
            .waiting
            .values()
            .flat_map(|sources| sources.iter().map(|(_, w)| w.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests;
