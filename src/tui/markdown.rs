//! Markdown in answer text, rendered for the terminal: headings, emphasis, lists, block quotes,
//! tables (columns measured by display width, CJK two cells), inline code, and links as their
//! text. The markers themselves are not shown.
//!
//! A line break in the source stays a line break (answers are written line by line, and in
//! Chinese a soft break joined with a space would put a space between characters).

use pulldown_cmark::{Alignment, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::tui::style::style;
use crate::tui::text::{self, fit, pad, width};
use crate::tui::theme::{Role, Theme};

/// The styles rendering uses, looked up once.
#[derive(Clone, Copy, Debug)]
struct Styles {
    text: Style,
    heading: Style,
    code: Style,
    quote: Style,
    rule: Style,
}

impl Styles {
    fn new(theme: &Theme, text: Style) -> Self {
        Self {
            text,
            heading: style(theme, Role::Title).add_modifier(Modifier::BOLD),
            code: style(theme, Role::Code),
            quote: style(theme, Role::Muted),
            rule: style(theme, Role::Muted),
        }
    }
}

/// One block's inline text: pieces of text with their styles; `'\n'` breaks a line.
type Pieces = Vec<(String, Style)>;

/// A table being read: its rows of cells (the first is the header) and alignments.
#[derive(Default)]
struct Table {
    alignments: Vec<Alignment>,
    rows: Vec<Vec<Pieces>>,
}

/// A list being read: the next item number for an ordered one.
struct List {
    next: Option<u64>,
}

/// Answer text longer than this is shown as written where it is rendered as it grows: rendering
/// re-reads the whole segment, and a frame must stay cheap.
pub const RENDER_MAX: usize = 8 * 1024;

/// `source` as written: its lines wrapped at `max` cells, in `base` style.
#[must_use]
pub fn plain(source: &str, max: usize, base: Style) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for line in source.split('\n') {
        let line = text::printable(line);
        for row in text::wrap(&[(line.as_ref(), base)], max) {
            out.push(Line::from(
                row.into_iter()
                    .map(|(t, s)| Span::styled(t, s))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    out
}

/// Renders `source` (markdown) into rows at most `max` cells wide, in `base` style.
#[must_use]
pub fn render(source: &str, max: usize, theme: &Theme, base: Style) -> Vec<Line<'static>> {
    Renderer::new(Styles::new(theme, base), max).run(source)
}

struct Renderer {
    styles: Styles,
    max: usize,
    out: Vec<Line<'static>>,
    /// The inline text of the block being read.
    pieces: Pieces,
    /// Modifiers of the emphasis, strong and strikethrough spans open.
    modifiers: Vec<Modifier>,
    /// The style of the block being read (a heading's).
    block: Option<Style>,
    lists: Vec<List>,
    /// The open list item's first-row marker, not yet written.
    marker: Option<String>,
    quote: usize,
    table: Option<Table>,
    /// Inside a code block: its lines go out as they are.
    code: bool,
}

impl Renderer {
    fn new(styles: Styles, max: usize) -> Self {
        Self {
            styles,
            max,
            out: Vec::new(),
            pieces: Vec::new(),
            modifiers: Vec::new(),
            block: None,
            lists: Vec::new(),
            marker: None,
            quote: 0,
            table: None,
            code: false,
        }
    }

    fn run(mut self, source: &str) -> Vec<Line<'static>> {
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
        for event in Parser::new_ext(source, options) {
            self.event(event);
        }
        self.flush();
        while self.out.last().is_some_and(|l| l.spans.is_empty()) {
            self.out.pop();
        }
        self.out
    }

    /// The style of inline text here.
    fn inline(&self) -> Style {
        let mut s = self.block.unwrap_or(self.styles.text);
        for m in &self.modifiers {
            s = s.add_modifier(*m);
        }
        if self.quote > 0 {
            s = s.patch(self.styles.quote);
        }
        s
    }

    fn push(&mut self, text: &str, style: Style) {
        if let Some(table) = &mut self.table {
            if let Some(cell) = table.rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push((text.to_owned(), style));
            }
            return;
        }
        self.pieces.push((text.to_owned(), style));
    }

    /// A blank row between blocks (not at the very top, nor twice).
    fn gap(&mut self) {
        if self.lists.is_empty() && self.out.last().is_some_and(|l| !l.spans.is_empty()) {
            self.out.push(Line::default());
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) if self.code => {
                for line in t.lines() {
                    let row = fit(&text::printable(line), self.max).into_owned();
                    self.out
                        .push(Line::from(Span::styled(row, self.styles.code)));
                }
            }
            Event::Code(t) => {
                let s = self.styles.code;
                self.push(&t, s);
            }
            Event::SoftBreak | Event::HardBreak => {
                let s = self.inline();
                self.push("\n", s);
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                let s = self.inline();
                self.push(t.trim_end_matches('\n'), s);
            }
            Event::Rule => {
                self.flush();
                self.gap();
                let rule = "─".repeat(self.max.min(40));
                self.out
                    .push(Line::from(Span::styled(rule, self.styles.rule)));
            }
            Event::TaskListMarker(done) => {
                let s = self.inline();
                self.push(if done { "☑ " } else { "☐ " }, s);
            }
            Event::Text(t)
            | Event::FootnoteReference(t)
            | Event::InlineMath(t)
            | Event::DisplayMath(t) => {
                let s = self.inline();
                self.push(&t, s);
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // An item's first paragraph goes on its marker's row.
            Tag::Paragraph if self.marker.is_none() => self.gap(),
            Tag::Heading { level, .. } => {
                self.flush();
                self.gap();
                self.block = Some(if level == HeadingLevel::H1 {
                    self.styles.heading.add_modifier(Modifier::UNDERLINED)
                } else {
                    self.styles.heading
                });
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.gap();
                self.quote += 1;
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.gap();
                self.code = true;
            }
            Tag::List(first) => {
                self.flush();
                if self.lists.is_empty() {
                    self.gap();
                }
                self.lists.push(List { next: first });
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n) }) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "• ".to_owned(),
                };
                self.marker = Some(marker);
            }
            Tag::Emphasis => self.modifiers.push(Modifier::ITALIC),
            Tag::Strong => self.modifiers.push(Modifier::BOLD),
            Tag::Strikethrough => self.modifiers.push(Modifier::CROSSED_OUT),
            Tag::Link { .. } => self.modifiers.push(Modifier::UNDERLINED),
            Tag::Table(alignments) => {
                self.flush();
                self.gap();
                self.table = Some(Table {
                    alignments,
                    rows: Vec::new(),
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(Vec::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::Item => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.block = None;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
            }
            TagEnd::CodeBlock => self.code = false,
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                self.modifiers.pop();
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.table_rows(&table);
                }
            }
            _ => {}
        }
    }

    /// Writes the inline text read so far as wrapped rows, with the list marker or quote bar
    /// on the first row and the indent under it on the others.
    fn flush(&mut self) {
        let marker = self.marker.take();
        if self.pieces.is_empty() && marker.is_none() {
            return;
        }
        let pieces = std::mem::take(&mut self.pieces);
        let depth = self.lists.len().saturating_sub(1);
        let bar = if self.quote > 0 { "▎ " } else { "" };
        let mut marker_text = marker.unwrap_or_default();
        let mut lead_width = 2 * depth + width(bar) + width(&marker_text);
        // Too narrow for the indent, the bar and the marker: the text alone.
        let (depth, bar) = if lead_width >= self.max {
            marker_text.clear();
            lead_width = 0;
            (0, "")
        } else {
            (depth, bar)
        };
        let room = self.max.saturating_sub(lead_width).max(1);
        let mut first = true;
        for line in split_lines(&pieces) {
            let refs: Vec<(&str, Style)> = line.iter().map(|(t, s)| (t.as_str(), *s)).collect();
            for row in text::wrap(&refs, room) {
                let mut spans = Vec::with_capacity(row.len() + 2);
                let indent = " ".repeat(2 * depth);
                if !indent.is_empty() {
                    spans.push(Span::raw(indent));
                }
                if !bar.is_empty() {
                    spans.push(Span::styled(bar, self.styles.quote));
                }
                if !marker_text.is_empty() {
                    let lead = if first {
                        marker_text.clone()
                    } else {
                        " ".repeat(width(&marker_text))
                    };
                    spans.push(Span::styled(lead, self.styles.text));
                }
                first = false;
                spans.extend(row.into_iter().map(|(t, s)| Span::styled(t, s)));
                self.out.push(Line::from(spans));
            }
        }
    }

    /// A table: columns as wide as their widest cell (narrowed evenly when they do not fit),
    /// the header set apart by a rule, each cell cut with an ellipsis rather than wrapped.
    fn table_rows(&mut self, table: &Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let cell_text = |cell: &Pieces| -> String {
            cell.iter()
                .map(|(t, _)| text::printable(t).replace('\n', " "))
                .collect()
        };
        let mut widths = vec![0usize; columns];
        for row in &table.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(&cell_text(cell)));
            }
        }
        // Separators: " │ " between columns.
        let separators = 3 * (columns - 1);
        if separators + columns > self.max {
            // No room for columns: each row's cells in a line of their own, wrapped.
            for row in &table.rows {
                let joined: Vec<String> = row.iter().map(&cell_text).collect();
                let joined = joined.join(" │ ");
                for wrapped in text::wrap(&[(joined.as_str(), self.styles.text)], self.max) {
                    self.out.push(Line::from(
                        wrapped
                            .into_iter()
                            .map(|(t, s)| Span::styled(t, s))
                            .collect::<Vec<_>>(),
                    ));
                }
            }
            return;
        }
        let room = self.max.saturating_sub(separators);
        while widths.iter().sum::<usize>() > room {
            let Some(widest) = widths.iter_mut().max() else {
                break;
            };
            if *widest <= 1 {
                break;
            }
            *widest -= 1;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let mut spans = Vec::with_capacity(2 * columns);
            for (i, &w) in widths.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(" │ ", self.styles.rule));
                }
                let cell = row.get(i).map(&cell_text).unwrap_or_default();
                let shown = fit(&cell, w).into_owned();
                let gap = w.saturating_sub(width(&shown));
                let aligned = match table.alignments.get(i) {
                    Some(Alignment::Right) => format!("{}{shown}", " ".repeat(gap)),
                    Some(Alignment::Center) => {
                        format!(
                            "{}{shown}{}",
                            " ".repeat(gap / 2),
                            " ".repeat(gap - gap / 2)
                        )
                    }
                    _ => pad(&shown, w),
                };
                let style = if r == 0 {
                    self.styles.text.add_modifier(Modifier::BOLD)
                } else {
                    row.get(i)
                        .and_then(|c| c.first())
                        .map_or(self.styles.text, |(_, s)| *s)
                };
                spans.push(Span::styled(aligned, style));
            }
            self.out.push(Line::from(spans));
            if r == 0 {
                let rule: Vec<String> = widths.iter().map(|&w| "─".repeat(w)).collect();
                self.out
                    .push(Line::from(Span::styled(rule.join("─┼─"), self.styles.rule)));
            }
        }
    }
}

/// `pieces` split at their line breaks.
fn split_lines(pieces: &Pieces) -> Vec<Pieces> {
    let mut lines = vec![Vec::new()];
    for (text, style) in pieces {
        let mut parts = text.split('\n');
        if let Some(first) = parts.next()
            && !first.is_empty()
            && let Some(line) = lines.last_mut()
        {
            line.push((text::printable(first).into_owned(), *style));
        }
        for part in parts {
            lines.push(Vec::new());
            if !part.is_empty()
                && let Some(line) = lines.last_mut()
            {
                line.push((text::printable(part).into_owned(), *style));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn theme() -> Theme {
        Theme::load("dark", None).expect("the dark theme")
    }

    fn rows(source: &str, max: usize) -> Vec<String> {
        render(source, max, &theme(), Style::default())
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn modifiers_of(source: &str, needle: &str) -> Modifier {
        render(source, 80, &theme(), Style::default())
            .iter()
            .flat_map(|l| l.spans.iter())
            .find(|s| s.content.contains(needle))
            .map_or_else(Modifier::empty, |s| s.style.add_modifier)
    }

    #[test]
    fn markers_go_and_their_styles_stay() {
        assert_eq!(
            rows(
                "## 复利\n按月**复利**更多，*略高*于 `3.5%`，见[说明](https://x.y)。",
                80
            ),
            ["复利", "", "按月复利更多，略高于 3.5%，见说明。"]
        );
        assert!(modifiers_of("## 复利", "复利").contains(Modifier::BOLD));
        assert!(modifiers_of("a **粗体** b", "粗体").contains(Modifier::BOLD));
        assert!(modifiers_of("a *斜体* b", "斜体").contains(Modifier::ITALIC));
        assert!(modifiers_of("a ~~删~~ b", "删").contains(Modifier::CROSSED_OUT));
        assert!(modifiers_of("见[说明](https://x.y)", "说明").contains(Modifier::UNDERLINED));
    }

    #[test]
    fn lists_have_markers_and_hang_their_wrapped_rows() {
        assert_eq!(
            rows("- 第一项\n- 第二项很长很长很长\n\n1. one\n2. two", 12),
            [
                "• 第一项",
                "• 第二项很长",
                "  很长很长",
                "",
                "1. one",
                "2. two"
            ]
        );
        assert_eq!(rows("- a\n  - b", 20), ["• a", "  • b"]);
    }

    #[test]
    fn plain_text_keeps_its_markers_and_wraps_by_display_width() {
        let rows: Vec<String> = plain("**粗体**文字\n第二行", 6, Style::default())
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(rows, ["**粗体", "**文字", "第二行"]);
    }

    #[test]
    fn a_line_break_stays_a_line_break() {
        assert_eq!(rows("第一行\n第二行", 20), ["第一行", "第二行"]);
    }

    #[test]
    fn tables_line_up_by_display_width() {
        let table = "| 部门 | 平均工资 |\n|:--|--:|\n| 研发 | 21166.67 |\n| 市场部门 | 15900 |";
        let out = rows(table, 40);
        assert_eq!(
            out,
            [
                "部门     │ 平均工资",
                "─────────┼─────────",
                "研发     │ 21166.67",
                "市场部门 │    15900",
            ]
        );
        // Too narrow: cells are cut, never a row wider than the room, never half a character.
        for row in rows(table, 12) {
            assert!(width(&row) <= 12, "{row}");
        }
    }

    #[test]
    fn quotes_and_rules() {
        assert_eq!(
            rows("> 引用一句\n\n---\n\n后文", 20),
            ["▎ 引用一句", "", "─".repeat(20).as_str(), "", "后文"]
        );
    }

    proptest! {
        #[test]
        fn no_row_is_wider_than_the_room(
            source in "[#*_`|>\\- 1.\\n中文abc]{0,80}",
            max in 1usize..30,
        ) {
            for row in rows(&source, max) {
                prop_assert!(width(&row) <= max.max(2), "{row:?} at {max}");
            }
        }
    }
}
