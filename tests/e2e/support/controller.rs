//! The real `switchboard controller` binary, started for one test against the shared API
//! server: its own SQLite store and free loopback ports; stopped (and its log shown on
//! failure) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::Value;

use super::error::SupportError;

/// A running controller process.
pub struct Controller {
    child: Child,
    /// How it was started (for a restart on the same store).
    kubeconfig: PathBuf,
    namespaces: Vec<String>,
    extra: Vec<String>,
    /// Data plane base URL (`http://127.0.0.1:PORT`).
    pub data_url: String,
    /// Admin base URL (`http://127.0.0.1:PORT`).
    pub admin_url: String,
    dir: tempfile::TempDir,
}

impl Controller {
    /// Starts the controller watching `namespaces`, with a 2 s status interval.
    pub fn start(kubeconfig: &Path, namespaces: &[&str]) -> Result<Self, SupportError> {
        Self::start_with(kubeconfig, namespaces, &["--status-interval", "2s"])
    }

    /// Starts the controller with extra arguments. Its leader Lease is in the first of
    /// `namespaces` unless `extra` names another, so concurrent tests do not compete.
    pub fn start_with(
        kubeconfig: &Path,
        namespaces: &[&str],
        extra: &[&str],
    ) -> Result<Self, SupportError> {
        let dir = tempfile::tempdir().map_err(SupportError::Scratch)?;
        let (child, data_url, admin_url) = spawn(dir.path(), kubeconfig, namespaces, extra)?;
        Ok(Self {
            child,
            kubeconfig: kubeconfig.to_owned(),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
            data_url,
            admin_url,
            dir,
        })
    }

    /// Stops the process (SIGTERM, up to 30 s) and starts it again with the same arguments
    /// and store, on new ports; its log goes on in the same file.
    pub fn restart(&mut self) -> Result<(), SupportError> {
        if !self.terminate(Duration::from_secs(30)) {
            self.kill();
        }
        let namespaces: Vec<&str> = self.namespaces.iter().map(String::as_str).collect();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let (child, data_url, admin_url) =
            spawn(self.dir.path(), &self.kubeconfig, &namespaces, &extra)?;
        (self.child, self.data_url, self.admin_url) = (child, data_url, admin_url);
        Ok(())
    }

    /// Kills the process with SIGKILL (a crash: nothing is released).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (graceful shutdown) and waits up to `timeout` for the process to exit;
    /// true when it exited.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits until `/readyz` answers 200 (the first desired state is applied); false after
    /// `timeout`.
    pub async fn wait_applied(&self, timeout: Duration) -> bool {
        let url = format!("{}/readyz", self.admin_url);
        eventually(timeout, || async {
            let response = reqwest::get(&url).await.ok()?;
            response.status().is_success().then_some(())
        })
        .await
        .is_some()
    }

    /// Path of the controller's log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("controller.log")
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            super::note(&format!("controller log:\n{}", self.log()));
        }
    }
}

/// Spawns the controller with its store and log in `dir`; returns it with its data and admin
/// base URLs.
fn spawn(
    dir: &Path,
    kubeconfig: &Path,
    namespaces: &[&str],
    extra: &[&str],
) -> Result<(Child, String, String), SupportError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("controller.log"))
        .map_err(SupportError::Scratch)?;
    let (data, admin) = (free_port(), free_port());
    let store = format!("sqlite://{}", dir.join("store.db").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("controller")
        .args(["--store", &store])
        .args(["--listen", &format!("127.0.0.1:{data}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--namespace", &namespaces.join(",")])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info,kube=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if !extra.iter().any(|a| a.starts_with("--leader-election")) {
        cmd.args(["--leader-election-namespace", namespaces[0]]);
    }
    let child = cmd.spawn().map_err(|source| SupportError::Spawn {
        program: "switchboard controller".into(),
        source,
    })?;
    Ok((
        child,
        format!("http://127.0.0.1:{data}"),
        format!("http://127.0.0.1:{admin}"),
    ))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// An untyped API for a Switchboard kind ("WebhookSubscription") in a namespace ("" = cluster).
pub fn api(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("switchboard.dev", "v1alpha1", kind);
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
    if namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    }
}

/// The Ready condition of an object (status, reason, message) and whether its
/// observedGeneration matches metadata.generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// "True", "False" or "Unknown".
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// status.observedGeneration == metadata.generation.
    pub current: bool,
}

/// Reads an object's Ready condition (None when the object or condition is missing).
pub async fn ready(api: &Api<DynamicObject>, name: &str) -> Option<Ready> {
    let obj = api.get_opt(name).await.ok()??;
    let status = obj.data.get("status")?;
    let c = status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Some(Ready {
        status: s(&c["status"]),
        reason: s(&c["reason"]),
        message: s(&c["message"]),
        current: status.get("observedGeneration").and_then(Value::as_i64)
            == obj.metadata.generation,
    })
}

/// Polls `check` every 200 ms until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `name` (of `kind` in `namespace`) is Ready=True for its current generation;
/// panics with the condition and the controller's log when it is not within `timeout`.
pub async fn assert_ready(
    client: &Client,
    ctl: &Controller,
    (kind, namespace, name): (&str, &str, &str),
    timeout: Duration,
) {
    let api = api(client, kind, namespace);
    let got = eventually(timeout, || async {
        ready(&api, name)
            .await
            .filter(|r| r.status == "True" && r.current)
    })
    .await;
    assert!(
        got.is_some(),
        "{kind} {name} not Ready within {timeout:?}: {:?}\n{}",
        ready(&api, name).await,
        ctl.log()
    );
}
