//! The store suite on PostgreSQL (a schema per test in the database named by
//! `SWITCHBOARD_TEST_POSTGRES_URL`), plus the multi-process claiming check.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Once};
use std::time::Duration;

use crate::store::suite::{Harness, acceptance, now, store_suite, sub};

/// Variable naming the test server (`scripts/postgres-test.sh start` prints it).
const URL_VAR: &str = "SWITCHBOARD_TEST_POSTGRES_URL";

/// The test server's URL. Without it the test is skipped with a loud note, except in CI
/// (`CI` set and not "false"), where a missing server must fail the run.
fn server_url(test: &str) -> Option<String> {
    if let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty()) {
        return Some(url);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{URL_VAR} is unset in CI: .ci/run must start PostgreSQL (scripts/postgres-test.sh start)"
    );
    // Written past the test harness's capture, once per run, so it is seen.
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPING the PostgreSQL store tests (first: {test}): {URL_VAR} is unset.\n\
             *** Run `make postgres-up` and export {URL_VAR}=$(scripts/postgres-test.sh url).\n"
        );
    });
    None
}

/// A fresh schema named after the test; the harness URL puts it first on the search path.
async fn postgres(test: &str) -> Option<Harness> {
    let base = server_url(test)?;
    let schema = format!("t_{test}");
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to the test server");
    for ddl in [
        format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        format!("CREATE SCHEMA \"{schema}\""),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&admin)
            .await
            .expect("schema");
    }
    admin.close().await;
    let mut url = url::Url::parse(&base).expect("test server URL");
    url.query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    Some(Harness {
        url: url.into(),
        _dir: None,
    })
}

store_suite!(postgres);

/// Two store instances (as two processes would) claiming from one queue at once never get
/// the same delivery, and together they get all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_never_claim_the_same_delivery() {
    const EVENTS: usize = 400;
    let Some(h) = postgres("two_stores_never_claim_the_same_delivery").await else {
        return;
    };
    let first = h.open().await;
    let second = h.open().await;
    let t0 = now();
    let batch = (0..EVENTS)
        .map(|i| acceptance(&format!("e{i}"), t0, &[sub("a")]))
        .collect();
    first.accept(batch).await.expect("accept");

    let mut workers = tokio::task::JoinSet::new();
    for store in [first, second] {
        for _ in 0..3 {
            let store = Arc::clone(&store);
            workers.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claimed = store
                        .claim_due(t0, 7, Duration::from_secs(600), &[])
                        .await
                        .expect("claim");
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed.into_iter().map(|c| c.id));
                }
            });
        }
    }
    let mut all = Vec::new();
    let mut per_worker = Vec::new();
    while let Some(done) = workers.join_next().await {
        let mine = done.expect("worker");
        per_worker.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), EVENTS, "claims per worker: {per_worker:?}");
}
