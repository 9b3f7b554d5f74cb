//! Curation decisions: `.moss/decisions.jsonl`, append-only; the latest decision per run wins.
//!
//! The journal is never rewritten: a change of mind is one more line, and so is an undo (a
//! `revoked` line withdraws the latest decision on its run that still stands). That keeps every
//! write a single synced append (a crash loses at most the line being written) and keeps the
//! history.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StoreError, Workspace, append_synced, open_for_append, scan_jsonl};
use crate::transcript::RuleResult;

/// What a curator said about a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accepted,
    Rejected,
    /// The text was edited and waits for a verdict.
    Edited,
    /// Undoes the latest decision on the run that still stands (never a run's verdict).
    Revoked,
}

impl Verdict {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Edited => "edited",
            Self::Revoked => "revoked",
        }
    }
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
    /// An accept given knowing that the text fails a rule ("accept anyway"): exports take it
    /// even though it fails.
    #[serde(
        default,
        rename = "override",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub override_rules: bool,
    /// Why it was rejected (rejects only): one of the configured reasons or free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The prompt version of the run decided on (absent in lines written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// An accept chosen in a side-by-side comparison over this other run of the same sample:
    /// the two make a preference pair (`export --pairs`), this run chosen, that one rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Decision {
    /// A decision on `run_id` with nothing but its verdict.
    #[must_use]
    pub fn new(run_id: &str, sample_id: &str, verdict: Verdict, at_ms: u64) -> Self {
        Self {
            run_id: run_id.to_owned(),
            sample_id: sample_id.to_owned(),
            verdict,
            text: None,
            rules: Vec::new(),
            override_rules: false,
            reason: None,
            prompt_id: None,
            over: None,
            at_ms,
        }
    }
}

/// Where a run stands after all its decisions, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curation {
    /// The latest verdict that stands; `None` when undecided (or every decision was undone).
    /// Never [`Verdict::Revoked`].
    pub verdict: Option<Verdict>,
    /// The latest edited text that stands, kept through later accepts and rejects.
    pub edited: Option<String>,
    /// Rules on `edited`.
    pub edited_rules: Vec<RuleResult>,
    /// The standing accept was an "accept anyway" of a text that fails a rule.
    pub override_rules: bool,
    /// The standing reject's reason.
    pub reason: Option<String>,
    /// The run the standing accept was preferred over in a side-by-side comparison.
    pub over: Option<String>,
    /// When the standing verdict was given (milliseconds since the Unix epoch).
    pub at_ms: Option<u64>,
    /// The decisions that stand, oldest first: an undo pops the last one.
    standing: Vec<Decision>,
}

/// Decisions read from disk, with what was skipped.
#[derive(Debug, Default)]
pub struct LoadedDecisions {
    pub decisions: Vec<Decision>,
    /// `file:line: reason` for every line that could not be read.
    pub warnings: Vec<String>,
}

/// Folds decisions (in the order written) into each run's curation, keyed by run id.
///
/// An edit leaves the run waiting for a verdict even when it had been accepted: what was
/// accepted was another text. Accepts and rejects keep the edited text, so accepting after an
/// edit accepts the edit. A revoke withdraws the run's latest standing decision.
#[must_use]
pub fn fold(decisions: &[Decision]) -> HashMap<String, Curation> {
    let mut curations: HashMap<String, Curation> = HashMap::new();
    for decision in decisions {
        curations
            .entry(decision.run_id.clone())
            .or_default()
            .apply(decision);
    }
    curations
}

/// The journal positions of the decisions that still stand, across all runs, in the order they
/// were made: the last one is what an undo withdraws. A revoke pops its run's latest standing
/// decision (and a revoke with nothing standing is ignored).
#[must_use]
pub fn standing_order(decisions: &[Decision]) -> Vec<usize> {
    let mut per_run: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut revoked = vec![false; decisions.len()];
    for (at, decision) in decisions.iter().enumerate() {
        let stack = per_run.entry(decision.run_id.as_str()).or_default();
        if decision.verdict == Verdict::Revoked {
            revoked[at] = true;
            if let Some(undone) = stack.pop() {
                revoked[undone] = true;
            }
        } else {
            stack.push(at);
        }
    }
    (0..decisions.len()).filter(|&at| !revoked[at]).collect()
}

impl Curation {
    /// Takes one more decision on this run: the one place a decision changes a curation, for
    /// the store's [`fold`] and the workbench alike. An edit without a text (a damaged line)
    /// keeps the text edited before.
    pub fn apply(&mut self, decision: &Decision) {
        if decision.verdict == Verdict::Revoked {
            self.standing.pop();
        } else {
            self.standing.push(decision.clone());
        }
        self.settle();
    }

    /// Judges the standing edit again (with the rules in force now): its verdicts become
    /// `judge(text)`.
    pub fn rejudge_edit(&mut self, judge: impl FnOnce(&str) -> Vec<RuleResult>) {
        let edit = self
            .standing
            .iter_mut()
            .rev()
            .find(|d| d.verdict == Verdict::Edited && d.text.is_some());
        if let Some(edit) = edit {
            edit.rules = judge(edit.text.as_deref().unwrap_or_default());
            self.settle();
        }
    }

    /// The decisions that stand on this run, oldest first.
    #[must_use]
    pub fn standing(&self) -> &[Decision] {
        &self.standing
    }

    /// Whether the run has no standing decision.
    #[must_use]
    pub fn is_undecided(&self) -> bool {
        self.verdict.is_none()
    }

    fn settle(&mut self) {
        let last = self.standing.last();
        self.verdict = last.map(|d| d.verdict);
        self.at_ms = last.map(|d| d.at_ms);
        self.override_rules = last.is_some_and(|d| d.override_rules);
        self.reason = last.and_then(|d| d.reason.clone());
        self.over = last.and_then(|d| d.over.clone());
        let edit = self
            .standing
            .iter()
            .rev()
            .find(|d| d.verdict == Verdict::Edited && d.text.is_some());
        self.edited = edit.and_then(|d| d.text.clone());
        self.edited_rules = edit.map(|d| d.rules.clone()).unwrap_or_default();
    }
}

/// The append handle of `decisions.jsonl`: each append is fsynced before it returns.
#[derive(Debug)]
pub struct DecisionLog {
    path: PathBuf,
    file: File,
    line: Vec<u8>,
}

impl DecisionLog {
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_owned(),
            file: open_for_append(path)?,
            line: Vec::new(),
        })
    }

    /// # Errors
    /// When the decision cannot be written and synced.
    pub fn append(&mut self, decision: &Decision) -> Result<(), StoreError> {
        self.append_all(&[decision])
    }

    /// Appends `decisions` in order with one write and one sync: all of them are on disk, or
    /// (when the write fails) none.
    ///
    /// # Errors
    /// When the decisions cannot be written and synced.
    pub fn append_all(&mut self, decisions: &[&Decision]) -> Result<(), StoreError> {
        self.line.clear();
        for decision in decisions {
            serde_json::to_writer(&mut self.line, decision)?;
            self.line.push(b'\n');
        }
        if self.line.is_empty() {
            return Ok(());
        }
        append_synced(&mut self.file, &self.path, &self.line)
    }
}

const DECISIONS_FILE: &str = "decisions.jsonl";

impl Workspace {
    #[must_use]
    pub fn decisions_path(&self) -> PathBuf {
        self.root.join(DECISIONS_FILE)
    }

    /// # Errors
    /// When the file cannot be opened.
    pub fn decision_log(&self) -> Result<DecisionLog, StoreError> {
        DecisionLog::open(&self.decisions_path())
    }

    /// Every decision on disk, in the order written. Unreadable lines are skipped with a
    /// warning; a missing file holds no decisions.
    ///
    /// # Errors
    /// Only when the file exists and cannot be read.
    pub fn load_decisions(&self) -> Result<LoadedDecisions, StoreError> {
        let mut decisions = Vec::new();
        let warnings = scan_jsonl(&self.decisions_path(), "decision", |_, d| {
            decisions.push(d);
        })?;
        Ok(LoadedDecisions {
            decisions,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;
    use crate::transcript::{Outcome, RuleId};

    fn decision(run: &str, verdict: Verdict, text: Option<&str>) -> Decision {
        Decision {
            run_id: run.to_owned(),
            sample_id: format!("q-{run}"),
            verdict,
            text: text.map(str::to_owned),
            rules: text
                .map(|t| {
                    vec![RuleResult {
                        id: RuleId::ThinkBudget,
                        outcome: Outcome::Pass,
                        message: format!("judged on {t}"),
                        segment: None,
                    }]
                })
                .unwrap_or_default(),
            ..Decision::new(run, &format!("q-{run}"), verdict, 1_700_000_000_000)
        }
    }

    #[test]
    fn an_undo_withdraws_the_latest_standing_decision_of_its_run() {
        use Verdict::{Accepted, Edited, Rejected, Revoked};
        let mut reject = decision("b", Rejected, None);
        reject.reason = Some("事实错误".to_owned());
        let decisions = [
            decision("a", Accepted, None),
            decision("a", Edited, Some("改过")),
            decision("b", Accepted, None),
            reject,
            decision("a", Revoked, None),
            decision("b", Revoked, None),
            decision("c", Revoked, None),
            decision("b", Revoked, None),
        ];
        let folded = fold(&decisions);
        assert_eq!(folded["a"].verdict, Some(Accepted), "the edit is undone");
        assert_eq!(folded["a"].edited, None, "and its text with it");
        assert_eq!(
            folded["b"].verdict, None,
            "both of b's decisions are undone"
        );
        assert_eq!(folded["b"].reason, None);
        assert!(
            folded["c"].is_undecided(),
            "a revoke with nothing standing changes nothing"
        );
        assert_eq!(standing_order(&decisions), [0]);
        let mut partly = fold(&decisions[..4]);
        assert_eq!(partly["b"].reason.as_deref(), Some("事实错误"));
        partly
            .get_mut("b")
            .expect("b")
            .apply(&decision("b", Revoked, None));
        assert_eq!(
            partly["b"].verdict,
            Some(Accepted),
            "undoing the reject restores the accept"
        );
        assert_eq!(partly["b"].reason, None);
    }

    proptest! {
        #[test]
        fn folding_with_revokes_equals_folding_what_stands(
            picks in proptest::collection::vec((0..3usize, 0..4usize, "[a-z想]{0,4}"), 0..32)
        ) {
            let decisions = picked(&picks);
            let standing: Vec<Decision> = standing_order(&decisions)
                .into_iter()
                .map(|at| decisions[at].clone())
                .collect();
            prop_assert!(standing.iter().all(|d| d.verdict != Verdict::Revoked));
            let with_revokes = fold(&decisions);
            let without = fold(&standing);
            for run in ["r0", "r1", "r2"] {
                let a = with_revokes.get(run).map(|c| (c.verdict, c.edited.clone(), c.standing().len()));
                let b = without.get(run).map(|c| (c.verdict, c.edited.clone(), c.standing().len()));
                prop_assert_eq!(a.unwrap_or((None, None, 0)), b.unwrap_or((None, None, 0)));
            }
        }
    }

    /// Decisions from proptest's picks: (run number, verdict by index in accepted, rejected,
    /// edited, revoked; the edit's text).
    fn picked(picks: &[(usize, usize, String)]) -> Vec<Decision> {
        let verdicts = [
            Verdict::Accepted,
            Verdict::Rejected,
            Verdict::Edited,
            Verdict::Revoked,
        ];
        picks
            .iter()
            .map(|(run, v, text)| {
                let verdict = verdicts[*v];
                let text = (verdict == Verdict::Edited).then_some(text.as_str());
                decision(&format!("r{run}"), verdict, text)
            })
            .collect()
    }

    #[test]
    fn an_edit_needs_a_new_accept_and_verdicts_keep_the_edit() {
        use Verdict::{Accepted, Edited, Rejected};
        let folded = fold(&[
            decision("a", Accepted, None),
            decision("a", Edited, Some("改过的回答")),
            decision("b", Edited, Some("第一版")),
            decision("b", Accepted, None),
            decision("c", Edited, Some("第一版")),
            decision("c", Edited, Some("第二版")),
            decision("c", Rejected, None),
            decision("d", Accepted, None),
            decision("d", Rejected, None),
            decision("e", Rejected, None),
            decision("e", Accepted, None),
        ]);
        let a = &folded["a"];
        assert_eq!(a.verdict, Some(Edited), "an edit withdraws the accept");
        assert_eq!(a.edited.as_deref(), Some("改过的回答"));
        assert_eq!(a.edited_rules[0].message, "judged on 改过的回答");
        let b = &folded["b"];
        assert_eq!(b.verdict, Some(Accepted));
        assert_eq!(
            b.edited.as_deref(),
            Some("第一版"),
            "the accept keeps the edit"
        );
        let c = &folded["c"];
        assert_eq!(c.verdict, Some(Rejected));
        assert_eq!(c.edited.as_deref(), Some("第二版"));
        assert_eq!(c.edited_rules[0].message, "judged on 第二版");
        assert_eq!(folded["d"].verdict, Some(Rejected));
        assert_eq!(folded["d"].edited, None);
        assert_eq!(folded["e"].verdict, Some(Accepted));
        assert!(!folded.contains_key("f"), "undecided runs have no curation");
    }

    proptest! {
        #[test]
        fn the_latest_decision_and_the_latest_edit_win(
            picks in proptest::collection::vec((0..3usize, 0..3usize, "[a-z想]{0,4}"), 0..24)
        ) {
            let decisions = picked(&picks);
            let folded = fold(&decisions);
            for run in ["r0", "r1", "r2"] {
                let mine: Vec<&Decision> = decisions.iter().filter(|d| d.run_id == run).collect();
                let Some(last) = mine.last() else {
                    prop_assert!(!folded.contains_key(run));
                    continue;
                };
                let curation = &folded[run];
                prop_assert_eq!(curation.verdict, Some(last.verdict));
                let last_edit = mine.iter().rev().find(|d| d.verdict == Verdict::Edited);
                prop_assert_eq!(curation.edited.as_deref(), last_edit.and_then(|d| d.text.as_deref()));
                prop_assert_eq!(&curation.edited_rules, &last_edit.map(|d| d.rules.clone()).unwrap_or_default());
            }
        }
    }

    #[test]
    fn decisions_round_trip_and_a_torn_last_line_is_skipped_then_healed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        assert!(
            ws.load_decisions()
                .expect("no journal yet")
                .decisions
                .is_empty()
        );
        let written = [
            decision(
                "a",
                Verdict::Edited,
                Some("答：\"引号\"\n<think>想</think>\n"),
            ),
            decision("a", Verdict::Accepted, None),
        ];
        let mut log = ws.decision_log().expect("log");
        for d in &written {
            log.append(d).expect("append");
        }
        drop(log);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ws.decisions_path())
            .expect("open");
        f.write_all(br#"{"run_id":"b","verd"#).expect("tear");
        drop(f);

        let loaded = ws.load_decisions().expect("load");
        assert_eq!(loaded.decisions, written);
        assert_eq!(
            loaded.warnings,
            [format!(
                "{}:3: skipped a torn last line (a write was cut short)",
                ws.decisions_path().display()
            )]
        );

        // The next append starts on a line of its own: only the torn decision is lost.
        let later = decision("b", Verdict::Rejected, None);
        ws.decision_log()
            .expect("log")
            .append(&later)
            .expect("append");
        let loaded = ws.load_decisions().expect("load");
        assert_eq!(loaded.decisions.len(), 3);
        assert_eq!(loaded.decisions[2], later);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(
            loaded.warnings[0].contains("decisions.jsonl:3: skipped an unreadable decision"),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn a_group_of_decisions_goes_in_one_append_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = Workspace::open(dir.path()).expect("open");
        let group: Vec<Decision> = (0..50)
            .map(|i| {
                let mut d = decision(&format!("r{i}"), Verdict::Rejected, None);
                d.reason = Some(format!("fails think-budget #{i}"));
                d
            })
            .collect();
        let refs: Vec<&Decision> = group.iter().collect();
        let mut log = ws.decision_log().expect("log");
        log.append_all(&refs).expect("append");
        log.append_all(&[]).expect("nothing to append is fine");
        assert_eq!(ws.load_decisions().expect("load").decisions, group);
        // A group that cannot be written is reported whole.
        let mut full = DecisionLog::open(Path::new("/dev/full")).expect("opens");
        assert!(full.append_all(&refs).is_err());
    }

    #[test]
    fn a_failed_append_names_the_file() {
        // /dev/full fails every write with "no space left on device".
        let mut log = DecisionLog::open(Path::new("/dev/full")).expect("opens");
        let err = log
            .append(&decision("a", Verdict::Accepted, None))
            .expect_err("disk full")
            .to_string();
        assert!(err.starts_with("/dev/full: "), "{err}");
    }
}
