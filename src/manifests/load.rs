//! Reading YAML manifests from files and directories.

use std::path::{Path, PathBuf};

use crate::yaml::{self, Document};

/// A problem reading a manifest file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("{path}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's error, with its line.
        #[source]
        source: yaml::SyntaxError,
    },
}

impl LoadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. } | Self::Syntax { path, .. } => path,
        }
    }

    /// The line the error is on (1 when unknown).
    pub fn line(&self) -> usize {
        match self {
            Self::Io { .. } => 1,
            Self::Syntax { source, .. } => source.line,
        }
    }
}

/// One YAML document and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDoc {
    /// The file the document was read from.
    pub file: PathBuf,
    /// The document, with line numbers.
    pub doc: Document,
}

impl SourceDoc {
    /// `apiVersion` of the document, if it is a string.
    pub fn api_version(&self) -> Option<&str> {
        self.doc.value.get("apiVersion")?.as_str()
    }

    /// `kind` of the document, if it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.doc.value.get("kind")?.as_str()
    }
}

/// True for file names that hold manifests.
fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Collects the manifest files under `paths` (files as given; directories recursively, sorted).
pub fn manifest_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, explicit: bool, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries = std::fs::read_dir(path)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                collect(&entry, false, out)?;
            }
        }
    } else if explicit || is_manifest(path) {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Reads every document of every manifest file under `paths`. Files that fail to read or parse
/// are reported in the second list; the others are still returned.
pub fn load_paths(paths: &[PathBuf]) -> (Vec<SourceDoc>, Vec<LoadError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let files = match manifest_files(paths) {
        Ok(files) => files,
        Err(e) => return (docs, vec![e]),
    };
    for file in files {
        match load_file(&file) {
            Ok(mut d) => docs.append(&mut d),
            Err(e) => errors.push(e),
        }
    }
    (docs, errors)
}

/// Reads every document of one file.
pub fn load_file(file: &Path) -> Result<Vec<SourceDoc>, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Io {
        path: file.to_owned(),
        source,
    })?;
    let docs = yaml::parse_documents(&text).map_err(|source| LoadError::Syntax {
        path: file.to_owned(),
        source,
    })?;
    Ok(docs
        .into_iter()
        .map(|doc| SourceDoc {
            file: file.to_owned(),
            doc,
        })
        .collect())
}
