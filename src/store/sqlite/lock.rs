//! One process per SQLite database: the store takes an exclusive advisory lock (`flock`) on
//! `<database>.lock` before it opens the database and holds it while it is open, so a second
//! process started on the same data directory refuses to start instead of claiming the same
//! deliveries (and work a start-up reclaims from a dead process is known to be orphaned). The
//! database, its WAL and the lock file are readable by their owner only (SQLite gives the WAL
//! and shared-memory files the database file's mode).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Mode of the store's files.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(super) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the database at `db` and creates the database file (owner-only) when
    /// missing; fails with `StoreError::InUse` when another process holds the lock. An
    /// in-memory database has no file and no lock.
    pub(super) fn acquire(db: &Path) -> Result<Option<Self>, StoreError> {
        let name = db.to_string_lossy();
        if name == ":memory:" || name.starts_with("file::memory:") || name.contains("mode=memory") {
            return Ok(None);
        }
        let lock_path = lock_path(db);
        let file = private_file(&lock_path, "creating the store lock")?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: db.display().to_string(),
                    lock: lock_path.display().to_string(),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StoreError::File {
                    op: "locking",
                    path: lock_path.display().to_string(),
                    source,
                });
            }
        }
        drop(private_file(db, "creating the database")?);
        Ok(Some(Self { _file: file }))
    }
}

/// The lock file beside a database file.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    db.with_file_name(name)
}

/// Opens `path`, creating it readable and writable by its owner only, and narrows the mode of
/// a file an older version (or another umask) left wider.
fn private_file(path: &Path, op: &'static str) -> Result<File, StoreError> {
    let err = |source| StoreError::File {
        op,
        path: path.display().to_string(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(err)?.permissions().mode();
        if mode & 0o777 != FILE_MODE {
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(err)?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchboard.db");
        let first = StoreLock::acquire(&db).expect("the first lock");
        assert!(first.is_some());
        let second = StoreLock::acquire(&db);
        assert!(
            matches!(&second, Err(StoreError::InUse { lock, .. }) if lock.ends_with("switchboard.db.lock")),
            "{second:?}"
        );
        drop(first);
        StoreLock::acquire(&db).expect("the lock once it was released");
        assert!(StoreLock::acquire(Path::new(":memory:")).unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_lock_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchboard.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _lock = StoreLock::acquire(&db).unwrap();
        for path in [db.clone(), lock_path(&db)] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
}
