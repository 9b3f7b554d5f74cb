//! Sample questions for `moss generate` and the workbench, read from any dataset format.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DatasetError, Format};

/// One question to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub id: String,
    pub question: String,
    /// The record's `"tags"` (the workbench filters by them: `tag:NAME`).
    pub tags: Vec<String>,
    /// The record's `"interruptions"` (`[{"after_words": 40, "text": "…"}]`): scripted for
    /// this sample's runs instead of `moss generate --interrupt-after`'s. `None`: not given.
    pub interruptions: Option<Vec<crate::run::ScriptedInterruption>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{0}: no sample with a question to run")]
    NoSamples(PathBuf),
}

/// Reads samples from any format `check` reads: the question is the user turn. Records without
/// a question, bad records and repeated ids are reported to `notes` as `file:line: reason` and
/// skipped. A record without an id gets one from its question's hash.
///
/// # Errors
/// When the file cannot be read, or holds no usable sample.
pub fn read_samples(
    path: &Path,
    format: Option<Format>,
    notes: &mut dyn Write,
) -> Result<Vec<Sample>, SamplesError> {
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for item in super::records(path, format)? {
        let (line, record) = match item? {
            Ok(ok) => ok,
            Err(bad) => {
                let _ = writeln!(notes, "{bad}");
                continue;
            }
        };
        let Some(question) = record.question.filter(|q| !q.trim().is_empty()) else {
            let _ = writeln!(
                notes,
                "{}:{line}: no question in this record; skipped",
                path.display()
            );
            continue;
        };
        let id = record
            .id
            .unwrap_or_else(|| format!("h{}", &crate::run::prompt_id(&question)[..10]));
        if !seen.insert(id.clone()) {
            let _ = writeln!(
                notes,
                "{}:{line}: sample id {id:?} repeats an earlier one; skipped",
                path.display()
            );
            continue;
        }
        samples.push(Sample {
            id,
            question,
            tags: record.tags,
            interruptions: record.interruptions,
        });
    }
    if samples.is_empty() {
        return Err(SamplesError::NoSamples(path.to_owned()));
    }
    Ok(samples)
}
