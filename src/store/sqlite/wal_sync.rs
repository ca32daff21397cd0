//! Durable commits without holding up the writer: the writer commits with
//! `synchronous=NORMAL` (written to the WAL, no fsync) and goes on with the next batch while
//! this thread fsyncs the WAL file and only then answers the commits it covers. One fsync
//! covers every commit written before it started, so commits that arrive while one runs share
//! the next. Since SQLite's WAL is replayed only up to its first invalid frame, a commit is
//! never found on disk without every commit before it.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use crate::store::StoreError;

/// Sends a commit's answer once it is durable (or the sync failed).
pub(super) type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Handle of the sync thread; it ends when this is dropped.
pub(super) struct WalSyncer {
    waiting: mpsc::Sender<Answer>,
}

impl WalSyncer {
    /// Starts the thread that fsyncs the WAL of the database file at `db`.
    pub(super) fn start(db: &Path) -> Result<Self, StoreError> {
        let mut wal = Wal::new(db);
        let (waiting, queue) = mpsc::channel::<Answer>();
        std::thread::Builder::new()
            .name("sqlite-wal-sync".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut answers = vec![first];
                    answers.extend(queue.try_iter());
                    let synced = wal.sync().map_err(Arc::new);
                    for answer in answers {
                        answer(synced.clone().map_err(StoreError::WalSync));
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt {
                what: "WAL sync thread",
                detail: format!("starting it: {e}"),
            })?;
        Ok(Self { waiting })
    }

    /// Calls `answer` after the next fsync of the WAL, which covers every commit made so far.
    pub(super) fn after_sync(&self, answer: Answer) {
        if let Err(mpsc::SendError(answer)) = self.waiting.send(answer) {
            answer(Err(StoreError::Closed));
        }
    }
}

/// The WAL file, opened on first use and again whenever the file at its path is another one
/// (SQLite only removes it when the last connection closes, and the writer's stays open; the
/// check keeps a replaced file from being synced in its place silently).
struct Wal {
    db: PathBuf,
    path: PathBuf,
    file: Option<(File, u64, u64)>,
}

impl Wal {
    fn new(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self {
            db: db.to_owned(),
            path: path.into(),
            file: None,
        }
    }

    /// Flushes the WAL file's data to the disk (the database file's when there is no WAL
    /// file: then every commit was checkpointed into it).
    fn sync(&mut self) -> io::Result<()> {
        let on_disk = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return File::open(&self.db)?.sync_data();
            }
            found => found?,
        };
        let (dev, ino) = (on_disk.dev(), on_disk.ino());
        let file = match self.file.take() {
            Some((file, d, i)) if (d, i) == (dev, ino) => file,
            _ => File::open(&self.path)?,
        };
        let synced = file.sync_data();
        self.file = Some((file, dev, ino));
        synced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_database_fails_the_sync_with_the_io_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let syncer = WalSyncer::start(&dir.path().join("absent.db")).expect("a syncer");
        let (tx, rx) = mpsc::channel();
        syncer.after_sync(Box::new(move |r| tx.send(r).expect("sent")));
        let err = rx.recv().expect("answered").expect_err("no file to sync");
        assert!(err.to_string().contains("No such file"), "{err}");
    }

    #[test]
    fn answers_after_syncing_the_file_at_the_wal_path() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let db = dir.path().join("s.db");
        std::fs::write(dir.path().join("s.db-wal"), b"frames").expect("a WAL file");
        let syncer = WalSyncer::start(&db).expect("a syncer");
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            syncer.after_sync(Box::new(move |r| tx.send(r.is_ok()).expect("sent")));
        }
        let answers: Vec<bool> = rx.iter().take(3).collect();
        assert_eq!(answers, [true, true, true]);
    }
}
