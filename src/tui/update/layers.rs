//! Keys for the layer on top (dialogs, editors, overlays), else for the main screen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions::{self, main_action};
use super::{Command, notify, notify_error};
use crate::curate::{ExportOptions, ExportReport, SystemChoice};
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
        Some(Layer::PromptEditor) => match editor_action {
            Some(Action::Save) => actions::save_prompt(app, commands),
            Some(Action::Close) => {
                app.layers.pop();
            }
            _ => {
                app.prompt.editor.input(key);
                app.prompt.dirty = app.prompt.editor_text() != app.prompt.version.text;
            }
        },
        Some(Layer::History(history)) => match history_action {
            Some(Action::Down) => history.select_next(),
            Some(Action::Up) => history.select_prev(),
            Some(Action::PageDown) => history.scroll_by(PAGE_ROWS),
            Some(Action::PageUp) => history.scroll_by(-PAGE_ROWS),
            Some(Action::MarkDiff) => history.mark(),
            Some(Action::Close | Action::Quit) => {
                app.layers.pop();
            }
            Some(Action::Help) => app.layers.push(Layer::Help { scroll: 0 }),
            _ => {}
        },
        Some(Layer::EditOutput(editor)) => match editor_action {
            Some(Action::Save) => {
                let run = editor.run;
                let text = editor.area.lines().join("\n");
                app.layers.pop();
                actions::save_edit(app, run, text, commands);
            }
            Some(Action::Close) => {
                app.layers.pop();
                notify(app, "edit discarded");
            }
            _ => {
                editor.area.input(key);
            }
        },
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
        path: DEFAULT_EXPORT_FILE.to_owned(),
        field: ExportField::Format,
        busy: false,
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
            let path = dialog.path.trim();
            if path.is_empty() {
                dialog.field = ExportField::Path;
                return Dialog::Open;
            }
            dialog.busy = true;
            commands.push(Command::Export(ExportOptions {
                format: dialog.format,
                system: dialog.system.clone(),
                with_meta: dialog.with_meta,
                out: settings.workspace.join(path),
                rule_layers: settings.rule_layers.clone(),
                check_template: None,
                write_anyway: false,
            }));
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
            const FORMATS: [ExportFormat; 3] = [
                ExportFormat::Sharegpt,
                ExportFormat::Messages,
                ExportFormat::Alpaca,
            ];
            let at = FORMATS
                .iter()
                .position(|f| *f == dialog.format)
                .unwrap_or(0);
            let next = if forward {
                at + 1
            } else {
                at + FORMATS.len() - 1
            };
            dialog.format = FORMATS[next % FORMATS.len()];
        }
        ExportField::System => {
            dialog.system = match dialog.system {
                SystemChoice::None => SystemChoice::Teacher,
                _ => SystemChoice::None,
            };
        }
        ExportField::Meta => dialog.with_meta = !dialog.with_meta,
        ExportField::Path => {}
    }
}

pub(super) fn exported(app: &mut App, result: Result<ExportReport, String>) {
    match result {
        Ok(report) => {
            if matches!(app.top(), Some(Layer::Export(_))) {
                app.layers.pop();
            }
            let edited = match report.edited {
                0 => String::new(),
                n => format!(" ({n} edited)"),
            };
            let refused = match report.refused.len() {
                0 => String::new(),
                n => format!("; {n} incomplete runs refused"),
            };
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
                    "exported {} accepted {outputs}{edited} to {}{refused}{warned}",
                    report.written,
                    report.path.display()
                ),
            );
        }
        Err(e) => {
            if let Some(Layer::Export(dialog)) = app.layers.last_mut() {
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
        }
        Some(Layer::Filter) => {
            app.filter.push_str(text.lines().next().unwrap_or_default());
            app.refilter();
        }
        Some(Layer::Export(dialog)) if dialog.field == ExportField::Path => {
            dialog
                .path
                .push_str(text.lines().next().unwrap_or_default());
        }
        _ => {}
    }
}
