//! Wrapping by display width, incrementally.
//!
//! A [`Wrap`] turns one segment's text into rows no wider than its width: CJK and other wide
//! characters take two columns and are never split, prose breaks after whitespace or beside a
//! wide character (a word too long for a row is cut), code is cut at the width. Tabs advance to
//! the next stop. Blank lines at the start and end of a segment are not shown.
//!
//! The text only ever grows, so the wrap keeps the state of its open row and reads each new byte
//! once (a row that breaks at an earlier blank reads the words after it once more). Two things
//! are never decided early: the last grapheme of the text (a combining mark may still join it)
//! and the row it would overflow. They are laid out on a copy of the state as the tentative
//! *tail* rows, so the rows shown while streaming are always the rows of the text so far.

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

/// Columns between tab stops.
pub(super) const TAB_STOP: usize = 4;

/// How a segment breaks into rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WrapMode {
    /// Break at whitespace or beside wide characters; wrapped rows drop their leading blanks.
    Prose,
    /// Cut at the width, keeping every blank.
    Code,
}

/// One screen row: a byte range of the segment's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Row {
    pub start: usize,
    pub end: usize,
}

/// What one grapheme is for layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Glyph {
    Newline,
    Tab,
    /// A blank that rows may break after, with its width.
    Space(usize),
    /// Anything drawn, with its width (1 or 2).
    Mark(usize),
    /// Takes no room: control characters, a lone combining mark.
    Invisible,
}

impl Glyph {
    /// Columns taken at column `col` of a row `width` wide: a tab stops at the row's end.
    pub(super) fn width_at(self, col: usize, width: usize) -> usize {
        match self {
            Glyph::Tab => (TAB_STOP - col % TAB_STOP)
                .min(width.saturating_sub(col))
                .max(1),
            Glyph::Space(w) | Glyph::Mark(w) => w,
            Glyph::Newline | Glyph::Invisible => 0,
        }
    }
}

/// The grapheme at byte `p` of `text`, its length and what it is; `None` when it ends the text
/// and `complete` is false, since a following character may still join it.
pub(super) fn grapheme(text: &str, p: usize, complete: bool) -> Option<(usize, Glyph)> {
    let rest = &text[p..];
    let mut chars = rest.chars();
    let c = chars.next()?;
    if c == '\n' {
        return Some((1, Glyph::Newline));
    }
    let next = chars.next();
    // ASCII and common CJK: where the next character is one too, the grapheme is one character
    // (or CR LF), without the grapheme tables.
    if is_simple(c) && next.is_none_or(is_simple) {
        if next.is_none() && !complete {
            return None;
        }
        return Some(match (c, next) {
            ('\r', Some('\n')) => (2, Glyph::Newline),
            ('\t', _) => (1, Glyph::Tab),
            (' ', _) => (1, Glyph::Space(1)),
            (c, _) if c.is_ascii_control() => (1, Glyph::Invisible),
            (c, _) if c.is_ascii() => (1, Glyph::Mark(1)),
            (c, _) => (c.len_utf8(), Glyph::Mark(2)),
        });
    }
    let g = rest.graphemes(true).next().unwrap_or(rest);
    if g.len() == rest.len() && !complete {
        return None;
    }
    let glyph = if g.starts_with(char::is_control) {
        match g {
            "\t" => Glyph::Tab,
            _ if g.ends_with('\n') => Glyph::Newline,
            _ => Glyph::Invisible,
        }
    } else {
        let width = usize::from(g.cell_width());
        let breakable = g.chars().all(|c| c.is_whitespace() && !is_no_break(c));
        match width {
            0 => Glyph::Invisible,
            w if breakable => Glyph::Space(w),
            w => Glyph::Mark(w),
        }
    };
    Some((g.len(), glyph))
}

fn is_simple(c: char) -> bool {
    c.is_ascii() || is_plain_wide(c)
}

/// Two columns wide and never joined by the next character unless that one is a combining mark:
/// most CJK text, decided without the grapheme tables.
fn is_plain_wide(c: char) -> bool {
    matches!(u32::from(c),
        // CJK punctuation (not the ideographic space, not the combining tone marks)
        0x3001..=0x3029 | 0x3030..=0x303E
        // Hiragana and Katakana (not the combining sound marks)
        | 0x3041..=0x3096 | 0x309B..=0x30FF
        // CJK ideographs, extension A
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        // Hangul syllables
        | 0xAC00..=0xD7A3
        // Fullwidth forms
        | 0xFF01..=0xFF60)
}

fn is_no_break(c: char) -> bool {
    matches!(c, '\u{A0}' | '\u{2007}' | '\u{202F}')
}

/// Where the open row may end: before byte `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Break {
    at: usize,
}

/// The row being filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Open {
    start: usize,
    col: usize,
    /// Bytes laid out so far.
    pos: usize,
    brk: Option<Break>,
    /// The row continues a line that did not fit on the one above.
    continued: bool,
    /// Blank lines not shown yet: only when text follows do they become rows.
    blank_lines: usize,
    /// Whether any row was made: blank lines before the first are dropped.
    started: bool,
}

impl Open {
    const fn new() -> Self {
        Self {
            start: 0,
            col: 0,
            pos: 0,
            brk: None,
            continued: false,
            blank_lines: 0,
            started: false,
        }
    }

    fn emit(&mut self, end: usize, out: &mut Vec<Row>) {
        for _ in 0..self.blank_lines {
            out.push(Row {
                start: self.start,
                end: self.start,
            });
        }
        self.blank_lines = 0;
        out.push(Row {
            start: self.start,
            end,
        });
        self.started = true;
    }

    /// Starts a new row at `at`.
    fn next_row(&mut self, at: usize, continued: bool) {
        self.start = at;
        self.pos = at;
        self.col = 0;
        self.brk = None;
        self.continued = continued;
    }

    /// The open row is cut before `at`; the next one continues the line from `at`.
    fn wrap(&mut self, at: usize, out: &mut Vec<Row>) {
        self.emit(at, out);
        self.next_row(at, true);
    }

    fn end_line(&mut self, at: usize, newline: usize, out: &mut Vec<Row>) {
        if at > self.start || self.col > 0 {
            self.emit(at, out);
        } else if !self.continued && self.started {
            self.blank_lines += 1;
        }
        self.next_row(at + newline, false);
    }

    /// Lays out `text` from `self.pos` on, as far as it is decided.
    fn run(
        &mut self,
        text: &str,
        complete: bool,
        width: usize,
        mode: WrapMode,
        out: &mut Vec<Row>,
    ) {
        let prose = mode == WrapMode::Prose;
        while self.pos < text.len() {
            let p = self.pos;
            let Some((len, glyph)) = grapheme(text, p, complete) else {
                return;
            };
            if glyph == Glyph::Newline {
                self.end_line(p, len, out);
                continue;
            }
            let blank = matches!(glyph, Glyph::Space(_) | Glyph::Tab);
            if prose && blank && self.continued && p == self.start {
                // Wrapped rows do not start with the blank they were wrapped at.
                self.next_row(p + len, true);
                continue;
            }
            let w = glyph.width_at(self.col, width);
            let alone = p == self.start;
            if self.col + w <= width || alone {
                self.col += w;
                self.pos = p + len;
                if prose && (blank || w >= 2) {
                    self.brk = Some(Break { at: self.pos });
                }
                continue;
            }
            match self.brk {
                _ if !prose => self.wrap(p, out),
                _ if blank => {
                    self.emit(p, out);
                    self.next_row(p + len, true);
                }
                // A wide character may always start the next row.
                _ if w >= 2 => self.wrap(p, out),
                Some(Break { at }) if at > self.start => {
                    // Lay out again from the break: at most one row's worth, once per row.
                    self.wrap(at, out);
                }
                _ => self.wrap(p, out),
            }
        }
    }

    /// Ends the text: the open row, if it holds anything, is the last.
    fn close(&mut self, end: usize, out: &mut Vec<Row>) {
        if end > self.start || self.col > 0 {
            self.emit(end, out);
        }
        self.blank_lines = 0;
        self.next_row(end, false);
    }
}

/// The rows of one growing text at one width.
#[derive(Clone, Debug)]
pub(super) struct Wrap {
    width: usize,
    mode: WrapMode,
    /// Rows that no later text can change.
    rows: Vec<Row>,
    /// Rows of the undecided end, as the text stands now.
    tail: Vec<Row>,
    open: Open,
    complete: bool,
}

impl Wrap {
    pub(super) fn new(width: usize, mode: WrapMode) -> Self {
        Self {
            width: width.max(1),
            mode,
            rows: Vec::new(),
            tail: Vec::new(),
            open: Open::new(),
            complete: false,
        }
    }

    /// Catches up with `text`, which extends the text seen before; `complete` says it will not
    /// grow any more.
    pub(super) fn update(&mut self, text: &str, complete: bool) {
        if self.complete {
            return;
        }
        self.open
            .run(text, complete, self.width, self.mode, &mut self.rows);
        self.tail.clear();
        if complete {
            self.open.close(text.len(), &mut self.rows);
            self.complete = true;
        } else {
            let mut tail = self.open;
            tail.run(text, true, self.width, self.mode, &mut self.tail);
            tail.close(text.len(), &mut self.tail);
        }
    }

    pub(super) fn width(&self) -> usize {
        self.width
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len() + self.tail.len()
    }

    pub(super) fn row(&self, i: usize) -> Option<Row> {
        match i.checked_sub(self.rows.len()) {
            None => self.rows.get(i).copied(),
            Some(t) => self.tail.get(t).copied(),
        }
    }

    /// The row holding byte `offset` (the last row starting at or before it).
    pub(super) fn row_of(&self, offset: usize) -> usize {
        let in_rows = self.rows.partition_point(|r| r.start <= offset);
        if in_rows < self.rows.len() || self.tail.is_empty() {
            return in_rows.saturating_sub(1);
        }
        self.rows.len()
            + self
                .tail
                .partition_point(|r| r.start <= offset)
                .saturating_sub(1)
    }
}

/// One grapheme of a row as the screen draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Placed {
    /// Its bytes in the text.
    pub at: usize,
    pub len: usize,
    /// The column it starts at, and how many it takes.
    pub col: usize,
    pub width: usize,
    pub glyph: Glyph,
}

/// The visible graphemes of one row of a wrap `width` wide.
pub(super) fn cells(text: &str, row: Row, width: usize) -> impl Iterator<Item = Placed> + '_ {
    let slice = text.get(..row.end).unwrap_or(text);
    let mut p = row.start;
    let mut col = 0;
    std::iter::from_fn(move || {
        while p < slice.len() {
            let (len, glyph) = grapheme(slice, p, true)?;
            let placed = Placed {
                at: p,
                len,
                col,
                width: glyph.width_at(col, width),
                glyph,
            };
            p += len;
            col += placed.width;
            if !matches!(glyph, Glyph::Invisible | Glyph::Newline) {
                return Some(placed);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(text: &str, width: usize, mode: WrapMode) -> Vec<String> {
        let mut wrap = Wrap::new(width, mode);
        wrap.update(text, true);
        (0..wrap.len())
            .filter_map(|i| wrap.row(i))
            .map(|r| text[r.start..r.end].to_owned())
            .collect()
    }

    fn width_of(text: &str, row: Row, width: usize) -> usize {
        cells(text, row, width)
            .last()
            .map_or(0, |c| c.col + c.width)
    }

    #[test]
    fn english_breaks_between_words() {
        assert_eq!(
            rows("hello world foo", 8, WrapMode::Prose),
            ["hello ", "world ", "foo"]
        );
        assert_eq!(
            rows("abcdefghij", 4, WrapMode::Prose),
            ["abcd", "efgh", "ij"]
        );
    }

    #[test]
    fn cjk_breaks_anywhere_but_never_inside_a_character() {
        assert_eq!(
            rows("你好世界，再见", 5, WrapMode::Prose),
            ["你好", "世界", "，再", "见"]
        );
        assert_eq!(
            rows("用Python写脚本", 9, WrapMode::Prose),
            ["用Python", "写脚本"]
        );
    }

    #[test]
    fn blank_lines_show_inside_a_segment_only() {
        assert_eq!(rows("\n\na\n\nb\n\n", 10, WrapMode::Prose), ["a", "", "b"]);
        assert!(rows("\n \n", 10, WrapMode::Prose) == [" "]);
    }

    #[test]
    fn code_keeps_its_blanks_and_cuts_at_the_width() {
        assert_eq!(
            rows("def f():\n    return 1234\n", 8, WrapMode::Code),
            ["def f():", "    retu", "rn 1234"]
        );
    }

    #[test]
    fn tabs_advance_to_the_next_stop() {
        let text = "a\tb";
        let mut wrap = Wrap::new(20, WrapMode::Code);
        wrap.update(text, true);
        let row = wrap.row(0).expect("one row");
        let cols: Vec<usize> = cells(text, row, 20).map(|c| c.col).collect();
        assert_eq!(cols, [0, 1, TAB_STOP]);
    }

    #[test]
    fn a_tab_before_an_emoji_is_still_a_tab() {
        // The emoji sends the tab through the grapheme tables, where it is a control character.
        let text = "你好\t\t🇨🇳";
        assert_eq!(rows(text, 5, WrapMode::Prose), ["你好\t", "🇨🇳"]);
    }

    #[test]
    fn plain_wide_characters_agree_with_the_grapheme_tables() {
        let plain = (0..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_plain_wide(c));
        for c in plain {
            let s = c.to_string();
            assert_eq!(s.as_str().cell_width(), 2, "{c:?}");
            for next in ['a', '中', 'カ', '，'] {
                let pair = format!("{c}{next}");
                assert_eq!(pair.graphemes(true).count(), 2, "{c:?}{next:?}");
            }
        }
    }

    #[test]
    fn a_combining_mark_arriving_later_joins_the_character() {
        let mut wrap = Wrap::new(3, WrapMode::Prose);
        wrap.update("abe", false);
        wrap.update("abe\u{301}c", false);
        wrap.update("abe\u{301}cd", true);
        let text = "abe\u{301}cd";
        let got: Vec<&str> = (0..wrap.len())
            .filter_map(|i| wrap.row(i))
            .map(|r| &text[r.start..r.end])
            .collect();
        assert_eq!(got, ["abe\u{301}", "cd"]);
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("你好".to_owned()),
                Just("世界。".to_owned()),
                Just("复利".to_owned()),
                Just("hello".to_owned()),
                Just("internationalization".to_owned()),
                Just(" ".to_owned()),
                Just("  ".to_owned()),
                Just("\t".to_owned()),
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just("e\u{301}".to_owned()),
                Just("🇨🇳".to_owned()),
                Just("👍🏽".to_owned()),
                Just("\u{3000}".to_owned()),
                Just("a".to_owned()),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn growing_text_wraps_like_the_whole(
            text in text_strategy(),
            width in 1usize..24,
            cuts in proptest::collection::vec(0usize..400, 0..12),
            code in any::<bool>(),
        ) {
            let mode = if code { WrapMode::Code } else { WrapMode::Prose };
            let mut bounds: Vec<usize> = cuts.into_iter()
                .map(|c| c % (text.len() + 1))
                .filter(|&c| text.is_char_boundary(c))
                .collect();
            bounds.sort_unstable();
            let mut wrap = Wrap::new(width, mode);
            for b in bounds {
                wrap.update(&text[..b], false);
            }
            wrap.update(&text, false);
            let mut whole = Wrap::new(width, mode);
            whole.update(&text, false);
            let streamed: Vec<Row> = (0..wrap.len()).filter_map(|i| wrap.row(i)).collect();
            let at_once: Vec<Row> = (0..whole.len()).filter_map(|i| whole.row(i)).collect();
            prop_assert_eq!(&streamed, &at_once);
            wrap.update(&text, true);
            whole.update(&text, true);
            let streamed: Vec<Row> = (0..wrap.len()).filter_map(|i| wrap.row(i)).collect();
            let at_once: Vec<Row> = (0..whole.len()).filter_map(|i| whole.row(i)).collect();
            prop_assert_eq!(&streamed, &at_once);
        }

        #[test]
        fn rows_fit_and_lose_no_character(text in text_strategy(), width in 2usize..24) {
            let mut wrap = Wrap::new(width, WrapMode::Prose);
            wrap.update(&text, true);
            let mut shown = String::new();
            let mut last_end = 0;
            for row in (0..wrap.len()).filter_map(|i| wrap.row(i)) {
                prop_assert!(width_of(&text, row, width) <= width, "{:?} wider than {width}", &text[row.start..row.end]);
                prop_assert!(row.start >= last_end);
                last_end = row.end;
                shown.push_str(&text[row.start..row.end]);
            }
            let visible = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            prop_assert_eq!(visible(&shown), visible(&text));
        }
    }
}
