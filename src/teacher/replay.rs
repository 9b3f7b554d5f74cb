//! The offline teacher: streams the recorded transcripts in `samples/` with realistic pacing.
//!
//! Recordings are matched by sample id. A sample with no recording gets a canned answer that
//! says plainly what it is. Everything this teacher produces is marked as replayed
//! ([`TeacherInfo::replayed`]), so it can never pass for a model's answer.
//!
//! Continuation is supported: asked to continue after `k` executed blocks, the replay resumes
//! the recording after its `k`-th executable block, skipping the result recorded there (the
//! system has just inserted the real one).
//!
//! Interruption is supported too: asked to answer after earlier turns that were cut
//! ([`TeacherRequest::history`]), the replay goes on with its recording from where the last
//! turn was cut (the recording, as it would have streamed on), whatever the interjection
//! says. A recording cut after executed blocks is found again past their recorded results.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{StreamEnd, TeacherError, TeacherEvent, TeacherInfo, TeacherRequest, TeacherSink};
use crate::run::estimate_tokens;
use crate::transcript::{CountMode, SegmentKind, Transcript, is_cjk};

/// The recordings shipped with moss.
const BUILTIN_RECORDINGS: &str = include_str!("../../samples/transcripts.jsonl");

/// Chunks sent between two yields to the runtime when there is no pause.
const CHUNKS_PER_YIELD: usize = 64;

/// The offline teacher.
#[derive(Clone, Debug)]
pub struct ReplayTeacher {
    recordings: Arc<HashMap<String, String>>,
    pace: Pace,
}

/// How fast the offline teacher streams: `chunk_chars` characters at a time, each after its
/// pause.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    pub chunk_chars: usize,
    pub pause: Pause,
}

/// The pause before each chunk but the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pause {
    /// The same pause every time (zero: as fast as it can).
    Fixed(Duration),
    /// As long as a model streaming this many tokens a second would take over the chunk's
    /// tokens ([`estimate_tokens`]: a CJK character is one).
    TokensPerSec(f64),
}

impl Pace {
    /// No pauses.
    pub const FAST: Self = Self {
        chunk_chars: 4,
        pause: Pause::Fixed(Duration::ZERO),
    };

    /// The pause before `chunk`.
    #[must_use]
    pub fn before(&self, chunk: &str) -> Duration {
        match self.pause {
            Pause::Fixed(pause) => pause,
            Pause::TokensPerSec(rate) if rate > 0.0 && rate.is_finite() => {
                #[allow(clippy::cast_precision_loss)] // a chunk's tokens are few
                let tokens = estimate_tokens(chunk) as f64;
                Duration::from_secs_f64(tokens / rate)
            }
            Pause::TokensPerSec(_) => Duration::ZERO,
        }
    }

    /// `text` in this pace's chunks.
    pub fn chunks<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> {
        chunks(text, self.chunk_chars.max(1))
    }
}

#[derive(Deserialize)]
struct Recording {
    sample: String,
    text: String,
}

impl ReplayTeacher {
    /// The recordings in `samples/transcripts.jsonl`, compiled in; the first recording of a
    /// sample wins. Unpaced: see [`ReplayTeacher::with_pacing`].
    #[must_use]
    pub fn builtin() -> Self {
        Self::from_jsonl(BUILTIN_RECORDINGS)
    }

    /// Recordings from JSONL lines with `sample` and `text` fields; other lines are ignored.
    #[must_use]
    pub fn from_jsonl(jsonl: &str) -> Self {
        let mut recordings = HashMap::new();
        for line in jsonl.lines() {
            if let Ok(r) = serde_json::from_str::<Recording>(line) {
                recordings.entry(r.sample).or_insert(r.text);
            }
        }
        Self {
            recordings: Arc::new(recordings),
            pace: Pace::FAST,
        }
    }

    /// Streams `chunk_chars` characters at a time with `pause` between chunks.
    #[must_use]
    pub fn with_pacing(self, chunk_chars: usize, pause: Duration) -> Self {
        self.with_pace(Pace {
            chunk_chars,
            pause: Pause::Fixed(pause),
        })
    }

    #[must_use]
    pub fn with_pace(mut self, pace: Pace) -> Self {
        self.pace = Pace {
            chunk_chars: pace.chunk_chars.max(1),
            ..pace
        };
        self
    }

    #[must_use]
    pub fn pace(&self) -> Pace {
        self.pace
    }

    #[must_use]
    pub fn info(&self) -> TeacherInfo {
        TeacherInfo {
            provider: super::provider::REPLAY.to_owned(),
            model: "recorded".to_owned(),
            replayed: true,
        }
    }

    /// Whether `sample_id` has a recording (else the canned answer is streamed).
    #[must_use]
    pub fn has_recording(&self, sample_id: &str) -> bool {
        self.recordings.contains_key(sample_id)
    }

    /// The full text this teacher answers `request` with, before any continuation cut.
    #[must_use]
    pub fn answer(&self, request: &TeacherRequest) -> String {
        match self.recordings.get(&request.sample_id) {
            Some(text) => text.clone(),
            None => canned_answer(&request.question),
        }
    }

    /// # Errors
    /// Only [`TeacherError::Cancelled`].
    pub async fn stream(
        &self,
        request: &TeacherRequest,
        sink: &mut dyn TeacherSink,
        cancel: &CancellationToken,
    ) -> Result<StreamEnd, TeacherError> {
        let answer = self.answer(request);
        let turn = cut_point(&answer, &request.history);
        let start = turn
            + match &request.continue_from {
                Some(prefix) => resume_point(&answer[turn..], prefix),
                None => 0,
            };
        let rest = &answer[start..];
        let mut sent = 0;
        for (n, chunk) in self.pace.chunks(rest).enumerate() {
            if cancel.is_cancelled() {
                return Err(TeacherError::Cancelled);
            }
            if n > 0 {
                let pause = self.pace.before(chunk);
                if pause.is_zero() {
                    if n % CHUNKS_PER_YIELD == 0 {
                        tokio::task::yield_now().await;
                    }
                } else {
                    tokio::select! {
                        () = cancel.cancelled() => return Err(TeacherError::Cancelled),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
            sent += chunk.len();
            if sink.on_event(TeacherEvent::Text(chunk.to_owned())) == ControlFlow::Break(()) {
                return Ok(StreamEnd::Stopped);
            }
        }
        debug_assert_eq!(sent, rest.len());
        Ok(StreamEnd::Finished {
            reason: Some("stop".to_owned()),
        })
    }
}

/// Where the recording goes on after the assistant turns of `history`, which streamed it up
/// to a cut: their text is a prefix of it (with no execution, or the results as recorded), or
/// the text after their last executed block's result matches the recording's after that
/// block's recorded result.
fn cut_point(recording: &str, history: &[super::PriorTurn]) -> usize {
    if history.is_empty() {
        return 0;
    }
    let so_far: String = history.iter().map(|t| t.assistant.as_str()).collect();
    if recording.starts_with(&so_far) {
        return so_far.len();
    }
    let tail = so_far.len() - resume_point(&so_far, &so_far);
    let mut at = (resume_point(recording, &so_far) + tail).min(recording.len());
    while !recording.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` in pieces of `n` characters.
fn chunks(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

/// Where to resume `recording` for a turn that has `prefix` so far: after the recording's
/// `k`-th executable block (k = executable blocks closed in `prefix`) and the result recorded
/// right after it.
fn resume_point(recording: &str, prefix: &str) -> usize {
    let executed = Transcript::parse(prefix, CountMode::Mixed)
        .segments
        .iter()
        .filter(|s| s.closed && s.fence.as_ref().is_some_and(|f| f.executable))
        .count();
    if executed == 0 {
        return 0;
    }
    let recorded = Transcript::parse(recording, CountMode::Mixed);
    let mut seen = 0;
    for (i, segment) in recorded.segments.iter().enumerate() {
        if !(segment.closed && segment.fence.as_ref().is_some_and(|f| f.executable)) {
            continue;
        }
        seen += 1;
        if seen < executed {
            continue;
        }
        let mut at = segment.span.end;
        // Skip blank answer text and the recorded result that follow the block.
        for next in &recorded.segments[i + 1..] {
            match next.kind {
                SegmentKind::Answer if next.blank => at = next.span.end,
                kind if kind.is_exec_output() => {
                    at = next.span.end;
                    break;
                }
                _ => break,
            }
        }
        return at;
    }
    recording.len()
}

/// The answer for a sample with no recording: plainly a placeholder, and it opens with one of
/// [`PLACEHOLDER_MARKERS`](crate::transcript::rules::PLACEHOLDER_MARKERS), so the `model-answer` rule fails it wherever it ends up.
fn canned_answer(question: &str) -> String {
    if question.chars().any(is_cjk) {
        "【离线回放】这道题没有录制好的回答，下面是一段占位示例，不是模型的真实回答。\n\n\
         <think>没有录音，说明怎样接入真实老师即可。</think>\n\n\
         要得到真实回答，请设置 SILICONFLOW_API_KEY，或在 moss.toml 的 [teacher] 中选择其他 provider，然后重新运行这道题。"
            .to_owned()
    } else {
        "[Offline replay] There is no recorded answer for this question; this is a placeholder, not a model's answer.\n\n\
         <think>No recording; explain how to connect a real teacher.</think>\n\n\
         To get a real answer, set SILICONFLOW_API_KEY, or choose another provider under [teacher] in moss.toml, and run this question again."
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::teacher::{ModelParams, Teacher};
    use crate::transcript::{Outcome, RuleContext, evaluate};

    fn request(sample: &str, question: &str, prefix: Option<&str>) -> TeacherRequest {
        TeacherRequest {
            sample_id: sample.to_owned(),
            system: String::new(),
            question: question.to_owned(),
            params: ModelParams::default(),
            history: Vec::new(),
            continue_from: prefix.map(str::to_owned),
        }
    }

    async fn collect(teacher: &ReplayTeacher, req: &TeacherRequest) -> (String, StreamEnd) {
        let mut text = String::new();
        let mut pieces = 0;
        let end = teacher
            .stream(
                req,
                &mut |e| {
                    if let TeacherEvent::Text(t) = e {
                        pieces += 1;
                        text.push_str(&t);
                    }
                    ControlFlow::Continue(())
                },
                &CancellationToken::new(),
            )
            .await
            .expect("replay never fails");
        assert!(pieces > 1 || text.chars().count() <= teacher.pace.chunk_chars);
        (text, end)
    }

    #[tokio::test]
    async fn streams_the_recording_of_the_sample_in_small_chunks() {
        let teacher = ReplayTeacher::builtin();
        assert!(teacher.has_recording("q11"));
        let req = request("q11", "天空为什么是蓝色的？", None);
        let (text, end) = collect(&teacher, &req).await;
        assert!(text.starts_with("天空呈蓝色"), "{text}");
        assert_eq!(text, teacher.answer(&req));
        assert_eq!(
            end,
            StreamEnd::Finished {
                reason: Some("stop".into())
            }
        );
        assert!(teacher.info().replayed);
    }

    #[tokio::test]
    async fn a_sample_without_recording_gets_a_labelled_placeholder_that_only_model_answer_fails() {
        let teacher = ReplayTeacher::builtin();
        assert!(Teacher::Replay(teacher.clone()).is_placeholder_for("nope"));
        assert!(!Teacher::Replay(teacher.clone()).is_placeholder_for("q11"));
        for (question, label) in [
            ("随便问一个问题", "【离线回放】"),
            ("Any question", "[Offline replay]"),
        ] {
            let (text, _) = collect(&teacher, &request("nope", question, None)).await;
            assert!(text.starts_with(label), "{text}");
            let transcript = Transcript::parse(&text, CountMode::Mixed);
            // Well-formed, so only the rule that exists for it fails: it is never data.
            let failing: Vec<_> = evaluate(&transcript, RuleContext::Live { model_results: 0 })
                .into_iter()
                .filter(|r| r.outcome == Outcome::Fail)
                .map(|r| r.id)
                .collect();
            assert_eq!(failing, [crate::transcript::RuleId::ModelAnswer], "{text}");
        }
    }

    #[tokio::test]
    async fn continuation_resumes_after_the_executed_block_and_its_recorded_result() {
        let recording = "Answer.\n\n<think>run it</think>\n\n```python RUN\nprint(1)\n```\n\n<execute_result>\n1\n</execute_result>\n\nIt printed one.\n";
        let teacher = ReplayTeacher::from_jsonl(
            &serde_json::json!({"sample": "s", "text": recording}).to_string(),
        );
        let prefix = "Answer.\n\n<think>run it</think>\n\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n";
        let (text, _) = collect(&teacher, &request("s", "q", Some(prefix))).await;
        assert_eq!(text, "\n\nIt printed one.\n");
    }

    #[tokio::test]
    async fn after_an_interruption_the_recording_goes_on_from_the_cut() {
        let recording = "Answer.\n\n<think>run it</think>\n\n```python RUN\nprint(1)\n```\n\n<execute_result>\n1\n</execute_result>\n\nIt printed one.\n";
        let teacher = ReplayTeacher::from_jsonl(
            &serde_json::json!({"sample": "s", "text": recording}).to_string(),
        );
        let prior = |assistant: &str| super::super::PriorTurn {
            assistant: assistant.to_owned(),
            interjection: "simpler, please".to_owned(),
        };
        // Cut as recorded (no execution): the rest of the recording.
        let mut req = request("s", "q", None);
        req.history = vec![prior("Answer.\n\n<thi")];
        let (text, end) = collect(&teacher, &req).await;
        assert_eq!(format!("Answer.\n\n<thi{text}"), recording);
        assert_eq!(
            end,
            StreamEnd::Finished {
                reason: Some("stop".into())
            }
        );
        // Cut after an executed block whose real result differs from the recorded one.
        req.history = vec![prior(
            "Answer.\n\n<think>run it</think>\n\n```python RUN\nprint(1)\n```\n<execute_result>\n1 \n</execute_result>\n\nIt pri",
        )];
        let (text, _) = collect(&teacher, &req).await;
        assert_eq!(text, "nted one.\n");
        // A continuation inside the later turn goes on from within that turn.
        req.history = vec![prior("Answer.\n\n")];
        req.continue_from = Some("<think>run it</think>\n\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n".into());
        let (text, _) = collect(&teacher, &req).await;
        assert_eq!(text, "\n\nIt printed one.\n");
    }

    #[tokio::test]
    async fn a_sink_break_stops_and_cancel_cancels() {
        let teacher = ReplayTeacher::builtin();
        let req = request("q11", "q", None);
        let mut got = 0;
        let end = teacher
            .stream(
                &req,
                &mut |_| {
                    got += 1;
                    if got == 3 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
                &CancellationToken::new(),
            )
            .await
            .expect("stops");
        assert_eq!((end, got), (StreamEnd::Stopped, 3));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = teacher
            .stream(&req, &mut |_| ControlFlow::Continue(()), &cancel)
            .await
            .expect_err("cancelled");
        assert_eq!(err, TeacherError::Cancelled);
    }

    #[test]
    #[allow(clippy::cast_precision_loss)] // small counts
    fn the_default_pace_streams_chinese_at_about_thirty_tokens_a_second() {
        let pace = crate::teacher::TeacherConfig::default().replay_pace();
        let text = "天空之所以呈现蓝色，是因为阳光穿过大气层时发生了瑞利散射。".repeat(10);
        let pauses: Duration = pace.chunks(&text).map(|c| pace.before(c)).sum();
        let per_sec = text.chars().count() as f64 / pauses.as_secs_f64();
        assert!(
            (25.0..=35.0).contains(&per_sec),
            "{per_sec} characters a second"
        );
        let first = pace.chunks(&text).next().expect("a chunk");
        assert!(
            (Duration::from_millis(60)..=Duration::from_millis(150)).contains(&pace.before(first)),
            "a few characters about every 100 ms"
        );
        // English: about four bytes a token.
        let english = "The sky looks blue because air scatters short wavelengths more. ".repeat(10);
        let pauses: Duration = pace.chunks(&english).map(|c| pace.before(c)).sum();
        let tokens = estimate_tokens(&english) as f64 / pauses.as_secs_f64();
        assert!((15.0..=40.0).contains(&tokens), "{tokens} tokens a second");
        // A fixed pause, set, replaces the rate; 0 is as fast as it can.
        let fixed = crate::teacher::TeacherConfig {
            replay_pause_ms: Some(0),
            ..crate::teacher::TeacherConfig::default()
        }
        .replay_pace();
        assert_eq!(fixed.before("天空"), Duration::ZERO);
    }

    #[test]
    fn chunks_split_on_char_boundaries() {
        let parts: Vec<&str> = chunks("中文ab c", 2).collect();
        assert_eq!(parts, ["中文", "ab", " c"]);
        assert_eq!(chunks("", 3).count(), 0);
    }
}
