//! Provider presets and teacher settings: which endpoint, which key variable, which
//! continuation style; and choosing a teacher from them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::replay::{Pace, Pause};
use super::{OpenAiTeacher, ReplayTeacher, RetryPolicy, Teacher, TeacherError, Timeouts};

/// The name that selects the offline replay teacher.
pub const REPLAY: &str = "replay";

/// The teacher used when none is chosen (as in the original method).
pub const DEFAULT_PROVIDER: &str = "siliconflow";

/// Where a provider streams hidden reasoning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReasoningField {
    #[default]
    #[serde(rename = "reasoning_content")]
    ReasoningContent,
    #[serde(rename = "reasoning")]
    Reasoning,
}

impl ReasoningField {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReasoningContent => "reasoning_content",
            Self::Reasoning => "reasoning",
        }
    }
}

/// How a provider continues an assistant turn that is already under way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContinuationStyle {
    /// A trailing assistant message with `"prefix": true` (`DeepSeek`, on its beta endpoint).
    AssistantPrefix,
    /// A top-level `"prefix"` string (`SiliconFlow`; not for reasoning models).
    PrefixField,
    /// `continue_final_message: true` and `add_generation_prompt: false` (vLLM).
    ContinueFinalMessage,
    /// A trailing assistant message is continued as is (llama.cpp, Ollama).
    TrailingAssistant,
    /// The provider cannot continue a turn.
    #[default]
    None,
}

/// One provider: a `[providers.NAME]` table (built-in presets merged with the user's keys).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderConfig {
    pub base_url: String,
    /// Environment variable holding the API key; empty when the server needs none.
    pub api_key_env: String,
    pub model: String,
    pub reasoning_field: ReasoningField,
    pub continuation: ContinuationStyle,
    pub continuation_base_url: Option<String>,
    /// Substrings (any case) naming reasoning models.
    pub reasoning_models: Vec<String>,
}

impl ProviderConfig {
    /// Whether `model` is a reasoning model by this provider's list.
    #[must_use]
    pub fn is_reasoning_model(&self, model: &str) -> bool {
        let model = model.to_lowercase();
        self.reasoning_models
            .iter()
            .any(|m| !m.is_empty() && model.contains(&m.to_lowercase()))
    }

    /// The continuation style usable with `model`.
    #[must_use]
    pub fn continuation_for(&self, model: &str) -> ContinuationStyle {
        match self.continuation {
            ContinuationStyle::PrefixField if self.is_reasoning_model(model) => {
                ContinuationStyle::None
            }
            style => style,
        }
    }
}

/// The `[teacher]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TeacherConfig {
    /// A `[providers]` name or `replay`; unset means `siliconflow` when its key is set, else replay.
    pub provider: Option<String>,
    /// Overrides the provider's default model.
    pub model: Option<String>,
    pub connect_timeout_secs: f64,
    pub first_token_timeout_secs: f64,
    pub idle_timeout_secs: f64,
    pub max_retries: u32,
    pub retry_base_secs: f64,
    pub retry_max_secs: f64,
    /// Replay pacing: characters per chunk, and the pause before each: as a model streaming
    /// `replay_tokens_per_sec` would take, unless `replay_pause_ms` sets a fixed one.
    pub replay_chunk_chars: usize,
    pub replay_tokens_per_sec: f64,
    pub replay_pause_ms: Option<u64>,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        Self {
            provider: None,
            model: None,
            connect_timeout_secs: 10.0,
            first_token_timeout_secs: 120.0,
            idle_timeout_secs: 60.0,
            max_retries: 5,
            retry_base_secs: 1.0,
            retry_max_secs: 60.0,
            replay_chunk_chars: 3,
            replay_tokens_per_sec: 30.0,
            replay_pause_ms: None,
        }
    }
}

impl TeacherConfig {
    /// How fast the offline replay teacher streams.
    #[must_use]
    pub fn replay_pace(&self) -> Pace {
        Pace {
            chunk_chars: self.replay_chunk_chars.max(1),
            pause: match self.replay_pause_ms {
                Some(ms) => Pause::Fixed(Duration::from_millis(ms)),
                None => Pause::TokensPerSec(self.replay_tokens_per_sec),
            },
        }
    }

    #[must_use]
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: secs(self.connect_timeout_secs),
            first_token: secs(self.first_token_timeout_secs),
            idle: secs(self.idle_timeout_secs),
        }
    }

    #[must_use]
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: secs(self.retry_base_secs),
            max_delay: secs(self.retry_max_secs),
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// An API key. It prints as `***` so it cannot leak through `Debug` or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    #[must_use]
    pub fn new(key: String) -> Self {
        Self(key)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Everything an OpenAI-compatible teacher needs.
#[derive(Clone, Debug)]
pub struct OpenAiSettings {
    /// The provider's name, for labels.
    pub provider: String,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub reasoning_field: ReasoningField,
    pub continuation: ContinuationStyle,
    pub continuation_base_url: Option<String>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

/// A teacher chosen from configuration, with a note for the user when it was not the one asked
/// for by name (no key: the offline replay teacher).
#[derive(Debug)]
pub struct ChosenTeacher {
    pub teacher: Teacher,
    pub notice: Option<String>,
}

/// `url`, or when it is a path (`/beta`), that path on `base`'s scheme, host and port: an
/// overridden base URL (a proxy, say) carries the continuation endpoint with it.
fn resolve_against(base: &str, url: &str) -> String {
    if !url.starts_with('/') {
        return url.to_owned();
    }
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let origin = match base[origin_end..].find('/') {
        Some(slash) => &base[..origin_end + slash],
        None => base,
    };
    format!("{origin}{url}")
}

/// Chooses the teacher: `provider` (the `--provider` flag, else `[teacher] provider`), or, when
/// neither names one, `siliconflow` if its key is set and the offline replay teacher if not.
/// `env` reads environment variables (a parameter so tests need not touch the process's).
///
/// # Errors
/// An unknown provider, a provider missing its base URL or model, or a named provider whose key
/// variable is unset.
pub fn choose_teacher(
    config: &TeacherConfig,
    providers: &BTreeMap<String, ProviderConfig>,
    provider: Option<&str>,
    model: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ChosenTeacher, TeacherError> {
    let named = provider.or(config.provider.as_deref());
    let model = model.or(config.model.as_deref());
    let replay = |notice| ChosenTeacher {
        teacher: Teacher::Replay(ReplayTeacher::builtin().with_pace(config.replay_pace())),
        notice,
    };
    let name = match named {
        Some(REPLAY) => return Ok(replay(None)),
        Some(name) => name,
        None => DEFAULT_PROVIDER,
    };
    let preset = providers
        .get(name)
        .ok_or_else(|| TeacherError::UnknownProvider(name.to_owned()))?;
    let key = if preset.api_key_env.is_empty() {
        None
    } else {
        match env(&preset.api_key_env).filter(|k| !k.trim().is_empty()) {
            Some(key) => Some(ApiKey::new(key.trim().to_owned())),
            None if named.is_none() => {
                return Ok(replay(Some(format!(
                    "{} is not set: using the offline replay teacher (recorded answers, not a model)",
                    preset.api_key_env
                ))));
            }
            None => {
                return Err(TeacherError::MissingKey {
                    provider: name.to_owned(),
                    var: preset.api_key_env.clone(),
                });
            }
        }
    };
    let model = model.unwrap_or(&preset.model).to_owned();
    let misconfigured = |message: &str| TeacherError::Misconfigured {
        provider: name.to_owned(),
        message: message.to_owned(),
    };
    if preset.base_url.trim().is_empty() {
        return Err(misconfigured(
            "no base-url: set [providers.NAME] base-url in moss.toml",
        ));
    }
    if model.trim().is_empty() {
        return Err(misconfigured(
            "no model: pass --model or set [providers.NAME] model",
        ));
    }
    let settings = OpenAiSettings {
        provider: name.to_owned(),
        base_url: preset.base_url.clone(),
        continuation: preset.continuation_for(&model),
        model,
        api_key: key,
        reasoning_field: preset.reasoning_field,
        continuation_base_url: preset
            .continuation_base_url
            .as_deref()
            .map(|url| resolve_against(&preset.base_url, url)),
        timeouts: config.timeouts(),
        retry: config.retry(),
    };
    Ok(ChosenTeacher {
        teacher: Teacher::OpenAi(OpenAiTeacher::new(settings)?),
        notice: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layers;

    fn presets() -> BTreeMap<String, ProviderConfig> {
        Layers::default().resolve().expect("defaults").providers
    }

    fn choose(provider: Option<&str>, env: &[(&str, &str)]) -> Result<ChosenTeacher, TeacherError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        choose_teacher(
            &TeacherConfig::default(),
            &presets(),
            provider,
            None,
            &move |var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
        )
    }

    #[test]
    fn with_no_key_and_no_choice_the_offline_replay_teacher_is_used_and_said_so() {
        let chosen = choose(None, &[]).expect("replay");
        assert!(chosen.teacher.info().replayed);
        assert_eq!(
            chosen.notice.as_deref(),
            Some(
                "SILICONFLOW_API_KEY is not set: using the offline replay teacher (recorded answers, not a model)"
            )
        );
        let chosen = choose(Some("replay"), &[]).expect("replay");
        assert!(chosen.teacher.info().replayed && chosen.notice.is_none());
    }

    #[test]
    fn the_default_teacher_is_siliconflow_deepseek_v3_when_its_key_is_set() {
        let chosen = choose(None, &[("SILICONFLOW_API_KEY", "sk-1")]).expect("siliconflow");
        assert_eq!(
            chosen.teacher.info(),
            crate::teacher::TeacherInfo {
                provider: "siliconflow".into(),
                model: "deepseek-ai/DeepSeek-V3".into(),
                replayed: false
            }
        );
        assert!(chosen.teacher.can_continue());
    }

    #[test]
    fn a_named_provider_without_its_key_is_an_error_naming_the_variable() {
        let err = choose(Some("deepseek"), &[("SILICONFLOW_API_KEY", "sk-1")]).expect_err("no key");
        assert_eq!(
            err.to_string(),
            "provider deepseek needs an API key: set the environment variable DEEPSEEK_API_KEY"
        );
        // A blank key is no key.
        assert!(choose(Some("deepseek"), &[("DEEPSEEK_API_KEY", "  ")]).is_err());
        // Local servers need none.
        assert!(choose(Some("ollama"), &[]).is_ok());
        let err = choose(Some("nope"), &[]).expect_err("unknown");
        assert_eq!(err.to_string(), "unknown provider \"nope\"");
        let err = choose(Some("custom"), &[("MOSS_API_KEY", "k")]).expect_err("no base url");
        assert!(err.to_string().contains("no base-url"), "{err}");
    }

    #[test]
    fn prefix_field_continuation_is_off_for_reasoning_models() {
        let sf = &presets()["siliconflow"];
        assert_eq!(
            sf.continuation_for("deepseek-ai/DeepSeek-V3"),
            ContinuationStyle::PrefixField
        );
        assert_eq!(
            sf.continuation_for("deepseek-ai/DeepSeek-R1"),
            ContinuationStyle::None
        );
        assert_eq!(sf.continuation_for("Qwen/QwQ-32B"), ContinuationStyle::None);
        let ds = &presets()["deepseek"];
        assert_eq!(ds.continuation, ContinuationStyle::AssistantPrefix);
        assert_eq!(ds.continuation_base_url.as_deref(), Some("/beta"));
        assert_eq!(
            presets()["vllm"].continuation,
            ContinuationStyle::ContinueFinalMessage
        );
        for name in ["ollama", "llamacpp"] {
            assert_eq!(
                presets()[name].continuation,
                ContinuationStyle::TrailingAssistant
            );
        }
    }

    #[test]
    fn a_continuation_path_follows_the_base_url() {
        assert_eq!(
            resolve_against("https://api.deepseek.com", "/beta"),
            "https://api.deepseek.com/beta"
        );
        assert_eq!(
            resolve_against("http://proxy:8080/deepseek/v1", "/beta"),
            "http://proxy:8080/beta"
        );
        assert_eq!(
            resolve_against("https://a.example/v1", "https://b.example/beta"),
            "https://b.example/beta"
        );
    }

    #[test]
    fn keys_never_print() {
        let key = ApiKey::new("sk-secret-123".into());
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let chosen = choose(None, &[("SILICONFLOW_API_KEY", "sk-secret-123")]).expect("chosen");
        assert!(!format!("{:?}", chosen.teacher).contains("sk-secret-123"));
    }
}
