//! One writer per workspace: an advisory lock on `.moss/lock`.
//!
//! Two processes appending to the same journals could interleave their records, and one
//! taking back a failed append (`set_len`) could cut a record the other had just committed.
//! So the commands that write a workspace hold this lock for as long as they run; the second
//! one stops at once, naming the first. The lock is the kernel's (`flock`), so it goes with
//! the process however the process ends, a `SIGKILL` included: there is no stale lock to
//! remove by hand. The file's content only says who holds it, for that message; it is written
//! after the lock is taken and never decides anything.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::STORE_DIR;

/// The lock's file name in `.moss/`.
pub const LOCK_FILE: &str = "lock";

/// Who holds a workspace, as its lock file says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// What it is, for people: `moss generate`, `the moss workbench`.
    pub command: String,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}, since {})",
            self.command, self.pid, self.since
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the workspace {} is in use by {}; wait for it to finish or use another --workspace",
        dir.display(),
        holder.as_ref().map_or_else(|| "another moss process".to_owned(), Holder::to_string)
    )]
    Busy {
        dir: PathBuf,
        /// `None` when the holder has not written its name yet (it has just taken the lock).
        holder: Option<Holder>,
    },
    #[error("{}: cannot lock the workspace: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The writer's lock on a workspace, held until dropped (or the process ends): closing its
/// only descriptor releases it. The descriptor is close-on-exec, so programs moss starts (the
/// sandbox, an editor) never hold it.
#[derive(Debug)]
pub struct WorkspaceLock {
    _file: File,
}

impl WorkspaceLock {
    /// Takes the lock on the workspace in `dir` (creating `.moss/` when needed) for `command`,
    /// without waiting, and writes who holds it.
    ///
    /// # Errors
    /// [`LockError::Busy`] when another process (or another lock in this one) holds it;
    /// [`LockError::Io`] when the lock file cannot be created, locked or written.
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, LockError> {
        let store = dir.join(STORE_DIR);
        std::fs::create_dir_all(&store).map_err(|source| LockError::Io {
            path: store.clone(),
            source,
        })?;
        let path = lock_path(dir);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: until the lock is ours, the content is the holder's.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    dir: dir.to_owned(),
                    holder: lock_holder(dir),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let me = Holder {
            pid: std::process::id(),
            command: command.to_owned(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let mut line = serde_json::to_vec(&me).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        file.set_len(0).map_err(io)?;
        file.write_all_at(&line, 0).map_err(io)?;
        Ok(Self { _file: file })
    }
}

/// `.moss/lock` of the workspace in `dir`.
#[must_use]
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(STORE_DIR).join(LOCK_FILE)
}

/// Who the lock file of the workspace in `dir` names. Whether that process still holds the
/// lock is only known by trying to take it; this is for messages.
#[must_use]
pub fn lock_holder(dir: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(lock_path(dir)).ok()?;
    serde_json::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = WorkspaceLock::acquire(dir.path(), "moss generate").expect("free");
        let named = lock_holder(dir.path()).expect("the holder is written");
        assert_eq!(named.pid, std::process::id());
        assert_eq!(named.command, "moss generate");
        assert!(named.since.ends_with('Z'), "{}", named.since);

        // flock locks belong to an open file, so a second one conflicts within one process too.
        let err = WorkspaceLock::acquire(dir.path(), "the moss workbench").expect_err("held");
        let LockError::Busy { holder: busy, .. } = &err else {
            panic!("busy, not {err}");
        };
        assert_eq!(busy.as_ref(), Some(&named));
        let message = err.to_string();
        assert_eq!(
            message,
            format!(
                "the workspace {} is in use by moss generate (pid {}, since {}); wait for it to finish or use another --workspace",
                dir.path().display(),
                named.pid,
                named.since
            )
        );
        // The refused process leaves the holder's name as it was.
        assert_eq!(lock_holder(dir.path()), Some(named));

        drop(first);
        let _second = WorkspaceLock::acquire(dir.path(), "the moss workbench").expect("freed");
        let named = lock_holder(dir.path()).expect("the new holder");
        assert_eq!(named.command, "the moss workbench");
    }

    #[test]
    fn a_holder_that_has_not_written_its_name_is_another_moss_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = WorkspaceLock::acquire(dir.path(), "moss generate").expect("free");
        // As between another process taking the lock and writing its name.
        std::fs::write(lock_path(dir.path()), "").expect("empty the lock file");
        let err = WorkspaceLock::acquire(dir.path(), "moss generate").expect_err("held");
        assert!(matches!(err, LockError::Busy { holder: None, .. }), "{err}");
        assert!(
            err.to_string()
                .contains("is in use by another moss process;"),
            "{err}"
        );
    }

    #[test]
    fn a_stale_name_from_a_longer_holder_is_overwritten_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(STORE_DIR)).expect("mkdir");
        let stale = format!(
            "{{\"pid\":1,\"command\":\"{}\",\"since\":\"x\"}}\n",
            "x".repeat(200)
        );
        std::fs::write(lock_path(dir.path()), stale).expect("stale");
        let _held = WorkspaceLock::acquire(dir.path(), "moss generate").expect("free");
        let text = std::fs::read_to_string(lock_path(dir.path())).expect("read");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(
            lock_holder(dir.path()).map(|h| h.command),
            Some("moss generate".to_owned())
        );
    }
}
