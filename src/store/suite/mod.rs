//! One behavioural test suite for every [`Store`] backend. Each test is a generic async
//! function taking a [`Harness`]; `store_suite!` turns the whole list into `#[tokio::test]`s
//! for one backend (see `sqlite/tests.rs` and `postgres/tests.rs`).

mod accept;
mod claim;
mod console;
mod durability;
mod handoff;
mod lease;
mod listing;
mod replay;
mod state;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub(crate) use accept::*;
pub(crate) use claim::*;
pub(crate) use console::*;
pub(crate) use durability::*;
pub(crate) use handoff::*;
pub(crate) use lease::*;
pub(crate) use listing::*;
pub(crate) use replay::*;
pub(crate) use state::*;

use super::{Acceptance, AttemptRecord, NewEvent, Payload, Store, Target, TargetKind};

/// Where a test's store lives: its URL (reopened by durability tests) and what to clean up.
pub(crate) struct Harness {
    /// The URL `open` is given.
    pub url: String,
    /// Keeps a SQLite test's directory alive.
    pub _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// Opens (or reopens) the store.
    pub async fn open(&self) -> Arc<dyn Store> {
        super::open(&self.url).await.expect("open the store")
    }
}

/// Generates one `#[tokio::test]` per suite test, each with a harness from `$make(test name)`
/// (an async fn returning `Option<Harness>`; `None` skips the test).
macro_rules! store_suite {
    ($make:path) => {
        $crate::store::suite::store_suite!(@tests $make;
            accept_stores_event_and_deliveries,
            accept_keeps_the_cloudevent_context,
            duplicate_ids_are_stored_once,
            duplicate_ids_within_one_batch,
            dedup_keys_block_until_they_expire,
            claimed_deliveries_are_leased,
            claim_skips_busy_targets_and_future_work,
            complete_records_each_outcome,
            complete_of_unknown_delivery_fails,
            retry_puts_dead_and_failed_back,
            drop_pending_fails_only_pending,
            release_gives_a_claim_back_unattempted,
            renewed_leases_outlast_the_first_lease,
            abandoned_claims_are_taken_back_only_on_an_owned_store,
            accepted_claimed_deliveries_are_leased,
            concurrent_completions_are_each_recorded,
            list_is_newest_first_with_cursor_and_filter,
            counts_and_queue_depth,
            list_filters_by_event_type_and_time,
            one_delivery_with_attempts_and_payload,
            attempt_series_buckets_attempts,
            sync_state_round_trips,
            purge_removes_old_finished_work,
            objects_crud,
            concurrent_accepts_are_all_durable,
            data_survives_reopen,
            bulk_retry_follows_its_filter_and_cap,
            events_between_pages_in_time_order,
            replay_deliveries_are_created_once_and_claimed_after_live_work,
        );
    };
    (@tests $make:path; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                if let Some(harness) = $make(stringify!($test)).await {
                    $crate::store::suite::$test(&harness).await;
                }
            }
        )*
    };
}
pub(crate) use store_suite;

/// Now, to the microsecond (what both backends store).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).expect("now")
}

/// A subscription target in namespace "ns".
pub(crate) fn sub(name: &str) -> Target {
    Target {
        namespace: "ns".into(),
        kind: TargetKind::Subscription,
        name: name.into(),
    }
}

/// An event in namespace "ns" received at `at`.
pub(crate) fn event(id: &str, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: id.into(),
        namespace: "ns".into(),
        event_type: "invoice.paid".into(),
        source: "publish-api".into(),
        payload: Payload::parse(payload_text(id).as_bytes(), usize::MAX).expect("payload"),
        received_at: at,
        context: None,
    }
}

/// The payload text of `event(id, …)`: numbers no float holds, key order, whitespace and
/// escapes, all of which the store keeps exactly.
pub(crate) fn payload_text(id: &str) -> String {
    format!(
        r#"{{"id": "{id}", "amount": 42,
 "exact": [18446744073709551617, {}, -0, 1.000000000000000000001, 1e400, 0.1, 1E+2],
 "nested": {{"z": 1, "a": [1,2]}}, "s": "\u00e9 \" é"}}"#,
        "7".repeat(300)
    )
}

/// An acceptance of `event(id, at)` fanned out to `targets`, without a dedup key.
pub(crate) fn acceptance(id: &str, at: DateTime<Utc>, targets: &[Target]) -> Acceptance {
    Acceptance {
        event: event(id, at),
        targets: targets.to_vec(),
        dedup: None,
    }
}

/// An attempt started at `at` that got `status` back.
pub(crate) fn attempt(at: DateTime<Utc>, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        started_at: at,
        duration_ms: 120,
        request: "POST https://hooks.example.com/in".into(),
        response_status: status,
        response_headers: vec![("content-type".into(), "text/plain".into())],
        response_body: "ok".into(),
        error: None,
    }
}
