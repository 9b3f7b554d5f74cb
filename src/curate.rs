//! Curated export: accepted runs (their edited text where edited) out as SFT JSONL.
//!
//! Which runs go out is decided by the decision journal alone: a run is exported when its latest
//! decision accepts it, and a sample is exported once, from the run accepted last. A run that
//! did not complete is never data, whatever a curator said about it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::Layers;
use crate::export::template::{self, ChatTemplate, CheckRecord, TemplateError, TemplateReport};
use crate::export::{Example, ExportFormat, Plan, write_line};
use crate::prompt::PromptFile;
use crate::run::{Judge, JudgeError, Run};
use crate::store::{Curation, Decision, StoreError, Verdict, Workspace, fold};
use crate::transcript::{RuleContext, RuleResult, Rules, Transcript};

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
    /// Accepted runs left out because they are incomplete or failed: `sample id (run id)`.
    pub refused: Vec<String>,
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
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The chat template cuts or adds to some answers; nothing was written.
    #[error("{}", template_failed(report))]
    TemplateCheckFailed { report: Box<TemplateReport> },
    /// Nothing to write; an existing file is left as it was. `warnings` are the unreadable
    /// lines met on the way (one of them may have been an accept).
    #[error("{}", nothing_to_export(store, refused))]
    NothingAccepted {
        store: PathBuf,
        refused: Vec<String>,
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

fn nothing_to_export(store: &Path, refused: &[String]) -> String {
    if refused.is_empty() {
        format!(
            "no accepted outputs in {}: accept outputs in the workbench first",
            store.display()
        )
    } else {
        format!(
            "no exportable outputs in {}: every accepted output is from an incomplete or failed run ({}); accept complete runs in the workbench",
            store.display(),
            refused.join(", ")
        )
    }
}

/// The runs an export takes, from the runs on disk and the decision journal.
#[derive(Debug, Default)]
struct Selection<'a> {
    /// One complete run per sample, in the order the samples first appear in `runs.jsonl`.
    chosen: Vec<(&'a Run, Curation)>,
    /// Accepted runs that did not complete, in the same order.
    refused: Vec<&'a Run>,
    /// The last accept of each accepted run that is not in `runs.jsonl`, in journal order.
    unknown: Vec<&'a Decision>,
}

/// For each sample, the run whose accept is the latest among its currently accepted runs.
fn select<'a>(runs: &'a [Run], decisions: &'a [Decision]) -> Selection<'a> {
    let mut curations = fold(decisions);
    let mut runs_by_id: HashMap<&str, &Run> = HashMap::with_capacity(runs.len());
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for run in runs {
        runs_by_id.entry(run.run_id.as_str()).or_insert(run);
        let next = first_seen.len();
        first_seen.entry(run.sample_id.as_str()).or_insert(next);
    }
    let mut last_accept: HashMap<&str, usize> = HashMap::new();
    for (at, decision) in decisions.iter().enumerate() {
        if decision.verdict == Verdict::Accepted {
            last_accept.insert(decision.run_id.as_str(), at);
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
    let mut winners: Vec<&Run> = latest.into_values().map(|(_, run)| run).collect();
    winners.sort_by_key(|run| first_seen.get(run.sample_id.as_str()).copied());
    unknown.sort_unstable();

    let mut selection = Selection {
        unknown: unknown.into_iter().map(|at| &decisions[at]).collect(),
        ..Selection::default()
    };
    for run in winners {
        if run.is_complete() {
            let curation = curations.remove(&run.run_id).unwrap_or_default();
            selection.chosen.push((run, curation));
        } else {
            selection.refused.push(run);
        }
    }
    selection
}

/// Writes the accepted runs of `workspace` as `options` says, atomically.
///
/// With `check_template`, every record is rendered with the chat template first; when an
/// answer does not survive it, nothing is written (unless `write_anyway`).
///
/// # Errors
/// When the workspace cannot be read, nothing is accepted, a teacher prompt asked for is
/// missing, metadata is asked for a format that refuses it, the chat template cannot be loaded
/// or rendered, the template check fails, a consumer's side file cannot be merged, or the
/// file cannot be written. The file is left untouched on every error.
pub fn export_accepted(
    workspace: &Workspace,
    options: &ExportOptions,
) -> Result<ExportReport, CurateError> {
    if options.with_meta && !options.format.allows_extra_keys() {
        return Err(CurateError::MetaNotAllowed {
            format: options.format,
        });
    }
    let template = options
        .check_template
        .as_deref()
        .map(ChatTemplate::load)
        .transpose()?;
    let loaded_runs = workspace.load_runs()?;
    let loaded_decisions = workspace.load_decisions()?;
    let mut warnings = loaded_runs.warnings;
    warnings.extend(loaded_decisions.warnings);
    let selection = select(&loaded_runs.runs, &loaded_decisions.decisions);
    let decisions_path = workspace.decisions_path();
    for decision in &selection.unknown {
        warnings.push(format!(
            "{}: accepted run {} of sample {} is not in {}: left out",
            decisions_path.display(),
            decision.run_id,
            decision.sample_id,
            workspace.runs_path().display()
        ));
    }
    let refused: Vec<String> = selection
        .refused
        .iter()
        .map(|run| format!("{} (run {})", run.sample_id, run.run_id))
        .collect();
    if selection.chosen.is_empty() {
        return Err(CurateError::NothingAccepted {
            store: workspace.root().to_owned(),
            refused,
            warnings,
        });
    }

    // Everything that can fail is done before the file is opened, so a failure writes nothing.
    let systems = teacher_prompts(workspace, &options.system, &selection.chosen)?;
    let metas = if options.with_meta {
        metas(
            workspace,
            &options.rule_layers,
            &selection.chosen,
            &mut warnings,
        )?
    } else {
        vec![None; selection.chosen.len()]
    };
    let examples: Vec<Example<'_>> = selection
        .chosen
        .iter()
        .zip(&metas)
        .map(|((run, curation), meta)| Example {
            system: match &options.system {
                SystemChoice::None => None,
                SystemChoice::Teacher => systems.get(run.prompt_id.as_str()).map(String::as_str),
                SystemChoice::Text(text) => Some(text.as_str()),
            },
            question: &run.question,
            answer: curation.edited.as_deref().unwrap_or(&run.transcript),
            extra: meta.as_ref(),
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
        warnings,
        files: written.files,
        training: written.training,
        notes: written.notes,
        template: checked,
    })
}

/// The `"meta"` of each chosen run, its rules judged by its version under `rule_layers`; a
/// version judged without its snapshot is said in `warnings`.
fn metas(
    workspace: &Workspace,
    rule_layers: &Layers,
    chosen: &[(&Run, Curation)],
    warnings: &mut Vec<String>,
) -> Result<Vec<Option<Map<String, Value>>>, CurateError> {
    let mut judge = Judge::new(rule_layers.clone())?;
    let metas = chosen
        .iter()
        .map(|(run, curation)| {
            let snapshot = || {
                workspace
                    .load_prompt(&run.prompt_id)
                    .map_err(|e| e.to_string())
            };
            let rules = match &curation.edited {
                // Judged as dataset text, like an edit in the workbench, by the rules the
                // run's version has now.
                Some(text) => Cow::Owned(recheck(
                    text,
                    &judge.version(&run.prompt_id, snapshot).rules,
                )),
                None => judge.verdicts(run, snapshot),
            };
            meta(run, curation, &rules).map(Some)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (id, fallback) in judge.fallbacks() {
        warnings.push(format!("prompt {id}: {fallback}"));
    }
    Ok(metas)
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
            timings: Timings::default(),
        }
    }

    fn decision(run: &Run, verdict: Verdict, text: Option<&str>) -> Decision {
        Decision {
            run_id: run.run_id.clone(),
            sample_id: run.sample_id.clone(),
            verdict,
            text: text.map(str::to_owned),
            rules: Vec::new(),
            at_ms: 0,
        }
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
        let selection = select(&runs, &decisions);
        // qb's first run comes before a2, so qb follows qa whichever qa run is chosen.
        assert_eq!(ids(selection.chosen.iter().map(|(r, _)| *r)), ["a1", "b1"]);
        assert_eq!(selection.chosen[1].1.edited.as_deref(), Some("改过"));
        assert_eq!(ids(selection.refused), ["c1"]);
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
            let last_accept = |id: &str| {
                decisions
                    .iter()
                    .rposition(|d| d.run_id == id && d.verdict == Verdict::Accepted)
            };
            let first_seen = |sample: &str| runs.iter().position(|r| r.sample_id == sample);
            let selection = select(&runs, &decisions);

            for (run, curation) in &selection.chosen {
                prop_assert!(run.is_complete());
                prop_assert_eq!(Some(curation), curations.get(&run.run_id));
            }
            prop_assert!(selection.refused.iter().all(|r| !r.is_complete()));
            let mut taken: Vec<&Run> = selection.chosen.iter().map(|(r, _)| *r).collect();
            taken.extend(&selection.refused);
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
            let order: Vec<_> = selection.refused.iter().map(|r| first_seen(&r.sample_id)).collect();
            prop_assert!(order.is_sorted());
            prop_assert_eq!(
                selection.unknown.iter().map(|d| d.run_id.as_str()).collect::<Vec<_>>(),
                if accepted("ghost") { vec!["ghost"] } else { Vec::new() }
            );
        }
    }
}
