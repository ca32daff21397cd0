//! The Kubernetes front-end: watches the seven kinds and their Secrets, applies them to the
//! engine as one snapshot, and writes the engine's status back by server-side apply, with
//! events on Ready transitions. The only module that uses the Kubernetes client and runtime.
//!
//! Flow: reflectors ([`stores`]) → debounced snapshot ([`sync`], [`snapshot`]) →
//! `Engine::apply` → `StatusBoard` → status writer ([`writer`], coalescing in [`status`]).

pub mod error;
pub mod finalizer;
pub mod kinds;
pub mod signing;
pub mod snapshot;
pub mod status;
pub mod stores;
pub mod sync;
pub mod sync_jobs;
pub mod token_review;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

pub use error::ControllerError;
pub use stores::Scope;

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Namespaces watched (empty: all).
    pub scope: Scope,
    /// Counters are written at most this often per resource.
    pub status_interval: Duration,
    /// Quiet time after a change before the snapshot is rebuilt.
    pub debounce: Duration,
    /// Name of this replica in events (the pod name in a cluster).
    pub instance: Option<String>,
}

/// A client from `KUBECONFIG` (or `~/.kube/config`) or the in-cluster service account.
pub async fn client() -> Result<Client, ControllerError> {
    let config = kube::Config::infer()
        .await
        .map_err(ControllerError::Config)?;
    Client::try_from(config).map_err(ControllerError::Client)
}

/// Runs watches, sync loop and status writer until `cancel`; returns the sync loop's error.
pub async fn run(
    client: Client,
    engine: Arc<Engine>,
    config: ControllerConfig,
    cancel: CancellationToken,
) -> Result<(), ControllerError> {
    let stores = stores::Stores::start(&client, &config.scope, &cancel);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "switchboard".into(),
            instance: config.instance.clone(),
        },
    );
    let client_for_finalizers = client.clone();
    let client_for_jobs = client.clone();
    let recorder_for_jobs = recorder.clone();
    let writer = writer::StatusWriter::new(
        client,
        engine.status().clone(),
        stores.clone(),
        recorder,
        config.status_interval,
    );
    let writer_task = tokio::spawn(writer.run(cancel.clone()));
    let finalizer_task = tokio::spawn(finalizer::run(
        client_for_finalizers,
        engine.store().clone(),
        config.scope.clone(),
        cancel.clone(),
    ));
    let sync_jobs_task = tokio::spawn(sync_jobs::run(
        client_for_jobs,
        engine.clone(),
        stores.clone(),
        recorder_for_jobs,
        cancel.clone(),
    ));
    let result = sync::run(engine, stores, config.debounce, cancel.clone()).await;
    cancel.cancel();
    let _ = writer_task.await;
    let _ = finalizer_task.await;
    let _ = sync_jobs_task.await;
    result
}
