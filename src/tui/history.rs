//! Prompt versions used in this workspace: run counts, per-rule pass rates, and diffs between
//! any two versions. (Stub: the API is final.)

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::run::Run;
use crate::theme::Theme;
use crate::transcript::RuleId;

/// How one rule fared over a prompt version's complete runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleRate {
    pub id: RuleId,
    pub passed: usize,
    /// Runs where the rule was judged (pass or fail, not skipped).
    pub judged: usize,
}

/// One prompt version and what its runs did.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptVersionStats {
    pub id: String,
    /// The prompt file's text (front matter included), for diffs.
    pub text: Arc<str>,
    pub runs: usize,
    pub complete: usize,
    pub rules: Vec<RuleRate>,
    /// Milliseconds since the epoch of its first run (`None`: no run yet).
    pub first_run_ms: Option<u64>,
    /// The prompt in the editor right now (saved or not).
    pub current: bool,
}

/// The prompt history screen.
#[derive(Clone, Debug, Default)]
pub struct HistoryView {
    _private: (),
}

impl HistoryView {
    /// `texts` maps prompt ids to their text (snapshots and the current prompt); `current` is
    /// the editor's prompt (id, text). Versions are ordered by first use, the current one last.
    #[must_use]
    pub fn new(runs: &[Run], texts: &[(String, Arc<str>)], current: (&str, Arc<str>)) -> Self {
        let _ = (runs, texts, current);
        Self::default()
    }

    #[must_use]
    pub fn versions(&self) -> &[PromptVersionStats] {
        &[]
    }

    #[must_use]
    pub fn selected(&self) -> usize {
        0
    }

    pub fn select_next(&mut self) {}
    pub fn select_prev(&mut self) {}

    /// First call marks the selected version as the diff's base; the diff then shows base →
    /// selected as the selection moves. Marking the base again clears it.
    pub fn mark(&mut self) {}

    /// Scrolls the diff.
    pub fn scroll_by(&mut self, rows: isize) {
        let _ = rows;
    }

    pub fn render(&mut self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let _ = (area, buf, theme);
    }
}
