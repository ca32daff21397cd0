//! Running a replay: page through the range's stored events (oldest first), keep those the
//! subscription's patterns and filter take, queue one delivery each (the store skips events
//! this replay already queued), record the cursor, and pace the whole at the replay's rate:
//! the deliveries of a page are due one `1/rate` apart from the end of the previous one, and
//! the next page is read only when they are. So at most `rate` replayed deliveries fall due
//! per second, and a replay of a million events holds a page in memory, not a million. The
//! record is written after every page: a replay stopped with its process is resumed (from
//! its cursor) by asking for it again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::error_chain::chain;
use crate::store::{EventCursor, EventRange, NewEvent, ReplayItem, StoreError};
use crate::transform::{PredicateResult, predicate};

use super::replay::{OBJECT_KIND, ReplayPhase, ReplayRecord};
use super::runtime::Engine;
use super::snapshot::ObjectKey;
use super::subscription::SubscriptionPiece;

/// Most events read (and deliveries queued) per page.
const MAX_PAGE: usize = 500;

/// Starts `record` in the background unless it is already running here; true when started.
pub fn start(engine: Arc<Engine>, namespace: &str, record: ReplayRecord) -> bool {
    let key = (
        namespace.to_owned(),
        record.subscription.clone(),
        record.id.clone(),
    );
    if !engine.replays.claim(key.clone()) {
        return false;
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        engine.replays.release(&key);
        return false;
    };
    handle.spawn(async move {
        let namespace = key.0.clone();
        run(&engine, &namespace, record).await;
        engine.replays.release(&key);
    });
    true
}

/// Queues the replay's deliveries page by page until the range is read or it fails.
async fn run(engine: &Arc<Engine>, namespace: &str, mut record: ReplayRecord) {
    let key = ObjectKey::new(namespace, &record.subscription);
    let target = super::subscription::target_of(&key);
    let range = EventRange {
        namespace: namespace.to_owned(),
        since: record.spec.since,
        until: record.spec.until,
        event_types: record.spec.types.clone(),
    };
    let rate = record.rate.max(1);
    let spacing = Duration::from_secs(1) / rate;
    let page = (rate as usize).clamp(1, MAX_PAGE);
    let mut next_due = Utc::now();
    // A resumed replay (it had failed, or its process stopped) queues again.
    record.phase = ReplayPhase::Queueing;
    record.error = None;
    tracing::info!(namespace, subscription = %record.subscription, id = %record.id, "replay started");
    let failure = loop {
        let Some(piece) = engine.topology().subscriptions.get(&key).cloned() else {
            break Some("the subscription was deleted".to_owned());
        };
        let events = match engine
            .store()
            .events_between(&range, record.cursor.as_ref(), page)
            .await
        {
            Ok(events) => events,
            Err(e) => break Some(format!("reading events: {}", chain(&e))),
        };
        let Some(last) = events.last() else {
            break None;
        };
        let cursor = EventCursor {
            received_at: last.received_at,
            id: last.id.clone(),
        };
        let scanned = events.len() as u64;
        let matched = match tokio::task::spawn_blocking(move || taken(&piece, events)).await {
            Ok(ids) => ids,
            Err(e) => break Some(format!("matching events: {e}")),
        };
        next_due = next_due.max(Utc::now());
        let items: Vec<ReplayItem> = matched
            .into_iter()
            .enumerate()
            .map(|(i, event_id)| ReplayItem {
                event_id,
                due_at: next_due + spacing * u32::try_from(i).unwrap_or(u32::MAX),
            })
            .collect();
        let n = items.len();
        let created = if items.is_empty() {
            0
        } else {
            match engine
                .store()
                .enqueue_replay(&target, &record.id, items)
                .await
            {
                Ok(created) => created,
                Err(e) => break Some(format!("queueing deliveries: {}", chain(&e))),
            }
        };
        record.scanned += scanned;
        record.matched += n as u64;
        record.queued += created;
        record.cursor = Some(cursor);
        if let Err(e) = save(engine, namespace, &record).await {
            break Some(format!("recording progress: {}", chain(&e)));
        }
        if created > 0 {
            engine.deliveries().wake();
        }
        next_due += spacing * u32::try_from(n).unwrap_or(u32::MAX);
        if let Ok(wait) = (next_due - Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
    };
    match &failure {
        None => {
            record.phase = ReplayPhase::Queued;
            record.finished_at = Some(Utc::now());
            record.error = None;
        }
        Some(error) => {
            tracing::warn!(namespace, subscription = %record.subscription, id = %record.id, %error, "replay stopped");
            record.phase = ReplayPhase::Failed;
            record.error = Some(error.clone());
        }
    }
    if let Err(e) = save(engine, namespace, &record).await {
        tracing::warn!(error = %chain(&e), id = %record.id, "recording the end of a replay");
    }
    tracing::info!(namespace, id = %record.id, scanned = record.scanned, queued = record.queued, phase = ?record.phase, "replay ended");
}

/// The ids of the events the subscription takes: its patterns, then its filter on
/// `{type, id, data}` (an event its filter fails on is not taken, as at fan-out).
fn taken(piece: &SubscriptionPiece, events: Vec<NewEvent>) -> Vec<String> {
    events
        .into_iter()
        .filter(|e| piece.wants(&e.event_type))
        .filter(|e| {
            if piece.filter.is_none() {
                return true;
            }
            match predicate::filter_input(&e.event_type, &e.id, e.payload.as_bytes()) {
                Ok(input) => piece.filter(&input) == PredicateResult::Match,
                Err(_) => false,
            }
        })
        .map(|e| e.id)
        .collect()
}

/// Stores a replay's record (replacing the previous one).
pub(super) async fn save(
    engine: &Engine,
    namespace: &str,
    record: &ReplayRecord,
) -> Result<(), StoreError> {
    let value = serde_json::to_value(record).map_err(|e| StoreError::Corrupt {
        what: "replay record",
        detail: e.to_string(),
    })?;
    let name = format!("{}/{}", record.subscription, record.id);
    engine
        .store()
        .put_object(OBJECT_KIND, namespace, &name, &value)
        .await
}
