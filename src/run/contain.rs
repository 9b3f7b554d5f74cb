//! Panic containment for runs: a run that panics (a bug in moss) becomes a `failed` run with the
//! panic's message, recorded like any other, and the panic is marked as contained so that the
//! workbench's panic hook leaves the terminal alone.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;

use super::{Job, Pipeline, Run, RunObserver, RunStatus, SegmentSummary, Timings, new_run_id};
use crate::transcript::{RuleContext, Transcript};

thread_local! {
    /// How many contained futures are being polled on this thread right now.
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
}

/// Whether a panic on this thread happens inside a contained run (for panic hooks: such a
/// panic is caught and recorded, the program goes on).
#[must_use]
pub fn panic_is_contained() -> bool {
    CONTAINED.with(|c| c.get() > 0)
}

/// Polls the inner future with [`CONTAINED`] raised.
struct Contained<F>(Pin<Box<F>>);

/// Lowers [`CONTAINED`] when a poll ends, by returning or by unwinding.
struct Lower;

impl Drop for Lower {
    fn drop(&mut self) {
        CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

impl<F: Future> Future for Contained<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        CONTAINED.with(|c| c.set(c.get() + 1));
        let _lower = Lower;
        self.0.as_mut().poll(cx)
    }
}

/// The text of a panic's payload.
#[must_use]
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl Pipeline {
    /// [`Pipeline::run`], with a panic contained: it becomes a `failed` run whose error is the
    /// panic's message, so one bug costs one run, never the batch or the workbench.
    pub async fn run_contained(
        &self,
        job: &Job,
        observer: &mut dyn RunObserver,
        cancel: &CancellationToken,
    ) -> Run {
        let started = Instant::now();
        let started_at_ms = super::epoch_ms();
        let run = Contained(Box::pin(AssertUnwindSafe(self.run(job, observer, cancel))))
            .catch_unwind()
            .await;
        match run {
            Ok(run) => run,
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(sample = %job.sample_id, %message, "a run panicked");
                self.panicked(job, &message, started_at_ms, started)
            }
        }
    }

    /// The record of a run that panicked.
    fn panicked(&self, job: &Job, message: &str, started_at_ms: u64, started: Instant) -> Run {
        let settings = self.settings_for(job);
        let judge = self.rules_for(&job.prompt);
        let transcript = Transcript::parse("", judge.config().count_mode);
        Run {
            run_id: new_run_id(),
            sample_id: job.sample_id.clone(),
            question: job.question.clone(),
            prompt_id: job.prompt.id.clone(),
            settings_id: settings.id(),
            rules_id: settings.rules.clone(),
            teacher: self.teacher().info(),
            placeholder: false,
            params: job.prompt.params,
            exec: self.exec_mode(),
            status: RunStatus::Failed,
            error: Some(format!(
                "internal error in moss (please report it): {message}"
            )),
            finish_reason: None,
            segments: SegmentSummary::of(&transcript),
            transcript: String::new(),
            interruptions: Vec::new(),
            rules: judge.evaluate(&transcript, RuleContext::Live { model_results: 0 }),
            reasoning: None,
            usage: None,
            executions: Vec::new(),
            timings: Timings {
                started_at_ms,
                total_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                ..Timings::default()
            },
            stream: None,
        }
    }
}
