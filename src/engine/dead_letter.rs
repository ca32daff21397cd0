//! Dead letters: a delivery given up on (Dead: retries exhausted; Failed: not retryable) of a
//! subscription or forward route with `deadLetter` is sent, with a summary of its attempts, to
//! another subscription of the namespace (whatever its eventTypes) or to a URL (the owner's
//! dead-letter route, `engine/subscription.rs`). The dead letter is an event of type
//! `switchboard.delivery.dead_lettered` committed like any event; being a lifecycle type, its
//! own deliveries are never dead-lettered again nor told about.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::api::{DeadLetter, Kind};
use crate::delivery::DeliveryNotice;
use crate::error_chain::chain;
use crate::store::{Acceptance, AttemptRecord, NewEvent, Outcome, Payload, Target, TargetKind};

use super::lifecycle_events::SOURCE;
use super::runtime::Engine;
use super::snapshot::ObjectKey;

/// The type of a dead letter.
pub const DEAD_LETTERED: &str = "switchboard.delivery.dead_lettered";

/// Longest response body quoted per attempt in a dead letter.
const MAX_QUOTED_BODY: usize = 1024;

/// The data of a dead letter.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Letter<'a> {
    namespace: &'a str,
    subject: Subject<'a>,
    occurred_at: String,
    delivery_id: &'a str,
    status: &'static str,
    attempts: u32,
    last_error: &'a str,
    attempt_log: Vec<Attempt<'a>>,
    event: Original<'a>,
}

#[derive(Serialize)]
struct Subject<'a> {
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attempt<'a> {
    started_at: String,
    duration_ms: u64,
    request: &'a str,
    response_status: Option<u16>,
    response_body: String,
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Original<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    source: &'a str,
    received_at: String,
    /// The payload exactly as stored.
    data: &'a RawValue,
}

impl Engine {
    /// Sends a given-up delivery to its owner's dead-letter target, if it has one.
    pub(super) async fn dead_letter(&self, notice: &DeliveryNotice) {
        let Some((target, owner)) = self.dead_letter_target(notice) else {
            return;
        };
        let attempts = match self.store.attempts(&notice.delivery_id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %chain(&e), id = %notice.delivery_id, "reading the attempts of a dead letter; sent without them");
                Vec::new()
            }
        };
        let payload = match letter(notice, owner, &attempts) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, id = %notice.delivery_id, "building a dead letter");
                return;
            }
        };
        let acceptance = Acceptance {
            event: NewEvent {
                // One dead letter per delivery given up on, however often it is told.
                id: format!("dl_{}_{}", notice.delivery_id, notice.attempts),
                namespace: notice.target.namespace.clone(),
                event_type: DEAD_LETTERED.to_owned(),
                source: SOURCE.to_owned(),
                payload,
                received_at: Utc::now(),
                context: None,
            },
            targets: vec![target],
            dedup: None,
        };
        if let Err(e) = self.commit(acceptance).await {
            tracing::warn!(error = %chain(&e), id = %notice.delivery_id, "storing a dead letter");
        }
    }

    /// Where a given-up delivery's dead letter goes (a running subscription, or the owner's
    /// running dead-letter route), and the owner's kind.
    fn dead_letter_target(&self, notice: &DeliveryNotice) -> Option<(Target, Kind)> {
        let topology = self.topology();
        let key = ObjectKey::new(&notice.target.namespace, &notice.target.name);
        let (spec, owner): (DeadLetter, Kind) = match notice.target.kind {
            TargetKind::Subscription => (
                topology
                    .subscriptions
                    .get(&key)?
                    .spec()
                    .dead_letter
                    .clone()?,
                Kind::WebhookSubscription,
            ),
            TargetKind::Forward => (
                topology.forwards.get(&key)?.spec.dead_letter.clone()?,
                Kind::WebhookEndpoint,
            ),
        };
        let target = match (&spec.subscription_ref, &spec.url) {
            (Some(r), _) => {
                let to = ObjectKey::new(&key.namespace, &r.name);
                let itself = owner == Kind::WebhookSubscription && r.name == key.name;
                if itself || !topology.subscriptions.contains_key(&to) {
                    tracing::warn!(target = ?notice.target, dead_letter = %r.name, "the dead-letter subscription is not running: no dead letter");
                    return None;
                }
                super::subscription::target_of(&to)
            }
            (None, Some(_)) => {
                let target = notice.target.dead_letters();
                self.deliveries.route(&target)?;
                target
            }
            (None, None) => return None,
        };
        Some((target, owner))
    }
}

/// The dead letter's data as JSON text, the original payload embedded exactly as stored.
fn letter(
    notice: &DeliveryNotice,
    owner: Kind,
    attempts: &[AttemptRecord],
) -> Result<Payload, String> {
    let event = &notice.event;
    let data: &RawValue =
        serde_json::from_str(event.payload.as_str()).map_err(|e| e.to_string())?;
    let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let letter = Letter {
        namespace: &notice.target.namespace,
        subject: Subject {
            kind: owner.as_str(),
            name: &notice.target.name,
        },
        occurred_at: time(notice.at),
        delivery_id: &notice.delivery_id,
        status: if notice.outcome == Outcome::Dead {
            "Dead"
        } else {
            "Failed"
        },
        attempts: notice.attempts,
        last_error: &notice.last_error,
        attempt_log: attempts
            .iter()
            .map(|a| Attempt {
                started_at: time(a.started_at),
                duration_ms: a.duration_ms,
                request: &a.request,
                response_status: a.response_status,
                response_body: a.response_body.chars().take(MAX_QUOTED_BODY).collect(),
                error: a.error.as_deref(),
            })
            .collect(),
        event: Original {
            id: &event.id,
            event_type: &event.event_type,
            source: &event.source,
            received_at: time(event.received_at),
            data,
        },
    };
    let text = serde_json::to_string(&letter).map_err(|e| e.to_string())?;
    Ok(Payload::trusted(text))
}
