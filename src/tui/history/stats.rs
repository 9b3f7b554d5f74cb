//! From run records to one line of figures per prompt version.
//!
//! Each version's complete runs are tallied by that version's rules under the current
//! configuration ([`Judge`]): a run judged by other rules is judged again from its transcript.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::compare::stats::compliance;
use crate::compare::{Interleaving, MeasuresReport, Score, interleaving_of};
use crate::run::{Fallback, Judge, Run};
use crate::transcript::{CountMode, Outcome, RuleId, RuleResult};

use super::{PromptVersionStats, RuleRate, sample_percent};

/// What the view knows about a version beyond its public figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Facts {
    /// Whether its text is known (a version whose snapshot is gone still has runs to show).
    pub text_known: bool,
    /// Complete runs where no rule failed.
    pub clean: usize,
    /// What the figures were not judged by, when not the version's own rules: a line for the
    /// screen.
    pub rules_note: Option<&'static str>,
}

impl Facts {
    fn never_run() -> Self {
        Self {
            text_known: true,
            clean: 0,
            rules_note: None,
        }
    }
}

impl PromptVersionStats {
    /// Version `id` with `text`, never run.
    fn never_run(id: &str, text: Arc<str>, current: bool) -> Self {
        Self {
            id: id.to_owned(),
            text,
            runs: 0,
            complete: 0,
            rules: Vec::new(),
            samples: 0,
            pass_percent: None,
            measures: None,
            first_run_ms: None,
            current,
        }
    }
}

pub(super) struct Collected {
    pub versions: Vec<PromptVersionStats>,
    pub facts: Vec<Facts>,
    pub current: usize,
}

#[derive(Default)]
struct Tally {
    runs: usize,
    complete: usize,
    clean: usize,
    first_run_ms: u64,
    rules: BTreeMap<RuleId, RuleRate>,
    /// Per sample: its complete runs passing every rule.
    all: BTreeMap<String, Score>,
    /// Per rule, per sample: its runs passing the rule (where judged).
    per_sample: BTreeMap<RuleId, BTreeMap<String, Score>>,
    /// Each complete run's interleaving, with its milliseconds to the first answer text.
    measured: Vec<(Interleaving, Option<u64>)>,
}

impl Tally {
    /// Counts `run`; `verdicts` gives a complete run's verdicts (asked only for those), and
    /// `mode` how its words count.
    fn add<'r>(
        &mut self,
        run: &'r Run,
        verdicts: impl FnOnce(&'r Run) -> (Cow<'r, [RuleResult]>, CountMode),
    ) {
        self.first_run_ms = if self.runs == 0 {
            run.timings.started_at_ms
        } else {
            self.first_run_ms.min(run.timings.started_at_ms)
        };
        self.runs += 1;
        // An incomplete run's verdicts judge a transcript cut short: they say nothing about
        // the prompt.
        if !run.is_complete() {
            return;
        }
        self.complete += 1;
        let (verdicts, mode) = verdicts(run);
        let clean = verdicts.iter().all(|r| r.outcome != Outcome::Fail);
        self.clean += usize::from(clean);
        let sample = self.all.entry(run.sample_id.clone()).or_default();
        sample.runs += 1;
        sample.passed += usize::from(clean);
        for result in verdicts.iter() {
            let rate = self.rules.entry(result.id).or_insert(RuleRate {
                id: result.id,
                passed: 0,
                judged: 0,
                samples: 0,
                sample_percent: None,
            });
            if result.outcome == Outcome::Skip {
                continue;
            }
            let passed = result.outcome == Outcome::Pass;
            rate.judged += 1;
            rate.passed += usize::from(passed);
            let score = self
                .per_sample
                .entry(result.id)
                .or_default()
                .entry(run.sample_id.clone())
                .or_default();
            score.runs += 1;
            score.passed += usize::from(passed);
        }
        self.measured.push((
            interleaving_of(&run.transcript, mode),
            run.timings.first_answer_ms,
        ));
    }

    /// The rules' rates with their per-sample figures.
    fn rates(&mut self) -> Vec<RuleRate> {
        let mut rates: Vec<RuleRate> = std::mem::take(&mut self.rules).into_values().collect();
        for rate in &mut rates {
            if let Some(scores) = self.per_sample.get(&rate.id) {
                rate.samples = scores.len();
                rate.sample_percent = sample_percent(
                    compliance(scores).map(|(mean, _)| mean),
                    rate.passed == rate.judged,
                );
            }
        }
        rates
    }
}

/// The figures of every version with runs, and of the current one. `judge` gives each run's
/// verdicts under its version's current rules; without one the recorded verdicts are counted.
pub(super) fn collect(
    runs: &[Run],
    texts: &[(String, Arc<str>)],
    current: (&str, Arc<str>),
    mut judge: Option<&mut Judge>,
) -> Collected {
    let (current_id, current_text) = current;
    let texts_in_order = texts;
    let texts: HashMap<&str, &Arc<str>> = texts.iter().map(|(id, t)| (id.as_str(), t)).collect();
    let text_of = |id: &str| -> Option<&str> {
        if id == current_id {
            Some(&*current_text)
        } else {
            texts.get(id).map(|t| &***t)
        }
    };
    let mut tallies: HashMap<&str, Tally> = HashMap::new();
    for run in runs {
        let tally = tallies.entry(run.prompt_id.as_str()).or_default();
        tally.add(run, |run| match judge.as_deref_mut() {
            Some(judge) => {
                let verdicts = judge.verdicts(run, || {
                    text_of(&run.prompt_id)
                        .map(str::to_owned)
                        .ok_or_else(|| "no snapshot".to_owned())
                });
                let mode = judge
                    .resolved(&run.prompt_id)
                    .map_or(CountMode::Mixed, |v| v.rules.config().count_mode);
                (verdicts, mode)
            }
            None => (Cow::Borrowed(&run.rules), CountMode::Mixed),
        });
    }
    let rules_note = |id: &str| {
        let resolved = judge.as_deref().and_then(|j| j.resolved(id))?;
        resolved.fallback.as_ref().map(|why| match why {
            Fallback::NoSnapshot(_) => "config rules only (no snapshot)",
            Fallback::FrontMatter(_) => "config rules only (bad front matter)",
        })
    };

    let tallies_ids: std::collections::HashSet<&str> = tallies.keys().copied().collect();
    let mut ordered: Vec<(&str, Tally)> = tallies.into_iter().collect();
    ordered.sort_by(|(a_id, a), (b_id, b)| (a.first_run_ms, a_id).cmp(&(b.first_run_ms, b_id)));

    let mut versions = Vec::with_capacity(ordered.len() + 1);
    let mut facts = Vec::with_capacity(ordered.len() + 1);
    let mut current_index = None;
    for (id, mut tally) in ordered {
        let is_current = id == current_id;
        let text = if is_current {
            current_index = Some(versions.len());
            Some(Arc::clone(&current_text))
        } else {
            texts.get(id).map(|t| Arc::clone(t))
        };
        facts.push(Facts {
            text_known: text.is_some(),
            clean: tally.clean,
            rules_note: rules_note(id),
        });
        versions.push(PromptVersionStats {
            id: id.to_owned(),
            text: text.unwrap_or_else(|| Arc::from("")),
            runs: tally.runs,
            complete: tally.complete,
            rules: tally.rates(),
            samples: tally.all.len(),
            pass_percent: sample_percent(
                compliance(&tally.all).map(|(mean, _)| mean),
                tally.clean == tally.complete,
            ),
            measures: (!tally.measured.is_empty())
                .then(|| MeasuresReport::of(tally.measured.iter().map(|(m, ms)| (m, *ms)))),
            first_run_ms: Some(tally.first_run_ms),
            current: is_current,
        });
    }
    // Versions saved and never run (a labelled version restored from, say) can still be
    // looked at and restored: after those with runs, in the order `texts` gives.
    for (id, text) in texts_in_order {
        if id.as_str() == current_id || tallies_ids.contains(id.as_str()) {
            continue;
        }
        facts.push(Facts::never_run());
        versions.push(PromptVersionStats::never_run(id, Arc::clone(text), false));
    }
    let current = current_index.unwrap_or_else(|| {
        facts.push(Facts::never_run());
        versions.push(PromptVersionStats::never_run(
            current_id,
            current_text,
            true,
        ));
        versions.len() - 1
    });
    Collected {
        versions,
        facts,
        current,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::prompt::ModelParams;
    use crate::run::{RunStatus, SegmentSummary, Timings};
    use crate::teacher::TeacherInfo;
    use crate::transcript::RuleResult;

    /// A run of `prompt` started at `at` ms with the given verdicts.
    pub(in crate::tui::history) fn run(
        prompt: &str,
        at: u64,
        status: RunStatus,
        rules: &[(RuleId, Outcome)],
    ) -> Run {
        Run {
            run_id: format!("{prompt}-{at}"),
            sample_id: "s".into(),
            question: "q".into(),
            prompt_id: prompt.into(),
            settings_id: "x".into(),
            rules_id: String::new(),
            teacher: TeacherInfo {
                provider: "replay".into(),
                model: "m".into(),
                replayed: true,
            },
            placeholder: false,
            params: ModelParams::default(),
            exec: crate::exec::ExecMode::Off,
            status,
            error: None,
            finish_reason: None,
            transcript: String::new(),
            segments: SegmentSummary::default(),
            rules: rules
                .iter()
                .map(|&(id, outcome)| RuleResult {
                    id,
                    outcome,
                    message: String::new(),
                    segment: None,
                })
                .collect(),
            reasoning: None,
            usage: None,
            executions: Vec::new(),
            interruptions: Vec::new(),
            timings: Timings {
                started_at_ms: at,
                ..Timings::default()
            },
            stream: None,
        }
    }

    fn text(t: &str) -> Arc<str> {
        Arc::from(t)
    }

    const PASS: Outcome = Outcome::Pass;
    const FAIL: Outcome = Outcome::Fail;
    const SKIP: Outcome = Outcome::Skip;

    #[test]
    fn rates_count_only_complete_runs_and_skips_are_not_judged() {
        use RuleId::{Interleaved as I, ThinkBudget as T};
        let runs = [
            run("a", 10, RunStatus::Complete, &[(T, PASS), (I, PASS)]),
            run("a", 20, RunStatus::Complete, &[(T, FAIL), (I, PASS)]),
            run("a", 30, RunStatus::Complete, &[(T, SKIP), (I, FAIL)]),
            // A run cut short fails everything; none of it may count.
            run("a", 40, RunStatus::Incomplete, &[(T, FAIL), (I, FAIL)]),
            run("a", 50, RunStatus::Failed, &[]),
        ];
        let c = collect(&runs, &[("a".into(), text("A"))], ("b", text("B")), None);
        let a = &c.versions[0];
        assert_eq!((a.runs, a.complete), (5, 3));
        // All of one sample's: per sample, the rate of its one sample.
        assert_eq!(
            a.rules,
            [
                RuleRate {
                    id: T,
                    passed: 1,
                    judged: 2,
                    samples: 1,
                    sample_percent: Some(50),
                },
                RuleRate {
                    id: I,
                    passed: 2,
                    judged: 3,
                    samples: 1,
                    sample_percent: Some(66),
                },
            ]
        );
        assert_eq!(c.facts[0].clean, 1);
        assert_eq!(a.first_run_ms, Some(10));
    }

    /// `run` of sample `sample` answering `transcript`.
    fn answer(sample: &str, at: u64, passes: bool, transcript: &str) -> Run {
        let outcome = if passes { PASS } else { FAIL };
        let mut run = run(
            "a",
            at,
            RunStatus::Complete,
            &[(RuleId::ThinkBudget, outcome)],
        );
        run.sample_id = sample.into();
        run.transcript = transcript.into();
        run
    }

    #[test]
    fn rates_score_samples_not_runs_and_the_interleaving_is_measured() {
        // s1 twice (one passes), s2 once (passes): 2 of 3 runs, but (1/2 + 1) / 2 per sample.
        let mut runs = vec![
            answer(
                "s1",
                1,
                true,
                "天空是蓝色的。<think>因为散射</think>就是这样。",
            ),
            answer("s1", 2, false, "好。<think>这段思考太长太长了</think>"),
            answer("s2", 3, true, "一二三四五六。"),
        ];
        runs[0].timings.first_answer_ms = Some(500);
        runs[2].timings.first_answer_ms = Some(1500);
        let c = collect(&runs, &[], ("a", text("A")), None);
        let a = &c.versions[0];
        assert_eq!((a.samples, a.complete), (2, 3));
        assert_eq!(a.rules[0].sample_percent, Some(75));
        assert_eq!((a.rules[0].passed, a.rules[0].judged), (2, 3));
        assert_eq!(a.pass_percent, Some(75));
        let m = a.measures.expect("measured");
        // Answer words before the first think: 6, 1 and 6 (no think); thinks 4, 9 and none.
        assert!(
            (m.words_before_first_think - 13.0 / 3.0).abs() < 1e-9,
            "{m:?}"
        );
        assert!((m.longest_think - 13.0 / 3.0).abs() < 1e-9, "{m:?}");
        assert_eq!(m.longest_think_max, 9);
        assert_eq!(m.seconds_to_first_answer, Some(1.0));
    }

    #[test]
    fn versions_come_in_order_of_first_run_and_a_new_current_prompt_last() {
        let runs = [
            run("late", 300, RunStatus::Complete, &[]),
            run("early", 100, RunStatus::Complete, &[]),
            run("late", 50, RunStatus::Incomplete, &[]),
            run("mid", 200, RunStatus::Complete, &[]),
        ];
        let texts = [
            ("mid".to_owned(), text("M")),
            ("early".to_owned(), text("E")),
        ];
        let c = collect(&runs, &texts, ("new", text("N")), None);
        let ids: Vec<&str> = c.versions.iter().map(|v| v.id.as_str()).collect();
        // `late` was first run at 50 even though its later run came first in the log.
        assert_eq!(ids, ["late", "early", "mid", "new"]);
        assert_eq!(c.current, 3);
        let new = &c.versions[3];
        assert!(new.current && new.runs == 0 && new.first_run_ms.is_none());
        assert_eq!(&*new.text, "N");
        assert_eq!(c.versions.iter().filter(|v| v.current).count(), 1);
        // `late` has no snapshot: it is listed, with its text marked unknown.
        assert!(!c.facts[0].text_known);
        assert!(c.facts[1].text_known && c.facts[3].text_known);
        assert_eq!(&*c.versions[1].text, "E");
    }

    #[test]
    fn versions_saved_and_never_run_are_listed_after_those_with_runs() {
        let runs = [run("a", 1, RunStatus::Complete, &[])];
        let texts = [
            ("saved2".to_owned(), text("S2")),
            ("a".to_owned(), text("A")),
            ("saved1".to_owned(), text("S1")),
        ];
        let c = collect(&runs, &texts, ("cur", text("C")), None);
        let ids: Vec<&str> = c.versions.iter().map(|v| v.id.as_str()).collect();
        // In the order given (the workbench gives the order they were saved in).
        assert_eq!(ids, ["a", "saved2", "saved1", "cur"]);
        assert_eq!(c.current, 3);
        let never = &c.versions[1];
        assert!(!never.current && never.runs == 0 && never.first_run_ms.is_none());
        assert_eq!(&*never.text, "S2");
        assert!(c.facts[1].text_known);
        // The current version is not listed twice when it is one of them.
        let c = collect(&runs, &texts, ("saved1", text("S1")), None);
        let ids: Vec<&str> = c.versions.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["a", "saved2", "saved1"]);
        assert_eq!(c.current, 2);
    }

    #[test]
    fn a_current_prompt_that_has_runs_is_that_version() {
        let runs = [
            run("a", 1, RunStatus::Complete, &[]),
            run("b", 2, RunStatus::Complete, &[]),
        ];
        // The current prompt's own text wins even without a snapshot.
        let c = collect(&runs, &[("a".into(), text("A"))], ("a", text("A")), None);
        assert_eq!(c.versions.len(), 2);
        assert_eq!(c.current, 0);
        assert!(c.versions[0].current && !c.versions[1].current);
        let c = collect(&runs, &[], ("b", text("B")), None);
        assert_eq!(c.current, 1);
        assert!(c.facts[1].text_known);
        assert_eq!(&*c.versions[1].text, "B");
    }

    fn any_run() -> impl Strategy<Value = Run> {
        let outcome = prop_oneof![Just(PASS), Just(FAIL), Just(SKIP)];
        let status = prop_oneof![
            Just(RunStatus::Complete),
            Just(RunStatus::Incomplete),
            Just(RunStatus::Failed)
        ];
        (
            prop_oneof![Just("a"), Just("b"), Just("c")],
            0u64..1000,
            status,
            proptest::collection::vec((0..RuleId::ALL.len(), outcome), 0..6),
        )
            .prop_map(|(prompt, at, status, rules)| {
                let rules: Vec<(RuleId, Outcome)> = rules
                    .into_iter()
                    .map(|(i, o)| (RuleId::ALL[i], o))
                    .collect();
                run(prompt, at, status, &rules)
            })
    }

    proptest! {
        #[test]
        fn figures_add_up(runs in proptest::collection::vec(any_run(), 0..30)) {
            let c = collect(&runs, &[], ("c", text("C")), None);
            prop_assert_eq!(c.versions.iter().map(|v| v.runs).sum::<usize>(), runs.len());
            let complete = runs.iter().filter(|r| r.is_complete()).count();
            prop_assert_eq!(c.versions.iter().map(|v| v.complete).sum::<usize>(), complete);
            prop_assert!(c.versions[c.current].current);
            for (v, f) in c.versions.iter().zip(&c.facts) {
                prop_assert!(f.clean <= v.complete && v.complete <= v.runs);
                for rate in &v.rules {
                    prop_assert!(rate.passed <= rate.judged);
                }
            }
            let firsts: Vec<Option<u64>> = c.versions.iter().map(|v| v.first_run_ms).collect();
            let mut sorted = firsts.clone();
            sorted.sort_by_key(|f| f.unwrap_or(u64::MAX));
            prop_assert_eq!(firsts, sorted);
        }
    }
}
