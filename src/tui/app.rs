//! Workbench state: everything the screen shows, nothing it does. [`super::update`] is the only
//! code that changes it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ratatui_textarea::TextArea;

use super::grid::GridView;
mod batch;
mod versions;

pub use batch::{MAX_RUNS_PER_SAMPLE, RunDialog, RunWhich};
pub use versions::{SHORT_ID, VersionDialog, VersionField, version_name};

use super::history::HistoryView;
use super::keymap::Keymap;
use super::live::LiveView;
pub use super::runs::RunList;
use super::side::SideBySide;
use crate::curate::SystemChoice;
use crate::dataset::Sample;
use crate::exec::{ExecMode, Protection, SandboxCheck};
use crate::export::ExportFormat;
use crate::prompt::PromptFile;
use crate::run::{Judge, PromptVersion, Run, RunStatus};
use crate::store::{Curation, Decision, Session, Verdict, VersionLabel, Versions};
use crate::teacher::TeacherInfo;
use crate::transcript::Rules;
use crate::tui::theme::Theme;

/// Identifies a run started in this session until its record (and run id) exists.
pub use crate::run::RunKey;

/// Where a sample's latest run stands, as the samples pane's first column shows it. What a
/// curator decided is beside it ([`Review`]): an accepted output that fails a rule shows both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleState {
    NotRun,
    Queued,
    Running,
    /// The latest run is complete and every rule passes (on its edited text where edited).
    Passed,
    /// The latest run is complete and some rule fails (on its edited text where edited).
    RulesFailed,
    /// The latest run did not complete (cut off, cancelled, failed).
    Incomplete,
}

impl SampleState {
    pub const ALL: [SampleState; 6] = [
        Self::NotRun,
        Self::Queued,
        Self::Running,
        Self::Passed,
        Self::RulesFailed,
        Self::Incomplete,
    ];

    /// The word a filter uses for this state (`is:failed`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRun => "new",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Passed => "passed",
            Self::RulesFailed => "failed",
            Self::Incomplete => "incomplete",
        }
    }

    /// The one-column mark in the samples list.
    #[must_use]
    pub fn mark(self) -> &'static str {
        match self {
            Self::NotRun => "·",
            Self::Queued => "◌",
            Self::Running => "▶",
            Self::Passed => "✓",
            Self::RulesFailed => "✗",
            Self::Incomplete => "!",
        }
    }
}

/// A sample's standing decision: the latest one that stands on any of its runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Accepted, rejected or edited (never revoked).
    pub verdict: Verdict,
    /// The run decided on (index into `runs`).
    pub run: usize,
    /// The run whose accept stands latest, the one an export takes (it may be another run
    /// than the latest decision's: accepted under one prompt version, rejected under the next).
    pub accepted: Option<usize>,
    /// The run decided on is the sample's latest; else it is an earlier run (another prompt
    /// version, often).
    pub on_latest: bool,
    /// The text decided on (edited where edited) fails an enabled rule.
    pub fails: bool,
    /// Accepted anyway, knowing it fails.
    pub override_rules: bool,
    pub reason: Option<String>,
}

impl Review {
    /// The word a filter uses (`is:accepted`).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        self.verdict.as_str()
    }

    /// The one-column mark beside the run's: upper case on the latest run, lower case on an
    /// earlier one.
    #[must_use]
    pub fn mark(&self) -> &'static str {
        match (self.verdict, self.on_latest) {
            (Verdict::Accepted, true) => "A",
            (Verdict::Accepted, false) => "a",
            (Verdict::Rejected, true) => "R",
            (Verdict::Rejected, false) => "r",
            (Verdict::Edited, true) => "E",
            (Verdict::Edited | Verdict::Revoked, false) => "e",
            (Verdict::Revoked, true) => " ",
        }
    }
}

/// The three panes of the main screen, in Tab order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pane {
    #[default]
    Samples,
    Live,
    Rules,
}

impl Pane {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Samples => Self::Live,
            Self::Live => Self::Rules,
            Self::Rules => Self::Samples,
        }
    }

    #[must_use]
    pub fn prev(self) -> Self {
        match self {
            Self::Samples => Self::Rules,
            Self::Live => Self::Samples,
            Self::Rules => Self::Live,
        }
    }
}

/// A run in flight.
#[derive(Debug)]
pub struct ActiveRun {
    pub sample: usize,
    pub live: LiveView,
    /// Time to first token, once text arrived.
    pub first_token: Option<Duration>,
    /// Time since the run started, as of its latest event.
    pub elapsed: Duration,
    /// The block being executed, if any.
    pub executing: Option<usize>,
    /// Cancel was asked for.
    pub cancelling: bool,
    /// Breaks in on the run with the user's words (`I`).
    pub interrupter: crate::run::Interrupter,
}

/// A finished run on screen, with the text the curator sees (edited where edited).
#[derive(Debug)]
pub struct ShownRun {
    pub run: usize,
    pub live: LiveView,
    pub edited: bool,
}

/// Runs asked of the run service that wait for a slot, and the batch ("replay all").
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// Runs submitted and not started yet, by key (the order they were asked for).
    pub pending: BTreeMap<RunKey, Pending>,
    /// Runs of this batch queued or in flight.
    pub keys: HashSet<RunKey>,
    /// Runs this batch asked for, and how many of them finished.
    pub total: usize,
    pub done: usize,
}

/// A run waiting for a slot.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The sample's index.
    pub sample: usize,
    /// The rules of the prompt version it was asked with (its live view's).
    pub rules: Arc<Rules>,
    /// The handle its job carries, to break in on it once it runs.
    pub interrupter: crate::run::Interrupter,
}

/// The teacher prompt: the saved version runs use, and the editor's text.
#[derive(Debug)]
pub struct PromptState {
    pub path: PathBuf,
    pub version: Arc<PromptVersion>,
    pub editor: TextArea<'static>,
    /// The editor differs from the saved file.
    pub dirty: bool,
    /// Known prompt texts by id (snapshots in the workspace and the current file).
    pub texts: BTreeMap<String, Arc<str>>,
    /// The label and note asked for with the save in progress: recorded once the file is saved.
    pub pending_label: Option<VersionLabel>,
}

impl PromptState {
    /// The editor's text.
    #[must_use]
    pub fn editor_text(&self) -> String {
        self.editor.lines().join("\n")
    }

    /// Puts `text` in the editor (undoable history starts afresh); dirty unless it is the
    /// saved version's.
    pub fn set_editor_text(&mut self, text: &str) {
        self.editor = prompt_editor(text);
        self.dirty = text != self.version.text;
    }
}

/// The prompt editor holding `text`, soft-wrapped by display width.
fn prompt_editor(text: &str) -> TextArea<'static> {
    // Split on every newline so joining the lines gives the file back byte for byte.
    let mut editor = TextArea::new(text.split('\n').map(str::to_owned).collect());
    editor.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    editor.set_max_histories(256);
    editor
}

/// The export dialog's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportDialog {
    pub format: ExportFormat,
    pub system: SystemChoice,
    pub with_meta: bool,
    /// Also export runs of the offline replay teacher.
    pub include_replayed: bool,
    pub path: String,
    pub field: ExportField,
    /// An export is being worked out or written.
    pub busy: bool,
    /// What the export would write: shown before it is written.
    pub plan: Option<Box<crate::curate::ExportPlan>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportField {
    Format,
    System,
    Meta,
    Replayed,
    Path,
}

impl ExportField {
    pub const ALL: [ExportField; 5] = [
        Self::Format,
        Self::System,
        Self::Meta,
        Self::Replayed,
        Self::Path,
    ];
}

/// The output editor: a run's text being edited before acceptance.
#[derive(Debug)]
pub struct OutputEditor {
    pub run: usize,
    pub area: TextArea<'static>,
    /// The text as it opened: leaving with other text asks first.
    pub original: String,
    /// The text being edited, parsed and judged as it changes: its think budgets and rule
    /// verdicts show under the editor (by the rules of the run's prompt version).
    pub preview: LiveView,
    /// Esc was pressed with changes: the next key says whether to discard them.
    pub confirm_discard: bool,
}

impl OutputEditor {
    /// The editor's text.
    #[must_use]
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    /// Re-reads the text into the preview after a change.
    pub fn refresh(&mut self) {
        let text = self.text();
        if text != self.preview.text() {
            self.preview.rewrite(&text);
        }
    }
}

/// Asking why an output is rejected: a configured reason (by number or highlighted) or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectDialog {
    /// The run rejected (index into `runs`).
    pub run: usize,
    /// The highlighted configured reason, if any.
    pub selected: Option<usize>,
    /// A reason typed in.
    pub text: String,
}

/// One bulk action on the filtered samples: the runs it decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkAction {
    pub verdict: Verdict,
    /// For a reject: the rule the outputs fail (their reason).
    pub rule: Option<crate::transcript::RuleId>,
    /// Indexes into `runs`.
    pub runs: Vec<usize>,
}

impl BulkAction {
    /// What the menu says.
    #[must_use]
    pub fn label(&self) -> String {
        let n = self.runs.len();
        let outputs = if n == 1 { "output" } else { "outputs" };
        match (self.verdict, self.rule) {
            (Verdict::Rejected, Some(rule)) => format!("reject {n} {outputs} failing {rule}"),
            (Verdict::Accepted, _) => format!("accept {n} passing {outputs}"),
            _ => format!("{} {n} {outputs}", self.verdict.as_str()),
        }
    }
}

/// Bulk actions on the filtered set, then a confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkDialog {
    pub actions: Vec<BulkAction>,
    pub selected: usize,
    /// Enter was pressed: y carries the selected action out.
    pub confirming: bool,
}

/// What sits over the main screen, topmost last. Each consumes the keys it understands.
#[derive(Debug)]
pub enum Layer {
    Help {
        scroll: u16,
    },
    Filter,
    Export(ExportDialog),
    ConfirmQuit,
    Consent,
    PromptEditor,
    History(Box<HistoryView>),
    EditOutput(Box<OutputEditor>),
    Reject(RejectDialog),
    Bulk(BulkDialog),
    /// The selected sample's whole question, line breaks kept.
    Question {
        scroll: u16,
    },
    /// Breaking in on run `key`: what the user says, being typed.
    Interject {
        key: RunKey,
        text: String,
    },
    /// A sample's runs, newest first.
    Runs(RunList),
    /// Two runs of one sample side by side, segment by segment.
    Compare(Box<SideBySide>),
    /// The filtered samples × variants (prompt version, teacher).
    Grid(Box<GridView>),
    /// Saving the prompt: its label and note.
    SaveVersion(VersionDialog),
    /// `R`: how many runs of which filtered samples.
    RunMany(RunDialog),
    /// Restoring a version over unsaved edits: y restores.
    ConfirmRestore {
        prompt_id: String,
        text: Arc<str>,
    },
    /// Presentation mode: one sample's transcript full screen, live or played back.
    Demo(Box<crate::tui::demo::DemoView>),
}

/// A one-line message in the status bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// Totals for the status bar.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Runs finished in this session.
    pub runs: usize,
    pub tokens: u64,
    /// Some of `tokens` were estimated from the text (the provider sent no usage).
    pub tokens_estimated: bool,
    pub last_first_token: Option<Duration>,
    pub last_tokens_per_sec: Option<f64>,
    /// The last speed was estimated from the text.
    pub speed_estimated: bool,
}

/// Fixed for the session: who answers, how code runs, how things look.
#[derive(Debug)]
pub struct Settings {
    pub teacher: TeacherInfo,
    pub exec: ExecMode,
    /// `[exec] require`: protections without which no code runs.
    pub require: Vec<Protection>,
    pub concurrency: usize,
    pub theme: Theme,
    pub keymap: Keymap,
    /// The rules the workbench opened with (the config and the opening prompt's front matter);
    /// each saved version carries its own ([`App::rules`]).
    pub rules: Arc<Rules>,
    /// The configuration's layers without any prompt's front matter: a saved prompt's rules are
    /// resolved from them and its own front matter.
    pub rule_layers: crate::config::Layers,
    pub workspace: PathBuf,
    pub log_path: Option<PathBuf>,
    /// The reasons offered when rejecting (`[workbench] reject-reasons`).
    pub reject_reasons: Vec<String>,
}

/// What the workbench starts from (read by the binary before the screen opens).
#[derive(Debug)]
pub struct Init {
    pub samples: Vec<Sample>,
    pub runs: Vec<Run>,
    pub decisions: Vec<Decision>,
    pub session: Session,
    pub prompt_path: PathBuf,
    pub prompt: PromptFile,
    /// The prompt file's whole text (what its id hashes).
    pub prompt_text: String,
    /// Snapshot texts of earlier prompt versions, by id.
    pub prompt_texts: Vec<(String, String)>,
    pub settings: Settings,
    /// Warnings from loading, shown once.
    pub warnings: Vec<String>,
}

/// The whole workbench state.
#[derive(Debug)]
pub struct App {
    pub samples: Vec<Sample>,
    /// Every run record known, in the order written.
    pub runs: Vec<Run>,
    /// The latest run of each sample: index into `runs`.
    pub latest: HashMap<String, usize>,
    /// Every run of each sample, oldest first: indexes into `runs`.
    pub runs_of: HashMap<String, Vec<usize>>,
    /// The decisions that stand, oldest first (run id, sample id): `u` withdraws the last one.
    pub undo: Vec<(String, String)>,
    /// Rows the rules pane is scrolled by.
    pub rules_scroll: u16,
    /// Each sample's settled state and standing decision, by sample index, refreshed when one of
    /// its runs or decisions changes (a frame reads them for every sample).
    settled: Vec<Settled>,
    pub curation: HashMap<String, Curation>,
    pub active: BTreeMap<RunKey, ActiveRun>,
    pub queue: Queue,
    /// The selected sample (index into `samples`).
    pub selected: usize,
    pub filter: String,
    /// Indexes of the samples the filter lets through, in order.
    pub visible: Vec<usize>,
    pub focus: Pane,
    pub layers: Vec<Layer>,
    /// The selected sample's finished run, when it has one and none is in flight.
    pub shown: Option<ShownRun>,
    /// A run of the selected sample shown instead of its latest (opened from the run list or
    /// the grid): index into `runs`. Cleared when the selection changes or a new run of the
    /// sample arrives; decisions act on the run shown.
    pub viewing: Option<usize>,
    pub prompt: PromptState,
    pub notice: Option<Notice>,
    pub stats: Stats,
    pub settings: Settings,
    /// Prompt version labels and notes (`.moss/versions.jsonl`).
    pub versions: Versions,
    /// The workspace's answer on running code; `None` until asked.
    pub consent: Option<bool>,
    /// What the sandbox can do on this machine; `None` until checked (or when code never runs).
    pub sandbox: Option<SandboxCheck>,
    /// Decisions sent to disk and not yet confirmed.
    pub saving: usize,
    /// The session (selection) changed since it was last saved.
    pub session_dirty: bool,
    pub quit: bool,
    pub(super) next_key: RunKey,
}

impl App {
    /// Whether the screen moves on its own (presentation mode): the runner then sends frames.
    #[must_use]
    pub fn animating(&self) -> bool {
        self.layers.iter().any(|l| matches!(l, Layer::Demo(_)))
    }

    #[must_use]
    pub fn new(init: Init) -> Self {
        let Init {
            samples,
            runs,
            decisions,
            session,
            prompt_path,
            prompt,
            prompt_text,
            prompt_texts,
            settings,
            warnings,
        } = init;
        let version = Arc::new(
            PromptVersion::new(prompt_text.clone(), prompt.body, prompt.params)
                .with_rules(Arc::clone(&settings.rules)),
        );
        let mut texts: BTreeMap<String, Arc<str>> = prompt_texts
            .into_iter()
            .map(|(id, text)| (id, Arc::from(text)))
            .collect();
        texts.insert(version.id.clone(), Arc::from(prompt_text.as_str()));
        let editor = prompt_editor(&prompt_text);
        let selected = session
            .selected
            .as_ref()
            .and_then(|id| samples.iter().position(|s| &s.id == id))
            .unwrap_or(0);
        let mut app = Self {
            visible: (0..samples.len()).collect(),
            samples,
            runs: Vec::new(),
            latest: HashMap::new(),
            runs_of: HashMap::new(),
            undo: crate::store::standing_order(&decisions)
                .into_iter()
                .map(|at| {
                    (
                        decisions[at].run_id.clone(),
                        decisions[at].sample_id.clone(),
                    )
                })
                .collect(),
            rules_scroll: 0,
            settled: Vec::new(),
            curation: crate::store::fold(&decisions),
            active: BTreeMap::new(),
            queue: Queue::default(),
            selected,
            filter: String::new(),
            focus: Pane::Samples,
            layers: Vec::new(),
            shown: None,
            viewing: None,
            prompt: PromptState {
                path: prompt_path,
                version,
                editor,
                dirty: false,
                texts,
                pending_label: None,
            },
            notice: None,
            stats: Stats::default(),
            settings,
            versions: Versions::default(),
            consent: session.exec_consent,
            sandbox: None,
            saving: 0,
            session_dirty: false,
            quit: false,
            next_key: 1,
        };
        app.judge_as_exports_do(runs);
        app.settled = (0..app.samples.len()).map(|i| app.settle(i)).collect();
        if let Some(first) = warnings.first() {
            let more = match warnings.len() {
                1 => String::new(),
                n => format!(" (and {} more; see the log)", n - 1),
            };
            app.notice = Some(Notice {
                text: format!("{first}{more}"),
                error: true,
            });
        }
        app.show_selected();
        app
    }

    /// Records a finished run as its sample's latest.
    pub(super) fn add_run(&mut self, run: Run) {
        let sample = run.sample_id.clone();
        self.add_run_quietly(run);
        self.resettle(&sample);
    }

    /// Adds the stored `runs`, their verdicts (and the edits') being those an export would
    /// give: each version's rules under the current config ([`Judge`]), the recorded verdicts
    /// where they were judged by exactly those rules, else the text judged again. So the
    /// list's marks, `a` and the bulk menu agree with what an export refuses.
    fn judge_as_exports_do(&mut self, runs: Vec<Run>) {
        let judge = Judge::new(self.settings.rule_layers.clone());
        let Ok(mut judge) = judge else {
            // The config's rules do not resolve: the recorded verdicts are all there is.
            for run in runs {
                self.add_run_quietly(run);
            }
            return;
        };
        let texts = &self.prompt.texts;
        let snapshot = |id: &str| {
            let text = texts.get(id).map(ToString::to_string);
            move || text.ok_or_else(|| "no snapshot".to_owned())
        };
        let mut edits: HashMap<String, String> = HashMap::new();
        let mut judged = Vec::with_capacity(runs.len());
        for mut run in runs {
            if let Cow::Owned(rules) = judge.verdicts(&run, snapshot(&run.prompt_id)) {
                run.rules = rules;
            }
            if self
                .curation
                .get(&run.run_id)
                .is_some_and(|c| c.edited.is_some())
            {
                edits.insert(run.run_id.clone(), run.prompt_id.clone());
            }
            judged.push(run);
        }
        for (run_id, prompt_id) in edits {
            let rules = Arc::clone(&judge.version(&prompt_id, snapshot(&prompt_id)).rules);
            if let Some(curation) = self.curation.get_mut(&run_id) {
                curation.rejudge_edit(|text| crate::curate::recheck(text, &rules));
            }
        }
        for run in judged {
            self.add_run_quietly(run);
        }
    }

    fn add_run_quietly(&mut self, run: Run) {
        let index = self.runs.len();
        self.latest.insert(run.sample_id.clone(), index);
        self.runs_of
            .entry(run.sample_id.clone())
            .or_default()
            .push(index);
        self.runs.push(run);
    }

    /// Takes a decision on one of the runs: the one way the workbench changes a curation.
    pub(super) fn apply_decision(&mut self, decision: &Decision) {
        self.curation
            .entry(decision.run_id.clone())
            .or_default()
            .apply(decision);
        self.resettle(&decision.sample_id);
    }

    /// Works out again what the samples with id `sample` show.
    fn resettle(&mut self, sample: &str) {
        for i in 0..self.samples.len().min(self.settled.len()) {
            if self.samples[i].id == sample {
                self.settled[i] = self.settle(i);
            }
        }
    }

    /// Sample `index`'s settled state and decision as they stand: from the cache when it is
    /// about this very sample, else worked out.
    fn settled(&self, index: usize) -> Cow<'_, Settled> {
        match (self.settled.get(index), self.samples.get(index)) {
            (Some(settled), Some(sample)) if settled.id == sample.id => Cow::Borrowed(settled),
            _ => Cow::Owned(self.settle(index)),
        }
    }

    fn settle(&self, index: usize) -> Settled {
        let latest = self.latest_run(index);
        Settled {
            id: self
                .samples
                .get(index)
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            state: self.settled_state(index),
            review: self.work_out_review(index),
            // An edit waits for its verdict too; a placeholder has nothing to review.
            awaiting: latest.is_some_and(|run| {
                run.is_complete()
                    && !run.is_placeholder()
                    && self
                        .curation
                        .get(&run.run_id)
                        .is_none_or(|c| matches!(c.verdict, None | Some(Verdict::Edited)))
            }),
        }
    }

    /// The selected sample, if there is one.
    #[must_use]
    pub fn selected_sample(&self) -> Option<&Sample> {
        self.samples.get(self.selected)
    }

    /// The latest finished run of sample `index`.
    #[must_use]
    pub fn latest_run(&self, index: usize) -> Option<&Run> {
        let sample = self.samples.get(index)?;
        self.latest.get(&sample.id).and_then(|&i| self.runs.get(i))
    }

    /// The run in flight for sample `index`.
    #[must_use]
    pub fn active_for(&self, index: usize) -> Option<(RunKey, &ActiveRun)> {
        self.active
            .iter()
            .find(|(_, a)| a.sample == index)
            .map(|(k, a)| (*k, a))
    }

    /// The queued run of sample `index`.
    #[must_use]
    pub fn queued_key(&self, index: usize) -> Option<RunKey> {
        self.queue
            .pending
            .iter()
            .find(|(_, p)| p.sample == index)
            .map(|(k, _)| *k)
    }

    /// Where sample `index` stands.
    #[must_use]
    pub fn state(&self, index: usize) -> SampleState {
        if self.active_for(index).is_some() {
            SampleState::Running
        } else if self.queued_key(index).is_some() {
            SampleState::Queued
        } else {
            self.settled(index).state
        }
    }

    /// Every sample's state in one pass (what the screen draws each frame: no per-sample scan
    /// of the runs in flight or the queue).
    #[must_use]
    pub fn states(&self) -> Vec<SampleState> {
        let mut states: Vec<Option<SampleState>> = vec![None; self.samples.len()];
        for pending in self.queue.pending.values() {
            if let Some(state) = states.get_mut(pending.sample) {
                *state = Some(SampleState::Queued);
            }
        }
        for run in self.active.values() {
            if let Some(state) = states.get_mut(run.sample) {
                *state = Some(SampleState::Running);
            }
        }
        states
            .into_iter()
            .enumerate()
            .map(|(i, state)| state.unwrap_or_else(|| self.settled(i).state))
            .collect()
    }

    /// The state of a sample neither running nor queued: from its latest run (its edited text
    /// where edited).
    fn settled_state(&self, index: usize) -> SampleState {
        let Some(run) = self.latest_run(index) else {
            return SampleState::NotRun;
        };
        match run.status {
            RunStatus::Complete if self.text_passes(run) => SampleState::Passed,
            RunStatus::Complete => SampleState::RulesFailed,
            RunStatus::Incomplete | RunStatus::Failed => SampleState::Incomplete,
        }
    }

    /// The rule results of the text a curator sees of `run`: the edit's where edited.
    #[must_use]
    pub fn text_rules<'a>(&'a self, run: &'a Run) -> &'a [crate::transcript::RuleResult] {
        match self.curation.get(&run.run_id) {
            Some(c) if c.edited.is_some() => &c.edited_rules,
            _ => &run.rules,
        }
    }

    /// Whether the text a curator sees of `run` passes every enabled rule (a placeholder never
    /// does).
    #[must_use]
    pub fn text_passes(&self, run: &Run) -> bool {
        !run.is_placeholder()
            && self
                .text_rules(run)
                .iter()
                .all(|r| r.outcome != crate::transcript::Outcome::Fail)
    }

    /// Sample `index`'s standing decision: the latest that stands on any of its runs.
    #[must_use]
    pub fn review(&self, index: usize) -> Option<Review> {
        self.settled(index).review.clone()
    }

    /// How many samples have each decision standing: accepted, rejected, edited.
    #[must_use]
    pub fn decision_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for i in 0..self.samples.len() {
            match self.settled(i).review.as_ref().map(|r| r.verdict) {
                Some(Verdict::Accepted) => counts[0] += 1,
                Some(Verdict::Rejected) => counts[1] += 1,
                Some(Verdict::Edited) => counts[2] += 1,
                _ => {}
            }
        }
        counts
    }

    fn work_out_review(&self, index: usize) -> Option<Review> {
        let sample = self.samples.get(index)?;
        let runs = self.runs_of.get(&sample.id)?;
        let latest = self.latest.get(&sample.id).copied();
        let decided = || {
            runs.iter().filter_map(|&i| {
                let curation = self.curation.get(&self.runs[i].run_id)?;
                curation.verdict.map(|v| (i, curation, v))
            })
        };
        let (run, curation, verdict) = decided().max_by_key(|(i, c, _)| (c.at_ms, *i))?;
        let accepted = decided()
            .filter(|(_, _, v)| *v == Verdict::Accepted)
            .max_by_key(|(i, c, _)| (c.at_ms, *i))
            .map(|(i, _, _)| i);
        Some(Review {
            verdict,
            run,
            accepted,
            on_latest: Some(run) == latest,
            fails: !self.text_passes(&self.runs[run]),
            override_rules: curation.override_rules,
            reason: curation.reason.clone(),
        })
    }

    /// Whether sample `index` waits for a curator: its latest run is complete and a model's
    /// answer (not a placeholder), nothing runs or waits for it, and no verdict stands on that
    /// run (an edit waits for one).
    #[must_use]
    pub fn unreviewed(&self, index: usize, state: SampleState) -> bool {
        state != SampleState::Running
            && state != SampleState::Queued
            && self.settled(index).awaiting
    }

    /// How many samples are in each state.
    #[must_use]
    pub fn state_counts(states: &[SampleState]) -> HashMap<SampleState, usize> {
        let mut counts = HashMap::new();
        for &state in states {
            *counts.entry(state).or_insert(0) += 1;
        }
        counts
    }

    /// The top layer, if any.
    #[must_use]
    pub fn top(&self) -> Option<&Layer> {
        self.layers.last()
    }

    /// Whether runs are in flight or waiting.
    #[must_use]
    pub fn busy(&self) -> bool {
        !self.active.is_empty() || !self.queue.pending.is_empty()
    }

    /// Rebuilds `shown` for the selected sample (the run viewed, else its latest finished run;
    /// edited text where edited).
    pub(super) fn show_selected(&mut self) {
        self.viewing = self.viewing.filter(|&i| self.is_selected_run(i));
        let Some(run) = self.shown_run_index() else {
            self.shown = None;
            return;
        };
        self.shown = Some(self.view_of(run));
    }

    /// Whether run `index` is one of the selected sample's.
    fn is_selected_run(&self, index: usize) -> bool {
        match (self.runs.get(index), self.selected_sample()) {
            (Some(run), Some(sample)) => run.sample_id == sample.id,
            _ => false,
        }
    }

    /// The selected sample's run the main pane shows (and `a`, `x`, `A`, `e` decide on): the
    /// one opened from the run list or the grid, else its latest.
    #[must_use]
    pub fn shown_run_index(&self) -> Option<usize> {
        self.viewing
            .filter(|&i| self.is_selected_run(i))
            .or_else(|| {
                self.selected_sample()
                    .and_then(|s| self.latest.get(&s.id).copied())
            })
    }

    /// The rules of the current prompt version: what new runs are judged by, and what the
    /// screen's budgets show.
    #[must_use]
    pub fn rules(&self) -> &Arc<Rules> {
        self.prompt
            .version
            .rules
            .as_ref()
            .unwrap_or(&self.settings.rules)
    }

    pub(super) fn view_of(&self, index: usize) -> ShownRun {
        let run = &self.runs[index];
        let rules = Arc::clone(self.rules());
        match self
            .curation
            .get(&run.run_id)
            .and_then(|c| c.edited.as_ref().map(|t| (t, c)))
        {
            Some((text, curation)) => ShownRun {
                run: index,
                live: LiveView::finished(
                    text,
                    run.reasoning.as_deref(),
                    curation.edited_rules.clone(),
                    rules,
                ),
                edited: true,
            },
            None => ShownRun {
                run: index,
                live: LiveView::of_run(run, rules),
                edited: false,
            },
        }
    }

    /// The session as it should be saved.
    #[must_use]
    pub fn session(&self) -> Session {
        Session {
            selected: self.selected_sample().map(|s| s.id.clone()),
            exec_consent: self.consent,
        }
    }

    /// The texts the prompt history diffs, by id.
    #[must_use]
    ///
    /// In the order the versions were labelled (saved in the workbench), those without a
    /// label last: the history lists the versions never run in this order.
    pub fn prompt_texts(&self) -> Vec<(String, Arc<str>)> {
        let mut texts: Vec<(String, Arc<str>)> = self
            .prompt
            .texts
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t)))
            .collect();
        texts.sort_by_key(|(id, _)| self.versions.labelled_at(id).unwrap_or(u64::MAX));
        texts
    }

    /// Applies the filter again to the samples with id `sample` only (a run or a decision of
    /// theirs changed): the others' rows are as they were, so a bulk decision does not redo the
    /// whole list once per output.
    pub(super) fn refilter_sample(&mut self, sample: &str) {
        if self.filter.trim().is_empty() {
            return;
        }
        let filter = Filter::parse(&self.filter);
        for index in 0..self.samples.len() {
            if self.samples[index].id != sample {
                continue;
            }
            let shown = filter.matches(self, index, self.state(index));
            match (self.visible.binary_search(&index), shown) {
                (Err(at), true) => self.visible.insert(at, index),
                (Ok(at), false) => {
                    self.visible.remove(at);
                }
                _ => {}
            }
        }
    }

    /// Applies the filter ([`Filter`]): every term must match, `-` before a term negates it.
    pub(super) fn refilter(&mut self) {
        let filter = Filter::parse(&self.filter);
        let states = self.states();
        let visible: Vec<usize> = (0..self.samples.len())
            .filter(|&i| filter.matches(self, i, states[i]))
            .collect();
        self.visible = visible;
    }
}

/// What a sample shows once nothing runs or waits for it.
#[derive(Clone, Debug)]
struct Settled {
    /// The sample it is about (the cache is by index).
    id: String,
    state: SampleState,
    review: Option<Review>,
    /// Its latest run is complete and no decision stands on it.
    awaiting: bool,
}

/// A parsed filter: words, each a term a sample must match (or, after `-`, must not):
/// - `is:STATE`: the latest run's state (`new`, `queued`, `running`, `passed`, `failed`,
///   `incomplete`), the standing decision (`accepted`, `rejected`, `edited`), or `unreviewed`;
///   a prefix is enough (`is:acc`; `is:r` matches running and rejected);
/// - `fails:RULE`: the latest run's text (edited where edited) fails a rule whose name starts
///   with RULE (`fails:think`);
/// - `tag:TAG`: a tag of the sample starts with TAG;
/// - `answer:TEXT`: the latest run's text holds TEXT;
/// - any other word: the sample's id or question holds it.
///
/// Matching ignores case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<(bool, Term)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Is(String),
    Fails(String),
    Tag(String),
    Answer(String),
    Text(String),
}

impl Filter {
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let terms = text
            .split_whitespace()
            .map(|word| {
                let word = word.to_lowercase();
                let (negated, word) = match word.strip_prefix('-') {
                    Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                    _ => (false, word),
                };
                let term = if let Some(v) = word.strip_prefix("is:") {
                    Term::Is(v.to_owned())
                } else if let Some(v) = word.strip_prefix("fails:") {
                    Term::Fails(v.to_owned())
                } else if let Some(v) = word.strip_prefix("tag:") {
                    Term::Tag(v.to_owned())
                } else if let Some(v) = word.strip_prefix("answer:") {
                    Term::Answer(v.to_owned())
                } else {
                    Term::Text(word)
                };
                (negated, term)
            })
            .collect();
        Self { terms }
    }

    /// Whether sample `index` (in `state`) passes every term.
    #[must_use]
    pub fn matches(&self, app: &App, index: usize, state: SampleState) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let sample = &app.samples[index];
        let latest = app.latest_run(index);
        let mut review = None;
        self.terms.iter().all(|(negated, term)| {
            let hit = match term {
                Term::Is(word) => {
                    let review = review.get_or_insert_with(|| app.review(index));
                    state.as_str().starts_with(word.as_str())
                        || review
                            .as_ref()
                            .is_some_and(|r| r.as_str().starts_with(word.as_str()))
                        || ("unreviewed".starts_with(word.as_str()) && app.unreviewed(index, state))
                }
                Term::Fails(rule) => latest.is_some_and(|run| {
                    run.is_complete()
                        && app.text_rules(run).iter().any(|r| {
                            r.outcome == crate::transcript::Outcome::Fail
                                && r.id.as_str().starts_with(rule.as_str())
                        })
                }),
                Term::Tag(tag) => sample
                    .tags
                    .iter()
                    .any(|t| t.to_lowercase().starts_with(tag.as_str())),
                Term::Answer(text) => latest.is_some_and(|run| {
                    let shown = app
                        .curation
                        .get(&run.run_id)
                        .and_then(|c| c.edited.as_deref())
                        .unwrap_or(&run.transcript);
                    shown.to_lowercase().contains(text.as_str())
                }),
                Term::Text(text) => {
                    sample.id.to_lowercase().contains(text.as_str())
                        || sample.question.to_lowercase().contains(text.as_str())
                }
            };
            hit != *negated
        })
    }
}
