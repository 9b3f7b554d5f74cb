//! The event loop: reads the terminal and background results as [`Msg`]s, applies them with
//! [`update`], executes the returned [`Command`]s, and redraws at most once per frame.
//!
//! This module only deals with the terminal: reading it, drawing it, handing it to `$EDITOR`.
//! Runs, and everything written to the workspace, go through the run service
//! ([`crate::run::Service`], driven by [`super::effects`]), whose events come back as
//! [`Msg::Service`]; a decision or a run reaches the screen only once it is on disk.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use super::app::App;
use super::effects::Effects;
use super::update::{Command, Msg, update};
use super::view;
use crate::exec::ExecMode;
use crate::run::{Consent, EventSink, Pipeline, Service, ServiceOptions};
use crate::signals::{HostSignal, HostSignals};
use crate::store::{StoreError, Workspace};

/// At most this many frames per second: a fast stream redraws per frame, not per token.
const FRAME: Duration = Duration::from_millis(33);
/// How often the session is saved when it changed, and running clocks move.
const TICK: Duration = Duration::from_millis(500);
/// The most a presentation frame moves the playback by (after a stall, or when it opens).
const MAX_FRAME_STEP: Duration = Duration::from_millis(100);
/// How long quitting waits for cancelled runs to be written as incomplete.
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// Messages applied before the screen gets a chance to redraw.
const MAX_BATCH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("the terminal failed: {0}")]
    Terminal(#[from] io::Error),
    #[error("cannot listen for signals: {0}")]
    Signals(io::Error),
    #[error("cannot write the workspace: {0}")]
    Journal(StoreError),
}

/// Something the terminal does besides drawing: handing itself to an external editor.
pub trait Screen {
    type Backend: Backend;
    fn terminal(&mut self) -> &mut Terminal<Self::Backend>;
    /// Runs `$EDITOR` on `text` with the terminal handed over, and takes it back.
    ///
    /// # Errors
    /// When the editor cannot run or fails.
    fn edit_externally(&mut self, text: &str) -> io::Result<String>;
}

/// What the sandbox can do here, for the consent dialog and the status bar: checked once, in
/// the background beside everything else, since it starts an interpreter. Not when code never
/// runs.
fn check_sandbox(exec: ExecMode, pipeline: &Pipeline, tx: mpsc::UnboundedSender<Msg>) {
    if exec == ExecMode::Off {
        return;
    }
    let sandbox = pipeline.sandbox().clone();
    tokio::spawn(async move {
        let check = sandbox.check().await;
        let _ = tx.send(Msg::SandboxChecked(Box::new(check)));
    });
}

/// Runs the workbench until the user quits, or SIGTERM or SIGHUP ends it (returned: the caller
/// exits with its status). Either way, runs in flight are cancelled and recorded as incomplete
/// (waiting a few seconds at most) and the session is saved before this returns.
///
/// # Errors
/// When the terminal cannot be read or drawn (after quitting as above), or the signal handlers
/// cannot be installed.
pub async fn run<S: Screen>(
    app: &mut App,
    screen: &mut S,
    pipeline: Pipeline,
    workspace: Workspace,
) -> Result<Option<HostSignal>, RunnerError>
where
    RunnerError: From<<S::Backend as Backend>::Error>,
{
    run_with(app, screen, pipeline, workspace, Vec::new()).await
}

/// [`run`], with `opening` applied first (`moss demo` opens presentation mode).
///
/// # Errors
/// As [`run`].
pub async fn run_with<S: Screen>(
    app: &mut App,
    screen: &mut S,
    pipeline: Pipeline,
    workspace: Workspace,
    opening: Vec<Msg>,
) -> Result<Option<HostSignal>, RunnerError>
where
    RunnerError: From<<S::Backend as Backend>::Error>,
{
    let mut signals = HostSignals::listen(&[HostSignal::Terminate, HostSignal::Hangup])
        .map_err(RunnerError::Signals)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    check_sandbox(app.settings.exec, &pipeline, tx.clone());
    for msg in opening {
        let _ = tx.send(msg);
    }
    let mut runner = start_service(app, pipeline, workspace, tx)?;
    let mut events = Some(EventStream::new());
    let mut tick = tokio::time::interval(TICK);
    // Presentation mode's clock: its playback moves by the time between frames.
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_frame = Instant::now();
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut quit_deadline: Option<Instant> = None;
    let mut signalled: Option<HostSignal> = None;
    // Once the terminal fails it is neither drawn nor read again.
    let mut terminal_failure: Option<RunnerError> = None;
    loop {
        if dirty && terminal_failure.is_none() && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            if let Err(e) = screen.terminal().draw(|frame| view::draw(frame, app)) {
                lose_terminal(&mut terminal_failure, e.into(), runner.sender());
            }
            last_draw = Some(Instant::now());
            dirty = false;
        }
        if let Some(deadline) = quit_deadline {
            // A terminal that fails has usually hung up, and its SIGHUP is on the way: wait
            // for it (at most until the deadline), so that the exit says so.
            let settled =
                app.active.is_empty() && (terminal_failure.is_none() || signalled.is_some());
            if settled || Instant::now() >= deadline {
                break;
            }
        }
        let redraw_at = last_draw.map_or_else(Instant::now, |t| t + FRAME);
        let stream = events.get_or_insert_with(EventStream::new);
        let msg = tokio::select! {
            event = stream.next(), if terminal_failure.is_none() => match event {
                Some(Ok(event)) => match terminal_msg(event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => {
                    lose_terminal(&mut terminal_failure, RunnerError::Terminal(e), runner.sender());
                    continue;
                }
                None => break,
            },
            signal = signals.recv() => {
                tracing::info!(signal = signal.name(), "quitting on a signal");
                signalled.get_or_insert(signal);
                Msg::Signal(signal)
            }
            Some(msg) = rx.recv() => msg,
            _ = tick.tick() => Msg::Tick(runner.service().clocks()),
            _ = frames.tick(), if app.animating() => {
                let now = Instant::now();
                let elapsed = now.duration_since(last_frame).min(MAX_FRAME_STEP);
                last_frame = now;
                Msg::Frame(elapsed)
            }
            () = tokio::time::sleep_until(redraw_at.into()), if dirty => continue,
        };
        let mut pending = vec![msg];
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => pending.push(msg),
                Err(_) => break,
            }
        }
        for msg in pending {
            for command in update(app, msg) {
                match command {
                    Command::Quit => {
                        quit_deadline.get_or_insert_with(|| Instant::now() + QUIT_GRACE);
                    }
                    Command::EditExternally { run, text } => {
                        // The editor reads the keyboard: stop reading it until it is done.
                        events = None;
                        let result = screen.edit_externally(&text).map_err(|e| e.to_string());
                        if let Err(e) = super::terminal::repaint(screen.terminal()) {
                            lose_terminal(&mut terminal_failure, e.into(), runner.sender());
                        }
                        runner.send(Msg::ExternallyEdited { run, result });
                    }
                    other => runner.execute(other),
                }
            }
        }
        dirty = true;
    }
    // A run that ignores its cancellation does not hold the exit past the grace period.
    let grace = quit_deadline.map_or(QUIT_GRACE, |d| {
        d.saturating_duration_since(Instant::now()) + QUIT_GRACE
    });
    let _ = tokio::time::timeout(grace, runner.finish()).await;
    match (signalled, terminal_failure) {
        (Some(signal), _) => Ok(Some(signal)),
        (None, Some(failure)) => Err(failure),
        (None, None) => Ok(None),
    }
}

/// The run service, its events delivered to the loop as [`Msg::Service`].
fn start_service(
    app: &App,
    pipeline: Pipeline,
    workspace: Workspace,
    tx: mpsc::UnboundedSender<Msg>,
) -> Result<Effects, RunnerError> {
    let events = tx.clone();
    let sink: EventSink = Arc::new(move |event| {
        // The screen may be gone; what was asked is written all the same.
        let _ = events.send(Msg::Service(event));
    });
    let service = Service::start(
        pipeline,
        workspace.clone(),
        ServiceOptions {
            concurrency: app.settings.concurrency,
            consent: Consent::Ask(app.consent),
            stream: true,
        },
        sink,
    )
    .map_err(RunnerError::Journal)?;
    Ok(Effects::new(service, workspace, tx))
}

/// A terminal that cannot be read or drawn is gone (one that hung up fails before its SIGHUP
/// arrives): quit as on SIGHUP, and keep the failure to report unless the signal comes.
fn lose_terminal(
    failure: &mut Option<RunnerError>,
    error: RunnerError,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    if failure.is_none() {
        tracing::warn!("{error}");
        let _ = tx.send(Msg::Signal(HostSignal::Hangup));
        *failure = Some(error);
    }
}

fn terminal_msg(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) => Some(Msg::Key(key)),
        Event::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Resize(..) => Some(Msg::Resize),
        Event::FocusGained | Event::FocusLost => None,
    }
}
