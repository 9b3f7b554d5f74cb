//! Screens: draw the state, never change what it means (views may only move scroll offsets and
//! fill render caches).

mod demo;
mod dialogs;
mod grid;
mod panes;
mod prompt_dialogs;
mod runs;
mod samples;
mod side;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Layer, Pane};
use super::keymap::{Action, Scope};
use super::style::style;
use crate::tui::theme::Role;

/// Narrowest and widest the samples pane gets.
const SAMPLES_MIN: u16 = 18;
const SAMPLES_MAX: u16 = 40;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    // Presentation mode takes the whole screen; only the help may sit over it.
    if let Some(i) = app.layers.iter().rposition(|l| matches!(l, Layer::Demo(_))) {
        demo::draw(frame, frame.area(), app, i);
        if let Some(Layer::Help { scroll }) = app.layers.last() {
            dialogs::help(frame, frame.area(), app, *scroll);
        }
        return;
    }
    let [main, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(frame.area());
    let full = app.layers.iter().rposition(|l| {
        matches!(
            l,
            Layer::PromptEditor
                | Layer::History(_)
                | Layer::EditOutput(_)
                | Layer::Compare(_)
                | Layer::Grid(_)
        )
    });
    match full {
        Some(i) if matches!(app.layers[i], Layer::Compare(_)) => side::draw(frame, main, app, i),
        Some(i) if matches!(app.layers[i], Layer::Grid(_)) => grid::draw(frame, main, app, i),
        Some(i) => dialogs::full_screen(frame, main, app, i),
        None => main_screen(frame, main, app),
    }
    status_bar(frame, status, app);
    if let Some(top) = app.layers.last() {
        match top {
            Layer::Help { scroll } => dialogs::help(frame, main, app, *scroll),
            Layer::Export(dialog) => dialogs::export(frame, main, app, dialog),
            Layer::ConfirmQuit => dialogs::confirm_quit(frame, main, app),
            Layer::Consent => dialogs::consent(frame, main, app),
            Layer::Reject(dialog) => dialogs::reject(frame, main, app, dialog),
            Layer::Bulk(dialog) => dialogs::bulk(frame, main, app, dialog),
            Layer::Question { scroll } => dialogs::question(frame, main, app, *scroll),
            Layer::Interject { text, .. } => dialogs::interject(frame, main, app, text),
            Layer::Runs(list) => runs::draw(frame, main, app, list),
            Layer::SaveVersion(dialog) => prompt_dialogs::save_version(frame, main, app, dialog),
            Layer::RunMany(dialog) => prompt_dialogs::run_many(frame, main, app, *dialog),
            Layer::ConfirmRestore { prompt_id, .. } => {
                prompt_dialogs::confirm_restore(frame, main, app, prompt_id);
            }
            Layer::Filter
            | Layer::Demo(_)
            | Layer::PromptEditor
            | Layer::History(_)
            | Layer::EditOutput(_)
            | Layer::Compare(_)
            | Layer::Grid(_) => {}
        }
    }
}

fn main_screen(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
    let width = (area.width * 3 / 10).clamp(SAMPLES_MIN, SAMPLES_MAX);
    let [left, right] =
        Layout::horizontal([Constraint::Length(width), Constraint::Min(1)]).areas(area);
    samples::draw(frame, left, app);
    let rules = u16::try_from(app.rules().enabled().count())
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .min(right.height / 3)
        .max(3);
    let [live, rules_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(rules)]).areas(right);
    panes::live(frame, live, app);
    panes::rules(frame, rules_area, app);
}

/// A bordered block whose border shows focus.
pub(super) fn pane_block<'a>(app: &App, pane: Pane, title: Line<'a>) -> Block<'a> {
    let theme = &app.settings.theme;
    let focused = app.focus == pane && app.layers.is_empty();
    Block::default()
        .borders(Borders::ALL)
        .border_style(style(
            theme,
            if focused {
                Role::BorderFocused
            } else {
                Role::Border
            },
        ))
        .title(title)
}

fn status_bar(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = &app.settings.theme;
    let bar = style(theme, Role::StatusBar);
    let [info, hints] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let teacher = &app.settings.teacher;
    let mut spans = Vec::new();
    if teacher.replayed {
        spans.push(Span::styled(" REPLAY ", style(theme, Role::ReplayBadge)));
        spans.push(Span::raw(" recorded answers, offline"));
    } else {
        spans.push(Span::styled(
            format!(" {} ", teacher.provider),
            style(theme, Role::Title),
        ));
        spans.push(Span::raw(format!(" {}", teacher.model)));
    }
    let stats = &app.stats;
    let mut parts = Vec::new();
    // The selected run in flight shows its own first-token time.
    let live_ttft = app
        .active_for(app.selected)
        .and_then(|(_, a)| a.first_token);
    if let Some(ttft) = live_ttft.or(stats.last_first_token) {
        parts.push(format!("ttft {:.2}s", ttft.as_secs_f64()));
    }
    // `≈`: estimated from the text, the provider sent no usage.
    let about = |estimated: bool| if estimated { "≈" } else { "" };
    if let Some(tps) = stats.last_tokens_per_sec {
        parts.push(format!("{}{tps:.1} tok/s", about(stats.speed_estimated)));
    }
    parts.push(format!(
        "{}{} tok",
        about(stats.tokens_estimated),
        stats.tokens
    ));
    parts.push(format!("runs {}", stats.runs));
    if !app.active.is_empty() {
        parts.push(format!("running {}", app.active.len()));
    }
    if app.queue.total > 0 && app.queue.done < app.queue.total {
        parts.push(format!("queue {}/{}", app.queue.done, app.queue.total));
    }
    parts.push(format!("exec {}", exec_label(app)));
    // After what the sandbox lacks: that matters more when the bar is cut.
    parts.push(prompt_label(app));
    if app.saving > 0 {
        parts.push("saving…".to_owned());
    }
    spans.push(Span::raw(format!(" · {}", parts.join(" · "))));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), info);

    let line = match &app.notice {
        Some(notice) => Line::from(Span::styled(
            notice.text.clone(),
            if notice.error {
                style(theme, Role::Error)
            } else {
                Style::default()
            },
        )),
        None => hint_line(app, usize::from(hints.width)),
    };
    frame.render_widget(Paragraph::new(line), hints);
}

/// The version runs use now, by its label, and whether the editor holds changes to it.
fn prompt_label(app: &App) -> String {
    let name = app.version_name(&app.prompt.version.id);
    if app.prompt.dirty {
        format!("prompt {name} (edited)")
    } else {
        format!("prompt {name}")
    }
}

fn exec_label(app: &App) -> String {
    let mode = app.settings.exec.as_str();
    let label = match (app.settings.exec, app.consent) {
        (crate::exec::ExecMode::Off, _) => return mode.to_owned(),
        (_, Some(true)) => mode.to_owned(),
        (_, Some(false)) => format!("{mode} (not allowed here)"),
        (_, None) => format!("{mode} (asks first)"),
    };
    // What the sandbox lacks here, so that nobody has to open the dialog to know.
    match &app.sandbox {
        Some(check) if !check.works() => format!("{label} · sandbox: no python"),
        Some(check) if !check.lacking(&app.settings.require).is_empty() => {
            format!("{label} · sandbox: refused by require")
        }
        Some(check) if !check.missing.is_empty() => {
            format!("{label} · sandbox: {} missing", check.missing.len())
        }
        _ => label,
    }
}

/// Key hints for what the user is looking at.
///
/// The keys are listed in the order given; when they do not all fit in `room` columns, the
/// main screen's least needed ones are left out first ([`MAIN_HINTS_DROPPED_FIRST`]).
fn hint_line(app: &App, room: usize) -> Line<'static> {
    let theme = &app.settings.theme;
    let (scope, actions): (Scope, &[Action]) = match app.layers.last() {
        Some(Layer::PromptEditor | Layer::EditOutput(_) | Layer::SaveVersion(_)) => (
            Scope::Editor,
            &[Action::Save, Action::Close, Action::Undo, Action::Redo],
        ),
        Some(Layer::History(_)) => (
            Scope::History,
            &[
                Action::Down,
                Action::MarkDiff,
                Action::Restore,
                Action::PageDown,
                Action::Close,
            ],
        ),
        Some(Layer::Runs(_)) => (
            Scope::Runs,
            &[
                Action::Open,
                Action::MarkRun,
                Action::SideBySide,
                Action::Close,
                Action::Help,
            ],
        ),
        Some(Layer::Compare(_)) => (
            Scope::Compare,
            &[
                Action::ChooseLeft,
                Action::ChooseRight,
                Action::ChooseAnyway,
                Action::NextSample,
                Action::PrevSample,
                Action::Close,
            ],
        ),
        Some(Layer::Demo(_)) => (Scope::Demo, demo::HINTS),
        Some(Layer::Grid(_)) => (
            Scope::Grid,
            &[
                Action::Open,
                Action::Sort,
                Action::OnlyFlips,
                Action::Right,
                Action::Close,
                Action::Help,
            ],
        ),
        _ => (
            Scope::Main,
            &[
                Action::RunSelected,
                Action::Accept,
                Action::Reject,
                Action::Undo,
                Action::Edit,
                Action::Regenerate,
                Action::RunAll,
                Action::Export,
                Action::RunList,
                Action::SideBySide,
                Action::Grid,
                Action::PromptEditor,
                Action::PromptHistory,
                Action::Help,
                Action::Quit,
            ],
        ),
    };
    let mut hints: Vec<(Action, String)> = actions
        .iter()
        .filter_map(|&action| {
            let key = app.settings.keymap.keys(scope, action).into_iter().next()?;
            Some((action, key))
        })
        .collect();
    let length = |hints: &[(Action, String)]| -> usize {
        hints
            .iter()
            .map(|(action, key)| crate::tui::text::width(key) + 1 + short_name(*action).len())
            .sum::<usize>()
            + 3 * hints.len().saturating_sub(1)
    };
    for dropped in MAIN_HINTS_DROPPED_FIRST {
        if length(&hints) <= room {
            break;
        }
        hints.retain(|(action, _)| action != dropped);
    }
    let mut spans = Vec::new();
    for (action, key) in hints {
        if !spans.is_empty() {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(key, style(theme, Role::KeyHint)));
        spans.push(Span::raw(format!(" {}", short_name(action))));
    }
    Line::from(spans)
}

/// The main screen's hints left out first when the line is too narrow (all are in the help).
const MAIN_HINTS_DROPPED_FIRST: &[Action] = &[
    Action::PromptHistory,
    Action::PromptEditor,
    Action::Regenerate,
    Action::RunList,
    Action::Undo,
    Action::Edit,
    Action::Grid,
    Action::SideBySide,
    Action::RunAll,
    Action::Reject,
];

fn short_name(action: Action) -> &'static str {
    match action {
        Action::RunSelected => "run",
        Action::Accept => "accept",
        Action::Reject => "reject",
        Action::AcceptAnyway => "accept anyway",
        Action::Undo => "undo",
        Action::Redo => "redo",
        Action::Bulk => "bulk",
        Action::ShowQuestion => "question",
        Action::Edit => "edit",
        Action::Regenerate => "again",
        Action::RunAll => "run all",
        Action::Export => "export",
        Action::PromptEditor => "prompt",
        Action::PromptHistory => "history",
        Action::Help => "help",
        Action::Quit => "quit",
        Action::Save => "save",
        Action::Close => "close",
        Action::Down => "select",
        Action::MarkDiff => "mark base",
        Action::PageDown => "scroll diff",
        Action::RunList => "runs",
        Action::SideBySide => "compare",
        Action::Grid => "grid",
        Action::Open => "open",
        Action::MarkRun => "mark",
        Action::ChooseLeft => "choose left",
        Action::ChooseRight => "choose right",
        Action::ChooseAnyway => "anyway",
        Action::NextSample => "next sample",
        Action::PrevSample => "previous",
        Action::Sort => "sort",
        Action::OnlyFlips => "only flips",
        Action::Right => "columns",
        Action::Restore => "restore",
        Action::AutoPlay => "auto-play",
        Action::Interrupt => "interrupt",
        other => other.as_str(),
    }
}
