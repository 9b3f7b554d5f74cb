//! The diff as screen rows: a gutter of line numbers and the sign, then the line wrapped under
//! itself by display width.

use super::Comparison;
use super::diff::{DiffLine, LineKind, PromptDiff};
use crate::tui::text::{self, pad};

/// What a piece of a diff row is, styled when drawn so that cached rows outlive a theme change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ink {
    Gutter,
    Context,
    Added,
    AddedChange,
    Removed,
    RemovedChange,
    Hunk,
    Notice,
}

/// The diff wrapped to a width.
#[derive(Clone, Debug)]
pub(super) struct DiffRows {
    pub key: Comparison,
    pub width: usize,
    pub rows: Vec<Vec<(String, Ink)>>,
}

/// The diff as rows of at most `max` cells: a gutter of line numbers and the sign, then the
/// line, wrapped under itself.
pub(super) fn diff_rows(diff: &PromptDiff, max: usize) -> Vec<Vec<(String, Ink)>> {
    let last = diff
        .lines
        .iter()
        .filter_map(|l| match l {
            DiffLine::Line { old, new, .. } => (*old).max(*new),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let digits = last.to_string().len();
    // Line numbers go first when the diff would be left with too little room for text.
    let numbered = max >= 2 * digits + 4 + 8;
    let gutter_width = if numbered { 2 * digits + 4 } else { 2 };
    let mut rows = Vec::new();
    for line in &diff.lines {
        match line {
            DiffLine::Notice(text) => {
                rows.extend(text::wrap(
                    &[(text::printable(text).as_ref(), Ink::Notice)],
                    max,
                ));
            }
            DiffLine::Hunk(text) => rows.extend(text::wrap(&[(text.as_str(), Ink::Hunk)], max)),
            DiffLine::Line {
                kind,
                old,
                new,
                pieces,
            } => {
                let (sign, ink, change) = match kind {
                    LineKind::Context => (' ', Ink::Context, Ink::Context),
                    LineKind::Added => ('+', Ink::Added, Ink::AddedChange),
                    LineKind::Removed => ('-', Ink::Removed, Ink::RemovedChange),
                };
                let number = |n: &Option<usize>| n.map_or_else(String::new, |n| n.to_string());
                let gutter = if numbered {
                    format!("{:>digits$} {:>digits$} ", number(old), number(new))
                } else {
                    String::new()
                };
                let printable: Vec<(String, Ink)> = pieces
                    .iter()
                    .map(|p| {
                        let ink = if p.changed { change } else { ink };
                        (text::printable(&p.text).into_owned(), ink)
                    })
                    .collect();
                let refs: Vec<(&str, Ink)> =
                    printable.iter().map(|(t, i)| (t.as_str(), *i)).collect();
                let wrapped = text::wrap(&refs, max.saturating_sub(gutter_width).max(1));
                for (n, mut row) in wrapped.into_iter().enumerate() {
                    let mut out = Vec::with_capacity(row.len() + 2);
                    if n == 0 {
                        out.push((gutter.clone(), Ink::Gutter));
                        out.push((format!("{sign} "), ink));
                    } else {
                        out.push((pad("", gutter_width), Ink::Gutter));
                    }
                    out.append(&mut row);
                    rows.push(out);
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rows_keep_the_gutter_clear() {
        let diff = PromptDiff::between("", "一二三四五六七八九十一二三四五六七八九十\n");
        let rows = diff_rows(&diff, 20);
        // Gutter "  1 " (digits 1: "  " + "1 ") + "+ " = 6 cells leaves 14 for text: 7 characters.
        let texts: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|(t, _)| t.as_str()).collect())
            .collect();
        assert_eq!(
            texts,
            [
                "@@ -0,0 +1 @@",
                "  1 + 一二三四五六七",
                "      八九十一二三四",
                "      五六七八九十",
            ]
        );
    }
}
