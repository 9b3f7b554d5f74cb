//! `moss generate`: the run pipeline over a whole sample file, concurrently and resumably.
//!
//! Every finished run is appended to `.moss/runs.jsonl` and synced before it is counted. A
//! rerun skips samples that already have a complete run for the same prompt id and settings,
//! so an interrupted batch resumes where it stopped, losing and duplicating nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::dataset::DatasetError;
pub use crate::dataset::{Sample, SamplesError, read_samples};
use crate::export::{Example, ExportError, ExportFormat, write_atomically, write_line};
use crate::run::{Job, NoObserver, Pipeline, PromptVersion, Run, RunStatus};
use crate::store::{Entry, Journal, StoreError, Workspace};
use crate::transcript::{Outcome, RuleId};

/// How often plain progress lines are written when stderr is not a terminal.
const PROGRESS_LINE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Samples(#[from] SamplesError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not record a run: {0}")]
    Journal(String),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A plain line every few seconds (logs, CI).
    Lines,
    Quiet,
}

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub concurrency: usize,
    /// Only the first N samples of the file.
    pub limit: Option<usize>,
    /// Write the complete runs of these samples as sharegpt JSONL.
    pub out: Option<PathBuf>,
    pub progress: ProgressMode,
}

/// The light view of a stored run that resuming and summaries need.
#[derive(Deserialize)]
struct RunIndex {
    sample_id: String,
    question: String,
    prompt_id: String,
    settings_id: String,
    status: RunStatus,
    #[serde(default)]
    rules: Vec<RuleBrief>,
}

#[derive(Deserialize)]
struct RuleBrief {
    id: RuleId,
    outcome: Outcome,
}

/// A run that did not complete, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub sample_id: String,
    pub status: RunStatus,
    pub reason: String,
}

/// What a batch did.
#[derive(Clone, Debug, Default)]
pub struct GenerateReport {
    /// Samples selected (after `--limit`).
    pub selected: usize,
    /// Selected samples that already had a complete run and were skipped.
    pub resumed: usize,
    pub complete: usize,
    pub incomplete: usize,
    pub failed: usize,
    /// Runs stopped by an interruption with nothing to keep (not recorded).
    pub cancelled: usize,
    /// Samples never started because of an interruption.
    pub not_started: usize,
    pub interrupted: bool,
    pub failures: Vec<Failure>,
    /// Selected samples that now have a complete run for this prompt and settings.
    pub dataset_complete: usize,
    /// Per rule over those runs: (passed, failed).
    pub rules: BTreeMap<RuleId, (usize, usize)>,
    pub exported: Option<(PathBuf, usize)>,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

impl GenerateReport {
    /// Counts one finished task; `Err` when its run could not be recorded.
    fn count(
        &mut self,
        joined: Result<Result<Finished, String>, tokio::task::JoinError>,
        progress: &Progress,
    ) -> Result<(), String> {
        match joined {
            Ok(Ok(Finished::Recorded(brief))) => {
                match brief.status {
                    RunStatus::Complete => self.complete += 1,
                    RunStatus::Incomplete => self.incomplete += 1,
                    RunStatus::Failed => self.failed += 1,
                }
                if brief.status != RunStatus::Complete {
                    progress.note(&format!(
                        "{} {}: {}",
                        brief.sample_id,
                        brief.status.as_str(),
                        brief.reason
                    ));
                    self.failures.push(brief);
                }
            }
            Ok(Ok(Finished::Cancelled)) => self.cancelled += 1,
            Ok(Err(e)) => return Err(e),
            Err(join) => {
                self.failed += 1;
                self.failures.push(Failure {
                    sample_id: "?".to_owned(),
                    status: RunStatus::Failed,
                    reason: format!("internal error: {join}"),
                });
            }
        }
        progress.set(
            self.complete + self.incomplete + self.failed + self.cancelled,
            self.incomplete + self.failed,
        );
        Ok(())
    }

    /// Whether every selected sample has a complete run.
    #[must_use]
    pub fn all_complete(&self) -> bool {
        self.dataset_complete == self.selected
    }

    /// # Errors
    /// When writing fails.
    pub fn write_summary(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let ran = self.complete + self.incomplete + self.failed;
        write!(out, "{} samples: ", self.selected)?;
        if self.resumed > 0 {
            write!(out, "{} already complete, ", self.resumed)?;
        }
        writeln!(
            out,
            "{ran} run now ({} complete, {} incomplete, {} failed) in {}",
            self.complete,
            self.incomplete,
            self.failed,
            format_duration(self.elapsed)
        )?;
        if self.interrupted {
            writeln!(
                out,
                "interrupted: {} cancelled runs not recorded, {} samples not started; run the same command again to resume",
                self.cancelled, self.not_started
            )?;
        }
        writeln!(
            out,
            "{}/{} samples have a complete run for this prompt and settings",
            self.dataset_complete, self.selected
        )?;
        if !self.rules.is_empty() {
            writeln!(out, "rule pass rates over those runs:")?;
            for (id, (pass, fail)) in &self.rules {
                let judged = pass + fail;
                #[allow(clippy::cast_precision_loss)]
                let rate = if judged == 0 {
                    100.0
                } else {
                    *pass as f64 * 100.0 / judged as f64
                };
                writeln!(
                    out,
                    "  {:<22} {pass:>6}/{judged:<6} {rate:5.1}%",
                    id.as_str()
                )?;
            }
        }
        if !self.failures.is_empty() {
            writeln!(out, "runs that did not complete:")?;
            for f in &self.failures {
                writeln!(
                    out,
                    "  {:<12} {:<10} {}",
                    f.sample_id,
                    f.status.as_str(),
                    f.reason
                )?;
            }
        }
        if let Some((path, n)) = &self.exported {
            writeln!(out, "wrote {n} records to {} (sharegpt)", path.display())?;
        }
        Ok(())
    }
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Runs `samples` through `pipeline` under `prompt`, recording every run in `workspace`.
/// Cancelling `cancel` stops starting runs and cancels those in flight; every finished run is
/// kept.
///
/// # Errors
/// When the store cannot be written (nothing is counted that is not on disk) or `--out` fails.
pub async fn generate(
    pipeline: Arc<Pipeline>,
    prompt: Arc<PromptVersion>,
    samples: &[Sample],
    workspace: &Workspace,
    options: &GenerateOptions,
    cancel: CancellationToken,
) -> Result<GenerateReport, GenerateError> {
    let started = Instant::now();
    workspace.save_prompt(&prompt)?;
    let settings_id = pipeline.settings(&prompt).id();
    let selected = &samples[..options.limit.unwrap_or(usize::MAX).min(samples.len())];
    let mut report = GenerateReport {
        selected: selected.len(),
        ..GenerateReport::default()
    };

    let todo = still_to_run(workspace, selected, &prompt.id, &settings_id, &mut report)?;
    report.resumed = selected.len() - todo.len();

    let progress = Progress::new(options.progress, todo.len());
    // A run journal that cannot be opened stops the batch before it starts.
    let mut journal = Journal::start(workspace.clone())?;
    let concurrency = options.concurrency.max(1);
    let mut pending = todo.into_iter();
    let mut tasks = JoinSet::new();
    let mut stopping = false;
    let mut journal_error = None;
    loop {
        while !stopping && tasks.len() < concurrency {
            let Some(sample) = pending.next() else { break };
            let job = Job {
                sample_id: sample.id.clone(),
                question: sample.question.clone(),
                prompt: prompt.clone(),
            };
            let pipeline = pipeline.clone();
            let cancel = cancel.clone();
            let journal = journal.handle();
            tasks.spawn(async move {
                // A panic becomes a failed run, recorded like any other.
                let run = pipeline.run_contained(&job, &mut NoObserver, &cancel).await;
                if cancel.is_cancelled() && run.status == RunStatus::Failed {
                    return Ok(Finished::Cancelled);
                }
                let brief = Failure {
                    sample_id: run.sample_id.clone(),
                    status: run.status,
                    reason: run.error.clone().unwrap_or_default(),
                };
                journal.write(Entry::Run(Box::new(run))).await?;
                Ok(Finished::Recorded(brief))
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { continue };
                if let Err(e) = report.count(joined, &progress) {
                    // Nothing more can be recorded: stop everything.
                    journal_error.get_or_insert(e);
                    stopping = true;
                    cancel.cancel();
                }
            }
            () = cancel.cancelled(), if !stopping => {
                stopping = true;
                report.interrupted = true;
            }
        }
    }
    report.not_started = pending.len();
    journal.finish();
    progress.finish();
    if let Some(e) = journal_error {
        return Err(GenerateError::Journal(e));
    }
    report.interrupted |= cancel.is_cancelled();

    tally_dataset(
        workspace,
        selected,
        &prompt.id,
        &settings_id,
        options.out.as_deref(),
        &mut report,
    )?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The selected samples without a complete run of this prompt and settings for this very
/// question (an edited question under the same id is a new sample).
fn still_to_run<'a>(
    workspace: &Workspace,
    selected: &'a [Sample],
    prompt_id: &str,
    settings_id: &str,
    report: &mut GenerateReport,
) -> Result<Vec<&'a Sample>, GenerateError> {
    let mut done = HashSet::new();
    report.warnings = workspace.scan_runs(|_, r: RunIndex| {
        if r.status == RunStatus::Complete
            && r.prompt_id == prompt_id
            && r.settings_id == settings_id
        {
            done.insert((r.sample_id, r.question));
        }
    })?;
    Ok(selected
        .iter()
        .filter(|s| !done.contains(&(s.id.clone(), s.question.clone())))
        .collect())
}

/// The dataset as it now stands: the latest complete run of each selected sample, its rule
/// tallies, and the `--out` file.
fn tally_dataset(
    workspace: &Workspace,
    selected: &[Sample],
    prompt_id: &str,
    settings_id: &str,
    out: Option<&Path>,
    report: &mut GenerateReport,
) -> Result<(), GenerateError> {
    let wanted: HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut latest: Vec<Option<(u64, Vec<RuleBrief>)>> = Vec::new();
    latest.resize_with(selected.len(), || None);
    workspace.scan_runs(|offset, r: RunIndex| {
        if r.status == RunStatus::Complete
            && r.prompt_id == prompt_id
            && r.settings_id == settings_id
            && let Some(&i) = wanted.get(r.sample_id.as_str())
            && selected[i].question == r.question
        {
            latest[i] = Some((offset, r.rules));
        }
    })?;
    for (_, rules) in latest.iter().flatten() {
        report.dataset_complete += 1;
        for rule in rules {
            let entry = report.rules.entry(rule.id).or_default();
            match rule.outcome {
                Outcome::Pass => entry.0 += 1,
                Outcome::Fail => entry.1 += 1,
                Outcome::Skip => {}
            }
        }
    }
    if let Some(path) = out {
        let offsets: Vec<u64> = latest.iter().flatten().map(|(o, _)| *o).collect();
        let n = export_runs(workspace, &offsets, path)?;
        report.exported = Some((path.to_owned(), n));
    }
    Ok(())
}

/// Writes the runs at `offsets` as sharegpt JSONL; replayed runs carry `"replayed": true`.
fn export_runs(
    workspace: &Workspace,
    offsets: &[u64],
    path: &Path,
) -> Result<usize, GenerateError> {
    let mut replayed = serde_json::Map::new();
    replayed.insert("replayed".to_owned(), serde_json::Value::Bool(true));
    let mut store_error = None;
    let n = write_atomically(path, |out| {
        let mut n = 0;
        let read = workspace.read_runs_at(offsets, |run: Run| {
            let example = Example {
                system: None,
                question: &run.question,
                answer: &run.transcript,
                extra: run.teacher.replayed.then_some(&replayed),
            };
            n += 1;
            write_line(out, &example, ExportFormat::Sharegpt)
        });
        if let Err(e) = read {
            store_error = Some(e);
            return Err(std::io::Error::other("reading the runs failed"));
        }
        Ok(n)
    });
    match (n, store_error) {
        (_, Some(e)) => Err(e.into()),
        (n, None) => Ok(n?),
    }
}

enum Finished {
    Recorded(Failure),
    Cancelled,
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct Progress {
    started: Instant,
    bar: Option<ProgressBar>,
    lines: Option<std::sync::Mutex<LineProgress>>,
}

struct LineProgress {
    total: usize,
    last: Instant,
}

impl Progress {
    fn new(mode: ProgressMode, total: usize) -> Self {
        let total_u64 = u64::try_from(total).unwrap_or(u64::MAX);
        match mode {
            ProgressMode::Bar => {
                let bar =
                    ProgressBar::with_draw_target(Some(total_u64), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} · {msg} · ETA {eta}",
                ) {
                    bar.set_style(style);
                }
                bar.set_message("0 failed");
                Self {
                    started: Instant::now(),
                    bar: Some(bar),
                    lines: None,
                }
            }
            ProgressMode::Lines => {
                let now = Instant::now();
                Self {
                    started: now,
                    bar: None,
                    lines: Some(std::sync::Mutex::new(LineProgress { total, last: now })),
                }
            }
            ProgressMode::Quiet => Self {
                started: Instant::now(),
                bar: None,
                lines: None,
            },
        }
    }

    fn set(&self, done: usize, failed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
            #[allow(clippy::cast_precision_loss)]
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{failed} failed · {rate:.2} runs/s"));
        }
        if let Some(lines) = &self.lines {
            let mut p = lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            if now.duration_since(p.last) >= PROGRESS_LINE_INTERVAL || done == p.total {
                p.last = now;
                let secs = now.duration_since(self.started).as_secs_f64().max(1e-9);
                #[allow(clippy::cast_precision_loss)]
                let rate = done as f64 / secs;
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss
                )]
                let eta = if rate > 0.0 {
                    format_duration(Duration::from_secs(
                        ((p.total - done.min(p.total)) as f64 / rate) as u64,
                    ))
                } else {
                    "?".to_owned()
                };
                // Best effort: stderr may be gone (a closed pipe, a terminal that hung up), and
                // the batch must still record its runs.
                let _ = writeln!(
                    std::io::stderr(),
                    "generate: {done}/{} done, {failed} failed, {rate:.2} runs/s, ETA {eta}",
                    p.total
                );
            }
        }
    }

    fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None if self.lines.is_some() => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
