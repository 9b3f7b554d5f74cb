//! Finding the real interpreter behind `[exec] python`, and the folders it needs.
//!
//! The sandbox shows the code only the OS's program and library folders ([`SYSTEM_DIRS`]) and
//! the interpreter's own prefix, read-only. So the configured name is resolved on the host,
//! without running anything: looked up in `PATH`; a pyenv shim (a shell script) is resolved
//! the way pyenv does (`PYENV_VERSION`, then `.python-version` from the current folder up, then
//! pyenv's global `version` file); a virtual environment keeps its own path (Python finds its
//! `pyvenv.cfg` next to the executable) and adds its base interpreter's prefix. Whatever else
//! the chain leads to (another script, a file that is not a program) is refused with a message
//! that says what to configure instead. A prefix that would uncover the user's files (`/`, a
//! home folder, the workspace, `/tmp`…) is refused too.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The OS's program and library folders, bound read-only where they exist (symbolic links,
/// as on merged-`/usr` systems, are recreated as links).
pub(crate) const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Folders an interpreter prefix must not be or contain: binding one would show the code the
/// host's or the user's files.
const PRIVATE_DIRS: [&str; 10] = [
    "/tmp", "/var", "/run", "/home", "/root", "/etc", "/proc", "/sys", "/dev", "/mnt",
];

/// The interpreter the sandbox starts, and what it needs to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// The path started, the same inside the sandbox as outside.
    pub program: PathBuf,
    /// Folders bound read-only at the same place, besides [`SYSTEM_DIRS`].
    pub binds: Vec<PathBuf>,
    /// The folder of `program`, first in the code's `PATH` so that `python3` and `pip` there
    /// are this interpreter's.
    pub bin_dir: PathBuf,
}

/// What resolving an interpreter reads of this process's situation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Host {
    pub path: Option<OsString>,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub pyenv_root: Option<PathBuf>,
    pub pyenv_version: Option<String>,
}

impl Host {
    pub(crate) fn current() -> Self {
        Self {
            path: std::env::var_os("PATH"),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            pyenv_root: std::env::var_os("PYENV_ROOT")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            pyenv_version: std::env::var("PYENV_VERSION")
                .ok()
                .filter(|v| !v.trim().is_empty()),
        }
    }
}

/// Resolves `[exec] python` (a name looked up in `PATH`, or a path) for this process.
///
/// # Errors
/// A message for the user when the interpreter cannot be found or cannot be sandboxed.
pub fn resolve_interpreter(configured: &str) -> Result<Interpreter, String> {
    resolve(configured, &Host::current())
}

pub(crate) fn resolve(configured: &str, host: &Host) -> Result<Interpreter, String> {
    let found = find_program(configured, host)?;
    let found = match pyenv_shim_root(&found, host) {
        Some(root) => pyenv_target(&found, &root, host)?,
        None => found,
    };
    let real = std::fs::canonicalize(&found)
        .map_err(|e| format!("cannot resolve {}: {e}", found.display()))?;
    check_is_program(&real)?;
    let real_prefix = prefix_of(&real);
    let mut binds = Vec::new();
    // A virtual environment is started by its own path: Python finds `pyvenv.cfg` next to
    // the executable or one folder up, before it follows links.
    let (program, venv) = match venv_root(&found) {
        Some(venv) => {
            let dir = found.parent().unwrap_or(Path::new("/"));
            let dir = std::fs::canonicalize(dir)
                .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
            let name = found.file_name().unwrap_or_default();
            (dir.join(name), Some(venv))
        }
        None => (real.clone(), None),
    };
    if let Some(venv) = venv {
        let venv = std::fs::canonicalize(&venv).unwrap_or(venv);
        if let Some(home) = venv_home(&venv)
            && let Ok(home) = std::fs::canonicalize(&home)
        {
            binds.push(home.parent().map_or(home.clone(), Path::to_path_buf));
        }
        binds.push(venv);
    }
    binds.push(real_prefix);
    let binds = tidy_binds(binds);
    for bind in &binds {
        refuse_private(bind, host)?;
    }
    let bin_dir = program
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Ok(Interpreter {
        program,
        binds,
        bin_dir,
    })
}

/// The configured interpreter as an absolute path: a name is looked up in `PATH`, a path is
/// made absolute.
fn find_program(name: &str, host: &Host) -> Result<PathBuf, String> {
    if name.trim().is_empty() {
        return Err("no Python interpreter is configured".to_owned());
    }
    let absolute = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            host.cwd.join(p)
        }
    };
    if name.contains('/') {
        let path = absolute(Path::new(name));
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "the Python interpreter {name:?} is not an executable file"
            ))
        };
    }
    search_path(name, host, |_| true)
        .ok_or_else(|| format!("the Python interpreter {name:?} was not found in PATH"))
}

/// The first executable `name` in `PATH` whose folder `accept`s.
fn search_path(name: &str, host: &Host, accept: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let path_var = host.path.clone().unwrap_or_default();
    std::env::split_paths(&path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                host.cwd.join(dir)
            }
        })
        .filter(|dir| accept(dir))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first bytes of a file.
fn head(path: &Path, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(len as u64).read_to_end(&mut bytes);
    }
    bytes
}

/// The pyenv root when `path` is one of its shims (a script in `<root>/shims` that runs pyenv).
fn pyenv_shim_root(path: &Path, host: &Host) -> Option<PathBuf> {
    let dir = path.parent()?;
    if dir.file_name()? != "shims" {
        return None;
    }
    let text = head(path, 4096);
    if !text.starts_with(b"#!") || !text.windows(5).any(|w| w == b"pyenv") {
        return None;
    }
    Some(
        host.pyenv_root
            .clone()
            .unwrap_or_else(|| dir.parent().unwrap_or(Path::new("/")).to_path_buf()),
    )
}

/// What a pyenv shim would run, as pyenv chooses it.
fn pyenv_target(shim: &Path, root: &Path, host: &Host) -> Result<PathBuf, String> {
    let name = shim.file_name().unwrap_or_default();
    let (versions, origin) = pyenv_versions(root, host);
    for version in &versions {
        if version == "system" {
            let shims = shim.parent().unwrap_or(Path::new("/"));
            if let Some(found) = search_path(&name.to_string_lossy(), host, |dir| {
                dir != shims && !dir.starts_with(root.join("shims"))
            }) {
                return Ok(found);
            }
            continue;
        }
        let Some(dir) = pyenv_version_dir(root, version) else {
            continue;
        };
        let candidate = dir.join("bin").join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!(
        "the pyenv shim {} has no {} for version {} (set by {origin}): install it, or set [exec] python to an interpreter's path",
        shim.display(),
        name.to_string_lossy(),
        versions.join(", "),
    ))
}

/// The versions pyenv would try, and where that choice comes from.
fn pyenv_versions(root: &Path, host: &Host) -> (Vec<String>, String) {
    if let Some(versions) = &host.pyenv_version {
        let list = versions
            .split([':', ' ', '\n', '\t'])
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        return (list, "PYENV_VERSION".to_owned());
    }
    let mut dir = Some(host.cwd.as_path());
    while let Some(at) = dir {
        let file = at.join(".python-version");
        if let Some(list) = read_version_file(&file) {
            return (list, file.display().to_string());
        }
        dir = at.parent();
    }
    let global = root.join("version");
    match read_version_file(&global) {
        Some(list) => (list, global.display().to_string()),
        None => (vec!["system".to_owned()], "pyenv's default".to_owned()),
    }
}

/// The versions named in a pyenv version file (comments and unsafe names skipped), or `None`
/// when there is no such file or it names nothing.
fn read_version_file(path: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let list: Vec<String> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
        .filter(|v| !v.contains('/') && *v != "." && *v != "..")
        .map(str::to_owned)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The folder of an installed pyenv version: the exact name, else the latest installed version
/// it is a prefix of (`3.11` → `3.11.7`), as pyenv does.
fn pyenv_version_dir(root: &Path, version: &str) -> Option<PathBuf> {
    let versions = root.join("versions");
    let exact = versions.join(version);
    if exact.is_dir() {
        return Some(exact);
    }
    let mut matches: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(&versions)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(version)?;
            if !rest.starts_with('.') {
                return None;
            }
            let key: Option<Vec<u64>> = name.split('.').map(|n| n.parse().ok()).collect();
            Some((key?, entry.path()))
        })
        .collect();
    matches.sort();
    matches.pop().map(|(_, path)| path)
}

/// Refuses a file that is not a program the sandbox can start by itself.
fn check_is_program(real: &Path) -> Result<(), String> {
    let bytes = head(real, 256);
    if bytes.starts_with(b"\x7fELF") {
        return Ok(());
    }
    if bytes.starts_with(b"#!") {
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        return Err(format!(
            "{} is a script ({}), not a Python interpreter: set [exec] python to the interpreter itself",
            real.display(),
            String::from_utf8_lossy(line).trim()
        ));
    }
    Err(format!(
        "{} is not a program the sandbox can start",
        real.display()
    ))
}

/// `<prefix>` of `<prefix>/bin/python3.x`, or the program's own folder.
fn prefix_of(real: &Path) -> PathBuf {
    let dir = real.parent().unwrap_or(Path::new("/"));
    if dir.file_name().is_some_and(|n| n == "bin") {
        dir.parent().unwrap_or(Path::new("/")).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The virtual environment `program` belongs to: the folder holding `pyvenv.cfg` next to it or
/// one up.
fn venv_root(program: &Path) -> Option<PathBuf> {
    let dir = program.parent()?;
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .find(|d| d.join("pyvenv.cfg").is_file())
        .map(Path::to_path_buf)
}

/// The `home` of a virtual environment's `pyvenv.cfg`: its base interpreter's folder.
fn venv_home(venv: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    })
}

/// Binds outside [`SYSTEM_DIRS`], without duplicates or folders inside another bind.
fn tidy_binds(binds: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut binds: Vec<PathBuf> = binds
        .into_iter()
        .filter(|b| !SYSTEM_DIRS.iter().any(|s| b.starts_with(s)))
        .collect();
    binds.sort();
    binds.dedup();
    let all = binds.clone();
    binds.retain(|b| !all.iter().any(|other| other != b && b.starts_with(other)));
    binds
}

/// Refuses a bind that is, or holds, a folder with the user's or the host's files.
fn refuse_private(bind: &Path, host: &Host) -> Result<(), String> {
    let private = PRIVATE_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(host.home.clone())
        .chain(std::iter::once(host.cwd.clone()));
    for dir in private {
        if dir.starts_with(bind) {
            return Err(format!(
                "the interpreter's folder {} holds {}: the sandbox would show it to the code; point [exec] python at an interpreter installed in a folder of its own (pyenv, conda, a virtual environment)",
                bind.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake program: an ELF header is all `check_is_program` reads.
    fn program(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"\x7fELF fake").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn script(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn host(root: &Path, path: &[&Path]) -> Host {
        Host {
            path: Some(std::env::join_paths(path).expect("join")),
            cwd: root.join("work/space"),
            home: Some(root.join("home/u")),
            pyenv_root: None,
            pyenv_version: None,
        }
    }

    #[test]
    fn a_name_is_found_in_path_and_its_prefix_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        program(&root.join("opt/py/bin/python3.12"));
        std::os::unix::fs::symlink("python3.12", root.join("opt/py/bin/python3")).expect("ln");
        let bin = root.join("opt/py/bin");
        let h = host(root, &[Path::new("/nonexistent"), &bin]);
        let found = resolve("python3", &h).expect("resolves");
        let real = std::fs::canonicalize(root).expect("canon");
        assert_eq!(found.program, real.join("opt/py/bin/python3.12"));
        assert_eq!(found.binds, [real.join("opt/py")]);
        assert_eq!(found.bin_dir, real.join("opt/py/bin"));
        assert!(
            resolve("nope", &h)
                .expect_err("missing")
                .contains("not found in PATH")
        );
        assert!(resolve("", &h).is_err());
    }

    #[test]
    fn a_pyenv_shim_is_resolved_like_pyenv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        let pyenv = root.join("pyenv");
        script(
            &pyenv.join("shims/python3"),
            "#!/usr/bin/env bash\nexec \"/x/pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n",
        );
        for v in ["3.11.2", "3.11.10", "3.12.1"] {
            program(&pyenv.join(format!("versions/{v}/bin/python3")));
        }
        std::fs::write(pyenv.join("version"), "3.12.1\n").expect("global");
        let mut h = host(&root, &[&pyenv.join("shims")]);
        std::fs::create_dir_all(&h.cwd).expect("cwd");

        let global = resolve("python3", &h).expect("global version");
        assert_eq!(global.program, pyenv.join("versions/3.12.1/bin/python3"));
        assert_eq!(global.binds, [pyenv.join("versions/3.12.1")]);

        // A local .python-version above the current folder wins; a prefix picks the latest.
        std::fs::write(root.join("work/.python-version"), "# pinned\n3.11\n").expect("local");
        let local = resolve("python3", &h).expect("local version");
        assert_eq!(local.program, pyenv.join("versions/3.11.10/bin/python3"));

        h.pyenv_version = Some("9.9:3.11.2".to_owned());
        let env = resolve("python3", &h).expect("PYENV_VERSION");
        assert_eq!(env.program, pyenv.join("versions/3.11.2/bin/python3"));

        h.pyenv_version = Some("9.9".to_owned());
        let err = resolve("python3", &h).expect_err("no such version");
        assert!(
            err.contains("9.9") && err.contains("PYENV_VERSION"),
            "{err}"
        );
    }

    #[test]
    fn pyenv_system_skips_the_shims() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        let pyenv = root.join("pyenv");
        script(
            &pyenv.join("shims/python3"),
            "#!/bin/sh\nexec pyenv exec python3\n",
        );
        program(&root.join("sys/bin/python3"));
        std::fs::write(pyenv.join("version"), "system\n").expect("global");
        let h = host(&root, &[&pyenv.join("shims"), &root.join("sys/bin")]);
        let found = resolve("python3", &h).expect("system");
        assert_eq!(found.program, root.join("sys/bin/python3"));
    }

    #[test]
    fn a_virtual_environment_keeps_its_path_and_binds_its_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        program(&root.join("base/bin/python3.11"));
        let venv = root.join("work/space/.venv");
        std::fs::create_dir_all(venv.join("bin")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("base/bin/python3.11"), venv.join("bin/python"))
            .expect("ln");
        std::fs::write(
            venv.join("pyvenv.cfg"),
            format!(
                "home = {}\ninclude-system-site-packages = false\n",
                root.join("base/bin").display()
            ),
        )
        .expect("cfg");
        let h = host(&root, &[]);
        let found = resolve(venv.join("bin/python").to_str().expect("utf-8"), &h).expect("venv");
        assert_eq!(
            found.program,
            venv.join("bin/python"),
            "started by its own path"
        );
        assert_eq!(found.binds, [root.join("base"), venv.clone()]);
        assert_eq!(found.bin_dir, venv.join("bin"));
    }

    #[test]
    fn scripts_and_private_prefixes_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canon");
        script(&root.join("tools/bin/python3"), "#!/bin/sh\necho hi\n");
        let h = host(&root, &[&root.join("tools/bin")]);
        let err = resolve("python3", &h).expect_err("a script");
        assert!(err.contains("is a script (#!/bin/sh)"), "{err}");

        // An interpreter straight in the home folder would show the whole home folder.
        program(&root.join("home/u/bin/python3"));
        let h = host(&root, &[&root.join("home/u/bin")]);
        let err = resolve("python3", &h).expect_err("home prefix");
        assert!(err.contains("holds") && err.contains("home/u"), "{err}");

        // So would one whose prefix holds the workspace.
        program(&root.join("work/bin/python3"));
        let h = host(&root, &[&root.join("work/bin")]);
        assert!(resolve("python3", &h).is_err());

        let mut plain = root.join("plain");
        std::fs::write(&plain, "data").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = resolve(plain.to_str().expect("utf-8"), &h).expect_err("not a program");
        assert!(err.contains("not a program"), "{err}");
        plain.set_extension("missing");
        assert!(resolve(plain.to_str().expect("utf-8"), &h).is_err());
    }

    #[test]
    fn binds_inside_system_folders_or_each_other_are_dropped() {
        let binds = tidy_binds(vec![
            PathBuf::from("/usr"),
            PathBuf::from("/usr/local/py"),
            PathBuf::from("/opt/a"),
            PathBuf::from("/opt/a/venv"),
            PathBuf::from("/opt/b"),
            PathBuf::from("/opt/a"),
        ]);
        assert_eq!(binds, [PathBuf::from("/opt/a"), PathBuf::from("/opt/b")]);
    }

    #[test]
    fn the_system_python_needs_no_bind() {
        // /usr/bin/python3 exists on the machines this runs on (Debian and most others).
        if !Path::new("/usr/bin/python3").exists() {
            return;
        }
        let h = Host {
            path: Some("/usr/bin".into()),
            cwd: PathBuf::from("/nonexistent"),
            ..Host::default()
        };
        let found = resolve("python3", &h).expect("system python");
        assert!(found.program.starts_with("/usr"), "{found:?}");
        assert!(found.binds.is_empty(), "{found:?}");
    }
}
