//! Reflectors: one watch per kind (per watched namespace) and for Secrets, each feeding an
//! in-memory store; every change pokes a `Notify` so the apply loop rebuilds the snapshot.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{
    ClusterIntegrationProvider, EventType, Integration, Kind, SyncJob, SyncSchedule,
    Transformation, WebhookEndpoint, WebhookSubscription,
};
use crate::error_chain::chain;

use super::kinds::Watched;

/// Secrets never referenced by Switchboard resources, left out of the watch (field selector):
/// ServiceAccount tokens and Helm release records are the bulk of most namespaces' Secrets.
pub const SECRET_FIELD_SELECTOR: &str =
    "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1";

/// Annotation kubectl writes with the whole applied object (for a Secret, its values).
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Which namespaces are watched: all, or a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces to watch; empty means every namespace.
    pub namespaces: Vec<String>,
}

impl Scope {
    /// The APIs to watch for a namespaced resource type.
    fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        if self.namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            self.namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        }
    }
}

/// The readers of every reflector.
#[derive(Clone)]
pub struct Stores {
    /// ClusterIntegrationProviders (cluster-wide).
    pub providers: Vec<Store<ClusterIntegrationProvider>>,
    /// Integrations.
    pub integrations: Vec<Store<Integration>>,
    /// WebhookEndpoints.
    pub endpoints: Vec<Store<WebhookEndpoint>>,
    /// WebhookSubscriptions.
    pub subscriptions: Vec<Store<WebhookSubscription>>,
    /// Transformations.
    pub transformations: Vec<Store<Transformation>>,
    /// SyncSchedules.
    pub schedules: Vec<Store<SyncSchedule>>,
    /// SyncJobs.
    pub jobs: Vec<Store<SyncJob>>,
    /// EventTypes.
    pub event_types: Vec<Store<EventType>>,
    /// Secrets of the watched namespaces (see [`SECRET_FIELD_SELECTOR`]).
    pub secrets: Vec<Store<Secret>>,
    /// Poked on every change of any store.
    pub changed: Arc<Notify>,
}

impl Stores {
    /// Starts every reflector on `client`; they run until `cancel`.
    pub fn start(client: &Client, scope: &Scope, cancel: &CancellationToken) -> Self {
        let changed = Arc::new(Notify::new());
        let cfg = watcher::Config::default();
        let secret_cfg = watcher::Config::default().fields(SECRET_FIELD_SELECTOR);
        let spawn = Spawner {
            changed: changed.clone(),
            cancel: cancel.clone(),
        };
        Self {
            providers: vec![spawn.reflect(Api::all(client.clone()), cfg.clone())],
            integrations: spawn.all(scope.apis(client), &cfg),
            endpoints: spawn.all(scope.apis(client), &cfg),
            subscriptions: spawn.all(scope.apis(client), &cfg),
            transformations: spawn.all(scope.apis(client), &cfg),
            schedules: spawn.all(scope.apis(client), &cfg),
            jobs: spawn.all(scope.apis(client), &cfg),
            event_types: spawn.all(scope.apis(client), &cfg),
            secrets: spawn.all(scope.apis(client), &secret_cfg),
            changed,
        }
    }

    /// Waits until every store has had its initial list.
    pub async fn ready(&self) -> Result<(), reflector::store::WriterDropped> {
        async fn all<K: Resource<DynamicType = ()> + Clone + 'static>(
            stores: &[Store<K>],
        ) -> Result<(), reflector::store::WriterDropped> {
            for s in stores {
                s.wait_until_ready().await?;
            }
            Ok(())
        }
        all(&self.providers).await?;
        all(&self.integrations).await?;
        all(&self.endpoints).await?;
        all(&self.subscriptions).await?;
        all(&self.transformations).await?;
        all(&self.schedules).await?;
        all(&self.jobs).await?;
        all(&self.event_types).await?;
        all(&self.secrets).await
    }

    /// UID and status (as JSON) of the object of `kind` at `namespace`/`name`, if stored.
    pub fn lookup(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Option<(String, serde_json::Value)> {
        self.find(kind, namespace, name, true)
    }

    /// UID of the object of `kind` at `namespace`/`name`, if stored (its status is not
    /// serialized: the status writer asks for every resource on every pass).
    pub fn uid(&self, kind: Kind, namespace: &str, name: &str) -> Option<String> {
        self.find(kind, namespace, name, false).map(|(uid, _)| uid)
    }

    fn find(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        with_status: bool,
    ) -> Option<(String, serde_json::Value)> {
        fn find<K: Watched>(
            stores: &[Store<K>],
            ns: &str,
            name: &str,
            with_status: bool,
        ) -> Option<(String, serde_json::Value)> {
            let mut r = ObjectRef::<K>::new(name);
            if !ns.is_empty() {
                r = r.within(ns);
            }
            let obj = stores.iter().find_map(|s| s.get(&r))?;
            let status = if with_status {
                obj.status_json()
            } else {
                serde_json::Value::Null
            };
            Some((obj.uid().unwrap_or_default(), status))
        }
        let (ns, s) = (namespace, with_status);
        match kind {
            Kind::ClusterIntegrationProvider => find(&self.providers, ns, name, s),
            Kind::Integration => find(&self.integrations, ns, name, s),
            Kind::WebhookEndpoint => find(&self.endpoints, ns, name, s),
            Kind::WebhookSubscription => find(&self.subscriptions, ns, name, s),
            Kind::Transformation => find(&self.transformations, ns, name, s),
            Kind::SyncSchedule => find(&self.schedules, ns, name, s),
            Kind::SyncJob => find(&self.jobs, ns, name, s),
            Kind::EventType => find(&self.event_types, ns, name, s),
        }
    }
}

struct Spawner {
    changed: Arc<Notify>,
    cancel: CancellationToken,
}

impl Spawner {
    fn all<K>(&self, apis: Vec<Api<K>>, cfg: &watcher::Config) -> Vec<Store<K>>
    where
        K: Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        apis.into_iter()
            .map(|api| self.reflect(api, cfg.clone()))
            .collect()
    }

    /// Spawns one reflector; watch errors are logged and retried with the default backoff.
    fn reflect<K>(&self, api: Api<K>, cfg: watcher::Config) -> Store<K>
    where
        K: Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let (reader, writer) = reflector::store();
        let changed = self.changed.clone();
        let cancel = self.cancel.clone();
        let kind = K::kind(&()).into_owned();
        let stream = reflector::reflector(
            writer,
            watcher(api, cfg).default_backoff().modify(|obj: &mut K| {
                obj.managed_fields_mut().clear();
                obj.annotations_mut().remove(LAST_APPLIED);
            }),
        );
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    next = stream.next() => next,
                };
                match next {
                    None => return,
                    Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => {}
                    Some(Ok(_)) => changed.notify_one(),
                    Some(Err(e)) => {
                        tracing::warn!(kind, error = %chain(&e), "watch failed; retrying")
                    }
                }
            }
        });
        reader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty<K: Resource<DynamicType = ()> + Clone + 'static>() -> Vec<Store<K>> {
        Vec::new()
    }

    #[test]
    fn uid_reads_the_store_without_the_status_and_lookup_with_it() {
        let (reader, mut writer) = reflector::store::<WebhookSubscription>();
        let obj: WebhookSubscription = serde_json::from_value(serde_json::json!({
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "WebhookSubscription",
            "metadata": {"name": "s", "namespace": "a", "uid": "u-1"},
            "spec": {"url": "https://x.example.com", "eventTypes": ["*"]},
            "status": {"observedGeneration": 1},
        }))
        .unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(obj));
        let stores = Stores {
            providers: empty(),
            integrations: empty(),
            endpoints: empty(),
            subscriptions: vec![reader],
            transformations: empty(),
            schedules: empty(),
            jobs: empty(),
            event_types: empty(),
            secrets: empty(),
            changed: Arc::new(Notify::new()),
        };
        let kind = Kind::WebhookSubscription;
        assert_eq!(stores.uid(kind, "a", "s").as_deref(), Some("u-1"));
        let (uid, status) = stores.lookup(kind, "a", "s").unwrap();
        assert_eq!(
            (uid.as_str(), &status["observedGeneration"]),
            ("u-1", &1.into())
        );
        assert!(stores.uid(kind, "b", "s").is_none());
        assert!(stores.uid(Kind::WebhookEndpoint, "a", "s").is_none());
    }
}
