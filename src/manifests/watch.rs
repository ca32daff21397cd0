//! A directory of manifests as desired state: loaded whole, reloaded on change (debounced);
//! a broken file keeps its last good resources running, reported Ready=False.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::Kind;
use crate::engine::{Desired, Problem};
use crate::error_chain::render;

use super::load::{LoadError, SourceDoc, load_file, manifest_files};
use super::validate::{Diagnostic, key_of, validate_docs};

/// The result of loading the directory.
#[derive(Debug, Default)]
pub struct Loaded {
    /// What the engine should run.
    pub desired: Desired,
    /// Every problem found, located by file and line.
    pub diagnostics: Vec<Diagnostic>,
}

/// Manifest files under some paths, with the last good content of each file.
#[derive(Debug)]
pub struct ManifestDir {
    paths: Vec<PathBuf>,
    last_good: BTreeMap<PathBuf, Vec<SourceDoc>>,
}

impl ManifestDir {
    /// Manifests under `paths` (files or directories).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            last_good: BTreeMap::new(),
        }
    }

    /// The watched paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads every file; a file that cannot be read or parsed contributes nothing new, and
    /// the resources it held last time are reported as rejected (their last good version
    /// keeps running in the engine).
    pub fn load(&mut self) -> Loaded {
        let mut loaded = Loaded::default();
        let mut docs = Vec::new();
        let mut rejected = Vec::new();
        let files = match manifest_files(&self.paths) {
            Ok(files) => files,
            Err(e) => {
                // The directory itself is unreadable: keep everything as it was.
                loaded.diagnostics.push(load_diagnostic(&e));
                self.last_good
                    .values()
                    .flatten()
                    .for_each(|d| rejected.extend(reject(d, &e)));
                loaded.desired.rejected = rejected;
                return loaded;
            }
        };
        self.last_good.retain(|file, _| files.contains(file));
        for file in files {
            match load_file(&file) {
                Ok(file_docs) => {
                    docs.extend(file_docs.iter().cloned());
                    self.last_good.insert(file, file_docs);
                }
                Err(e) => {
                    loaded.diagnostics.push(load_diagnostic(&e));
                    if let Some(old) = self.last_good.get(&file) {
                        old.iter().for_each(|d| rejected.extend(reject(d, &e)));
                    }
                }
            }
        }
        let validated = validate_docs(&docs, Default::default());
        loaded.diagnostics.extend(validated.diagnostics);
        rejected.extend(validated.rejected);
        loaded.desired = Desired {
            snapshot: validated.snapshot,
            rejected,
        };
        loaded
    }
}

fn load_diagnostic(e: &LoadError) -> Diagnostic {
    Diagnostic {
        file: e.path().to_owned(),
        line: e.line(),
        resource: String::new(),
        message: render(e),
    }
}

/// The problem reported for a resource whose file no longer loads.
fn reject(doc: &SourceDoc, e: &LoadError) -> Option<Problem> {
    let kind = Kind::from_kind(doc.kind()?)?;
    Some(Problem {
        kind,
        key: key_of(doc, kind),
        pointer: String::new(),
        message: render(e),
        reason: "InvalidManifest",
    })
}

/// Watches `paths` and calls `reload` after changes settle for `debounce`, until `cancel`.
pub async fn watch(
    paths: Vec<PathBuf>,
    debounce: Duration,
    cancel: CancellationToken,
    mut reload: impl FnMut(),
) -> Result<(), notify::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(());
        }
    })?;
    for path in &paths {
        watcher.watch(path, RecursiveMode::Recursive)?;
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            got = rx.recv() => if got.is_none() { return Ok(()) },
        }
        // Wait until the directory has been quiet for `debounce` (editors write in bursts).
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(debounce) => break,
                got = rx.recv() => if got.is_none() { return Ok(()) },
            }
        }
        reload();
    }
}
