//! Teachers: the models that write transcripts, behind one interface.
//!
//! A teacher streams [`TeacherEvent`]s into a [`TeacherSink`]; the sink may stop the stream early
//! (continuation mode stops when an executable block closes). Whatever was delivered before an
//! error stays delivered: the caller keeps partial text and marks the run incomplete.

pub mod openai;
pub mod provider;
pub mod replay;

use std::ops::ControlFlow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use openai::OpenAiTeacher;
pub use provider::{ContinuationStyle, ProviderConfig, ReasoningField, TeacherConfig};
pub use replay::ReplayTeacher;

/// What a teacher is asked for: one sample's question under one system prompt, optionally
/// continuing an assistant turn already begun.
#[derive(Clone, Debug)]
pub struct TeacherRequest {
    pub sample_id: String,
    pub system: String,
    pub question: String,
    pub params: ModelParams,
    /// Earlier exchanges of an interrupted run, in order: each assistant turn as it was cut
    /// and the user's interjection after it. The answer asked for follows the last one.
    pub history: Vec<PriorTurn>,
    /// The assistant turn so far, to be continued (after the system ran a code block).
    pub continue_from: Option<String>,
}

/// An assistant turn cut by the user, and what the user said then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorTurn {
    pub assistant: String,
    pub interjection: String,
}

/// One piece of a teacher's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum TeacherEvent {
    /// Transcript text (`delta.content`).
    Text(String),
    /// Hidden reasoning (`reasoning_content` / `reasoning`), kept apart from the transcript.
    Reasoning(String),
    /// Token usage, usually in the last chunk.
    Usage(Usage),
}

/// Receives a teacher's events; `Break` stops the stream (the connection is closed).
pub trait TeacherSink: Send {
    fn on_event(&mut self, event: TeacherEvent) -> ControlFlow<()>;
}

impl<F: FnMut(TeacherEvent) -> ControlFlow<()> + Send> TeacherSink for F {
    fn on_event(&mut self, event: TeacherEvent) -> ControlFlow<()> {
        self(event)
    }
}

/// Sampling parameters sent to the teacher.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelParams {
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
}

impl Default for ModelParams {
    /// The original method's settings for DeepSeek-V3.
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.9,
            max_tokens: 4096,
        }
    }
}

/// Token counts as the provider reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Adds a later request's usage (a continued turn makes several requests).
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        if let Some(r) = other.reasoning_tokens {
            *self.reasoning_tokens.get_or_insert(0) += r;
        }
    }
}

/// How a stream that ran to its end ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The provider finished the turn: a finish reason, or `[DONE]` without one.
    Finished { reason: Option<String> },
    /// The sink asked to stop.
    Stopped,
}

/// Which wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    Connect,
    FirstToken,
    Idle,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connecting",
            Self::FirstToken => "waiting for the first token",
            Self::Idle => "waiting for the next chunk",
        })
    }
}

/// Why a teacher's stream failed. Messages never contain an API key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TeacherError {
    #[error("provider {provider} needs an API key: set the environment variable {var}")]
    MissingKey { provider: String, var: String },
    #[error("unknown provider {0:?}")]
    UnknownProvider(String),
    #[error("provider {provider}: {message}")]
    Misconfigured { provider: String, message: String },
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("the provider refused to continue the turn (HTTP {status}: {message})")]
    ContinuationRefused { status: u16, message: String },
    #[error("the provider reported an error mid-stream: {message}")]
    Provider { message: String },
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("timed out {0}")]
    Timeout(TimeoutKind),
    #[error("the connection broke mid-stream: {0}")]
    Dropped(String),
    #[error("the stream ended without [DONE] or a finish reason")]
    Incomplete,
    #[error("malformed stream chunk ({reason}): {data}")]
    Malformed { data: String, reason: String },
    #[error("cancelled")]
    Cancelled,
}

impl TeacherError {
    /// Whether asking again may succeed (before any text was delivered).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            Self::Connect(_) | Self::Timeout(TimeoutKind::Connect) => true,
            _ => false,
        }
    }
}

/// Who a run's text came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherInfo {
    pub provider: String,
    pub model: String,
    /// The offline replay teacher: recorded text, not a model's answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// A teacher backend.
#[derive(Clone, Debug)]
pub enum Teacher {
    OpenAi(OpenAiTeacher),
    Replay(ReplayTeacher),
}

impl Teacher {
    #[must_use]
    pub fn info(&self) -> TeacherInfo {
        match self {
            Self::OpenAi(t) => t.info(),
            Self::Replay(t) => t.info(),
        }
    }

    /// Whether this teacher answers `sample_id` with a placeholder rather than a model's
    /// answer: the replay teacher for a sample it has no recording of.
    #[must_use]
    pub fn is_placeholder_for(&self, sample_id: &str) -> bool {
        match self {
            Self::OpenAi(_) => false,
            Self::Replay(replay) => !replay.has_recording(sample_id),
        }
    }

    /// Whether this teacher can continue an assistant turn (else `continue` falls back to `fill`).
    #[must_use]
    pub fn can_continue(&self) -> bool {
        match self {
            Self::OpenAi(t) => t.can_continue(),
            Self::Replay(_) => true,
        }
    }

    /// Whether the teacher is a server on this machine (see [`OpenAiTeacher::is_local`]).
    #[must_use]
    pub fn is_local(&self) -> bool {
        match self {
            Self::OpenAi(t) => t.is_local(),
            Self::Replay(_) => false,
        }
    }

    /// Streams the answer to `request` into `sink` until the turn ends, the sink stops it, an
    /// error occurs or `cancel` fires (which closes the connection at once).
    ///
    /// # Errors
    /// See [`TeacherError`]; events delivered before the error stay delivered.
    pub async fn stream(
        &self,
        request: &TeacherRequest,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
    ) -> Result<StreamEnd, TeacherError> {
        match self {
            Self::OpenAi(t) => t.stream(request, sink, cancel).await,
            Self::Replay(t) => t.stream(request, sink, cancel).await,
        }
    }
}

/// Waits and limits for HTTP teachers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
}

/// How often and how long to retry a request that failed before any text arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles each retry, with jitter.
    pub base_delay: Duration,
    /// No wait, whether from backoff or from the server's `retry-after`, exceeds this.
    pub max_delay: Duration,
}
