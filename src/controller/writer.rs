//! The status writer: reconciles every resource on the engine's status board into its status
//! subresource by server-side apply (field manager `switchboard`, forced), with events on
//! Ready transitions. Failed writes are retried with exponential backoff per resource.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::{API_VERSION, GROUP, Kind, READY, VERSION};
use crate::engine::{ObjectKey, ResourceStatus, StatusBoard};
use crate::error_chain::chain;

use super::disabled_event;
use super::error::ControllerError;
use super::kinds::normalize_status;
use super::status::{Decision, StatusDoc, Written, backoff, carried_from, decide, ready_of};
use super::stores::Stores;

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "switchboard";
/// Status writes in flight at once.
const CONCURRENT_WRITES: usize = 32;
/// How often the board is scanned for counters that became due.
const SCAN_EVERY: Duration = Duration::from_secs(1);

type Key = (Kind, ObjectKey);

/// One pending write.
struct Job {
    key: Key,
    uid: String,
    doc: StatusDoc,
    /// Ready status before this write ("Unknown" if never written).
    was_ready: String,
    /// The subscription was auto-disabled before this write.
    was_disabled: bool,
}

/// Writes status and events; owns what it last wrote.
pub struct StatusWriter {
    client: Client,
    board: StatusBoard,
    stores: Stores,
    recorder: Recorder,
    interval: Duration,
    written: HashMap<Key, Written>,
    failures: HashMap<Key, (u32, Instant)>,
    /// Counters Kubernetes had at this writer's first write that the engine has not reported
    /// yet (after a restart), written back until it does.
    carried: HashMap<Key, serde_json::Map<String, Value>>,
}

impl StatusWriter {
    /// A writer for the resources on `board` that exist in `stores`.
    pub fn new(
        client: Client,
        board: StatusBoard,
        stores: Stores,
        recorder: Recorder,
        interval: Duration,
    ) -> Self {
        Self {
            client,
            board,
            stores,
            recorder,
            interval,
            written: HashMap::new(),
            failures: HashMap::new(),
            carried: HashMap::new(),
        }
    }

    /// Writes status until `cancel`: on every condition transition and every second for
    /// counters that became due.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut transitions = self.board.subscribe();
        let mut tick = tokio::time::interval(SCAN_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
                _ = transitions.recv() => {
                    // Let the rest of an apply's transitions arrive; one pass writes them all.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while transitions.try_recv().is_ok() {}
                }
            }
            self.pass(&cancel).await;
        }
    }

    /// One pass over the board: decides, writes what is due (and its event), records the
    /// outcome. Resources are planned one at a time as write slots free up, so a pass over
    /// thousands of resources holds [`CONCURRENT_WRITES`] documents, not one per resource.
    /// Writes not started when `cancel` fires (leadership lost) are skipped.
    pub async fn pass(&mut self, cancel: &CancellationToken) {
        let now = Instant::now();
        let keys = self.board.keys();
        let live: std::collections::HashSet<&Key> = keys.iter().collect();
        self.written.retain(|k, _| live.contains(k));
        self.failures.retain(|k, _| live.contains(k));
        self.carried.retain(|k, _| live.contains(k));
        drop(live);
        let mut pending = keys.into_iter();
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut wrote = false;
        loop {
            while in_flight.len() < CONCURRENT_WRITES && !cancel.is_cancelled() {
                let Some(key) = pending.next() else { break };
                let Some(report) = self.board.get(key.0, &key.1) else {
                    continue;
                };
                if let Some(job) = self.plan(key, &report, now) {
                    let (client, recorder) = (self.client.clone(), self.recorder.clone());
                    in_flight.push(async move {
                        let result = write(&client, &job).await;
                        if result.is_ok() && job.doc.ready() != job.was_ready {
                            publish_event(&recorder, &job).await;
                        }
                        if result.is_ok() {
                            let (kind, key) = (job.key.0, &job.key.1);
                            let (was, urgent) = (job.was_disabled, &job.doc.urgent);
                            disabled_event::publish(&recorder, (kind, key), &job.uid, was, urgent)
                                .await;
                        }
                        (job, result)
                    });
                }
            }
            let Some((job, result)) = in_flight.next().await else {
                break;
            };
            self.record(job, result);
            wrote = true;
        }
        if wrote {
            super::malloc::trim();
        }
    }

    /// The write a resource needs now, if any.
    fn plan(&mut self, key: Key, report: &ResourceStatus, now: Instant) -> Option<Job> {
        if self.failures.get(&key).is_some_and(|(_, at)| *at > now) {
            return None;
        }
        let (kind, ns, name) = (key.0, &key.1.namespace, &key.1.name);
        let Some(prev) = self.written.get(&key) else {
            return self.plan_first(key, report, now);
        };
        // Kubernetes has what was written last: its transition times come from there.
        let uid = self.stores.uid(kind, ns, name)?;
        let mut doc = StatusDoc::from_report(report, &prev.doc.urgent);
        if let Some(carried) = self.carried.get_mut(&key) {
            doc.carry(carried);
            if carried.is_empty() {
                self.carried.remove(&key);
            }
        }
        let was_ready = prev.doc.ready().to_owned();
        let was_disabled = disabled_event::disabled(kind, &prev.doc.urgent);
        match decide(Some(prev), &doc, now, self.interval) {
            Decision::Write => Some(Job {
                key,
                uid,
                doc,
                was_ready,
                was_disabled,
            }),
            Decision::WaitUntil(_) | Decision::UpToDate => None,
        }
    }

    /// The first write of a resource this writer has not written yet, if any: compared
    /// with the status Kubernetes has.
    fn plan_first(&mut self, key: Key, report: &ResourceStatus, now: Instant) -> Option<Job> {
        let (uid, current) = self.stores.lookup(key.0, &key.1.namespace, &key.1.name)?;
        let mut doc = StatusDoc::from_report(report, &current);
        let mut carried = carried_from(&current);
        doc.carry(&mut carried);
        if carried.is_empty() {
            self.carried.remove(&key);
        } else {
            self.carried.insert(key.clone(), carried);
        }
        if !current.is_null() && normalize_status(key.0, current.clone()) == doc.full(key.0) {
            // Kubernetes already has it (a restart): nothing to write.
            self.written.insert(key, Written { doc, at: now });
            return None;
        }
        if current.is_null() && waiting_for_its_secret(report, &doc) {
            // A new subscription whose generated signing Secret is being created: its first
            // status is Ready=True a moment later; skip the Ready=False write and its event.
            return None;
        }
        let was_ready = ready_of(&current).to_owned();
        let was_disabled = disabled_event::disabled(key.0, &current);
        Some(Job {
            key,
            uid,
            doc,
            was_ready,
            was_disabled,
        })
    }

    /// Remembers a successful write or schedules a retry.
    fn record(&mut self, job: Job, result: Result<(), kube::Error>) {
        match result {
            Ok(()) => {
                self.failures.remove(&job.key);
                self.written.insert(
                    job.key,
                    Written {
                        doc: job.doc,
                        at: Instant::now(),
                    },
                );
            }
            // Deleted meanwhile: the next snapshot drops it from the board.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                let failures = self.failures.get(&job.key).map_or(0, |f| f.0) + 1;
                let delay = backoff(failures);
                let (kind, key) = &job.key;
                tracing::warn!(%kind, resource = %key, error = %chain(&ControllerError::Kube(e)), retry_in = ?delay, "writing status failed");
                self.failures
                    .insert(job.key, (failures, Instant::now() + delay));
            }
        }
    }
}

/// Server-side apply of the status subresource.
async fn write(client: &Client, job: &Job) -> Result<(), kube::Error> {
    let (kind, key) = &job.key;
    let api = dynamic_api(client, *kind, &key.namespace);
    let mut metadata = json!({ "name": key.name });
    if !key.namespace.is_empty() {
        metadata["namespace"] = key.namespace.clone().into();
    }
    let body = json!({
        "apiVersion": API_VERSION,
        "kind": kind.as_str(),
        "metadata": metadata,
        "status": job.doc.full(*kind),
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&key.name, &params, &Patch::Apply(&body))
        .await
        .map(drop)
}

/// Publishes the Ready transition a successful write made.
async fn publish_event(recorder: &Recorder, job: &Job) {
    let (kind, key) = &job.key;
    let Some(ready) = job
        .doc
        .urgent
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == READY))
    else {
        return;
    };
    let message: String = ready["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(1000)
        .collect();
    let event = if job.doc.ready() == "True" {
        Event {
            type_: EventType::Normal,
            reason: "Ready".into(),
            note: Some(message),
            action: "Reconcile".into(),
            secondary: None,
        }
    } else {
        Event {
            type_: EventType::Warning,
            reason: ready["reason"].as_str().unwrap_or("NotReady").into(),
            note: Some(message),
            action: "Reconcile".into(),
            secondary: None,
        }
    };
    let reference = ObjectReference {
        api_version: Some(API_VERSION.into()),
        kind: Some(kind.as_str().into()),
        name: Some(key.name.clone()),
        namespace: (!key.namespace.is_empty()).then(|| key.namespace.clone()),
        uid: Some(job.uid.clone()),
        ..ObjectReference::default()
    };
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(%kind, resource = %key, error = %chain(&e), "publishing an event failed");
    }
}

/// How long a new subscription may wait for its generated signing Secret before its
/// Ready=False `SigningSecretPending` status is written.
const SECRET_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// True for a report younger than [`SECRET_GRACE`] that is only waiting for its Secret.
fn waiting_for_its_secret(report: &ResourceStatus, doc: &StatusDoc) -> bool {
    let pending = doc
        .urgent
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == READY))
        .is_some_and(|c| c["status"] == "False" && c["reason"] == "SigningSecretPending");
    pending && chrono::Utc::now() - report.created_at < SECRET_GRACE
}

/// An untyped API for a kind, in a namespace ("" for cluster-scoped kinds).
fn dynamic_api(client: &Client, kind: Kind, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(GROUP, VERSION, kind.as_str());
    let resource = ApiResource::from_gvk_with_plural(&gvk, &kind.plural());
    if namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(reason: &str, age: chrono::TimeDelta) -> ResourceStatus {
        let board = StatusBoard::new();
        let key = ObjectKey::new("ns", "s");
        let kind = Kind::WebhookSubscription;
        board.set_condition(kind, &key, Some(1), READY, false, reason, "m");
        let mut report = board.get(kind, &key).unwrap();
        report.created_at -= age;
        report
    }

    #[test]
    fn a_new_subscription_waiting_for_its_secret_is_not_written_for_a_grace_period() {
        let young = report("SigningSecretPending", chrono::TimeDelta::seconds(1));
        let doc = StatusDoc::from_report(&young, &Value::Null);
        assert!(waiting_for_its_secret(&young, &doc));
        let old = report("SigningSecretPending", chrono::TimeDelta::seconds(11));
        assert!(!waiting_for_its_secret(
            &old,
            &StatusDoc::from_report(&old, &Value::Null)
        ));
        let other = report("TransformationInvalid", chrono::TimeDelta::seconds(1));
        assert!(!waiting_for_its_secret(
            &other,
            &StatusDoc::from_report(&other, &Value::Null)
        ));
    }
}
