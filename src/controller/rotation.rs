//! Signing-secret rotation bookkeeping, kept in the Secret itself so it survives restarts and
//! every replica signs alike: when the value a subscription signs with changes (someone edited
//! the Secret), the leader moves the value it replaced to the key `previous` and stamps the
//! annotation `switchboard.dev/rotated-at`; the engine signs with both for 24 hours after
//! that (two signatures, space-separated), then the leader removes `previous` again.
//!
//! Every replica tracks the values it has seen (in memory); a change seen while not leading is
//! kept pending and recorded by whichever replica leads, unless the Secret already shows it.
//! A change made while no replica was running is not seen (there is no old value to keep).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::SigningScheme;
use crate::engine::ObjectKey;
use crate::engine::subscription::{
    PREVIOUS_SIGNING_KEY, ROTATED_AT_ANNOTATION, ROTATION_OVERLAP, generated_secret_name,
};

use super::stores::Stores;

/// How often the stores are scanned for changed signing secrets.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// A signing secret: the Secret and the key a subscription signs with.
type SigningKey = (ObjectKey, String);

/// A write the leader makes to a Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Keep `old` as the previous value, rotated now.
    Record {
        /// The replaced value.
        old: Vec<u8>,
    },
    /// The overlap is over: remove the previous value and the annotation.
    Expire,
}

/// What this replica has seen of signing secrets.
#[derive(Debug, Default)]
pub struct Tracker {
    seen: HashMap<SigningKey, Vec<u8>>,
    pending: HashMap<SigningKey, Vec<u8>>,
}

/// One signing Secret as the tracker looks at it.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The value signed with.
    pub current: Option<&'a [u8]>,
    /// The value under `previous`.
    pub previous: Option<&'a [u8]>,
    /// The rotation annotation, parsed.
    pub rotated_at: Option<DateTime<Utc>>,
}

impl Tracker {
    /// Looks at one signing secret; returns the write it needs (if any).
    pub fn observe(
        &mut self,
        key: &SigningKey,
        secret: &Observed<'_>,
        now: DateTime<Utc>,
    ) -> Option<Change> {
        if let Some(current) = secret.current {
            match self.seen.get(key) {
                None => {
                    self.seen.insert(key.clone(), current.to_vec());
                }
                Some(old) if old.as_slice() != current => {
                    let old = old.clone();
                    self.seen.insert(key.clone(), current.to_vec());
                    self.pending.insert(key.clone(), old);
                }
                Some(_) => {}
            }
        }
        if let Some(old) = self.pending.get(key) {
            let recorded = secret.previous == Some(old.as_slice()) && secret.rotated_at.is_some();
            if recorded || secret.current == Some(old.as_slice()) {
                // Done (by us or another replica), or changed back.
                self.pending.remove(key);
            } else {
                return Some(Change::Record { old: old.clone() });
            }
        }
        let overlap = chrono::Duration::from_std(ROTATION_OVERLAP).unwrap_or_default();
        match secret.rotated_at {
            Some(at) if now >= at + overlap => Some(Change::Expire),
            _ => None,
        }
    }

    /// Forgets a pending change once written.
    pub fn written(&mut self, key: &SigningKey) {
        self.pending.remove(key);
    }

    /// Forgets secrets no subscription signs with any more.
    pub fn retain(&mut self, live: &std::collections::HashSet<SigningKey>) {
        self.seen.retain(|k, _| live.contains(k));
        self.pending.retain(|k, _| live.contains(k));
    }
}

/// The signing secrets of every subscription in the stores.
fn signing_keys(stores: &Stores) -> BTreeMap<SigningKey, ()> {
    let mut out = BTreeMap::new();
    for store in &stores.subscriptions {
        for sub in store.state() {
            let spec = &sub.spec;
            if spec.signing.scheme == SigningScheme::None {
                continue;
            }
            let ns = sub.namespace().unwrap_or_default();
            let (name, key) = match &spec.signing.secret_ref {
                Some(r) => (r.name.clone(), r.key_or("secret").to_owned()),
                None => (generated_secret_name(&sub.name_any()), "secret".to_owned()),
            };
            if key != PREVIOUS_SIGNING_KEY {
                out.insert((ObjectKey::new(&ns, &name), key), ());
            }
        }
    }
    out
}

fn find_secret(stores: &Stores, key: &ObjectKey) -> Option<std::sync::Arc<Secret>> {
    let r = ObjectRef::<Secret>::new(&key.name).within(&key.namespace);
    stores.secrets.iter().find_map(|s| s.get(&r))
}

/// Scans the stores every second until `cancel`; the leader writes what rotation needs.
pub async fn run(
    client: Client,
    stores: Stores,
    leader: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    // Not `stores.ready()`: a reflector store wakes only one waiter (the sync loop's). Until
    // the first list the stores are empty and there is nothing to track.
    let mut tracker = Tracker::default();
    let mut tick = tokio::time::interval(SCAN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let keys = signing_keys(&stores);
        tracker.retain(&keys.keys().cloned().collect());
        let now = Utc::now();
        let mut changes = Vec::new();
        for key in keys.keys() {
            let Some(secret) = find_secret(&stores, &key.0) else {
                continue;
            };
            let data = secret.data.as_ref();
            let get = |k: &str| data.and_then(|d| d.get(k)).map(|v| v.0.as_slice());
            let observed = Observed {
                current: get(&key.1),
                previous: get(PREVIOUS_SIGNING_KEY),
                rotated_at: secret
                    .annotations()
                    .get(ROTATED_AT_ANNOTATION)
                    .and_then(|a| DateTime::parse_from_rfc3339(a).ok())
                    .map(|t| t.with_timezone(&Utc)),
            };
            if let Some(change) = tracker.observe(key, &observed, now) {
                changes.push((key.clone(), change));
            }
        }
        if !*leader.borrow() {
            continue;
        }
        for (key, change) in changes {
            let what = match change {
                Change::Record { .. } => "rotated: the previous value keeps signing for 24h",
                Change::Expire => "rotation overlap over: the previous value was removed",
            };
            match write(&client, &key.0, &change, now).await {
                Ok(()) => {
                    tracing::info!(secret = %key.0, "signing secret {what}");
                    tracker.written(&key);
                }
                Err(e) => tracing::warn!(secret = %key.0, error = %e, "recording a signing secret rotation failed; retrying"),
            }
        }
    }
}

/// Patches the Secret for one change (JSON merge patch; values never logged).
async fn write(
    client: &Client,
    key: &ObjectKey,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &key.namespace);
    let patch = match change {
        Change::Record { old } => json!({
            "metadata": {"annotations": {
                ROTATED_AT_ANNOTATION: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }},
            "data": {PREVIOUS_SIGNING_KEY: base64::engine::general_purpose::STANDARD.encode(old)},
        }),
        Change::Expire => json!({
            "metadata": {"annotations": {ROTATED_AT_ANNOTATION: null}},
            "data": {PREVIOUS_SIGNING_KEY: null},
        }),
    };
    api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        (ObjectKey::new("ns", "s-signing"), "secret".into())
    }

    fn seen<'a>(current: &'a [u8], previous: Option<&'a [u8]>) -> Observed<'a> {
        Observed {
            current: Some(current),
            previous,
            rotated_at: None,
        }
    }

    #[test]
    fn a_changed_value_is_recorded_once_then_expires_after_the_overlap() {
        let mut t = Tracker::default();
        let now = Utc::now();
        assert_eq!(t.observe(&key(), &seen(b"a", None), now), None);
        assert_eq!(t.observe(&key(), &seen(b"a", None), now), None);
        let change = t.observe(&key(), &seen(b"b", None), now);
        assert_eq!(change, Some(Change::Record { old: b"a".to_vec() }));
        // Not written yet (not leader): still pending.
        assert_eq!(t.observe(&key(), &seen(b"b", None), now), change);
        // Another replica recorded it.
        let recorded = Observed {
            current: Some(b"b"),
            previous: Some(b"a"),
            rotated_at: Some(now),
        };
        assert_eq!(t.observe(&key(), &recorded, now), None);
        let later = now + chrono::Duration::hours(24);
        assert_eq!(t.observe(&key(), &recorded, later), Some(Change::Expire));
    }

    #[test]
    fn changing_back_keeps_the_replaced_value_signing() {
        let mut t = Tracker::default();
        let now = Utc::now();
        t.observe(&key(), &seen(b"a", None), now);
        assert!(t.observe(&key(), &seen(b"b", None), now).is_some());
        // Changed back before anything was written: the value it replaced is kept.
        assert_eq!(
            t.observe(&key(), &seen(b"a", None), now),
            Some(Change::Record { old: b"b".to_vec() })
        );
    }
}
