//! Word counting the way a Chinese-speaking curator counts: each CJK character is one word, other
//! scripts count Unicode words.
//!
//! Text is cut into *runs* at whitespace (and, in `mixed` mode, at every CJK character, which
//! counts one by itself). Each run is segmented on its own by UAX #29 and a segment counts when
//! it holds a letter or a digit; markup tags such as `<think>` or `<br/>` inside a run count zero.
//! Because run edges are decided by one character, counting a text in pieces gives the same total
//! as counting it whole, which is what lets [`WordCounter`] follow a stream.

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
    let mut total = 0;
    let tail = for_each_run(text, mode, &mut total);
    total + count_unknown_run(tail, mode)
}

/// Counts every complete run of `text` into `total` and returns the last run, which may continue in
/// text still to come.
///
/// The hot loop of `moss check`: it notes on the way whether a run is pure ASCII and whether it
/// holds a `<`, so [`count_run`] need not look again.
fn for_each_run<'a>(text: &'a str, mode: CountMode, total: &mut usize) -> &'a str {
    let split_cjk = mode != CountMode::Words;
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut ascii = true;
    let mut angle = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            if b == b' ' || (b'\t'..=b'\r').contains(&b) {
                if start < i - 1 {
                    *total += count_run(&text[start..i - 1], mode, ascii, angle);
                }
                start = i;
                ascii = true;
                angle = false;
            } else if b == b'<' {
                angle = true;
            }
            continue;
        }
        let (c, len) = decode(bytes, i);
        let cjk = split_cjk && is_cjk(c);
        if cjk || c.is_whitespace() {
            if start < i {
                *total += count_run(&text[start..i], mode, ascii, angle);
            }
            *total += usize::from(cjk);
            start = i + len;
            ascii = true;
            angle = false;
        } else {
            ascii = false;
        }
        i += len;
    }
    &text[start..]
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

/// Counts one run: text with no whitespace (and no CJK character in `mixed` and `chars` modes).
fn count_run(run: &str, mode: CountMode, ascii: bool, angle: bool) -> usize {
    if !angle {
        return count_piece(run, mode, ascii);
    }
    let mut total = 0;
    let mut piece_start = 0;
    let mut search = 0;
    while let Some(k) = run[search..].find('<') {
        let at = search + k;
        if let Some(len) = tag_len(&run[at..]) {
            total += count_piece(&run[piece_start..at], mode, ascii);
            piece_start = at + len;
            search = piece_start;
        } else {
            // Not a tag: the `<` stays with the text around it, as UAX #29 would see it.
            search = at + 1;
        }
    }
    total + count_piece(&run[piece_start..], mode, ascii)
}

/// [`count_run`] for a run whose make-up is not known yet.
fn count_unknown_run(run: &str, mode: CountMode) -> usize {
    count_run(run, mode, run.is_ascii(), run.as_bytes().contains(&b'<'))
}

/// Length of a markup tag at the start of `s` (`<name>`, `</name>`, `<name/>`), if there is one.
fn tag_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    if b.get(i) == Some(&b'/') {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    {
        i += 1;
    }
    if b.get(i) == Some(&b'/') {
        i += 1;
    }
    (b.get(i) == Some(&b'>')).then_some(i + 1)
}

/// `ascii` says the piece is pure ASCII (a piece cut from an ASCII run is ASCII too).
fn count_piece(piece: &str, mode: CountMode, ascii: bool) -> usize {
    if piece.is_empty() {
        return 0;
    }
    match mode {
        CountMode::Chars => {
            if ascii {
                piece.bytes().filter(u8::is_ascii_alphanumeric).count()
            } else {
                piece.chars().filter(|&c| is_alphanumeric(c)).count()
            }
        }
        CountMode::Mixed | CountMode::Words => {
            if ascii {
                ascii_words(piece.as_bytes())
            } else if !piece.chars().any(is_alphanumeric) {
                // Punctuation such as `。` or `，`: nothing to segment.
                0
            } else {
                piece
                    .split_word_bounds()
                    .filter(|w| w.chars().any(char::is_alphanumeric))
                    .count()
            }
        }
    }
}

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
    /// The run still open at the end of what was pushed.
    tail: String,
}

impl WordCounter {
    #[must_use]
    pub fn new(mode: CountMode) -> Self {
        Self {
            mode,
            complete: 0,
            tail: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) {
        if self.tail.is_empty() {
            let tail = for_each_run(text, self.mode, &mut self.complete);
            self.tail.push_str(tail);
            return;
        }
        // The open run continues into `text`: find where it ends, count it once, go on.
        let split_cjk = self.mode != CountMode::Words;
        let end = text
            .char_indices()
            .find(|&(_, c)| c.is_whitespace() || (split_cjk && is_cjk(c)))
            .map(|(i, _)| i);
        match end {
            None => self.tail.push_str(text),
            Some(end) => {
                self.tail.push_str(&text[..end]);
                self.complete += count_unknown_run(&self.tail, self.mode);
                self.tail.clear();
                let tail = for_each_run(&text[end..], self.mode, &mut self.complete);
                self.tail.push_str(tail);
            }
        }
    }

    /// Starts over, keeping the buffer.
    pub fn reset(&mut self) {
        self.complete = 0;
        self.tail.clear();
    }

    /// Words so far, counting the open run as if the text ended here.
    #[must_use]
    pub fn total(&self) -> usize {
        self.complete + count_unknown_run(&self.tail, self.mode)
    }

    /// Words in the runs that are already closed; grows monotonically, cheap to read.
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
            s in "([a-z]{1,6}|[0-9.,]{1,4}|[ \\n\\t]|你|好|。|カ|ー|한|글|🎉|<think>|</b>|<|_|'){0,40}",
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
