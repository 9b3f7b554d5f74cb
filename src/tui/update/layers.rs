//! Keys for the layer on top (dialogs, editors, overlays), else for the main screen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions::{self, main_action};
use super::{Command, notify, notify_error};
use crate::curate::{ExportOptions, ExportPlan, ExportReport, SystemChoice};
use crate::export::ExportFormat;
use crate::tui::app::{App, ExportDialog, ExportField, Layer, Settings};
use crate::tui::keymap::{Action, Scope};

/// Rows a page key scrolls in the history's diff and the help.
const PAGE_ROWS: isize = 10;
/// The export file offered first, in the workspace.
pub const DEFAULT_EXPORT_FILE: &str = "curated.jsonl";

pub(super) fn key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let keymap = &app.settings.keymap;
    let editor_action = keymap.action(Scope::Editor, key);
    let history_action = keymap.action(Scope::History, key);
    let main = keymap.action(Scope::Main, key);
    match app.layers.last_mut() {
        None => {
            if let Some(action) = main {
                main_action(app, action, commands);
            }
        }
        Some(Layer::Help { scroll }) => match key.code {
            KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
            _ => {
                app.layers.pop();
            }
        },
        Some(Layer::Filter) => filter_key(app, key),
        Some(Layer::Export(_)) if app.saving > 0 && key.code == KeyCode::Enter => {
            // An export reads the journal: what the screen shows must be on disk first.
            notify(app, "decisions are still being saved: export once they are");
        }
        Some(Layer::Export(dialog)) => {
            if export_key(dialog, key, &app.settings, commands) == Dialog::Close {
                app.layers.pop();
            }
        }
        Some(Layer::ConfirmQuit) => match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                app.layers.pop();
                actions::quit(app, commands);
            }
            _ => {
                app.layers.pop();
            }
        },
        Some(Layer::Consent) => {
            let answer = match key.code {
                KeyCode::Char('y' | 'Y') => true,
                KeyCode::Char('n' | 'N') | KeyCode::Esc => false,
                _ => return,
            };
            app.layers.pop();
            app.consent = Some(answer);
            commands.push(Command::AnswerConsent(answer));
            commands.push(Command::SaveSession(app.session()));
            notify(
                app,
                if answer {
                    "code runs in the sandbox in this workspace (remembered)"
                } else {
                    "code will not run in this workspace (remembered; see .moss/workbench.json)"
                },
            );
        }
        Some(Layer::PromptEditor) => {
            match editor_action {
                Some(Action::Save) => return actions::save_prompt(app),
                Some(Action::Close) => {
                    app.layers.pop();
                    return;
                }
                Some(Action::Undo) => {
                    app.prompt.editor.undo();
                }
                Some(Action::Redo) => {
                    app.prompt.editor.redo();
                }
                _ => {
                    app.prompt.editor.input(key);
                }
            }
            app.prompt.dirty = app.prompt.editor_text() != app.prompt.version.text;
        }
        Some(Layer::History(_)) => history_key(app, history_action),
        Some(Layer::EditOutput(_)) => output_editor_key(app, key, editor_action, commands),
        Some(Layer::Reject(_)) => reject_key(app, key, commands),
        Some(Layer::Bulk(_)) => bulk_key(app, key, commands),
        Some(Layer::Runs(_) | Layer::Compare(_) | Layer::Grid(_)) => views_key(app, key, commands),
        Some(Layer::SaveVersion(_)) => super::versions::save_dialog_key(app, key, commands),
        Some(Layer::RunMany(_)) => super::batch::key(app, key, commands),
        Some(Layer::ConfirmRestore { .. }) => super::versions::confirm_restore_key(app, key),
        Some(Layer::Demo(_)) => {
            let action = keymap.action(Scope::Demo, key);
            super::demo::action(app, action, commands);
        }
        Some(Layer::Interject { .. }) => interject_key(app, key, commands),
        Some(Layer::Question { scroll }) => match key.code {
            KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
            KeyCode::PageDown => *scroll = scroll.saturating_add(10),
            KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
            _ => {
                app.layers.pop();
            }
        },
    }
}

/// Typing what the user says to a run (held meanwhile): `Enter` breaks in with it, `Esc` lets
/// the run go on.
fn interject_key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let Some(Layer::Interject { key: run, text }) = app.layers.last_mut() else {
        return;
    };
    let run = *run;
    match key.code {
        KeyCode::Esc => {
            app.layers.pop();
            if let Some(active) = app.active.get(&run) {
                commands.push(Command::Release {
                    interrupter: active.interrupter.clone(),
                });
            }
        }
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Enter if !text.trim().is_empty() => {
            let said = text.trim().to_owned();
            app.layers.pop();
            let Some(active) = app.active.get(&run) else {
                notify(app, "the run has ended: nothing to break in on");
                return;
            };
            let sample = app
                .samples
                .get(active.sample)
                .map_or_else(String::new, |s| s.id.clone());
            commands.push(Command::Interrupt {
                interrupter: active.interrupter.clone(),
                text: said.clone(),
            });
            notify(app, format!("{sample}: interrupted: {said}"));
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        _ => {}
    }
}

fn views_key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    super::views::key(app, key, commands);
}

/// The prompt history: move, mark a base, scroll the diff, restore a version, close.
fn history_key(app: &mut App, action: Option<Action>) {
    let Some(Layer::History(history)) = app.layers.last_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => history.select_next(),
        Some(Action::Up) => history.select_prev(),
        Some(Action::PageDown) => history.scroll_by(PAGE_ROWS),
        Some(Action::PageUp) => history.scroll_by(-PAGE_ROWS),
        Some(Action::MarkDiff) => history.mark(),
        Some(Action::Restore) => {
            let chosen = history
                .selected_text()
                .map(|(id, text)| (id.to_owned(), std::sync::Arc::clone(text)));
            super::versions::restore(app, chosen);
        }
        Some(Action::Close | Action::Quit) => {
            app.layers.pop();
        }
        Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
        _ => {}
    }
}

/// The output editor: Ctrl-S saves the edit, Esc closes (asking first when the text changed),
/// Ctrl-Z / Ctrl-Y undo and redo; every other key edits, and the budgets follow.
fn output_editor_key(
    app: &mut App,
    key: KeyEvent,
    editor_action: Option<Action>,
    commands: &mut Vec<Command>,
) {
    let Some(Layer::EditOutput(editor)) = app.layers.last_mut() else {
        return;
    };
    if editor.confirm_discard {
        match key.code {
            KeyCode::Char('y' | 'Y') => {
                app.layers.pop();
                notify(app, "edit discarded");
            }
            _ => {
                editor.confirm_discard = false;
                notify(app, "still editing");
            }
        }
        return;
    }
    match editor_action {
        Some(Action::Save) => {
            let run = editor.run;
            let text = editor.text();
            app.layers.pop();
            actions::save_edit(app, run, text, commands);
        }
        Some(Action::Close) if editor.text() == editor.original => {
            app.layers.pop();
            notify(app, "closed without changes");
        }
        Some(Action::Close) => {
            editor.confirm_discard = true;
            notify(
                app,
                "discard your changes? y discards; any other key keeps editing",
            );
        }
        Some(Action::Undo) => {
            editor.area.undo();
            editor.refresh();
        }
        Some(Action::Redo) => {
            editor.area.redo();
            editor.refresh();
        }
        _ => {
            editor.area.input(key);
            editor.refresh();
        }
    }
}

/// The reject dialog: a digit picks a configured reason, Up/Down highlight one, typing writes
/// one; Enter rejects (with the text typed, else the highlighted reason, else none); Esc keeps
/// the output undecided.
fn reject_key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let reasons = app.settings.reject_reasons.len();
    let Some(Layer::Reject(dialog)) = app.layers.last_mut() else {
        return;
    };
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    let chosen = match key.code {
        KeyCode::Esc => {
            app.layers.pop();
            notify(app, "not rejected");
            return;
        }
        KeyCode::Enter => {
            let typed = dialog.text.trim();
            if typed.is_empty() {
                dialog
                    .selected
                    .and_then(|i| app.settings.reject_reasons.get(i).cloned())
            } else {
                Some(typed.to_owned())
            }
        }
        KeyCode::Char(c @ '1'..='9')
            if dialog.text.is_empty() && !control && (c as usize) - ('1' as usize) < reasons =>
        {
            app.settings
                .reject_reasons
                .get((c as usize) - ('1' as usize))
                .cloned()
        }
        KeyCode::Down if reasons > 0 => {
            dialog.selected = Some(dialog.selected.map_or(0, |i| (i + 1) % reasons));
            return;
        }
        KeyCode::Up if reasons > 0 => {
            dialog.selected = Some(
                dialog
                    .selected
                    .map_or(reasons - 1, |i| (i + reasons - 1) % reasons),
            );
            return;
        }
        KeyCode::Backspace => {
            dialog.text.pop();
            return;
        }
        KeyCode::Char(c) if !control => {
            dialog.text.push(c);
            return;
        }
        _ => return,
    };
    let run = dialog.run;
    app.layers.pop();
    actions::reject(app, run, chosen, commands);
}

/// The bulk menu: Up/Down choose, Enter asks, y carries it out; anything else backs out.
fn bulk_key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let Some(Layer::Bulk(dialog)) = app.layers.last_mut() else {
        return;
    };
    if dialog.confirming {
        if matches!(key.code, KeyCode::Char('y' | 'Y')) {
            let action = dialog.actions.get(dialog.selected).cloned();
            app.layers.pop();
            if let Some(action) = action {
                actions::bulk_confirmed(app, &action, commands);
            }
        } else {
            dialog.confirming = false;
        }
        return;
    }
    let n = dialog.actions.len();
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => dialog.selected = (dialog.selected + 1) % n.max(1),
        KeyCode::Up | KeyCode::Char('k') => {
            dialog.selected = (dialog.selected + n.max(1) - 1) % n.max(1);
        }
        KeyCode::Enter => dialog.confirming = true,
        _ => {
            app.layers.pop();
        }
    }
}

fn filter_key(app: &mut App, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => {
            app.layers.pop();
        }
        KeyCode::Esc => {
            app.layers.pop();
            app.filter.clear();
        }
        KeyCode::Backspace => {
            app.filter.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => app.filter.push(c),
        _ => return,
    }
    app.refilter();
    if !app.visible.contains(&app.selected) {
        actions::select_visible(app, 0);
    }
}

/// The dialog as it opens: sharegpt, no system prompt, a file in the workspace.
pub(super) fn export_dialog() -> ExportDialog {
    ExportDialog {
        format: ExportFormat::Sharegpt,
        system: SystemChoice::None,
        with_meta: false,
        include_replayed: false,
        path: DEFAULT_EXPORT_FILE.to_owned(),
        field: ExportField::Format,
        busy: false,
        plan: None,
    }
}

/// The export the dialog's fields describe.
fn export_options(dialog: &ExportDialog, settings: &Settings) -> ExportOptions {
    ExportOptions {
        format: dialog.format,
        system: dialog.system.clone(),
        with_meta: dialog.with_meta,
        out: settings.workspace.join(dialog.path.trim()),
        rule_layers: settings.rule_layers.clone(),
        include_replayed: dialog.include_replayed,
        ..ExportOptions::default()
    }
}

/// Whether a dialog stays open after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialog {
    Open,
    Close,
}

fn export_key(
    dialog: &mut ExportDialog,
    key: KeyEvent,
    settings: &Settings,
    commands: &mut Vec<Command>,
) -> Dialog {
    if dialog.busy {
        // What is being worked out or written finishes on its own; Esc stops waiting for it.
        return if key.code == KeyCode::Esc {
            Dialog::Close
        } else {
            Dialog::Open
        };
    }
    // The summary of what would be written: Enter writes it (y when a file would be replaced),
    // anything else goes back to the fields.
    if let Some(plan) = &dialog.plan {
        let replaces = !plan.existing.is_empty();
        let write = match key.code {
            KeyCode::Char('y' | 'Y') => plan.records > 0,
            KeyCode::Enter => plan.records > 0 && !replaces,
            _ => false,
        };
        if write {
            dialog.busy = true;
            commands.push(Command::Export(export_options(dialog, settings)));
        } else if key.code != KeyCode::Enter || plan.records == 0 {
            dialog.plan = None;
        }
        return Dialog::Open;
    }
    let fields = ExportField::ALL;
    let at = fields.iter().position(|f| *f == dialog.field).unwrap_or(0);
    match key.code {
        KeyCode::Tab | KeyCode::Down => dialog.field = fields[(at + 1) % fields.len()],
        KeyCode::BackTab | KeyCode::Up => {
            dialog.field = fields[(at + fields.len() - 1) % fields.len()];
        }
        KeyCode::Enter => {
            if dialog.path.trim().is_empty() {
                dialog.field = ExportField::Path;
                return Dialog::Open;
            }
            dialog.busy = true;
            commands.push(Command::PlanExport(export_options(dialog, settings)));
        }
        KeyCode::Esc => return Dialog::Close,
        KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')
            if dialog.field != ExportField::Path =>
        {
            let forward = key.code != KeyCode::Left;
            cycle(dialog, forward);
        }
        KeyCode::Backspace if dialog.field == ExportField::Path => {
            dialog.path.pop();
        }
        KeyCode::Char(c)
            if dialog.field == ExportField::Path
                && !key.modifiers.contains(KeyModifiers::CONTROL) =>
        {
            dialog.path.push(c);
        }
        _ => {}
    }
    Dialog::Open
}

fn cycle(dialog: &mut ExportDialog, forward: bool) {
    match dialog.field {
        ExportField::Format => {
            let all = ExportFormat::ALL;
            let at = all.iter().position(|f| *f == dialog.format).unwrap_or(0);
            let next = if forward { at + 1 } else { at + all.len() - 1 };
            dialog.format = all[next % all.len()];
        }
        ExportField::System => {
            dialog.system = match dialog.system {
                SystemChoice::None => SystemChoice::Teacher,
                _ => SystemChoice::None,
            };
        }
        ExportField::Meta => dialog.with_meta = !dialog.with_meta,
        ExportField::Replayed => dialog.include_replayed = !dialog.include_replayed,
        ExportField::Path => {}
    }
}

/// What the export would write, worked out: the dialog shows it before anything is written.
/// The export dialog, wherever it is in the stack: a dialog opened over it meanwhile (the
/// consent question) must not leave it waiting for an answer it already got.
fn export_dialog_mut(app: &mut App) -> Option<&mut ExportDialog> {
    app.layers.iter_mut().rev().find_map(|layer| match layer {
        Layer::Export(dialog) => Some(dialog),
        _ => None,
    })
}

pub(super) fn export_planned(app: &mut App, result: Result<ExportPlan, String>) {
    let Some(dialog) = export_dialog_mut(app) else {
        return;
    };
    dialog.busy = false;
    match result {
        Ok(plan) => dialog.plan = Some(Box::new(plan)),
        Err(e) => notify_error(app, format!("cannot export: {e}")),
    }
}

pub(super) fn exported(app: &mut App, result: Result<ExportReport, String>) {
    match result {
        Ok(report) => {
            app.layers
                .retain(|layer| !matches!(layer, Layer::Export(_)));
            let edited = match report.edited {
                0 => String::new(),
                n => format!(" ({n} edited)"),
            };
            let refused = match report.refused.len() {
                0 => String::new(),
                n => format!("; {n} refused"),
            };
            let beside: Vec<String> = report
                .files
                .iter()
                .skip(1)
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            let beside = if beside.is_empty() {
                String::new()
            } else {
                format!(" and {}", beside.join(", "))
            };
            if let Some(training) = &report.training {
                tracing::info!("export: to train on {}:\n{training}", report.path.display());
            }
            let outputs = if report.written == 1 {
                "output"
            } else {
                "outputs"
            };
            for warning in &report.warnings {
                tracing::warn!("export: {warning}");
            }
            let warned = match report.warnings.as_slice() {
                [] => String::new(),
                [only] => format!("; warning: {only}"),
                [first, rest @ ..] => format!("; {} warnings, first: {first}", rest.len() + 1),
            };
            notify(
                app,
                format!(
                    "exported {} accepted {outputs}{edited} to {}{beside}{refused}{warned}{train}",
                    report.written,
                    report.path.display(),
                    train = match (&report.training, &app.settings.log_path) {
                        (Some(_), Some(log)) => {
                            format!("; the command to train on it is in {}", log.display())
                        }
                        (Some(_), None) => "; the command to train on it is in the log".to_owned(),
                        (None, _) => String::new(),
                    },
                ),
            );
        }
        Err(e) => {
            if let Some(dialog) = export_dialog_mut(app) {
                dialog.busy = false;
            }
            notify_error(app, format!("export failed: {e}"));
        }
    }
}

pub(super) fn paste(app: &mut App, text: &str) {
    match app.layers.last_mut() {
        Some(Layer::PromptEditor) => {
            app.prompt.editor.insert_str(text);
            app.prompt.dirty = app.prompt.editor_text() != app.prompt.version.text;
        }
        Some(Layer::EditOutput(editor)) => {
            editor.area.insert_str(text);
            editor.refresh();
        }
        Some(Layer::SaveVersion(dialog)) => super::versions::paste(dialog, text),
        Some(Layer::Reject(dialog)) => {
            dialog
                .text
                .push_str(text.lines().next().unwrap_or_default());
        }
        Some(Layer::Interject { text: said, .. }) => {
            said.push_str(text.lines().next().unwrap_or_default());
        }
        Some(Layer::Filter) => {
            app.filter.push_str(text.lines().next().unwrap_or_default());
            app.refilter();
            if !app.visible.contains(&app.selected) {
                actions::select_visible(app, 0);
            }
        }
        Some(Layer::Export(dialog)) if dialog.field == ExportField::Path => {
            dialog
                .path
                .push_str(text.lines().next().unwrap_or_default());
        }
        _ => {}
    }
}
