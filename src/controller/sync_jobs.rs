//! SyncJob resources for the runs the engine starts: each run of a SyncSchedule becomes a
//! SyncJob (owned by its schedule, labelled `switchboard.dev/schedule`) whose status the
//! status writer keeps up to date; runs removed by the history limits are deleted. The
//! engine decides when runs start; this only mirrors them into the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::api::{API_VERSION, Kind, SyncJob, SyncJobPhase, SyncJobSpec};
use crate::engine::Engine;
use crate::error_chain::chain;
use crate::sync::{JobEvent, Key, SCHEDULE_LABEL, SYNC_FINISHED};

use super::status::backoff;
use super::stores::Stores;

/// Attempts at creating or deleting one SyncJob before giving up.
const ATTEMPTS: u32 = 6;

/// Mirrors the engine's job events into SyncJob resources (and a "finished" event on each)
/// until `cancel`.
pub async fn run(
    client: Client,
    engine: Arc<Engine>,
    stores: Stores,
    recorder: Recorder,
    cancel: CancellationToken,
) {
    let mut events = engine.syncs().subscribe();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        match event {
            // In order, so a run's delete never overtakes its create.
            Ok(JobEvent::Created { key, spec }) => create(&client, &stores, &key, *spec).await,
            Ok(JobEvent::Deleted { key }) => delete(&client, &key).await,
            Ok(JobEvent::Finished { key, phase }) => {
                tracing::info!(job = %key, ?phase, "sync job finished");
                let (client, stores, recorder) = (client.clone(), stores.clone(), recorder.clone());
                tokio::spawn(async move {
                    finished_event(&client, &stores, &recorder, &key, phase).await
                });
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "sync job events were missed");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The SyncJob resource of a run.
pub fn resource(key: &Key, spec: SyncJobSpec, schedule_uid: Option<String>) -> SyncJob {
    let mut job = SyncJob::new(&key.name, spec);
    job.metadata.namespace = Some(key.namespace.clone());
    if let Some(schedule) = job.spec.schedule_ref.as_ref().map(|r| r.name.clone()) {
        job.metadata.labels = Some(BTreeMap::from([(
            SCHEDULE_LABEL.to_owned(),
            schedule.clone(),
        )]));
        job.metadata.owner_references = schedule_uid.map(|uid| {
            vec![OwnerReference {
                api_version: API_VERSION.into(),
                kind: Kind::SyncSchedule.as_str().into(),
                name: schedule,
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]
        });
    }
    job
}

async fn create(client: &Client, stores: &Stores, key: &Key, spec: SyncJobSpec) {
    let api: Api<SyncJob> = Api::namespaced(client.clone(), &key.namespace);
    let uid = spec
        .schedule_ref
        .as_ref()
        .and_then(|r| stores.lookup(Kind::SyncSchedule, &key.namespace, &r.name))
        .map(|(uid, _)| uid)
        .filter(|uid| !uid.is_empty());
    let job = resource(key, spec, uid);
    for attempt in 1..=ATTEMPTS {
        match api.create(&PostParams::default(), &job).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 409 => return,
            Err(e) if attempt == ATTEMPTS => {
                tracing::warn!(job = %key, error = %chain(&e), "creating the SyncJob failed");
            }
            Err(_) => tokio::time::sleep(backoff(attempt)).await,
        }
    }
}

async fn delete(client: &Client, key: &Key) {
    let api: Api<SyncJob> = Api::namespaced(client.clone(), &key.namespace);
    for attempt in 1..=ATTEMPTS {
        match api.delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 => return,
            Err(e) if attempt == ATTEMPTS => {
                tracing::warn!(job = %key, error = %chain(&e), "deleting the SyncJob failed");
            }
            Err(_) => tokio::time::sleep(backoff(attempt)).await,
        }
    }
}

/// Marks the SyncJob finished and publishes "the sync job finished" on it (once its
/// resource is known here).
async fn finished_event(
    client: &Client,
    stores: &Stores,
    recorder: &Recorder,
    key: &Key,
    phase: SyncJobPhase,
) {
    let mut uid = None;
    for _ in 0..20 {
        uid = stores
            .lookup(Kind::SyncJob, &key.namespace, &key.name)
            .map(|(uid, _)| uid);
        if uid.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let Some(uid) = uid else { return };
    // Marks it finished for good (a controller that lost its store does not run it again).
    let api: Api<SyncJob> = Api::namespaced(client.clone(), &key.namespace);
    let phase_text = serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mark = serde_json::json!({"metadata": {"annotations": {SYNC_FINISHED: phase_text}}});
    if let Err(e) = api
        .patch(&key.name, &PatchParams::default(), &Patch::Merge(&mark))
        .await
    {
        tracing::warn!(job = %key, error = %chain(&e), "marking the SyncJob finished");
    }
    let (type_, reason) = match phase {
        SyncJobPhase::Completed => (EventType::Normal, "SyncJobCompleted"),
        SyncJobPhase::Cancelled => (EventType::Normal, "SyncJobCancelled"),
        _ => (EventType::Warning, "SyncJobFailed"),
    };
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(format!("sync job finished: {phase:?}")),
        action: "Sync".into(),
        secondary: None,
    };
    let reference = ObjectReference {
        api_version: Some(API_VERSION.into()),
        kind: Some(Kind::SyncJob.as_str().into()),
        name: Some(key.name.clone()),
        namespace: Some(key.namespace.clone()),
        uid: Some(uid),
        ..ObjectReference::default()
    };
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(job = %key, error = %chain(&e), "publishing the sync job event failed");
    }
}
