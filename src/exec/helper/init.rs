//! Stage 2: the first process of the sandbox. It builds the root, starts stage 3, reaps, and
//! ends everything when the code ends or moss goes away.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, chdir, setsid};

use super::{Ended, HELPER_ARG, Setup, fail, rootfs, this_program};
use crate::exec::protocol::{MAIN_FILE, read_frame};
use crate::exec::registry::remove_dir_now;

pub(super) fn run(mut setup: Setup) -> u8 {
    let mut status = match open_status(setup.status_fd) {
        Ok(file) => file,
        Err(e) => return fail(format!("cannot open the status pipe: {e}")),
    };
    if setup.namespaces {
        // Dies with stage 1 (single-threaded, so its thread is the process); then the kernel
        // kills everything else in the namespace.
        let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    }
    // Without a controlling terminal, nothing here can reach the user's terminal.
    let _ = setsid();
    let _ = prctl::set_dumpable(false);
    let mut lifeline = match lifeline() {
        Ok(file) => file,
        Err(e) => return fail(format!("cannot read the lifeline: {e}")),
    };
    let code = match read_frame(&mut lifeline) {
        Ok(code) => code,
        Err(e) => return fail(format!("cannot read the code: {e}")),
    };
    let fallback_dir = if setup.namespaces {
        if let Err(e) = rootfs::build(&mut setup, &code) {
            return fail(e);
        }
        None
    } else {
        match fallback_dir(&setup, &code) {
            Ok(dir) => {
                setup.workdir.clone_from(&dir);
                Some(dir)
            }
            Err(e) => return fail(e),
        }
    };
    let null = File::open("/dev/null");
    let null = match null {
        Ok(null) => null,
        Err(e) => return fail(format!("cannot open /dev/null: {e}")),
    };
    let child = Command::new(this_program("/proc"))
        .arg(HELPER_ARG)
        .arg("launch")
        .arg(setup.to_arg())
        .env_clear()
        .stdin(Stdio::from(null))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn();
    let code_pid = match child {
        Ok(child) => Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX)),
        Err(e) => {
            remove(fallback_dir.as_deref());
            return fail(format!("cannot start the sandbox's last stage: {e}"));
        }
    };
    if let Some(root) = &setup.new_root {
        // Stage 3 moves everyone here into the new root; be inside it when that happens.
        let _ = chdir(root.as_path());
    } else {
        // Orphans of the code come to us, so that they are reaped.
        let _ = prctl::set_child_subreaper(true);
    }
    watch_lifeline(lifeline, code_pid, fallback_dir.clone());
    let ended = reap_until(code_pid);
    if fallback_dir.is_some() {
        let _ = killpg(code_pid, Signal::SIGKILL);
        remove(fallback_dir.as_deref());
    }
    if let Some(ended) = ended {
        let _ = status.write_all(ended.to_line().as_bytes());
    }
    0
}

/// The status pipe stage 1 passed down under its number, reopened with close-on-exec; the
/// inherited number is closed so the code never holds it.
fn open_status(fd: i32) -> std::io::Result<File> {
    let file = File::options()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"))?;
    let _ = nix::unistd::close(fd);
    Ok(file)
}

/// Our standard input, the lifeline: the code frame, then nothing until moss is gone.
fn lifeline() -> std::io::Result<File> {
    Ok(File::from(std::io::stdin().as_fd().try_clone_to_owned()?))
}

/// Ends the sandbox as soon as the lifeline reaches its end: moss closed it, or died.
fn watch_lifeline(mut lifeline: File, code: Pid, fallback_dir: Option<PathBuf>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while matches!(lifeline.read(&mut buf), Ok(n) if n > 0) {}
        // As PID 1, exiting kills the namespace; without one, kill the code's group and
        // remove its folder.
        let _ = killpg(code, Signal::SIGKILL);
        remove(fallback_dir.as_deref());
        std::process::exit(i32::from(super::SETUP_FAILED));
    });
}

/// Reaps every child (orphans come to PID 1) until `code` ends; its end, if seen.
fn reap_until(code: Pid) -> Option<Ended> {
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, status)) if pid == code => {
                return Some(Ended::Exited(status));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == code => {
                return Some(Ended::Signaled(signal as i32));
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
}

/// A private folder on the host for a run without namespaces, holding the code.
fn fallback_dir(setup: &Setup, code: &[u8]) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix("moss-exec-")
        .tempdir_in(&setup.plan.temp_root)
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?
        .keep();
    let main = dir.join(MAIN_FILE);
    let written = std::fs::write(&main, code).and_then(|()| {
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o644))?;
        if let Some(uid) = setup.run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid))?;
            std::os::unix::fs::chown(&main, Some(uid), Some(uid))?;
        }
        Ok(())
    });
    if let Err(e) = written {
        remove(Some(&dir));
        return Err(format!("cannot write {}: {e}", main.display()));
    }
    Ok(dir)
}

fn remove(dir: Option<&Path>) {
    if let Some(dir) = dir {
        remove_dir_now(dir);
    }
}
