//! The running state built from a snapshot: the pieces of every kind (built and diffed
//! through [`super::piece`]), the publisher tokens, and the lookups the data plane uses.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use jaq_json::Val;

use crate::receiver::EndpointPiece;
use crate::store::{Payload, Target};
use crate::transform::{PredicateResult, predicate};

use super::piece::Pieces;
use super::snapshot::{ObjectKey, Snapshot};
pub use super::subscription::SubscriptionPiece;

pub use super::snapshot::PUBLISHER_TOKEN_LABEL;

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
    pub subscriptions: Pieces<SubscriptionPiece>,
    /// Publisher tokens.
    pub publishers: PublisherTokens,
    /// Running webhook endpoints.
    pub endpoints: Pieces<EndpointPiece>,
    /// Forward routes of the endpoints that have one.
    pub forwards: Pieces<super::forwards::ForwardPiece>,
    /// Running integrations.
    pub integrations: Pieces<super::integrations::IntegrationPiece>,
    /// Valid sync schedules (their timers run in the sync runtime).
    pub schedules: Pieces<super::schedules::SchedulePiece>,
    /// Valid EventTypes (their schemas compiled).
    pub event_types: Pieces<super::event_types::EventTypePiece>,
    /// The schemas of the namespaces' event types, as events are checked against them.
    pub catalog: super::event_types::Catalog,
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
    /// `on_filter` hears about it (`Some(error)`), and about the first evaluation of a built
    /// or failing filter that did not fail (`None`).
    pub fn matching(
        &self,
        namespace: &str,
        event_type: &str,
        id: &str,
        data: &Payload,
        mut on_filter: impl FnMut(&ObjectKey, Option<&str>),
    ) -> Vec<Target> {
        // The payload is read (once) only when a filter needs to look inside it.
        let mut filter_input: Option<Result<Val, String>> = None;
        self.subscribers(namespace, event_type)
            .filter(|(key, piece)| {
                if piece.filter.is_none() {
                    return true;
                }
                let input = filter_input.get_or_insert_with(|| {
                    predicate::filter_input(event_type, id, data.as_bytes())
                        .map_err(|e| format!("reading the payload: {e}"))
                });
                let verdict = match input {
                    Ok(input) => piece.filter(input),
                    Err(message) => PredicateResult::Error(message.clone()),
                };
                match verdict {
                    PredicateResult::Error(message) => {
                        piece.filter_failed();
                        on_filter(key, Some(&message));
                        false
                    }
                    verdict => {
                        if piece.filter_settles() {
                            on_filter(key, None);
                        }
                        verdict == PredicateResult::Match
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
