//! Where every row of the transcript lies: one block per segment, its wrapped text cached, and
//! prefix sums of the blocks' row counts so a frame finds its first row by binary search.

use ratatui::style::Style;

use super::wrap::{Row, Wrap, WrapMode};
use crate::transcript::{Segment, SegmentKind, Transcript};
use crate::tui::highlight::{Background, CodeHighlight};
use crate::tui::style::style;
use crate::tui::theme::{Role, Theme};

/// Columns before the text of a think or code row (`▎ `, or an indent).
pub(super) const GUTTER: usize = 2;
/// Columns a result box takes around its text (`│ ` and ` │`).
pub(super) const BOX: usize = 4;

/// Answer text longer than this is shown as written (see [`crate::tui::markdown::RENDER_MAX`]).
pub(super) const MARKDOWN_MAX: usize = crate::tui::markdown::RENDER_MAX;

/// An answer written in markdown, rendered for the screen. Only the segment that grows is
/// rendered again (at most once a frame); an ended one keeps its rows.
#[derive(Debug, Default)]
pub(super) struct Markdown {
    /// The text holds markdown (set once seen).
    marked: bool,
    /// Bytes of the text looked at for markdown so far.
    scanned: usize,
    /// The rows, and the length of text they were rendered from.
    pub lines: Vec<ratatui::text::Line<'static>>,
    rendered: Option<usize>,
}

impl Markdown {
    /// Looks at the text added since last time for markdown syntax.
    fn scan(&mut self, text: &str) {
        if self.marked || text.len() <= self.scanned {
            return;
        }
        // Two bytes back: a marker may straddle the previous scan's end.
        let mut from = self.scanned.saturating_sub(2);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        self.marked = has_markdown(&text[from..]) || (from == 0 && starts_markdown(text));
        self.scanned = text.len();
    }

    /// Rows to show instead of the wrapped text, when rendered.
    pub(super) fn rows(&self) -> Option<&[ratatui::text::Line<'static>]> {
        self.rendered.map(|_| self.lines.as_slice())
    }
}

/// Whether `text` holds markdown syntax worth rendering (emphasis, code, links, tables,
/// headings, lists, quotes).
fn has_markdown(text: &str) -> bool {
    const MARKERS: [&str; 11] = [
        "**", "__", "`", "](", "~~", "|", "\n#", "\n- ", "\n* ", "\n> ", "\n1. ",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

fn starts_markdown(text: &str) -> bool {
    let text = text.trim_start_matches('\n');
    ["#", "- ", "* ", "> ", "1. "]
        .iter()
        .any(|m| text.starts_with(m))
}

/// One segment on screen.
#[derive(Debug)]
pub(super) struct Block {
    pub kind: SegmentKind,
    pub wrap: Wrap,
    /// An answer's markdown, rendered (answers only).
    pub markdown: Option<Markdown>,
    /// The user's interjection shown above the first block of a later turn.
    pub interjection: Option<String>,
    /// Colours of a code block, worked out once it is first shown: a block that streams by
    /// unseen costs nothing.
    pub highlight: Option<CodeHighlight>,
    /// The segment has ended: its rows are final.
    complete: bool,
}

impl Block {
    fn new(segment: &Segment, width: usize) -> Self {
        Self {
            kind: segment.kind,
            wrap: Self::wrap_for(segment.kind, width),
            markdown: (segment.kind == SegmentKind::Answer).then(Markdown::default),
            interjection: None,
            highlight: None,
            complete: false,
        }
    }

    fn wrap_for(kind: SegmentKind, width: usize) -> Wrap {
        match kind {
            SegmentKind::Answer => Wrap::new(width, WrapMode::Prose),
            SegmentKind::Think => Wrap::new(width.saturating_sub(GUTTER), WrapMode::Prose),
            SegmentKind::Code => Wrap::new(width.saturating_sub(GUTTER), WrapMode::Code),
            SegmentKind::ExecResult | SegmentKind::ExecError => {
                Wrap::new(width.saturating_sub(BOX), WrapMode::Code)
            }
        }
    }

    fn update(&mut self, text: &str, complete: bool, render: &Render<'_>) {
        self.wrap.update(text, complete);
        self.complete = complete;
        if let Some(markdown) = &mut self.markdown {
            markdown.scan(text);
            if markdown.marked
                && text.len() <= MARKDOWN_MAX
                && markdown.rendered != Some(text.len())
            {
                markdown.lines = crate::tui::markdown::render(
                    text.trim_matches('\n'),
                    self.wrap.width(),
                    render.theme,
                    render.answer,
                );
                markdown.rendered = Some(text.len());
            } else if text.len() > MARKDOWN_MAX {
                // Too long to render as it grows: shown as written from here on.
                markdown.rendered = None;
                markdown.lines = Vec::new();
            }
        }
    }

    /// The rendered rows of an answer written in markdown, when it has them.
    pub(super) fn rendered(&self) -> Option<&[ratatui::text::Line<'static>]> {
        self.markdown.as_ref().and_then(Markdown::rows)
    }

    /// Rows of text shown: none for a segment that is only whitespace.
    pub(super) fn text_rows(&self, segment: &Segment) -> usize {
        if segment.blank {
            0
        } else if let Some(rows) = self.rendered() {
            rows.len()
        } else {
            self.wrap.len()
        }
    }

    /// Rows around the text: (above, below), an interjection's row included.
    fn chrome(&self) -> (usize, usize) {
        let (above, below) = self.kind_chrome();
        (above + usize::from(self.interjection.is_some()), below)
    }

    /// Rows around the text that its kind adds: (above, below).
    fn kind_chrome(&self) -> (usize, usize) {
        match self.kind {
            SegmentKind::Answer => (0, 0),
            // The badge below a think.
            SegmentKind::Think => (0, 1),
            // The header above code.
            SegmentKind::Code => (1, 0),
            // The box's top and bottom.
            SegmentKind::ExecResult | SegmentKind::ExecError => (1, 1),
        }
    }

    fn rows(&self, segment: &Segment) -> usize {
        let (above, below) = self.chrome();
        above + self.text_rows(segment) + below
    }

    /// What row `k` of the block shows, given its `text` rows.
    pub(super) fn part(&self, k: usize, text: usize) -> Part {
        let k = match (&self.interjection, k) {
            (Some(_), 0) => return Part::Interjection,
            (Some(_), k) => k - 1,
            (None, k) => k,
        };
        let (above, _) = self.kind_chrome();
        match k.checked_sub(above) {
            Some(r) if r < text => Part::Text(r),
            Some(_) if self.kind == SegmentKind::Think => Part::Badge,
            Some(_) => Part::Bottom,
            None if self.kind == SegmentKind::Code => Part::Header,
            None => Part::Top,
        }
    }

    /// Row of the block that shows `at`, given its `text` rows.
    fn row_of(&self, at: AnchorPart, text: usize) -> usize {
        let (above, below) = self.chrome();
        match at {
            AnchorPart::First => 0,
            AnchorPart::Text(offset) if text > 0 => above + self.wrap.row_of(offset).min(text - 1),
            AnchorPart::Text(_) | AnchorPart::Last => (above + text + below).saturating_sub(1),
        }
    }
}

/// What one row of a block shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// A row of the segment's text.
    Text(usize),
    /// A think's word budget.
    Badge,
    /// A code block's info string.
    Header,
    /// A result box's top, with its label.
    Top,
    Bottom,
    /// What the user said before this turn.
    Interjection,
}

/// A place in the transcript that survives re-wrapping: the top row when the width changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Anchor {
    pub block: usize,
    pub part: AnchorPart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnchorPart {
    First,
    /// The text row holding this byte of the segment's text.
    Text(usize),
    Last,
}

/// What rendering markdown needs from the theme.
pub(super) struct Render<'a> {
    pub theme: &'a Theme,
    pub answer: Style,
}

impl<'a> Render<'a> {
    pub(super) fn new(theme: &'a Theme) -> Self {
        Self {
            theme,
            answer: style(theme, Role::Answer),
        }
    }

    /// What the rendered rows' styles depend on.
    fn key(&self) -> [Style; 3] {
        [
            self.answer,
            style(self.theme, Role::Title),
            style(self.theme, Role::Code),
        ]
    }
}

/// Every segment's block, wrapped for one width.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// The screen width the blocks are wrapped for (0: not yet laid out).
    width: usize,
    /// The styles markdown was rendered with: other styles render it again.
    styles: Option<[Style; 3]>,
    background: Option<Background>,
    pub blocks: Vec<Block>,
    /// `ends[i]`: rows of blocks `0..=i`.
    ends: Vec<usize>,
}

impl Layout {
    pub(super) fn width(&self) -> usize {
        self.width
    }

    /// Forgets every block: the text was replaced.
    pub(super) fn clear(&mut self) {
        self.blocks.clear();
        self.ends.clear();
    }

    /// Catches up with the transcript: new text costs only its own layout. `open` says the last
    /// segment may still grow. A new width re-wraps every block (keeping the code's colours).
    pub(super) fn sync(
        &mut self,
        transcript: &Transcript,
        open: bool,
        width: usize,
        render: &Render<'_>,
        turns: &[super::TurnStart],
    ) {
        let restyle = self.styles != Some(render.key());
        self.styles = Some(render.key());
        let rewrap = width != self.width || restyle;
        self.width = width;
        let segments = &transcript.segments;
        let from = match self.blocks.last() {
            _ if rewrap => 0,
            Some(block) if !block.complete => self.blocks.len() - 1,
            _ => self.blocks.len(),
        };
        for (i, segment) in segments.iter().enumerate().skip(from) {
            if i == self.blocks.len() {
                let mut block = Block::new(segment, width);
                block.interjection = turns
                    .iter()
                    .find(|t| t.segment == i)
                    .map(|t| t.text.clone());
                self.blocks.push(block);
            } else if rewrap {
                let block = &mut self.blocks[i];
                block.wrap = Block::wrap_for(segment.kind, width);
                if let Some(markdown) = &mut block.markdown {
                    markdown.rendered = None;
                }
            }
            let complete = i + 1 < segments.len() || !open;
            let start = self.start(i);
            let block = &mut self.blocks[i];
            block.update(transcript.text(segment), complete, render);
            let end = start + block.rows(segment);
            match self.ends.get_mut(i) {
                Some(e) => *e = end,
                None => self.ends.push(end),
            }
        }
    }

    /// Brings the colours of code block `i` up to date, for drawing it.
    pub(super) fn highlight(&mut self, i: usize, transcript: &Transcript, background: Background) {
        if self.background != Some(background) {
            self.background = Some(background);
            for block in &mut self.blocks {
                block.highlight = None;
            }
        }
        let (Some(block), Some(segment)) = (self.blocks.get_mut(i), transcript.segments.get(i))
        else {
            return;
        };
        if block.kind != SegmentKind::Code {
            return;
        }
        let highlight = block.highlight.get_or_insert_with(|| {
            let language = segment.fence.as_ref().and_then(|f| f.language());
            CodeHighlight::new(language, background)
        });
        highlight.update(transcript.text(segment), block.complete);
    }

    /// Rows of all blocks.
    pub(super) fn rows(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The first row of block `i`.
    pub(super) fn start(&self, i: usize) -> usize {
        i.checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0)
    }

    /// The block holding `row`, and the row within it.
    pub(super) fn locate(&self, row: usize) -> Option<(usize, usize)> {
        let i = self.ends.partition_point(|&end| end <= row);
        (i < self.ends.len()).then(|| (i, row - self.start(i)))
    }

    /// Where `row` lies, to find it again at another width.
    pub(super) fn anchor(&self, row: usize, transcript: &Transcript) -> Option<Anchor> {
        let (i, k) = self.locate(row)?;
        let block = &self.blocks[i];
        let text = block.text_rows(transcript.segments.get(i)?);
        let part = match block.part(k, text) {
            // Rendered markdown has rows of its own: the wrapped row of the same number is near.
            Part::Text(r) => AnchorPart::Text(block.wrap.row(r).map_or(0, |r: Row| r.start)),
            Part::Header | Part::Top | Part::Interjection => AnchorPart::First,
            Part::Badge | Part::Bottom => AnchorPart::Last,
        };
        Some(Anchor { block: i, part })
    }

    /// The row an anchor taken at another width lies at now.
    pub(super) fn find(&self, anchor: Anchor, transcript: &Transcript) -> Option<usize> {
        let block = self.blocks.get(anchor.block)?;
        let text = block.text_rows(transcript.segments.get(anchor.block)?);
        Some(self.start(anchor.block) + block.row_of(anchor.part, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::CountMode;

    fn rendered_text(block: &Block) -> Option<String> {
        block.rendered().map(|rows| {
            rows.iter()
                .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
                .collect()
        })
    }

    #[test]
    fn only_the_growing_answer_renders_again() {
        let theme = Theme::load("dark", None).expect("theme");
        let render = Render::new(&theme);
        let mut layout = Layout::default();
        let first = "**粗体**的回答。\n<think>想一想</think>\n后面";
        layout.sync(
            &Transcript::parse(first, CountMode::Mixed),
            true,
            40,
            &render,
            &[],
        );
        assert_eq!(
            rendered_text(&layout.blocks[0]).as_deref(),
            Some("粗体的回答。")
        );
        // The last answer is plain so far: shown as written.
        assert_eq!(rendered_text(&layout.blocks[2]), None);
        // The first answer has ended: its rows are kept, not rendered again.
        if let Some(markdown) = &mut layout.blocks[0].markdown {
            markdown.lines.clear();
        }
        let more = format!("{first}的**文字**");
        layout.sync(
            &Transcript::parse(&more, CountMode::Mixed),
            true,
            40,
            &render,
            &[],
        );
        assert_eq!(rendered_text(&layout.blocks[0]).as_deref(), Some(""));
        assert_eq!(
            rendered_text(&layout.blocks[2]).as_deref(),
            Some("后面的文字")
        );
        // Another width lays every answer out again.
        layout.sync(
            &Transcript::parse(&more, CountMode::Mixed),
            true,
            30,
            &render,
            &[],
        );
        assert_eq!(
            rendered_text(&layout.blocks[0]).as_deref(),
            Some("粗体的回答。")
        );
    }

    #[test]
    fn a_long_answer_is_shown_as_written() {
        let theme = Theme::load("dark", None).expect("theme");
        let render = Render::new(&theme);
        let mut layout = Layout::default();
        let long = format!("**开头**{}", "字".repeat(MARKDOWN_MAX / 3 + 1));
        layout.sync(
            &Transcript::parse(&long, CountMode::Mixed),
            true,
            40,
            &render,
            &[],
        );
        assert_eq!(rendered_text(&layout.blocks[0]), None);
        let segment = &Transcript::parse(&long, CountMode::Mixed).segments[0];
        assert_eq!(
            layout.blocks[0].text_rows(segment),
            layout.blocks[0].wrap.len()
        );
    }
}
