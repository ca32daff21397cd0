//! Status reports: conditions and counters per resource, as the engine sees them, for
//! whichever front-end is running (the admin API, `switchboard get`, the controller).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::api::Kind;

use super::snapshot::ObjectKey;

/// One condition, in the metav1.Condition shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type ("Ready", "Healthy").
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// Message a person can act on.
    pub message: String,
    /// When the status last changed.
    pub last_transition_time: DateTime<Utc>,
    /// Generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The status of one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Kind.
    pub kind: String,
    /// Namespace ("" for cluster-scoped).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// When the engine first saw the resource.
    pub created_at: DateTime<Utc>,
    /// Generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions (Ready on every kind).
    pub conditions: Vec<Condition>,
    /// Kind-specific fields (counters, phase, url, …) as in the CRD status.
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ResourceStatus {
    /// The condition of a type, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// A change of a condition, for front-ends that publish events on transitions.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The resource.
    pub kind: Kind,
    /// Its key.
    pub key: ObjectKey,
    /// The condition after the change.
    pub condition: Condition,
}

/// Status fields computed when the status is read (counters that change on every request).
pub type LiveFields = Arc<dyn Fn() -> serde_json::Map<String, serde_json::Value> + Send + Sync>;

/// The latest status of every resource; cheap to clone and share.
#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<(Kind, ObjectKey), ResourceStatus>>>,
    live: Arc<Mutex<HashMap<(Kind, ObjectKey), LiveFields>>>,
    transitions: broadcast::Sender<Transition>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            live: Arc::default(),
            transitions: broadcast::channel(1024).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(Kind, ObjectKey), ResourceStatus>> {
        lock(&self.inner)
    }

    /// Receives condition transitions from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.transitions.subscribe()
    }

    /// Sets a condition; the transition time changes only when the status does.
    #[allow(clippy::too_many_arguments)] // the fields of a metav1.Condition, spelt out
    pub fn set_condition(
        &self,
        kind: Kind,
        key: &ObjectKey,
        generation: Option<i64>,
        type_: &str,
        ok: bool,
        reason: &str,
        message: &str,
    ) {
        let now = Utc::now();
        let status = if ok { "True" } else { "False" };
        let mut map = self.lock();
        let entry = entry(&mut map, kind, key, now);
        entry.observed_generation = generation.or(entry.observed_generation);
        let changed;
        match entry.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                changed = c.status != status || c.reason != reason || c.message != message;
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status.into();
                c.reason = reason.into();
                c.message = message.into();
                c.observed_generation = generation;
            }
            None => {
                changed = true;
                entry.conditions.push(Condition {
                    type_: type_.into(),
                    status: status.into(),
                    reason: reason.into(),
                    message: message.into(),
                    last_transition_time: now,
                    observed_generation: generation,
                });
            }
        }
        if changed {
            let condition = entry.condition(type_).cloned().expect("just set");
            drop(map);
            let _ = self.transitions.send(Transition {
                kind,
                key: key.clone(),
                condition,
            });
        }
    }

    /// Removes a condition of a resource (one that no longer applies).
    pub fn remove_condition(&self, kind: Kind, key: &ObjectKey, type_: &str) {
        if let Some(entry) = self.lock().get_mut(&(kind, key.clone())) {
            entry.conditions.retain(|c| c.type_ != type_);
        }
    }

    /// Records the generation a resource's status describes, when the board knows the
    /// resource (conditions set later without one keep it).
    pub fn set_generation(&self, kind: Kind, key: &ObjectKey, generation: Option<i64>) {
        if let Some(entry) = self.lock().get_mut(&(kind, key.clone())) {
            entry.observed_generation = generation.or(entry.observed_generation);
        }
    }

    /// Sets kind-specific status fields (merged into the existing ones).
    pub fn set_fields(
        &self,
        kind: Kind,
        key: &ObjectKey,
        fields: serde_json::Map<String, serde_json::Value>,
    ) {
        let mut map = self.lock();
        let entry = entry(&mut map, kind, key, Utc::now());
        for (k, v) in fields {
            if v.is_null() {
                entry.fields.remove(&k);
            } else {
                entry.fields.insert(k, v);
            }
        }
    }

    /// Makes `fields` part of the resource's status from now on, computed at every read and
    /// merged over the fields set with [`StatusBoard::set_fields`].
    pub fn set_live(&self, kind: Kind, key: &ObjectKey, fields: LiveFields) {
        lock(&self.live).insert((kind, key.clone()), fields);
    }

    /// Forgets a resource that no longer exists.
    pub fn remove(&self, kind: Kind, key: &ObjectKey) {
        let key = (kind, key.clone());
        self.lock().remove(&key);
        lock(&self.live).remove(&key);
    }

    /// The status of one resource.
    pub fn get(&self, kind: Kind, key: &ObjectKey) -> Option<ResourceStatus> {
        let key = (kind, key.clone());
        let status = self.lock().get(&key).cloned()?;
        let live = lock(&self.live).get(&key).cloned();
        Some(with_live(status, live.as_ref()))
    }

    /// Every status, optionally of one kind, ordered by kind, namespace and name.
    pub fn list(&self, kind: Option<Kind>) -> Vec<ResourceStatus> {
        let statuses: Vec<((Kind, ObjectKey), ResourceStatus)> = self
            .lock()
            .iter()
            .filter(|((k, _), _)| kind.is_none_or(|want| *k == want))
            .map(|(key, s)| (key.clone(), s.clone()))
            .collect();
        let live = lock(&self.live).clone();
        statuses
            .into_iter()
            .map(|(key, status)| with_live(status, live.get(&key)))
            .collect()
    }

    /// Keys of every resource on the board.
    pub fn keys(&self) -> Vec<(Kind, ObjectKey)> {
        self.lock().keys().cloned().collect()
    }
}

/// Delivery status goes to the subscription (or, for a forward, the endpoint) on the board.
impl crate::delivery::StatusSink for StatusBoard {
    fn condition(
        &self,
        target: &crate::store::Target,
        type_: &str,
        ok: bool,
        reason: &str,
        message: &str,
    ) {
        if target.is_dead_letter_queue() {
            return; // a dead-letter URL's queue is no resource of its own
        }
        let (kind, key) = board_key(target);
        let generation = self.get(kind, &key).and_then(|s| s.observed_generation);
        self.set_condition(kind, &key, generation, type_, ok, reason, message);
    }

    fn fields(
        &self,
        target: &crate::store::Target,
        fields: serde_json::Map<String, serde_json::Value>,
    ) {
        if target.is_dead_letter_queue() {
            return;
        }
        let (kind, key) = board_key(target);
        if self.get(kind, &key).is_some() {
            self.set_fields(kind, &key, fields);
        }
    }
}

/// The status with its live fields (computed now) merged over its stored ones.
fn with_live(mut status: ResourceStatus, live: Option<&LiveFields>) -> ResourceStatus {
    if let Some(live) = live {
        status.fields.extend(live());
    }
    status
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn board_key(target: &crate::store::Target) -> (Kind, ObjectKey) {
    let kind = match target.kind {
        crate::store::TargetKind::Subscription => Kind::WebhookSubscription,
        crate::store::TargetKind::Forward => Kind::WebhookEndpoint,
    };
    (kind, ObjectKey::new(&target.namespace, &target.name))
}

fn entry<'a>(
    map: &'a mut BTreeMap<(Kind, ObjectKey), ResourceStatus>,
    kind: Kind,
    key: &ObjectKey,
    now: DateTime<Utc>,
) -> &'a mut ResourceStatus {
    map.entry((kind, key.clone()))
        .or_insert_with(|| ResourceStatus {
            kind: kind.as_str().into(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            created_at: now,
            observed_generation: None,
            conditions: Vec::new(),
            fields: serde_json::Map::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn live_fields_are_computed_at_every_read_and_go_with_the_resource() {
        let board = StatusBoard::new();
        let (kind, key) = (Kind::WebhookEndpoint, ObjectKey::new("ns", "hook"));
        board.set_condition(kind, &key, Some(1), "Ready", true, "Running", "ok");
        board.set_fields(
            kind,
            &key,
            serde_json::Map::from_iter([("url".into(), "old".into())]),
        );
        let counter = Arc::new(AtomicU64::new(0));
        let live = counter.clone();
        board.set_live(
            kind,
            &key,
            Arc::new(move || {
                serde_json::Map::from_iter([
                    ("received".into(), live.load(Ordering::Relaxed).into()),
                    ("url".into(), "/hooks/ns/hook".into()),
                ])
            }),
        );
        counter.store(7, Ordering::Relaxed);
        let got = board.get(kind, &key).expect("status");
        assert_eq!(got.fields["received"], 7);
        assert_eq!(got.fields["url"], "/hooks/ns/hook", "live fields win");
        counter.store(9, Ordering::Relaxed);
        assert_eq!(board.list(Some(kind))[0].fields["received"], 9);
        board.remove(kind, &key);
        assert!(board.get(kind, &key).is_none());
        board.set_condition(kind, &key, Some(1), "Ready", true, "Running", "ok");
        assert!(board.get(kind, &key).expect("status").fields.is_empty());
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let board = StatusBoard::new();
        let key = ObjectKey::new("ns", "a");
        let mut rx = board.subscribe();
        board.set_condition(
            Kind::WebhookSubscription,
            &key,
            Some(1),
            "Ready",
            true,
            "Ready",
            "ok",
        );
        let t0 = board
            .get(Kind::WebhookSubscription, &key)
            .unwrap()
            .conditions[0]
            .last_transition_time;
        std::thread::sleep(std::time::Duration::from_millis(5));
        board.set_condition(
            Kind::WebhookSubscription,
            &key,
            Some(2),
            "Ready",
            true,
            "Ready",
            "still ok",
        );
        let s = board.get(Kind::WebhookSubscription, &key).unwrap();
        assert_eq!(s.conditions[0].last_transition_time, t0);
        assert_eq!(s.conditions[0].message, "still ok");
        assert_eq!(s.observed_generation, Some(2));
        board.set_condition(
            Kind::WebhookSubscription,
            &key,
            Some(2),
            "Ready",
            false,
            "Broken",
            "no",
        );
        let s = board.get(Kind::WebhookSubscription, &key).unwrap();
        assert!(s.conditions[0].last_transition_time > t0);
        let seen: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|t| t.condition.status)
            .collect();
        assert_eq!(seen, ["True", "True", "False"]);
    }
}
