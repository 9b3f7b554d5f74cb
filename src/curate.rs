//! Curated export: accepted runs (their edited text where edited) out as SFT JSONL.
//!
//! Which runs go out is decided by the decision journal alone: a run is exported when its latest
//! decision accepts it, and a sample is exported once, from the run accepted last. A run that
//! did not complete is never data, whatever a curator said about it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::Layers;
use crate::export::template::{self, ChatTemplate, CheckRecord, TemplateError, TemplateReport};
use crate::export::{Example, ExportFormat, Plan, write_line};
use crate::prompt::PromptFile;
use crate::run::{Judge, JudgeError, Run};
use crate::store::{Curation, Decision, StoreError, Verdict, Workspace, fold};
use crate::transcript::{RuleContext, RuleResult, Rules, Transcript};

mod pairs;

pub use pairs::{PAIR_TARGETS, export_pairs};

/// Which system prompt goes into each exported example.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SystemChoice {
    #[default]
    None,
    /// The teacher system prompt the run was made with (its prompt snapshot, without front
    /// matter).
    Teacher,
    Text(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // each is a flag of `moss export`, independent
pub struct ExportOptions {
    /// A record layout or a consumer target (which may write files beside the records).
    pub format: ExportFormat,
    pub system: SystemChoice,
    /// Adds `prompt_id`, `run_id`, provider, model, rule results and `edited` to each example.
    /// The rule results are those of the text exported under the rules its prompt version has
    /// now (see `rule_layers`). Refused for a format that allows no extra keys (`openai`).
    pub with_meta: bool,
    pub out: PathBuf,
    /// The current configuration's layers, without any prompt's front matter: each run's
    /// prompt version is judged by them with its own front matter on top. A run recorded under
    /// other rules, and every edit, is judged again for the metadata.
    pub rule_layers: Layers,
    /// Also export runs of the offline replay teacher (recorded text, not a fresh answer).
    /// Placeholders are refused whatever this says.
    pub include_replayed: bool,
    /// Export every complete run whose text passes its version's rules, accepted or not (the
    /// accepted one where a sample has one; never a rejected one): for headless pipelines.
    pub only_passing: bool,
    /// A chat template (`.jinja` or a model's `tokenizer_config.json`) every record is rendered
    /// with before anything is written: an answer the template cuts or adds to fails the check.
    pub check_template: Option<PathBuf>,
    /// Write the export even when the template check fails (the failures are still reported).
    pub write_anyway: bool,
}

/// What an export wrote and what it refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub path: PathBuf,
    pub written: usize,
    /// Of `written`, how many carry edited text.
    pub edited: usize,
    /// Accepted runs left out, each `sample id (run id): why` (incomplete, a placeholder, or
    /// failing a rule without an "accept anyway").
    pub refused: Vec<String>,
    /// Runs of the replay teacher left out (`include_replayed` was not given).
    pub replayed: usize,
    /// Lines of the workspace files that could not be read.
    pub warnings: Vec<String>,
    /// Every file written, the records first (a consumer may need one beside them).
    pub files: Vec<PathBuf>,
    /// How to train on the export, for a consumer target.
    pub training: Option<String>,
    /// What was written beside the records, said for the user.
    pub notes: Vec<String>,
    /// The template check, when one was asked for; with failures only when `write_anyway`.
    pub template: Option<TemplateReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// `--system teacher` needs the prompt a run was made with; exporting without it would
    /// silently change what the examples teach.
    #[error(
        "{}: cannot read the teacher prompt that run {run_id} was made with: {source}",
        path.display()
    )]
    PromptSnapshot {
        path: PathBuf,
        run_id: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Prompt(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Rules(#[from] JudgeError),
    #[error("could not encode the metadata of run {run_id}: {source}")]
    Meta {
        run_id: String,
        source: serde_json::Error,
    },
    /// Metadata in a format whose consumer refuses keys of its own.
    #[error(
        "--with-meta cannot go into {format}: OpenAI's fine-tuning file check rejects any key but \"messages\" (export without it, or with --format messages)"
    )]
    MetaNotAllowed { format: ExportFormat },
    /// Preference pairs go only to a consumer that trains on them.
    #[error(
        "preference pairs are written for trl or llama-factory, not {format} (--pairs --target trl|llama-factory)"
    )]
    PairsTarget { format: ExportFormat },
    /// No pair to write; an existing file is left as it was.
    #[error("{}", no_pairs(store, refused, *replayed))]
    NoPairs {
        store: PathBuf,
        refused: Vec<String>,
        /// Pairs with a replayed run left out.
        replayed: usize,
        warnings: Vec<String>,
    },
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The chat template cuts or adds to some answers; nothing was written.
    #[error("{}", template_failed(report))]
    TemplateCheckFailed { report: Box<TemplateReport> },
    /// Nothing to write; an existing file is left as it was. `warnings` are the unreadable
    /// lines met on the way (one of them may have been an accept).
    #[error("{}", nothing_to_export(store, refused, *replayed))]
    NothingAccepted {
        store: PathBuf,
        refused: Vec<String>,
        /// Replayed runs left out.
        replayed: usize,
        warnings: Vec<String>,
    },
}

fn template_failed(report: &TemplateReport) -> String {
    format!(
        "the chat template in {} does not keep {} of {} answers as exported ({} cut, {} with text added): nothing was written (--write-anyway writes it all the same)",
        report.template.display(),
        report.failures.len(),
        report.records,
        report.cut(),
        report.added(),
    )
}

fn nothing_to_export(store: &Path, refused: &[String], replayed: usize) -> String {
    let mut text = if refused.is_empty() {
        format!("no exportable outputs in {}", store.display())
    } else {
        format!(
            "no exportable outputs in {}: every one was refused ({})",
            store.display(),
            refused.join("; ")
        )
    };
    if replayed > 0 {
        let runs = if replayed == 1 { "run" } else { "runs" };
        let _ = write!(
            text,
            "; {replayed} {runs} of the offline replay teacher left out (--include-replayed takes them)"
        );
    }
    if refused.is_empty() && replayed == 0 {
        text.push_str(": accept outputs in the workbench first");
    }
    text
}

fn no_pairs(store: &Path, refused: &[String], replayed: usize) -> String {
    let mut text = format!("no preference pairs to export in {}", store.display());
    if !refused.is_empty() {
        let _ = write!(text, ": every one was refused ({})", refused.join("; "));
    }
    if replayed > 0 {
        let pairs = if replayed == 1 { "pair" } else { "pairs" };
        let _ = write!(
            text,
            "; {replayed} {pairs} with a run of the offline replay teacher left out (--include-replayed takes them)"
        );
    }
    if refused.is_empty() && replayed == 0 {
        text.push_str(
            ": a pair is an output accepted over another run of its sample in a side-by-side comparison",
        );
    }
    text
}

/// Why an accepted run is not exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The run did not complete.
    Incomplete,
    /// The offline replay's placeholder: not a model's answer.
    Placeholder,
    /// The text exported fails these enabled rules and was not accepted anyway.
    FailsRules(Vec<crate::transcript::RuleId>),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Incomplete => f.write_str("accepted, but the run is incomplete or failed"),
            Self::Placeholder => {
                f.write_str("the offline replay's placeholder, not a model's answer")
            }
            Self::FailsRules(rules) => {
                let names: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
                write!(
                    f,
                    "fails {} (accept it anyway in the workbench, A, to export it)",
                    names.join(", ")
                )
            }
        }
    }
}

/// The runs an export takes, from the runs on disk and the decision journal.
#[derive(Debug, Default)]
struct Selection<'a> {
    /// One complete run per sample, in the order the samples first appear in `runs.jsonl`.
    chosen: Vec<(&'a Run, Curation)>,
    /// Accepted runs that did not complete, or are placeholders, in the same order.
    refused: Vec<(&'a Run, Refusal)>,
    /// The last accept of each accepted run that is not in `runs.jsonl`, in journal order.
    unknown: Vec<&'a Decision>,
    /// Runs of the replay teacher left out.
    replayed: usize,
}

/// What [`select`] takes besides accepted runs.
#[derive(Clone, Copy, Debug, Default)]
struct Scope {
    include_replayed: bool,
    /// Every complete run of a sample with no standing accept, when `passes` says so.
    only_passing: bool,
}

impl Scope {
    fn of(options: &ExportOptions) -> Self {
        Self {
            include_replayed: options.include_replayed,
            only_passing: options.only_passing,
        }
    }
}

/// For each sample, the run whose accept is the latest among its currently accepted runs
/// (undone decisions do not count); with `only_passing`, for the samples without one, their
/// latest complete run that `passes` and is not rejected.
fn select<'a>(
    runs: &'a [Run],
    decisions: &'a [Decision],
    scope: Scope,
    passes: &mut dyn FnMut(&Run, Option<&str>) -> bool,
) -> Selection<'a> {
    let mut curations = fold(decisions);
    let mut runs_by_id: HashMap<&str, &Run> = HashMap::with_capacity(runs.len());
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for run in runs {
        runs_by_id.entry(run.run_id.as_str()).or_insert(run);
        let next = first_seen.len();
        first_seen.entry(run.sample_id.as_str()).or_insert(next);
    }
    // The journal position of each run's standing decision when it is an accept.
    let mut last_accept: HashMap<&str, usize> = HashMap::new();
    for at in crate::store::standing_order(decisions) {
        let decision = &decisions[at];
        if decision.verdict == Verdict::Accepted {
            last_accept.insert(decision.run_id.as_str(), at);
        } else {
            last_accept.remove(decision.run_id.as_str());
        }
    }
    let mut unknown = Vec::new();
    let mut latest: HashMap<&str, (usize, &Run)> = HashMap::new();
    for (&run_id, &at) in &last_accept {
        let accepted = curations
            .get(run_id)
            .is_some_and(|c| c.verdict == Some(Verdict::Accepted));
        if !accepted {
            continue;
        }
        let Some(&run) = runs_by_id.get(run_id) else {
            unknown.push(at);
            continue;
        };
        let slot = latest.entry(run.sample_id.as_str()).or_insert((at, run));
        if at > slot.0 {
            *slot = (at, run);
        }
    }
    let mut winners: Vec<&Run> = latest.values().map(|&(_, run)| run).collect();
    let mut replayed_left_out = 0;
    if scope.only_passing {
        let mut extra: HashMap<&str, &Run> = HashMap::new();
        for run in runs {
            if latest.contains_key(run.sample_id.as_str()) || !run.is_complete() {
                continue;
            }
            let curation = curations.get(&run.run_id);
            let rejected = curation.is_some_and(|c| c.verdict == Some(Verdict::Rejected));
            if rejected || run.is_placeholder() {
                continue;
            }
            if run.teacher.replayed && !scope.include_replayed {
                replayed_left_out += 1;
                continue;
            }
            // The text that would go out: the edit where there is one.
            let edited = curation.and_then(|c| c.edited.as_deref());
            if passes(run, edited) {
                extra.insert(run.sample_id.as_str(), run);
            }
        }
        winners.extend(extra.into_values());
    }
    winners.sort_by_key(|run| first_seen.get(run.sample_id.as_str()).copied());
    unknown.sort_unstable();

    let mut selection = Selection {
        unknown: unknown.into_iter().map(|at| &decisions[at]).collect(),
        replayed: replayed_left_out,
        ..Selection::default()
    };
    for run in winners {
        if run.is_placeholder() {
            selection.refused.push((run, Refusal::Placeholder));
        } else if !run.is_complete() {
            selection.refused.push((run, Refusal::Incomplete));
        } else if run.teacher.replayed && !scope.include_replayed {
            selection.replayed += 1;
        } else {
            let curation = curations.remove(&run.run_id).unwrap_or_default();
            selection.chosen.push((run, curation));
        }
    }
    selection
}

/// The runs an export takes, judged by the rules their versions have now, and what it leaves
/// out: what writing and the workbench's summary both start from.
struct Prepared<'a> {
    selection: Selection<'a>,
    /// The verdicts on the text each chosen run exports, in the same order.
    judged: Vec<Vec<RuleResult>>,
    /// How each chosen run's version counts words (for its interleaving measures).
    modes: Vec<crate::transcript::CountMode>,
    /// `sample id (run id): why` for each run refused.
    refused: Vec<String>,
    warnings: Vec<String>,
}

fn prepare<'a>(
    workspace: &Workspace,
    options: &ExportOptions,
    runs: &'a [Run],
    decisions: &'a [Decision],
    mut warnings: Vec<String>,
) -> Result<Prepared<'a>, CurateError> {
    if options.with_meta && !options.format.allows_extra_keys() {
        return Err(CurateError::MetaNotAllowed {
            format: options.format,
        });
    }
    // Every run leaves judged by the rules its version has now: the recorded verdicts when
    // they were judged by exactly those rules, else its text judged again.
    let mut judge = Judge::new(options.rule_layers.clone())?;
    let snapshot = |run: &Run| {
        let id = run.prompt_id.clone();
        move || workspace.load_prompt(&id).map_err(|e| e.to_string())
    };
    let mut passes = |run: &Run, edited: Option<&str>| {
        let rules = match edited {
            Some(text) => recheck(text, &judge.version(&run.prompt_id, snapshot(run)).rules),
            None => judge.verdicts(run, snapshot(run)).into_owned(),
        };
        rules
            .iter()
            .all(|r| r.outcome != crate::transcript::Outcome::Fail)
    };
    let mut selection = select(runs, decisions, Scope::of(options), &mut passes);
    warnings.extend(selection.unknown.iter().map(|decision| {
        format!(
            "{}: accepted run {} of sample {} is not in {}: left out",
            workspace.decisions_path().display(),
            decision.run_id,
            decision.sample_id,
            workspace.runs_path().display()
        )
    }));
    let judged = guard(&mut selection, &mut judge, &snapshot);
    let modes = selection
        .chosen
        .iter()
        .map(|(run, _)| {
            judge
                .version(&run.prompt_id, snapshot(run))
                .rules
                .config()
                .count_mode
        })
        .collect();
    for (id, fallback) in judge.fallbacks() {
        warnings.push(format!("prompt {id}: {fallback}"));
    }
    let refused = selection
        .refused
        .iter()
        .map(|(run, why)| format!("{} (run {}): {why}", run.sample_id, run.run_id))
        .collect();
    Ok(Prepared {
        selection,
        judged,
        modes,
        refused,
        warnings,
    })
}

/// What an export would write, worked out without writing anything: the workbench shows it
/// before the export is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportPlan {
    /// Records that would be written.
    pub records: usize,
    /// Of `records`, how many carry edited text.
    pub edited: usize,
    /// Of `records`, how many fail a rule and were accepted anyway.
    pub anyway: usize,
    /// `sample id (run id): why` for each accepted run refused.
    pub refused: Vec<String>,
    /// Runs of the replay teacher left out.
    pub replayed: usize,
    /// The files the export writes: the records, then what its consumer needs beside them.
    pub files: Vec<PathBuf>,
    /// Of `files`, those that exist already (and would be replaced or merged into).
    pub existing: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Works out what [`export_accepted`] would write with `options`, without writing.
///
/// # Errors
/// When the workspace cannot be read, or the options cannot be honoured (metadata for a
/// consumer that refuses it, rules that do not resolve).
pub fn plan_export(
    workspace: &Workspace,
    options: &ExportOptions,
) -> Result<ExportPlan, CurateError> {
    let loaded_runs = workspace.load_runs()?;
    let loaded_decisions = workspace.load_decisions()?;
    let mut warnings = loaded_runs.warnings;
    warnings.extend(loaded_decisions.warnings);
    let prepared = prepare(
        workspace,
        options,
        &loaded_runs.runs,
        &loaded_decisions.decisions,
        warnings,
    )?;
    let chosen = &prepared.selection.chosen;
    // What would stop the write stops the plan: a missing teacher prompt, a dataset_info.json
    // that cannot be merged.
    teacher_prompts(workspace, &options.system, chosen)?;
    let files = Plan::new(
        options.format,
        &options.out,
        options.system != SystemChoice::None,
    )?
    .files();
    let existing = files.iter().filter(|f| f.exists()).cloned().collect();
    Ok(ExportPlan {
        records: chosen.len(),
        edited: chosen.iter().filter(|(_, c)| c.edited.is_some()).count(),
        anyway: chosen
            .iter()
            .zip(&prepared.judged)
            .filter(|(_, rules)| {
                rules
                    .iter()
                    .any(|r| r.outcome == crate::transcript::Outcome::Fail)
            })
            .count(),
        refused: prepared.refused,
        replayed: prepared.selection.replayed,
        files,
        existing,
        warnings: prepared.warnings,
    })
}

/// Writes the accepted runs of `workspace` as `options` says, atomically.
///
/// # Errors
/// When the workspace cannot be read, nothing is accepted, a teacher prompt asked for is
/// missing, the chat template check fails, or the file cannot be written. The file is left
/// untouched on every error.
pub fn export_accepted(
    workspace: &Workspace,
    options: &ExportOptions,
) -> Result<ExportReport, CurateError> {
    let template = options
        .check_template
        .as_deref()
        .map(ChatTemplate::load)
        .transpose()?;
    let loaded_runs = workspace.load_runs()?;
    let loaded_decisions = workspace.load_decisions()?;
    let mut warnings = loaded_runs.warnings;
    warnings.extend(loaded_decisions.warnings);
    let Prepared {
        selection,
        judged,
        modes,
        refused,
        warnings,
    } = prepare(
        workspace,
        options,
        &loaded_runs.runs,
        &loaded_decisions.decisions,
        warnings,
    )?;
    if selection.chosen.is_empty() {
        return Err(CurateError::NothingAccepted {
            store: workspace.root().to_owned(),
            refused,
            replayed: selection.replayed,
            warnings,
        });
    }

    // Everything that can fail is done before the file is opened, so a failure writes nothing.
    let systems = teacher_prompts(workspace, &options.system, &selection.chosen)?;
    let metas = if options.with_meta {
        let rejections = rejections(&loaded_runs.runs, &loaded_decisions.decisions);
        selection
            .chosen
            .iter()
            .zip(judged.iter().zip(&modes))
            .map(|((run, curation), (rules, &mode))| {
                let rejected = rejections
                    .get(run.sample_id.as_str())
                    .map_or(&[][..], Vec::as_slice);
                let text = curation.edited.as_deref().unwrap_or(&run.transcript);
                let measures = crate::compare::interleaving_of(text, mode);
                meta(run, curation, rules, rejected, &measures).map(Some)
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![None; selection.chosen.len()]
    };
    let examples: Vec<Example<'_>> = selection
        .chosen
        .iter()
        .zip(&metas)
        .map(|((run, curation), meta)| {
            Example::of_run(
                match &options.system {
                    SystemChoice::None => None,
                    SystemChoice::Teacher => {
                        systems.get(run.prompt_id.as_str()).map(String::as_str)
                    }
                    SystemChoice::Text(text) => Some(text.as_str()),
                },
                &run.question,
                // An edited interrupted run keeps its turns cut where they were recorded.
                curation.edited.as_deref().unwrap_or(&run.transcript),
                &run.interruptions,
                meta.as_ref(),
            )
        })
        .collect();
    let checked = template
        .map(|template| check_examples(&template, &examples, &selection.chosen, options))
        .transpose()?;
    let plan = Plan::new(
        options.format,
        &options.out,
        options.system != SystemChoice::None,
    )?;
    let ((), written) = plan.write(|out| {
        for example in &examples {
            write_line(out, example, options.format)?;
        }
        Ok(())
    })?;
    Ok(ExportReport {
        path: options.out.clone(),
        written: examples.len(),
        edited: selection
            .chosen
            .iter()
            .filter(|(_, c)| c.edited.is_some())
            .count(),
        refused,
        replayed: selection.replayed,
        warnings,
        files: written.files,
        training: written.training,
        notes: written.notes,
        template: checked,
    })
}

/// The runs a curator rejected, by sample: run id, prompt id and the reason given.
fn rejections<'a>(runs: &'a [Run], decisions: &[Decision]) -> HashMap<&'a str, Vec<Value>> {
    let mut rejections: HashMap<&str, Vec<Value>> = HashMap::new();
    let curations = fold(decisions);
    for run in runs {
        let Some(curation) = curations.get(&run.run_id) else {
            continue;
        };
        if curation.verdict == Some(Verdict::Rejected) {
            let mut entry = Map::new();
            entry.insert("run_id".into(), run.run_id.clone().into());
            entry.insert("prompt_id".into(), run.prompt_id.clone().into());
            if let Some(reason) = &curation.reason {
                entry.insert("reason".into(), reason.clone().into());
            }
            rejections
                .entry(run.sample_id.as_str())
                .or_default()
                .push(Value::Object(entry));
        }
    }
    rejections
}

/// Judges the text each chosen run exports (the edit where edited) by its version's rules
/// now, and moves those that fail to `refused` unless they were accepted anyway. Returns the
/// verdicts of the runs kept, in order.
fn guard<S: FnOnce() -> Result<String, String>>(
    selection: &mut Selection<'_>,
    judge: &mut Judge,
    snapshot: &impl Fn(&Run) -> S,
) -> Vec<Vec<RuleResult>> {
    let mut judged = Vec::with_capacity(selection.chosen.len());
    let mut refused = Vec::new();
    for (run, curation) in std::mem::take(&mut selection.chosen) {
        let rules = match &curation.edited {
            Some(text) => recheck(text, &judge.version(&run.prompt_id, snapshot(run)).rules),
            None => judge.verdicts(run, snapshot(run)).into_owned(),
        };
        let failing: Vec<crate::transcript::RuleId> = rules
            .iter()
            .filter(|r| r.outcome == crate::transcript::Outcome::Fail)
            .map(|r| r.id)
            .collect();
        if failing.is_empty() || curation.override_rules {
            selection.chosen.push((run, curation));
            judged.push(rules);
        } else {
            refused.push((run, Refusal::FailsRules(failing)));
        }
    }
    selection.refused.extend(refused);
    judged
}

/// Renders each example with the chat template as the chosen format hands it to a trainer.
///
/// # Errors
/// When the template fails on a record, or an answer does not survive it (unless
/// `write_anyway`).
fn check_examples(
    template: &ChatTemplate,
    examples: &[Example<'_>],
    chosen: &[(&Run, Curation)],
    options: &ExportOptions,
) -> Result<TemplateReport, CurateError> {
    let records = examples
        .iter()
        .zip(chosen)
        .enumerate()
        .map(|(at, (example, (run, _)))| CheckRecord {
            line: at + 1,
            sample_id: &run.sample_id,
            messages: example.chat(options.format),
        });
    let report = template::check(template, records)?;
    if !report.passed() && !options.write_anyway {
        return Err(CurateError::TemplateCheckFailed {
            report: Box::new(report),
        });
    }
    Ok(report)
}

/// The system prompt bodies (front matter stripped: the body is what was sent), by prompt id,
/// of the chosen runs when the teacher prompt is asked for.
fn teacher_prompts(
    workspace: &Workspace,
    system: &SystemChoice,
    chosen: &[(&Run, Curation)],
) -> Result<HashMap<String, String>, CurateError> {
    let mut bodies = HashMap::new();
    if *system != SystemChoice::Teacher {
        return Ok(bodies);
    }
    for (run, _) in chosen {
        if bodies.contains_key(&run.prompt_id) {
            continue;
        }
        let text = workspace.load_prompt(&run.prompt_id).map_err(|e| match e {
            StoreError::Io { path, source } => CurateError::PromptSnapshot {
                path,
                run_id: run.run_id.clone(),
                source,
            },
            other @ StoreError::Encode(_) => other.into(),
        })?;
        let path = workspace.prompt_path(&run.prompt_id);
        let body = PromptFile::parse(&path, &text)?.body;
        bodies.insert(run.prompt_id.clone(), body);
    }
    Ok(bodies)
}

/// The `"meta"` field: where the example came from and `rules`, the verdicts on the text
/// exported.
fn meta(
    run: &Run,
    curation: &Curation,
    rules: &[RuleResult],
    rejected: &[Value],
    measures: &crate::compare::Interleaving,
) -> Result<Map<String, Value>, CurateError> {
    let rules = serde_json::to_value(rules).map_err(|source| CurateError::Meta {
        run_id: run.run_id.clone(),
        source,
    })?;
    let mut meta = Map::new();
    meta.insert("run_id".into(), run.run_id.clone().into());
    meta.insert("sample_id".into(), run.sample_id.clone().into());
    meta.insert("prompt_id".into(), run.prompt_id.clone().into());
    meta.insert("provider".into(), run.teacher.provider.clone().into());
    meta.insert("model".into(), run.teacher.model.clone().into());
    meta.insert("edited".into(), curation.edited.is_some().into());
    meta.insert("replayed".into(), run.teacher.replayed.into());
    meta.insert("accepted_anyway".into(), curation.override_rules.into());
    meta.insert(
        "interleaving".into(),
        serde_json::json!({
            "words_before_first_think": measures.words_before_first_think,
            "longest_think": measures.longest_think,
            "think_ratio": measures.think_ratio,
            "thinks_per_100_words": measures.thinks_per_100_words,
            // Timed on the stream, so the same whether the text was edited or not.
            "seconds_to_first_answer": run
                .timings
                .first_answer_ms
                .map(|ms| std::time::Duration::from_millis(ms).as_secs_f64()),
        }),
    );
    if let Some(at_ms) = curation.at_ms {
        meta.insert("decided_at_ms".into(), at_ms.into());
    }
    if !rejected.is_empty() {
        meta.insert("rejected".into(), Value::Array(rejected.to_vec()));
    }
    meta.insert("rules".into(), rules);
    let mut extra = Map::new();
    extra.insert("meta".into(), Value::Object(meta));
    Ok(extra)
}

/// The rules judged on an edited transcript.
///
/// Judged as a dataset record: after an edit, whoever wrote the result tags is unknown.
#[must_use]
pub fn recheck(text: &str, rules: &Rules) -> Vec<RuleResult> {
    let transcript = Transcript::parse(text, rules.config().count_mode);
    rules.evaluate(&transcript, RuleContext::Dataset)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::exec::ExecMode;
    use crate::prompt::ModelParams;
    use crate::run::{RunStatus, SegmentSummary, Timings};
    use crate::teacher::TeacherInfo;
    use crate::transcript::{Outcome, RuleId, RulesConfig};

    fn run(id: &str, sample: &str, status: RunStatus) -> Run {
        Run {
            run_id: id.to_owned(),
            sample_id: sample.to_owned(),
            question: format!("{sample} 的问题"),
            prompt_id: "p".to_owned(),
            settings_id: "s".to_owned(),
            rules_id: String::new(),
            teacher: TeacherInfo {
                provider: "replay".to_owned(),
                model: "recorded".to_owned(),
                replayed: true,
            },
            placeholder: false,
            params: ModelParams::default(),
            exec: ExecMode::Off,
            status,
            error: None,
            finish_reason: None,
            transcript: format!("{id} 的回答"),
            segments: SegmentSummary::default(),
            rules: Vec::new(),
            reasoning: None,
            usage: None,
            executions: Vec::new(),
            interruptions: Vec::new(),
            timings: Timings::default(),
            stream: None,
        }
    }

    fn decision(run: &Run, verdict: Verdict, text: Option<&str>) -> Decision {
        Decision {
            run_id: run.run_id.clone(),
            sample_id: run.sample_id.clone(),
            verdict,
            text: text.map(str::to_owned),
            rules: Vec::new(),
            override_rules: false,
            reason: None,
            prompt_id: None,
            over: None,
            at_ms: 0,
        }
    }

    /// Accepted runs only, replayed ones included (the test runs are all replayed).
    fn pick<'a>(runs: &'a [Run], decisions: &'a [Decision]) -> Selection<'a> {
        let scope = Scope {
            include_replayed: true,
            only_passing: false,
        };
        select(runs, decisions, scope, &mut |_, _| true)
    }

    #[test]
    fn undone_accepts_do_not_count_and_placeholders_and_replays_stay_out() {
        let mut runs = vec![
            run("a1", "qa", RunStatus::Complete),
            run("a2", "qa", RunStatus::Complete),
            run("b1", "qb", RunStatus::Complete),
            run("c1", "qc", RunStatus::Complete),
            run("d1", "qd", RunStatus::Complete),
        ];
        runs[2].placeholder = true;
        // Known by its text alone (a run recorded before placeholders were marked).
        runs[3].transcript = "[Offline replay] There is no recorded answer".to_owned();
        let [a1, a2, b1, c1, d1] = &runs.clone().try_into().expect("five");
        let decisions = [
            decision(a1, Verdict::Accepted, None),
            decision(a2, Verdict::Accepted, None),
            decision(a2, Verdict::Revoked, None),
            decision(b1, Verdict::Accepted, None),
            decision(c1, Verdict::Accepted, None),
            decision(d1, Verdict::Rejected, None),
        ];
        let selection = pick(&runs, &decisions);
        assert_eq!(
            ids(selection.chosen.iter().map(|(r, _)| *r)),
            ["a1"],
            "a2's accept was undone: a1's stands"
        );
        assert_eq!(
            selection
                .refused
                .iter()
                .map(|(r, why)| (r.run_id.as_str(), why.clone()))
                .collect::<Vec<_>>(),
            [("b1", Refusal::Placeholder), ("c1", Refusal::Placeholder)]
        );

        // Without --include-replayed the replay teacher's runs are counted, not exported.
        let scope = Scope::default();
        let selection = select(&runs, &decisions, scope, &mut |_, _| true);
        assert!(selection.chosen.is_empty());
        assert_eq!(selection.replayed, 1);

        // --only-passing adds the latest passing run of samples with no accept, never a
        // rejected one or a placeholder.
        let scope = Scope {
            include_replayed: true,
            only_passing: true,
        };
        let selection = select(&runs, &decisions, scope, &mut |r, _| r.run_id != "a2");
        assert_eq!(ids(selection.chosen.iter().map(|(r, _)| *r)), ["a1"]);
        let mut extra = runs.clone();
        extra.push(run("e1", "qe", RunStatus::Complete));
        extra.push(run("e2", "qe", RunStatus::Complete));
        extra.push(run("f1", "qf", RunStatus::Complete));
        let selection = select(&extra, &decisions, scope, &mut |r, _| r.run_id != "f1");
        assert_eq!(ids(selection.chosen.iter().map(|(r, _)| *r)), ["a1", "e2"]);
    }

    fn ids<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<&'a str> {
        runs.into_iter().map(|r| r.run_id.as_str()).collect()
    }

    #[test]
    fn the_latest_accept_of_a_sample_wins_and_samples_keep_their_first_order() {
        let runs = [
            run("a1", "qa", RunStatus::Complete),
            run("b1", "qb", RunStatus::Complete),
            run("a2", "qa", RunStatus::Complete),
            run("c1", "qc", RunStatus::Incomplete),
            run("d1", "qd", RunStatus::Complete),
        ];
        let [a1, b1, a2, c1, d1] = &runs;
        let ghost = run("gone", "qz", RunStatus::Complete);
        let decisions = [
            decision(a2, Verdict::Accepted, None),
            decision(b1, Verdict::Edited, Some("改过")),
            decision(a1, Verdict::Accepted, None),
            decision(c1, Verdict::Accepted, None),
            decision(&ghost, Verdict::Accepted, None),
            decision(b1, Verdict::Accepted, None),
            decision(d1, Verdict::Accepted, None),
            decision(d1, Verdict::Rejected, None),
        ];
        let selection = pick(&runs, &decisions);
        // qb's first run comes before a2, so qb follows qa whichever qa run is chosen.
        assert_eq!(ids(selection.chosen.iter().map(|(r, _)| *r)), ["a1", "b1"]);
        assert_eq!(selection.chosen[1].1.edited.as_deref(), Some("改过"));
        assert_eq!(ids(selection.refused.iter().map(|(r, _)| *r)), ["c1"]);
        assert_eq!(selection.refused[0].1, Refusal::Incomplete);
        assert_eq!(
            selection
                .unknown
                .iter()
                .map(|d| d.run_id.as_str())
                .collect::<Vec<_>>(),
            ["gone"]
        );
    }

    #[test]
    fn recheck_judges_an_edit_as_dataset_text() {
        let rules = Rules::new(RulesConfig::default()).expect("default rules");
        let outcome = |results: &[RuleResult], id| {
            results
                .iter()
                .find(|r| r.id == id)
                .map(|r| r.outcome)
                .expect("rule judged")
        };
        let good = recheck(
            "天空是蓝色的，因为散射。\n<think>再补一句原因</think>\n短波长的光散射更强。",
            &rules,
        );
        assert_eq!(outcome(&good, RuleId::ThinkBudget), Outcome::Pass);
        assert_eq!(outcome(&good, RuleId::StartsWithAnswer), Outcome::Pass);
        // Result tags in an edit may be anyone's: the live-only rule is not judged.
        assert_eq!(outcome(&good, RuleId::NoModelResults), Outcome::Skip);

        let over = recheck(
            "好。\n<think>这一段思考远远超过了前面的回答字数</think>\n完",
            &rules,
        );
        assert_eq!(outcome(&over, RuleId::ThinkBudget), Outcome::Fail);
    }

    /// A workspace's runs and journal: runs of four samples, decisions on them and on a run
    /// that is not on disk (index `runs.len()`).
    fn journal() -> impl Strategy<Value = (Vec<Run>, Vec<Decision>)> {
        let runs = proptest::collection::vec((0..4usize, prop::bool::weighted(0.8)), 1..8);
        runs.prop_flat_map(|runs| {
            let n = runs.len();
            let verdict = prop_oneof![
                Just(Verdict::Accepted),
                Just(Verdict::Rejected),
                Just(Verdict::Edited),
                Just(Verdict::Revoked),
            ];
            let decisions = proptest::collection::vec((0..=n, verdict, "[a-z改]{0,3}"), 0..16);
            (Just(runs), decisions)
        })
        .prop_map(|(shape, picks)| {
            let runs: Vec<Run> = shape
                .iter()
                .enumerate()
                .map(|(i, &(sample, complete))| {
                    let status = if complete {
                        RunStatus::Complete
                    } else {
                        RunStatus::Failed
                    };
                    run(&format!("r{i}"), &format!("q{sample}"), status)
                })
                .collect();
            let ghost = run("ghost", "q9", RunStatus::Complete);
            let decisions = picks
                .into_iter()
                .map(|(i, verdict, text)| {
                    let text = (verdict == Verdict::Edited).then_some(text.as_str());
                    decision(runs.get(i).unwrap_or(&ghost), verdict, text)
                })
                .collect();
            (runs, decisions)
        })
    }

    proptest! {
        #[test]
        fn every_sample_with_an_accepted_run_goes_out_once_from_its_latest_accept(
            (runs, decisions) in journal()
        ) {
            let curations = fold(&decisions);
            let accepted = |id: &str| {
                curations.get(id).is_some_and(|c| c.verdict == Some(Verdict::Accepted))
            };
            // Positions of the decisions that stand (undone ones do not).
            let standing = crate::store::standing_order(&decisions);
            let last_accept = |id: &str| {
                standing
                    .iter()
                    .rev()
                    .copied()
                    .find(|&at| decisions[at].run_id == id && decisions[at].verdict == Verdict::Accepted)
            };
            let first_seen = |sample: &str| runs.iter().position(|r| r.sample_id == sample);
            let selection = pick(&runs, &decisions);

            for (run, curation) in &selection.chosen {
                prop_assert!(run.is_complete());
                prop_assert_eq!(Some(curation), curations.get(&run.run_id));
            }
            prop_assert!(selection.refused.iter().all(|(r, _)| !r.is_complete()));
            let mut taken: Vec<&Run> = selection.chosen.iter().map(|(r, _)| *r).collect();
            taken.extend(selection.refused.iter().map(|(r, _)| *r));
            let samples: HashSet<&str> = taken.iter().map(|r| r.sample_id.as_str()).collect();
            prop_assert_eq!(samples.len(), taken.len(), "a sample went out twice");
            let with_accept: HashSet<&str> = runs
                .iter()
                .filter(|r| accepted(&r.run_id))
                .map(|r| r.sample_id.as_str())
                .collect();
            prop_assert_eq!(&samples, &with_accept);
            for run in &taken {
                prop_assert!(accepted(&run.run_id));
                for rival in runs.iter().filter(|r| r.sample_id == run.sample_id) {
                    if rival.run_id != run.run_id && accepted(&rival.run_id) {
                        prop_assert!(last_accept(&rival.run_id) < last_accept(&run.run_id));
                    }
                }
            }
            let order: Vec<_> = selection.chosen.iter().map(|(r, _)| first_seen(&r.sample_id)).collect();
            prop_assert!(order.is_sorted());
            let order: Vec<_> = selection.refused.iter().map(|(r, _)| first_seen(&r.sample_id)).collect();
            prop_assert!(order.is_sorted());
            prop_assert_eq!(
                selection.unknown.iter().map(|d| d.run_id.as_str()).collect::<Vec<_>>(),
                if accepted("ghost") { vec!["ghost"] } else { Vec::new() }
            );
        }
    }
}
