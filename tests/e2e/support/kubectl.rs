//! Running kubectl as a user would, with a given kubeconfig.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::SupportError;

/// The outcome of one command: exit code and both output streams.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// True when the command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// kubectl bound to one kubeconfig, run from the repository root.
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache_dir: PathBuf,
    workdir: PathBuf,
}

impl Kubectl {
    /// kubectl at `bin` using `kubeconfig`; discovery is cached under `cache_dir`.
    pub fn new(bin: &Path, kubeconfig: &Path, cache_dir: &Path, workdir: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            cache_dir: cache_dir.to_path_buf(),
            workdir: workdir.to_path_buf(),
        }
    }

    /// Runs `kubectl ARGS`; a non-zero exit is an `Output`, not an error.
    pub fn run(&self, args: &[&str]) -> Result<Output, SupportError> {
        self.run_with_stdin(args, None)
    }

    /// Runs `kubectl ARGS` and fails unless it exits with code 0.
    pub fn ok(&self, args: &[&str]) -> Result<Output, SupportError> {
        let out = self.run(args)?;
        check(&format!("kubectl {}", args.join(" ")), out)
    }

    /// Runs `kubectl ARGS` with `input` on stdin (e.g. `apply -f -`).
    pub fn run_with_stdin(
        &self,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<Output, SupportError> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache_dir)
            .current_dir(&self.workdir)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_err = |source| SupportError::Spawn {
            program: self.bin.display().to_string(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// `out` if it succeeded, else a `SupportError::Command` naming `command`.
pub fn check(command: &str, out: Output) -> Result<Output, SupportError> {
    if out.success() {
        return Ok(out);
    }
    Err(SupportError::Command {
        command: command.to_string(),
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
    })
}
