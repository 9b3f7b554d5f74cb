//! One frame: the scroll position settled, the visible code coloured, the visible rows drawn.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::LiveView;
use super::draw::{Line, Palette};
use super::layout::{GUTTER, Part, Render};
use super::wrap::{Wrap, WrapMode};
use crate::transcript::SegmentKind;
use crate::tui::highlight::Background;
use crate::tui::theme::Theme;

impl LiveView {
    /// Draws the visible rows of the transcript into `area`.
    pub fn render(&mut self, area: Rect, buf: &mut Buffer, theme: &Theme) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let width = usize::from(area.width);
        let height = usize::from(area.height);
        let resized = self.layout.width() != width;
        self.layout.sync(
            &self.transcript,
            self.open,
            width,
            &Render::new(theme),
            &self.turns,
        );
        self.sync_reasoning(width, resized);

        let above = self.reasoning_rows();
        let max = (above + self.layout.rows()).saturating_sub(height);
        let found = match self.scroll.anchor {
            Some(anchor) if resized && !self.scroll.follow => {
                self.layout.find(anchor, &self.transcript)
            }
            _ => None,
        };
        let scroll = &mut self.scroll;
        if let Some(row) = found {
            scroll.offset = above + row;
        }
        scroll.offset = if scroll.follow {
            max
        } else {
            scroll.offset.min(max)
        };
        scroll.max = max;
        let offset = scroll.offset;
        scroll.anchor = offset
            .checked_sub(above)
            .and_then(|row| self.layout.anchor(row, &self.transcript));

        let background = Background::of(theme);
        let mut rows = self.rows_from(offset);
        let mut last = None;
        for _ in 0..height {
            match rows.next(self) {
                Some(Place::Block(i, _)) if last != Some(i) => {
                    last = Some(i);
                    self.layout.highlight(i, &self.transcript, background);
                }
                Some(_) => {}
                None => break,
            }
        }

        let palette = Palette::new(theme);
        let mut rows = self.rows_from(offset);
        for y in area.top()..area.bottom() {
            let mut line = Line { buf, area, y };
            line.clear();
            if let Some(row) = rows.next(self) {
                self.draw(&mut line, row, &palette);
            }
        }
    }

    fn sync_reasoning(&mut self, width: usize, resized: bool) {
        let reasoning = &mut self.reasoning;
        if reasoning.text.is_empty() {
            return;
        }
        if resized || reasoning.wrap.is_none() {
            reasoning.wrap = Some(Wrap::new(width.saturating_sub(GUTTER), WrapMode::Prose));
        }
        if let Some(wrap) = &mut reasoning.wrap {
            // Reasoning may come at any time: its wrap never closes, its last row stays tentative.
            wrap.update(&reasoning.text, false);
        }
    }

    fn reasoning_rows(&self) -> usize {
        match &self.reasoning.wrap {
            _ if self.reasoning.text.is_empty() => 0,
            Some(wrap) if self.reasoning.expanded => 1 + wrap.len(),
            _ => 1,
        }
    }

    fn rows_from(&self, offset: usize) -> RowWalk {
        let reasoning = self.reasoning_rows();
        match offset.checked_sub(reasoning) {
            None => RowWalk {
                reasoning: Some(offset),
                block: 0,
                row: 0,
            },
            Some(row) => {
                let (block, row) = self.layout.locate(row).unwrap_or((usize::MAX, 0));
                RowWalk {
                    reasoning: None,
                    block,
                    row,
                }
            }
        }
    }

    fn draw(&self, line: &mut Line<'_>, row: Place, palette: &Palette) {
        match row {
            Place::ReasoningHeader => {
                let (mark, action) = if self.reasoning.expanded {
                    ("▾", "collapse")
                } else {
                    ("▸", "expand")
                };
                let words = self.reasoning.words.total();
                let header = format!("{mark} reasoning · {words} words (z to {action})");
                line.label(0, &header, palette.reasoning);
            }
            Place::Reasoning(r) => {
                if let Some((wrap, row)) = self
                    .reasoning
                    .wrap
                    .as_ref()
                    .and_then(|w| Some((w, w.row(r)?)))
                {
                    line.text(GUTTER, &self.reasoning.text, row, wrap.width(), |_| {
                        palette.reasoning
                    });
                }
            }
            Place::Block(i, k) => self.draw_block_row(line, i, k, palette),
        }
    }

    fn draw_block_row(&self, line: &mut Line<'_>, i: usize, k: usize, palette: &Palette) {
        let (Some(block), Some(segment)) =
            (self.layout.blocks.get(i), self.transcript.segments.get(i))
        else {
            return;
        };
        let text = self.transcript.text(segment);
        let text_rows = block.text_rows(segment);
        let width = block.wrap.width();
        let part = block.part(k, text_rows);
        match (segment.kind, part) {
            (_, Part::Interjection) => {
                let said = block.interjection.as_deref().unwrap_or_default();
                line.label(0, &format!("› {said}"), palette.interjection);
            }
            (SegmentKind::Answer, Part::Text(r)) if block.rendered().is_some() => {
                if let Some(rendered) = block.rendered().and_then(|rows| rows.get(r)) {
                    line.styled(0, rendered);
                }
            }
            (SegmentKind::Answer, Part::Text(r)) => {
                if let Some(row) = block.wrap.row(r) {
                    line.text(0, text, row, width, |_| palette.answer);
                }
            }
            (SegmentKind::Think, Part::Text(r)) => {
                line.label(0, "▎", palette.gutter);
                if let Some(row) = block.wrap.row(r) {
                    line.text(GUTTER, text, row, width, |_| palette.think);
                }
            }
            (SegmentKind::Think, _) => {
                line.label(0, "▎", palette.gutter);
                self.draw_badge(line, i, palette);
            }
            (SegmentKind::Code, Part::Header) => {
                let fence = segment.fence.as_ref();
                let info = fence.map_or("", |f| f.info.as_str());
                if segment.is_executable() {
                    line.label(0, &format!("▶ {info}"), palette.executable);
                } else {
                    let info = if info.is_empty() { "code" } else { info };
                    line.label(0, &format!("▷ {info}"), palette.muted);
                }
            }
            (SegmentKind::Code, Part::Text(r)) => {
                if let Some(row) = block.wrap.row(r) {
                    let highlight = block.highlight.as_ref().filter(|h| !h.is_plain());
                    let mut cursor = highlight.map(|h| h.cursor(row.start));
                    line.text(GUTTER, text, row, width, |at| {
                        cursor
                            .as_mut()
                            .and_then(|c| c.style(at))
                            .unwrap_or(palette.code)
                    });
                }
            }
            (kind, part) => {
                let (style, label) = if kind == SegmentKind::ExecError {
                    (palette.error, "error")
                } else {
                    (palette.result, "result")
                };
                draw_box_row(line, part, text, &block.wrap, style, label);
            }
        }
    }

    fn draw_badge(&self, line: &mut Line<'_>, i: usize, palette: &Palette) {
        let used = self.transcript.live_words(i);
        let judged = self.rules.config().think_budget.enabled;
        let label = match self.budgets.allowed(i) {
            Some(allowed) if judged => {
                let budget = self.budget(i, allowed);
                if budget.exceeded() {
                    (
                        format!(" think {used}/{allowed} · over budget "),
                        palette.exceeded,
                    )
                } else {
                    (format!(" think {used}/{allowed} "), palette.ok)
                }
            }
            _ => (format!(" think · {used} words "), palette.muted),
        };
        line.label(GUTTER - 1, &label.0, label.1);
    }
}

/// A row of a result box: `┌─ result ──┐`, `│ text │`, `└──────┘`.
fn draw_box_row(
    line: &mut Line<'_>,
    part: Part,
    text: &str,
    wrap: &Wrap,
    style: Style,
    label: &str,
) {
    let right = line.width().saturating_sub(1);
    match part {
        Part::Text(r) => {
            line.label(0, "│", style);
            if let Some(row) = wrap.row(r) {
                line.text(2, text, row, wrap.width(), |_| style);
            }
            line.label(right, "│", style);
        }
        Part::Bottom => {
            line.label(0, "└", style);
            line.fill(1, right, "─", style);
            line.label(right, "┘", style);
        }
        _ => {
            let end = line.label(0, &format!("┌─ {label} "), style);
            line.fill(end, right, "─", style);
            line.label(right, "┐", style);
        }
    }
}

/// What a screen row shows.
#[derive(Clone, Copy, Debug)]
enum Place {
    ReasoningHeader,
    Reasoning(usize),
    /// Row `k` of block `i`.
    Block(usize, usize),
}

/// Walks the rows from the first visible one on without searching again.
struct RowWalk {
    /// The next reasoning row, while in the reasoning.
    reasoning: Option<usize>,
    block: usize,
    row: usize,
}

impl RowWalk {
    fn next(&mut self, view: &LiveView) -> Option<Place> {
        if let Some(r) = self.reasoning {
            if r < view.reasoning_rows() {
                self.reasoning = Some(r + 1);
                return Some(match r {
                    0 => Place::ReasoningHeader,
                    r => Place::Reasoning(r - 1),
                });
            }
            self.reasoning = None;
            let (block, row) = view.layout.locate(0).unwrap_or((usize::MAX, 0));
            (self.block, self.row) = (block, row);
        }
        let layout = &view.layout;
        while self.block < layout.blocks.len() {
            let rows = layout.start(self.block + 1) - layout.start(self.block);
            if self.row < rows {
                let place = Place::Block(self.block, self.row);
                self.row += 1;
                return Some(place);
            }
            self.block += 1;
            self.row = 0;
        }
        None
    }
}
