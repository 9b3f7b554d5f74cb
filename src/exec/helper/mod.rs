//! The sandbox helper: this same program, started again with [`HELPER_ARG`], builds the
//! sandbox from Rust before the interpreter starts. It runs in three stages, each a fresh,
//! single-threaded process (namespaces and credentials are changed only where that is safe):
//!
//! 1. **outer** (started by moss, in moss's namespaces): reads the [`Plan`] frame, then
//!    unshares the mount, PID, IPC, UTS and (unless turned off) network namespaces. As root
//!    it needs no user namespace and the code will later run as a user of its own; without
//!    root (or without `CAP_SYS_ADMIN`) it enters a user namespace, as root of it, first.
//!    It starts stage 2, the first process of the new PID namespace, waits for it and ends
//!    the way the code ended (its exit code, or the same signal).
//! 2. **init** (PID 1 of the namespace): dies with stage 1 (`PR_SET_PDEATHSIG`) and with moss
//!    (the end of the lifeline, its standard input), reads the code frame, builds the minimal
//!    root (`rootfs.rs`), starts stage 3, reaps orphans, and when the code's process ends,
//!    reports its status to stage 1 and exits, which makes the kernel kill everything left in
//!    the namespace.
//! 3. **launch**: moves into the new root (`pivot_root`) and detaches the host's, gives up
//!    root (a user of its own, or an inner user namespace), clears the capability bounding
//!    set, sets the resource limits and `no_new_privs`, installs the syscall filter, writes
//!    the [`Report`] and becomes the interpreter.
//!
//! Where the OS refuses namespaces, the same stages run without them ("fallback"): the code
//! gets a private folder under the host's temporary folder (removed by stage 2, which also
//! watches the lifeline), and the report says which protections are missing and why.

mod init;
mod launch;
mod outer;
mod rootfs;
mod seccomp;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::protocol::{Missing, Plan, Report};
use super::{Protection, Protections};

/// `argv[1]` that makes this program the sandbox helper.
pub const HELPER_ARG: &str = "__moss-sandbox";

/// The exit status of a helper that could not start the code (its report says why).
pub(crate) const SETUP_FAILED: u8 = 125;

/// Runs the sandbox helper and exits when this process was started as one; returns at once
/// otherwise. Call it first thing in `main`, before any thread starts.
pub fn run_if_requested() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(HELPER_ARG.as_ref()) {
        super::sandbox::mark_helper_capable();
        return;
    }
    let stage = args.next();
    let setup = args.next();
    let code = match (stage.as_ref().and_then(|s| s.to_str()), setup) {
        (Some("outer"), None) => outer::run(),
        (Some("init"), Some(setup)) => parse(&setup).map_or_else(fail, init::run),
        (Some("launch"), Some(setup)) => parse(&setup).map_or_else(fail, launch::run),
        _ => fail("the sandbox helper was started with unknown arguments".to_owned()),
    };
    std::process::exit(i32::from(code));
}

fn parse(arg: &OsString) -> Result<Setup, String> {
    let text = arg
        .to_str()
        .ok_or_else(|| "the sandbox setup is not UTF-8".to_owned())?;
    serde_json::from_str(text).map_err(|e| format!("the sandbox setup is not valid: {e}"))
}

/// Writes a report that says why the code did not start, and gives the exit status for it.
pub(crate) fn fail(error: String) -> u8 {
    report(&Report {
        error: Some(error),
        ..Report::default()
    });
    SETUP_FAILED
}

/// Writes the report line to standard error.
fn report(report: &Report) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(&report.to_line());
    let _ = err.flush();
}

/// How the sandbox is isolated, decided by stage 1 and carried through the stages.
#[allow(clippy::struct_excessive_bools)] // facts found one by one, carried as JSON
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Setup {
    pub plan: Plan,
    /// New mount, PID, IPC and UTS namespaces (and network, see `network`).
    pub namespaces: bool,
    /// Inside a user namespace (as its root), rather than the host's root.
    pub user_namespace: bool,
    pub network: bool,
    /// The user the code runs as, given to it by stage 3 (root only: a user of its own).
    pub run_as: Option<u32>,
    /// The host user the code's processes count against (for the process limit).
    pub host_uid: u32,
    /// `run_as` is unique to this run, so the process limit counts only the run's processes.
    pub unique_user: bool,
    /// Stage 1's end of the status pipe, inherited by stage 2.
    pub status_fd: i32,
    /// Set by stage 2: the folder stage 3 moves into as its root.
    pub new_root: Option<PathBuf>,
    /// Set by stage 2: the code's working folder (inside the new root, or on the host).
    pub workdir: PathBuf,
    /// Set by stage 2: the private folder is a size-limited tmpfs.
    pub disk_limited: bool,
    /// Set by stage 2: the new root has a `/proc` of its own.
    pub proc_mounted: bool,
    /// Why protections are missing, as the stages find out.
    pub missing: Vec<Missing>,
}

impl Setup {
    fn miss(&mut self, protection: Protection, reason: impl Into<String>) {
        if !self.missing.iter().any(|m| m.protection == protection) {
            self.missing.push(Missing {
                protection,
                reason: reason.into(),
            });
        }
    }

    fn to_arg(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The protections in force, given what stage 3 managed (the rest comes from the setup).
    fn protections(&self, launched: Launched) -> Protections {
        let mut p = Protections {
            temp_dir: true,
            no_stdin: true,
            env_cleared: true,
            process_group: true,
            rlimits: launched.rlimits,
            process_limit: launched.process_limit,
            network_isolated: self.namespaces && self.network,
            pid_namespace: self.namespaces,
            filesystem_isolated: launched.pivoted,
            disk_limit: self.disk_limited && launched.pivoted,
            unprivileged: launched.unprivileged,
            syscall_filter: launched.syscall_filter,
        };
        if !self.namespaces {
            p.network_isolated = false;
        }
        p
    }
}

/// What stage 3 managed to do.
#[allow(clippy::struct_excessive_bools)] // one flag per step
#[derive(Clone, Copy, Debug, Default)]
struct Launched {
    pivoted: bool,
    rlimits: bool,
    process_limit: bool,
    unprivileged: bool,
    syscall_filter: bool,
}

/// How the code's process ended, as stage 2 tells stage 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Exited(i32),
    Signaled(i32),
}

impl Ended {
    fn to_line(self) -> String {
        match self {
            Self::Exited(code) => format!("exit {code}\n"),
            Self::Signaled(signal) => format!("signal {signal}\n"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (kind, number) = text.trim().split_once(' ')?;
        let number = number.parse().ok()?;
        match kind {
            "exit" => Some(Self::Exited(number)),
            "signal" => Some(Self::Signaled(number)),
            _ => None,
        }
    }
}

/// This program, for starting the next stage (a magic link: it works even when the file was
/// replaced since, and whatever this process's root is, as long as `proc` is at `proc`).
fn this_program(proc: &str) -> PathBuf {
    PathBuf::from(format!("{proc}/self/exe"))
}

/// An OS error as people read it: "Operation not permitted (EPERM)".
fn os_error(e: nix::Error) -> String {
    format!("{} ({e:?})", e.desc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_round_trips() {
        for ended in [Ended::Exited(0), Ended::Exited(3), Ended::Signaled(9)] {
            assert_eq!(Ended::parse(&ended.to_line()), Some(ended));
        }
        assert_eq!(Ended::parse(""), None);
        assert_eq!(Ended::parse("exit x"), None);
        assert_eq!(Ended::parse("quit 1"), None);
    }

    #[test]
    fn a_missing_protection_is_noted_once() {
        let mut setup = Setup::default();
        setup.miss(Protection::DiskLimit, "first");
        setup.miss(Protection::DiskLimit, "second");
        assert_eq!(setup.missing.len(), 1);
        assert_eq!(setup.missing[0].reason, "first");
        let back: Setup = serde_json::from_str(&setup.to_arg()).expect("round trip");
        assert_eq!(back.missing, setup.missing);
    }

    #[test]
    fn os_errors_read_well() {
        assert_eq!(
            os_error(nix::Error::EPERM),
            "Operation not permitted (EPERM)"
        );
    }
}
