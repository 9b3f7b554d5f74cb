//! Interruptions: a run cut while it streams, the user's interjection, and the teacher asked to
//! go on as a new turn. A run so interrupted has several assistant turns, all kept in its one
//! transcript; [`Interruption::at`] says where each turn ends and the next begins.
//!
//! Each assistant turn is judged on its own ([`judge_turns`]). A turn that was cut is judged
//! as text still streaming: a failure the text already holds for good counts (an over-budget
//! think, a stray closing tag…), one that only the end of an answer decides (the think or
//! fence left open at the cut, an answer that must come last, a block cut before its result)
//! does not.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::transcript::{
    Outcome, RuleContext, RuleId, RuleResult, Rules, SegmentKind, StreamParser, Transcript,
};

/// Where a run was interrupted and what the user said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interruption {
    /// Byte offset in the run's transcript where the cut turn ends and the next assistant
    /// turn begins.
    pub at: usize,
    /// The user's interjection: the next user turn.
    pub text: String,
}

/// An interruption decided in advance (`moss generate --interrupt-after`, a samples file's
/// `interruptions`): the `k`-th applies to the run's `k`-th assistant turn.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScriptedInterruption {
    /// Cut the turn once it holds this many answer and think words (at the end of the chunk
    /// that reaches them).
    pub after_words: usize,
    pub text: String,
}

/// Interrupts a run from outside, at any moment: the workbench keeps one per run (a clone goes
/// in the [`super::Job`]) and calls [`Interrupter::interrupt`] with what the user typed. The
/// run cuts its stream where it is and asks the teacher to go on after the interjection. An
/// interjection sent while the run executes code, or before its first request, applies as
/// soon as it streams again; one sent after the run ended is ignored.
#[derive(Clone, Debug, Default)]
pub struct Interrupter {
    inner: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<VecDeque<String>>,
    /// Held by [`Interrupter::hold`]: (the stream is held, the hold is yet to be seen).
    held: Mutex<(bool, bool)>,
    notify: Notify,
}

/// What an [`Interrupter`] asks of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Cut here, with the user's words.
    Interject(String),
    /// Stop reading where it is, until the words come (or the hold is released).
    Hold,
}

impl PartialEq for Interrupter {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Interrupter {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cuts the run now, with `text` as the user's next turn (where it was held, if it was).
    pub fn interrupt(&self, text: impl Into<String>) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.push_back(text.into());
        }
        self.set_held(false);
        self.inner.notify.notify_one();
    }

    /// Holds the stream where it is, while the user types: the run stops reading it (the
    /// server waits), so nothing more arrives. [`Interrupter::interrupt`] then cuts it exactly
    /// there; [`Interrupter::release`] lets it go on. A hold longer than the teacher's idle
    /// timeout ends the stream as timed out when it goes on.
    pub fn hold(&self) {
        if let Ok(mut held) = self.inner.held.lock() {
            *held = (true, true);
        }
        self.inner.notify.notify_one();
    }

    /// Lets a held stream go on.
    pub fn release(&self) {
        self.set_held(false);
        self.inner.notify.notify_one();
    }

    fn set_held(&self, on: bool) {
        if let Ok(mut held) = self.inner.held.lock() {
            *held = (on, on && held.1);
        }
    }

    /// The next thing asked of the stream, waiting for one.
    pub(crate) async fn signal(&self) -> Signal {
        loop {
            let notified = self.inner.notify.notified();
            if let Some(text) = self.take() {
                return Signal::Interject(text);
            }
            if let Ok(mut held) = self.inner.held.lock()
                && held.1
            {
                held.1 = false;
                return Signal::Hold;
            }
            notified.await;
        }
    }

    /// While held: the user's words (`Some`), or `None` once the hold is released.
    pub(crate) async fn after_hold(&self) -> Option<String> {
        loop {
            let notified = self.inner.notify.notified();
            if let Some(text) = self.take() {
                return Some(text);
            }
            if self.inner.held.lock().map_or(true, |held| !held.0) {
                return None;
            }
            notified.await;
        }
    }

    fn take(&self) -> Option<String> {
        self.inner.pending.lock().ok()?.pop_front()
    }
}

/// One exchange of a run: the user's text and the assistant's answer to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnText<'a> {
    pub user: &'a str,
    pub assistant: &'a str,
    /// The assistant turn was cut by an interruption (every turn but the last).
    pub cut: bool,
}

/// The turns of a transcript cut at `interruptions`: the question and the first assistant
/// turn, then each interjection and the assistant turn after it. Offsets out of order or out
/// of the text are clamped (an edited transcript).
#[must_use]
pub fn split_turns<'a>(
    question: &'a str,
    transcript: &'a str,
    interruptions: &'a [Interruption],
) -> Vec<TurnText<'a>> {
    let mut turns = Vec::with_capacity(interruptions.len() + 1);
    let mut start = 0;
    let mut user = question;
    for interruption in interruptions {
        let end = boundary(transcript, interruption.at.clamp(start, transcript.len()));
        turns.push(TurnText {
            user,
            assistant: &transcript[start..end],
            cut: true,
        });
        start = end;
        user = &interruption.text;
    }
    turns.push(TurnText {
        user,
        assistant: &transcript[start..],
        cut: false,
    });
    turns
}

/// `at`, moved back to a char boundary of `text`.
fn boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The transcript of one assistant turn: a cut turn as text still streaming (what is open at
/// the cut stays open), else parsed to its end.
#[must_use]
pub fn parse_turn(text: &str, cut: bool, rules: &Rules) -> Transcript {
    let mode = rules.config().count_mode;
    if !cut {
        return Transcript::parse(text, mode);
    }
    let mut transcript = Transcript::new(mode);
    StreamParser::new().feed(text, &mut transcript);
    transcript
}

/// The verdicts of a run's assistant turns, one per enabled rule: a rule fails when it fails
/// in any turn (the message names the first such turn, 1-based). A cut turn fails only what
/// its text has decided already ([`Rules::decided_failure`]). `no-model-results` is judged on
/// the whole run with `context` (which result blocks moss put in is known per run, not per
/// turn). With no interruption this is `rules.evaluate` of the whole transcript.
#[must_use]
pub fn judge_turns(
    rules: &Rules,
    question: &str,
    transcript: &str,
    interruptions: &[Interruption],
    context: RuleContext,
) -> Vec<RuleResult> {
    let mode = rules.config().count_mode;
    if interruptions.is_empty() {
        return rules.evaluate(&Transcript::parse(transcript, mode), context);
    }
    let turns = split_turns(question, transcript, interruptions);
    let whole = Transcript::parse(transcript, mode);
    let mut offset = 0;
    let mut per_turn: Vec<Vec<RuleResult>> = Vec::with_capacity(turns.len());
    for turn in &turns {
        let t = parse_turn(turn.assistant, turn.cut, rules);
        let turn_context = RuleContext::Live { model_results: 0 };
        let results = rules
            .enabled()
            .map(|id| {
                let mut result = if turn.cut {
                    judge_cut(rules, id, &t, turn_context)
                } else {
                    rules.judge(id, &t, turn_context)
                };
                // Point at the segment of the whole transcript that holds this one's start.
                result.segment = result
                    .segment
                    .and_then(|i| t.segments.get(i))
                    .and_then(|s| segment_at(&whole, offset + s.span.start));
                result
            })
            .collect();
        per_turn.push(results);
        offset += turn.assistant.len();
    }
    rules
        .enabled()
        .enumerate()
        .map(|(i, id)| {
            if id == RuleId::NoModelResults {
                return rules.judge(id, &whole, context);
            }
            combine(per_turn.iter().map(|results| &results[i]))
        })
        .collect()
}

/// Rule `id` on a cut turn: a failure only if no text that might have followed could undo it.
fn judge_cut(rules: &Rules, id: RuleId, t: &Transcript, context: RuleContext) -> RuleResult {
    let result = rules.judge(id, t, context);
    if result.outcome != Outcome::Fail {
        return result;
    }
    rules
        .decided_failure(id, t, context)
        .unwrap_or_else(|| RuleResult {
            id,
            outcome: Outcome::Skip,
            message: "not decided: the turn was cut by an interruption".to_owned(),
            segment: None,
        })
}

fn segment_at(t: &Transcript, byte: usize) -> Option<usize> {
    t.segments
        .iter()
        .position(|s| s.span.contains(&byte))
        .or_else(|| t.segments.len().checked_sub(1))
}

/// One verdict from each turn's: the first failure, else a pass (the last turn's that
/// passed), else a skip.
fn combine<'a>(results: impl Iterator<Item = &'a RuleResult>) -> RuleResult {
    let mut passed: Option<(usize, &RuleResult)> = None;
    let mut skipped: Option<&RuleResult> = None;
    for (turn, result) in results.enumerate() {
        match result.outcome {
            Outcome::Fail => return named(turn, result),
            Outcome::Pass => passed = Some((turn, result)),
            Outcome::Skip => {
                skipped.get_or_insert(result);
            }
        }
    }
    match (passed, skipped) {
        (Some((turn, result)), _) => named(turn, result),
        (None, Some(result)) => result.clone(),
        (None, None) => unreachable!("a run has at least one turn"),
    }
}

fn named(turn: usize, result: &RuleResult) -> RuleResult {
    RuleResult {
        message: format!("turn {}: {}", turn + 1, result.message),
        ..result.clone()
    }
}

/// Answer and think words of a turn so far (the open segment counted as it stands).
pub(crate) fn spoken_words(t: &Transcript) -> usize {
    t.segments
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.kind, SegmentKind::Answer | SegmentKind::Think))
        .map(|(i, _)| t.live_words(i))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::RulesConfig;

    fn cut(at: usize, text: &str) -> Interruption {
        Interruption {
            at,
            text: text.to_owned(),
        }
    }

    #[test]
    fn turns_split_the_transcript_at_each_interruption() {
        let text = "第一段<think>想一";
        let whole = format!("{text}好的，简单点。");
        let interruptions = [cut(text.len(), "换个简单点的方法")];
        let turns = split_turns("问题", &whole, &interruptions);
        assert_eq!(
            turns,
            vec![
                TurnText {
                    user: "问题",
                    assistant: text,
                    cut: true
                },
                TurnText {
                    user: "换个简单点的方法",
                    assistant: "好的，简单点。",
                    cut: false
                },
            ]
        );
        // No interruption: one turn, the whole transcript.
        let one = split_turns("q", "a", &[]);
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].user, one[0].assistant, one[0].cut),
            ("q", "a", false)
        );
        // An offset inside a character or past the end is clamped.
        let cuts = [cut(1, "x"), cut(99, "y")];
        let odd = split_turns("q", "天空", &cuts);
        assert_eq!(
            odd.iter().map(|t| t.assistant).collect::<Vec<_>>(),
            ["", "天空", ""]
        );
    }

    fn outcome_of(results: &[RuleResult], id: RuleId) -> &RuleResult {
        results.iter().find(|r| r.id == id).expect("rule judged")
    }

    #[test]
    fn a_cut_turn_fails_only_what_its_text_decided_and_each_turn_is_judged_alone() {
        let rules = Rules::new(RulesConfig::default()).expect("rules");
        let live = RuleContext::Live { model_results: 0 };
        // Cut inside a think: left open by the cut, not unbalanced.
        let first = "Blue. <think>why";
        let second = "Sure.\n<think>simpler</think>\nBecause of scattering.";
        let whole = format!("{first}{second}");
        let results = judge_turns(&rules, "q", &whole, &[cut(first.len(), "simpler")], live);
        assert_eq!(
            outcome_of(&results, RuleId::BalancedTags).outcome,
            Outcome::Pass
        );
        assert_eq!(
            outcome_of(&results, RuleId::Interleaved).outcome,
            Outcome::Pass
        );
        // The same text as one turn: the open think and the second opening are faults.
        let single = judge_turns(&rules, "q", &whole, &[], live);
        assert_eq!(
            outcome_of(&single, RuleId::BalancedTags).outcome,
            Outcome::Fail
        );

        // What the cut turn said stays checked: an over-budget think fails, naming the turn.
        let over = "One two. <think>a b c d e f g h i j k l m n o p q r s t u v w x y z";
        let whole = format!("{over}Fine.\n<think>ok</think>\nDone.");
        let results = judge_turns(&rules, "q", &whole, &[cut(over.len(), "go on")], live);
        let budget = outcome_of(&results, RuleId::ThinkBudget);
        assert_eq!(budget.outcome, Outcome::Fail);
        assert!(budget.message.starts_with("turn 1: "), "{}", budget.message);
        assert_eq!(
            budget.segment,
            Some(1),
            "the think, in the whole transcript"
        );

        // The second turn is judged alone: its own unclosed think fails, named turn 2.
        let whole = format!("{first}Sure <think>never closed");
        let results = judge_turns(&rules, "q", &whole, &[cut(first.len(), "go on")], live);
        let tags = outcome_of(&results, RuleId::BalancedTags);
        assert_eq!(tags.outcome, Outcome::Fail);
        assert!(tags.message.starts_with("turn 2: "), "{}", tags.message);
        // And it must open with an answer of its own.
        let whole = format!("{first}<think>straight in</think>\nAnswer.");
        let results = judge_turns(&rules, "q", &whole, &[cut(first.len(), "go on")], live);
        let starts = outcome_of(&results, RuleId::StartsWithAnswer);
        assert_eq!(starts.outcome, Outcome::Fail);
        assert!(starts.message.starts_with("turn 2: "), "{}", starts.message);
    }

    #[tokio::test]
    async fn a_hold_is_seen_once_then_ends_with_the_words_or_a_release() {
        let interrupter = Interrupter::new();
        interrupter.hold();
        assert_eq!(interrupter.signal().await, Signal::Hold);
        interrupter.interrupt("换个方法");
        assert_eq!(interrupter.after_hold().await, Some("换个方法".to_owned()));
        // Held again, then let go: the stream goes on, and no hold is left to see.
        interrupter.hold();
        assert_eq!(interrupter.signal().await, Signal::Hold);
        interrupter.release();
        assert_eq!(interrupter.after_hold().await, None);
        interrupter.interrupt("later");
        assert_eq!(
            interrupter.signal().await,
            Signal::Interject("later".into())
        );
    }

    #[tokio::test]
    async fn an_interrupter_hands_over_interjections_in_order() {
        let interrupter = Interrupter::new();
        let clone = interrupter.clone();
        assert_eq!(interrupter, clone);
        assert_ne!(interrupter, Interrupter::new());
        clone.interrupt("first");
        clone.interrupt("second");
        assert_eq!(
            interrupter.signal().await,
            Signal::Interject("first".into())
        );
        assert_eq!(
            interrupter.signal().await,
            Signal::Interject("second".into())
        );
    }
}
