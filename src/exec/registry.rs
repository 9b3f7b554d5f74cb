//! The runs in flight, so that [`kill_running`] can stop them when the process is about to
//! exit without running destructors (`std::process::exit` on a second Ctrl-C, say).
//!
//! Killing a run's helper is enough: the sandbox inside ends with the helper's first stage (or,
//! without namespaces, when this process's end closes its lifeline), and leaves no folder on
//! the host behind.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

/// One run in flight.
struct Entry {
    id: u64,
    /// The run's process group, once the interpreter started.
    group: Option<Pid>,
    /// Cancelled by [`kill_running`], so the run reports itself cancelled.
    killed: CancellationToken,
}

static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The registry, even when a thread panicked while holding it (entries stay consistent: each
/// change is a single push, removal or assignment).
fn live() -> MutexGuard<'static, Vec<Entry>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills every sandboxed run in flight: each run's helper group gets `SIGKILL`, and each run
/// still being awaited ends as [`Cancelled`](super::ExecStatus::Cancelled).
///
/// For a process about to exit without unwinding. Synchronous, best effort, never panics; runs
/// that start afterwards are not affected.
pub fn kill_running() {
    let entries = std::mem::take(&mut *live());
    for entry in &entries {
        entry.killed.cancel();
        if let Some(group) = entry.group {
            // ESRCH (the group is already gone) is harmless.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// Removes `dir` and everything in it, making directories writable if needed; tries a few
/// times, since a process that was just killed may still be creating files.
pub(crate) fn remove_dir_now(dir: &Path) {
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(20));
            make_writable(dir);
        }
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {}
            _ => return,
        }
    }
}

/// Gives the owner full access to `dir` and every directory below it.
pub(crate) fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&entry.path());
        }
    }
}

/// A run's place in the registry; dropping it takes the run out.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    killed: CancellationToken,
}

impl Registration {
    /// Registers a run.
    pub(crate) fn new() -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let killed = CancellationToken::new();
        live().push(Entry {
            id,
            group: None,
            killed: killed.clone(),
        });
        Self { id, killed }
    }

    /// Records the run's process group. False when [`kill_running`] already took the run out:
    /// the caller must kill the group itself.
    pub(crate) fn set_group(&self, group: Pid) -> bool {
        match live().iter_mut().find(|entry| entry.id == self.id) {
            Some(entry) => {
                entry.group = Some(group);
                true
            }
            None => false,
        }
    }

    /// Cancelled when [`kill_running`] killed this run.
    pub(crate) fn killed(&self) -> &CancellationToken {
        &self.killed
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        live().retain(|entry| entry.id != self.id);
    }
}
