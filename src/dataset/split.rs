//! Finding record boundaries without parsing JSON.
//!
//! The reader thread must keep up with the disk while workers do the real parsing, so this layer
//! only looks for newlines (JSONL) or for the commas that separate top-level array elements. It is
//! fed arbitrary chunks and keeps its state between them, so memory is bounded by the largest
//! record rather than by the file, and any split of the same input yields the same records.

use std::fmt;

use memchr::{memchr, memchr3};

use super::batch::Batch;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a dataset file lays out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One record per line.
    Jsonl,
    /// A single top-level JSON array whose elements are the records.
    JsonArray,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Jsonl => "JSONL",
            Self::JsonArray => "JSON array",
        })
    }
}

/// A structural error that makes the rest of the file unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: u64,
    pub reason: String,
}

/// What one [`Splitter::feed`] did with its chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fed {
    /// Bytes of the chunk used; the rest must be offered again on the next call.
    pub consumed: usize,
    /// The batch reached `max_bytes` at a record boundary.
    pub batch_full: bool,
}

#[derive(Debug)]
pub(super) struct Splitter {
    phase: Phase,
    cursor: Cursor,
}

#[derive(Debug)]
enum Phase {
    /// Matched this many bytes of a UTF-8 byte order mark at the very start of the input.
    Bom(usize),
    /// Skipping whitespace before the byte that decides the layout.
    Leading,
    Lines(LineScan),
    Array(ArrayScan),
}

/// Where the scan is and where the record being collected began.
#[derive(Debug)]
struct Cursor {
    /// Physical line of the next byte to scan.
    line: u64,
    record_line: u64,
    record_start: usize,
}

impl Cursor {
    fn begin(&mut self, batch: &Batch) {
        self.record_line = self.line;
        self.record_start = batch.begin_record();
    }

    fn end(&self, batch: &mut Batch) {
        batch.end_record(self.record_line, self.record_start);
    }
}

impl Default for Splitter {
    fn default() -> Self {
        Self {
            phase: Phase::Bom(0),
            cursor: Cursor {
                line: 1,
                record_line: 1,
                record_start: 0,
            },
        }
    }
}

impl Splitter {
    /// `None` until the first significant byte has been seen.
    pub fn layout(&self) -> Option<Layout> {
        match self.phase {
            Phase::Bom(_) | Phase::Leading => None,
            Phase::Lines(_) => Some(Layout::Jsonl),
            Phase::Array(_) => Some(Layout::JsonArray),
        }
    }

    /// Consumes the byte order mark and leading whitespace until the layout is known, without
    /// producing records, so that a reader can report its layout before the first batch.
    pub fn skip_leading(&mut self, chunk: &[u8]) -> usize {
        let mut pos = 0;
        while pos < chunk.len() {
            let byte = chunk[pos];
            match self.phase {
                Phase::Bom(matched) if byte == BOM[matched] => {
                    pos += 1;
                    self.phase = if matched + 1 == BOM.len() {
                        Phase::Leading
                    } else {
                        Phase::Bom(matched + 1)
                    };
                }
                Phase::Bom(0) => self.phase = Phase::Leading,
                // A truncated BOM is not whitespace: it belongs to the first line, whose decoding
                // will then fail and be reported instead of silently losing bytes.
                Phase::Bom(matched) => self.phase = Phase::Lines(LineScan::with_junk(matched)),
                Phase::Leading => match byte {
                    b'\n' => {
                        self.cursor.line += 1;
                        pos += 1;
                    }
                    b' ' | b'\t' | b'\r' => pos += 1,
                    b'[' => {
                        pos += 1;
                        self.phase = Phase::Array(ArrayScan::opened_at(self.cursor.line));
                    }
                    _ => self.phase = Phase::Lines(LineScan::with_junk(0)),
                },
                Phase::Lines(_) | Phase::Array(_) => break,
            }
        }
        pos
    }

    /// Adds the records completed within `chunk` to `batch`, stopping early at the first record
    /// boundary where the batch holds at least `max_bytes`.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        batch: &mut Batch,
        max_bytes: usize,
    ) -> Result<Fed, SyntaxError> {
        let skipped = self.skip_leading(chunk);
        let rest = &chunk[skipped..];
        let fed = match &mut self.phase {
            Phase::Bom(_) | Phase::Leading => Fed {
                consumed: 0,
                batch_full: false,
            },
            Phase::Lines(scan) => scan.feed(&mut self.cursor, rest, batch, max_bytes),
            Phase::Array(scan) => scan.feed(&mut self.cursor, rest, batch, max_bytes)?,
        };
        Ok(Fed {
            consumed: skipped + fed.consumed,
            batch_full: fed.batch_full,
        })
    }

    /// Completes the last record at the end of the input, or explains why the input is cut short.
    pub fn finish(&mut self, batch: &mut Batch) -> Result<(), SyntaxError> {
        if let Phase::Bom(matched @ 1..) = self.phase {
            self.phase = Phase::Lines(LineScan::with_junk(matched));
        }
        match &mut self.phase {
            Phase::Bom(_) | Phase::Leading => Ok(()),
            Phase::Lines(scan) => {
                scan.finish(&mut self.cursor, batch);
                Ok(())
            }
            Phase::Array(scan) => scan.finish(&self.cursor),
        }
    }
}

#[derive(Debug)]
struct LineScan {
    /// Bytes of a truncated BOM still to be put in front of the first line.
    junk: usize,
    in_record: bool,
}

impl LineScan {
    fn with_junk(junk: usize) -> Self {
        Self {
            junk,
            in_record: false,
        }
    }

    fn begin(&mut self, cursor: &mut Cursor, batch: &mut Batch) {
        self.in_record = true;
        cursor.begin(batch);
        batch.buf.extend_from_slice(&BOM[..self.junk]);
        self.junk = 0;
    }

    fn feed(&mut self, cursor: &mut Cursor, chunk: &[u8], batch: &mut Batch, max: usize) -> Fed {
        let mut pos = 0;
        while pos < chunk.len() {
            if !self.in_record {
                self.begin(cursor, batch);
            }
            let rest = &chunk[pos..];
            let Some(newline) = memchr(b'\n', rest) else {
                batch.buf.extend_from_slice(rest);
                pos = chunk.len();
                break;
            };
            batch.buf.extend_from_slice(&rest[..newline]);
            pos += newline + 1;
            self.end_line(cursor, batch);
            cursor.line += 1;
            if batch.is_full(max) {
                return Fed {
                    consumed: pos,
                    batch_full: true,
                };
            }
        }
        Fed {
            consumed: pos,
            batch_full: false,
        }
    }

    /// Keeps the line unless it is blank; `end_record` trims the `\r` of a CRLF line ending.
    fn end_line(&mut self, cursor: &Cursor, batch: &mut Batch) {
        self.in_record = false;
        if batch.buf[cursor.record_start..]
            .iter()
            .all(u8::is_ascii_whitespace)
        {
            batch.buf.truncate(cursor.record_start);
        } else {
            cursor.end(batch);
        }
    }

    fn finish(&mut self, cursor: &mut Cursor, batch: &mut Batch) {
        if self.junk > 0 {
            self.begin(cursor, batch);
        }
        if self.in_record {
            self.end_line(cursor, batch);
        }
    }
}

#[derive(Debug)]
struct ArrayScan {
    open_line: u64,
    /// Line of the last separator, where an array cut short between elements is reported.
    last_comma_line: u64,
    at: ArrayPos,
    /// Open brackets of the current element, to find its end even when it is malformed.
    nesting: Vec<u8>,
    in_string: bool,
    escaped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayPos {
    /// Before an element; after a comma, a `]` means an empty (stray-comma) element.
    Between {
        after_comma: bool,
    },
    Element,
    Closed,
}

/// How an element ended.
enum Terminator {
    Comma,
    ArrayEnd,
}

impl ArrayScan {
    fn opened_at(line: u64) -> Self {
        Self {
            open_line: line,
            last_comma_line: line,
            at: ArrayPos::Between { after_comma: false },
            nesting: Vec::new(),
            in_string: false,
            escaped: false,
        }
    }

    fn feed(
        &mut self,
        cursor: &mut Cursor,
        chunk: &[u8],
        batch: &mut Batch,
        max: usize,
    ) -> Result<Fed, SyntaxError> {
        let mut pos = 0;
        while pos < chunk.len() {
            let completed = match self.at {
                ArrayPos::Between { after_comma } => {
                    let byte = chunk[pos];
                    pos += 1;
                    match byte {
                        b'\n' => {
                            cursor.line += 1;
                            false
                        }
                        b' ' | b'\t' | b'\r' => false,
                        // Empty elements (`[,`, `,,`, `,]`) are passed on as empty records so
                        // the stray comma is reported at its line instead of vanishing.
                        b',' => {
                            self.last_comma_line = cursor.line;
                            cursor.begin(batch);
                            cursor.end(batch);
                            true
                        }
                        b']' => {
                            self.at = ArrayPos::Closed;
                            if after_comma {
                                cursor.begin(batch);
                                cursor.end(batch);
                            }
                            after_comma
                        }
                        _ => {
                            pos -= 1;
                            cursor.begin(batch);
                            self.nesting.clear();
                            self.in_string = false;
                            self.escaped = false;
                            self.at = ArrayPos::Element;
                            false
                        }
                    }
                }
                ArrayPos::Element => {
                    let (used, end) = self.scan_element(cursor, &chunk[pos..], batch);
                    pos += used;
                    match end {
                        None => false,
                        Some(terminator) => {
                            cursor.end(batch);
                            self.at = match terminator {
                                Terminator::Comma => {
                                    self.last_comma_line = cursor.line;
                                    ArrayPos::Between { after_comma: true }
                                }
                                Terminator::ArrayEnd => ArrayPos::Closed,
                            };
                            true
                        }
                    }
                }
                ArrayPos::Closed => {
                    match chunk[pos] {
                        b'\n' => cursor.line += 1,
                        b' ' | b'\t' | b'\r' => {}
                        _ => {
                            return Err(SyntaxError {
                                line: cursor.line,
                                reason: format!(
                                    "unexpected data after the end of the JSON array that \
                                     opens at line {}",
                                    self.open_line
                                ),
                            });
                        }
                    }
                    pos += 1;
                    false
                }
            };
            if completed && batch.is_full(max) {
                return Ok(Fed {
                    consumed: pos,
                    batch_full: true,
                });
            }
        }
        Ok(Fed {
            consumed: pos,
            batch_full: false,
        })
    }

    /// Copies element bytes into the batch up to a top-level `,` or `]`, which is consumed but
    /// not copied. Strings are skipped with `memchr3`, since they hold most of a record's bytes.
    fn scan_element(
        &mut self,
        cursor: &mut Cursor,
        bytes: &[u8],
        batch: &mut Batch,
    ) -> (usize, Option<Terminator>) {
        let mut i = 0;
        while i < bytes.len() {
            if self.escaped {
                self.escaped = false;
                if bytes[i] == b'\n' {
                    cursor.line += 1;
                }
                i += 1;
                continue;
            }
            if self.in_string {
                // A raw newline is invalid inside a JSON string, but it still moves the line.
                match memchr3(b'"', b'\\', b'\n', &bytes[i..]) {
                    None => i = bytes.len(),
                    Some(offset) => {
                        i += offset;
                        match bytes[i] {
                            b'"' => self.in_string = false,
                            b'\\' => self.escaped = true,
                            _ => cursor.line += 1,
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let byte = bytes[i];
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.nesting.push(byte),
                b'}' | b']' if !self.nesting.is_empty() => self.close(byte),
                b']' => {
                    batch.buf.extend_from_slice(&bytes[..i]);
                    return (i + 1, Some(Terminator::ArrayEnd));
                }
                b',' if self.nesting.is_empty() => {
                    batch.buf.extend_from_slice(&bytes[..i]);
                    return (i + 1, Some(Terminator::Comma));
                }
                b'\n' => cursor.line += 1,
                _ => {}
            }
            i += 1;
        }
        batch.buf.extend_from_slice(bytes);
        (bytes.len(), None)
    }

    /// Closes up to the matching opener, or the innermost one when none matches, so that one
    /// mismatched bracket spoils only its own element rather than swallowing the rest of the
    /// file; the decoder rejects that element.
    fn close(&mut self, closer: u8) {
        let opener = if closer == b'}' { b'{' } else { b'[' };
        match self.nesting.iter().rposition(|&open| open == opener) {
            Some(at) => self.nesting.truncate(at),
            None => {
                self.nesting.pop();
            }
        }
    }

    fn finish(&self, cursor: &Cursor) -> Result<(), SyntaxError> {
        let open_line = self.open_line;
        match self.at {
            ArrayPos::Closed => Ok(()),
            ArrayPos::Element => Err(SyntaxError {
                line: cursor.record_line,
                reason: format!(
                    "unterminated JSON array: the file ends inside the element that starts here \
                     (the array opens at line {open_line})"
                ),
            }),
            ArrayPos::Between { .. } => Err(SyntaxError {
                line: self.last_comma_line,
                reason: format!(
                    "unterminated JSON array: the file ends before its closing ']' \
                     (the array opens at line {open_line})"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `chunk` bytes, as a `BufRead` would, collecting every record.
    fn split(input: &[u8], chunk: usize) -> Result<Vec<(u64, String)>, SyntaxError> {
        let mut splitter = Splitter::default();
        let mut batch = Batch::new();
        let mut records = Vec::new();
        let mut collect = |batch: &mut Batch| {
            records.extend(
                batch
                    .iter()
                    .map(|(line, raw)| (line, String::from_utf8_lossy(raw).into_owned())),
            );
            batch.clear();
        };
        let mut pending: &[u8] = &[];
        let mut rest = input;
        loop {
            if pending.is_empty() {
                if rest.is_empty() {
                    break;
                }
                let take = chunk.min(rest.len());
                pending = &rest[..take];
                rest = &rest[take..];
            }
            let fed = splitter.feed(pending, &mut batch, 1)?;
            pending = &pending[fed.consumed..];
            if fed.batch_full {
                collect(&mut batch);
            }
        }
        splitter.finish(&mut batch)?;
        collect(&mut batch);
        Ok(records)
    }

    fn owned(records: &[(u64, &str)]) -> Vec<(u64, String)> {
        records
            .iter()
            .map(|&(line, raw)| (line, raw.to_owned()))
            .collect()
    }

    #[test]
    fn every_chunk_size_gives_the_same_records() {
        let inputs: [&[u8]; 4] = [
            b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"b\":\"x\\\"y\"}",
            b"\n [ {\"a\": \"],[{\\\\\"},\n  {\"b\":\n [1,{\"c\":2}]} ,\"s\", 3 ]\n",
            b"[{\"a\":[1}, {\"b\":2}]",
            b"\xEF\xBB{\"a\":1}\n",
        ];
        for input in inputs {
            let whole = split(input, input.len());
            for chunk in 1..input.len() {
                assert_eq!(split(input, chunk), whole, "chunk size {chunk}");
            }
        }
    }

    #[test]
    fn array_elements_end_at_top_level_commas_only() {
        let input = b"\n [ {\"a\": \"],[{\\\\\"},\n  {\"b\":\n [1,{\"c\":2}]} ,\"s\", 3 ]\n";
        let expected = owned(&[
            (2, "{\"a\": \"],[{\\\\\"}"),
            (3, "{\"b\":\n [1,{\"c\":2}]}"),
            (4, "\"s\""),
            (4, "3"),
        ]);
        assert_eq!(split(input, 7), Ok(expected));
    }

    #[test]
    fn a_mismatched_bracket_spoils_only_its_element() {
        let records = split(b"[{\"a\":[1}, {\"b\":2}]", 64);
        assert_eq!(records, Ok(owned(&[(1, "{\"a\":[1}"), (1, "{\"b\":2}")])));
        // A closer that matches no opener closes the innermost one.
        let records = split(b"[\n{\"a\":1},\n{\"b\":2],\n{\"c\":3}\n]", 64);
        assert_eq!(
            records,
            Ok(owned(&[
                (2, "{\"a\":1}"),
                (3, "{\"b\":2]"),
                (4, "{\"c\":3}")
            ]))
        );
    }

    #[test]
    fn stray_commas_become_empty_records_at_their_line() {
        let records = split(b"[\n{\"a\":1},\n,\n{\"b\":2},\n]", 64);
        assert_eq!(
            records,
            Ok(owned(&[
                (2, "{\"a\":1}"),
                (3, ""),
                (4, "{\"b\":2}"),
                (5, "")
            ]))
        );
    }

    #[test]
    fn a_truncated_bom_stays_in_the_first_line() {
        assert_eq!(
            split(b"\xEF\xBB{}\n", 64),
            Ok(vec![(1, "\u{FFFD}{}".to_owned())])
        );
        assert_eq!(split(b"\xEF", 64), Ok(vec![(1, "\u{FFFD}".to_owned())]));
    }

    #[test]
    fn data_after_the_array_is_a_syntax_error() {
        let error = split(b"[1]\n\n[2]", 64).err();
        assert_eq!(error.map(|e| e.line), Some(3));
    }

    #[test]
    fn layout_is_decided_by_the_first_significant_byte() {
        let mut splitter = Splitter::default();
        assert_eq!(splitter.skip_leading(b"\xEF\xBB\xBF \n"), 5);
        assert_eq!(splitter.layout(), None);
        assert_eq!(splitter.skip_leading(b"\t[{}]"), 2);
        assert_eq!(splitter.layout(), Some(Layout::JsonArray));
        let mut splitter = Splitter::default();
        assert_eq!(splitter.skip_leading(b"\n{\"[\":1}"), 1);
        assert_eq!(splitter.layout(), Some(Layout::Jsonl));
    }
}
