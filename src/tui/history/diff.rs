//! What changed between two prompt versions: a unified line diff (the `similar` crate) with the
//! changed words marked inside changed lines.
//!
//! Inside a block of changed lines the old and new text are split at Unicode word boundaries
//! and diffed again: Latin text changes by whole words, while every CJK character is a word of
//! its own, so an edit to a Chinese sentence marks just the characters that changed.

use std::ops::Range;
use std::time::{Duration, Instant};

use similar::udiff::UnifiedHunkHeader;
use similar::{Algorithm, DiffTag, TextDiff};
use unicode_segmentation::UnicodeSegmentation as _;

/// Unchanged lines shown around each change, as in `diff -u`.
pub(super) const CONTEXT_LINES: usize = 3;

/// A diff that takes longer than this settles for a coarser (still correct) answer: the screen
/// must not freeze on a huge prompt.
const DIFF_TIMEOUT: Duration = Duration::from_millis(250);

/// Below this share of unchanged words a changed line is a rewrite, and marking "what changed"
/// inside it would mark nearly everything.
const MIN_INLINE_RATIO: f32 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LineKind {
    Context,
    Added,
    Removed,
}

/// A stretch of a line, `changed` when it differs from the other version's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub text: String,
    pub changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DiffLine {
    /// Said instead of, or about, lines: no changes, a missing snapshot, no final newline.
    Notice(String),
    /// `@@ -a,b +c,d @@`
    Hunk(String),
    Line {
        kind: LineKind,
        /// 1-based line numbers in the old and the new text.
        old: Option<usize>,
        new: Option<usize>,
        pieces: Vec<Piece>,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct PromptDiff {
    pub lines: Vec<DiffLine>,
    pub added: usize,
    pub removed: usize,
}

impl PromptDiff {
    pub(super) fn notice(text: impl Into<String>) -> Self {
        Self {
            lines: vec![DiffLine::Notice(text.into())],
            ..Self::default()
        }
    }

    pub(super) fn between(old: &str, new: &str) -> Self {
        let diff = TextDiff::configure()
            .timeout(DIFF_TIMEOUT)
            .diff_lines(old, new);
        if diff.ops().iter().all(|op| op.tag() == DiffTag::Equal) {
            return Self::notice("no changes: both versions have the same text");
        }
        let old_lines: Vec<&str> = diff.iter_old_slices().collect();
        let new_lines: Vec<&str> = diff.iter_new_slices().collect();
        let mut out = Self::default();
        for group in diff.grouped_ops(CONTEXT_LINES) {
            out.lines
                .push(DiffLine::Hunk(UnifiedHunkHeader::new(&group).to_string()));
            for op in &group {
                let old_range = op.old_range();
                let new_range = op.new_range();
                match op.tag() {
                    DiffTag::Equal => {
                        for (o, n) in old_range.zip(new_range) {
                            let text = old_lines.get(o).copied().unwrap_or_default();
                            out.push(LineKind::Context, Some(o), Some(n), text, plain(text));
                        }
                    }
                    DiffTag::Delete => out.push_all(LineKind::Removed, &old_lines, old_range),
                    DiffTag::Insert => out.push_all(LineKind::Added, &new_lines, new_range),
                    DiffTag::Replace => {
                        let old_block = old_lines.get(old_range.clone()).unwrap_or_default();
                        let new_block = new_lines.get(new_range.clone()).unwrap_or_default();
                        let (old_pieces, new_pieces) = mark_changes(old_block, new_block);
                        for ((o, text), pieces) in old_range.zip(old_block).zip(old_pieces) {
                            out.push(LineKind::Removed, Some(o), None, text, pieces);
                        }
                        for ((n, text), pieces) in new_range.zip(new_block).zip(new_pieces) {
                            out.push(LineKind::Added, None, Some(n), text, pieces);
                        }
                    }
                }
            }
        }
        out
    }

    fn push_all(&mut self, kind: LineKind, lines: &[&str], range: Range<usize>) {
        for i in range {
            let text = lines.get(i).copied().unwrap_or_default();
            let (old, new) = match kind {
                LineKind::Removed => (Some(i), None),
                _ => (None, Some(i)),
            };
            self.push(kind, old, new, text, plain(text));
        }
    }

    /// `raw` is the line as the diff saw it, newline included.
    fn push(
        &mut self,
        kind: LineKind,
        old: Option<usize>,
        new: Option<usize>,
        raw: &str,
        pieces: Vec<Piece>,
    ) {
        match kind {
            LineKind::Added => self.added += 1,
            LineKind::Removed => self.removed += 1,
            LineKind::Context => {}
        }
        self.lines.push(DiffLine::Line {
            kind,
            old: old.map(|i| i + 1),
            new: new.map(|i| i + 1),
            pieces,
        });
        // Otherwise a change of only the final newline would show two identical lines.
        if kind != LineKind::Context && !raw.ends_with('\n') {
            self.lines
                .push(DiffLine::Notice("\\ no newline at end of text".to_owned()));
        }
    }
}

/// A line without its line break.
fn content(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn plain(line: &str) -> Vec<Piece> {
    let text = content(line);
    if text.is_empty() {
        return Vec::new();
    }
    vec![Piece {
        text: text.to_owned(),
        changed: false,
    }]
}

/// One word of a changed block; `line` is `None` for the break between two lines, which takes
/// part in the diff (so words do not match across lines) but is never shown.
struct Token<'a> {
    line: Option<usize>,
    text: &'a str,
}

fn tokens<'a>(lines: &[&'a str]) -> Vec<Token<'a>> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(Token {
                line: None,
                text: "\n",
            });
        }
        out.extend(content(line).split_word_bounds().map(|text| Token {
            line: Some(i),
            text,
        }));
    }
    out
}

/// The removed and the added lines of one changed block, split into changed and unchanged
/// pieces.
fn mark_changes(old: &[&str], new: &[&str]) -> (Vec<Vec<Piece>>, Vec<Vec<Piece>>) {
    let old_tokens = tokens(old);
    let new_tokens = tokens(new);
    let old_words: Vec<&str> = old_tokens.iter().map(|t| t.text).collect();
    let new_words: Vec<&str> = new_tokens.iter().map(|t| t.text).collect();
    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        &old_words,
        &new_words,
        Instant::now().checked_add(DIFF_TIMEOUT),
    );
    let mut old_changed = vec![false; old_tokens.len()];
    let mut new_changed = vec![false; new_tokens.len()];
    if similar::diff_ratio(&ops, old_words.len(), new_words.len()) >= MIN_INLINE_RATIO {
        for op in ops.iter().filter(|op| op.tag() != DiffTag::Equal) {
            for flag in old_changed.get_mut(op.old_range()).unwrap_or_default() {
                *flag = true;
            }
            for flag in new_changed.get_mut(op.new_range()).unwrap_or_default() {
                *flag = true;
            }
        }
    }
    (
        assemble(&old_tokens, &old_changed, old.len()),
        assemble(&new_tokens, &new_changed, new.len()),
    )
}

fn assemble(tokens: &[Token<'_>], changed: &[bool], lines: usize) -> Vec<Vec<Piece>> {
    let mut out: Vec<Vec<Piece>> = vec![Vec::new(); lines];
    for (token, &changed) in tokens.iter().zip(changed) {
        let Some(pieces) = token.line.and_then(|line| out.get_mut(line)) else {
            continue;
        };
        match pieces.last_mut() {
            Some(last) if last.changed == changed => last.text.push_str(token.text),
            _ => pieces.push(Piece {
                text: token.text.to_owned(),
                changed,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;

    fn hunks(diff: &PromptDiff) -> Vec<&str> {
        diff.lines
            .iter()
            .filter_map(|l| match l {
                DiffLine::Hunk(h) => Some(h.as_str()),
                _ => None,
            })
            .collect()
    }

    fn text_of(pieces: &[Piece]) -> String {
        pieces.iter().map(|p| p.text.as_str()).collect()
    }

    fn changed_of(pieces: &[Piece]) -> Vec<&str> {
        pieces
            .iter()
            .filter(|p| p.changed)
            .map(|p| p.text.as_str())
            .collect()
    }

    /// The lines of `kind` in order, as (old, new, text).
    fn lines_of(diff: &PromptDiff, kind: LineKind) -> Vec<(Option<usize>, Option<usize>, String)> {
        diff.lines
            .iter()
            .filter_map(|l| match l {
                DiffLine::Line {
                    kind: k,
                    old,
                    new,
                    pieces,
                } if *k == kind => Some((*old, *new, text_of(pieces))),
                _ => None,
            })
            .collect()
    }

    fn numbered(n: usize) -> String {
        (1..=n).fold(String::new(), |mut text, i| {
            let _ = writeln!(text, "line {i}");
            text
        })
    }

    #[test]
    fn one_change_shows_three_lines_of_context_each_side() {
        let old = numbered(12);
        let new = old.replace("line 6\n", "line six\n");
        let diff = PromptDiff::between(&old, &new);
        assert_eq!(hunks(&diff), ["@@ -3,7 +3,7 @@"]);
        let context: Vec<String> = lines_of(&diff, LineKind::Context)
            .into_iter()
            .map(|(_, _, t)| t)
            .collect();
        assert_eq!(
            context,
            ["line 3", "line 4", "line 5", "line 7", "line 8", "line 9"]
        );
        assert_eq!(
            lines_of(&diff, LineKind::Removed),
            [(Some(6), None, "line 6".to_owned())]
        );
        assert_eq!(
            lines_of(&diff, LineKind::Added),
            [(None, Some(6), "line six".to_owned())]
        );
        assert_eq!((diff.added, diff.removed), (1, 1));
    }

    #[test]
    fn distant_changes_get_their_own_hunks_and_near_ones_share() {
        let old = numbered(20);
        let far = old
            .replace("line 2\n", "line two\n")
            .replace("line 15\n", "")
            .replace("line 19\n", "line 19\nextra\n");
        let diff = PromptDiff::between(&old, &far);
        assert_eq!(
            hunks(&diff),
            ["@@ -1,5 +1,5 @@", "@@ -12,9 +12,9 @@"],
            "{diff:#?}"
        );
        // Six unchanged lines between two changes are all shown: one hunk.
        let near = old
            .replace("line 5\n", "line five\n")
            .replace("line 12\n", "line twelve\n");
        assert_eq!(
            hunks(&PromptDiff::between(&old, &near)),
            ["@@ -2,14 +2,14 @@"]
        );
    }

    /// The pieces of the one line of `kind`.
    fn only(diff: &PromptDiff, kind: LineKind) -> Vec<Piece> {
        let found: Vec<&Vec<Piece>> = diff
            .lines
            .iter()
            .filter_map(|l| match l {
                DiffLine::Line {
                    kind: k, pieces, ..
                } if *k == kind => Some(pieces),
                _ => None,
            })
            .collect();
        assert_eq!(found.len(), 1, "one {kind:?} line: {diff:#?}");
        found[0].clone()
    }

    #[test]
    fn a_chinese_edit_marks_only_the_characters_that_changed() {
        let old = "# 角色\n你是一个乐于助人的助手。\n回答要简洁。\n";
        let new = "# 角色\n你是一个严谨的数学助手。\n回答要简洁。\n";
        let diff = PromptDiff::between(old, new);
        let removed = only(&diff, LineKind::Removed);
        let added = only(&diff, LineKind::Added);
        assert_eq!(changed_of(&removed), ["乐于助人"]);
        assert_eq!(changed_of(&added), ["严谨", "数学"]);
        assert_eq!(text_of(&added), "你是一个严谨的数学助手。");
    }

    #[test]
    fn latin_text_changes_by_whole_words() {
        let diff = PromptDiff::between(
            "Answer briefly, then think.\n",
            "Answer very briefly, then think.\n",
        );
        let changed: String = changed_of(&only(&diff, LineKind::Added)).concat();
        assert_eq!(changed.trim(), "very");
    }

    #[test]
    fn a_rewritten_line_is_not_marked_inside() {
        let diff = PromptDiff::between("先回答问题。\n", "Always answer first.\n");
        for line in &diff.lines {
            if let DiffLine::Line { pieces, .. } = line {
                assert!(pieces.iter().all(|p| !p.changed), "{pieces:?}");
            }
        }
    }

    #[test]
    fn same_text_and_final_newline_changes_are_said_in_words() {
        assert_eq!(
            PromptDiff::between("一\n二\n", "一\n二\n").lines,
            [DiffLine::Notice(
                "no changes: both versions have the same text".to_owned()
            )]
        );
        let diff = PromptDiff::between("一\n二", "一\n二\n");
        assert!(
            diff.lines
                .contains(&DiffLine::Notice("\\ no newline at end of text".to_owned())),
            "{diff:#?}"
        );
    }

    #[test]
    fn a_first_version_is_all_added() {
        let diff = PromptDiff::between("", "甲\n乙\n");
        assert_eq!(hunks(&diff), ["@@ -0,0 +1,2 @@"]);
        assert_eq!((diff.added, diff.removed), (2, 0));
    }

    /// Where the old text's lines resume in a hunk header `@@ -a,b +c,d @@` (0-based).
    fn old_start(header: &str) -> (usize, usize) {
        let old = header
            .trim_start_matches("@@ -")
            .split(' ')
            .next()
            .expect("old range");
        let (start, len) = match old.split_once(',') {
            Some((s, l)) => (s.parse::<usize>().expect("start"), l.parse().expect("len")),
            None => (old.parse().expect("start"), 1),
        };
        (if len == 0 { start } else { start - 1 }, len)
    }

    fn split(text: &str) -> Vec<&str> {
        text.split_inclusive('\n').map(content).collect()
    }

    /// Rebuilds the new text's lines from the old text and the diff alone.
    fn apply(old: &str, diff: &PromptDiff) -> Vec<String> {
        let old = split(old);
        let mut out = Vec::new();
        let mut at = 0;
        let mut expected_old_len = 0;
        let mut seen_old_len = 0;
        for line in &diff.lines {
            match line {
                DiffLine::Hunk(h) => {
                    assert_eq!(seen_old_len, expected_old_len, "hunk length before {h}");
                    let (start, len) = old_start(h);
                    out.extend(old[at..start].iter().map(|s| (*s).to_owned()));
                    at = start;
                    (expected_old_len, seen_old_len) = (len, 0);
                }
                DiffLine::Line {
                    kind,
                    old: o,
                    pieces,
                    ..
                } => match kind {
                    LineKind::Context => {
                        assert_eq!(*o, Some(at + 1));
                        assert_eq!(old[at], text_of(pieces));
                        out.push(text_of(pieces));
                        at += 1;
                        seen_old_len += 1;
                    }
                    LineKind::Removed => {
                        assert_eq!(*o, Some(at + 1));
                        assert_eq!(old[at], text_of(pieces));
                        at += 1;
                        seen_old_len += 1;
                    }
                    LineKind::Added => out.push(text_of(pieces)),
                },
                DiffLine::Notice(_) => {}
            }
        }
        assert_eq!(seen_old_len, expected_old_len, "last hunk length");
        out.extend(old[at..].iter().map(|s| (*s).to_owned()));
        out
    }

    fn prompt() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(
                prop_oneof![
                    Just("# 角色"),
                    Just("你是一个乐于助人的助手。"),
                    Just("你是一个严谨的数学助手。"),
                    Just("Answer first."),
                    Just("Answer very briefly."),
                    Just(""),
                    Just("每次思考字数不得超过前一段回答字数"),
                ],
                0..24,
            ),
            any::<bool>(),
        )
            .prop_map(|(lines, final_newline)| {
                let mut text = lines.join("\n");
                if final_newline && !text.is_empty() {
                    text.push('\n');
                }
                text
            })
    }

    proptest! {
        #[test]
        fn the_diff_turns_the_old_text_into_the_new(old in prompt(), new in prompt()) {
            let diff = PromptDiff::between(&old, &new);
            if old == new {
                prop_assert_eq!(diff.lines.len(), 1);
            } else {
                prop_assert_eq!(apply(&old, &diff), split(&new));
            }
            let added = diff.lines.iter().filter(|l| matches!(l, DiffLine::Line { kind: LineKind::Added, .. })).count();
            prop_assert_eq!(added, diff.added);
        }
    }
}
