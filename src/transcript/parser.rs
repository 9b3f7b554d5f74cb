//! The incremental transcript parser.
//!
//! A byte-driven state machine: every decision depends only on the bytes seen so far, never on
//! where a chunk ended, so any split of a text yields the same segments. Bytes whose meaning is
//! not yet known (a `<` that may open a tag, backticks that may open a fence) are *held* together
//! with the progress made on them, so nothing is scanned twice except the info string of a line
//! that looked like a fence and turned out not to be one (scanned once more, then never again).
//! Plain text is skipped with `memchr`.

use memchr::{memchr, memchr2};

use super::segment::{Anomaly, AnomalyKind, Fence, SegmentEvent, SegmentKind, Tag};

/// The longest tag, `</execute_result>`.
const MAX_TAG_LEN: usize = 17;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Answer,
    Think,
    /// Inside `<execute_result>` or `<execute_error>`.
    Exec(SegmentKind),
    /// Inside a fenced code block.
    Fence,
}

/// What the held bytes may turn out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    None,
    /// `<` and a prefix of a tag the current mode knows.
    Tag,
    /// Up to three spaces at the start of a line.
    Indent,
    /// Indent, then backticks.
    Ticks {
        ticks: usize,
    },
    /// An opening fence line's info string, up to the newline; it starts at `info_start` in the
    /// held text.
    Info {
        ticks: usize,
        info_start: usize,
    },
    /// A closing fence's backticks seen; only blanks may follow before the newline.
    CloseTrail,
}

/// Feeds on chunks of a transcript and reports segments as it finds them.
///
/// ```
/// use moss_thinking::transcript::{StreamParser, SegmentEvent, SegmentKind};
/// let mut parser = StreamParser::new();
/// let mut events: Vec<SegmentEvent> = parser.push("Yes.<thi").collect();
/// events.extend(parser.push("nk>why</think>"));
/// events.extend(parser.finish());
/// let kinds: Vec<_> = events.iter().filter_map(|e| match e {
///     SegmentEvent::Started { kind, .. } => Some(*kind),
///     _ => None,
/// }).collect();
/// assert_eq!(kinds, [SegmentKind::Answer, SegmentKind::Think]);
/// ```
#[derive(Debug)]
pub struct StreamParser {
    mode: Mode,
    /// Backticks that opened the current fence.
    fence_ticks: usize,
    held: Held,
    held_text: String,
    held_start: usize,
    /// Whether the next byte starts a line (fences only open and close at a line start).
    line_start: bool,
    /// Absolute offset of the next byte to consume.
    offset: usize,
    /// The open segment and where it started.
    current: Option<(usize, usize)>,
    next_index: usize,
    /// Events for [`StreamParser::push`]; unused when feeding a sink directly.
    events: EventBuffer,
    finished: bool,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamParser {
    #[must_use]
    pub fn new() -> Self {
        Self {
            mode: Mode::Answer,
            fence_ticks: 0,
            held: Held::None,
            held_text: String::new(),
            held_start: 0,
            line_start: true,
            offset: 0,
            current: None,
            next_index: 0,
            events: EventBuffer::default(),
            finished: false,
        }
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Feeds the next chunk and returns the events it completes.
    pub fn push(&mut self, chunk: &str) -> std::vec::Drain<'_, SegmentEvent> {
        let mut events = std::mem::take(&mut self.events);
        self.feed(chunk, &mut events);
        self.events = events;
        self.events.0.drain(..)
    }

    /// Ends the input and returns the last events.
    pub fn finish(&mut self) -> std::vec::Drain<'_, SegmentEvent> {
        let mut events = std::mem::take(&mut self.events);
        self.finish_into(&mut events);
        self.events = events;
        self.events.0.drain(..)
    }

    /// Feeds the next chunk, reporting straight to `sink`: no event is allocated.
    pub fn feed<S: SegmentSink + ?Sized>(&mut self, chunk: &str, sink: &mut S) {
        debug_assert!(!self.finished, "feed after finish");
        self.consume(chunk, sink);
    }

    /// Ends the input: held bytes are resolved, an open construct is closed and reported.
    pub fn finish_into<S: SegmentSink + ?Sized>(&mut self, sink: &mut S) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.resolve_held_at_end(sink);
        if self.mode == Mode::Answer {
            self.end_current(self.offset, true, sink);
        } else {
            let kind = match self.mode {
                Mode::Think => SegmentKind::Think,
                Mode::Exec(kind) => kind,
                Mode::Fence | Mode::Answer => SegmentKind::Code,
            };
            let (index, start) = self.current.unwrap_or((self.next_index, self.offset));
            sink.anomaly(Anomaly {
                kind: AnomalyKind::Unclosed(kind),
                offset: start,
                segment: Some(index),
            });
            self.end_current(self.offset, false, sink);
        }
    }

    /// Makes the parser new again, keeping its buffers.
    pub fn reset(&mut self) {
        let mut held_text = std::mem::take(&mut self.held_text);
        held_text.clear();
        let events = std::mem::take(&mut self.events);
        *self = Self {
            held_text,
            events,
            ..Self::new()
        };
    }

    fn consume<S: SegmentSink + ?Sized>(&mut self, s: &str, sink: &mut S) {
        let mut i = 0;
        while i < s.len() {
            i = if self.held == Held::None {
                self.scan(s, i, sink)
            } else {
                self.step_held(s, i, sink)
            };
        }
    }

    /// No bytes held: skip plain text up to the next byte that may matter.
    fn scan<S: SegmentSink + ?Sized>(&mut self, s: &str, i: usize, sink: &mut S) -> usize {
        let bytes = s.as_bytes();
        let rest = &bytes[i..];
        if self.line_start
            && matches!(self.mode, Mode::Answer | Mode::Fence)
            && (rest[0] == b' ' || rest[0] == b'`')
        {
            self.hold(Held::Indent);
            return i;
        }
        match self.mode {
            Mode::Answer => match memchr2(b'<', b'\n', rest) {
                Some(k) if rest[k] == b'\n' => {
                    self.text(&s[i..=i + k], sink);
                    self.line_start = true;
                    i + k + 1
                }
                Some(k) => self.at_angle(s, i, i + k, sink),
                None => {
                    self.text(&s[i..], sink);
                    self.line_start = false;
                    s.len()
                }
            },
            Mode::Think | Mode::Exec(_) => match memchr(b'<', rest) {
                Some(k) => self.at_angle(s, i, i + k, sink),
                None => {
                    self.text(&s[i..], sink);
                    s.len()
                }
            },
            Mode::Fence => match memchr(b'\n', rest) {
                Some(k) => {
                    self.text(&s[i..=i + k], sink);
                    self.line_start = true;
                    i + k + 1
                }
                None => {
                    self.text(&s[i..], sink);
                    self.line_start = false;
                    s.len()
                }
            },
        }
    }

    /// A `<` at `at`, after plain text from `i`. When the chunk holds enough bytes the tag is
    /// recognised (or ruled out) on the spot; otherwise the `<` is held until more arrives. Both
    /// ways agree: no tag contains a second `<`, so a `<` that starts no tag is plain text.
    fn at_angle<S: SegmentSink + ?Sized>(
        &mut self,
        s: &str,
        i: usize,
        at: usize,
        sink: &mut S,
    ) -> usize {
        let rest = &s.as_bytes()[at..];
        if let Some(tag) = self
            .tags()
            .iter()
            .copied()
            .find(|tag| rest.starts_with(tag.text().as_bytes()))
        {
            self.text(&s[i..at], sink);
            self.hold(Held::Tag);
            self.offset += tag.text().len();
            self.complete_tag(tag, sink);
            return at + tag.text().len();
        }
        if rest.len() >= MAX_TAG_LEN {
            // Not a tag: the `<` is text, and so is everything up to the next byte that matters.
            self.text(&s[i..=at], sink);
            self.line_start = false;
            return at + 1;
        }
        self.text(&s[i..at], sink);
        self.hold(Held::Tag);
        self.take_held_byte(b'<');
        at + 1
    }

    /// Advances the held candidate by at least one byte, or gives it up (returning `i` so the byte
    /// is looked at again with nothing held).
    fn step_held<S: SegmentSink + ?Sized>(&mut self, s: &str, i: usize, sink: &mut S) -> usize {
        let bytes = s.as_bytes();
        let b = bytes[i];
        match self.held {
            Held::None => i,
            Held::Tag => {
                if b.is_ascii() {
                    self.held_text.push(char::from(b));
                    match self.match_tag() {
                        TagMatch::Full(tag) => {
                            self.offset += 1;
                            self.complete_tag(tag, sink);
                            return i + 1;
                        }
                        TagMatch::Prefix => {
                            self.offset += 1;
                            return i + 1;
                        }
                        TagMatch::No => {
                            self.held_text.pop();
                        }
                    }
                }
                self.give_up_held(sink);
                i
            }
            Held::Indent => {
                if b == b' ' && self.held_text.len() < 3 {
                    self.take_held_byte(b);
                    i + 1
                } else if b == b'`' {
                    self.held = Held::Ticks { ticks: 0 };
                    i
                } else {
                    self.give_up_held(sink);
                    i
                }
            }
            Held::Ticks { ticks } => {
                if b == b'`' {
                    self.take_held_byte(b);
                    self.held = Held::Ticks { ticks: ticks + 1 };
                    return i + 1;
                }
                match self.mode {
                    Mode::Answer if ticks >= 3 => {
                        self.held = Held::Info {
                            ticks,
                            info_start: self.held_text.len(),
                        };
                    }
                    Mode::Fence if ticks >= self.fence_ticks => self.held = Held::CloseTrail,
                    _ => self.give_up_held(sink),
                }
                i
            }
            Held::Info { ticks, info_start } => {
                let rest = &bytes[i..];
                match memchr2(b'\n', b'`', rest) {
                    Some(k) if rest[k] == b'\n' => {
                        self.held_text.push_str(&s[i..i + k]);
                        self.offset += k + 1;
                        self.open_fence(ticks, info_start, sink);
                        i + k + 1
                    }
                    Some(k) => {
                        // A backtick in the info string: not a fence after all.
                        self.held_text.push_str(&s[i..i + k]);
                        self.offset += k;
                        self.refeed_info(info_start, sink);
                        i + k
                    }
                    None => {
                        self.held_text.push_str(&s[i..]);
                        self.offset += rest.len();
                        s.len()
                    }
                }
            }
            Held::CloseTrail => match b {
                b' ' | b'\t' | b'\r' => {
                    self.take_held_byte(b);
                    i + 1
                }
                b'\n' => {
                    self.offset += 1;
                    self.close_fence(sink);
                    i + 1
                }
                _ => {
                    self.give_up_held(sink);
                    i
                }
            },
        }
    }

    fn hold(&mut self, held: Held) {
        self.held = held;
        self.held_text.clear();
        self.held_start = self.offset;
    }

    fn take_held_byte(&mut self, b: u8) {
        self.held_text.push(char::from(b));
        self.offset += 1;
    }

    /// The tags the current mode recognises.
    fn tags(&self) -> &'static [Tag] {
        match self.mode {
            Mode::Answer => &Tag::ALL,
            Mode::Think => &[Tag::ThinkClose, Tag::ThinkOpen],
            Mode::Exec(SegmentKind::ExecError) => &[Tag::ErrorClose],
            Mode::Exec(_) => &[Tag::ResultClose],
            Mode::Fence => &[],
        }
    }

    fn match_tag(&self) -> TagMatch {
        let held = self.held_text.as_str();
        let mut prefix = false;
        for &tag in self.tags() {
            let text = tag.text();
            if text == held {
                return TagMatch::Full(tag);
            }
            prefix |= text.starts_with(held);
        }
        if prefix {
            TagMatch::Prefix
        } else {
            TagMatch::No
        }
    }

    /// The held bytes are plain text of the current segment after all.
    fn give_up_held<S: SegmentSink + ?Sized>(&mut self, sink: &mut S) {
        self.held = Held::None;
        let text = std::mem::take(&mut self.held_text);
        self.text_at(&text, self.held_start, sink);
        self.held_text = text;
        self.held_text.clear();
        // Held text never holds a newline, and a given-up line start is no fence line.
        self.line_start = false;
    }

    /// A line that began like a fence had a backtick in its info string: the indent and
    /// backticks are text, and the info string is read again as ordinary text (once).
    fn refeed_info<S: SegmentSink + ?Sized>(&mut self, info_start: usize, sink: &mut S) {
        self.held = Held::None;
        let held = std::mem::take(&mut self.held_text);
        let (prefix, info) = held.split_at(info_start);
        self.text_at(prefix, self.held_start, sink);
        self.line_start = false;
        self.offset = self.held_start + info_start;
        self.consume(info, sink);
    }

    fn complete_tag<S: SegmentSink + ?Sized>(&mut self, tag: Tag, sink: &mut S) {
        let start = self.held_start;
        self.held = Held::None;
        self.held_text.clear();
        self.line_start = false;
        match (self.mode, tag) {
            (Mode::Answer, Tag::ThinkOpen) => {
                self.open(Mode::Think, SegmentKind::Think, start, sink);
            }
            (Mode::Answer, Tag::ResultOpen) => {
                let kind = SegmentKind::ExecResult;
                self.open(Mode::Exec(kind), kind, start, sink);
            }
            (Mode::Answer, Tag::ErrorOpen) => {
                let kind = SegmentKind::ExecError;
                self.open(Mode::Exec(kind), kind, start, sink);
            }
            (Mode::Answer, stray) => {
                self.text_at(stray.text(), start, sink);
                self.anomaly(AnomalyKind::StrayClose(stray), start, sink);
            }
            (Mode::Think, Tag::ThinkOpen) => {
                self.text_at(tag.text(), start, sink);
                self.anomaly(AnomalyKind::NestedThink, start, sink);
            }
            // The closing tag of the open construct.
            _ => {
                self.end_current(self.offset, true, sink);
                self.mode = Mode::Answer;
            }
        }
    }

    fn open<S: SegmentSink + ?Sized>(
        &mut self,
        mode: Mode,
        kind: SegmentKind,
        start: usize,
        sink: &mut S,
    ) {
        self.end_current(start, true, sink);
        self.start_segment(kind, None, start, sink);
        self.mode = mode;
    }

    fn open_fence<S: SegmentSink + ?Sized>(
        &mut self,
        ticks: usize,
        info_start: usize,
        sink: &mut S,
    ) {
        self.held = Held::None;
        let fence = Fence::new(&self.held_text[info_start..], ticks);
        self.held_text.clear();
        let start = self.held_start;
        self.end_current(start, true, sink);
        self.start_segment(SegmentKind::Code, Some(fence), start, sink);
        self.mode = Mode::Fence;
        self.fence_ticks = ticks;
        self.line_start = true;
    }

    fn close_fence<S: SegmentSink + ?Sized>(&mut self, sink: &mut S) {
        self.held = Held::None;
        self.held_text.clear();
        self.end_current(self.offset, true, sink);
        self.mode = Mode::Answer;
        self.line_start = true;
    }

    fn resolve_held_at_end<S: SegmentSink + ?Sized>(&mut self, sink: &mut S) {
        match (self.held, self.mode) {
            (Held::None, _) => {}
            (Held::CloseTrail, _) => self.close_fence(sink),
            (Held::Ticks { ticks }, Mode::Fence) if ticks >= self.fence_ticks => {
                self.close_fence(sink);
            }
            // A fence line cut off by the end: it opens a block that never closes.
            (Held::Info { ticks, info_start }, _) => self.open_fence(ticks, info_start, sink),
            (Held::Ticks { ticks }, Mode::Answer) if ticks >= 3 => {
                let info_start = self.held_text.len();
                self.open_fence(ticks, info_start, sink);
            }
            _ => self.give_up_held(sink),
        }
    }

    fn start_segment<S: SegmentSink + ?Sized>(
        &mut self,
        kind: SegmentKind,
        fence: Option<Fence>,
        offset: usize,
        sink: &mut S,
    ) {
        let index = self.next_index;
        self.next_index += 1;
        self.current = Some((index, offset));
        sink.started(index, kind, fence, offset);
    }

    fn end_current<S: SegmentSink + ?Sized>(&mut self, offset: usize, closed: bool, sink: &mut S) {
        if let Some((index, _)) = self.current.take() {
            sink.ended(index, offset, closed);
        }
    }

    /// Text consumed just now, at the current offset.
    fn text<S: SegmentSink + ?Sized>(&mut self, text: &str, sink: &mut S) {
        if text.is_empty() {
            return;
        }
        let start = self.offset;
        self.offset += text.len();
        self.text_at(text, start, sink);
    }

    /// Text of the current segment (already consumed) that starts at `start`; an answer segment
    /// opens on its first byte.
    fn text_at<S: SegmentSink + ?Sized>(&mut self, text: &str, start: usize, sink: &mut S) {
        if text.is_empty() {
            return;
        }
        let index = match self.current {
            Some((index, _)) => index,
            None => {
                self.start_segment(SegmentKind::Answer, None, start, sink);
                self.next_index - 1
            }
        };
        sink.text(index, text);
    }

    /// A fault at `offset`, in the open segment.
    fn anomaly<S: SegmentSink + ?Sized>(&self, kind: AnomalyKind, offset: usize, sink: &mut S) {
        sink.anomaly(Anomaly {
            kind,
            offset,
            segment: self.current.map(|(index, _)| index),
        });
    }
}

/// Receives what the parser finds, as it finds it. Text borrowed from the input is passed on
/// without a copy, so a sink that stores it (like [`Transcript`](super::Transcript)) copies
/// each byte once.
pub trait SegmentSink {
    fn started(&mut self, index: usize, kind: SegmentKind, fence: Option<Fence>, offset: usize);
    /// Text appended to the open segment `index`.
    fn text(&mut self, index: usize, text: &str);
    fn ended(&mut self, index: usize, offset: usize, closed: bool);
    fn anomaly(&mut self, anomaly: Anomaly);
}

/// Owned events, with consecutive text of one segment merged so a push yields few events.
#[derive(Debug, Default)]
struct EventBuffer(Vec<SegmentEvent>);

impl SegmentSink for EventBuffer {
    fn started(&mut self, index: usize, kind: SegmentKind, fence: Option<Fence>, offset: usize) {
        self.0.push(SegmentEvent::Started {
            index,
            kind,
            fence,
            offset,
        });
    }

    fn text(&mut self, index: usize, text: &str) {
        if let Some(SegmentEvent::Text {
            index: last,
            text: buf,
        }) = self.0.last_mut()
            && *last == index
        {
            buf.push_str(text);
            return;
        }
        self.0.push(SegmentEvent::Text {
            index,
            text: text.to_owned(),
        });
    }

    fn ended(&mut self, index: usize, offset: usize, closed: bool) {
        self.0.push(SegmentEvent::Ended {
            index,
            offset,
            closed,
        });
    }

    fn anomaly(&mut self, anomaly: Anomaly) {
        self.0.push(SegmentEvent::Anomaly(anomaly));
    }
}

enum TagMatch {
    Full(Tag),
    Prefix,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_tag_len_is_the_longest_tag() {
        let longest = Tag::ALL.iter().map(|t| t.text().len()).max();
        assert_eq!(longest, Some(MAX_TAG_LEN));
    }

    #[test]
    fn reset_starts_over() {
        let mut parser = StreamParser::new();
        let _ = parser.push("a <think> b");
        parser.reset();
        let events: Vec<_> = parser.push("```py\n").collect();
        assert!(matches!(
            events.first(),
            Some(SegmentEvent::Started {
                kind: SegmentKind::Code,
                offset: 0,
                ..
            })
        ));
    }
}
