//! Replacing a file whole, the way every file moss writes for people (exports, `--out`, the
//! saved teacher prompt) and its own whole files in `.moss/` are written.
//!
//! The bytes go to a temporary file beside the target, are synced, and the temporary file is
//! renamed over the target, then the folder is synced: a reader sees the old file or the new
//! one, never a mix, a failed write leaves the old file as it was, and a rename that returned
//! survives a crash.
//!
//! The result looks as if an editor had saved it: a new file gets `0666` less the umask (the
//! kernel applies the umask to the mode the temporary file is created with), a replaced file
//! keeps its permission bits, and a symbolic link is written through, so the link stays and
//! its target gets the new content.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mode a new file is created with, before the umask: what editors and shells use.
const NEW_FILE_MODE: u32 = 0o666;
/// The permission bits a replaced file keeps (not set-user-ID, set-group-ID or sticky: the
/// content is new).
const KEPT_BITS: u32 = 0o777;
/// Links followed before giving up, as the kernel does (`ELOOP`).
const MAX_LINKS: usize = 40;

/// Replaces `path` with what `write` writes (buffered), atomically, and returns what `write`
/// returned. When `path` is a symbolic link (or a chain of them), its final target is replaced.
///
/// # Errors
/// When the links cannot be read or loop, the target exists and is not a regular file, or the
/// temporary file cannot be created, written, synced or renamed, or `write` fails (the target is
/// untouched in all these cases), or the folder cannot be synced after the rename.
pub fn replace<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<T> {
    let target = follow_links(path)?;
    let kept_mode = match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Some(meta.permissions().mode() & KEPT_BITS),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (only a regular file can be replaced whole)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(NEW_FILE_MODE))
        .tempfile_in(dir)?;
    if let Some(mode) = kept_mode {
        // Set on the open file, so the umask does not apply.
        tmp.as_file()
            .set_permissions(Permissions::from_mode(mode))?;
    }
    let mut out = BufWriter::new(tmp);
    let value = write(&mut out)?;
    let tmp = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()?;
    Ok(value)
}

/// The file `path` finally names: each symbolic link read and resolved against the folder it
/// is in. The result need not exist (a dangling link names the file to create).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                // An absolute target replaces the whole path.
                current = match current.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    fn write_text(path: &Path, text: &str) -> io::Result<()> {
        replace(path, |out| out.write_all(text.as_bytes()))
    }

    /// This process's umask, read without changing it (tests share the process).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .expect("a Umask line");
        u32::from_str_radix(line.trim(), 8).expect("octal")
    }

    #[test]
    fn a_new_file_gets_0666_less_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.jsonl");
        write_text(&path, "new\n").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
        assert_eq!(mode(&path), 0o666 & !umask());
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.jsonl");
        for kept in [0o640, 0o604, 0o600, 0o664] {
            std::fs::write(&path, "old\n").expect("write");
            std::fs::set_permissions(&path, Permissions::from_mode(kept)).expect("chmod");
            write_text(&path, "new\n").expect("replaced");
            assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
            assert_eq!(mode(&path), kept, "{kept:o}");
        }
    }

    #[test]
    fn special_bits_are_not_carried_to_new_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.jsonl");
        std::fs::write(&path, "old\n").expect("write");
        std::fs::set_permissions(&path, Permissions::from_mode(0o4755)).expect("chmod");
        write_text(&path, "new\n").expect("replaced");
        assert_eq!(mode(&path), 0o755);
    }

    #[test]
    fn a_chain_of_links_is_written_through_to_its_last_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).expect("mkdir");
        let real = real_dir.join("prompt.md");
        std::fs::write(&real, "old\n").expect("write");
        std::fs::set_permissions(&real, Permissions::from_mode(0o640)).expect("chmod");
        // A relative link to an absolute one.
        symlink(&real, dir.path().join("absolute.md")).expect("link");
        let link = dir.path().join("prompt.md");
        symlink("absolute.md", &link).expect("link");

        write_text(&link, "new\n").expect("replaced");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("lstat")
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).expect("read"), "new\n");
        assert_eq!(mode(&real), 0o640);
        let names: Vec<_> = std::fs::read_dir(&real_dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["prompt.md"], "no temporary file left");
    }

    #[test]
    fn a_dangling_link_creates_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("out.jsonl");
        symlink("data/out.jsonl", &link).expect("link");
        std::fs::create_dir(dir.path().join("data")).expect("mkdir");
        write_text(&link, "new\n").expect("written");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("data/out.jsonl")).expect("read"),
            "new\n"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("lstat")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_link_loop_and_a_device_are_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        symlink("b", &a).expect("link");
        symlink("a", dir.path().join("b")).expect("link");
        let err = write_text(&a, "x").expect_err("a loop");
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");

        // As root, a rename over /dev/null would replace the device.
        let err = write_text(Path::new("/dev/null"), "x").expect_err("a device");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(
            std::fs::metadata("/dev/null")
                .expect("stat")
                .file_type()
                .is_char_device()
        );
    }
}
