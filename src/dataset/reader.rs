//! Streaming raw records out of a file in batches.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::batch::Batch;
use super::format::{Format, Record, detect, explain_undetected};
use super::split::{Layout, Splitter, SyntaxError};
use super::{BadRecord, DatasetError};

/// Large enough that a 6 KB record rarely straddles two reads, small enough to stay far below
/// the 64 MB budget with one reader per file.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Batch size for [`Records`], which serves small one-thread uses.
const RECORDS_BATCH_BYTES: usize = 64 * 1024;

/// Splits a dataset into raw records without decoding them.
///
/// Only the reading thread touches the file; decoding is left to whoever receives the batches,
/// so several workers can share one reader.
#[derive(Debug)]
pub struct RecordReader<R> {
    reader: R,
    path: PathBuf,
    splitter: Splitter,
    /// An error met after some records of the batch were complete; those are delivered first.
    deferred: Option<DatasetError>,
    ended: bool,
}

impl RecordReader<BufReader<File>> {
    /// Opens `path` and peeks at its start, so [`Self::layout`] is known before the first fill.
    ///
    /// # Errors
    /// When the file cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self, DatasetError> {
        let file = File::open(path).map_err(|source| DatasetError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = Self::new(
            BufReader::with_capacity(READ_BUFFER_BYTES, file),
            path.to_owned(),
        );
        reader.peek_layout()?;
        Ok(reader)
    }
}

impl<R: BufRead> RecordReader<R> {
    /// `path` names the input in error messages; nothing is read until the first call.
    pub fn new(reader: R, path: PathBuf) -> Self {
        Self {
            reader,
            path,
            splitter: Splitter::default(),
            deferred: None,
            ended: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layout, decided by the first significant byte. Before that has been read (a reader
    /// made by [`Self::new`] that has not been filled yet) and for an empty input, this is
    /// [`Layout::Jsonl`].
    pub fn layout(&self) -> Layout {
        self.splitter.layout().unwrap_or(Layout::Jsonl)
    }

    /// Reads just far enough to decide the layout.
    ///
    /// # Errors
    /// When the input cannot be read.
    pub fn peek_layout(&mut self) -> Result<Layout, DatasetError> {
        while self.splitter.layout().is_none() {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(self.io_error(source)),
            };
            if chunk.is_empty() {
                break;
            }
            let skipped = self.splitter.skip_leading(chunk);
            self.reader.consume(skipped);
        }
        Ok(self.layout())
    }

    /// Fills `batch` (cleared first) with whole records until it holds at least `max_bytes` or
    /// the input ends; a record is never split, so a batch may exceed `max_bytes` by one record,
    /// and it always holds at least one record unless the input has ended.
    ///
    /// Returns `Ok(false)` once there are no more records. A read error or a broken array
    /// structure is returned after the records that preceded it have been delivered; the reader
    /// yields nothing more afterwards.
    ///
    /// # Errors
    /// A read error, or a JSON array whose structure is broken past recovery.
    pub fn fill(&mut self, batch: &mut Batch, max_bytes: usize) -> Result<bool, DatasetError> {
        batch.clear();
        if let Some(error) = self.deferred.take() {
            return Err(error);
        }
        if self.ended {
            return Ok(false);
        }
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let error = self.io_error(source);
                    return self.fail(batch, error);
                }
            };
            if chunk.is_empty() {
                self.ended = true;
                return match self.splitter.finish(batch) {
                    Ok(()) => Ok(!batch.is_empty()),
                    Err(syntax) => {
                        let error = self.syntax_error(syntax);
                        self.fail(batch, error)
                    }
                };
            }
            match self.splitter.feed(chunk, batch, max_bytes) {
                Ok(fed) => {
                    self.reader.consume(fed.consumed);
                    if fed.batch_full {
                        return Ok(true);
                    }
                }
                Err(syntax) => {
                    let error = self.syntax_error(syntax);
                    return self.fail(batch, error);
                }
            }
        }
    }

    /// Decodes records one at a time, detecting the format from the first recognisable record
    /// when `format` is `None`.
    pub fn into_records(self, format: Option<Format>) -> Records<R> {
        Records {
            reader: self,
            batch: Batch::new(),
            next: 0,
            format,
            done: false,
        }
    }

    /// Ends the reader, delivering the complete records of `batch` before `error`.
    fn fail(&mut self, batch: &mut Batch, error: DatasetError) -> Result<bool, DatasetError> {
        self.ended = true;
        batch.drop_partial();
        if batch.is_empty() {
            Err(error)
        } else {
            self.deferred = Some(error);
            Ok(true)
        }
    }

    fn io_error(&self, source: io::Error) -> DatasetError {
        DatasetError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn syntax_error(&self, syntax: SyntaxError) -> DatasetError {
        DatasetError::Syntax {
            path: self.path.clone(),
            line: syntax.line,
            reason: syntax.reason,
        }
    }
}

/// Decoded records with their starting lines, from [`RecordReader::into_records`] or
/// [`super::records`].
///
/// The outer `Result` is fatal (the rest of the file is unreadable, and iteration stops); the
/// inner one is a single bad record, after which iteration goes on.
#[derive(Debug)]
pub struct Records<R> {
    reader: RecordReader<R>,
    batch: Batch,
    next: usize,
    format: Option<Format>,
    done: bool,
}

impl<R> Records<R> {
    /// The format in use: the one given, or the one detected so far.
    pub fn format(&self) -> Option<Format> {
        self.format
    }
}

impl<R: BufRead> Iterator for Records<R> {
    type Item = Result<Result<(u64, Record), BadRecord>, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((line, raw)) = self.batch.get(self.next) {
                self.next += 1;
                let decoded = decode_detecting(&mut self.format, raw)
                    .map(|record| (line, record))
                    .map_err(|reason| BadRecord {
                        path: self.reader.path.clone(),
                        line,
                        reason,
                    });
                return Some(Ok(decoded));
            }
            if self.done {
                return None;
            }
            self.next = 0;
            match self.reader.fill(&mut self.batch, RECORDS_BATCH_BYTES) {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

fn decode_detecting(format: &mut Option<Format>, raw: &[u8]) -> Result<Record, String> {
    let format = match format {
        Some(format) => *format,
        None => *format.insert(detect(raw).ok_or_else(|| explain_undetected(raw))?),
    };
    format.decode(raw)
}
