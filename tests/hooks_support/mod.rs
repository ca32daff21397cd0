//! Helpers of the webhook receiver tests: calling hooks, and reading what the store holds.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;
use switchboard::store::{Target, TargetKind};

use crate::support::{Instance, StoredDelivery, http, stored_deliveries};

/// POSTs to `/hooks/{ns}/{name}`; returns the status and the JSON answer (Null if none).
pub fn hook(
    inst: &Instance,
    ns: &str,
    name: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let url = format!("{}/hooks/{ns}/{name}", inst.data_url);
    let (status, bytes) = http("POST", &url, headers, Some(body)).unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The reason code of an error answer.
pub fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

/// Now in unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn db_path(data_dir: &Path) -> String {
    data_dir.join("switchboard.db").display().to_string()
}

/// Deliveries of a target, newest first (read beside the running process).
pub fn deliveries(data_dir: &Path, ns: &str, kind: TargetKind, name: &str) -> Vec<StoredDelivery> {
    let target = Target {
        namespace: ns.into(),
        kind,
        name: name.into(),
    };
    stored_deliveries(data_dir, &target)
}

/// A stored event: (type, source, payload).
pub fn event(data_dir: &Path, ns: &str, id: &str) -> Option<(String, String, Value)> {
    runtime().block_on(async {
        let url = format!("sqlite://{}?mode=ro", db_path(data_dir));
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT event_type, source, payload FROM events WHERE namespace = ? AND id = ?",
        )
        .bind(ns)
        .bind(id)
        .fetch_optional(&pool)
        .await
        .unwrap();
        pool.close().await;
        row.map(|(t, s, p)| (t, s, serde_json::from_str(&p).unwrap()))
    })
}

/// Number of events stored in a namespace.
pub fn event_count(data_dir: &Path, ns: &str) -> i64 {
    runtime().block_on(async {
        let url = format!("sqlite://{}?mode=ro", db_path(data_dir));
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE namespace = ?")
            .bind(ns)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    })
}

/// The status of a WebhookEndpoint from /v1/status.
pub fn endpoint_status(inst: &Instance, ns: &str, name: &str) -> Value {
    inst.status("webhookendpoints")
        .into_iter()
        .find(|i| i["metadata"]["name"] == name && i["metadata"]["namespace"] == ns)
        .map(|i| i["status"].clone())
        .unwrap_or(Value::Null)
}
