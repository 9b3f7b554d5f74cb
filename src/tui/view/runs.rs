//! The run list: a sample's runs, newest first, over the main screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::{App, RunList};
use crate::tui::runs::{decision_mark, rule_mark};
use crate::tui::style::style;
use crate::tui::text::{fit, pad};
use crate::tui::theme::Role;

/// The widest the list gets.
const WIDTH: u16 = 96;
/// Cells of the fixed columns: mark, number, version, status, rule, decision, two measures.
const FIXED: usize = 2 + 4 + 9 + 11 + 2 + 2 + 7 + 7;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, list: &RunList) {
    let theme = &app.settings.theme;
    let height = u16::try_from(list.rows.len() + 4).unwrap_or(u16::MAX);
    let rect = area.centered(
        Constraint::Length(WIDTH.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    frame.render_widget(Clear, rect);
    let sample = app
        .samples
        .get(list.sample)
        .map(|s| s.id.as_str())
        .unwrap_or_default();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style(theme, Role::BorderFocused))
        .title(Span::styled(
            format!(" Runs of {sample} · Enter shows · Space marks · v side by side "),
            style(theme, Role::Title),
        ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let width = usize::from(inner.width);
    let teacher_width = width.saturating_sub(FIXED).max(1);
    let mut lines = vec![Line::from(Span::styled(
        fit(
            &format!(
                "  {}{}{}{}{} {} {}{}",
                pad("#", 4),
                pad("version", 9),
                pad("teacher", teacher_width),
                pad("status", 11),
                "✓",
                "d",
                pad(" first", 7),
                pad(" think", 7),
            ),
            width,
        )
        .into_owned(),
        style(theme, Role::Muted),
    ))];
    let total = list.rows.len();
    let shown = app.shown_run_index();
    for (position, row) in list.rows.iter().enumerate() {
        let Some(run) = app.runs.get(row.run) else {
            continue;
        };
        let mark = match (list.marked == Some(position), shown == Some(row.run)) {
            (true, _) => "● ",
            (false, true) => "▸ ",
            _ => "  ",
        };
        let teacher = format!("{}/{}", run.teacher.provider, run.teacher.model);
        let text = format!(
            "{mark}{}{}{}{}{} {} {}{}",
            pad(&format!("{}", total - position), 4),
            pad(&app.version_name(&run.prompt_id), 9),
            pad(
                &fit(&teacher, teacher_width.saturating_sub(1)),
                teacher_width
            ),
            pad(run.status.as_str(), 11),
            rule_mark(app, run),
            decision_mark(app, run),
            pad(&format!("{:>6}", row.measures.words_before_first_think), 7),
            pad(&format!("{:>6}", row.measures.longest_think), 7),
        );
        let role = if position == list.selected {
            Role::Selection
        } else if run.is_complete() && app.text_passes(run) {
            Role::Answer
        } else {
            Role::Muted
        };
        lines.push(Line::from(Span::styled(
            fit(&text, width).into_owned(),
            style(theme, role),
        )));
    }
    lines.push(Line::from(Span::styled(
        fit(
            "first: answer words before the first think · think: the longest think's words",
            width,
        )
        .into_owned(),
        style(theme, Role::Muted),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}
