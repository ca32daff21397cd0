//! The running state built from a snapshot, and the diff that moves from one to the next:
//! unchanged pieces are kept as they are (same `Arc`), changed ones are rebuilt, removed ones
//! dropped; a piece that fails to build leaves its previous version running.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use serde_json::{Value, json};

use crate::receiver::EndpointPiece;
use crate::store::Target;
use crate::transform::PredicateResult;

use super::snapshot::{Object, ObjectKey, Snapshot};
pub use super::subscription::SubscriptionPiece;

/// Label that marks a Secret as holding a publisher token (key `token`).
pub const PUBLISHER_TOKEN_LABEL: &str = "switchboard.dev/publisher-token";

/// A piece of the topology that failed to build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct BuildError {
    /// CamelCase reason for the Ready condition.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Publisher tokens: SHA-256 of each token to the namespaces it may publish to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublisherTokens(HashMap<[u8; 32], BTreeSet<String>>);

/// What a bearer token may do in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// The token is valid for the namespace.
    Allowed,
    /// The token is valid, but for other namespaces.
    OtherNamespace,
    /// The token is unknown.
    Unknown,
}

impl PublisherTokens {
    /// Collects the tokens of labelled Secrets.
    pub fn from_snapshot(snap: &Snapshot) -> Self {
        let mut map: HashMap<[u8; 32], BTreeSet<String>> = HashMap::new();
        for (key, secret) in &snap.secrets {
            if secret
                .meta
                .labels
                .get(PUBLISHER_TOKEN_LABEL)
                .map(String::as_str)
                != Some("true")
            {
                continue;
            }
            if let Some(token) = secret.data.get("token").filter(|t| !t.0.is_empty()) {
                map.entry(digest(&token.0))
                    .or_default()
                    .insert(key.namespace.clone());
            }
        }
        Self(map)
    }

    /// Checks a presented token against a namespace. Tokens are compared by SHA-256 digest,
    /// so the lookup time does not depend on how much of a secret token matches.
    pub fn check(&self, token: &[u8], namespace: &str) -> TokenCheck {
        match self.0.get(&digest(token)) {
            Some(namespaces) if namespaces.contains(namespace) => TokenCheck::Allowed,
            Some(_) => TokenCheck::OtherNamespace,
            None => TokenCheck::Unknown,
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Everything that runs, built from the last applied snapshot.
#[derive(Debug, Default)]
pub struct Topology {
    /// Running subscriptions.
    pub subscriptions: BTreeMap<ObjectKey, Arc<SubscriptionPiece>>,
    /// Publisher tokens.
    pub publishers: PublisherTokens,
    /// Running webhook endpoints.
    pub endpoints: BTreeMap<ObjectKey, Arc<EndpointPiece>>,
    /// Forward routes of the endpoints that have one.
    pub forwards: super::forwards::Forwards,
    /// Running integrations.
    pub integrations: super::integrations::Integrations,
}

impl Topology {
    /// Subscriptions of a namespace that want an event of this type.
    pub fn subscribers<'a>(
        &'a self,
        namespace: &'a str,
        event_type: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<SubscriptionPiece>)> + 'a {
        let start = ObjectKey::new(namespace, "");
        self.subscriptions
            .range(start..)
            .take_while(move |(k, _)| k.namespace == namespace)
            .filter(move |(_, piece)| piece.wants(event_type))
    }

    /// The targets of an event: subscriptions whose patterns match, then whose filter holds
    /// on `{type, id, data}`. A filter that fails or yields a non-boolean does not match;
    /// `on_filter_error` hears about it.
    pub fn matching(
        &self,
        namespace: &str,
        event_type: &str,
        id: &str,
        data: &Value,
        mut on_filter_error: impl FnMut(&ObjectKey, &str),
    ) -> Vec<Target> {
        let mut filter_input: Option<Value> = None;
        self.subscribers(namespace, event_type)
            .filter(|(key, piece)| {
                if piece.filter.is_none() {
                    return true;
                }
                let input = filter_input
                    .get_or_insert_with(|| json!({"type": event_type, "id": id, "data": data}));
                match piece.filter(input) {
                    PredicateResult::Match => true,
                    PredicateResult::NoMatch => false,
                    PredicateResult::Error(message) => {
                        on_filter_error(key, &message);
                        false
                    }
                }
            })
            .map(|(key, _)| super::subscription::target_of(key))
            .collect()
    }

    /// The running integration of a namespace and name.
    pub fn integration(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<super::integrations::IntegrationPiece>> {
        self.integrations
            .get(&ObjectKey::new(namespace, name))
            .cloned()
    }

    /// The running endpoint of a namespace and name.
    pub fn endpoint(&self, namespace: &str, name: &str) -> Option<&Arc<EndpointPiece>> {
        self.endpoints.get(&ObjectKey::new(namespace, name))
    }
}

/// How one key fared in a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceChange {
    /// Built for the first time.
    Added,
    /// Rebuilt from a changed spec.
    Changed,
    /// Kept as it was.
    Unchanged,
    /// Failed to build (or is invalid); the previous version, if any, keeps running.
    Failed(BuildError),
    /// No longer desired; stopped.
    Removed,
}

/// Diffs desired objects against running pieces: keeps unchanged pieces, builds added and
/// changed ones, keeps the old piece where a build fails or the key has a problem.
pub fn diff_pieces<S, P>(
    running: &BTreeMap<ObjectKey, Arc<P>>,
    desired: impl IntoIterator<Item = (ObjectKey, Object<S>)>,
    invalid: &BTreeMap<ObjectKey, BuildError>,
    spec_of: impl Fn(&P) -> &S,
    build: impl Fn(&Object<S>) -> Result<P, BuildError>,
) -> (
    BTreeMap<ObjectKey, Arc<P>>,
    BTreeMap<ObjectKey, PieceChange>,
)
where
    S: PartialEq,
{
    let mut next = BTreeMap::new();
    let mut changes = BTreeMap::new();
    for (key, obj) in desired {
        let old = running.get(&key);
        if let Some(err) = invalid.get(&key) {
            if let Some(old) = old {
                next.insert(key.clone(), old.clone());
            }
            changes.insert(key.clone(), PieceChange::Failed(err.clone()));
            continue;
        }
        match old {
            Some(old) if spec_of(old) == &obj.spec => {
                next.insert(key.clone(), old.clone());
                changes.insert(key.clone(), PieceChange::Unchanged);
            }
            _ => match build(&obj) {
                Ok(piece) => {
                    next.insert(key.clone(), Arc::new(piece));
                    changes.insert(
                        key.clone(),
                        if old.is_some() {
                            PieceChange::Changed
                        } else {
                            PieceChange::Added
                        },
                    );
                }
                Err(err) => {
                    if let Some(old) = old {
                        next.insert(key.clone(), old.clone());
                    }
                    changes.insert(key.clone(), PieceChange::Failed(err));
                }
            },
        }
    }
    // Every desired key has a change by now; a running piece without one is no longer desired.
    let removed: Vec<ObjectKey> = running
        .keys()
        .filter(|k| !changes.contains_key(*k))
        .cloned()
        .collect();
    for key in removed {
        changes.insert(key, PieceChange::Removed);
    }
    (next, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::Meta;

    fn obj(v: u32) -> Object<u32> {
        Object {
            meta: Meta::default(),
            spec: v,
        }
    }

    #[test]
    fn diff_keeps_unchanged_pieces_and_old_versions_on_failure() {
        let build = |o: &Object<u32>| {
            if o.spec == 99 {
                Err(BuildError {
                    reason: "Broken",
                    message: "99 never builds".into(),
                })
            } else {
                Ok(o.spec)
            }
        };
        let desired: BTreeMap<_, _> = [("a", 1), ("b", 2), ("c", 3)]
            .into_iter()
            .map(|(k, v)| (ObjectKey::new("n", k), obj(v)))
            .collect();
        let (running, changes) = diff_pieces(
            &BTreeMap::new(),
            desired.clone(),
            &BTreeMap::new(),
            |p: &u32| p,
            build,
        );
        assert!(changes.values().all(|c| *c == PieceChange::Added));

        let mut desired2 = desired.clone();
        desired2.insert(ObjectKey::new("n", "b"), obj(20)); // changed
        desired2.insert(ObjectKey::new("n", "c"), obj(99)); // fails to build
        desired2.remove(&ObjectKey::new("n", "a")); // removed
        desired2.insert(ObjectKey::new("n", "d"), obj(4)); // added
        let (next, changes) = diff_pieces(
            &running,
            desired2.clone(),
            &BTreeMap::new(),
            |p: &u32| p,
            build,
        );
        assert_eq!(changes[&ObjectKey::new("n", "a")], PieceChange::Removed);
        assert_eq!(changes[&ObjectKey::new("n", "b")], PieceChange::Changed);
        assert!(matches!(
            changes[&ObjectKey::new("n", "c")],
            PieceChange::Failed(_)
        ));
        assert_eq!(changes[&ObjectKey::new("n", "d")], PieceChange::Added);
        assert!(!next.contains_key(&ObjectKey::new("n", "a")));
        assert_eq!(*next[&ObjectKey::new("n", "b")], 20);
        // The old version of c keeps running, the very same Arc.
        assert!(Arc::ptr_eq(
            &next[&ObjectKey::new("n", "c")],
            &running[&ObjectKey::new("n", "c")]
        ));

        let (again, changes) = diff_pieces(
            &next,
            desired2.clone(),
            &BTreeMap::new(),
            |p: &u32| p,
            build,
        );
        assert_eq!(changes[&ObjectKey::new("n", "b")], PieceChange::Unchanged);
        assert!(Arc::ptr_eq(
            &again[&ObjectKey::new("n", "b")],
            &next[&ObjectKey::new("n", "b")]
        ));
    }

    #[test]
    fn publisher_tokens_are_scoped_to_their_namespace() {
        use crate::engine::snapshot::{SecretObject, SecretValue};
        let mut snap = Snapshot::default();
        let mut secret = SecretObject::default();
        secret
            .meta
            .labels
            .insert(PUBLISHER_TOKEN_LABEL.into(), "true".into());
        secret
            .data
            .insert("token".into(), SecretValue(b"t-a".to_vec()));
        snap.secrets
            .insert(ObjectKey::new("a", "pub"), secret.clone());
        secret.meta.labels.clear();
        secret
            .data
            .insert("token".into(), SecretValue(b"unlabelled".to_vec()));
        snap.secrets.insert(ObjectKey::new("a", "other"), secret);
        let tokens = PublisherTokens::from_snapshot(&snap);
        assert_eq!(tokens.check(b"t-a", "a"), TokenCheck::Allowed);
        assert_eq!(tokens.check(b"t-a", "b"), TokenCheck::OtherNamespace);
        assert_eq!(tokens.check(b"unlabelled", "a"), TokenCheck::Unknown);
        assert_eq!(tokens.check(b"", "a"), TokenCheck::Unknown);
    }
}
