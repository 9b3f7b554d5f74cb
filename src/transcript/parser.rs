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
    Ticks { ticks: usize },
    /// An opening fence line's info string, up to the newline; it starts at `info_start` in the
    /// held text.
    Info { ticks: usize, info_start: usize },
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
    /// Text for the open segment not yet reported; coalesced so a push yields few events.
    pending_text: String,
    events: Vec<SegmentEvent>,
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
            pending_text: String::new(),
            events: Vec::new(),
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
        debug_assert!(!self.finished, "push after finish");
        self.feed(chunk);
        self.flush_text();
        self.events.drain(..)
    }

    /// Ends the input: held bytes are resolved, an open construct is closed and reported.
    pub fn finish(&mut self) -> std::vec::Drain<'_, SegmentEvent> {
        if !self.finished {
            self.finished = true;
            self.resolve_held_at_end();
            if self.mode == Mode::Answer {
                self.end_current(self.offset, true);
            } else {
                let kind = match self.mode {
                    Mode::Think => SegmentKind::Think,
                    Mode::Exec(kind) => kind,
                    Mode::Fence | Mode::Answer => SegmentKind::Code,
                };
                let (index, start) = self.current.unwrap_or((self.next_index, self.offset));
                self.anomaly(AnomalyKind::Unclosed(kind), start, Some(index));
                self.end_current(self.offset, false);
            }
        }
        self.events.drain(..)
    }

    fn feed(&mut self, s: &str) {
        let mut i = 0;
        while i < s.len() {
            i = if self.held == Held::None {
                self.scan(s, i)
            } else {
                self.step_held(s, i)
            };
        }
    }

    /// No bytes held: skip plain text up to the next byte that may matter.
    fn scan(&mut self, s: &str, i: usize) -> usize {
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
                    self.text(&s[i..=i + k]);
                    self.line_start = true;
                    i + k + 1
                }
                Some(k) => {
                    self.text(&s[i..i + k]);
                    self.hold(Held::Tag);
                    self.take_held_byte(b'<');
                    i + k + 1
                }
                None => {
                    self.text(&s[i..]);
                    self.line_start = false;
                    s.len()
                }
            },
            Mode::Think | Mode::Exec(_) => match memchr(b'<', rest) {
                Some(k) => {
                    self.text(&s[i..i + k]);
                    self.hold(Held::Tag);
                    self.take_held_byte(b'<');
                    i + k + 1
                }
                None => {
                    self.text(&s[i..]);
                    s.len()
                }
            },
            Mode::Fence => match memchr(b'\n', rest) {
                Some(k) => {
                    self.text(&s[i..=i + k]);
                    self.line_start = true;
                    i + k + 1
                }
                None => {
                    self.text(&s[i..]);
                    self.line_start = false;
                    s.len()
                }
            },
        }
    }

    /// Advances the held candidate by at least one byte, or gives it up (returning `i` so the byte
    /// is looked at again with nothing held).
    fn step_held(&mut self, s: &str, i: usize) -> usize {
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
                            self.complete_tag(tag);
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
                self.give_up_held();
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
                    self.give_up_held();
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
                    _ => self.give_up_held(),
                }
                i
            }
            Held::Info { ticks, info_start } => {
                let rest = &bytes[i..];
                match memchr2(b'\n', b'`', rest) {
                    Some(k) if rest[k] == b'\n' => {
                        self.held_text.push_str(&s[i..i + k]);
                        self.offset += k + 1;
                        self.open_fence(ticks, info_start);
                        i + k + 1
                    }
                    Some(k) => {
                        // A backtick in the info string: not a fence after all.
                        self.held_text.push_str(&s[i..i + k]);
                        self.offset += k;
                        self.refeed_info(info_start);
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
                    self.close_fence();
                    i + 1
                }
                _ => {
                    self.give_up_held();
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

    fn match_tag(&self) -> TagMatch {
        let candidates: &[Tag] = match self.mode {
            Mode::Answer => &Tag::ALL,
            Mode::Think => &[Tag::ThinkClose, Tag::ThinkOpen],
            Mode::Exec(SegmentKind::ExecError) => &[Tag::ErrorClose],
            Mode::Exec(_) => &[Tag::ResultClose],
            Mode::Fence => &[],
        };
        let held = self.held_text.as_str();
        let mut prefix = false;
        for &tag in candidates {
            let text = tag.text();
            if text == held {
                return TagMatch::Full(tag);
            }
            prefix |= text.starts_with(held);
        }
        if prefix { TagMatch::Prefix } else { TagMatch::No }
    }

    /// The held bytes are plain text of the current segment after all.
    fn give_up_held(&mut self) {
        self.held = Held::None;
        let text = std::mem::take(&mut self.held_text);
        self.text_at(&text, self.held_start);
        self.held_text = text;
        self.held_text.clear();
        // Held text never holds a newline, and a given-up line start is no fence line.
        self.line_start = false;
    }

    /// A line that began like a fence had a backtick in its info string: the indent and
    /// backticks are text, and the info string is read again as ordinary text (once).
    fn refeed_info(&mut self, info_start: usize) {
        self.held = Held::None;
        let held = std::mem::take(&mut self.held_text);
        let (prefix, info) = held.split_at(info_start);
        self.text_at(prefix, self.held_start);
        self.line_start = false;
        self.offset = self.held_start + info_start;
        self.feed(info);
    }

    fn complete_tag(&mut self, tag: Tag) {
        let start = self.held_start;
        self.held = Held::None;
        self.held_text.clear();
        self.line_start = false;
        match (self.mode, tag) {
            (Mode::Answer, Tag::ThinkOpen) => self.open(Mode::Think, SegmentKind::Think, start),
            (Mode::Answer, Tag::ResultOpen) => {
                let kind = SegmentKind::ExecResult;
                self.open(Mode::Exec(kind), kind, start);
            }
            (Mode::Answer, Tag::ErrorOpen) => {
                let kind = SegmentKind::ExecError;
                self.open(Mode::Exec(kind), kind, start);
            }
            (Mode::Answer, stray) => {
                self.text_at(stray.text(), start);
                let segment = self.current.map(|(index, _)| index);
                self.anomaly(AnomalyKind::StrayClose(stray), start, segment);
            }
            (Mode::Think, Tag::ThinkOpen) => {
                self.text_at(tag.text(), start);
                let segment = self.current.map(|(index, _)| index);
                self.anomaly(AnomalyKind::NestedThink, start, segment);
            }
            // The closing tag of the open construct.
            _ => {
                self.end_current(self.offset, true);
                self.mode = Mode::Answer;
            }
        }
    }

    fn open(&mut self, mode: Mode, kind: SegmentKind, start: usize) {
        self.end_current(start, true);
        self.start_segment(kind, None, start);
        self.mode = mode;
    }

    fn open_fence(&mut self, ticks: usize, info_start: usize) {
        self.held = Held::None;
        let fence = Fence::new(&self.held_text[info_start..], ticks);
        self.held_text.clear();
        let start = self.held_start;
        self.end_current(start, true);
        self.start_segment(SegmentKind::Code, Some(fence), start);
        self.mode = Mode::Fence;
        self.fence_ticks = ticks;
        self.line_start = true;
    }

    fn close_fence(&mut self) {
        self.held = Held::None;
        self.held_text.clear();
        self.end_current(self.offset, true);
        self.mode = Mode::Answer;
        self.line_start = true;
    }

    fn resolve_held_at_end(&mut self) {
        match (self.held, self.mode) {
            (Held::None, _) => {}
            (Held::CloseTrail, _) => self.close_fence(),
            (Held::Ticks { ticks }, Mode::Fence) if ticks >= self.fence_ticks => self.close_fence(),
            // A fence line cut off by the end: it opens a block that never closes.
            (Held::Info { ticks, info_start }, _) => self.open_fence(ticks, info_start),
            (Held::Ticks { ticks }, Mode::Answer) if ticks >= 3 => {
                let info_start = self.held_text.len();
                self.open_fence(ticks, info_start);
            }
            _ => self.give_up_held(),
        }
    }

    fn start_segment(&mut self, kind: SegmentKind, fence: Option<Fence>, offset: usize) {
        let index = self.next_index;
        self.next_index += 1;
        self.current = Some((index, offset));
        self.events.push(SegmentEvent::Started {
            index,
            kind,
            fence,
            offset,
        });
    }

    fn end_current(&mut self, offset: usize, closed: bool) {
        self.flush_text();
        if let Some((index, _)) = self.current.take() {
            self.events.push(SegmentEvent::Ended {
                index,
                offset,
                closed,
            });
        }
    }

    /// Text consumed just now, at the current offset.
    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let start = self.offset;
        self.offset += text.len();
        self.text_at(text, start);
    }

    /// Text of the current segment (already consumed) that starts at `start`; an answer segment
    /// opens on its first byte.
    fn text_at(&mut self, text: &str, start: usize) {
        if text.is_empty() {
            return;
        }
        if self.current.is_none() {
            self.start_segment(SegmentKind::Answer, None, start);
        }
        self.pending_text.push_str(text);
    }

    fn flush_text(&mut self) {
        if self.pending_text.is_empty() {
            return;
        }
        if let Some((index, _)) = self.current {
            let text = std::mem::take(&mut self.pending_text);
            self.events.push(SegmentEvent::Text { index, text });
        }
    }

    fn anomaly(&mut self, kind: AnomalyKind, offset: usize, segment: Option<usize>) {
        self.events.push(SegmentEvent::Anomaly(Anomaly {
            kind,
            offset,
            segment,
        }));
    }
}

enum TagMatch {
    Full(Tag),
    Prefix,
    No,
}
