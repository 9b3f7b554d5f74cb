//! The run service: the one way runs are scheduled, executed and recorded, for `moss generate`
//! and the workbench alike.
//!
//! A [`Service`] owns the pipeline and the workspace's [`Journal`]. Runs are submitted with a
//! key of the caller's choosing and wait in a queue; at most `concurrency` run at once, each
//! with its own cancellation. What happens is reported as [`ServiceEvent`]s to the sink given
//! at start, in this order per run: `Queued`, `Started`, `Run` events (text, executions…),
//! `Finished`, then `Saved` once the record is on disk (or `Dropped` when there is nothing to
//! record). A run's slot is freed only after its record is written, so nothing is counted or
//! shown that is not on disk. The service prints nothing and knows nothing of screens.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{ExecConsent, Job, Pipeline, Run, RunEvent, RunStatus};
use crate::store::{Entry, Journal, JournalHandle, StoreError, Workspace};

/// The caller's name for a run; unique per service.
pub type RunKey = u64;

/// What a [`Service`] reports.
#[derive(Debug)]
pub enum ServiceEvent {
    /// The run waits for a slot.
    Queued { key: RunKey },
    /// The run has a slot and is running.
    Started { key: RunKey },
    /// The run reported something, `elapsed` after it started (text only when the service
    /// was started with [`ServiceOptions::stream`]; executions always).
    Run {
        key: RunKey,
        elapsed: Duration,
        event: RunEvent,
    },
    /// The run ended and its record is being written.
    Finished { key: RunKey, status: RunStatus },
    /// The run's record is on disk (or could not be written: `stored` says why).
    Saved {
        key: RunKey,
        run: Box<Run>,
        stored: Result<(), String>,
    },
    /// The run was cancelled before it produced anything worth keeping (`started`), or while
    /// it waited for a slot: nothing is recorded.
    Dropped { key: RunKey, started: bool },
    /// A run wants to execute code and the user has not answered yet
    /// ([`Consent::Ask`]; answer with [`Service::answer_consent`]).
    ConsentNeeded,
    /// An entry sent with [`Service::record`] is on disk (or could not be written).
    Recorded {
        entry: Entry,
        result: Result<(), String>,
    },
}

/// Where [`ServiceEvent`]s go. It is called from the service's tasks and from the journal's
/// thread, so it must not block.
pub type EventSink = Arc<dyn Fn(ServiceEvent) + Send + Sync>;

/// Whether code may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// The execution mode alone is the consent (`moss generate --exec fill`).
    ByMode,
    /// Ask once ([`ServiceEvent::ConsentNeeded`]) unless already answered; runs wait.
    Ask(Option<bool>),
}

#[derive(Clone, Copy, Debug)]
pub struct ServiceOptions {
    /// Runs at most this many at once (at least one).
    pub concurrency: usize,
    pub consent: Consent,
    /// Whether text events ([`RunEvent::Text`], `Reasoning`, `Rewritten`, `Usage`,
    /// `Continuing`) are reported; a batch that only counts runs leaves them out.
    pub stream: bool,
}

enum Request {
    Submit { key: RunKey, job: Job, next: bool },
    Cancel(RunKey),
    DropQueued,
    CancelAll,
}

/// The run service; see the module documentation.
pub struct Service {
    requests: Option<mpsc::UnboundedSender<Request>>,
    driver: Option<tokio::task::JoinHandle<()>>,
    /// `None` once finished.
    journal: Option<Journal>,
    sink: EventSink,
    consent: Option<Arc<AskConsent>>,
    clocks: Clocks,
}

type Clocks = Arc<Mutex<HashMap<RunKey, Instant>>>;

impl Service {
    /// Opens the workspace's journal (one that cannot be written stops here, before any run)
    /// and starts the scheduler. Call from within a tokio runtime.
    ///
    /// # Errors
    /// When the journal cannot be opened.
    pub fn start(
        pipeline: Pipeline,
        workspace: Workspace,
        options: ServiceOptions,
        sink: EventSink,
    ) -> Result<Self, StoreError> {
        let journal = Journal::start(workspace)?;
        let consent = match options.consent {
            Consent::ByMode => None,
            Consent::Ask(answer) => Some(Arc::new(AskConsent::new(answer, Arc::clone(&sink)))),
        };
        let pipeline = match &consent {
            Some(gate) => {
                let gate: Arc<dyn ExecConsent> = Arc::clone(gate) as Arc<dyn ExecConsent>;
                pipeline.with_consent(Some(gate))
            }
            None => pipeline,
        };
        let (requests, inbox) = mpsc::unbounded_channel();
        let clocks = Clocks::default();
        let driver = Driver {
            pipeline: Arc::new(pipeline),
            journal: journal.handle(),
            sink: Arc::clone(&sink),
            concurrency: options.concurrency.max(1),
            stream: options.stream,
            queue: VecDeque::new(),
            running: HashMap::new(),
            tasks: JoinSet::new(),
            snapshots: HashSet::new(),
            clocks: Arc::clone(&clocks),
        };
        let driver = tokio::spawn(driver.serve(inbox));
        Ok(Self {
            requests: Some(requests),
            driver: Some(driver),
            journal: Some(journal),
            sink,
            consent,
            clocks,
        })
    }

    fn request(&self, request: Request) {
        if let Some(requests) = &self.requests {
            let _ = requests.send(request);
        }
    }

    /// Queues `job` as run `key`. Its prompt version's snapshot is written before its first run.
    pub fn submit(&self, key: RunKey, job: Job) {
        self.request(Request::Submit {
            key,
            job,
            next: false,
        });
    }

    /// Queues `job` as run `key` before the runs already waiting: one run asked for now is
    /// not kept behind a batch.
    pub fn submit_next(&self, key: RunKey, job: Job) {
        self.request(Request::Submit {
            key,
            job,
            next: true,
        });
    }

    /// Cancels run `key`: a queued run is dropped, a running one stops and keeps what arrived.
    pub fn cancel(&self, key: RunKey) {
        self.request(Request::Cancel(key));
    }

    /// Drops every queued run; runs in flight go on.
    pub fn drop_queued(&self) {
        self.request(Request::DropQueued);
    }

    /// Drops every queued run and cancels every running one.
    pub fn cancel_all(&self) {
        self.request(Request::CancelAll);
    }

    /// Writes `entry` (a decision, the session…) through the journal, in order with the runs;
    /// [`ServiceEvent::Recorded`] says when it is on disk.
    pub fn record(&self, entry: Entry) {
        let sink = Arc::clone(&self.sink);
        let ack = Box::new(move |entry, result| sink(ServiceEvent::Recorded { entry, result }));
        let sent = match &self.journal {
            Some(journal) => journal.handle().send(entry, ack),
            None => Err(entry),
        };
        if let Err(entry) = sent {
            (self.sink)(ServiceEvent::Recorded {
                entry,
                result: Err("the journal has stopped".to_owned()),
            });
        }
    }

    /// The user's answer to [`ServiceEvent::ConsentNeeded`]: waiting runs go on.
    pub fn answer_consent(&self, allow: bool) {
        if let Some(consent) = &self.consent {
            consent.answer(allow);
        }
    }

    /// How long each running run has been running.
    #[must_use]
    pub fn clocks(&self) -> Vec<(RunKey, Duration)> {
        self.clocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, started)| (*key, started.elapsed()))
            .collect()
    }

    /// Takes no more runs, waits for those queued and running to end and be recorded, and
    /// for everything sent to the journal to be written. Cancel first to stop sooner.
    pub async fn finish(mut self) {
        self.requests = None;
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
        if let Some(mut journal) = self.journal.take() {
            // Joining the journal's thread blocks: not on a runtime worker.
            let _ = tokio::task::spawn_blocking(move || journal.finish()).await;
        }
    }
}

impl Drop for Service {
    /// Without [`Service::finish`] (an early return, a panic): everything is cancelled, and
    /// the journal writes what it was sent on a thread of its own rather than blocking here.
    fn drop(&mut self) {
        if let Some(mut journal) = self.journal.take() {
            self.request(Request::CancelAll);
            self.requests = None;
            let _ = std::thread::Builder::new()
                .name("moss-journal-close".to_owned())
                .spawn(move || journal.finish());
        }
    }
}

/// The scheduler: the queue, the runs in flight and their cancellation.
struct Driver {
    pipeline: Arc<Pipeline>,
    journal: JournalHandle,
    sink: EventSink,
    concurrency: usize,
    stream: bool,
    queue: VecDeque<(RunKey, Job)>,
    running: HashMap<RunKey, CancellationToken>,
    tasks: JoinSet<RunKey>,
    /// Prompt versions whose snapshot was sent.
    snapshots: HashSet<String>,
    clocks: Clocks,
}

impl Driver {
    async fn serve(mut self, mut inbox: mpsc::UnboundedReceiver<Request>) {
        let mut open = true;
        loop {
            while self.running.len() < self.concurrency {
                let Some((key, job)) = self.queue.pop_front() else {
                    break;
                };
                self.start(key, job);
            }
            if !open && self.queue.is_empty() && self.tasks.is_empty() {
                break;
            }
            tokio::select! {
                request = inbox.recv(), if open => match request {
                    Some(request) => self.handle(request),
                    None => open = false,
                },
                Some(joined) = self.tasks.join_next() => {
                    // A task's own panic is contained inside it; a join error is a task
                    // aborted at shutdown.
                    if let Ok(key) = joined {
                        self.running.remove(&key);
                    }
                }
            }
        }
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Submit { key, job, next } => {
                if self.snapshots.insert(job.prompt.id.clone()) {
                    let entry = Entry::Prompt(Arc::clone(&job.prompt));
                    let _ = self.journal.send(
                        entry,
                        Box::new(|_, result| {
                            if let Err(e) = result {
                                tracing::warn!("prompt snapshot not saved: {e}");
                            }
                        }),
                    );
                }
                (self.sink)(ServiceEvent::Queued { key });
                if next {
                    self.queue.push_front((key, job));
                } else {
                    self.queue.push_back((key, job));
                }
            }
            Request::Cancel(key) => {
                if let Some(cancel) = self.running.get(&key) {
                    cancel.cancel();
                } else if let Some(at) = self.queue.iter().position(|(k, _)| *k == key) {
                    self.queue.remove(at);
                    (self.sink)(ServiceEvent::Dropped {
                        key,
                        started: false,
                    });
                }
            }
            Request::DropQueued => self.drop_queued(),
            Request::CancelAll => {
                self.drop_queued();
                for cancel in self.running.values() {
                    cancel.cancel();
                }
            }
        }
    }

    fn drop_queued(&mut self) {
        for (key, _) in self.queue.drain(..) {
            (self.sink)(ServiceEvent::Dropped {
                key,
                started: false,
            });
        }
    }

    fn start(&mut self, key: RunKey, job: Job) {
        let cancel = CancellationToken::new();
        self.running.insert(key, cancel.clone());
        let started = Instant::now();
        self.clocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, started);
        (self.sink)(ServiceEvent::Started { key });
        let pipeline = Arc::clone(&self.pipeline);
        let journal = self.journal.clone();
        let sink = Arc::clone(&self.sink);
        let stream = self.stream;
        let clocks = Arc::clone(&self.clocks);
        self.tasks.spawn(async move {
            let events = Arc::clone(&sink);
            let mut observer = move |event: RunEvent| {
                if stream
                    || matches!(
                        event,
                        RunEvent::ExecStarted { .. } | RunEvent::ExecFinished { .. }
                    )
                {
                    events(ServiceEvent::Run {
                        key,
                        elapsed: started.elapsed(),
                        event,
                    });
                }
            };
            // A panic becomes a failed run: recorded like any other, and the slot is freed.
            let run = pipeline.run_contained(&job, &mut observer, &cancel).await;
            clocks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            // Cancelled before anything arrived: nothing to keep.
            if cancel.is_cancelled() && run.status == RunStatus::Failed {
                sink(ServiceEvent::Dropped { key, started: true });
                return key;
            }
            sink(ServiceEvent::Finished {
                key,
                status: run.status,
            });
            record_run(&journal, &sink, key, run).await;
            key
        });
    }
}

/// Writes run `key` and waits until it is on disk; [`ServiceEvent::Saved`] says so.
async fn record_run(journal: &JournalHandle, sink: &EventSink, key: RunKey, run: Run) {
    let (written, on_disk) = oneshot::channel();
    let ack_sink = Arc::clone(sink);
    let ack = Box::new(move |entry, stored| {
        if let Entry::Run(run) = entry {
            match &stored {
                Ok(()) => tracing::info!(
                    sample = %run.sample_id,
                    run = %run.run_id,
                    status = run.status.as_str(),
                    "run recorded"
                ),
                Err(e) => tracing::error!(sample = %run.sample_id, "run not recorded: {e}"),
            }
            ack_sink(ServiceEvent::Saved { key, run, stored });
        }
        let _ = written.send(());
    });
    match journal.send(Entry::Run(Box::new(run)), ack) {
        Ok(()) => {
            let _ = on_disk.await;
        }
        Err(Entry::Run(run)) => sink(ServiceEvent::Saved {
            key,
            run,
            stored: Err("the journal has stopped".to_owned()),
        }),
        Err(_) => {}
    }
}

/// The workspace's consent: asked once, then remembered; runs wait for the answer.
struct AskConsent {
    state: Mutex<ConsentState>,
    sink: EventSink,
}

#[derive(Debug, Default)]
struct ConsentState {
    answer: Option<bool>,
    waiting: Vec<oneshot::Sender<bool>>,
}

impl std::fmt::Debug for AskConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskConsent")
            .field("state", &self.state)
            .field("sink", &"the service's event sink")
            .finish()
    }
}

impl AskConsent {
    fn new(answer: Option<bool>, sink: EventSink) -> Self {
        Self {
            state: Mutex::new(ConsentState {
                answer,
                waiting: Vec::new(),
            }),
            sink,
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

impl ExecConsent for AskConsent {
    fn allow(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            let receiver = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(answer) = state.answer {
                    return answer;
                }
                let (sender, receiver) = oneshot::channel();
                if state.waiting.is_empty() {
                    (self.sink)(ServiceEvent::ConsentNeeded);
                }
                state.waiting.push(sender);
                receiver
            };
            receiver.await.unwrap_or(false)
        })
    }
}
