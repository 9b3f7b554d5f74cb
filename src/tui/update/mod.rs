//! `update(&mut App, Msg) -> Vec<Command>`: every key, tick and background result goes through
//! here. No IO: what must happen outside (start a run, append a decision, write an export) is
//! returned as a [`Command`] for the runner, whose results come back as messages.

mod actions;
mod batch;
mod demo;
mod layers;
mod versions;
mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent, MouseEventKind};

use super::app::{App, Layer, Notice, Pane, RunKey};
use crate::curate::{ExportOptions, ExportPlan, ExportReport};
use crate::exec::SandboxCheck;
use crate::run::{Job, PromptVersion, ServiceEvent};
use crate::signals::HostSignal;
use crate::store::{Decision, Entry, Session, VersionLabel};

/// Rows the mouse wheel scrolls.
const WHEEL_ROWS: isize = 3;

/// Everything that can happen to the workbench.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The terminal was resized (the next frame re-wraps).
    Resize,
    /// Time passes: the session is saved when it changed, and the clocks of the runs in flight
    /// (how long each has been running) move even while no text arrives.
    Tick(Vec<(RunKey, Duration)>),
    /// A frame of presentation mode, this long after the last (sent only while it is open).
    Frame(Duration),
    /// Open presentation mode on the selected sample with auto-play on, at this pace
    /// (`moss demo`).
    OpenDemo {
        pace: f64,
    },
    /// The run service reported something: a run queued, started, streaming, finished, saved
    /// or dropped; consent needed; a decision or the session on disk (fsynced: only now may
    /// the screen show it).
    Service(ServiceEvent),
    /// What the sandbox can do here (checked once at start, when code may run).
    SandboxChecked(Box<SandboxCheck>),
    PromptSaved {
        text: String,
        result: Result<(), String>,
    },
    /// What an export would write (asked for by `PlanExport`).
    ExportPlanned(Result<ExportPlan, String>),
    Exported(Result<ExportReport, String>),
    /// The external editor returned (`Ok` with the new text).
    ExternallyEdited {
        run: usize,
        result: Result<String, String>,
    },
    /// The host asked moss to stop (SIGTERM, SIGHUP; the runner also says SIGHUP when the
    /// terminal is gone): quit at once, without asking, as a confirmed quit does.
    Signal(HostSignal),
}

/// Work for the runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Queue `job` as run `key` in the run service; `next`: before the runs already waiting
    /// (one run the user asked for now, not a batch).
    Submit {
        key: RunKey,
        job: Job,
        next: bool,
    },
    /// Cancel run `key`, queued or running.
    CancelRun(RunKey),
    /// Hold a run's stream where it is while the user types.
    Hold {
        interrupter: crate::run::Interrupter,
    },
    /// Let a held run go on.
    Release {
        interrupter: crate::run::Interrupter,
    },
    /// Break in on a run with the user's words: its turn is cut (where it was held) and the
    /// teacher answers them.
    Interrupt {
        interrupter: crate::run::Interrupter,
        text: String,
    },
    /// Drop the runs waiting for a slot; those running go on.
    DropQueued,
    /// Drop the waiting runs and cancel the running ones (quitting).
    CancelAll,
    /// The user answered the consent question; waiting runs go on.
    AnswerConsent(bool),
    /// Append and fsync, then reply `DecisionSaved`.
    SaveDecision(Decision),
    SavePrompt {
        path: PathBuf,
        text: String,
    },
    /// Record `label` (and the version's snapshot, so that its id resolves) through the
    /// journal; reply `Recorded`.
    SaveVersion {
        prompt: Arc<PromptVersion>,
        label: VersionLabel,
    },
    SaveSession(Session),
    /// Work out what the export would write, without writing; reply `ExportPlanned`.
    PlanExport(ExportOptions),
    Export(ExportOptions),
    /// Hand the terminal to `$EDITOR` with this text.
    EditExternally {
        run: usize,
        text: String,
    },
    Quit,
}

/// Applies `msg` to `app`.
pub fn update(app: &mut App, msg: Msg) -> Vec<Command> {
    let mut commands = Vec::new();
    match msg {
        Msg::Key(key) if key.kind == KeyEventKind::Release => {}
        Msg::Key(key) => {
            // A notice lasts until the next key: then the key hints come back.
            app.notice = None;
            layers::key(app, key, &mut commands);
        }
        Msg::Mouse(mouse) => self::mouse(app, mouse),
        Msg::Paste(text) => layers::paste(app, &text),
        Msg::Resize => {}
        Msg::Tick(running) => {
            for (key, elapsed) in running {
                if let Some(run) = app.active.get_mut(&key) {
                    run.elapsed = run.elapsed.max(elapsed);
                }
            }
            if app.session_dirty {
                app.session_dirty = false;
                commands.push(Command::SaveSession(app.session()));
            }
        }
        Msg::Frame(elapsed) => demo::frame(app, elapsed, &mut commands),
        Msg::OpenDemo { pace } => demo::open(app, pace, true, &mut commands),
        Msg::Service(event) => service_event(app, event),
        Msg::SandboxChecked(check) => sandbox_checked(app, *check),
        Msg::PromptSaved { text, result } => {
            actions::prompt_saved(app, text, result, &mut commands);
        }
        Msg::ExportPlanned(result) => layers::export_planned(app, result),
        Msg::Exported(result) => layers::exported(app, result),
        Msg::ExternallyEdited { run, result } => match result {
            Ok(text) => actions::save_edit(app, run, text, &mut commands),
            Err(e) => notify_error(app, format!("the editor failed: {e}")),
        },
        Msg::Signal(_) if app.quit => {}
        Msg::Signal(_) => actions::quit(app, &mut commands),
    }
    commands
}

/// Applies what the run service reports.
fn service_event(app: &mut App, event: ServiceEvent) {
    match event {
        // Queued when asked for: the service only confirms it.
        ServiceEvent::Queued { .. } | ServiceEvent::Finished { .. } => {}
        ServiceEvent::Started { key } => actions::run_started(app, key),
        ServiceEvent::Run {
            key,
            elapsed,
            event,
        } => actions::run_event(app, key, elapsed, event),
        ServiceEvent::Saved { key, run, stored } => {
            actions::run_finished(app, key, *run, stored);
        }
        ServiceEvent::Dropped { key, started } => actions::run_dropped(app, key, started),
        ServiceEvent::ConsentNeeded => {
            if app.consent.is_none() && !app.layers.iter().any(|l| matches!(l, Layer::Consent)) {
                app.layers.push(Layer::Consent);
            }
        }
        ServiceEvent::Recorded { entry, result } => recorded(app, entry, result),
    }
}

/// A decision or the session is on disk, or could not be written.
fn recorded(app: &mut App, entry: Entry, result: Result<(), String>) {
    match (entry, result) {
        (Entry::Decision(decision), Ok(())) => actions::decision_saved(app, &decision),
        (Entry::Decision(decision), Err(error)) => {
            app.saving = app.saving.saturating_sub(1);
            notify_error(
                app,
                format!(
                    "could not save the decision on {}: {error}",
                    decision.sample_id
                ),
            );
        }
        (Entry::Version(line), result) => versions::recorded(app, line, result),
        (Entry::Session(_), Err(e)) => {
            notify_error(app, format!("could not save the selection: {e}"));
        }
        _ => {}
    }
}

/// Keeps the check for the consent dialog and the status bar; says at once when no code can run.
fn sandbox_checked(app: &mut App, check: SandboxCheck) {
    if let Err(why) = &check.interpreter {
        notify_error(
            app,
            format!("code cannot run: the sandbox cannot start Python: {why}"),
        );
    } else {
        let lacking: Vec<String> = check
            .lacking(&app.settings.require)
            .iter()
            .map(|m| m.protection.to_string())
            .collect();
        if !lacking.is_empty() {
            notify_error(
                app,
                format!(
                    "no code runs: [exec] require names {}, which the sandbox does not have here",
                    lacking.join(", ")
                ),
            );
        }
    }
    app.sandbox = Some(check);
}

fn mouse(app: &mut App, mouse: MouseEvent) {
    let rows = match mouse.kind {
        MouseEventKind::ScrollDown => WHEEL_ROWS,
        MouseEventKind::ScrollUp => -WHEEL_ROWS,
        _ => return,
    };
    match app.layers.last_mut() {
        Some(Layer::History(history)) => history.scroll_by(rows),
        Some(Layer::Compare(_)) => views::scroll(app, rows),
        Some(_) => {}
        None => {
            if let Some(live) = actions::live_mut(app) {
                live.scroll_by(rows);
            }
            app.focus = Pane::Live;
        }
    }
}

pub(super) fn notify(app: &mut App, text: impl Into<String>) {
    app.notice = Some(Notice {
        text: text.into(),
        error: false,
    });
}

pub(super) fn notify_error(app: &mut App, text: impl Into<String>) {
    let text = text.into();
    tracing::warn!("{text}");
    app.notice = Some(Notice { text, error: true });
}

/// The first key bound to `action` on the main screen, for hints.
#[must_use]
pub fn key_hint_for(app: &App, action: super::keymap::Action) -> String {
    actions::key_hint(app, action)
}
