//! The dialogs of the prompt engineer's loop: saving a labelled version, running the filtered
//! samples N times, restoring a version over unsaved edits.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::dialogs::{choice_style, dialog_block, popup};
use crate::tui::app::{App, RunDialog, RunWhich, VersionDialog, VersionField};
use crate::tui::style::style;
use crate::tui::theme::Role;

/// The widest these dialogs get.
const DIALOG_WIDTH: u16 = 64;

/// A dialog of `lines`, wrapped by display width, in the middle of `area`.
fn show(frame: &mut Frame<'_>, area: Rect, app: &App, title: &str, lines: Vec<Line<'static>>) {
    let width = DIALOG_WIDTH.min(area.width);
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = body.line_count(width.saturating_sub(2)) + 2;
    let rect = popup(frame, area, width, u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(body.block(dialog_block(app, title)), rect);
}

pub(super) fn save_version(frame: &mut Frame<'_>, area: Rect, app: &App, dialog: &VersionDialog) {
    let theme = &app.settings.theme;
    let field = |name: &str, value: &str, which: VersionField| {
        let focused = dialog.field == which;
        let cursor = if focused { "▏" } else { "" };
        Line::from(vec![
            Span::styled(format!("{name:<6}"), style(theme, Role::Muted)),
            Span::styled(
                format!("{}{cursor}", crate::tui::text::printable(value)),
                choice_style(theme, focused),
            ),
        ])
    };
    let short = dialog
        .prompt_id
        .get(..crate::tui::app::SHORT_ID)
        .unwrap_or(&dialog.prompt_id);
    let lines = vec![
        Line::from(format!("Save the prompt as version {short}:")),
        Line::default(),
        field("Label", &dialog.label, VersionField::Label),
        field("Note", &dialog.note, VersionField::Note),
        Line::default(),
        Line::from(Span::styled(
            "Tab switches · Enter saves · Esc cancels the save",
            style(theme, Role::KeyHint),
        )),
    ];
    show(frame, area, app, " Save prompt version ", lines);
}

pub(super) fn run_many(frame: &mut Frame<'_>, area: Rect, app: &App, dialog: RunDialog) {
    let theme = &app.settings.theme;
    let shown = app.visible.len();
    let picked = app.batch_samples(dialog.which).len();
    let runs = picked * dialog.count;
    let mut which = vec![Span::styled("which: ", style(theme, Role::Muted))];
    for (i, choice) in RunWhich::ALL.into_iter().enumerate() {
        if i > 0 {
            which.push(Span::raw(" / "));
        }
        // Brackets as well as the highlight: chosen shows without colour too.
        let chosen = choice == dialog.which;
        let text = if chosen {
            format!("[{}]", choice.as_str())
        } else {
            choice.as_str().to_owned()
        };
        which.push(Span::styled(text, choice_style(theme, chosen)));
    }
    let samples = if shown == 1 { "sample" } else { "samples" };
    let lines = vec![
        Line::from(format!("Run {shown} filtered {samples}")),
        Line::default(),
        Line::from(vec![
            Span::styled("runs per sample: ", style(theme, Role::Muted)),
            Span::styled(format!("[{}]", dialog.count), choice_style(theme, true)),
        ]),
        Line::from(which),
        Line::default(),
        Line::from(Span::styled(
            format!(
                "{runs} run{} will be queued ({picked} × {})",
                if runs == 1 { "" } else { "s" },
                dialog.count
            ),
            style(theme, if runs == 0 { Role::Error } else { Role::Title }),
        )),
        Line::default(),
        Line::from(Span::styled(
            "0-9 count · ←/→ which · Enter queue · Esc cancel",
            style(theme, Role::KeyHint),
        )),
    ];
    show(frame, area, app, " Run the filtered samples ", lines);
}

pub(super) fn confirm_restore(frame: &mut Frame<'_>, area: Rect, app: &App, prompt_id: &str) {
    let theme = &app.settings.theme;
    let name = app.version_name(prompt_id);
    let lines = vec![
        Line::from(Span::styled(
            format!("The prompt editor has unsaved changes: restoring {name} replaces them."),
            style(theme, Role::Edited),
        )),
        Line::default(),
        Line::from(Span::styled(
            "y restore · any other key keeps them",
            style(theme, Role::KeyHint),
        )),
    ];
    show(frame, area, app, " Restore? ", lines);
}
