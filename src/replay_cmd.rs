//! `moss replay`: recorded runs printed as they streamed, at their recorded speed or scaled.

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use moss_thinking::config::Layers;
use moss_thinking::run::{Run, Speed, Timeline, play};
use moss_thinking::store::{STORE_DIR, Workspace};
use tokio_util::sync::CancellationToken;

/// Run ids listed when a prefix matches several.
const AMBIGUOUS_SHOWN: usize = 5;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The runs to play, in this order: a run id from .moss/runs.jsonl or the start of one
    /// that no other run id starts with.
    #[arg(value_name = "RUN_ID", required = true)]
    runs: Vec<String>,
    /// How fast: 1 as recorded, 2 twice as fast, 0.5 half as fast; 0 prints at once.
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
    /// Print at once, without pauses (as --speed 0).
    #[arg(long, conflicts_with = "speed")]
    instant: bool,
    /// The workspace folder holding .moss/ (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("give a number, 0 or more (1 is the recorded speed)".to_owned()),
    }
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dir = args.workspace.clone().unwrap_or(cwd);
    let store = dir.join(STORE_DIR);
    // Opening would create the folder; replaying from the wrong folder should say so instead.
    if !store.is_dir() {
        anyhow::bail!(
            "no workspace at {}: run `moss generate` there, or name one with --workspace",
            store.display()
        );
    }
    let workspace = Workspace::open(&dir)?;
    let loaded = workspace.load_runs()?;
    let runs = args
        .runs
        .iter()
        .map(|id| find(&loaded.runs, id))
        .collect::<Result<Vec<_>, _>>()?;
    let pace = Layers::discover(&dir)?.resolve()?.teacher.replay_pace();
    let speed = if args.instant {
        Speed::INSTANT
    } else {
        Speed::times(args.speed)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the runtime")?;
    let mut stderr = io::stderr().lock();
    for run in runs {
        let paced;
        let timeline = if let Some(timeline) = run.timeline() {
            timeline
        } else {
            writeln!(
                stderr,
                "moss: run {} has no recorded timing: played at the replay teacher's pace",
                run.run_id
            )?;
            paced = Timeline::paced(&run.transcript, &pace);
            &paced
        };
        let chunks = timeline
            .chunks(&run.transcript)
            .context("a timeline that does not fit its run")?;
        let mut out = io::stdout().lock();
        let mut failed = None;
        // Stopped only by a failed write, which `failed` holds.
        let _ = runtime.block_on(play(
            &chunks,
            speed,
            &mut |chunk| match out
                .write_all(chunk.text.as_bytes())
                .and_then(|()| out.flush())
            {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            },
            &CancellationToken::new(),
        ));
        if let Some(e) = failed {
            return Err(e.into());
        }
        if !run.transcript.ends_with('\n') {
            writeln!(out)?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The run `id` names: its whole id, or the start of exactly one run's.
fn find<'r>(runs: &'r [Run], id: &str) -> anyhow::Result<&'r Run> {
    if let Some(run) = runs.iter().find(|r| r.run_id == id) {
        return Ok(run);
    }
    let matching: Vec<&Run> = runs.iter().filter(|r| r.run_id.starts_with(id)).collect();
    match matching[..] {
        [run] => Ok(run),
        [] => anyhow::bail!("no run {id} in .moss/runs.jsonl"),
        _ => {
            let shown: Vec<&str> = matching
                .iter()
                .take(AMBIGUOUS_SHOWN)
                .map(|r| r.run_id.as_str())
                .collect();
            let more = if matching.len() > AMBIGUOUS_SHOWN {
                ", …"
            } else {
                ""
            };
            anyhow::bail!(
                "{id} is the start of {} run ids ({}{more}): give more of it",
                matching.len(),
                shown.join(", ")
            )
        }
    }
}
