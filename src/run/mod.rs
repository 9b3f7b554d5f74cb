//! Jobs and runs: one sample answered by one teacher under one prompt version.
//!
//! [`Pipeline::run`] is the one code path from a [`Job`] to a [`Run`] record, used by
//! `moss generate` and by the workbench alike.

mod contain;
mod fill;
mod judge;
mod pipeline;
mod playback;
mod rate;
mod service;
mod timeline;
mod turns;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use contain::{panic_is_contained, panic_message};
pub use fill::{ExecutableBlock, executable_blocks, splice_results};
pub use judge::{Fallback, Judge, JudgeError, VersionRules, rejudge};
pub use pipeline::{ExecConsent, MAX_EXECUTIONS, NoObserver, Pipeline, RunEvent, RunObserver};
pub use playback::{Speed, play};
pub use rate::RateLimiter;
pub use service::{Consent, EventSink, RunKey, Service, ServiceEvent, ServiceOptions};
pub use timeline::{Chunk, Origin, Piece, Timeline};
pub use turns::{
    Interrupter, Interruption, ScriptedInterruption, TurnText, judge_turns, parse_turn, split_turns,
};

use crate::exec::{ExecMode, ExecOutcome};
use crate::prompt::ModelParams;
use crate::teacher::{TeacherInfo, Usage};
use crate::transcript::{Outcome, RuleResult, Rules, SegmentKind, Transcript};

/// Hex digits kept of a SHA-256 for prompt and settings ids.
const ID_HEX: usize = 16;

/// A teacher prompt as sent: its id is the SHA-256 (prefix) of the whole file text.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptVersion {
    pub id: String,
    /// The whole file, front matter included (what the id hashes and the store keeps).
    pub text: String,
    /// The system prompt sent to the teacher: the file without its front matter.
    pub system: String,
    pub params: ModelParams,
    /// The rules runs of this version are judged by: the config's layers and this version's
    /// own front matter `[rules]`. `None`: the pipeline's.
    pub rules: Option<Arc<Rules>>,
}

impl PromptVersion {
    #[must_use]
    pub fn new(text: String, system: String, params: ModelParams) -> Self {
        Self {
            id: prompt_id(&text),
            text,
            system,
            params,
            rules: None,
        }
    }

    /// This version, judged by `rules`.
    #[must_use]
    pub fn with_rules(mut self, rules: Arc<Rules>) -> Self {
        self.rules = Some(rules);
        self
    }
}

/// The id of a rules configuration: the same settings give the same id, whatever file they
/// came from; any change gives another.
#[must_use]
pub fn rules_id(rules: &Rules) -> String {
    short_hash(
        serde_json::to_string(rules.config())
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// Milliseconds since the Unix epoch, now (0 before 1970).
pub(crate) fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The id of a prompt text.
#[must_use]
pub fn prompt_id(text: &str) -> String {
    short_hash(text.as_bytes())
}

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(ID_HEX);
    for byte in digest.iter().take(ID_HEX / 2) {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// What to run: one sample under one prompt version.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub sample_id: String,
    pub question: String,
    pub prompt: Arc<PromptVersion>,
    /// Interruptions decided in advance, one per assistant turn in order.
    pub interruptions: Vec<ScriptedInterruption>,
    /// Interrupts the run from outside (the workbench's input line).
    pub interrupter: Option<Interrupter>,
}

impl Job {
    /// `question` of `sample_id` under `prompt`, with no interruption.
    #[must_use]
    pub fn new(sample_id: String, question: String, prompt: Arc<PromptVersion>) -> Self {
        Self {
            sample_id,
            question,
            prompt,
            interruptions: Vec::new(),
            interrupter: None,
        }
    }
}

/// The settings that, with the prompt id, decide whether two runs are comparable (resume skips
/// a sample that already has a complete run with the same prompt id and settings id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub provider: String,
    pub model: String,
    pub params: ModelParams,
    pub exec: ExecMode,
    /// The id of the rules runs are judged by ([`rules_id`]): runs judged by other rules are
    /// other settings, never resumed past nor counted together.
    pub rules: String,
    /// The interruptions scripted for the run: another script makes other runs, never resumed
    /// past. Left out when there is none, so runs without keep their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptions: Vec<ScriptedInterruption>,
}

impl RunSettings {
    /// A stable id for these settings.
    #[must_use]
    pub fn id(&self) -> String {
        short_hash(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// The teacher finished its turn and every requested execution ran.
    Complete,
    /// Text arrived but the turn did not finish (dropped, timed out, cancelled, no `[DONE]`):
    /// the partial text is kept and must not be used as data.
    Incomplete,
    /// Nothing usable arrived.
    Failed,
}

impl RunStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
        }
    }
}

/// Counts of a transcript's segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSummary {
    pub answers: usize,
    pub thinks: usize,
    pub code_blocks: usize,
    pub executable_blocks: usize,
    pub results: usize,
    pub errors: usize,
    pub answer_words: usize,
    pub think_words: usize,
}

impl SegmentSummary {
    /// The counts of two transcripts together (a run's turns).
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            answers: self.answers + other.answers,
            thinks: self.thinks + other.thinks,
            code_blocks: self.code_blocks + other.code_blocks,
            executable_blocks: self.executable_blocks + other.executable_blocks,
            results: self.results + other.results,
            errors: self.errors + other.errors,
            answer_words: self.answer_words + other.answer_words,
            think_words: self.think_words + other.think_words,
        }
    }

    #[must_use]
    pub fn of(transcript: &Transcript) -> Self {
        let mut s = Self::default();
        for segment in &transcript.segments {
            match segment.kind {
                SegmentKind::Answer if segment.blank => {}
                SegmentKind::Answer => {
                    s.answers += 1;
                    s.answer_words += segment.words;
                }
                SegmentKind::Think => {
                    s.thinks += 1;
                    s.think_words += segment.words;
                }
                SegmentKind::Code => {
                    s.code_blocks += 1;
                    if segment.fence.as_ref().is_some_and(|f| f.executable) {
                        s.executable_blocks += 1;
                    }
                }
                SegmentKind::ExecResult => s.results += 1,
                SegmentKind::ExecError => s.errors += 1,
            }
        }
        s
    }
}

/// One execution of an executable block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Which executable block (0-based, in transcript order).
    pub block: usize,
    pub outcome: ExecOutcome,
}

/// Time to first token, total time and speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Milliseconds since the Unix epoch when the run started.
    pub started_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// When the first answer text arrived: what a reader waits before the model says anything
    /// (a think, code or hidden reasoning first is no answer yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_answer_ms: Option<u64>,
    pub total_ms: u64,
    /// Time spent running code, included in `total_ms`.
    pub exec_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<f64>,
}

/// The record of one run, as stored in `.moss/runs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: String,
    pub sample_id: String,
    pub question: String,
    pub prompt_id: String,
    pub settings_id: String,
    /// The rules that judged this run ([`rules_id`]); empty in runs recorded before it was kept.
    #[serde(default)]
    pub rules_id: String,
    pub teacher: TeacherInfo,
    /// The answer is the offline replay's placeholder (no recording for this sample), not a
    /// model's: it never passes the rules and no export takes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placeholder: bool,
    pub params: ModelParams,
    /// The execution mode in effect (`continue` falls back to `fill` without continuation).
    pub exec: ExecMode,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The final transcript: the teacher's text with the system's execution results; with
    /// interruptions, every assistant turn's, one after the other.
    pub transcript: String,
    /// Where the run was interrupted and what the user said; each starts a new assistant turn
    /// ([`Run::turns`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interruptions: Vec<Interruption>,
    pub segments: SegmentSummary,
    pub rules: Vec<RuleResult>,
    /// Hidden reasoning from reasoning models, never part of the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<Execution>,
    pub timings: Timings,
    /// When each piece of the transcript arrived ([`Timeline`]); runs recorded before it was
    /// kept have none.
    #[serde(
        default,
        deserialize_with = "timeline::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream: Option<Timeline>,
}

impl Run {
    /// The transcript's timeline, when the run has one that fits its transcript (an edited
    /// transcript no longer does).
    #[must_use]
    pub fn timeline(&self) -> Option<&Timeline> {
        self.stream.as_ref().filter(|t| t.fits(&self.transcript))
    }

    /// The run's exchanges: the question and the first assistant turn, then each interjection
    /// and the turn after it (one exchange for a run never interrupted).
    #[must_use]
    pub fn turns(&self) -> Vec<TurnText<'_>> {
        split_turns(&self.question, &self.transcript, &self.interruptions)
    }

    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.status == RunStatus::Complete
    }

    /// Whether no enabled rule failed (a placeholder never passes, whatever its recorded
    /// verdicts: runs recorded before placeholders were marked are known by their text).
    #[must_use]
    pub fn rules_passed(&self) -> bool {
        !self.is_placeholder() && self.rules.iter().all(|r| r.outcome != Outcome::Fail)
    }

    /// Whether the answer is the offline replay's placeholder rather than a model's: marked
    /// when it was made, or (in runs recorded before the mark) known by how it begins.
    #[must_use]
    pub fn is_placeholder(&self) -> bool {
        self.placeholder || crate::transcript::rules::is_placeholder(&self.transcript)
    }
}

/// A rough count of the tokens in `text`, for when the provider sends no usage: one per CJK
/// character (the usual teachers' and students' tokenizers give 0.6 to 1 per Chinese
/// character) and one per four bytes of other text (the usual rule of thumb for English). Shown as an estimate (`≈`).
#[must_use]
pub fn estimate_tokens(text: &str) -> u64 {
    let (mut cjk, mut other) = (0u64, 0u64);
    for c in text.chars() {
        if crate::transcript::is_cjk(c) {
            cjk += 1;
        } else {
            other += c.len_utf8() as u64;
        }
    }
    cjk + other.div_ceil(4)
}

/// A fresh run id: time-ordered and unique enough across processes.
#[must_use]
pub fn new_run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}-{:08x}", fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimates_count_cjk_characters_and_bytes_of_other_text() {
        assert_eq!(estimate_tokens(""), 0);
        // Six CJK characters (the full stop 。 is one too).
        assert_eq!(estimate_tokens("天空是蓝色。"), 6);
        // 19 bytes of English: 5 tokens.
        assert_eq!(estimate_tokens("The sky is blue ok."), 5);
        // Mixed: 2 CJK + " world" (6 bytes: 2 tokens).
        assert_eq!(estimate_tokens("你好 world"), 4);
        // Pieces never estimate less than the whole by more than one per piece.
        let (a, b) = ("答案是42。", " Then more text here");
        let whole = estimate_tokens(&format!("{a}{b}"));
        assert!(whole <= estimate_tokens(a) + estimate_tokens(b));
        assert!(whole + 1 >= estimate_tokens(a) + estimate_tokens(b));
    }

    #[test]
    fn prompt_ids_are_stable_sha256_prefixes() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(prompt_id("abc"), "ba7816bf8f01cfea");
        assert_ne!(prompt_id("abc "), prompt_id("abc"));
    }

    #[test]
    fn settings_ids_change_with_every_setting() {
        let base = RunSettings {
            provider: "p".into(),
            model: "m".into(),
            params: ModelParams::default(),
            exec: ExecMode::Off,
            rules: "r".into(),
            interruptions: Vec::new(),
        };
        let mut other = base.clone();
        assert_eq!(base.id(), other.id());
        other.rules = "r2".into();
        assert_ne!(base.id(), other.id(), "other rules are other settings");
        let mut other = base.clone();
        other.exec = ExecMode::Fill;
        assert_ne!(base.id(), other.id());
        let mut other = base.clone();
        other.params.temperature = 0.2;
        assert_ne!(base.id(), other.id());
        let mut other = base.clone();
        other.model = "n".into();
        assert_ne!(base.id(), other.id());
        let mut other = base.clone();
        other.interruptions.push(ScriptedInterruption {
            after_words: 40,
            text: "换个简单点的方法".into(),
        });
        assert_ne!(base.id(), other.id(), "another interruption script");
        // No script: the id of settings recorded before interruptions existed.
        let json = serde_json::to_string(&base).expect("json");
        assert!(!json.contains("interruptions"), "{json}");
    }

    #[test]
    fn summary_counts_segments_and_words() {
        let t = Transcript::parse(
            "答案。\n<think>想</think>\n好的\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n```bash\nls\n```\n",
            crate::transcript::CountMode::Mixed,
        );
        let s = SegmentSummary::of(&t);
        assert_eq!(
            (
                s.thinks,
                s.code_blocks,
                s.executable_blocks,
                s.results,
                s.errors
            ),
            (1, 2, 1, 1, 0)
        );
        assert_eq!((s.answer_words, s.think_words), (4, 1));
    }
}
