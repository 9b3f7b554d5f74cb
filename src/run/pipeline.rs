//! The pipeline from a job to a run record: stream the teacher, parse as text arrives, run code
//! blocks as the execution mode says, judge the result.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::fill::{
    attached_results, blocks_of, executable_blocks, is_closed_executable, push_result,
    splice_results_noting,
};
use super::timeline::{Origin, Timeline};
use super::turns::{self, Interruption, ScriptedInterruption, Signal};
use super::{
    Execution, Job, PromptVersion, RateLimiter, Run, RunSettings, RunStatus, SegmentSummary,
    Timings, new_run_id,
};
use crate::exec::{ExecConfig, ExecMode, ExecOutcome, ExecStatus, Sandbox};
use crate::teacher::{
    PriorTurn, StreamEnd, Teacher, TeacherError, TeacherEvent, TeacherRequest, Usage,
};
use crate::transcript::{
    Anomaly, Fence, RuleContext, Rules, SegmentKind, SegmentSink, StopCheck, StreamParser,
    Transcript,
};

/// What a run reports while it works (the workbench draws these; `generate` ignores them).
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// Text appended to the transcript: the teacher's, or (`system`) an execution result.
    Text {
        text: String,
        system: bool,
    },
    /// Hidden reasoning from a reasoning model.
    Reasoning(String),
    /// The whole transcript after results were put in place (fill mode).
    Rewritten(String),
    ExecStarted {
        block: usize,
        code: String,
    },
    ExecFinished {
        block: usize,
        outcome: ExecOutcome,
    },
    Usage(Usage),
    /// The teacher is asked to continue after a result.
    Continuing,
    /// The stream was cut at byte `at` of the transcript; the teacher is asked to go on after
    /// the user's `text`, as a new assistant turn.
    Interrupted {
        at: usize,
        text: String,
    },
}

/// Receives a run's events.
pub trait RunObserver: Send {
    fn on_event(&mut self, event: RunEvent);
}

impl<F: FnMut(RunEvent) + Send> RunObserver for F {
    fn on_event(&mut self, event: RunEvent) {
        self(event);
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn on_event(&mut self, _event: RunEvent) {}
}

/// Asked before a run executes model-written code for the first time: the workbench asks
/// the user once per workspace. Without one, the execution mode alone is the consent.
pub trait ExecConsent: Send + Sync + std::fmt::Debug {
    /// Whether code may run; may wait for the user's answer.
    fn allow(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// A teacher, an executor and rules: everything needed to turn jobs into runs.
#[derive(Clone, Debug)]
pub struct Pipeline {
    teacher: Teacher,
    mode: ExecMode,
    sandbox: Sandbox,
    rules: Arc<Rules>,
    limiter: Option<Arc<RateLimiter>>,
    consent: Option<Arc<dyn ExecConsent>>,
    /// Runs of this pipeline (and its clones) in flight: a local server that cut a stream while
    /// another request was open was most likely made to serve it.
    in_flight: Arc<AtomicUsize>,
}

/// Counts a run in flight for as long as it lives (a panicking run too).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(counter))
    }

    /// Whether other runs are in flight too.
    fn shared(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 1
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Pipeline {
    /// `exec.mode` is the user's consent: `off` never runs code. `continue` becomes `fill` for
    /// a teacher that cannot continue a turn.
    #[must_use]
    pub fn new(teacher: Teacher, exec: ExecConfig, rules: Arc<Rules>) -> Self {
        let mode = match exec.mode {
            ExecMode::Continue if !teacher.can_continue() => ExecMode::Fill,
            mode => mode,
        };
        Self {
            teacher,
            mode,
            sandbox: Sandbox::new(exec),
            rules,
            limiter: None,
            consent: None,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Asks `consent` before the first execution of each run; a refusal runs that run as if
    /// the mode were `off` (its record says so).
    #[must_use]
    pub fn with_consent(mut self, consent: Option<Arc<dyn ExecConsent>>) -> Self {
        self.consent = consent;
        self
    }

    /// Whether this run may execute code, asking the consent (once per run) if there is one.
    async fn may_execute(&self, allowed: &mut Option<bool>, cancel: &CancellationToken) -> bool {
        if let Some(answer) = *allowed {
            return answer;
        }
        let answer = match &self.consent {
            None => true,
            Some(consent) => tokio::select! {
                () = cancel.cancelled() => return false,
                answer = consent.allow() => answer,
            },
        };
        *allowed = Some(answer);
        answer
    }

    /// Every request (continuations included) waits for a slot of `limiter`.
    #[must_use]
    pub fn with_rate_limit(mut self, limiter: Option<Arc<RateLimiter>>) -> Self {
        self.limiter = limiter;
        self
    }

    #[must_use]
    pub fn teacher(&self) -> &Teacher {
        &self.teacher
    }

    /// The execution mode in effect.
    #[must_use]
    pub fn exec_mode(&self) -> ExecMode {
        self.mode
    }

    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The sandbox that runs the teacher's code.
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The settings runs of `prompt` are made with.
    #[must_use]
    pub fn settings(&self, prompt: &PromptVersion) -> RunSettings {
        let info = self.teacher.info();
        RunSettings {
            provider: info.provider,
            model: info.model,
            params: prompt.params,
            exec: self.mode,
            rules: super::rules_id(self.rules_for(prompt)),
            interruptions: Vec::new(),
        }
    }

    /// The settings `job`'s run is made with: its prompt's, and its interruption script.
    #[must_use]
    pub fn settings_for(&self, job: &Job) -> RunSettings {
        RunSettings {
            interruptions: job.interruptions.clone(),
            ..self.settings(&job.prompt)
        }
    }

    /// The rules runs of `prompt` are judged by: the version's own, else the pipeline's.
    #[must_use]
    pub fn rules_for<'a>(&'a self, prompt: &'a PromptVersion) -> &'a Rules {
        prompt.rules.as_deref().unwrap_or(&self.rules)
    }

    /// Runs `job` to its end. Never fails: a failure is a run with status `failed` or
    /// `incomplete` and its error.
    pub async fn run(
        &self,
        job: &Job,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> Run {
        let in_flight = InFlight::enter(&self.in_flight);
        let started = Instant::now();
        let started_at_ms = super::epoch_ms();
        let mut mode = self.mode;
        let mut allowed = None;
        let judge = self.rules_for(&job.prompt);
        let replayed = self.teacher.info().replayed;
        let (mut live, outcome) = self
            .stream(job, &mut mode, &mut allowed, started, observer, cancel)
            .await;
        let end = StreamContext {
            local: self.teacher.is_local(),
            // Only a stream the server ended (or cut) can have been cut by a busy server.
            shared: matches!(outcome, Ok(_) | Err(Turn::Cut(_))) && in_flight.shared(),
        };
        let outcome = outcome.map_err(Turn::into_message);
        let mut executions = std::mem::take(&mut live.executions);
        let mut exec_time = live.exec_time;
        let system_results = live.system_results;
        let mut stream = std::mem::take(&mut live.stream);

        let mut text = std::mem::take(&mut live.text);
        let mut interruptions = std::mem::take(&mut live.interruptions);
        let count_mode = judge.config().count_mode;
        let mut transcript = Transcript::parse(&text, count_mode);
        let model_results = model_results(&transcript, replayed, system_results);

        let (mut status, mut error, finish_reason) =
            judge_end(outcome, &text, &live.reasoning, end);
        if status == RunStatus::Complete
            && self.mode != ExecMode::Off
            && turn_blocks(&text, &transcript, &interruptions, judge).len() > executions.len()
            && !self.may_execute(&mut allowed, cancel).await
        {
            mode = ExecMode::Off;
        } else if status == RunStatus::Complete && self.mode != ExecMode::Off {
            let blocks = turn_blocks(&text, &transcript, &interruptions, judge);
            let filled = self
                .fill(
                    &mut text,
                    &blocks,
                    &mut interruptions,
                    &mut executions,
                    &mut exec_time,
                    &mut stream,
                    observer,
                    cancel,
                )
                .await;
            match filled {
                Ok(true) => transcript = Transcript::parse(&text, count_mode),
                Ok(false) => {}
                Err(e) => {
                    status = RunStatus::Incomplete;
                    error = Some(e);
                }
            }
        }

        let context = RuleContext::Live { model_results };
        let rules = turns::judge_turns(judge, &job.question, &text, &interruptions, context);
        let segments = summary(&text, &transcript, &interruptions, judge);
        let total = started.elapsed();
        let first_token = live.first_token;
        let first_answer = live.first_answer;
        let tokens_per_sec = live
            .usage
            .and_then(|u| tokens_per_sec(&u, total, exec_time, first_token));
        let settings = self.settings_for(job);
        Run {
            run_id: new_run_id(),
            sample_id: job.sample_id.clone(),
            question: job.question.clone(),
            prompt_id: job.prompt.id.clone(),
            settings_id: settings.id(),
            rules_id: settings.rules.clone(),
            teacher: self.teacher.info(),
            placeholder: self.teacher.is_placeholder_for(&job.sample_id),
            params: job.prompt.params,
            exec: mode,
            status,
            error,
            finish_reason,
            segments,
            stream: stream.fits(&text).then_some(stream),
            transcript: text,
            interruptions,
            rules,
            reasoning: (!live.reasoning.is_empty()).then_some(live.reasoning),
            usage: live.usage,
            executions,
            timings: Timings {
                started_at_ms,
                first_token_ms: first_token.map(millis),
                first_answer_ms: first_answer.map(millis),
                total_ms: millis(total),
                exec_ms: millis(exec_time),
                tokens_per_sec,
            },
        }
    }

    /// Streams the teacher's turn; in continue mode, runs each executable block as it closes
    /// and asks the teacher to go on. `Ok` holds the finish reason.
    /// The teacher's stream of `job` (continuing after each executed block in continue mode),
    /// started over in fill mode, `mode` changed, when the provider will not continue a turn.
    async fn stream(
        &self,
        job: &Job,
        mode: &mut ExecMode,
        allowed: &mut Option<bool>,
        started: Instant,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> (Live, Result<Option<String>, Turn>) {
        let judge = self.rules_for(&job.prompt);
        let replayed = self.teacher.info().replayed;
        let mut live = Live::new(judge.config().count_mode, *mode == ExecMode::Continue)
            .with_stop(StopCheck::new(judge), replayed)
            .with_script(&job.interruptions);
        let mut outcome = self
            .converse(job, &mut live, allowed, started, observer, cancel)
            .await;
        if let Err(Turn::ContinuationRefused(_)) = &outcome {
            // The provider will not continue this turn (a reasoning model, say): start over
            // and run the blocks after the answer instead.
            observer.on_event(RunEvent::Rewritten(String::new()));
            *mode = ExecMode::Fill;
            live = Live::new(judge.config().count_mode, false)
                .with_stop(StopCheck::new(judge), replayed)
                .with_script(&job.interruptions);
            outcome = self
                .converse(job, &mut live, allowed, started, observer, cancel)
                .await;
        }
        (live, outcome)
    }

    async fn converse(
        &self,
        job: &Job,
        live: &mut Live,
        allowed: &mut Option<bool>,
        started: Instant,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, Turn> {
        let mut continue_from = None;
        loop {
            let request = TeacherRequest {
                sample_id: job.sample_id.clone(),
                system: job.prompt.system.clone(),
                question: job.question.clone(),
                params: job.prompt.params,
                history: live.history.clone(),
                continue_from: continue_from.take(),
            };
            if let Some(limiter) = &self.limiter {
                tokio::select! {
                    () = cancel.cancelled() => {
                        return Err(Turn::Failed(TeacherError::Cancelled.to_string()));
                    }
                    () = limiter.acquire() => {}
                }
            }
            let streamed = {
                let mut sink = |event| {
                    let flow = live.on_teacher_event(event, started, observer);
                    live.note_arrival(started, Origin::Teacher);
                    if flow.is_continue() && live.script_reached() {
                        live.cut = true;
                        return ControlFlow::Break(());
                    }
                    flow
                };
                let stream = self.teacher.stream(&request, &mut sink, cancel);
                match &job.interrupter {
                    Some(interrupter) => interruptible(stream, interrupter, cancel).await,
                    None => Ok(stream.await),
                }
            };
            let streamed = match streamed {
                Err(interjection) => {
                    live.cut = false;
                    live.begin_turn(interjection, observer);
                    continue;
                }
                Ok(Ok(StreamEnd::Stopped)) if live.cut => {
                    live.cut = false;
                    let interjection = live.scripted().map(|s| s.text.clone()).unwrap_or_default();
                    live.begin_turn(interjection, observer);
                    continue;
                }
                Ok(streamed) => streamed,
            };
            match streamed {
                Ok(StreamEnd::Finished { reason }) => return Ok(reason),
                Ok(StreamEnd::Stopped) if live.stopped.is_some() => {
                    return Err(Turn::Stopped(live.stopped.take().unwrap_or_default()));
                }
                Ok(StreamEnd::Stopped) if !self.may_execute(allowed, cancel).await => {
                    // Not allowed to run code: the turn goes on as if blocks were plain text.
                    live.stop_at_blocks = false;
                    continue_from = Some(live.text.clone());
                }
                Ok(StreamEnd::Stopped) => {
                    // An executable block closed: run it and ask for the rest of the turn.
                    let code = live.take_closed_block();
                    let block = live.executions.len();
                    let result = self.execute(block, &code, observer, cancel).await;
                    live.exec_time += result.duration;
                    let failure = exec_failure(&result);
                    if failure.is_none() {
                        live.append_system(&result.to_block(), observer);
                        live.note_arrival(started, Origin::System);
                        live.system_results += 1;
                    }
                    live.executions.push(Execution {
                        block,
                        outcome: result,
                    });
                    if let Some(failure) = failure {
                        return Err(Turn::Failed(failure));
                    }
                    if live.executions.len() >= MAX_EXECUTIONS {
                        // Enough: later blocks stay without results.
                        live.stop_at_blocks = false;
                    }
                    observer.on_event(RunEvent::Continuing);
                    continue_from = Some(live.text.clone());
                }
                Err(e @ TeacherError::ContinuationRefused { .. }) => {
                    return Err(Turn::ContinuationRefused(e.to_string()));
                }
                Err(e @ (TeacherError::Dropped(_) | TeacherError::Incomplete)) => {
                    return Err(Turn::Cut(e.to_string()));
                }
                Err(e) => return Err(Turn::Failed(e.to_string())),
            }
        }
    }

    /// Runs every executable block of `text` (parsed as `transcript`) not yet run (fill mode:
    /// all of them, up to [`MAX_EXECUTIONS`]) and puts the results in place; `Ok(true)` when
    /// the text changed. When one cannot run or is cancelled, the text is left as the teacher
    /// wrote it and the reason is returned.
    #[allow(clippy::too_many_arguments)] // the run's parts a fill changes, each its own
    async fn fill(
        &self,
        text: &mut String,
        blocks: &[super::ExecutableBlock],
        interruptions: &mut [Interruption],
        executions: &mut Vec<Execution>,
        exec_time: &mut Duration,
        stream: &mut Timeline,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> Result<bool, String> {
        let room = MAX_EXECUTIONS.saturating_sub(executions.len());
        let pending = blocks.get(executions.len()..).unwrap_or_default();
        let pending = &pending[..pending.len().min(room)];
        let mut results = Vec::with_capacity(pending.len());
        for block in pending {
            let index = executions.len();
            let result = self.execute(index, &block.code, observer, cancel).await;
            *exec_time += result.duration;
            let failure = exec_failure(&result);
            results.push(result.to_block());
            executions.push(Execution {
                block: index,
                outcome: result,
            });
            if let Some(failure) = failure {
                return Err(failure);
            }
        }
        if results.is_empty() {
            return Ok(false);
        }
        let (filled, splices) = splice_results_noting(text, pending, &results);
        *text = filled;
        for interruption in interruptions {
            interruption.at = spliced_offset(interruption.at, &splices);
        }
        stream.splice(&splices);
        observer.on_event(RunEvent::Rewritten(text.clone()));
        Ok(true)
    }

    async fn execute(
        &self,
        block: usize,
        code: &str,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> ExecOutcome {
        observer.on_event(RunEvent::ExecStarted {
            block,
            code: code.to_owned(),
        });
        let outcome = self.sandbox.run(code, cancel).await;
        observer.on_event(RunEvent::ExecFinished {
            block,
            outcome: outcome.clone(),
        });
        outcome
    }
}

/// The segment counts of `text` (parsed whole as `transcript`), turn by turn when the run was
/// interrupted.
fn summary(
    text: &str,
    transcript: &Transcript,
    interruptions: &[Interruption],
    rules: &Rules,
) -> SegmentSummary {
    if interruptions.is_empty() {
        return SegmentSummary::of(transcript);
    }
    turns::split_turns("", text, interruptions)
        .iter()
        .map(|t| SegmentSummary::of(&turns::parse_turn(t.assistant, t.cut, rules)))
        .fold(SegmentSummary::default(), SegmentSummary::plus)
}

/// The closed executable blocks of `text` (parsed whole as `transcript`), found turn by turn
/// when the run was interrupted (a block cut open must not swallow the next turn's text), with
/// spans in `text`.
fn turn_blocks(
    text: &str,
    transcript: &Transcript,
    interruptions: &[Interruption],
    rules: &Rules,
) -> Vec<super::ExecutableBlock> {
    if interruptions.is_empty() {
        return blocks_of(transcript);
    }
    let mut blocks = Vec::new();
    let mut offset = 0;
    for turn in turns::split_turns("", text, interruptions) {
        let parsed = turns::parse_turn(turn.assistant, turn.cut, rules);
        blocks.extend(blocks_of(&parsed).into_iter().map(|mut b| {
            b.span = b.span.start + offset..b.span.end + offset;
            b.result = b.result.map(|r| r.start + offset..r.end + offset);
            b
        }));
        offset += turn.assistant.len();
    }
    blocks
}

/// Where byte `at` of a text is after `splices` (in order, not overlapping): an offset inside
/// removed bytes moves to the end of what was put in their place.
fn spliced_offset(at: usize, splices: &[super::timeline::Splice]) -> usize {
    // Bytes put in and taken out before `at`.
    let (mut added, mut taken) = (0, 0);
    for splice in splices {
        if splice.removed.start > at {
            break;
        }
        if at < splice.removed.end || at == splice.removed.start {
            // A turn that ends with a block keeps its result.
            return (splice.removed.start + added + splice.inserted).saturating_sub(taken);
        }
        added += splice.inserted;
        taken += splice.removed.len();
    }
    (at + added).saturating_sub(taken)
}

/// Result blocks of `transcript` the model wrote itself (not the `system_results` moss put in).
fn model_results(transcript: &Transcript, replayed: bool, system_results: usize) -> usize {
    let total_results = transcript
        .segments
        .iter()
        .filter(|s| s.kind.is_exec_output())
        .count();
    if replayed {
        // Results right after a block are the recorded system's; only others are invented.
        total_results.saturating_sub(attached_results(transcript))
    } else {
        total_results.saturating_sub(system_results)
    }
}

/// Why a turn ended without finishing.
enum Turn {
    Failed(String),
    /// The stream broke off (dropped, or ended without `[DONE]`): a server may have cut it.
    Cut(String),
    /// The provider refused a continuation request: the run starts over in fill mode.
    ContinuationRefused(String),
    /// A rule with `stop = true` failed for good: the stream was closed.
    Stopped(String),
}

impl Turn {
    fn into_message(self) -> String {
        match self {
            Self::Failed(m) | Self::Cut(m) | Self::ContinuationRefused(m) | Self::Stopped(m) => m,
        }
    }
}

/// Executions one run may make; blocks past this stay without results (and the
/// `run-has-result` rule says so). Bounds the cost of a teacher that keeps writing code.
pub const MAX_EXECUTIONS: usize = 16;

/// Finish reasons that mean the teacher ended its turn by itself: `stop`, and the names other
/// compatible servers give it (`eos` in TGI and some llama.cpp builds, `end_turn` and
/// `stop_sequence` in gateways to Anthropic-style APIs).
const FINISHED_REASONS: [&str; 4] = ["stop", "eos", "end_turn", "stop_sequence"];

/// What the end of a stream is judged with besides the stream itself.
#[derive(Clone, Copy, Debug)]
struct StreamContext {
    /// The server runs on this machine.
    local: bool,
    /// Other runs were in flight when this one ended.
    shared: bool,
}

impl StreamContext {
    /// Why a stream may have been cut short, for the error.
    fn hint(self) -> &'static str {
        if self.local && self.shared {
            "; a local server that serves fewer requests at once than it is sent (llama.cpp's \
             --parallel, say) cuts the streams it interrupts like this: try --concurrency 1 \
             ([workbench] concurrency = 1 in the workbench)"
        } else {
            ""
        }
    }
}

/// Why an execution means the run cannot be complete: the sandbox could not run the code, or
/// the run was cancelled. (Code that fails is a result like any other.)
fn exec_failure(outcome: &ExecOutcome) -> Option<String> {
    match &outcome.status {
        ExecStatus::NotStarted { message } => Some(format!("could not run the code: {message}")),
        ExecStatus::Cancelled => Some(TeacherError::Cancelled.to_string()),
        _ => None,
    }
}

/// Completion tokens per second of streaming (code execution and waiting for the first token
/// left out).
fn tokens_per_sec(
    usage: &Usage,
    total: Duration,
    exec_time: Duration,
    first_token: Option<Duration>,
) -> Option<f64> {
    let streaming = total
        .saturating_sub(exec_time)
        .saturating_sub(first_token.unwrap_or_default());
    #[allow(clippy::cast_precision_loss)] // token counts are far below 2^52
    let tokens = usage.completion_tokens as f64;
    (usage.completion_tokens > 0 && !streaming.is_zero()).then(|| tokens / streaming.as_secs_f64())
}

/// The run's status from the end of its stream: `complete` only when the provider said the
/// answer ended (a finish reason in [`FINISHED_REASONS`]); `[DONE]` alone, a cut stream or
/// any other reason is `incomplete`, and no answer at all is `failed`.
fn judge_end(
    outcome: Result<Option<String>, String>,
    text: &str,
    reasoning: &str,
    end: StreamContext,
) -> (RunStatus, Option<String>, Option<String>) {
    let hint = end.hint();
    match outcome {
        Ok(reason) if text.trim().is_empty() => {
            let said = reason
                .as_deref()
                .map(|r| format!(", finish reason: {r}"))
                .unwrap_or_default();
            let thought = if reasoning.trim().is_empty() {
                ""
            } else {
                " (only hidden reasoning)"
            };
            let causes = if hint.is_empty() {
                "; the request may exceed the model's context window, or the server was busy"
            } else {
                hint
            };
            (
                RunStatus::Failed,
                Some(format!(
                    "the server sent no answer{thought} (the stream ended{said}){causes}"
                )),
                reason,
            )
        }
        Ok(None) => (
            RunStatus::Incomplete,
            Some(format!(
                "the stream ended without a finish reason, so the answer may be cut short{hint}"
            )),
            None,
        ),
        Ok(Some(reason)) if FINISHED_REASONS.contains(&reason.as_str()) => {
            (RunStatus::Complete, None, Some(reason))
        }
        Ok(Some(reason)) if reason == "length" => (
            RunStatus::Incomplete,
            Some("the answer was cut off at max_tokens (finish reason: length)".to_owned()),
            Some(reason),
        ),
        Ok(Some(reason)) => (
            RunStatus::Incomplete,
            Some(format!(
                "the teacher stopped early (finish reason: {reason})"
            )),
            Some(reason),
        ),
        Err(e) if text.is_empty() && reasoning.is_empty() => {
            (RunStatus::Failed, Some(format!("{e}{hint}")), None)
        }
        Err(e) => (RunStatus::Incomplete, Some(format!("{e}{hint}")), None),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The transcript as it streams in.
struct Live {
    text: String,
    executions: Vec<Execution>,
    exec_time: Duration,
    /// Results the system put in during the stream.
    system_results: usize,
    reasoning: String,
    usage: Option<Usage>,
    first_token: Option<Duration>,
    /// When the first answer text (not a think, code or a result) arrived.
    first_answer: Option<Duration>,
    /// Reads the stream until the first answer text; dropped once it has come.
    answer_watch: Option<(StreamParser, FirstAnswer)>,
    parser: StreamParser,
    watch: Watch,
    /// Stop the stream when an executable block closes.
    stop_at_blocks: bool,
    /// When each piece of `text` arrived, up to `noted` bytes.
    stream: Timeline,
    noted: usize,
    /// The rules that stop the run when they fail for good; the transcript is watched for them.
    stop: Option<StopCheck>,
    /// Why a rule stopped the stream.
    stopped: Option<String>,
    /// The teacher replays recordings (whose results after a block are no model's).
    replayed: bool,
    /// Where the current assistant turn begins in `text` (the parser and `watch` read only it).
    turn_start: usize,
    /// The turns cut so far, and what the user said after each.
    interruptions: Vec<Interruption>,
    history: Vec<PriorTurn>,
    /// `stop` as it was before any text, for each new turn.
    stop_fresh: Option<StopCheck>,
    /// Interruptions scripted for this run, one per turn.
    script: Vec<ScriptedInterruption>,
    /// Counts the current turn's words while a scripted interruption awaits them.
    words: Option<(StreamParser, Transcript)>,
    /// The script's words were reached: the stream stopped to cut the turn.
    cut: bool,
}

impl Live {
    fn new(mode: crate::transcript::CountMode, stop_at_blocks: bool) -> Self {
        Self {
            text: String::new(),
            executions: Vec::new(),
            exec_time: Duration::ZERO,
            system_results: 0,
            reasoning: String::new(),
            usage: None,
            first_token: None,
            first_answer: None,
            answer_watch: Some((StreamParser::new(), FirstAnswer::default())),
            parser: StreamParser::new(),
            watch: Watch {
                transcript: Transcript::new(mode),
                closed_block_end: None,
            },
            stop_at_blocks,
            stream: Timeline::default(),
            noted: 0,
            stop: None,
            stopped: None,
            replayed: false,
            turn_start: 0,
            interruptions: Vec::new(),
            history: Vec::new(),
            stop_fresh: None,
            script: Vec::new(),
            words: None,
            cut: false,
        }
    }

    /// Cuts each turn as `script` says.
    fn with_script(mut self, script: &[ScriptedInterruption]) -> Self {
        self.script = script.to_vec();
        self.watch_words();
        self
    }

    /// Counts the turn's words when the script cuts this turn.
    fn watch_words(&mut self) {
        self.words = self.scripted().map(|_| {
            (
                StreamParser::new(),
                Transcript::new(self.watch.transcript.count_mode()),
            )
        });
    }

    /// The scripted interruption of the current turn.
    fn scripted(&self) -> Option<&ScriptedInterruption> {
        self.script.get(self.interruptions.len())
    }

    /// Whether the current turn holds the words its scripted interruption waits for.
    fn script_reached(&self) -> bool {
        match (&self.words, self.scripted()) {
            (Some((_, counted)), Some(script)) => {
                turns::spoken_words(counted) >= script.after_words
            }
            _ => false,
        }
    }

    /// Ends the current turn where the text stands and starts the next after `interjection`.
    fn begin_turn(&mut self, interjection: String, observer: &mut dyn RunObserver) {
        let at = self.text.len();
        self.history.push(PriorTurn {
            assistant: self.text[self.turn_start..].to_owned(),
            interjection: interjection.clone(),
        });
        self.interruptions.push(Interruption {
            at,
            text: interjection.clone(),
        });
        observer.on_event(RunEvent::Interrupted {
            at,
            text: interjection,
        });
        self.turn_start = at;
        self.stop.clone_from(&self.stop_fresh);
        self.stopped = None;
        self.reread();
        self.watch_words();
    }

    /// Stops the stream when a rule of `stop` has failed for good.
    fn with_stop(mut self, stop: Option<StopCheck>, replayed: bool) -> Self {
        self.stop_fresh.clone_from(&stop);
        self.stop = stop;
        self.replayed = replayed;
        self
    }

    /// Judges the stop-enabled rules on what arrived; `Break` (with the reason kept) when one
    /// has failed for good.
    fn check_stop(&mut self) -> ControlFlow<()> {
        let Some(stop) = &mut self.stop else {
            return ControlFlow::Continue(());
        };
        let (replayed, system_results) = (self.replayed, self.system_results);
        let failure = stop.check(&self.watch.transcript, |t| RuleContext::Live {
            model_results: model_results(t, replayed, system_results),
        });
        match failure {
            Some(failure) => {
                self.stopped = Some(format!(
                    "stopped: {} failed: {}",
                    failure.id, failure.message
                ));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    }

    /// Notes the text added since the last call as arrived now, from `origin`.
    fn note_arrival(&mut self, started: Instant, origin: Origin) {
        let len = self.text.len().saturating_sub(self.noted);
        self.stream.push(started.elapsed(), len, origin);
        self.noted = self.text.len();
    }

    fn on_teacher_event(
        &mut self,
        event: TeacherEvent,
        started: Instant,
        observer: &mut dyn RunObserver,
    ) -> ControlFlow<()> {
        match event {
            TeacherEvent::Text(text) => {
                self.first_token.get_or_insert_with(|| started.elapsed());
                if let Some((parser, counted)) = &mut self.words {
                    parser.feed(&text, counted);
                }
                if let Some((parser, answer)) = &mut self.answer_watch {
                    parser.feed(&text, answer);
                    if answer.seen {
                        self.first_answer = Some(started.elapsed());
                        self.answer_watch = None;
                    }
                }
                if !self.stop_at_blocks && self.stop.is_none() {
                    self.text.push_str(&text);
                    observer.on_event(RunEvent::Text {
                        text,
                        system: false,
                    });
                    return ControlFlow::Continue(());
                }
                self.parser.feed(&text, &mut self.watch);
                let closed_block_end = self.watch.closed_block_end.filter(|_| self.stop_at_blocks);
                match closed_block_end {
                    Some(end) => {
                        // Keep the text up to the block's end; what the model wrote past it
                        // (an invented result, usually) is dropped.
                        let mut keep = (self.turn_start + end)
                            .saturating_sub(self.text.len())
                            .min(text.len());
                        // The end of a fence line is ASCII; stay on a char boundary regardless.
                        while !text.is_char_boundary(keep) {
                            keep -= 1;
                        }
                        let kept = &text[..keep];
                        self.text.push_str(kept);
                        observer.on_event(RunEvent::Text {
                            text: kept.to_owned(),
                            system: false,
                        });
                        if self.stop.is_some() {
                            // The rules judge only the text kept, before the block runs.
                            self.reread();
                            self.watch.closed_block_end = Some(end);
                            self.check_stop()?;
                        }
                        ControlFlow::Break(())
                    }
                    None => {
                        self.text.push_str(&text);
                        observer.on_event(RunEvent::Text {
                            text,
                            system: false,
                        });
                        self.check_stop()
                    }
                }
            }
            TeacherEvent::Reasoning(text) => {
                self.first_token.get_or_insert_with(|| started.elapsed());
                self.reasoning.push_str(&text);
                observer.on_event(RunEvent::Reasoning(text));
                ControlFlow::Continue(())
            }
            TeacherEvent::Usage(usage) => {
                self.usage.get_or_insert_with(Usage::default).add(&usage);
                observer.on_event(RunEvent::Usage(usage));
                ControlFlow::Continue(())
            }
        }
    }

    /// The code of the block the stream stopped at.
    fn take_closed_block(&mut self) -> String {
        self.watch.closed_block_end = None;
        executable_blocks(&self.text[self.turn_start..])
            .pop()
            .map(|b| b.code)
            .unwrap_or_default()
    }

    /// Appends a system result after the block the text ends with, and re-reads the text so
    /// the parser continues from exactly this text.
    fn append_system(&mut self, block: &str, observer: &mut dyn RunObserver) {
        let before = self.text.len();
        push_result(&mut self.text, block);
        self.text.push('\n');
        observer.on_event(RunEvent::Text {
            text: self.text[before..].to_owned(),
            system: true,
        });
        self.reread();
    }

    /// Parses the text again from the start, so the parser continues from exactly this text.
    fn reread(&mut self) {
        self.parser.reset();
        self.watch.transcript.clear();
        self.parser
            .feed(&self.text[self.turn_start..], &mut self.watch);
        self.watch.closed_block_end = None;
    }
}

/// `stream` until it ends (`Ok`), or until the user's words come (`Err`): dropping it then
/// closes the connection where it is. While held, the stream is not polled, so nothing more is
/// read (the server waits) until the words come or the hold is released.
async fn interruptible<T>(
    stream: impl std::future::Future<Output = T>,
    interrupter: &super::Interrupter,
    cancel: &CancellationToken,
) -> Result<T, String> {
    tokio::pin!(stream);
    loop {
        tokio::select! {
            biased;
            signal = interrupter.signal() => match signal {
                Signal::Interject(text) => return Err(text),
                Signal::Hold => tokio::select! {
                    said = interrupter.after_hold() => {
                        if let Some(text) = said {
                            return Err(text);
                        }
                    }
                    () = cancel.cancelled() => {}
                },
            },
            streamed = &mut stream => return Ok(streamed),
        }
    }
}

/// Notes whether answer text (anything but white space, outside thinks, code and results) has
/// come yet.
#[derive(Default)]
struct FirstAnswer {
    answer_open: bool,
    seen: bool,
}

impl SegmentSink for FirstAnswer {
    fn started(&mut self, _: usize, kind: SegmentKind, _: Option<Fence>, _: usize) {
        self.answer_open = kind == SegmentKind::Answer;
    }

    fn text(&mut self, _: usize, text: &str) {
        self.seen |= self.answer_open && !text.trim().is_empty();
    }

    fn ended(&mut self, _: usize, _: usize, _: bool) {
        self.answer_open = false;
    }

    fn anomaly(&mut self, _: Anomaly) {}
}

/// Folds parser output into a transcript and notes where the first executable block closes.
struct Watch {
    transcript: Transcript,
    closed_block_end: Option<usize>,
}

impl SegmentSink for Watch {
    fn started(&mut self, index: usize, kind: SegmentKind, fence: Option<Fence>, offset: usize) {
        self.transcript.started(index, kind, fence, offset);
    }

    fn text(&mut self, index: usize, text: &str) {
        SegmentSink::text(&mut self.transcript, index, text);
    }

    fn ended(&mut self, index: usize, offset: usize, closed: bool) {
        self.transcript.ended(index, offset, closed);
        if self.closed_block_end.is_none()
            && self
                .transcript
                .segments
                .get(index)
                .is_some_and(is_closed_executable)
        {
            self.closed_block_end = Some(offset);
        }
    }

    fn anomaly(&mut self, anomaly: Anomaly) {
        self.transcript.anomaly(anomaly);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::NoObserver;
    use crate::transcript::CountMode;

    /// Feeds `chunks` as the teacher's text and says after which chunk the first answer text
    /// was seen.
    fn first_answer_after(chunks: &[&str]) -> Option<usize> {
        let mut live = Live::new(CountMode::Mixed, false);
        let started = Instant::now();
        for (i, chunk) in chunks.iter().enumerate() {
            let _ = live.on_teacher_event(
                TeacherEvent::Text((*chunk).to_owned()),
                started,
                &mut NoObserver,
            );
            if live.first_answer.is_some() {
                assert!(live.first_answer >= live.first_token);
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn the_first_answer_is_the_first_text_outside_thinks_code_and_results() {
        assert_eq!(first_answer_after(&["天空", "是蓝色的"]), Some(0));
        // White space and a think are no answer yet, even with the tag cut across chunks.
        assert_eq!(
            first_answer_after(&["\n  ", "<thi", "nk>先想一想", "</think>", "\n", "答"]),
            Some(5)
        );
        assert_eq!(
            first_answer_after(&["```python RUN\nprint(1)\n```\n", "结果是 1"]),
            Some(1)
        );
        assert_eq!(
            first_answer_after(&["<think>只想不说</think>", " \n"]),
            None
        );
    }

    #[test]
    fn hidden_reasoning_is_a_first_token_but_no_answer() {
        let mut live = Live::new(CountMode::Mixed, true);
        let started = Instant::now();
        let _ = live.on_teacher_event(
            TeacherEvent::Reasoning("let me think".to_owned()),
            started,
            &mut NoObserver,
        );
        assert!(live.first_token.is_some());
        assert!(live.first_answer.is_none());
        let _ = live.on_teacher_event(
            TeacherEvent::Text("Blue.".to_owned()),
            started,
            &mut NoObserver,
        );
        assert!(live.first_answer.is_some());
    }
}
