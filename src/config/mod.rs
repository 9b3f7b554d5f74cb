//! Configuration: built-in defaults (compiled in), then the user file, the workspace's
//! `moss.toml`, and files named on the command line, each layered over the one before.
//!
//! Every layer is checked on its own so that an error names its file, line and column; the
//! layers are then merged key by key, so a layer only states what it changes.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::source::{ConfigError, Location, Source, SourceKind};

use crate::exec::{ExecConfig, ExecMode};
use crate::teacher::{ProviderConfig, TeacherConfig};
use crate::transcript::RulesConfig;

/// The built-in defaults, documented for users.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// The built-in provider presets, layered under everything else.
pub const PROVIDER_PRESETS: &str = include_str!("providers.toml");

/// The screen theme when none is configured.
pub const DEFAULT_THEME: &str = "dark";

/// The workspace's own file, looked up in the current directory.
pub const WORKSPACE_FILE: &str = "moss.toml";

/// Names the user config file, overriding the platform location; empty means none.
pub const CONFIG_ENV: &str = "MOSS_CONFIG";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub rules: RulesConfig,
    pub teacher: TeacherConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub exec: ExecConfig,
    pub generate: GenerateConfig,
    pub workbench: WorkbenchConfig,
    pub keys: KeysConfig,
}

/// The `[generate]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GenerateConfig {
    /// Runs in flight at once.
    pub concurrency: usize,
    /// Requests per minute; 0 = unlimited.
    pub rpm: u32,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rpm: 0,
        }
    }
}

/// The `[workbench]` table: settings of the interactive workbench only.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkbenchConfig {
    /// A built-in theme, or `NAME` for `NAME.toml` in [`crate::tui::theme::user_theme_dir`].
    pub theme: String,
    /// How the workbench runs python RUN blocks once the user has allowed it in the workspace.
    /// Separate from `[exec] mode` so that consenting in the workbench never changes what the
    /// headless commands do.
    pub exec: ExecMode,
    /// Runs in flight at once for "run all".
    #[serde(deserialize_with = "at_least_one")]
    pub concurrency: usize,
    /// The reasons offered when rejecting an output (numbered 1 to 9 in the dialog; any other
    /// reason can be typed).
    pub reject_reasons: Vec<String>,
}

/// The reasons offered when rejecting, unless `[workbench] reject-reasons` says otherwise.
pub const DEFAULT_REJECT_REASONS: [&str; 6] = [
    "wrong answer",
    "think over budget",
    "no real interleaving",
    "code or result wrong",
    "refuses or hedges",
    "unclear or badly written",
];

impl Default for WorkbenchConfig {
    fn default() -> Self {
        Self {
            theme: DEFAULT_THEME.to_owned(),
            exec: ExecMode::Fill,
            concurrency: 4,
            reject_reasons: DEFAULT_REJECT_REASONS.map(str::to_owned).to_vec(),
        }
    }
}

fn at_least_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = usize::deserialize(deserializer)?;
    if value == 0 {
        Err(serde::de::Error::custom(
            "expected a number of 1 or more, found 0",
        ))
    } else {
        Ok(value)
    }
}

/// The `[keys.main]`, `[keys.editor]`, `[keys.history]`, `[keys.runs]`, `[keys.compare]`,
/// `[keys.grid]` and `[keys.demo]` tables: action name → key strings.
///
/// Only their shape is checked here; `tui::keymap::Keymap::load` checks the names, the key
/// strings and clashes, and locates each mistake in its file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    pub main: BTreeMap<String, Vec<String>>,
    pub editor: BTreeMap<String, Vec<String>>,
    pub history: BTreeMap<String, Vec<String>>,
    pub runs: BTreeMap<String, Vec<String>>,
    pub compare: BTreeMap<String, Vec<String>>,
    pub grid: BTreeMap<String, Vec<String>>,
    pub demo: BTreeMap<String, Vec<String>>,
}

/// Layers of configuration, lowest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    sources: Vec<Source>,
}

impl Layers {
    /// The user file and the workspace file, where they exist.
    ///
    /// # Errors
    /// When a file exists but cannot be read.
    pub fn discover(workspace: &Path) -> Result<Self, ConfigError> {
        let mut layers = Self::default();
        // A file named in $MOSS_CONFIG must exist; the platform's default need not.
        let named = std::env::var_os(CONFIG_ENV).is_some_and(|v| !v.is_empty());
        if let Some(user) = user_config_path()
            && (named || user.is_file())
        {
            layers.push(Source::read(&user)?);
        }
        let local = workspace.join(WORKSPACE_FILE);
        if local.is_file() {
            layers.push(Source::read(&local)?);
        }
        Ok(layers)
    }

    pub fn push(&mut self, source: Source) {
        self.sources.push(source);
    }

    /// The rules of a prompt version: these layers with the prompt's own front matter on top,
    /// as `moss generate` resolves them at start.
    ///
    /// # Errors
    /// When the layers do not resolve or the rules do not compile, said in one line.
    pub fn rules_with(
        &self,
        front_matter: Option<&Source>,
    ) -> Result<crate::transcript::Rules, String> {
        let mut layers = self.clone();
        if let Some(front) = front_matter {
            layers.push(front.clone());
        }
        let config = layers.resolve().map_err(|e| e.to_string())?;
        crate::transcript::Rules::new(config.rules).map_err(|e| e.to_string())
    }

    /// The layers, lowest first (the built-in defaults are not among them).
    #[must_use]
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Where the configuration file layer that last sets the value at `path` (`["workbench",
    /// "theme"]`) sets it, so that a value that names something missing can be reported there.
    /// `None` when only the built-in defaults set it, or a layer is not valid TOML (resolving
    /// reports that).
    #[must_use]
    pub fn value_location(&self, path: &[&str]) -> Option<Location> {
        self.sources
            .iter()
            .rev()
            .filter(|source| source.kind == SourceKind::Config)
            .find_map(|source| {
                let document = toml::de::DeTable::parse(&source.text).ok()?;
                let (last, tables) = path.split_last()?;
                let mut table = document.get_ref();
                for name in tables {
                    table = table.get(*name)?.get_ref().as_table()?;
                }
                let value = table.get(*last)?;
                Some(source.locate(value.span().start))
            })
    }

    /// Reads a file and layers it over the others.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn push_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.sources.push(Source::read(path)?);
        Ok(())
    }

    /// Checks every layer, merges them over the built-in defaults and builds the configuration.
    ///
    /// # Errors
    /// The first layer that is not valid TOML or has an unknown key or a wrong type, with its
    /// file, line and column.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let defaults = Source::inline("<built-in defaults>", DEFAULT_CONFIG);
        let mut merged = defaults.table()?;
        merge(
            &mut merged,
            Source::inline("<built-in providers>", PROVIDER_PRESETS).table()?,
        );
        for source in &self.sources {
            // Checked alone first, so the error points into this file.
            let mut table = source.table()?;
            match source.kind {
                SourceKind::Config => {
                    source.parse::<Config>()?;
                }
                SourceKind::PromptFrontMatter => {
                    source.parse::<crate::prompt::FrontMatter>()?;
                    table.retain(|key, _| key == "rules");
                }
            }
            merge(&mut merged, table);
        }
        Config::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError::Invalid {
            location: Location {
                path: PathBuf::from("<merged configuration>"),
                line: 0,
                column: 0,
            },
            message: e.message().to_owned(),
        })
    }
}

/// `over` layered onto `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `$MOSS_CONFIG` when set (empty: no user file), else `config.toml` in the platform's config
/// folder for moss.
#[must_use]
pub fn user_config_path() -> Option<PathBuf> {
    match std::env::var_os(CONFIG_ENV) {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => directories::ProjectDirs::from("", "", "moss")
            .map(|dirs| dirs.config_dir().join("config.toml")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{CountMode, RuleId};

    #[test]
    fn built_in_defaults_match_the_code_defaults() {
        let mut config = Layers::default().resolve().expect("defaults resolve");
        let providers = std::mem::take(&mut config.providers);
        assert_eq!(config, Config::default());
        let names: Vec<&str> = providers.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "custom",
                "deepseek",
                "llamacpp",
                "ollama",
                "openai",
                "openrouter",
                "siliconflow",
                "vllm"
            ]
        );
        let sf = &providers["siliconflow"];
        assert_eq!(sf.model, "deepseek-ai/DeepSeek-V3");
        assert_eq!(sf.api_key_env, "SILICONFLOW_API_KEY");
    }

    #[test]
    fn a_provider_override_keeps_the_preset_keys_it_does_not_name() {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[providers.siliconflow]\nmodel = \"Qwen/QwQ-32B\"\n[providers.mine]\nbase-url = \"http://localhost:9/v1\"\nmodel = \"m\"\n[exec]\nmode = \"fill\"\n",
        ));
        let config = layers.resolve().expect("valid");
        let sf = &config.providers["siliconflow"];
        assert_eq!(sf.model, "Qwen/QwQ-32B");
        assert_eq!(sf.base_url, "https://api.siliconflow.cn/v1");
        assert!(sf.is_reasoning_model(&sf.model));
        assert_eq!(config.providers["mine"].base_url, "http://localhost:9/v1");
        assert_eq!(config.exec.mode, crate::exec::ExecMode::Fill);

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[providers.deepseek]\ncontinuation = \"telepathy\"\n",
        ));
        let err = layers.resolve().expect_err("bad style").to_string();
        assert!(err.starts_with("moss.toml:2:16: "), "{err}");
    }

    #[test]
    fn later_layers_override_only_what_they_state() {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "user.toml",
            "[rules]\ncount-mode = \"chars\"\n[rules.first-answer-concise]\nmax-words = 80\n",
        ));
        layers.push(Source::inline(
            "moss.toml",
            "[rules.first-answer-concise]\nenabled = false\n",
        ));
        let config = layers.resolve().expect("valid");
        assert_eq!(config.rules.count_mode, CountMode::Chars);
        assert_eq!(config.rules.first_answer_concise.max_words, 80);
        assert!(!config.rules.first_answer_concise.enabled);
        assert!(config.rules.think_budget.enabled);
    }

    #[test]
    fn stop_is_read_for_every_rule_and_checked_like_any_key() {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules.think-budget]\nstop = true\n[rules.no-refusal]\nstop = true\n[rules.interleaved]\nstop = true\n",
        ));
        let rules = layers.resolve().expect("valid").rules;
        assert!(rules.stops(RuleId::ThinkBudget) && rules.stops(RuleId::NoRefusal));
        assert!(rules.stops(RuleId::Interleaved));
        assert!(!rules.stops(RuleId::StartsWithAnswer), "off unless asked");

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules]\n[rules.no-input]\nstop = \"yes\"\n",
        ));
        let err = layers.resolve().expect_err("wrong type").to_string();
        assert!(err.starts_with("moss.toml:3:8: "), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules]\n\n[rules.think-budget]\nratio = \"lots\"\n",
        ));
        let err = layers.resolve().expect_err("wrong type").to_string();
        assert!(err.starts_with("moss.toml:4:9: "), "{err}");

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules.no-such-rule]\nenabled = true\n",
        ));
        let err = layers.resolve().expect_err("unknown rule").to_string();
        assert!(err.starts_with("moss.toml:1:"), "{err}");
        assert!(err.contains("no-such-rule"), "{err}");

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[rules.think-budget]\nratio = -0.5\n",
        ));
        let err = layers.resolve().expect_err("negative ratio").to_string();
        assert!(err.starts_with("moss.toml:2:9: "), "{err}");
        assert!(err.contains("0 or more"), "{err}");

        let mut layers = Layers::default();
        layers.push(Source::inline("moss.toml", "[rules\n"));
        let err = layers.resolve().expect_err("bad toml").to_string();
        assert!(err.starts_with("moss.toml:1:"), "{err}");
    }

    #[test]
    fn exec_numbers_out_of_range_name_file_line_and_column() {
        for (text, at, says) in [
            (
                "[exec]\ntimeout-secs = -1.0\n",
                "moss.toml:2:16: ",
                "found -1",
            ),
            (
                "[exec]\nmode = \"fill\"\ntimeout-secs = nan\n",
                "moss.toml:3:16: ",
                "found NaN",
            ),
            (
                "[exec]\ntimeout-secs = 0.0\n",
                "moss.toml:2:16: ",
                "found 0",
            ),
            ("[exec]\ncpu-secs = -5\n", "moss.toml:2:12: ", "found -5"),
            ("[exec]\ndisk-mb = -1\n", "moss.toml:2:11: ", "found -1"),
            (
                "[exec]\nmax-processes = -1\n",
                "moss.toml:2:17: ",
                "found -1",
            ),
            ("[exec]\noutput-limit = 0\n", "moss.toml:2:16: ", "found 0"),
            (
                "[exec]\nrequire = [\"fs\"]\n",
                "moss.toml:2:12: ",
                "filesystem-isolated",
            ),
        ] {
            let mut layers = Layers::default();
            layers.push(Source::inline("moss.toml", text));
            let err = layers.resolve().expect_err(text).to_string();
            assert!(err.starts_with(at), "{text}: {err}");
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_workbench_table_has_its_defaults_and_takes_overrides() {
        let config = Layers::default().resolve().expect("defaults");
        assert_eq!(config.workbench.theme, "dark");
        assert_eq!(config.workbench.exec, ExecMode::Fill);
        assert_eq!(config.workbench.concurrency, 4);
        // The workbench's mode is its own: the headless default stays off.
        assert_eq!(config.exec.mode, ExecMode::Off);

        let mut layers = Layers::default();
        layers.push(Source::inline(
            "moss.toml",
            "[workbench]\ntheme = \"light\"\nexec = \"continue\"\n",
        ));
        let config = layers.resolve().expect("valid");
        assert_eq!(config.workbench.theme, "light");
        assert_eq!(config.workbench.exec, ExecMode::Continue);
        assert_eq!(config.workbench.concurrency, 4);
    }

    #[test]
    fn workbench_mistakes_name_file_and_line() {
        for (text, at, says) in [
            (
                "[workbench]\n\nthemes = \"dark\"\n",
                "moss.toml:3:",
                "themes",
            ),
            (
                "[workbench]\nexec = \"always\"\n",
                "moss.toml:2:8: ",
                "always",
            ),
            (
                "[workbench]\nconcurrency = 0\n",
                "moss.toml:2:15: ",
                "1 or more",
            ),
            ("[workbench]\nconcurrency = -2\n", "moss.toml:2:15: ", ""),
            ("[keys.mian]\nquit = [\"q\"]\n", "moss.toml:1:", "mian"),
            ("[keys.main]\nquit = \"q\"\n", "moss.toml:2:8: ", ""),
        ] {
            let mut layers = Layers::default();
            layers.push(Source::inline("moss.toml", text));
            let err = layers.resolve().expect_err(text).to_string();
            assert!(err.starts_with(at), "{text:?}: {err}");
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_value_is_located_in_the_last_layer_that_sets_it() {
        let mut layers = Layers::default();
        assert_eq!(layers.value_location(&["workbench", "theme"]), None);
        layers.push(Source::inline("user.toml", "[workbench]\ntheme = \"a\"\n"));
        layers.push(Source::inline(
            "moss.toml",
            "[rules]\n\n[workbench]\nconcurrency = 1\n",
        ));
        layers.push(Source::inline("cli.toml", "workbench.theme = \"b\"\n"));
        let at = layers.value_location(&["workbench", "theme"]).expect("set");
        assert_eq!(at.to_string(), "cli.toml:1:19");
        let at = layers
            .value_location(&["workbench", "concurrency"])
            .expect("set");
        assert_eq!(at.to_string(), "moss.toml:4:15");
        assert_eq!(layers.value_location(&["workbench", "exec"]), None);
        assert_eq!(layers.value_location(&["rules", "count-mode"]), None);
    }

    #[test]
    fn a_prompt_without_front_matter_gives_no_rules_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("P.MD");
        std::fs::write(&path, "Just a prompt.\n").expect("write");
        let err = Layers::default()
            .push_file(&path)
            .expect_err("nothing to layer")
            .to_string();
        assert!(
            err.ends_with("P.MD:1:1: this prompt has no +++ front matter to take rules from"),
            "{err}"
        );
    }

    #[test]
    fn front_matter_errors_count_lines_from_the_top_of_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.md");
        std::fs::write(
            &path,
            "+++\ntemperature = 0.7\n[rules.think-budget]\nratio = []\n+++\nbody\n",
        )
        .expect("write");
        let mut layers = Layers::default();
        layers.push_file(&path).expect("read");
        let err = layers.resolve().expect_err("bad type").to_string();
        assert!(err.contains("p.md:4:9: "), "{err}");
    }
}
