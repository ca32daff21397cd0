//! The pinned helm binary for the chart tests (`tests/e2e/helm/helm.sh` builds it once into
//! the cache when missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the pinned helm binary, built on first use.
pub fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tests/e2e/helm/helm.sh"))
            .arg("build")
            .stderr(Stdio::inherit())
            .output()
            .expect("running tests/e2e/helm/helm.sh");
        assert!(out.status.success(), "building helm failed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}
