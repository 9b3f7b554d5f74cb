//! The workspace on disk: `.moss/` under the workspace directory.
//!
//! - `prompts/<id>.md`: every prompt version that produced a run (content-addressed);
//! - `runs.jsonl`: one record per finished, incomplete or failed run, append-only;
//! - `decisions.jsonl`: the curators' accepts, rejects and edits, append-only;
//! - `versions.jsonl`: prompt version labels and notes, append-only (see [`versions`]);
//! - `workbench.json`: what the workbench remembers between sessions;
//! - `lock`: held by the one process that writes the workspace, naming it (see [`WorkspaceLock`]).
//!
//! Appends are fsynced before they are reported. A torn last line (a crash mid-write) is
//! detected and skipped on load with a warning, never fatal, and the next append starts on a
//! fresh line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::run::{PromptVersion, Run};

mod decisions;
mod journal;
mod lock;
mod session;
pub mod versions;

pub use decisions::{
    Curation, Decision, DecisionLog, LoadedDecisions, Verdict, fold, standing_order,
};
pub use journal::{Ack, Entry, Journal, JournalHandle};
pub use lock::{Holder, LOCK_FILE, LockError, WorkspaceLock, lock_holder, lock_path};
pub use session::Session;
pub use versions::{FindError, VersionLabel, VersionLog, Versions};

/// The workspace's folder name.
pub const STORE_DIR: &str = ".moss";
const PROMPTS_DIR: &str = "prompts";
const RUNS_FILE: &str = "runs.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not encode a record: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An opened `.moss/` folder.
#[derive(Clone, Debug)]
pub struct Workspace {
    root: PathBuf,
}

/// Runs read from disk, with what was skipped.
#[derive(Debug, Default)]
pub struct LoadedRuns {
    pub runs: Vec<Run>,
    /// `file:line: reason` for every line that could not be read.
    pub warnings: Vec<String>,
}

impl Workspace {
    /// Opens (creating if needed) `.moss/` in `dir`. Opening does not lock: a process that
    /// writes the workspace holds its [`WorkspaceLock`] first.
    ///
    /// # Errors
    /// When the folders cannot be created.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let root = dir.join(STORE_DIR);
        let prompts = root.join(PROMPTS_DIR);
        std::fs::create_dir_all(&prompts).map_err(io(&prompts))?;
        Ok(Self { root })
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[must_use]
    pub fn runs_path(&self) -> PathBuf {
        self.root.join(RUNS_FILE)
    }

    #[must_use]
    pub fn prompt_path(&self, id: &str) -> PathBuf {
        self.root.join(PROMPTS_DIR).join(format!("{id}.md"))
    }

    /// Keeps a snapshot of `prompt` (once per id), written to a temporary file and renamed.
    ///
    /// # Errors
    /// When the snapshot cannot be written.
    pub fn save_prompt(&self, prompt: &PromptVersion) -> Result<PathBuf, StoreError> {
        let path = self.prompt_path(&prompt.id);
        if path.is_file() {
            return Ok(path);
        }
        replace_file(&path, prompt.text.as_bytes())?;
        Ok(path)
    }

    /// A prompt snapshot's text.
    ///
    /// # Errors
    /// When there is no snapshot with this id.
    pub fn load_prompt(&self, id: &str) -> Result<String, StoreError> {
        let path = self.prompt_path(id);
        std::fs::read_to_string(&path).map_err(io(&path))
    }

    /// Every run on disk, in the order written. Unreadable lines are skipped with a warning.
    ///
    /// # Errors
    /// Only when the file exists and cannot be read.
    pub fn load_runs(&self) -> Result<LoadedRuns, StoreError> {
        let mut runs = Vec::new();
        let warnings = self.scan_runs(|_, run: Run| runs.push(run))?;
        Ok(LoadedRuns { runs, warnings })
    }

    /// Reads every line of `runs.jsonl` as a `T` (a light view of [`Run`] reads faster) and
    /// hands it to `visit` with the byte offset of its line. Returns a `file:line: reason`
    /// warning for every line that could not be read; a torn last line is one of those.
    ///
    /// # Errors
    /// Only when the file exists and cannot be read.
    pub fn scan_runs<T: DeserializeOwned>(
        &self,
        visit: impl FnMut(u64, T),
    ) -> Result<Vec<String>, StoreError> {
        scan_jsonl(&self.runs_path(), "run record", visit)
    }

    /// Reads the runs whose lines start at `offsets` (from [`Workspace::scan_runs`]), in that
    /// order, handing each to `visit`.
    ///
    /// # Errors
    /// When the file cannot be read or a line is no longer a run.
    pub fn read_runs_at(
        &self,
        offsets: &[u64],
        mut visit: impl FnMut(Run) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let path = self.runs_path();
        let mut reader = BufReader::new(File::open(&path).map_err(io(&path))?);
        let mut line = Vec::new();
        for &offset in offsets {
            reader.seek(SeekFrom::Start(offset)).map_err(io(&path))?;
            line.clear();
            reader.read_until(b'\n', &mut line).map_err(io(&path))?;
            let run: Run = serde_json::from_slice(&line)?;
            visit(run).map_err(io(&path))?;
        }
        Ok(())
    }

    /// Opens `runs.jsonl` for appending.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn run_log(&self) -> Result<RunLog, StoreError> {
        RunLog::open(&self.runs_path())
    }
}

/// The append end of `runs.jsonl`.
#[derive(Debug)]
pub struct RunLog {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
}

impl RunLog {
    /// # Errors
    /// When the file cannot be opened or repaired.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_owned(),
            file: open_for_append(path)?,
            buffer: Vec::new(),
        })
    }

    /// Appends one run and syncs it to disk.
    ///
    /// # Errors
    /// When the record cannot be written or synced.
    pub fn append(&mut self, run: &Run) -> Result<(), StoreError> {
        self.append_all(std::slice::from_ref(run))
    }

    /// Appends runs with one write and one sync (group commit): all are on disk when it returns.
    ///
    /// # Errors
    /// When the records cannot be written or synced.
    pub fn append_all<'a>(
        &mut self,
        runs: impl IntoIterator<Item = &'a Run>,
    ) -> Result<(), StoreError> {
        self.buffer.clear();
        for run in runs {
            serde_json::to_writer(&mut self.buffer, run)?;
            self.buffer.push(b'\n');
        }
        append_synced(&mut self.file, &self.path, &self.buffer)
    }
}

/// Opens a JSONL journal for appending, creating it. A torn last line (a crash mid-write) is
/// ended first, so it cannot swallow the next record.
fn open_for_append(path: &Path) -> Result<File, StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1)).map_err(io(path))?;
        file.read_exact(&mut last).map_err(io(path))?;
        if last[0] != b'\n' {
            file.write_all(b"\n").map_err(io(path))?;
            file.sync_data().map_err(io(path))?;
        }
    }
    Ok(file)
}

/// Appends whole lines to a journal opened by [`open_for_append`] and syncs them: they are on
/// disk when this returns.
fn append_synced(file: &mut File, path: &Path, lines: &[u8]) -> Result<(), StoreError> {
    let before = file.metadata().map_err(io(path))?.len();
    let written = file.write_all(lines).and_then(|()| file.sync_data());
    if let Err(e) = written {
        // Take back a partial write (a full disk, say), so the next record does not glue
        // onto half of this batch and nothing unsynced is left looking committed.
        let _ = file.set_len(before);
        return Err(io(path)(e));
    }
    Ok(())
}

/// Reads every line of a JSONL journal as a `T`, handing it to `visit` with the byte offset of
/// its line. A missing file has no lines. Returns a `file:line: reason` warning for every line
/// that could not be read (`what` names a record in it); a torn last line is one of those.
fn scan_jsonl<T: DeserializeOwned>(
    path: &Path,
    what: &str,
    mut visit: impl FnMut(u64, T),
) -> Result<Vec<String>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut warnings = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut number = 0;
    let mut offset = 0;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 {
            break;
        }
        let at = offset;
        offset += n as u64;
        number += 1;
        let torn = line.last() != Some(&b'\n');
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<T>(body) {
            Ok(record) => visit(at, record),
            Err(_) if torn => warnings.push(format!(
                "{}:{number}: skipped a torn last line (a write was cut short)",
                path.display()
            )),
            Err(e) => warnings.push(format!(
                "{}:{number}: skipped an unreadable {what}: {e}",
                path.display()
            )),
        }
    }
    Ok(warnings)
}

/// Replaces `path` whole (see [`crate::atomic_file`]): a reader sees the old file or the new
/// one, never a mix.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::atomic_file::replace(path, |out| out.write_all(bytes)).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::ExecMode;
    use crate::prompt::ModelParams;
    use crate::run::{Origin, RunStatus, SegmentSummary, Timings};
    use crate::teacher::TeacherInfo;
    use std::time::Duration;

    fn run(id: &str) -> Run {
        Run {
            run_id: id.to_owned(),
            sample_id: "q01".to_owned(),
            question: "问题".to_owned(),
            prompt_id: "p".to_owned(),
            settings_id: "s".to_owned(),
            rules_id: String::new(),
            teacher: TeacherInfo {
                provider: "replay".to_owned(),
                model: "recorded".to_owned(),
                replayed: true,
            },
            placeholder: false,
            params: ModelParams::default(),
            exec: ExecMode::Off,
            status: RunStatus::Complete,
            error: None,
            finish_reason: Some("stop".to_owned()),
            transcript: "答。<think>想</think>".to_owned(),
            segments: SegmentSummary::default(),
            rules: Vec::new(),
            reasoning: None,
            usage: None,
            executions: Vec::new(),
            interruptions: Vec::new(),
            timings: Timings::default(),
            stream: None,
        }
    }

    #[test]
    fn runs_round_trip_and_a_torn_last_line_is_skipped_then_healed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        let mut log = ws.run_log().expect("log");
        log.append(&run("a")).expect("append");
        log.append_all(&[run("b"), run("c")]).expect("append");
        drop(log);
        // A crash mid-write leaves half a record without its newline.
        let mut f = OpenOptions::new()
            .append(true)
            .open(ws.runs_path())
            .expect("open");
        f.write_all(br#"{"run_id":"d","sample"#).expect("tear");
        drop(f);

        let loaded = ws.load_runs().expect("load");
        let ids: Vec<&str> = loaded.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("runs.jsonl:4: skipped a torn last line"),
            "{:?}",
            loaded.warnings
        );
        assert_eq!(loaded.runs[0], run("a"));

        // The next append starts on its own line, so only the torn record is lost.
        ws.run_log()
            .expect("log")
            .append(&run("e"))
            .expect("append");
        let loaded = ws.load_runs().expect("load");
        let ids: Vec<&str> = loaded.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "e"]);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("runs.jsonl:4: skipped an unreadable"),
            "{:?}",
            loaded.warnings
        );
    }

    /// `run(id)` with the timeline it streamed in: "答。" (6 bytes) then the think (18), at
    /// 120 and 480 ms.
    fn timed_run(id: &str) -> Run {
        let mut timeline = crate::run::Timeline::default();
        timeline.push(Duration::from_millis(120), 6, Origin::Teacher);
        timeline.push(Duration::from_millis(480), 18, Origin::Teacher);
        Run {
            stream: Some(timeline),
            ..run(id)
        }
    }

    #[test]
    fn timelines_round_trip_and_runs_without_one_or_with_a_bad_one_still_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        let mut log = ws.run_log().expect("log");
        log.append(&timed_run("a")).expect("append");
        drop(log);
        let written = std::fs::read_to_string(ws.runs_path()).expect("read");
        // Pieces of 6 and 18 bytes at 120 and 480 ms: varints 12, 120 and 36, 360.
        assert!(written.contains(r#""stream":"t1.DHgk6AI""#), "{written}");
        // A line from before timelines, one whose timeline is unreadable, and one whose
        // transcript was edited by hand after it streamed.
        let old = written.replace(r#","stream":"t1.DHgk6AI""#, "");
        let unreadable = written.replace("t1.DHgk6AI", "t1.DHgk6");
        let edited = written.replace("答。", "答案。");
        let mut f = OpenOptions::new()
            .append(true)
            .open(ws.runs_path())
            .expect("open");
        f.write_all(format!("{old}{unreadable}{edited}").as_bytes())
            .expect("append");
        drop(f);

        let loaded = ws.load_runs().expect("load");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.runs.len(), 4);
        assert_eq!(loaded.runs[0], timed_run("a"));
        assert!(loaded.runs[0].timeline().is_some());
        assert_eq!(loaded.runs[1], run("a"));
        assert_eq!(loaded.runs[2], run("a"));
        assert!(loaded.runs[3].stream.is_some());
        assert!(loaded.runs[3].timeline().is_none(), "no longer fits");
        let mut offsets = Vec::new();
        ws.scan_runs(|offset, _: serde_json::Value| offsets.push(offset))
            .expect("scan");
        let mut again = Vec::new();
        ws.read_runs_at(&offsets[..1], |run| {
            again.push(run);
            Ok(())
        })
        .expect("read at");
        assert_eq!(again, [timed_run("a")]);
    }

    #[test]
    fn a_failed_append_is_an_error() {
        // /dev/full fails every write with "no space left on device".
        let mut log = RunLog::open(Path::new("/dev/full")).expect("opens");
        let err = log.append(&run("a")).expect_err("disk full").to_string();
        assert!(err.starts_with("/dev/full: "), "{err}");
    }

    #[test]
    fn prompt_snapshots_are_content_addressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        let v1 = PromptVersion::new(
            "+++\n+++\n提示 v1".into(),
            "提示 v1".into(),
            ModelParams::default(),
        );
        let v2 = PromptVersion::new("提示 v2".into(), "提示 v2".into(), ModelParams::default());
        let p1 = ws.save_prompt(&v1).expect("save");
        assert_eq!(ws.save_prompt(&v1).expect("again"), p1);
        let p2 = ws.save_prompt(&v2).expect("save");
        assert_ne!(p1, p2);
        assert!(p1.ends_with(format!("prompts/{}.md", v1.id)));
        assert_eq!(ws.load_prompt(&v1.id).expect("load"), "+++\n+++\n提示 v1");
        assert!(ws.load_runs().expect("no runs yet").runs.is_empty());
    }
}
