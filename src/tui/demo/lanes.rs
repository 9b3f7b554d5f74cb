//! The demo's rows: each visible segment rendered once at its lane's width (answers as
//! markdown, thinks with a gutter, code with its result boxed) and placed in the answer lane or,
//! on a wide screen, the think lane beside the answer row where the think occurred. Only the
//! growing last segment is rendered again; a new width renders everything once.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::transcript::{Segment, SegmentKind, Transcript};
use crate::tui::live::LiveView;
use crate::tui::markdown;
use crate::tui::style::style;
use crate::tui::text::{self, printable};
use crate::tui::theme::{Role, Theme};

/// The gutter before a think's rows.
const THINK_GUTTER: &str = "┆ ";
/// The gutter before a code block's rows.
const CODE_GUTTER: &str = "▎ ";

/// The lanes' widths: a think lane beside the answers, or everything in one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub main: usize,
    /// The think lane's width; 0: thinks inline.
    pub side: usize,
}

/// A segment's rows and where they go.
#[derive(Clone, Debug)]
pub struct Placed {
    pub segment: usize,
    /// In the think lane.
    pub side: bool,
    /// Its first row.
    pub top: usize,
    pub lines: Vec<Line<'static>>,
    /// Text bytes rendered and whether the segment was still open then.
    len: usize,
    open: bool,
    /// The lowest row reached by this block or any before it.
    pub reach: usize,
    /// Each lane's next free row after it.
    bottoms: (usize, usize),
}

/// Rendered, placed segments.
#[derive(Clone, Debug, Default)]
pub struct Lanes {
    geometry: Option<Geometry>,
    blocks: Vec<Placed>,
    /// Segments looked at (placed, or invisible and closed).
    consumed: usize,
    /// The transcript's length at the last sync (a shorter one was rewritten).
    seen: usize,
}

impl Lanes {
    /// Brings the rows up to `live`'s transcript: renders what grew or arrived since.
    pub fn sync(&mut self, live: &LiveView, geometry: Geometry, theme: &Theme) {
        let transcript = live.transcript();
        let len = transcript.content().len();
        if self.geometry != Some(geometry)
            || len < self.seen
            || transcript.segments.len() < self.consumed
        {
            *self = Self {
                geometry: Some(geometry),
                ..Self::default()
            };
        }
        self.seen = len;
        // Only the last segments can have grown or closed.
        while let Some(last) = self.blocks.last() {
            let segment = &transcript.segments[last.segment];
            if last.len == segment.text.len() && last.open == transcript.is_open(last.segment) {
                break;
            }
            self.consumed = last.segment;
            self.blocks.pop();
        }
        while let Some(segment) = transcript.segments.get(self.consumed) {
            let index = self.consumed;
            let open = transcript.is_open(index);
            if !segment.is_visible() {
                if open {
                    break;
                }
                self.consumed += 1;
                continue;
            }
            self.place(live, index, geometry, theme);
            self.consumed += 1;
            if open {
                break;
            }
        }
    }

    fn place(&mut self, live: &LiveView, index: usize, geometry: Geometry, theme: &Theme) {
        let transcript = live.transcript();
        let segment = &transcript.segments[index];
        let side = segment.kind == SegmentKind::Think && geometry.side > 0;
        let width = if side { geometry.side } else { geometry.main };
        let lines = render(live, segment, index, width, theme);
        let (main, side_bottom) = self.blocks.last().map_or((0, 0), |b| b.bottoms);
        let reach_before = self.blocks.last().map_or(0, |b| b.reach);
        let (top, bottoms) = if side {
            // Beside the answer's last row, below the thinks before it; the answers after it
            // start no higher than the think, so the order reads down.
            let top = main.saturating_sub(1).max(side_bottom);
            (top, (main.max(top), top + lines.len()))
        } else {
            (main, (main + lines.len(), side_bottom))
        };
        self.blocks.push(Placed {
            segment: index,
            side,
            top,
            len: segment.text.len(),
            open: transcript.is_open(index),
            reach: reach_before.max(top + lines.len()),
            bottoms,
            lines,
        });
    }

    /// Rows in all.
    #[must_use]
    pub fn height(&self) -> usize {
        self.blocks.last().map_or(0, |b| b.reach)
    }

    /// The blocks with rows in `top..top + rows`.
    pub fn visible(&self, top: usize, rows: usize) -> impl Iterator<Item = &Placed> {
        let first = self.blocks.partition_point(|b| b.reach <= top);
        self.blocks[first..]
            .iter()
            .take_while(move |b| b.top < top + rows)
            .filter(move |b| b.top + b.lines.len() > top)
    }
}

/// Segment `index`'s rows at `width`.
fn render(
    live: &LiveView,
    segment: &Segment,
    index: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let transcript = live.transcript();
    let source = transcript.text(segment);
    match segment.kind {
        SegmentKind::Answer => {
            let trimmed = source.trim_matches('\n');
            if source.len() > markdown::RENDER_MAX {
                markdown::plain(trimmed, width, style(theme, Role::Answer))
            } else {
                markdown::render(trimmed, width, theme, style(theme, Role::Answer))
            }
        }
        SegmentKind::Think => think(live, transcript, source, index, width, theme),
        SegmentKind::Code => code(segment, source, width, theme),
        SegmentKind::ExecResult | SegmentKind::ExecError => {
            let role = if segment.kind == SegmentKind::ExecResult {
                Role::ExecResult
            } else {
                Role::ExecError
            };
            boxed(source, segment.kind.as_str(), width, style(theme, role))
        }
    }
}

/// A think: its budget, then its text behind a gutter.
fn think(
    live: &LiveView,
    transcript: &Transcript,
    source: &str,
    index: usize,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let gutter = style(theme, Role::ThinkGutter);
    let budget = live
        .last_budget()
        .filter(|b| b.segment == index)
        .or_else(|| live.budgets().into_iter().find(|b| b.segment == index));
    let words = transcript.live_words(index);
    let (head, role) = match budget {
        Some(b) if b.exceeded() => (
            format!("think · {words}/{} words · over budget", b.allowed),
            Role::BudgetExceeded,
        ),
        Some(b) => (
            format!("think · {words}/{} words", b.allowed),
            Role::BudgetOk,
        ),
        None => (format!("think · {words} words"), Role::BudgetOk),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(THINK_GUTTER, gutter),
        Span::styled(
            text::fit(&head, width.saturating_sub(2)).into_owned(),
            style(theme, role),
        ),
    ])];
    gutter_rows(
        &mut lines,
        source.trim_matches('\n'),
        width,
        (THINK_GUTTER, gutter),
        style(theme, Role::Think),
    );
    lines
}

/// A code block: its fence's info, then its lines behind a gutter.
fn code(segment: &Segment, source: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let role = if segment.is_executable() {
        Role::CodeExecutable
    } else {
        Role::Code
    };
    let info = segment.fence.as_ref().map_or("", |f| f.info.as_str());
    let head = format!("```{info}");
    let mut lines = vec![Line::styled(
        text::fit(&head, width).into_owned(),
        style(theme, role),
    )];
    gutter_rows(
        &mut lines,
        source.trim_end_matches('\n'),
        width,
        (CODE_GUTTER, style(theme, role)),
        style(theme, Role::Code),
    );
    lines
}

/// Each line of `source` wrapped to `width` less the gutter, behind it.
fn gutter_rows(
    lines: &mut Vec<Line<'static>>,
    source: &str,
    width: usize,
    (gutter, gutter_style): (&'static str, Style),
    body: Style,
) {
    let room = width.saturating_sub(text::width(gutter)).max(1);
    for line in source.split('\n') {
        let line = printable(line);
        for row in text::wrap(&[(line.as_ref(), ())], room) {
            let mut spans = vec![Span::styled(gutter, gutter_style)];
            spans.extend(row.into_iter().map(|(t, ())| Span::styled(t, body)));
            lines.push(Line::from(spans));
        }
    }
}

/// `source` in a box titled `title`, `width` wide.
fn boxed(source: &str, title: &str, width: usize, body: Style) -> Vec<Line<'static>> {
    let inner = width.saturating_sub(4).max(1);
    let rule = |left: &str, label: &str, right: &str| {
        let fill = width.saturating_sub(text::width(label) + 2);
        Line::styled(format!("{left}{label}{}{right}", "─".repeat(fill)), body)
    };
    let mut lines = vec![rule("╭", &format!("─ {title} "), "╮")];
    for line in source.trim_matches('\n').split('\n') {
        let line = printable(line);
        for row in text::wrap(&[(line.as_ref(), ())], inner) {
            let cells: String = row.into_iter().map(|(t, ())| t).collect();
            lines.push(Line::styled(
                format!("│ {} │", text::pad(&cells, inner)),
                body,
            ));
        }
    }
    lines.push(rule("╰", "", "╯"));
    lines
}
