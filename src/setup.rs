//! What `moss generate` and the workbench both start from: the samples, the teacher prompt,
//! the layered config (with the prompt's front matter on top), the rules and the teacher.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use moss_thinking::config::{Config, Layers};
use moss_thinking::dataset::Format;
use moss_thinking::exec::ExecMode;
use moss_thinking::prompt::PromptFile;
use moss_thinking::run::{Pipeline, PromptVersion, RateLimiter};
use moss_thinking::teacher::provider::{ChosenTeacher, choose_teacher};
use moss_thinking::transcript::rules::Rules;

/// The flags that say what is answered, with which prompt, by which teacher, where.
#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// Sample questions: any format `check` reads (the question is the user turn).
    #[arg(long, value_name = "FILE", default_value = "samples/questions.jsonl")]
    pub samples: PathBuf,
    /// Format of the samples file; detected when not given.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,
    /// The teacher system prompt (Markdown with optional +++ front matter).
    #[arg(long, value_name = "FILE", default_value = "prompts/teacher.zh.md")]
    pub prompt: PathBuf,
    /// A provider from the config (siliconflow, deepseek, openai, openrouter, ollama, vllm,
    /// llamacpp, custom, or your own), or `replay` for the offline teacher.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// The model, instead of the provider's default.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The workspace folder holding .moss/ (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// Everything loaded from `TeacherArgs`.
pub struct Setup {
    pub workspace_dir: PathBuf,
    /// The prompt file's whole text: its id hashes exactly the text whose body is sent.
    pub prompt_text: String,
    pub prompt: PromptFile,
    pub layers: Layers,
    /// The configuration's layers without the prompt's front matter: what a new prompt version's
    /// rules are resolved from (`Layers::rules_with`).
    pub base_layers: Layers,
    pub config: Config,
    pub rules: Arc<Rules>,
    pub teacher: ChosenTeacher,
}

impl Setup {
    pub fn load(args: &TeacherArgs) -> anyhow::Result<Self> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let workspace_dir = args.workspace.clone().unwrap_or(cwd);
        let prompt_text = std::fs::read_to_string(&args.prompt).with_context(|| {
            format!(
                "cannot read the teacher prompt {} (choose one with --prompt FILE)",
                args.prompt.display()
            )
        })?;
        Self::with_prompt(
            workspace_dir,
            &args.prompt,
            prompt_text,
            args.provider.as_deref(),
            args.model.as_deref(),
        )
    }

    /// The setup of the prompt `prompt_text` (named `prompt_path` in errors) answered by
    /// `provider` / `model` (the config's choice when `None`).
    pub fn with_prompt(
        workspace_dir: PathBuf,
        prompt_path: &Path,
        prompt_text: String,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> anyhow::Result<Self> {
        let prompt = PromptFile::parse(prompt_path, &prompt_text)?;
        let base_layers = Layers::discover(&workspace_dir)?;
        let mut layers = base_layers.clone();
        if let Some(front) = prompt.front_matter.clone() {
            layers.push(front);
        }
        let config = layers.resolve()?;
        let rules = Arc::new(Rules::new(config.rules.clone())?);
        let teacher = choose_teacher(
            &config.teacher,
            &config.providers,
            provider,
            model,
            &|var| std::env::var(var).ok(),
        )?;
        Ok(Self {
            workspace_dir,
            prompt_text,
            prompt,
            layers,
            base_layers,
            config,
            rules,
            teacher,
        })
    }
}

/// A prompt version and the pipeline that answers it, as `generate` and `compare` run them.
pub struct Batch {
    pub pipeline: Pipeline,
    /// Judged by the configuration's rules with the prompt's front matter on top; their id is
    /// part of the settings, so a rules change is never resumed past nor counted with the old.
    pub prompt: Arc<PromptVersion>,
    pub config: Config,
    pub workspace_dir: PathBuf,
    /// Who answers, for the user: the provider and model, or the offline replay.
    pub teacher: String,
    /// What the user should know before the batch runs: the teacher chosen for want of a
    /// key, code run after each answer because the teacher cannot continue a turn.
    pub notices: Vec<String>,
}

impl Setup {
    /// The pipeline of this setup with `exec` (else the config's mode) and `rpm` requests per
    /// minute (else the config's), and the prompt version it answers.
    pub fn into_batch(self, exec: Option<ExecMode>, rpm: Option<u32>) -> Batch {
        let Self {
            workspace_dir,
            prompt_text,
            prompt,
            config,
            rules,
            teacher: chosen,
            ..
        } = self;
        let mut notices: Vec<String> = chosen.notice.into_iter().collect();
        let mut exec_config = config.exec.clone();
        if let Some(mode) = exec {
            exec_config.mode = mode;
        }
        let requested = exec_config.mode;
        let rpm = rpm.unwrap_or(config.generate.rpm);
        let pipeline = Pipeline::new(chosen.teacher, exec_config, Arc::clone(&rules))
            .with_rate_limit(RateLimiter::per_minute(rpm).map(Arc::new));
        if requested == ExecMode::Continue && pipeline.exec_mode() == ExecMode::Fill {
            notices.push(
                "this teacher cannot continue a turn: running code after each answer (fill) instead"
                    .to_owned(),
            );
        }
        let info = pipeline.teacher().info();
        let teacher = if info.replayed {
            "offline replay of recorded answers (not a model)".to_owned()
        } else {
            format!("{} {}", info.provider, info.model)
        };
        let prompt =
            Arc::new(PromptVersion::new(prompt_text, prompt.body, prompt.params).with_rules(rules));
        Batch {
            pipeline,
            prompt,
            config,
            workspace_dir,
            teacher,
            notices,
        }
    }
}
