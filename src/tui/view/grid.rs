//! The grid: samples × variants, each cell a sample's score under a variant. Only the rows and
//! columns in sight are drawn; the cells were worked out when the layer opened.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::app::{App, Layer};
use crate::tui::grid::{Cell, GridRow, GridView};
use crate::tui::style::style;
use crate::tui::text::{self, fit, pad};
use crate::tui::theme::{Role, Theme};

/// Cells each variant's column takes (one of them a space between columns).
const COLUMN: usize = 16;
/// The sample id column's narrowest and widest.
const ID_MIN: usize = 7;
const ID_MAX: usize = 20;
/// The narrowest room worth showing the question in, after the columns.
const QUESTION_MIN: usize = 10;
/// Header rows: version, teacher, compliance.
const HEADER_ROWS: usize = 3;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &mut App, layer: usize) {
    let theme = app.settings.theme.clone();
    let Some(Layer::Grid(grid)) = app.layers.get(layer) else {
        return;
    };
    let block_title = {
        let mut title = vec![
            Span::styled(" Grid ", style(&theme, Role::Title)),
            Span::raw(format!(
                "{} × {} · {} ",
                counted(grid.order.len(), "sample"),
                counted(grid.variants.len(), "variant"),
                grid.sort.as_str()
            )),
        ];
        if grid.only_flips {
            title.push(Span::styled("only flips ", style(&theme, Role::KeyHint)));
        }
        Line::from(title)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style(&theme, Role::BorderFocused))
        .title(block_title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let body_rows = usize::from(inner.height).saturating_sub(HEADER_ROWS);

    // Keep the cursor in sight (views may move scroll offsets).
    let Some(Layer::Grid(grid)) = app.layers.get_mut(layer) else {
        return;
    };
    if grid.row < grid.row_offset {
        grid.row_offset = grid.row;
    } else if body_rows > 0 && grid.row >= grid.row_offset + body_rows {
        grid.row_offset = grid.row + 1 - body_rows;
    }
    let visible: Vec<usize> = grid
        .order
        .iter()
        .skip(grid.row_offset)
        .take(body_rows)
        .copied()
        .collect();
    let id_width = visible
        .iter()
        .filter_map(|&r| grid.rows.get(r))
        .filter_map(|row| app.samples.get(row.sample))
        .map(|s| text::width(&s.id))
        .max()
        .unwrap_or(0)
        .clamp(ID_MIN, ID_MAX)
        + 1;
    let columns = (width.saturating_sub(id_width) / COLUMN).max(1);
    if grid.col < grid.col_offset {
        grid.col_offset = grid.col;
    } else if grid.col >= grid.col_offset + columns {
        grid.col_offset = grid.col + 1 - columns;
    }
    let Some(Layer::Grid(grid)) = app.layers.get(layer) else {
        return;
    };
    let shown_cols: Vec<usize> =
        (grid.col_offset..grid.variants.len().min(grid.col_offset + columns)).collect();
    let mut lines: Vec<Line<'static>> = Vec::with_capacity(HEADER_ROWS + visible.len());
    let frame_of = Columns {
        shown: &shown_cols,
        id_width,
        question_width: width.saturating_sub(id_width + shown_cols.len() * COLUMN),
        more: (
            grid.col_offset > 0,
            grid.col_offset + columns < grid.variants.len(),
        ),
    };
    for row in 0..HEADER_ROWS {
        lines.push(header(app, grid, &frame_of, row, &theme));
    }
    for (position, &r) in visible.iter().enumerate() {
        if let Some(row) = grid.rows.get(r) {
            let cursor_row = grid.row_offset + position == grid.row;
            lines.push(body_row(app, grid, &frame_of, row, cursor_row, &theme));
        }
    }
    if grid.order.is_empty() {
        lines.push(Line::from(Span::styled(
            if grid.only_flips {
                "no sample changes its pass status between the first column and this one"
            } else {
                "no samples"
            },
            style(&theme, Role::Muted),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `n` and the noun, plural unless one.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The columns in sight.
struct Columns<'a> {
    shown: &'a [usize],
    id_width: usize,
    /// What is left beside the columns, for the question (nothing when too narrow).
    question_width: usize,
    /// Columns off to the left, to the right.
    more: (bool, bool),
}

/// Header row `row`: each variant's version (the cursor's column marked), teacher, compliance.
fn header(
    app: &App,
    grid: &GridView,
    columns: &Columns<'_>,
    row: usize,
    theme: &Theme,
) -> Line<'static> {
    let corner = match row {
        0 => format!(
            "{}{}",
            if columns.more.0 { "◀" } else { "" },
            if columns.more.1 { "▶" } else { "" }
        ),
        1 => "teacher".to_owned(),
        _ => "passing".to_owned(),
    };
    let mut spans = vec![Span::styled(
        pad(&fit(&corner, columns.id_width - 1), columns.id_width),
        style(theme, Role::Muted),
    )];
    for &col in columns.shown {
        let variant = &grid.variants[col];
        let (label, role) = match row {
            0 => {
                let mark = if variant.current { "● " } else { "" };
                (
                    format!("{mark}{}", app.version_name(&variant.prompt_id)),
                    if col == grid.col {
                        Role::BorderFocused
                    } else {
                        Role::Title
                    },
                )
            }
            1 => (
                format!("{}/{}", variant.provider, variant.model),
                Role::Muted,
            ),
            _ => (
                grid.compliance
                    .get(col)
                    .copied()
                    .flatten()
                    .map_or_else(|| "–".to_owned(), |c| format!("{:.0}%", c * 100.0)),
                Role::KeyHint,
            ),
        };
        spans.push(Span::styled(
            pad(&fit(&label, COLUMN - 1), COLUMN),
            style(theme, role),
        ));
    }
    Line::from(spans)
}

/// One sample's row: its id, then its cells in sight (the cursor's highlighted).
fn body_row(
    app: &App,
    grid: &GridView,
    columns: &Columns<'_>,
    row: &GridRow,
    cursor_row: bool,
    theme: &Theme,
) -> Line<'static> {
    let id = app
        .samples
        .get(row.sample)
        .map(|s| s.id.as_str())
        .unwrap_or_default();
    let mut spans = vec![Span::styled(
        pad(&fit(id, columns.id_width - 1), columns.id_width),
        style(
            theme,
            if cursor_row {
                Role::Title
            } else {
                Role::Answer
            },
        ),
    )];
    for &col in columns.shown {
        let cell = row.cells.get(col).copied().unwrap_or_default();
        let role = if cursor_row && col == grid.col {
            Role::Selection
        } else {
            cell_role(&cell)
        };
        spans.push(Span::styled(
            pad(&fit(&cell.label(), COLUMN - 1), COLUMN - 1),
            style(theme, role),
        ));
        spans.push(Span::raw(" "));
    }
    if columns.question_width >= QUESTION_MIN
        && let Some(sample) = app.samples.get(row.sample)
    {
        let question = sample.question.lines().next().unwrap_or_default();
        spans.push(Span::styled(
            fit(question, columns.question_width).into_owned(),
            style(theme, Role::Muted),
        ));
    }
    Line::from(spans)
}

fn cell_role(cell: &Cell) -> Role {
    match (cell.score.passed, cell.score.runs) {
        (_, 0) => Role::Muted,
        (p, n) if p == n => Role::RulePass,
        (0, _) => Role::RuleFail,
        _ => Role::KeyHint,
    }
}
