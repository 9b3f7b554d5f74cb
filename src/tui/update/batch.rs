//! `R`: runs of the filtered samples, N per sample, of all of them, the failing ones or those
//! without a run.

use crossterm::event::KeyCode;
use crossterm::event::KeyEvent;

use super::actions::submit;
use super::{Command, notify, notify_error};
use crate::tui::app::{App, Layer, MAX_RUNS_PER_SAMPLE, RunDialog, RunWhich};

pub(super) fn open(app: &mut App) {
    if app.visible.is_empty() {
        notify(app, "no samples shown: nothing to run");
        return;
    }
    app.layers.push(Layer::RunMany(RunDialog::default()));
}

/// Digits set the runs per sample (↑↓ step it), ←/→ or Tab choose which samples, Enter
/// queues, Esc queues nothing.
pub(super) fn key(app: &mut App, key: KeyEvent, commands: &mut Vec<Command>) {
    let Some(Layer::RunMany(dialog)) = app.layers.last_mut() else {
        return;
    };
    match key.code {
        KeyCode::Esc => {
            app.layers.pop();
            notify(app, "nothing queued");
        }
        KeyCode::Char(c @ '0'..='9') => {
            let digit = usize::from(c as u8 - b'0');
            dialog.count = if dialog.fresh {
                digit
            } else {
                (dialog.count * 10 + digit).min(MAX_RUNS_PER_SAMPLE)
            };
            dialog.fresh = false;
        }
        KeyCode::Backspace => {
            dialog.count /= 10;
            dialog.fresh = false;
        }
        KeyCode::Up => {
            dialog.count = (dialog.count + 1).min(MAX_RUNS_PER_SAMPLE);
            dialog.fresh = false;
        }
        KeyCode::Down => {
            dialog.count = dialog.count.saturating_sub(1).max(1);
            dialog.fresh = false;
        }
        KeyCode::Right | KeyCode::Tab | KeyCode::Char(' ') => {
            dialog.which = dialog.which.cycle(true);
        }
        KeyCode::Left | KeyCode::BackTab => dialog.which = dialog.which.cycle(false),
        KeyCode::Enter if dialog.count == 0 => {
            notify_error(app, "runs per sample: at least 1");
        }
        KeyCode::Enter => {
            let dialog = *dialog;
            app.layers.pop();
            queue(app, dialog, commands);
        }
        _ => {}
    }
}

/// Queues `dialog.count` runs of each sample the dialog chose, behind what waits already.
fn queue(app: &mut App, dialog: RunDialog, commands: &mut Vec<Command>) {
    let samples = app.batch_samples(dialog.which);
    let shown = app.visible.len();
    if app.queue.total == app.queue.done {
        app.queue.total = 0;
        app.queue.done = 0;
    }
    let mut queued = 0;
    for &index in &samples {
        for _ in 0..dialog.count {
            let key = submit(app, index, false, commands);
            app.queue.keys.insert(key);
            queued += 1;
        }
    }
    app.queue.total += queued;
    let left = shown - samples.len();
    let why = match dialog.which {
        RunWhich::All => String::new(),
        RunWhich::Failing => format!(" ({left} do not fail under this version)"),
        RunWhich::WithoutRun => {
            format!(" ({left} already have a complete run with this prompt, or one on its way)")
        }
    };
    if queued == 0 {
        notify(app, format!("nothing to queue{why}"));
        return;
    }
    let per = if dialog.count == 1 {
        String::new()
    } else {
        format!(", {} each", dialog.count)
    };
    let samples_word = if samples.len() == 1 {
        "sample"
    } else {
        "samples"
    };
    notify(
        app,
        format!(
            "queued {queued} runs of {} {samples_word}{per}{why}",
            samples.len()
        ),
    );
}
