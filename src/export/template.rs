//! `--check-template`: proves that each exported answer reaches the model as it was written.
//!
//! A trainer does not train on the JSONL: it trains on what the model's chat template renders
//! from it. A template may rewrite an assistant message: Qwen3's splits it on `</think>` when it
//! has no `reasoning_content` (the text before the first think and every later think are lost),
//! and many put an empty think block in front of an answer that does not open with one. This
//! renders each record as a trainer would, with the template itself (`MiniJinja`, with Python's
//! string methods), and compares.
//!
//! For the assistant message `i` of a conversation, `P` is the rendering of the messages before
//! it with the generation prompt (what the model is given at inference), `R` the rendering of
//! the messages up to and including it. `R` must start with `P`, and the text after `P` must
//! start with the answer: text between them was **added**, an answer not found there was
//! **cut**. The whole conversation's rendering must still hold every answer (a template may
//! drop earlier turns).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, Value, context};
use serde::Deserialize;
use similar::{Algorithm, DiffTag};

use super::ChatMessage;

/// The name the template is registered under.
const NAME: &str = "chat_template";
/// How long the diff of one cut answer may take before it settles for an approximation.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);
/// Missing pieces separated by fewer equal characters than this are shown as one.
const MERGE_GAP: usize = 4;
/// How many characters of a piece of text are shown.
const SHOWN_CHARS: usize = 72;
/// How many missing pieces are shown per answer.
const SHOWN_PIECES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a tokenizer config: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error(
        "{}: has no chat_template (newer models keep it in chat_template.jinja beside it: give that file)",
        path.display()
    )]
    NoTemplate { path: PathBuf },
    /// The template does not compile, or raised while rendering a record.
    #[error("{location}: {message}")]
    Template { location: String, message: String },
}

/// A model's chat template, ready to render conversations as a trainer would.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    path: PathBuf,
    /// Whether the template came from a tokenizer config (its lines are the template's own,
    /// not the file's).
    in_config: bool,
    bos_token: String,
    eos_token: String,
}

/// The parts of a `tokenizer_config.json` a chat template needs.
#[derive(Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    chat_template: Option<TemplateField>,
    #[serde(default)]
    bos_token: Option<TokenField>,
    #[serde(default)]
    eos_token: Option<TokenField>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenField {
    Text(String),
    Added { content: String },
}

impl TokenField {
    fn into_text(self) -> String {
        match self {
            Self::Text(text) | Self::Added { content: text } => text,
        }
    }
}

impl ChatTemplate {
    /// Loads a template from a `.jinja` file, or from a model's `tokenizer_config.json` (any
    /// `.json` file): its `chat_template` (a string, or a list of `{name, template}` of which
    /// `default` is taken) and its `bos_token` / `eos_token` (strings or `{content}` objects).
    ///
    /// # Errors
    /// When the file cannot be read, is not a tokenizer config, has no chat template, or the
    /// template does not compile.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if !is_json {
            return Self::compile(path, false, &text, String::new(), String::new());
        }
        let config: TokenizerConfig =
            serde_json::from_str(&text).map_err(|e| TemplateError::Config {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let source = match config.chat_template {
            Some(TemplateField::One(source)) => source,
            Some(TemplateField::Named(named)) => {
                let listed: Vec<String> = named.iter().map(|t| t.name.clone()).collect();
                named
                    .into_iter()
                    .find(|t| t.name == "default")
                    .map(|t| t.template)
                    .ok_or_else(|| TemplateError::Config {
                        path: path.to_owned(),
                        reason: format!(
                            "chat_template lists {} but none named \"default\"",
                            listed.join(", ")
                        ),
                    })?
            }
            None => {
                return Err(TemplateError::NoTemplate {
                    path: path.to_owned(),
                });
            }
        };
        let token = |t: Option<TokenField>| t.map(TokenField::into_text).unwrap_or_default();
        Self::compile(
            path,
            true,
            &source,
            token(config.bos_token),
            token(config.eos_token),
        )
    }

    /// A template from its source; `path` names it in errors.
    ///
    /// # Errors
    /// When the template does not compile.
    pub fn from_source(
        path: impl Into<PathBuf>,
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, TemplateError> {
        Self::compile(
            &path.into(),
            false,
            &source.into(),
            bos_token.into(),
            eos_token.into(),
        )
    }

    fn compile(
        path: &Path,
        in_config: bool,
        source: &str,
        bos_token: String,
        eos_token: String,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // As transformers renders chat templates: blocks trim their newline and leading blanks.
        if let Ok(syntax) = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        let source = without_generation_tags(source).into_owned();
        let mut template = Self {
            env,
            path: path.to_owned(),
            in_config,
            bos_token,
            eos_token,
        };
        template
            .env
            .add_template_owned(NAME, source)
            .map_err(|e| template.error(&e, None))?;
        Ok(template)
    }

    /// The file the template came from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renders `messages` as a trainer does (`tools` none).
    ///
    /// # Errors
    /// When the template fails or raises (`raise_exception`).
    pub fn render(
        &self,
        messages: &[ChatMessage<'_>],
        add_generation_prompt: bool,
    ) -> Result<String, minijinja::Error> {
        self.env.get_template(NAME)?.render(context! {
            messages => Value::from(Serde(messages)),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
            tools => Value::from(()),
        })
    }

    /// A template error as the user is told it: the file, the line in the template when known,
    /// and what was being rendered.
    fn error(&self, err: &minijinja::Error, during: Option<&str>) -> TemplateError {
        let mut location = self.path.display().to_string();
        if let Some(line) = err.line() {
            if self.in_config {
                let _ = write!(location, ": chat_template line {line}");
            } else {
                let _ = write!(location, ":{line}");
            }
        }
        let mut message = match err.detail() {
            Some(detail) if err.kind() == ErrorKind::InvalidOperation => detail.to_owned(),
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        };
        if let Some(during) = during {
            let _ = write!(message, " (rendering {during})");
        }
        TemplateError::Template { location, message }
    }
}

/// `raise_exception(message)`, as transformers provides it: the template refuses the input.
fn raise_exception(message: &str) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("the template raised an exception: {message}"),
    ))
}

/// Training templates mark the assistant's text with `{% generation %}` …
/// `{% endgeneration %}` (transformers' extension for the loss mask); they render their body,
/// so they become `{% if true %}` … `{% endif %}` with the same whitespace control.
fn without_generation_tags(source: &str) -> Cow<'_, str> {
    if !source.contains("generation") {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("{%") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        let Some(end) = tag.find("%}") else {
            break;
        };
        let inner = &tag[2..end];
        let (open, body) = match inner.strip_prefix(['-', '+']) {
            Some(body) => (&inner[..1], body),
            None => ("", inner),
        };
        let (body, close) = match body.strip_suffix(['-', '+']) {
            Some(body) => (body, &inner[inner.len() - 1..]),
            None => (body, ""),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(keyword) => {
                let _ = write!(out, "{{%{open} {keyword} {close}%}}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// One exported record to check: its line in the export and its sample, and its conversation
/// as a trainer hands it to the template.
#[derive(Clone, Debug)]
pub struct CheckRecord<'a> {
    pub line: usize,
    pub sample_id: &'a str,
    pub messages: Vec<ChatMessage<'a>>,
}

/// What went wrong with one answer of a record. `answer` counts the record's assistant
/// messages from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The template puts `text` between the prompt and the answer: the model is trained to
    /// say it first.
    Added { answer: usize, text: String },
    /// Parts of the answer are not in what the template renders: `missing` shows them (long
    /// ones shortened), `chars` counts every missing character.
    Cut {
        answer: usize,
        chars: usize,
        missing: Vec<String>,
    },
    /// Rendering the answer changes the text before it, so the model is trained on another
    /// prompt than it is given.
    PromptChanged { answer: usize },
    /// The whole conversation's rendering no longer holds this answer (a template that drops
    /// earlier turns).
    Dropped { answer: usize },
}

impl Problem {
    /// Whether the answer loses text (rather than gaining some).
    #[must_use]
    pub fn is_cut(&self) -> bool {
        matches!(self, Self::Cut { .. } | Self::Dropped { .. })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added { answer, text } => write!(
                f,
                "answer {answer}: the template adds {} before it",
                shorten(text)
            ),
            Self::Cut {
                answer,
                chars,
                missing,
            } => {
                write!(
                    f,
                    "answer {answer}: the template cuts {chars} character{} of it:",
                    if *chars == 1 { "" } else { "s" }
                )?;
                for piece in missing.iter().take(SHOWN_PIECES) {
                    write!(f, "\n    - {piece}")?;
                }
                if missing.len() > SHOWN_PIECES {
                    write!(f, "\n    … and {} more", missing.len() - SHOWN_PIECES)?;
                }
                Ok(())
            }
            Self::PromptChanged { answer } => write!(
                f,
                "answer {answer}: the text before it renders differently once it is there"
            ),
            Self::Dropped { answer } => write!(
                f,
                "answer {answer}: the whole conversation's rendering no longer holds it"
            ),
        }
    }
}

/// A record whose answers did not all survive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFailure {
    pub line: usize,
    pub sample_id: String,
    pub problems: Vec<Problem>,
}

impl RecordFailure {
    /// Whether any answer of the record loses text.
    #[must_use]
    pub fn is_cut(&self) -> bool {
        self.problems.iter().any(Problem::is_cut)
    }
}

/// What a template check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateReport {
    /// The template's file.
    pub template: PathBuf,
    /// Records checked.
    pub records: usize,
    /// Assistant answers checked.
    pub answers: usize,
    /// The records whose answers did not all survive, in export order.
    pub failures: Vec<RecordFailure>,
}

impl TemplateReport {
    /// Whether every answer reaches the model exactly as exported.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Failing records that lose text.
    #[must_use]
    pub fn cut(&self) -> usize {
        self.failures.iter().filter(|f| f.is_cut()).count()
    }

    /// Failing records that keep their text but gain some.
    #[must_use]
    pub fn added(&self) -> usize {
        self.failures.len() - self.cut()
    }

    /// The failures as lines for a person, `data` naming the export (`data:line`): the first
    /// `detailed` records with what was cut or added, the rest by line and sample.
    #[must_use]
    pub fn describe(&self, data: &str, detailed: usize) -> Vec<String> {
        let mut lines = Vec::new();
        for failure in self.failures.iter().take(detailed) {
            for problem in &failure.problems {
                lines.push(format!(
                    "{data}:{} (sample {}): {problem}",
                    failure.line, failure.sample_id
                ));
            }
        }
        let rest = &self.failures[detailed.min(self.failures.len())..];
        if !rest.is_empty() {
            const LISTED: usize = 20;
            let listed: Vec<String> = rest
                .iter()
                .take(LISTED)
                .map(|f| format!("{} ({})", f.line, f.sample_id))
                .collect();
            let more = if rest.len() > LISTED {
                format!(", … {} more", rest.len() - LISTED)
            } else {
                String::new()
            };
            lines.push(format!(
                "{data}: also failing, lines {}{more}",
                listed.join(", ")
            ));
        }
        lines
    }

    /// One line: how many records were checked and what happened to them.
    #[must_use]
    pub fn summary(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let kept = self.records - self.failures.len();
        format!(
            "template check with {}: {} record{} ({} answer{}): {kept} kept whole, {} cut, {} with text added",
            self.template.display(),
            self.records,
            plural(self.records),
            self.answers,
            plural(self.answers),
            self.cut(),
            self.added(),
        )
    }
}

/// Renders every record with `template` and checks that each assistant answer survives byte
/// for byte.
///
/// # Errors
/// When the template fails or raises on a record (the error names the record).
pub fn check<'a>(
    template: &ChatTemplate,
    records: impl IntoIterator<Item = CheckRecord<'a>>,
) -> Result<TemplateReport, TemplateError> {
    let mut report = TemplateReport {
        template: template.path.clone(),
        ..TemplateReport::default()
    };
    for record in records {
        let during = || format!("record {} (sample {})", record.line, record.sample_id);
        let problems = check_record(template, &record.messages)
            .map_err(|e| template.error(&e, Some(&during())))?;
        report.records += 1;
        report.answers += record
            .messages
            .iter()
            .filter(|m| m.role == "assistant")
            .count();
        if !problems.is_empty() {
            report.failures.push(RecordFailure {
                line: record.line,
                sample_id: record.sample_id.to_owned(),
                problems,
            });
        }
    }
    Ok(report)
}

/// The problems of one conversation's answers.
fn check_record(
    template: &ChatTemplate,
    messages: &[ChatMessage<'_>],
) -> Result<Vec<Problem>, minijinja::Error> {
    let mut problems = Vec::new();
    let mut full: Option<String> = None;
    let mut answer = 0;
    for (i, message) in messages.iter().enumerate() {
        if message.role != "assistant" {
            continue;
        }
        answer += 1;
        let prompt = template.render(&messages[..i], true)?;
        let rendered = template.render(&messages[..=i], false)?;
        let content = message.content;
        let tail = if rendered.starts_with(&prompt) {
            let tail = &rendered[prompt.len()..];
            if let Some(at) = tail.find(content) {
                if at > 0 {
                    problems.push(Problem::Added {
                        answer,
                        text: tail[..at].to_owned(),
                    });
                }
                None
            } else {
                Some(tail)
            }
        } else {
            problems.push(Problem::PromptChanged { answer });
            let tail = &rendered[common_prefix(&prompt, &rendered)..];
            (!tail.contains(content)).then_some(tail)
        };
        if let Some(tail) = tail {
            let (chars, missing) = missing_pieces(content, tail);
            problems.push(Problem::Cut {
                answer,
                chars,
                missing,
            });
            continue;
        }
        if i + 1 < messages.len() {
            let full = match &mut full {
                Some(full) => full,
                None => full.insert(template.render(messages, false)?),
            };
            if !full.contains(content) {
                problems.push(Problem::Dropped { answer });
            }
        }
    }
    Ok(problems)
}

/// The length in bytes of the longest common prefix of `a` and `b`, on a char boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((at, _), _)| at)
}

/// The parts of `answer` that `rendered` lacks: the count of missing characters, and the
/// pieces shown (close pieces as one, each shortened).
fn missing_pieces(answer: &str, rendered: &str) -> (usize, Vec<String>) {
    let old: Vec<char> = answer.chars().collect();
    let new: Vec<char> = rendered.chars().collect();
    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        &old,
        &new,
        Instant::now().checked_add(DIFF_TIMEOUT),
    );
    let mut chars = 0;
    // Char ranges of the answer that are missing, close ones merged.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for op in &ops {
        if matches!(op.tag(), DiffTag::Delete | DiffTag::Replace) {
            let range = op.old_range();
            chars += range.len();
            match ranges.last_mut() {
                Some(last) if range.start.saturating_sub(last.end) < MERGE_GAP => {
                    last.end = range.end;
                }
                _ => ranges.push(range),
            }
        }
    }
    let pieces = ranges
        .into_iter()
        .map(|r| shorten(&old[r].iter().collect::<String>()))
        .collect();
    (chars, pieces)
}

/// `text` quoted with its escapes shown (`\n`), CJK as is; a long text as its start and end.
fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN_CHARS * 2 / 3).collect();
    let tail: String = text.chars().skip(count - SHOWN_CHARS / 3).collect();
    format!("{head:?} … {tail:?} ({count} characters)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(content: &str) -> ChatMessage<'_> {
        ChatMessage {
            role: "user",
            content,
            reasoning_content: None,
        }
    }

    fn assistant(content: &str) -> ChatMessage<'_> {
        ChatMessage {
            role: "assistant",
            content,
            reasoning_content: None,
        }
    }

    /// A plain template: each message in its own block.
    const PLAIN: &str = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

    fn plain() -> ChatTemplate {
        ChatTemplate::from_source("plain.jinja", PLAIN, "", "").expect("compiles")
    }

    fn problems(template: &ChatTemplate, messages: &[ChatMessage<'_>]) -> Vec<Problem> {
        check_record(template, messages).expect("renders")
    }

    #[test]
    fn a_plain_template_keeps_every_answer() {
        let messages = [user("问"), assistant("答。\n<think>想</think>\n再答。")];
        assert_eq!(problems(&plain(), &messages), []);
    }

    #[test]
    fn a_template_that_drops_earlier_turns_is_caught() {
        // Earlier assistant turns are rendered only when they are the last message.
        let template = ChatTemplate::from_source(
            "last-only.jinja",
            "{% for m in messages %}{% if m.role == 'user' or loop.last %}<{{ m.role }}>{{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
            "",
            "",
        )
        .expect("compiles");
        let messages = [
            user("一"),
            assistant("第一答"),
            user("二"),
            assistant("第二答"),
        ];
        let found = problems(&template, &messages);
        assert!(found.contains(&Problem::Dropped { answer: 1 }), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|p| matches!(p, Problem::Dropped { answer: 2 }))
        );
    }

    #[test]
    fn generation_tags_render_their_body_with_the_same_whitespace_control() {
        assert_eq!(
            without_generation_tags("a{% generation %}b{%- endgeneration %}c{%+ generation -%}"),
            "a{% if true %}b{%- endif %}c{%+ if true -%}"
        );
        assert_eq!(
            without_generation_tags("{{ x }}{% if y %}"),
            "{{ x }}{% if y %}"
        );
        let template = ChatTemplate::from_source(
            "training.jinja",
            "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}|{% endif %}{% endfor %}",
            "",
            "",
        )
        .expect("compiles");
        assert_eq!(
            template
                .render(&[user("q"), assistant("a")], false)
                .expect("renders"),
            "q|a"
        );
    }

    #[test]
    fn missing_pieces_name_the_cut_text_on_char_boundaries() {
        let (chars, pieces) = missing_pieces(
            "开头的回答。\n<think>想一想</think>\n结尾。",
            "<think>\n想一想\n</think>\n\n结尾。<end>",
        );
        assert_eq!(pieces, ["\"开头的回答。\\n\""]);
        assert_eq!(chars, "开头的回答。\n".chars().count());
        let long = "很长的一段回答".repeat(30);
        let shown = shorten(&long);
        assert!(shown.ends_with("(210 characters)"), "{shown}");
        assert!(shown.starts_with("\"很长的一段回答"), "{shown}");
    }

    #[test]
    fn common_prefixes_end_on_a_char_boundary() {
        assert_eq!(common_prefix("天空蓝", "天空红"), "天空".len());
        assert_eq!(common_prefix("abc", "ab"), 2);
        assert_eq!(common_prefix("", "x"), 0);
    }

    #[test]
    fn template_errors_name_the_file_the_line_and_the_record() {
        let err =
            ChatTemplate::from_source("bad.jinja", "line one\n{% for m in messages %}", "", "")
                .expect_err("does not compile");
        let text = err.to_string();
        assert!(text.starts_with("bad.jinja:2: syntax error: "), "{text}");

        let raising = ChatTemplate::from_source(
            "strict.jinja",
            "{% if messages[0].role != 'system' %}{{ raise_exception('a system message is required') }}{% endif %}",
            "",
            "",
        )
        .expect("compiles");
        let record = CheckRecord {
            line: 7,
            sample_id: "q7",
            messages: vec![user("问"), assistant("答")],
        };
        let err = check(&raising, [record]).expect_err("raises");
        assert_eq!(
            err.to_string(),
            "strict.jinja:1: the template raised an exception: a system message is required (rendering record 7 (sample q7))"
        );
    }
}
