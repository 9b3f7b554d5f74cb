//! A comparison's report: per variant, each rule's compliance over samples with its interval
//! and the interleaving measures; per pair of variants, the paired test and the flips.

// Counts of words, runs and samples are far below 2^52: as f64 they are exact.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::metrics::Interleaving;
use super::stats::{Paired, Score, compliance, paired};
use crate::transcript::{Outcome, RuleId};

/// One judged run of one sample under one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgedRun {
    pub sample_id: String,
    /// Each judged rule and its outcome (a skipped rule counts as passed: it did not apply).
    pub rules: Vec<(RuleId, Outcome)>,
    pub measures: Interleaving,
    /// Milliseconds from the request to the first answer text (`None`: unknown, or no answer).
    pub first_answer_ms: Option<u64>,
}

impl JudgedRun {
    fn passes(&self, rule: RuleId) -> Option<bool> {
        self.rules
            .iter()
            .find(|(id, _)| *id == rule)
            .map(|(_, outcome)| *outcome != Outcome::Fail)
    }

    fn passes_all(&self) -> bool {
        self.rules
            .iter()
            .all(|(_, outcome)| *outcome != Outcome::Fail)
    }
}

/// A variant's runs: a prompt version with a teacher, or a student.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub label: String,
    pub runs: Vec<JudgedRun>,
}

/// How a variant did on one rule (or on all of them).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleReport {
    /// The mean over samples of each sample's pass rate.
    pub compliance: f64,
    /// Its 95% Wilson interval over the samples.
    pub interval: (f64, f64),
    /// Each sample's score.
    pub scores: BTreeMap<String, Score>,
}

/// Interleaving measures averaged over a variant's runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MeasuresReport {
    pub words_before_first_think: f64,
    pub longest_think: f64,
    /// The longest think of any run.
    pub longest_think_max: usize,
    pub think_ratio: Option<f64>,
    pub thinks_per_100_words: Option<f64>,
    /// Seconds from the request to the first answer text, over the runs that know it.
    pub seconds_to_first_answer: Option<f64>,
}

impl MeasuresReport {
    /// The measures of runs, each with its milliseconds to the first answer text.
    #[must_use]
    pub fn of<'a>(runs: impl IntoIterator<Item = (&'a Interleaving, Option<u64>)>) -> Self {
        let mut n = 0usize;
        let mut out = Self::default();
        let (mut ratio, mut ratios) = (0.0, 0usize);
        let (mut thinks, mut thinks_n) = (0.0, 0usize);
        let (mut wait, mut waits) = (0.0, 0usize);
        for (m, first_answer_ms) in runs {
            n += 1;
            out.words_before_first_think += m.words_before_first_think as f64;
            out.longest_think += m.longest_think as f64;
            out.longest_think_max = out.longest_think_max.max(m.longest_think);
            if let Some(r) = m.think_ratio {
                ratio += r;
                ratios += 1;
            }
            if let Some(t) = m.thinks_per_100_words {
                thinks += t;
                thinks_n += 1;
            }
            if let Some(ms) = first_answer_ms {
                wait += ms as f64 / 1000.0;
                waits += 1;
            }
        }
        if n > 0 {
            out.words_before_first_think /= n as f64;
            out.longest_think /= n as f64;
        }
        let mean = |sum: f64, k: usize| (k > 0).then(|| sum / k as f64);
        out.think_ratio = mean(ratio, ratios);
        out.thinks_per_100_words = mean(thinks, thinks_n);
        out.seconds_to_first_answer = mean(wait, waits);
        out
    }

    /// One line: the measures as a reader feels them.
    #[must_use]
    pub fn line(&self) -> String {
        let optional = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
        format!(
            "{} s to the first answer text · {:.1} answer words before the first think · longest think {:.1} words on average, {} at most · {} think words per answer word · {} thinks per 100 answer words",
            optional(self.seconds_to_first_answer),
            self.words_before_first_think,
            self.longest_think,
            self.longest_think_max,
            optional(self.think_ratio),
            optional(self.thinks_per_100_words),
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantReport {
    pub label: String,
    pub samples: usize,
    pub runs: usize,
    /// Every rule passing at once.
    pub all_rules: Option<RuleReport>,
    pub rules: BTreeMap<String, RuleReport>,
    pub measures: MeasuresReport,
}

/// Variant `b` against variant `a`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairReport {
    pub a: String,
    pub b: String,
    pub all_rules: PairedReport,
    pub rules: BTreeMap<String, PairedReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairedReport {
    pub better: usize,
    pub worse: usize,
    pub ties: usize,
    pub newly_pass: Vec<String>,
    pub newly_fail: Vec<String>,
    pub p_value: f64,
    pub significant: bool,
    pub regressed: bool,
}

impl From<Paired> for PairedReport {
    fn from(p: Paired) -> Self {
        Self {
            better: p.better.len(),
            worse: p.worse.len(),
            ties: p.ties,
            significant: p.significant(),
            regressed: p.regressed(),
            newly_pass: p.newly_pass,
            newly_fail: p.newly_fail,
            p_value: p.p_value,
        }
    }
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub variants: Vec<VariantReport>,
    /// Each later variant against the first.
    pub pairs: Vec<PairReport>,
    /// The test used for the pairs, said in the output.
    pub test: &'static str,
}

impl Report {
    /// `(pair, rule)` for each rule that got significantly worse against the first variant
    /// (`all-rules` for every rule at once).
    #[must_use]
    pub fn regressions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for pair in &self.pairs {
            let name = format!("{} → {}", pair.a, pair.b);
            if pair.all_rules.regressed {
                out.push((name.clone(), "all-rules".to_owned()));
            }
            for (rule, report) in &pair.rules {
                if report.regressed {
                    out.push((name.clone(), rule.clone()));
                }
            }
        }
        out
    }
}

/// Scores each sample of `runs` by `pass`: the runs where it is `None` do not count.
fn scores(
    runs: &[JudgedRun],
    pass: impl Fn(&JudgedRun) -> Option<bool>,
) -> BTreeMap<String, Score> {
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    for run in runs {
        let Some(passed) = pass(run) else {
            continue;
        };
        let score = scores.entry(run.sample_id.clone()).or_default();
        score.runs += 1;
        score.passed += usize::from(passed);
    }
    scores
}

fn rule_report(scores: BTreeMap<String, Score>) -> Option<RuleReport> {
    compliance(&scores).map(|(compliance, interval)| RuleReport {
        compliance,
        interval,
        scores,
    })
}

fn measures(runs: &[JudgedRun]) -> MeasuresReport {
    MeasuresReport::of(runs.iter().map(|r| (&r.measures, r.first_answer_ms)))
}

/// Builds the report of `variants` (the first is the baseline of every pair).
#[must_use]
pub fn report(variants: &[Variant]) -> Report {
    let mut reports = Vec::with_capacity(variants.len());
    let mut all_scores = Vec::with_capacity(variants.len());
    let mut rule_scores: Vec<BTreeMap<RuleId, BTreeMap<String, Score>>> = Vec::new();
    for variant in variants {
        let all = scores(&variant.runs, |r| Some(r.passes_all()));
        let mut per_rule = BTreeMap::new();
        for rule in RuleId::ALL {
            let s = scores(&variant.runs, |r| r.passes(rule));
            if !s.is_empty() {
                per_rule.insert(rule, s);
            }
        }
        reports.push(VariantReport {
            label: variant.label.clone(),
            samples: all.len(),
            runs: variant.runs.len(),
            all_rules: rule_report(all.clone()),
            rules: per_rule
                .iter()
                .filter_map(|(rule, s)| rule_report(s.clone()).map(|r| (rule.to_string(), r)))
                .collect(),
            measures: measures(&variant.runs),
        });
        all_scores.push(all);
        rule_scores.push(per_rule);
    }
    let mut pairs = Vec::new();
    for b in 1..variants.len() {
        let rules = rule_scores[0]
            .iter()
            .filter_map(|(rule, a)| {
                let b = rule_scores[b].get(rule)?;
                Some((rule.to_string(), PairedReport::from(paired(a, b))))
            })
            .collect();
        pairs.push(PairReport {
            a: variants[0].label.clone(),
            b: variants[b].label.clone(),
            all_rules: paired(&all_scores[0], &all_scores[b]).into(),
            rules,
        });
    }
    Report {
        variants: reports,
        pairs,
        test: "two-sided exact sign test over samples; with one run per sample, the exact McNemar test",
    }
}

/// The report as text: a table per variant, then each pair's differences.
#[must_use]
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for v in &report.variants {
        let _ = writeln!(out, "{} · {} samples, {} runs", v.label, v.samples, v.runs);
        let _ = writeln!(
            out,
            "  {:<22} {:>9}  {:>15}",
            "rule", "compliance", "95% interval"
        );
        let mut row = |name: &str, r: &RuleReport| {
            let _ = writeln!(
                out,
                "  {name:<22} {:>8.1}%  {:>6.1}% – {:>5.1}%",
                r.compliance * 100.0,
                r.interval.0 * 100.0,
                r.interval.1 * 100.0
            );
        };
        if let Some(all) = &v.all_rules {
            row("all rules", all);
        }
        for (rule, r) in &v.rules {
            row(rule, r);
        }
        let _ = writeln!(out, "  interleaving: {}", v.measures.line());
        out.push('\n');
    }
    samples_table(report, &mut out);
    for pair in &report.pairs {
        let _ = writeln!(out, "{} → {} · {}", pair.a, pair.b, report.test);
        let mut row = |name: &str, p: &PairedReport| {
            let verdict = match (p.significant, p.better >= p.worse) {
                (false, _) => "no significant difference",
                (true, true) => "significantly better",
                (true, false) => "significantly worse",
            };
            let _ = writeln!(
                out,
                "  {name:<22} {} better, {} worse, {} same · p = {:.3} · {verdict}",
                p.better, p.worse, p.ties, p.p_value
            );
            if !p.newly_pass.is_empty() {
                let _ = writeln!(out, "    newly pass: {}", p.newly_pass.join(", "));
            }
            if !p.newly_fail.is_empty() {
                let _ = writeln!(out, "    newly fail: {}", p.newly_fail.join(", "));
            }
        };
        row("all rules", &pair.all_rules);
        for (rule, p) in &pair.rules {
            if p.better + p.worse > 0 {
                row(rule, p);
            }
        }
        out.push('\n');
    }
    out
}

/// The samples whose score differs between variants: their runs passing every rule, per
/// variant (`-`: no runs), those whose verdict flipped marked. The others are counted.
fn samples_table(report: &Report, out: &mut String) {
    let mut samples: Vec<&str> = report
        .variants
        .iter()
        .filter_map(|v| v.all_rules.as_ref())
        .flat_map(|r| r.scores.keys().map(String::as_str))
        .collect();
    samples.sort_unstable();
    samples.dedup();
    if report.variants.len() < 2 || samples.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<Option<Score>>)> = samples
        .iter()
        .map(|&sample| {
            let scores = report
                .variants
                .iter()
                .map(|v| {
                    v.all_rules
                        .as_ref()
                        .and_then(|r| r.scores.get(sample).copied())
                })
                .collect();
            (sample, scores)
        })
        .collect();
    let rate = |s: &Option<Score>| s.and_then(Score::rate);
    let differ: Vec<&(&str, Vec<Option<Score>>)> = rows
        .iter()
        .filter(|(_, scores)| scores.windows(2).any(|w| rate(&w[0]) != rate(&w[1])))
        .collect();
    let same = rows.len() - differ.len();
    if differ.is_empty() {
        let _ = writeln!(out, "every sample scores the same under every variant\n");
        return;
    }
    let width = differ
        .iter()
        .map(|(s, _)| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = write!(out, "{:<width$}", "sample");
    for (i, _) in report.variants.iter().enumerate() {
        let _ = write!(out, "  {:>7}", format!("[{}]", i + 1));
    }
    out.push_str("   runs passing every rule, under the nth variant above\n");
    for (sample, scores) in differ {
        let _ = write!(out, "{sample:<width$}");
        for score in scores {
            let cell = score.map_or_else(|| "-".to_owned(), |s| format!("{}/{}", s.passed, s.runs));
            let _ = write!(out, "  {cell:>7}");
        }
        let verdicts: Vec<bool> = scores.iter().flatten().map(|s| s.passes()).collect();
        if verdicts.windows(2).any(|w| w[0] != w[1]) {
            out.push_str("   flipped");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{same} other sample{} score the same under every variant (--json lists every score)\n",
        if same == 1 { "" } else { "s" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(sample: &str, budget: Outcome, refusal: Outcome, longest: usize) -> JudgedRun {
        JudgedRun {
            sample_id: sample.to_owned(),
            rules: vec![(RuleId::ThinkBudget, budget), (RuleId::NoRefusal, refusal)],
            measures: Interleaving {
                words_before_first_think: 10,
                longest_think: longest,
                think_ratio: Some(0.5),
                thinks_per_100_words: Some(5.0),
            },
            first_answer_ms: Some(1500),
        }
    }

    #[test]
    fn a_report_scores_samples_not_runs_and_finds_the_regression() {
        use Outcome::{Fail, Pass, Skip};
        // v1: ten samples, each passing its budget; q0 run twice (it counts once).
        let mut v1: Vec<JudgedRun> = (0..10)
            .map(|i| judged(&format!("q{i}"), Pass, Pass, 4))
            .collect();
        v1.push(judged("q0", Pass, Skip, 8));
        // v2: nine of the ten now fail their budget.
        let v2: Vec<JudgedRun> = (0..10)
            .map(|i| judged(&format!("q{i}"), if i < 9 { Fail } else { Pass }, Pass, 20))
            .collect();
        let report = report(&[
            Variant {
                label: "v1".to_owned(),
                runs: v1,
            },
            Variant {
                label: "v2".to_owned(),
                runs: v2,
            },
        ]);
        let first = &report.variants[0];
        assert_eq!((first.samples, first.runs), (10, 11));
        assert!((first.rules["think-budget"].compliance - 1.0).abs() < 1e-9);
        let second = &report.variants[1];
        assert!((second.rules["think-budget"].compliance - 0.1).abs() < 1e-9);
        // The mean longest think of v1's eleven runs: (10 × 4 + 8) / 11.
        assert!((first.measures.longest_think - 48.0 / 11.0).abs() < 1e-9);
        assert_eq!(first.measures.longest_think_max, 8);
        assert_eq!(first.measures.seconds_to_first_answer, Some(1.5));

        let pair = &report.pairs[0];
        let budget = &pair.rules["think-budget"];
        assert_eq!((budget.better, budget.worse, budget.ties), (0, 9, 1));
        assert_eq!(budget.newly_fail.len(), 9);
        // 9 against 0: 2 / 512.
        assert!((budget.p_value - 2.0 / 512.0).abs() < 1e-9);
        assert!(budget.regressed);
        assert!(!pair.rules["no-refusal"].regressed);
        assert_eq!(
            report.regressions(),
            [
                ("v1 → v2".to_owned(), "all-rules".to_owned()),
                ("v1 → v2".to_owned(), "think-budget".to_owned())
            ]
        );
        let text = render(&report);
        assert!(
            text.contains("v1 → v2 · two-sided exact sign test"),
            "{text}"
        );
        assert!(
            text.contains("think-budget") && text.contains("significantly worse"),
            "{text}"
        );
        assert!(text.contains("newly fail: q0, q1"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["pairs"][0]["rules"]["think-budget"]["worse"], 9);
    }
}
