//! Code highlighting with syntect.
//!
//! The syntax definitions and the two colour schemes are loaded once, on first use, and shared by
//! every block. A block is highlighted line by line; the parser state after each complete line is
//! kept, so a block that grows as it streams costs only its new lines. Languages syntect does not
//! know are left plain, for the caller to draw in the `code` role.

use std::sync::LazyLock;

use ratatui::style::{Color, Modifier, Style};
use syntect::highlighting::{
    FontStyle, HighlightIterator, HighlightState, Highlighter, Theme as SyntaxTheme, ThemeSet,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};

use crate::tui::theme::{self, Role, Theme};

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// The syntect colour schemes, dark and light, taken out of the default set once.
static SCHEMES: LazyLock<[SyntaxTheme; 2]> = LazyLock::new(|| {
    let mut set = ThemeSet::load_defaults();
    let mut take = |name: &str| set.themes.remove(name).unwrap_or_default();
    [take("base16-ocean.dark"), take("InspiredGitHub")]
});

static HIGHLIGHTERS: LazyLock<[Highlighter<'static>; 2]> = LazyLock::new(|| {
    let [dark, light] = &*SCHEMES;
    [Highlighter::new(dark), Highlighter::new(light)]
});

/// A partial last line longer than this is drawn plain until its newline arrives: re-highlighting
/// it on every frame would cost time quadratic in its length.
const TAIL_LIMIT: usize = 1024;

/// Which colour scheme suits the terminal's background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    Dark,
    Light,
}

impl Background {
    /// Guessed from the theme's answer text: dark text means a light background.
    #[must_use]
    pub fn of(theme: &Theme) -> Self {
        match theme.style(Role::Answer).fg {
            Some(theme::Color::Rgb(r, g, b)) => {
                let luma = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
                if luma < 128 * 1000 {
                    Self::Light
                } else {
                    Self::Dark
                }
            }
            // Black and dark grey.
            Some(theme::Color::Indexed(0 | 8)) => Self::Light,
            _ => Self::Dark,
        }
    }

    fn highlighter(self) -> &'static Highlighter<'static> {
        let [dark, light] = &*HIGHLIGHTERS;
        match self {
            Self::Dark => dark,
            Self::Light => light,
        }
    }
}

/// The syntax for a fence's language (`python`, `py`, `rust`, `sh`, …), if syntect has one.
#[must_use]
pub fn syntax_for(language: &str) -> Option<&'static SyntaxReference> {
    let token = match language.to_ascii_lowercase().as_str() {
        "python3" | "py3" => "py",
        "shell" | "sh" | "zsh" | "console" => "bash",
        "c++" => "cpp",
        "golang" => "go",
        _ => language,
    };
    SYNTAXES.find_syntax_by_token(token)
}

/// A syntect style as a ratatui style: foreground and font only, so the terminal's background
/// shows through.
#[must_use]
pub fn to_style(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::default().fg(Color::Rgb(fg.r, fg.g, fg.b));
    if style.font_style.contains(FontStyle::BOLD) {
        out = out.add_modifier(Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        out = out.add_modifier(Modifier::ITALIC);
    }
    if style.font_style.contains(FontStyle::UNDERLINE) {
        out = out.add_modifier(Modifier::UNDERLINED);
    }
    out
}

/// A style from byte `start` of a block on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    style: Style,
}

/// One code block's highlighting, kept up to date as the block grows.
#[derive(Debug)]
pub struct CodeHighlight {
    syntax: Option<&'static SyntaxReference>,
    background: Background,
    parse: ParseState,
    state: HighlightState,
    /// Bytes of complete lines highlighted so far.
    done: usize,
    /// Spans of the complete lines.
    spans: Vec<Span>,
    /// Spans of the line still being written, highlighted from a copy of the state.
    tail: Vec<Span>,
    /// Lines highlighted since the block was created: a growing block must not repeat work.
    lines_highlighted: usize,
    /// The length of the code and whether it was complete at the last update.
    seen: (usize, bool),
}

impl CodeHighlight {
    /// A block in `language` (the first word of the fence's info string), plain when unknown.
    #[must_use]
    pub fn new(language: Option<&str>, background: Background) -> Self {
        let syntax = language.and_then(syntax_for);
        let parse = ParseState::new(syntax.unwrap_or_else(|| SYNTAXES.find_syntax_plain_text()));
        let state = HighlightState::new(background.highlighter(), ScopeStack::new());
        Self {
            syntax,
            background,
            parse,
            state,
            done: 0,
            spans: Vec::new(),
            tail: Vec::new(),
            lines_highlighted: 0,
            seen: (0, false),
        }
    }

    /// Whether syntect does not know the language: the block is drawn in the `code` role.
    #[must_use]
    pub fn is_plain(&self) -> bool {
        self.syntax.is_none()
    }

    /// Lines highlighted so far, counting each time a partial last line was.
    #[must_use]
    pub fn lines_highlighted(&self) -> usize {
        self.lines_highlighted
    }

    /// Catches up with `code`, which extends the text seen before; `complete` says no more will
    /// come, so a last line without a newline is final.
    pub fn update(&mut self, code: &str, complete: bool) {
        if self.syntax.is_none() || self.seen == (code.len(), complete) {
            return;
        }
        self.seen = (code.len(), complete);
        while let Some(newline) = memchr::memchr(b'\n', &code.as_bytes()[self.done..]) {
            if !self.commit_line(code, self.done + newline + 1) {
                return;
            }
        }
        self.tail.clear();
        if self.done == code.len() {
            return;
        }
        if complete {
            self.commit_line(code, code.len());
        } else if code.len() - self.done <= TAIL_LIMIT {
            let (parse, state) = (self.parse.clone(), self.state.clone());
            let mut tail = std::mem::take(&mut self.tail);
            if !self.highlight_line(code, code.len(), &mut tail) {
                tail.clear();
            }
            self.tail = tail;
            self.parse = parse;
            self.state = state;
        }
    }

    /// Highlights the line ending at `end` for good; false when syntect failed on it.
    fn commit_line(&mut self, code: &str, end: usize) -> bool {
        let mut spans = std::mem::take(&mut self.spans);
        let ok = self.highlight_line(code, end, &mut spans);
        self.spans = spans;
        if ok {
            self.done = end;
        } else {
            self.give_up();
        }
        ok
    }

    /// Highlights `code[self.done..end]` with the current state, appending spans to `out`.
    fn highlight_line(&mut self, code: &str, end: usize, out: &mut Vec<Span>) -> bool {
        self.lines_highlighted += 1;
        let line = &code[self.done..end];
        let Ok(ops) = self.parse.parse_line(line, &SYNTAXES) else {
            return false;
        };
        let highlighter = self.background.highlighter();
        let mut at = self.done;
        for (style, piece) in HighlightIterator::new(&mut self.state, &ops, line, highlighter) {
            let style = to_style(style);
            if out.last().is_none_or(|s| s.style != style) {
                out.push(Span { start: at, style });
            }
            at += piece.len();
        }
        true
    }

    /// A line syntect could not parse: the block keeps the colours it has and the rest is plain.
    fn give_up(&mut self) {
        tracing::debug!(
            "code block could not be highlighted past byte {}",
            self.done
        );
        self.syntax = None;
        self.tail.clear();
    }

    /// The style of the code from byte `offset` on; `None` where the block is plain.
    #[must_use]
    pub fn style_at(&self, offset: usize) -> Option<Style> {
        let mut cursor = self.cursor(offset);
        cursor.style(offset)
    }

    /// Reads styles at increasing offsets from `offset` on, in time proportional to the bytes
    /// read after one binary search.
    #[must_use]
    pub fn cursor(&self, offset: usize) -> StyleCursor<'_> {
        let in_tail = offset >= self.done;
        let spans = if in_tail { &self.tail } else { &self.spans };
        StyleCursor {
            spans: &self.spans,
            tail: &self.tail,
            done: self.done,
            in_tail,
            index: spans
                .partition_point(|s| s.start <= offset)
                .saturating_sub(1),
        }
    }
}

/// Styles of one block read at increasing offsets.
#[derive(Debug)]
pub struct StyleCursor<'a> {
    spans: &'a [Span],
    /// Spans of the partial last line, which starts at `done`.
    tail: &'a [Span],
    done: usize,
    in_tail: bool,
    index: usize,
}

impl StyleCursor<'_> {
    /// The style at `offset`, which must not be below the last offset asked for; `None` where
    /// the code is not highlighted.
    pub fn style(&mut self, offset: usize) -> Option<Style> {
        if offset >= self.done && !self.in_tail {
            self.in_tail = true;
            self.index = 0;
        }
        let spans = if self.in_tail { self.tail } else { self.spans };
        while spans.get(self.index + 1).is_some_and(|s| s.start <= offset) {
            self.index += 1;
        }
        spans
            .get(self.index)
            .filter(|s| s.start <= offset)
            .map(|s| s.style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "import math\n# a comment\nprint(math.pi)\n";

    fn dark() -> CodeHighlight {
        CodeHighlight::new(Some("python"), Background::Dark)
    }

    #[test]
    fn keywords_comments_and_names_get_different_colours() {
        let mut h = dark();
        h.update(CODE, true);
        let keyword = h.style_at(0).expect("highlighted");
        let name = h.style_at(7).expect("highlighted");
        let comment = h
            .style_at(CODE.find('#').expect("comment"))
            .expect("highlighted");
        assert_ne!(keyword.fg, name.fg);
        assert_ne!(comment.fg, name.fg);
        assert_ne!(comment.fg, keyword.fg);
    }

    #[test]
    fn a_growing_block_highlights_only_its_new_lines() {
        let mut h = dark();
        let mut code = String::new();
        for i in 0..50 {
            code.push_str(&["x", &i.to_string(), " = 1\n"].concat());
            h.update(&code, false);
        }
        // Asking again with nothing new costs nothing, not even the open line.
        h.update(&code, false);
        assert_eq!(h.lines_highlighted(), 50);
        let mut whole = dark();
        whole.update(&code, true);
        for offset in 0..code.len() {
            assert_eq!(h.style_at(offset), whole.style_at(offset), "byte {offset}");
        }
    }

    #[test]
    fn a_partial_line_is_highlighted_for_now_and_again_when_complete() {
        let mut h = dark();
        h.update("import ma", false);
        assert!(h.style_at(0).is_some(), "the open line has colours");
        h.update("import math\n", false);
        let mut whole = dark();
        whole.update("import math\n", true);
        assert_eq!(h.style_at(0), whole.style_at(0));
        assert_eq!(h.style_at(8), whole.style_at(8));
        // A last line without a newline is final once the block is complete.
        let mut last = dark();
        last.update("x = 1", true);
        assert!(last.style_at(4).is_some());
    }

    #[test]
    fn a_long_partial_line_waits_for_its_newline() {
        let mut h = dark();
        let long = "x".repeat(TAIL_LIMIT + 1);
        h.update(&long, false);
        assert_eq!(h.style_at(0), None);
        h.update(&format!("{long}\n"), false);
        assert!(h.style_at(0).is_some());
    }

    #[test]
    fn unknown_languages_stay_plain_and_aliases_resolve() {
        let mut h = CodeHighlight::new(Some("klingon"), Background::Dark);
        h.update(CODE, true);
        assert!(h.is_plain());
        assert_eq!(h.style_at(0), None);
        assert!(CodeHighlight::new(None, Background::Dark).is_plain());
        for language in ["python", "py", "python3", "PYTHON", "rust", "sh", "json"] {
            assert!(syntax_for(language).is_some(), "{language}");
        }
    }

    #[test]
    fn the_background_follows_the_theme() {
        let dark_theme = Theme::load("dark", None).expect("built-in theme");
        let light_theme = Theme::load("light", None).expect("built-in theme");
        assert_eq!(Background::of(&dark_theme), Background::Dark);
        assert_eq!(Background::of(&light_theme), Background::Light);
        let mut on_light = CodeHighlight::new(Some("python"), Background::Light);
        on_light.update(CODE, true);
        let mut on_dark = dark();
        on_dark.update(CODE, true);
        assert_ne!(on_light.style_at(0), on_dark.style_at(0));
    }

    #[test]
    fn the_cursor_reads_the_same_styles_as_lookups() {
        let mut h = dark();
        h.update(&format!("{CODE}print(1"), false);
        let mut cursor = h.cursor(0);
        for offset in 0..CODE.len() + "print(1".len() {
            assert_eq!(cursor.style(offset), h.style_at(offset), "byte {offset}");
        }
    }
}
