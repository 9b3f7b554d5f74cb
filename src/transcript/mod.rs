//! The transcript engine: pure, no IO.
//!
//! [`StreamParser`] turns streamed text into [`SegmentEvent`]s; [`Transcript`] folds those events
//! into [`Segment`]s with their word counts; [`rules`] judges a transcript.

mod parser;
pub mod rules;
mod segment;
mod words;

pub use parser::StreamParser;
pub use rules::{Outcome, RuleContext, RuleId, RuleResult, Rules, RulesConfig, evaluate};
pub use segment::{
    Anomaly, AnomalyKind, Fence, Segment, SegmentEvent, SegmentKind, Tag, is_executable_info,
};
pub use words::{CountMode, WordCounter, count_words, is_cjk};

/// Segments and structural faults of one transcript, built from parser events.
///
/// Word counts of the segment still open grow as text arrives (closed runs only, see
/// [`Transcript::live_words`]); a segment's count is exact once it has ended.
#[derive(Clone, Debug)]
pub struct Transcript {
    mode: CountMode,
    pub segments: Vec<Segment>,
    pub anomalies: Vec<Anomaly>,
    /// Counter of the open segment.
    counter: Option<WordCounter>,
}

impl Transcript {
    #[must_use]
    pub fn new(mode: CountMode) -> Self {
        Self {
            mode,
            segments: Vec::new(),
            anomalies: Vec::new(),
            counter: None,
        }
    }

    /// Parses a whole transcript.
    #[must_use]
    pub fn parse(text: &str, mode: CountMode) -> Self {
        let mut transcript = Self::new(mode);
        let mut parser = StreamParser::new();
        for event in parser.push(text) {
            transcript.apply(event);
        }
        for event in parser.finish() {
            transcript.apply(event);
        }
        transcript
    }

    #[must_use]
    pub fn count_mode(&self) -> CountMode {
        self.mode
    }

    pub fn apply(&mut self, event: SegmentEvent) {
        match event {
            SegmentEvent::Started {
                kind,
                fence,
                offset,
                ..
            } => {
                self.segments.push(Segment {
                    kind,
                    text: String::new(),
                    fence,
                    span: offset..offset,
                    closed: false,
                    words: 0,
                });
                self.counter = Some(WordCounter::new(self.mode));
            }
            SegmentEvent::Text { index, text } => {
                if let (Some(segment), Some(counter)) =
                    (self.segments.get_mut(index), self.counter.as_mut())
                {
                    counter.push(&text);
                    segment.words = counter.complete();
                    if segment.text.is_empty() {
                        segment.text = text;
                    } else {
                        segment.text.push_str(&text);
                    }
                }
            }
            SegmentEvent::Ended {
                index,
                offset,
                closed,
            } => {
                if let Some(segment) = self.segments.get_mut(index) {
                    segment.span.end = offset;
                    segment.closed = closed;
                    if let Some(counter) = self.counter.take() {
                        segment.words = counter.total();
                    }
                }
            }
            SegmentEvent::Anomaly(anomaly) => self.anomalies.push(anomaly),
        }
    }

    /// Words of segment `index` right now, counting a run still being written.
    #[must_use]
    pub fn live_words(&self, index: usize) -> usize {
        match (&self.counter, self.segments.len().checked_sub(1)) {
            (Some(counter), Some(last)) if last == index => counter.total(),
            _ => self.segments.get(index).map_or(0, |s| s.words),
        }
    }
}
