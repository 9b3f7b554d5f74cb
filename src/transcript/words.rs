//! Word counting the way a Chinese-speaking curator counts: each CJK character is one word, other
//! scripts count Unicode words.
//!
//! Text is cut into *runs* at whitespace, at markup tags (`<think>`, `</b>`, `<br />`,
//! `<a href="x">`), and in `mixed` and `chars` modes at every CJK character, which counts one by
//! itself. Each run is segmented on its own by UAX #29 and a segment counts when it holds a letter
//! or a digit (keycap emoji such as 1️⃣ do not); tags count zero. Every cut is decided by the text
//! up to it (a `<` waits for its tag to end, at most [`MAX_MARKUP`] bytes), which is what lets
//! [`WordCounter`] follow a stream and still total what [`count_words`] gives for the whole.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// How words are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    /// CJK characters count one each; other text counts UAX #29 words.
    #[default]
    Mixed,
    /// Every letter or digit counts one (the 字数 of a word processor, punctuation excluded).
    Chars,
    /// UAX #29 words throughout (Hangul and Katakana words count as one).
    Words,
}

impl CountMode {
    pub const ALL: [CountMode; 3] = [CountMode::Mixed, CountMode::Chars, CountMode::Words];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mixed => "mixed",
            Self::Chars => "chars",
            Self::Words => "words",
        }
    }
}

impl std::str::FromStr for CountMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown count mode `{s}` (expected mixed, chars or words)"))
    }
}

/// Han, Hiragana, Katakana and Hangul letters; CJK punctuation and symbols are not included.
#[must_use]
#[inline]
pub fn is_cjk(c: char) -> bool {
    let u = u32::from(c);
    if u < 0x1100 {
        return false;
    }
    // The unified ideograph blocks and Hangul syllables hold letters only: no table lookup.
    if matches!(u, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3 | 0x20000..=0x2A6DF) {
        return true;
    }
    let in_block = matches!(u,
        0x1100..=0x11FF          // Hangul Jamo
        | 0x3005..=0x3007        // 々 〆 〇
        | 0x3021..=0x3029        // Hangzhou numerals
        | 0x3038..=0x303B
        | 0x3041..=0x30FF        // Hiragana, Katakana
        | 0x3131..=0x318F        // Hangul Compatibility Jamo
        | 0x31F0..=0x31FF        // Katakana Phonetic Extensions
        | 0xA960..=0xA97F        // Hangul Jamo Extended-A
        | 0xD7B0..=0xD7FF        // Hangul Jamo Extended-B
        | 0xF900..=0xFAFF        // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F        // Halfwidth Katakana
        | 0xFFA0..=0xFFDC        // Halfwidth Hangul
        | 0x1B000..=0x1B16F      // Kana Supplement, Extended-A, Small Kana
        | 0x2A700..=0x323AF      // CJK Extensions C to H, Compatibility Supplement
    );
    in_block && c.is_alphanumeric()
}

/// Counts the words of `text`.
#[must_use]
pub fn count_words(text: &str, mode: CountMode) -> usize {
    let mut scan = Scan::default();
    let mut total = 0;
    scan.run(text, 0, mode, true, &mut total);
    total + scan.open_run(text, mode)
}

/// The longest markup tag recognised; a `<` with no `>` within this many bytes is plain text.
pub const MAX_MARKUP: usize = 256;

/// Where a scan stands: the run it is in.
#[derive(Clone, Copy, Debug)]
struct Scan {
    run_start: usize,
    /// Whether the run so far is pure ASCII, so [`count_run`] need not look again.
    ascii: bool,
}

impl Default for Scan {
    fn default() -> Self {
        Self {
            run_start: 0,
            ascii: true,
        }
    }
}

impl Scan {
    /// Scans `text` from `from`, counting into `total` every run that ends. Returns the offset
    /// of a `<` whose tag `text` ends too soon to decide, unless `at_end` says no more text will
    /// come (the `<` is then plain text).
    ///
    /// The hot loop of `moss check`.
    fn run(
        &mut self,
        text: &str,
        from: usize,
        mode: CountMode,
        at_end: bool,
        total: &mut usize,
    ) -> Option<usize> {
        let split_cjk = mode != CountMode::Words;
        let bytes = text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if b == b' ' || (b'\t'..=b'\r').contains(&b) {
                    self.end_run(text, i, i + 1, mode, total);
                    i += 1;
                    continue;
                }
                if b == b'<' {
                    match markup(&bytes[i..]) {
                        Markup::Tag(len) => {
                            self.end_run(text, i, i + len, mode, total);
                            i += len;
                            continue;
                        }
                        Markup::Undecided if !at_end => return Some(i),
                        Markup::Undecided | Markup::NotTag => {}
                    }
                }
                i += 1;
                continue;
            }
            let (c, len) = decode(bytes, i);
            let cjk = split_cjk && is_cjk(c);
            if cjk || c.is_whitespace() {
                self.end_run(text, i, i + len, mode, total);
                *total += usize::from(cjk);
            } else {
                self.ascii = false;
            }
            i += len;
        }
        None
    }

    /// Counts the run that ends at `end` and starts the next at `next`.
    #[inline]
    fn end_run(&mut self, text: &str, end: usize, next: usize, mode: CountMode, total: &mut usize) {
        if self.run_start < end {
            *total += count_run(&text[self.run_start..end], mode, self.ascii);
        }
        self.run_start = next;
        self.ascii = true;
    }

    /// Words of the run still open at the end of `text`.
    fn open_run(&self, text: &str, mode: CountMode) -> usize {
        text.get(self.run_start..)
            .map_or(0, |run| count_run(run, mode, self.ascii))
    }
}

enum Markup {
    /// A tag of this many bytes.
    Tag(usize),
    NotTag,
    /// The text ends before the tag does.
    Undecided,
}

/// Whether `b` (starting at a `<`) opens a markup tag: `<name>`, `</name>`, `<name/>`, and
/// attributes written `key=value`, `key="value"` or `key='value'`. Bare words after a name are
/// not attributes, so `x<y and z>w` stays text.
fn markup(b: &[u8]) -> Markup {
    let at = |i: usize| b.get(i).copied();
    let mut i = 1;
    if at(i) == Some(b'/') {
        i += 1;
    }
    match at(i) {
        None => return Markup::Undecided,
        Some(c) if c.is_ascii_alphabetic() => {}
        Some(_) => return Markup::NotTag,
    }
    while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-')) {
        i += 1;
    }
    loop {
        if i > MAX_MARKUP {
            return Markup::NotTag;
        }
        match at(i) {
            None => return Markup::Undecided,
            Some(b'>') => return Markup::Tag(i + 1),
            Some(b'/') => {
                return match at(i + 1) {
                    None => Markup::Undecided,
                    Some(b'>') => Markup::Tag(i + 2),
                    Some(_) => Markup::NotTag,
                };
            }
            Some(b' ' | b'\t') => {
                while matches!(at(i), Some(b' ' | b'\t')) {
                    i += 1;
                }
                match at(i) {
                    None => return Markup::Undecided,
                    Some(b'>' | b'/') => continue,
                    Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {}
                    Some(_) => return Markup::NotTag,
                }
                while at(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'.' | b'-')
                }) {
                    i += 1;
                }
                match at(i) {
                    None => return Markup::Undecided,
                    Some(b'=') => i += 1,
                    Some(_) => return Markup::NotTag,
                }
                match at(i) {
                    None => return Markup::Undecided,
                    Some(quote @ (b'"' | b'\'')) => {
                        i += 1;
                        loop {
                            match at(i) {
                                None => return Markup::Undecided,
                                Some(c) if c == quote => break,
                                Some(b'<' | b'\n') => return Markup::NotTag,
                                Some(_) if i > MAX_MARKUP => return Markup::NotTag,
                                Some(_) => i += 1,
                            }
                        }
                        i += 1;
                    }
                    Some(c) if is_unquoted_value(c) => {
                        while at(i).is_some_and(is_unquoted_value) {
                            i += 1;
                        }
                    }
                    Some(_) => return Markup::NotTag,
                }
            }
            Some(_) => return Markup::NotTag,
        }
    }
}

fn is_unquoted_value(c: u8) -> bool {
    c.is_ascii_graphic() && !matches!(c, b'"' | b'\'' | b'<' | b'>' | b'=' | b'`')
}

/// The char starting at byte `i` of valid UTF-8, and its length; a hot path, hence by hand.
#[inline]
fn decode(bytes: &[u8], i: usize) -> (char, usize) {
    let b0 = u32::from(bytes[i]);
    let cont = |k: usize| u32::from(bytes[i + k] & 0x3F);
    let (u, len) = if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    };
    (
        char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER),
        len,
    )
}

/// `char::is_alphanumeric` with the common punctuation blocks answered without a table lookup.
#[inline]
fn is_alphanumeric(c: char) -> bool {
    match u32::from(c) {
        0..=0x7F => c.is_ascii_alphanumeric(),
        // General Punctuation; CJK Symbols and Punctuation (but 々〆〇 and the numerals);
        // fullwidth ASCII punctuation.
        0x2000..=0x206F
        | 0x3000..=0x3004
        | 0x3008..=0x3020
        | 0xFF01..=0xFF0F
        | 0xFF1A..=0xFF20
        | 0xFF3B..=0xFF40
        | 0xFF5B..=0xFF65 => false,
        _ => c.is_alphanumeric(),
    }
}

/// Counts one run: text with no whitespace, no tag (and no CJK character in `mixed` and
/// `chars` modes). `ascii` says the run is pure ASCII.
fn count_run(run: &str, mode: CountMode, ascii: bool) -> usize {
    match mode {
        CountMode::Chars => {
            if ascii {
                run.bytes().filter(u8::is_ascii_alphanumeric).count()
            } else {
                run.chars().filter(|&c| is_alphanumeric(c)).count()
            }
        }
        CountMode::Mixed | CountMode::Words => {
            if ascii {
                ascii_words(run.as_bytes())
            } else if !run.chars().any(is_alphanumeric) {
                // Punctuation such as `。` or `，`: nothing to segment.
                0
            } else {
                run.split_word_bounds()
                    // A keycap (1️⃣) is an emoji, not a number.
                    .filter(|w| w.chars().any(is_alphanumeric) && !w.contains(KEYCAP))
                    .count()
            }
        }
    }
}

/// COMBINING ENCLOSING KEYCAP.
const KEYCAP: char = '\u{20E3}';

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    /// `_` (`ExtendNumLet`).
    Underscore,
    /// `:` (`MidLetter`).
    MidLetter,
    /// `.` and `'` (`MidNumLet`, `Single_Quote`).
    MidNumLet,
    /// `,` and `;` (`MidNum`).
    MidNum,
    Other,
}

const CLASSES: [Class; 256] = {
    let mut table = [Class::Other; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = class_of(b);
        if b == u8::MAX {
            break;
        }
        b += 1;
    }
    table
};

#[inline]
fn class(b: u8) -> Class {
    CLASSES[usize::from(b)]
}

const fn class_of(b: u8) -> Class {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
        b'0'..=b'9' => Class::Digit,
        b'_' => Class::Underscore,
        b':' => Class::MidLetter,
        b'.' | b'\'' => Class::MidNumLet,
        b',' | b';' => Class::MidNum,
        _ => Class::Other,
    }
}

/// UAX #29 word segments holding a letter or digit, for ASCII text without whitespace.
///
/// Equal to segmenting with `unicode-segmentation` (a property test holds it to that), several
/// times faster: this is the inner loop of `moss check`.
fn ascii_words(b: &[u8]) -> usize {
    let mut count = 0;
    // Whether the byte before `i` belongs to a word-like segment (letters, digits, `_`, or a
    // joining middle character), and whether that segment already holds a letter or digit.
    let mut in_segment = false;
    let mut has_alnum = false;
    let mut prev = Class::Other;
    for i in 0..b.len() {
        let c = class(b[i]);
        match c {
            Class::Letter | Class::Digit => {
                if !in_segment {
                    in_segment = true;
                    has_alnum = false;
                }
                if !has_alnum {
                    count += 1;
                    has_alnum = true;
                }
            }
            Class::Underscore => {
                if !in_segment {
                    in_segment = true;
                    has_alnum = false;
                }
            }
            Class::MidLetter | Class::MidNumLet | Class::MidNum => {
                let next = b.get(i + 1).map_or(Class::Other, |&n| class(n));
                let joins = in_segment
                    && match (prev, next) {
                        (Class::Letter, Class::Letter) => c != Class::MidNum,
                        (Class::Digit, Class::Digit) => c != Class::MidLetter,
                        _ => false,
                    };
                in_segment = joins;
            }
            Class::Other => in_segment = false,
        }
        prev = c;
    }
    count
}

/// Counts words of a text that arrives in pieces; the total equals [`count_words`] of the whole.
#[derive(Clone, Debug, Default)]
pub struct WordCounter {
    mode: CountMode,
    complete: usize,
    /// Text from the start of the open run on.
    pending: String,
    scan: Scan,
    /// Where scanning of `pending` resumes: its end, or an undecided `<`.
    resume: usize,
}

impl WordCounter {
    #[must_use]
    pub fn new(mode: CountMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    pub fn push(&mut self, text: &str) {
        if self.pending.is_empty() {
            // Counted straight from `text`; only the open run is copied.
            let mut scan = Scan::default();
            let stop = scan.run(text, 0, self.mode, false, &mut self.complete);
            self.pending
                .push_str(&text[scan.run_start.min(text.len())..]);
            self.resume = stop.unwrap_or(text.len()) - scan.run_start.min(text.len());
            self.scan = Scan {
                run_start: 0,
                ascii: scan.ascii,
            };
            return;
        }
        self.pending.push_str(text);
        let stop = self.scan.run(
            &self.pending,
            self.resume,
            self.mode,
            false,
            &mut self.complete,
        );
        self.resume = stop.unwrap_or(self.pending.len());
        let done = self.scan.run_start.min(self.pending.len());
        if done > 0 {
            self.pending.drain(..done);
            self.resume -= done;
            self.scan.run_start = 0;
        }
    }

    /// Starts over, keeping the buffer.
    pub fn reset(&mut self) {
        self.complete = 0;
        self.pending.clear();
        self.scan = Scan::default();
        self.resume = 0;
    }

    /// Words so far, as if the text ended here.
    #[must_use]
    pub fn total(&self) -> usize {
        let mut scan = self.scan;
        let mut total = self.complete;
        scan.run(&self.pending, self.resume, self.mode, true, &mut total);
        total + scan.open_run(&self.pending, self.mode)
    }

    /// Words in the runs already closed; grows monotonically, cheap to read.
    #[must_use]
    pub fn complete(&self) -> usize {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mixed(s: &str) -> usize {
        count_words(s, CountMode::Mixed)
    }

    #[test]
    fn chinese_counts_characters_not_punctuation() {
        assert_eq!(mixed("你好，世界！"), 4);
        assert_eq!(mixed("每次思考字数不得超过前一段回答字数。"), 17);
        assert_eq!(mixed("“引号”、《书名》"), 4);
    }

    #[test]
    fn japanese_counts_kana_and_kanji() {
        assert_eq!(mixed("こんにちは"), 5);
        assert_eq!(mixed("コンピューター"), 7);
        assert_eq!(mixed("東京に行きます。"), 7);
        assert_eq!(count_words("コンピューター", CountMode::Words), 1);
    }

    #[test]
    fn korean_counts_syllables_in_mixed_and_words_in_words_mode() {
        assert_eq!(mixed("안녕하세요 세계"), 7);
        assert_eq!(count_words("안녕하세요 세계", CountMode::Words), 2);
    }

    #[test]
    fn english_counts_words() {
        assert_eq!(mixed("Hello, world!"), 2);
        assert_eq!(mixed("Don't stop: it's e.g. fine."), 5);
        assert_eq!(mixed("  leading and trailing  "), 3);
        assert_eq!(mixed("snake_case_name and __dunder__"), 3);
    }

    #[test]
    fn numbers_count_as_words() {
        assert_eq!(mixed("3.14 1,000,000 2024"), 3);
        assert_eq!(mixed("v1.2.3"), 1);
        assert_eq!(mixed("第3章"), 3);
    }

    #[test]
    fn mixed_scripts_split_at_cjk() {
        assert_eq!(mixed("用Python写一个脚本"), 7);
        assert_eq!(mixed("我在 GitHub 上看到了 README.md 文件"), 10);
    }

    #[test]
    fn emoji_punctuation_and_tags_count_zero() {
        assert_eq!(mixed("🎉🚀 👍🏽 🇨🇳"), 0);
        assert_eq!(mixed("... --- !!! ？？"), 0);
        assert_eq!(mixed("<think>嗯</think>"), 1);
        assert_eq!(mixed("line<br/>break </b>"), 2);
        assert_eq!(mixed("a < b and c<d"), 5);
        assert_eq!(mixed(""), 0);
        assert_eq!(mixed("1️⃣ 2️⃣ #️⃣ 10"), 1);
    }

    #[test]
    fn tags_with_attributes_count_zero_and_separate_words() {
        assert_eq!(mixed("One two<br />three."), 3);
        assert_eq!(mixed("<a href=\"https://x.org/a b\">link</a> here"), 2);
        assert_eq!(mixed("<div class='note' id=main>注意</div>"), 2);
        assert_eq!(mixed("<img src=x.png alt=\"\"/>"), 0);
        // Not tags: bare words after a name, a space after `<`, a tag cut off by the end.
        assert_eq!(mixed("if x<y and z>w then"), 7);
        assert_eq!(mixed("a <b c"), 3);
        assert_eq!(mixed("end <a href=\"x"), 4);
    }

    #[test]
    fn chars_mode_counts_letters_and_digits() {
        assert_eq!(count_words("你好, ab 12!", CountMode::Chars), 6);
        assert_eq!(count_words("<think>x</think>", CountMode::Chars), 1);
    }

    #[test]
    fn counter_follows_a_stream() {
        let mut c = WordCounter::new(CountMode::Mixed);
        for piece in ["Hel", "lo wo", "rld, 你", "好", " stream", "ing"] {
            c.push(piece);
        }
        assert_eq!(c.total(), 5);
        assert_eq!(c.complete(), 4);
    }

    fn reference(s: &str) -> usize {
        s.split_word_bounds()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count()
    }

    proptest! {
        #[test]
        fn ascii_fast_path_matches_uax29(s in "[a-zA-Z0-9_:.',;!?()\\-]{0,40}") {
            prop_assert_eq!(ascii_words(s.as_bytes()), reference(&s));
        }

        #[test]
        fn counting_in_pieces_equals_counting_whole(
            s in "([a-z]{1,6}|[0-9.,]{1,4}|[ \\n\\t]|你|好|。|カ|ー|한|글|🎉|1️⃣|<think>|</b>|<br />|<a href=\"x y\">|<p class='c'>|<a|href=|\"|'|=|/|>|<|_){0,40}",
            cuts in proptest::collection::vec(0usize..200, 0..8),
            mode in prop_oneof![Just(CountMode::Mixed), Just(CountMode::Chars), Just(CountMode::Words)],
        ) {
            let mut bounds: Vec<usize> = cuts.into_iter()
                .map(|c| c % (s.len() + 1))
                .filter(|&c| s.is_char_boundary(c))
                .collect();
            bounds.sort_unstable();
            let mut counter = WordCounter::new(mode);
            let mut last = 0;
            for b in bounds.into_iter().chain([s.len()]) {
                counter.push(&s[last..b]);
                last = b;
            }
            prop_assert_eq!(counter.total(), count_words(&s, mode));
        }
    }
}
