//! SFT writers: curated runs out as training JSONL.
//!
//! Files are written to a temporary file beside the target and renamed into place, so a
//! reader never sees half an export and a failed export leaves the old file untouched; they
//! get the mode an editor would give them (see [`crate::atomic_file`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// Training-data layouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `{"conversations":[{"from":"human",…},{"from":"gpt",…}]}`, what the original produced.
    #[default]
    Sharegpt,
    /// `{"messages":[{"role":"user",…},{"role":"assistant",…}]}` (`OpenAI`, ms-swift, TRL).
    Messages,
    /// `{"instruction":…,"input":"","output":…}`.
    Alpaca,
}

impl ExportFormat {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sharegpt => "sharegpt",
            Self::Messages => "messages",
            Self::Alpaca => "alpaca",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sharegpt" => Ok(Self::Sharegpt),
            "messages" => Ok(Self::Messages),
            "alpaca" => Ok(Self::Alpaca),
            other => Err(format!(
                "unknown export format {other:?} (expected sharegpt, messages or alpaca)"
            )),
        }
    }
}

/// One training example.
#[derive(Clone, Debug, PartialEq)]
pub struct Example<'a> {
    pub system: Option<&'a str>,
    pub question: &'a str,
    pub answer: &'a str,
    /// Extra top-level fields (metadata), merged into the record.
    pub extra: Option<&'a serde_json::Map<String, Value>>,
}

#[derive(Serialize)]
struct Turn<'a> {
    from: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Shape<'a> {
    Sharegpt {
        #[serde(skip_serializing_if = "Option::is_none")]
        system: Option<&'a str>,
        conversations: [Turn<'a>; 2],
    },
    Messages {
        messages: Vec<Message<'a>>,
    },
    Alpaca {
        #[serde(skip_serializing_if = "Option::is_none")]
        system: Option<&'a str>,
        instruction: &'a str,
        input: &'a str,
        output: &'a str,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    shape: Shape<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, Value>>,
}

impl Example<'_> {
    fn line(&self, format: ExportFormat) -> Line<'_> {
        let shape = match format {
            ExportFormat::Sharegpt => Shape::Sharegpt {
                system: self.system,
                conversations: [
                    Turn {
                        from: "human",
                        value: self.question,
                    },
                    Turn {
                        from: "gpt",
                        value: self.answer,
                    },
                ],
            },
            ExportFormat::Messages => {
                let mut messages = Vec::with_capacity(3);
                if let Some(system) = self.system {
                    messages.push(Message {
                        role: "system",
                        content: system,
                    });
                }
                messages.push(Message {
                    role: "user",
                    content: self.question,
                });
                messages.push(Message {
                    role: "assistant",
                    content: self.answer,
                });
                Shape::Messages { messages }
            }
            ExportFormat::Alpaca => Shape::Alpaca {
                system: self.system,
                instruction: self.question,
                input: "",
                output: self.answer,
            },
        };
        Line {
            shape,
            extra: self.extra,
        }
    }

    /// The record in `format`.
    #[must_use]
    pub fn to_json(&self, format: ExportFormat) -> Value {
        serde_json::to_value(self.line(format)).unwrap_or(Value::Null)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ExportError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes JSONL to `path` atomically: `write` fills a buffered temporary file, which is synced
/// and renamed over `path` only when `write` succeeds. Returns what `write` returned.
///
/// # Errors
/// When the temporary file cannot be created, written or renamed, or `write` fails.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> Result<T, ExportError> {
    crate::atomic_file::replace(path, write).map_err(|source| ExportError {
        path: path.to_owned(),
        source,
    })
}

/// Writes one example as a JSONL line.
///
/// # Errors
/// When writing fails.
pub fn write_line(
    out: &mut dyn Write,
    example: &Example<'_>,
    format: ExportFormat,
) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &example.line(format))?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_has_its_shape_and_keeps_cjk_as_written() {
        let ex = Example {
            system: None,
            question: "问",
            answer: "答<think>想</think>",
            extra: None,
        };
        let line = |f| {
            let mut out = Vec::new();
            write_line(&mut out, &ex, f).expect("writes");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(
            line(ExportFormat::Sharegpt),
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"问\"},{\"from\":\"gpt\",\"value\":\"答<think>想</think>\"}]}\n"
        );
        assert_eq!(
            line(ExportFormat::Messages),
            "{\"messages\":[{\"role\":\"user\",\"content\":\"问\"},{\"role\":\"assistant\",\"content\":\"答<think>想</think>\"}]}\n"
        );
        assert_eq!(
            line(ExportFormat::Alpaca),
            "{\"instruction\":\"问\",\"input\":\"\",\"output\":\"答<think>想</think>\"}\n"
        );
        let with_system = Example {
            system: Some("S"),
            ..ex
        };
        assert_eq!(with_system.to_json(ExportFormat::Sharegpt)["system"], "S");
        assert_eq!(
            with_system.to_json(ExportFormat::Messages)["messages"][0]["role"],
            "system"
        );
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "old\n").expect("write");
        let err = write_atomically(&path, |_| -> std::io::Result<()> {
            Err(std::io::Error::other("disk on fire"))
        })
        .expect_err("fails");
        assert!(err.to_string().contains("disk on fire"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old\n");
        let n = write_atomically(&path, |out| {
            write_line(
                out,
                &Example {
                    system: None,
                    question: "q",
                    answer: "a",
                    extra: None,
                },
                ExportFormat::Alpaca,
            )?;
            Ok(1)
        })
        .expect("writes");
        assert_eq!(n, 1);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"instruction\":\"q\",\"input\":\"\",\"output\":\"a\"}\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temporary file left"
        );
    }
}
