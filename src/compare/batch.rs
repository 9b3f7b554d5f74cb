//! `moss compare`: each variant's missing runs made through the run service (as `generate`
//! makes them, so an interrupted comparison resumes), then every variant's runs judged under
//! its prompt version's current rules and reported.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::metrics::interleaving_of;
use super::report::{JudgedRun, Report, Variant, report};
use crate::dataset::Sample;
use crate::generate::{self, GenerateError, GenerateOptions, GenerateReport};
use crate::run::{Judge, Pipeline, PromptVersion, Run, RunStatus, ServiceEvent};
use crate::store::Workspace;

/// One side of a comparison: a prompt version answered by a teacher (or a student).
pub struct VariantSpec {
    /// How the report names it.
    pub label: String,
    pub pipeline: Pipeline,
    pub prompt: Arc<PromptVersion>,
}

#[derive(Clone, Debug)]
pub struct CompareOptions {
    pub concurrency: usize,
    /// Only the first N samples of the file.
    pub limit: Option<usize>,
    /// Complete runs per sample and variant: a sample's score is the fraction of them passing.
    pub repeat: usize,
}

/// What a comparison did and found.
#[derive(Debug)]
pub struct Comparison {
    pub report: Report,
    /// Each variant's batch (what was run now, what was already there), in order.
    pub batches: Vec<(String, GenerateReport)>,
    /// Stopped before every variant had its runs: the report covers what is on disk.
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

/// Runs what each variant lacks (up to `repeat` complete runs per sample), then judges the
/// latest `repeat` complete runs of each sample per variant with `judge` (each version's rules
/// under the current configuration) and builds the report. `observer` sees the service's
/// events with the index of the variant being run.
///
/// # Errors
/// When the store cannot be read or written.
pub async fn compare(
    variants: Vec<VariantSpec>,
    samples: &[Sample],
    workspace: &Workspace,
    judge: &mut Judge,
    options: &CompareOptions,
    cancel: CancellationToken,
    observer: &mut dyn FnMut(usize, &ServiceEvent),
) -> Result<Comparison, GenerateError> {
    let repeat = options.repeat.max(1);
    let selected = &samples[..options.limit.unwrap_or(usize::MAX).min(samples.len())];
    let mut batches = Vec::with_capacity(variants.len());
    let mut keys = Vec::with_capacity(variants.len());
    let mut interrupted = false;
    for (i, variant) in variants.into_iter().enumerate() {
        let settings_id = variant.pipeline.settings(&variant.prompt).id();
        keys.push((
            variant.label.clone(),
            variant.prompt.id.clone(),
            settings_id,
        ));
        if cancel.is_cancelled() {
            interrupted = true;
            continue;
        }
        let generate_options = GenerateOptions {
            concurrency: options.concurrency,
            limit: options.limit,
            out: None,
            out_format: crate::export::ExportFormat::default(),
            include_replayed: true,
            repeat,
            interruptions: Vec::new(),
        };
        let batch = generate::generate(
            variant.pipeline,
            variant.prompt,
            samples,
            workspace,
            &generate_options,
            cancel.clone(),
            &mut |event| observer(i, event),
        )
        .await?;
        interrupted |= batch.interrupted;
        batches.push((variant.label, batch));
    }

    let wanted: HashSet<(&str, &str)> = selected
        .iter()
        .map(|s| (s.id.as_str(), s.question.as_str()))
        .collect();
    let by_key: HashMap<(&str, &str), usize> = keys
        .iter()
        .enumerate()
        .map(|(i, (_, prompt, settings))| ((prompt.as_str(), settings.as_str()), i))
        .collect();
    // Per variant, per sample: its complete runs in the order written.
    let mut runs: Vec<HashMap<String, Vec<Run>>> = vec![HashMap::new(); keys.len()];
    let mut warnings = workspace.scan_runs(|_, run: Run| {
        if run.status != RunStatus::Complete
            || !wanted.contains(&(run.sample_id.as_str(), run.question.as_str()))
        {
            return;
        }
        if let Some(&i) = by_key.get(&(run.prompt_id.as_str(), run.settings_id.as_str())) {
            runs[i].entry(run.sample_id.clone()).or_default().push(run);
        }
    })?;

    let mut judged = Vec::with_capacity(keys.len());
    for ((label, _, _), mut per_sample) in keys.iter().zip(runs) {
        let mut variant = Variant {
            label: label.clone(),
            runs: Vec::new(),
        };
        for sample in selected {
            let Some(sample_runs) = per_sample.remove(&sample.id) else {
                continue;
            };
            let skip = sample_runs.len().saturating_sub(repeat);
            for run in sample_runs.into_iter().skip(skip) {
                variant.runs.push(judged_run(&run, judge, workspace));
            }
        }
        judged.push(variant);
    }
    for (id, fallback) in judge.fallbacks() {
        warnings.push(format!("prompt version {id}: {fallback}"));
    }
    Ok(Comparison {
        report: report(&judged),
        batches,
        interrupted,
        warnings,
    })
}

/// `run` judged under its version's current rules, with its interleaving measures.
fn judged_run(run: &Run, judge: &mut Judge, workspace: &Workspace) -> JudgedRun {
    let snapshot = || {
        workspace
            .load_prompt(&run.prompt_id)
            .map_err(|e| e.to_string())
    };
    let rules = judge
        .verdicts(run, snapshot)
        .iter()
        .map(|r| (r.id, r.outcome))
        .collect();
    let mode = judge
        .resolved(&run.prompt_id)
        .map(|v| v.rules.config().count_mode)
        .unwrap_or_default();
    JudgedRun {
        sample_id: run.sample_id.clone(),
        rules,
        measures: interleaving_of(&run.transcript, mode),
        first_answer_ms: run.timings.first_answer_ms,
    }
}
