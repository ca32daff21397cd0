//! The Kubernetes front-end: watches the eight kinds and their Secrets, applies them to the
//! engine as one snapshot, and writes the engine's status back by server-side apply, with
//! events on Ready transitions. The only module that uses the Kubernetes client and runtime.
//!
//! Flow: reflectors ([`stores`]) → debounced snapshot ([`apply_loop`], [`snapshot`]) →
//! `Engine::apply` → `StatusBoard` → status writer ([`writer`], coalescing in [`status`]).
//!
//! High availability ([`leader`]): every replica watches, applies, serves receivers and the
//! publish API and runs delivery workers; only the holder of the Lease `switchboard-leader`
//! writes status and events, runs the subscription reconciler (finalizers, generated signing
//! Secrets) and records signing-secret rotations ([`rotation`]).
//!
//! RBAC: the API verbs the controller uses, for the Helm chart's ClusterRole:
//! - `switchboard.dev`: clusterintegrationproviders, integrations, webhookendpoints,
//!   webhooksubscriptions, transformations, syncschedules, syncjobs, eventtypes: get, list,
//!   watch;
//!   webhooksubscriptions: patch, update (finalizers); integrations/finalizers,
//!   webhooksubscriptions/finalizers, syncschedules/finalizers: update (blockOwnerDeletion);
//!   every kind's `/status`: get, patch,
//!   update (server-side apply).
//! - core `secrets`: list, watch (values only of Secrets labelled `switchboard.dev/usable` or
//!   `switchboard.dev/publisher-token`, metadata only of the others), get (metadata of a
//!   generated signing Secret; OAuth token Secrets), create, patch (generated signing Secrets
//!   and their opt-in label, rotation bookkeeping; OAuth token Secrets by server-side apply
//!   and their refresh claim, a merge patch guarded by resourceVersion), delete (OAuth token
//!   Secrets, [`token_secret`]).
//! - `events.k8s.io` events (and core `events`): create, patch.
//! - `coordination.k8s.io` leases: get, create, update (in the leader-election namespace).
//! - `authentication.k8s.io` tokenreviews: create; `authorization.k8s.io`
//!   subjectaccessreviews: create (publish API and admin deliveries API auth).

pub mod access_review;
pub mod apply_loop;
mod disabled_event;
pub mod error;
pub mod finalizer;
pub mod kinds;
pub mod leader;
pub mod malloc;
pub mod rotation;
pub mod signing;
pub mod snapshot;
pub mod status;
pub mod stores;
pub mod sync_jobs;
pub mod token_review;
pub mod token_secret;
pub mod uninstall;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::watch;
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
    /// True while this replica leads (see [`leader::elect`]).
    pub leader: watch::Receiver<bool>,
}

/// A client from `KUBECONFIG` (or `~/.kube/config`) or the in-cluster service account.
pub async fn client() -> Result<Client, ControllerError> {
    let config = kube::Config::infer()
        .await
        .map_err(ControllerError::Config)?;
    Client::try_from(config).map_err(ControllerError::Client)
}

/// Runs watches and the apply loop until `cancel`, and, while this replica leads, the status
/// writer, the subscription reconciler and rotation bookkeeping; returns the apply loop's error.
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
    let (client_for_jobs, recorder_for_jobs) = (client.clone(), recorder.clone());
    let (board, writer_stores, writer_client) =
        (engine.status().clone(), stores.clone(), client.clone());
    let interval = config.status_interval;
    let writer_task = tokio::spawn(leader::while_leader(
        config.leader.clone(),
        cancel.clone(),
        move |term| {
            let writer = writer::StatusWriter::new(
                writer_client.clone(),
                board.clone(),
                writer_stores.clone(),
                recorder.clone(),
                interval,
            );
            writer.run(term)
        },
    ));
    let sync_jobs_task = tokio::spawn(sync_jobs::run(
        client_for_jobs,
        engine.clone(),
        stores.clone(),
        recorder_for_jobs,
        cancel.clone(),
    ));
    let (finalizer_client, finalizer_engine, scope) =
        (client.clone(), engine.clone(), config.scope.clone());
    let finalizer_task = tokio::spawn(leader::while_leader(
        config.leader.clone(),
        cancel.clone(),
        move |term| {
            finalizer::run(
                finalizer_client.clone(),
                finalizer_engine.clone(),
                scope.clone(),
                term,
            )
        },
    ));
    let rotation_writer = apply_loop::RotationWriter {
        client,
        leader: config.leader.clone(),
    };
    let result = apply_loop::run(
        engine,
        stores,
        config.debounce,
        rotation_writer,
        cancel.clone(),
    )
    .await;
    cancel.cancel();
    let _ = writer_task.await;
    let _ = finalizer_task.await;
    let _ = sync_jobs_task.await;
    result
}
