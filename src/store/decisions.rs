//! Curation decisions: `.moss/decisions.jsonl`, append-only; the latest decision per run wins.
//! (Stub: the types are final, the bodies are being written.)

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{StoreError, Workspace};
use crate::transcript::RuleResult;

/// What a curator said about a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accepted,
    Rejected,
    /// The text was edited and waits for a verdict.
    Edited,
}

/// One line of `decisions.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub run_id: String,
    pub sample_id: String,
    pub verdict: Verdict,
    /// The edited transcript (edits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The rules judged on the edited text (edits only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleResult>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// Where a run stands after all its decisions, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curation {
    /// The latest verdict; `None` when undecided.
    pub verdict: Option<Verdict>,
    /// The latest edited text, kept through later accepts and rejects.
    pub edited: Option<String>,
    /// Rules on `edited`.
    pub edited_rules: Vec<RuleResult>,
}

/// Decisions read from disk, with what was skipped.
#[derive(Debug, Default)]
pub struct LoadedDecisions {
    pub decisions: Vec<Decision>,
    /// `file:line: reason` for every line that could not be read.
    pub warnings: Vec<String>,
}

/// Folds decisions (in the order written) into each run's curation, keyed by run id.
#[must_use]
pub fn fold(decisions: &[Decision]) -> HashMap<String, Curation> {
    let _ = decisions;
    unimplemented!("stub")
}

/// The append handle of `decisions.jsonl`: each append is fsynced before it returns.
#[derive(Debug)]
pub struct DecisionLog {
    _private: (),
}

impl DecisionLog {
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let _ = path;
        unimplemented!("stub")
    }

    /// # Errors
    /// When the decision cannot be written and synced.
    pub fn append(&mut self, decision: &Decision) -> Result<(), StoreError> {
        let _ = decision;
        unimplemented!("stub")
    }
}

impl Workspace {
    /// # Errors
    /// When the file cannot be opened.
    pub fn decision_log(&self) -> Result<DecisionLog, StoreError> {
        unimplemented!("stub")
    }

    /// # Errors
    /// Only when the file exists and cannot be read.
    pub fn load_decisions(&self) -> Result<LoadedDecisions, StoreError> {
        unimplemented!("stub")
    }
}
