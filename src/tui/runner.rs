//! The event loop: reads the terminal and background results as [`Msg`]s, applies them with
//! [`update`], executes the returned [`Command`]s, and redraws at most once per frame.
//!
//! Runs are tokio tasks that report through a channel; everything written to the workspace
//! (runs, decisions, the session) goes through one journal thread, in order, and is fsynced
//! before its message reaches the screen.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::app::{App, RunKey};
use super::update::{Command, Msg, update};
use super::view;
use crate::exec::ExecMode;
use crate::run::{ExecConsent, Job, Pipeline, Run};
use crate::signals::{HostSignal, HostSignals};
use crate::store::{self, Entry, StoreError, Workspace};

/// At most this many frames per second: a fast stream redraws per frame, not per token.
const FRAME: Duration = Duration::from_millis(33);
/// How often the session is saved when it changed, and running clocks move.
const TICK: Duration = Duration::from_millis(500);
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
    let mut signals = HostSignals::listen(&[HostSignal::Terminate, HostSignal::Hangup])
        .map_err(RunnerError::Signals)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consent = Arc::new(WorkbenchConsent::new(app.consent, tx.clone()));
    let consent_gate: Arc<dyn ExecConsent> = consent.clone();
    let pipeline = Arc::new(pipeline.with_consent(Some(consent_gate)));
    check_sandbox(app.settings.exec, &pipeline, tx.clone());
    let journal = Journal::start(workspace.clone(), tx.clone())?;
    let mut runner = Runner {
        tx,
        pipeline,
        workspace,
        journal,
        cancels: HashMap::new(),
        started: HashMap::new(),
        consent,
    };
    let mut events = Some(EventStream::new());
    let mut tick = tokio::time::interval(TICK);
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut quit_deadline: Option<Instant> = None;
    let mut signalled: Option<HostSignal> = None;
    // Once the terminal fails it is neither drawn nor read again.
    let mut terminal_failure: Option<RunnerError> = None;
    loop {
        if dirty && terminal_failure.is_none() && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            if let Err(e) = screen.terminal().draw(|frame| view::draw(frame, app)) {
                lose_terminal(&mut terminal_failure, e.into(), &runner.tx);
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
                    lose_terminal(&mut terminal_failure, RunnerError::Terminal(e), &runner.tx);
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
            _ = tick.tick() => Msg::Tick(runner.clocks()),
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
            if let Msg::RunFinished { key, .. } = &msg {
                runner.finished(*key);
            }
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
                            lose_terminal(&mut terminal_failure, e.into(), &runner.tx);
                        }
                        let _ = runner.tx.send(Msg::ExternallyEdited { run, result });
                    }
                    other => runner.execute(other),
                }
            }
        }
        dirty = true;
    }
    runner.journal.finish();
    match (signalled, terminal_failure) {
        (Some(signal), _) => Ok(Some(signal)),
        (None, Some(failure)) => Err(failure),
        (None, None) => Ok(None),
    }
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

struct Runner {
    tx: mpsc::UnboundedSender<Msg>,
    pipeline: Arc<Pipeline>,
    workspace: Workspace,
    journal: Journal,
    cancels: HashMap<RunKey, CancellationToken>,
    /// When each run in flight started.
    started: HashMap<RunKey, Instant>,
    consent: Arc<WorkbenchConsent>,
}

impl Runner {
    fn execute(&mut self, command: Command) {
        match command {
            Command::StartRun { key, job } => self.start(key, job),
            Command::CancelRun(key) => {
                if let Some(cancel) = self.cancels.get(&key) {
                    cancel.cancel();
                }
            }
            Command::AnswerConsent(answer) => self.consent.answer(answer),
            Command::SaveDecision(mut decision) => {
                decision.at_ms = crate::run::epoch_ms();
                self.journal.send(Entry::Decision(decision));
            }
            Command::SaveSession(session) => self.journal.send(Entry::Session(session)),
            Command::SavePrompt { path, text } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    // Through a symbolic link to its target, keeping the file's mode.
                    let result =
                        crate::atomic_file::replace(&path, |out| out.write_all(text.as_bytes()))
                            .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Msg::PromptSaved { text, result });
                });
            }
            Command::Export(options) => {
                let tx = self.tx.clone();
                let workspace = self.workspace.clone();
                tokio::task::spawn_blocking(move || {
                    let result = crate::curate::export_accepted(&workspace, &options)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Exported(result));
                });
            }
            // Handled by the loop, which owns the terminal.
            Command::Quit | Command::EditExternally { .. } => {}
        }
    }

    /// Forgets a run that is no longer in flight.
    fn finished(&mut self, key: RunKey) {
        self.cancels.remove(&key);
        self.started.remove(&key);
    }

    /// How long each run in flight has been running.
    fn clocks(&self) -> Vec<(RunKey, Duration)> {
        self.started
            .iter()
            .map(|(key, started)| (*key, started.elapsed()))
            .collect()
    }

    fn start(&mut self, key: RunKey, job: Job) {
        let cancel = CancellationToken::new();
        self.cancels.insert(key, cancel.clone());
        let started = Instant::now();
        self.started.insert(key, started);
        // The snapshot is written (in order, before the run) so every run's prompt id resolves.
        self.journal.send(Entry::Prompt(Arc::clone(&job.prompt)));
        let tx = self.tx.clone();
        let pipeline = Arc::clone(&self.pipeline);
        let (journal, acks) = self.journal.for_run();
        tokio::spawn(async move {
            let events = tx.clone();
            let mut observer = move |event| {
                let _ = events.send(Msg::Run {
                    key,
                    elapsed: started.elapsed(),
                    event,
                });
            };
            // A panic becomes a failed run: the slot is freed and the screen goes on.
            let run = pipeline.run_contained(&job, &mut observer, &cancel).await;
            send_run(&journal, &acks, key, run);
        });
    }
}

/// The workspace's one writer ([`store::Journal`]), each write's outcome sent to the screen as
/// a message once it is on disk.
struct Journal {
    inner: store::Journal,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Journal {
    fn start(workspace: Workspace, tx: mpsc::UnboundedSender<Msg>) -> Result<Self, RunnerError> {
        let inner = store::Journal::start(workspace).map_err(RunnerError::Journal)?;
        Ok(Self { inner, tx })
    }

    /// Sends `entry` (not a run: see [`Journal::send_run`]).
    fn send(&self, entry: Entry) {
        let tx = self.tx.clone();
        let _ = self.inner.handle().send(entry, ack_to(tx, None));
    }

    /// A handle and a channel for a run task to send its run with ([`send_run`]).
    fn for_run(&self) -> (store::JournalHandle, mpsc::UnboundedSender<Msg>) {
        (self.inner.handle(), self.tx.clone())
    }

    /// Waits until everything sent has been written.
    fn finish(&mut self) {
        self.inner.finish();
    }
}

/// Records run `key`: the screen gets `RunFinished` once it is on disk (or could not be).
fn send_run(
    journal: &store::JournalHandle,
    tx: &mpsc::UnboundedSender<Msg>,
    key: RunKey,
    run: Run,
) {
    if let Err(Entry::Run(run)) =
        journal.send(Entry::Run(Box::new(run)), ack_to(tx.clone(), Some(key)))
    {
        let _ = tx.send(Msg::RunFinished {
            key,
            run,
            stored: Err("the journal is closed".to_owned()),
        });
    }
}

/// The message that says an entry is on disk (or why not).
fn ack_to(tx: mpsc::UnboundedSender<Msg>, key: Option<RunKey>) -> store::Ack {
    Box::new(move |entry, result| {
        let msg = match entry {
            Entry::Prompt(_) => {
                if let Err(e) = result {
                    tracing::warn!("prompt snapshot not saved: {e}");
                }
                return;
            }
            Entry::Run(run) => {
                match &result {
                    Ok(()) => tracing::info!(
                        sample = %run.sample_id,
                        run = %run.run_id,
                        status = run.status.as_str(),
                        "run recorded"
                    ),
                    Err(e) => tracing::error!(sample = %run.sample_id, "run not recorded: {e}"),
                }
                let Some(key) = key else { return };
                Msg::RunFinished {
                    key,
                    run,
                    stored: result,
                }
            }
            Entry::Decision(decision) => {
                tracing::info!(
                    sample = %decision.sample_id,
                    run = %decision.run_id,
                    verdict = ?decision.verdict,
                    "decision"
                );
                match result {
                    Ok(()) => Msg::DecisionSaved(decision),
                    Err(error) => Msg::DecisionFailed { decision, error },
                }
            }
            Entry::Session(_) => Msg::SessionSaved(result),
        };
        // The screen may be gone; what was asked is written all the same.
        let _ = tx.send(msg);
    })
}

/// The workspace's consent: asked once, then remembered; runs wait for the answer.
#[derive(Debug)]
struct WorkbenchConsent {
    state: Mutex<ConsentState>,
    tx: mpsc::UnboundedSender<Msg>,
}

#[derive(Debug, Default)]
struct ConsentState {
    answer: Option<bool>,
    waiting: Vec<oneshot::Sender<bool>>,
}

impl WorkbenchConsent {
    fn new(answer: Option<bool>, tx: mpsc::UnboundedSender<Msg>) -> Self {
        Self {
            state: Mutex::new(ConsentState {
                answer,
                waiting: Vec::new(),
            }),
            tx,
        }
    }

    fn answer(&self, answer: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.answer = Some(answer);
        for waiter in state.waiting.drain(..) {
            let _ = waiter.send(answer);
        }
    }
}

impl ExecConsent for WorkbenchConsent {
    fn allow(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            let receiver = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(answer) = state.answer {
                    return answer;
                }
                let (sender, receiver) = oneshot::channel();
                if state.waiting.is_empty() {
                    let _ = self.tx.send(Msg::ConsentNeeded);
                }
                state.waiting.push(sender);
                receiver
            };
            receiver.await.unwrap_or(false)
        })
    }
}
