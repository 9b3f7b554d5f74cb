//! Prompt versions used in this workspace: run counts, per-rule pass rates, and diffs between
//! any two versions.
//!
//! The diff shows what changed *into* the selected version: from the version marked as base,
//! or without a mark from the version used just before it, so stepping through the list reads
//! as the prompt's history of edits.

mod diff;
mod render;
mod rows;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::compare::MeasuresReport;
use crate::config::Layers;
use crate::run::{Judge, Run};
use crate::transcript::RuleId;
use crate::tui::theme::Theme;

use diff::PromptDiff;
use rows::DiffRows;
use stats::Facts;

/// How one rule fared over a prompt version's complete runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleRate {
    pub id: RuleId,
    /// Runs that passed.
    pub passed: usize,
    /// Runs where the rule was judged (pass or fail, not skipped).
    pub judged: usize,
    /// Samples with a run where the rule was judged.
    pub samples: usize,
    /// The mean over those samples of the fraction of each one's runs that passed, in whole
    /// percent rounded down (a sample run three times counts once).
    pub sample_percent: Option<usize>,
}

impl RuleRate {
    /// The pass rate per sample in whole percent, rounded down so that 100 means every judged
    /// run passed; `None` when the rule was never judged.
    #[must_use]
    pub fn percent(self) -> Option<usize> {
        self.sample_percent
    }

    /// Judged at least once and never failed.
    #[must_use]
    pub fn perfect(self) -> bool {
        self.judged > 0 && self.passed == self.judged
    }
}

/// The mean of per-sample pass rates in whole percent, rounded down, and 100 only when `all`
/// passed.
fn sample_percent(mean: Option<f64>, all: bool) -> Option<usize> {
    mean.map(|mean| {
        // Whole percents of means such as 0.29 sit a hair below the integer in floating point.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let p = (mean * 100.0 + 1e-9).floor().clamp(0.0, 100.0) as usize;
        if all { p } else { p.min(99) }
    })
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
    /// Samples with a complete run.
    pub samples: usize,
    /// Every rule passing at once, per sample ([`RuleRate::percent`]'s way).
    pub pass_percent: Option<usize>,
    /// The interleaving measures of its complete runs (`None` without any).
    pub measures: Option<MeasuresReport>,
    /// Milliseconds since the epoch of its first run (`None`: no run yet).
    pub first_run_ms: Option<u64>,
    /// The prompt in the editor right now (saved or not).
    pub current: bool,
}

/// Which two versions the diff compares (indices into the version list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    /// No versions at all.
    Nothing,
    /// The first version, with nothing before it: its whole text, as added lines.
    Whole(usize),
    /// The selected version is the marked base itself.
    IsBase(usize),
    Pair {
        base: usize,
        selected: usize,
    },
}

/// The prompt history screen.
#[derive(Clone, Debug, Default)]
pub struct HistoryView {
    versions: Vec<PromptVersionStats>,
    /// Parallel to `versions`.
    facts: Vec<Facts>,
    selected: usize,
    marked: Option<usize>,
    /// First diff row shown.
    scroll: usize,
    /// The diff of the last comparison shown: moving the selection back and forth between the
    /// same two versions does not diff again.
    diff: Option<(Comparison, PromptDiff)>,
    rows: Option<DiffRows>,
    /// The last scroll position that still fills the diff pane, known once drawn.
    max_scroll: Option<usize>,
    /// Label and note (maybe empty) by prompt id, for the versions that have one.
    labels: HashMap<String, (String, String)>,
}

impl HistoryView {
    /// `texts` maps prompt ids to their text (snapshots and the current prompt); `current` is
    /// the editor's prompt (id, text). Versions are ordered by first use, the current one last.
    /// The current version starts selected.
    ///
    /// Each version's figures are judged by its rules under `rule_layers` (the configuration
    /// without any front matter) and its own front matter: a run judged by other rules is
    /// judged again from its transcript. A version whose text is unknown or whose front matter
    /// no longer applies is judged by the configuration's rules, and its rules pane says so.
    #[must_use]
    pub fn new(
        runs: &[Run],
        texts: &[(String, Arc<str>)],
        current: (&str, Arc<str>),
        rule_layers: &Layers,
    ) -> Self {
        let mut judge = Judge::new(rule_layers.clone());
        let mut collected = stats::collect(runs, texts, current, judge.as_mut().ok());
        if judge.is_err() {
            // Cannot happen with the layers the workbench started with; shown, not hidden.
            for facts in &mut collected.facts {
                facts.rules_note = Some("recorded verdicts (config rules invalid)");
            }
        }
        Self {
            versions: collected.versions,
            facts: collected.facts,
            selected: collected.current,
            ..Self::default()
        }
    }

    /// Names the versions that have a label by it, with its note.
    pub fn set_labels(&mut self, versions: &crate::store::Versions) {
        self.labels = self
            .versions
            .iter()
            .filter_map(|v| {
                let label = versions.label(&v.id)?;
                let note = versions.note(&v.id).unwrap_or_default();
                Some((v.id.clone(), (label.to_owned(), note.to_owned())))
            })
            .collect();
        self.rows = None;
    }

    /// How the screen names version `i`: its label, else its short id.
    #[must_use]
    pub fn name(&self, i: usize) -> String {
        self.versions.get(i).map_or_else(String::new, |v| {
            self.labels.get(&v.id).map_or_else(
                || v.id.get(..render::SHORT_ID).unwrap_or(&v.id).to_owned(),
                |(label, _)| label.clone(),
            )
        })
    }

    /// Version `i`'s note, if it has one.
    #[must_use]
    pub fn note(&self, i: usize) -> Option<&str> {
        let v = self.versions.get(i)?;
        self.labels
            .get(&v.id)
            .map(|(_, note)| note.as_str())
            .filter(|n| !n.is_empty())
    }

    /// The highlighted version's id and text, when its text is known.
    #[must_use]
    pub fn selected_text(&self) -> Option<(&str, &Arc<str>)> {
        let known = self.facts.get(self.selected).is_some_and(|f| f.text_known);
        let version = self.versions.get(self.selected)?;
        known.then_some((version.id.as_str(), &version.text))
    }

    #[must_use]
    pub fn versions(&self) -> &[PromptVersionStats] {
        &self.versions
    }

    #[must_use]
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The version marked as the diff's base, if any.
    #[must_use]
    pub fn marked(&self) -> Option<usize> {
        self.marked
    }

    /// The version the diff starts from: the marked base, or else the version before the
    /// selected one. `None` when the selected version is the first or is the base itself.
    #[must_use]
    pub fn diff_base(&self) -> Option<usize> {
        match self.comparison() {
            Comparison::Pair { base, .. } => Some(base),
            _ => None,
        }
    }

    /// The first diff row shown.
    #[must_use]
    pub fn diff_scroll(&self) -> usize {
        self.scroll
    }

    pub fn select_next(&mut self) {
        if self.selected + 1 < self.versions.len() {
            self.selected += 1;
            self.diff_changed();
        }
    }

    pub fn select_prev(&mut self) {
        if self.selected > 0 {
            self.selected -= 1;
            self.diff_changed();
        }
    }

    /// First call marks the selected version as the diff's base; the diff then shows base →
    /// selected as the selection moves. Marking the base again clears it.
    pub fn mark(&mut self) {
        if self.versions.is_empty() {
            return;
        }
        self.marked = if self.marked == Some(self.selected) {
            None
        } else {
            Some(self.selected)
        };
        self.diff_changed();
    }

    /// Scrolls the diff, stopping where its last row reaches the bottom of the pane.
    pub fn scroll_by(&mut self, rows: isize) {
        let max = match self.max_scroll {
            Some(max) => max,
            // Not drawn yet: every line is at least one row.
            None => self.diff().lines.len().saturating_sub(1),
        };
        self.scroll = self.scroll.saturating_add_signed(rows).min(max);
    }

    pub fn render(&mut self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        render::draw(self, area, buf, theme);
    }

    fn diff_changed(&mut self) {
        self.scroll = 0;
        self.max_scroll = None;
    }

    fn comparison(&self) -> Comparison {
        if self.versions.is_empty() {
            return Comparison::Nothing;
        }
        let selected = self.selected;
        match self.marked {
            Some(base) if base == selected => Comparison::IsBase(selected),
            Some(base) => Comparison::Pair { base, selected },
            None if selected == 0 => Comparison::Whole(selected),
            None => Comparison::Pair {
                base: selected - 1,
                selected,
            },
        }
    }

    /// The diff for the current comparison, computed once per comparison.
    fn diff(&mut self) -> &PromptDiff {
        let key = self.comparison();
        if self.diff.as_ref().is_some_and(|(k, _)| *k != key) {
            self.diff = None;
        }
        let (versions, facts) = (&self.versions, &self.facts);
        &self
            .diff
            .get_or_insert_with(|| (key, compare(versions, facts, key)))
            .1
    }
}

fn compare(versions: &[PromptVersionStats], facts: &[Facts], key: Comparison) -> PromptDiff {
    let missing = |i: usize| {
        let known = facts.get(i).is_some_and(|f| f.text_known);
        (!known).then(|| {
            let id = versions.get(i).map_or("?", |v| v.id.as_str());
            PromptDiff::notice(format!(
                "the text of prompt {id} is missing: there is no snapshot of it in .moss/prompts/"
            ))
        })
    };
    let text = |i: usize| versions.get(i).map_or("", |v| &*v.text);
    match key {
        Comparison::Nothing => PromptDiff::notice("no prompt versions yet"),
        Comparison::IsBase(_) => PromptDiff::notice(
            "this version is the diff base: select another version to compare it with, \
             or press space to clear the mark",
        ),
        Comparison::Whole(i) => missing(i).unwrap_or_else(|| PromptDiff::between("", text(i))),
        Comparison::Pair { base, selected } => missing(base)
            .or_else(|| missing(selected))
            .unwrap_or_else(|| PromptDiff::between(text(base), text(selected))),
    }
}

#[cfg(test)]
mod tests {
    use super::diff::{DiffLine, LineKind};
    use super::stats::tests::run;
    use super::*;
    use crate::run::RunStatus;

    fn view(current: &str) -> HistoryView {
        let runs = [
            run("a", 1, RunStatus::Complete, &[]),
            run("b", 2, RunStatus::Complete, &[]),
            run("c", 3, RunStatus::Complete, &[]),
        ];
        let texts: Vec<(String, Arc<str>)> =
            [("a", "一\n"), ("b", "一\n二\n"), ("c", "一\n二\n三\n")]
                .into_iter()
                .map(|(id, t)| (id.to_owned(), Arc::from(t)))
                .collect();
        HistoryView::new(
            &runs,
            &texts,
            (current, Arc::from("一\n二\n三\n四\n")),
            &Layers::default(),
        )
    }

    fn added(view: &mut HistoryView) -> Vec<String> {
        view.diff()
            .lines
            .iter()
            .filter_map(|l| match l {
                DiffLine::Line {
                    kind: LineKind::Added,
                    pieces,
                    ..
                } => Some(pieces.iter().map(|p| p.text.as_str()).collect()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_a_mark_the_diff_shows_what_the_selected_version_changed() {
        let mut v = view("d");
        assert_eq!(v.selected(), 3, "the current version starts selected");
        assert_eq!(v.diff_base(), Some(2));
        assert_eq!(added(&mut v), ["四"]);
        v.select_prev();
        assert_eq!(added(&mut v), ["三"]);
        v.select_prev();
        v.select_prev();
        v.select_prev();
        assert_eq!(v.selected(), 0, "selection stops at the top");
        assert_eq!(v.diff_base(), None);
        assert_eq!(added(&mut v), ["一"], "the first version is shown in full");
        for _ in 0..10 {
            v.select_next();
        }
        assert_eq!(v.selected(), 3, "and at the bottom");
    }

    #[test]
    fn a_marked_base_stays_while_the_selection_moves_and_a_second_mark_clears_it() {
        let mut v = view("d");
        v.select_prev();
        v.select_prev();
        v.select_prev();
        v.mark();
        assert_eq!(v.marked(), Some(0));
        assert!(matches!(v.diff().lines[..], [DiffLine::Notice(_)]));
        v.select_next();
        v.select_next();
        assert_eq!(v.diff_base(), Some(0));
        assert_eq!(added(&mut v), ["二", "三"]);
        v.select_next();
        assert_eq!(added(&mut v), ["二", "三", "四"]);
        // Marking another version moves the base there.
        v.mark();
        assert_eq!(v.marked(), Some(3));
        v.select_prev();
        assert_eq!(v.diff_base(), Some(3));
        v.select_next();
        v.mark();
        assert_eq!(v.marked(), None);
        assert_eq!(v.diff_base(), Some(2));
    }

    #[test]
    fn the_diff_is_computed_once_per_pair() {
        let mut v = view("d");
        let _ = v.diff();
        // A planted cache entry is what a second look returns: nothing was diffed again.
        let planted = PromptDiff::notice("cached");
        if let Some((_, diff)) = v.diff.as_mut() {
            *diff = planted.clone();
        }
        assert_eq!(v.diff(), &planted);
        v.select_prev();
        assert_ne!(v.diff(), &planted, "a new pair is diffed");
        assert_eq!(added(&mut v), ["三"]);
    }

    #[test]
    fn a_version_without_a_snapshot_says_so_in_its_diff() {
        let runs = [
            run("gone", 1, RunStatus::Complete, &[]),
            run("kept", 2, RunStatus::Complete, &[]),
        ];
        let mut v = HistoryView::new(
            &runs,
            &[("kept".into(), Arc::from("x\n"))],
            ("kept", Arc::from("x\n")),
            &Layers::default(),
        );
        assert_eq!(v.versions().len(), 2);
        let [DiffLine::Notice(notice)] = &v.diff().lines[..] else {
            panic!("a notice");
        };
        assert!(
            notice.contains("gone") && notice.contains("no snapshot"),
            "{notice}"
        );
    }

    #[test]
    fn scrolling_stops_at_both_ends_and_resets_on_a_new_comparison() {
        let mut v = view("d");
        v.scroll_by(-3);
        assert_eq!(v.diff_scroll(), 0);
        v.scroll_by(100);
        let lines = v.diff().lines.len();
        assert_eq!(v.diff_scroll(), lines - 1);
        v.select_prev();
        assert_eq!(v.diff_scroll(), 0);
    }

    #[test]
    fn an_empty_view_does_nothing_harmful() {
        let mut v = HistoryView::default();
        v.select_next();
        v.select_prev();
        v.mark();
        v.scroll_by(5);
        assert_eq!((v.selected(), v.marked(), v.diff_base()), (0, None, None));
        assert!(matches!(v.diff().lines[..], [DiffLine::Notice(_)]));
    }

    #[test]
    fn sample_rates_round_down_so_only_every_pass_is_full() {
        assert_eq!(sample_percent(Some(0.995), false), Some(99));
        // A mean that is a whole percent is not pushed below it by floating point.
        assert_eq!(sample_percent(Some(0.29), false), Some(29));
        assert_eq!(sample_percent(Some(1.0), true), Some(100));
        // Every sample at 100% only when every run passed.
        assert_eq!(sample_percent(Some(0.999_999_999_99), false), Some(99));
        assert_eq!(sample_percent(None, true), None);
        let rate = RuleRate {
            id: RuleId::ThinkBudget,
            passed: 3,
            judged: 3,
            samples: 2,
            sample_percent: Some(100),
        };
        assert!(rate.perfect());
        assert!(
            !RuleRate {
                passed: 2,
                sample_percent: Some(75),
                ..rate
            }
            .perfect()
        );
    }
}
