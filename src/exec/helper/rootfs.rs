//! The minimal root, built by stage 2 in its own mount namespace.
//!
//! A small tmpfs goes over an existing folder that holds none of what the sandbox shows (the
//! mount namespace is private, so the host never sees it), and the new root is put together
//! in it, at `newroot`:
//!
//! - the OS's program and library folders and the interpreter's folders, bound read-only
//!   (not their submounts);
//! - `/etc` with only a generated `passwd`, `group`, `hosts`, `hostname` and `nsswitch.conf`,
//!   and the host's `ld.so.cache` and `localtime`;
//! - `/dev` with `null`, `zero`, `full`, `random` and `urandom`, and the usual links;
//! - `/work` (the working folder, `HOME` and `TMPDIR`), `/tmp` and `/dev/shm`: three folders
//!   of one tmpfs limited to `[exec] disk-mb`, owned by the code's user;
//! - a fresh `/proc` of the sandbox's PID namespace.
//!
//! Stage 3 then moves into the new root, detaches the host's, and makes the root read-only.

use std::fmt::Write as _;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::{Setup, os_error};
use crate::exec::Protection;
use crate::exec::interpreter::SYSTEM_DIRS;
use crate::exec::protocol::MAIN_FILE;

/// The working folder inside the sandbox.
pub(crate) const WORKDIR: &str = "/work";
/// The code's user id inside its own user namespace (when moss is not root).
pub(crate) const INNER_UID: u32 = 1000;

/// Folders that may hold the first tmpfs: any existing folder would do (it is covered only in
/// the sandbox's own mount namespace) that holds nothing the new root needs from the host.
const BASES: [&str; 8] = [
    "/tmp", "/mnt", "/media", "/srv", "/run", "/opt", "/var", "/boot",
];

const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// Builds the new root; afterwards `setup` says where it is and what it has.
pub(super) fn build(setup: &mut Setup, code: &[u8]) -> Result<(), String> {
    let step = |what: &str, e: nix::Error| format!("cannot {what}: {}", os_error(e));
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| step("make the mounts private", e))?;
    let sources: Vec<PathBuf> = SYSTEM_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(setup.plan.binds.iter().cloned())
        .chain(["/etc", "/dev", "/proc"].map(PathBuf::from))
        .collect();
    let base = BASES
        .iter()
        .map(Path::new)
        .find(|b| b.is_dir() && !sources.iter().any(|s| s.starts_with(b)))
        .ok_or_else(|| "no folder to build the sandbox's root in".to_owned())?;
    tmpfs(base, "size=1m,nr_inodes=64,mode=0755")
        .map_err(|e| step("mount the sandbox's first tmpfs", e))?;
    let layout = Layout {
        new_root: base.join("newroot"),
        scratch: base.join("scratch"),
    };
    mkdir(&layout.new_root)?;
    mkdir(&layout.scratch)?;
    tmpfs(&layout.new_root, "size=4m,nr_inodes=4096,mode=0755")
        .map_err(|e| step("mount the new root", e))?;

    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        match std::fs::symlink_metadata(host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(host)
                    .map_err(|e| format!("cannot read the link {dir}: {e}"))?;
                symlink(&target, layout.inside(host))
                    .map_err(|e| format!("cannot link {dir}: {e}"))?;
            }
            Ok(meta) if meta.is_dir() => layout.bind_read_only(host, true)?,
            _ => {}
        }
    }
    layout.etc(setup)?;
    layout.dev()?;
    layout.scratch(setup, code)?;
    // After the private folders, so that an interpreter under /tmp is not covered by them.
    for dir in setup.plan.binds.clone() {
        layout.bind_read_only(&dir, true)?;
    }
    let proc = layout.inside(Path::new("/proc"));
    mkdir(&proc)?;
    match mount(
        Some("proc"),
        &proc,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    ) {
        Ok(()) => setup.proc_mounted = true,
        // Containers often cover parts of /proc, and then the kernel refuses a new one in a
        // user namespace: the code gets an empty /proc, which hides more, not less (stage 3
        // says what that costs).
        Err(_) => setup.proc_mounted = false,
    }
    setup.new_root = Some(layout.new_root);
    setup.workdir = PathBuf::from(WORKDIR);
    Ok(())
}

/// Where the new root and the private tmpfs are while they are built.
struct Layout {
    new_root: PathBuf,
    /// Where the private tmpfs is mounted first, before its folders are bound into place.
    scratch: PathBuf,
}

fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn tmpfs(target: &Path, options: &str) -> nix::Result<()> {
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options),
    )
}

/// The flags of the mount holding `path` that a bind of it must keep (the kernel refuses to
/// clear them in a user namespace).
fn locked_flags(path: &Path) -> MsFlags {
    let mut flags = MsFlags::empty();
    if let Ok(stat) = statvfs(path) {
        let have = stat.flags();
        for (fs, ms) in [
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        ] {
            if have.contains(fs) {
                flags |= ms;
            }
        }
    }
    flags
}

/// Binds `source` at `target`, then remounts the bind with `flags` (a bind ignores flags given
/// with it) plus those of `source`'s mount that a user namespace may not clear.
fn bind_with(source: &Path, target: &Path, flags: MsFlags) -> nix::Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked_flags(source),
        None::<&str>,
    )
}

impl Layout {
    /// `path` of the sandbox, in the new root being built.
    fn inside(&self, path: &Path) -> PathBuf {
        self.new_root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Binds the host's `path` at the same place in the new root, read-only, without set-user-ID
    /// programs or devices.
    fn bind_read_only(&self, path: &Path, dir: bool) -> Result<(), String> {
        let source = path.to_path_buf();
        let target = self.inside(path);
        if dir {
            mkdir(&target)?;
        } else {
            if let Some(parent) = target.parent() {
                mkdir(parent)?;
            }
            std::fs::write(&target, b"")
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
        }
        let fail =
            |e: nix::Error| format!("cannot show {} read-only: {}", path.display(), os_error(e));
        bind_with(
            &source,
            &target,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        )
        .map_err(fail)
    }

    /// `/etc`: who is who, the loader's cache and the time zone; nothing else of the host's.
    fn etc(&self, setup: &Setup) -> Result<(), String> {
        let dir = self.inside(Path::new("/etc"));
        mkdir(&dir)?;
        let uid = setup.run_as.unwrap_or(INNER_UID);
        let files = [
            (
                "passwd",
                format!(
                    "root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:moss sandbox:{WORKDIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                ),
            ),
            (
                "group",
                format!("root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"),
            ),
            (
                "hosts",
                "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_owned(),
            ),
            ("hostname", "sandbox\n".to_owned()),
            (
                "nsswitch.conf",
                "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\nprotocols: files\nservices: files\n"
                    .to_owned(),
            ),
        ];
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("cannot write /etc/{name}: {e}"))?;
        }
        for name in ["ld.so.cache", "localtime"] {
            let host_path = Path::new("/etc").join(name);
            match std::fs::symlink_metadata(&host_path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    // `/usr` is at the same place inside, so the link leads to the same file.
                    if let Ok(target) = std::fs::read_link(&host_path) {
                        let _ = symlink(target, self.inside(&host_path));
                    }
                }
                Ok(meta) if meta.is_file() => self.bind_read_only(&host_path, false)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// `/dev`: a few harmless devices, the usual links, and `shm` (bound later).
    fn dev(&self) -> Result<(), String> {
        let dir = self.inside(Path::new("/dev"));
        mkdir(&dir.join("shm"))?;
        for name in DEVICES {
            let host = Path::new("/dev").join(name);
            let target = self.inside(&host);
            std::fs::write(&target, b"").map_err(|e| format!("cannot create /dev/{name}: {e}"))?;
            let fail = |e: nix::Error| format!("cannot show /dev/{name}: {}", os_error(e));
            bind_with(&host, &target, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC).map_err(fail)?;
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlink(target, dir.join(name)).map_err(|e| format!("cannot link /dev/{name}: {e}"))?;
        }
        Ok(())
    }

    /// The private tmpfs: `/work` (with the code in it), `/tmp` and `/dev/shm`, one size limit
    /// for all three.
    fn scratch(&self, setup: &mut Setup, code: &[u8]) -> Result<(), String> {
        let mut options = String::from("mode=0755");
        let disk_mb = setup.plan.disk_mb;
        if disk_mb > 0 {
            let inodes = disk_mb.saturating_mul(64).clamp(4096, 1 << 20);
            let _ = write!(options, ",size={disk_mb}m,nr_inodes={inodes}");
        }
        tmpfs(&self.scratch, &options)
            .map_err(|e| format!("cannot mount the private folder: {}", os_error(e)))?;
        if disk_mb > 0 {
            setup.disk_limited = true;
        } else {
            setup.miss(Protection::DiskLimit, "[exec] disk-mb is 0");
        }
        let owner = setup.run_as;
        let scratch = self.scratch.as_path();
        for (name, mode) in [("work", 0o700), ("tmp", 0o1777), ("shm", 0o1777)] {
            let dir = scratch.join(name);
            mkdir(&dir)?;
            set_owner(&dir, mode, owner)?;
        }
        let main = scratch.join("work").join(MAIN_FILE);
        std::fs::write(&main, code).map_err(|e| format!("cannot write {MAIN_FILE}: {e}"))?;
        set_owner(&main, 0o644, owner)?;
        for (name, at) in [("work", WORKDIR), ("tmp", "/tmp"), ("shm", "/dev/shm")] {
            let target = self.inside(Path::new(at));
            mkdir(&target)?;
            mount(
                Some(&scratch.join(name)),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| format!("cannot place {at}: {}", os_error(e)))?;
        }
        Ok(())
    }
}

fn set_owner(path: &Path, mode: u32, owner: Option<u32>) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    if let Some(uid) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(uid))
            .map_err(|e| format!("cannot give {} to the sandbox's user: {e}", path.display()))?;
    }
    Ok(())
}
