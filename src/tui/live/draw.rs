//! Drawing rows into the buffer: the text of a row cell by cell (wide characters take two
//! cells), and the chrome around it: think gutters and badges, code headers, result boxes.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::wrap::{Glyph, Row, cells};
use crate::tui::style::style;
use crate::tui::theme::{Role, Theme};

/// The theme's styles for the transcript, looked up once per frame.
#[derive(Clone, Copy, Debug)]
pub(super) struct Palette {
    pub answer: Style,
    pub muted: Style,
    pub think: Style,
    pub gutter: Style,
    pub ok: Style,
    pub exceeded: Style,
    pub code: Style,
    pub executable: Style,
    pub result: Style,
    pub error: Style,
    pub reasoning: Style,
    /// The user's words between the turns of an interrupted run.
    pub interjection: Style,
}

impl Palette {
    pub(super) fn new(theme: &Theme) -> Self {
        Self {
            answer: style(theme, Role::Answer),
            muted: style(theme, Role::Muted),
            think: style(theme, Role::Think),
            gutter: style(theme, Role::ThinkGutter),
            ok: style(theme, Role::BudgetOk),
            exceeded: style(theme, Role::BudgetExceeded),
            code: style(theme, Role::Code),
            executable: style(theme, Role::CodeExecutable),
            result: style(theme, Role::ExecResult),
            error: style(theme, Role::ExecError),
            reasoning: style(theme, Role::Reasoning),
            interjection: style(theme, Role::KeyHint).add_modifier(ratatui::style::Modifier::BOLD),
        }
    }
}

/// One row of the area being drawn.
pub(super) struct Line<'a> {
    pub buf: &'a mut Buffer,
    pub area: Rect,
    pub y: u16,
}

impl Line<'_> {
    /// Blanks the row.
    pub(super) fn clear(&mut self) {
        for x in self.area.left()..self.area.right() {
            if let Some(cell) = self.buf.cell_mut((x, self.y)) {
                cell.reset();
            }
        }
    }

    /// Draws `row` of `text` (wrapped `width` wide) from column `col` of the area, styling each
    /// grapheme by its byte offset; returns the column after it. Nothing is drawn past the
    /// area's right edge, and a wide character that would cross it is left out whole.
    pub(super) fn text(
        &mut self,
        col: usize,
        text: &str,
        row: Row,
        width: usize,
        mut style_at: impl FnMut(usize) -> Style,
    ) -> usize {
        let mut end = col;
        for placed in cells(text, row, width) {
            let from = col + placed.col;
            if from + placed.width > usize::from(self.area.width) {
                break;
            }
            let style = style_at(placed.at);
            match placed.glyph {
                Glyph::Mark(_) => {
                    let symbol = &text[placed.at..placed.at + placed.len];
                    self.put(from, symbol, style);
                    for c in from + 1..from + placed.width {
                        self.hide(c);
                    }
                }
                _ => {
                    for c in from..from + placed.width {
                        self.put(c, " ", style);
                    }
                }
            }
            end = from + placed.width;
        }
        end
    }

    /// Draws a rendered row from column `col`, cut at the area's right edge.
    pub(super) fn styled(&mut self, col: usize, row: &ratatui::text::Line<'_>) {
        let Ok(offset) = u16::try_from(col) else {
            return;
        };
        let x = self.area.x.saturating_add(offset);
        let room = self.area.right().saturating_sub(x);
        self.buf.set_line(x, self.y, row, room);
    }

    /// Draws a short piece of chrome from column `col`; returns the column after it.
    pub(super) fn label(&mut self, col: usize, s: &str, style: Style) -> usize {
        let row = Row {
            start: 0,
            end: s.len(),
        };
        self.text(col, s, row, usize::MAX, |_| style)
    }

    /// Repeats `symbol` (one column wide) over columns `from..to`.
    pub(super) fn fill(&mut self, from: usize, to: usize, symbol: &str, style: Style) {
        for c in from..to.min(usize::from(self.area.width)) {
            self.put(c, symbol, style);
        }
    }

    pub(super) fn width(&self) -> usize {
        usize::from(self.area.width)
    }

    fn put(&mut self, col: usize, symbol: &str, style: Style) {
        if let Some(cell) = self.cell(col) {
            cell.set_symbol(symbol).set_style(style);
        }
    }

    /// A cell covered by the wide character to its left.
    fn hide(&mut self, col: usize) {
        if let Some(cell) = self.cell(col) {
            cell.reset();
        }
    }

    fn cell(&mut self, col: usize) -> Option<&mut ratatui::buffer::Cell> {
        let x = u16::try_from(col)
            .ok()
            .and_then(|c| self.area.x.checked_add(c))?;
        if x >= self.area.right() {
            return None;
        }
        self.buf.cell_mut((x, self.y))
    }
}
