//! `moss` without a subcommand: load the workspace, open the workbench, restore the terminal.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use moss_thinking::generate;
use moss_thinking::run::Pipeline;
use moss_thinking::store::{Workspace, WorkspaceLock};
use moss_thinking::tui::app::{App, Init, Settings};
use moss_thinking::tui::keymap::Keymap;
use moss_thinking::tui::runner::{self, Screen};
use moss_thinking::tui::theme::{Theme, user_theme_dir};
use moss_thinking::tui::update::Msg;
use moss_thinking::tui::{logging, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::setup::{Setup, TeacherArgs};

#[derive(Debug, Args)]
pub struct WorkbenchArgs {
    #[command(flatten)]
    teacher: TeacherArgs,
    /// A built-in theme (dark, light, high-contrast) or one in the config folder's themes/.
    #[arg(long, value_name = "NAME")]
    theme: Option<String>,
}

/// `moss demo`: the workbench opened in presentation mode, auto-playing the samples.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    workbench: WorkbenchArgs,
    /// Playback speed of recorded runs: 1 as they streamed, 2 twice as fast.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    speed: f64,
}

/// Opens the workbench in presentation mode with auto-play on.
pub fn demo(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        anyhow::bail!("--speed needs a number above 0 (1 plays as recorded)");
    }
    open(&args.workbench, vec![Msg::OpenDemo { pace: args.speed }])
}

/// Opens the workbench; the exit status is 128 + the signal's number when SIGTERM or SIGHUP
/// ended it.
pub fn run(args: &WorkbenchArgs) -> anyhow::Result<ExitCode> {
    open(args, Vec::new())
}

fn open(args: &WorkbenchArgs, opening: Vec<Msg>) -> anyhow::Result<ExitCode> {
    let Setup {
        workspace_dir,
        prompt_text,
        prompt,
        layers,
        base_layers,
        config,
        rules,
        teacher: chosen,
    } = Setup::load(&args.teacher)?;
    // Before anything is read from the workspace, and until the workbench closes.
    let _writer = WorkspaceLock::acquire(&workspace_dir, "the moss workbench")?;
    let keymap = Keymap::load(&layers)?;
    let theme_dir = user_theme_dir();
    let theme = match &args.theme {
        Some(name) => Theme::load(name, theme_dir.as_deref())?,
        None => Theme::configured(&layers, &config.workbench.theme, theme_dir.as_deref())?,
    };
    let mut exec = config.exec.clone();
    exec.mode = config.workbench.exec;
    let pipeline = Pipeline::new(chosen.teacher, exec, Arc::clone(&rules));
    let mut notes = Vec::new();
    let samples = generate::read_samples(&args.teacher.samples, args.teacher.format, &mut notes)?;
    let mut warnings: Vec<String> = String::from_utf8_lossy(&notes)
        .lines()
        .map(str::to_owned)
        .collect();
    if !io::stdout().is_terminal() {
        anyhow::bail!(
            "the workbench needs a terminal, and stdout is not one (without a screen: moss generate, moss export, moss check)"
        );
    }
    let workspace = Workspace::open(&workspace_dir)?;
    let loaded = workspace.load_runs()?;
    warnings.extend(loaded.warnings);
    let decisions = workspace.load_decisions()?;
    warnings.extend(decisions.warnings);
    let (session, session_warning) = workspace.load_session()?;
    warnings.extend(session_warning);
    let mut versions = workspace.load_versions()?;
    warnings.append(&mut versions.warnings);
    let prompt_texts = snapshots(&workspace, &loaded.runs, &versions);
    let log = logging::init().ok();
    let settings = Settings {
        teacher: pipeline.teacher().info(),
        exec: pipeline.exec_mode(),
        require: pipeline.sandbox().config().require.clone(),
        concurrency: config.workbench.concurrency.max(1),
        reject_reasons: config.workbench.reject_reasons.clone(),
        theme,
        keymap,
        rules,
        rule_layers: base_layers,
        workspace: workspace_dir,
        log_path: log.as_ref().map(|l| l.path().to_owned()),
    };
    let mut app = App::new(Init {
        samples,
        runs: loaded.runs,
        decisions: decisions.decisions,
        session,
        prompt_path: args.teacher.prompt.clone(),
        prompt,
        prompt_text,
        prompt_texts,
        settings,
        warnings,
    });
    app.versions = versions;
    tracing::info!(
        workspace = %app.settings.workspace.display(),
        teacher = %app.settings.teacher.provider,
        "workbench opened"
    );
    let signalled = present(&mut app, pipeline, workspace, opening)?;
    if let Some(log) = &log {
        let _ = writeln!(io::stderr(), "moss: log at {}", log.path().display());
    }
    Ok(signalled.map_or(ExitCode::SUCCESS, |signal| {
        ExitCode::from(signal.exit_status())
    }))
}

/// Runs the workbench on the terminal until it ends: the signal that ended it, if one did.
fn present(
    app: &mut App,
    pipeline: Pipeline,
    workspace: Workspace,
    opening: Vec<Msg>,
) -> anyhow::Result<Option<moss_thinking::signals::HostSignal>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    terminal::install_panic_hook();
    let mut screen = CrosstermScreen {
        terminal: terminal::init().context("cannot open the terminal")?,
    };
    let ended = runtime.block_on(runner::run_with(
        app,
        &mut screen,
        pipeline,
        workspace,
        opening,
    ));
    let restored = terminal::restore();
    if restored.is_err() {
        // The terminal is gone (it hung up): dropping ratatui's terminal would write to it to
        // show the cursor, and panic when it cannot report that it failed.
        std::mem::forget(screen);
    }
    // Runs cancelled on quit must not keep the process (or their sandboxes) alive.
    moss_thinking::exec::kill_running();
    runtime.shutdown_background();
    let signalled = ended?;
    match restored {
        Ok(()) => {}
        // Told to stop, moss stops: a terminal that is gone cannot be restored, nor needs it.
        Err(e) if signalled.is_some() => tracing::warn!("the terminal was not restored: {e}"),
        Err(e) => return Err(e).context("cannot restore the terminal"),
    }
    Ok(signalled)
}

/// Texts of the prompt versions this workspace's runs used, and of those saved with a label
/// (missing snapshots are skipped: the history says so).
fn snapshots(
    workspace: &Workspace,
    runs: &[moss_thinking::run::Run],
    versions: &moss_thinking::store::Versions,
) -> Vec<(String, String)> {
    let mut ids: Vec<&str> = runs
        .iter()
        .map(|r| r.prompt_id.as_str())
        .chain(versions.ids())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            workspace
                .load_prompt(id)
                .ok()
                .map(|text| (id.to_owned(), text))
        })
        .collect()
}

struct CrosstermScreen {
    terminal: Terminal<CrosstermBackend<io::Stdout>>,
}

impl Screen for CrosstermScreen {
    type Backend = CrosstermBackend<io::Stdout>;

    fn terminal(&mut self) -> &mut Terminal<Self::Backend> {
        &mut self.terminal
    }

    fn edit_externally(&mut self, text: &str) -> io::Result<String> {
        terminal::edit_externally(text)
    }
}
