//! The teacher prompt's rules, judged on a parsed transcript.
//!
//! Every rule has an id, a pass / fail / skip outcome and a message that names the segment it is
//! about (`segment #3`, 1-based). Thresholds and on/off come from the `[rules]` table of the
//! configuration ([`RulesConfig`]); [`Rules`] is that table compiled for repeated use.

use std::fmt::{self, Write as _};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use super::Transcript;
use super::segment::{Segment, SegmentKind};
use super::words::CountMode;

/// The rules, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    StartsWithAnswer,
    FirstAnswerConcise,
    ThinkBudget,
    Interleaved,
    BalancedTags,
    ThinkBeforeCode,
    RunHasResult,
    NoModelResults,
    NoInput,
    NoRefusal,
    /// Not the offline replay's placeholder. Always judged: a placeholder is never data.
    ModelAnswer,
}

impl RuleId {
    pub const ALL: [RuleId; 11] = [
        RuleId::StartsWithAnswer,
        RuleId::FirstAnswerConcise,
        RuleId::ThinkBudget,
        RuleId::Interleaved,
        RuleId::BalancedTags,
        RuleId::ThinkBeforeCode,
        RuleId::RunHasResult,
        RuleId::NoModelResults,
        RuleId::NoInput,
        RuleId::NoRefusal,
        RuleId::ModelAnswer,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartsWithAnswer => "starts-with-answer",
            Self::FirstAnswerConcise => "first-answer-concise",
            Self::ThinkBudget => "think-budget",
            Self::Interleaved => "interleaved",
            Self::BalancedTags => "balanced-tags",
            Self::ThinkBeforeCode => "think-before-code",
            Self::RunHasResult => "run-has-result",
            Self::NoModelResults => "no-model-results",
            Self::NoInput => "no-input",
            Self::NoRefusal => "no-refusal",
            Self::ModelAnswer => "model-answer",
        }
    }
}

impl RuleId {
    /// Whether a failure of this rule, judged on a transcript still streaming, can be final:
    /// `interleaved` and `run-has-result` fail on every unfinished answer (more text, or the
    /// result moss puts after a block, may still satisfy them), so they never stop a run;
    /// `model-answer` is about the offline replay and has no settings. See
    /// [`Rules::decided_failure`] for when the others' failures are final.
    #[must_use]
    pub fn can_stop(self) -> bool {
        !matches!(
            self,
            Self::Interleaved | Self::RunHasResult | Self::ModelAnswer
        )
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| format!("unknown rule `{s}`"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    pub id: RuleId,
    pub outcome: Outcome,
    pub message: String,
    /// The segment the message is about (0-based index; messages print it 1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<usize>,
}

/// Where a transcript comes from: some rules only mean something for a live run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleContext {
    /// A record of an existing dataset: whoever wrote its result tags is unknown.
    Dataset,
    /// A run of the teacher; `model_results` counts result/error blocks the model wrote itself.
    Live { model_results: usize },
}

/// The `[rules]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesConfig {
    pub count_mode: CountMode,
    pub starts_with_answer: Toggle,
    pub first_answer_concise: FirstAnswerConcise,
    pub think_budget: ThinkBudget,
    pub interleaved: Toggle,
    pub balanced_tags: Toggle,
    pub think_before_code: ThinkBeforeCode,
    pub run_has_result: Toggle,
    pub no_model_results: Toggle,
    pub no_input: Toggle,
    pub no_refusal: NoRefusal,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            count_mode: CountMode::Mixed,
            starts_with_answer: Toggle::default(),
            first_answer_concise: FirstAnswerConcise::default(),
            think_budget: ThinkBudget::default(),
            interleaved: Toggle::default(),
            balanced_tags: Toggle::default(),
            think_before_code: ThinkBeforeCode::default(),
            run_has_result: Toggle::default(),
            no_model_results: Toggle::default(),
            no_input: Toggle::default(),
            no_refusal: NoRefusal::default(),
        }
    }
}

impl RulesConfig {
    #[must_use]
    pub fn enabled(&self, id: RuleId) -> bool {
        match id {
            RuleId::StartsWithAnswer => self.starts_with_answer.enabled,
            RuleId::FirstAnswerConcise => self.first_answer_concise.enabled,
            RuleId::ThinkBudget => self.think_budget.enabled,
            RuleId::Interleaved => self.interleaved.enabled,
            RuleId::BalancedTags => self.balanced_tags.enabled,
            RuleId::ThinkBeforeCode => self.think_before_code.enabled,
            RuleId::RunHasResult => self.run_has_result.enabled,
            RuleId::NoModelResults => self.no_model_results.enabled,
            RuleId::NoInput => self.no_input.enabled,
            RuleId::NoRefusal => self.no_refusal.enabled,
            // No setting turns it off: a placeholder must never pass.
            RuleId::ModelAnswer => true,
        }
    }

    /// Whether a live run stops as soon as rule `id` has failed for good (`stop = true`).
    #[must_use]
    pub fn stops(&self, id: RuleId) -> bool {
        let stop = match id {
            RuleId::StartsWithAnswer => self.starts_with_answer.stop,
            RuleId::FirstAnswerConcise => self.first_answer_concise.stop,
            RuleId::ThinkBudget => self.think_budget.stop,
            RuleId::Interleaved => self.interleaved.stop,
            RuleId::BalancedTags => self.balanced_tags.stop,
            RuleId::ThinkBeforeCode => self.think_before_code.stop,
            RuleId::RunHasResult => self.run_has_result.stop,
            RuleId::NoModelResults => self.no_model_results.stop,
            RuleId::NoInput => self.no_input.stop,
            RuleId::NoRefusal => self.no_refusal.stop,
            RuleId::ModelAnswer => false,
        };
        stop && self.enabled(id)
    }
}

/// `stop` is left out of the serialized table while false, so the rules id ([`rules_id`]) of
/// every table written before the key existed stays as it was; `stop = true` changes it, since
/// a stopped run is recorded differently.
///
/// [`rules_id`]: crate::run::rules_id
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
    /// Stop a live run once the rule has failed for good.
    #[serde(skip_serializing_if = "is_false")]
    pub stop: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self {
            enabled: true,
            stop: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FirstAnswerConcise {
    pub enabled: bool,
    pub max_words: usize,
    #[serde(skip_serializing_if = "is_false")]
    pub stop: bool,
}

impl Default for FirstAnswerConcise {
    fn default() -> Self {
        Self {
            enabled: true,
            max_words: 120,
            stop: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ThinkBudget {
    pub enabled: bool,
    /// A think may hold `ratio` × the answer words since the previous think.
    #[serde(deserialize_with = "non_negative")]
    pub ratio: f64,
    /// Whether code blocks and execution output count as answer words for the budget.
    pub count_code: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stop: bool,
}

impl Default for ThinkBudget {
    fn default() -> Self {
        Self {
            enabled: true,
            ratio: 1.0,
            count_code: false,
            stop: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ThinkBeforeCode {
    pub enabled: bool,
    /// Only python RUN blocks need a think before them; plain code blocks do not.
    pub executable_only: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stop: bool,
}

impl Default for ThinkBeforeCode {
    fn default() -> Self {
        Self {
            enabled: true,
            executable_only: false,
            stop: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NoRefusal {
    pub enabled: bool,
    /// Phrases that mark a refusal, matched case-insensitively in answer text; replaces the
    /// defaults when given.
    pub phrases: Vec<String>,
    /// Phrases added to `phrases`.
    pub extra_phrases: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub stop: bool,
}

fn non_negative<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a number of 0 or more, found {value}"
        )))
    }
}

/// Refusal phrases in Chinese and English.
pub const DEFAULT_REFUSAL_PHRASES: &[&str] = &[
    "我无法回答",
    "无法回答",
    "我不能回答",
    "我不能帮",
    "无法提供帮助",
    "作为一个AI",
    "作为一个人工智能",
    "作为AI语言模型",
    "抱歉，我无法",
    "I can't help with",
    "I cannot help with",
    "I can't assist",
    "I cannot assist",
    "I'm unable to",
    "I am unable to",
    "As an AI language model",
    "I won't be able to",
    "I'm sorry, but I can't",
];

impl Default for NoRefusal {
    fn default() -> Self {
        Self {
            enabled: true,
            phrases: DEFAULT_REFUSAL_PHRASES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            extra_phrases: Vec::new(),
            stop: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot compile the refusal phrases: {0}")]
pub struct RulesError(#[from] aho_corasick::BuildError);

/// A [`RulesConfig`] ready to judge many transcripts.
#[derive(Clone, Debug)]
pub struct Rules {
    config: RulesConfig,
    refusal: AhoCorasick,
    phrases: Vec<String>,
    /// The phrase each matcher pattern stands for.
    phrase_of: Vec<usize>,
    /// Bytes of the longest matcher pattern.
    longest_pattern: usize,
}

/// Rules are equal when their settings are (the matcher is compiled from them).
impl PartialEq for Rules {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

impl Rules {
    /// # Errors
    /// When the refusal phrases cannot be compiled into a matcher.
    pub fn new(config: RulesConfig) -> Result<Self, RulesError> {
        let phrases: Vec<String> = config
            .no_refusal
            .phrases
            .iter()
            .chain(&config.no_refusal.extra_phrases)
            .filter(|p| !p.trim().is_empty())
            .cloned()
            .collect();
        // Models often type ’ where the list has ': match both, report the listed phrase.
        let mut patterns = Vec::with_capacity(phrases.len());
        let mut phrase_of = Vec::with_capacity(phrases.len());
        for (i, phrase) in phrases.iter().enumerate() {
            patterns.push(phrase.clone());
            phrase_of.push(i);
            if phrase.contains('\'') {
                patterns.push(phrase.replace('\'', "\u{2019}"));
                phrase_of.push(i);
            }
        }
        let longest_pattern = patterns.iter().map(String::len).max().unwrap_or(0);
        let refusal = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)?;
        Ok(Self {
            config,
            refusal,
            phrases,
            phrase_of,
            longest_pattern,
        })
    }

    #[must_use]
    pub fn config(&self) -> &RulesConfig {
        &self.config
    }

    /// The enabled rules in report order.
    pub fn enabled(&self) -> impl Iterator<Item = RuleId> + '_ {
        RuleId::ALL
            .into_iter()
            .filter(|id| self.config.enabled(*id))
    }

    /// Judges a transcript with every enabled rule, in [`RuleId::ALL`] order.
    #[must_use]
    pub fn evaluate(&self, transcript: &Transcript, context: RuleContext) -> Vec<RuleResult> {
        self.enabled()
            .map(|id| self.judge(id, transcript, context))
            .collect()
    }

    /// Judges `t` with rule `id` (enabled or not).
    #[must_use]
    pub fn judge(&self, id: RuleId, t: &Transcript, context: RuleContext) -> RuleResult {
        let segments = &t.segments;
        let (outcome, message, segment) = match id {
            RuleId::StartsWithAnswer => starts_with_answer(segments),
            RuleId::FirstAnswerConcise => {
                first_answer_concise(segments, self.config.first_answer_concise.max_words)
            }
            RuleId::ThinkBudget => think_budget(segments, &self.config.think_budget),
            RuleId::Interleaved => interleaved(segments),
            RuleId::BalancedTags => balanced_tags(t),
            RuleId::ThinkBeforeCode => {
                think_before_code(segments, self.config.think_before_code.executable_only)
            }
            RuleId::RunHasResult => run_has_result(segments),
            RuleId::NoModelResults => no_model_results(context),
            RuleId::NoInput => no_input(t),
            RuleId::NoRefusal => self.no_refusal(t),
            RuleId::ModelAnswer => model_answer(t),
        };
        RuleResult {
            id,
            outcome,
            message,
            segment,
        }
    }

    /// Rule `id`'s failure on `t`, a transcript still streaming, when no text that may follow
    /// can undo it; `None` when it passes or may still pass.
    ///
    /// Final once failed: `think-budget` (a think's allowance is fixed by the segments before
    /// it and its words only grow, so it fails the moment it holds more, before `</think>`),
    /// `first-answer-concise` (the same for the opening answer), `starts-with-answer` when the
    /// transcript opens with a think, code or a result (an opening answer without words only
    /// once it has ended), `balanced-tags` (mid-stream faults are stray closing tags and nested
    /// thinks; an unclosed tag is only known at the end), `think-before-code` (a block without
    /// a think before it keeps lacking one), `no-model-results` (a result the model wrote
    /// stays written), `no-input` once the offending block has ended (until then `stdin`
    /// may yet become `stdin_lines`), `no-refusal` (a phrase found stays found). Never final:
    /// `interleaved` and `run-has-result` ([`RuleId::can_stop`]).
    #[must_use]
    pub fn decided_failure(
        &self,
        id: RuleId,
        t: &Transcript,
        context: RuleContext,
    ) -> Option<RuleResult> {
        if !id.can_stop() {
            return None;
        }
        let result = self.judge(id, t, context);
        if result.outcome != Outcome::Fail {
            return None;
        }
        let segment = result
            .segment
            .and_then(|i| t.segments.get(i).map(|s| (i, s)));
        let decided = match id {
            RuleId::StartsWithAnswer => {
                segment.is_some_and(|(i, s)| s.kind != SegmentKind::Answer || !t.is_open(i))
            }
            RuleId::NoInput => segment.is_some_and(|(i, _)| !t.is_open(i)),
            _ => true,
        };
        decided.then_some(result)
    }

    /// Whether answer text `text` holds a refusal phrase.
    #[must_use]
    pub fn has_refusal(&self, text: &str) -> bool {
        self.refusal.is_match(text)
    }

    /// Bytes a refusal phrase may reach back from new text into text already searched.
    #[must_use]
    pub fn refusal_reach(&self) -> usize {
        self.longest_pattern.saturating_sub(1)
    }

    fn no_refusal(&self, t: &Transcript) -> Verdict {
        for (i, (s, text)) in t.iter().enumerate() {
            if s.kind != SegmentKind::Answer {
                continue;
            }
            if let Some(m) = self.refusal.find(text) {
                let phrase = self
                    .phrase_of
                    .get(m.pattern().as_usize())
                    .and_then(|&i| self.phrases.get(i))
                    .map_or("", String::as_str);
                return fail(format!("refusal “{phrase}” in segment #{}", i + 1), i);
            }
        }
        pass("no refusal phrase in the answer")
    }
}

/// How the offline replay teacher's placeholder answers begin (English and Chinese). No model
/// answer opens with them; [`is_placeholder`] and the `model-answer` rule look for them.
pub const PLACEHOLDER_MARKERS: [&str; 2] = ["[Offline replay]", "【离线回放】"];

/// Whether `text` is (or was edited from) the replay teacher's placeholder.
#[must_use]
pub fn is_placeholder(text: &str) -> bool {
    let text = text.trim_start();
    PLACEHOLDER_MARKERS.iter().any(|m| text.starts_with(m))
}

fn model_answer(t: &Transcript) -> Verdict {
    if let Some((i, s)) = first_visible(&t.segments)
        && s.kind == SegmentKind::Answer
        && is_placeholder(t.text(s))
    {
        return fail(
            "the offline replay's placeholder, not a model's answer: never data".to_owned(),
            i,
        );
    }
    pass("a teacher's answer, not a placeholder")
}

/// Judges with the default rules; convenient for one-off checks and tests.
#[must_use]
pub fn evaluate(transcript: &Transcript, context: RuleContext) -> Vec<RuleResult> {
    DEFAULT_RULES.with(|rules| rules.evaluate(transcript, context))
}

thread_local! {
    static DEFAULT_RULES: Rules = Rules::new(RulesConfig::default())
        .unwrap_or_else(|e| unreachable!("default refusal phrases compile: {e}"));
}

type Verdict = (Outcome, String, Option<usize>);

fn pass(message: impl Into<String>) -> Verdict {
    (Outcome::Pass, message.into(), None)
}

fn fail(message: String, segment: usize) -> Verdict {
    (Outcome::Fail, message, Some(segment))
}

fn skip(message: impl Into<String>) -> Verdict {
    (Outcome::Skip, message.into(), None)
}

/// `1 think`, `3 thinks`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn first_visible(segments: &[Segment]) -> Option<(usize, &Segment)> {
    segments.iter().enumerate().find(|(_, s)| s.is_visible())
}

fn starts_with_answer(segments: &[Segment]) -> Verdict {
    match first_visible(segments) {
        None => (Outcome::Fail, "the transcript is empty".into(), None),
        Some((i, s)) if s.kind != SegmentKind::Answer => fail(
            format!(
                "the transcript opens with a {} (segment #{})",
                s.kind,
                i + 1
            ),
            i,
        ),
        Some((i, s)) if s.words == 0 => fail(
            format!("the opening answer has no words (segment #{})", i + 1),
            i,
        ),
        Some((i, s)) => (
            Outcome::Pass,
            format!("opens with an answer of {} words", s.words),
            Some(i),
        ),
    }
}

fn first_answer_concise(segments: &[Segment], max_words: usize) -> Verdict {
    match first_visible(segments) {
        Some((i, s)) if s.kind == SegmentKind::Answer => {
            if s.words <= max_words {
                (
                    Outcome::Pass,
                    format!("first answer has {} words, limit {max_words}", s.words),
                    Some(i),
                )
            } else {
                fail(
                    format!(
                        "first answer has {} words, limit {max_words} (segment #{})",
                        s.words,
                        i + 1
                    ),
                    i,
                )
            }
        }
        _ => skip("no opening answer"),
    }
}

/// Each think may hold no more words than the answer since the previous think.
fn think_budget(segments: &[Segment], rule: &ThinkBudget) -> Verdict {
    let mut tally = AllowanceTally::new(rule);
    let mut thinks = 0usize;
    let mut first_failure: Option<(usize, usize, usize, usize)> = None;
    let mut failures = 0usize;
    for (i, s) in segments.iter().enumerate() {
        if let Some(budget) = tally.fold(s.kind, s.words) {
            thinks += 1;
            if s.words > budget {
                failures += 1;
                first_failure.get_or_insert((thinks, s.words, budget, i));
            }
        }
    }
    match first_failure {
        _ if thinks == 0 => skip("no think"),
        None => pass(format!("{} within budget", count(thinks, "think"))),
        Some((n, words, budget, i)) => {
            let mut message = format!(
                "think #{n} has {words} words, budget {budget} (segment #{})",
                i + 1
            );
            if failures > 1 {
                let _ = write!(message, "; {} more over budget", failures - 1);
            }
            fail(message, i)
        }
    }
}

/// The `think-budget` rule's running account: fed a transcript's segments in order, it knows
/// what each think may hold. The rule and the live view both judge with it, so a think's badge
/// and the rule's verdict cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AllowanceTally {
    ratio: f64,
    count_code: bool,
    /// Words that count toward the next think since the previous one (or the start).
    since: usize,
}

impl AllowanceTally {
    #[must_use]
    pub fn new(rule: &ThinkBudget) -> Self {
        Self {
            ratio: rule.ratio,
            count_code: rule.count_code,
            since: 0,
        }
    }

    /// The words a think starting now may hold.
    #[must_use]
    pub fn allowance(&self) -> usize {
        think_allowance(self.since, self.ratio)
    }

    /// Accounts for one segment with its final word count; for a think, returns what it was
    /// allowed and starts a new account.
    pub fn fold(&mut self, kind: SegmentKind, words: usize) -> Option<usize> {
        match kind {
            SegmentKind::Answer => self.since += words,
            SegmentKind::Code | SegmentKind::ExecResult | SegmentKind::ExecError => {
                if self.count_code {
                    self.since += words;
                }
            }
            SegmentKind::Think => {
                let allowed = self.allowance();
                self.since = 0;
                return Some(allowed);
            }
        }
        None
    }
}

/// The words a think may hold after `answer_words` words of answer.
#[must_use]
pub fn think_allowance(answer_words: usize, ratio: f64) -> usize {
    if (ratio - 1.0).abs() < f64::EPSILON {
        return answer_words;
    }
    // Word counts stay far below 2^52, so the float round trip is exact enough.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let allowance = (answer_words as f64 * ratio.max(0.0)).floor() as usize;
    allowance
}

fn interleaved(segments: &[Segment]) -> Verdict {
    let Some(first_think) = segments.iter().position(|s| s.kind == SegmentKind::Think) else {
        return (Outcome::Fail, "no think segment".into(), None);
    };
    let after: usize = segments[first_think + 1..]
        .iter()
        .filter(|s| s.kind == SegmentKind::Answer)
        .map(|s| s.words)
        .sum();
    let thinks = segments
        .iter()
        .filter(|s| s.kind == SegmentKind::Think)
        .count();
    if after == 0 {
        fail(
            format!(
                "no answer after the first think (segment #{})",
                first_think + 1
            ),
            first_think,
        )
    } else {
        pass(format!(
            "{}, {after} answer words after the first",
            count(thinks, "think")
        ))
    }
}

fn balanced_tags(t: &Transcript) -> Verdict {
    match t.anomalies.first() {
        None => pass("every tag and fence is closed"),
        Some(first) => {
            let mut message = first.to_string();
            if t.anomalies.len() > 1 {
                let _ = write!(message, "; {} more", t.anomalies.len() - 1);
            }
            (Outcome::Fail, message, first.segment)
        }
    }
}

fn think_before_code(segments: &[Segment], executable_only: bool) -> Verdict {
    let mut thought = false;
    let mut blocks = 0usize;
    for (i, s) in segments.iter().enumerate() {
        match s.kind {
            SegmentKind::Think => thought = true,
            SegmentKind::Code if !executable_only || s.is_executable() => {
                blocks += 1;
                if !thought {
                    return fail(
                        format!(
                            "code block #{blocks} (segment #{}) has no think before it",
                            i + 1
                        ),
                        i,
                    );
                }
                thought = false;
            }
            _ => {}
        }
    }
    if blocks == 0 {
        skip("no code block")
    } else {
        pass(format!(
            "a think precedes each of {}",
            count(blocks, "code block")
        ))
    }
}

fn executable_blocks(segments: &[Segment]) -> impl Iterator<Item = (usize, &Segment)> {
    segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_executable())
}

fn run_has_result(segments: &[Segment]) -> Verdict {
    let mut blocks = 0usize;
    for (i, _) in executable_blocks(segments) {
        blocks += 1;
        let next = segments[i + 1..].iter().find(|s| !s.is_blank_answer());
        if !next.is_some_and(|s| s.kind.is_exec_output()) {
            return fail(
                format!(
                    "python RUN block #{blocks} (segment #{}) has no execution result after it",
                    i + 1
                ),
                i,
            );
        }
    }
    if blocks == 0 {
        skip("no python RUN block")
    } else {
        pass(format!(
            "{}, each with its result",
            count(blocks, "python RUN block")
        ))
    }
}

fn no_model_results(context: RuleContext) -> Verdict {
    match context {
        RuleContext::Dataset => skip("only judged on live runs"),
        RuleContext::Live { model_results: 0 } => pass("the model wrote no result block itself"),
        RuleContext::Live { model_results } => (
            Outcome::Fail,
            format!(
                "the model wrote {} itself",
                count(model_results, "result block")
            ),
            None,
        ),
    }
}

fn no_input(t: &Transcript) -> Verdict {
    let mut blocks = 0usize;
    for (i, s) in executable_blocks(&t.segments) {
        blocks += 1;
        if let Some(pattern) = reads_input(t.text(s)) {
            return fail(
                format!(
                    "python RUN block #{blocks} (segment #{}) reads input: `{pattern}`",
                    i + 1
                ),
                i,
            );
        }
    }
    if blocks == 0 {
        skip("no python RUN block")
    } else {
        pass("no python RUN block reads input")
    }
}

/// The first way Python code reads input, ignoring `#` comments: a call of `input` or
/// `raw_input` (not a method such as `obj.input(`), or any use of `stdin` or `getpass`
/// (`sys.stdin`, `from sys import stdin`, `import getpass`).
fn reads_input(code: &str) -> Option<&'static str> {
    code.lines().find_map(|line| {
        let code = strip_comment(line);
        identifiers(code).find_map(|(at, word)| match word {
            "input" | "raw_input" => {
                let called = code[at + word.len()..].trim_start().starts_with('(');
                let method = code[..at].trim_end().ends_with('.');
                (called && !method).then_some(if word == "input" {
                    "input("
                } else {
                    "raw_input("
                })
            }
            "stdin" => Some("stdin"),
            "getpass" => Some("getpass"),
            _ => None,
        })
    })
}

/// Python identifiers in `code` with their byte offsets.
fn identifiers(code: &str) -> impl Iterator<Item = (usize, &str)> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut start: Option<usize> = None;
    code.char_indices()
        .chain([(code.len(), ' ')])
        .filter_map(move |(i, c)| match (start, is_ident(c)) {
            (None, true) => {
                start = Some(i);
                None
            }
            (Some(s), false) => {
                start = None;
                Some((s, &code[s..i]))
            }
            _ => None,
        })
}

/// The line up to a `#` that is not inside a string literal.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '#' => return &line[..i],
                '"' | '\'' => quote = Some(c),
                _ => {}
            },
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(text: &str) -> Vec<(RuleId, Outcome)> {
        evaluate(
            &Transcript::parse(text, CountMode::Mixed),
            RuleContext::Dataset,
        )
        .into_iter()
        .map(|r| (r.id, r.outcome))
        .collect()
    }

    fn outcome_with(config: RulesConfig, text: &str, id: RuleId) -> RuleResult {
        Rules::new(config)
            .expect("rules compile")
            .evaluate(
                &Transcript::parse(text, CountMode::Mixed),
                RuleContext::Dataset,
            )
            .into_iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} not judged"))
    }

    fn outcome(text: &str, id: RuleId) -> RuleResult {
        outcome_with(RulesConfig::default(), text, id)
    }

    #[test]
    fn compliant_transcript_passes_everything_that_applies() {
        let text = "1+1等于2。\n<think>在测试？</think>\n还有别的问题吗？";
        let results = judge(text);
        for (id, outcome) in results {
            let expected = match id {
                RuleId::ThinkBeforeCode
                | RuleId::RunHasResult
                | RuleId::NoInput
                | RuleId::NoModelResults => Outcome::Skip,
                _ => Outcome::Pass,
            };
            assert_eq!(outcome, expected, "{id}");
        }
    }

    #[test]
    fn allowance_tally_counts_answers_and_code_only_when_asked() {
        let half = ThinkBudget {
            ratio: 0.5,
            ..ThinkBudget::default()
        };
        let mut tally = AllowanceTally::new(&half);
        assert_eq!(tally.fold(SegmentKind::Answer, 7), None);
        assert_eq!(tally.fold(SegmentKind::Code, 100), None);
        assert_eq!(tally.allowance(), 3);
        assert_eq!(tally.fold(SegmentKind::Think, 9), Some(3));
        assert_eq!(tally.allowance(), 0, "each think starts a new account");

        let with_code = ThinkBudget {
            count_code: true,
            ..ThinkBudget::default()
        };
        let mut tally = AllowanceTally::new(&with_code);
        tally.fold(SegmentKind::Answer, 2);
        tally.fold(SegmentKind::ExecResult, 4);
        assert_eq!(tally.fold(SegmentKind::Think, 0), Some(6));
    }

    #[test]
    fn think_budget_names_the_think_and_its_budget() {
        let text = "One two three. <think>a b</think> four five <think>x y z w v u</think> six";
        let r = outcome(text, RuleId::ThinkBudget);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "think #2 has 6 words, budget 2 (segment #4)");
        assert_eq!(r.segment, Some(3));
    }

    #[test]
    fn think_budget_excludes_code_and_results_unless_asked() {
        let text = "Run it.\n<think>run</think>\n```python RUN\nprint(1, 2, 3, 4)\n```\n<execute_result>\n1 2 3 4\n</execute_result>\n<think>ok then</think>\nDone.";
        let r = outcome(text, RuleId::ThinkBudget);
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
        let mut config = RulesConfig::default();
        config.think_budget.count_code = true;
        let r = outcome_with(config, text, RuleId::ThinkBudget);
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    }

    #[test]
    fn thresholds_come_from_the_config() {
        let text = "One two three four. <think>a b c</think> Done.";
        assert_eq!(outcome(text, RuleId::ThinkBudget).outcome, Outcome::Pass);
        let mut config = RulesConfig::default();
        config.think_budget.ratio = 0.5;
        let r = outcome_with(config, text, RuleId::ThinkBudget);
        assert_eq!(r.message, "think #1 has 3 words, budget 2 (segment #2)");

        assert_eq!(
            outcome(text, RuleId::FirstAnswerConcise).outcome,
            Outcome::Pass
        );
        let mut config = RulesConfig::default();
        config.first_answer_concise.max_words = 4;
        let r = outcome_with(config, text, RuleId::FirstAnswerConcise);
        assert_eq!(r.outcome, Outcome::Pass, "the limit itself is allowed");
        let mut config = RulesConfig::default();
        config.first_answer_concise.max_words = 3;
        let r = outcome_with(config, text, RuleId::FirstAnswerConcise);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "first answer has 4 words, limit 3 (segment #1)");
    }

    #[test]
    fn opening_with_a_think_fails_and_skips_conciseness() {
        let text = "<think>hmm</think>Answer.";
        assert_eq!(
            outcome(text, RuleId::StartsWithAnswer).outcome,
            Outcome::Fail
        );
        assert_eq!(
            outcome(text, RuleId::FirstAnswerConcise).outcome,
            Outcome::Skip
        );
        assert_eq!(
            outcome("  \n", RuleId::StartsWithAnswer).outcome,
            Outcome::Fail
        );
        assert_eq!(
            outcome("……", RuleId::StartsWithAnswer).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn run_blocks_need_results_and_no_input() {
        let ok = "Sure.\n<think>compute</think>\n```python RUN\nprint(2**10)\n```\n\n<execute_result>\n1024\n</execute_result>\nIt is 1024.";
        assert_eq!(outcome(ok, RuleId::RunHasResult).outcome, Outcome::Pass);
        assert_eq!(outcome(ok, RuleId::NoInput).outcome, Outcome::Pass);
        let missing = "Sure.\n<think>x</think>\n```python RUN\nx = input('n? ')  # ask\n```\nDone.";
        let r = outcome(missing, RuleId::RunHasResult);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.segment, Some(3));
        assert_eq!(outcome(missing, RuleId::NoInput).outcome, Outcome::Fail);
        let plain = "See:\n```python\nname = input()\n```\n";
        assert_eq!(outcome(plain, RuleId::NoInput).outcome, Outcome::Skip);
    }

    #[test]
    fn input_detection_finds_calls_and_stdin_but_not_comments_or_lookalikes() {
        assert_eq!(reads_input("x = input()"), Some("input("));
        assert_eq!(reads_input("x = input ('a')"), Some("input("));
        assert_eq!(reads_input("name = raw_input()"), Some("raw_input("));
        assert_eq!(reads_input("data = sys.stdin.read()"), Some("stdin"));
        assert_eq!(reads_input("from sys import stdin"), Some("stdin"));
        assert_eq!(reads_input("import getpass"), Some("getpass"));
        assert_eq!(reads_input("# never call input() here\nprint(1)"), None);
        assert_eq!(reads_input("print(1)  # input()"), None);
        // A `#` inside a string is no comment, so what follows it still counts.
        assert_eq!(reads_input("s = '#'; input()"), Some("input("));
        assert_eq!(
            reads_input("my_input(3); obj.input(2); user_input = 1"),
            None
        );
        assert_eq!(reads_input("stdin_lines = 3"), None);
    }

    #[test]
    fn think_before_code_counts_plain_blocks_unless_configured() {
        let text = "Look:\n```bash\nls\n```\n<think>now run</think>\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\n";
        assert_eq!(
            outcome(text, RuleId::ThinkBeforeCode).outcome,
            Outcome::Fail
        );
        let mut config = RulesConfig::default();
        config.think_before_code.executable_only = true;
        let r = outcome_with(config, text, RuleId::ThinkBeforeCode);
        assert_eq!(r.outcome, Outcome::Pass);
    }

    #[test]
    fn each_code_block_needs_its_own_think() {
        let one_think = "Go.\n<think>run both</think>\n```python RUN\nprint(1)\n```\n<execute_result>\n1\n</execute_result>\nAgain:\n```python RUN\nprint(2)\n```\n<execute_result>\n2\n</execute_result>\n";
        let r = outcome(one_think, RuleId::ThinkBeforeCode);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.message.starts_with("code block #2 "), "{}", r.message);
        let two = one_think.replace("Again:\n", "Again:\n<think>once more</think>\n");
        assert_eq!(
            outcome(&two, RuleId::ThinkBeforeCode).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn refusals_are_found_case_insensitively_in_answers_only() {
        let r = outcome("抱歉，我无法回答这个问题。", RuleId::NoRefusal);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.message.contains("抱歉，我无法"), "{}", r.message);
        assert_eq!(
            outcome("Sorry, i CAN'T HELP WITH that.", RuleId::NoRefusal).outcome,
            Outcome::Fail
        );
        let r = outcome("Sorry, I can\u{2019}t help with that.", RuleId::NoRefusal);
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.message.contains("I can't help with"), "{}", r.message);
        assert_eq!(
            outcome("Sure.<think>不要说无法回答</think>Here.", RuleId::NoRefusal).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn balanced_tags_reports_the_first_fault() {
        let r = outcome("Hi </think> there <think>open", RuleId::BalancedTags);
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "stray </think> at byte 3 (segment #1); 1 more");
        assert_eq!(
            outcome("a\n```py\ncode", RuleId::BalancedTags).message,
            "code fence opened at byte 2 is never closed (segment #2)"
        );
    }

    #[test]
    fn interleaving_needs_answer_after_the_first_think() {
        assert_eq!(
            outcome("Only answer.", RuleId::Interleaved).outcome,
            Outcome::Fail
        );
        assert_eq!(
            outcome("Answer.<think>t</think>  ", RuleId::Interleaved).outcome,
            Outcome::Fail
        );
        assert_eq!(
            outcome("Answer.<think>t</think>More.", RuleId::Interleaved).outcome,
            Outcome::Pass
        );
    }

    /// The transcript `text` as it stands mid-stream (nothing finished).
    fn streaming(text: &str) -> Transcript {
        let mut t = Transcript::new(CountMode::Mixed);
        crate::transcript::StreamParser::new().feed(text, &mut t);
        t
    }

    #[test]
    fn only_failures_no_later_text_can_undo_are_decided_mid_stream() {
        let rules = Rules::new(RulesConfig::default()).expect("rules");
        let live = RuleContext::Live { model_results: 0 };
        let decided = |text: &str, id| rules.decided_failure(id, &streaming(text), live);
        // Failing now, and final: the open think already holds more than its allowance.
        let over = decided("One two. <think>a b c d ", RuleId::ThinkBudget).expect("final");
        assert_eq!(over.message, "think #1 has 4 words, budget 2 (segment #2)");
        assert!(decided("One two. <think>a b ", RuleId::ThinkBudget).is_none());
        assert!(decided("Sure, but I can't help with", RuleId::NoRefusal).is_some());
        // Failing now, but more text may still pass them.
        let unfinished = "Answer first. <think>then a think</think>";
        let judged = rules.judge(RuleId::Interleaved, &streaming(unfinished), live);
        assert_eq!(judged.outcome, Outcome::Fail);
        assert!(decided(unfinished, RuleId::Interleaved).is_none());
        let block = "Run:\n<think>go</think>\n```python RUN\nprint(1)\n```\n";
        assert!(decided(block, RuleId::RunHasResult).is_none());
        assert!(decided("x = 1\n```python RUN\ny = stdin", RuleId::NoInput).is_none());
        assert!(
            decided("  ", RuleId::StartsWithAnswer).is_none(),
            "nothing yet"
        );
        assert!(decided("<think>first", RuleId::StartsWithAnswer).is_some());
        assert!(!RuleId::ModelAnswer.can_stop());
    }

    #[test]
    fn model_results_only_judged_live() {
        let t = Transcript::parse("x", CountMode::Mixed);
        let find = |ctx| {
            evaluate(&t, ctx)
                .into_iter()
                .find(|r| r.id == RuleId::NoModelResults)
                .map(|r| r.outcome)
        };
        assert_eq!(find(RuleContext::Dataset), Some(Outcome::Skip));
        assert_eq!(
            find(RuleContext::Live { model_results: 0 }),
            Some(Outcome::Pass)
        );
        assert_eq!(
            find(RuleContext::Live { model_results: 2 }),
            Some(Outcome::Fail)
        );
    }

    #[test]
    fn disabled_rules_are_not_reported() {
        let mut config = RulesConfig::default();
        config.no_refusal.enabled = false;
        config.interleaved.enabled = false;
        let rules = Rules::new(config).expect("rules");
        let ids: Vec<_> = rules
            .evaluate(
                &Transcript::parse("x", CountMode::Mixed),
                RuleContext::Dataset,
            )
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert!(!ids.contains(&RuleId::NoRefusal) && !ids.contains(&RuleId::Interleaved));
        assert_eq!(ids.len(), RuleId::ALL.len() - 2);
    }

    #[test]
    fn config_reads_kebab_case_toml_and_rejects_unknown_keys() {
        let config: RulesConfig = toml::from_str(
            "count-mode = \"chars\"\n[first-answer-concise]\nmax-words = 80\n[no-refusal]\nextra-phrases = [\"no way\"]\n[think-before-code]\nexecutable-only = true\n",
        )
        .expect("valid");
        assert_eq!(config.count_mode, CountMode::Chars);
        assert_eq!(config.first_answer_concise.max_words, 80);
        assert!(config.first_answer_concise.enabled);
        assert!(config.think_before_code.enabled && config.think_before_code.executable_only);
        assert!(config.no_refusal.phrases.len() > 5);
        assert!(toml::from_str::<RulesConfig>("[think-budget]\nratoi = 2.0\n").is_err());
    }
}
