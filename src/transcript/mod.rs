//! The transcript engine: pure, no IO.
//!
//! [`StreamParser`] turns streamed text into [`SegmentEvent`]s; [`Transcript`] folds those events
//! into [`Segment`]s with their word counts; [`rules`] judges a transcript; [`stop`] watches a
//! streaming one for rules that stop a live run.

mod parser;
pub mod rules;
mod segment;
pub mod stop;
mod words;

pub use parser::{SegmentSink, StreamParser};
pub use rules::{Outcome, RuleContext, RuleId, RuleResult, Rules, RulesConfig, evaluate};
pub use segment::{
    Anomaly, AnomalyKind, Fence, Segment, SegmentEvent, SegmentKind, Tag, is_executable_info,
};
pub use stop::StopCheck;
pub use words::{CountMode, WordCounter, count_words, is_cjk};

/// Segments and structural faults of one transcript, built from parser output.
///
/// The text of every segment lives in one buffer ([`Transcript::content`]): the open segment is
/// always the last, so appending to it appends to the buffer. A `Transcript` can be
/// [`clear`](Transcript::clear)ed and reused without allocating.
///
/// Word counts of the segment still open grow as text arrives (closed runs only, see
/// [`Transcript::live_words`]); a segment's count is exact once it has ended.
#[derive(Clone, Debug)]
pub struct Transcript {
    mode: CountMode,
    content: String,
    pub segments: Vec<Segment>,
    pub anomalies: Vec<Anomaly>,
    /// Counter of the open segment.
    counter: WordCounter,
    /// Whether the last segment is still open.
    open: bool,
}

impl Transcript {
    #[must_use]
    pub fn new(mode: CountMode) -> Self {
        Self {
            mode,
            content: String::new(),
            segments: Vec::new(),
            anomalies: Vec::new(),
            counter: WordCounter::new(mode),
            open: false,
        }
    }

    /// Parses a whole transcript.
    #[must_use]
    pub fn parse(text: &str, mode: CountMode) -> Self {
        let mut transcript = Self::new(mode);
        transcript.parse_into(text, &mut StreamParser::new());
        transcript
    }

    /// Replaces this transcript with the parse of `text`, reusing both buffers.
    pub fn parse_into(&mut self, text: &str, parser: &mut StreamParser) {
        self.clear();
        parser.reset();
        self.content.reserve(text.len());
        parser.feed(text, self);
        parser.finish_into(self);
    }

    /// Empties the transcript, keeping its allocations.
    pub fn clear(&mut self) {
        self.content.clear();
        self.segments.clear();
        self.anomalies.clear();
        self.counter.reset();
        self.open = false;
    }

    #[must_use]
    pub fn count_mode(&self) -> CountMode {
        self.mode
    }

    /// The text of every segment, in order, without delimiters.
    #[must_use]
    pub fn content(&self) -> &str {
        &self.content
    }

    /// The text of `segment`, which must belong to this transcript.
    #[must_use]
    pub fn text(&self, segment: &Segment) -> &str {
        self.content.get(segment.text.clone()).unwrap_or_default()
    }

    /// Segments with their text.
    pub fn iter(&self) -> impl Iterator<Item = (&Segment, &str)> {
        self.segments.iter().map(|s| (s, self.text(s)))
    }

    /// Folds one owned event in (as received from a channel).
    pub fn apply(&mut self, event: SegmentEvent) {
        match event {
            SegmentEvent::Started {
                index,
                kind,
                fence,
                offset,
            } => self.started(index, kind, fence, offset),
            SegmentEvent::Text { index, text } => self.text_appended(index, &text),
            SegmentEvent::Ended {
                index,
                offset,
                closed,
            } => self.ended(index, offset, closed),
            SegmentEvent::Anomaly(anomaly) => self.anomalies.push(anomaly),
        }
    }

    fn text_appended(&mut self, index: usize, text: &str) {
        // Only the last segment is ever open.
        let last = self.segments.len();
        let Some(segment) = self.segments.last_mut() else {
            return;
        };
        if index + 1 != last || !self.open {
            return;
        }
        self.content.push_str(text);
        segment.text.end = self.content.len();
        if segment.blank && !text.trim().is_empty() {
            segment.blank = false;
        }
        self.counter.push(text);
        segment.words = self.counter.complete();
    }

    /// Whether segment `index` is still being written (the last one, before it has ended).
    #[must_use]
    pub fn is_open(&self, index: usize) -> bool {
        self.open && index + 1 == self.segments.len()
    }

    /// Words of segment `index` right now, counting a run still being written.
    #[must_use]
    pub fn live_words(&self, index: usize) -> usize {
        match self.segments.get(index) {
            Some(_) if self.open && index + 1 == self.segments.len() => self.counter.total(),
            Some(s) => s.words,
            None => 0,
        }
    }
}

impl SegmentSink for Transcript {
    fn started(&mut self, _index: usize, kind: SegmentKind, fence: Option<Fence>, offset: usize) {
        let at = self.content.len();
        self.segments.push(Segment {
            kind,
            text: at..at,
            blank: true,
            fence,
            span: offset..offset,
            closed: false,
            words: 0,
        });
        self.counter.reset();
        self.open = true;
    }

    fn text(&mut self, index: usize, text: &str) {
        self.text_appended(index, text);
    }

    fn ended(&mut self, index: usize, offset: usize, closed: bool) {
        if let Some(segment) = self.segments.get_mut(index) {
            segment.span.end = offset;
            segment.closed = closed;
            segment.words = self.counter.total();
        }
        self.open = false;
    }

    fn anomaly(&mut self, anomaly: Anomaly) {
        self.anomalies.push(anomaly);
    }
}
