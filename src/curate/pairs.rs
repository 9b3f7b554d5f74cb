//! Preference pairs out of side-by-side choices (`moss export --pairs`): each standing accept
//! chosen over another run of its sample gives a pair, the accepted text chosen, the other
//! run's transcript rejected, for DPO with TRL or LLaMA-Factory.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{CurateError, ExportOptions, ExportReport, SystemChoice, recheck, teacher_prompts};
use crate::export::{DataKind, ExportFormat, Plan};
use crate::run::{Judge, Run};
use crate::store::{Curation, Verdict, Workspace, fold};
use crate::transcript::{CountMode, Outcome, RuleId, RuleResult};

/// The consumers preference pairs are written for.
pub const PAIR_TARGETS: [ExportFormat; 2] = [ExportFormat::Trl, ExportFormat::LlamaFactory];

/// A pair about to be written.
struct Pair<'a> {
    chosen: &'a Run,
    rejected: &'a Run,
    curation: Curation,
    /// The verdicts on the chosen text under its version's rules now.
    rules: Vec<RuleResult>,
    /// How the chosen run's version counts words (both sides are measured with it).
    mode: CountMode,
}

impl Pair<'_> {
    fn chosen_text(&self) -> &str {
        self.curation
            .edited
            .as_deref()
            .unwrap_or(&self.chosen.transcript)
    }
}

/// What goes out, what is refused and why.
#[derive(Default)]
struct Selected<'a> {
    pairs: Vec<Pair<'a>>,
    refused: Vec<String>,
    replayed: usize,
    warnings: Vec<String>,
}

/// Writes every standing side-by-side accept as a preference pair, as `options` says
/// (`format`: TRL or LLaMA-Factory), atomically.
///
/// Refused, and listed: pairs where either run is the replay's placeholder or did not
/// complete, where the two runs are of different samples, and where the chosen text fails an
/// enabled rule under its version's rules now (unless it was accepted anyway). Pairs with a
/// replayed run are left out unless `include_replayed`.
///
/// # Errors
/// When the format is not a preference consumer, the workspace cannot be read, there is no
/// pair to write, a teacher prompt asked for is missing, or a file cannot be written. Nothing
/// is written on an error.
pub fn export_pairs(
    workspace: &Workspace,
    options: &ExportOptions,
) -> Result<ExportReport, CurateError> {
    if !PAIR_TARGETS.contains(&options.format) {
        return Err(CurateError::PairsTarget {
            format: options.format,
        });
    }
    let loaded_runs = workspace.load_runs()?;
    let loaded_decisions = workspace.load_decisions()?;
    let mut warnings = loaded_runs.warnings;
    warnings.extend(loaded_decisions.warnings);
    let curations = fold(&loaded_decisions.decisions);
    let mut selected = select(workspace, options, &loaded_runs.runs, curations)?;
    warnings.append(&mut selected.warnings);
    if selected.pairs.is_empty() {
        return Err(CurateError::NoPairs {
            store: workspace.root().to_owned(),
            refused: selected.refused,
            replayed: selected.replayed,
            warnings,
        });
    }
    let chosen: Vec<(&Run, Curation)> = selected
        .pairs
        .iter()
        .map(|p| (p.chosen, Curation::default()))
        .collect();
    let systems = teacher_prompts(workspace, &options.system, &chosen)?;
    let mut lines = Vec::with_capacity(selected.pairs.len());
    for pair in &selected.pairs {
        let system = match &options.system {
            SystemChoice::None => None,
            SystemChoice::Teacher => systems
                .get(pair.chosen.prompt_id.as_str())
                .map(String::as_str),
            SystemChoice::Text(text) => Some(text.as_str()),
        };
        let meta = if options.with_meta {
            Some(meta(pair)?)
        } else {
            None
        };
        lines.push(line(options.format, system, pair, meta)?);
    }
    let plan = Plan::of_kind(
        options.format,
        DataKind::Preference,
        &options.out,
        options.system != SystemChoice::None,
    )?;
    let ((), written) = plan.write(|out| {
        for line in &lines {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(ExportReport {
        path: options.out.clone(),
        written: selected.pairs.len(),
        edited: selected
            .pairs
            .iter()
            .filter(|p| p.curation.edited.is_some())
            .count(),
        refused: selected.refused,
        replayed: selected.replayed,
        warnings,
        files: written.files,
        training: written.training,
        notes: written.notes,
        template: None,
    })
}

/// The standing accepts chosen over another run, in the order the chosen runs were written,
/// each checked and judged.
fn select<'a>(
    workspace: &Workspace,
    options: &ExportOptions,
    runs: &'a [Run],
    mut curations: HashMap<String, Curation>,
) -> Result<Selected<'a>, CurateError> {
    let mut judge = Judge::new(options.rule_layers.clone())?;
    let snapshot = |run: &Run| {
        let id = run.prompt_id.clone();
        move || workspace.load_prompt(&id).map_err(|e| e.to_string())
    };
    let mut by_id: HashMap<&str, &Run> = HashMap::with_capacity(runs.len());
    for run in runs {
        by_id.entry(run.run_id.as_str()).or_insert(run);
    }
    let mut selected = Selected::default();
    let mut seen = std::collections::HashSet::new();
    for chosen in runs {
        if !seen.insert(chosen.run_id.as_str()) {
            continue;
        }
        let Some(curation) = curations.remove(&chosen.run_id) else {
            continue;
        };
        let Some(over) = curation.over.clone() else {
            continue;
        };
        if curation.verdict != Some(Verdict::Accepted) {
            continue;
        }
        let what = format!("{} (run {} over {over})", chosen.sample_id, chosen.run_id);
        let Some(&rejected) = by_id.get(over.as_str()) else {
            selected.warnings.push(format!(
                "{}: {what}: run {over} is not in {}: left out",
                workspace.decisions_path().display(),
                workspace.runs_path().display()
            ));
            continue;
        };
        let why = if rejected.sample_id != chosen.sample_id {
            Some(format!(
                "the runs are of different samples ({} and {})",
                chosen.sample_id, rejected.sample_id
            ))
        } else if chosen.is_placeholder() {
            Some("the chosen run is the offline replay's placeholder, not a model's answer".into())
        } else if rejected.is_placeholder() {
            Some(
                "the rejected run is the offline replay's placeholder, not a model's answer".into(),
            )
        } else if !chosen.is_complete() {
            Some(format!("the chosen run is {}", chosen.status.as_str()))
        } else if !rejected.is_complete() {
            Some(format!("the rejected run is {}", rejected.status.as_str()))
        } else {
            None
        };
        if let Some(why) = why {
            selected.refused.push(format!("{what}: {why}"));
            continue;
        }
        if (chosen.teacher.replayed || rejected.teacher.replayed) && !options.include_replayed {
            selected.replayed += 1;
            continue;
        }
        let rules = match &curation.edited {
            Some(text) => recheck(
                text,
                &judge.version(&chosen.prompt_id, snapshot(chosen)).rules,
            ),
            None => judge.verdicts(chosen, snapshot(chosen)).into_owned(),
        };
        let failing: Vec<RuleId> = rules
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .map(|r| r.id)
            .collect();
        if !failing.is_empty() && !curation.override_rules {
            let refusal = super::Refusal::FailsRules(failing);
            selected
                .refused
                .push(format!("{what}: the chosen text {refusal}"));
            continue;
        }
        let mode = judge
            .version(&chosen.prompt_id, snapshot(chosen))
            .rules
            .config()
            .count_mode;
        selected.pairs.push(Pair {
            chosen,
            rejected,
            curation,
            rules,
            mode,
        });
    }
    for (id, fallback) in judge.fallbacks() {
        selected.warnings.push(format!("prompt {id}: {fallback}"));
    }
    Ok(selected)
}

/// A chat message; an assistant's carries an empty `reasoning_content`, as the SFT `trl`
/// target writes it, so that a Qwen3-style chat template keeps the whole answer (thinks
/// included) as its content instead of splitting it at `</think>`.
#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
}

#[derive(Serialize)]
struct Turn<'a> {
    from: &'a str,
    value: &'a str,
}

/// TRL's conversational preference format.
#[derive(Serialize)]
struct TrlLine<'a> {
    prompt: Vec<Message<'a>>,
    chosen: [Message<'a>; 1],
    rejected: [Message<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Value>,
}

/// LLaMA-Factory's sharegpt preference format.
#[derive(Serialize)]
struct LlamaFactoryLine<'a> {
    conversations: [Turn<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    chosen: Turn<'a>,
    rejected: Turn<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Value>,
}

fn line(
    format: ExportFormat,
    system: Option<&str>,
    pair: &Pair<'_>,
    meta: Option<Value>,
) -> Result<String, CurateError> {
    let question = pair.chosen.question.as_str();
    let encoded = if format == ExportFormat::LlamaFactory {
        serde_json::to_string(&LlamaFactoryLine {
            conversations: [Turn {
                from: "human",
                value: question,
            }],
            system,
            chosen: Turn {
                from: "gpt",
                value: pair.chosen_text(),
            },
            rejected: Turn {
                from: "gpt",
                value: &pair.rejected.transcript,
            },
            meta,
        })
    } else {
        let mut prompt = Vec::with_capacity(2);
        if let Some(system) = system {
            prompt.push(Message {
                role: "system",
                content: system,
                reasoning_content: None,
            });
        }
        prompt.push(Message {
            role: "user",
            content: question,
            reasoning_content: None,
        });
        serde_json::to_string(&TrlLine {
            prompt,
            chosen: [Message {
                role: "assistant",
                content: pair.chosen_text(),
                reasoning_content: Some(""),
            }],
            rejected: [Message {
                role: "assistant",
                content: &pair.rejected.transcript,
                reasoning_content: Some(""),
            }],
            meta,
        })
    };
    encoded.map_err(|source| CurateError::Meta {
        run_id: pair.chosen.run_id.clone(),
        source,
    })
}

/// Where the pair came from, and the interleaving measures of both sides.
fn meta(pair: &Pair<'_>) -> Result<Value, CurateError> {
    let measures = |text: &str| {
        let m = crate::compare::interleaving_of(text, pair.mode);
        serde_json::json!({
            "words_before_first_think": m.words_before_first_think,
            "longest_think": m.longest_think,
            "think_ratio": m.think_ratio,
            "thinks_per_100_words": m.thinks_per_100_words,
        })
    };
    let rules = serde_json::to_value(&pair.rules).map_err(|source| CurateError::Meta {
        run_id: pair.chosen.run_id.clone(),
        source,
    })?;
    let mut meta = Map::new();
    meta.insert("sample_id".into(), pair.chosen.sample_id.clone().into());
    meta.insert("chosen_run_id".into(), pair.chosen.run_id.clone().into());
    meta.insert(
        "rejected_run_id".into(),
        pair.rejected.run_id.clone().into(),
    );
    meta.insert(
        "chosen_prompt_id".into(),
        pair.chosen.prompt_id.clone().into(),
    );
    meta.insert(
        "rejected_prompt_id".into(),
        pair.rejected.prompt_id.clone().into(),
    );
    meta.insert("edited".into(), pair.curation.edited.is_some().into());
    meta.insert(
        "accepted_anyway".into(),
        pair.curation.override_rules.into(),
    );
    if let Some(at_ms) = pair.curation.at_ms {
        meta.insert("decided_at_ms".into(), at_ms.into());
    }
    meta.insert("chosen_interleaving".into(), measures(pair.chosen_text()));
    meta.insert(
        "rejected_interleaving".into(),
        measures(&pair.rejected.transcript),
    );
    meta.insert("chosen_rules".into(), rules);
    Ok(Value::Object(meta))
}
