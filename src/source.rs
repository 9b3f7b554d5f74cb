//! Where configuration comes from and where its mistakes are: a TOML source (a file, or a
//! prompt's front matter), its errors located by file, line and column, and the `+++` front
//! matter of a prompt file. A leaf: the configuration, prompts and themes all build on it.

use std::fmt;
use std::path::{Path, PathBuf};

/// The line that opens and closes a prompt's front matter.
pub const FENCE: &str = "+++";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
}

/// Where a configuration error is: file, line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// One TOML source: its text, where it came from, and where that text starts in the file
/// (front matter sits a few lines into a prompt file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    /// The file's text before `text`, so error lines count from the top of the file.
    pub file_prefix: String,
    pub kind: SourceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A configuration file: `[rules]` and the other tables.
    Config,
    /// A prompt's front matter: model parameters (not configuration) and `[rules]` overrides.
    PromptFrontMatter,
}

impl Source {
    /// Reads a TOML file, or the front matter of a Markdown prompt file.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            let Some((front, start)) = front_matter(&text) else {
                return Err(ConfigError::Invalid {
                    location: Location {
                        path: path.to_owned(),
                        line: 1,
                        column: 1,
                    },
                    message: "this prompt has no +++ front matter to take rules from".to_owned(),
                });
            };
            return Ok(Self {
                path: path.to_owned(),
                text: front.to_owned(),
                file_prefix: text[..start].to_owned(),
                kind: SourceKind::PromptFrontMatter,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            text,
            file_prefix: String::new(),
            kind: SourceKind::Config,
        })
    }

    #[must_use]
    pub fn inline(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
            file_prefix: String::new(),
            kind: SourceKind::Config,
        }
    }

    /// Parses this source as `T`, with errors located in the file.
    ///
    /// # Errors
    /// When the text is not valid TOML or does not fit `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| self.error(&e))
    }

    /// The text as a plain TOML table.
    ///
    /// # Errors
    /// When the text is not valid TOML.
    pub fn table(&self) -> Result<toml::Table, ConfigError> {
        self.text.parse::<toml::Table>().map_err(|e| self.error(&e))
    }

    pub(crate) fn error(&self, e: &toml::de::Error) -> ConfigError {
        let at = e.span().map_or(0, |s| s.start);
        ConfigError::Invalid {
            location: self.locate(at),
            message: e.message().trim().to_owned(),
        }
    }

    /// File line and column of byte `at` of `text`.
    #[must_use]
    pub fn locate(&self, at: usize) -> Location {
        let before = format!(
            "{}{}",
            self.file_prefix,
            &self.text[..at.min(self.text.len())]
        );
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            path: self.path.clone(),
            line,
            column,
        }
    }
}

/// The front matter's TOML and its byte offset, when `text` opens with a `+++` line and has a
/// closing `+++` line.
#[must_use]
pub fn front_matter(text: &str) -> Option<(&str, usize)> {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let rest = &text[bom..];
    let first_line_end = rest.find('\n')?;
    if rest[..first_line_end].trim_end() != FENCE {
        return None;
    }
    let start = bom + first_line_end + 1;
    let mut at = start;
    for line in text[start..].split_inclusive('\n') {
        if line.trim_end() == FENCE {
            return Some((&text[start..at], start));
        }
        at += line.len();
    }
    None
}
