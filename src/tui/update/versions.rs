//! Saving the prompt as a labelled version, recording the label, restoring an older version.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Command, notify, notify_error};
use crate::store::VersionLabel;
use crate::tui::app::{App, Layer, SHORT_ID, VersionDialog, VersionField};

/// Asks for the label and note of the editor's text (already known to parse).
pub(super) fn open_save_dialog(app: &mut App) {
    let prompt_id = crate::run::prompt_id(&app.prompt.editor_text());
    let label = app.next_label(&prompt_id);
    let note = app.versions.note(&prompt_id).unwrap_or_default().to_owned();
    app.layers.push(Layer::SaveVersion(VersionDialog {
        prompt_id,
        label,
        note,
        field: VersionField::Label,
    }));
}

/// The save dialog: typing edits the field in focus, Tab / ↑↓ switch fields, Enter saves with
/// the label and note, Esc cancels the save (the editor keeps its text).
pub(super) fn save_dialog_key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let Some(Layer::SaveVersion(dialog)) = app.layers.last_mut() else {
        return;
    };
    let field = match dialog.field {
        VersionField::Label => &mut dialog.label,
        VersionField::Note => &mut dialog.note,
    };
    match key.code {
        KeyCode::Esc => {
            app.layers.pop();
            notify(app, "not saved: the editor keeps your changes");
        }
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
            dialog.field = match dialog.field {
                VersionField::Label => VersionField::Note,
                VersionField::Note => VersionField::Label,
            };
        }
        KeyCode::Backspace => {
            field.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => field.push(c),
        KeyCode::Enter => {
            let dialog = dialog.clone();
            confirm(app, &dialog, commands);
        }
        _ => {}
    }
}

/// Pastes the first line of `text` into the field in focus.
pub(super) fn paste(dialog: &mut VersionDialog, text: &str) {
    let line = text.lines().next().unwrap_or_default();
    match dialog.field {
        VersionField::Label => dialog.label.push_str(line),
        VersionField::Note => dialog.note.push_str(line),
    }
}

/// Saves the editor's text with the dialog's label and note; a label another version has is
/// refused and the dialog stays.
fn confirm(app: &mut App, dialog: &VersionDialog, commands: &mut Vec<Command>) {
    let label = dialog.label.trim().to_owned();
    if label.is_empty() {
        notify_error(app, "a version needs a label");
        return;
    }
    if let Some(other) = app.versions.labelled(&label)
        && other != dialog.prompt_id
    {
        let short = other.get(..SHORT_ID).unwrap_or(other);
        notify_error(
            app,
            format!("label {label:?} is already version {short}'s: choose another"),
        );
        return;
    }
    app.layers.pop();
    let text = app.prompt.editor_text();
    app.prompt.pending_label = Some(VersionLabel {
        prompt_id: crate::run::prompt_id(&text),
        label,
        note: dialog.note.trim().to_owned(),
        at_ms: 0,
    });
    commands.push(Command::SavePrompt {
        path: app.prompt.path.clone(),
        text,
    });
}

/// The prompt file holds the current version now: its label (asked for with the save) goes to
/// the journal. Returns whether one was sent.
pub(super) fn prompt_saved(app: &mut App, commands: &mut Vec<Command>) -> bool {
    let id = app.prompt.version.id.clone();
    match app.prompt.pending_label.take() {
        Some(label) if label.prompt_id == id => {
            commands.push(Command::SaveVersion {
                prompt: Arc::clone(&app.prompt.version),
                label,
            });
            true
        }
        _ => false,
    }
}

/// A label is on disk (or could not be written).
pub(super) fn recorded(app: &mut App, line: VersionLabel, result: Result<(), String>) {
    if let Err(e) = result {
        notify_error(
            app,
            format!(
                "the prompt was saved, but its label {:?} was not: {e}",
                line.label
            ),
        );
        return;
    }
    let short = line.prompt_id.get(..SHORT_ID).unwrap_or(&line.prompt_id);
    let mut text = format!("prompt saved: version {} ({short})", line.label);
    if !line.note.is_empty() {
        text.push_str(" · ");
        text.push_str(&line.note);
    }
    app.versions.add_snapshot(&line.prompt_id);
    app.versions.insert(line);
    notify(app, text);
}

/// `r` in the history: the highlighted version's text into the editor, unsaved; over unsaved
/// edits only once confirmed.
pub(super) fn restore(app: &mut App, chosen: Option<(String, Arc<str>)>) {
    let Some((prompt_id, text)) = chosen else {
        notify_error(
            app,
            "this version's text is not known (no snapshot): nothing to restore",
        );
        return;
    };
    if app.prompt.editor_text() == *text {
        let name = app.version_name(&prompt_id);
        notify(app, format!("{name} is what the editor holds already"));
        return;
    }
    if app.prompt.dirty {
        app.layers.push(Layer::ConfirmRestore { prompt_id, text });
        return;
    }
    restore_now(app, &prompt_id, &text);
}

/// The answer to "restore over unsaved edits?": y restores, any other key keeps them.
pub(super) fn confirm_restore_key(app: &mut App, key: KeyEvent) {
    let Some(Layer::ConfirmRestore { prompt_id, text }) = app.layers.pop() else {
        return;
    };
    if matches!(key.code, KeyCode::Char('y' | 'Y')) {
        restore_now(app, &prompt_id, &text);
    } else {
        notify(app, "not restored: the editor keeps your changes");
    }
}

fn restore_now(app: &mut App, prompt_id: &str, text: &str) {
    app.prompt.set_editor_text(text);
    app.layers
        .retain(|l| !matches!(l, Layer::History(_) | Layer::ConfirmRestore { .. }));
    if !matches!(app.top(), Some(Layer::PromptEditor)) {
        app.layers.push(Layer::PromptEditor);
    }
    let name = app.version_name(prompt_id);
    let text = if app.prompt.dirty {
        format!("restored {name} into the editor, unsaved: Ctrl-S saves it as the current version")
    } else {
        format!("restored {name}: it is the current version")
    };
    notify(app, text);
}
