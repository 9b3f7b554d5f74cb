//! `moss compare`: variants (a prompt version with a teacher) over the same samples, each run
//! as often as asked, then judged and compared sample by sample.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use moss_thinking::compare::{self, CompareOptions, VariantSpec};
use moss_thinking::config::Layers;
use moss_thinking::dataset::Format;
use moss_thinking::exec::ExecMode;
use moss_thinking::generate;
use moss_thinking::run::Judge;
use moss_thinking::store::versions::FindError;
use moss_thinking::store::{Workspace, WorkspaceLock};
use serde_json::json;

use crate::progress::{Progress, ProgressMode};
use crate::setup::{Batch, Setup, parse_format};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Sample questions: any format `check` reads (the question is the user turn).
    #[arg(long, value_name = "FILE", default_value = "samples/questions.jsonl")]
    samples: PathBuf,
    /// Format of the samples file; detected when not given.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// A variant to compare: a prompt (a file, a saved version's label or id, or `none` for no
    /// system prompt, as a fine-tuned student runs) and optionally who answers it
    /// (`@PROVIDER` or `@PROVIDER/MODEL`; the config's teacher otherwise). Give it once per
    /// variant; the first is the baseline the others are compared with.
    #[arg(long = "variant", value_name = "PROMPT[@PROVIDER[/MODEL]]", required = true, value_parser = parse_variant)]
    variants: Vec<VariantArg>,
    /// Complete runs per sample and variant: a sample's score is the fraction passing.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::parse_repeat)]
    repeat: usize,
    /// Print the report as JSON on stdout (per-sample scores included).
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a rule (or all rules at once) is significantly worse in a
    /// variant than in the first.
    #[arg(long)]
    fail_on_regression: bool,
    /// Runs in flight at once (default from [generate] concurrency, 8).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Requests per minute per variant (default from [generate] rpm; 0 = no limit).
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Only the first N samples of the file.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Run python RUN blocks: off, fill or continue (as `generate --exec`).
    #[arg(long, value_name = "MODE", value_parser = crate::parse_exec)]
    exec: Option<ExecMode>,
    /// The workspace folder holding .moss/ (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// `PROMPT[@PROVIDER[/MODEL]]` as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantArg {
    spec: String,
    prompt: String,
    provider: Option<String>,
    model: Option<String>,
}

fn parse_variant(s: &str) -> Result<VariantArg, String> {
    let (prompt, teacher) = match s.rsplit_once('@') {
        Some((prompt, teacher)) => (prompt, Some(teacher)),
        None => (s, None),
    };
    if prompt.trim().is_empty() {
        return Err("give a prompt file, a saved version, or none".to_owned());
    }
    let (provider, model) = match teacher {
        None => (None, None),
        // A model may hold slashes itself (deepseek-ai/DeepSeek-V3): the provider ends at the
        // first.
        Some(t) => match t.split_once('/') {
            Some((provider, model)) => (Some(provider), Some(model)),
            None => (Some(t), None),
        },
    };
    if provider.is_some_and(str::is_empty) || model.is_some_and(str::is_empty) {
        return Err(format!(
            "expected PROMPT@PROVIDER or PROMPT@PROVIDER/MODEL, found {s:?}"
        ));
    }
    Ok(VariantArg {
        spec: s.to_owned(),
        prompt: prompt.to_owned(),
        provider: provider.map(str::to_owned),
        model: model.map(str::to_owned),
    })
}

/// Exit status when a variant regressed (`--fail-on-regression`) or some sample lacks its runs.
const EXIT_REGRESSED: u8 = 1;

/// The text of `prompt`: `none` is no system prompt; a file; else a version saved in the
/// workspace, by its label, its id or a unique start of it (at least four characters).
fn prompt_text(workspace: &Workspace, prompt: &str) -> anyhow::Result<(PathBuf, String)> {
    if prompt == "none" {
        return Ok((PathBuf::from("none"), String::new()));
    }
    let path = Path::new(prompt);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the prompt {}", path.display()))?;
        return Ok((path.to_owned(), text));
    }
    let versions = workspace.load_versions()?;
    let id = versions.resolve(prompt).map_err(|e| match e {
        FindError::Unknown(_) => anyhow::anyhow!(
            "no prompt file and no saved prompt version named {prompt:?} (give a file, a version's label or id, or none)"
        ),
        other => anyhow::anyhow!("{other}"),
    })?;
    let text = workspace.load_prompt(&id)?;
    Ok((PathBuf::from(format!("{id}.md")), text))
}

/// The variants as given, ready to run.
struct Variants {
    specs: Vec<VariantSpec>,
    /// What each is, for `--json`.
    setups: Vec<serde_json::Value>,
    /// The first variant's configured concurrency.
    concurrency: Option<usize>,
}

/// Loads each variant's prompt, config, rules and teacher (saying on stderr what each is).
fn load_variants(
    args: &CompareArgs,
    workspace_dir: &Path,
    workspace: &Workspace,
) -> anyhow::Result<Variants> {
    let stderr = io::stderr();
    let mut specs = Vec::with_capacity(args.variants.len());
    let mut setups = Vec::with_capacity(args.variants.len());
    let mut concurrency = None;
    for (i, variant) in args.variants.iter().enumerate() {
        let (path, text) = prompt_text(workspace, &variant.prompt)?;
        let setup = Setup::with_prompt(
            workspace_dir.to_owned(),
            &path,
            text,
            variant.provider.as_deref(),
            variant.model.as_deref(),
        )
        .with_context(|| format!("variant {:?}", variant.spec))?;
        let Batch {
            pipeline,
            prompt,
            config,
            teacher,
            notices,
            ..
        } = setup.into_batch(args.exec, args.rpm);
        for notice in &notices {
            writeln!(stderr.lock(), "moss: [{}] {notice}", i + 1)?;
        }
        concurrency.get_or_insert(config.generate.concurrency);
        let info = pipeline.teacher().info();
        writeln!(
            stderr.lock(),
            "moss: [{}] {} · prompt {} · teacher: {teacher} · exec {}",
            i + 1,
            variant.spec,
            prompt.id,
            pipeline.exec_mode().as_str(),
        )?;
        setups.push(json!({
            "label": variant.spec,
            "prompt_id": prompt.id,
            "provider": info.provider,
            "model": info.model,
            "replayed": info.replayed,
        }));
        // Two names for one prompt and teacher would share their runs: one variant.
        let key = (prompt.id.clone(), pipeline.settings(&prompt).id());
        if let Some(same) = specs.iter().find(|s: &&VariantSpec| {
            (s.prompt.id.clone(), s.pipeline.settings(&s.prompt).id()) == key
        }) {
            anyhow::bail!(
                "the variants {:?} and {:?} are the same prompt answered by the same teacher with the same settings",
                same.label,
                variant.spec
            );
        }
        specs.push(VariantSpec {
            label: variant.spec.clone(),
            pipeline,
            prompt,
        });
    }
    Ok(Variants {
        specs,
        setups,
        concurrency,
    })
}

/// Warnings, and what each variant's batch did, on stderr; returns the variants some of whose
/// samples lack their runs.
fn write_batches<'a>(
    comparison: &'a compare::Comparison,
    notes: &mut impl Write,
) -> io::Result<Vec<&'a str>> {
    for warning in &comparison.warnings {
        writeln!(notes, "moss: {warning}")?;
    }
    let mut short = Vec::new();
    for (label, batch) in &comparison.batches {
        let ran = batch.complete + batch.incomplete + batch.failed;
        writeln!(
            notes,
            "moss: {label}: {ran} run now ({} complete, {} incomplete, {} failed), {}/{} samples have {}",
            batch.complete,
            batch.incomplete,
            batch.failed,
            batch.dataset_repeated,
            batch.selected,
            if batch.repeat == 1 {
                "a complete run".to_owned()
            } else {
                format!("{} complete runs", batch.repeat)
            },
        )?;
        if batch.dataset_repeated < batch.selected {
            short.push(label.as_str());
        }
    }
    if comparison.interrupted {
        writeln!(
            notes,
            "moss: interrupted: the report covers the runs on disk; run the same command again to finish"
        )?;
    }
    Ok(short)
}

pub fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace_dir = args.workspace.clone().unwrap_or(cwd);
    for (i, a) in args.variants.iter().enumerate() {
        if args.variants[..i].iter().any(|b| b.spec == a.spec) {
            anyhow::bail!("the variant {:?} is given twice", a.spec);
        }
    }
    let _writer = WorkspaceLock::acquire(&workspace_dir, "moss compare")?;
    let workspace = Workspace::open(&workspace_dir)?;
    let stderr = io::stderr();
    let Variants {
        specs,
        setups,
        concurrency,
    } = load_variants(args, &workspace_dir, &workspace)?;
    let samples = generate::read_samples(&args.samples, args.format, &mut stderr.lock())?;
    let mut judge = Judge::new(Layers::discover(&workspace_dir)?)?;
    let options = CompareOptions {
        concurrency: args.concurrency.or(concurrency).unwrap_or(8).max(1),
        limit: args.limit,
        repeat: args.repeat,
    };
    let mode = if io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    };
    let (comparison, stopped_by) = crate::with_signals(|cancel| async {
        let mut progress: Option<(usize, Progress)> = None;
        let comparison = compare::compare(
            specs,
            &samples,
            &workspace,
            &mut judge,
            &options,
            cancel,
            &mut |variant, event| {
                if progress.as_ref().is_none_or(|(i, _)| *i != variant) {
                    if let Some((_, done)) = &progress {
                        done.finish();
                    }
                    progress = Some((variant, Progress::new(mode)));
                }
                if let Some((_, p)) = &mut progress {
                    p.observe(event);
                }
            },
        )
        .await;
        if let Some((_, done)) = &progress {
            done.finish();
        }
        Ok(comparison?)
    })?;

    let mut notes = stderr.lock();
    let short = write_batches(&comparison, &mut notes)?;
    let report = &comparison.report;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let mut value = serde_json::to_value(report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("setup".to_owned(), serde_json::Value::Array(setups));
            object.insert("repeat".to_owned(), args.repeat.into());
        }
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", compare::render(report))?;
    }
    out.flush()?;
    if let Some(signal) = stopped_by {
        return Ok(ExitCode::from(signal.exit_status()));
    }
    let regressions = report.regressions();
    for (pair, rule) in &regressions {
        writeln!(notes, "moss: {pair}: {rule} is significantly worse")?;
    }
    if !short.is_empty() {
        writeln!(
            notes,
            "moss: some samples lack their {} complete runs under {}: run the same command again",
            args.repeat,
            short.join(", ")
        )?;
    }
    Ok(
        if (args.fail_on_regression && !regressions.is_empty()) || !short.is_empty() {
            ExitCode::from(EXIT_REGRESSED)
        } else {
            ExitCode::SUCCESS
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_names_a_prompt_and_maybe_its_teacher() {
        let v = parse_variant("prompts/teacher.zh.md").expect("plain");
        assert_eq!(
            (v.prompt.as_str(), v.provider, v.model),
            ("prompts/teacher.zh.md", None, None)
        );
        let v = parse_variant("v2@deepseek").expect("provider");
        assert_eq!(v.provider.as_deref(), Some("deepseek"));
        assert_eq!(v.model, None);
        // The model keeps its own slashes.
        let v = parse_variant("none@siliconflow/deepseek-ai/DeepSeek-V3").expect("model");
        assert_eq!(v.prompt, "none");
        assert_eq!(v.provider.as_deref(), Some("siliconflow"));
        assert_eq!(v.model.as_deref(), Some("deepseek-ai/DeepSeek-V3"));
        assert!(parse_variant("v2@").is_err());
        assert!(parse_variant("v2@vllm/").is_err());
        assert!(parse_variant("@vllm").is_err());
    }
}
