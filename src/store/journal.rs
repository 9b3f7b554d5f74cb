//! The one writer of a workspace: a thread that writes prompt snapshots, runs, decisions and
//! the session in the order they were sent, and says when each is on disk.
//!
//! `moss generate` and the workbench both write through it. Runs that arrive together are
//! appended with one write and one sync (group commit), so a batch of 64 runs in flight costs
//! one `fsync`, not 64; everything else is written as it comes. Each entry's acknowledgement
//! runs only once that entry is on disk (or failed), in the order the entries were sent: a run
//! is counted, and a decision shown, only after its ack.

use std::sync::Arc;
use std::sync::mpsc;

use super::{
    Decision, DecisionLog, RunLog, Session, StoreError, VersionLabel, VersionLog, Workspace,
};
use crate::run::{PromptVersion, Run};

/// What the journal writes.
#[derive(Debug)]
pub enum Entry {
    /// A prompt version's snapshot (`.moss/prompts/ID.md`); sent before its first run, so
    /// every run's prompt id resolves.
    Prompt(Arc<PromptVersion>),
    Run(Box<Run>),
    Decision(Decision),
    Session(Session),
    /// A prompt version's label and note (`.moss/versions.jsonl`).
    Version(VersionLabel),
}

/// Called with the entry back and whether it is on disk.
pub type Ack = Box<dyn FnOnce(Entry, Result<(), String>) + Send>;

/// The journal's thread; [`Journal::finish`] waits until everything sent is written.
#[derive(Debug)]
pub struct Journal {
    sender: Option<mpsc::Sender<(Entry, Ack)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Sends entries to a [`Journal`]; cheap to clone, usable from any thread or task.
#[derive(Clone, Debug)]
pub struct JournalHandle(mpsc::Sender<(Entry, Ack)>);

/// The message when the journal is gone.
const STOPPED: &str = "the journal has stopped";

impl Journal {
    /// Opens the run journal of `workspace` (so that one that cannot be written stops the
    /// caller before any run starts) and starts the writer thread. The decision journal is
    /// opened at its first entry.
    ///
    /// # Errors
    /// When the run journal cannot be opened or the thread cannot be started.
    pub fn start(workspace: Workspace) -> Result<Self, StoreError> {
        let writer = Writer {
            runs: workspace.run_log()?,
            decisions: None,
            versions: None,
            workspace,
        };
        let (sender, receiver) = mpsc::channel::<(Entry, Ack)>();
        let thread = std::thread::Builder::new()
            .name("moss-journal".to_owned())
            .spawn(move || writer.serve(&receiver))
            .map_err(|e| StoreError::Io {
                path: "the journal thread".into(),
                source: e,
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// A handle to send entries with; after [`Journal::finish`], sends fail.
    #[must_use]
    pub fn handle(&self) -> JournalHandle {
        JournalHandle(self.sender.clone().unwrap_or_else(|| mpsc::channel().0))
    }

    /// Stops taking entries and waits until every one sent is written and acknowledged, and
    /// every [`JournalHandle`] is dropped (a run still in flight keeps its handle until it has
    /// sent its run).
    pub fn finish(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.finish();
    }
}

impl JournalHandle {
    /// Sends `entry`; `ack` runs once it is written (or failed).
    ///
    /// # Errors
    /// When the journal has stopped: `ack` is not called, and the entry is returned (whole,
    /// so that the caller can say what was not written).
    #[allow(clippy::result_large_err)]
    pub fn send(&self, entry: Entry, ack: Ack) -> Result<(), Entry> {
        self.0.send((entry, ack)).map_err(|e| e.0.0)
    }

    /// Writes `entry` and waits until it is on disk.
    ///
    /// # Errors
    /// Why it could not be written, or that the journal has stopped.
    pub async fn write(&self, entry: Entry) -> Result<(), String> {
        let (done, on_disk) = tokio::sync::oneshot::channel();
        self.send(
            entry,
            Box::new(move |_, result| {
                let _ = done.send(result);
            }),
        )
        .map_err(|_| STOPPED.to_owned())?;
        on_disk.await.map_err(|_| STOPPED.to_owned())?
    }
}

/// The thread's state: the journals (decisions opened when first needed).
struct Writer {
    workspace: Workspace,
    runs: RunLog,
    decisions: Option<DecisionLog>,
    versions: Option<VersionLog>,
}

impl Writer {
    /// Takes what has arrived, writes it in order, acknowledges it; until every sender is gone.
    fn serve(mut self, receiver: &mpsc::Receiver<(Entry, Ack)>) {
        let mut batch = Vec::new();
        while let Ok(first) = receiver.recv() {
            batch.push(first);
            batch.extend(receiver.try_iter());
            self.write(&mut batch);
        }
    }

    /// Writes `batch` in order: each run of consecutive runs with one append and one sync.
    fn write(&mut self, batch: &mut Vec<(Entry, Ack)>) {
        let mut entries = batch.drain(..).peekable();
        while let Some((entry, ack)) = entries.next() {
            let result = match &entry {
                Entry::Run(_) => {
                    let mut runs = vec![(entry, ack)];
                    while let Some(next) =
                        entries.next_if(|(next, _)| matches!(next, Entry::Run(_)))
                    {
                        runs.push(next);
                    }
                    self.write_runs(runs);
                    continue;
                }
                Entry::Decision(_) => {
                    let mut decisions = vec![(entry, ack)];
                    while let Some(next) =
                        entries.next_if(|(next, _)| matches!(next, Entry::Decision(_)))
                    {
                        decisions.push(next);
                    }
                    self.write_decisions(decisions);
                    continue;
                }
                Entry::Prompt(prompt) => self.workspace.save_prompt(prompt).map(|_| ()),
                Entry::Session(session) => self.workspace.save_session(session),
                Entry::Version(line) => self.append_version(line),
            };
            ack(entry, result.map_err(|e| e.to_string()));
        }
    }

    /// Appends `runs` (all `Entry::Run`) with one write and one sync.
    fn write_runs(&mut self, runs: Vec<(Entry, Ack)>) {
        let records = runs.iter().filter_map(|(entry, _)| match entry {
            Entry::Run(run) => Some(&**run),
            _ => None,
        });
        let result = self.runs.append_all(records).map_err(|e| e.to_string());
        for (entry, ack) in runs {
            ack(entry, result.clone());
        }
    }

    /// Appends `decisions` (all `Entry::Decision`) with one write and one sync: a bulk
    /// decision on thousands of outputs is one sync, not thousands.
    fn write_decisions(&mut self, decisions: Vec<(Entry, Ack)>) {
        let records: Vec<&Decision> = decisions
            .iter()
            .filter_map(|(entry, _)| match entry {
                Entry::Decision(decision) => Some(decision),
                _ => None,
            })
            .collect();
        let result = self.append_decisions(&records).map_err(|e| e.to_string());
        for (entry, ack) in decisions {
            ack(entry, result.clone());
        }
    }

    fn append_version(&mut self, line: &VersionLabel) -> Result<(), StoreError> {
        let log = match &mut self.versions {
            Some(log) => log,
            slot => slot.insert(self.workspace.version_log()?),
        };
        log.append(line)
    }

    fn append_decisions(&mut self, decisions: &[&Decision]) -> Result<(), StoreError> {
        let log = match &mut self.decisions {
            Some(log) => log,
            slot => slot.insert(self.workspace.decision_log()?),
        };
        log.append_all(decisions)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::run::RunStatus;

    fn run(i: usize) -> Run {
        let mut run: Run = serde_json::from_value(serde_json::json!({
            "run_id": format!("r{i}"),
            "sample_id": format!("s{i}"),
            "question": "问题",
            "prompt_id": "p",
            "settings_id": "s",
            "teacher": {"provider": "replay", "model": "m"},
            "params": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 10},
            "exec": "off",
            "status": "complete",
            "segments": {"answers": 1, "thinks": 0, "code_blocks": 0, "executable_blocks": 0,
                         "results": 0, "errors": 0, "answer_words": 1, "think_words": 0},
            "transcript": "答。",
            "rules": [],
            "timings": {"started_at_ms": 0, "total_ms": 0, "exec_ms": 0}
        }))
        .expect("a run record");
        run.status = RunStatus::Complete;
        run
    }

    #[test]
    fn entries_are_written_and_acknowledged_in_the_order_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("workspace");
        let mut journal = Journal::start(workspace.clone()).expect("journal");
        let handle = journal.handle();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let ack = |name: String| -> Ack {
            let acked = Arc::clone(&acked);
            Box::new(move |_, result| {
                assert_eq!(result, Ok(()), "{name}");
                acked.lock().expect("acks").push(name);
            })
        };
        let prompt = Arc::new(PromptVersion::new(
            "提示".to_owned(),
            "提示".to_owned(),
            crate::teacher::ModelParams::default(),
        ));
        handle
            .send(Entry::Prompt(Arc::clone(&prompt)), ack("prompt".into()))
            .expect("sent");
        for i in 0..50 {
            handle
                .send(Entry::Run(Box::new(run(i))), ack(format!("run {i}")))
                .expect("sent");
        }
        handle
            .send(Entry::Session(Session::default()), ack("session".into()))
            .expect("sent");
        let label = VersionLabel {
            prompt_id: prompt.id.clone(),
            label: "v1".to_owned(),
            note: "先回答".to_owned(),
            at_ms: 1,
        };
        handle
            .send(Entry::Version(label), ack("label".into()))
            .expect("sent");
        // `finish` waits for every handle: this one is done.
        drop(handle);
        journal.finish();
        let acked = acked.lock().expect("acks").clone();
        let mut expected = vec!["prompt".to_owned()];
        expected.extend((0..50).map(|i| format!("run {i}")));
        expected.push("session".to_owned());
        expected.push("label".to_owned());
        assert_eq!(acked, expected);
        let versions = workspace.load_versions().expect("labels");
        assert_eq!(versions.label(&prompt.id), Some("v1"));
        assert_eq!(versions.note(&prompt.id), Some("先回答"));
        let loaded = workspace.load_runs().expect("runs");
        let ids: Vec<&str> = loaded.runs.iter().map(|r| r.run_id.as_str()).collect();
        let want: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(workspace.load_prompt(&prompt.id).is_ok());
        // After `finish`, nothing more is taken.
        assert!(
            journal
                .handle()
                .send(Entry::Session(Session::default()), Box::new(|_, _| {}))
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_acknowledged_as_failed_with_its_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("workspace");
        // The decision journal's path is a folder: no decision can be appended (whoever we are).
        std::fs::create_dir_all(workspace.decisions_path()).expect("a folder in the way");
        let journal = Journal::start(workspace).expect("journal");
        let decision = Decision {
            run_id: "r1".to_owned(),
            sample_id: "s1".to_owned(),
            verdict: crate::store::Verdict::Accepted,
            text: None,
            rules: Vec::new(),
            override_rules: false,
            reason: None,
            prompt_id: None,
            over: None,
            at_ms: 1,
        };
        let (done, failed) = tokio::sync::oneshot::channel();
        journal
            .handle()
            .send(
                Entry::Decision(decision.clone()),
                Box::new(move |entry, result| {
                    let _ = done.send((entry, result));
                }),
            )
            .expect("sent");
        let (entry, result) = failed.await.expect("acknowledged");
        assert!(matches!(entry, Entry::Decision(d) if d == decision));
        let error = result.expect_err("cannot be written");
        assert!(error.contains("decisions.jsonl"), "{error}");
    }

    #[test]
    fn a_run_journal_that_cannot_be_opened_stops_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::open(dir.path()).expect("workspace");
        std::fs::create_dir_all(workspace.runs_path()).expect("a folder in the way");
        let error = Journal::start(workspace).expect_err("no journal");
        assert!(error.to_string().contains("runs.jsonl"), "{error}");
    }
}
