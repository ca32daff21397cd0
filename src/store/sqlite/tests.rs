//! The store suite on SQLite (a temporary directory per test), plus SQLite-only checks.

use crate::store::suite::{Harness, store_suite};
use crate::store::{StoreError, open};

/// A fresh database file in its own temporary directory.
async fn sqlite(_test: &str) -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    Some(Harness {
        url,
        _dir: Some(dir),
    })
}

store_suite!(sqlite);

#[tokio::test]
async fn opens_plain_paths_with_wal_and_full_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plain.db");
    let store = open(path.to_str().expect("utf-8")).await.expect("open");
    store
        .put_object("K", "ns", "n", &serde_json::json!(1))
        .await
        .expect("put");
    assert!(path.exists());
    assert!(dir.path().join("plain.db-wal").exists(), "WAL mode");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn refuses_unknown_urls() {
    for url in ["mysql://localhost/db", "", "sqlite://"] {
        let got = open(url).await;
        assert!(
            matches!(got, Err(StoreError::UnsupportedUrl(_))),
            "{url}: {:?}",
            got.err()
        );
    }
}
