//! Errors of the e2e test support code.

use std::path::PathBuf;

/// Why the test support could not provide an API server, a namespace or a command result.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// A program could not be started at all.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed (exit code {code:?})\nstdout:\n{stdout}\nstderr:\n{stderr}")]
    Command {
        command: String,
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    /// A scratch directory could not be created.
    #[error("cannot create a scratch directory: {0}")]
    Scratch(#[source] std::io::Error),
    /// A kubeconfig could not be read or turned into a client configuration.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A Kubernetes API call failed.
    #[error("kube API: {0}")]
    Kube(#[from] kube::Error),
    /// The shared API server failed to start earlier in this test binary (message of that error).
    #[error("the shared API server is unavailable: {0}")]
    Unavailable(String),
}
