//! Reflectors: one watch per kind (per watched namespace) and for Secrets, each feeding an
//! in-memory store; every change pokes a `Notify` so the apply loop rebuilds the snapshot.
//!
//! Secrets are watched three ways, so that no value of a Secret that has not opted in ever
//! reaches this process: the values only of Secrets labelled `switchboard.dev/usable=true`
//! (label selector, [`USABLE_SECRET_SELECTOR`]) and of publisher tokens
//! ([`PUBLISHER_TOKEN_SELECTOR`]), and the metadata only (labels; annotations dropped on
//! arrival) of every other Secret, to tell a Secret that did not opt in from a missing one.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
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

/// The only Secrets whose values resources may use: those that opted in.
pub const USABLE_SECRET_SELECTOR: &str = "switchboard.dev/usable=true";

/// Publisher-token Secrets, whose `token` the publish API compares (never sends).
pub const PUBLISHER_TOKEN_SELECTOR: &str = "switchboard.dev/publisher-token=true";

/// The watches of Secrets: with values (opted-in Secrets, publisher tokens), and metadata only
/// (every Secret but the kinds never referenced).
pub fn secret_watch_configs() -> SecretWatches {
    let fields = watcher::Config::default().fields(SECRET_FIELD_SELECTOR);
    SecretWatches {
        usable: fields.clone().labels(USABLE_SECRET_SELECTOR),
        publisher_tokens: fields.clone().labels(PUBLISHER_TOKEN_SELECTOR),
        metadata: fields,
    }
}

/// The watcher configurations of the three Secret watches.
#[derive(Clone, Debug)]
pub struct SecretWatches {
    /// Values of Secrets that opted in to use by resources.
    pub usable: watcher::Config,
    /// Values of publisher-token Secrets.
    pub publisher_tokens: watcher::Config,
    /// Metadata only, of every Secret.
    pub metadata: watcher::Config,
}

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
    /// Secrets that opted in to use by resources, with their values ([`USABLE_SECRET_SELECTOR`]).
    pub secrets: Vec<Store<Secret>>,
    /// Publisher-token Secrets, with their values ([`PUBLISHER_TOKEN_SELECTOR`]).
    pub publisher_tokens: Vec<Store<Secret>>,
    /// Every Secret's metadata without its annotations (see [`SECRET_FIELD_SELECTOR`]).
    pub secret_meta: Vec<Store<PartialObjectMeta<Secret>>>,
    /// Poked on every change of any store.
    pub changed: Arc<Notify>,
}

impl Stores {
    /// Starts every reflector on `client`; they run until `cancel`.
    pub fn start(client: &Client, scope: &Scope, cancel: &CancellationToken) -> Self {
        let changed = Arc::new(Notify::new());
        let cfg = watcher::Config::default();
        let secret_cfg = secret_watch_configs();
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
            secrets: spawn.all(scope.apis(client), &secret_cfg.usable),
            publisher_tokens: spawn.all(scope.apis(client), &secret_cfg.publisher_tokens),
            secret_meta: scope
                .apis::<PartialObjectMeta<Secret>>(client)
                .into_iter()
                .map(|api| spawn.reflect_metadata(api, secret_cfg.metadata.clone()))
                .collect(),
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
        all(&self.secrets).await?;
        all(&self.publisher_tokens).await?;
        all(&self.secret_meta).await
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

    /// Spawns one reflector of whole objects.
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
        let stream = watcher(api, cfg).modify(|obj: &mut K| {
            obj.managed_fields_mut().clear();
            obj.annotations_mut().remove(LAST_APPLIED);
        });
        self.spawn(stream)
    }

    /// Spawns one reflector of the metadata of Secrets, without their annotations (kubectl's
    /// last-applied annotation holds a Secret's values).
    fn reflect_metadata(
        &self,
        api: Api<PartialObjectMeta<Secret>>,
        cfg: watcher::Config,
    ) -> Store<PartialObjectMeta<Secret>> {
        // `Api<PartialObjectMeta<_>>` asks for metadata only: the server never sends values.
        let stream = watcher(api, cfg).modify(|obj: &mut PartialObjectMeta<Secret>| {
            obj.managed_fields_mut().clear();
            obj.annotations_mut().clear();
        });
        self.spawn(stream)
    }

    /// Runs a watch into a new store, poking `changed` on every change; watch errors are
    /// logged and retried with the default backoff.
    fn spawn<K>(
        &self,
        watch: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    ) -> Store<K>
    where
        K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    {
        let (reader, writer) = reflector::store();
        let changed = self.changed.clone();
        let cancel = self.cancel.clone();
        let kind = K::kind(&()).into_owned();
        let stream = reflector::reflector(writer, watch.default_backoff());
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

    #[test]
    fn only_opted_in_secrets_and_publisher_tokens_are_watched_with_their_values() {
        let w = secret_watch_configs();
        assert_eq!(
            w.usable.label_selector.as_deref(),
            Some("switchboard.dev/usable=true")
        );
        assert_eq!(
            w.publisher_tokens.label_selector.as_deref(),
            Some("switchboard.dev/publisher-token=true")
        );
        assert_eq!(w.metadata.label_selector, None);
        assert!(
            PartialObjectMeta::<Secret>::metadata_api(),
            "metadata-only requests"
        );
        for cfg in [&w.usable, &w.publisher_tokens, &w.metadata] {
            assert_eq!(cfg.field_selector.as_deref(), Some(SECRET_FIELD_SELECTOR));
        }
    }

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
            publisher_tokens: empty(),
            secret_meta: empty(),
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
