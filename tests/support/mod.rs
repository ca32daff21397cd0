//! Test support: run the real `switchboard` binary on loopback ports with a temporary data
//! directory, and talk HTTP to it.
#![allow(dead_code)]

pub mod helm;
pub mod oauth_provider;
pub mod offline;
pub mod paypal_pki;
pub mod postgres;
pub mod sink;
pub mod standard_webhooks;

/// The publisher-token Secret of namespace `payments` (token `test-publisher-token`) as a YAML
/// document followed by `---`, to `concat!` at the head of a test's manifests.
#[allow(unused_macros)]
macro_rules! payments_publisher {
    () => {
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: payments
  labels: {switchboard.dev/publisher-token: "true"}
stringData:
  token: test-publisher-token
---
"#
    };
}
#[allow(unused_imports)]
pub(crate) use payments_publisher;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `switchboard run` process; killed when dropped.
pub struct Instance {
    /// The child process.
    pub child: Child,
    /// Base URL of the data plane.
    pub data_url: String,
    /// Base URL of the admin port.
    pub admin_url: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The manifests directory.
    pub manifests: PathBuf,
    /// Where stderr goes.
    pub log: PathBuf,
}

/// Installs the process-wide TLS crypto provider reqwest needs (the binary does the same).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Instance {
    /// Starts `switchboard run` on `manifests` with `data_dir`, waiting until /readyz is ok.
    pub fn start(manifests: &Path, data_dir: &Path, extra: &[&str]) -> Instance {
        Self::start_on(manifests, data_dir, extra, free_port())
    }

    /// [`Instance::start`] with the data plane on `data_port` (for `--external-url`).
    pub fn start_on(manifests: &Path, data_dir: &Path, extra: &[&str], data_port: u16) -> Instance {
        let admin_port = free_port();
        let log = data_dir.with_extension(format!("{data_port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["run", "--manifests"])
            .arg(manifests)
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--listen",
                &format!("127.0.0.1:{data_port}"),
                "--admin-listen",
                &format!("127.0.0.1:{admin_port}"),
            ])
            .args(["--reload-debounce", "100ms"])
            .args(extra)
            .env("RUST_LOG", "info,switchboard=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("switchboard starts");
        let instance = Instance {
            child,
            data_url: format!("http://127.0.0.1:{data_port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            data_dir: data_dir.to_owned(),
            manifests: manifests.to_owned(),
            log,
        };
        instance.wait_ready();
        instance
    }

    /// Waits for /readyz to answer 200.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http("GET", &format!("{}/readyz", self.admin_url), &[], None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "switchboard did not become ready; log:\n{}",
            self.log_text()
        );
    }

    /// The process's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs the process and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The resource views of a kind from /v1/status.
    pub fn status(&self, kind: &str) -> Vec<serde_json::Value> {
        let v = http_json(
            "GET",
            &format!("{}/v1/status?kind={kind}", self.admin_url),
            &[],
            None,
        )
        .1;
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// The Ready condition status ("True"/"False") and message of a resource.
    pub fn ready(&self, kind: &str, namespace: &str, name: &str) -> Option<(String, String)> {
        self.status(kind)
            .into_iter()
            .find(|i| i["metadata"]["name"] == name && i["metadata"]["namespace"] == namespace)
            .and_then(|i| {
                let c = i["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?
                    .clone();
                Some((
                    c["status"].as_str()?.to_owned(),
                    c["message"].as_str()?.to_owned(),
                ))
            })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP request; returns (status, body bytes). Headers are (name, value) pairs.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    init_tls();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_vec());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, bytes.to_vec()))
    })
}

/// Like `http`, parsing the answer as JSON (Null when it is not JSON).
pub fn http_json(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, serde_json::Value) {
    let (status, bytes) =
        http(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Copies `config-examples/` into `dir` and returns it.
pub fn copy_examples(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples");
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(dir.join(entry.file_name()), offline::loopback_urls(&text)).unwrap();
    }
    dir.to_owned()
}

/// A delivery row as stored.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    /// The delivery id (UUIDv7: sorts by creation).
    pub id: String,
    /// The event it delivers.
    pub event_id: String,
    /// That event's type.
    pub event_type: String,
}

/// The deliveries of a target, newest first, read from the store file of `data_dir` with a
/// read-only connection: a running process holds the store's lock, so the tests read beside
/// it rather than open a second store.
pub fn stored_deliveries(
    data_dir: &Path,
    target: &switchboard::store::Target,
) -> Vec<StoredDelivery> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!(
            "sqlite://{}?mode=ro",
            data_dir.join("switchboard.db").display()
        );
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT d.id, d.event_id, e.event_type FROM deliveries d
             JOIN events e ON e.namespace = d.event_namespace AND e.id = d.event_id
             WHERE d.target_namespace = ? AND d.target_kind = ? AND d.target_name = ?
             ORDER BY d.id DESC",
        )
        .bind(&target.namespace)
        .bind(target.kind.as_str())
        .bind(&target.name)
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(id, event_id, event_type)| StoredDelivery {
                id,
                event_id,
                event_type,
            })
            .collect()
    })
}

/// Polls `cond` every 50 ms for up to 15 s; panics with the instance's log when it never holds.
pub fn wait_until(what: &str, inst: &Instance, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}; log:\n{}", inst.log_text());
}
