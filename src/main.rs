//! `moss`: the command-line front of moss-thinking.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use moss_thinking::check::{self, CheckOptions};
use moss_thinking::config::Layers;
use moss_thinking::dataset::Format;
use moss_thinking::transcript::rules::Rules;

/// A workbench for think-while-speaking distillation data.
#[derive(Debug, Parser)]
#[command(name = "moss", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
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

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// Exit status for usage, IO and format errors.
const EXIT_ERROR: u8 = 2;
/// Exit status of `check --strict` when a rule failed.
const EXIT_RULES_FAILED: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => Cli::command()
            .print_help()
            .map(|()| ExitCode::SUCCESS)
            .context("cannot print help"),
        Some(Command::Check(args)) => run_check(&args),
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
