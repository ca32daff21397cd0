//! Generated signing secrets of standalone mode: created once per subscription and kept in
//! the data directory (`signing-secrets/<namespace>/<name>`, mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A generated secret that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("signing secret file {path}")]
pub struct SecretFileError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// The file of a subscription's generated secret.
pub fn secret_path(data_dir: &Path, namespace: &str, name: &str) -> PathBuf {
    data_dir.join("signing-secrets").join(namespace).join(name)
}

/// Reads the subscription's generated secret, generating and storing it the first time.
pub fn load_or_generate(
    data_dir: &Path,
    namespace: &str,
    name: &str,
    generate: impl FnOnce() -> String,
) -> Result<(PathBuf, String), SecretFileError> {
    let path = secret_path(data_dir, namespace, name);
    let err = |source| SecretFileError {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok((path, s.trim().to_owned())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let secret = generate();
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(secret.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok((path, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (path, first) = load_or_generate(dir.path(), "ns", "sub", || "whsec_a".into()).unwrap();
        let (_, again) = load_or_generate(dir.path(), "ns", "sub", || "whsec_b".into()).unwrap();
        assert_eq!((first.as_str(), again.as_str()), ("whsec_a", "whsec_a"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
