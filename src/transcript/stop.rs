//! Stopping a live run on violation: the rules with `stop = true`, watched as the transcript
//! streams, report the first failure no later text can undo ([`Rules::decided_failure`]).
//!
//! A rule is judged only when what arrived could have changed its verdict, so a chunk costs
//! its own new segments, faults and answer bytes (plus a refusal phrase's length of overlap),
//! never the whole transcript: the think budget is the `think-budget` rule's own running
//! account ([`AllowanceTally`]) against the open think's word count; refusals are searched in
//! new answer text only; block, result and fault rules are judged when such a segment starts,
//! ends or a fault appears; the opening rules only until the opening segment is settled. A
//! rule is judged on the whole transcript (for its message) only when a failure is likely,
//! which in practice is the once it stops the run.

use super::rules::AllowanceTally;
use super::{RuleContext, RuleId, RuleResult, Rules, SegmentKind, Transcript};

/// The stop-enabled rules of one run, with how far the transcript has been looked at.
#[derive(Clone, Debug)]
pub struct StopCheck {
    rules: Rules,
    ids: Vec<RuleId>,
    tally: AllowanceTally,
    /// Segments that have ended and been accounted for.
    ended: usize,
    /// Segments whose start has been looked at.
    started: usize,
    /// Faults looked at.
    anomalies: usize,
    /// Bytes of [`Transcript::content`] searched for refusals, and the segment searched last.
    searched: usize,
    search_segment: usize,
    /// The opening segment is known and has ended (or is no answer): the opening rules are
    /// decided one way or the other.
    opening_settled: bool,
}

impl StopCheck {
    /// `None` when no enabled rule of `rules` stops a run.
    #[must_use]
    pub fn new(rules: &Rules) -> Option<Self> {
        let ids: Vec<RuleId> = rules
            .enabled()
            .filter(|id| id.can_stop() && rules.config().stops(*id))
            .collect();
        (!ids.is_empty()).then(|| Self {
            tally: AllowanceTally::new(&rules.config().think_budget),
            rules: rules.clone(),
            ids,
            ended: 0,
            started: 0,
            anomalies: 0,
            searched: 0,
            search_segment: 0,
            opening_settled: false,
        })
    }

    /// The rules this check stops on.
    #[must_use]
    pub fn rules(&self) -> &[RuleId] {
        &self.ids
    }

    /// Looks at what `t` gained since the last call; the first stop-enabled rule that has
    /// failed for good, with its message. `context` is asked only when a rule is judged.
    pub fn check(
        &mut self,
        t: &Transcript,
        context: impl Fn(&Transcript) -> RuleContext,
    ) -> Option<RuleResult> {
        let mut due = Vec::new();
        self.segments_started(t, &mut due);
        self.segments_ended(t, &mut due);
        self.open_think(t, &mut due);
        if t.anomalies.len() > self.anomalies {
            self.anomalies = t.anomalies.len();
            due.push(RuleId::BalancedTags);
        }
        if self.watches(RuleId::NoRefusal) && self.refusal_in_new_text(t) {
            due.push(RuleId::NoRefusal);
        }
        if !self.opening_settled {
            self.opening(t, &mut due);
        }
        // Report order, as the rules are listed.
        due.sort_unstable();
        due.dedup();
        due.into_iter()
            .filter(|id| self.watches(*id))
            .find_map(|id| self.rules.decided_failure(id, t, context(t)))
    }

    fn watches(&self, id: RuleId) -> bool {
        self.ids.contains(&id)
    }

    fn segments_started(&mut self, t: &Transcript, due: &mut Vec<RuleId>) {
        for s in t.segments.get(self.started..).unwrap_or_default() {
            match s.kind {
                SegmentKind::Code => due.push(RuleId::ThinkBeforeCode),
                SegmentKind::ExecResult | SegmentKind::ExecError => {
                    due.push(RuleId::NoModelResults);
                }
                SegmentKind::Answer | SegmentKind::Think => {}
            }
        }
        self.started = t.segments.len();
    }

    fn segments_ended(&mut self, t: &Transcript, due: &mut Vec<RuleId>) {
        while let Some(s) = t.segments.get(self.ended) {
            if t.is_open(self.ended) {
                break;
            }
            if let Some(allowed) = self.tally.fold(s.kind, s.words)
                && s.words > allowed
            {
                due.push(RuleId::ThinkBudget);
            }
            if s.is_executable() {
                due.push(RuleId::NoInput);
            }
            self.ended += 1;
        }
    }

    /// The think being written, against its allowance (everything before it has ended).
    fn open_think(&self, t: &Transcript, due: &mut Vec<RuleId>) {
        if let Some(s) = t.segments.get(self.ended)
            && s.kind == SegmentKind::Think
            && t.is_open(self.ended)
            && s.words > self.tally.allowance()
        {
            due.push(RuleId::ThinkBudget);
        }
    }

    /// Searches the answer text that arrived since the last call, reaching back a phrase's
    /// length so a phrase cut across chunks is found.
    fn refusal_in_new_text(&mut self, t: &Transcript) -> bool {
        let content = t.content();
        let reach = self.rules.refusal_reach();
        let mut found = false;
        for s in t.segments.get(self.search_segment..).unwrap_or_default() {
            if s.kind == SegmentKind::Answer && s.text.end > self.searched {
                let mut from = s.text.start.max(self.searched.saturating_sub(reach));
                while !content.is_char_boundary(from) {
                    from -= 1;
                }
                if self.rules.has_refusal(&content[from..s.text.end]) {
                    found = true;
                    break;
                }
            }
        }
        self.searched = content.len();
        self.search_segment = t.segments.len().saturating_sub(1);
        found
    }

    fn opening(&mut self, t: &Transcript, due: &mut Vec<RuleId>) {
        let Some(i) = t.segments.iter().position(super::Segment::is_visible) else {
            return;
        };
        due.extend([RuleId::StartsWithAnswer, RuleId::FirstAnswerConcise]);
        let s = &t.segments[i];
        self.opening_settled = s.kind != SegmentKind::Answer || !t.is_open(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{CountMode, Outcome, RulesConfig, StreamParser};

    /// Streams `chunks` through a check of `config`; the chunk index and failure it stopped at.
    fn stop_at(config: RulesConfig, chunks: &[&str]) -> Option<(usize, RuleResult)> {
        let rules = Rules::new(config).expect("rules compile");
        let mut check = StopCheck::new(&rules)?;
        let mut parser = StreamParser::new();
        let mut t = Transcript::new(CountMode::Mixed);
        for (i, chunk) in chunks.iter().enumerate() {
            parser.feed(chunk, &mut t);
            if let Some(failure) = check.check(&t, |_| RuleContext::Live { model_results: 0 }) {
                assert_eq!(failure.outcome, Outcome::Fail);
                return Some((i, failure));
            }
        }
        // The end: what the stream did not decide, it does not decide now either.
        parser.finish_into(&mut t);
        None
    }

    fn stopping(set: impl FnOnce(&mut RulesConfig)) -> RulesConfig {
        let mut config = RulesConfig::default();
        set(&mut config);
        config
    }

    #[test]
    fn without_stop_nothing_is_watched() {
        let rules = Rules::new(RulesConfig::default()).expect("rules");
        assert!(StopCheck::new(&rules).is_none());
        let only_undecidable = stopping(|c| {
            c.interleaved.stop = true;
            c.run_has_result.stop = true;
        });
        assert!(StopCheck::new(&Rules::new(only_undecidable).expect("rules")).is_none());
        let disabled = stopping(|c| {
            c.think_budget.stop = true;
            c.think_budget.enabled = false;
        });
        assert!(StopCheck::new(&Rules::new(disabled).expect("rules")).is_none());
    }

    #[test]
    fn an_over_budget_think_stops_before_it_closes() {
        let config = stopping(|c| c.think_budget.stop = true);
        let chunks = [
            "One two three. <think>a b",
            " c",
            " d e f",
            " g</think> more",
        ];
        let (at, failure) = stop_at(config.clone(), &chunks).expect("stops");
        // A word counts once the text after it shows it complete: "f" is still being written.
        assert_eq!(at, 2);
        assert_eq!(failure.id, RuleId::ThinkBudget);
        assert_eq!(
            failure.message,
            "think #1 has 5 words, budget 3 (segment #2)"
        );
        // Within budget, with the rest of the answer: no stop.
        let fine = ["One two three four five. <think>a b", " c</think> Done."];
        assert!(stop_at(config, &fine).is_none());
    }

    #[test]
    fn a_later_think_is_judged_by_the_answer_since_the_previous_one() {
        let config = stopping(|c| c.think_budget.stop = true);
        let chunks = [
            "One two three four. <think>a b c</think>",
            " five <think>x y z",
            "</think>",
        ];
        let (at, failure) = stop_at(config, &chunks).expect("stops");
        assert_eq!(at, 1, "the second think has two complete words, budget 1");
        assert_eq!(
            failure.message,
            "think #2 has 2 words, budget 1 (segment #4)"
        );
    }

    #[test]
    fn a_refusal_stops_even_when_cut_across_chunks() {
        let config = stopping(|c| c.no_refusal.stop = true);
        let chunks = ["Well. Sorry, I can", "'t he", "lp with that."];
        let (at, failure) = stop_at(config.clone(), &chunks).expect("stops");
        assert_eq!(at, 2);
        assert_eq!(failure.id, RuleId::NoRefusal);
        assert!(
            failure.message.contains("I can't help with"),
            "{}",
            failure.message
        );
        // In a think it is no refusal.
        let thought = [
            "Yes. <think>I can't help with",
            " that? I can.</think> Sure.",
        ];
        assert!(stop_at(config, &thought).is_none());
    }

    #[test]
    fn rules_that_more_text_may_still_satisfy_never_stop() {
        let config = stopping(|c| {
            c.interleaved.stop = true;
            c.run_has_result.stop = true;
            c.no_input.stop = true;
        });
        // Mid-stream there is no think yet (interleaved fails) and a block has no result yet
        // (run-has-result fails), and `stdin` may yet become `stdin_lines`.
        let chunks = [
            "Let me count.\n```python RUN\nx = stdin",
            "_lines\n```\n",
            "<execute_result>\n1\n</execute_result>\n",
            "<think>ok</think> Done.",
        ];
        assert!(stop_at(config, &chunks).is_none());
    }

    #[test]
    fn input_in_a_closed_block_stops() {
        let config = stopping(|c| c.no_input.stop = true);
        let chunks = [
            "Go. <think>run</think>\n```python RUN\nx = input(",
            ")\n```\n",
            "more",
        ];
        let (at, failure) = stop_at(config, &chunks).expect("stops");
        assert_eq!((at, failure.id), (1, RuleId::NoInput));
    }

    #[test]
    fn the_opening_decides_starts_with_answer_and_first_answer_concise() {
        let config = stopping(|c| c.starts_with_answer.stop = true);
        let (at, failure) =
            stop_at(config.clone(), &["\n  ", "<think>hm", "m</think>"]).expect("stops");
        assert_eq!((at, failure.id), (1, RuleId::StartsWithAnswer));
        // An opening answer: decided as a pass, nothing stops later.
        assert!(stop_at(config, &["Yes", ". <think>a</think>", "<think>b</think>"]).is_none());

        let config = stopping(|c| {
            c.first_answer_concise.stop = true;
            c.first_answer_concise.max_words = 3;
        });
        let (at, failure) =
            stop_at(config.clone(), &["One two", " three four", " five"]).expect("stops");
        assert_eq!((at, failure.id), (2, RuleId::FirstAnswerConcise));
        assert!(
            stop_at(
                config,
                &["One two three. ", "<think>a</think> four five six"]
            )
            .is_none()
        );
    }

    #[test]
    fn structural_faults_and_unthought_code_stop() {
        let config = stopping(|c| c.balanced_tags.stop = true);
        let (at, failure) = stop_at(config, &["Hi there", " </think> and"]).expect("stops");
        assert_eq!((at, failure.id), (1, RuleId::BalancedTags));

        let config = stopping(|c| c.think_before_code.stop = true);
        let (at, failure) =
            stop_at(config, &["Look:\n", "```python RUN\nprint(1)"]).expect("stops");
        assert_eq!((at, failure.id), (1, RuleId::ThinkBeforeCode));
    }

    #[test]
    fn a_result_the_model_wrote_stops_only_when_the_context_says_so() {
        let rules = Rules::new(stopping(|c| c.no_model_results.stop = true)).expect("rules");
        let mut parser = StreamParser::new();
        let mut t = Transcript::new(CountMode::Mixed);
        let mut check = StopCheck::new(&rules).expect("watches");
        parser.feed("Ran it.\n<execute_result>\n1\n", &mut t);
        let written_by_moss = |_: &Transcript| RuleContext::Live { model_results: 0 };
        assert!(check.check(&t, written_by_moss).is_none());
        let mut check = StopCheck::new(&rules).expect("watches");
        let failure = check
            .check(&t, |_| RuleContext::Live { model_results: 1 })
            .expect("stops");
        assert_eq!(failure.id, RuleId::NoModelResults);
    }
}
