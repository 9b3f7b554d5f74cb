//! Stage 3: into the new root, down to an unprivileged user, limits and filter on, report,
//! and become the interpreter.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};
use nix::unistd::{
    AccessFlags, Gid, Uid, access, chdir, getuid, pivot_root, setgroups, setresgid, setresuid,
};

use super::rootfs::INNER_UID;
use super::{Launched, Setup, os_error, report, seccomp};
use crate::exec::Protection;
use crate::exec::protocol::{Missing, Report};

pub(super) fn run(mut setup: Setup) -> u8 {
    let mut launched = Launched::default();
    if let Some(root) = setup.new_root.clone() {
        if let Err(e) = enter_root(&root) {
            return super::fail(e);
        }
        launched.pivoted = true;
    }
    if let Err(e) = chdir(setup.workdir.as_path()) {
        return super::fail(format!(
            "cannot enter the working folder {}: {}",
            setup.workdir.display(),
            os_error(e)
        ));
    }
    let identity = identity(&mut setup);
    limits(&mut setup, &mut launched, identity);
    let no_new_privs = prctl::set_no_new_privs().is_ok();
    match seccomp::install() {
        Ok(()) => launched.syscall_filter = true,
        Err(e) => setup.miss(Protection::SyscallFilter, e),
    }
    launched.unprivileged = no_new_privs && identity.uid != 0 && identity.host_unprivileged;
    if !launched.unprivileged {
        let why = if identity.uid == 0 {
            "the code would run as root of its namespace"
        } else if !identity.host_unprivileged {
            "the code's user is root on the host"
        } else {
            "no_new_privs could not be set"
        };
        setup.miss(Protection::Unprivileged, why);
    }
    let protections = setup.protections(launched);
    let missing: Vec<Missing> = protections
        .missing()
        .into_iter()
        .map(|protection| {
            setup
                .missing
                .iter()
                .find(|m| m.protection == protection)
                .cloned()
                .unwrap_or_else(|| Missing {
                    protection,
                    reason: "not available here".to_owned(),
                })
        })
        .collect();
    let mut outcome = Report {
        protections,
        missing,
        error: None,
    };
    let lacking: Vec<&Missing> = outcome
        .missing
        .iter()
        .filter(|m| setup.plan.require.contains(&m.protection))
        .collect();
    if !lacking.is_empty() {
        let list: Vec<String> = lacking
            .iter()
            .map(|m| format!("{} ({})", m.protection, m.reason))
            .collect();
        outcome.error = Some(format!(
            "refused to run the code: [exec] require names protections this sandbox does not have: {}",
            list.join("; ")
        ));
        report(&outcome);
        return super::SETUP_FAILED;
    }
    let program = setup.plan.program.clone();
    if let Err(e) = access(&program, AccessFlags::X_OK) {
        outcome.error = Some(format!(
            "the interpreter {} cannot be started inside the sandbox: {}",
            program.display(),
            os_error(e)
        ));
        report(&outcome);
        return super::SETUP_FAILED;
    }
    report(&outcome);
    let workdir = setup.workdir.to_string_lossy().into_owned();
    let e = Command::new(&program)
        .args(&setup.plan.args)
        .env_clear()
        .envs(setup.plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HOME", &workdir)
        .env("TMPDIR", &workdir)
        .exec();
    // A second report: the first said the sandbox is ready, this one that the code never ran.
    report(&Report {
        protections,
        missing: Vec::new(),
        error: Some(format!("cannot start {}: {e}", program.display())),
    });
    super::SETUP_FAILED
}

/// Moves into `root` and detaches the host's root (and the first tmpfs with it), then makes
/// the new root read-only.
fn enter_root(root: &Path) -> Result<(), String> {
    let step = |what: &str, e: nix::Error| format!("cannot {what}: {}", os_error(e));
    chdir(root).map_err(|e| step("enter the new root", e))?;
    pivot_root(".", ".").map_err(|e| step("move into the new root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| step("detach the host's root", e))?;
    chdir("/").map_err(|e| step("enter the new root", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| step("make the new root read-only", e))
}

/// Who the code is.
#[derive(Clone, Copy, Debug)]
struct Identity {
    /// Its user id in its own user namespace.
    uid: u32,
    /// Its user is not root on the host.
    host_unprivileged: bool,
    /// It is in a user namespace of its own (where the process limit counts only its processes
    /// on Linux 5.14 and later).
    user_namespace: bool,
}

/// Gives up root: a user of the run's own (as the host's root), or an inner user namespace in
/// which the code is an ordinary user (as root of a user namespace). Either way the
/// capability bounding set is emptied, so the interpreter starts with no capabilities.
fn identity(setup: &mut Setup) -> Identity {
    if let Some(uid) = setup.run_as {
        let _ = caps::clear(None, caps::CapSet::Bounding);
        let gid = Gid::from_raw(uid);
        let user = Uid::from_raw(uid);
        let switched = setgroups(&[])
            .and_then(|()| setresgid(gid, gid, gid))
            .and_then(|()| setresuid(user, user, user));
        return match switched {
            Ok(()) => Identity {
                uid,
                host_unprivileged: true,
                user_namespace: false,
            },
            Err(e) => {
                setup.miss(
                    Protection::Unprivileged,
                    format!("cannot switch to the sandbox's user: {}", os_error(e)),
                );
                setup.miss(
                    Protection::ProcessLimit,
                    "the code runs as root, whose processes the OS does not limit",
                );
                Identity {
                    uid: 0,
                    host_unprivileged: false,
                    user_namespace: false,
                }
            }
        };
    }
    let host_unprivileged = setup.host_uid != 0;
    if !setup.user_namespace {
        let _ = caps::clear(None, caps::CapSet::Bounding);
        return Identity {
            uid: getuid().as_raw(),
            host_unprivileged,
            user_namespace: false,
        };
    }
    let inner = inner_user_namespace(setup);
    // A new user namespace starts with a full bounding set: empty it afterwards.
    let _ = caps::clear(None, caps::CapSet::Bounding);
    Identity {
        uid: if inner { INNER_UID } else { 0 },
        host_unprivileged,
        user_namespace: true,
    }
}

/// Enters a user namespace in which our user is [`INNER_UID`].
fn inner_user_namespace(setup: &mut Setup) -> bool {
    if !setup.proc_mounted {
        setup.miss(
            Protection::Unprivileged,
            "the OS refused the sandbox a /proc of its own, which an inner user namespace needs",
        );
        return false;
    }
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
        setup.miss(
            Protection::Unprivileged,
            format!("the OS refused an inner user namespace: {}", os_error(e)),
        );
        return false;
    }
    let maps = [
        ("/proc/self/setgroups", "deny".to_owned()),
        ("/proc/self/uid_map", format!("{INNER_UID} 0 1")),
        ("/proc/self/gid_map", format!("{INNER_UID} 0 1")),
    ];
    for (path, text) in maps {
        if let Err(e) = std::fs::write(path, text) {
            setup.miss(
                Protection::Unprivileged,
                format!("cannot write {path}: {e}"),
            );
            return false;
        }
    }
    true
}

/// Sets the resource limits (soft = hard, so the code cannot raise them) and, where it binds,
/// the process limit.
fn limits(setup: &mut Setup, launched: &mut Launched, identity: Identity) {
    let limits = setup.plan.limits;
    let mut ok = true;
    for (resource, value) in [
        (Resource::RLIMIT_CPU, limits.cpu_secs),
        (Resource::RLIMIT_AS, limits.memory_bytes),
        (Resource::RLIMIT_FSIZE, limits.file_size_bytes),
    ] {
        if value > 0 && limit(resource, value).is_err() {
            ok = false;
        }
    }
    let _ = limit(Resource::RLIMIT_CORE, 0);
    launched.rlimits = ok;
    if !ok {
        setup.miss(
            Protection::Rlimits,
            "the OS refused a CPU, memory or file size limit",
        );
    }
    if limits.max_processes == 0 {
        setup.miss(Protection::ProcessLimit, "[exec] max-processes is 0");
        return;
    }
    if !identity.host_unprivileged {
        setup.miss(
            Protection::ProcessLimit,
            "the code's user is root on the host, whose processes the OS does not limit",
        );
        return;
    }
    let counted_alone =
        setup.unique_user || (identity.user_namespace && nproc_counts_per_namespace());
    if !counted_alone {
        setup.miss(
            Protection::ProcessLimit,
            "without a user namespace (Linux 5.14 or later) the OS would count every process of your user, so no limit is set",
        );
        return;
    }
    match limit(Resource::RLIMIT_NPROC, limits.max_processes) {
        Ok(()) => launched.process_limit = true,
        Err(e) => setup.miss(
            Protection::ProcessLimit,
            format!("the OS refused the process limit: {}", os_error(e)),
        ),
    }
}

/// Sets soft and hard limit to `value` (or the current hard limit, if lower).
fn limit(resource: Resource, value: u64) -> nix::Result<()> {
    let (_, hard) = getrlimit(resource)?;
    let value = if hard == RLIM_INFINITY {
        value
    } else {
        value.min(hard)
    };
    setrlimit(resource, value, value)
}

/// Since Linux 5.14 `RLIMIT_NPROC` counts the processes of a user in its user namespace.
fn nproc_counts_per_namespace() -> bool {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    kernel_at_least(&release, (5, 14))
}

fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((major, minor), (Some(a), Some(b)) if (a, b) >= want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_are_compared_by_number() {
        assert!(kernel_at_least("6.18.44-fc-v1098", (5, 14)));
        assert!(kernel_at_least("5.14.0", (5, 14)));
        assert!(!kernel_at_least("5.4.0-150-generic", (5, 14)));
        assert!(!kernel_at_least("4.19", (5, 14)));
        assert!(!kernel_at_least("", (5, 14)));
    }
}
