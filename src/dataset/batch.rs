//! Raw records handed from the reader thread to the decoding workers.

use std::ops::Range;

use super::format::{Format, detect};

/// Raw records, each with its 1-based starting line, packed into one buffer.
///
/// A batch is meant to be recycled: the reader fills it, a worker decodes it, and it goes back to
/// the reader, so a whole `check` run allocates a handful of buffers instead of one per record.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub(super) buf: Vec<u8>,
    pub(super) items: Vec<(u64, Range<usize>)>,
}

impl Batch {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the batch but keeps its allocations for the next fill.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The record at `index` in reading order, with its starting line.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<(u64, &[u8])> {
        let (line, range) = self.items.get(index)?;
        Some((*line, &self.buf[range.clone()]))
    }

    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u64, &[u8])> + '_ {
        self.items
            .iter()
            .map(|(line, range)| (*line, &self.buf[range.clone()]))
    }

    /// Total size of the raw records: what `max_bytes` in [`super::RecordReader::fill`] bounds.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The format of the first record whose shape is recognisable; earlier records may be broken.
    #[must_use]
    pub fn detect_format(&self) -> Option<Format> {
        self.iter().find_map(|(_, raw)| detect(raw))
    }

    /// Marks the start of a record being collected, returning its offset for [`Self::end_record`].
    pub(super) fn begin_record(&self) -> usize {
        self.buf.len()
    }

    /// Closes the record that began at `start`, dropping the trailing whitespace a JSON array
    /// element may carry before its comma.
    pub(super) fn end_record(&mut self, line: u64, start: usize) {
        let end = start
            + self.buf[start..]
                .iter()
                .rposition(|byte| !byte.is_ascii_whitespace())
                .map_or(0, |last| last + 1);
        self.buf.truncate(end);
        self.items.push((line, start..end));
    }

    /// Whether a reader should stop adding records. Only meaningful between records, since the
    /// buffer also holds the bytes of a record still being collected.
    pub(super) fn is_full(&self, max_bytes: usize) -> bool {
        !self.items.is_empty() && self.buf.len() >= max_bytes
    }

    /// Forgets the bytes of a record whose end was never found, keeping the complete ones.
    pub(super) fn drop_partial(&mut self) {
        let end = self.items.last().map_or(0, |(_, range)| range.end);
        self.buf.truncate(end);
    }
}
