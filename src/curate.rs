//! Curated export: accepted runs (their edited text where edited) out as SFT JSONL.
//! (Stub: the types are final, the bodies are being written.)

use std::path::PathBuf;

use crate::export::ExportFormat;
use crate::store::Workspace;
use crate::transcript::{RuleResult, Rules};

/// Which system prompt goes into each exported example.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SystemChoice {
    #[default]
    None,
    /// The teacher system prompt the run was made with (its prompt snapshot, without front
    /// matter).
    Teacher,
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    pub format: ExportFormat,
    pub system: SystemChoice,
    /// Adds `prompt_id`, `run_id`, provider, model, rule results and `edited` to each example.
    pub with_meta: bool,
    pub out: PathBuf,
}

/// What an export wrote and what it refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub path: PathBuf,
    pub written: usize,
    /// Of `written`, how many carry edited text.
    pub edited: usize,
    /// Accepted runs left out because they are incomplete or failed: `sample id (run id)`.
    pub refused: Vec<String>,
    /// Lines of the workspace files that could not be read.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

/// Writes the accepted runs of `workspace` as `options` says, atomically.
///
/// # Errors
/// When the workspace cannot be read or the file cannot be written.
pub fn export_accepted(
    workspace: &Workspace,
    options: &ExportOptions,
) -> Result<ExportReport, CurateError> {
    let _ = (workspace, options);
    unimplemented!("stub")
}

/// The rules judged on an edited transcript.
#[must_use]
pub fn recheck(text: &str, rules: &Rules) -> Vec<RuleResult> {
    let _ = (text, rules);
    unimplemented!("stub")
}
