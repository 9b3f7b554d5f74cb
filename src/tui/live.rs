//! The live view of one run's transcript: parsed as it streams, wrapped once per segment
//! (only the growing tail is re-wrapped), drawn only where visible. (Stub: the API is final.)

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::run::Run;
use crate::theme::Theme;
use crate::transcript::{CountMode, RuleResult, Rules, Transcript};

/// A think's budget right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThinkBudget {
    /// Index of the think segment in the transcript.
    pub segment: usize,
    /// Its words so far.
    pub used: usize,
    /// The words it may hold.
    pub allowed: usize,
    /// Whether the think is still being written.
    pub open: bool,
}

impl ThinkBudget {
    #[must_use]
    pub fn exceeded(&self) -> bool {
        self.used > self.allowed
    }
}

/// One run's transcript on screen.
#[derive(Debug)]
pub struct LiveView {
    rules: Arc<Rules>,
    transcript: Transcript,
}

impl LiveView {
    /// An empty view for a run about to stream.
    #[must_use]
    pub fn new(rules: Arc<Rules>) -> Self {
        Self {
            transcript: Transcript::new(rules.config().count_mode),
            rules,
        }
    }

    /// A finished text (a stored run, or an edited transcript) with its rule results.
    #[must_use]
    pub fn finished(text: &str, reasoning: Option<&str>, rules: Vec<RuleResult>, config: Arc<Rules>) -> Self {
        let _ = (text, reasoning, rules);
        Self::new(config)
    }

    /// A stored run.
    #[must_use]
    pub fn of_run(run: &Run, rules: Arc<Rules>) -> Self {
        Self::finished(&run.transcript, run.reasoning.as_deref(), run.rules.clone(), rules)
    }

    /// Appends streamed text (the teacher's, or a system execution result).
    pub fn push(&mut self, text: &str) {
        let _ = text;
    }

    /// Replaces the whole text (results put in place after the stream).
    pub fn rewrite(&mut self, text: &str) {
        let _ = text;
    }

    /// Appends hidden reasoning.
    pub fn push_reasoning(&mut self, text: &str) {
        let _ = text;
    }

    /// The stream ended; `rules` are the run's final verdicts.
    pub fn finish(&mut self, rules: Vec<RuleResult>) {
        let _ = rules;
    }

    #[must_use]
    pub fn text(&self) -> &str {
        ""
    }

    #[must_use]
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    #[must_use]
    pub fn count_mode(&self) -> CountMode {
        self.transcript.count_mode()
    }

    /// Whether the stream is still open.
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        false
    }

    /// Every think's budget, in order (the open one counting live).
    #[must_use]
    pub fn budgets(&self) -> Vec<ThinkBudget> {
        Vec::new()
    }

    /// Every enabled rule's verdict: final once finished, re-judged while streaming (amortized:
    /// a 4 MB stream is not re-judged per chunk).
    pub fn rules(&mut self) -> &[RuleResult] {
        &[]
    }

    #[must_use]
    pub fn reasoning(&self) -> &str {
        ""
    }

    pub fn toggle_reasoning(&mut self) {}

    #[must_use]
    pub fn reasoning_expanded(&self) -> bool {
        false
    }

    /// Scrolls by `rows` (negative: up); scrolling up stops following the tail.
    pub fn scroll_by(&mut self, rows: isize) {
        let _ = rows;
    }

    pub fn scroll_to_top(&mut self) {}

    /// Scrolls to the end and follows the tail again.
    pub fn scroll_to_bottom(&mut self) {}

    /// Whether the view sticks to the end as text arrives.
    #[must_use]
    pub fn follows_tail(&self) -> bool {
        true
    }

    /// The first visible row (after the last render).
    #[must_use]
    pub fn scroll_offset(&self) -> usize {
        0
    }

    /// Draws the visible rows of the transcript into `area`.
    pub fn render(&mut self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let _ = (area, buf, theme);
    }
}
