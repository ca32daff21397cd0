//! The subscription reconciler (controller-rs shape): a finalizer on every WebhookSubscription
//! so that deleting one drops its pending deliveries from the store before it disappears.
//! Errors requeue with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::Predicate;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, Event, finalizer};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::api::WebhookSubscription;
use crate::engine::{Engine, ObjectKey};
use crate::error_chain::chain;
use crate::store::{Store, StoreError, Target, TargetKind};

use super::status::backoff;
use super::stores::Scope;

/// The finalizer Switchboard puts on WebhookSubscriptions.
pub const FINALIZER: &str = "switchboard.dev/drop-pending";

/// Reconciles in flight at once (each one or two API calls): unbounded, a burst of new
/// subscriptions opened a connection to the API server per call in flight.
const CONCURRENT_RECONCILES: u16 = 32;

/// How long a cleanup waits for the engine to stop running a deleted subscription.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What the reconciler needs.
pub struct Context {
    client: Client,
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

/// Why a step of the reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Dropping pending deliveries failed.
    #[error("dropping pending deliveries")]
    Store(#[from] StoreError),
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Creating the generated signing Secret failed.
    #[error("creating the signing secret")]
    Secret(#[source] kube::Error),
    /// Adding or removing the finalizer, or a step, failed.
    #[error(transparent)]
    Finalizer(#[from] Box<finalizer::Error<StepError>>),
}

/// Adds the finalizer and the generated signing Secret; on deletion drops the pending
/// deliveries, then removes the finalizer.
pub async fn reconcile(
    obj: Arc<WebhookSubscription>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<WebhookSubscription> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = format!("{namespace}/{}", obj.name_any());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let (ns, store, subscription, secrets) = (&namespace, &ctx.store, &key, &secrets);
    let engine = &ctx.engine;
    // The signing Secret first: the subscription cannot sign (is not Ready) without it, and
    // adding the finalizer below costs a round trip before the Apply step would run.
    if obj.meta().deletion_timestamp.is_none() {
        super::signing::ensure(secrets, &obj)
            .await
            .map_err(ReconcileError::Secret)?;
    }
    let result = finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            Event::Apply(_) => Ok::<_, StepError>(Action::await_change()),
            Event::Cleanup(obj) => {
                // The engine drops a subscription that is being deleted at its next apply;
                // wait for that, so nothing is queued for it after the drop below.
                let running = ObjectKey::new(ns, &obj.name_any());
                let deadline = tokio::time::Instant::now() + STOP_WAIT;
                while engine.topology().subscriptions.contains_key(&running)
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let target = Target {
                    namespace: ns.clone(),
                    kind: TargetKind::Subscription,
                    name: obj.name_any(),
                };
                let dropped = store
                    .drop_pending(&target, "subscription deleted")
                    .await?;
                tracing::info!(%subscription, dropped, "subscription deleted; its pending deliveries were dropped");
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)));
    if result.is_ok() {
        let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&key);
    }
    result
}

/// Requeues a failed reconcile after 1 s, doubling per consecutive failure up to 5 min.
pub fn error_policy(
    obj: Arc<WebhookSubscription>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let n = failures.entry(key.clone()).or_default();
    *n += 1;
    let delay: Duration = backoff(*n);
    tracing::warn!(subscription = %key, error = %chain(error), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Drops what the reconciler never reads from an object before it is stored.
fn slim(obj: &mut WebhookSubscription) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(super::stores::LAST_APPLIED);
    obj.status = None;
}

/// Runs the subscription reconciler over the scope until `cancel`.
pub async fn run(client: Client, engine: Arc<Engine>, scope: Scope, cancel: CancellationToken) {
    let ctx = Arc::new(Context {
        client: client.clone(),
        store: engine.store().clone(),
        engine,
        failures: Default::default(),
    });
    let apis: Vec<Api<WebhookSubscription>> = if scope.namespaces.is_empty() {
        vec![Api::all(client)]
    } else {
        scope
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let controllers = apis.into_iter().map(|api| {
        // Its own store, of slim objects (no managedFields, status or last-applied copy), and
        // reconciles only on generation (spec, deletion) and finalizer changes: status writes
        // do not wake it.
        let (reader, writer) = reflector::store();
        let trigger = watcher(api, watcher::Config::default())
            .modify(slim)
            .reflect(writer)
            .applied_objects()
            .predicate_filter(
                predicates::generation.combine(predicates::finalizers),
                Default::default(),
            );
        Controller::for_stream(trigger, reader)
            .with_config(controller::Config::default().concurrency(CONCURRENT_RECONCILES))
            .graceful_shutdown_on(cancel.clone().cancelled_owned())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {})
    });
    futures::future::join_all(controllers).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_keeps_what_the_reconciler_reads_and_drops_the_rest() {
        let mut obj: WebhookSubscription = serde_json::from_value(serde_json::json!({
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "WebhookSubscription",
            "metadata": {
                "name": "s", "namespace": "a", "uid": "u", "generation": 2,
                "finalizers": [FINALIZER],
                "annotations": {super::super::stores::LAST_APPLIED: "{}", "team": "payments"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {"url": "https://x.example.com", "eventTypes": ["*"]},
            "status": {"observedGeneration": 2, "delivered": 5},
        }))
        .unwrap();
        slim(&mut obj);
        assert!(obj.managed_fields().is_empty());
        assert!(obj.status.is_none());
        assert_eq!(
            obj.annotations().keys().collect::<Vec<_>>(),
            ["team"],
            "only the last-applied copy is dropped"
        );
        assert_eq!(obj.finalizers(), [FINALIZER]);
        assert_eq!(obj.uid().as_deref(), Some("u"));
        assert_eq!(obj.spec.url.to_string(), "https://x.example.com");
    }
}
