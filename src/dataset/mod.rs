//! Reading datasets: JSONL and JSON-array files, streamed.
//!
//! Reading is split in two so `moss check` can use every core: a [`RecordReader`] per file only
//! finds record boundaries and line numbers, filling reusable [`Batch`]es of raw bytes, and
//! workers decode each raw record with [`Format::decode`]. Memory stays bounded by the batch
//! size and the largest record, never by the file. [`records`] wraps both steps for small uses
//! such as reading sample questions.

mod batch;
mod fields;
mod format;
mod reader;
mod samples;
mod split;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub use batch::Batch;
pub use format::{Format, Record, UnknownFormat, detect, explain_undetected};
pub use reader::{RecordReader, Records};
pub use samples::{Sample, SamplesError, read_samples};
pub use split::Layout;

/// A failure that ends the reading of a file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The reason is part of the message because these errors are printed one per file,
    /// beside per-record `file:line: reason` lines, not as error chains.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file's structure is broken past recovery, e.g. a JSON array that is never closed.
    #[error("{}:{line}: {reason}", path.display())]
    Syntax {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

/// A record that could not be decoded; the rest of the file is still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", path.display())]
pub struct BadRecord {
    pub path: PathBuf,
    /// 1-based line where the record starts.
    pub line: u64,
    pub reason: String,
}

/// Decoded records of the file at `path`, detecting the format from its first recognisable
/// record when `format` is `None`; see [`Records`] for how errors are reported.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn records(
    path: &Path,
    format: Option<Format>,
) -> Result<Records<BufReader<File>>, DatasetError> {
    Ok(RecordReader::open(path)?.into_records(format))
}
