//! A sample's run list: every run of one sample, newest first, with what tells them apart.

use crate::compare::{Interleaving, interleaving_of};
use crate::run::{Run, RunStatus};
use crate::store::Verdict;
use crate::transcript::CountMode;
use crate::tui::app::App;

/// One row of the run list, worked out when the list opens.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Index into `App::runs`.
    pub run: usize,
    pub measures: Interleaving,
}

/// The run list layer.
#[derive(Clone, Debug, PartialEq)]
pub struct RunList {
    /// The sample (index into `App::samples`).
    pub sample: usize,
    /// Newest first.
    pub rows: Vec<RunRow>,
    /// The highlighted row.
    pub selected: usize,
    /// The row marked to compare with another.
    pub marked: Option<usize>,
}

impl RunList {
    /// The runs of sample `sample`, newest first, measured in `mode`.
    #[must_use]
    pub fn new(app: &App, sample: usize, mode: CountMode) -> Self {
        let rows = app
            .samples
            .get(sample)
            .and_then(|s| app.runs_of.get(&s.id))
            .map(|runs| {
                runs.iter()
                    .rev()
                    .map(|&run| RunRow {
                        run,
                        measures: interleaving_of(shown_text(app, &app.runs[run]), mode),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            sample,
            rows,
            selected: 0,
            marked: None,
        }
    }

    /// The highlighted run (index into `App::runs`).
    #[must_use]
    pub fn highlighted(&self) -> Option<usize> {
        self.rows.get(self.selected).map(|r| r.run)
    }
}

/// The text a curator sees of `run`: the edit's where edited.
#[must_use]
pub fn shown_text<'a>(app: &'a App, run: &'a Run) -> &'a str {
    app.curation
        .get(&run.run_id)
        .and_then(|c| c.edited.as_deref())
        .unwrap_or(&run.transcript)
}

/// `✓` a complete run whose text passes every enabled rule, `✗` one that fails a rule (a
/// placeholder always does), `!` a run that did not complete.
#[must_use]
pub fn rule_mark(app: &App, run: &Run) -> &'static str {
    match run.status {
        RunStatus::Complete if app.text_passes(run) => "✓",
        RunStatus::Complete => "✗",
        RunStatus::Incomplete | RunStatus::Failed => "!",
    }
}

/// The decision standing on `run` as one letter (a blank when none).
#[must_use]
pub fn decision_mark(app: &App, run: &Run) -> &'static str {
    match app.curation.get(&run.run_id).and_then(|c| c.verdict) {
        Some(Verdict::Accepted) => "A",
        Some(Verdict::Rejected) => "R",
        Some(Verdict::Edited) => "E",
        Some(Verdict::Revoked) | None => " ",
    }
}
