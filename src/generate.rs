//! `moss generate`: the run pipeline over a whole sample file, concurrently and resumably.
//!
//! Runs go through the run service ([`Service`]): every finished run is appended to
//! `.moss/runs.jsonl` and synced before it is counted. A rerun skips samples that already have a complete run for the same prompt id and settings,
//! so an interrupted batch resumes where it stopped, losing and duplicating nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::compare::{Interleaving, MeasuresReport, interleaving_of};
use crate::dataset::DatasetError;
pub use crate::dataset::{Sample, SamplesError, read_samples};
use crate::export::{Example, ExportError, ExportFormat, Plan, Written, write_line};
use crate::run::{
    Consent, EventSink, Job, Pipeline, PromptVersion, Run, RunStatus, ScriptedInterruption,
    Service, ServiceEvent, ServiceOptions,
};
use crate::store::{StoreError, Workspace};
use crate::transcript::{CountMode, Outcome, RuleId};

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

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub concurrency: usize,
    /// Only the first N samples of the file.
    pub limit: Option<usize>,
    /// Write the complete runs of these samples as JSONL, in `out_format`.
    pub out: Option<PathBuf>,
    /// The layout or consumer of `out` (and the files it needs beside it).
    pub out_format: ExportFormat,
    /// Also write runs of the offline replay teacher to `out` (placeholders never are).
    pub include_replayed: bool,
    /// Complete runs wanted per sample (at least 1): a teacher at temperature 0.7 varies from
    /// run to run, and several runs say whether a pass rate is signal or noise.
    pub repeat: usize,
    /// Interruptions scripted for every sample's runs (`--interrupt-after` with
    /// `--interjection`); a sample's own `interruptions` replace them.
    pub interruptions: Vec<ScriptedInterruption>,
}

/// The `--out` file a batch wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    pub path: PathBuf,
    pub records: usize,
    pub format: ExportFormat,
    /// The files written and how to train on them.
    pub written: Written,
    /// Complete runs left out: the replay teacher's placeholders (never data).
    pub placeholders: usize,
    /// Complete runs of the replay teacher left out (`include_replayed` was not given).
    pub replayed: usize,
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
    /// Complete runs wanted per sample.
    pub repeat: usize,
    /// Selected samples that already had their complete runs and were skipped.
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
    /// Selected samples that now have `repeat` complete runs.
    pub dataset_repeated: usize,
    /// Per rule over those runs: (passed, failed).
    pub rules: BTreeMap<RuleId, (usize, usize)>,
    pub exported: Option<Exported>,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
    /// The interleaving measures of the complete runs made now (`None` when none were).
    pub measures: Option<MeasuresReport>,
}

impl GenerateReport {
    /// Counts a run that is on disk.
    fn count(&mut self, run: &Run) {
        match run.status {
            RunStatus::Complete => self.complete += 1,
            RunStatus::Incomplete => self.incomplete += 1,
            RunStatus::Failed => self.failed += 1,
        }
        if run.status != RunStatus::Complete {
            self.failures.push(Failure {
                sample_id: run.sample_id.clone(),
                status: run.status,
                reason: run.error.clone().unwrap_or_default(),
            });
        }
    }

    /// Whether every selected sample has its complete runs.
    #[must_use]
    pub fn all_complete(&self) -> bool {
        self.dataset_complete == self.selected && self.dataset_repeated == self.selected
    }
}

/// Runs `samples` through `pipeline` under `prompt`, recording every run in `workspace`, through
/// the run service. `observer` sees the events a batch's progress is drawn from (queued, code
/// executed, saved, dropped): this prints nothing. Cancelling `cancel` stops starting runs and cancels those in flight;
/// every finished run is kept.
///
/// # Errors
/// When the store cannot be written (nothing is counted that is not on disk) or `--out` fails.
pub async fn generate(
    pipeline: Pipeline,
    prompt: Arc<PromptVersion>,
    samples: &[Sample],
    workspace: &Workspace,
    options: &GenerateOptions,
    cancel: CancellationToken,
    observer: &mut dyn FnMut(&ServiceEvent),
) -> Result<GenerateReport, GenerateError> {
    let started = Instant::now();
    let selected = &samples[..options.limit.unwrap_or(usize::MAX).min(samples.len())];
    let jobs: Vec<Job> = selected
        .iter()
        .map(|sample| Job {
            interruptions: sample
                .interruptions
                .clone()
                .unwrap_or_else(|| options.interruptions.clone()),
            ..Job::new(
                sample.id.clone(),
                sample.question.clone(),
                Arc::clone(&prompt),
            )
        })
        .collect();
    // Each sample's settings: its interruption script is part of them.
    let settings_ids: Vec<String> = jobs
        .iter()
        .map(|job| pipeline.settings_for(job).id())
        .collect();
    let mut report = GenerateReport {
        selected: selected.len(),
        repeat: options.repeat.max(1),
        ..GenerateReport::default()
    };

    let todo = still_to_run(workspace, selected, &prompt.id, &settings_ids, &mut report)?;
    let count_mode = pipeline.rules_for(&prompt).config().count_mode;
    let mut measured: Vec<(Interleaving, Option<u64>)> = Vec::new();

    let (service, mut inbox) = start_service(pipeline, workspace, options.concurrency)?;
    for (key, &index) in (0..).zip(&todo) {
        service.submit(key, jobs[index].clone());
    }
    // Each submitted run ends saved or dropped.
    let mut outstanding = todo.len();
    let mut stopping = false;
    let mut journal_error = None;
    while outstanding > 0 {
        tokio::select! {
            event = inbox.recv() => {
                let Some(event) = event else { break };
                observer(&event);
                match event {
                    ServiceEvent::Saved { run, stored, .. } => {
                        outstanding -= 1;
                        match stored {
                            Ok(()) => {
                                report.count(&run);
                                measured.extend(measure(&run, count_mode));
                            }
                            Err(e) => {
                                // Nothing more can be recorded: stop everything.
                                journal_error.get_or_insert(e);
                                stopping = true;
                                service.cancel_all();
                            }
                        }
                    }
                    ServiceEvent::Dropped { started, .. } => {
                        outstanding -= 1;
                        if started {
                            report.cancelled += 1;
                        } else {
                            report.not_started += 1;
                        }
                    }
                    _ => {}
                }
            }
            () = cancel.cancelled(), if !stopping => {
                stopping = true;
                report.interrupted = true;
                service.cancel_all();
            }
        }
    }
    service.finish().await;
    if let Some(e) = journal_error {
        return Err(GenerateError::Journal(e));
    }
    report.interrupted |= cancel.is_cancelled();

    tally_dataset(
        workspace,
        selected,
        &prompt.id,
        &settings_ids,
        options
            .out
            .as_deref()
            .map(|path| (path, options.out_format)),
        options.include_replayed,
        &mut report,
    )?;
    report.measures =
        (!measured.is_empty()).then(|| MeasuresReport::of(measured.iter().map(|(m, ms)| (m, *ms))));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The run service of a batch, and the events it counts and shows (the others would only wake
/// its loop, several times per run).
///
/// # Errors
/// When the run journal cannot be opened: the batch stops before it starts.
fn start_service(
    pipeline: Pipeline,
    workspace: &Workspace,
    concurrency: usize,
) -> Result<(Service, mpsc::UnboundedReceiver<ServiceEvent>), GenerateError> {
    let (events, inbox) = mpsc::unbounded_channel();
    let sink: EventSink = Arc::new(move |event| {
        if matches!(
            event,
            ServiceEvent::Queued { .. }
                | ServiceEvent::Saved { .. }
                | ServiceEvent::Dropped { .. }
                | ServiceEvent::Run { .. }
        ) {
            let _ = events.send(event);
        }
    });
    let service = Service::start(
        pipeline,
        workspace.clone(),
        ServiceOptions {
            concurrency,
            consent: Consent::ByMode,
            stream: false,
        },
        sink,
    )?;
    Ok((service, inbox))
}

/// The interleaving measures of a complete run (none for the others), with its milliseconds to
/// the first answer text.
fn measure(run: &Run, mode: CountMode) -> Option<(Interleaving, Option<u64>)> {
    run.is_complete().then(|| {
        (
            interleaving_of(&run.transcript, mode),
            run.timings.first_answer_ms,
        )
    })
}

/// The runs still to make: each selected sample once per complete run of this prompt and
/// settings, for this very question (an edited question under the same id is a new sample),
/// that it lacks of the report's `repeat`. Counts the samples that lack none as resumed.
fn still_to_run(
    workspace: &Workspace,
    selected: &[Sample],
    prompt_id: &str,
    settings_ids: &[String],
    report: &mut GenerateReport,
) -> Result<Vec<usize>, GenerateError> {
    let repeat = report.repeat.max(1);
    let mut done: HashMap<(String, String, String), usize> = HashMap::new();
    report.warnings = workspace.scan_runs(|_, r: RunIndex| {
        if r.status == RunStatus::Complete && r.prompt_id == prompt_id {
            *done
                .entry((r.sample_id, r.question, r.settings_id))
                .or_default() += 1;
        }
    })?;
    let mut todo = Vec::new();
    for (index, (sample, settings_id)) in selected.iter().zip(settings_ids).enumerate() {
        let have = done
            .get(&(
                sample.id.clone(),
                sample.question.clone(),
                settings_id.clone(),
            ))
            .copied()
            .unwrap_or(0);
        let missing = repeat.saturating_sub(have);
        if missing == 0 {
            report.resumed += 1;
        }
        todo.extend(std::iter::repeat_n(index, missing));
    }
    Ok(todo)
}

/// The dataset as it now stands: the latest complete run of each selected sample, its rule
/// tallies, and the `--out` file.
fn tally_dataset(
    workspace: &Workspace,
    selected: &[Sample],
    prompt_id: &str,
    settings_ids: &[String],
    out: Option<(&Path, ExportFormat)>,
    include_replayed: bool,
    report: &mut GenerateReport,
) -> Result<(), GenerateError> {
    let wanted: HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut latest: Vec<Option<(u64, Vec<RuleBrief>)>> = Vec::new();
    latest.resize_with(selected.len(), || None);
    let mut counts = vec![0usize; selected.len()];
    workspace.scan_runs(|offset, r: RunIndex| {
        if r.status == RunStatus::Complete
            && r.prompt_id == prompt_id
            && let Some(&i) = wanted.get(r.sample_id.as_str())
            && r.settings_id == settings_ids[i]
            && selected[i].question == r.question
        {
            latest[i] = Some((offset, r.rules));
            counts[i] += 1;
        }
    })?;
    report.dataset_repeated = counts
        .iter()
        .filter(|&&n| n >= report.repeat.max(1))
        .count();
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
    if let Some((path, format)) = out {
        let offsets: Vec<u64> = latest.iter().flatten().map(|(o, _)| *o).collect();
        let (counts, written) = export_runs(workspace, &offsets, path, format, include_replayed)?;
        report.exported = Some(Exported {
            path: path.to_owned(),
            records: counts.written,
            format,
            written,
            placeholders: counts.placeholders,
            replayed: counts.replayed,
        });
    }
    Ok(())
}

/// What `--out` took and left out.
#[derive(Clone, Copy, Debug, Default)]
struct OutCounts {
    written: usize,
    placeholders: usize,
    replayed: usize,
}

/// Writes the runs at `offsets` in `format` (with the files its consumer needs), leaving out
/// placeholders, and the replay teacher's runs unless `include_replayed`; replayed runs carry
/// `"replayed": true` where the format allows keys of its own.
fn export_runs(
    workspace: &Workspace,
    offsets: &[u64],
    path: &Path,
    format: ExportFormat,
    include_replayed: bool,
) -> Result<(OutCounts, Written), GenerateError> {
    let mut replayed = serde_json::Map::new();
    replayed.insert("replayed".to_owned(), serde_json::Value::Bool(true));
    let mut store_error = None;
    let plan = Plan::new(format, path, false)?;
    let written = plan.write(|out| {
        let mut n = OutCounts::default();
        let read = workspace.read_runs_at(offsets, |run: Run| {
            if run.is_placeholder() {
                n.placeholders += 1;
                return Ok(());
            }
            if run.teacher.replayed && !include_replayed {
                n.replayed += 1;
                return Ok(());
            }
            let example = Example::of_run(
                None,
                &run.question,
                &run.transcript,
                &run.interruptions,
                run.teacher.replayed.then_some(&replayed),
            );
            n.written += 1;
            write_line(out, &example, format)
        });
        if let Err(e) = read {
            store_error = Some(e);
            return Err(std::io::Error::other("reading the runs failed"));
        }
        Ok(n)
    });
    match (written, store_error) {
        (_, Some(e)) => Err(e.into()),
        (written, None) => Ok(written?),
    }
}
