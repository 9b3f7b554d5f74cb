//! `moss` without a subcommand: load the workspace, open the workbench, restore the terminal.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use moss_thinking::config::Layers;
use moss_thinking::dataset::Format;
use moss_thinking::generate;
use moss_thinking::prompt::PromptFile;
use moss_thinking::run::Pipeline;
use moss_thinking::store::Workspace;
use moss_thinking::teacher::provider::choose_teacher;
use moss_thinking::theme::{Theme, user_theme_dir};
use moss_thinking::transcript::rules::Rules;
use moss_thinking::tui::app::{App, Init, Settings};
use moss_thinking::tui::keymap::Keymap;
use moss_thinking::tui::runner::{self, Screen};
use moss_thinking::tui::{logging, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

#[derive(Debug, Args)]
pub struct WorkbenchArgs {
    /// Sample questions: any format `check` reads (the question is the user turn).
    #[arg(long, value_name = "FILE", default_value = "samples/questions.jsonl")]
    samples: PathBuf,
    /// Format of the samples file; detected when not given.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// The teacher system prompt to edit and run (Markdown with optional +++ front matter).
    #[arg(long, value_name = "FILE", default_value = "prompts/teacher.zh.md")]
    prompt: PathBuf,
    /// A provider from the config, or `replay` for the offline teacher.
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,
    /// The model, instead of the provider's default.
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// A built-in theme (dark, light, high-contrast) or one in the config folder's themes/.
    #[arg(long, value_name = "NAME")]
    theme: Option<String>,
    /// The workspace folder holding .moss/ (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

pub fn run(args: &WorkbenchArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let workspace_dir = args.workspace.clone().unwrap_or(cwd);
    let prompt_text = std::fs::read_to_string(&args.prompt).with_context(|| {
        format!(
            "cannot read the teacher prompt {} (choose one with --prompt FILE)",
            args.prompt.display()
        )
    })?;
    let prompt = PromptFile::parse(&args.prompt, &prompt_text)?;
    let mut layers = Layers::discover(&workspace_dir)?;
    if let Some(front) = prompt.front_matter.clone() {
        layers.push(front);
    }
    let config = layers.resolve()?;
    let keymap = Keymap::load(&layers)?;
    let theme_dir = user_theme_dir();
    let theme = match &args.theme {
        Some(name) => Theme::load(name, theme_dir.as_deref())?,
        None => Theme::configured(&layers, &config.workbench.theme, theme_dir.as_deref())?,
    };
    let rules = Arc::new(Rules::new(config.rules.clone())?);
    let chosen = choose_teacher(
        &config.teacher,
        &config.providers,
        args.provider.as_deref(),
        args.model.as_deref(),
        &|var| std::env::var(var).ok(),
    )?;
    let mut exec = config.exec.clone();
    exec.mode = config.workbench.exec;
    let pipeline = Pipeline::new(chosen.teacher, exec, Arc::clone(&rules));
    let mut notes = Vec::new();
    let samples = generate::read_samples(&args.samples, args.format, &mut notes)?;
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
    let prompt_texts = snapshots(&workspace, &loaded.runs);
    let log = logging::init().ok();
    let settings = Settings {
        teacher: pipeline.teacher().info(),
        exec: pipeline.exec_mode(),
        concurrency: config.workbench.concurrency.max(1),
        theme,
        keymap,
        rules,
        workspace: workspace_dir,
        log_path: log.as_ref().map(|l| l.path().to_owned()),
    };
    let mut app = App::new(Init {
        samples,
        runs: loaded.runs,
        decisions: decisions.decisions,
        session,
        prompt_path: args.prompt.clone(),
        prompt,
        prompt_text,
        prompt_texts,
        settings,
        warnings,
    });
    tracing::info!(
        workspace = %app.settings.workspace.display(),
        teacher = %app.settings.teacher.provider,
        "workbench opened"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    terminal::install_panic_hook();
    let mut screen = CrosstermScreen {
        terminal: terminal::init().context("cannot open the terminal")?,
    };
    let result = runtime.block_on(runner::run(&mut app, &mut screen, pipeline, workspace));
    terminal::restore().context("cannot restore the terminal")?;
    // Runs cancelled on quit must not keep the process (or their sandboxes) alive.
    moss_thinking::exec::kill_running();
    runtime.shutdown_background();
    result?;
    if let Some(log) = &log {
        let _ = writeln!(io::stderr(), "moss: log at {}", log.path().display());
    }
    Ok(())
}

/// Texts of the prompt versions this workspace's runs used (missing snapshots are skipped:
/// the history says so).
fn snapshots(workspace: &Workspace, runs: &[moss_thinking::run::Run]) -> Vec<(String, String)> {
    let mut ids: Vec<&str> = runs.iter().map(|r| r.prompt_id.as_str()).collect();
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
