//! The typed pieces a transcript is made of, and the events the parser emits while it finds them.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// What a piece of the transcript is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Text spoken to the user: everything outside any construct.
    Answer,
    /// `<think>…</think>`.
    Think,
    /// A fenced code block; executable when its info string is `python RUN`.
    Code,
    /// `<execute_result>…</execute_result>`.
    ExecResult,
    /// `<execute_error>…</execute_error>`.
    ExecError,
}

impl SegmentKind {
    /// The name used in JSON output and messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Think => "think",
            Self::Code => "code",
            Self::ExecResult => "exec_result",
            Self::ExecError => "exec_error",
        }
    }

    /// Whether this is execution output (result or error).
    #[must_use]
    pub fn is_exec_output(self) -> bool {
        matches!(self, Self::ExecResult | Self::ExecError)
    }
}

impl fmt::Display for SegmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The opening line of a fenced code block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The info string, trimmed (`python RUN`, `bash`, or empty).
    pub info: String,
    /// How many backticks opened the block; a closing line needs at least as many.
    pub ticks: usize,
    /// Whether the system should run this block.
    pub executable: bool,
}

impl Fence {
    #[must_use]
    pub fn new(info: &str, ticks: usize) -> Self {
        let info = info.trim();
        Self {
            info: info.to_owned(),
            ticks,
            executable: is_executable_info(info),
        }
    }

    /// The language named by the info string, if any.
    #[must_use]
    pub fn language(&self) -> Option<&str> {
        self.info.split_whitespace().next()
    }
}

/// `python RUN`, `python3 RUN` or `py RUN`; both words in any case, nothing else on the line.
#[must_use]
pub fn is_executable_info(info: &str) -> bool {
    let mut words = info.split_whitespace();
    let language = words.next().unwrap_or_default();
    let run = words.next().unwrap_or_default();
    ["python", "python3", "py"]
        .iter()
        .any(|l| language.eq_ignore_ascii_case(l))
        && run.eq_ignore_ascii_case("run")
        && words.next().is_none()
}

/// One typed piece of a transcript. Its text lives in the [`Transcript`](super::Transcript)
/// (`transcript.text(segment)`), all segments in one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub kind: SegmentKind,
    /// Where the content (without delimiters: no tags, no fence lines) lies in
    /// [`Transcript::content`](super::Transcript::content).
    pub text: Range<usize>,
    /// Whether the content is empty or whitespace only.
    pub blank: bool,
    /// The opening fence, for code segments.
    pub fence: Option<Fence>,
    /// Byte range in the transcript, delimiters included.
    pub span: Range<usize>,
    /// Whether the closing delimiter was seen (answers are always closed).
    pub closed: bool,
    /// Words in `text`, counted in the transcript's [`CountMode`](super::CountMode).
    pub words: usize,
}

impl Segment {
    /// Whether this is a python RUN block.
    #[must_use]
    pub fn is_executable(&self) -> bool {
        self.fence.as_ref().is_some_and(|f| f.executable)
    }

    /// Answer text that is only whitespace carries nothing a reader sees.
    #[must_use]
    pub fn is_blank_answer(&self) -> bool {
        self.kind == SegmentKind::Answer && self.blank
    }

    /// Whether a reader sees this segment at all: any code block, or any text that is not whitespace.
    #[must_use]
    pub fn is_visible(&self) -> bool {
        self.kind == SegmentKind::Code || !self.blank
    }
}

/// The tags the grammar knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    ThinkOpen,
    ThinkClose,
    ResultOpen,
    ResultClose,
    ErrorOpen,
    ErrorClose,
}

impl Tag {
    pub const ALL: [Tag; 6] = [
        Tag::ThinkOpen,
        Tag::ThinkClose,
        Tag::ResultOpen,
        Tag::ResultClose,
        Tag::ErrorOpen,
        Tag::ErrorClose,
    ];

    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            Tag::ThinkOpen => "<think>",
            Tag::ThinkClose => "</think>",
            Tag::ResultOpen => "<execute_result>",
            Tag::ResultClose => "</execute_result>",
            Tag::ErrorOpen => "<execute_error>",
            Tag::ErrorClose => "</execute_error>",
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// A structural fault: the transcript still parses, but a tag or fence is out of place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// Byte offset in the transcript where the fault is.
    pub offset: usize,
    /// The segment the fault lies in or belongs to.
    pub segment: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyKind {
    /// A closing tag with nothing open, kept as literal answer text.
    StrayClose(Tag),
    /// `<think>` inside a think, kept as literal think text.
    NestedThink,
    /// The transcript ended inside a think, a fence or an execution block.
    Unclosed(SegmentKind),
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            AnomalyKind::StrayClose(tag) => write!(f, "stray {tag} at byte {}", self.offset),
            AnomalyKind::NestedThink => {
                write!(f, "<think> nested in a think at byte {}", self.offset)
            }
            AnomalyKind::Unclosed(SegmentKind::Code) => {
                write!(
                    f,
                    "code fence opened at byte {} is never closed",
                    self.offset
                )
            }
            AnomalyKind::Unclosed(kind) => {
                write!(f, "{kind} opened at byte {} is never closed", self.offset)
            }
        }?;
        if let Some(segment) = self.segment {
            write!(f, " (segment #{})", segment + 1)?;
        }
        Ok(())
    }
}

/// What the parser reports as it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentEvent {
    Started {
        index: usize,
        kind: SegmentKind,
        fence: Option<Fence>,
        offset: usize,
    },
    /// Text appended to the open segment `index`.
    Text {
        index: usize,
        text: String,
    },
    Ended {
        index: usize,
        offset: usize,
        closed: bool,
    },
    Anomaly(Anomaly),
}
