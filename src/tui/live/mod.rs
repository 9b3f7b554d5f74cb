//! The live view of one run's transcript: parsed as it streams, wrapped once per segment (only
//! the growing tail is re-wrapped), drawn only where visible.
//!
//! Costs, for a transcript of `n` bytes in `s` segments: a pushed chunk costs its own bytes (the
//! parser never rescans, the think badges read the parser's running word count); a frame costs
//! the text that arrived since the last one plus its visible rows and a binary search over `s`;
//! the rules are re-judged on the whole transcript only while it is small or after it has grown
//! by a quarter, so judging stays linear in `n` overall. A new width re-wraps everything once.

mod draw;
mod frame;
mod layout;
mod wrap;

use std::sync::Arc;

use self::layout::{Anchor, Layout};
use self::wrap::Wrap;
use crate::run::Run;
use crate::transcript::rules::AllowanceTally;
use crate::transcript::{
    Anomaly, CountMode, Fence, RuleContext, RuleResult, Rules, SegmentKind, SegmentSink,
    StreamParser, Transcript, WordCounter,
};

/// Below this size the rules are re-judged whenever the text changed.
const SMALL_TRANSCRIPT: usize = 64 * 1024;

/// A think's budget right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThinkBudget {
    /// Index of the think segment in the transcript.
    pub segment: usize,
    /// Its words so far.
    pub used: usize,
    /// The words it may hold.
    pub allowed: usize,
    /// Whether the think is still being written.
    pub open: bool,
}

impl ThinkBudget {
    #[must_use]
    pub fn exceeded(&self) -> bool {
        self.used > self.allowed
    }
}

/// What the think budgets are worked out from: the `think-budget` rule's own account.
#[derive(Clone, Debug)]
struct Budgets {
    tally: AllowanceTally,
    /// Segments accounted for: every one that has ended.
    folded: usize,
    /// Each think seen so far, with what it may hold.
    thinks: Vec<(usize, usize)>,
}

impl Budgets {
    fn new(rules: &Rules) -> Self {
        Self {
            tally: AllowanceTally::new(&rules.config().think_budget),
            folded: 0,
            thinks: Vec::new(),
        }
    }

    /// Accounts for segments that started or ended since the last call.
    fn catch_up(&mut self, transcript: &Transcript, open: bool) {
        let segments = &transcript.segments;
        while let Some(segment) = segments.get(self.folded) {
            let i = self.folded;
            if segment.kind == SegmentKind::Think && self.thinks.last().is_none_or(|t| t.0 < i) {
                // Everything before the think has ended, so its allowance is known now.
                self.thinks.push((i, self.tally.allowance()));
            }
            if open && i + 1 == segments.len() {
                return;
            }
            self.tally.fold(segment.kind, segment.words);
            self.folded += 1;
        }
    }

    fn allowed(&self, segment: usize) -> Option<usize> {
        let i = self.thinks.partition_point(|t| t.0 < segment);
        self.thinks.get(i).filter(|t| t.0 == segment).map(|t| t.1)
    }
}

/// The rule verdicts shown, and when they were judged.
#[derive(Clone, Debug, Default)]
struct Verdicts {
    results: Vec<RuleResult>,
    /// The run's own verdicts, given when the stream ended.
    from_run: bool,
    /// Text length and ended segments at the last judgement.
    judged: Option<(usize, usize)>,
}

/// The scroll position.
#[derive(Clone, Copy, Debug)]
struct Scroll {
    /// First visible row: as drawn last, or as asked for since.
    offset: usize,
    follow: bool,
    /// The largest offset at the last render.
    max: usize,
    /// The top row at the last render, to find again after a width change.
    anchor: Option<Anchor>,
}

/// Hidden reasoning: one line until expanded.
#[derive(Clone, Debug)]
struct Reasoning {
    text: String,
    words: WordCounter,
    expanded: bool,
    /// Wrapped for the layout's width.
    wrap: Option<Wrap>,
}

/// Passes parser output on to the transcript, noting whether the last segment is still open.
struct Tracked<'a> {
    transcript: &'a mut Transcript,
    open: &'a mut bool,
    /// Where the parser's turn began: its segment indices and byte offsets start there.
    base: (usize, usize),
}

impl SegmentSink for Tracked<'_> {
    fn started(&mut self, index: usize, kind: SegmentKind, fence: Option<Fence>, offset: usize) {
        *self.open = true;
        self.transcript
            .started(index + self.base.0, kind, fence, offset + self.base.1);
    }

    fn text(&mut self, index: usize, text: &str) {
        SegmentSink::text(&mut *self.transcript, index + self.base.0, text);
    }

    fn ended(&mut self, index: usize, offset: usize, closed: bool) {
        *self.open = false;
        self.transcript
            .ended(index + self.base.0, offset + self.base.1, closed);
    }

    fn anomaly(&mut self, anomaly: Anomaly) {
        self.transcript.anomaly(anomaly);
    }
}

/// Where a later turn of an interrupted run begins, and what the user said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnStart {
    /// Its first segment.
    pub segment: usize,
    /// Bytes of the text before it.
    pub offset: usize,
    /// The user's interjection.
    pub text: String,
}

/// One run's transcript on screen.
#[derive(Debug)]
pub struct LiveView {
    rules: Arc<Rules>,
    transcript: Transcript,
    parser: StreamParser,
    /// The later turns of an interrupted run: each is parsed on its own.
    turns: Vec<TurnStart>,
    /// The text as received, tags and fences included.
    raw: String,
    streaming: bool,
    /// Whether the last segment may still grow.
    open: bool,
    budgets: Budgets,
    verdicts: Verdicts,
    reasoning: Reasoning,
    layout: Layout,
    scroll: Scroll,
}

impl LiveView {
    /// An empty view for a run about to stream.
    #[must_use]
    pub fn new(rules: Arc<Rules>) -> Self {
        let mode = rules.config().count_mode;
        Self {
            transcript: Transcript::new(mode),
            parser: StreamParser::new(),
            turns: Vec::new(),
            raw: String::new(),
            streaming: true,
            open: false,
            budgets: Budgets::new(&rules),
            verdicts: Verdicts::default(),
            reasoning: Reasoning {
                text: String::new(),
                words: WordCounter::new(mode),
                expanded: false,
                wrap: None,
            },
            layout: Layout::default(),
            scroll: Scroll {
                offset: 0,
                follow: true,
                max: 0,
                anchor: None,
            },
            rules,
        }
    }

    /// A finished text (a stored run, or an edited transcript) with its rule results.
    #[must_use]
    pub fn finished(
        text: &str,
        reasoning: Option<&str>,
        rules: Vec<RuleResult>,
        config: Arc<Rules>,
    ) -> Self {
        let mut view = Self::new(config);
        if let Some(reasoning) = reasoning {
            view.push_reasoning(reasoning);
        }
        view.push(text);
        view.finish(rules);
        view
    }

    /// A stored run, its turns apart when it was interrupted.
    #[must_use]
    pub fn of_run(run: &Run, rules: Arc<Rules>) -> Self {
        if run.interruptions.is_empty() {
            return Self::finished(
                &run.transcript,
                run.reasoning.as_deref(),
                run.rules.clone(),
                rules,
            );
        }
        let mut view = Self::new(rules);
        if let Some(reasoning) = run.reasoning.as_deref() {
            view.push_reasoning(reasoning);
        }
        let mut from = 0;
        for cut in &run.interruptions {
            // Offsets that do not fit the text (edited by hand) are passed over.
            if cut.at < from || !run.transcript.is_char_boundary(cut.at) {
                continue;
            }
            view.push(&run.transcript[from..cut.at]);
            view.interrupt(&cut.text);
            from = cut.at;
        }
        view.push(&run.transcript[from..]);
        view.finish(run.rules.clone());
        view
    }

    /// Where the current turn's parse begins: (segments, bytes) before it.
    fn base(&self) -> (usize, usize) {
        self.turns.last().map_or((0, 0), |t| (t.segment, t.offset))
    }

    /// The user broke in: the turn so far ends here, cut (what is open stays unclosed), and
    /// the text after this is the next turn, below `interjection`.
    pub fn interrupt(&mut self, interjection: &str) {
        self.interrupt_at(interjection, self.raw.len());
        self.budgets.catch_up(&self.transcript, self.open);
    }

    /// [`LiveView::interrupt`] with the cut at `offset` (a rewrite laying the turns out again).
    fn interrupt_at(&mut self, interjection: &str, offset: usize) {
        let base = self.base();
        self.parser.finish_into(&mut Tracked {
            transcript: &mut self.transcript,
            open: &mut self.open,
            base,
        });
        self.parser.reset();
        self.turns.push(TurnStart {
            segment: self.transcript.segments.len(),
            offset,
            text: interjection.to_owned(),
        });
    }

    /// The later turns of an interrupted run.
    #[must_use]
    pub fn turns(&self) -> &[TurnStart] {
        &self.turns
    }

    /// Appends streamed text (the teacher's, or a system execution result).
    pub fn push(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if !self.streaming {
            // The stream goes on after all: its verdicts are not final any more.
            let mut raw = std::mem::take(&mut self.raw);
            raw.push_str(text);
            self.streaming = true;
            self.verdicts = Verdicts::default();
            self.rewrite(&raw);
            return;
        }
        self.raw.push_str(text);
        let base = self.base();
        self.parser.feed(
            text,
            &mut Tracked {
                transcript: &mut self.transcript,
                open: &mut self.open,
                base,
            },
        );
        self.budgets.catch_up(&self.transcript, self.open);
    }

    /// Replaces the whole text (results put in place after the stream).
    pub fn rewrite(&mut self, text: &str) {
        self.raw.clear();
        self.raw.push_str(text);
        self.parser.reset();
        self.transcript.clear();
        self.open = false;
        self.budgets = Budgets::new(&self.rules);
        self.verdicts.judged = None;
        self.layout.clear();
        self.scroll.anchor = None;
        // A rewrite replaces the whole text: the turns are laid out again over it.
        let turns = std::mem::take(&mut self.turns);
        let mut from = 0;
        for turn in turns {
            if turn.offset < from || turn.offset > text.len() || !text.is_char_boundary(turn.offset)
            {
                continue;
            }
            let base = self.base();
            self.parser.feed(
                &text[from..turn.offset],
                &mut Tracked {
                    transcript: &mut self.transcript,
                    open: &mut self.open,
                    base,
                },
            );
            from = turn.offset;
            self.interrupt_at(&turn.text, turn.offset);
        }
        let mut sink = Tracked {
            transcript: &mut self.transcript,
            open: &mut self.open,
            base: self.turns.last().map_or((0, 0), |t| (t.segment, t.offset)),
        };
        self.parser.feed(&text[from..], &mut sink);
        if !self.streaming {
            self.parser.finish_into(&mut sink);
        }
        self.budgets.catch_up(&self.transcript, self.open);
    }

    /// Appends hidden reasoning.
    pub fn push_reasoning(&mut self, text: &str) {
        self.reasoning.text.push_str(text);
        self.reasoning.words.push(text);
    }

    /// The stream ended; `rules` are the run's final verdicts.
    pub fn finish(&mut self, rules: Vec<RuleResult>) {
        if self.streaming {
            let base = self.base();
            self.parser.finish_into(&mut Tracked {
                transcript: &mut self.transcript,
                open: &mut self.open,
                base,
            });
            self.streaming = false;
            self.budgets.catch_up(&self.transcript, self.open);
        }
        self.verdicts = Verdicts {
            results: rules,
            from_run: true,
            judged: Some((self.raw.len(), self.budgets.folded)),
        };
    }

    #[must_use]
    pub fn text(&self) -> &str {
        &self.raw
    }

    #[must_use]
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    #[must_use]
    pub fn count_mode(&self) -> CountMode {
        self.transcript.count_mode()
    }

    /// Whether the stream is still open.
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Every think's budget, in order (the open one counting live).
    #[must_use]
    pub fn budgets(&self) -> Vec<ThinkBudget> {
        self.budgets
            .thinks
            .iter()
            .map(|&(segment, allowed)| self.budget(segment, allowed))
            .collect()
    }

    /// The latest think's budget, without building the list: what a status line shows.
    #[must_use]
    pub fn last_budget(&self) -> Option<ThinkBudget> {
        let &(segment, allowed) = self.budgets.thinks.last()?;
        Some(self.budget(segment, allowed))
    }

    fn budget(&self, segment: usize, allowed: usize) -> ThinkBudget {
        ThinkBudget {
            segment,
            used: self.transcript.live_words(segment),
            allowed,
            open: self.open && segment + 1 == self.transcript.segments.len(),
        }
    }

    /// Every enabled rule's verdict: final once finished, re-judged while streaming (amortized:
    /// a 4 MB stream is not re-judged per chunk).
    pub fn rules(&mut self) -> &[RuleResult] {
        let len = self.raw.len();
        let ended = self.budgets.folded;
        let due = match self.verdicts.judged {
            _ if self.verdicts.from_run => false,
            None => true,
            Some((judged, _)) if judged == len => false,
            Some(_) if len < SMALL_TRANSCRIPT => true,
            Some((judged, judged_ended)) => ended > judged_ended && len - judged >= judged / 4,
        };
        if due {
            // Who wrote a result block is only known to the pipeline, which judges the end.
            self.verdicts.results = self.rules.evaluate(&self.transcript, RuleContext::Dataset);
            self.verdicts.judged = Some((len, ended));
        }
        &self.verdicts.results
    }

    #[must_use]
    pub fn reasoning(&self) -> &str {
        &self.reasoning.text
    }

    pub fn toggle_reasoning(&mut self) {
        self.reasoning.expanded = !self.reasoning.expanded;
    }

    #[must_use]
    pub fn reasoning_expanded(&self) -> bool {
        self.reasoning.expanded
    }

    /// Scrolls by `rows` (negative: up); scrolling up stops following the tail, scrolling down
    /// to the end follows it again.
    pub fn scroll_by(&mut self, rows: isize) {
        let scroll = &mut self.scroll;
        if rows < 0 {
            scroll.follow = false;
            scroll.offset = scroll
                .offset
                .min(scroll.max)
                .saturating_sub(rows.unsigned_abs());
        } else {
            scroll.offset = scroll.offset.saturating_add(rows.unsigned_abs());
            if scroll.offset >= scroll.max {
                scroll.offset = scroll.max;
                scroll.follow = true;
            }
        }
        scroll.anchor = None;
    }

    pub fn scroll_to_top(&mut self) {
        self.scroll.offset = 0;
        self.scroll.follow = false;
        self.scroll.anchor = None;
    }

    /// Scrolls to the end and follows the tail again.
    pub fn scroll_to_bottom(&mut self) {
        self.scroll.offset = self.scroll.max;
        self.scroll.follow = true;
        self.scroll.anchor = None;
    }

    /// Whether the view sticks to the end as text arrives.
    #[must_use]
    pub fn follows_tail(&self) -> bool {
        self.scroll.follow
    }

    /// The first visible row (after the last render).
    #[must_use]
    pub fn scroll_offset(&self) -> usize {
        self.scroll.offset
    }
}
