//! Where every row of the transcript lies: one block per segment, its wrapped text cached, and
//! prefix sums of the blocks' row counts so a frame finds its first row by binary search.

use super::wrap::{Row, Wrap, WrapMode};
use crate::transcript::{Segment, SegmentKind, Transcript};
use crate::tui::highlight::{Background, CodeHighlight};

/// Columns before the text of a think or code row (`▎ `, or an indent).
pub(super) const GUTTER: usize = 2;
/// Columns a result box takes around its text (`│ ` and ` │`).
pub(super) const BOX: usize = 4;

/// One segment on screen.
#[derive(Debug)]
pub(super) struct Block {
    pub kind: SegmentKind,
    pub wrap: Wrap,
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

    fn update(&mut self, text: &str, complete: bool) {
        self.wrap.update(text, complete);
        self.complete = complete;
    }

    /// Rows of text shown: none for a segment that is only whitespace.
    pub(super) fn text_rows(&self, segment: &Segment) -> usize {
        if segment.blank { 0 } else { self.wrap.len() }
    }

    /// Rows around the text: (above, below).
    fn chrome(&self) -> (usize, usize) {
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
        let (above, _) = self.chrome();
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
            AnchorPart::Text(offset) if text > 0 => above + self.wrap.row_of(offset),
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

/// Every segment's block, wrapped for one width.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// The screen width the blocks are wrapped for (0: not yet laid out).
    width: usize,
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
    pub(super) fn sync(&mut self, transcript: &Transcript, open: bool, width: usize) {
        let rewrap = width != self.width;
        self.width = width;
        let segments = &transcript.segments;
        let from = match self.blocks.last() {
            _ if rewrap => 0,
            Some(block) if !block.complete => self.blocks.len() - 1,
            _ => self.blocks.len(),
        };
        for (i, segment) in segments.iter().enumerate().skip(from) {
            if i == self.blocks.len() {
                self.blocks.push(Block::new(segment, width));
            } else if rewrap {
                self.blocks[i].wrap = Block::wrap_for(segment.kind, width);
            }
            let complete = i + 1 < segments.len() || !open;
            let start = self.start(i);
            let block = &mut self.blocks[i];
            block.update(transcript.text(segment), complete);
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
            Part::Text(r) => AnchorPart::Text(block.wrap.row(r).map_or(0, |r: Row| r.start)),
            Part::Header | Part::Top => AnchorPart::First,
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
