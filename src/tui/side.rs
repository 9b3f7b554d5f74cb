//! Two runs of one sample side by side: their segments aligned by kind (answer with answer,
//! think with think, code with code, result with result), so that what differs stands level.

use std::sync::Arc;

use ratatui::text::Line;
use similar::{Algorithm, DiffTag};

use crate::transcript::{Outcome, RuleId, Rules, SegmentKind};
use crate::tui::live::LiveView;

/// One segment as the side-by-side shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideSegment {
    pub kind: SegmentKind,
    pub text: String,
    /// A think's words and what it may hold.
    pub budget: Option<(usize, usize)>,
    /// A code block's info string (`python RUN`).
    pub info: Option<String>,
}

/// One run's column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    /// Index into `App::runs`.
    pub run: usize,
    pub segments: Vec<SideSegment>,
    /// Each enabled rule's outcome on the text shown.
    pub rules: Vec<(RuleId, Outcome)>,
}

impl Side {
    /// Run `run`'s `text` (edited where edited), judged by `verdicts`, its think budgets by the
    /// `rules` of its prompt version.
    #[must_use]
    pub fn new(
        run: usize,
        text: &str,
        verdicts: &[crate::transcript::RuleResult],
        rules: Arc<Rules>,
    ) -> Self {
        let view = LiveView::finished(text, None, Vec::new(), rules);
        let budgets = view.budgets();
        let transcript = view.transcript();
        let segments = transcript
            .iter()
            .enumerate()
            // The line breaks between a think and the next block are no segment to compare.
            .filter(|(_, (segment, _))| !segment.blank)
            .map(|(i, (segment, text))| SideSegment {
                kind: segment.kind,
                text: text.trim_matches('\n').to_owned(),
                budget: budgets
                    .iter()
                    .find(|b| b.segment == i)
                    .map(|b| (b.used, b.allowed)),
                info: segment.fence.as_ref().map(|f| f.info.clone()),
            })
            .collect();
        Self {
            run,
            segments,
            rules: verdicts
                .iter()
                .filter(|r| r.outcome != Outcome::Skip)
                .map(|r| (r.id, r.outcome))
                .collect(),
        }
    }

    #[must_use]
    pub fn kinds(&self) -> Vec<SegmentKind> {
        self.segments.iter().map(|s| s.kind).collect()
    }

    /// The outcome of `rule` on this side.
    #[must_use]
    pub fn outcome(&self, rule: RuleId) -> Option<Outcome> {
        self.rules.iter().find(|(id, _)| *id == rule).map(|r| r.1)
    }
}

/// Rows of the two columns: a segment of each side on one row when the kinds line up, else a
/// segment on one side and nothing on the other. Segments of both sides keep their order.
#[must_use]
pub fn align(left: &[SegmentKind], right: &[SegmentKind]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut rows = Vec::with_capacity(left.len().max(right.len()));
    for op in similar::capture_diff_slices(Algorithm::Myers, left, right) {
        let (old, new) = (op.old_range(), op.new_range());
        if op.tag() == DiffTag::Equal {
            rows.extend(old.zip(new).map(|(l, r)| (Some(l), Some(r))));
        } else {
            rows.extend(old.map(|l| (Some(l), None)));
            rows.extend(new.map(|r| (None, Some(r))));
        }
    }
    rows
}

/// The drawn rows, for one column width.
#[derive(Clone, Debug, Default)]
pub struct Drawn {
    /// The two columns' widths.
    pub widths: (usize, usize),
    /// Each screen row: the left column's line and the right's (blank where one side pads).
    pub rows: Vec<(Line<'static>, Line<'static>)>,
}

/// The side-by-side layer.
#[derive(Clone, Debug)]
pub struct SideBySide {
    /// The sample (index into `App::samples`).
    pub sample: usize,
    pub left: Side,
    pub right: Side,
    pub alignment: Vec<(Option<usize>, Option<usize>)>,
    /// First body row shown (both columns scroll together).
    pub scroll: usize,
    /// `!` was pressed: the next choice accepts even a run failing a rule.
    pub anyway: bool,
    /// Rows drawn for the last width (filled by the view).
    pub drawn: Option<Drawn>,
}

impl SideBySide {
    #[must_use]
    pub fn new(sample: usize, left: Side, right: Side) -> Self {
        let alignment = align(&left.kinds(), &right.kinds());
        Self {
            sample,
            left,
            right,
            alignment,
            scroll: 0,
            anyway: false,
            drawn: None,
        }
    }

    pub fn scroll_by(&mut self, rows: isize) {
        self.scroll = self.scroll.saturating_add_signed(rows);
    }

    /// The rules one side fails and the other does not (a rule skipped on one side, say for
    /// want of code, differs only if the other side fails it).
    #[must_use]
    pub fn differing(&self) -> Vec<RuleId> {
        let mut ids: Vec<RuleId> = self.left.rules.iter().map(|r| r.0).collect();
        for (id, _) in &self.right.rules {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids.into_iter()
            .filter(|&id| {
                let fails = |side: &Side| side.outcome(id) == Some(Outcome::Fail);
                fails(&self.left) != fails(&self.right)
            })
            .collect()
    }
}
