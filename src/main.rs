//! `moss`: the command-line front of moss-thinking.

mod compare_cmd;
mod progress;
mod replay_cmd;
mod sandbox_cmd;
mod setup;
mod workbench;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use moss_thinking::check::{self, CheckOptions};
use moss_thinking::config::Layers;
use moss_thinking::curate::{self, CurateError, ExportOptions, ExportReport, SystemChoice};
use moss_thinking::dataset::Format;
use moss_thinking::exec::ExecMode;
use moss_thinking::export::ExportFormat;
use moss_thinking::export::template::TemplateReport;
use moss_thinking::generate::{self, GenerateOptions};
use moss_thinking::run::{Pipeline, PromptVersion, ScriptedInterruption};
use moss_thinking::signals::{HostSignal, HostSignals};
use moss_thinking::store::{STORE_DIR, Workspace, WorkspaceLock};
use moss_thinking::transcript::rules::Rules;
use progress::{Progress, ProgressMode};
use setup::{Batch, Setup, TeacherArgs, parse_format};
use tokio_util::sync::CancellationToken;

/// A workbench for think-while-speaking distillation data.
#[derive(Debug, Parser)]
#[command(name = "moss", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, moss opens the workbench on the workspace.
    #[command(flatten)]
    workbench: workbench::WorkbenchArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lint datasets for think-while-speaking compliance.
    ///
    /// Reads JSONL or JSON-array files (sharegpt, messages, alpaca, r1, text), judges each
    /// record's assistant answer with the rules, and prints pass / fail / skip counts per rule
    /// and the first failing examples. Exit status: 0 when checked, 1 with --strict and any rule
    /// failure, 2 on usage, IO or format errors.
    Check(CheckArgs),
    /// Answer sample questions with the teacher and record every run.
    ///
    /// Streams each sample's answer from the teacher (or, with no API key, the offline replay
    /// teacher), runs its python RUN blocks when --exec allows it, judges it with the rules and
    /// appends the run to .moss/runs.jsonl. A rerun skips samples that already have a complete
    /// run for the same prompt and settings. Exit status: 0 when every selected sample has a
    /// complete run, 1 when some did not complete, 2 on usage, config or IO errors and when
    /// another moss is writing the workspace, 128 + the signal's number when stopped by one
    /// (130 for Ctrl-C / SIGINT, 143 for SIGTERM, 129 for SIGHUP): the first cancels the batch,
    /// keeping finished runs; a second quits at once.
    Generate(GenerateArgs),
    /// Write the accepted outputs of a workspace as SFT training data.
    ///
    /// Takes the runs accepted in the workbench from .moss/decisions.jsonl (their edited text
    /// where edited), one per sample, the one accepted last, in the order the samples first
    /// appear in .moss/runs.jsonl. Accepted runs that are incomplete or failed are refused and
    /// listed. --target writes what a trainer or service loads (trl, llama-factory, ms-swift,
    /// openai), with the files it needs beside the records, and prints the command that trains
    /// on them. --check-template renders every record with a model's chat template first and
    /// writes nothing when an answer would not reach the model as exported. The file is
    /// written to a temporary file and renamed, so an export that fails leaves an existing file
    /// as it was. The workspace is only read, so an export works while the workbench or
    /// generate is writing it. Exit status: 0 when written (even with refusals), 1 when the
    /// chat template cuts or adds to an answer, 2 when nothing is accepted and on usage, IO or
    /// template errors.
    ///
    /// --pairs writes preference data for DPO instead: every output accepted over another run
    /// of its sample in a side-by-side comparison is a pair, the accepted text (edited where
    /// edited) chosen and the other run's transcript rejected, for --target trl (the default)
    /// or llama-factory (its dataset list gets an entry with "ranking": true); the DPO training
    /// command is printed. Pairs where either run is a placeholder or incomplete, or whose
    /// chosen text fails a rule and was not accepted anyway, are refused and listed.
    Export(ExportArgs),
    /// Check the sandbox that runs model-written code, or run code in it.
    ///
    /// Without FILE: runs a tiny probe in the sandbox and lists every protection, with why
    /// each missing one is missing on this machine. With FILE (or - for standard input): runs
    /// that code exactly as a python RUN block is run, with the [exec] settings of moss.toml,
    /// and prints the block that would follow it. Exit status: 0 when the code succeeded (or
    /// the check passed), 1 when it failed (or a protection [exec] require names is missing),
    /// 2 on usage or config errors.
    Sandbox(sandbox_cmd::SandboxArgs),
    /// Compare prompt versions and teachers on the same samples, sample by sample.
    ///
    /// Each --variant is a prompt (a file, a saved version's label or id, or none) with
    /// optionally who answers it (@PROVIDER[/MODEL]). Every sample is run --repeat times per
    /// variant (what is on disk already counts, so an interrupted comparison resumes), each run
    /// judged by its prompt version's rules under the current config. Prints, per variant, each
    /// rule's compliance (the mean over samples of the fraction of a sample's runs passing) with
    /// a 95% Wilson interval, the interleaving measures, each sample's score, and for every
    /// variant against the first the samples that flipped and an exact two-sided sign test over
    /// samples. Exit status: 0 when compared, 1 with --fail-on-regression when a rule got
    /// significantly worse, and when some sample lacks its runs; 2 on usage, config or IO errors
    /// and when another moss is writing the workspace; 128 + the signal's number when stopped by
    /// one.
    Compare(compare_cmd::CompareArgs),
    /// Print recorded runs as they streamed, at their recorded speed or scaled.
    ///
    /// Each run's transcript goes to stdout piece by piece, each piece when it arrived while
    /// the run was made (--speed 2: twice as fast; --speed 0 or --instant: at once), execution
    /// results when the system put them in. A run is named by its id or the start of one (as
    /// `moss replay 19a3f` for 19a3f2c0e1d-5b7e01aa); runs recorded before timings were kept
    /// are played at the replay teacher's pace ([teacher] replay-tokens-per-sec), with a note on
    /// stderr. Exit status: 0 when played, 2 on an unknown or ambiguous id, usage or IO errors.
    Replay(replay_cmd::ReplayArgs),
    /// Present think-while-speaking: the workbench in presentation mode, auto-playing.
    ///
    /// Opens the workbench (same workspace, lock and options) with the first sample's
    /// transcript full screen: answers in the main lane, thinks beside them, the state word
    /// (SPEAKING / THINKING / RUNNING CODE) and the think allowance meter. Recorded runs play
    /// at their recorded timing times --speed; a sample without a run is run. At the end of a
    /// run auto-play moves to the next sample. Keys: space pause, + / - pace, n / N sample,
    /// a auto-play, r restart, Esc back to the workbench.
    Demo(workbench::DemoArgs),
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // command-line flags, each independent
struct ExportArgs {
    #[command(flatten)]
    format: FormatArgs,
    /// The system prompt of each example: none, teacher (the prompt the run was made with,
    /// without its front matter), or any other value as the text itself.
    #[arg(long, value_name = "none|teacher|TEXT", default_value = "none", value_parser = parse_system, allow_hyphen_values = true)]
    system: SystemChoice,
    /// Add a "meta" object to each example: run, sample and prompt ids, provider, model,
    /// whether it was edited or replayed, and the rule results of the text exported (not with
    /// --target openai, whose file check refuses other keys).
    #[arg(long)]
    with_meta: bool,
    /// The JSONL file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also export runs of the offline replay teacher (recorded text, not fresh answers).
    /// Placeholders are never exported.
    #[arg(long)]
    include_replayed: bool,
    /// Export every complete run whose text passes its version's rules, accepted or not (per
    /// sample: its accepted run if it has one, else its latest passing run that was not
    /// rejected).
    #[arg(long)]
    only_passing: bool,
    /// Render every record with this chat template (a .jinja file, or a model's tokenizer
    /// config .json) before writing, and check that each answer reaches the model byte for
    /// byte: nothing is written, and the exit status is 1, when the template cuts an answer
    /// or adds text to it.
    #[arg(long, value_name = "FILE")]
    check_template: Option<PathBuf>,
    /// Write the export even when the template check fails (the exit status is still 1).
    #[arg(long, requires = "check_template")]
    write_anyway: bool,
    /// Write preference pairs (chosen / rejected) from side-by-side choices, for DPO: TRL's
    /// conversational preference format (--target trl, the default) or LLaMA-Factory's
    /// sharegpt ranking format (--target llama-factory). The system prompt follows --system
    /// (teacher: the chosen run's prompt); --with-meta adds run and prompt ids and measures.
    #[arg(long, conflicts_with_all = ["only_passing", "check_template"])]
    pairs: bool,
    /// The workspace folder holding .moss/ (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

/// What a JSONL export is written as: a record layout, or the records a named consumer loads.
#[derive(Debug, Args)]
struct FormatArgs {
    /// Record layout: sharegpt (the default), messages or alpaca.
    #[arg(long, value_name = "FORMAT", value_parser = parse_layout, conflicts_with = "target")]
    format: Option<ExportFormat>,
    /// Write for a trainer or service instead of a bare layout: trl, llama-factory, ms-swift
    /// or openai, with the files it needs beside the records; the command that trains on them
    /// is printed.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    target: Option<ExportFormat>,
}

impl FormatArgs {
    fn chosen(&self) -> ExportFormat {
        self.target.or(self.format).unwrap_or_default()
    }
}

fn parse_layout(s: &str) -> Result<ExportFormat, String> {
    ExportFormat::parse_among(s, &ExportFormat::LAYOUTS, "format")
}

fn parse_target(s: &str) -> Result<ExportFormat, String> {
    ExportFormat::parse_among(s, &ExportFormat::TARGETS, "target")
}

fn parse_system(s: &str) -> Result<SystemChoice, String> {
    match s {
        "none" => Ok(SystemChoice::None),
        "teacher" => Ok(SystemChoice::Teacher),
        text if text.trim().is_empty() => {
            Err("give none, teacher or the system prompt text itself".to_owned())
        }
        text => Ok(SystemChoice::Text(text.to_owned())),
    }
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    teacher: TeacherArgs,
    /// Runs in flight at once (default from [generate] concurrency, 8).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Requests per minute (default from [generate] rpm; 0 = no limit).
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Only the first N samples of the file.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Complete runs wanted per sample: each sample runs until it has N for this prompt and
    /// settings (a rerun with a larger N runs only the difference).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_repeat)]
    repeat: usize,
    /// Run python RUN blocks: off, fill (after the answer) or continue (as they close, letting
    /// the teacher continue after each result). Giving fill or continue consents to running
    /// model-written code in the sandbox.
    #[arg(long, value_name = "MODE", value_parser = parse_exec)]
    exec: Option<ExecMode>,
    /// Also write the complete runs of the selected samples as JSONL (sharegpt unless
    /// --out-format or --target says otherwise).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The record layout of --out: sharegpt (the default), messages or alpaca.
    #[arg(long, value_name = "FORMAT", value_parser = parse_layout, requires = "out", conflicts_with = "target")]
    out_format: Option<ExportFormat>,
    /// Write --out for a trainer or service instead: trl, llama-factory, ms-swift or openai,
    /// with the files it needs beside the records; the command that trains on them is printed.
    #[arg(long, value_name = "TARGET", value_parser = parse_target, requires = "out")]
    target: Option<ExportFormat>,
    /// Also write the offline replay teacher's runs to --out (marked "replayed"; recorded
    /// text, not fresh answers). Placeholders are never written.
    #[arg(long, requires = "out")]
    include_replayed: bool,
    /// Interrupt every run once its answer holds N words (answer and think): the stream is cut
    /// there and the teacher goes on after --interjection as a new turn, so the record has two
    /// turns. A sample's own "interruptions" in the samples file replace this.
    #[arg(long, value_name = "WORDS", requires = "interjection")]
    interrupt_after: Option<usize>,
    /// What the user says at --interrupt-after (e.g. "换个简单点的方法").
    #[arg(long, value_name = "TEXT", requires = "interrupt_after")]
    interjection: Option<String>,
}

fn parse_repeat(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a number of runs of 1 or more, found {s:?}"
        )),
    }
}

fn parse_exec(s: &str) -> Result<ExecMode, String> {
    s.parse()
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Dataset files to check; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Record format; detected from each file's first record when not given.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// A TOML file with a [rules] table (or a prompt .md whose front matter has one), layered
    /// over ./moss.toml and the user config.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// One JSON object per checked record on stdout; the summary goes to stderr.
    #[arg(long)]
    json: bool,
    /// Stop at the first bad record, and exit with 1 when any rule fails.
    #[arg(long)]
    strict: bool,
    /// How many failing examples the summary shows.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_failures: usize,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Exit status for usage, IO and format errors.
const EXIT_ERROR: u8 = 2;
/// Exit status of `check --strict` when a rule failed.
const EXIT_RULES_FAILED: u8 = 1;

fn main() -> ExitCode {
    // Started as the sandbox helper for model-written code: that, and nothing else.
    moss_thinking::exec::helper::run_if_requested();
    let cli = Cli::parse();
    let result = match cli.command {
        None => workbench::run(&cli.workbench),
        Some(Command::Check(args)) => run_check(&args),
        Some(Command::Generate(args)) => run_generate(&args),
        Some(Command::Export(args)) => run_export(args),
        Some(Command::Sandbox(args)) => sandbox_cmd::run(&args),
        Some(Command::Compare(args)) => compare_cmd::run(&args),
        Some(Command::Replay(args)) => replay_cmd::run(&args),
        Some(Command::Demo(args)) => workbench::demo(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            // Nothing is left to tell the user if stderr itself fails.
            let _ = writeln!(io::stderr(), "moss: {}", describe(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let workspace = std::env::current_dir().context("cannot read the current directory")?;
    let mut layers = Layers::discover(&workspace)?;
    if let Some(rules) = &args.rules {
        layers.push_file(rules)?;
    }
    let config = layers.resolve()?;
    let rules = Rules::new(config.rules)?;
    let mut options = CheckOptions {
        format: args.format,
        strict: args.strict,
        json: args.json,
        max_failures: args.max_failures,
        ..CheckOptions::default()
    };
    if let Some(threads) = args.threads {
        // More threads than this only adds contention.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        options.threads = threads.clamp(1, 4 * cores);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = io::stderr();
    let mut notes = stderr.lock();
    // On an error, what was written so far (records before a bad one under --strict) still
    // reaches stdout when `out` is dropped.
    let report = match check::check_files(&args.files, &rules, &options, &mut out, &mut notes) {
        Ok(report) => report,
        Err(failure) => {
            drop(out);
            let partial = &failure.report;
            if partial.records + partial.skipped > 0 {
                let _ = writeln!(notes, "until the error below:");
                let _ = partial.write_summary(&mut notes);
            }
            return Err(failure.error.into());
        }
    };
    if args.json {
        out.flush()?;
        report.write_summary(&mut notes)?;
    } else {
        report.write_summary(&mut out)?;
        out.flush()?;
    }
    if io::stderr().is_terminal() {
        let secs = report.elapsed.as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = report.bytes as f64 / secs.max(1e-9) / 1e6;
        writeln!(notes, "({secs:.2} s, {rate:.0} MB/s)")?;
    }
    if args.strict && report.any_failure() {
        return Ok(ExitCode::from(EXIT_RULES_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of `generate` when some selected sample has no complete run.
const EXIT_NOT_ALL_COMPLETE: u8 = 1;

fn run_generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let setup = Setup::load(&args.teacher)?;
    // Before anything is read from the workspace, and until the process ends.
    let _writer = WorkspaceLock::acquire(&setup.workspace_dir, "moss generate")?;
    let Batch {
        pipeline,
        prompt,
        config,
        workspace_dir,
        teacher,
        notices,
    } = setup.into_batch(args.exec, args.rpm);
    let stderr = io::stderr();
    for notice in &notices {
        writeln!(stderr.lock(), "moss: {notice}")?;
    }
    let samples = generate::read_samples(
        &args.teacher.samples,
        args.teacher.format,
        &mut stderr.lock(),
    )?;
    let workspace = Workspace::open(&workspace_dir)?;
    writeln!(
        stderr.lock(),
        "moss: {} · teacher: {teacher} · prompt {} · exec {}",
        match args.limit {
            Some(limit) if limit < samples.len() => {
                format!("the first {limit} of {} samples", samples.len())
            }
            _ => format!("{} samples", samples.len()),
        },
        prompt.id,
        pipeline.exec_mode().as_str(),
    )?;
    if pipeline.exec_mode() != ExecMode::Off {
        sandbox_cmd::announce(pipeline.sandbox(), &mut stderr.lock())?;
    }
    let options = GenerateOptions {
        concurrency: args
            .concurrency
            .unwrap_or(config.generate.concurrency)
            .max(1),
        limit: args.limit,
        out: args.out.clone(),
        out_format: args.target.or(args.out_format).unwrap_or_default(),
        include_replayed: args.include_replayed,
        repeat: args.repeat,
        interruptions: args
            .interrupt_after
            .zip(args.interjection.clone())
            .map(|(after_words, text)| ScriptedInterruption { after_words, text })
            .into_iter()
            .collect(),
    };
    let mode = if io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Lines
    };
    let (report, stopped_by) = run_batch(pipeline, prompt, &samples, &workspace, &options, mode)?;
    let written = write_generate_report(&report, &mut stderr.lock());
    if let Some(signal) = stopped_by {
        // After SIGHUP, stderr may be a terminal that is gone: the exit status still says why.
        return Ok(ExitCode::from(signal.exit_status()));
    }
    written?;
    Ok(if report.all_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_ALL_COMPLETE)
    })
}

fn write_generate_report(
    report: &generate::GenerateReport,
    out: &mut impl Write,
) -> io::Result<()> {
    for warning in &report.warnings {
        writeln!(out, "moss: {warning}")?;
    }
    progress::write_summary(report, out)?;
    if let Some(exported) = &report.exported {
        write_consumer_notes(
            exported.format,
            &exported.written.notes,
            exported.written.training.as_deref(),
            out,
        )?;
    }
    Ok(())
}

/// Runs a batch on a multi-threaded runtime. The first SIGINT, SIGTERM or SIGHUP cancels it and
/// is returned with the report; a second one quits at once.
fn run_batch(
    pipeline: Pipeline,
    prompt: Arc<PromptVersion>,
    samples: &[generate::Sample],
    workspace: &Workspace,
    options: &GenerateOptions,
    mode: ProgressMode,
) -> anyhow::Result<(generate::GenerateReport, Option<HostSignal>)> {
    with_signals(|cancel| async move {
        let mut progress = Progress::new(mode);
        let report = generate::generate(
            pipeline,
            prompt,
            samples,
            workspace,
            options,
            cancel,
            &mut |event| progress.observe(event),
        )
        .await;
        progress.finish();
        Ok(report?)
    })
}

/// Runs `body` on a multi-threaded runtime with a token the first SIGINT, SIGTERM or SIGHUP
/// cancels (that signal is returned with the result); a second one quits at once.
fn with_signals<T, F>(
    body: impl FnOnce(CancellationToken) -> F,
) -> anyhow::Result<(T, Option<HostSignal>)>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut signals = HostSignals::listen(&[
            HostSignal::Interrupt,
            HostSignal::Terminate,
            HostSignal::Hangup,
        ])
        .context("cannot listen for signals")?;
        let cancel = CancellationToken::new();
        let first = Arc::new(OnceLock::new());
        let on_signal = cancel.clone();
        let seen = Arc::clone(&first);
        // A task of its own, so that a second signal quits even while the batch is blocked.
        tokio::spawn(async move {
            let signal = signals.recv().await;
            let _ = seen.set(signal);
            // After SIGHUP, stderr may be a terminal that is gone.
            let _ = writeln!(
                io::stderr(),
                "moss: {}: stopping; finished runs are kept (Ctrl-C again to quit at once)",
                stopping_reason(signal)
            );
            on_signal.cancel();
            signals.recv().await;
            // Exiting skips destructors: stop the sandboxes and remove their folders.
            moss_thinking::exec::kill_running();
            std::process::exit(i32::from(signal.exit_status()));
        });
        let out = body(cancel).await?;
        Ok((out, first.get().copied()))
    })
}

/// Why a batch stops, as the user is told.
fn stopping_reason(signal: HostSignal) -> String {
    match signal {
        HostSignal::Interrupt => "interrupted".to_owned(),
        HostSignal::Terminate => format!("terminated ({})", signal.name()),
        HostSignal::Hangup => format!("hung up ({})", signal.name()),
    }
}

/// Exit status of `export --check-template` when the template does not keep every answer.
const EXIT_TEMPLATE_FAILED: u8 = 1;
/// How many failing records a template check shows in full.
const TEMPLATE_FAILURES_SHOWN: usize = 10;

fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace_dir = args.workspace.unwrap_or(cwd);
    let store = workspace_dir.join(STORE_DIR);
    // Opening would create the folder; an export from the wrong folder should say so instead.
    if !store.is_dir() {
        anyhow::bail!(
            "no workspace at {}: run `moss generate` there, or name one with --workspace",
            store.display()
        );
    }
    // No lock: the export only reads the workspace, and its file is outside it. A run being
    // appended meanwhile is a torn last line, skipped with a warning.
    let workspace = Workspace::open(&workspace_dir)?;
    let format = if args.pairs {
        if let Some(layout) = args.format.format {
            anyhow::bail!(
                "--pairs writes for a trainer: give --target trl or --target llama-factory, not --format {layout}"
            );
        }
        args.format.target.unwrap_or(ExportFormat::Trl)
    } else {
        args.format.chosen()
    };
    let options = ExportOptions {
        format,
        system: args.system,
        with_meta: args.with_meta,
        out: args.out,
        // `--with-meta` judges each run by its version's rules under the current config.
        rule_layers: Layers::discover(&workspace_dir)?,
        include_replayed: args.include_replayed,
        only_passing: args.only_passing,
        check_template: args.check_template,
        write_anyway: args.write_anyway,
    };
    let stderr = io::stderr();
    if args.pairs {
        return run_pairs_export(&workspace, &options);
    }
    let data = options.out.display().to_string();
    let report = match curate::export_accepted(&workspace, &options) {
        Ok(report) => report,
        Err(err) => {
            let mut notes = stderr.lock();
            match &err {
                CurateError::NothingAccepted { warnings, .. } => {
                    for warning in warnings {
                        writeln!(notes, "moss: {warning}")?;
                    }
                }
                CurateError::TemplateCheckFailed { report } => {
                    write_template_report(report, &data, &mut notes)?;
                    writeln!(notes, "moss: {err}")?;
                    return Ok(ExitCode::from(EXIT_TEMPLATE_FAILED));
                }
                _ => {}
            }
            return Err(err.into());
        }
    };
    let mut notes = stderr.lock();
    if let Some(template) = &report.template {
        write_template_report(template, &data, &mut notes)?;
    }
    write_export_summary(&report, options.format, &mut notes)?;
    if report.template.as_ref().is_some_and(|t| !t.passed()) {
        writeln!(
            notes,
            "moss: written although the chat template does not keep every answer (--write-anyway)"
        )?;
        return Ok(ExitCode::from(EXIT_TEMPLATE_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `moss export --pairs`: preference pairs, their refusals, the DPO command.
fn run_pairs_export(workspace: &Workspace, options: &ExportOptions) -> anyhow::Result<ExitCode> {
    let mut notes = io::stderr().lock();
    let report = match curate::export_pairs(workspace, options) {
        Ok(report) => report,
        Err(err) => {
            if let CurateError::NoPairs { warnings, .. } = &err {
                for warning in warnings {
                    writeln!(notes, "moss: {warning}")?;
                }
            }
            return Err(err.into());
        }
    };
    for warning in &report.warnings {
        writeln!(notes, "moss: {warning}")?;
    }
    for refused in &report.refused {
        writeln!(notes, "moss: refused {refused}")?;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if report.replayed > 0 {
        writeln!(
            notes,
            "moss: left out {} pair{} with a run of the offline replay teacher (--include-replayed takes them)",
            report.replayed,
            plural(report.replayed)
        )?;
    }
    write!(
        notes,
        "moss: exported {} preference pair{} ({} edited) to {} ({})",
        report.written,
        plural(report.written),
        report.edited,
        report.path.display(),
        options.format.as_str()
    )?;
    if report.refused.is_empty() {
        writeln!(notes)?;
    } else {
        writeln!(
            notes,
            "; {} pair{} refused, listed above",
            report.refused.len(),
            plural(report.refused.len())
        )?;
    }
    write_consumer_notes(
        options.format,
        &report.notes,
        report.training.as_deref(),
        &mut notes,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn write_template_report(
    report: &TemplateReport,
    data: &str,
    out: &mut impl Write,
) -> io::Result<()> {
    for line in report.describe(data, TEMPLATE_FAILURES_SHOWN) {
        writeln!(out, "moss: {line}")?;
    }
    writeln!(out, "moss: {}", report.summary())
}

fn write_export_summary(
    report: &ExportReport,
    format: ExportFormat,
    out: &mut impl Write,
) -> io::Result<()> {
    for warning in &report.warnings {
        writeln!(out, "moss: {warning}")?;
    }
    for refused in &report.refused {
        writeln!(out, "moss: refused {refused}")?;
    }
    if report.replayed > 0 {
        writeln!(
            out,
            "moss: left out {} run{} of the offline replay teacher (--include-replayed takes them)",
            report.replayed,
            if report.replayed == 1 { "" } else { "s" }
        )?;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    write!(
        out,
        "moss: exported {} accepted output{} ({} edited) to {} ({})",
        report.written,
        plural(report.written),
        report.edited,
        report.path.display(),
        format.as_str()
    )?;
    if report.refused.is_empty() {
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "; {} accepted output{} refused, listed above",
            report.refused.len(),
            plural(report.refused.len())
        )?;
    }
    write_consumer_notes(format, &report.notes, report.training.as_deref(), out)
}

/// What was written beside the records, and the command that trains on them (as is, to be
/// copied: a script's indentation matters).
fn write_consumer_notes(
    format: ExportFormat,
    notes: &[String],
    training: Option<&str>,
    out: &mut impl Write,
) -> io::Result<()> {
    for note in notes {
        writeln!(out, "moss: wrote {note}")?;
    }
    if let Some(training) = training {
        writeln!(out, "moss: to train with {format}:")?;
        writeln!(out, "{training}")?;
    }
    Ok(())
}

/// The error and its causes, each said once: many errors already quote their cause.
fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
