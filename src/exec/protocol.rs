//! What moss and the sandbox helper say to each other.
//!
//! moss starts the helper with its standard input a pipe that carries two frames, the
//! [`Plan`] (JSON) and the code, each behind its length as 8 little-endian bytes, and then
//! stays open as the *lifeline*: the helper treats its end of file as moss's death. Just before
//! the interpreter starts, the helper writes one [`Report`] line to standard error, behind
//! [`REPORT_MARKER`]; when it cannot or may not start the code, that report carries the error
//! instead.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Protection, Protections};

/// The report line on stderr starts with this; the rest of the line is compact JSON.
pub(crate) const REPORT_MARKER: &[u8] = b"\0moss-sandbox ";

/// The largest frame the helper reads (the code of one block, or the plan).
pub(crate) const MAX_FRAME: u64 = 64 * 1024 * 1024;

/// The name of the code file in the working folder.
pub(crate) const MAIN_FILE: &str = "main.py";

/// Everything the helper needs to run one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// The interpreter, at the path it is started from (inside the sandbox too).
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Folders of the interpreter bound read-only at the same place (besides the OS's
    /// program and library folders).
    pub binds: Vec<PathBuf>,
    /// The environment the code starts with; `HOME` and `TMPDIR` are added by the helper.
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    /// Size of the private folder in MiB (0: not limited).
    pub disk_mb: u64,
    pub isolate_network: bool,
    /// Protections without which the code must not start.
    pub require: Vec<Protection>,
    /// Where a private folder goes when there is no mount namespace (moss's temporary folder).
    pub temp_root: PathBuf,
}

/// Resource limits; 0 means "not limited".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Limits {
    pub cpu_secs: u64,
    pub memory_bytes: u64,
    pub file_size_bytes: u64,
    pub max_processes: u64,
}

/// A protection that is not in force, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub protection: Protection,
    pub reason: String,
}

/// The helper's account of the sandbox it built.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub protections: Protections,
    /// Why each protection that is not in force is not.
    #[serde(default)]
    pub missing: Vec<Missing>,
    /// Set when the code was not started: the sandbox could not be built, or a required
    /// protection is missing.
    #[serde(default)]
    pub error: Option<String>,
}

impl Report {
    /// The report line, marker and newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = REPORT_MARKER.to_vec();
        // A report of plain fields always serializes.
        line.extend(serde_json::to_vec(self).unwrap_or_default());
        line.push(b'\n');
        line
    }
}

/// Writes one frame: its length, then its bytes.
pub(crate) fn write_frame(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)
}

/// The frames moss sends: the plan, then the code.
pub(crate) fn frames(plan: &Plan, code: &str) -> Vec<u8> {
    let plan = serde_json::to_vec(plan).unwrap_or_default();
    let mut bytes = Vec::with_capacity(plan.len() + code.len() + 16);
    // Writing to a Vec cannot fail.
    let _ = write_frame(&mut bytes, &plan);
    let _ = write_frame(&mut bytes, code.as_bytes());
    bytes
}

/// Reads one frame, reading exactly its bytes and no more (the rest of the stream is someone
/// else's).
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is larger than {MAX_FRAME}"),
        ));
    }
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_exactly_and_leave_the_rest() {
        let plan = Plan {
            program: PathBuf::from("/usr/bin/python3"),
            args: vec!["-c".to_owned(), "x".to_owned()],
            binds: vec![PathBuf::from("/opt/py")],
            env: vec![("LANG".to_owned(), "C.UTF-8".to_owned())],
            limits: Limits::default(),
            disk_mb: 256,
            isolate_network: true,
            require: vec![Protection::FilesystemIsolated],
            temp_root: PathBuf::from("/tmp"),
        };
        let mut bytes = frames(&plan, "print('中文')\n");
        bytes.extend_from_slice(b"rest");
        let mut input = bytes.as_slice();
        let read: Plan =
            serde_json::from_slice(&read_frame(&mut input).expect("plan")).expect("json");
        assert_eq!(read, plan);
        assert_eq!(
            read_frame(&mut input).expect("code"),
            "print('中文')\n".as_bytes()
        );
        assert_eq!(input, b"rest");
        assert!(read_frame(&mut input).is_err(), "a short frame is an error");
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut bytes = (MAX_FRAME + 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"xx");
        let err = read_frame(&mut bytes.as_slice()).expect_err("too big");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_report_line_round_trips() {
        let mut report = Report::default();
        report.protections.set(Protection::NetworkIsolated, true);
        report.missing.push(Missing {
            protection: Protection::DiskLimit,
            reason: "disk-mb is 0".to_owned(),
        });
        let line = report.to_line();
        assert!(line.starts_with(REPORT_MARKER));
        assert_eq!(line.last(), Some(&b'\n'));
        assert!(!line[..line.len() - 1].contains(&b'\n'));
        let back: Report =
            serde_json::from_slice(&line[REPORT_MARKER.len()..line.len() - 1]).expect("json");
        assert_eq!(back, report);
    }
}
