//! One API server per test binary: started on first use (or reused from
//! `SWITCHBOARD_KUBECONFIG`), CRDs applied once, stopped when the test process ends.
//!
//! Stopping is guaranteed twice over, because Rust's test harness has no global teardown and
//! statics are never dropped:
//! - fast path: an `atexit` handler drops the [`Instance`], whose `Drop` runs `envtest.sh down`
//!   before the test binary exits (normal end, failed tests, panics in tests);
//! - backstop: a supervisor shell, started with `setsid` before the servers, polls the test
//!   process and runs `envtest.sh down` once it is gone (killed by a signal, `abort`, Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::error::SupportError;
use super::kubectl::{Kubectl, Output, check};

/// Env var naming the admin kubeconfig of an already running API server to reuse.
pub const REUSE_ENV: &str = "SWITCHBOARD_KUBECONFIG";
/// Env var naming the tenant kubeconfig of a reused API server (default: `tenant.kubeconfig`
/// beside the admin one).
pub const REUSE_TENANT_ENV: &str = "SWITCHBOARD_TENANT_KUBECONFIG";

/// What every test needs to reach the shared API server.
#[derive(Debug)]
pub struct Cluster {
    /// Admin kubeconfig (system:masters).
    pub kubeconfig: PathBuf,
    /// Kubeconfig of user `tenant`, bound to namespace `tenant-a`, when known.
    pub tenant_kubeconfig: Option<PathBuf>,
    /// The kubectl binary built with the API server.
    pub kubectl_bin: PathBuf,
    /// kubectl's discovery cache for this run (not shared with `~/.kube/cache`).
    pub cache_dir: PathBuf,
    /// The repository root (kubectl runs there, so `crds/` resolves).
    pub repo: PathBuf,
}

impl Cluster {
    /// kubectl as the admin.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(
            &self.kubectl_bin,
            &self.kubeconfig,
            &self.cache_dir,
            &self.repo,
        )
    }

    /// kubectl as the tenant user, when this server has one.
    pub fn tenant_kubectl(&self) -> Option<Kubectl> {
        let kubeconfig = self.tenant_kubeconfig.as_deref()?;
        Some(Kubectl::new(
            &self.kubectl_bin,
            kubeconfig,
            &self.cache_dir,
            &self.repo,
        ))
    }
}

/// What this process owns and must clean up: the scratch directory and, unless reused, the
/// private envtest instance in it. Dropping it stops the servers.
struct Instance {
    envtest_dir: Option<PathBuf>,
    scratch: Option<tempfile::TempDir>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(dir) = &self.envtest_dir {
            // Best effort: the supervisor retries if this fails.
            let _ = envtest(dir, &["down"]).output();
        }
        if let Some(scratch) = self.scratch.take() {
            let _ = scratch.close();
        }
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static INSTANCE: Mutex<Option<Instance>> = Mutex::new(None);

/// The shared API server, started (or found) on first call; later calls wait for and reuse it.
pub fn cluster() -> Result<&'static Cluster, SupportError> {
    CLUSTER
        .get_or_init(|| start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|msg| SupportError::Unavailable(msg.clone()))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn envtest_script() -> PathBuf {
    repo().join("tests/e2e/envtest/envtest.sh")
}

/// `bash envtest.sh ARGS` for the instance in `dir`.
fn envtest(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(envtest_script())
        .args(args)
        .env("ENVTEST_DIR", dir)
        .stdin(Stdio::null());
    cmd
}

fn run(what: &str, cmd: &mut Command) -> Result<Output, SupportError> {
    let out = cmd.output().map_err(|source| SupportError::Spawn {
        program: what.to_string(),
        source,
    })?;
    let out = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    check(what, out)
}

fn start() -> Result<Cluster, SupportError> {
    let scratch = tempfile::Builder::new()
        .prefix("switchboard-e2e-")
        .tempdir()
        .map_err(SupportError::Scratch)?;
    let root = scratch
        .path()
        .canonicalize()
        .map_err(SupportError::Scratch)?;
    let reuse = std::env::var_os(REUSE_ENV).map(PathBuf::from);
    let envtest_dir = root.join("envtest");
    // Supervisor and exit hook first: whatever happens from here on, nothing outlives us.
    spawn_supervisor(&root)?;
    own(Instance {
        envtest_dir: reuse.is_none().then(|| envtest_dir.clone()),
        scratch: Some(scratch),
    });

    let bin_dir = ensure_binaries()?;
    let (kubeconfig, tenant_kubeconfig) = match reuse {
        Some(admin) => {
            let tenant = reused_tenant_kubeconfig(&admin);
            (admin, tenant)
        }
        None => {
            run("envtest.sh up", &mut envtest(&envtest_dir, &["up"]))?;
            (
                envtest_dir.join("kubeconfig"),
                Some(envtest_dir.join("tenant.kubeconfig")),
            )
        }
    };
    let cluster = Cluster {
        kubeconfig,
        tenant_kubeconfig,
        kubectl_bin: bin_dir.join("kubectl"),
        cache_dir: root.join("kube-cache"),
        repo: repo(),
    };
    install_crds(&cluster.kubectl())?;
    Ok(cluster)
}

/// Hands the instance to the exit hook (registered once).
fn own(instance: Instance) {
    *INSTANCE.lock().unwrap_or_else(PoisonError::into_inner) = Some(instance);
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
    }
    // SAFETY: `stop_at_exit` is a plain `extern "C"` function that never unwinds.
    unsafe { atexit(stop_at_exit) };
}

extern "C" fn stop_at_exit() {
    let instance = INSTANCE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    drop(instance);
}

/// Starts, in its own session (so Ctrl-C on the terminal does not kill it), a shell that waits
/// for this process to end, then stops the servers of `root/envtest` and removes `root`.
fn spawn_supervisor(root: &Path) -> Result<(), SupportError> {
    const SCRIPT: &str = r#"
pid=$1 root=$2 script=$3
alive() {
  local stat rest
  read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
  rest=${stat##*) }
  [[ ${rest%% *} != [ZX] ]]
}
while alive; do sleep 0.5; done
[[ -d $root/envtest ]] && ENVTEST_DIR=$root/envtest bash "$script" down
rm -rf "$root"
"#;
    Command::new("setsid")
        .args(["bash", "-c", SCRIPT, "switchboard-e2e-supervisor"])
        .arg(std::process::id().to_string())
        .arg(root)
        .arg(envtest_script())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|source| SupportError::Spawn {
            program: "setsid bash (supervisor)".to_string(),
            source,
        })
}

/// The envtest bin dir, building the binaries first (with a note) on a fresh machine.
fn ensure_binaries() -> Result<PathBuf, SupportError> {
    let mut cached = Command::new("bash");
    cached
        .arg(envtest_script())
        .arg("cached")
        .stdin(Stdio::null());
    if let Ok(out) = run("envtest.sh cached", &mut cached) {
        return Ok(PathBuf::from(out.stdout.trim()));
    }
    super::note(
        "building kube-apiserver, etcd and kubectl from pinned Go modules for the e2e tests \
         (`tests/e2e/envtest/envtest.sh build`); this takes 5-9 minutes once, later runs reuse \
         the cache",
    );
    let mut build = Command::new("bash");
    build
        .arg(envtest_script())
        .arg("build")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = run("envtest.sh build", &mut build)?;
    Ok(PathBuf::from(out.stdout.trim()))
}

fn reused_tenant_kubeconfig(admin: &Path) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(REUSE_TENANT_ENV) {
        return Some(PathBuf::from(path));
    }
    let beside = admin.parent()?.join("tenant.kubeconfig");
    beside.is_file().then_some(beside)
}

/// Applies `crds/` (idempotent, server-side) and waits until every CRD is Established.
fn install_crds(kubectl: &Kubectl) -> Result<(), SupportError> {
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=switchboard-e2e",
        "-f",
        "crds/",
    ])?;
    kubectl.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "-f",
        "crds/",
    ])?;
    Ok(())
}
