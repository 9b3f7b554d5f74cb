//! SFT writers: curated runs out as training JSONL, in a record layout or for a named consumer
//! (a trainer or a fine-tuning service) with the files it needs beside the data.
//!
//! Files are written to a temporary file beside the target and renamed into place, so a
//! reader never sees half an export and a failed export leaves the old file untouched; they
//! get the mode an editor would give them (see [`crate::atomic_file`]).

pub mod consumer;
pub mod template;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use consumer::{DataKind, Plan, Written};

/// What an export writes: a record layout (`sharegpt`, `messages`, `alpaca`) or the records a
/// named consumer loads (`trl`, `llama-factory`, `ms-swift`, `openai`), with the files that
/// consumer needs beside them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// `{"conversations":[{"from":"human",…},{"from":"gpt",…}]}`, what the original produced.
    #[default]
    Sharegpt,
    /// `{"messages":[{"role":"user",…},{"role":"assistant",…}]}`.
    Messages,
    /// `{"instruction":…,"input":"","output":…}`, what the original fine-tune script reads.
    Alpaca,
    /// TRL's `SFTTrainer`: messages, each assistant message with `"reasoning_content": ""` so
    /// that a Qwen3-style chat template keeps the whole answer as its content.
    Trl,
    /// LLaMA-Factory: sharegpt records and a `dataset_info.json` entry beside them.
    LlamaFactory,
    /// ms-swift: messages with the standard roles.
    MsSwift,
    /// `OpenAI` chat fine-tuning: messages and nothing else.
    Openai,
}

/// How a record is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Sharegpt,
    /// `reasoning`: each assistant message carries an empty `reasoning_content`.
    Messages {
        reasoning: bool,
    },
    Alpaca,
}

impl ExportFormat {
    /// Every choice, in the order a dialog shows them: the layouts, then the consumers.
    pub const ALL: [Self; 7] = [
        Self::Sharegpt,
        Self::Messages,
        Self::Alpaca,
        Self::Trl,
        Self::LlamaFactory,
        Self::MsSwift,
        Self::Openai,
    ];
    /// The record layouts (`--format`).
    pub const LAYOUTS: [Self; 3] = [Self::Sharegpt, Self::Messages, Self::Alpaca];
    /// The named consumers (`--target`).
    pub const TARGETS: [Self; 4] = [Self::Trl, Self::LlamaFactory, Self::MsSwift, Self::Openai];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sharegpt => "sharegpt",
            Self::Messages => "messages",
            Self::Alpaca => "alpaca",
            Self::Trl => "trl",
            Self::LlamaFactory => "llama-factory",
            Self::MsSwift => "ms-swift",
            Self::Openai => "openai",
        }
    }

    /// Whether this is a named consumer rather than a bare record layout.
    #[must_use]
    pub fn is_target(self) -> bool {
        Self::TARGETS.contains(&self)
    }

    /// Whether records may carry keys of their own (`--with-meta`, the replay marker).
    /// `OpenAI`'s file check rejects any key but `messages`.
    #[must_use]
    pub fn allows_extra_keys(self) -> bool {
        self != Self::Openai
    }

    fn layout(self) -> Layout {
        match self {
            Self::Sharegpt | Self::LlamaFactory => Layout::Sharegpt,
            Self::Messages | Self::MsSwift | Self::Openai => Layout::Messages { reasoning: false },
            Self::Trl => Layout::Messages { reasoning: true },
            Self::Alpaca => Layout::Alpaca,
        }
    }

    /// Parses one of `choices`; `what` names them in the error ("format", "target").
    ///
    /// # Errors
    /// When `s` is not one of `choices`, saying which it may be (and where another kind of
    /// choice goes).
    pub fn parse_among(s: &str, choices: &[Self], what: &str) -> Result<Self, String> {
        let names = |list: &[Self]| list_names(list.iter().map(|f| f.as_str()));
        match Self::ALL.into_iter().find(|f| f.as_str() == s) {
            Some(f) if choices.contains(&f) => Ok(f),
            Some(f) if f.is_target() => Err(format!(
                "{s} is a consumer: give it as --target {s} (--format takes {})",
                names(choices)
            )),
            Some(_) => Err(format!(
                "{s} is a record layout: give it as --format {s} (--target takes {})",
                names(choices)
            )),
            None => Err(format!(
                "unknown export {what} {s:?} (expected {})",
                names(choices)
            )),
        }
    }
}

/// `a, b or c`.
fn list_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_among(s, &Self::ALL, "format")
    }
}

/// One training example.
#[derive(Clone, Debug, PartialEq)]
pub struct Example<'a> {
    pub system: Option<&'a str>,
    /// The last user turn (the question, for a run never interrupted).
    pub question: &'a str,
    /// The last assistant turn.
    pub answer: &'a str,
    /// The exchanges before the last, in order: (user, assistant); an interrupted run's cut
    /// turns, each with the text the user said before it. Empty for a single turn.
    pub earlier: Vec<(&'a str, &'a str)>,
    /// Extra top-level fields (metadata), merged into the record where the format allows them.
    pub extra: Option<&'a serde_json::Map<String, Value>>,
}

#[derive(Serialize)]
struct Turn<'a> {
    from: &'a str,
    value: &'a str,
}

/// A chat message as a chat template sees it: `{"role", "content"}`, and for an assistant
/// message in a layout that has it, `reasoning_content`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Shape<'a> {
    Sharegpt {
        #[serde(skip_serializing_if = "Option::is_none")]
        system: Option<&'a str>,
        conversations: Vec<Turn<'a>>,
    },
    Messages {
        messages: Vec<ChatMessage<'a>>,
    },
    Alpaca {
        #[serde(skip_serializing_if = "Option::is_none")]
        system: Option<&'a str>,
        instruction: &'a str,
        input: &'a str,
        output: &'a str,
        /// LLaMA-Factory's multi-turn field: the earlier [user, assistant] pairs.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        history: Vec<[&'a str; 2]>,
    },
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    shape: Shape<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, Value>>,
}

impl<'a> Example<'a> {
    /// The conversation as chat messages: the system prompt (when there is one), the question,
    /// the answer; the answer has an empty `reasoning_content` where `format` writes one. This
    /// is what a trainer hands the chat template, whatever the record layout.
    #[must_use]
    pub fn chat(&self, format: ExportFormat) -> Vec<ChatMessage<'a>> {
        let reasoning = matches!(format.layout(), Layout::Messages { reasoning: true });
        let mut messages = Vec::with_capacity(3 + 2 * self.earlier.len());
        if let Some(system) = self.system {
            messages.push(ChatMessage {
                role: "system",
                content: system,
                reasoning_content: None,
            });
        }
        for (user, assistant) in self.exchanges() {
            messages.push(ChatMessage {
                role: "user",
                content: user,
                reasoning_content: None,
            });
            messages.push(ChatMessage {
                role: "assistant",
                content: assistant,
                reasoning_content: reasoning.then_some(""),
            });
        }
        messages
    }

    /// The example of a run's `question` and `transcript`, cut into turns at `interruptions`
    /// ([`crate::run::split_turns`]): one exchange when there is none.
    #[must_use]
    pub fn of_run(
        system: Option<&'a str>,
        question: &'a str,
        transcript: &'a str,
        interruptions: &'a [crate::run::Interruption],
        extra: Option<&'a serde_json::Map<String, Value>>,
    ) -> Self {
        let mut turns = crate::run::split_turns(question, transcript, interruptions);
        let last = turns.pop().unwrap_or(crate::run::TurnText {
            user: question,
            assistant: transcript,
            cut: false,
        });
        Self {
            system,
            question: last.user,
            answer: last.assistant,
            earlier: turns.iter().map(|t| (t.user, t.assistant)).collect(),
            extra,
        }
    }

    /// Every exchange, (user, assistant), in order: the earlier ones, then the last.
    pub fn exchanges(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.earlier
            .iter()
            .copied()
            .chain(std::iter::once((self.question, self.answer)))
    }

    fn line(&self, format: ExportFormat) -> Line<'_> {
        let shape = match format.layout() {
            Layout::Sharegpt => Shape::Sharegpt {
                system: self.system,
                conversations: self
                    .exchanges()
                    .flat_map(|(user, assistant)| {
                        [
                            Turn {
                                from: "human",
                                value: user,
                            },
                            Turn {
                                from: "gpt",
                                value: assistant,
                            },
                        ]
                    })
                    .collect(),
            },
            Layout::Messages { .. } => Shape::Messages {
                messages: self.chat(format),
            },
            Layout::Alpaca => Shape::Alpaca {
                system: self.system,
                instruction: self.question,
                input: "",
                output: self.answer,
                history: self.earlier.iter().map(|&(u, a)| [u, a]).collect(),
            },
        };
        Line {
            shape,
            extra: self.extra.filter(|_| format.allows_extra_keys()),
        }
    }

    /// The record in `format`.
    #[must_use]
    pub fn to_json(&self, format: ExportFormat) -> Value {
        serde_json::to_value(self.line(format)).unwrap_or(Value::Null)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `dataset_info.json` that is there but cannot be merged into; nothing is written.
    #[error(
        "{}: {reason}: fix or move it (nothing was written)",
        path.display()
    )]
    DatasetInfo { path: PathBuf, reason: String },
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
    crate::atomic_file::replace(path, write).map_err(|source| ExportError::Io {
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

    fn line(ex: &Example<'_>, f: ExportFormat) -> String {
        let mut out = Vec::new();
        write_line(&mut out, ex, f).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn an_interrupted_run_is_a_multi_turn_record_in_every_format() {
        let interruptions = [crate::run::Interruption {
            at: "答一<think>想".len(),
            text: "换个简单点的方法".to_owned(),
        }];
        let ex = Example::of_run(None, "问", "答一<think>想答二", &interruptions, None);
        assert_eq!(
            line(&ex, ExportFormat::Sharegpt),
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"问\"},{\"from\":\"gpt\",\"value\":\"答一<think>想\"},{\"from\":\"human\",\"value\":\"换个简单点的方法\"},{\"from\":\"gpt\",\"value\":\"答二\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Messages),
            "{\"messages\":[{\"role\":\"user\",\"content\":\"问\"},{\"role\":\"assistant\",\"content\":\"答一<think>想\"},{\"role\":\"user\",\"content\":\"换个简单点的方法\"},{\"role\":\"assistant\",\"content\":\"答二\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Trl),
            "{\"messages\":[{\"role\":\"user\",\"content\":\"问\"},{\"role\":\"assistant\",\"content\":\"答一<think>想\",\"reasoning_content\":\"\"},{\"role\":\"user\",\"content\":\"换个简单点的方法\"},{\"role\":\"assistant\",\"content\":\"答二\",\"reasoning_content\":\"\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Alpaca),
            "{\"instruction\":\"换个简单点的方法\",\"input\":\"\",\"output\":\"答二\",\"history\":[[\"问\",\"答一<think>想\"]]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::LlamaFactory),
            line(&ex, ExportFormat::Sharegpt)
        );
        assert_eq!(
            line(&ex, ExportFormat::MsSwift),
            line(&ex, ExportFormat::Messages)
        );
        assert_eq!(
            line(&ex, ExportFormat::Openai),
            line(&ex, ExportFormat::Messages)
        );
        // No interruption: the single-turn record, as before.
        let one = Example::of_run(None, "问", "答", &[], None);
        assert_eq!(
            line(&one, ExportFormat::Alpaca),
            "{\"instruction\":\"问\",\"input\":\"\",\"output\":\"答\"}\n"
        );
    }

    #[test]
    fn each_format_has_its_shape_and_keeps_cjk_as_written() {
        let ex = Example {
            system: None,
            question: "问",
            answer: "答<think>想</think>",
            earlier: Vec::new(),
            extra: None,
        };
        assert_eq!(
            line(&ex, ExportFormat::Sharegpt),
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"问\"},{\"from\":\"gpt\",\"value\":\"答<think>想</think>\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Messages),
            "{\"messages\":[{\"role\":\"user\",\"content\":\"问\"},{\"role\":\"assistant\",\"content\":\"答<think>想</think>\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Alpaca),
            "{\"instruction\":\"问\",\"input\":\"\",\"output\":\"答<think>想</think>\"}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::Trl),
            "{\"messages\":[{\"role\":\"user\",\"content\":\"问\"},{\"role\":\"assistant\",\"content\":\"答<think>想</think>\",\"reasoning_content\":\"\"}]}\n"
        );
        assert_eq!(
            line(&ex, ExportFormat::LlamaFactory),
            line(&ex, ExportFormat::Sharegpt)
        );
        assert_eq!(
            line(&ex, ExportFormat::MsSwift),
            line(&ex, ExportFormat::Messages)
        );
        assert_eq!(
            line(&ex, ExportFormat::Openai),
            line(&ex, ExportFormat::Messages)
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
    fn openai_records_never_carry_extra_keys() {
        let mut extra = serde_json::Map::new();
        extra.insert("replayed".into(), true.into());
        let ex = Example {
            system: Some("S"),
            question: "q",
            answer: "a",
            earlier: Vec::new(),
            extra: Some(&extra),
        };
        for format in ExportFormat::ALL {
            let record = ex.to_json(format);
            let keys: Vec<&String> = record.as_object().expect("object").keys().collect();
            assert_eq!(
                keys.contains(&&"replayed".to_owned()),
                format != ExportFormat::Openai,
                "{format}: {keys:?}"
            );
        }
    }

    #[test]
    fn every_name_parses_back_and_a_wrong_kind_says_where_it_goes() {
        for format in ExportFormat::ALL {
            assert_eq!(format.as_str().parse::<ExportFormat>(), Ok(format));
            let json = serde_json::to_value(format).expect("json");
            assert_eq!(json, format.as_str());
        }
        assert_eq!(
            ExportFormat::ALL.iter().filter(|f| f.is_target()).count(),
            ExportFormat::TARGETS.len()
        );
        let layouts = ExportFormat::LAYOUTS;
        assert_eq!(
            ExportFormat::parse_among("csv", &layouts, "format"),
            Err("unknown export format \"csv\" (expected sharegpt, messages or alpaca)".to_owned())
        );
        let err = ExportFormat::parse_among("trl", &layouts, "format").expect_err("a target");
        assert!(err.contains("--target trl"), "{err}");
        let err = ExportFormat::parse_among("alpaca", &ExportFormat::TARGETS, "target")
            .expect_err("a layout");
        assert!(err.contains("--format alpaca"), "{err}");
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
                    earlier: Vec::new(),
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
