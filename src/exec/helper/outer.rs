//! Stage 1: namespaces, then stage 2, then the code's way of ending.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, getegid, geteuid, getpid, setgroups, setresgid, setresuid};

use super::{Ended, Setup, fail, os_error, this_program};
use crate::exec::Protection;
use crate::exec::protocol::{Plan, read_frame};

/// The first user id of the range the sandbox's users are taken from (as root): the run's
/// user is this plus stage 1's process id, so runs at the same time never share a user.
const SANDBOX_UID_BASE: u32 = 0x7fc0_0000;

/// Process ids stay below this (`/proc/sys/kernel/pid_max` is at most 2^22).
const PID_SPAN: u32 = 1 << 22;

pub(super) fn run() -> u8 {
    let plan = match read_plan() {
        Ok(plan) => plan,
        Err(e) => return fail(format!("the sandbox helper could not read its plan: {e}")),
    };
    let mut setup = Setup {
        plan,
        host_uid: geteuid().as_raw(),
        ..Setup::default()
    };
    isolate(&mut setup);
    let (mut reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return fail(format!("cannot create a pipe: {e}")),
    };
    // Stage 2 inherits the write end under the same number, and says there how the code ended.
    if let Err(e) = fcntl(writer.as_fd(), FcntlArg::F_SETFD(FdFlag::empty())) {
        return fail(format!("cannot pass the status pipe on: {}", os_error(e)));
    }
    setup.status_fd = writer.as_raw_fd();
    let child = Command::new(this_program("/proc"))
        .arg(super::HELPER_ARG)
        .arg("init")
        .arg(setup.to_arg())
        .env_clear()
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn();
    drop(writer);
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return fail(format!("cannot start the sandbox's first process: {e}")),
    };
    let mut status = String::new();
    let _ = reader.read_to_string(&mut status);
    let waited = child.wait();
    match Ended::parse(&status) {
        Some(Ended::Exited(code)) => u8::try_from(code).unwrap_or(1),
        Some(Ended::Signaled(signal)) => end_like(signal),
        // Stage 2 ended without a word: it reported why, or it was killed.
        None => match waited {
            Ok(status) => status.code().map_or(super::SETUP_FAILED, |c| {
                u8::try_from(c).unwrap_or(super::SETUP_FAILED)
            }),
            Err(_) => super::SETUP_FAILED,
        },
    }
}

/// Reads the plan frame, exactly: the code frame after it is stage 2's.
fn read_plan() -> Result<Plan, String> {
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    let mut stdin = std::fs::File::from(stdin);
    let bytes = read_frame(&mut stdin).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Enters the namespaces the OS allows, and decides who the code runs as.
fn isolate(setup: &mut Setup) {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    if setup.plan.isolate_network {
        flags |= CloneFlags::CLONE_NEWNET;
    } else {
        setup.miss(
            Protection::NetworkIsolated,
            "[exec] isolate-network is false",
        );
    }
    if !geteuid().is_root() {
        enter_user_namespace(setup, flags, "");
        return;
    }
    match unshare(flags) {
        Ok(()) => {
            setup.namespaces = true;
            setup.network = setup.plan.isolate_network;
            give_own_user(setup, true);
        }
        Err(e) => {
            // No CAP_SYS_ADMIN (a container's root, say): become a user of our own first,
            // then try as an unprivileged user would.
            let why = format!("as root: {}", os_error(e));
            give_own_user(setup, false);
            enter_user_namespace(setup, flags, &why);
        }
    }
}

/// Picks a user of the run's own for the code (as root); with `later`, stage 3 switches to it,
/// otherwise this process switches now. False when there is none to switch to.
fn give_own_user(setup: &mut Setup, later: bool) -> bool {
    let Some(uid) = own_user() else {
        setup.miss(
            Protection::Unprivileged,
            "no user id other than root is mapped in moss's user namespace",
        );
        return false;
    };
    if later {
        setup.run_as = Some(uid);
        setup.host_uid = uid;
        setup.unique_user = true;
        return true;
    }
    let gid = Gid::from_raw(uid);
    let user = Uid::from_raw(uid);
    let switched = setgroups(&[])
        .and_then(|()| setresgid(gid, gid, gid))
        .and_then(|()| setresuid(user, user, user));
    match switched {
        Ok(()) => {
            setup.host_uid = uid;
            setup.unique_user = true;
            true
        }
        Err(e) => {
            setup.miss(
                Protection::Unprivileged,
                format!(
                    "cannot switch to a user of the sandbox's own: {}",
                    os_error(e)
                ),
            );
            false
        }
    }
}

/// A user id for this run: unique among the runs alive (it comes from our process id), and
/// mapped in our user namespace.
fn own_user() -> Option<u32> {
    let pid = u32::try_from(getpid().as_raw()).unwrap_or(0) % PID_SPAN;
    let wanted = SANDBOX_UID_BASE + pid;
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let ranges: Vec<(u32, u32)> = map
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            let inside = fields.next()?.ok()?;
            let _outside = fields.next()?.ok()?;
            let count = fields.next()?.ok()?;
            let first = u32::try_from(inside).ok()?;
            let last = u32::try_from((inside + count).saturating_sub(1)).unwrap_or(u32::MAX);
            Some((first, last))
        })
        .collect();
    if ranges.iter().any(|&(a, b)| (a..=b).contains(&wanted)) {
        return Some(wanted);
    }
    // A container's narrower map: the highest id it has, if it is not root.
    ranges
        .iter()
        .map(|&(_, last)| last)
        .filter(|&last| last != 0 && last != u32::MAX)
        .max()
}

/// Enters a user namespace with the other namespaces, as its root (mapped to our user).
fn enter_user_namespace(setup: &mut Setup, flags: CloneFlags, earlier: &str) {
    let uid = geteuid().as_raw();
    let gid = getegid().as_raw();
    if let Err(e) = unshare(flags | CloneFlags::CLONE_NEWUSER) {
        let why = if earlier.is_empty() {
            format!("the OS refused new namespaces: {}", os_error(e))
        } else {
            format!(
                "the OS refused new namespaces ({earlier}; in a user namespace: {})",
                os_error(e)
            )
        };
        for protection in [
            Protection::FilesystemIsolated,
            Protection::DiskLimit,
            Protection::NetworkIsolated,
            Protection::PidNamespace,
        ] {
            setup.miss(protection, why.clone());
        }
        if setup.run_as.is_none() && uid == 0 {
            give_own_user(setup, true);
        }
        return;
    }
    let maps = [
        ("/proc/self/setgroups", "deny".to_owned()),
        ("/proc/self/uid_map", format!("0 {uid} 1")),
        ("/proc/self/gid_map", format!("0 {gid} 1")),
    ];
    for (path, text) in maps {
        if let Err(e) = std::fs::write(path, text)
            && path != "/proc/self/setgroups"
        {
            // Without a map nothing works in the namespace; the stages will say so.
            setup.miss(
                Protection::FilesystemIsolated,
                format!("cannot write {path}: {e}"),
            );
        }
    }
    setup.namespaces = true;
    setup.user_namespace = true;
    setup.network = setup.plan.isolate_network;
}

/// Ends this process the way the code ended: by the same signal (no core file), else with
/// 128 + its number.
fn end_like(signal: i32) -> u8 {
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    if let Ok(signal) = Signal::try_from(signal) {
        // The Rust runtime handles SIGSEGV and SIGBUS (to report stack overflows): its handler
        // restores the default action and returns, so the second time ends the process.
        let _ = nix::sys::signal::raise(signal);
        let _ = nix::sys::signal::raise(signal);
    }
    u8::try_from(128 + signal).unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_user_is_mapped_and_not_root() {
        let uid = own_user().expect("a user id");
        assert_ne!(uid, 0);
    }
}
