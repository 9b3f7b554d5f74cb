//! Fitting text into terminal cells by display width: CJK characters take two cells, and a row
//! must never end in half of one.

use std::borrow::Cow;

use ratatui::buffer::CellWidth as _;
use unicode_segmentation::UnicodeSegmentation as _;

/// Cells a tab stands for; the buffer drops control characters, so tabs are expanded first.
const TAB: &str = "    ";

/// Marks text cut short.
pub(crate) const ELLIPSIS: &str = "…";

/// `text` with tabs expanded and other control characters made visible, so that what is
/// measured is what the buffer draws.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.contains(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str(TAB),
            c if c.is_control() => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Display width of one grapheme, as the buffer counts it.
fn grapheme_width(grapheme: &str) -> usize {
    usize::from(grapheme.cell_width())
}

/// Display width of printable text.
pub(crate) fn width(text: &str) -> usize {
    text.graphemes(true).map(grapheme_width).sum()
}

/// `text` cut to at most `max` cells, ending in an ellipsis when something was cut.
pub(crate) fn fit(text: &str, max: usize) -> Cow<'_, str> {
    let text = printable(text);
    if width(&text) <= max {
        return text;
    }
    let room = max.saturating_sub(width(ELLIPSIS));
    let mut out = String::new();
    let mut used = 0;
    for grapheme in text.graphemes(true) {
        let w = grapheme_width(grapheme);
        if used + w > room {
            break;
        }
        used += w;
        out.push_str(grapheme);
    }
    if max >= width(ELLIPSIS) {
        out.push_str(ELLIPSIS);
    }
    Cow::Owned(out)
}

/// `text` padded with spaces to `cells` wide (unchanged when already that wide).
pub(crate) fn pad(text: &str, cells: usize) -> String {
    let mut out = text.to_owned();
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(width(text))));
    out
}

/// Splits styled pieces of printable text into rows of at most `max` cells, breaking between
/// graphemes (Chinese has no spaces to break at). A grapheme wider than a whole row is replaced
/// by an ellipsis so that nothing is drawn in half. An empty input, or no room at all, is one
/// empty row.
pub(crate) fn wrap<K: Copy + PartialEq>(pieces: &[(&str, K)], max: usize) -> Vec<Vec<(String, K)>> {
    if max == 0 {
        return vec![Vec::new()];
    }
    let mut rows = Vec::new();
    let mut row: Vec<(String, K)> = Vec::new();
    let mut used = 0;
    for &(text, kind) in pieces {
        for grapheme in text.graphemes(true) {
            let mut grapheme = grapheme;
            let mut w = grapheme_width(grapheme);
            if w > max {
                grapheme = ELLIPSIS;
                w = width(ELLIPSIS);
            }
            if used + w > max && used > 0 {
                rows.push(std::mem::take(&mut row));
                used = 0;
            }
            used += w;
            match row.last_mut() {
                Some((run, k)) if *k == kind => run.push_str(grapheme),
                _ => row.push((grapheme.to_owned(), kind)),
            }
        }
    }
    rows.push(row);
    rows
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn fit_counts_cjk_as_two_cells_and_never_cuts_one_in_half() {
        assert_eq!(fit("提示词版本", 10), "提示词版本");
        // 9 cells: four characters would be 8 plus the ellipsis 9.
        assert_eq!(fit("提示词版本", 9), "提示词版…");
        // 8 cells: 7 for text leaves room for three characters only.
        assert_eq!(fit("提示词版本", 8), "提示词…");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("a\tb", 10), "a    b");
    }

    #[test]
    fn wrap_breaks_between_characters_and_keeps_styles() {
        // 你好 (4 cells) leaves one, too little for 世 (2 cells).
        let rows = wrap(&[("你好", 1), ("世界ab", 2)], 5);
        assert_eq!(
            rows,
            vec![
                vec![("你好".to_owned(), 1)],
                vec![("世界a".to_owned(), 2)],
                vec![("b".to_owned(), 2)],
            ]
        );
        assert_eq!(wrap::<u8>(&[], 4), vec![Vec::new()]);
        assert_eq!(wrap(&[("中", 0)], 1), vec![vec![(ELLIPSIS.to_owned(), 0)]]);
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("word "),
                Just("中"),
                Just("文字"),
                Just("，"),
                Just("e\u{301}"),
                Just("カタカナ"),
                Just("한국"),
                Just("😀"),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn wrapped_rows_fit_and_lose_nothing(text in text(), max in 2usize..30) {
            let rows = wrap(&[(text.as_str(), ())], max);
            let mut joined = String::new();
            for row in &rows {
                let row_text: String = row.iter().map(|(t, ())| t.as_str()).collect();
                prop_assert!(width(&row_text) <= max, "{row_text:?} is wider than {max}");
                joined.push_str(&row_text);
            }
            prop_assert_eq!(joined, text);
        }

        #[test]
        fn fitted_text_fits_and_is_a_prefix(text in text(), max in 0usize..30) {
            let fitted = fit(&text, max);
            prop_assert!(width(&fitted) <= max);
            let kept = fitted.strip_suffix(ELLIPSIS).unwrap_or(&fitted);
            prop_assert!(text.starts_with(kept));
        }
    }
}
