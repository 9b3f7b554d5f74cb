//! Record formats: recognising them and decoding one raw record into a [`Record`].
//!
//! Decoding runs once per record of datasets with ~110k records of several KB each, so each
//! format deserializes into a struct holding only the fields it needs, borrowing strings from the
//! raw bytes where it can; unknown fields are skipped without being built.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::error::Category;

use super::fields::{Content, Id, List, Node, Text};

/// A dataset record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `{"conversations": [{"from": "human", "value": …}, {"from": "gpt", "value": …}]}`
    Sharegpt,
    /// `OpenAI` chat: `{"messages": [{"role": "user", "content": …}, …]}`
    Messages,
    /// `{"instruction": …, "input": …, "output": …}`
    Alpaca,
    /// The Chinese DeepSeek-R1 distillation sets: alpaca with `<think>` in `output`, or
    /// `{"input": …, "reasoning_content": …, "content": …}`.
    R1,
    /// A bare transcript per record: a JSON string or `{"text": …}`.
    Text,
    /// Sample questions for `moss generate`: `{"id": …, "question": …}`.
    Questions,
}

impl Format {
    pub const ALL: [Self; 6] = [
        Self::Sharegpt,
        Self::Messages,
        Self::Alpaca,
        Self::R1,
        Self::Text,
        Self::Questions,
    ];

    /// The name used on the command line and in config files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sharegpt => "sharegpt",
            Self::Messages => "messages",
            Self::Alpaca => "alpaca",
            Self::R1 => "r1",
            Self::Text => "text",
            Self::Questions => "questions",
        }
    }

    /// Decodes one raw record.
    ///
    /// # Errors
    /// Invalid JSON or a record of the wrong shape; the reason fits a `file:line: reason` message.
    pub fn decode(self, raw: &[u8]) -> Result<Record, String> {
        match self {
            Self::Sharegpt => decode_sharegpt(raw),
            Self::Messages => decode_messages(raw),
            Self::Alpaca => decode_alpaca(raw),
            Self::R1 => decode_r1(raw),
            Self::Text => decode_text(raw),
            Self::Questions => decode_questions(raw),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dataset format \"{0}\" (expected one of: sharegpt, messages, alpaca, r1, text, questions)"
)]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// One decoded record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The `"id"` field; a numeric id is rendered in decimal.
    pub id: Option<String>,
    pub system: Option<String>,
    /// The user turn the answer responds to.
    pub question: Option<String>,
    /// The assistant transcript to check; `None` for [`Format::Questions`].
    pub answer: Option<String>,
    /// The `"tags"` of a sample (questions only): strings, or one string; anything else is
    /// no tags.
    pub tags: Vec<String>,
    /// The `"interruptions"` scripted for a sample (questions only): `None` when the record
    /// says nothing.
    pub interruptions: Option<Vec<crate::run::ScriptedInterruption>>,
}

/// Guesses the format of a file from one of its records.
///
/// Returns `None` for a record that is not valid JSON or has no telling field, so a caller can
/// move on to the next record.
#[must_use]
pub fn detect(raw: &[u8]) -> Option<Format> {
    match serde_json::from_slice::<Node<'_, Probe<'_>>>(raw).ok()? {
        Node::Str(_) => Some(Format::Text),
        Node::Wrong(_) => None,
        Node::Map(probe) => probe.format(),
    }
}

/// Why [`detect`] found no format in `raw`, for reporting records before the first
/// recognisable one.
#[must_use]
pub fn explain_undetected(raw: &[u8]) -> String {
    match parse::<Node<'_, IgnoredAny>>(raw) {
        Err(reason) => reason,
        Ok(Node::Wrong(kind)) => format!("expected a JSON object or string, found {kind}"),
        Ok(_) => "unrecognised record: no \"conversations\", \"messages\", \"output\", \
                  \"reasoning_content\", \"question\" or \"text\" field"
            .to_owned(),
    }
}

/// The fields that tell formats apart; values other than `output` are skipped, not built.
#[derive(Deserialize)]
struct Probe<'a> {
    conversations: Option<IgnoredAny>,
    messages: Option<IgnoredAny>,
    reasoning_content: Option<IgnoredAny>,
    content: Option<IgnoredAny>,
    #[serde(default, borrow)]
    output: Text<'a>,
    repo_name: Option<IgnoredAny>,
    question: Option<IgnoredAny>,
    text: Option<IgnoredAny>,
}

impl Probe<'_> {
    fn format(&self) -> Option<Format> {
        if self.conversations.is_some() {
            Some(Format::Sharegpt)
        } else if self.messages.is_some() {
            Some(Format::Messages)
        } else if self.reasoning_content.is_some() && self.content.is_some() {
            Some(Format::R1)
        } else if !self.output.is_missing() {
            let thinks = matches!(&self.output, Text::Str(output) if output.contains("<think>"));
            Some(if thinks || self.repo_name.is_some() {
                Format::R1
            } else {
                Format::Alpaca
            })
        } else if self.question.is_some() {
            Some(Format::Questions)
        } else if self.text.is_some() {
            Some(Format::Text)
        } else {
            None
        }
    }
}

/// Parses a whole record, turning `serde_json`'s error into a reason without its `line 1`.
fn parse<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, String> {
    if raw.is_empty() {
        return Err("empty record".to_owned());
    }
    serde_json::from_slice(raw).map_err(|error| json_reason(&error))
}

/// Parses a record that must be a JSON object.
fn object<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, String> {
    parse::<Node<'a, T>>(raw)?
        .object()
        .map_err(|kind| format!("expected a JSON object, found {kind}"))
}

/// Rewrites `serde_json`'s message for a record-relative position: JSONL records are one line, so
/// the column is what matters, and a multi-line array element's line is counted from its start.
fn json_reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let (line, column) = (error.line(), error.column());
    let bare = match message.rfind(" at line ") {
        Some(at) if line > 0 => &message[..at],
        _ => &message,
    };
    let place = match line {
        0 => String::new(),
        1 => format!(" at column {column}"),
        _ => format!(" at line {line} column {column} of the record"),
    };
    match error.classify() {
        Category::Data => format!("{}{place}", bare.replace('`', "\"")),
        Category::Io | Category::Syntax | Category::Eof => format!("invalid JSON: {bare}{place}"),
    }
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// `<think>` + reasoning + `</think>` + answer: how R1-style data stores separate reasoning in
/// one transcript.
fn think_then_answer(reasoning: &str, content: &str) -> String {
    const OPEN: &str = "<think>\n";
    const CLOSE: &str = "\n</think>\n\n";
    let mut answer =
        String::with_capacity(OPEN.len() + reasoning.len() + CLOSE.len() + content.len());
    answer.push_str(OPEN);
    answer.push_str(reasoning);
    answer.push_str(CLOSE);
    answer.push_str(content);
    answer
}

/// The instruction, followed by the input when there is one, as alpaca's prompt template does.
fn instruction_with_input(instruction: Cow<'_, str>, input: Option<Cow<'_, str>>) -> String {
    match input {
        Some(input) if !input.trim().is_empty() => format!("{instruction}\n\n{input}"),
        _ => instruction.into_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    User,
    Assistant,
    /// Tool calls, observations and other turns that are neither question nor answer.
    Other,
}

/// The system prompt, the question and the answer of a conversation: its last assistant turn and
/// the last user turn before that.
struct Exchange<'a> {
    system: Option<Cow<'a, str>>,
    question: Option<Cow<'a, str>>,
    answer: Cow<'a, str>,
}

fn pick_exchange<'a>(
    turns: Vec<(Role, Cow<'a, str>)>,
    field: &str,
) -> Result<Exchange<'a>, String> {
    let Some(last_answer) = turns.iter().rposition(|(role, _)| *role == Role::Assistant) else {
        return Err(format!("no assistant turn in \"{field}\""));
    };
    let question_at = turns[..last_answer]
        .iter()
        .rposition(|(role, _)| *role == Role::User);
    let system_at = turns.iter().position(|(role, _)| *role == Role::System);
    let mut system = None;
    let mut question = None;
    let mut answer = Cow::Borrowed("");
    for (index, (_, text)) in turns.into_iter().enumerate() {
        if index == last_answer {
            answer = text;
        } else if Some(index) == question_at {
            question = Some(text);
        } else if Some(index) == system_at {
            system = Some(text);
        }
    }
    Ok(Exchange {
        system,
        question,
        answer,
    })
}

#[derive(Deserialize)]
struct Sharegpt<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    system: Text<'a>,
    #[serde(default, borrow)]
    conversations: List<Node<'a, ShareTurn<'a>>>,
}

/// LLaMA-Factory lets `ShareGPT` files use `role`/`content` tags, so both spellings are accepted.
#[derive(Deserialize)]
#[serde(expecting = "a turn object")]
struct ShareTurn<'a> {
    #[serde(default, borrow, alias = "role")]
    from: Text<'a>,
    #[serde(default, borrow, alias = "content")]
    value: Text<'a>,
}

fn decode_sharegpt(raw: &[u8]) -> Result<Record, String> {
    let record: Sharegpt<'_> = object(raw)?;
    let turns = record.conversations.required("conversations")?;
    let classified = classify_turns("conversations", turns, |turn| {
        let role = match &*turn.from.required("from")? {
            "human" | "user" => Role::User,
            "gpt" | "assistant" => Role::Assistant,
            "system" => Role::System,
            _ => Role::Other,
        };
        Ok((role, turn.value.required("value")?))
    })?;
    let exchange = pick_exchange(classified, "conversations")?;
    let system = record.system.optional("system")?.or(exchange.system);
    Ok(Record {
        id: record.id.0,
        system: owned(system),
        question: owned(exchange.question),
        answer: Some(exchange.answer.into_owned()),
        tags: Vec::new(),
        interruptions: None,
    })
}

/// Each turn object of `list` as a role and its text; errors name the turn (`list[2]: …`).
fn classify_turns<'a, T>(
    list: &str,
    turns: Vec<Node<'a, T>>,
    mut classify: impl FnMut(T) -> Result<(Role, Cow<'a, str>), String>,
) -> Result<Vec<(Role, Cow<'a, str>)>, String> {
    turns
        .into_iter()
        .enumerate()
        .map(|(index, turn)| {
            let located = |reason: String| format!("{list}[{index}]: {reason}");
            let turn = turn
                .object()
                .map_err(|kind| located(format!("expected an object, found {kind}")))?;
            classify(turn).map_err(located)
        })
        .collect()
}

#[derive(Deserialize)]
struct Messages<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    messages: List<Node<'a, Message<'a>>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a message object")]
struct Message<'a> {
    #[serde(default, borrow)]
    role: Text<'a>,
    #[serde(default, borrow)]
    content: Content<'a>,
    /// DeepSeek-style reasoning kept beside the content instead of inside `<think>` tags.
    #[serde(default, borrow)]
    reasoning_content: Text<'a>,
}

fn decode_messages(raw: &[u8]) -> Result<Record, String> {
    let record: Messages<'_> = object(raw)?;
    let messages = record.messages.required("messages")?;
    let classified = classify_turns("messages", messages, |message| {
        let role = match &*message.role.required("role")? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" | "developer" => Role::System,
            _ => Role::Other,
        };
        let content = message.content.required()?;
        let reasoning = message.reasoning_content.optional("reasoning_content")?;
        let text = match reasoning {
            Some(reasoning) if role == Role::Assistant && !reasoning.is_empty() => {
                Cow::Owned(think_then_answer(&reasoning, &content))
            }
            _ => content,
        };
        Ok((role, text))
    })?;
    let exchange = pick_exchange(classified, "messages")?;
    Ok(Record {
        id: record.id.0,
        system: owned(exchange.system),
        question: owned(exchange.question),
        answer: Some(exchange.answer.into_owned()),
        tags: Vec::new(),
        interruptions: None,
    })
}

#[derive(Deserialize)]
struct Alpaca<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    system: Text<'a>,
    #[serde(default, borrow)]
    instruction: Text<'a>,
    #[serde(default, borrow)]
    input: Text<'a>,
    #[serde(default, borrow)]
    output: Text<'a>,
}

impl Alpaca<'_> {
    fn into_record(self) -> Result<Record, String> {
        let instruction = self.instruction.required("instruction")?;
        let input = self.input.optional("input")?;
        let output = self.output.required("output")?;
        Ok(Record {
            id: self.id.0,
            system: owned(self.system.optional("system")?),
            question: Some(instruction_with_input(instruction, input)),
            answer: Some(output.into_owned()),
            tags: Vec::new(),
            interruptions: None,
        })
    }
}

fn decode_alpaca(raw: &[u8]) -> Result<Record, String> {
    object::<Alpaca<'_>>(raw)?.into_record()
}

/// Both R1 variants in one struct: `flatten` would make serde buffer every record.
#[derive(Deserialize)]
struct R1<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    system: Text<'a>,
    #[serde(default, borrow)]
    instruction: Text<'a>,
    #[serde(default, borrow)]
    input: Text<'a>,
    #[serde(default, borrow)]
    output: Text<'a>,
    #[serde(default, borrow)]
    reasoning_content: Text<'a>,
    #[serde(default, borrow)]
    content: Text<'a>,
}

fn decode_r1(raw: &[u8]) -> Result<Record, String> {
    let record: R1<'_> = object(raw)?;
    let split_reasoning = record.output.is_missing()
        && !(record.reasoning_content.is_missing() && record.content.is_missing());
    if !split_reasoning {
        let sft = Alpaca {
            id: record.id,
            system: record.system,
            instruction: record.instruction,
            input: record.input,
            output: record.output,
        };
        return sft.into_record();
    }
    let question = record.input.required("input")?;
    let reasoning = record.reasoning_content.required("reasoning_content")?;
    let content = record.content.required("content")?;
    Ok(Record {
        id: record.id.0,
        system: owned(record.system.optional("system")?),
        question: Some(question.into_owned()),
        answer: Some(think_then_answer(&reasoning, &content)),
        tags: Vec::new(),
        interruptions: None,
    })
}

#[derive(Deserialize)]
struct TextObject<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    text: Text<'a>,
}

fn decode_text(raw: &[u8]) -> Result<Record, String> {
    match parse::<Node<'_, TextObject<'_>>>(raw)? {
        Node::Str(text) => Ok(Record {
            answer: Some(text.into_owned()),
            ..Record::default()
        }),
        Node::Map(record) => Ok(Record {
            id: record.id.0,
            answer: Some(record.text.required("text")?.into_owned()),
            ..Record::default()
        }),
        Node::Wrong(kind) => Err(format!(
            "expected a JSON string or an object with a \"text\" field, found {kind}"
        )),
    }
}

#[derive(Deserialize)]
struct QuestionRecord<'a> {
    #[serde(default)]
    id: Id,
    #[serde(default, borrow)]
    system: Text<'a>,
    #[serde(default, borrow)]
    question: Text<'a>,
    #[serde(default)]
    tags: serde_json::Value,
    #[serde(default)]
    interruptions: Option<Vec<crate::run::ScriptedInterruption>>,
}

fn decode_questions(raw: &[u8]) -> Result<Record, String> {
    let record: QuestionRecord<'_> = object(raw)?;
    let tags = match record.tags {
        serde_json::Value::String(tag) => vec![tag],
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                serde_json::Value::String(tag) => Some(tag),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Record {
        id: record.id.0,
        system: owned(record.system.optional("system")?),
        question: Some(record.question.required("question")?.into_owned()),
        answer: None,
        tags,
        interruptions: record.interruptions,
    })
}
