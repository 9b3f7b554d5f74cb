//! Teacher prompt files: Markdown, with optional TOML front matter between `+++` lines that
//! carries the model parameters and `[rules]` overrides for runs of this prompt.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::source::front_matter;
use crate::source::{ConfigError, Source, SourceKind};
pub use crate::teacher::ModelParams;
use crate::transcript::RulesConfig;

/// What the front matter may hold.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    temperature: Option<toml::Spanned<f64>>,
    top_p: Option<toml::Spanned<f64>>,
    max_tokens: Option<toml::Spanned<u32>>,
    #[serde(default)]
    #[allow(dead_code)] // validated here; merged as a layer by `config::Layers`
    rules: Option<RulesConfig>,
}

/// A loaded prompt.
#[derive(Clone, Debug)]
pub struct PromptFile {
    pub path: PathBuf,
    /// The system prompt itself: the file without its front matter.
    pub body: String,
    pub params: ModelParams,
    /// The front matter, to be layered over the configuration for its `[rules]`.
    pub front_matter: Option<Source>,
}

impl PromptFile {
    /// # Errors
    /// When the file cannot be read, or its front matter is invalid (located by line).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// # Errors
    /// When the front matter is not valid TOML, has unknown keys, or values out of range.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let Some((front, start)) = front_matter(text) else {
            return Ok(Self {
                path: path.to_owned(),
                body: text.trim_start_matches('\u{feff}').to_owned(),
                params: ModelParams::default(),
                front_matter: None,
            });
        };
        let source = Source {
            path: path.to_owned(),
            text: front.to_owned(),
            file_prefix: text[..start].to_owned(),
            kind: SourceKind::PromptFrontMatter,
        };
        let matter: FrontMatter = source.parse()?;
        let mut params = ModelParams::default();
        let out_of_range = |span: std::ops::Range<usize>, what: &str| ConfigError::Invalid {
            location: source.locate(span.start),
            message: what.to_owned(),
        };
        if let Some(t) = matter.temperature {
            if !(0.0..=2.0).contains(t.get_ref()) {
                return Err(out_of_range(
                    t.span(),
                    "temperature must be between 0 and 2",
                ));
            }
            params.temperature = t.into_inner();
        }
        if let Some(p) = matter.top_p {
            if !(0.0..=1.0).contains(p.get_ref()) || *p.get_ref() == 0.0 {
                return Err(out_of_range(
                    p.span(),
                    "top_p must be above 0 and at most 1",
                ));
            }
            params.top_p = p.into_inner();
        }
        if let Some(m) = matter.max_tokens {
            if *m.get_ref() == 0 {
                return Err(out_of_range(m.span(), "max_tokens must be at least 1"));
            }
            params.max_tokens = m.into_inner();
        }
        let body_start = start + front.len() + closing_len(&text[start + front.len()..]);
        Ok(Self {
            path: path.to_owned(),
            body: text[body_start..]
                .trim_start_matches(['\r', '\n'])
                .to_owned(),
            params,
            front_matter: Some(source),
        })
    }
}

/// Length of the closing `+++` line at the start of `s`.
fn closing_len(s: &str) -> usize {
    s.find('\n').map_or(s.len(), |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_sets_params_and_body() {
        let p = PromptFile::parse(
            Path::new("t.md"),
            "+++\ntemperature = 0.5\nmax_tokens = 100\n[rules.first-answer-concise]\nmax-words = 60\n+++\n\n# 教师提示\n正文\n",
        )
        .expect("valid");
        assert_eq!(
            p.params,
            ModelParams {
                temperature: 0.5,
                top_p: 0.9,
                max_tokens: 100
            }
        );
        assert_eq!(p.body, "# 教师提示\n正文\n");
        assert!(p.front_matter.is_some());
    }

    #[test]
    fn no_front_matter_means_defaults() {
        let p = PromptFile::parse(Path::new("t.md"), "Just a prompt.\n+++\n").expect("valid");
        assert_eq!(p.params, ModelParams::default());
        assert_eq!(p.body, "Just a prompt.\n+++\n");
        // An opening line without a closing one is body text too.
        let p = PromptFile::parse(Path::new("t.md"), "+++\nnot closed\n").expect("valid");
        assert_eq!(p.body, "+++\nnot closed\n");
    }

    #[test]
    fn bad_front_matter_is_located() {
        let err = PromptFile::parse(
            Path::new("t.md"),
            "+++\ntop_p = 0.9\ntemperature = 9.0\n+++\nx",
        )
        .expect_err("out of range")
        .to_string();
        assert_eq!(err, "t.md:3:15: temperature must be between 0 and 2");
        let err = PromptFile::parse(Path::new("t.md"), "+++\nmodel = \"x\"\n+++\nx")
            .expect_err("unknown key")
            .to_string();
        assert!(err.starts_with("t.md:2:1: "), "{err}");
    }

    #[test]
    fn shipped_prompts_load_with_the_original_parameters() {
        for name in ["teacher.zh.md", "teacher.en.md"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("prompts")
                .join(name);
            let p = PromptFile::load(&path).expect("shipped prompt loads");
            assert_eq!(p.params, ModelParams::default(), "{name}");
            assert!(p.body.contains("python RUN"), "{name}");
            assert!(p.body.contains("<think>"), "{name}");
            assert!(p.body.contains("<execute_result>"), "{name}");
            let mut layers = crate::config::Layers::default();
            layers.push(p.front_matter.clone().expect("front matter"));
            let config = layers.resolve().expect("rules layer");
            assert_eq!(config.rules.first_answer_concise.max_words, 120, "{name}");
        }
    }
}
