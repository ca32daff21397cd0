//! The test PostgreSQL server (`scripts/postgres-test.sh`): a fresh database on it, and
//! pausing the whole server (SIGSTOP on the postmaster and every backend) to stage an outage
//! in which connections hang rather than fail, as with a frozen host or a network partition.

use std::path::PathBuf;
use std::process::Command;

/// The test server's URL; None (skip) without one outside CI.
pub fn server_url() -> Option<String> {
    match std::env::var("SWITCHBOARD_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "SWITCHBOARD_TEST_POSTGRES_URL must be set in CI"
            );
            eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// Creates a fresh database `name` on the test server; returns its URL.
pub fn fresh_database(server: &str, name: &str) -> String {
    let db = format!("{name}_{}", std::process::id());
    let (base, _) = server.rsplit_once('/').expect("a database URL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = sqlx::PgPool::connect(server).await.unwrap();
        for statement in [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&admin)
                .await
                .unwrap();
        }
        admin.close().await;
    });
    format!("{base}/{db}")
}

/// The ids of the events stored in the database at `url`.
pub fn event_ids(url: &str) -> std::collections::BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM events")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        ids.into_iter().collect()
    })
}

/// The test server's processes, paused while this is held (resumed on drop).
pub struct Paused {
    pids: Vec<u32>,
}

impl Paused {
    /// Resumes the server.
    pub fn resume(self) {}
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal("CONT", self.pids.iter().rev());
    }
}

/// The postmaster of the server `scripts/postgres-test.sh` runs for this checkout, when its
/// port is the one `server` names.
pub fn postmaster(server: &str) -> Option<u32> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pg");
    let pidfile = std::fs::read_to_string(root.join("data/postmaster.pid")).ok()?;
    let lines: Vec<&str> = pidfile.lines().collect();
    let port = url::Url::parse(server).ok()?.port()?;
    (lines.get(3)?.trim() == port.to_string()).then_some(())?;
    lines.first()?.trim().parse().ok()
}

/// SIGSTOPs the postmaster (first, so it forks no more) and then its children.
pub fn pause(postmaster: u32) -> Paused {
    let mut pids = vec![postmaster];
    signal("STOP", [postmaster].iter());
    let children = children_of(postmaster);
    signal("STOP", children.iter());
    pids.extend(children);
    Paused { pids }
}

fn children_of(parent: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &parent.to_string()])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn signal<'a>(name: &str, pids: impl Iterator<Item = &'a u32>) {
    let pids: Vec<String> = pids.map(u32::to_string).collect();
    if pids.is_empty() {
        return;
    }
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .args(&pids)
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pids:?}");
}
